//! A web chat customer asking for a person (`edge_core::chat::escalation::asks_for_human`):
//! the session's open ticket is reused, or one is opened (by the worker itself, through the
//! support desk: [`HandoffDesk`]), and escalated ([`Escalator`]); the customer is told so plainly, at the
//! start of the answer, which still streams.
//!
//! One open ticket per session: a second request finds the first ticket (and its
//! escalation key, `ticket:<id>`, was already notified: no second notification).

use edge_core::chat::escalation::{asks_for_human, notice, notice_failed, of_ticket};
use edge_core::chat::intent::Language;
use edge_core::chat::support::{Actor, EscalationReason, NewTicket, Priority, Ticket};
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

/// What the hand-off needs of the support desk: the session's open ticket, and opening one
/// as the worker itself ([`Actor::System`] in its history).
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait HandoffDesk {
    /// The newest ticket of `session_id` that is not solved.
    async fn open_ticket(&self, session_id: &str) -> Result<Option<Ticket>, BackendError>;
    /// Opens a ticket for `session_id`, by the system.
    async fn open_for_person(
        &self,
        session_id: &str,
        t: &NewTicket,
        now: u64,
    ) -> Result<Ticket, BackendError>;
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

impl HandoffDesk for D1Desk {
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

    async fn open_for_person(
        &self,
        session_id: &str,
        t: &NewTicket,
        now: u64,
    ) -> Result<Ticket, BackendError> {
        self.open(session_id, t, Actor::System, now)
            .await
            .map_err(|e| BackendError(e.to_string()))
    }
}

/// The subject of a ticket opened because the customer asked for a person.
pub(crate) const SUBJECT: &str = "Customer asked for a person";
/// Most characters of the customer's message kept as the ticket's description.
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// The hand-off of one session: its desk, its escalator, its id.
pub(crate) struct DeskHandoff<D, E> {
    pub(crate) desk: D,
    pub(crate) escalator: E,
    pub(crate) session_id: String,
}

impl<D: HandoffDesk, E: Escalator> DeskHandoff<D, E> {
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
                let t = self
                    .desk
                    .open_for_person(&self.session_id, &new, now)
                    .await?;
                (t, false)
            }
        };
        let e = of_ticket(&ticket, EscalationReason::HumanRequested);
        if let Err(err) = self.escalator.escalate(&e).await {
            // Recorded in the ledger first: a failed queue send is swept later. The ticket
            // exists either way (the admin API lists it).
            crate::log::warn(&format!("escalation {}: {err}", e.key));
        }
        Ok((ticket, reused))
    }
}

impl<D: HandoffDesk, E: Escalator> Handoff for DeskHandoff<D, E> {
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
    use edge_core::chat::support::{Escalation, TicketStatus};

    use super::*;
    use crate::escalation::fakes::{MemLedger, MemQueue};
    use crate::testkit::run;
    use crate::tools::fakes::{MemDesk, Mode};

    /// The tools' in-memory desk, opening as the system.
    impl HandoffDesk for MemDesk {
        async fn open_ticket(&self, session_id: &str) -> Result<Option<Ticket>, BackendError> {
            Ok(self
                .tickets
                .borrow()
                .iter()
                .rev()
                .find(|t| t.session_id == session_id && t.status != TicketStatus::Solved)
                .cloned())
        }

        async fn open_for_person(
            &self,
            session_id: &str,
            t: &NewTicket,
            now: u64,
        ) -> Result<Ticket, BackendError> {
            let mut ticket = self.create_ticket(session_id, t, now).await?;
            ticket.history[0].actor = Actor::System;
            self.tickets
                .borrow_mut()
                .last_mut()
                .expect("stored")
                .history = ticket.history.clone();
            Ok(ticket)
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

    fn handoff<'a>(
        ledger: &'a MemLedger,
        queue: &'a MemQueue,
    ) -> DeskHandoff<MemDesk, Escalate<'a>> {
        DeskHandoff {
            desk: MemDesk::default(),
            escalator: Escalate { ledger, queue },
            session_id: "s1".into(),
        }
    }

    #[test]
    fn a_request_opens_one_ticket_escalates_it_once_and_reuses_it() {
        let (ledger, queue) = (MemLedger::default(), MemQueue::default());
        let h = handoff(&ledger, &queue);
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
        assert_eq!(t.history[0].actor, Actor::System);
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
        // Solved: the next request opens a new ticket.
        h.desk.tickets.borrow_mut()[0].status = TicketStatus::Solved;
        let third = run(h.on_message("agent", Language::En, 30)).expect("told");
        assert_eq!(h.desk.tickets.borrow().len(), 2);
        assert!(third.contains(&h.desk.tickets.borrow()[1].id), "{third}");
    }

    #[test]
    fn a_failing_desk_tells_the_customer_and_a_failing_queue_does_not() {
        let (ledger, queue) = (MemLedger::default(), MemQueue::default());
        let h = handoff(&ledger, &queue);
        h.desk.mode.set(Mode::Fails);
        let told = run(h.on_message("agent", Language::En, 1)).expect("told");
        assert_eq!(told, notice_failed(Language::En));
        assert!(
            !told.contains("secret detail"),
            "the desk's words stay in the log"
        );
        h.desk.mode.set(Mode::Works);
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
