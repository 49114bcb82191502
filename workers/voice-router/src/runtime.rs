//! The runtime behind [`crate::failover`] and [`crate::region_health`]: the regional
//! origins by `fetch`, region health in KV and in this isolate's memory, the runtime's
//! clock.

use std::cell::RefCell;

use edge_core::error::CommonError;
use edge_core::routing::classify::RequestClass;
use edge_core::routing::table::Region;
use edge_glue::Incoming;
use edge_glue::boundary::HeaderLines;
use edge_glue::hop::{self, Destination};
use edge_glue::{Hop, now_ms};
use worker::{Env, Url, console_warn, web_sys};

use crate::failover::{Clock, Origin};
use crate::region_health::{IsolateCopy, Memo, RegionHealth, Store};

/// KV binding of the health map.
const BINDING: &str = "REGION_HEALTH";
/// Its key.
const KEY: &str = "regions";
/// Health older than this is forgotten (the region counts as healthy again), seconds.
const KEEP_S: u64 = 86_400;

/// The runtime's clock.
pub(crate) struct Runtime;

impl Clock for Runtime {
    fn now_ms(&self) -> u64 {
        now_ms()
    }
}

/// The health map in KV.
pub(crate) struct Kv(Env);

impl Store for Kv {
    async fn read(&self) -> Result<Option<String>, String> {
        let kv = self.0.kv(BINDING).map_err(|e| e.to_string())?;
        kv.get(KEY).text().await.map_err(|e| e.to_string())
    }

    async fn write(&self, text: String) -> Result<(), String> {
        let kv = self.0.kv(BINDING).map_err(|e| e.to_string())?;
        kv.put(KEY, text)
            .map_err(|e| e.to_string())?
            .expiration_ttl(KEEP_S)
            .execute()
            .await
            .map_err(|e| e.to_string())
    }

    fn warn(&self, what: &str) {
        console_warn!("{what}");
    }
}

thread_local! {
    static COPY: RefCell<IsolateCopy> = const { RefCell::new(None) };
}

/// This isolate's copy of the health map.
pub(crate) struct Isolate;

impl Memo for Isolate {
    fn with<R>(&self, f: impl FnOnce(&mut IsolateCopy) -> R) -> R {
        COPY.with_borrow_mut(f)
    }
}

/// Region health as the worker keeps it.
pub(crate) fn health(env: &Env) -> RegionHealth<Kv, Isolate, Runtime> {
    RegionHealth {
        store: Kv(env.clone()),
        memo: Isolate,
        clock: Runtime,
    }
}

/// The request, sent to a regional origin with the edge's routing headers:
/// `x-edge-region`, `x-edge-request-class`, `x-edge-priority`, `x-edge-latency-target-ms`,
/// `x-edge-latency-estimate-ms`, `x-edge-cache-strategy`.
pub(crate) struct Fetch<'a> {
    pub(crate) req: &'a Incoming,
    pub(crate) url: &'a Url,
    pub(crate) class: RequestClass,
    pub(crate) timeout_ms: u64,
    pub(crate) hop: &'a Hop,
}

impl Origin for Fetch<'_> {
    type Answer = web_sys::Response;

    async fn send(
        &self,
        region: &Region,
        estimate_ms: Option<f64>,
    ) -> Result<web_sys::Response, CommonError> {
        let (url, class) = (self.url, self.class);
        let target = match url.query() {
            Some(q) => format!("{}{}?{q}", region.endpoint, url.path()),
            None => format!("{}{}", region.endpoint, url.path()),
        };
        let mut lines = HeaderLines::new();
        let mut set = |name: &str, value: &str| lines.push(name, value).map(|_| ());
        set("x-edge-region", &region.id)?;
        set("x-edge-request-class", class.as_str())?;
        set("x-edge-priority", class.priority().as_str())?;
        set(
            "x-edge-latency-target-ms",
            &class.latency_target_ms().to_string(),
        )?;
        set("x-edge-cache-strategy", class.cache_strategy().as_str())?;
        if let Some(ms) = estimate_ms {
            set("x-edge-latency-estimate-ms", &format!("{ms:.0}"))?;
        }
        let fwd = hop::forwarded_request_lines(
            self.req.inner(),
            &target,
            self.hop,
            Destination::Origin,
            lines,
        )
        .map_err(|_| CommonError::Internal)?;
        // The answer is rebuilt by the body watch (`Hop::watch_body`): its headers are
        // copied there, once.
        hop::call_origin_relayed(&fwd, self.timeout_ms).await
    }

    fn status(answer: &web_sys::Response) -> u16 {
        answer.status()
    }
}
