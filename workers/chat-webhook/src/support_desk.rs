//! The support desk the model's tools use: knowledge-base search and the session's
//! tickets. [`D1Desk`] binds it to D1; the tests bind it to an in-memory fake.
//!
//! CONTRACT (issue 19, seeded by the lead; the D1 implementation is helper B's).

use edge_core::chat::support::{KbHit, NewTicket, SearchQuery, Ticket, TicketUpdate};

use crate::backends::BackendError;

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

impl SupportDesk for D1Desk {
    async fn search(&self, _q: &SearchQuery) -> Result<Vec<KbHit>, BackendError> {
        Err(BackendError("SEED: not implemented yet".to_owned()))
    }

    async fn create_ticket(
        &self,
        _session_id: &str,
        _t: &NewTicket,
        _now: u64,
    ) -> Result<Ticket, BackendError> {
        Err(BackendError("SEED: not implemented yet".to_owned()))
    }

    async fn ticket(&self, _session_id: &str, _id: &str) -> Result<Option<Ticket>, BackendError> {
        Err(BackendError("SEED: not implemented yet".to_owned()))
    }

    async fn update_ticket(
        &self,
        _session_id: &str,
        _id: &str,
        _u: &TicketUpdate,
        _now: u64,
    ) -> Result<Option<Ticket>, BackendError> {
        Err(BackendError("SEED: not implemented yet".to_owned()))
    }
}
