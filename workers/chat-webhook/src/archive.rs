//! Archives of ended web chat sessions: when a session's retention alarm deletes its
//! Durable Object storage, the session is first written to R2 (`CHAT_ARCHIVE`) as
//! redacted JSONL (`edge_core::chat::archive`) and its key recorded in the D1 index
//! (`web_sessions`); the storage goes only once the put succeeded (a failure leaves it for
//! the next alarm). A scheduled sweep deletes archives older than the retention, and
//! their index rows. Generic over [`ArchiveBucket`] and [`SessionIndex`]: R2 and D1 in the
//! worker, in-memory fakes in the tests.

use edge_core::chat::archive::{self, Header};
use edge_core::chat::web::frame::Message;
use edge_glue::now_ms;
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{Bucket, D1Database, Env, HttpMetadata};

use crate::backends::BackendError;
use crate::log;
use crate::settings::ArchiveSettings;
use crate::web_chat::{MAX_HISTORY_MESSAGES, SessionRow, SessionStore};

/// The R2 bucket of archives.
pub(crate) const ARCHIVE_BINDING: &str = "CHAT_ARCHIVE";
/// Most archives one sweep deletes (the rest wait for the next one).
const MAX_SWEPT: usize = 5_000;
/// R2 deletes at most this many keys per call.
const DELETE_BATCH: usize = 1_000;

fn backend(e: worker::Error) -> BackendError {
    BackendError(e.to_string())
}

/// Where archives are kept.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait ArchiveBucket {
    /// Stores `body` under `key` (replacing it).
    async fn put(&self, key: &str, body: String) -> Result<(), BackendError>;
    /// The text under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<String>, BackendError>;
    /// Deletes `keys` (at most [`DELETE_BATCH`]); missing ones are no error.
    async fn delete(&self, keys: &[String]) -> Result<(), BackendError>;
    /// The `/`-delimited prefixes right under `prefix`.
    async fn prefixes(&self, prefix: &str) -> Result<Vec<String>, BackendError>;
    /// One page of the objects under `prefix` (key, upload time in unix ms) from `cursor`,
    /// and the next page's cursor.
    async fn objects(
        &self,
        prefix: &str,
        cursor: Option<String>,
    ) -> Result<(Vec<(String, u64)>, Option<String>), BackendError>;
}

/// The index of web chat sessions (`web_sessions`).
#[allow(async_fn_in_trait)]
pub(crate) trait SessionIndex {
    /// Session `id` (its `row`) is archived under `key` at `at`.
    async fn archived(
        &self,
        id: &str,
        row: &SessionRow,
        key: &str,
        at: u64,
    ) -> Result<(), BackendError>;
    /// Forgets the sessions archived before `before` (their archives expired); how many.
    async fn forget_archived_before(&self, before: u64) -> Result<u64, BackendError>;
}

/// Every message of the session, oldest first.
pub(crate) fn all_messages(store: &impl SessionStore) -> Result<Vec<Message>, BackendError> {
    let mut all: Vec<Message> = Vec::new();
    loop {
        let after = all.last().map_or(0, |m| m.id);
        let page = store.messages_after(after, MAX_HISTORY_MESSAGES)?;
        let full = page.len() == MAX_HISTORY_MESSAGES;
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

/// Archives session `id` from `store` at `now`: the index row first (so an erase finds the
/// archive even if the put is the last thing to happen), then the put. `Ok(None)`: there
/// was no session to archive. Only `Ok` lets the caller delete the storage.
///
/// # Errors
/// The store's, the index's or the bucket's failure: nothing may be deleted then.
pub(crate) async fn archive_session(
    store: &impl SessionStore,
    id: &str,
    bucket: &impl ArchiveBucket,
    index: &impl SessionIndex,
    now: u64,
) -> Result<Option<String>, BackendError> {
    let Some(row) = store.session()? else {
        return Ok(None);
    };
    let messages = all_messages(store)?;
    let summary = store.summary()?;
    let header = Header {
        id,
        status: row.status.as_str(),
        created_at: row.created_at,
        last_activity: row.last_activity,
        ended_at: row.ended_at,
        archived_at: now,
        summary: summary.as_ref().map(|s| s.text.as_str()),
    };
    let body = archive::jsonl(&header, &messages);
    let key = archive::key(now, id);
    index.archived(id, &row, &key, now).await?;
    bucket.put(&key, body).await?;
    Ok(Some(key))
}

/// What a sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    pub(crate) archives: usize,
    pub(crate) index_rows: u64,
}

/// Deletes the archives older than `retention_ms` at `now` (at most [`MAX_SWEPT`] a run),
/// then the index rows of sessions archived before the cutoff.
///
/// # Errors
/// The bucket's or the index's failure (what was deleted before it stays deleted).
pub(crate) async fn sweep(
    bucket: &impl ArchiveBucket,
    index: &impl SessionIndex,
    now: u64,
    retention_ms: u64,
) -> Result<Swept, BackendError> {
    let prefixes = bucket.prefixes(archive::PREFIX).await?;
    let mut due: Vec<String> = Vec::new();
    'days: for prefix in archive::expiring_prefixes(&prefixes, now, retention_ms) {
        let mut cursor = None;
        loop {
            let (objects, next) = bucket.objects(prefix, cursor).await?;
            due.extend(
                objects
                    .into_iter()
                    .filter(|(_, uploaded)| archive::expired(*uploaded, now, retention_ms))
                    .map(|(key, _)| key),
            );
            if due.len() >= MAX_SWEPT {
                due.truncate(MAX_SWEPT);
                break 'days;
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    for chunk in due.chunks(DELETE_BATCH) {
        bucket.delete(chunk).await?;
    }
    let index_rows = index
        .forget_archived_before(now.saturating_sub(retention_ms).saturating_add(1))
        .await?;
    Ok(Swept {
        archives: due.len(),
        index_rows,
    })
}

/// The scheduled expiry sweep: [`sweep`] over R2 and D1 with the configured retention;
/// its outcome or failure is logged.
pub(crate) async fn sweep_now(env: &Env) {
    let retention_ms = match ArchiveSettings::load(env) {
        Ok(s) => s.retention_ms,
        Err(e) => return log::error(&format!("archive sweep: {e}")),
    };
    let swept = match (R2Archive::of(env), D1Index::of(env)) {
        (Ok(bucket), Ok(index)) => sweep(&bucket, &index, now_ms(), retention_ms).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match swept {
        Ok(s) => log::info(&format!(
            "archive sweep: {} archives and {} index rows expired",
            s.archives, s.index_rows
        )),
        Err(e) => log::error(&format!("archive sweep failed: {e}")),
    }
}

/// The archive bucket in R2.
pub(crate) struct R2Archive(pub(crate) Bucket);

impl R2Archive {
    pub(crate) fn of(env: &Env) -> Result<Self, BackendError> {
        env.bucket(ARCHIVE_BINDING).map(Self).map_err(backend)
    }
}

impl ArchiveBucket for R2Archive {
    async fn put(&self, key: &str, body: String) -> Result<(), BackendError> {
        self.0
            .put(key, body)
            .http_metadata(HttpMetadata {
                content_type: Some("application/x-ndjson; charset=utf-8".to_owned()),
                ..HttpMetadata::default()
            })
            .execute()
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn get(&self, key: &str) -> Result<Option<String>, BackendError> {
        let Some(object) = self.0.get(key).execute().await.map_err(backend)? else {
            return Ok(None);
        };
        match object.body() {
            Some(body) => body.text().await.map(Some).map_err(backend),
            None => Ok(None),
        }
    }

    async fn delete(&self, keys: &[String]) -> Result<(), BackendError> {
        if keys.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.0.delete_multiple(keys).await.map_err(backend)
    }

    async fn prefixes(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        let listed = self
            .0
            .list()
            .prefix(prefix)
            .delimiter("/")
            .execute()
            .await
            .map_err(backend)?;
        Ok(listed.delimited_prefixes())
    }

    async fn objects(
        &self,
        prefix: &str,
        cursor: Option<String>,
    ) -> Result<(Vec<(String, u64)>, Option<String>), BackendError> {
        let mut list = self.0.list().prefix(prefix).limit(1_000);
        if let Some(c) = cursor {
            list = list.cursor(c);
        }
        let listed = list.execute().await.map_err(backend)?;
        let objects = listed
            .objects()
            .iter()
            .map(|o| (o.key(), o.uploaded().as_millis()))
            .collect();
        let next = if listed.truncated() {
            listed.cursor()
        } else {
            None
        };
        Ok((objects, next))
    }
}

/// The session index in D1.
pub(crate) struct D1Index(pub(crate) D1Database);

impl D1Index {
    pub(crate) fn of(env: &Env) -> Result<Self, BackendError> {
        crate::db::db(env).map(Self).map_err(backend)
    }
}

fn n(v: u64) -> JsValue {
    JsValue::from_f64(v as f64)
}

impl D1Index {
    /// Session `id` was created at `at`, for `customer` if the site named one.
    pub(crate) async fn created(
        &self,
        id: &str,
        customer: Option<&str>,
        at: u64,
    ) -> Result<(), BackendError> {
        self.write(
            "INSERT OR IGNORE INTO web_sessions (id, customer, created_at) VALUES (?1, ?2, ?3)",
            &[
                JsValue::from_str(id),
                customer.map_or(JsValue::NULL, JsValue::from_str),
                n(at),
            ],
        )
        .await
    }

    async fn write(&self, sql: &str, args: &[JsValue]) -> Result<(), BackendError> {
        self.0
            .prepare(sql)
            .bind(args)
            .map_err(backend)?
            .run()
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

impl SessionIndex for D1Index {
    async fn archived(
        &self,
        id: &str,
        row: &SessionRow,
        key: &str,
        at: u64,
    ) -> Result<(), BackendError> {
        let ended = row.ended_at.map_or(JsValue::NULL, n);
        self.write(
            "INSERT INTO web_sessions (id, created_at, ended_at, archive_key, archived_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET ended_at = excluded.ended_at,
               archive_key = excluded.archive_key, archived_at = excluded.archived_at",
            &[
                JsValue::from_str(id),
                n(row.created_at),
                ended,
                JsValue::from_str(key),
                n(at),
            ],
        )
        .await
    }

    async fn forget_archived_before(&self, before: u64) -> Result<u64, BackendError> {
        let r = self
            .0
            .prepare("DELETE FROM web_sessions WHERE archived_at IS NOT NULL AND archived_at < ?1")
            .bind(&[n(before)])
            .map_err(backend)?
            .run()
            .await
            .map_err(backend)?;
        Ok(r.meta()
            .map_err(backend)?
            .and_then(|m| m.changes)
            .map_or(0, |c| c as u64))
    }
}

/// The index row of one web chat session, as D1 returns it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IndexRow {
    pub(crate) id: String,
    pub(crate) created_at: f64,
    pub(crate) ended_at: Option<f64>,
    pub(crate) archive_key: Option<String>,
    pub(crate) archived_at: Option<f64>,
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use edge_core::chat::completion::Role;
    use edge_core::chat::web::frame::Status;

    use super::*;
    use crate::testkit::run;
    use crate::web_chat::Summary;
    use crate::web_chat::fakes::MemStore;

    /// A bucket in memory; `fail_puts` puts fail first.
    #[derive(Default)]
    struct MemBucket {
        objects: RefCell<BTreeMap<String, (String, u64)>>,
        fail_puts: RefCell<u32>,
        now: RefCell<u64>,
    }

    impl ArchiveBucket for MemBucket {
        async fn put(&self, key: &str, body: String) -> Result<(), BackendError> {
            let mut fail = self.fail_puts.borrow_mut();
            if *fail > 0 {
                *fail -= 1;
                return Err(BackendError("r2 down".into()));
            }
            let now = *self.now.borrow();
            self.objects
                .borrow_mut()
                .insert(key.to_owned(), (body, now));
            Ok(())
        }

        async fn get(&self, key: &str) -> Result<Option<String>, BackendError> {
            Ok(self.objects.borrow().get(key).map(|(b, _)| b.clone()))
        }

        async fn delete(&self, keys: &[String]) -> Result<(), BackendError> {
            assert!(keys.len() <= DELETE_BATCH);
            for k in keys {
                self.objects.borrow_mut().remove(k);
            }
            Ok(())
        }

        async fn prefixes(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
            let mut out: Vec<String> = self
                .objects
                .borrow()
                .keys()
                .filter_map(|k| {
                    let rest = k.strip_prefix(prefix)?;
                    let slash = rest.find('/')?;
                    Some(format!("{prefix}{}", &rest[..=slash]))
                })
                .collect();
            out.dedup();
            Ok(out)
        }

        async fn objects(
            &self,
            prefix: &str,
            cursor: Option<String>,
        ) -> Result<(Vec<(String, u64)>, Option<String>), BackendError> {
            // Pages of 2, the cursor the last key returned.
            let all: Vec<(String, u64)> = self
                .objects
                .borrow()
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .filter(|(k, _)| cursor.as_ref().is_none_or(|c| *k > c))
                .map(|(k, (_, at))| (k.clone(), *at))
                .collect();
            let page: Vec<_> = all.iter().take(2).cloned().collect();
            let next = (all.len() > 2).then(|| page[1].0.clone());
            Ok((page, next))
        }
    }

    #[derive(Default)]
    struct MemIndex {
        rows: RefCell<BTreeMap<String, (String, u64)>>,
        fail: RefCell<bool>,
    }

    impl SessionIndex for MemIndex {
        async fn archived(
            &self,
            id: &str,
            _row: &SessionRow,
            key: &str,
            at: u64,
        ) -> Result<(), BackendError> {
            if *self.fail.borrow() {
                return Err(BackendError("d1 down".into()));
            }
            self.rows
                .borrow_mut()
                .insert(id.to_owned(), (key.to_owned(), at));
            Ok(())
        }

        async fn forget_archived_before(&self, before: u64) -> Result<u64, BackendError> {
            let mut rows = self.rows.borrow_mut();
            let n = rows.len();
            rows.retain(|_, (_, at)| *at >= before);
            Ok((n - rows.len()) as u64)
        }
    }

    const T0: u64 = 1_796_083_200_000; // 2026-12-01

    fn session_with(messages: &[(Role, &str)]) -> MemStore {
        let store = MemStore::default();
        *store.row.borrow_mut() = Some(SessionRow {
            status: Status::Ended,
            created_at: T0,
            last_activity: T0 + 5,
            ended_at: Some(T0 + 9),
        });
        for (i, (role, text)) in messages.iter().enumerate() {
            store.messages.borrow_mut().push(Message {
                id: i as u64 + 1,
                role: *role,
                content: (*text).to_owned(),
                created_at: T0 + i as u64,
                client_id: None,
                metadata: None,
            });
        }
        store
    }

    #[test]
    fn an_ended_session_is_archived_redacted_and_indexed() {
        let store = session_with(&[
            (Role::User, "I am somchai@example.com, 081-234-5678"),
            (Role::Assistant, "Thanks, card 4111 1111 1111 1111 noted"),
        ]);
        *store.summary.borrow_mut() = Some(Summary {
            text: "id 1-1037-02071-81-1".into(),
            through: 1,
            made_at: T0,
        });
        let (bucket, index) = (MemBucket::default(), MemIndex::default());
        let key = run(archive_session(&store, "s1", &bucket, &index, T0 + DAY))
            .expect("archived")
            .expect("a session");
        assert_eq!(key, "sessions/2026-12-02/s1.jsonl");
        let body = run(bucket.get(&key)).expect("get").expect("the archive");
        assert_eq!(body.lines().count(), 3);
        for pii in ["somchai", "081-234", "4111", "1037"] {
            assert!(!body.contains(pii), "{pii} in the archive");
        }
        assert!(body.contains("[email], [phone]") && body.contains("[card]"));
        assert!(body.contains("[thai_id]"));
        assert_eq!(index.rows.borrow()["s1"], (key, T0 + DAY));
    }

    const DAY: u64 = edge_core::chat::archive::DAY_MS;

    #[test]
    fn a_failed_put_or_index_write_is_an_error_so_nothing_is_deleted() {
        let store = session_with(&[(Role::User, "hello")]);
        let (bucket, index) = (MemBucket::default(), MemIndex::default());
        *bucket.fail_puts.borrow_mut() = 1;
        assert!(run(archive_session(&store, "s1", &bucket, &index, T0)).is_err());
        assert!(bucket.objects.borrow().is_empty());
        *index.fail.borrow_mut() = true;
        assert!(run(archive_session(&store, "s1", &bucket, &index, T0)).is_err());
        assert!(
            bucket.objects.borrow().is_empty(),
            "no archive without its index row"
        );
        // The next alarm succeeds.
        *index.fail.borrow_mut() = false;
        assert!(
            run(archive_session(&store, "s1", &bucket, &index, T0))
                .expect("ok")
                .is_some()
        );
        assert_eq!(bucket.objects.borrow().len(), 1);
        // No session (already deleted): nothing to archive, nothing written.
        let gone = MemStore::default();
        assert_eq!(
            run(archive_session(&gone, "s2", &bucket, &index, T0)).expect("ok"),
            None
        );
        assert_eq!(bucket.objects.borrow().len(), 1);
    }

    #[test]
    fn more_messages_than_one_page_are_all_archived() {
        let texts: Vec<(Role, String)> = (0..MAX_HISTORY_MESSAGES + 3)
            .map(|i| (Role::User, format!("m{i}")))
            .collect();
        let refs: Vec<(Role, &str)> = texts.iter().map(|(r, t)| (*r, t.as_str())).collect();
        let store = session_with(&refs);
        assert_eq!(
            all_messages(&store).expect("ok").len(),
            MAX_HISTORY_MESSAGES + 3
        );
    }

    #[test]
    fn the_sweep_deletes_expired_archives_and_their_index_rows_only() {
        let (bucket, index) = (MemBucket::default(), MemIndex::default());
        let store = session_with(&[(Role::User, "x")]);
        // Five archives over three days, then one more today.
        for (i, at) in [T0, T0 + 1, T0 + 2, T0 + DAY, T0 + 2 * DAY]
            .iter()
            .enumerate()
        {
            *bucket.now.borrow_mut() = *at;
            run(archive_session(
                &store,
                &format!("s{i}"),
                &bucket,
                &index,
                *at,
            ))
            .expect("ok");
        }
        let retention = DAY;
        // At T0 + DAY + 1 the two uploaded at T0 and T0 + 1 have been kept a whole
        // retention (uploaded + retention <= now); the one at T0 + 2 not yet.
        let swept = run(sweep(&bucket, &index, T0 + DAY + 1, retention)).expect("ok");
        assert_eq!(swept.archives, 2);
        assert_eq!(swept.index_rows, 2);
        let left: Vec<String> = bucket.objects.borrow().keys().cloned().collect();
        assert_eq!(
            left,
            [
                "sessions/2026-12-01/s2.jsonl",
                "sessions/2026-12-02/s3.jsonl",
                "sessions/2026-12-03/s4.jsonl"
            ]
        );
        // A second sweep at the same time deletes nothing more.
        assert_eq!(
            run(sweep(&bucket, &index, T0 + DAY + 1, retention)).expect("ok"),
            Swept::default()
        );
        // Much later everything goes.
        let all = run(sweep(&bucket, &index, T0 + 10 * DAY, retention)).expect("ok");
        assert_eq!(all.archives, 3);
        assert!(bucket.objects.borrow().is_empty() && index.rows.borrow().is_empty());
    }
}
