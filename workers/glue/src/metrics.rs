//! Reporting hop metrics to analytics-collector through a per-isolate outbox.
//!
//! [`report`] hands the finished event to the isolate's [`Outbox`]
//! (`edge_core::analytics::outbox`): at once when no response body is watched, else in
//! `ctx.wait_until` once the body has ended. The outbox decides everything: the first event into an idle outbox starts one flusher in that
//! request's `wait_until` that sleeps `METRICS_FLUSH_MS` and then sends every pending event
//! as one enveloped batch (one timer and one `ANALYTICS` subrequest per flush, not per
//! request); a full batch is sent at once; a failed batch is retried with the same id and
//! backoff within the task's budget, then by the next flusher. This module only does the IO:
//! timers, the fetch, `crypto.randomUUID()` for batch ids, log lines (counts and statuses,
//! never a payload).

use std::cell::RefCell;
use std::time::Duration;

use edge_core::MetricEvent;
use edge_core::analytics::ingest::BatchId;
use edge_core::analytics::outbox::{
    DEFAULT_CAP, DEFAULT_FLUSH_DELAY_MS, Next, Outbox, OutboxConfig, Outcome, Outgoing, Push,
};
use edge_core::upstream::BodyEnd;
use worker::{Delay, Env, Headers, Method, Request, RequestInit, console_error, console_warn};

use futures::FutureExt;

use crate::serve::{Waiting, Watched};
use crate::{Hop, config, hop, now_ms, random_uuid};

/// Service binding name of analytics-collector in every worker's config.
pub const ANALYTICS_BINDING: &str = "ANALYTICS";
/// Path of the ingest endpoint on analytics-collector.
pub const INGEST_PATH: &str = "/v1/metrics";
/// Longest one batch's send may take before it counts as failed (and is retried), ms.
pub const REPORT_TIMEOUT_MS: u64 = 5_000;
/// Var: delay from the first event into an idle outbox to its flush, ms.
pub const FLUSH_VAR: &str = "METRICS_FLUSH_MS";
/// Var: most events an isolate holds while the collector cannot take them.
pub const CAP_VAR: &str = "METRICS_OUTBOX_CAP";

thread_local! {
    /// The isolate's outbox (a worker isolate runs one thread).
    static OUTBOX: RefCell<Option<Outbox>> = const { RefCell::new(None) };
}

/// The outbox configuration from the vars; a malformed var is logged and its default used
/// (metrics must not fail the request path).
fn outbox_config(env: &Env) -> OutboxConfig {
    let var = |name, default, range| {
        config::u64_var(env, name, default, range).unwrap_or_else(|e| {
            console_error!("{e}; using {default}");
            default
        })
    };
    OutboxConfig {
        flush_delay_ms: var(FLUSH_VAR, DEFAULT_FLUSH_DELAY_MS, 0..=10_000),
        cap: usize::try_from(var(CAP_VAR, DEFAULT_CAP as u64, 1..=100_000)).unwrap_or(DEFAULT_CAP),
        ..OutboxConfig::default()
    }
}

/// Runs `f` on the isolate's outbox (made from `env`'s vars on first use). Never held
/// across an await.
fn with_outbox<R>(env: &Env, f: impl FnOnce(&mut Outbox) -> R) -> R {
    OUTBOX.with(|cell| {
        let mut slot = cell.borrow_mut();
        let outbox = slot.get_or_insert_with(|| Outbox::new(outbox_config(env)));
        f(outbox)
    })
}

/// Queues `event` (if the hop reports one) for analytics-collector and runs the work waiting
/// for the response body's end; when the body is `watched`, after it ended, with a broken
/// body recorded as such (`edge_core::upstream::BodyEnd`).
///
/// Most requests schedule nothing: the event goes into the outbox at once (with no body
/// watched) or from the one callback that learns how the body ended, and only the push
/// that starts a flush, or the handler's work that has to wait, hands a task to
/// `wait_until`.
pub fn report(hop: &Hop, env: &Env, event: Option<MetricEvent>, watched: Option<Watched>) {
    let env = env.clone();
    let Some(Watched { end, after }) = watched else {
        if let Some(waiting) = event.and_then(|event| queued(&env, event)) {
            hop.wait_until(waiting);
        }
        return;
    };
    hop.after_end(&end, move |end| {
        let waits: Vec<_> = after.into_iter().filter_map(|work| work(end)).collect();
        let event = event.map(|mut event| {
            apply_end(&mut event, end);
            event
        });
        if waits.is_empty() {
            return queued(&env, event?);
        }
        // The handler's waiting work (a breaker write) first, then the metric.
        Some(
            async move {
                for waiting in waits {
                    waiting.await;
                }
                if let Some(event) = event {
                    enqueue(&env, event).await;
                }
            }
            .boxed_local(),
        )
    });
}

/// `event` as its body ended.
fn apply_end(event: &mut MetricEvent, end: BodyEnd) {
    event.status = end.recorded_status(event.status);
    if let Some(decision) = end.decision() {
        event.decision = Some(decision.to_owned());
    }
}

/// Hands `event` to the isolate's outbox and, when this push is the one to start a flush,
/// drives it. [`report`] queues its events itself ([`queued`]); work outside a request (a
/// queue consumer's event, a Durable Object's WebSocket message or alarm) awaits this, in
/// the object's `wait_until` where there is one.
pub async fn enqueue(env: &Env, event: MetricEvent) {
    if let Some(waiting) = queued(env, event) {
        waiting.await;
    }
}

/// Hands `event` to the isolate's outbox now; the flush this push starts, if it starts one,
/// is the work left to wait for.
fn queued(env: &Env, event: MetricEvent) -> Waiting {
    let flush = push(env, event)?;
    let env = env.clone();
    Some(async move { flush.run(&env).await }.boxed_local())
}

/// A flush this push must drive.
struct Flush {
    delay_ms: Option<u64>,
    flusher: bool,
}

impl Flush {
    async fn run(self, env: &Env) {
        drive(env, self.delay_ms, self.flusher).await;
    }
}

/// Pushes `event` into the isolate's outbox: the flush to drive, if this push starts one.
fn push(env: &Env, event: MetricEvent) -> Option<Flush> {
    let worker = event.worker;
    let (push, dropped) = with_outbox(env, |o| (o.push(event), o.take_dropped()));
    if dropped > 0 {
        console_warn!("metrics outbox of {worker} full: {dropped} oldest events dropped");
    }
    match push {
        Push::Queued => None,
        Push::StartFlusher { delay_ms } => Some(Flush {
            delay_ms: Some(delay_ms),
            flusher: true,
        }),
        Push::SendNow => Some(Flush {
            delay_ms: None,
            flusher: false,
        }),
    }
}

/// A sending task: optionally sleeps, then sends whatever is due, as long as the outbox
/// says so (`Outbox::after_pass`).
async fn drive(env: &Env, delay_ms: Option<u64>, mut flusher: bool) {
    let started = now_ms();
    if let Some(ms) = delay_ms {
        sleep(ms).await;
    }
    loop {
        while let Some(out) = with_outbox(env, |o| o.next_batch(now_ms(), mint_batch_id)) {
            let outcome = send(env, &out).await;
            let done = with_outbox(env, |o| o.complete(&out.id, &outcome, now_ms()));
            if done.invalid > 0 {
                console_warn!(
                    "metrics batch {}: {} events refused as invalid, dropped",
                    out.id,
                    done.invalid
                );
            }
            if done.retrying > 0 {
                console_warn!(
                    "metrics batch {} (attempt {}): {} events not stored ({outcome:?}), will retry",
                    out.id,
                    out.attempt + 1,
                    done.retrying
                );
            }
        }
        match with_outbox(env, |o| o.after_pass(now_ms(), started, flusher)) {
            Next::Sleep { ms } => {
                flusher = true;
                sleep(ms).await;
            }
            Next::Done => break,
        }
    }
    let (held, dropped) = with_outbox(env, |o| (o.held(), o.take_dropped()));
    if dropped > 0 {
        console_warn!("metrics outbox: {dropped} events dropped (cap or oversized)");
    }
    if held > 0 && flusher {
        console_warn!("metrics outbox: {held} events left for the next flush");
    }
}

async fn sleep(ms: u64) {
    if ms > 0 {
        Delay::from(Duration::from_millis(ms)).await;
    }
}

/// A fresh batch id from `crypto.randomUUID()` (the clock only where that is missing, which
/// no Workers runtime is).
fn mint_batch_id() -> BatchId {
    random_uuid()
        .and_then(|s| BatchId::parse(&s))
        .unwrap_or_else(|| BatchId::from_clock(now_ms()))
}

/// Sends one batch; any transport error or timeout is [`Outcome::Failed`].
async fn send(env: &Env, out: &Outgoing) -> Outcome {
    let Ok(req) = ingest_request(&out.body) else {
        return Outcome::Failed;
    };
    match hop::call_service(env, ANALYTICS_BINDING, req.inner(), REPORT_TIMEOUT_MS).await {
        Ok(mut resp) => {
            let status = resp.status_code();
            let body = if status == 207 {
                resp.bytes().await.unwrap_or_default()
            } else {
                Vec::new()
            };
            Outcome::of_response(status, &body, out.items)
        }
        Err(e) => {
            console_warn!("metrics batch {} not sent: {e}", out.id);
            Outcome::Failed
        }
    }
}

fn ingest_request(body: &[u8]) -> worker::Result<Request> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(worker::js_sys::Uint8Array::from(body).into()));
    Request::new_with_init(&format!("https://analytics-collector{INGEST_PATH}"), &init)
}
