//! chat-webhook's configuration, from wrangler vars and secrets, parsed once per isolate
//! (`edge_glue::config::once_per_isolate`: vars cannot change while an isolate lives).

use std::rc::Rc;

use edge_core::auth::rate_limit::{MAX_LIMIT, MAX_WINDOW_S, RateLimitPolicy};
use edge_core::chat::completion::ModelSpec;
use edge_core::chat::quota;
use edge_core::error::CommonError;
use edge_core::routing::breaker::BreakerConfig;
use edge_glue::config;
use worker::Env;

/// One AI provider (OpenAI-compatible chat completions).
#[derive(Debug, Clone)]
pub(crate) struct Provider {
    /// Its name in messages and analytics (`deepseek`, `openrouter`).
    pub(crate) name: String,
    /// Base URL; requests go to `<base>/chat/completions`.
    pub(crate) base_url: String,
    pub(crate) model: String,
    pub(crate) max_tokens: u32,
    pub(crate) timeout_ms: u64,
    /// `None`: no key configured, so the provider is skipped.
    pub(crate) api_key: Option<String>,
}

/// The AI provider chain, shared by the LINE and Discord bots.
pub(crate) struct AiSettings {
    /// Primary first, then the fallback.
    pub(crate) providers: Vec<Provider>,
    pub(crate) breaker: BreakerConfig,
    pub(crate) history: usize,
    pub(crate) cache_ttl_s: u64,
    /// Paid AI calls per user and channel per window.
    pub(crate) quota: RateLimitPolicy,
}

/// Everything the LINE bot needs.
pub(crate) struct Settings {
    pub(crate) line_secret: String,
    pub(crate) line_token: String,
    pub(crate) line_api: String,
    pub(crate) line_timeout_ms: u64,
    pub(crate) ai: Rc<AiSettings>,
}

thread_local! {
    static AI: config::IsolateCell<AiSettings> = const { config::IsolateCell::new() };
    static LINE: config::IsolateCell<Settings> = const { config::IsolateCell::new() };
}

/// The var names of one provider.
struct ProviderVars {
    name: &'static str,
    base_url: &'static str,
    model: &'static str,
    max_tokens: &'static str,
    timeout_ms: &'static str,
    api_key: &'static str,
}

const PRIMARY: ProviderVars = ProviderVars {
    name: "AI_PRIMARY_NAME",
    base_url: "AI_PRIMARY_BASE_URL",
    model: "AI_PRIMARY_MODEL",
    max_tokens: "AI_PRIMARY_MAX_TOKENS",
    timeout_ms: "AI_PRIMARY_TIMEOUT_MS",
    api_key: "AI_PRIMARY_API_KEY",
};

const FALLBACK: ProviderVars = ProviderVars {
    name: "AI_FALLBACK_NAME",
    base_url: "AI_FALLBACK_BASE_URL",
    model: "AI_FALLBACK_MODEL",
    max_tokens: "AI_FALLBACK_MAX_TOKENS",
    timeout_ms: "AI_FALLBACK_TIMEOUT_MS",
    api_key: "AI_FALLBACK_API_KEY",
};

/// A provider, or `None` when its base URL is not set.
fn provider(
    env: &Env,
    vars: &ProviderVars,
    default_name: &str,
) -> Result<Option<Provider>, CommonError> {
    if config::optional_var(env, vars.base_url).is_none() {
        return Ok(None);
    }
    Ok(Some(Provider {
        name: config::text_var(env, vars.name, default_name),
        base_url: config::base_url(env, vars.base_url)?,
        model: config::required_string(env, vars.model)?,
        max_tokens: positive_u32(env, vars.max_tokens, 800, 32_000)?,
        timeout_ms: config::u64_var(env, vars.timeout_ms, 8_000, 100..=60_000)?,
        api_key: env
            .secret(vars.api_key)
            .ok()
            .map(|s| s.to_string())
            .filter(|k| !k.is_empty()),
    }))
}

/// A var in `1..=max`, or `default` when absent.
fn positive_u32(env: &Env, name: &'static str, default: u32, max: u32) -> Result<u32, CommonError> {
    let v = config::u64_var(env, name, default.into(), 1..=max.into())?;
    u32::try_from(v).map_err(|_| CommonError::Misconfigured(name))
}

impl AiSettings {
    /// The provider chain's settings of this isolate, parsed on first use.
    ///
    /// # Errors
    /// [`CommonError::Misconfigured`] naming the first malformed setting.
    pub(crate) fn load(env: &Env) -> Result<Rc<Self>, CommonError> {
        config::once_per_isolate(&AI, env, Self::parse)
    }

    fn parse(env: &Env) -> Result<Self, CommonError> {
        let providers = [
            provider(env, &PRIMARY, "primary")?,
            provider(env, &FALLBACK, "fallback")?,
        ]
        .into_iter()
        .flatten()
        .collect();
        Ok(Self {
            providers,
            breaker: config::breaker(
                env,
                &config::BreakerVars {
                    failures: "AI_BREAKER_FAILURES",
                    recovery_ms: "AI_BREAKER_RECOVERY_MS",
                    // The provider's timeout bounds an answer's time instead.
                    slow_ms: None,
                },
            )?,
            history: usize::try_from(config::u64_var(env, "AI_HISTORY_MESSAGES", 10, 0..=50)?)
                .unwrap_or(10),
            cache_ttl_s: config::u64_var(env, "AI_CACHE_TTL_S", 3_600, 60..=604_800)?,
            quota: RateLimitPolicy::new(
                positive_u32(env, "AI_USER_QUOTA", quota::DEFAULT_LIMIT, MAX_LIMIT)?,
                positive_u32(
                    env,
                    "AI_USER_QUOTA_WINDOW_S",
                    quota::DEFAULT_WINDOW_S,
                    MAX_WINDOW_S,
                )?,
            )
            .ok_or(CommonError::Misconfigured("AI_USER_QUOTA"))?,
        })
    }

    /// The chain's settings that shape an answer, for the cache key.
    pub(crate) fn models(&self) -> Vec<ModelSpec<'_>> {
        self.providers
            .iter()
            .map(|p| ModelSpec {
                provider: &p.name,
                base_url: &p.base_url,
                model: &p.model,
                max_tokens: p.max_tokens,
            })
            .collect()
    }
}

impl Settings {
    /// An upper bound on handling one event: every AI provider and three LINE calls (profile,
    /// reply, push) timing out, plus 30 s for D1. A claim older than this belongs to a
    /// consumer that died.
    pub(crate) fn handling_bound_ms(&self) -> u64 {
        let ai: u64 = self.ai.providers.iter().map(|p| p.timeout_ms).sum();
        ai + 3 * self.line_timeout_ms + 30_000
    }

    /// The LINE bot's settings of this isolate, parsed on first use.
    ///
    /// # Errors
    /// [`CommonError::Misconfigured`] naming the first missing or malformed setting.
    pub(crate) fn load(env: &Env) -> Result<Rc<Self>, CommonError> {
        config::once_per_isolate(&LINE, env, Self::parse)
    }

    fn parse(env: &Env) -> Result<Self, CommonError> {
        Ok(Self {
            line_secret: config::required_string(env, "LINE_CHANNEL_SECRET")?,
            line_token: config::required_string(env, "LINE_CHANNEL_ACCESS_TOKEN")?,
            line_api: match config::optional_var(env, "LINE_API_BASE_URL") {
                Some(_) => config::base_url(env, "LINE_API_BASE_URL")?,
                None => "https://api.line.me".to_owned(),
            },
            line_timeout_ms: config::u64_var(env, "LINE_TIMEOUT_MS", 5_000, 100..=60_000)?,
            ai: AiSettings::load(env)?,
        })
    }
}
