//! Escalation to a human: an [`Escalation`] is written to the ledger (D1 `escalations`),
//! then sent to the `chat-escalations` queue, whose consumer delivers exactly one
//! notification per key to each configured webhook.
//!
//! - Never lost: the ledger row is written before the queue message ([`escalate`]); a row
//!   still pending after the sweep age is sent again by the scheduled sweeper ([`sweep`]);
//!   a message that failed every retry lands in the dead-letter queue, whose consumer marks
//!   its row `dead` ([`bury`]).
//! - Exactly one notification per key and webhook: the consumer claims the row (a lease),
//!   skips the webhooks that already answered 2xx (`delivered_to`), records each 2xx at
//!   once, and marks the row delivered only when every webhook has it ([`deliver`]); a
//!   redelivered message of a delivered row does nothing. The one gap left — a webhook
//!   answered 2xx and the worker died before recording it — is covered for the generic
//!   webhook by its `Idempotency-Key` header (the key), which a receiver de-duplicates on.
//!
//! Generic over the [`Ledger`], the [`EscalationQueue`] and the network
//! ([`crate::backends::Outbound`]): [`crate::escalation_queue`] binds them to D1, the queue
//! and `fetch` (its `QueueEscalator` is the worker's [`Escalator`]); the tests to fakes that
//! fail on demand.

use edge_core::chat::escalation::{
    self as core, SIGNATURE_HEADER, discord_body, discord_wait_url, retry_delay_s, webhook_body,
};
use edge_core::chat::support::Escalation;

use crate::backends::{BackendError, Call, Method, Outbound};

/// Sends escalations on (at least once; the consumer de-duplicates by key).
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait Escalator {
    /// Records `e` and queues it.
    async fn escalate(&self, e: &Escalation) -> Result<(), BackendError>;
}

/// What the ledger had for a key when it was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// A new row.
    New,
    /// A row still pending (sent again: at least once).
    Pending,
    /// Delivered or dead: nothing to send.
    Settled,
}

/// A consumer's claim on a ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LedgerClaim {
    /// Ours until the lease ends: attempt `attempts` (this one included); the webhooks
    /// that already have it.
    Taken {
        attempts: u32,
        delivered_to: Vec<String>,
    },
    /// Delivered or dead: acknowledge.
    Settled,
    /// Another consumer holds the lease: look again later.
    Busy,
    /// No row (erased with its customer's data): acknowledge, nothing to deliver.
    Missing,
}

/// The escalation ledger (D1 `escalations` in the worker).
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait Ledger {
    /// Inserts `e`'s row as pending, unless its key has one.
    async fn record(&self, e: &Escalation, now: u64) -> Result<Recorded, BackendError>;
    /// Claims a pending row for `lease_ms` and counts the attempt.
    async fn claim(&self, key: &str, now: u64, lease_ms: u64) -> Result<LedgerClaim, BackendError>;
    /// Records the webhooks that now have it.
    async fn delivered_to(&self, key: &str, names: &[String], now: u64)
    -> Result<(), BackendError>;
    /// Marks the row delivered (every webhook has it).
    async fn settle(&self, key: &str, now: u64) -> Result<(), BackendError>;
    /// Gives the lease back after a failed attempt, with what failed (no secret in it).
    async fn release(&self, key: &str, error: &str, now: u64) -> Result<(), BackendError>;
    /// Marks a pending row dead; whether it was pending.
    async fn kill(&self, key: &str, now: u64) -> Result<bool, BackendError>;
    /// Pending rows untouched since `before` and not leased at `now`, oldest first, at
    /// most `limit`.
    async fn stale(
        &self,
        before: u64,
        now: u64,
        limit: usize,
    ) -> Result<Vec<Escalation>, BackendError>;
    /// Marks `keys` as just sent again (the sweep age starts over).
    async fn touch(&self, keys: &[String], now: u64) -> Result<(), BackendError>;
}

/// The escalation queue.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait EscalationQueue {
    /// Sends `es` (one batch).
    async fn send(&self, es: &[Escalation]) -> Result<(), BackendError>;
}

/// Records `e` in the ledger, then queues it (unless it was already delivered or dead).
/// A failed send leaves the pending row for the sweeper: the escalation is not lost, and
/// the error is returned for the caller's log.
///
/// # Errors
/// The ledger's (nothing was queued) or the queue's (the sweeper sends it later).
pub(crate) async fn escalate(
    ledger: &impl Ledger,
    queue: &impl EscalationQueue,
    e: &Escalation,
    now: u64,
) -> Result<(), BackendError> {
    if ledger.record(e, now).await? == Recorded::Settled {
        return Ok(());
    }
    queue.send(std::slice::from_ref(e)).await
}

/// Where a notification goes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A JSON webhook: `Idempotency-Key` and, with a secret, the signature header.
    Generic { url: String, secret: Option<String> },
    /// A Discord channel webhook (its URL holds a token: a secret).
    Discord { url: String },
}

/// One configured webhook.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Webhook {
    /// Its name in the ledger and logs (`webhook`, `discord`): never its URL.
    pub(crate) name: &'static str,
    pub(crate) target: Target,
}

impl std::fmt::Debug for Webhook {
    /// The name only: URLs and secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Webhook({})", self.name)
    }
}

/// How deliveries are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeliveryPolicy {
    /// One webhook call's deadline, ms.
    pub(crate) timeout_ms: u64,
    /// The first retry's delay, seconds (doubling; 0: at once).
    pub(crate) retry_base_s: u32,
}

impl DeliveryPolicy {
    /// How long a claim holds: every webhook timing out, plus 30 s for D1.
    pub(crate) fn lease_ms(&self, webhooks: usize) -> u64 {
        self.timeout_ms
            .saturating_mul(webhooks as u64)
            .saturating_add(30_000)
    }
}

/// What to do with the queue message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Acknowledge it.
    Ack,
    /// Retry it after this many seconds.
    Retry(u32),
}

/// Largest webhook answer read, bytes (only the status matters).
const ANSWER_CAP: usize = 4 * 1024;

/// One webhook's outcome.
enum Sent {
    Ok,
    Failed {
        error: String,
        retry_after: Option<u32>,
    },
}

async fn send(
    net: &impl Outbound,
    hook: &Webhook,
    e: &Escalation,
    now_ms: u64,
    timeout_ms: u64,
) -> Sent {
    let (url, body, signature) = match &hook.target {
        Target::Generic { url, secret } => {
            let body = webhook_body(e);
            let signature = secret
                .as_deref()
                .map(|s| core::signature(s, now_ms / 1_000, &body));
            (url.clone(), body, signature)
        }
        Target::Discord { url } => (discord_wait_url(url), discord_body(e), None),
    };
    let mut headers: Vec<(&str, &str)> = vec![("user-agent", "edge-workers-escalation/1")];
    if matches!(hook.target, Target::Generic { .. }) {
        headers.push(("idempotency-key", e.key.as_str()));
    }
    if let Some(sig) = &signature {
        headers.push((SIGNATURE_HEADER, sig.as_str()));
    }
    let answer = net
        .call(Call {
            method: Method::Post,
            url: &url,
            headers: &headers,
            body: Some(("application/json", body.into_bytes())),
            timeout_ms,
            cap: ANSWER_CAP,
        })
        .await;
    match answer {
        Ok(a) if (200..300).contains(&a.status) => Sent::Ok,
        Ok(a) => Sent::Failed {
            // A redirect is an answer, never followed (the URL may hold a token).
            error: format!("{}: status {}", hook.name, a.status),
            retry_after: a.retry_after.and_then(|r| r.trim().parse().ok()),
        },
        // The transport's words may name the URL (a secret for Discord): not logged.
        Err(crate::backends::CallError::Timeout) => Sent::Failed {
            error: format!("{}: timed out", hook.name),
            retry_after: None,
        },
        Err(crate::backends::CallError::Transport(_)) => Sent::Failed {
            error: format!("{}: transport error", hook.name),
            retry_after: None,
        },
    }
}

/// Delivers `e` to every webhook that does not have it yet; see the module's notes.
/// `now` gives unix ms (each ledger write is stamped when it happens).
pub(crate) async fn deliver(
    ledger: &impl Ledger,
    net: &impl Outbound,
    hooks: &[Webhook],
    policy: DeliveryPolicy,
    e: &Escalation,
    now: impl Fn() -> u64,
) -> Delivery {
    let retry_later = || Delivery::Retry(policy.retry_base_s.max(1));
    if hooks.is_empty() {
        // Left pending: the sweeper sends it once a webhook is configured.
        crate::log::warn(&format!(
            "escalation {}: no webhook configured; left pending",
            e.key
        ));
        return Delivery::Ack;
    }
    let claim = match ledger
        .claim(&e.key, now(), policy.lease_ms(hooks.len()))
        .await
    {
        Ok(c) => c,
        Err(err) => {
            crate::log::warn(&format!("escalation {}: claim failed: {err}", e.key));
            return retry_later();
        }
    };
    let (attempts, mut have) = match claim {
        LedgerClaim::Taken {
            attempts,
            delivered_to,
        } => (attempts, delivered_to),
        LedgerClaim::Settled | LedgerClaim::Missing => return Delivery::Ack,
        LedgerClaim::Busy => {
            let lease_s = policy.lease_ms(hooks.len()).div_ceil(1_000);
            return Delivery::Retry(u32::try_from(lease_s).unwrap_or(u32::MAX));
        }
    };
    let mut errors = Vec::new();
    let mut retry_after = None;
    let todo: Vec<&Webhook> = hooks
        .iter()
        .filter(|h| !have.iter().any(|n| n == h.name))
        .collect();
    for hook in todo {
        match send(net, hook, e, now(), policy.timeout_ms).await {
            Sent::Ok => {
                have.push(hook.name.to_owned());
                if let Err(err) = ledger.delivered_to(&e.key, &have, now()).await {
                    // Not recorded: the next attempt sends to it again (rare; the
                    // generic webhook's Idempotency-Key covers it).
                    errors.push(format!("recording {}: {err}", hook.name));
                    have.pop();
                    break;
                }
            }
            Sent::Failed {
                error,
                retry_after: ra,
            } => {
                errors.push(error);
                retry_after = retry_after.max(ra);
            }
        }
    }
    if errors.is_empty() {
        return match ledger.settle(&e.key, now()).await {
            Ok(()) => {
                crate::log::info(&format!(
                    "escalation {}: delivered to {} (attempt {attempts})",
                    e.key,
                    have.join(", ")
                ));
                Delivery::Ack
            }
            Err(err) => {
                crate::log::warn(&format!("escalation {}: settle failed: {err}", e.key));
                retry_later()
            }
        };
    }
    let error = errors.join("; ");
    crate::log::warn(&format!(
        "escalation {}: attempt {attempts} failed: {error}",
        e.key
    ));
    if let Err(err) = ledger.release(&e.key, &error, now()).await {
        crate::log::warn(&format!("escalation {}: release failed: {err}", e.key));
    }
    Delivery::Retry(retry_delay_s(policy.retry_base_s, attempts, retry_after))
}

/// The dead-letter consumer's work: marks `e`'s row dead (if still pending) and logs it.
/// `false`: the ledger failed (retry the message).
pub(crate) async fn bury(ledger: &impl Ledger, e: &Escalation, now: u64) -> bool {
    match ledger.kill(&e.key, now).await {
        Ok(true) => {
            crate::log::warn(&format!(
                "escalation {}: undelivered after every retry; marked dead",
                e.key
            ));
            true
        }
        Ok(false) => true,
        Err(err) => {
            crate::log::warn(&format!("escalation {}: marking dead failed: {err}", e.key));
            false
        }
    }
}

/// Most rows one sweep sends again (one queue batch).
pub(crate) const SWEEP_LIMIT: usize = 100;

/// The sweeper: sends again the rows still pending `after_ms` after they were last
/// touched (a queue send that failed after the row was written, a message lost). With no
/// webhook configured there is nothing to deliver to: it leaves them. How many it sent.
///
/// # Errors
/// The ledger's or the queue's (the rows stay pending for the next sweep).
pub(crate) async fn sweep(
    ledger: &impl Ledger,
    queue: &impl EscalationQueue,
    webhooks: usize,
    after_ms: u64,
    now: u64,
) -> Result<usize, BackendError> {
    if webhooks == 0 {
        return Ok(0);
    }
    let stale = ledger
        .stale(now.saturating_sub(after_ms), now, SWEEP_LIMIT)
        .await?;
    if stale.is_empty() {
        return Ok(0);
    }
    queue.send(&stale).await?;
    let keys: Vec<String> = stale.iter().map(|e| e.key.clone()).collect();
    ledger.touch(&keys, now).await?;
    Ok(stale.len())
}

#[cfg(test)]
pub(crate) mod fakes {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::*;

    /// One ledger row.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct Row {
        pub(crate) e: Escalation,
        pub(crate) status: &'static str,
        pub(crate) attempts: u32,
        pub(crate) delivered_to: Vec<String>,
        pub(crate) claimed_until: Option<u64>,
        pub(crate) last_error: Option<String>,
        pub(crate) updated_at: u64,
    }

    /// The ledger in memory; `fail(op)` makes `op` fail until `heal()`.
    #[derive(Default)]
    pub(crate) struct MemLedger {
        pub(crate) rows: RefCell<BTreeMap<String, Row>>,
        failing: RefCell<Vec<&'static str>>,
    }

    impl MemLedger {
        pub(crate) fn fail(&self, op: &'static str) {
            self.failing.borrow_mut().push(op);
        }

        pub(crate) fn heal(&self) {
            self.failing.borrow_mut().clear();
        }

        pub(crate) fn row(&self, key: &str) -> Row {
            self.rows.borrow()[key].clone()
        }

        fn check(&self, op: &'static str) -> Result<(), BackendError> {
            if self.failing.borrow().contains(&op) {
                return Err(BackendError(format!("{op} failed")));
            }
            Ok(())
        }
    }

    impl Ledger for MemLedger {
        async fn record(&self, e: &Escalation, now: u64) -> Result<Recorded, BackendError> {
            self.check("record")?;
            let mut rows = self.rows.borrow_mut();
            if let Some(r) = rows.get(&e.key) {
                return Ok(if r.status == "pending" {
                    Recorded::Pending
                } else {
                    Recorded::Settled
                });
            }
            rows.insert(
                e.key.clone(),
                Row {
                    e: e.clone(),
                    status: "pending",
                    attempts: 0,
                    delivered_to: Vec::new(),
                    claimed_until: None,
                    last_error: None,
                    updated_at: now,
                },
            );
            Ok(Recorded::New)
        }

        async fn claim(
            &self,
            key: &str,
            now: u64,
            lease_ms: u64,
        ) -> Result<LedgerClaim, BackendError> {
            self.check("claim")?;
            let mut rows = self.rows.borrow_mut();
            let Some(r) = rows.get_mut(key) else {
                return Ok(LedgerClaim::Missing);
            };
            if r.status != "pending" {
                return Ok(LedgerClaim::Settled);
            }
            if r.claimed_until.is_some_and(|u| u >= now) {
                return Ok(LedgerClaim::Busy);
            }
            r.claimed_until = Some(now + lease_ms);
            r.attempts += 1;
            r.updated_at = now;
            Ok(LedgerClaim::Taken {
                attempts: r.attempts,
                delivered_to: r.delivered_to.clone(),
            })
        }

        async fn delivered_to(
            &self,
            key: &str,
            names: &[String],
            now: u64,
        ) -> Result<(), BackendError> {
            self.check("delivered_to")?;
            let mut rows = self.rows.borrow_mut();
            let r = rows.get_mut(key).expect("row");
            r.delivered_to = names.to_vec();
            r.updated_at = now;
            Ok(())
        }

        async fn settle(&self, key: &str, now: u64) -> Result<(), BackendError> {
            self.check("settle")?;
            let mut rows = self.rows.borrow_mut();
            let r = rows.get_mut(key).expect("row");
            r.status = "delivered";
            r.claimed_until = None;
            r.updated_at = now;
            Ok(())
        }

        async fn release(&self, key: &str, error: &str, now: u64) -> Result<(), BackendError> {
            self.check("release")?;
            let mut rows = self.rows.borrow_mut();
            let r = rows.get_mut(key).expect("row");
            r.claimed_until = None;
            r.last_error = Some(error.to_owned());
            r.updated_at = now;
            Ok(())
        }

        async fn kill(&self, key: &str, now: u64) -> Result<bool, BackendError> {
            self.check("kill")?;
            let mut rows = self.rows.borrow_mut();
            match rows.get_mut(key) {
                Some(r) if r.status == "pending" => {
                    r.status = "dead";
                    r.updated_at = now;
                    Ok(true)
                }
                _ => Ok(false),
            }
        }

        async fn stale(
            &self,
            before: u64,
            now: u64,
            limit: usize,
        ) -> Result<Vec<Escalation>, BackendError> {
            self.check("stale")?;
            let mut rows: Vec<Row> = self
                .rows
                .borrow()
                .values()
                .filter(|r| {
                    r.status == "pending"
                        && r.updated_at < before
                        && r.claimed_until.is_none_or(|u| u < now)
                })
                .cloned()
                .collect();
            rows.sort_by_key(|r| r.updated_at);
            Ok(rows.into_iter().take(limit).map(|r| r.e).collect())
        }

        async fn touch(&self, keys: &[String], now: u64) -> Result<(), BackendError> {
            self.check("touch")?;
            for k in keys {
                if let Some(r) = self.rows.borrow_mut().get_mut(k) {
                    r.updated_at = now;
                }
            }
            Ok(())
        }
    }

    /// The queue in memory: what was sent; `failing` makes sends fail.
    #[derive(Default)]
    pub(crate) struct MemQueue {
        pub(crate) sent: RefCell<Vec<Escalation>>,
        pub(crate) failing: std::cell::Cell<bool>,
    }

    impl EscalationQueue for MemQueue {
        async fn send(&self, es: &[Escalation]) -> Result<(), BackendError> {
            if self.failing.get() {
                return Err(BackendError("queue down".into()));
            }
            self.sent.borrow_mut().extend_from_slice(es);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use edge_core::chat::support::{EscalationReason, Priority};

    use super::fakes::{MemLedger, MemQueue};
    use super::*;
    use crate::backends::CallError;
    use crate::testkit::{FakeNet, answer, run};

    const T0: u64 = 1_700_000_000_000;

    fn escalation(id: &str) -> Escalation {
        Escalation {
            key: format!("ticket:{id}"),
            reason: EscalationReason::TicketCreated,
            ticket_id: id.to_owned(),
            session_id: "s1".to_owned(),
            subject: "Broken order".to_owned(),
            priority: Priority::High,
            contact: None,
            created_at: T0,
        }
    }

    fn hooks() -> Vec<Webhook> {
        vec![
            Webhook {
                name: "webhook",
                target: Target::Generic {
                    url: "https://hooks.example/escalations".into(),
                    secret: Some("s3cret".into()),
                },
            },
            Webhook {
                name: "discord",
                target: Target::Discord {
                    url: "https://discord.example/api/webhooks/1/tok".into(),
                },
            },
        ]
    }

    const POLICY: DeliveryPolicy = DeliveryPolicy {
        timeout_ms: 5_000,
        retry_base_s: 30,
    };

    /// A network where the URL containing `flaky` fails `fails` times (500), then 200.
    fn flaky(flaky: &'static str, fails: u32) -> FakeNet {
        let left = Rc::new(Cell::new(fails));
        FakeNet::new(move |sent| {
            if sent.url.contains(flaky) && left.get() > 0 {
                left.set(left.get() - 1);
                return answer(500, "no");
            }
            answer(200, "{}")
        })
    }

    fn deliveries(net: &FakeNet, host: &str) -> usize {
        net.sent
            .borrow()
            .iter()
            .filter(|s| s.url.contains(host))
            .count()
    }

    /// Plays the queue: delivers until acknowledged (at most `max` attempts), the clock
    /// jumping past each retry delay. The deliveries' outcomes.
    fn play(ledger: &MemLedger, net: &FakeNet, e: &Escalation, max: usize) -> Vec<Delivery> {
        let clock = Cell::new(T0);
        let mut out = Vec::new();
        for _ in 0..max {
            let d = run(deliver(ledger, net, &hooks(), POLICY, e, || clock.get()));
            out.push(d);
            match d {
                Delivery::Ack => break,
                Delivery::Retry(s) => clock.set(clock.get() + u64::from(s) * 1_000 + 1),
            }
        }
        out
    }

    #[test]
    fn a_webhook_failing_twice_gets_exactly_one_delivery_and_the_other_one() {
        let ledger = MemLedger::default();
        let queue = MemQueue::default();
        let e = escalation("t_1");
        run(escalate(&ledger, &queue, &e, T0)).expect("queued");
        let net = flaky("hooks.example", 2);
        let outcomes = play(&ledger, &net, &e, 10);
        assert_eq!(
            outcomes,
            [Delivery::Retry(30), Delivery::Retry(60), Delivery::Ack]
        );
        // 2 failures + 1 success to the webhook; Discord only once (first attempt).
        assert_eq!(deliveries(&net, "hooks.example"), 3);
        assert_eq!(deliveries(&net, "discord.example"), 1);
        let row = ledger.row("ticket:t_1");
        assert_eq!(row.status, "delivered");
        assert_eq!(row.attempts, 3);
        assert_eq!(row.delivered_to, ["discord", "webhook"]);
        // A redelivery of the delivered key does nothing.
        assert_eq!(play(&ledger, &net, &e, 1), [Delivery::Ack]);
        assert_eq!(net.sent.borrow().len(), 4);
        // Escalating it again queues nothing.
        run(escalate(&ledger, &queue, &e, T0)).expect("no-op");
        assert_eq!(queue.sent.borrow().len(), 1);
    }

    #[test]
    fn a_crash_after_one_delivery_never_sends_to_that_webhook_again() {
        let ledger = MemLedger::default();
        let e = escalation("t_2");
        run(escalate(&ledger, &MemQueue::default(), &e, T0)).expect("queued");
        // The webhook answers (recorded at once); Discord fails; the worker "dies" before
        // writing anything more (its release fails: the lease stays until it ends).
        let net = flaky("discord.example", 1);
        ledger.fail("release");
        let first = run(deliver(&ledger, &net, &hooks(), POLICY, &e, || T0));
        assert!(matches!(first, Delivery::Retry(_)));
        assert_eq!(ledger.row("ticket:t_2").delivered_to, ["webhook"]);
        ledger.heal();
        // The lease ended; the redelivery sends to Discord only.
        let later = T0 + POLICY.lease_ms(2) + 1;
        let second = run(deliver(&ledger, &net, &hooks(), POLICY, &e, || later));
        assert_eq!(second, Delivery::Ack);
        assert_eq!(deliveries(&net, "hooks.example"), 1, "never twice");
        assert_eq!(deliveries(&net, "discord.example"), 2);
        assert_eq!(ledger.row("ticket:t_2").status, "delivered");
    }

    #[test]
    fn all_delivered_but_settle_failed_resends_nothing() {
        let ledger = MemLedger::default();
        let e = escalation("t_3");
        run(escalate(&ledger, &MemQueue::default(), &e, T0)).expect("queued");
        let net = flaky("none", 0);
        ledger.fail("settle");
        assert!(matches!(
            run(deliver(&ledger, &net, &hooks(), POLICY, &e, || T0)),
            Delivery::Retry(_)
        ));
        ledger.heal();
        let later = T0 + POLICY.lease_ms(2) + 1;
        assert_eq!(
            run(deliver(&ledger, &net, &hooks(), POLICY, &e, || later)),
            Delivery::Ack
        );
        assert_eq!(net.sent.borrow().len(), 2, "one per webhook");
    }

    #[test]
    fn a_leased_row_is_busy_for_another_consumer() {
        let ledger = MemLedger::default();
        let e = escalation("t_4");
        run(escalate(&ledger, &MemQueue::default(), &e, T0)).expect("queued");
        run(ledger.claim(&e.key, T0, 60_000)).expect("claimed");
        let net = flaky("none", 0);
        let d = run(deliver(&ledger, &net, &hooks(), POLICY, &e, || T0 + 1));
        assert_eq!(d, Delivery::Retry(40), "the lease: 2 x 5 s + 30 s");
        assert!(net.sent.borrow().is_empty());
    }

    #[test]
    fn a_missing_row_is_acknowledged_and_a_failing_ledger_retried() {
        let ledger = MemLedger::default();
        let net = flaky("none", 0);
        let e = escalation("t_5");
        assert_eq!(
            run(deliver(&ledger, &net, &hooks(), POLICY, &e, || T0)),
            Delivery::Ack
        );
        ledger.fail("claim");
        assert_eq!(
            run(deliver(&ledger, &net, &hooks(), POLICY, &e, || T0)),
            Delivery::Retry(30)
        );
        assert!(net.sent.borrow().is_empty());
    }

    #[test]
    fn no_webhook_leaves_the_row_pending_and_the_sweeper_waits_for_one() {
        let ledger = MemLedger::default();
        let queue = MemQueue::default();
        let e = escalation("t_6");
        run(escalate(&ledger, &queue, &e, T0)).expect("queued");
        let net = flaky("none", 0);
        assert_eq!(
            run(deliver(&ledger, &net, &[], POLICY, &e, || T0)),
            Delivery::Ack
        );
        assert_eq!(ledger.row(&e.key).status, "pending");
        let late = T0 + 3_600_000;
        assert_eq!(run(sweep(&ledger, &queue, 0, 600_000, late)), Ok(0));
        assert_eq!(run(sweep(&ledger, &queue, 2, 600_000, late)), Ok(1));
    }

    #[test]
    fn requests_carry_the_key_signature_and_discord_shape() {
        let ledger = MemLedger::default();
        let e = escalation("t_7");
        run(escalate(&ledger, &MemQueue::default(), &e, T0)).expect("queued");
        let net = flaky("none", 0);
        run(deliver(&ledger, &net, &hooks(), POLICY, &e, || T0));
        let generic = &net.to("/escalations")[0];
        assert_eq!(generic.header("idempotency-key"), Some("ticket:t_7"));
        let sig = generic.header(SIGNATURE_HEADER).expect("signed");
        assert_eq!(
            sig,
            core::signature("s3cret", T0 / 1_000, &generic.body),
            "over the exact body sent"
        );
        assert_eq!(generic.json()["ticket_id"], "t_7");
        assert_eq!(generic.timeout_ms, 5_000);
        let discord = &net.to("?wait=true")[0];
        assert_eq!(discord.header("idempotency-key"), None);
        assert_eq!(
            discord.json()["allowed_mentions"]["parse"],
            serde_json::json!([])
        );
    }

    #[test]
    fn a_redirect_timeout_or_retry_after_is_a_failure_with_backoff() {
        let ledger = MemLedger::default();
        let e = escalation("t_8");
        run(escalate(&ledger, &MemQueue::default(), &e, T0)).expect("queued");
        let net = FakeNet::new(|sent| {
            if sent.url.contains("discord") {
                return Err(CallError::Timeout);
            }
            let mut a = answer(302, "")?;
            a.location = Some("https://elsewhere".into());
            a.retry_after = Some("90".into());
            Ok(a)
        });
        let d = run(deliver(&ledger, &net, &hooks(), POLICY, &e, || T0));
        assert_eq!(d, Delivery::Retry(90), "Retry-After beats the 30 s backoff");
        let row = ledger.row(&e.key);
        assert_eq!(row.status, "pending");
        assert_eq!(row.claimed_until, None, "released");
        let error = row.last_error.expect("recorded");
        assert!(error.contains("webhook: status 302") && error.contains("discord: timed out"));
        assert!(!error.contains("tok"), "no URL in the error: {error}");
        assert_eq!(net.sent.borrow().len(), 2, "the redirect not followed");
    }

    #[test]
    fn the_dead_letter_marks_pending_rows_dead_only() {
        let ledger = MemLedger::default();
        let e = escalation("t_9");
        run(escalate(&ledger, &MemQueue::default(), &e, T0)).expect("queued");
        assert!(run(bury(&ledger, &e, T0)));
        assert_eq!(ledger.row(&e.key).status, "dead");
        assert!(run(bury(&ledger, &e, T0)), "again: a no-op");
        // A dead row is settled: neither delivered nor swept.
        let net = flaky("none", 0);
        assert_eq!(
            run(deliver(&ledger, &net, &hooks(), POLICY, &e, || T0)),
            Delivery::Ack
        );
        assert!(net.sent.borrow().is_empty());
        ledger.fail("kill");
        assert!(!run(bury(&ledger, &escalation("t_10"), T0)));
    }

    #[test]
    fn a_failed_send_is_swept_after_the_age_and_only_then() {
        let ledger = MemLedger::default();
        let queue = MemQueue::default();
        let e = escalation("t_11");
        queue.failing.set(true);
        assert!(run(escalate(&ledger, &queue, &e, T0)).is_err());
        assert_eq!(ledger.row(&e.key).status, "pending", "recorded first");
        queue.failing.set(false);
        assert_eq!(run(sweep(&ledger, &queue, 2, 600_000, T0 + 599_999)), Ok(0));
        assert_eq!(run(sweep(&ledger, &queue, 2, 600_000, T0 + 600_001)), Ok(1));
        assert_eq!(queue.sent.borrow().as_slice(), std::slice::from_ref(&e));
        // Touched: not sent again by the next sweep.
        assert_eq!(run(sweep(&ledger, &queue, 2, 600_000, T0 + 600_002)), Ok(0));
        // A failed queue leaves it for the next sweep.
        queue.failing.set(true);
        assert!(run(sweep(&ledger, &queue, 2, 600_000, T0 + 1_300_000)).is_err());
        // A row a consumer holds (leased) is not swept, however old.
        queue.failing.set(false);
        run(ledger.claim(&e.key, T0 + 1_300_001, 10_000_000)).expect("claimed");
        assert_eq!(
            run(sweep(&ledger, &queue, 2, 600_000, T0 + 2_000_000)),
            Ok(0)
        );
        run(ledger.release(&e.key, "failed", T0 + 1_300_002)).expect("released");
        assert_eq!(
            run(sweep(&ledger, &queue, 2, 600_000, T0 + 2_000_000)),
            Ok(1)
        );
    }

    #[test]
    fn a_failed_ledger_write_queues_nothing() {
        let ledger = MemLedger::default();
        let queue = MemQueue::default();
        ledger.fail("record");
        assert!(run(escalate(&ledger, &queue, &escalation("t_12"), T0)).is_err());
        assert!(queue.sent.borrow().is_empty());
    }
}
