//! The JWKS refresh sequence against in-memory backends, faults included: an identity
//! provider that is down, times out or serves garbage, forged `kid`s, a clock that jumps.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use edge_core::auth::jwt::Alg;
use futures::executor::block_on;
use serde_json::json;

use super::*;
use crate::rejection::Rejection;

const URL: &str = "https://idp.example.com/.well-known/jwks.json";
const ISS: &str = "https://idp.example.com/";
const T0: u64 = 1_800_000_000_000;
const TTL_MS: u64 = 600_000;
const GAP_MS: u64 = 30_000;

/// Resolves on its second poll, waking itself: lets concurrent futures interleave.
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

/// A clock that moves only when told to (or by the time a pause or a fetch takes).
struct FakeClock(Cell<u64>);

impl FakeClock {
    fn advance(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
    }
}

impl Clock for &FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
    async fn pause(&self, ms: u64) {
        self.advance(ms);
        YieldNow(false).await;
    }
}

/// What the fake provider answers to one fetch.
enum Answer {
    /// This document, after `polls` yields (a slow but successful fetch).
    Document {
        body: String,
        polls: u32,
        cache_control: Option<&'static str>,
    },
    /// The endpoint is down (connection refused, 503 …).
    Down,
    /// No answer within the deadline: the fetch takes the whole timeout, then fails.
    Timeout,
}

/// The identity provider: scripted answers, the last one repeated.
struct FakeIdp<'c> {
    answers: RefCell<VecDeque<Answer>>,
    clock: &'c FakeClock,
    fetches: Cell<u32>,
    failures: RefCell<Vec<String>>,
    skips: RefCell<Vec<String>>,
}

impl Fetcher for &FakeIdp<'_> {
    async fn fetch(&self, url: &str) -> Result<Document, String> {
        assert_eq!(url, URL);
        self.fetches.set(self.fetches.get() + 1);
        let answer = {
            let mut answers = self.answers.borrow_mut();
            if answers.len() > 1 {
                answers.pop_front()
            } else {
                answers.front().map(Answer::repeat)
            }
        };
        match answer {
            Some(Answer::Document {
                body,
                polls,
                cache_control,
            }) => {
                for _ in 0..polls {
                    YieldNow(false).await;
                }
                Ok(Document {
                    body: body.into_bytes(),
                    cache_control: cache_control.map(str::to_owned),
                })
            }
            Some(Answer::Timeout) => {
                self.clock.advance(FETCH_TIMEOUT_MS);
                Err("upstream did not answer within 5000 ms".to_owned())
            }
            Some(Answer::Down) | None => Err("status 503".to_owned()),
        }
    }

    fn failed(&self, reason: &str) {
        self.failures.borrow_mut().push(reason.to_owned());
    }

    fn skipped(&self, kid: &str, reason: &str) {
        self.skips.borrow_mut().push(format!("{kid}: {reason}"));
    }
}

impl Answer {
    fn repeat(&self) -> Self {
        match self {
            Self::Document {
                body,
                polls,
                cache_control,
            } => Self::Document {
                body: body.clone(),
                polls: *polls,
                cache_control: *cache_control,
            },
            Self::Down => Self::Down,
            Self::Timeout => Self::Timeout,
        }
    }
}

/// Isolate memory.
#[derive(Default)]
struct Slot(RefCell<Option<Remote>>);

impl Cache for &Slot {
    fn with<R>(&self, f: impl FnOnce(&mut Option<Remote>) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}

/// Accepts exactly the signature `valid` when some key is a candidate: these tests are
/// about which keys are known, the signatures themselves are the core's (vectors there).
struct FakeSignatures;

impl Signatures for FakeSignatures {
    async fn verify(&self, candidates: &[&VerifyKey], _message: &[u8], signature: &[u8]) -> bool {
        !candidates.is_empty() && signature == b"valid"
    }
}

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// An EdDSA token naming `kid`, valid for two days after [`T0`].
fn token(kid: &str) -> String {
    token_with(json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid }))
}

/// A token under `header` whose signature [`FakeSignatures`] accepts.
fn token_with(header: serde_json::Value) -> String {
    let claims = json!({ "sub": "user-1", "iss": ISS, "exp": T0 / 1000 + 172_800 });
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(b"valid")
    )
}

/// A JWK Set of Ed25519 public keys with these `kid`s.
fn jwks(kids: &[&str]) -> String {
    let keys: Vec<_> = kids
        .iter()
        .enumerate()
        .map(|(i, kid)| {
            let x = [u8::try_from(i + 1).unwrap_or(1); 32];
            json!({ "kty": "OKP", "crv": "Ed25519", "x": b64url(&x), "kid": kid })
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

/// The configured (inline) keys: a JWK Set of these `kid`s.
fn local_set(kids: &[&str]) -> KeySet {
    let mut local = KeySet::default();
    let added = local.add_jwks(jwks(kids).as_bytes()).map(|r| r.added);
    assert_eq!(added, Ok(kids.len()));
    local
}

fn document(kids: &[&str]) -> Answer {
    Answer::Document {
        body: jwks(kids),
        polls: 0,
        cache_control: None,
    }
}

fn policy() -> JwtPolicy {
    JwtPolicy {
        algorithms: vec![Alg::HS256, Alg::EdDSA],
        issuer: Some(ISS.to_owned()),
        audience: None,
        leeway_s: 30,
        rate_limit: None,
        claims: edge_core::auth::claims::ClaimsMapping::default(),
    }
}

fn remote() -> RemoteJwks {
    RemoteJwks {
        url: URL.to_owned(),
        ttl_ms: TTL_MS,
        min_gap_ms: GAP_MS,
    }
}

/// One isolate: its clock, its provider, its cache.
struct Isolate<'c> {
    clock: &'c FakeClock,
    idp: FakeIdp<'c>,
    slot: Slot,
}

impl<'c> Isolate<'c> {
    fn new(clock: &'c FakeClock, answers: Vec<Answer>) -> Self {
        Self {
            clock,
            idp: FakeIdp {
                answers: RefCell::new(answers.into()),
                clock,
                fetches: Cell::new(0),
                failures: RefCell::default(),
                skips: RefCell::default(),
            },
            slot: Slot::default(),
        }
    }

    fn verifier(&self) -> Verifier<&FakeIdp<'c>, &'c FakeClock, &Slot, FakeSignatures> {
        Verifier {
            fetcher: &self.idp,
            clock: self.clock,
            cache: &self.slot,
            signatures: FakeSignatures,
        }
    }

    async fn verify(&self, token: &str) -> Result<Identity, Error> {
        let now_s = self.clock.now_ms() / 1000;
        self.verifier()
            .verify(token, &KeySet::default(), Some(&remote()), &policy(), now_s)
            .await
    }

    /// A first token with `k1` verifies (one fetch); then `ms` pass.
    fn warm_up(&self, ms: u64) {
        assert!(block_on(self.verify(&token("k1"))).is_ok());
        self.clock.advance(ms);
    }

    fn fetches(&self) -> u32 {
        self.idp.fetches.get()
    }
}

fn clock() -> FakeClock {
    FakeClock(Cell::new(T0))
}

fn auth_error(result: Result<Identity, Error>) -> Option<AuthError> {
    match result {
        Err(Error::Rejection(Rejection::Auth(e))) => Some(e),
        _ => None,
    }
}

#[test]
fn the_first_token_fetches_and_later_ones_use_the_cache() {
    let clock = clock();
    let isolate = Isolate::new(&clock, vec![document(&["k1"])]);
    for _ in 0..5 {
        let identity = block_on(isolate.verify(&token("k1")));
        assert_eq!(identity.map(|i| i.subject).ok(), Some("user-1".to_owned()));
        clock.advance(1_000);
    }
    assert_eq!(isolate.fetches(), 1);
}

#[test]
fn without_a_remote_jwks_nothing_is_fetched() {
    let clock = clock();
    let isolate = Isolate::new(&clock, vec![document(&["k1"])]);
    let local = local_set(&["k1"]);
    let verifier = isolate.verifier();
    let ok = block_on(verifier.verify(&token("k1"), &local, None, &policy(), T0 / 1000));
    assert!(ok.is_ok());
    let unknown = block_on(verifier.verify(&token("k9"), &local, None, &policy(), T0 / 1000));
    assert_eq!(auth_error(unknown), Some(AuthError::UnknownKey));
    assert_eq!(isolate.fetches(), 0);
}

#[test]
fn a_rotated_in_key_works_from_its_first_token_after_one_refresh() {
    let clock = clock();
    let isolate = Isolate::new(&clock, vec![document(&["k1"]), document(&["k1", "k2"])]);
    assert!(block_on(isolate.verify(&token("k1"))).is_ok());
    clock.advance(GAP_MS);
    assert!(block_on(isolate.verify(&token("k2"))).is_ok());
    assert_eq!(isolate.fetches(), 2);
}

#[test]
fn forged_kids_cause_one_refresh_not_a_storm() {
    let clock = clock();
    let isolate = Isolate::new(&clock, vec![document(&["k1"])]);
    isolate.warm_up(GAP_MS);
    for i in 0..100 {
        let forged = block_on(isolate.verify(&token(&format!("forged-{i}"))));
        assert_eq!(auth_error(forged), Some(AuthError::UnknownKey));
        clock.advance(10);
    }
    assert_eq!(isolate.fetches(), 2, "one refresh for the first forged kid");
    // The interval passes: the next unknown kid may refresh once more.
    clock.advance(GAP_MS);
    let _ = block_on(isolate.verify(&token("forged-again")));
    assert_eq!(isolate.fetches(), 3);
}

#[test]
fn concurrent_tokens_with_unknown_kids_join_one_fetch() {
    let clock = clock();
    let slow = Answer::Document {
        body: jwks(&["k1"]),
        polls: 5,
        cache_control: None,
    };
    let isolate = Isolate::new(&clock, vec![slow]);
    let (known, unknown) = (token("k1"), token("nope"));
    let (a, b, c) = block_on(async {
        futures::join!(
            isolate.verify(&known),
            isolate.verify(&known),
            isolate.verify(&unknown),
        )
    });
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(auth_error(c), Some(AuthError::UnknownKey));
    assert_eq!(
        isolate.fetches(),
        1,
        "single flight, and no refresh right after"
    );
}

/// Keys fetched once; the clock jumps `jump_ms`; the refetch meets `fault`: the token of
/// the last good key still verifies, and the failure was reported once.
fn keeps_the_last_good_keys(fault: Answer, jump_ms: u64) -> Vec<String> {
    let clock = clock();
    let isolate = Isolate::new(&clock, vec![document(&["k1"]), fault]);
    assert!(block_on(isolate.verify(&token("k1"))).is_ok());
    clock.advance(jump_ms);
    assert!(
        block_on(isolate.verify(&token("k1"))).is_ok(),
        "stale but good"
    );
    assert_eq!(isolate.fetches(), 2);
    isolate.idp.failures.into_inner()
}

#[test]
fn the_endpoint_down_keeps_the_last_good_keys() {
    assert_eq!(
        keeps_the_last_good_keys(Answer::Down, TTL_MS),
        ["status 503"]
    );
}

#[test]
fn a_timed_out_fetch_keeps_the_last_good_keys() {
    let failures = keeps_the_last_good_keys(Answer::Timeout, TTL_MS + 1);
    assert_eq!(failures, ["upstream did not answer within 5000 ms"]);
}

#[test]
fn a_malformed_jwks_keeps_the_last_good_keys() {
    let garbage = Answer::Document {
        body: "{\"keys\": [".to_owned(),
        polls: 0,
        cache_control: None,
    };
    assert_eq!(keeps_the_last_good_keys(garbage, TTL_MS).len(), 1);
}

#[test]
fn a_provider_down_from_the_start_refuses_tokens_and_retries_slowly() {
    let clock = clock();
    let isolate = Isolate::new(&clock, vec![Answer::Down]);
    let refused = block_on(isolate.verify(&token("k1")));
    assert_eq!(
        auth_error(refused),
        Some(AuthError::UnknownKey),
        "a 401, not a 500"
    );
    // Within a second of the failed attempt nothing is fetched again, for any kid.
    for _ in 0..10 {
        let _ = block_on(isolate.verify(&token("k1")));
        clock.advance(50);
    }
    assert_eq!(isolate.fetches(), 1);
    clock.advance(1_000);
    let _ = block_on(isolate.verify(&token("k1")));
    assert_eq!(isolate.fetches(), 2);
}

#[test]
fn a_clock_jump_past_the_ttl_refetches_and_drops_removed_keys() {
    let clock = clock();
    let isolate = Isolate::new(&clock, vec![document(&["k1"]), document(&["k2"])]);
    assert!(block_on(isolate.verify(&token("k1"))).is_ok());
    clock.advance(TTL_MS - 1);
    assert!(block_on(isolate.verify(&token("k1"))).is_ok());
    assert_eq!(isolate.fetches(), 1, "still fresh");
    clock.advance(1);
    let removed = block_on(isolate.verify(&token("k1")));
    assert_eq!(auth_error(removed), Some(AuthError::UnknownKey));
    assert!(block_on(isolate.verify(&token("k2"))).is_ok());
    assert_eq!(
        isolate.fetches(),
        2,
        "the unknown kid right after a fetch waits"
    );
}

#[test]
fn a_fetch_whose_request_died_is_started_again_after_its_timeout() {
    let clock = clock();
    let isolate = Isolate::new(&clock, vec![document(&["k1"])]);
    // Another request marked a fetch in flight and never came back.
    *isolate.slot.0.borrow_mut() = Some(Remote {
        url: URL.to_owned(),
        keys: KeySet::default(),
        state: RemoteState {
            fetched_ms: None,
            attempted_ms: Some(T0),
            in_flight_since: Some(T0),
        },
        ttl_ms: None,
    });
    // This request waits (polling) for it, then takes over once it counts as lost.
    assert!(block_on(isolate.verify(&token("k1"))).is_ok());
    assert_eq!(isolate.fetches(), 1);
    assert!(clock.0.get() > T0 + FETCH_TIMEOUT_MS);
}

#[test]
fn a_bad_signature_with_a_known_kid_does_not_refresh() {
    let clock = clock();
    let isolate = Isolate::new(&clock, vec![document(&["k1"])]);
    isolate.warm_up(GAP_MS);
    let forged = token("k1")
        .rsplit_once('.')
        .map(|(signed, _)| format!("{signed}.AAAA"));
    let refused = block_on(isolate.verify(&forged.unwrap_or_default()));
    assert_eq!(auth_error(refused), Some(AuthError::SignatureInvalid));
    assert_eq!(isolate.fetches(), 1);
}

#[test]
fn another_jwks_url_starts_a_new_cache() {
    let clock = clock();
    let isolate = Isolate::new(&clock, vec![document(&["k1"])]);
    *isolate.slot.0.borrow_mut() = Some(Remote {
        url: "https://old.example.com/jwks".to_owned(),
        keys: KeySet::default(),
        state: RemoteState {
            fetched_ms: Some(T0),
            attempted_ms: Some(T0),
            in_flight_since: None,
        },
        ttl_ms: None,
    });
    assert!(block_on(isolate.verify(&token("k1"))).is_ok());
    assert_eq!(isolate.fetches(), 1);
}

#[test]
fn remote_keys_over_the_set_limit_are_a_misconfiguration() {
    let clock = clock();
    let kids: Vec<String> = (0..jwt::MAX_KEYS).map(|i| format!("r{i}")).collect();
    let refs: Vec<&str> = kids.iter().map(String::as_str).collect();
    let isolate = Isolate::new(&clock, vec![document(&refs)]);
    let local = local_set(&["local"]);
    let verifier = isolate.verifier();
    let result =
        block_on(verifier.verify(&token("r1"), &local, Some(&remote()), &policy(), T0 / 1000));
    assert!(matches!(
        result,
        Err(Error::Common(CommonError::Misconfigured("JWT_JWKS_URL")))
    ));
}

fn with_cache_control(kids: &[&str], header: &'static str) -> Answer {
    Answer::Document {
        body: jwks(kids),
        polls: 0,
        cache_control: Some(header),
    }
}

#[test]
fn the_providers_max_age_replaces_the_configured_ttl() {
    let clock = clock();
    let isolate = Isolate::new(
        &clock,
        vec![with_cache_control(&["k1"], "public, max-age=3600")],
    );
    isolate.warm_up(TTL_MS + 1_000);
    assert!(block_on(isolate.verify(&token("k1"))).is_ok());
    assert_eq!(
        isolate.fetches(),
        1,
        "still fresh: max-age 3600 s > the 600 s TTL"
    );
    clock.advance(3_600_000);
    assert!(block_on(isolate.verify(&token("k1"))).is_ok());
    assert_eq!(isolate.fetches(), 2, "stale after max-age");
}

#[test]
fn max_age_is_clamped_to_a_minute_and_a_day() {
    for (header, fresh_at, stale_at) in [
        ("max-age=0", 59_000, 61_000),
        ("no-store", 59_000, 61_000),
        ("max-age=31536000", 86_399_000, 86_401_000),
    ] {
        let clock = clock();
        let isolate = Isolate::new(&clock, vec![with_cache_control(&["k1"], header)]);
        isolate.warm_up(fresh_at);
        assert!(block_on(isolate.verify(&token("k1"))).is_ok());
        assert_eq!(isolate.fetches(), 1, "{header}: fresh at {fresh_at} ms");
        clock.advance(stale_at - fresh_at);
        assert!(block_on(isolate.verify(&token("k1"))).is_ok());
        assert_eq!(isolate.fetches(), 2, "{header}: stale at {stale_at} ms");
    }
}

#[test]
fn a_failed_refresh_keeps_the_last_max_age_until_one_succeeds() {
    let clock = clock();
    let isolate = Isolate::new(
        &clock,
        vec![
            with_cache_control(&["k1"], "max-age=120"),
            Answer::Down,
            document(&["k1"]),
        ],
    );
    isolate.warm_up(121_000);
    // Stale: the refresh fails, the last good keys verify.
    assert!(block_on(isolate.verify(&token("k1"))).is_ok());
    assert_eq!(isolate.idp.failures.borrow().len(), 1);
    clock.advance(2_000);
    assert!(block_on(isolate.verify(&token("k1"))).is_ok());
    assert_eq!(isolate.fetches(), 3, "retried and refreshed");
    // No header this time: the configured TTL applies again.
    clock.advance(TTL_MS - 1_000);
    assert!(block_on(isolate.verify(&token("k1"))).is_ok());
    assert_eq!(isolate.fetches(), 3);
}

#[test]
fn unusable_keys_are_skipped_by_name_and_the_others_work() {
    let mut doc: serde_json::Value = serde_json::from_str(&jwks(&["k1"])).expect("jwks");
    let keys = doc["keys"].as_array_mut().expect("keys");
    keys.insert(
        0,
        json!({"kty":"EC","crv":"secp256k1","kid":"btc","x":b64url(&[1; 32]),"y":b64url(&[2; 32])}),
    );
    keys.insert(
        1,
        json!({"kty":"RSA","kid":"weak","use":"sig","n":b64url(&[0xc5; 64]),"e":"AQAB"}),
    );
    keys.push(json!({"kty":"OKP","crv":"X25519","kid":"dh","use":"enc","x":b64url(&[3; 32])}));
    keys.push(json!({"kty":"oct","kid":"hs","k":b64url(&[7; 32])}));
    let clock = clock();
    let isolate = Isolate::new(
        &clock,
        vec![Answer::Document {
            body: doc.to_string(),
            polls: 0,
            cache_control: None,
        }],
    );
    assert!(block_on(isolate.verify(&token("k1"))).is_ok());
    assert_eq!(
        *isolate.idp.skips.borrow(),
        [
            "btc: unsupported curve \"secp256k1\"",
            "weak: rsa modulus of 512 bits",
            "dh: use is \"enc\", not \"sig\"",
            "hs: symmetric key in a published document",
        ]
    );
    assert!(
        isolate.idp.failures.borrow().is_empty(),
        "not a failed fetch"
    );
    assert_eq!(
        auth_error(block_on(isolate.verify(&token("weak")))),
        Some(AuthError::UnknownKey)
    );
}

/// An EdDSA token without `kid`.
fn token_without_kid() -> String {
    token_with(json!({ "alg": "EdDSA", "typ": "JWT" }))
}

#[test]
fn a_token_without_kid_works_against_a_one_key_set_only() {
    let clock = clock();
    let one = Isolate::new(&clock, vec![document(&["only"])]);
    assert!(block_on(one.verify(&token_without_kid())).is_ok());
    let two = Isolate::new(&clock, vec![document(&["a", "b"])]);
    assert_eq!(
        auth_error(block_on(two.verify(&token_without_kid()))),
        Some(AuthError::UnknownKey)
    );
    assert_eq!(two.fetches(), 1, "no kid: nothing a refresh could find");
}
