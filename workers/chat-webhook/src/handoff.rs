//! A web chat customer asking for a person (`edge_core::chat::escalation::asks_for_human`):
//! the session's open ticket is reused, or one is opened (by the worker itself, through the
//! [`SupportDesk`]), and escalated ([`Escalator`]); the customer is told so plainly, at the
//! start of the answer, which still streams.
//!
//! One open ticket per session: a second request finds the first ticket (and its
//! escalation key, `ticket:<id>`, was already notified: no second notification).

use edge_core::chat::escalation::{asks_for_human, notice, notice_failed};
use edge_core::chat::intent::Language;
use edge_core::chat::support::{Escalation, EscalationReason, NewTicket, Priority, Ticket};
use serde::Deserialize;

use crate::backends::BackendError;
use crate::escalation::Escalator;
use crate::support_desk::{D1Desk, SupportDesk};

/// What happens to a new customer message before it is answered.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait Handoff {
    /// When `content` asks for a person: opens (or reuses) the session's ticket,
    /// escalates it, and returns what the customer is told first; `None` otherwise.
    async fn on_message(&self, content: &str, lang: Language, now: u64) -> Option<String>;
}

/// No hand-off (no desk bound: the flows' tests).
impl Handoff for () {
    async fn on_message(&self, _content: &str, _lang: Language, _now: u64) -> Option<String> {
        None
    }
}

/// A hand-off when there is one (the worker's bindings may be missing).
impl<H: Handoff> Handoff for Option<H> {
    async fn on_message(&self, content: &str, lang: Language, now: u64) -> Option<String> {
        match self {
            Some(h) => h.on_message(content, lang, now).await,
            None => None,
        }
    }
}

/// The session's open tickets (not solved), newest first.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait OpenTickets {
    /// The newest ticket of `session_id` that is not solved.
    async fn open_ticket(&self, session_id: &str) -> Result<Option<Ticket>, BackendError>;
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

impl OpenTickets for D1Desk {
    async fn open_ticket(&self, session_id: &str) -> Result<Option<Ticket>, BackendError> {
        let d1 = |e: worker::Error| BackendError(format!("D1: {e}"));
        let row: Option<IdRow> = self
            .0
            .prepare(
                "SELECT id FROM tickets WHERE session_id = ?1 AND status != 'solved'
                 ORDER BY created_at DESC LIMIT 1",
            )
            .bind(&[session_id.into()])
            .map_err(d1)?
            .first(None)
            .await
            .map_err(d1)?;
        match row {
            Some(r) => self.ticket(session_id, &r.id).await,
            None => Ok(None),
        }
    }
}

/// The subject of a ticket opened because the customer asked for a person.
pub(crate) const SUBJECT: &str = "Customer asked for a person";
/// Most characters of the customer's message kept as the ticket's description.
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// The escalation of `t` (its key `ticket:<id>`).
pub(crate) fn escalation_of(t: &Ticket, reason: EscalationReason) -> Escalation {
    Escalation {
        key: format!("ticket:{}", t.id),
        reason,
        ticket_id: t.id.clone(),
        session_id: t.session_id.clone(),
        subject: t.subject.clone(),
        priority: t.priority,
        contact: t.contact.clone(),
        created_at: t.created_at,
    }
}

/// The hand-off of one session: its desk, its escalator, its id.
pub(crate) struct DeskHandoff<D, E> {
    pub(crate) desk: D,
    pub(crate) escalator: E,
    pub(crate) session_id: String,
}

impl<D: SupportDesk + OpenTickets, E: Escalator> DeskHandoff<D, E> {
    /// The session's open ticket or a new one, escalated; whether it was reused.
    async fn request(&self, content: &str, now: u64) -> Result<(Ticket, bool), BackendError> {
        let (ticket, reused) = match self.desk.open_ticket(&self.session_id).await? {
            Some(t) => (t, true),
            None => {
                let new = NewTicket {
                    subject: SUBJECT.to_owned(),
                    description: content.chars().take(MAX_DESCRIPTION_CHARS).collect(),
                    contact: None,
                    priority: Priority::High,
                };
                let t = self.desk.create_ticket(&self.session_id, &new, now).await?;
                (t, false)
            }
        };
        let e = escalation_of(&ticket, EscalationReason::HumanRequested);
        if let Err(err) = self.escalator.escalate(&e).await {
            // Recorded in the ledger first: a failed queue send is swept later. The ticket
            // exists either way (the admin API lists it).
            crate::log::warn(&format!("escalation {}: {err}", e.key));
        }
        Ok((ticket, reused))
    }
}

impl<D: SupportDesk + OpenTickets, E: Escalator> Handoff for DeskHandoff<D, E> {
    async fn on_message(&self, content: &str, lang: Language, now: u64) -> Option<String> {
        if !asks_for_human(content) {
            return None;
        }
        match self.request(content, now).await {
            Ok((t, reused)) => Some(notice(lang, &t.id, reused)),
            Err(e) => {
                crate::log::warn(&format!("a request for a person failed: {e}"));
                Some(notice_failed(lang).to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use edge_core::chat::support::{KbHit, SearchQuery, TicketStatus, TicketUpdate};

    use super::*;
    use crate::escalation::fakes::{MemLedger, MemQueue};
    use crate::testkit::run;

    /// Tickets in memory (the session's only).
    #[derive(Default)]
    struct Desk {
        tickets: RefCell<Vec<Ticket>>,
        down: std::cell::Cell<bool>,
    }

    impl SupportDesk for Desk {
        async fn search(&self, _q: &SearchQuery) -> Result<Vec<KbHit>, BackendError> {
            Ok(Vec::new())
        }

        async fn create_ticket(
            &self,
            session_id: &str,
            t: &NewTicket,
            now: u64,
        ) -> Result<Ticket, BackendError> {
            if self.down.get() {
                return Err(BackendError("D1 down".into()));
            }
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
                history: Vec::new(),
            };
            self.tickets.borrow_mut().push(ticket.clone());
            Ok(ticket)
        }

        async fn ticket(&self, session_id: &str, id: &str) -> Result<Option<Ticket>, BackendError> {
            Ok(self
                .tickets
                .borrow()
                .iter()
                .find(|t| t.id == id && t.session_id == session_id)
                .cloned())
        }

        async fn update_ticket(
            &self,
            _session_id: &str,
            _id: &str,
            _u: &TicketUpdate,
            _now: u64,
        ) -> Result<Option<Ticket>, BackendError> {
            Ok(None)
        }
    }

    impl OpenTickets for Desk {
        async fn open_ticket(&self, session_id: &str) -> Result<Option<Ticket>, BackendError> {
            Ok(self
                .tickets
                .borrow()
                .iter()
                .rev()
                .find(|t| t.session_id == session_id && t.status != TicketStatus::Solved)
                .cloned())
        }
    }

    struct Escalate<'a> {
        ledger: &'a MemLedger,
        queue: &'a MemQueue,
    }

    impl Escalator for Escalate<'_> {
        async fn escalate(&self, e: &Escalation) -> Result<(), BackendError> {
            crate::escalation::escalate(self.ledger, self.queue, e, 1).await
        }
    }

    #[test]
    fn a_request_opens_one_ticket_escalates_it_once_and_reuses_it() {
        let (ledger, queue) = (MemLedger::default(), MemQueue::default());
        let h = DeskHandoff {
            desk: Desk::default(),
            escalator: Escalate {
                ledger: &ledger,
                queue: &queue,
            },
            session_id: "s1".into(),
        };
        assert_eq!(
            run(h.on_message("what does it cost?", Language::En, 5)),
            None
        );
        assert!(h.desk.tickets.borrow().is_empty());
        let first = run(h.on_message("I want to talk to a human", Language::En, 10)).expect("told");
        let tickets = h.desk.tickets.borrow().clone();
        assert_eq!(tickets.len(), 1);
        let t = &tickets[0];
        assert!(
            first.contains(&t.id) && !first.contains("already"),
            "{first}"
        );
        assert_eq!(t.subject, SUBJECT);
        assert_eq!(t.description, "I want to talk to a human");
        assert_eq!(t.priority, Priority::High);
        let queued = queue.sent.borrow().clone();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].key, format!("ticket:{}", t.id));
        assert_eq!(queued[0].reason, EscalationReason::HumanRequested);
        assert_eq!(queued[0].session_id, "s1");
        // Again, in Thai: the same ticket, queued again (still pending) under the same key.
        let again = run(h.on_message("ขอคุยกับเจ้าหน้าที่ครับ", Language::Th, 20)).expect("told");
        assert!(again.contains(&t.id), "{again}");
        assert_eq!(
            h.desk.tickets.borrow().len(),
            1,
            "one open ticket per session"
        );
        assert_eq!(ledger.rows.borrow().len(), 1, "one ledger row per key");
    }

    #[test]
    fn a_failing_desk_tells_the_customer_and_a_failing_queue_does_not() {
        let (ledger, queue) = (MemLedger::default(), MemQueue::default());
        let h = DeskHandoff {
            desk: Desk::default(),
            escalator: Escalate {
                ledger: &ledger,
                queue: &queue,
            },
            session_id: "s1".into(),
        };
        h.desk.down.set(true);
        let told = run(h.on_message("agent", Language::En, 1)).expect("told");
        assert_eq!(told, notice_failed(Language::En));
        h.desk.down.set(false);
        queue.failing.set(true);
        let told = run(h.on_message("agent", Language::En, 2)).expect("told");
        let t = h.desk.tickets.borrow()[0].clone();
        assert!(told.contains(&t.id), "the ticket exists: {told}");
        assert_eq!(
            ledger.row(&format!("ticket:{}", t.id)).status,
            "pending",
            "recorded for the sweeper"
        );
    }
}
