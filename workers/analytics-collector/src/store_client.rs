//! Reaching the [`MetricsStore`](crate::metrics_store::MetricsStore)s: one Durable Object per UTC
//! day and shard (`edge_core::analytics::shard`, named like `2026-12-01/3`).
//!
//! Fan-out: a write goes to one store per day its events fall in (the shard chosen from the
//! batch id). A read asks every shard of every day it spans, concurrently, each store once
//! for all the queries of that read, and merges their answers exactly
//! (`summary::QueryResult::merge`). With [`SHARDS`] = 4: the widest query or the 7-day
//! dashboard (3 queries) asks 8 days × 4 = 32 stores, the Prometheus scrape (5 queries of
//! today) 4, a hop lookup (2 days) 8 — all under Workers' 50-subrequest free limit.

use std::collections::BTreeSet;

use edge_core::RequestId;
use edge_core::analytics::query::Query;
use edge_core::analytics::shard::{SHARDS, store_name, stores_of};
use edge_core::analytics::summary::{QueryResult, StoreAnswer};
use edge_core::analytics::window::days_between;
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::{Env, Method, Request, RequestInit, Result};

use crate::metrics_store::{ADD_PATH, QUERY_PATH, REQUESTS_PATH, Row, Write};

/// The Durable Object binding.
const BINDING: &str = "METRICS_STORE";

fn stub(env: &Env, day: u64, shard: u32) -> Result<worker::Stub> {
    env.durable_object(BINDING)?
        .id_from_name(&store_name(day, shard))?
        .get_stub()
}

/// Sends `body` as JSON to `path` of store `(day, shard)`; any status but `expect` is an
/// error.
async fn call<T: DeserializeOwned>(
    env: &Env,
    (day, shard): (u64, u32),
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
    let mut resp = stub(env, day, shard)?.fetch_with_request(req).await?;
    if resp.status_code() != expect {
        let name = store_name(day, shard);
        return Err(format!("store {name} answered {}", resp.status_code()).into());
    }
    if expect == 204 {
        return Ok(None);
    }
    Ok(Some(resp.json().await?))
}

/// Adds `write` to store `(day, shard)`.
pub(crate) async fn add(env: &Env, day: u64, shard: u32, write: &Write<'_>) -> Result<()> {
    debug_assert!(shard < SHARDS);
    call::<()>(env, (day, shard), Method::Post, ADD_PATH, Some(write), 204).await?;
    Ok(())
}

/// Answers `query` from every shard of every day it spans.
pub(crate) async fn query(env: &Env, query: &Query) -> Result<QueryResult> {
    let [result] = query_all(env, [query.clone()]).await?;
    Ok(result)
}

/// Answers several queries, asking each store they touch once (with the queries whose
/// range covers its day), concurrently; results in the order of `queries`.
pub(crate) async fn query_all<const N: usize>(
    env: &Env,
    queries: [Query; N],
) -> Result<[QueryResult; N]> {
    let queries = &queries;
    let days: BTreeSet<u64> = queries
        .iter()
        .flat_map(|q| days_between(q.from_ms, q.to_ms))
        .collect();
    let days: Vec<u64> = days.into_iter().collect();
    let asks = stores_of(&days).into_iter().map(|store| async move {
        let (which, asked): (Vec<usize>, Vec<&Query>) = queries
            .iter()
            .enumerate()
            .filter(|(_, q)| days_between(q.from_ms, q.to_ms).contains(&store.0))
            .unzip();
        let answers: Vec<StoreAnswer> =
            call(env, store, Method::Post, QUERY_PATH, Some(&asked), 200)
                .await?
                .unwrap_or_default();
        Ok::<_, worker::Error>(which.into_iter().zip(answers).collect::<Vec<_>>())
    });
    let mut per_query: [Vec<StoreAnswer>; N] = std::array::from_fn(|_| Vec::new());
    for answers in futures::future::try_join_all(asks).await? {
        for (i, answer) in answers {
            if let Some(list) = per_query.get_mut(i) {
                list.push(answer);
            }
        }
    }
    let mut per_query = per_query.into_iter();
    Ok(std::array::from_fn(|i| {
        QueryResult::merge(&queries[i], per_query.next().unwrap_or_default())
    }))
}

/// Every stored hop of `id` in the days that still keep raw hops (`days`), from every
/// shard, in the order they happened.
pub(crate) async fn hops(env: &Env, id: &RequestId, days: &[u64]) -> Result<Vec<Row>> {
    let path = format!("{REQUESTS_PATH}{id}");
    let asks = stores_of(days).into_iter().map(|store| {
        let path = path.as_str();
        async move { call::<Vec<Row>>(env, store, Method::Get, path, None::<&()>, 200).await }
    });
    let mut all: Vec<Row> = futures::future::try_join_all(asks)
        .await?
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    all.sort_by_key(|r| r.ts_ms);
    Ok(all)
}
