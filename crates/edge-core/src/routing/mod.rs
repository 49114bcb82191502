//! Latency-aware geo routing for voice-router.
//!
//! - [`geo`]: haversine distance and the latency estimate.
//! - [`table`]: the routing table as validated data.
//! - [`breaker`]: the per-region circuit breaker.
//! - [`classify`]: request classes, priorities and cache strategies.
//! - [`decide`]: the routing decision.
//!
//! Feature `routing` (voice-router) gates all but [`breaker`], which the shared glue's
//! configuration (voice-router and chat-webhook) uses.

pub mod breaker;
#[cfg(feature = "routing")]
pub mod classify;
#[cfg(feature = "routing")]
pub mod decide;
#[cfg(feature = "routing")]
pub mod geo;
#[cfg(feature = "routing")]
pub mod table;
