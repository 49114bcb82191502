//! The entry wrapper every worker's `#[event(fetch)]` goes through.
//!
//! [`serve`] gives each request a [`Hop`] (request id, timing, and the client's `cf`,
//! read only when something asks for it and then once), runs the worker's handler, answers
//! its `Err` as the error's JSON response, echoes `x-request-id` on the response, and reports the hop's metric
//! to analytics-collector in `wait_until`. `/health` is not reported: probes are not traffic.
//!
//! The request id is minted at the edge: a worker the internet reaches ([`Role::Entry`])
//! ignores any `x-request-id` a client sends, so nobody can attach their hops to another
//! request's id; workers reached only by service binding trust the id their caller set.

use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::rc::Rc;

use edge_core::{HttpError, MetricEvent, Observation, RequestId, RouteNote, ServiceName};
use worker::js_sys::Function;
use worker::wasm_bindgen::JsValue;
use worker::{Context, Env, console_error, web_sys};

use crate::boundary::ClientCf;
use crate::reply::Reply;
use crate::watch::{self, BodyWatch};
use crate::{REQUEST_ID_HEADER, incoming, metrics, now_ms, respond};
use edge_core::upstream::BodyEnd;
use futures::future::LocalBoxFuture;

/// Where a worker stands in the system, which decides whose request id it trusts and
/// whether it reports metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reached from the internet (auth-validator, chat-webhook): mints every request id.
    Entry,
    /// Reached only by service binding (cache-manager, voice-router): keeps its caller's id.
    Internal,
    /// analytics-collector: reached by service binding, and does not report its own
    /// ingest (it would report to itself).
    Collector,
}

/// Waiting work that follows a body's end (a store write): `None` when there is none.
pub type Waiting = Option<LocalBoxFuture<'static, ()>>;

/// Work that runs at a watched body's end: what it decides is done at once, and what has
/// to wait is returned.
pub type AfterBody = Box<dyn FnOnce(BodyEnd) -> Waiting>;

/// A watched body's end and the work waiting for it.
pub struct Watched {
    /// The end.
    pub end: BodyWatch,
    /// What runs once it is known, before the metric is queued.
    pub after: Vec<AfterBody>,
}

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("after", &self.after.len())
            .finish_non_exhaustive()
    }
}

/// A routing hop's decision as recorded for its metric: region, priority, degraded.
type RouteRecord = (String, &'static str, bool);

/// One request as seen by one worker: what its metric will say.
#[derive(Debug, Clone)]
pub struct Hop {
    /// The worker handling the request.
    pub worker: ServiceName,
    /// The request id: a fresh UUID at an entry; the caller's valid `x-request-id` inside.
    pub request_id: RequestId,
    method: String,
    path: String,
    /// The incoming request, kept (a handle, not a copy) to read `cf` from when needed.
    incoming: web_sys::Request,
    /// `request.cf`'s facts, read at most once per request (the getter is costly), shared
    /// by clones.
    cf: Rc<OnceCell<Option<ClientCf>>>,
    started_ms: u64,
    /// Shared by every clone of this hop, so a handler's decision reaches the metric.
    decision: Rc<Cell<Option<&'static str>>>,
    /// The request's execution context, for work that outlives the response.
    ctx: Rc<Context>,
    /// A routing hop's decision.
    route: Rc<RefCell<Option<RouteRecord>>>,
    /// The end of the response body, when the handler watches it ([`Hop::watch_body`]),
    /// and the work that waits for it ([`Hop::after_body`]).
    body: Rc<RefCell<Option<Watched>>>,
}

impl Hop {
    /// Starts timing `req` at `worker`, taking or minting its id as `role` says.
    #[must_use]
    pub fn start(worker: ServiceName, role: Role, req: &web_sys::Request, ctx: Context) -> Self {
        let from_caller = match role {
            Role::Entry => None,
            Role::Internal | Role::Collector => req
                .headers()
                .get(REQUEST_ID_HEADER)
                .ok()
                .flatten()
                .and_then(|raw| RequestId::parse(&raw)),
        };
        let request_id = from_caller.unwrap_or_else(mint_request_id);
        Self {
            worker,
            request_id,
            // The raw method: worker::Method turns unknown ones into GET.
            method: req.method(),
            path: incoming::path_of(&req.url()),
            // A second handle on the same JS object (`Request::clone` would copy it).
            incoming: Clone::clone(req),
            cf: Rc::default(),
            started_ms: now_ms(),
            decision: Rc::default(),
            ctx: Rc::new(ctx),
            route: Rc::default(),
            body: Rc::default(),
        }
    }

    /// The request's raw method (`PROPFIND` stays `PROPFIND`), as the metric records it.
    #[must_use]
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request's path, as the metric records it.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The client facts of the incoming request's `cf` object (country, colo, coordinates)
    /// and the `cf` to carry onto a service hop, or `None` where the runtime gives none.
    /// Read from the request on the first call only, in one crossing, and never on a
    /// request that does not use it (`/health`): the getter is one of the costliest calls
    /// on the request path (17% of a `/health` under load, issue 14).
    #[must_use]
    pub fn client_cf(&self) -> Option<&ClientCf> {
        self.cf
            .get_or_init(|| ClientCf::read(&self.incoming))
            .as_ref()
    }

    /// Observes `resp`'s body to its end (see [`watch::observe`]): the hop's metric then
    /// waits for it and records a body that broke off as what it is (502
    /// `upstream_body_incomplete`) instead of the status already sent. Returns the
    /// response to send (with headers of its own) and whether its body is watched (work
    /// that needs its end goes to [`Hop::after_body`]).
    ///
    /// # Errors
    /// When the runtime cannot rebuild the response (it can for any answer `fetch` gave).
    pub fn watch_body(
        &self,
        resp: &web_sys::Response,
    ) -> worker::Result<(web_sys::Response, bool)> {
        let (resp, end) = watch::observe(resp)?;
        let watched = end.is_some();
        *self.body.borrow_mut() = end.map(|end| Watched {
            end,
            after: Vec::new(),
        });
        Ok((resp, watched))
    }

    /// Runs `work` with the end of the watched body, after the response is sent: in the
    /// same callback as the hop's metric (one per request, not one per party waiting), its
    /// waiting part (the returned future) before the metric is queued. With no body
    /// watched, it runs at once with [`BodyEnd::Complete`] (there was nothing to break),
    /// its waiting part in `wait_until`.
    pub fn after_body(&self, work: impl FnOnce(BodyEnd) -> Waiting + 'static) {
        let mut body = self.body.borrow_mut();
        match body.as_mut() {
            Some(watched) => watched.after.push(Box::new(work)),
            None => {
                drop(body);
                if let Some(waiting) = work(BodyEnd::Complete) {
                    self.wait_until(waiting);
                }
            }
        }
    }

    /// Records a routing decision for the hop's metric.
    pub fn set_route(&self, region: &str, priority: &'static str, degraded: bool) {
        *self.route.borrow_mut() = Some((region.to_owned(), priority, degraded));
    }

    /// Runs `work` with how the watched body `end` ended, in `ctx.wait_until`
    /// (see [`watch::after_end`]).
    pub(crate) fn after_end(
        &self,
        end: &BodyWatch,
        work: impl FnOnce(BodyEnd) -> Waiting + 'static,
    ) {
        watch::after_end(&self.ctx, end, work);
    }

    /// Runs `work` after the response is sent (`ctx.wait_until`): background refreshes,
    /// reports. It must handle its own errors.
    pub fn wait_until(&self, work: impl Future<Output = ()> + 'static) {
        self.ctx.wait_until(work);
    }

    /// Records the hop's decision (a stable snake_case code such as `allow_jwt` or an
    /// error code) for its metric; the last call wins.
    pub fn decide(&self, code: &'static str) {
        self.decision.set(Some(code));
    }

    /// The metric of this hop, finished now with `status` (made valid by the core: see
    /// `MetricEvent::from_observation`).
    #[must_use]
    pub fn metric(&self, status: u16) -> MetricEvent {
        let route = self.route.borrow();
        let client = self.client_cf();
        let country = client.and_then(|c| c.country.as_deref());
        let colo = client.and_then(|c| c.colo.as_deref());
        MetricEvent::from_observation(Observation {
            worker: self.worker,
            request_id: &self.request_id,
            method: &self.method,
            path: &self.path,
            status,
            started_ms: self.started_ms,
            finished_ms: now_ms(),
            country,
            colo,
            decision: self.decision.get(),
            route: route
                .as_ref()
                .map(|(region, priority, degraded)| RouteNote {
                    region,
                    priority,
                    degraded: *degraded,
                }),
        })
    }
}

/// Runs `handler` for `req` as worker `me` in `role`; see the module docs for what it adds.
///
/// The handler takes the request as [`Incoming`](crate::Incoming) (nothing read until
/// asked) or as `worker::Request` (converted on arrival, `cf` included), and answers with
/// anything that is a [`Reply`]: a `worker::Response` it built, or a runtime `Response`
/// relayed as it is. The `fetch` event returns the runtime `Response` this gives back
/// (`worker` accepts it as it is: no conversion on the way out).
///
/// The handler's `Err` is answered here, the one place errors become responses
/// (`respond::error_response`): its status, code and headers come from its [`HttpError`]
/// impl; a 5xx is logged with the request id (and a runtime failure's cause, which the
/// client never sees); the error's code becomes the hop's decision unless the handler
/// recorded one.
///
/// # Errors
/// Only if the final response cannot be built.
pub async fn serve<Req, F, Fut, R, E>(
    me: ServiceName,
    role: Role,
    req: web_sys::Request,
    env: Env,
    ctx: Context,
    handler: F,
) -> worker::Result<web_sys::Response>
where
    Req: From<web_sys::Request>,
    F: FnOnce(Req, Env, Hop) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    R: Into<Reply>,
    E: HttpError,
{
    let hop = Hop::start(me, role, &req, ctx);
    let is_health = hop.path == "/health";
    let reply = match handler(Req::from(req), env.clone(), hop.clone()).await {
        Ok(reply) => reply.into(),
        Err(err) => {
            if hop.decision.get().is_none() {
                hop.decide(err.code());
            }
            if err.status() >= 500 {
                let detail = err.log_detail().unwrap_or_default();
                console_error!(
                    "{me}: request {} failed: {} ({err}) {detail}",
                    hop.request_id,
                    err.code()
                );
            }
            Reply::Built(respond::error_response(&err)?)
        }
    };
    // The last line of defence: a response the runtime would refuse to build panics the
    // isolate when the event handler converts it (see `respond::deliverable`).
    let reply = reply
        .deliverable()?
        .with_header(REQUEST_ID_HEADER, hop.request_id.as_str())?;
    let event = (role != Role::Collector && !is_health).then(|| hop.metric(reply.status()));
    let watched = hop.body.borrow_mut().take();
    metrics::report(&hop, &env, event, watched);
    Ok(reply.into_raw())
}

thread_local! {
    /// `crypto` and its `randomUUID`, looked up once per isolate.
    static RANDOM_UUID: OnceCell<Option<(JsValue, Function)>> = const { OnceCell::new() };
}

/// A random UUID from the runtime's `crypto.randomUUID()` (`None` only where it is missing,
/// which no Workers runtime is). The function is looked up once per isolate.
#[must_use]
pub fn random_uuid() -> Option<String> {
    RANDOM_UUID.with(|cell| {
        let (crypto, f) = cell
            .get_or_init(|| crate::global_method("crypto", "randomUUID"))
            .as_ref()?;
        f.call0(crypto).ok()?.as_string()
    })
}

/// A fresh request id from the runtime's `crypto.randomUUID()`.
fn mint_request_id() -> RequestId {
    let uuid = random_uuid().and_then(|s| RequestId::parse(&s));
    // randomUUID exists in every Workers runtime; the fallback only keeps this total.
    uuid.unwrap_or_else(|| RequestId::from_clock(now_ms()))
}
