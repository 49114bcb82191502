//! The read side: the query API, the Prometheus scrape and one request's hops. Every
//! endpoint here is behind [`access::authorize`](crate::access::authorize).

use edge_core::RequestId;
use edge_core::ServiceName;
use edge_core::analytics::prometheus::{Exposition, Format};
use edge_core::analytics::query::{Dimension, Query};
use edge_core::analytics::summary::{QueryResult, Stats};
use edge_core::analytics::window::{DAY_MS, Resolution, day_of};
use edge_core::error::CommonError;
use edge_glue::{now_ms, respond};
use worker::{Env, Request, Response};

use crate::error::Error;
use crate::store_client;

/// The query's decoded parameters.
pub(crate) fn pairs(req: &Request) -> worker::Result<Vec<(String, String)>> {
    Ok(req
        .url()?
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// `GET …/query`: the query API (see `edge_core::analytics::query::Query::parse`).
pub(crate) async fn query(req: &Request, env: &Env) -> Result<Response, Error> {
    let query = Query::parse(&pairs(req)?, now_ms())?;
    Ok(respond::json(
        200,
        &store_client::query(env, &query).await?,
    )?)
}

/// The query of totals since 00:00 UTC today, grouped by `group_by`, for one worker or all.
fn today(now: u64, group_by: Vec<Dimension>, worker: Option<ServiceName>) -> Query {
    let hour = Resolution::Hour;
    Query {
        resolution: hour,
        from_ms: day_of(now) * DAY_MS,
        to_ms: hour.window_start(now) + hour.width_ms(),
        group_by,
        worker,
        series: false,
    }
}

/// Groups whose every value is known (a metric without a region has no region series).
fn labelled(result: QueryResult) -> Vec<Stats> {
    result
        .totals
        .into_iter()
        .filter(|s| s.group.values().all(|v| !v.is_empty()))
        .collect()
}

/// `GET …/metrics`: today's totals as the Prometheus text format, or OpenMetrics when the
/// scraper's `Accept` asks for it (`Vary: Accept` either way).
pub(crate) async fn prometheus(req: &Request, env: &Env) -> Result<Response, Error> {
    let format = Format::negotiate(req.headers().get("accept")?.as_deref());
    use Dimension::{Cache, Country, Region, StatusClass, Worker};
    let now = now_ms();
    let queries = [
        today(now, vec![Worker, StatusClass], None),
        today(now, vec![Worker], None),
        today(now, vec![Cache], Some(ServiceName::CacheManager)),
        today(now, vec![Region], Some(ServiceName::VoiceRouter)),
        today(now, vec![Worker, Country], None),
    ];
    // One call per shard of today for all five.
    let [by_status, by_worker, cache, regions, countries] =
        store_client::query_all(env, queries).await?;
    let mut e = Exposition::new(format);
    let requests = |s: &Stats| s.requests;
    e.counter(
        "edge_requests",
        "Requests seen by each worker, by status class, since 00:00 UTC.",
        &labelled(by_status),
        &[],
        requests,
    );
    let by_worker = labelled(by_worker);
    e.duration_summary(
        "edge_request_duration_seconds",
        "Time spent in each worker's hop, seconds, since 00:00 UTC.",
        &by_worker,
    );
    // Only the workers whose events reported tokens (chat-webhook's AI answers).
    let spent: Vec<Stats> = by_worker.into_iter().filter(|s| s.tokens > 0).collect();
    e.counter(
        "edge_ai_tokens",
        "AI tokens spent by each worker's answers (the providers' usage counts), since 00:00 UTC.",
        &spent,
        &[],
        |s| s.tokens,
    );
    e.counter(
        "edge_cache_requests",
        "cache-manager answers by cache outcome, since 00:00 UTC.",
        &labelled(cache),
        &[("cache", "outcome")],
        requests,
    );
    e.counter(
        "edge_routed_requests",
        "voice-router requests by target region, since 00:00 UTC.",
        &labelled(regions),
        &[],
        requests,
    );
    e.counter(
        "edge_requests_by_country",
        "Requests seen by each worker, by client country, since 00:00 UTC.",
        &labelled(countries),
        &[],
        requests,
    );
    let resp = Response::ok(e.finish())?;
    resp.headers().set("content-type", format.content_type())?;
    resp.headers().set("vary", "Accept")?;
    Ok(resp)
}

/// `GET /v1/metrics/requests/:id`: every stored hop of one request (raw hops are kept for
/// 24 hours, so at most two days are asked).
pub(crate) async fn hops(env: &Env, id: &str) -> Result<Response, Error> {
    let id = RequestId::parse(id).ok_or(CommonError::NotFound)?;
    let today = day_of(now_ms());
    let hops = store_client::hops(env, &id, &[today.saturating_sub(1), today]).await?;
    Ok(respond::json(
        200,
        &serde_json::json!({ "request_id": id, "hops": hops }),
    )?)
}
