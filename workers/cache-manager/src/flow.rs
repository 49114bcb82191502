//! The cache's IO sequence — plan, look up (through `Vary`), serve fresh, serve stale and
//! refresh in the background, revalidate and merge a `304`, fetch a miss once per key,
//! store — generic over its backends, so that the worker runs it against KV, the `ROUTER`
//! binding and the runtime's clock (`runtime`), and the tests against in-memory fakes
//! with faults (`flow/tests.rs`).
//!
//! Every decision is the core's (`edge_core::cache::decide`); this module only sequences
//! the IO around them. It never touches `worker` types.

// The backends run on one thread (Workers isolates, the tests' executor): no `Send`.
#![allow(async_fn_in_trait)]

use std::future::Future;
use std::rc::Rc;

use edge_core::HttpError;
use edge_core::cache::CacheOutcome;
use edge_core::cache::decide::{
    self, AfterRevalidation, Plan, RequestFacts, SetCookie, StorePlan, conditional_headers,
    merge_not_modified, origin_request_headers, storability,
};
use edge_core::cache::entry::{self, EntryMeta, Stored};
use edge_core::cache::key;
use edge_core::cache::pass;
use edge_core::cache::policy::PathPolicy;
use edge_core::cache::range::Part;
use edge_core::error::CommonError;

use crate::coalesce::{self, Flight, Flights};
use crate::hit_for_pass::Passes;
use crate::ranged;

/// The entry store. Its failures are the binding's to log: a read that fails is a miss, a
/// write that fails stores nothing; the cache never fails a request for them.
pub(crate) trait Store {
    /// The bytes under `key`, `None` when absent.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFault>;
    /// Stores `value` under `key` for `keep_s` seconds.
    async fn put(&self, key: &str, value: &[u8], keep_s: u64) -> Result<(), StoreFault>;
    /// Deletes every key starting with `prefix` (up to the binding's limit).
    async fn delete_prefix(&self, prefix: &str) -> Purged;
    /// The purge generation token of `path`, part of its keys (see `tiers`); a fault
    /// when it cannot be known (the request then bypasses the cache).
    async fn generation(&self, path: &str) -> Result<String, StoreFault>;
}

/// A store operation failed (the binding has logged why).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoreFault;

/// What a prefix deletion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Purged {
    /// Keys deleted.
    pub(crate) deleted: usize,
    /// Whether that was every matching key.
    pub(crate) complete: bool,
}

/// The next hop (voice-router), for the request being answered.
pub(crate) trait Origin: Sized {
    /// Its response.
    type Response: Upstream<Fault = Self::Fault>;
    /// A runtime failure (a request or response that cannot be built): the handler's
    /// internal error.
    type Fault;
    /// Forwards the request unchanged, body streamed.
    async fn forward(&self) -> Result<Self::Response, Refusal>;
    /// Sends the request (without body: GET) with `headers` instead of the client's.
    async fn fetch(&self, headers: Vec<(String, String)>) -> Result<Self::Response, CommonError>;
    /// The same origin for work that outlives the request (a background refresh).
    fn detach(&self) -> Result<Self, Self::Fault>;
}

/// This hop's own failure to answer (a timeout, an unreachable next hop, a request that
/// cannot be forwarded, a broken body, a missing store): `serve` answers it.
pub(crate) type Refusal = Box<dyn HttpError>;

/// An origin response.
pub(crate) trait Upstream: Sized {
    /// As [`Origin::Fault`].
    type Fault;
    /// Its status.
    fn status(&self) -> u16;
    /// Its headers, lowercase names.
    fn headers(&self) -> Vec<(String, String)>;
    /// Reads its body up to `limit` bytes.
    async fn buffer(self, limit: usize) -> Result<Buffered<Self>, Self::Fault>;
}

/// A body read up to a limit.
pub(crate) enum Buffered<U> {
    /// The whole body, within the limit.
    Whole(Vec<u8>),
    /// Longer: the response again, to be passed on whole (what was read, then the rest).
    TooLarge(U),
    /// The body broke off.
    Broken,
}

/// Time, and waiting.
pub(crate) trait Clock {
    /// Now, unix milliseconds.
    fn now_ms(&self) -> u64;
    /// Waits about `ms` milliseconds.
    async fn sleep(&self, ms: u64);
}

/// Work that runs after the response is sent.
pub(crate) trait Background {
    /// Runs `work` once the response is on its way; it handles its own errors.
    fn spawn(&self, work: impl Future<Output = ()> + 'static);
}

/// One request, owned, as the cache sees it.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    /// The raw method.
    pub(crate) method: String,
    /// Path, percent-encoded.
    pub(crate) path: String,
    /// Query without `?`.
    pub(crate) query: Option<String>,
    /// Headers, lowercase names.
    pub(crate) headers: Vec<(String, String)>,
    /// The request's origin, `scheme://authority` (what `Location` is compared with).
    pub(crate) origin: String,
}

impl Incoming {
    pub(crate) fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
        }
    }
}

/// A stored (or storable, buffered) response.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) meta: EntryMeta,
    pub(crate) body: Vec<u8>,
}

/// What to answer with.
pub(crate) enum Answer<R> {
    /// The entry, at this age (see `decide::entry_response`).
    Entry { entry: Rc<Entry>, age_s: u64 },
    /// The origin's response, as it is.
    Relay(R),
    /// This hop's own failure.
    Failed(Refusal),
}

/// The answer and what the cache did.
pub(crate) struct Served<R> {
    pub(crate) outcome: CacheOutcome,
    pub(crate) answer: Answer<R>,
    /// The part of an [`Answer::Entry`] to send (see `ranged`).
    pub(crate) part: Part,
}

/// `504 not_cached`: `only-if-cached` and nothing stored may answer (the origin is not asked).
fn not_cached<R>(outcome: CacheOutcome) -> Served<R> {
    served(outcome, Answer::Failed(Box::new(decide::NotCached)))
}

fn served<R>(outcome: CacheOutcome, answer: Answer<R>) -> Served<R> {
    Served {
        outcome,
        answer,
        part: Part::Whole,
    }
}

/// The cache with its backends.
pub(crate) struct Cache<S, O, C, B> {
    /// The store, or why it is missing (a cacheable request then fails `misconfigured`).
    pub(crate) store: Result<S, CommonError>,
    pub(crate) origin: O,
    pub(crate) clock: C,
    pub(crate) background: B,
    pub(crate) flights: Flights,
    /// Keys whose last answer no cache may store: forwarded without a lookup for a while.
    pub(crate) passes: Passes,
    /// Largest body stored.
    pub(crate) max_entry_bytes: usize,
    /// Longest a follower waits for its leader.
    pub(crate) timeout_ms: u64,
    /// Whether responses that set a cookie are stored (without it).
    pub(crate) set_cookie: SetCookie,
}

/// One cacheable request's lookup.
struct Lookup<'a, S, O, C, B> {
    cache: &'a Cache<S, O, C, B>,
    store: &'a S,
    req: &'a Incoming,
    policy: PathPolicy,
    resource: &'a str,
}

impl<S, O, C, B> Cache<S, O, C, B>
where
    S: Store + Clone + 'static,
    O: Origin + 'static,
    C: Clock + Clone + 'static,
    B: Background + Clone + 'static,
{
    /// Answers `req` under the path's `policy`; a `GET` with `Range` is answered as one
    /// without, and its range applied to what comes from an entry (`ranged`).
    ///
    /// # Errors
    /// The origin binding's runtime failures.
    pub(crate) async fn answer(
        &self,
        req: &Incoming,
        policy: PathPolicy,
    ) -> Result<Served<O::Response>, O::Fault> {
        match ranged::Ask::of(req) {
            None => self.answer_whole(req, policy).await,
            Some(ask) => Ok(ask.apply(self.answer_whole(&ask.whole, policy).await?)),
        }
    }

    async fn answer_whole(
        &self,
        req: &Incoming,
        policy: PathPolicy,
    ) -> Result<Served<O::Response>, O::Fault> {
        let plan = decide::plan(&req.facts(), policy);
        if req.facts().only_if_cached() && !matches!(plan, Plan::Lookup(_) | Plan::Invalidate(_)) {
            return Ok(not_cached(CacheOutcome::Bypass));
        }
        match plan {
            Plan::Bypass(_) => Ok(served(CacheOutcome::Bypass, self.forward().await)),
            Plan::Invalidate(prefix) => {
                let answer = self.forward().await;
                if let Answer::Relay(resp) = &answer
                    && decide::invalidates(resp.status())
                    && let Ok(store) = &self.store
                {
                    store.delete_prefix(&prefix).await;
                    // Its Location and Content-Location, on this origin only.
                    let more = decide::also_invalidated(&req.origin, &req.path, &resp.headers());
                    for other in more.iter().filter(|p| **p != prefix) {
                        store.delete_prefix(other).await;
                    }
                }
                Ok(served(CacheOutcome::Bypass, answer))
            }
            Plan::Lookup(resource) => match &self.store {
                Err(e) => Ok(served(
                    CacheOutcome::Bypass,
                    Answer::Failed(Box::new(e.clone())),
                )),
                Ok(store) => {
                    // Without the purge generation no key is safe to read: bypass.
                    let Ok(generation) = store.generation(&req.path).await else {
                        if req.facts().only_if_cached() {
                            return Ok(not_cached(CacheOutcome::Bypass));
                        }
                        return Ok(served(CacheOutcome::Bypass, self.forward().await));
                    };
                    let resource = key::with_generation(&resource, &generation);
                    let lookup = Lookup {
                        cache: self,
                        store,
                        req,
                        policy,
                        resource: &resource,
                    };
                    lookup.run().await
                }
            },
        }
    }

    fn now_s(&self) -> u64 {
        self.clock.now_ms() / 1000
    }

    /// The request, forwarded as it is, storing nothing.
    async fn forward(&self) -> Answer<O::Response> {
        match self.origin.forward().await {
            Ok(resp) => Answer::Relay(resp),
            Err(e) => Answer::Failed(e),
        }
    }
}

/// Deletes every entry under each of `targets`.
pub(crate) async fn purge(store: &impl Store, targets: &[String]) -> Purged {
    let mut total = Purged {
        deleted: 0,
        complete: true,
    };
    for target in targets {
        let one = store.delete_prefix(target).await;
        total.deleted += one.deleted;
        total.complete &= one.complete;
    }
    total
}

impl<S, O, C, B> Lookup<'_, S, O, C, B>
where
    S: Store + Clone + 'static,
    O: Origin + 'static,
    C: Clock + Clone + 'static,
    B: Background + Clone + 'static,
{
    async fn run(&self) -> Result<Served<O::Response>, O::Fault> {
        let head = self.req.method == "HEAD";
        let only_if_cached = self.req.facts().only_if_cached();
        // Hit-for-pass: the key's last answer could not be stored by anyone, so neither
        // tier holds it: no lookup, no waiting behind another request for it.
        if !only_if_cached
            && self
                .cache
                .passes
                .holds(&self.base_key(), self.cache.now_s())
        {
            if head {
                return self.forward(CacheOutcome::Miss).await;
            }
            return Ok(served(CacheOutcome::Miss, self.fetch().await?));
        }
        let (entry_key, stored) = self.find().await;
        let Some(entry) = stored else {
            if only_if_cached {
                return Ok(not_cached(CacheOutcome::Miss));
            }
            if head {
                return self.forward(CacheOutcome::Miss).await;
            }
            return self.miss(&entry_key).await;
        };
        // Evaluated once the entry is in hand: a slow read may have aged it.
        let now = self.cache.now_s();
        let eval = decide::evaluate(&entry.meta, &self.req.facts(), self.policy, now);
        if eval.fresh {
            return Ok(served(
                CacheOutcome::Hit,
                Answer::Entry {
                    entry,
                    age_s: eval.age_s,
                },
            ));
        }
        if eval.serve_while_revalidating {
            self.refresh_in_background(&entry_key, &entry, eval.serve_on_error)?;
            return Ok(served(
                CacheOutcome::Stale,
                Answer::Entry {
                    entry,
                    age_s: eval.age_s,
                },
            ));
        }
        if only_if_cached {
            return Ok(not_cached(CacheOutcome::Miss));
        }
        if head {
            return self.forward(CacheOutcome::Miss).await;
        }
        self.revalidate(entry, eval.serve_on_error).await
    }

    async fn forward(&self, outcome: CacheOutcome) -> Result<Served<O::Response>, O::Fault> {
        Ok(served(outcome, self.cache.forward().await))
    }

    /// The entry for this request: the base key's response, or — when the base key holds
    /// the resource's `Vary` names — the entry for this request's values of them. Returns
    /// the key the entry is (or would be) stored under.
    async fn find(&self) -> (String, Option<Rc<Entry>>) {
        let base = self.base_key();
        let Ok(Some(bytes)) = self.store.get(&base).await else {
            return (base, None);
        };
        let (key, bytes) = match entry::decode_stored(&bytes) {
            Some(Stored::Entry(meta, body)) => {
                let found = Entry {
                    meta,
                    body: body.to_vec(),
                };
                return (base, Some(Rc::new(found)));
            }
            Some(Stored::Vary(names)) => {
                let key = key::entry_key(
                    self.resource,
                    &entry::vary_values(&names, &self.req.headers),
                );
                let bytes = self.store.get(&key).await.ok().flatten();
                (key, bytes)
            }
            None => return (base, None),
        };
        let found = bytes
            .as_deref()
            .and_then(entry::decode)
            .filter(|(meta, _)| meta.vary_matches(&self.req.headers))
            .map(|(meta, body)| {
                Rc::new(Entry {
                    meta,
                    body: body.to_vec(),
                })
            });
        (key, found)
    }

    /// The resource's base key (its entry, or its `Vary` marker): what a pass marks.
    fn base_key(&self) -> String {
        key::entry_key(self.resource, &[])
    }

    /// A miss: one fetch per key at a time (see `coalesce`).
    async fn miss(&self, entry_key: &str) -> Result<Served<O::Response>, O::Fault> {
        let answer = match self.cache.flights.join(entry_key) {
            Flight::Follower(follower) => {
                let waited =
                    coalesce::wait(follower, self.cache.timeout_ms, &self.cache.clock).await;
                match waited {
                    // Its current age (RFC 9111 §4.2.3): the origin's Age and the time
                    // since, never 0.
                    Some(entry) if entry.meta.vary_matches(&self.req.headers) => {
                        let age_s = entry.meta.current_age(self.cache.now_s());
                        Answer::Entry { entry, age_s }
                    }
                    _ => self.fetch().await?,
                }
            }
            Flight::Leader(leader) => {
                let answer = self.fetch().await?;
                leader.finish(match &answer {
                    // The followers get what is stored: without private fields or cookies.
                    Answer::Entry { entry, .. } => Some(match entry.meta.shared_copy() {
                        Some(meta) => Rc::new(Entry {
                            meta,
                            body: entry.body.clone(),
                        }),
                        None => Rc::clone(entry),
                    }),
                    Answer::Relay(_) | Answer::Failed(_) => None,
                });
                answer
            }
        };
        Ok(served(CacheOutcome::Miss, answer))
    }

    /// Fetches for a miss, with the client's own headers, and stores what may be stored.
    async fn fetch(&self) -> Result<Answer<O::Response>, O::Fault> {
        let sent = self.cache.now_s();
        let headers = origin_request_headers(&self.req.headers, &[]);
        match self.cache.origin.fetch(headers).await {
            Ok(resp) => self.keep(resp, sent).await,
            Err(e) => Ok(Answer::Failed(Box::new(e))),
        }
    }

    /// A stale entry that must be revalidated (or replaced) before it is served.
    async fn revalidate(
        &self,
        entry: Rc<Entry>,
        serve_on_error: bool,
    ) -> Result<Served<O::Response>, O::Fault> {
        let sent = self.cache.now_s();
        let validators = conditional_headers(&entry.meta);
        let headers = origin_request_headers(&self.req.headers, &validators);
        let answer = self.cache.origin.fetch(headers).await;
        let status = answer.as_ref().ok().map(Upstream::status);
        let step = decide::after_revalidation(status, !validators.is_empty(), serve_on_error);
        let resp = match (step, answer) {
            (AfterRevalidation::ServeStale, _) => {
                let age_s = entry.meta.current_age(self.cache.now_s());
                return Ok(served(CacheOutcome::Stale, Answer::Entry { entry, age_s }));
            }
            (_, Err(e)) => {
                return Ok(served(CacheOutcome::Miss, Answer::Failed(Box::new(e))));
            }
            (AfterRevalidation::Merge, Ok(resp)) => {
                let received = self.cache.now_s();
                let meta = merge_not_modified(&entry.meta, &resp.headers(), sent, received);
                if let Ok(plan) = self.storability(&meta) {
                    self.save(&meta, &entry.body, plan).await;
                }
                let age_s = meta.current_age(received);
                let body = entry.body.clone();
                return Ok(served(
                    CacheOutcome::Revalidated,
                    Answer::Entry {
                        entry: Rc::new(Entry { meta, body }),
                        age_s,
                    },
                ));
            }
            (AfterRevalidation::Replace | AfterRevalidation::Fail, Ok(resp)) => resp,
        };
        Ok(served(CacheOutcome::Miss, self.keep(resp, sent).await?))
    }

    /// Revalidates `entry` after the response, in the background; coalesced with misses
    /// and other refreshes of the key, so a burst of stale hits refreshes once. Its answer
    /// goes nowhere: only what it stores counts.
    fn refresh_in_background(
        &self,
        entry_key: &str,
        entry: &Rc<Entry>,
        serve_on_error: bool,
    ) -> Result<(), O::Fault> {
        let Flight::Leader(leader) = self.cache.flights.join(entry_key) else {
            return Ok(());
        };
        let cache = Cache {
            store: Ok(self.store.clone()),
            origin: self.cache.origin.detach()?,
            clock: self.cache.clock.clone(),
            background: self.cache.background.clone(),
            flights: self.cache.flights.clone(),
            passes: self.cache.passes.clone(),
            max_entry_bytes: self.cache.max_entry_bytes,
            timeout_ms: self.cache.timeout_ms,
            set_cookie: self.cache.set_cookie,
        };
        let store = self.store.clone();
        let req = self.req.clone();
        let (policy, resource, entry) = (self.policy, self.resource.to_owned(), Rc::clone(entry));
        self.cache.background.spawn(async move {
            let lookup = Lookup {
                cache: &cache,
                store: &store,
                req: &req,
                policy,
                resource: &resource,
            };
            let _ = lookup.revalidate(entry, serve_on_error).await;
            leader.finish(None);
        });
        Ok(())
    }

    /// Decides whether `resp` is stored; buffers and stores it if so (up to the entry
    /// limit), else passes it on as it is.
    async fn keep(&self, resp: O::Response, sent: u64) -> Result<Answer<O::Response>, O::Fault> {
        let received = self.cache.now_s();
        let meta = EntryMeta::from_response(
            resp.status(),
            &resp.headers(),
            &self.req.headers,
            sent,
            received,
        );
        let Ok(plan) = self.storability(&meta) else {
            if pass::passes_for_everyone(&meta, self.cache.set_cookie) {
                self.cache.passes.mark(&self.base_key(), received);
            }
            return Ok(Answer::Relay(resp));
        };
        let limit = self.cache.max_entry_bytes;
        if decide::declared_too_large(&meta, limit) {
            return Ok(Answer::Relay(resp));
        }
        match resp.buffer(limit).await? {
            Buffered::Whole(body) => {
                self.save(&meta, &body, plan).await;
                self.cache.passes.clear(&self.base_key());
                // The origin's Age and the time it took count (RFC 9111 §4.2.3): a
                // response that arrives stale is not served as new.
                let age_s = meta.current_age(received);
                Ok(Answer::Entry {
                    entry: Rc::new(Entry { meta, body }),
                    age_s,
                })
            }
            Buffered::TooLarge(resp) => Ok(Answer::Relay(resp)),
            // The body broke off: a 502, and nothing stored or shared.
            Buffered::Broken => Ok(Answer::Failed(Box::new(
                CommonError::UpstreamBodyIncomplete,
            ))),
        }
    }

    fn storability(&self, meta: &EntryMeta) -> Result<StorePlan, &'static str> {
        storability(&self.req.facts(), meta, self.policy, self.cache.set_cookie)
    }

    /// Stores what may be shared of `meta` ([`EntryMeta::shared_copy`]) with `body`.
    async fn save(&self, meta: &EntryMeta, body: &[u8], plan: StorePlan) {
        let shared = meta.shared_copy();
        let meta = shared.as_ref().unwrap_or(meta);
        for (key, value) in decide::store_writes(self.resource, meta, body, &self.req.headers) {
            // A failed write stores nothing; the binding has logged it.
            let _ = self.store.put(&key, &value, plan.keep_s).await;
        }
    }
}

#[cfg(test)]
mod tests;
