//! Reading configuration from wrangler vars.
//!
//! Every tunable (timeouts, limits, upstream base URLs) is a var so local dev and tests
//! can change it; a var that is present but malformed is a deployment fault, reported as
//! [`CommonError::Misconfigured`] rather than silently replaced by the default.
//!
//! Vars and secrets cannot change during an isolate's life (a new deployment or new vars
//! start new isolates), so a worker parses its settings once per isolate with
//! [`once_per_isolate`] instead of on every request; a malformed var keeps answering the
//! same `misconfigured` error naming it.

use std::cell::OnceCell;
use std::rc::Rc;
use std::thread::LocalKey;

use edge_core::error::CommonError;
use worker::Env;

/// Where [`once_per_isolate`] keeps a worker's parsed settings (or the error they gave):
/// declare one with `thread_local!` and `OnceCell::new()`.
pub type IsolateCell<T> = OnceCell<Result<Rc<T>, CommonError>>;

/// The value `load` parses from `env`, computed on the isolate's first call and shared by
/// every later one (an error included: vars do not change while the isolate lives).
///
/// # Errors
/// The error `load` gave, typically [`CommonError::Misconfigured`] naming a var.
pub fn once_per_isolate<T: 'static>(
    cell: &'static LocalKey<IsolateCell<T>>,
    env: &Env,
    load: impl FnOnce(&Env) -> Result<T, CommonError>,
) -> Result<Rc<T>, CommonError> {
    cell.with(|c| c.get_or_init(|| load(env).map(Rc::new)).clone())
}

/// Gives each settings struct named (each has `fn parse(&Env) -> Result<Self,
/// CommonError>`) its per-isolate cell and `pub(crate) fn load(env)`: parsed on the
/// isolate's first request through [`once_per_isolate`], shared afterwards.
#[macro_export]
macro_rules! settings_per_isolate {
    ($($name:ident),+ $(,)?) => {$(
        impl $name {
            /// The settings of this isolate, parsed on its first request.
            pub(crate) fn load(
                env: &$crate::config::__private::Env,
            ) -> ::core::result::Result<::std::rc::Rc<Self>, $crate::config::__private::CommonError>
            {
                // One cell per type: declared in this function, so several settings types of
                // one module each get their own.
                thread_local! {
                    static SETTINGS: $crate::config::IsolateCell<$name> =
                        const { $crate::config::IsolateCell::new() };
                }
                $crate::config::once_per_isolate(&SETTINGS, env, Self::parse)
            }
        }
    )+};
}

#[doc(hidden)]
pub mod __private {
    pub use edge_core::error::CommonError;
    pub use worker::Env;
}

/// Reads an unsigned integer var, or `default` when the var is absent.
///
/// # Errors
/// [`CommonError::Misconfigured`] when the var is set but not a decimal integer in `range`.
pub fn u64_var(
    env: &Env,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, CommonError> {
    match env.var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .to_string()
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or(CommonError::Misconfigured(name)),
    }
}

/// Reads a var's text, or `default` when the var is absent.
#[must_use]
pub fn text_var(env: &Env, name: &str, default: &str) -> String {
    env.var(name)
        .map_or_else(|_| default.to_owned(), |v| v.to_string())
}

/// Reads a var's text, or `None` when it is absent or blank.
#[must_use]
pub fn optional_var(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .filter(|s| !s.trim().is_empty())
}

/// Reads a comma-separated list var (`edge_core::list`: items trimmed, empty ones
/// dropped); an absent or blank var is the empty list.
#[must_use]
pub fn list_var(env: &Env, name: &str) -> Vec<String> {
    optional_var(env, name).map_or_else(Vec::new, |v| edge_core::list::owned_items(&v))
}

/// Reads a required string var or secret.
///
/// # Errors
/// [`CommonError::Misconfigured`] when neither a secret nor a var of that name exists, or it is empty.
pub fn required_string(env: &Env, name: &'static str) -> Result<String, CommonError> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or(CommonError::Misconfigured(name))
}

/// Reads a required absolute `http://` or `https://` base URL var, without a trailing slash.
///
/// # Errors
/// [`CommonError::Misconfigured`] when absent or not an http(s) URL.
pub fn base_url(env: &Env, name: &'static str) -> Result<String, CommonError> {
    http_base(&required_string(env, name)?).ok_or(CommonError::Misconfigured(name))
}

/// `raw` without its trailing slashes when it is an absolute `http(s)` URL with a host.
/// Hosts must be ASCII: an internationalised name is written in its punycode form
/// (`xn--…`; the build has no Unicode IDNA tables, DESIGN.md "ASCII hosts only").
fn http_base(raw: &str) -> Option<String> {
    let url = worker::Url::parse(raw).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
        .then(|| raw.trim_end_matches('/').to_owned())
}

/// The var names of one circuit breaker's thresholds.
pub struct BreakerVars {
    /// Consecutive failures that open it (1..=100).
    pub failures: &'static str,
    /// How long it stays open, ms (100..=3600000).
    pub recovery_ms: &'static str,
    /// Answers slower than this count as failures, ms (1..=300000); `None`: only failures
    /// count (the caller's own timeout bounds slowness).
    pub slow_ms: Option<&'static str>,
}

/// A breaker configuration from vars, each defaulting to `BreakerConfig::default()`.
///
/// # Errors
/// [`CommonError::Misconfigured`] naming a var that is set but malformed.
pub fn breaker(
    env: &Env,
    vars: &BreakerVars,
) -> Result<edge_core::routing::breaker::BreakerConfig, CommonError> {
    let defaults = edge_core::routing::breaker::BreakerConfig::default();
    let failures = u64_var(
        env,
        vars.failures,
        u64::from(defaults.failure_threshold),
        1..=100,
    )?;
    Ok(edge_core::routing::breaker::BreakerConfig {
        failure_threshold: u32::try_from(failures).unwrap_or(defaults.failure_threshold),
        recovery_ms: u64_var(env, vars.recovery_ms, defaults.recovery_ms, 100..=3_600_000)?,
        slow_ms: match vars.slow_ms {
            Some(name) => u64_var(env, name, defaults.slow_ms, 1..=300_000)?,
            None => u64::MAX / 2,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::http_base;

    #[test]
    fn a_base_url_is_an_absolute_http_url_with_a_host() {
        assert_eq!(
            http_base("https://api.example/v1/").as_deref(),
            Some("https://api.example/v1")
        );
        assert_eq!(
            http_base("http://127.0.0.1:8787").as_deref(),
            Some("http://127.0.0.1:8787")
        );
        assert_eq!(http_base("ftp://files.example/"), None);
        assert_eq!(http_base("/relative"), None);
        assert_eq!(http_base("https://"), None);
    }

    /// The build pins the url crate's no-Unicode IDNA back end (workspace Cargo.toml): an
    /// internationalised host is refused as written and accepted in its punycode form. If
    /// this fails, the pin is gone and every wasm carries ~106 KB of Unicode tables again.
    #[test]
    fn hosts_are_ascii_an_internationalised_name_is_written_as_punycode() {
        assert_eq!(http_base("https://bücher.example/"), None);
        assert_eq!(
            http_base("https://xn--bcher-kva.example/").as_deref(),
            Some("https://xn--bcher-kva.example")
        );
        let url = worker::Url::parse("https://API.Example/x").expect("an ASCII host parses");
        assert_eq!(url.host_str(), Some("api.example"));
    }
}
