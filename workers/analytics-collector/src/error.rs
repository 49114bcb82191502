//! Everything analytics-collector's handlers fail with, answered by `edge_glue::serve`
//! (and, for the `MetricsStore`'s internal paths, by the Durable Object's own fetch).

use edge_core::MetricError;
use edge_core::analytics::ingest::IngestError;
use edge_core::analytics::query::QueryError;
use edge_core::error::CommonError;
use edge_core::route::RouteError;
use edge_glue::body::BodyError;

edge_glue::handler_error! {
    /// The error of analytics-collector's handlers: each variant answers as its own `HttpError`.
    pub(crate) enum Error {
        /// Errors any worker answers with.
        Common(CommonError),
        /// No route for the path (404), or not for the method (405 with `Allow`).
        Route(RouteError),
        /// A request body that is too large, too slow, or `BODY_TIMEOUT_MS` malformed.
        Body(BodyError),
        /// An ingest body that is not one event, a batch or an envelope.
        Ingest(IngestError),
        /// An ingest body that could not be read at all (400 `malformed`).
        Metric(MetricError),
        /// Query (and dashboard) parameters that are not accepted.
        Query(QueryError),
    }
}
