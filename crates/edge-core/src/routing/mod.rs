//! Latency-aware geo routing for voice-router.
//!
//! - [`geo`]: haversine distance and the latency estimate.
//! - [`table`]: the routing table as validated data.
//! - [`breaker`]: the per-region circuit breaker.
//! - [`classify`]: request classes, priorities and cache strategies.
//! - [`decide`]: the routing decision.

pub mod breaker;
pub mod classify;
pub mod decide;
pub mod geo;
pub mod table;
