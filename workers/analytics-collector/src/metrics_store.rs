//! The `MetricsStore` Durable Object: one per UTC day and shard (`2026-12-01/3`), owning its
//! share of that day's minute and hour windows (and of its raw hops, kept 24 hours for
//! `/v1/metrics/requests/:id`).
//!
//! Exactness: a Durable Object runs one request at a time, and [`MetricsStore::add`] applies
//! a whole write as upserts (`n = n + excluded.n`) with no await between them, so they
//! commit together and no concurrent report can lose another's update. A write of an
//! enveloped batch carries its batch id: the store records it in `applied` in the same
//! synchronous run, and skips a write whose id it has already applied, so "apply" and "mark
//! applied" commit together and a retried batch is counted once.
//!
//! Retention: an alarm is kept at the earliest expiry of what the store holds
//! (`edge_core::analytics::window`); it deletes expired windows and re-arms, and once the
//! day holds nothing it deletes the object's storage.
//!
//! Its paths are internal, reachable only through the `METRICS_STORE` binding.

use std::cell::Cell;
use std::sync::OnceLock;

use edge_core::analytics::cell::{CacheOutcome, ERROR_CLASS};
use edge_core::analytics::ingest::BatchId;
use edge_core::analytics::query::Query;
use edge_core::analytics::summary::{BucketRow, StoreAnswer};
use edge_core::analytics::window::{Resolution, next_expiry};
use edge_core::error::CommonError;
use edge_core::metric::{FIELDS, FieldType};
use edge_core::route::{self, RouteRow};
use edge_core::{MetricEvent, RequestId};
use edge_glue::{now_ms, respond};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use worker::js_sys;
use worker::wasm_bindgen::JsValue;
use worker::{
    DurableObject, Env, Request, Response, Result, ScheduledTime, SqlStorage, SqlStorageValue,
    State, durable_object,
};

use crate::error::Error;

/// Internal path: add a [`Write`] (JSON body); answers 204.
pub(crate) const ADD_PATH: &str = "/add";
/// Internal path: answer a list of [`Query`]s (JSON body) with a list of [`StoreAnswer`]s.
pub(crate) const QUERY_PATH: &str = "/query";
/// Internal path prefix: every hop of one request id (`/requests/<id>`).
pub(crate) const REQUESTS_PATH: &str = "/requests/";

/// What the store is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Add,
    Query,
    Hops,
}

/// The store's internal routes (the client in `store_client` names them by the constants
/// above).
const CALLS: &[RouteRow<Call>] = &[
    ("POST", ADD_PATH, Call::Add),
    ("POST", QUERY_PATH, Call::Query),
    ("GET", "/requests/:id", Call::Hops),
];

/// The tables; `events` has one column per event field (`__EVENT_COLUMNS__`, see
/// [`schema`]).
const SCHEMA_TEMPLATE: &str = "CREATE TABLE IF NOT EXISTS agg (
    res INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    worker TEXT NOT NULL,
    status_class TEXT NOT NULL,
    region TEXT NOT NULL,
    country TEXT NOT NULL,
    cache TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    n INTEGER NOT NULL,
    latency_sum REAL NOT NULL,
    PRIMARY KEY (res, window_start, worker, status_class, region, country, cache, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    __EVENT_COLUMNS__
);
CREATE INDEX IF NOT EXISTS events_by_request ON events(request_id);
CREATE TABLE IF NOT EXISTS applied (
    batch_id TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_time ON events(ts_ms);";

// Each write is two statements whatever its size: the cells and the raw hops are bound as
// one JSON text each and unpacked by SQLite's `json_each`, so a batch of 200 events costs two
// crossings into SQLite, not one `exec` per row. (`WHERE true` lets SQLite parse the upsert
// after a SELECT.)
const UPSERT_CELLS: &str = "INSERT INTO agg
    (res, window_start, worker, status_class, region, country, cache, bucket, n, latency_sum)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
           json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'),
           json_extract(value, '$[6]'), json_extract(value, '$[7]'), json_extract(value, '$[8]'),
           json_extract(value, '$[9]')
    FROM json_each(?) WHERE true
    ON CONFLICT (res, window_start, worker, status_class, region, country, cache, bucket)
    DO UPDATE SET n = n + excluded.n, latency_sum = latency_sum + excluded.latency_sum";

/// The SQL type of an event field's column.
fn sql_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Text => "TEXT",
        // SQLite has no boolean: 1 or 0.
        FieldType::Integer | FieldType::Bool => "INTEGER",
        FieldType::Number => "REAL",
    }
}

/// The event fields' names, comma-separated, for a column list.
fn event_names() -> String {
    let names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
    names.join(", ")
}

/// The schema, its `events` columns built from `edge_core::metric::FIELDS` (same names and
/// types as ever, so stores created before read the same).
fn schema() -> &'static str {
    static SCHEMA: OnceLock<String> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let columns: Vec<String> = FIELDS
            .iter()
            .map(|f| {
                let null = if f.required { " NOT NULL" } else { "" };
                format!("{} {}{null}", f.name, sql_type(f.ty))
            })
            .collect();
        SCHEMA_TEMPLATE.replace("__EVENT_COLUMNS__", &columns.join(",\n    "))
    })
}

/// Raw hops from `MetricEvent`s as JSON, in array order (`seq` orders a request's hops;
/// `degraded` true/false comes out of `json_extract` as 1/0, absent fields as NULL).
fn insert_events() -> &'static str {
    static INSERT: OnceLock<String> = OnceLock::new();
    INSERT.get_or_init(|| {
        let values: Vec<String> = FIELDS
            .iter()
            .map(|f| format!("json_extract(value, '$.{}')", f.name))
            .collect();
        format!(
            "INSERT INTO events ({}) SELECT {} FROM json_each(?) ORDER BY key",
            event_names(),
            values.join(", ")
        )
    })
}

/// Every stored hop of one request id, in the order they were added.
fn select_hops() -> &'static str {
    static SELECT: OnceLock<String> = OnceLock::new();
    SELECT.get_or_init(|| {
        format!(
            "SELECT {} FROM events WHERE request_id = ? ORDER BY seq",
            event_names()
        )
    })
}

/// One cell's increment: `(res_ms, window_start, worker, status_class, region, country,
/// cache, bucket, n, latency_sum)`.
pub(crate) type CellRow = (
    u64,
    u64,
    String,
    String,
    String,
    String,
    String,
    u16,
    u64,
    f64,
);

/// A stored hop as read back (the store's own columns: one per `edge_core::metric::FIELDS`,
/// checked by a test).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Row {
    pub(crate) request_id: String,
    pub(crate) worker: String,
    pub(crate) ts_ms: i64,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) status: i64,
    pub(crate) latency_ms: f64,
    pub(crate) country: Option<String>,
    pub(crate) colo: Option<String>,
    pub(crate) decision: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) priority: Option<String>,
    /// 0 or 1 (SQLite has no boolean).
    pub(crate) degraded: Option<i64>,
}

/// One write as the ingest sends it: cell increments and the raw hops still inside minute
/// retention (the parsed events themselves, serialised as they came), with the id of the
/// batch they came from when it had one (applied at most once).
#[derive(Debug, Serialize)]
pub(crate) struct Write<'a> {
    pub(crate) batch: Option<&'a BatchId>,
    pub(crate) cells: Vec<CellRow>,
    pub(crate) events: Vec<&'a MetricEvent>,
}

/// A [`Write`] as the store receives it: cells and events stay JSON text, handed to SQLite
/// as they are (no per-event parse or allocation in wasm).
#[derive(Deserialize)]
struct Received<'a> {
    #[serde(default)]
    batch: Option<BatchId>,
    #[serde(borrow)]
    cells: &'a RawValue,
    #[serde(borrow)]
    events: &'a RawValue,
}

#[derive(Deserialize)]
struct Oldest {
    oldest: Option<i64>,
}

/// Durable Object (SQLite storage) owning one UTC day of windows.
#[durable_object]
pub struct MetricsStore {
    state: State,
    sql: SqlStorage,
    /// Whether the schema exists in this instance's storage.
    ready: Cell<bool>,
    /// The alarm as last read or set by this instance (`None`: not known yet).
    alarm_ms: Cell<Option<u64>>,
}

impl DurableObject for MetricsStore {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        Self {
            state,
            sql,
            ready: Cell::new(false),
            alarm_ms: Cell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match self.answer(&mut req).await {
            Ok(resp) => Ok(resp),
            Err(e) => respond::error_response(&e),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        if !self.has_schema()? {
            return Response::empty();
        }
        let now = now_ms();
        for res in Resolution::ALL {
            self.sql.exec(
                "DELETE FROM agg WHERE res = ? AND window_start < ?",
                vec![int(res.width_ms())?, int(res.oldest_kept_start(now))?],
            )?;
        }
        // Raw hops are kept as long as their minute window.
        self.sql.exec(
            "DELETE FROM events WHERE ts_ms < ?",
            vec![int(Resolution::Minute.oldest_kept_start(now))?],
        )?;
        // Applied batch ids as long as the day's longest-kept windows: an event older than
        // that is refused at ingest, so a retry past it can add nothing.
        self.sql.exec(
            "DELETE FROM applied WHERE at_ms < ?",
            vec![int(Resolution::Hour.oldest_kept_start(now))?],
        )?;
        self.alarm_ms.set(None);
        match self.next_expiry()? {
            Some(at) => self.set_alarm(at).await?,
            None => {
                // Nothing left of this day: free the object's storage entirely.
                self.state.storage().delete_all().await?;
                self.ready.set(false);
            }
        }
        Response::empty()
    }
}

impl MetricsStore {
    /// Answers one internal call; `fetch` turns an error into its JSON response.
    async fn answer(&self, req: &mut Request) -> std::result::Result<Response, Error> {
        let path = req.path();
        let (call, params) = route::route(CALLS, req.method().as_ref(), &path)?;
        match call {
            Call::Add => {
                let body = req.text().await?;
                let write: Received<'_> = serde_json::from_str(&body)?;
                if self.add(&write, now_ms())? {
                    let cells: Vec<CellRow> = serde_json::from_str(write.cells.get())?;
                    self.arm_alarm(&cells).await?;
                }
                Ok(Response::empty()?.with_status(204))
            }
            Call::Query => {
                let queries: Vec<Query> = req.json().await?;
                let answers = queries
                    .iter()
                    .map(|q| self.query(q))
                    .collect::<Result<Vec<_>>>()?;
                Ok(respond::json(200, &answers)?)
            }
            Call::Hops => {
                let id = params
                    .get("id")
                    .and_then(RequestId::parse)
                    .ok_or(CommonError::NotFound)?;
                Ok(respond::json(200, &self.hops(&id)?)?)
            }
        }
    }
}

fn int(v: u64) -> Result<SqlStorageValue> {
    SqlStorageValue::try_from_i64(i64::try_from(v).map_err(|e| e.to_string())?)
}

impl MetricsStore {
    fn ensure_schema(&self) -> Result<()> {
        if !self.ready.get() {
            self.sql.exec(schema(), None)?;
            self.ready.set(true);
        }
        Ok(())
    }

    /// Whether the schema exists, without creating it (reads must not make storage).
    fn has_schema(&self) -> Result<bool> {
        if self.ready.get() {
            return Ok(true);
        }
        #[derive(Deserialize)]
        struct Count {
            n: i64,
        }
        let found: Vec<Count> = self
            .sql
            .exec(
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'agg'",
                None,
            )?
            .to_array()?;
        let exists = found.first().is_some_and(|c| c.n > 0);
        self.ready.set(exists);
        Ok(exists)
    }

    /// Applies a write: no await, so all of it (and its batch id's mark) commits together.
    /// `false` when its batch was already applied (nothing done).
    fn add(&self, write: &Received<'_>, now: u64) -> Result<bool> {
        self.ensure_schema()?;
        if let Some(batch) = &write.batch {
            #[derive(Deserialize)]
            struct Seen {
                n: i64,
            }
            let seen: Vec<Seen> = self
                .sql
                .exec(
                    "SELECT COUNT(*) AS n FROM applied WHERE batch_id = ?",
                    vec![batch.as_str().into()],
                )?
                .to_array()?;
            if seen.first().is_some_and(|s| s.n > 0) {
                return Ok(false);
            }
            self.sql.exec(
                "INSERT INTO applied (batch_id, at_ms) VALUES (?, ?)",
                vec![batch.as_str().into(), int(now)?],
            )?;
        }
        self.sql
            .exec(UPSERT_CELLS, vec![write.cells.get().into()])?;
        self.sql
            .exec(insert_events(), vec![write.events.get().into()])?;
        Ok(true)
    }

    /// Keeps the alarm at or before the earliest expiry of what `cells` added.
    async fn arm_alarm(&self, cells: &[CellRow]) -> Result<()> {
        let added = cells
            .iter()
            .filter_map(|c| {
                let res = Resolution::ALL.into_iter().find(|r| r.width_ms() == c.0)?;
                Some(res.expires_at(c.1))
            })
            .min();
        let Some(added) = added else { return Ok(()) };
        let current = match self.alarm_ms.get() {
            Some(at) => Some(at),
            None => self
                .state
                .storage()
                .get_alarm()
                .await?
                .and_then(|at| u64::try_from(at).ok()),
        };
        match current {
            Some(at) if at <= added => self.alarm_ms.set(Some(at)),
            _ => self.set_alarm(added).await?,
        }
        Ok(())
    }

    /// Sets the alarm at the absolute time `at_ms` (an `i64` would be an offset).
    async fn set_alarm(&self, at_ms: u64) -> Result<()> {
        let at = js_sys::Date::new(&JsValue::from_f64(at_ms as f64));
        self.state
            .storage()
            .set_alarm(ScheduledTime::new(at))
            .await?;
        self.alarm_ms.set(Some(at_ms));
        Ok(())
    }

    fn next_expiry(&self) -> Result<Option<u64>> {
        let mut oldest = Vec::new();
        for res in Resolution::ALL {
            let row: Vec<Oldest> = self
                .sql
                .exec(
                    "SELECT MIN(window_start) AS oldest FROM agg WHERE res = ?",
                    vec![int(res.width_ms())?],
                )?
                .to_array()?;
            let start = row
                .first()
                .and_then(|o| o.oldest)
                .and_then(|s| u64::try_from(s).ok());
            oldest.push((res, start));
        }
        Ok(next_expiry(&oldest))
    }

    fn query(&self, q: &Query) -> Result<StoreAnswer> {
        if !self.has_schema()? {
            return Ok(StoreAnswer::default());
        }
        let rows: Vec<BucketRow> = self
            .sql
            .exec(&query_sql(q), query_params(q)?)?
            .to_array::<RawBucketRow>()?
            .into_iter()
            .map(|r| r.into_row(q.group_by.len()))
            .collect();
        Ok(StoreAnswer::from_rows(&rows, q))
    }

    fn hops(&self, id: &RequestId) -> Result<Vec<Row>> {
        if !self.has_schema()? {
            return Ok(Vec::new());
        }
        self.sql
            .exec(select_hops(), vec![id.as_str().into()])?
            .to_array()
    }
}

/// A row as SQLite returns it: up to three group columns.
#[derive(Deserialize)]
struct RawBucketRow {
    window_start: i64,
    g0: String,
    g1: String,
    g2: String,
    bucket: i64,
    n: i64,
    latency_sum: f64,
    errors: i64,
    cache_hits: i64,
    cache_lookups: i64,
}

impl RawBucketRow {
    /// The core's row, keeping the first `dims` group columns.
    fn into_row(self, dims: usize) -> BucketRow {
        let u = |v: i64| u64::try_from(v).unwrap_or(0);
        let mut group = vec![self.g0, self.g1, self.g2];
        group.truncate(dims);
        BucketRow {
            window_start: u(self.window_start),
            group,
            bucket: u16::try_from(self.bucket).unwrap_or(u16::MAX),
            n: u(self.n),
            latency_sum: self.latency_sum,
            errors: u(self.errors),
            cache_hits: u(self.cache_hits),
            cache_lookups: u(self.cache_lookups),
        }
    }
}

/// `'a','b'` from constant spellings (never from input).
fn sql_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The query's SQL. Column names come from `Dimension::as_str`, a closed set, never from
/// input; values are bound parameters.
fn query_sql(q: &Query) -> String {
    let group = |i: usize| q.group_by.get(i).map_or("''", |d| d.as_str());
    // Totals only: windows need not be told apart, so the store returns one row per group
    // and bucket instead of one per window too (a day of hours: up to 24× fewer rows).
    let (window, by_window) = if q.series {
        ("window_start", "window_start, ")
    } else {
        ("MIN(window_start)", "")
    };
    format!(
        "SELECT {window} AS window_start, {} AS g0, {} AS g1, {} AS g2, bucket,
                SUM(n) AS n, SUM(latency_sum) AS latency_sum,
                SUM(CASE WHEN status_class = '{ERROR_CLASS}' THEN n ELSE 0 END) AS errors,
                SUM(CASE WHEN cache IN ({}) THEN n ELSE 0 END) AS cache_hits,
                SUM(CASE WHEN cache IN ({}) THEN n ELSE 0 END) AS cache_lookups
         FROM agg
         WHERE res = ? AND window_start >= ? AND window_start < ?{}
         GROUP BY {by_window}g0, g1, g2, bucket",
        group(0),
        group(1),
        group(2),
        sql_list(&CacheOutcome::HITS),
        sql_list(&CacheOutcome::LOOKUPS),
        if q.worker.is_some() {
            " AND worker = ?"
        } else {
            ""
        },
    )
}

fn query_params(q: &Query) -> Result<Vec<SqlStorageValue>> {
    let mut params = vec![
        int(q.resolution.width_ms())?,
        int(q.from_ms)?,
        int(q.to_ms)?,
    ];
    if let Some(w) = q.worker {
        params.push(w.as_str().into());
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_table_and_its_rows_have_one_typed_column_per_event_field() {
        let row = Row {
            request_id: "r-1".into(),
            worker: "cache-manager".into(),
            ts_ms: 1,
            method: "GET".into(),
            path: "/".into(),
            status: 200,
            latency_ms: 1.5,
            country: Some("DE".into()),
            colo: Some("FRA".into()),
            decision: Some("cache_hit".into()),
            region: Some("eu".into()),
            priority: Some("high".into()),
            degraded: Some(1),
        };
        let json = serde_json::to_value(&row).expect("serialises");
        let obj = json.as_object().expect("object");
        assert_eq!(obj.len(), FIELDS.len());
        for f in FIELDS {
            let v = &obj[f.name];
            let typed = match f.ty {
                FieldType::Text => v.is_string(),
                FieldType::Integer | FieldType::Bool => v.is_i64(),
                FieldType::Number => v.is_f64(),
            };
            assert!(typed, "{}: {v}", f.name);
        }
    }

    #[test]
    fn the_schema_keeps_the_stored_column_names_and_types() {
        // The `events` columns as every store created so far has them.
        let stored = [
            "request_id TEXT NOT NULL",
            "worker TEXT NOT NULL",
            "ts_ms INTEGER NOT NULL",
            "method TEXT NOT NULL",
            "path TEXT NOT NULL",
            "status INTEGER NOT NULL",
            "latency_ms REAL NOT NULL",
            "country TEXT,",
            "colo TEXT,",
            "decision TEXT,",
            "region TEXT,",
            "priority TEXT,",
            "degraded INTEGER\n",
        ];
        let s = schema();
        for column in stored {
            assert!(s.contains(&format!("    {column}")), "{column} in {s}");
        }
        assert!(!s.contains("__"), "{s}");
        assert!(insert_events().contains("json_extract(value, '$.degraded')"));
        assert!(select_hops().starts_with("SELECT worker, request_id, ts_ms,"));
    }
}
