//! Exact analytics over metric events: what the collector validates, stores and answers.
//!
//! - [`ingest`]: one event, a batch or an enveloped batch (with its id), validated item by
//!   item, with per-item results.
//! - [`outbox`]: the reporting side's per-isolate buffer: batching, retries, caps.
//! - [`shard`]: which of a day's store shards a write goes to.
//! - [`window`]: minute and hour windows, the UTC day that owns them, retention.
//! - [`histogram`]: mergeable log-linear latency buckets and nearest-rank percentiles.
//! - [`cell`]: events folded into the cells the stores add up (one per window × dimensions
//!   × latency bucket).
//! - [`query`]: the query API's parameters.
//! - [`summary`]: summed cells into per-window, per-group numbers, merged across stores.
//! - [`prometheus`]: the text exposition for scrapes.
//! - [`engine`]: the Analytics Engine data point of an event.
//!
//! Feature `analytics` (analytics-collector) gates the collector's side; [`ingest`], [`outbox`]
//! and [`window`] are always built: every worker's metrics reporting uses them.

#[cfg(feature = "analytics")]
pub mod cell;
#[cfg(feature = "analytics")]
pub mod engine;
#[cfg(feature = "analytics")]
pub mod histogram;
pub mod ingest;
pub mod outbox;
#[cfg(feature = "analytics")]
pub mod prometheus;
#[cfg(feature = "analytics")]
pub mod query;
#[cfg(feature = "analytics")]
pub mod shard;
#[cfg(feature = "analytics")]
pub mod summary;
pub mod window;
