//! The cache's sequence against in-memory backends, with faults: a store that fails to
//! read or write, an origin that times out, is unavailable or breaks off a body, a clock
//! that jumps between lookup and serve.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use edge_core::cache::decide::entry_response;
use edge_core::cache::entry::{self, Stored};
use edge_core::cache::key;
use edge_core::cache::policy::PathPolicy;
use futures::executor::block_on;

use super::*;
use crate::ranged;

const T0_MS: u64 = 1_700_000_000_000;
const LIMIT: usize = 64;
const PATH: &str = "/api/v1/agents/a1";
const ORIGIN: &str = "https://edge.example";

/// Returns `Pending` once (waking itself), so other futures in a `join!` run.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// A clock the test moves; sleeping moves it too.
#[derive(Clone)]
struct FakeClock(Rc<Cell<u64>>);

impl FakeClock {
    fn jump_s(&self, s: u64) {
        self.0.set(self.0.get() + s * 1000);
    }
    fn back_s(&self, s: u64) {
        self.0.set(self.0.get() - s * 1000);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
    async fn sleep(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
        yield_now().await;
    }
}

/// KV in memory, with injected faults.
#[derive(Clone, Default)]
struct FakeStore(Rc<StoreState>);

#[derive(Default)]
struct StoreState {
    map: RefCell<BTreeMap<String, (Vec<u8>, u64)>>,
    fail_reads: Cell<bool>,
    fail_writes: Cell<bool>,
    /// The purge generation cannot be read.
    fail_generation: Cell<bool>,
    /// Each read moves this clock by this many seconds (a slow read).
    slow_read: RefCell<Option<(FakeClock, u64)>>,
    /// Reads so far.
    reads: Cell<usize>,
}

impl Store for FakeStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFault> {
        self.0.reads.set(self.0.reads.get() + 1);
        if let Some((clock, s)) = &*self.0.slow_read.borrow() {
            clock.jump_s(*s);
        }
        if self.0.fail_reads.get() {
            return Err(StoreFault);
        }
        Ok(self.0.map.borrow().get(key).map(|(v, _)| v.clone()))
    }
    async fn put(&self, key: &str, value: &[u8], keep_s: u64) -> Result<(), StoreFault> {
        if self.0.fail_writes.get() {
            return Err(StoreFault);
        }
        self.0
            .map
            .borrow_mut()
            .insert(key.to_owned(), (value.to_vec(), keep_s));
        Ok(())
    }
    async fn delete_prefix(&self, prefix: &str) -> Purged {
        let mut map = self.0.map.borrow_mut();
        let before = map.len();
        map.retain(|k, _| !k.starts_with(prefix));
        Purged {
            deleted: before - map.len(),
            complete: true,
        }
    }
    async fn generation(&self, _path: &str) -> Result<String, StoreFault> {
        if self.0.fail_generation.get() {
            return Err(StoreFault);
        }
        Ok("0".to_owned())
    }
}

impl FakeStore {
    fn keys(&self) -> Vec<String> {
        self.0.map.borrow().keys().cloned().collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FakeResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    broken: bool,
    /// Counts the reads of its body.
    reads: Rc<Cell<usize>>,
}

fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> FakeResponse {
    FakeResponse {
        status,
        headers: h(headers),
        body: body.as_bytes().to_vec(),
        broken: false,
        reads: Rc::default(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FakeFault;

impl Upstream for FakeResponse {
    type Fault = FakeFault;
    fn status(&self) -> u16 {
        self.status
    }
    fn headers(&self) -> Vec<(String, String)> {
        self.headers.clone()
    }
    async fn buffer(self, limit: usize) -> Result<Buffered<Self>, FakeFault> {
        self.reads.set(self.reads.get() + 1);
        Ok(if self.broken {
            Buffered::Broken
        } else if self.body.len() > limit {
            Buffered::TooLarge(self)
        } else {
            Buffered::Whole(self.body)
        })
    }
}

/// One scripted origin answer.
struct Reply {
    answer: Result<FakeResponse, CommonError>,
    /// Polls it stays pending first (a slow origin, for coalescing).
    polls: usize,
    /// Seconds the clock moves while it is out (a slow origin, for ages).
    takes_s: u64,
}

impl From<FakeResponse> for Reply {
    fn from(r: FakeResponse) -> Self {
        Self {
            answer: Ok(r),
            polls: 0,
            takes_s: 0,
        }
    }
}

impl From<CommonError> for Reply {
    fn from(e: CommonError) -> Self {
        Self {
            answer: Err(e),
            polls: 0,
            takes_s: 0,
        }
    }
}

type Headers = Vec<(String, String)>;

/// The origin: scripted answers in order; records what it was sent.
#[derive(Clone)]
struct FakeOrigin(Rc<OriginState>);

struct OriginState {
    clock: FakeClock,
    replies: RefCell<VecDeque<Reply>>,
    /// Headers of each fetch; `None` for a forward.
    calls: RefCell<Vec<Option<Headers>>>,
}

impl FakeOrigin {
    fn script(&self, reply: impl Into<Reply>) {
        self.0.replies.borrow_mut().push_back(reply.into());
    }
    fn calls(&self) -> usize {
        self.0.calls.borrow().len()
    }
    fn sent(&self, n: usize) -> Vec<(String, String)> {
        self.0.calls.borrow()[n].clone().unwrap_or_default()
    }
    async fn next(&self) -> Result<FakeResponse, CommonError> {
        let reply = self.0.replies.borrow_mut().pop_front();
        let Some(reply) = reply else {
            return Err(CommonError::UpstreamUnavailable);
        };
        for _ in 0..reply.polls {
            yield_now().await;
        }
        self.0.clock.jump_s(reply.takes_s);
        reply.answer
    }
}

impl Origin for FakeOrigin {
    type Response = FakeResponse;
    type Fault = FakeFault;
    async fn forward(&self) -> Result<FakeResponse, Refusal> {
        self.0.calls.borrow_mut().push(None);
        self.next().await.map_err(|e| Box::new(e) as Refusal)
    }
    async fn fetch(&self, headers: Vec<(String, String)>) -> Result<FakeResponse, CommonError> {
        self.0.calls.borrow_mut().push(Some(headers));
        self.next().await
    }
    fn detach(&self) -> Result<Self, FakeFault> {
        Ok(self.clone())
    }
}

/// Background work, kept until the test runs it.
#[derive(Clone, Default)]
struct FakeBackground(Rc<RefCell<Vec<Work>>>);

type Work = Pin<Box<dyn Future<Output = ()>>>;

impl Background for FakeBackground {
    fn spawn(&self, work: impl Future<Output = ()> + 'static) {
        self.0.borrow_mut().push(Box::pin(work));
    }
}

impl FakeBackground {
    fn run(&self) -> usize {
        let work: Vec<_> = self.0.borrow_mut().drain(..).collect();
        let n = work.len();
        for w in work {
            block_on(w);
        }
        n
    }
}

struct World {
    store: FakeStore,
    origin: FakeOrigin,
    clock: FakeClock,
    background: FakeBackground,
    flights: Flights,
    passes: Passes,
    timeout_ms: u64,
    set_cookie: SetCookie,
}

type FakeCache = Cache<FakeStore, FakeOrigin, FakeClock, FakeBackground>;

impl World {
    fn new() -> Self {
        let clock = FakeClock(Rc::new(Cell::new(T0_MS)));
        Self {
            store: FakeStore::default(),
            origin: FakeOrigin(Rc::new(OriginState {
                clock: clock.clone(),
                replies: RefCell::default(),
                calls: RefCell::default(),
            })),
            clock,
            background: FakeBackground::default(),
            flights: Flights::default(),
            passes: Passes::default(),
            timeout_ms: 30_000,
            set_cookie: SetCookie::Refuse,
        }
    }

    fn cache(&self) -> FakeCache {
        Cache {
            store: Ok(self.store.clone()),
            origin: self.origin.clone(),
            clock: self.clock.clone(),
            background: self.background.clone(),
            flights: self.flights.clone(),
            passes: self.passes.clone(),
            max_entry_bytes: LIMIT,
            timeout_ms: self.timeout_ms,
            set_cookie: self.set_cookie,
        }
    }

    fn get(&self, headers: &[(&str, &str)]) -> Got {
        self.send("GET", headers)
    }

    /// Two GETs of the same key, concurrently (each with its own cache, as two requests
    /// of one isolate are).
    fn two_gets_at_once(&self) -> (Got, Got) {
        let (a, b) = (incoming("GET", &[]), incoming("GET", &[]));
        let (ca, cb) = (self.cache(), self.cache());
        let (ra, rb) = block_on(async {
            futures::join!(
                ca.answer(&a, PathPolicy::OriginOnly),
                cb.answer(&b, PathPolicy::OriginOnly)
            )
        });
        (got(&a, ra), got(&b, rb))
    }

    fn send(&self, method: &str, headers: &[(&str, &str)]) -> Got {
        let req = incoming(method, headers);
        got(
            &req,
            block_on(self.cache().answer(&req, PathPolicy::OriginOnly)),
        )
    }
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn incoming(method: &str, headers: &[(&str, &str)]) -> Incoming {
    Incoming {
        method: method.to_owned(),
        path: PATH.to_owned(),
        query: None,
        headers: h(headers),
        origin: ORIGIN.to_owned(),
    }
}

/// What the client gets, flattened.
#[derive(Debug, PartialEq, Eq)]
struct Got {
    outcome: CacheOutcome,
    status: u16,
    body: String,
    /// `Age`, for an answer from an entry.
    age: Option<u64>,
    /// The error code, for a failure.
    error: Option<&'static str>,
    headers: Vec<(String, String)>,
}

fn got(req: &Incoming, served: Result<Served<FakeResponse>, FakeFault>) -> Got {
    let Ok(Served {
        outcome,
        answer,
        part,
    }) = served
    else {
        panic!("the fakes never fault");
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match answer {
        Answer::Entry { entry, age_s } => {
            let r = entry_response(&req.facts(), &entry.meta, age_s);
            let (status, headers, body) = ranged::cut(part, r.status, r.headers, &entry.body);
            Got {
                outcome,
                status,
                body: if r.with_body {
                    text(body)
                } else {
                    String::new()
                },
                age: Some(age_s),
                error: None,
                headers,
            }
        }
        Answer::Relay(r) => Got {
            outcome,
            status: r.status,
            body: text(&r.body),
            age: None,
            error: None,
            headers: r.headers,
        },
        Answer::Failed(e) => Got {
            outcome,
            status: e.status(),
            body: String::new(),
            age: None,
            error: Some(e.code()),
            headers: Vec::new(),
        },
    }
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn resource() -> String {
    let resource = key::resource(PATH, None, key::Owner::Shared).unwrap_or_default();
    key::with_generation(&resource, "0")
}

// ---- misses, hits, storing ----

#[test]
fn a_miss_is_fetched_and_stored_then_served_as_a_hit_with_its_age() {
    let w = World::new();
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "one"));
    let first = w.get(&[]);
    assert_eq!(
        (first.outcome, first.status, first.body.as_str(), first.age),
        (CacheOutcome::Miss, 200, "one", Some(0))
    );
    w.clock.jump_s(10);
    let second = w.get(&[]);
    assert_eq!(
        (second.outcome, second.body.as_str(), second.header("age")),
        (CacheOutcome::Hit, "one", Some("10"))
    );
    assert_eq!(w.origin.calls(), 1);
    let keep = w.store.0.map.borrow().values().map(|(_, k)| *k).next();
    assert_eq!(keep, Some(60), "kept as long as it is fresh");
}

#[test]
fn an_uncacheable_answer_is_relayed_and_not_stored() {
    let w = World::new();
    w.origin
        .script(resp(200, &[("cache-control", "no-store")], "a"));
    w.origin
        .script(resp(200, &[("cache-control", "no-store")], "b"));
    assert_eq!(w.get(&[]).body, "a");
    let second = w.get(&[]);
    assert_eq!(
        (second.outcome, second.body.as_str()),
        (CacheOutcome::Miss, "b")
    );
    assert!(w.store.keys().is_empty());
}

// ---- hit-for-pass ----

#[test]
fn an_answer_no_cache_may_store_skips_the_lookups_for_a_while() {
    use edge_core::cache::pass::HIT_FOR_PASS_S;
    let w = World::new();
    for body in ["a", "b", "c"] {
        w.origin
            .script(resp(200, &[("cache-control", "no-store")], body));
    }
    assert_eq!(w.get(&[]).body, "a");
    let reads = w.store.0.reads.get();
    assert!(reads > 0, "the first request looked up");
    let passed = w.get(&[]);
    assert_eq!(
        (passed.outcome, passed.body.as_str()),
        (CacheOutcome::Miss, "b")
    );
    assert_eq!(
        w.store.0.reads.get(),
        reads,
        "no lookup while the key passes"
    );
    w.clock.jump_s(HIT_FOR_PASS_S);
    assert_eq!(w.get(&[]).body, "c");
    assert!(
        w.store.0.reads.get() > reads,
        "looked up again once the pass ended"
    );
    assert_eq!(w.origin.calls(), 3);
    assert!(w.store.keys().is_empty());
}

#[test]
fn a_storable_answer_during_a_pass_is_stored_and_ends_it() {
    let w = World::new();
    w.origin
        .script(resp(200, &[("cache-control", "private")], "mine"));
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "shared"));
    assert_eq!(w.get(&[]).body, "mine");
    let reads = w.store.0.reads.get();
    assert_eq!(w.get(&[]).body, "shared");
    assert_eq!(w.store.0.reads.get(), reads, "the second one passed");
    let hit = w.get(&[]);
    assert_eq!(
        (hit.outcome, hit.body.as_str()),
        (CacheOutcome::Hit, "shared")
    );
    assert_eq!(w.origin.calls(), 2);
}

#[test]
fn a_request_that_refuses_storing_does_not_mark_the_key() {
    let w = World::new();
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "one"));
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "two"));
    // The client's own no-store: not stored, but the answer itself was storable.
    assert_eq!(w.get(&[("cache-control", "no-store")]).body, "one");
    let reads = w.store.0.reads.get();
    assert_eq!(w.get(&[]).body, "two");
    assert!(
        w.store.0.reads.get() > reads,
        "the next request still looks up"
    );
    assert_eq!(w.get(&[]).outcome, CacheOutcome::Hit);
}

#[test]
fn concurrent_requests_for_a_passing_key_do_not_wait_for_each_other() {
    let w = World::new();
    let no_store = |body| resp(200, &[("cache-control", "no-store")], body);
    w.origin.script(no_store("a"));
    // The first of the two takes a while: without the pass, the second would wait for it.
    w.origin.script(slow(no_store("b")));
    w.origin.script(no_store("c"));
    assert_eq!(w.get(&[]).body, "a");
    let before = w.clock.0.get();
    let (x, y) = w.two_gets_at_once();
    let mut bodies = [x.body, y.body];
    bodies.sort();
    assert_eq!(bodies, ["b", "c"]);
    // A follower polls its leader's slot on the clock: no time passed, nobody waited.
    assert_eq!(w.clock.0.get(), before, "neither waited behind the other");
}

#[test]
fn bodies_over_the_limit_are_relayed_whole_and_not_stored() {
    let w = World::new();
    let big = "x".repeat(LIMIT + 1);
    let declared = (LIMIT + 1).to_string();
    let announced = resp(
        200,
        &[
            ("cache-control", "max-age=60"),
            ("content-length", &declared),
        ],
        &big,
    );
    let chunked = resp(200, &[("cache-control", "max-age=60")], &big);
    let reads = [Rc::clone(&announced.reads), Rc::clone(&chunked.reads)];
    w.origin.script(announced);
    w.origin.script(chunked);
    for _ in 0..2 {
        let r = w.get(&[]);
        assert_eq!(
            (r.outcome, r.age, r.body.len()),
            (CacheOutcome::Miss, None, LIMIT + 1)
        );
    }
    assert_eq!(
        reads.map(|r| r.get()),
        [0, 1],
        "a declared length over the limit is not read at all"
    );
    assert!(w.store.keys().is_empty());
}

#[test]
fn a_body_that_breaks_off_is_a_502_and_nothing_is_stored() {
    let w = World::new();
    let mut broken = resp(200, &[("cache-control", "max-age=60")], "par");
    broken.broken = true;
    w.origin.script(broken);
    let r = w.get(&[]);
    assert_eq!(
        (r.outcome, r.status, r.error),
        (CacheOutcome::Miss, 502, Some("upstream_body_incomplete"))
    );
    assert!(w.store.keys().is_empty());
}

// ---- store faults ----

#[test]
fn a_store_that_fails_to_read_is_a_miss_every_time() {
    let w = World::new();
    w.store.0.fail_reads.set(true);
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "one"));
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "two"));
    assert_eq!(w.get(&[]).body, "one");
    let second = w.get(&[]);
    assert_eq!(
        (second.outcome, second.body.as_str()),
        (CacheOutcome::Miss, "two")
    );
    assert_eq!(w.origin.calls(), 2);
    w.store.0.fail_reads.set(false);
    assert_eq!(
        w.get(&[]).outcome,
        CacheOutcome::Hit,
        "the writes went through"
    );
}

#[test]
fn a_store_that_fails_to_write_still_answers_and_stores_nothing() {
    let w = World::new();
    w.store.0.fail_writes.set(true);
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "one"));
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "two"));
    let first = w.get(&[]);
    assert_eq!(
        (first.outcome, first.status, first.body.as_str()),
        (CacheOutcome::Miss, 200, "one")
    );
    assert_eq!(w.get(&[]).body, "two");
    assert!(w.store.keys().is_empty());
}

#[test]
fn a_missing_store_fails_cacheable_requests_as_bypass_without_calling_the_origin() {
    let w = World::new();
    let mut cache = w.cache();
    cache.store = Err(CommonError::Misconfigured("HTTP_CACHE"));
    let req = incoming("GET", &[]);
    let r = got(&req, block_on(cache.answer(&req, PathPolicy::OriginOnly)));
    assert_eq!(
        (r.outcome, r.status, r.error),
        (CacheOutcome::Bypass, 500, Some("misconfigured"))
    );
    assert_eq!(w.origin.calls(), 0);
}

// ---- origin faults ----

#[test]
fn an_origin_timeout_on_a_miss_is_the_hops_504_labelled_miss() {
    let w = World::new();
    w.origin
        .script(CommonError::UpstreamTimeout { timeout_ms: 30_000 });
    let r = w.get(&[]);
    assert_eq!(
        (r.outcome, r.status, r.error),
        (CacheOutcome::Miss, 504, Some("upstream_timeout"))
    );
}

fn stale_entry(w: &World, cache_control: &str) {
    w.origin.script(resp(
        200,
        &[("cache-control", cache_control), ("etag", "\"v1\"")],
        "old",
    ));
    assert_eq!(w.get(&[]).outcome, CacheOutcome::Miss);
    w.clock.jump_s(10);
}

#[test]
fn stale_if_error_serves_the_entry_when_the_origin_is_unavailable_or_times_out() {
    let w = World::new();
    stale_entry(&w, "max-age=1, stale-if-error=600");
    w.origin.script(CommonError::UpstreamUnavailable);
    let r = w.get(&[]);
    assert_eq!(
        (r.outcome, r.status, r.body.as_str()),
        (CacheOutcome::Stale, 200, "old")
    );
    assert_eq!(r.age, Some(10));
    w.origin.script(Reply {
        answer: Err(CommonError::UpstreamTimeout { timeout_ms: 30_000 }),
        polls: 0,
        takes_s: 30,
    });
    let r = w.get(&[]);
    assert_eq!((r.outcome, r.body.as_str()), (CacheOutcome::Stale, "old"));
    assert_eq!(r.age, Some(40), "aged by the wait for the origin");
}

#[test]
fn stale_if_error_serves_the_entry_for_a_5xx_but_not_for_a_4xx() {
    let w = World::new();
    stale_entry(&w, "max-age=1, stale-if-error=600");
    w.origin.script(resp(503, &[], "down"));
    assert_eq!(w.get(&[]).outcome, CacheOutcome::Stale);
    w.origin.script(resp(404, &[], "gone"));
    let r = w.get(&[]);
    assert_eq!(
        (r.outcome, r.status, r.body.as_str()),
        (CacheOutcome::Miss, 404, "gone")
    );
}

#[test]
fn without_stale_if_error_the_origins_failure_is_answered() {
    let w = World::new();
    stale_entry(&w, "max-age=1");
    w.origin.script(resp(503, &[], "down"));
    let r = w.get(&[]);
    assert_eq!(
        (r.outcome, r.status, r.body.as_str()),
        (CacheOutcome::Miss, 503, "down")
    );
    w.origin.script(CommonError::UpstreamUnavailable);
    let r = w.get(&[]);
    assert_eq!(
        (r.outcome, r.error),
        (CacheOutcome::Miss, Some("upstream_unavailable"))
    );
}

// ---- revalidation ----

#[test]
fn a_304_is_merged_into_the_entry_stored_and_served_as_revalidated() {
    let w = World::new();
    stale_entry(&w, "max-age=1");
    w.origin.script(Reply::from(resp(
        304,
        &[
            ("cache-control", "max-age=120"),
            ("x-new", "yes"),
            ("content-length", "0"),
        ],
        "",
    )));
    let r = w.get(&[("if-none-match", "\"client\""), ("accept", "*/*")]);
    assert_eq!(
        (r.outcome, r.status, r.body.as_str()),
        (CacheOutcome::Revalidated, 200, "old")
    );
    assert_eq!(r.header("x-new"), Some("yes"));
    assert_eq!(r.header("cache-control"), Some("max-age=120"));
    assert_eq!(r.header("etag"), Some("\"v1\""), "kept from the entry");
    assert_eq!(
        w.origin.sent(1),
        h(&[("accept", "*/*"), ("if-none-match", "\"v1\"")]),
        "our validator replaces the client's conditional"
    );
    w.clock.jump_s(60);
    let again = w.get(&[]);
    assert_eq!(
        (again.outcome, again.body.as_str()),
        (CacheOutcome::Hit, "old")
    );
    assert_eq!(
        again.header("x-new"),
        Some("yes"),
        "the merged entry was stored"
    );
    assert_eq!(w.origin.calls(), 2);
}

#[test]
fn a_slow_revalidation_counts_its_delay_in_age() {
    let w = World::new();
    stale_entry(&w, "max-age=1");
    w.origin.script(Reply {
        answer: Ok(resp(304, &[("cache-control", "max-age=120")], "")),
        polls: 0,
        takes_s: 5,
    });
    let r = w.get(&[]);
    assert_eq!((r.outcome, r.age), (CacheOutcome::Revalidated, Some(5)));
}

#[test]
fn a_304_to_a_request_without_validators_is_relayed_not_merged() {
    let w = World::new();
    w.origin
        .script(resp(200, &[("cache-control", "max-age=1")], "old"));
    w.get(&[]);
    w.clock.jump_s(10);
    w.origin
        .script(resp(304, &[("cache-control", "max-age=120")], ""));
    let r = w.get(&[]);
    assert_eq!(
        (r.outcome, r.status, r.age),
        (CacheOutcome::Miss, 304, None)
    );
    assert!(w.origin.sent(1).iter().all(|(n, _)| !n.starts_with("if-")));
}

#[test]
fn the_clients_own_conditional_is_answered_304_from_a_fresh_entry() {
    let w = World::new();
    w.origin.script(resp(
        200,
        &[
            ("cache-control", "max-age=60"),
            ("etag", "\"v1\""),
            ("content-length", "3"),
        ],
        "one",
    ));
    w.get(&[]);
    let r = w.get(&[("if-none-match", "\"v1\"")]);
    assert_eq!(
        (r.outcome, r.status, r.body.as_str()),
        (CacheOutcome::Hit, 304, "")
    );
    assert_eq!(r.header("content-length"), None);
}

// ---- the clock ----

#[test]
fn an_entry_that_goes_stale_during_a_slow_read_is_not_served_fresh() {
    let w = World::new();
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "old"));
    w.get(&[]);
    w.clock.jump_s(50);
    *w.store.0.slow_read.borrow_mut() = Some((w.clock.clone(), 20));
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "new"));
    let r = w.get(&[]);
    assert_eq!((r.outcome, r.body.as_str()), (CacheOutcome::Miss, "new"));
}

#[test]
fn a_clock_that_goes_back_serves_the_entry_at_age_zero() {
    let w = World::new();
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "one"));
    w.get(&[]);
    w.clock.back_s(100);
    let r = w.get(&[]);
    assert_eq!((r.outcome, r.age), (CacheOutcome::Hit, Some(0)));
}

#[test]
fn stale_while_revalidate_serves_stale_and_refreshes_once_in_the_background() {
    let w = World::new();
    stale_entry(&w, "max-age=1, stale-while-revalidate=60");
    let a = w.get(&[]);
    let b = w.get(&[]);
    assert_eq!(
        (a.outcome, a.body.as_str(), a.age),
        (CacheOutcome::Stale, "old", Some(10))
    );
    assert_eq!(b.outcome, CacheOutcome::Stale);
    assert_eq!(w.origin.calls(), 1, "nothing waits on the origin");
    w.origin.script(resp(
        200,
        &[("cache-control", "max-age=60"), ("etag", "\"v2\"")],
        "new",
    ));
    assert_eq!(w.background.run(), 1, "the burst refreshes once");
    assert_eq!(w.origin.sent(1), h(&[("if-none-match", "\"v1\"")]));
    let c = w.get(&[]);
    assert_eq!((c.outcome, c.body.as_str()), (CacheOutcome::Hit, "new"));
}

#[test]
fn a_background_refresh_that_fails_keeps_the_entry_and_the_next_hit_retries() {
    let w = World::new();
    stale_entry(&w, "max-age=1, stale-while-revalidate=60");
    assert_eq!(w.get(&[]).outcome, CacheOutcome::Stale);
    w.origin
        .script(CommonError::UpstreamTimeout { timeout_ms: 30_000 });
    assert_eq!(w.background.run(), 1);
    let r = w.get(&[]);
    assert_eq!((r.outcome, r.body.as_str()), (CacheOutcome::Stale, "old"));
    assert_eq!(
        w.background.run(),
        1,
        "the flight was closed: a new refresh"
    );
}

// ---- Vary ----

#[test]
fn vary_stores_one_entry_per_value_and_a_mismatch_is_a_miss() {
    let w = World::new();
    let varied = |body: &str| {
        resp(
            200,
            &[("cache-control", "max-age=60"), ("vary", "Accept-Language")],
            body,
        )
    };
    w.origin.script(varied("de"));
    w.origin.script(varied("en"));
    assert_eq!(w.get(&[("accept-language", "de")]).body, "de");
    let en = w.get(&[("accept-language", "en")]);
    assert_eq!((en.outcome, en.body.as_str()), (CacheOutcome::Miss, "en"));
    let de = w.get(&[("accept-language", "de")]);
    assert_eq!((de.outcome, de.body.as_str()), (CacheOutcome::Hit, "de"));
    assert_eq!(w.get(&[("accept-language", "en")]).body, "en");
    assert_eq!(w.origin.calls(), 2);
    let base = key::entry_key(&resource(), &[]);
    let stored = w.store.0.map.borrow().get(&base).map(|(v, _)| v.clone());
    assert!(matches!(
        stored.as_deref().and_then(entry::decode_stored),
        Some(Stored::Vary(names)) if names == ["accept-language"]
    ));
    assert_eq!(w.store.keys().len(), 3);
}

// ---- plans ----

#[test]
fn uncacheable_requests_bypass_and_head_misses_are_forwarded() {
    let w = World::new();
    for (method, headers) in [
        ("OPTIONS", vec![]),
        (
            "GET",
            vec![("range", "bytes=0-1"), ("cache-control", "no-store")],
        ),
    ] {
        w.origin
            .script(resp(200, &[("cache-control", "max-age=60")], "x"));
        let r = w.send(method, &headers);
        assert_eq!((r.outcome, r.body.as_str()), (CacheOutcome::Bypass, "x"));
    }
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], ""));
    assert_eq!(w.send("HEAD", &[]).outcome, CacheOutcome::Miss);
    assert!(
        w.origin.0.calls.borrow().iter().all(Option::is_none),
        "all forwarded"
    );
    assert!(w.store.keys().is_empty());
}

#[test]
fn a_forward_that_times_out_is_the_hops_504_labelled_by_the_plan() {
    let w = World::new();
    w.origin
        .script(CommonError::UpstreamTimeout { timeout_ms: 30_000 });
    let r = w.send("OPTIONS", &[]);
    assert_eq!(
        (r.outcome, r.status, r.error),
        (CacheOutcome::Bypass, 504, Some("upstream_timeout"))
    );
    w.origin.script(CommonError::UpstreamUnavailable);
    let r = w.send("HEAD", &[]);
    assert_eq!(
        (r.outcome, r.error),
        (CacheOutcome::Miss, Some("upstream_unavailable"))
    );
}

#[test]
fn an_unsafe_method_invalidates_the_uri_unless_it_fails() {
    let w = World::new();
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "one"));
    w.get(&[]);
    w.origin.script(resp(500, &[], "failed"));
    assert_eq!(w.send("POST", &[]).outcome, CacheOutcome::Bypass);
    assert_eq!(
        w.get(&[]).outcome,
        CacheOutcome::Hit,
        "a failed POST invalidates nothing"
    );
    w.origin.script(resp(201, &[], "created"));
    w.send("POST", &[]);
    assert!(w.store.keys().is_empty());
}

#[test]
fn purge_sums_its_targets() {
    let w = World::new();
    for k in ["a/1", "a/2", "b/1"] {
        w.store
            .0
            .map
            .borrow_mut()
            .insert(k.to_owned(), (Vec::new(), 60));
    }
    let purged = block_on(purge(
        &w.store,
        &["a/".to_owned(), "b/".to_owned(), "c/".to_owned()],
    ));
    assert_eq!(
        purged,
        Purged {
            deleted: 3,
            complete: true
        }
    );
}

// ---- coalescing ----

fn slow(r: FakeResponse) -> Reply {
    Reply {
        answer: Ok(r),
        polls: 10,
        takes_s: 0,
    }
}

#[test]
fn concurrent_misses_send_one_request_and_share_its_entry() {
    let w = World::new();
    w.origin
        .script(slow(resp(200, &[("cache-control", "max-age=60")], "one")));
    let (ra, rb) = w.two_gets_at_once();
    assert_eq!(w.origin.calls(), 1);
    assert_eq!((ra.outcome, ra.body.as_str()), (CacheOutcome::Miss, "one"));
    assert_eq!((rb.outcome, rb.body.as_str()), (CacheOutcome::Miss, "one"));
}

#[test]
fn a_follower_fetches_for_itself_when_the_answer_is_not_shareable() {
    let w = World::new();
    w.origin
        .script(slow(resp(200, &[("cache-control", "no-store")], "mine")));
    w.origin
        .script(resp(200, &[("cache-control", "no-store")], "yours"));
    let (ra, rb) = w.two_gets_at_once();
    assert_eq!(ra.body, "mine");
    assert_eq!(rb.body, "yours");
    assert_eq!(w.origin.calls(), 2);
}

#[test]
fn a_follower_stops_waiting_for_a_leader_slower_than_the_timeout() {
    let mut w = World::new();
    w.timeout_ms = 20;
    w.origin.script(Reply {
        answer: Ok(resp(200, &[("cache-control", "max-age=60")], "late")),
        polls: 1_000,
        takes_s: 0,
    });
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "own"));
    let (ra, rb) = w.two_gets_at_once();
    assert_eq!(ra.body, "late");
    assert_eq!(rb.body, "own");
    assert_eq!(w.origin.calls(), 2);
}

#[test]
fn a_follower_fetches_for_itself_when_the_leader_fails() {
    let w = World::new();
    w.origin.script(Reply {
        answer: Err(CommonError::UpstreamUnavailable),
        polls: 10,
        takes_s: 0,
    });
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "own"));
    let (ra, rb) = w.two_gets_at_once();
    assert_eq!(ra.error, Some("upstream_unavailable"));
    assert_eq!(rb.body, "own");
}

// ---- issue 17: ages, invalid Age, cookies, Location ----

#[test]
fn issue_17_a_miss_serves_the_origins_age_plus_its_delay_not_zero() {
    let w = World::new();
    w.origin.script(Reply {
        answer: Ok(resp(
            200,
            &[("cache-control", "max-age=3600"), ("age", "7200")],
            "old",
        )),
        polls: 0,
        takes_s: 2,
    });
    let first = w.get(&[]);
    assert_eq!(
        (first.outcome, first.header("age")),
        (CacheOutcome::Miss, Some("7202")),
        "already stale: never served as new"
    );
    // Stored; stale, so the next request revalidates (no validator: refetched).
    w.origin
        .script(resp(200, &[("cache-control", "max-age=3600")], "new"));
    let second = w.get(&[]);
    assert_eq!(
        (second.outcome, second.body.as_str()),
        (CacheOutcome::Miss, "new")
    );
    assert_eq!(w.origin.calls(), 2);
}

#[test]
fn issue_17_a_coalesced_follower_gets_the_current_age() {
    let w = World::new();
    w.origin.script(slow(resp(
        200,
        &[("cache-control", "max-age=60"), ("age", "30")],
        "one",
    )));
    let (ra, rb) = w.two_gets_at_once();
    assert_eq!(w.origin.calls(), 1);
    assert_eq!(ra.header("age"), Some("30"));
    assert_eq!(rb.outcome, CacheOutcome::Miss);
    let follower_age: u64 = rb.header("age").and_then(|a| a.parse().ok()).unwrap_or(0);
    assert!(
        follower_age >= 30,
        "the follower's age counts the origin's ({follower_age})"
    );
}

#[test]
fn issue_17_an_age_list_uses_its_first_member_and_an_invalid_age_is_not_stored() {
    let w = World::new();
    w.origin.script(resp(
        200,
        &[("cache-control", "max-age=3600"), ("age", "7200, 0")],
        "list",
    ));
    assert_eq!(w.get(&[]).header("age"), Some("7200"));
    w.store.0.map.borrow_mut().clear();
    w.origin.script(resp(
        200,
        &[("cache-control", "max-age=3600"), ("age", "1 hour")],
        "bad",
    ));
    let bad = w.get(&[]);
    assert_eq!(
        (bad.outcome, bad.age),
        (CacheOutcome::Miss, None),
        "relayed as it is"
    );
    assert!(w.store.keys().is_empty(), "an invalid Age is never stored");
}

#[test]
fn issue_17_strip_stores_without_the_cookie_and_only_the_fetcher_gets_it() {
    let mut w = World::new();
    w.set_cookie = SetCookie::Strip;
    w.origin.script(slow(resp(
        200,
        &[
            ("cache-control", "max-age=60, private=\"x-user\""),
            ("set-cookie", "s=1"),
            ("x-user", "alice"),
        ],
        "one",
    )));
    let (ra, rb) = w.two_gets_at_once();
    assert_eq!(w.origin.calls(), 1);
    assert_eq!(
        (ra.header("set-cookie"), ra.header("x-user")),
        (Some("s=1"), Some("alice"))
    );
    assert_eq!((rb.header("set-cookie"), rb.header("x-user")), (None, None));
    let hit = w.get(&[]);
    assert_eq!(hit.outcome, CacheOutcome::Hit);
    assert_eq!(
        (hit.header("set-cookie"), hit.header("x-user")),
        (None, None)
    );
    // The default refuses to store it at all.
    let w = World::new();
    w.origin.script(resp(
        200,
        &[("cache-control", "max-age=60"), ("set-cookie", "s=1")],
        "one",
    ));
    assert_eq!(w.get(&[]).header("set-cookie"), Some("s=1"));
    assert!(w.store.keys().is_empty());
}

#[test]
fn issue_17_an_unsafe_methods_location_on_this_origin_is_invalidated_too() {
    let w = World::new();
    let put = |path: &str| {
        w.store.0.map.borrow_mut().insert(
            format!("{}|shared", key::uri_prefix(path, None)),
            (Vec::new(), 60),
        );
    };
    for path in [
        "/api/v1/agents/a2",
        "/api/v1/agents/a3",
        "/api/v1/agents/a4",
    ] {
        put(path);
    }
    w.origin.script(resp(
        201,
        &[
            ("location", "/api/v1/agents/a2"),
            ("content-location", "https://edge.example/api/v1/agents/a3"),
            ("link", "</api/v1/agents/a4>"),
        ],
        "",
    ));
    w.send("POST", &[]);
    let left = w.store.keys();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains("/api/v1/agents/a4"));
    // Another origin's URL, or a failed answer: nothing.
    put("/api/v1/agents/a2");
    w.origin.script(resp(
        303,
        &[("location", "https://other.example/api/v1/agents/a2")],
        "",
    ));
    w.send("PUT", &[]);
    w.origin
        .script(resp(409, &[("location", "/api/v1/agents/a4")], ""));
    w.send("DELETE", &[]);
    assert_eq!(w.store.keys().len(), 2);
}

#[test]
fn issue_17_unknown_methods_pass_through_without_invalidating() {
    let w = World::new();
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "one"));
    w.get(&[]);
    for method in ["PURGE", "REPORT", "OPTIONS", "post"] {
        w.origin.script(resp(200, &[], "ok"));
        assert_eq!(
            w.send(method, &[]).outcome,
            CacheOutcome::Bypass,
            "{method}"
        );
    }
    assert_eq!(w.get(&[]).outcome, CacheOutcome::Hit);
}

// ---- byte ranges (issue 17) ----

const RANGED: &[(&str, &str)] = &[
    ("cache-control", "max-age=60"),
    ("etag", "\"v1\""),
    ("content-length", "10"),
];

/// A world with the 10-byte `RANGED` entry stored.
fn stored_ranged() -> World {
    let w = World::new();
    w.origin.script(resp(200, RANGED, "0123456789"));
    w.get(&[]);
    w
}

#[test]
fn a_range_is_fetched_whole_stored_and_served_as_206_on_miss_and_hit() {
    let w = World::new();
    w.origin.script(resp(200, RANGED, "0123456789"));
    let miss = w.get(&[("range", "bytes=2-5")]);
    assert_eq!(
        (miss.outcome, miss.status, miss.body.as_str()),
        (CacheOutcome::Miss, 206, "2345")
    );
    assert_eq!(miss.header("content-range"), Some("bytes 2-5/10"));
    assert_eq!(miss.header("content-length"), Some("4"));
    assert!(
        w.origin.sent(0).iter().all(|(n, _)| n != "range"),
        "the whole response is fetched"
    );
    let hit = w.get(&[("range", "bytes=-3"), ("if-range", "\"v1\"")]);
    assert_eq!(
        (hit.outcome, hit.status, hit.body.as_str()),
        (CacheOutcome::Hit, 206, "789")
    );
    assert_eq!(hit.header("content-range"), Some("bytes 7-9/10"));
    let whole = w.get(&[]);
    assert_eq!((whole.status, whole.body.as_str()), (200, "0123456789"));
    assert_eq!(w.origin.calls(), 1);
}

#[test]
fn an_if_range_mismatch_or_several_ranges_are_the_whole_200() {
    let w = stored_ranged();
    for headers in [
        vec![("range", "bytes=0-1"), ("if-range", "\"v2\"")],
        vec![("range", "bytes=0-1"), ("if-range", "W/\"v1\"")],
        vec![("range", "bytes=0-1,4-5")],
        vec![("range", "lines=1-2")],
    ] {
        let r = w.get(&headers);
        assert_eq!(
            (
                r.outcome,
                r.status,
                r.body.as_str(),
                r.header("content-range")
            ),
            (CacheOutcome::Hit, 200, "0123456789", None),
            "{headers:?}"
        );
    }
}

#[test]
fn an_unsatisfiable_range_is_416_with_the_length() {
    let w = stored_ranged();
    let r = w.get(&[("range", "bytes=10-")]);
    assert_eq!(
        (r.outcome, r.status, r.body.as_str()),
        (CacheOutcome::Hit, 416, "")
    );
    assert_eq!(r.header("content-range"), Some("bytes */10"));
    assert_eq!(w.origin.calls(), 1);
}

#[test]
fn a_range_over_an_unstored_answer_is_relayed_whole_and_a_206_is_never_stored() {
    let w = World::new();
    w.origin
        .script(resp(200, &[("cache-control", "no-store")], "0123456789"));
    let r = w.get(&[("range", "bytes=0-1")]);
    assert_eq!(
        (r.outcome, r.status, r.body.as_str()),
        (CacheOutcome::Miss, 200, "0123456789")
    );
    w.origin.script(resp(
        206,
        &[
            ("cache-control", "max-age=60"),
            ("content-range", "bytes 0-1/10"),
        ],
        "01",
    ));
    let r = w.get(&[("range", "bytes=0-1")]);
    assert_eq!((r.status, r.body.as_str()), (206, "01"));
    assert!(
        w.store.keys().is_empty(),
        "a 206 is not a complete response"
    );
}

#[test]
fn a_conditional_match_wins_over_a_range_and_a_stored_404_is_not_cut() {
    let w = stored_ranged();
    let r = w.get(&[("range", "bytes=0-1"), ("if-none-match", "\"v1\"")]);
    assert_eq!(r.status, 304);
    let w = World::new();
    w.origin
        .script(resp(404, &[("cache-control", "max-age=60")], "gone"));
    w.get(&[]);
    let r = w.get(&[("range", "bytes=0-1")]);
    assert_eq!(
        (r.outcome, r.status, r.body.as_str()),
        (CacheOutcome::Hit, 404, "gone")
    );
}

#[test]
fn without_the_purge_generation_the_cache_is_bypassed() {
    let w = stored_ranged();
    w.store.0.fail_generation.set(true);
    w.origin.script(resp(200, RANGED, "fresh"));
    let r = w.get(&[]);
    assert_eq!(
        (r.outcome, r.body.as_str()),
        (CacheOutcome::Bypass, "fresh")
    );
    assert!(
        w.origin.0.calls.borrow()[1].is_none(),
        "forwarded as it came"
    );
}

// ---- KV operations per request, with and without the local tier (issue 17) ----

/// KV reads, writes, lists and deletes of each kind of request, through the flow, with
/// the local tier (`after`) and without it (`before`: KV alone, as at 1c19fb4), counted
/// by the fake KV. The generation listing (one per isolate per `tiers::REFRESH_MS`) is
/// left out of the per-request counts; it is counted once here.
#[test]
fn kv_operations_per_request_with_and_without_the_local_tier() {
    use crate::tiers::tests::{FakeTier, NoLocal};
    use crate::tiers::{Generations, Tiered};

    /// With `listing_purge`, the prefix purge lists and deletes (as at 1c19fb4).
    fn run<L>(local: L, listing_purge: bool) -> Vec<(usize, usize, usize)>
    where
        L: crate::tiers::Local + Clone + 'static,
    {
        let w = World::new();
        let kv = FakeTier::default();
        let store = Tiered {
            local,
            shared: kv.clone(),
            clock: w.clock.clone(),
            generations: Generations::default(),
        };
        let cache = Cache {
            store: Ok(store.clone()),
            origin: w.origin.clone(),
            clock: w.clock.clone(),
            background: w.background.clone(),
            flights: w.flights.clone(),
            passes: w.passes.clone(),
            max_entry_bytes: LIMIT,
            timeout_ms: w.timeout_ms,
            set_cookie: w.set_cookie,
        };
        let mut per_request = Vec::new();
        let mut send = |path: &str, reply: Option<FakeResponse>| {
            if let Some(reply) = reply {
                w.origin.script(reply);
            }
            let mut req = incoming("GET", &[]);
            req.path = path.to_owned();
            let before = kv.ops();
            let _ = block_on(cache.answer(&req, PathPolicy::OriginOnly));
            let after = kv.ops();
            per_request.push((after.0 - before.0, after.1 - before.1, after.2 - before.2));
        };
        let stored = || resp(200, &[("cache-control", "max-age=600")], "x");
        send("/api/v1/agents/warm", Some(stored())); // lists the generations once
        send("/api/v1/agents/a", Some(stored())); // MISS + store
        send("/api/v1/agents/a", None); // HIT
        send("/api/v1/agents/a", None); // HIT
        let no_store = resp(200, &[("cache-control", "no-store")], "x");
        send("/api/v1/agents/n", Some(no_store)); // MISS no-store
        // A prefix purge of 10,000 entries.
        kv.fill((0..10_000).map(|i| format!("c:/api/v1/calls/{i} x|shared|g0|e:x")));
        let (before, deletes) = (kv.ops(), kv.deletes());
        if listing_purge {
            block_on(purge(&store, &[key::path_prefix("/api/v1/calls/")]));
        } else {
            block_on(store.purge(&[], &["/api/v1/calls/".to_owned()]));
        }
        let after = kv.ops();
        per_request.push((
            after.0 - before.0,
            after.1 - before.1 + kv.deletes() - deletes,
            after.2 - before.2,
        ));
        per_request
    }
    let after = run(FakeTier::default(), false);
    let before = run(NoLocal, true);
    // (reads, writes and deletes, lists): warm-up, MISS + store, HIT, HIT, MISS no-store,
    // a prefix purge of 10,000 entries.
    assert_eq!(
        after,
        [
            (1, 1, 1),
            (1, 1, 0),
            (0, 0, 0),
            (0, 0, 0),
            (1, 0, 0),
            (0, 1, 0)
        ]
    );
    assert_eq!(
        before,
        [
            (1, 1, 1),
            (1, 1, 0),
            (1, 0, 0),
            (1, 0, 0),
            (1, 0, 0),
            (0, 10_000, 10)
        ]
    );
}

#[test]
fn only_if_cached_is_answered_from_the_store_or_504_without_asking_the_origin() {
    let w = World::new();
    let only = [("cache-control", "only-if-cached")];
    // Nothing stored: 504, and the origin is not asked.
    let nothing = w.get(&only);
    assert_eq!(
        (nothing.outcome, nothing.status, nothing.error),
        (CacheOutcome::Miss, 504, Some("not_cached"))
    );
    assert_eq!(w.origin.calls(), 0);
    // Stored and fresh: served.
    w.origin
        .script(resp(200, &[("cache-control", "max-age=60")], "one"));
    assert_eq!(w.get(&[]).outcome, CacheOutcome::Miss);
    let hit = w.get(&only);
    assert_eq!(
        (hit.outcome, hit.status, hit.body.as_str()),
        (CacheOutcome::Hit, 200, "one")
    );
    // Stored but stale, and no stale window: 504 again, not a revalidation.
    w.clock.jump_s(61);
    let stale = w.get(&only);
    assert_eq!((stale.status, stale.error), (504, Some("not_cached")));
    // Fresh, but the request's own max-age refuses it: 504.
    w.clock.back_s(60);
    let too_old = w.get(&[("cache-control", "only-if-cached, max-age=0")]);
    assert_eq!(too_old.status, 504);
    assert_eq!(
        w.origin.calls(),
        1,
        "only the first plain GET reached the origin"
    );
}
