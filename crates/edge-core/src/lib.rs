//! Sans-IO core of edge-workers.
//!
//! Everything here is deterministic: inputs in, decisions out. There is no `worker`
//! dependency, no async, no clock and no RNG; callers pass the time in (`now_ms`).
//! It builds and tests natively and on `wasm32-unknown-unknown`.
//!
//! Each domain (`auth`, `cache`, `routing`, `analytics`, `chat`, and `chart` within chat) is
//! a cargo feature, so each worker compiles only the domains it uses (default: all, for the
//! core's own tests). The parts of auth, routing and analytics that every worker's glue
//! needs are always built; see each module's documentation.
//!
//! Modules:
//! - [`admin`]: the admin-secret check, in constant time.
//! - [`analytics`]: exact metric windows, percentiles, queries and exposition.
//! - [`sig`]: signature verification split from its primitive (WebCrypto parameters, the
//!   pure-Rust reference verifier).
//! - [`signed`]: HMAC tokens keyed from the admin secret (dashboard sessions, identity seals).
//! - [`auth`]: edge authentication: request rules, JWTs, API keys, rate limits, CORS.
//! - [`cache`]: the RFC 9111 shared cache's decisions.
//! - [`chat`]: LINE webhooks, intents, replies and AI completions.
//! - [`routing`]: geo routing, region health and request classes.
//! - [`error`]: the one contract every error follows to become an HTTP response.
//! - [`service`]: the names of the five workers.
//! - [`request_id`]: validation of request ids carried between hops.
//! - [`route`]: a worker's route table (404 and 405 with `Allow` from the table).
//! - [`queue`]: splitting messages into queue batches within the size and count limits.
//! - [`retry`]: when a failed upstream attempt may be repeated, and what counts as a
//!   region's failure.
//! - [`upstream`]: which upstream statuses can be relayed; how a broken body is recorded.
//! - [`health`]: `/health` reports and how a hop's health folds into the chain's.
//! - [`origin`]: `http(s)://host[:port]` values from configuration.
//! - [`hex`]: hexadecimal encoding and strict decoding.
//! - [`list`]: the one comma-list splitter (config vars, simple HTTP list headers).
//! - [`metric`]: the metric event every worker reports, and its strict parser.

pub mod accept;
pub mod admin;
pub mod analytics;
pub mod auth;
pub mod cache;
#[cfg(feature = "chat")]
pub mod chat;
pub mod error;
pub mod health;
pub mod hex;
pub mod list;
pub mod metric;
pub mod origin;
pub mod queue;
pub mod request_id;
pub mod retry;
pub mod route;
pub mod routing;
pub mod service;
pub mod sig;
pub mod signed;
pub mod upstream;

pub use error::{ErrorBody, HttpError};
pub use health::{HealthReport, HealthStatus, NextHop};
pub use metric::{MetricError, MetricEvent, Observation, RouteNote};
pub use request_id::RequestId;
pub use service::ServiceName;
