//! The cache in front of voice-router: [`flow`] bound to the runtime ([`runtime`], [`store`]).
//!
//! Every response carries `X-Cache: HIT | MISS | STALE | REVALIDATED | BYPASS` (the
//! [`CacheOutcome`], also the hop's decision), and every response served from a stored
//! entry carries `Age`.

use edge_core::cache::CacheOutcome;
use edge_core::cache::range::Part;
use edge_core::cache::{decide, directives};
use edge_core::error::WithHeaders;
use edge_glue::boundary::{self, HeaderEdits};
use edge_glue::{Hop, Reply};
use worker::{Env, Headers, Response};

use crate::coalesce::Flights;
use crate::error::Error;
use crate::flow::{Answer, Cache, Entry, Incoming, Refusal, Served};
use crate::hit_for_pass::Passes;
use crate::ranged;
use crate::runtime::{Router, RuntimeClock};
use crate::settings::Settings;
use crate::store;

/// Answers `req` through the cache.
pub(crate) async fn handle(req: edge_glue::Incoming, env: &Env, hop: &Hop) -> Result<Reply, Error> {
    let settings =
        Settings::load(env).map_err(|e| failed(hop, CacheOutcome::Bypass, Box::new(e)))?;
    let url = req.url()?;
    let incoming = Incoming {
        // The raw method: worker::Method turns methods it does not know into GET.
        method: req.inner().method(),
        path: url.path().to_owned(),
        query: url.query().map(str::to_owned),
        headers: boundary::entry_pairs(req.headers()),
        origin: url.origin().ascii_serialization(),
    };
    let policy = settings.policies.for_path(&incoming.path);
    let cache = Cache {
        store: store::tiered(env),
        origin: Router {
            req,
            env: env.clone(),
            hop: hop.clone(),
            timeout_ms: settings.timeout_ms,
        },
        clock: RuntimeClock,
        background: hop.clone(),
        flights: Flights::isolate(),
        passes: Passes::isolate(),
        max_entry_bytes: settings.max_entry_bytes,
        timeout_ms: settings.timeout_ms,
        set_cookie: settings.set_cookie,
    };
    let Served {
        outcome,
        answer,
        part,
    } = cache.answer(&incoming, policy).await?;
    let resp = match answer {
        Answer::Entry { entry, age_s } => {
            Reply::Built(entry_response(&incoming, &entry, age_s, part)?)
        }
        // voice-router's answer, its own error responses included, relayed as it is (its
        // headers were copied where it arrived: `hop::relay_service`).
        Answer::Relay(resp) => Reply::Relayed(resp),
        Answer::Failed(e) => return Err(failed(hop, outcome, e)),
    };
    hop.decide(outcome.decision());
    // One crossing: `x-cache`, and the directives targeted at this cache only removed
    // (RFC 9213; entries already leave them out).
    let mut edits = HeaderEdits::default();
    for name in directives::NOT_FORWARDED {
        edits.remove(name)?;
    }
    edits.set.push("x-cache", outcome.header())?;
    edits.apply(&resp.headers())?;
    Ok(resp)
}

/// The response from `entry` (see `decide::entry_response`), cut to `part` (`ranged`).
fn entry_response(
    incoming: &Incoming,
    entry: &Entry,
    age_s: u64,
    part: Part,
) -> worker::Result<Response> {
    let served = decide::entry_response(&incoming.facts(), &entry.meta, age_s);
    let (status, served_headers, body) =
        ranged::cut(part, served.status, served.headers, &entry.body);
    let headers = Headers::new();
    for (name, value) in &served_headers {
        headers.append(name, value)?;
    }
    let resp = if served.with_body {
        Response::from_bytes(body.to_vec())?
    } else {
        Response::empty()?
    };
    Ok(resp.with_status(status).with_headers(headers))
}

/// `error`, answered with the cache's `X-Cache` (e.g. `MISS` on an origin timeout) and
/// recorded as its outcome.
fn failed(hop: &Hop, outcome: CacheOutcome, error: Refusal) -> Error {
    hop.decide(outcome.decision());
    WithHeaders {
        error,
        extra: vec![("x-cache", outcome.header().to_owned())],
    }
    .into()
}
