//! Reporting a hop's metric to analytics-collector.
//!
//! The report is sent through the `ANALYTICS` service binding inside `ctx.wait_until`, so
//! the client's response never waits on it. A failed report is logged (status only, never
//! the payload) and dropped: metrics must not take the request path down with them.

use edge_core::MetricEvent;
use worker::{Env, Headers, Method, Request, RequestInit, console_warn};

use crate::watch::BodyWatch;
use crate::{Hop, hop};

/// Service binding name of analytics-collector in every worker's config.
pub const ANALYTICS_BINDING: &str = "ANALYTICS";
/// Path of the ingest endpoint on analytics-collector.
pub const INGEST_PATH: &str = "/v1/metrics";
/// Longest a report may take before it is abandoned, in milliseconds.
pub const REPORT_TIMEOUT_MS: u64 = 5_000;

/// Sends `event` to analytics-collector in the background of `hop`'s request; when the
/// response's `body` is watched, after it ended, with a broken body recorded as such
/// (`edge_core::upstream::BodyEnd`).
pub fn report(hop: &Hop, env: &Env, mut event: MetricEvent, body: Option<BodyWatch>) {
    let env = env.clone();
    hop.wait_until(async move {
        if let Some(body) = body {
            let end = body.await;
            event.status = end.recorded_status(event.status);
            if let Some(decision) = end.decision() {
                event.decision = Some(decision.to_owned());
            }
        }
        if let Err(reason) = send(&env, &event).await {
            console_warn!("metric report from {} dropped: {reason}", event.worker);
        }
    });
}

async fn send(env: &Env, event: &MetricEvent) -> Result<(), String> {
    let body = serde_json::to_string(event).map_err(|e| e.to_string())?;
    let headers = Headers::new();
    headers
        .set("content-type", "application/json")
        .map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let url = format!("https://analytics-collector{INGEST_PATH}");
    let req = Request::new_with_init(&url, &init).map_err(|e| e.to_string())?;
    let resp = hop::call_service(env, ANALYTICS_BINDING, req, REPORT_TIMEOUT_MS)
        .await
        .map_err(|e| e.to_string())?;
    match resp.status_code() {
        200..=299 => Ok(()),
        status => Err(format!("collector answered {status}")),
    }
}
