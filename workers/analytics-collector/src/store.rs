//! The `MetricsStore` Durable Object: the single writer of metric rows.
//!
//! A Durable Object processes one event at a time and each insert is one SQLite
//! statement, so concurrent reports are all kept, with no read-modify-write to lose.
//! Its internal paths are reachable only through the `METRICS_STORE` binding.

use edge_core::RequestId;
use edge_glue::respond;
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Method, Request, Response, Result, SqlStorage, SqlStorageValue, State,
    durable_object,
};

/// Internal path: store one already-validated event (JSON body); answers 204.
pub(crate) const INGEST_PATH: &str = "/ingest";
/// Internal path: counts by worker.
pub(crate) const SUMMARY_PATH: &str = "/summary";
/// Internal path prefix: every hop of one request id (`/requests/<id>`).
pub(crate) const REQUESTS_PATH: &str = "/requests/";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS metrics (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    worker TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    country TEXT,
    colo TEXT,
    decision TEXT,
    region TEXT,
    priority TEXT,
    degraded INTEGER
);
CREATE INDEX IF NOT EXISTS metrics_by_request ON metrics(request_id);";

/// Columns added after the first schema, for stores created before them (each fails
/// harmlessly, with "duplicate column", on a store that has it).
const ADDED_COLUMNS: [&str; 4] = [
    "ALTER TABLE metrics ADD COLUMN decision TEXT",
    "ALTER TABLE metrics ADD COLUMN region TEXT",
    "ALTER TABLE metrics ADD COLUMN priority TEXT",
    "ALTER TABLE metrics ADD COLUMN degraded INTEGER",
];

/// A stored event as read back (the store's own columns, not re-validated).
#[derive(Debug, Serialize, Deserialize)]
struct Row {
    request_id: String,
    worker: String,
    ts_ms: i64,
    method: String,
    path: String,
    status: i64,
    latency_ms: f64,
    country: Option<String>,
    colo: Option<String>,
    decision: Option<String>,
    region: Option<String>,
    priority: Option<String>,
    /// 0 or 1 (SQLite has no boolean).
    degraded: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WorkerCount {
    worker: String,
    count: i64,
}

/// Durable Object (SQLite storage) holding every metric row.
#[durable_object]
pub struct MetricsStore {
    sql: SqlStorage,
}

impl DurableObject for MetricsStore {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        // The schema statement is idempotent; if it failed, every later query reports it.
        let _ = sql.exec(SCHEMA, None);
        for column in ADDED_COLUMNS {
            let _ = sql.exec(column, None);
        }
        Self { sql }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Post, INGEST_PATH) => {
                let row: Row = req.json().await?;
                self.insert(row)?;
                Ok(Response::empty()?.with_status(204))
            }
            (Method::Get, SUMMARY_PATH) => {
                let by_worker: Vec<WorkerCount> = self
                    .sql
                    .exec(
                        "SELECT worker, COUNT(*) AS count FROM metrics GROUP BY worker ORDER BY worker",
                        None,
                    )?
                    .to_array()?;
                let total: i64 = by_worker.iter().map(|w| w.count).sum();
                respond::json(
                    200,
                    &serde_json::json!({ "total": total, "by_worker": by_worker }),
                )
            }
            (Method::Get, p) if p.starts_with(REQUESTS_PATH) => {
                let Some(id) = RequestId::parse(&p[REQUESTS_PATH.len()..]) else {
                    return respond::error_response(&edge_core::error::CommonError::NotFound);
                };
                let hops: Vec<Row> = self
                    .sql
                    .exec(
                        "SELECT request_id, worker, ts_ms, method, path, status, latency_ms, country, colo,
                                decision, region, priority, degraded
                         FROM metrics WHERE request_id = ? ORDER BY seq",
                        vec![SqlStorageValue::from(id.as_str().to_owned())],
                    )?
                    .to_array()?;
                respond::json(200, &serde_json::json!({ "request_id": id, "hops": hops }))
            }
            _ => respond::error_response(&edge_core::error::CommonError::NotFound),
        }
    }
}

impl MetricsStore {
    fn insert(&self, row: Row) -> Result<()> {
        let opt = |v: Option<String>| v.map_or(SqlStorageValue::Null, SqlStorageValue::from);
        self.sql.exec(
            "INSERT INTO metrics
               (request_id, worker, ts_ms, method, path, status, latency_ms, country, colo, decision,
                region, priority, degraded)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                row.request_id.into(),
                row.worker.into(),
                SqlStorageValue::try_from_i64(row.ts_ms)?,
                row.method.into(),
                row.path.into(),
                row.status.into(),
                row.latency_ms.into(),
                opt(row.country),
                opt(row.colo),
                opt(row.decision),
                opt(row.region),
                opt(row.priority),
                row.degraded.map_or(SqlStorageValue::Null, SqlStorageValue::from),
            ],
        )?;
        Ok(())
    }
}
