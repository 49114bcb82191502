//! The cache in front of voice-router: plan, look up, serve, revalidate, store.
//!
//! Every decision is the core's (`edge_core::cache`); this module does the IO: KV reads
//! and writes, the origin call through the `ROUTER` binding, background refreshes in
//! `wait_until`, and coalescing of concurrent misses. Every response carries
//! `X-Cache: HIT | MISS | STALE | REVALIDATED | BYPASS`, and every response served from a
//! stored entry carries `Age`.

use std::rc::Rc;

use edge_core::ServiceName;
use edge_core::cache::decide::{
    self, Evaluation, Plan, RequestFacts, StorePlan, client_has_current, conditional_headers,
    merge_not_modified, storability,
};
use edge_core::cache::entry::{self, EntryMeta, Stored};
use edge_core::cache::key;
use edge_core::cache::policy::PathPolicy;
use edge_core::error::CommonError;
use edge_glue::body::{self, Prefix};
use edge_glue::hop::{self, Destination, NextHopBinding};
use edge_glue::{Hop, now_ms, respond};
use futures::StreamExt;
use futures::stream;
use worker::kv::KvStore;
use worker::{Env, Headers, Request, Response};

use crate::coalesce::{self, Flight, Shareable};
use crate::settings::Settings;
use crate::store;

/// The next hop: voice-router.
pub(crate) const NEXT: NextHopBinding = NextHopBinding {
    binding: "ROUTER",
    worker: ServiceName::VoiceRouter,
};

/// Request headers that make a request conditional; replaced by ours when revalidating.
const CONDITIONALS: [&str; 4] = [
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
];

/// The label of a response in `X-Cache`, also the hop's decision.
#[derive(Clone, Copy)]
enum Label {
    Hit,
    Miss,
    Stale,
    Revalidated,
    Bypass,
}

impl Label {
    fn header(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
            Self::Stale => "STALE",
            Self::Revalidated => "REVALIDATED",
            Self::Bypass => "BYPASS",
        }
    }
    fn decision(self) -> &'static str {
        match self {
            Self::Hit => "cache_hit",
            Self::Miss => "cache_miss",
            Self::Stale => "cache_stale",
            Self::Revalidated => "cache_revalidated",
            Self::Bypass => "cache_bypass",
        }
    }
}

/// One request, owned, as the cache sees it.
struct Incoming {
    req: Request,
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
}

impl Incoming {
    fn new(req: Request) -> worker::Result<Self> {
        let url = req.url()?;
        Ok(Self {
            // The raw method: worker::Method turns methods it does not know into GET.
            method: req.inner().method(),
            path: url.path().to_owned(),
            query: url.query().map(str::to_owned),
            headers: req.headers().entries().collect(),
            req,
        })
    }

    fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
        }
    }
}

/// Answers `req` through the cache.
pub(crate) async fn handle(req: Request, env: &Env, hop: &Hop) -> worker::Result<Response> {
    let settings = match Settings::load(env) {
        Ok(s) => s,
        Err(e) => return labelled(respond::error_response(&e)?, Label::Bypass, hop),
    };
    let incoming = Incoming::new(req)?;
    let policy = settings.policies.for_path(&incoming.path);
    let (resp, label) = match decide::plan(&incoming.facts(), policy) {
        Plan::Bypass(_) => (pass_through(&incoming, env, hop).await?, Label::Bypass),
        Plan::Invalidate(prefix) => {
            let resp = pass_through(&incoming, env, hop).await?;
            // RFC 9111 §4.4: a non-error answer to an unsafe method invalidates the URI.
            if resp.status_code() < 400
                && let Ok(kv) = store::open(env)
            {
                store::delete_prefix(&kv, &prefix).await;
            }
            (resp, Label::Bypass)
        }
        Plan::Lookup(resource) => match store::open(env) {
            Ok(kv) => {
                let cache = Cache {
                    env,
                    hop,
                    kv,
                    settings: &settings,
                    policy,
                    resource,
                };
                cache.lookup(incoming).await?
            }
            Err(e) => (respond::error_response(&e)?, Label::Bypass),
        },
    };
    labelled(resp, label, hop)
}

/// `resp` with its `X-Cache` label, which is also the hop's decision.
fn labelled(resp: Response, label: Label, hop: &Hop) -> worker::Result<Response> {
    hop.decide(label.decision());
    let resp = respond::with_mutable_headers(resp);
    resp.headers().set("x-cache", label.header())?;
    Ok(resp)
}

/// Forwards the request unchanged (streamed body), storing nothing.
async fn pass_through(incoming: &Incoming, env: &Env, hop: &Hop) -> worker::Result<Response> {
    hop::forward_to_service(&incoming.req, env, NEXT, hop).await
}

/// The context of one cacheable request.
struct Cache<'a> {
    env: &'a Env,
    hop: &'a Hop,
    kv: KvStore,
    settings: &'a Settings,
    policy: PathPolicy,
    resource: String,
}

/// What the origin answered to a cache fetch.
enum Fetched {
    /// Stored (or storable) and buffered: servable to anyone waiting on the same key.
    Shareable(Rc<Shareable>),
    /// Anything else, to be passed on as it is.
    Passthrough(Response),
}

impl Cache<'_> {
    async fn lookup(&self, incoming: Incoming) -> worker::Result<(Response, Label)> {
        let now = now_ms() / 1000;
        let (entry_key, stored) = self.find(&incoming).await;
        let head = incoming.method == "HEAD";
        let Some((meta, body)) = stored else {
            if head {
                return Ok((
                    pass_through(&incoming, self.env, self.hop).await?,
                    Label::Miss,
                ));
            }
            return self.miss(&incoming, &entry_key).await;
        };
        let eval = decide::evaluate(&meta, &incoming.facts(), self.policy, now);
        if eval.fresh {
            return Ok((serve(&meta, &body, eval.age_s, &incoming)?, Label::Hit));
        }
        if eval.serve_while_revalidating {
            self.refresh_in_background(&incoming, &entry_key, &meta, &body)?;
            return Ok((serve(&meta, &body, eval.age_s, &incoming)?, Label::Stale));
        }
        if head {
            return Ok((
                pass_through(&incoming, self.env, self.hop).await?,
                Label::Miss,
            ));
        }
        self.revalidate(&incoming, &entry_key, meta, body, eval)
            .await
    }

    /// The entry for this request: the base key's response, or — when the base key holds
    /// the resource's `Vary` names — the entry for this request's values of them. Returns
    /// the key the entry is (or would be) stored under.
    async fn find(&self, incoming: &Incoming) -> (String, Option<(EntryMeta, Vec<u8>)>) {
        let base = key::entry_key(&self.resource, &[]);
        let Some(bytes) = store::get(&self.kv, &base).await else {
            return (base, None);
        };
        let (key, bytes) = match entry::decode_stored(&bytes) {
            Some(Stored::Entry(meta, body)) => return (base, Some((meta, body.to_vec()))),
            Some(Stored::Vary(names)) => {
                let key = key::entry_key(
                    &self.resource,
                    &entry::vary_values(&names, &incoming.headers),
                );
                let bytes = store::get(&self.kv, &key).await;
                (key, bytes)
            }
            None => return (base, None),
        };
        let found = bytes
            .as_deref()
            .and_then(entry::decode)
            .filter(|(meta, _)| meta.vary_matches(&incoming.headers))
            .map(|(meta, body)| (meta, body.to_vec()));
        (key, found)
    }

    /// A miss: one fetch per key at a time (see `coalesce`).
    async fn miss(
        &self,
        incoming: &Incoming,
        entry_key: &str,
    ) -> worker::Result<(Response, Label)> {
        let leader = match coalesce::join(entry_key) {
            Flight::Leader(leader) => leader,
            Flight::Follower(follower) => {
                if let Some(shared) = coalesce::wait(follower, self.settings.timeout_ms).await
                    && shared.meta.vary_matches(&incoming.headers)
                {
                    return Ok((serve(&shared.meta, &shared.body, 0, incoming)?, Label::Miss));
                }
                let fetched = self.fetch(incoming, entry_key).await?;
                return Ok((self.respond_fetched(fetched, incoming)?, Label::Miss));
            }
        };
        let fetched = self.fetch(incoming, entry_key).await?;
        leader.finish(match &fetched {
            Fetched::Shareable(s) => Some(Rc::clone(s)),
            Fetched::Passthrough(_) => None,
        });
        Ok((self.respond_fetched(fetched, incoming)?, Label::Miss))
    }

    fn respond_fetched(&self, fetched: Fetched, incoming: &Incoming) -> worker::Result<Response> {
        match fetched {
            Fetched::Shareable(s) => serve(&s.meta, &s.body, 0, incoming),
            Fetched::Passthrough(resp) => Ok(resp),
        }
    }

    /// A stale entry that must be revalidated (or replaced) before it is served.
    async fn revalidate(
        &self,
        incoming: &Incoming,
        entry_key: &str,
        meta: EntryMeta,
        body: Vec<u8>,
        eval: Evaluation,
    ) -> worker::Result<(Response, Label)> {
        let sent = now_ms() / 1000;
        let validators = conditional_headers(&meta);
        let resp = match self.call_origin(incoming, &validators).await {
            Ok(resp) => resp,
            Err(_) if eval.serve_on_error => {
                let age = meta.current_age(now_ms() / 1000);
                return Ok((serve(&meta, &body, age, incoming)?, Label::Stale));
            }
            Err(e) => return Ok((respond::error_response(&e)?, Label::Miss)),
        };
        if resp.status_code() == 304 && !validators.is_empty() {
            let received = now_ms() / 1000;
            let headers: Vec<(String, String)> = resp.headers().entries().collect();
            let merged = merge_not_modified(&meta, &headers, sent, received);
            if let Ok(plan) = storability(&incoming.facts(), &merged, self.policy) {
                self.save(entry_key, &merged, &body, plan).await;
            }
            let age = merged.current_age(received);
            return Ok((serve(&merged, &body, age, incoming)?, Label::Revalidated));
        }
        if resp.status_code() >= 500 && eval.serve_on_error {
            let now = now_ms() / 1000;
            return Ok((
                serve(&meta, &body, meta.current_age(now), incoming)?,
                Label::Stale,
            ));
        }
        let fetched = self.keep(incoming, entry_key, resp, sent).await?;
        Ok((self.respond_fetched(fetched, incoming)?, Label::Miss))
    }

    /// Refreshes a stale entry after the response, in `wait_until`; coalesced, so a burst
    /// of stale hits refreshes once.
    fn refresh_in_background(
        &self,
        incoming: &Incoming,
        entry_key: &str,
        meta: &EntryMeta,
        body: &[u8],
    ) -> worker::Result<()> {
        let Flight::Leader(leader) = coalesce::join(entry_key) else {
            return Ok(());
        };
        let background = Incoming {
            req: incoming.req.clone()?,
            method: incoming.method.clone(),
            path: incoming.path.clone(),
            query: incoming.query.clone(),
            headers: incoming.headers.clone(),
        };
        let env = self.env.clone();
        let hop = self.hop.clone();
        let (key, meta, body) = (entry_key.to_owned(), meta.clone(), body.to_vec());
        let (policy, resource) = (self.policy, self.resource.clone());
        self.hop.wait_until(async move {
            let Ok(settings) = Settings::load(&env) else {
                return;
            };
            let Ok(kv) = store::open(&env) else { return };
            let cache = Cache {
                env: &env,
                hop: &hop,
                kv,
                settings: &settings,
                policy,
                resource,
            };
            let eval = Evaluation {
                age_s: 0,
                fresh: false,
                serve_while_revalidating: false,
                serve_on_error: false,
            };
            let _ = cache.revalidate(&background, &key, meta, body, eval).await;
            leader.finish(None);
        });
        Ok(())
    }

    /// Fetches for a miss, with the client's own headers, and stores what may be stored.
    async fn fetch(&self, incoming: &Incoming, entry_key: &str) -> worker::Result<Fetched> {
        let sent = now_ms() / 1000;
        match self.call_origin(incoming, &[]).await {
            Ok(resp) => self.keep(incoming, entry_key, resp, sent).await,
            Err(e) => Ok(Fetched::Passthrough(respond::error_response(&e)?)),
        }
    }

    async fn call_origin(
        &self,
        incoming: &Incoming,
        validators: &[(&'static str, String)],
    ) -> Result<Response, CommonError> {
        let headers = Headers::new();
        let ours = !validators.is_empty();
        for (name, value) in &incoming.headers {
            if ours && CONDITIONALS.contains(&name.as_str()) {
                continue;
            }
            headers
                .append(name, value)
                .map_err(|_| CommonError::Internal)?;
        }
        for (name, value) in validators {
            headers
                .set(name, value)
                .map_err(|_| CommonError::Internal)?;
        }
        let url = incoming.req.url().map_err(|_| CommonError::Internal)?;
        let req = hop::forwarded_request_with(
            &incoming.req,
            url.as_str(),
            self.hop,
            Destination::Service,
            headers,
            None,
        )
        .map_err(|_| CommonError::Internal)?;
        hop::call_service(self.env, NEXT.binding, req, self.settings.timeout_ms).await
    }

    /// Decides whether `resp` is stored; buffers and stores it if so (up to the entry
    /// limit), else passes it on streaming.
    async fn keep(
        &self,
        incoming: &Incoming,
        entry_key: &str,
        mut resp: Response,
        sent: u64,
    ) -> worker::Result<Fetched> {
        let received = now_ms() / 1000;
        let headers: Vec<(String, String)> = resp.headers().entries().collect();
        let meta = EntryMeta::from_response(
            resp.status_code(),
            &headers,
            &incoming.headers,
            sent,
            received,
        );
        let Ok(plan) = storability(&incoming.facts(), &meta, self.policy) else {
            return Ok(Fetched::Passthrough(resp));
        };
        let limit = self.settings.max_entry_bytes;
        let declared = meta
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Ok(Fetched::Passthrough(resp));
        }
        let prefix = match body::read_prefix(&mut resp, limit).await {
            Ok(prefix) => prefix,
            // The body broke off: a 502, and nothing stored or shared.
            Err(_) => {
                return Ok(Fetched::Passthrough(respond::error_response(
                    &CommonError::UpstreamBodyIncomplete,
                )?));
            }
        };
        let bytes = match prefix {
            Prefix::Complete(bytes) => bytes,
            Prefix::Overflow { read, rest } => {
                // Too large after all: send what was read, then the rest of the stream.
                let head = stream::once(async move { Ok::<Vec<u8>, worker::Error>(read) });
                let joined = Response::from_stream(head.chain(rest))?
                    .with_status(resp.status_code())
                    .with_headers(resp.headers().clone());
                return Ok(Fetched::Passthrough(joined));
            }
        };
        // The entry key depends on the response's own Vary.
        let vary = entry::vary_values(&meta.vary_names(), &incoming.headers);
        let key = if vary.is_empty() {
            entry_key.to_owned()
        } else {
            key::entry_key(&self.resource, &vary)
        };
        self.save(&key, &meta, &bytes, plan).await;
        Ok(Fetched::Shareable(Rc::new(Shareable { meta, body: bytes })))
    }

    async fn save(&self, entry_key: &str, meta: &EntryMeta, body: &[u8], plan: StorePlan) {
        let names = meta.vary_names();
        if !names.is_empty() {
            let base = key::entry_key(&self.resource, &[]);
            store::put(&self.kv, &base, &entry::encode_vary(&names), plan.keep_s).await;
        }
        store::put(&self.kv, entry_key, &entry::encode(meta, body), plan.keep_s).await;
    }
}

/// A response built from a stored entry, with `Age`; a `304` when the client already has
/// this version; no body for `HEAD` and null-body statuses.
fn serve(
    meta: &EntryMeta,
    body: &[u8],
    age_s: u64,
    incoming: &Incoming,
) -> worker::Result<Response> {
    let headers = Headers::new();
    for (name, value) in meta.response_headers() {
        headers.append(name, value)?;
    }
    headers.set("age", &age_s.to_string())?;
    let not_modified = client_has_current(&incoming.facts(), meta);
    let status = if not_modified { 304 } else { meta.status };
    let null_body = not_modified || incoming.method == "HEAD" || matches!(status, 204 | 205 | 304);
    let resp = if null_body {
        if not_modified {
            headers.delete("content-length")?;
        }
        Response::empty()?
    } else {
        Response::from_bytes(body.to_vec())?
    };
    Ok(resp.with_status(status).with_headers(headers))
}
