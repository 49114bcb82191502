//! An RFC 9111 shared HTTP cache's decisions, for cache-manager.
//!
//! - [`directives`]: `Cache-Control` parsing, and which field (RFC 9213) this cache obeys.
//! - [`date`]: HTTP-date parsing (the three forms of RFC 9110 §5.6.7).
//! - [`policy`]: per-path default TTLs and never-cached paths from configuration.
//! - [`entry`]: a stored response, its freshness lifetime and age, its encoding.
//! - [`key`]: cache keys, per resource, owner (identity hash) and `Vary` values.
//! - [`decide`]: plan, evaluate, store, revalidate.
//! - [`outcome`]: what the cache did for a request, as reported and counted.
//! - [`admin`]: which requests are the operator endpoints, never forwarded.
//! - [`range`]: byte ranges (`206`, `416`) served from a stored complete response.
//! - [`pass`]: hit-for-pass markers, keys whose last answer no cache may store.

// `outcome` is the contract between cache-manager and analytics-collector (the outcome it
// reports is the one the collector counts), so it is built with either; the rest is the
// `cache` feature's.
#[cfg(feature = "cache")]
pub mod admin;
#[cfg(feature = "cache")]
pub mod date;
#[cfg(feature = "cache")]
pub mod decide;
#[cfg(feature = "cache")]
pub mod directives;
#[cfg(feature = "cache")]
pub mod entry;
#[cfg(feature = "cache")]
pub mod key;
pub mod outcome;
#[cfg(feature = "cache")]
pub mod pass;
#[cfg(feature = "cache")]
pub mod policy;
#[cfg(feature = "cache")]
pub mod range;

pub use outcome::CacheOutcome;
