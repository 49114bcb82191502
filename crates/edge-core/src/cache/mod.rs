//! An RFC 9111 shared HTTP cache's decisions, for cache-manager.
//!
//! - [`directives`]: `Cache-Control` parsing.
//! - [`policy`]: per-path default TTLs and never-cached paths from configuration.
//! - [`entry`]: a stored response, its freshness lifetime and age, its encoding.
//! - [`key`]: cache keys, per resource, owner (identity hash) and `Vary` values.
//! - [`decide`]: plan, evaluate, store, revalidate.
//! - [`outcome`]: what the cache did for a request, as reported and counted.
//! - [`admin`]: which requests are the operator endpoints, never forwarded.

pub mod admin;
pub mod decide;
pub mod directives;
pub mod entry;
pub mod key;
pub mod outcome;
pub mod policy;

pub use outcome::CacheOutcome;
