//! Reaching the per-day [`MetricsStore`](crate::store::MetricsStore)s: one Durable Object
//! per UTC day, named by its date, so a range query asks at most eight of them
//! (seven days of hours plus the current one) and merges their answers.

use edge_core::RequestId;
use edge_core::analytics::query::Query;
use edge_core::analytics::summary::{QueryResult, StoreAnswer};
use edge_core::analytics::window::{day_name, days_between};
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::{Env, Method, Request, RequestInit, Result};

use crate::store::{ADD_PATH, QUERY_PATH, REQUESTS_PATH, Row, Write};

/// The Durable Object binding.
const BINDING: &str = "METRICS_STORE";

fn stub(env: &Env, day: u64) -> Result<worker::Stub> {
    env.durable_object(BINDING)?
        .id_from_name(&day_name(day))?
        .get_stub()
}

/// Sends `body` as JSON to `path` of `day`'s store; any status but `expect` is an error.
async fn call<T: DeserializeOwned>(
    env: &Env,
    day: u64,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
    expect: u16,
) -> Result<Option<T>> {
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(b) = body {
        init.with_body(Some(serde_json::to_string(b)?.into()));
    }
    let req = Request::new_with_init(&format!("https://store{path}"), &init)?;
    let mut resp = stub(env, day)?.fetch_with_request(req).await?;
    if resp.status_code() != expect {
        return Err(format!("store {} answered {}", day_name(day), resp.status_code()).into());
    }
    if expect == 204 {
        return Ok(None);
    }
    Ok(Some(resp.json().await?))
}

/// Adds `write` to `day`'s store.
pub(crate) async fn add(env: &Env, day: u64, write: &Write) -> Result<()> {
    call::<()>(env, day, Method::Post, ADD_PATH, Some(write), 204).await?;
    Ok(())
}

/// Answers `query` from every day it spans, concurrently.
pub(crate) async fn query(env: &Env, query: &Query) -> Result<QueryResult> {
    let asks = days_between(query.from_ms, query.to_ms)
        .into_iter()
        .map(|day| async move {
            call::<StoreAnswer>(env, day, Method::Post, QUERY_PATH, Some(query), 200)
                .await
                .map(Option::unwrap_or_default)
        });
    let answers = futures::future::try_join_all(asks).await?;
    Ok(QueryResult::merge(query, answers))
}

/// Every stored hop of `id` in the days that still keep raw hops (`days`, oldest first).
pub(crate) async fn hops(env: &Env, id: &RequestId, days: &[u64]) -> Result<Vec<Row>> {
    let mut all = Vec::new();
    for &day in days {
        let path = format!("{REQUESTS_PATH}{id}");
        let rows: Option<Vec<Row>> = call(env, day, Method::Get, &path, None::<&()>, 200).await?;
        all.extend(rows.unwrap_or_default());
    }
    Ok(all)
}
