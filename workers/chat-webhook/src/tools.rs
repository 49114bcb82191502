//! The model's tools in the web chat: a [`ToolBox`] runs the support desk's calls
//! ([`SupportDesk`]: knowledge-base search and the session's tickets) and escalates a new
//! ticket ([`Escalator`]). The session is the `ChatSession`'s own, never the model's
//! arguments (which cannot even name one: `parse_call` refuses unknown fields). The loop
//! that offers the tools and runs the calls (rounds, timeouts) is
//! [`crate::ai_stream::stream_reply_with`]; the protocol and argument checks are the core's
//! (`edge_core::chat::tools`).

use edge_core::chat::escalation;
use edge_core::chat::support::{EscalationReason, Ticket};
use edge_core::chat::tools::{self, ToolRequest};
use serde_json::Value;

use crate::escalation::Escalator;
use crate::log;
use crate::support_desk::SupportDesk;

/// Runs checked tool calls.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait ToolRunner {
    /// Runs `req` at `now`: the result for the model, or why it failed (said to the model:
    /// never a backend's own words).
    async fn run(&self, req: &ToolRequest, now: u64) -> Result<Value, String>;
}

/// How the tool loop runs calls (`CHAT_TOOL_TIMEOUT_MS`, `CHAT_TOOL_CALLS_PER_ROUND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ToolPolicy {
    /// Longest one call may take; then it is `timed_out` and the model told so.
    pub(crate) timeout_ms: u64,
    /// Calls run per round; the model is told to ask again for the rest.
    pub(crate) calls_per_round: usize,
}

/// No tools (tests of the chain without them).
#[cfg(test)]
pub(crate) struct NoTools;

#[cfg(test)]
impl ToolRunner for NoTools {
    async fn run(&self, _req: &ToolRequest, _now: u64) -> Result<Value, String> {
        Err("no tools here".to_owned())
    }
}

/// What the model is told when the desk failed (the backend's words go to the log only).
const UNAVAILABLE: &str = "the support desk is unavailable right now; tell the customer and \
                           offer to try again later";

/// The support desk's tools for one session.
pub(crate) struct ToolBox<D, E> {
    pub(crate) desk: D,
    /// The escalation queue (`None`: not bound; the ticket stays, logged).
    pub(crate) escalator: Option<E>,
    /// The session the tickets belong to (`None`: unknown, ticket tools unavailable).
    pub(crate) session_id: Option<String>,
}

impl<D: SupportDesk, E: Escalator> ToolBox<D, E> {
    fn session(&self) -> Result<&str, String> {
        self.session_id
            .as_deref()
            .ok_or_else(|| "tickets are not available in this conversation".to_owned())
    }

    /// Queues the escalation of a new ticket. A failure is logged, not the tool's: the
    /// escalation ledger's sweeper re-sends what was written but not queued.
    async fn escalate(&self, t: &Ticket) {
        let Some(e) = &self.escalator else {
            log::warn(&format!(
                "ticket {}: no escalation queue bound; not escalated",
                t.id
            ));
            return;
        };
        let escalation = escalation::of_ticket(t, EscalationReason::TicketCreated);
        if let Err(err) = e.escalate(&escalation).await {
            log::warn(&format!("ticket {}: escalation failed: {err}", t.id));
        }
    }
}

fn unavailable(what: &str, e: &impl std::fmt::Display) -> String {
    log::warn(&format!("tool {what} failed: {e}"));
    UNAVAILABLE.to_owned()
}

impl<D: SupportDesk, E: Escalator> ToolRunner for ToolBox<D, E> {
    async fn run(&self, req: &ToolRequest, now: u64) -> Result<Value, String> {
        let missing = || "no ticket with that id in this conversation".to_owned();
        match req {
            ToolRequest::Search(q) => self
                .desk
                .search(q)
                .await
                .map(|hits| tools::search_result(&hits))
                .map_err(|e| unavailable("search_knowledge_base", &e)),
            ToolRequest::CreateTicket(t) => {
                let session = self.session()?;
                let ticket = self
                    .desk
                    .create_ticket(session, t, now)
                    .await
                    .map_err(|e| unavailable("create_ticket", &e))?;
                self.escalate(&ticket).await;
                Ok(tools::ticket_result(&ticket))
            }
            ToolRequest::GetTicket { id } => self
                .desk
                .ticket(self.session()?, id)
                .await
                .map_err(|e| unavailable("get_ticket", &e))?
                .map(|t| tools::ticket_result(&t))
                .ok_or_else(missing),
            ToolRequest::UpdateTicket { id, update } => self
                .desk
                .update_ticket(self.session()?, id, update, now)
                .await
                .map_err(|e| unavailable("update_ticket", &e))?
                .map(|t| tools::ticket_result(&t))
                .ok_or_else(missing),
        }
    }
}

#[cfg(test)]
pub(crate) mod fakes {
    //! An in-memory support desk and escalation queue, each able to fail or hang.

    use std::cell::{Cell, RefCell};

    use edge_core::chat::support::{
        Actor, Escalation, HitKind, KbHit, NewTicket, SearchQuery, Ticket, TicketEvent,
        TicketStatus, TicketUpdate,
    };

    use super::*;
    use crate::backends::BackendError;

    /// How a fake backend answers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub(crate) enum Mode {
        #[default]
        Works,
        Fails,
        /// Never answers (a tool timeout).
        Hangs,
    }

    async fn behave(mode: Mode) -> Result<(), BackendError> {
        match mode {
            Mode::Works => Ok(()),
            Mode::Fails => Err(BackendError("D1_ERROR: secret detail".to_owned())),
            Mode::Hangs => futures::future::pending().await,
        }
    }

    /// Articles `(id, title, body)`, found by any word of the query; tickets in memory.
    #[derive(Debug, Default)]
    pub(crate) struct MemDesk {
        pub(crate) articles: Vec<(String, String, String)>,
        pub(crate) tickets: RefCell<Vec<Ticket>>,
        pub(crate) searches: RefCell<Vec<SearchQuery>>,
        pub(crate) mode: Cell<Mode>,
    }

    impl MemDesk {
        pub(crate) fn with_article(id: &str, title: &str, body: &str) -> Self {
            Self {
                articles: vec![(id.to_owned(), title.to_owned(), body.to_owned())],
                ..Self::default()
            }
        }
    }

    impl SupportDesk for MemDesk {
        async fn search(&self, q: &SearchQuery) -> Result<Vec<KbHit>, BackendError> {
            behave(self.mode.get()).await?;
            self.searches.borrow_mut().push(q.clone());
            let words: Vec<String> = q.text.split_whitespace().map(str::to_lowercase).collect();
            Ok(self
                .articles
                .iter()
                .filter(|(_, t, b)| {
                    let hay = format!("{t} {b}").to_lowercase();
                    words.iter().any(|w| hay.contains(w.as_str()))
                })
                .take(q.limit)
                .map(|(id, t, b)| KbHit {
                    id: id.clone(),
                    kind: HitKind::Article,
                    title: t.clone(),
                    snippet: b.clone(),
                    score: 1.0,
                })
                .collect())
        }

        async fn create_ticket(
            &self,
            session_id: &str,
            t: &NewTicket,
            now: u64,
        ) -> Result<Ticket, BackendError> {
            behave(self.mode.get()).await?;
            let n = self.tickets.borrow().len();
            let ticket = Ticket {
                id: format!("t_{n:024x}"),
                session_id: session_id.to_owned(),
                contact: t.contact.clone(),
                subject: t.subject.clone(),
                description: t.description.clone(),
                status: TicketStatus::Open,
                priority: t.priority,
                created_at: now,
                updated_at: now,
                history: vec![TicketEvent {
                    at: now,
                    actor: Actor::Assistant,
                    change: "created".to_owned(),
                }],
            };
            self.tickets.borrow_mut().push(ticket.clone());
            Ok(ticket)
        }

        async fn ticket(&self, session_id: &str, id: &str) -> Result<Option<Ticket>, BackendError> {
            behave(self.mode.get()).await?;
            Ok(self
                .tickets
                .borrow()
                .iter()
                .find(|t| t.id == id && t.session_id == session_id)
                .cloned())
        }

        async fn update_ticket(
            &self,
            session_id: &str,
            id: &str,
            u: &TicketUpdate,
            now: u64,
        ) -> Result<Option<Ticket>, BackendError> {
            behave(self.mode.get()).await?;
            let mut tickets = self.tickets.borrow_mut();
            let Some(t) = tickets
                .iter_mut()
                .find(|t| t.id == id && t.session_id == session_id)
            else {
                return Ok(None);
            };
            if let Some(s) = u.status {
                t.status = s;
            }
            if let Some(p) = u.priority {
                t.priority = p;
            }
            t.updated_at = now;
            t.history.push(TicketEvent {
                at: now,
                actor: Actor::Assistant,
                change: "updated".to_owned(),
            });
            Ok(Some(t.clone()))
        }
    }

    /// Records escalations.
    #[derive(Debug, Default)]
    pub(crate) struct MemQueue {
        pub(crate) sent: RefCell<Vec<Escalation>>,
        pub(crate) mode: Cell<Mode>,
    }

    impl Escalator for MemQueue {
        async fn escalate(&self, e: &Escalation) -> Result<(), BackendError> {
            behave(self.mode.get()).await?;
            self.sent.borrow_mut().push(e.clone());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use edge_core::chat::support::{NewTicket, Priority, SearchQuery, TicketStatus, TicketUpdate};

    use super::fakes::{MemDesk, MemQueue, Mode};
    use super::*;
    use crate::testkit::run;

    fn toolbox(session: Option<&str>) -> ToolBox<MemDesk, MemQueue> {
        ToolBox {
            desk: MemDesk::with_article("kb-42", "Refunds", "Refunds take 5 days."),
            escalator: Some(MemQueue::default()),
            session_id: session.map(str::to_owned),
        }
    }

    fn new_ticket() -> ToolRequest {
        ToolRequest::CreateTicket(NewTicket {
            subject: "Broken kettle".into(),
            description: "cracked".into(),
            contact: Some("ann@example.com".into()),
            priority: Priority::High,
        })
    }

    #[test]
    fn search_returns_hits_with_ids() {
        let b = toolbox(Some("s1"));
        let q = ToolRequest::Search(SearchQuery {
            text: "refund".into(),
            language: None,
            limit: 5,
        });
        let v = run(b.run(&q, 1)).expect("found");
        assert_eq!(v["hits"][0]["id"], "kb-42");
    }

    #[test]
    fn a_new_ticket_belongs_to_the_session_and_is_escalated_once_by_its_key() {
        let b = toolbox(Some("s1"));
        let v = run(b.run(&new_ticket(), 1_000)).expect("created");
        let id = v["ticket"]["id"].as_str().expect("id").to_owned();
        assert_eq!(b.desk.tickets.borrow()[0].session_id, "s1");
        let sent = b.escalator.as_ref().expect("queue").sent.borrow().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].key, format!("ticket:{id}"));
        assert_eq!(sent[0].reason, EscalationReason::TicketCreated);
        assert_eq!(
            (sent[0].session_id.as_str(), sent[0].priority),
            ("s1", Priority::High)
        );
        // Read and changed by the same session; another session sees nothing.
        let get = ToolRequest::GetTicket { id: id.clone() };
        assert_eq!(
            run(b.run(&get, 2)).expect("mine")["ticket"]["status"],
            "open"
        );
        let update = ToolRequest::UpdateTicket {
            id: id.clone(),
            update: TicketUpdate {
                status: Some(TicketStatus::Solved),
                ..TicketUpdate::default()
            },
        };
        assert_eq!(
            run(b.run(&update, 3)).expect("mine")["ticket"]["status"],
            "solved"
        );
        let other = ToolBox {
            desk: MemDesk {
                tickets: b.desk.tickets.clone(),
                ..MemDesk::default()
            },
            escalator: None::<MemQueue>,
            session_id: Some("s2".to_owned()),
        };
        let err = run(other.run(&get, 4)).expect_err("not theirs");
        assert!(err.contains("no ticket"), "{err}");
        assert!(run(other.run(&update, 4)).is_err());
    }

    #[test]
    fn a_failed_escalation_does_not_fail_the_tool_and_a_failed_desk_hides_its_words() {
        let b = toolbox(Some("s1"));
        b.escalator.as_ref().expect("queue").mode.set(Mode::Fails);
        assert!(run(b.run(&new_ticket(), 1)).is_ok(), "the ticket stays");
        let unbound = ToolBox {
            escalator: None::<MemQueue>,
            ..toolbox(Some("s1"))
        };
        assert!(run(unbound.run(&new_ticket(), 1)).is_ok());
        b.desk.mode.set(Mode::Fails);
        let err = run(b.run(&new_ticket(), 1)).expect_err("desk down");
        assert!(
            err.contains("unavailable") && !err.contains("D1_ERROR"),
            "{err}"
        );
        // Without a known session, no ticket tool works (search does).
        let nobody = toolbox(None);
        assert!(run(nobody.run(&new_ticket(), 1)).is_err());
        assert!(nobody.desk.tickets.borrow().is_empty());
    }
}
