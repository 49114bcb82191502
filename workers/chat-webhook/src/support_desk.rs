//! The support desk the model's tools use: knowledge-base search and the session's
//! tickets. [`D1Desk`] binds it to D1 (schema: `migrations/0003_support_desk.sql`); the
//! tests bind it to an in-memory fake. The admin API uses [`D1Desk`]'s own methods, which
//! take a [`Scope`] (one session's tickets, or every ticket for the admin).
//!
//! Search: the query is planned in the core (`edge_core::chat::kb`: quoted terms only,
//! English words to the `kb_en` index, Thai runs to the `kb_th` trigram index), both
//! indexes are read in one D1 batch and the hits merged in the core. Tickets: every query of
//! a session's call says `AND session_id = ?` (another session's ticket is not found); a
//! change is validated and planned in the core, then written with its history rows in one
//! batch (a transaction) whose history sequence numbers make a concurrent change on a stale
//! read fail whole and be read again.

use edge_core::chat::intent::Language;
use edge_core::chat::kb::{self, IndexHit};
use edge_core::chat::support::{
    Actor, Article, ArticleInput, HitKind, KbHit, MAX_HISTORY_SHOWN, NewTicket, Priority,
    SearchQuery, Ticket, TicketEvent, TicketStatus, TicketUpdate, plan_change, ticket_id_from_uuid,
    valid_ticket_id,
};
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;

use crate::backends::BackendError;
use crate::db::{n, opt, s};
use crate::error::Error;

/// Knowledge-base search and tickets, as one session's model may use them: every ticket
/// call names the session, and a ticket of another session is `None` (as if it did not
/// exist).
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait SupportDesk {
    /// Ranked hits (articles and products), best first, at most `q.limit`.
    async fn search(&self, q: &SearchQuery) -> Result<Vec<KbHit>, BackendError>;
    /// Opens a ticket for `session_id` at `now`.
    async fn create_ticket(
        &self,
        session_id: &str,
        t: &NewTicket,
        now: u64,
    ) -> Result<Ticket, BackendError>;
    /// The ticket `id` when it belongs to `session_id`.
    async fn ticket(&self, session_id: &str, id: &str) -> Result<Option<Ticket>, BackendError>;
    /// Applies `u` to ticket `id` when it belongs to `session_id`; the ticket after it.
    async fn update_ticket(
        &self,
        session_id: &str,
        id: &str,
        u: &TicketUpdate,
        now: u64,
    ) -> Result<Option<Ticket>, BackendError>;
}

/// The support desk in D1.
pub(crate) struct D1Desk(pub(crate) worker::D1Database);

/// Whose tickets a call may see and change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope<'a> {
    /// Only this web chat session's (the model's tools).
    Session(&'a str),
    /// Every ticket (the admin API).
    Admin,
}

impl Scope<'_> {
    /// The owner condition on `tickets` (parameter `?2`, NULL for the admin: every query
    /// takes the same parameters whoever asks).
    fn clause(self) -> &'static str {
        match self {
            Self::Session(_) => "AND session_id = ?2",
            Self::Admin => "AND ?2 IS NULL",
        }
    }

    /// The value of `?2`.
    fn bind(self) -> JsValue {
        match self {
            Self::Session(sid) => s(sid),
            Self::Admin => JsValue::NULL,
        }
    }

    fn actor(self) -> Actor {
        match self {
            Self::Session(_) => Actor::Assistant,
            Self::Admin => Actor::Admin,
        }
    }
}

/// Ranks with title matches weighing 5, tags 2, body 1 (columns title, body, tags).
pub(crate) const SEARCH_EN: &str = "SELECT kind, ref AS id, title, snippet(kb_en, 1, '', '', '…', 24) AS snippet, \
     -bm25(kb_en, 5.0, 1.0, 2.0) AS score, lang FROM kb_en WHERE kb_en MATCH ?1 \
     ORDER BY bm25(kb_en, 5.0, 1.0, 2.0) LIMIT ?2";
/// The Thai index: snippets count trigrams (one per letter), so a longer window.
pub(crate) const SEARCH_TH: &str = "SELECT kind, ref AS id, title, snippet(kb_th, 1, '', '', '…', 48) AS snippet, \
     -bm25(kb_th, 5.0, 1.0, 2.0) AS score, lang FROM kb_th WHERE kb_th MATCH ?1 \
     ORDER BY bm25(kb_th, 5.0, 1.0, 2.0) LIMIT ?2";

pub(crate) const TICKET_COLUMNS: &str =
    "id, session_id, contact, subject, description, status, priority, created_at, updated_at";

pub(crate) const INSERT_TICKET: &str = "INSERT INTO tickets (id, session_id, contact, subject, description, status, priority, created_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?7)";
pub(crate) const INSERT_EVENT: &str =
    "INSERT INTO ticket_events (ticket_id, seq, at, actor, change) VALUES (?1, ?2, ?3, ?4, ?5)";

fn select_ticket(scope: Scope<'_>) -> String {
    format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?1 {}",
        scope.clause()
    )
}

/// The latest history rows, newest first (the first one's seq is the count).
fn select_events(scope: Scope<'_>) -> String {
    format!(
        "SELECT seq, at, actor, change FROM ticket_events WHERE ticket_id = ?1 \
         AND EXISTS (SELECT 1 FROM tickets WHERE id = ?1 {}) ORDER BY seq DESC LIMIT {MAX_HISTORY_SHOWN}",
        scope.clause()
    )
}

/// The session's latest ticket that is not solved.
fn unsolved_sql() -> String {
    format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE session_id = ?1 AND status != 'solved' \
         ORDER BY updated_at DESC, id LIMIT 1"
    )
}

fn update_ticket_sql(scope: Scope<'_>) -> String {
    format!(
        "UPDATE tickets SET status = ?3, priority = ?4, updated_at = ?5 WHERE id = ?1 {}",
        scope.clause()
    )
}

/// One row of a search.
#[derive(Debug, Deserialize)]
pub(crate) struct HitRow {
    kind: String,
    id: String,
    title: String,
    snippet: Option<String>,
    score: f64,
    lang: Option<String>,
}

impl HitRow {
    fn into_hit(self) -> Option<IndexHit> {
        let kind = match self.kind.as_str() {
            "article" => HitKind::Article,
            "product" => HitKind::Product,
            _ => return None,
        };
        Some(IndexHit {
            language: self.lang.as_deref().map(|l| Language::from_tag(Some(l))),
            hit: KbHit {
                id: self.id,
                kind,
                title: self.title,
                snippet: self.snippet.unwrap_or_default(),
                score: self.score,
            },
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct TicketRow {
    id: String,
    session_id: String,
    contact: Option<String>,
    subject: String,
    description: String,
    status: String,
    priority: String,
    created_at: f64,
    updated_at: f64,
}

impl TicketRow {
    /// The ticket (history empty); `None` for a row the schema's checks should have refused.
    fn into_ticket(self) -> Option<Ticket> {
        Some(Ticket {
            id: self.id,
            session_id: self.session_id,
            contact: self.contact,
            subject: self.subject,
            description: self.description,
            status: TicketStatus::parse(&self.status)?,
            priority: Priority::parse(&self.priority)?,
            created_at: self.created_at as u64,
            updated_at: self.updated_at as u64,
            history: Vec::new(),
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventRow {
    seq: f64,
    at: f64,
    actor: String,
    change: String,
}

#[derive(Debug, Deserialize)]
struct ArticleRow {
    id: String,
    title: String,
    body: Option<String>,
    language: String,
    tags: String,
    published: f64,
    created_at: f64,
    updated_at: f64,
}

impl ArticleRow {
    fn into_article(self) -> Article {
        Article {
            id: self.id,
            title: self.title,
            body: self.body.unwrap_or_default(),
            language: Language::from_tag(Some(&self.language)),
            tags: serde_json::from_str(&self.tags).unwrap_or_default(),
            published: self.published != 0.0,
            created_at: self.created_at as u64,
            updated_at: self.updated_at as u64,
        }
    }
}

/// A ticket and the number of its history rows (its last seq).
struct Read {
    ticket: Ticket,
    events: u32,
}

/// The ticket of `row` with `events` (newest first) as its history, oldest first.
fn assemble(row: TicketRow, events: Vec<EventRow>) -> Option<Read> {
    let mut ticket = row.into_ticket()?;
    let count = events.first().map_or(0, |e| e.seq as u32);
    ticket.history = events
        .into_iter()
        .rev()
        .filter_map(|e| {
            Some(TicketEvent {
                at: e.at as u64,
                actor: Actor::parse(&e.actor)?,
                change: e.change,
            })
        })
        .collect();
    Some(Read {
        ticket,
        events: count,
    })
}

/// What a search found, and how long D1 said its queries took.
#[derive(Debug)]
pub(crate) struct Found {
    /// The merged ranking.
    pub(crate) hits: Vec<KbHit>,
    /// The queries' time inside D1 (its result metadata), ms.
    pub(crate) d1_ms: f64,
}

/// A fresh ticket id from the runtime's CSPRNG (`crypto.randomUUID`).
fn new_ticket_id() -> Result<String, Error> {
    edge_glue::random_uuid()
        .and_then(|u| ticket_id_from_uuid(&u))
        .ok_or_else(|| worker::Error::RustError("crypto.randomUUID unavailable".to_owned()).into())
}

impl D1Desk {
    /// Searches both indexes (one D1 batch when the query has both scripts).
    pub(crate) async fn find(&self, q: &SearchQuery) -> Result<Found, Error> {
        let Some(plan) = kb::plan(&q.text) else {
            return Ok(Found {
                hits: Vec::new(),
                d1_ms: 0.0,
            });
        };
        let limit = JsValue::from_f64(q.limit as f64);
        let mut statements = Vec::new();
        for (sql, expr) in [(SEARCH_EN, &plan.words), (SEARCH_TH, &plan.thai)] {
            if let Some(expr) = expr {
                statements.push(self.0.prepare(sql).bind(&[s(expr), limit.clone()])?);
            }
        }
        let results = self.0.batch(statements).await?;
        let mut rows = Vec::new();
        let mut d1_ms = 0.0;
        for r in &results {
            d1_ms += r.meta()?.and_then(|m| m.duration).unwrap_or(0.0);
            rows.extend(
                r.results::<HitRow>()?
                    .into_iter()
                    .filter_map(HitRow::into_hit),
            );
        }
        Ok(Found {
            hits: kb::merge(rows, q.language, q.limit),
            d1_ms,
        })
    }

    /// Opens a ticket for `session_id` (history: `created` by `actor`).
    pub(crate) async fn open(
        &self,
        session_id: &str,
        t: &NewTicket,
        actor: Actor,
        now: u64,
    ) -> Result<Ticket, Error> {
        let t = t.validated()?;
        let id = new_ticket_id()?;
        self.0
            .batch(vec![
                self.0.prepare(INSERT_TICKET).bind(&[
                    s(&id),
                    s(session_id),
                    opt(t.contact.as_deref()),
                    s(&t.subject),
                    s(&t.description),
                    s(t.priority.as_str()),
                    n(now),
                ])?,
                self.0.prepare(INSERT_EVENT).bind(&[
                    s(&id),
                    n(1),
                    n(now),
                    s(actor.as_str()),
                    s("created"),
                ])?,
            ])
            .await?;
        Ok(Ticket {
            id,
            session_id: session_id.to_owned(),
            contact: t.contact,
            subject: t.subject,
            description: t.description,
            status: TicketStatus::Open,
            priority: t.priority,
            created_at: now,
            updated_at: now,
            history: vec![TicketEvent {
                at: now,
                actor,
                change: "created".to_owned(),
            }],
        })
    }

    async fn read(&self, scope: Scope<'_>, id: &str) -> Result<Option<Read>, Error> {
        if !valid_ticket_id(id) {
            return Ok(None);
        }
        let binds = [s(id), scope.bind()];
        let results = self
            .0
            .batch(vec![
                self.0.prepare(select_ticket(scope)).bind(&binds)?,
                self.0.prepare(select_events(scope)).bind(&binds)?,
            ])
            .await?;
        let (Some(t), Some(e)) = (results.first(), results.get(1)) else {
            return Ok(None);
        };
        let Some(row) = t.results::<TicketRow>()?.into_iter().next() else {
            return Ok(None);
        };
        Ok(assemble(row, e.results::<EventRow>()?))
    }

    /// Ticket `id` in `scope`, with its latest history.
    pub(crate) async fn ticket_in(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Option<Ticket>, Error> {
        Ok(self.read(scope, id).await?.map(|r| r.ticket))
    }

    /// Applies `u` to ticket `id` in `scope`; the ticket after it (`None`: not found).
    pub(crate) async fn change(
        &self,
        scope: Scope<'_>,
        id: &str,
        u: &TicketUpdate,
        now: u64,
    ) -> Result<Option<Ticket>, Error> {
        let u = u.validated()?;
        let actor = scope.actor();
        // A concurrent change takes the same seq numbers: its batch or ours fails whole,
        // and the loser reads again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(Read { mut ticket, events }) = self.read(scope, id).await? else {
                return Ok(None);
            };
            let plan = plan_change(ticket.status, ticket.priority, events, &u)?;
            if plan.changes.is_empty() {
                return Ok(Some(ticket));
            }
            let mut statements = vec![self.0.prepare(update_ticket_sql(scope)).bind(&[
                s(id),
                scope.bind(),
                s(plan.status.as_str()),
                s(plan.priority.as_str()),
                n(now),
            ])?];
            for (i, change) in plan.changes.iter().enumerate() {
                statements.push(self.0.prepare(INSERT_EVENT).bind(&[
                    s(id),
                    n(u64::from(events) + 1 + i as u64),
                    n(now),
                    s(actor.as_str()),
                    s(change),
                ])?);
            }
            match self.0.batch(statements).await {
                Ok(_) => {
                    ticket.status = plan.status;
                    ticket.priority = plan.priority;
                    ticket.updated_at = now;
                    ticket
                        .history
                        .extend(plan.changes.into_iter().map(|change| TicketEvent {
                            at: now,
                            actor,
                            change,
                        }));
                    let over = ticket.history.len().saturating_sub(MAX_HISTORY_SHOWN);
                    ticket.history.drain(..over);
                    return Ok(Some(ticket));
                }
                Err(e) if attempt >= 3 => return Err(e.into()),
                Err(_) => {}
            }
        }
    }

    /// The session's most recently changed ticket that is not solved, with its history
    /// (a request for a human reuses it rather than open another).
    pub(crate) async fn unsolved_ticket(&self, session_id: &str) -> Result<Option<Ticket>, Error> {
        let row: Option<TicketRow> = self
            .0
            .prepare(unsolved_sql())
            .bind(&[s(session_id)])?
            .first(None)
            .await?;
        match row {
            Some(r) => self.ticket_in(Scope::Session(session_id), &r.id).await,
            None => Ok(None),
        }
    }

    /// Tickets, most recently changed first, without history; `status` and `session`
    /// filter.
    pub(crate) async fn tickets(
        &self,
        status: Option<TicketStatus>,
        session: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Ticket>, Error> {
        let rows: Vec<TicketRow> = self
            .0
            .prepare(format!(
                "SELECT {TICKET_COLUMNS} FROM tickets WHERE (?1 IS NULL OR status = ?1) \
                 AND (?2 IS NULL OR session_id = ?2) ORDER BY updated_at DESC, id LIMIT ?3"
            ))
            .bind(&[
                opt(status.map(TicketStatus::as_str)),
                opt(session),
                JsValue::from_f64(limit as f64),
            ])?
            .all()
            .await?
            .results()?;
        Ok(rows
            .into_iter()
            .filter_map(TicketRow::into_ticket)
            .collect())
    }

    /// Articles by id after `after`, without their bodies, at most `limit`.
    pub(crate) async fn articles(&self, after: &str, limit: usize) -> Result<Vec<Article>, Error> {
        let rows: Vec<ArticleRow> = self
            .0
            .prepare(
                "SELECT id, title, NULL AS body, language, tags, published, created_at, updated_at \
                 FROM articles WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .bind(&[s(after), JsValue::from_f64(limit as f64)])?
            .all()
            .await?
            .results()?;
        Ok(rows.into_iter().map(ArticleRow::into_article).collect())
    }

    /// Article `id`.
    pub(crate) async fn article(&self, id: &str) -> Result<Option<Article>, Error> {
        let row: Option<ArticleRow> = self
            .0
            .prepare(
                "SELECT id, title, body, language, tags, published, created_at, updated_at \
                 FROM articles WHERE id = ?1",
            )
            .bind(&[s(id)])?
            .first(None)
            .await?;
        Ok(row.map(ArticleRow::into_article))
    }

    /// Creates or replaces article `id` (its `created_at` kept); whether it is new.
    pub(crate) async fn put_article(
        &self,
        id: &str,
        a: &ArticleInput,
        now: u64,
    ) -> Result<(Article, bool), Error> {
        let existing = self.article(id).await?;
        let tags = serde_json::to_string(&a.tags)?;
        self.0
            .prepare(
                "INSERT INTO articles (id, title, body, language, tags, published, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
                 ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body, \
                   language = excluded.language, tags = excluded.tags, published = excluded.published, \
                   updated_at = excluded.updated_at",
            )
            .bind(&[
                s(id),
                s(&a.title),
                s(&a.body),
                s(a.language.as_str()),
                s(&tags),
                n(u64::from(a.published)),
                n(now),
            ])?
            .run()
            .await?;
        let article = Article {
            id: id.to_owned(),
            title: a.title.clone(),
            body: a.body.clone(),
            language: a.language,
            tags: a.tags.clone(),
            published: a.published,
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
        };
        Ok((article, existing.is_none()))
    }

    /// Deletes article `id` (and its index rows); whether it existed.
    pub(crate) async fn delete_article(&self, id: &str) -> Result<bool, Error> {
        let r = self
            .0
            .prepare("DELETE FROM articles WHERE id = ?1")
            .bind(&[s(id)])?
            .run()
            .await?;
        Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
    }
}

fn backend(e: Error) -> BackendError {
    BackendError(e.to_string())
}

impl SupportDesk for D1Desk {
    async fn search(&self, q: &SearchQuery) -> Result<Vec<KbHit>, BackendError> {
        Ok(self.find(q).await.map_err(backend)?.hits)
    }

    async fn create_ticket(
        &self,
        session_id: &str,
        t: &NewTicket,
        now: u64,
    ) -> Result<Ticket, BackendError> {
        self.open(session_id, t, Actor::Assistant, now)
            .await
            .map_err(backend)
    }

    async fn ticket(&self, session_id: &str, id: &str) -> Result<Option<Ticket>, BackendError> {
        self.ticket_in(Scope::Session(session_id), id)
            .await
            .map_err(backend)
    }

    async fn update_ticket(
        &self,
        session_id: &str,
        id: &str,
        u: &TicketUpdate,
        now: u64,
    ) -> Result<Option<Ticket>, BackendError> {
        self.change(Scope::Session(session_id), id, u, now)
            .await
            .map_err(backend)
    }
}

/// The SQL above on a real SQLite (bundled, with FTS5): the migrations as D1 applies them,
/// the triggers that keep the indexes, the ranking, and the ticket queries' ownership.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod sql_tests {
    use super::*;
    use rusqlite::{Connection, params};

    fn migrated() -> Connection {
        let db = Connection::open_in_memory().expect("open");
        for sql in [
            include_str!("../migrations/0001_init.sql"),
            include_str!("../migrations/0002_group_chats_and_unsend.sql"),
        ] {
            db.execute_batch(sql).expect("migration");
        }
        // A product that exists before 0003: the migration indexes it.
        db.execute(
            "INSERT INTO products (id, name, description, category, status, created_at, updated_at)
             VALUES ('pegasus-40', 'Pegasus 40 running shoe', 'A daily trainer. รองเท้าวิ่ง', 'shoes', 'active', 1, 1)",
            [],
        )
        .expect("product");
        db.execute_batch(include_str!("../migrations/0003_support_desk.sql"))
            .expect("0003");
        db
    }

    fn article(db: &Connection, id: &str, title: &str, body: &str, lang: &str, published: bool) {
        db.execute(
            "INSERT INTO articles (id, title, body, language, tags, published, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, '[]', ?5, 1, 1)
             ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body,
               language = excluded.language, published = excluded.published",
            params![id, title, body, lang, published],
        )
        .expect("article");
    }

    fn search(db: &Connection, text: &str, limit: usize) -> Vec<KbHit> {
        let q = SearchQuery::new(text, None, Some(limit)).expect("query");
        let Some(plan) = kb::plan(&q.text) else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for (sql, expr) in [(SEARCH_EN, plan.words), (SEARCH_TH, plan.thai)] {
            let Some(expr) = expr else { continue };
            let mut st = db.prepare(sql).expect("prepare");
            let found = st
                .query_map(params![expr, limit as i64], |r| {
                    Ok(HitRow {
                        kind: r.get(0)?,
                        id: r.get(1)?,
                        title: r.get(2)?,
                        snippet: r.get(3)?,
                        score: r.get(4)?,
                        lang: r.get(5)?,
                    })
                })
                .expect("query")
                .collect::<rusqlite::Result<Vec<_>>>()
                .expect("rows");
            rows.extend(found.into_iter().filter_map(HitRow::into_hit));
        }
        kb::merge(rows, q.language, q.limit)
    }

    fn ids(hits: &[KbHit]) -> Vec<&str> {
        hits.iter().map(|h| h.id.as_str()).collect()
    }

    fn seeded() -> Connection {
        let db = migrated();
        article(
            &db,
            "refunds",
            "Refund policy",
            "You can return unworn shoes within 30 days for a full refund.",
            "en",
            true,
        );
        article(
            &db,
            "shipping",
            "Shipping times",
            "Orders ship in two days. Refunds are paid to the card used.",
            "en",
            true,
        );
        article(
            &db,
            "sizes",
            "Size guide",
            "Pick half a size up for running shoes.",
            "en",
            true,
        );
        article(
            &db,
            "draft",
            "Refund secrets",
            "Unpublished refund refund refund.",
            "en",
            false,
        );
        article(
            &db,
            "th-refund",
            "นโยบายการคืนเงิน",
            "คุณสามารถคืนสินค้าได้ภายใน 30 วันเพื่อรับเงินคืนเต็มจำนวน",
            "th",
            true,
        );
        article(
            &db,
            "th-shipping",
            "การจัดส่งสินค้า",
            "เราจัดส่งสินค้าภายในสองวันทำการ",
            "th",
            true,
        );
        db
    }

    #[test]
    fn english_ranking_weighs_titles_and_stems() {
        let db = seeded();
        let hits = search(&db, "refunds?", 10);
        // "refund" in the title ranks first; the stem matches "Refunds" in a body; the
        // unpublished draft is never found.
        assert_eq!(ids(&hits)[..2], ["refunds", "shipping"]);
        assert!(!ids(&hits).contains(&"draft"));
        assert!(hits[0].score >= hits[1].score && hits[1].score > 0.0);
        assert_eq!(hits[0].kind, HitKind::Article);
        assert!(
            hits[0].snippet.contains("full refund"),
            "{}",
            hits[0].snippet
        );
        let shoes = search(&db, "running shoe", 10);
        assert_eq!(
            ids(&shoes)[0],
            "pegasus-40",
            "the product indexed by the migration"
        );
        assert_eq!(shoes[0].kind, HitKind::Product);
        assert_eq!(search(&db, "how do I get a refund", 1).len(), 1);
    }

    #[test]
    fn thai_queries_use_the_trigram_index() {
        let db = seeded();
        let hits = search(&db, "คืนเงิน", 10);
        assert_eq!(ids(&hits)[0], "th-refund");
        // A question that is not a substring of the article still finds it by its pieces.
        let hits = search(&db, "ขอคืนเงินได้ไหม", 10);
        assert_eq!(ids(&hits)[0], "th-refund");
        let hits = search(&db, "จัดส่ง", 10);
        assert_eq!(ids(&hits)[0], "th-shipping");
        // Products are in the Thai index too.
        assert!(ids(&search(&db, "รองเท้าวิ่ง", 10)).contains(&"pegasus-40"));
        // Mixed: both indexes, merged.
        let mixed = ids(&search(&db, "คืนเงิน refund", 10)).join(",");
        assert!(
            mixed.contains("th-refund") && mixed.contains("refunds"),
            "{mixed}"
        );
    }

    #[test]
    fn fts_syntax_in_a_query_is_harmless() {
        let db = seeded();
        for q in [
            r#"refund" OR "*"#,
            "NEAR(refund shipping)",
            "title:refund",
            "refund*",
            "-refund",
            "(((",
            r#"""""#,
            "คืน\"เงิน",
        ] {
            // Never an FTS5 syntax error; the words are found as words.
            let _ = search(&db, q, 10);
        }
        assert_eq!(ids(&search(&db, "title:refund", 10))[0], "refunds");
    }

    #[test]
    fn triggers_keep_the_indexes() {
        let db = seeded();
        // Unpublishing takes it out, publishing puts it back, an edit is searched anew.
        article(
            &db,
            "refunds",
            "Refund policy",
            "Returns within 30 days.",
            "en",
            false,
        );
        assert!(!ids(&search(&db, "refund", 10)).contains(&"refunds"));
        article(
            &db,
            "refunds",
            "Money back",
            "Returns within 30 days.",
            "en",
            true,
        );
        assert_eq!(ids(&search(&db, "money", 10)), ["refunds"]);
        db.execute("DELETE FROM articles WHERE id = 'refunds'", [])
            .expect("delete");
        assert!(search(&db, "money", 10).is_empty());
        // A Thai article turned English leaves the Thai index.
        article(&db, "th-shipping", "Shipping", "Two days.", "en", true);
        assert!(search(&db, "จัดส่ง", 10).is_empty());
        // Products: an inactive one is not found; deleted, nothing is left behind.
        db.execute(
            "UPDATE products SET status = 'inactive' WHERE id = 'pegasus-40'",
            [],
        )
        .expect("update");
        assert!(search(&db, "pegasus", 10).is_empty());
        db.execute(
            "UPDATE products SET status = 'active' WHERE id = 'pegasus-40'",
            [],
        )
        .expect("update");
        assert_eq!(ids(&search(&db, "pegasus", 10)), ["pegasus-40"]);
        db.execute("DELETE FROM products", []).expect("delete");
        assert!(search(&db, "pegasus", 10).is_empty());
        let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).expect("count") };
        // Nothing left behind: one index row per published article (and Thai one), one
        // document key per article (the unpublished draft keeps its key, no index rows).
        assert_eq!(
            count("SELECT count(*) FROM kb_en"),
            count("SELECT count(*) FROM articles WHERE published = 1")
        );
        assert_eq!(
            count("SELECT count(*) FROM kb_th"),
            count("SELECT count(*) FROM articles WHERE published = 1 AND language = 'th'")
        );
        assert_eq!(
            count("SELECT count(*) FROM kb_docs"),
            count("SELECT count(*) FROM articles")
        );
        assert_eq!(count("SELECT count(*) FROM kb_en"), 4);
    }

    #[test]
    fn ticket_queries_enforce_the_owner() {
        let db = migrated();
        let id = "t_0123456789abcdef01234567";
        db.execute(
            INSERT_TICKET,
            params![
                id,
                "session-a",
                None::<String>,
                "Late",
                "Where is my order?",
                "normal",
                5
            ],
        )
        .expect("ticket");
        db.execute(INSERT_EVENT, params![id, 1, 5, "assistant", "created"])
            .expect("event");
        let count = |sql: &str, session: Option<&str>| -> usize {
            let mut st = db.prepare(sql).expect("prepare");
            st.query_map(params![id, session], |_| Ok(()))
                .expect("query")
                .count()
        };
        let mine = Scope::Session("session-a");
        let theirs = Scope::Session("session-b");
        assert_eq!(count(&select_ticket(mine), Some("session-a")), 1);
        assert_eq!(count(&select_ticket(theirs), Some("session-b")), 0);
        assert_eq!(count(&select_events(mine), Some("session-a")), 1);
        assert_eq!(count(&select_events(theirs), Some("session-b")), 0);
        assert_eq!(count(&select_ticket(Scope::Admin), None), 1);
        let update = |scope: Scope<'_>, session: Option<&str>| {
            db.execute(
                &update_ticket_sql(scope),
                params![id, session, "solved", "high", 9],
            )
            .expect("update")
        };
        assert_eq!(
            update(theirs, Some("session-b")),
            0,
            "another session changes nothing"
        );
        assert_eq!(update(mine, Some("session-a")), 1);
        assert_eq!(update(Scope::Admin, None), 1);
        // A second change on a stale read takes a seq that is taken: refused.
        db.execute(
            INSERT_EVENT,
            params![id, 2, 9, "assistant", "status: open -> solved"],
        )
        .expect("event");
        assert!(
            db.execute(INSERT_EVENT, params![id, 2, 9, "admin", "note: late"])
                .is_err()
        );
        // The session's unsolved ticket: none once it is solved, none for another session.
        let unsolved = |session: &str| -> usize {
            let mut st = db.prepare(&unsolved_sql()).expect("prepare");
            st.query_map(params![session], |_| Ok(()))
                .expect("query")
                .count()
        };
        assert_eq!((unsolved("session-a"), unsolved("session-b")), (0, 0));
        db.execute(
            "UPDATE tickets SET status = 'pending' WHERE id = ?1",
            params![id],
        )
        .expect("reopen");
        assert_eq!((unsolved("session-a"), unsolved("session-b")), (1, 0));
        // Status and priority are checked by the schema too.
        assert!(
            db.execute(
                &update_ticket_sql(Scope::Admin),
                params![id, None::<String>, "closed", "high", 9]
            )
            .is_err()
        );
    }
}
