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
//! Schema changes: a column added after stores existed is listed in [`AGG_ADDED`] (or, for
//! the raw hops, is a new optional `edge_core::metric::FIELDS` entry); the first call an
//! instance serves adds whatever its existing tables lack ([`migrations`]) with `ALTER TABLE
//! … ADD COLUMN`, which keeps every row (old rows read the column's default).
//!
//! Retention: an alarm is kept at the earliest expiry of what the store holds
//! (`edge_core::analytics::window`); it deletes expired windows and re-arms, and once the
//! day holds nothing it deletes the object's storage.
//!
//! Its paths are internal, reachable only through the `METRICS_STORE` binding.

use std::cell::Cell;
use std::sync::OnceLock;

use edge_core::analytics::cell::{CacheOutcome, Cells, ERROR_CLASS};
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
    tokens INTEGER NOT NULL DEFAULT 0,
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
    (res, window_start, worker, status_class, region, country, cache, bucket, n, latency_sum,
     tokens)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
           json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'),
           json_extract(value, '$[6]'), json_extract(value, '$[7]'), json_extract(value, '$[8]'),
           json_extract(value, '$[9]'), json_extract(value, '$[10]')
    FROM json_each(?) WHERE true
    ON CONFLICT (res, window_start, worker, status_class, region, country, cache, bucket)
    DO UPDATE SET n = n + excluded.n, latency_sum = latency_sum + excluded.latency_sum,
                  tokens = tokens + excluded.tokens";

/// `agg` columns added after stores existed, with their definitions (a default, so that
/// existing rows stay valid). Append only.
const AGG_ADDED: [(&str, &str); 1] = [("tokens", "INTEGER NOT NULL DEFAULT 0")];

/// The column names of one table (a constant name, never input).
fn columns_sql(table: &str) -> String {
    format!("SELECT name FROM pragma_table_info('{table}')")
}

/// The statements that bring existing tables with these columns to the current schema:
/// every [`AGG_ADDED`] column `agg` lacks, and every event field `events` lacks (only
/// optional fields are ever added, so the column is nullable and old hops read NULL).
/// Empty for a store of the current schema.
fn migrations(agg: &[String], events: &[String]) -> Vec<String> {
    let has = |cols: &[String], name: &str| cols.iter().any(|c| c == name);
    let agg_added = AGG_ADDED
        .iter()
        .filter(|(name, _)| !has(agg, name))
        .map(|(name, def)| format!("ALTER TABLE agg ADD COLUMN {name} {def}"));
    let events_added = FIELDS.iter().filter(|f| !has(events, f.name)).map(|f| {
        format!(
            "ALTER TABLE events ADD COLUMN {} {}",
            f.name,
            sql_type(f.ty)
        )
    });
    agg_added.chain(events_added).collect()
}

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
/// cache, bucket, n, latency_sum, tokens)`.
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
    u64,
);

/// The rows a write sends for cells folded from its events.
pub(crate) fn cell_rows(cells: Cells) -> Vec<CellRow> {
    cells
        .0
        .into_iter()
        .map(|(k, c)| {
            (
                k.res.width_ms(),
                k.window_start,
                k.worker.to_owned(),
                k.status_class.to_owned(),
                k.region,
                k.country,
                k.cache.as_str().to_owned(),
                k.bucket,
                c.n,
                c.latency_sum,
                c.tokens,
            )
        })
        .collect()
}

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
    pub(crate) tokens: Option<i64>,
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
            self.migrate()?;
            self.ready.set(true);
        }
        Ok(())
    }

    /// Adds the columns an existing store lacks ([`migrations`]); once per instance.
    fn migrate(&self) -> Result<()> {
        #[derive(Deserialize)]
        struct Column {
            name: String,
        }
        let names = |table: &str| -> Result<Vec<String>> {
            let cols: Vec<Column> = self.sql.exec(&columns_sql(table), None)?.to_array()?;
            Ok(cols.into_iter().map(|c| c.name).collect())
        };
        for statement in migrations(&names("agg")?, &names("events")?) {
            self.sql.exec(&statement, None)?;
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
        if exists {
            // A store of an older schema is read with the current queries.
            self.migrate()?;
        }
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
    tokens: i64,
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
            tokens: u(self.tokens),
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
                SUM(CASE WHEN cache IN ({}) THEN n ELSE 0 END) AS cache_lookups,
                SUM(tokens) AS tokens
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
            tokens: Some(42),
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
            "degraded INTEGER,",
            "tokens INTEGER\n",
        ];
        let s = schema();
        for column in stored {
            assert!(s.contains(&format!("    {column}")), "{column} in {s}");
        }
        assert!(!s.contains("__"), "{s}");
        assert!(insert_events().contains("json_extract(value, '$.degraded')"));
        assert!(select_hops().starts_with("SELECT worker, request_id, ts_ms,"));
    }

    /// The store's SQL on a real SQLite (the Durable Object's storage is SQLite too).
    mod on_sqlite {
        use super::super::*;
        use edge_core::analytics::query::Dimension;
        use edge_core::analytics::summary::QueryResult;
        use edge_core::analytics::window::MINUTE_MS;
        use edge_core::{Observation, ServiceName};
        use rusqlite::Connection;
        use rusqlite::types::Value as Sql;

        const NOW: u64 = 1_795_435_200_000;

        /// The tables as every store created before `tokens` has them.
        const SCHEMA_BEFORE_TOKENS: &str = "CREATE TABLE agg (
            res INTEGER NOT NULL, window_start INTEGER NOT NULL, worker TEXT NOT NULL,
            status_class TEXT NOT NULL, region TEXT NOT NULL, country TEXT NOT NULL,
            cache TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,
            latency_sum REAL NOT NULL,
            PRIMARY KEY (res, window_start, worker, status_class, region, country, cache, bucket)
        ) WITHOUT ROWID;
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            worker TEXT NOT NULL, request_id TEXT NOT NULL, ts_ms INTEGER NOT NULL,
            method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL,
            latency_ms REAL NOT NULL, country TEXT, colo TEXT, decision TEXT, region TEXT,
            priority TEXT, degraded INTEGER
        );
        CREATE TABLE applied (batch_id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL) WITHOUT ROWID;";

        fn columns(db: &Connection, table: &str) -> Vec<String> {
            let mut st = db.prepare(&columns_sql(table)).expect("prepares");
            st.query_map([], |r| r.get::<_, String>(0))
                .expect("runs")
                .collect::<rusqlite::Result<_>>()
                .expect("reads")
        }

        /// What `ensure_schema` does: the schema, then the missing columns.
        fn ensure_schema(db: &Connection) {
            db.execute_batch(schema()).expect("schema");
            for m in migrations(&columns(db, "agg"), &columns(db, "events")) {
                db.execute(&m, []).expect("migration");
            }
        }

        fn event(id: &str, tokens: Option<u64>) -> MetricEvent {
            let id = RequestId::parse(id).expect("valid");
            MetricEvent::from_observation(Observation {
                worker: ServiceName::ChatWebhook,
                request_id: &id,
                method: "POST",
                path: "/chat/v1/sessions/s/messages",
                status: 200,
                started_ms: NOW + 1_000 - 700,
                finished_ms: NOW + 1_000,
                country: None,
                colo: None,
                decision: Some("chat_answer"),
                route: None,
            })
            .with_tokens(tokens)
        }

        /// What `MetricsStore::add` does with one write of `events` (as the ingest builds it).
        fn add(db: &Connection, events: &[MetricEvent]) {
            let mut cells = Cells::default();
            for e in events {
                cells.add(e, NOW + MINUTE_MS).expect("timely");
            }
            let rows = cell_rows(cells);
            let cells = serde_json::to_string(&rows).expect("ser");
            let events = serde_json::to_string(&events).expect("ser");
            db.execute(UPSERT_CELLS, [cells]).expect("upsert");
            db.execute(insert_events(), [events]).expect("insert");
        }

        fn answer(db: &Connection, q: &Query) -> StoreAnswer {
            let mut params = vec![
                Sql::Integer(q.resolution.width_ms() as i64),
                Sql::Integer(q.from_ms as i64),
                Sql::Integer(q.to_ms as i64),
            ];
            if let Some(w) = q.worker {
                params.push(Sql::Text(w.as_str().to_owned()));
            }
            let mut st = db.prepare(&query_sql(q)).expect("prepares");
            let rows: Vec<BucketRow> = st
                .query_map(rusqlite::params_from_iter(params), |r| {
                    Ok(RawBucketRow {
                        window_start: r.get("window_start")?,
                        g0: r.get("g0")?,
                        g1: r.get("g1")?,
                        g2: r.get("g2")?,
                        bucket: r.get("bucket")?,
                        n: r.get("n")?,
                        latency_sum: r.get("latency_sum")?,
                        errors: r.get("errors")?,
                        cache_hits: r.get("cache_hits")?,
                        cache_lookups: r.get("cache_lookups")?,
                        tokens: r.get("tokens")?,
                    }
                    .into_row(q.group_by.len()))
                })
                .expect("runs")
                .collect::<rusqlite::Result<_>>()
                .expect("reads");
            StoreAnswer::from_rows(&rows, q)
        }

        fn today(series: bool) -> Query {
            Query {
                resolution: Resolution::Minute,
                from_ms: NOW,
                to_ms: NOW + 2 * MINUTE_MS,
                group_by: vec![Dimension::Worker],
                worker: Some(ServiceName::ChatWebhook),
                series,
            }
        }

        fn hop_tokens(db: &Connection, id: &str) -> Vec<Option<i64>> {
            let mut st = db.prepare(select_hops()).expect("prepares");
            let n = FIELDS.len();
            st.query_map([id], |r| r.get::<_, Option<i64>>(n - 1))
                .expect("runs")
                .collect::<rusqlite::Result<_>>()
                .expect("reads")
        }

        #[test]
        fn token_sums_are_exact_across_writes_and_merge_across_shards() {
            let shards: Vec<Connection> = (0..2)
                .map(|_| {
                    let db = Connection::open_in_memory().expect("opens");
                    ensure_schema(&db);
                    db
                })
                .collect();
            // 30 answers over three writes per shard, some without tokens.
            let mut want = 0;
            for (s, db) in shards.iter().enumerate() {
                for w in 0..3u64 {
                    let events: Vec<MetricEvent> = (0..5u64)
                        .map(|i| {
                            let tokens = (i != 2).then_some(100 * w + 7 * i + s as u64);
                            want += tokens.unwrap_or(0);
                            event(&format!("r-{s}-{w}-{i}"), tokens)
                        })
                        .collect();
                    add(db, &events);
                }
            }
            for series in [false, true] {
                let q = today(series);
                let r = QueryResult::merge(&q, shards.iter().map(|db| answer(db, &q)).collect());
                assert_eq!((r.totals[0].requests, r.totals[0].tokens), (30, want));
                if series {
                    let points: u64 = r.series.iter().map(|p| p.groups[0].tokens).sum();
                    assert_eq!(points, want);
                }
            }
            assert_eq!(hop_tokens(&shards[1], "r-1-2-4"), [Some(229)]);
            assert_eq!(hop_tokens(&shards[1], "r-1-2-2"), [None]);
        }

        #[test]
        fn an_existing_store_gets_the_columns_and_keeps_its_rows() {
            let db = Connection::open_in_memory().expect("opens");
            db.execute_batch(SCHEMA_BEFORE_TOKENS).expect("old schema");
            // A cell and a hop written by the build before tokens (its 10-column upsert).
            let minute = Resolution::Minute.window_start(NOW + 1_000);
            db.execute(
                "INSERT INTO agg VALUES (?, ?, 'chat-webhook', '2xx', '', '', 'none', 700, 4, 2800.0)",
                [MINUTE_MS as i64, minute as i64],
            )
            .expect("old cell");
            db.execute(
                "INSERT INTO events (worker, request_id, ts_ms, method, path, status, latency_ms)
                 VALUES ('chat-webhook', 'old-1', ?, 'POST', '/x', 200, 700.0)",
                [(NOW + 1_000) as i64],
            )
            .expect("old hop");
            let planned = migrations(&columns(&db, "agg"), &columns(&db, "events"));
            assert_eq!(
                planned,
                [
                    "ALTER TABLE agg ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0",
                    "ALTER TABLE events ADD COLUMN tokens INTEGER",
                ]
            );
            ensure_schema(&db);
            assert!(
                migrations(&columns(&db, "agg"), &columns(&db, "events")).is_empty(),
                "migrated once"
            );
            ensure_schema(&db);
            // The old cell reads 0 tokens; new writes add to the same cell.
            let q = today(false);
            let before = QueryResult::merge(&q, vec![answer(&db, &q)]);
            assert_eq!((before.totals[0].requests, before.totals[0].tokens), (4, 0));
            add(&db, &[event("new-1", Some(55)), event("new-2", Some(45))]);
            let after = QueryResult::merge(&q, vec![answer(&db, &q)]);
            assert_eq!((after.totals[0].requests, after.totals[0].tokens), (6, 100));
            assert_eq!(hop_tokens(&db, "old-1"), [None]);
            assert_eq!(hop_tokens(&db, "new-1"), [Some(55)]);
        }

        #[test]
        fn a_new_store_needs_no_migration() {
            let db = Connection::open_in_memory().expect("opens");
            db.execute_batch(schema()).expect("schema");
            assert!(migrations(&columns(&db, "agg"), &columns(&db, "events")).is_empty());
            assert_eq!(
                columns(&db, "events").len(),
                FIELDS.len() + 1,
                "seq + fields"
            );
        }
    }
}
