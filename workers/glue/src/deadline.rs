//! A JS promise raced against a deadline, natively.
//!
//! The runtime's `scheduler.wait(ms)` is a promise that resolves after `ms` with no
//! callback into wasm, and `Promise.race` settles with whichever comes first: one promise
//! awaited from Rust instead of a `worker::Delay` (a wasm closure, `setTimeout` and
//! `clearTimeout`) selected against a second future. The deadline covers only the promise
//! raced (the response headers of a fetch, a body read), never what follows it: a
//! response body keeps streaming past it, unlike `AbortSignal.timeout` given to `fetch`,
//! which workerd also applies to the body (measured; see DESIGN.md, "Requests between hops").

use std::cell::OnceCell;
use std::time::Duration;

use futures::future::{Either, select};
use worker::Delay;
use worker::js_sys::{Array, Function, Promise};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

/// How a raced promise settled.
#[derive(Debug)]
pub enum Raced {
    /// It resolved first, with this value.
    Resolved(JsValue),
    /// It rejected first, with this reason.
    Rejected(JsValue),
    /// The deadline passed first.
    TimedOut,
}

thread_local! {
    /// `scheduler` and its `wait`, looked up once per isolate (`None`: not this runtime).
    static WAIT: OnceCell<Option<(JsValue, Function)>> = const { OnceCell::new() };
}

/// A promise resolving with `undefined` after `ms`, from `scheduler.wait`, or `None` where
/// the runtime has no `scheduler.wait`.
fn native_wait(ms: u64) -> Option<Promise> {
    WAIT.with(|cell| {
        let (scheduler, wait) = cell
            .get_or_init(|| crate::global_method("scheduler", "wait"))
            .as_ref()?;
        // Every deadline a var allows (at most 300000 ms) fits.
        let ms = JsValue::from_f64(f64::from(u32::try_from(ms).unwrap_or(u32::MAX)));
        wait.call1(scheduler, &ms).ok()?.dyn_into::<Promise>().ok()
    })
}

/// Awaits `promise` for at most `ms` milliseconds.
pub async fn race(promise: Promise, ms: u64) -> Raced {
    // The deadline resolves with `undefined`; nothing raced here resolves with it (a
    // Response, an ArrayBuffer), so `undefined` means the deadline won.
    if let Some(wait) = native_wait(ms) {
        return match JsFuture::from(Promise::race(&Array::of2(&promise, &wait))).await {
            Ok(v) if v.is_undefined() => Raced::TimedOut,
            Ok(v) => Raced::Resolved(v),
            Err(e) => Raced::Rejected(e),
        };
    }
    let timer = Delay::from(Duration::from_millis(ms));
    match select(JsFuture::from(promise), timer).await {
        Either::Left((Ok(v), _)) => Raced::Resolved(v),
        Either::Left((Err(e), _)) => Raced::Rejected(e),
        Either::Right(((), _)) => Raced::TimedOut,
    }
}
