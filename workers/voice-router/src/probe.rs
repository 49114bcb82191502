//! The scheduled health probe: every region's `HEALTH_PROBE_PATH` (default `/health`),
//! concurrently, each bounded by 5 s; the results feed the breakers like real traffic.
//! Health is never probed on the request path.

use edge_core::routing::breaker::Observation;
use edge_glue::{hop, now_ms};
use futures::future::join_all;
use worker::{Env, Method, Request, RequestInit, console_warn};

use crate::runtime;
use crate::settings::Settings;

/// Longest a probe may take, ms.
const PROBE_TIMEOUT_MS: u64 = 5_000;

/// Probes every region once and records the results.
pub(crate) async fn run(env: &Env) {
    let settings = match Settings::load(env) {
        Ok(s) => s,
        Err(e) => {
            console_warn!("health probe skipped: {e}");
            return;
        }
    };
    let probes = settings.table.regions().iter().map(|region| {
        let url = format!("{}{}", region.endpoint, settings.probe_path);
        async move {
            let started = now_ms();
            let mut init = RequestInit::new();
            init.with_method(Method::Get);
            let ok = match Request::new_with_init(&url, &init) {
                Ok(req) => hop::call_origin(req.inner(), PROBE_TIMEOUT_MS)
                    .await
                    .is_ok_and(|r| (200..400).contains(&r.status_code())),
                Err(_) => false,
            };
            let observation = if ok {
                Observation::Answered {
                    latency_ms: now_ms().saturating_sub(started) as f64,
                }
            } else {
                Observation::Failed
            };
            (region.id.clone(), observation)
        }
    });
    let observations = join_all(probes).await;
    runtime::health(env)
        .record_all(observations, settings.breaker)
        .await;
}
