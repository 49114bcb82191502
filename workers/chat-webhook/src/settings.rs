//! chat-webhook's configuration, from wrangler vars and secrets: [`LineSettings`] (the LINE
//! webhook and its queue consumer), [`DiscordSettings`] and [`AiSettings`] (the provider
//! chain both bots share) and [`WebChatSettings`] (the web support chat). Each is parsed once per isolate on first use
//! (`edge_glue::config::once_per_isolate`: vars cannot change while an isolate lives), so an
//! unconfigured bot does not break the other; every default is here, none repeated in the
//! wrangler file, and a misconfiguration names its var. (Vars the glue reads itself —
//! `BODY_TIMEOUT_MS`, `HEALTH_TIMEOUT_MS`, `ADMIN_SECRET`, `ADMIN_AUTH_FAILURE_LIMIT`,
//! `METRICS_FLUSH_MS` — are parsed there.)

use std::rc::Rc;

use edge_core::auth::rate_limit::{MAX_LIMIT, MAX_WINDOW_S, RateLimitPolicy};
use edge_core::chat::chart::Theme;
use edge_core::chat::completion::ModelSpec;
use edge_core::chat::discord::signature::{self, DEFAULT_WINDOW_S};
use edge_core::chat::langserve::InputShape;
use edge_core::chat::quota;
use edge_core::chat::voice::{self, AudioLimits};
use edge_core::chat::web::limits::{Limits, Timers};
use edge_core::chat::web::memory::MemoryPolicy;
use edge_core::error::CommonError;
use edge_core::routing::breaker::BreakerConfig;
use edge_core::sig::VerifyKey;
use edge_glue::config;
use worker::Env;

/// What protocol a provider speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProviderKind {
    /// OpenAI-compatible chat completions: `POST <base>/chat/completions`.
    OpenAi,
    /// A LangServe route: `POST <base>/invoke` (and `/stream`), its input in this shape.
    LangServe(InputShape),
}

/// A Cloudflare Access service token, sent as `CF-Access-Client-Id` /
/// `CF-Access-Client-Secret` to its provider only.
#[derive(Clone)]
pub(crate) struct AccessToken {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

/// The credentials a provider is called with (what [`Provider::credentials`] allows).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Credentials<'a> {
    pub(crate) api_key: Option<&'a str>,
    pub(crate) access: Option<&'a AccessToken>,
}

/// One AI provider.
#[derive(Debug, Clone)]
pub(crate) struct Provider {
    /// Its name in messages and analytics (`deepseek`, `openrouter`, `ayaka`).
    pub(crate) name: String,
    /// Its protocol (`AI_*_KIND`).
    pub(crate) kind: ProviderKind,
    /// Base URL; requests go to `<base>/chat/completions` or `<base>/invoke`.
    pub(crate) base_url: String,
    pub(crate) model: String,
    /// What the answer cache keys on for the model: the model, and for LangServe its kind
    /// and input shape (`<model> langserve:<shape>`), which shape the answer too.
    pub(crate) spec_model: String,
    pub(crate) max_tokens: u32,
    pub(crate) timeout_ms: u64,
    /// `None`: no key configured (an OpenAI-compatible provider is then skipped; a LangServe
    /// one is called without `Authorization`).
    pub(crate) api_key: Option<String>,
    /// `None`: no Access service token (an open or loopback LangServe).
    pub(crate) access: Option<AccessToken>,
    /// Only one of the Access id and secret is set: the provider is skipped (it would only
    /// be refused).
    pub(crate) access_incomplete: bool,
    /// The var names of its credentials, for logs (never their values).
    pub(crate) vars: &'static ProviderVars,
}

impl Provider {
    /// What the provider is called with, or the outcome of skipping it: an
    /// OpenAI-compatible provider needs its API key (`no_api_key`); a LangServe one needs
    /// nothing, but both halves of an Access token when it has one (`no_access_token`).
    pub(crate) fn credentials(&self) -> Result<Credentials<'_>, &'static str> {
        let creds = Credentials {
            api_key: self.api_key.as_deref(),
            access: self.access.as_ref(),
        };
        match self.kind {
            ProviderKind::OpenAi if creds.api_key.is_none() => Err("no_api_key"),
            ProviderKind::LangServe(_) if self.access_incomplete => Err("no_access_token"),
            _ => Ok(creds),
        }
    }

    /// The names of the credentials a refusal (401/403) is about, e.g. `AI_PRIMARY_API_KEY`
    /// or `AI_PRIMARY_ACCESS_CLIENT_ID/SECRET`.
    pub(crate) fn credential_names(&self) -> String {
        let mut names = Vec::new();
        if self.access.is_some() {
            names.push(self.vars.access_pair);
        }
        if self.api_key.is_some() {
            names.push(self.vars.api_key);
        }
        if names.is_empty() {
            format!(
                "none sent (set {} or {})",
                self.vars.access_pair, self.vars.api_key
            )
        } else {
            names.join(" or ")
        }
    }
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

/// Everything the LINE bot needs (the webhook and the queue consumer alike).
pub(crate) struct LineSettings {
    pub(crate) line_secret: String,
    pub(crate) line_token: String,
    pub(crate) line_api: String,
    pub(crate) line_timeout_ms: u64,
    pub(crate) ai: Rc<AiSettings>,
}

/// Everything the Discord bot needs.
pub(crate) struct DiscordSettings {
    /// The application's Ed25519 public key.
    pub(crate) key: VerifyKey,
    /// Accepted skew of a signed timestamp, seconds.
    pub(crate) window_s: u64,
    /// Discord's API base URL (edits of deferred responses).
    pub(crate) api: String,
    pub(crate) timeout_ms: u64,
    /// The market-data API, when configured.
    pub(crate) quote_api: Option<String>,
    pub(crate) quote_key: Option<String>,
    pub(crate) admin_users: Vec<String>,
    pub(crate) admin_roles: Vec<String>,
    /// The tickers autocomplete offers.
    pub(crate) tickers: Vec<String>,
    /// The url of `User-Agent: DiscordBot (<url>, <version>)`; `None`: the endpoint's origin.
    pub(crate) bot_url: Option<String>,
    pub(crate) chart_theme: Theme,
}

edge_glue::settings_per_isolate!(
    AiSettings,
    LineSettings,
    DiscordSettings,
    WebChatSettings,
    ArchiveSettings,
    EscalationSettings,
    ToolSettings,
);

/// The base URL var `name`, or `default` when it is not set.
fn base_url_or(env: &Env, name: &'static str, default: &str) -> Result<String, CommonError> {
    match config::optional_var(env, name) {
        Some(_) => config::base_url(env, name),
        None => Ok(default.to_owned()),
    }
}

/// Secret `name`, or `None` when it is not set or empty.
fn optional_secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .ok()
        .map(|s| s.to_string())
        .filter(|k| !k.is_empty())
}

/// The var names of one provider.
#[derive(Debug)]
pub(crate) struct ProviderVars {
    name: &'static str,
    kind: &'static str,
    base_url: &'static str,
    model: &'static str,
    max_tokens: &'static str,
    timeout_ms: &'static str,
    input: &'static str,
    pub(crate) api_key: &'static str,
    access_id: &'static str,
    access_secret: &'static str,
    /// Both Access secrets' names, as logs name them.
    pub(crate) access_pair: &'static str,
}

pub(crate) const PRIMARY: ProviderVars = ProviderVars {
    name: "AI_PRIMARY_NAME",
    kind: "AI_PRIMARY_KIND",
    base_url: "AI_PRIMARY_BASE_URL",
    model: "AI_PRIMARY_MODEL",
    max_tokens: "AI_PRIMARY_MAX_TOKENS",
    timeout_ms: "AI_PRIMARY_TIMEOUT_MS",
    input: "AI_PRIMARY_LANGSERVE_INPUT",
    api_key: "AI_PRIMARY_API_KEY",
    access_id: "AI_PRIMARY_ACCESS_CLIENT_ID",
    access_secret: "AI_PRIMARY_ACCESS_CLIENT_SECRET",
    access_pair: "AI_PRIMARY_ACCESS_CLIENT_ID/SECRET",
};

pub(crate) const FALLBACK: ProviderVars = ProviderVars {
    name: "AI_FALLBACK_NAME",
    kind: "AI_FALLBACK_KIND",
    base_url: "AI_FALLBACK_BASE_URL",
    model: "AI_FALLBACK_MODEL",
    max_tokens: "AI_FALLBACK_MAX_TOKENS",
    timeout_ms: "AI_FALLBACK_TIMEOUT_MS",
    input: "AI_FALLBACK_LANGSERVE_INPUT",
    api_key: "AI_FALLBACK_API_KEY",
    access_id: "AI_FALLBACK_ACCESS_CLIENT_ID",
    access_secret: "AI_FALLBACK_ACCESS_CLIENT_SECRET",
    access_pair: "AI_FALLBACK_ACCESS_CLIENT_ID/SECRET",
};

/// The kind `AI_*_KIND` names (`openai`, the default, or `langserve`) and, for LangServe,
/// `AI_*_LANGSERVE_INPUT` (`messages`, the default, `string` or `dict:<key>`).
fn provider_kind(
    kind: Option<&str>,
    input: Option<&str>,
    vars: &'static ProviderVars,
) -> Result<ProviderKind, CommonError> {
    match kind.map(str::trim) {
        None | Some("openai") => Ok(ProviderKind::OpenAi),
        Some("langserve") => Ok(ProviderKind::LangServe(match input {
            None => InputShape::Messages,
            Some(raw) => InputShape::parse(raw).ok_or(CommonError::Misconfigured(vars.input))?,
        })),
        Some(_) => Err(CommonError::Misconfigured(vars.kind)),
    }
}

/// A provider, or `None` when its base URL is not set. The model is required of an
/// OpenAI-compatible provider; a LangServe route's chain picks its own (`langserve` in
/// analytics unless `AI_*_MODEL` names it).
fn provider(
    env: &Env,
    vars: &'static ProviderVars,
    default_name: &str,
) -> Result<Option<Provider>, CommonError> {
    if config::optional_var(env, vars.base_url).is_none() {
        return Ok(None);
    }
    let kind = provider_kind(
        config::optional_var(env, vars.kind).as_deref(),
        config::optional_var(env, vars.input).as_deref(),
        vars,
    )?;
    let model = match kind {
        ProviderKind::OpenAi => config::required_string(env, vars.model)?,
        ProviderKind::LangServe(_) => config::text_var(env, vars.model, "langserve"),
    };
    let (id, secret) = (
        optional_secret(env, vars.access_id),
        optional_secret(env, vars.access_secret),
    );
    let access_incomplete = id.is_some() != secret.is_some();
    let spec_model = match &kind {
        ProviderKind::OpenAi => model.clone(),
        ProviderKind::LangServe(shape) => format!("{model} langserve:{}", shape.as_setting()),
    };
    Ok(Some(Provider {
        name: config::text_var(env, vars.name, default_name),
        kind,
        base_url: config::base_url(env, vars.base_url)?,
        model,
        spec_model,
        max_tokens: positive_u32(env, vars.max_tokens, 800, 32_000)?,
        timeout_ms: config::u64_var(env, vars.timeout_ms, 8_000, 100..=60_000)?,
        api_key: optional_secret(env, vars.api_key),
        access: id
            .zip(secret)
            .map(|(client_id, client_secret)| AccessToken {
                client_id,
                client_secret,
            }),
        access_incomplete,
        vars,
    }))
}

/// A var in `1..=max`, or `default` when absent.
fn positive_u32(env: &Env, name: &'static str, default: u32, max: u32) -> Result<u32, CommonError> {
    let v = config::u64_var(env, name, default.into(), 1..=max.into())?;
    u32::try_from(v).map_err(|_| CommonError::Misconfigured(name))
}

impl AiSettings {
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
                .map_err(|_| CommonError::Misconfigured("AI_HISTORY_MESSAGES"))?,
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
                model: &p.spec_model,
                max_tokens: p.max_tokens,
            })
            .collect()
    }
}

impl LineSettings {
    /// An upper bound on handling one event: every AI provider and three LINE calls (profile,
    /// reply, push) timing out, plus 30 s for D1. A claim older than this belongs to a
    /// consumer that died.
    pub(crate) fn handling_bound_ms(&self) -> u64 {
        let ai: u64 = self.ai.providers.iter().map(|p| p.timeout_ms).sum();
        ai + 3 * self.line_timeout_ms + 30_000
    }

    fn parse(env: &Env) -> Result<Self, CommonError> {
        Ok(Self {
            line_secret: config::required_string(env, "LINE_CHANNEL_SECRET")?,
            line_token: config::required_string(env, "LINE_CHANNEL_ACCESS_TOKEN")?,
            line_api: base_url_or(env, "LINE_API_BASE_URL", "https://api.line.me")?,
            line_timeout_ms: config::u64_var(env, "LINE_TIMEOUT_MS", 5_000, 100..=60_000)?,
            ai: AiSettings::load(env)?,
        })
    }
}

impl DiscordSettings {
    fn parse(env: &Env) -> Result<Self, CommonError> {
        let key = config::required_string(env, "DISCORD_PUBLIC_KEY")?;
        Ok(Self {
            key: signature::public_key(&key)
                .ok_or(CommonError::Misconfigured("DISCORD_PUBLIC_KEY"))?,
            window_s: config::u64_var(
                env,
                "DISCORD_TIMESTAMP_WINDOW_S",
                DEFAULT_WINDOW_S,
                1..=3600,
            )?,
            api: base_url_or(env, "DISCORD_API_BASE_URL", "https://discord.com/api/v10")?,
            timeout_ms: config::u64_var(env, "DISCORD_TIMEOUT_MS", 5_000, 100..=60_000)?,
            quote_api: match config::optional_var(env, "QUOTE_API_BASE_URL") {
                Some(_) => Some(config::base_url(env, "QUOTE_API_BASE_URL")?),
                None => None,
            },
            quote_key: optional_secret(env, "QUOTE_API_KEY"),
            admin_users: config::list_var(env, "DISCORD_ADMIN_USER_IDS"),
            admin_roles: config::list_var(env, "DISCORD_ADMIN_ROLE_IDS"),
            tickers: config::list_var(env, "DISCORD_TICKERS"),
            bot_url: config::optional_var(env, "DISCORD_BOT_URL"),
            chart_theme: match config::optional_var(env, "DISCORD_CHART_THEME") {
                Some(t) => {
                    Theme::parse(&t).ok_or(CommonError::Misconfigured("DISCORD_CHART_THEME"))?
                }
                None => Theme::default(),
            },
        })
    }
}

/// The web support chat (`/chat/v1/...` and the `ChatSession` objects).
pub(crate) struct WebChatSettings {
    /// Signs session tokens (`CHAT_TOKEN_SECRET`, at least 32 characters).
    pub(crate) token_secret: String,
    /// How long a session token is valid, seconds.
    pub(crate) token_ttl_s: u64,
    /// Idle end and storage deletion.
    pub(crate) timers: Timers,
    /// Length, per-minute and per-hour-token limits of one session.
    pub(crate) limits: Limits,
    /// Messages per minute from one client address (all its sessions).
    pub(crate) ip_per_minute: RateLimitPolicy,
    /// Live sessions one client address may hold at once (`CHAT_SESSIONS_PER_IP`).
    pub(crate) sessions_per_ip: u32,
    /// Sessions one client address may create per idle period, live or not
    /// (`CHAT_SESSION_CREATES_PER_IP`): bounds a create-and-DELETE loop, which the live
    /// count alone does not.
    pub(crate) creates_per_ip: RateLimitPolicy,
    /// What the model sees.
    pub(crate) memory: MemoryPolicy,
    /// The provider chain.
    pub(crate) ai: Rc<AiSettings>,
}

/// Shortest accepted `CHAT_TOKEN_SECRET`.
const MIN_TOKEN_SECRET_CHARS: usize = 32;

impl WebChatSettings {
    fn parse(env: &Env) -> Result<Self, CommonError> {
        let token_secret = config::required_string(env, "CHAT_TOKEN_SECRET")?;
        if token_secret.chars().count() < MIN_TOKEN_SECRET_CHARS {
            return Err(CommonError::Misconfigured("CHAT_TOKEN_SECRET"));
        }
        // Seconds overrides (tests and demos) win over the minute/day settings.
        let idle_s = match config::optional_var(env, "CHAT_IDLE_S") {
            Some(_) => config::u64_var(env, "CHAT_IDLE_S", 0, 1..=86_400)?,
            None => 60 * config::u64_var(env, "CHAT_IDLE_MINUTES", 30, 1..=1_440)?,
        };
        let retention_s = match config::optional_var(env, "CHAT_RETENTION_S") {
            Some(_) => config::u64_var(env, "CHAT_RETENTION_S", 0, 1..=31_536_000)?,
            None => 86_400 * config::u64_var(env, "CHAT_RETENTION_DAYS", 7, 1..=365)?,
        };
        let usize_var = |name: &'static str, default: u64, range| {
            config::u64_var(env, name, default, range)
                .and_then(|v| usize::try_from(v).map_err(|_| CommonError::Misconfigured(name)))
        };
        let policy = |name: &'static str, default: u32, window_s: u32| {
            RateLimitPolicy::new(positive_u32(env, name, default, MAX_LIMIT)?, window_s)
                .ok_or(CommonError::Misconfigured(name))
        };
        let idle_window =
            u32::try_from(idle_s.min(u64::from(MAX_WINDOW_S))).unwrap_or(MAX_WINDOW_S);
        Ok(Self {
            token_secret,
            token_ttl_s: config::u64_var(env, "CHAT_TOKEN_TTL_S", 86_400, 60..=2_592_000)?,
            timers: Timers {
                idle_ms: idle_s * 1_000,
                retention_ms: retention_s * 1_000,
            },
            limits: Limits {
                max_chars: usize_var("CHAT_MAX_MESSAGE_CHARS", 4_000, 1..=16_000)?,
                per_minute: positive_u32(env, "CHAT_MESSAGES_PER_MINUTE", 20, 10_000)?,
                tokens_per_hour: config::u64_var(
                    env,
                    "CHAT_TOKENS_PER_HOUR",
                    20_000,
                    1..=10_000_000,
                )?,
            },
            ip_per_minute: policy("CHAT_IP_MESSAGES_PER_MINUTE", 60, 60)?,
            sessions_per_ip: positive_u32(env, "CHAT_SESSIONS_PER_IP", 10, MAX_LIMIT)?,
            creates_per_ip: policy("CHAT_SESSION_CREATES_PER_IP", 30, idle_window)?,
            memory: MemoryPolicy {
                history: usize_var("CHAT_HISTORY_MESSAGES", 12, 1..=100)?,
                threshold: usize_var("CHAT_SUMMARY_THRESHOLD", 24, 2..=1_000)?,
            },
            ai: AiSettings::load(env)?,
        })
    }
}

/// Archives of ended web chat sessions (R2 `CHAT_ARCHIVE`) and their expiry.
pub(crate) struct ArchiveSettings {
    /// How long an archive is kept after it was written, ms
    /// (`CHAT_ARCHIVE_RETENTION_DAYS`, 90; `CHAT_ARCHIVE_RETENTION_S` for tests).
    pub(crate) retention_ms: u64,
    /// When archiving fails, the session's alarm tries again this much later, ms
    /// (`CHAT_ARCHIVE_RETRY_S`, 300).
    pub(crate) retry_ms: u64,
}

impl ArchiveSettings {
    fn parse(env: &Env) -> Result<Self, CommonError> {
        let retention_s = match config::optional_var(env, "CHAT_ARCHIVE_RETENTION_S") {
            Some(_) => config::u64_var(env, "CHAT_ARCHIVE_RETENTION_S", 0, 1..=315_360_000)?,
            None => 86_400 * config::u64_var(env, "CHAT_ARCHIVE_RETENTION_DAYS", 90, 1..=3_650)?,
        };
        Ok(Self {
            retention_ms: retention_s * 1_000,
            retry_ms: 1_000 * config::u64_var(env, "CHAT_ARCHIVE_RETRY_S", 300, 1..=86_400)?,
        })
    }
}

/// Escalation to a human (the `chat-escalations` queue's consumer and the sweeper): the
/// webhooks notified, their deadline, the retry backoff and the sweep age.
pub(crate) struct EscalationSettings {
    /// The configured webhooks (none: escalations stay pending until one is).
    pub(crate) webhooks: Vec<crate::escalation::Webhook>,
    pub(crate) delivery: crate::escalation::DeliveryPolicy,
    /// A ledger row still pending this long after it was last touched is queued again, ms.
    pub(crate) sweep_after_ms: u64,
}

impl EscalationSettings {
    fn parse(env: &Env) -> Result<Self, CommonError> {
        use crate::escalation::{DeliveryPolicy, Target, Webhook};
        let url = |name: &'static str| match config::optional_var(env, name)
            .or_else(|| optional_secret(env, name))
        {
            Some(_) => config::base_url(env, name).map(Some),
            None => Ok(None),
        };
        let mut webhooks = Vec::new();
        if let Some(url) = url("ESCALATION_WEBHOOK_URL")? {
            webhooks.push(Webhook {
                name: "webhook",
                target: Target::Generic {
                    url,
                    secret: optional_secret(env, "ESCALATION_WEBHOOK_SECRET"),
                },
            });
        }
        if let Some(url) = url("ESCALATION_DISCORD_WEBHOOK_URL")? {
            webhooks.push(Webhook {
                name: "discord",
                target: Target::Discord { url },
            });
        }
        let base = config::u64_var(env, "ESCALATION_RETRY_BASE_S", 30, 0..=300)?;
        Ok(Self {
            webhooks,
            delivery: DeliveryPolicy {
                timeout_ms: config::u64_var(env, "ESCALATION_TIMEOUT_MS", 5_000, 100..=30_000)?,
                retry_base_s: u32::try_from(base)
                    .map_err(|_| CommonError::Misconfigured("ESCALATION_RETRY_BASE_S"))?,
            },
            sweep_after_ms: 1_000
                * config::u64_var(env, "ESCALATION_SWEEP_AFTER_S", 600, 1..=86_400)?,
        })
    }
}

/// The web chat's voice messages (`POST /chat/v1/sessions/:id/voice`, `GET
/// …/messages/:mid/speech`): an OpenAI-compatible audio API. Without `VOICE_BASE_URL`
/// voice is off (503 `voice_unavailable`; the page falls back to typing).
pub(crate) struct VoiceSettings {
    /// `VOICE_BASE_URL`: `<base>/audio/transcriptions` and `<base>/audio/speech`.
    pub(crate) base_url: Option<String>,
    /// `VOICE_API_KEY` (secret), sent as a Bearer token when set.
    pub(crate) api_key: Option<String>,
    /// `VOICE_TRANSCRIBE_MODEL` (`whisper-1`).
    pub(crate) transcribe_model: String,
    /// `VOICE_LANGUAGE`: an ISO-639-1 code the transcription is told to expect; unset,
    /// the provider detects it (English and Thai both work).
    pub(crate) language: Option<String>,
    /// `VOICE_SPEECH_MODEL` (`tts-1`).
    pub(crate) speech_model: String,
    /// `VOICE_SPEECH_VOICE` (`alloy`).
    pub(crate) speech_voice: String,
    /// `VOICE_SPEAK` (`true`): whether the page speaks answers to voice messages unless
    /// the user turns it off.
    pub(crate) speak: bool,
    /// `VOICE_MAX_BYTES` (1 MiB) and `VOICE_MAX_SECONDS` (60).
    pub(crate) limits: AudioLimits,
    /// `VOICE_TIMEOUT_MS` (15000): one provider call, whole.
    pub(crate) timeout_ms: u64,
    /// `VOICE_SPEECH_MAX_CHARS` (4096): the longest text spoken (cut at a sentence).
    pub(crate) speech_max_chars: usize,
    /// `VOICE_SPEECH_MAX_BYTES` (4 MiB): the largest audio relayed.
    pub(crate) speech_max_bytes: usize,
    /// `VOICE_IP_REQUESTS_PER_MINUTE` (10): transcriptions and speeches per client address.
    pub(crate) ip_per_minute: RateLimitPolicy,
}

// Its own invocation (not in the list above): parsed once per isolate all the same.
edge_glue::settings_per_isolate!(VoiceSettings);

impl VoiceSettings {
    fn parse(env: &Env) -> Result<Self, CommonError> {
        let name = |var: &'static str, default: &str| {
            let v = config::text_var(env, var, default);
            voice::valid_name(&v)
                .then_some(v)
                .ok_or(CommonError::Misconfigured(var))
        };
        let usize_var =
            |var: &'static str, default: usize, range: std::ops::RangeInclusive<u64>| {
                config::u64_var(env, var, default as u64, range)
                    .and_then(|v| usize::try_from(v).map_err(|_| CommonError::Misconfigured(var)))
            };
        let speak = match config::optional_var(env, "VOICE_SPEAK")
            .as_deref()
            .map(str::trim)
        {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => return Err(CommonError::Misconfigured("VOICE_SPEAK")),
        };
        let language = match config::optional_var(env, "VOICE_LANGUAGE") {
            Some(l) if voice::valid_name(l.trim()) => Some(l.trim().to_owned()),
            Some(_) => return Err(CommonError::Misconfigured("VOICE_LANGUAGE")),
            None => None,
        };
        Ok(Self {
            base_url: match config::optional_var(env, "VOICE_BASE_URL") {
                Some(_) => Some(config::base_url(env, "VOICE_BASE_URL")?),
                None => None,
            },
            api_key: optional_secret(env, "VOICE_API_KEY"),
            transcribe_model: name("VOICE_TRANSCRIBE_MODEL", "whisper-1")?,
            language,
            speech_model: name("VOICE_SPEECH_MODEL", "tts-1")?,
            speech_voice: name("VOICE_SPEECH_VOICE", "alloy")?,
            speak,
            limits: AudioLimits {
                max_bytes: usize_var(
                    "VOICE_MAX_BYTES",
                    voice::DEFAULT_MAX_BYTES,
                    1_024..=26_214_400,
                )?,
                max_seconds: config::u64_var(
                    env,
                    "VOICE_MAX_SECONDS",
                    voice::DEFAULT_MAX_SECONDS,
                    1..=1_800,
                )?,
            },
            timeout_ms: config::u64_var(env, "VOICE_TIMEOUT_MS", 15_000, 100..=120_000)?,
            speech_max_chars: usize_var(
                "VOICE_SPEECH_MAX_CHARS",
                voice::DEFAULT_SPEECH_MAX_CHARS,
                1..=20_000,
            )?,
            speech_max_bytes: usize_var(
                "VOICE_SPEECH_MAX_BYTES",
                4 * 1024 * 1024,
                1_024..=26_214_400,
            )?,
            ip_per_minute: RateLimitPolicy::new(
                positive_u32(env, "VOICE_IP_REQUESTS_PER_MINUTE", 10, MAX_LIMIT)?,
                60,
            )
            .ok_or(CommonError::Misconfigured("VOICE_IP_REQUESTS_PER_MINUTE"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;

    #[test]
    fn kinds_default_to_openai_and_langserve_takes_an_input_shape() {
        let kind = |k, i| provider_kind(k, i, &PRIMARY);
        assert_eq!(kind(None, None), Ok(ProviderKind::OpenAi));
        assert_eq!(
            kind(Some("openai"), Some("ignored")),
            Ok(ProviderKind::OpenAi)
        );
        assert_eq!(
            kind(Some(" langserve "), None),
            Ok(ProviderKind::LangServe(InputShape::Messages))
        );
        assert_eq!(
            kind(Some("langserve"), Some("dict:question")),
            Ok(ProviderKind::LangServe(InputShape::Dict("question".into())))
        );
        assert_eq!(
            kind(Some("LangServe"), None),
            Err(CommonError::Misconfigured("AI_PRIMARY_KIND"))
        );
        assert_eq!(
            provider_kind(Some("langserve"), Some("dict:"), &FALLBACK),
            Err(CommonError::Misconfigured("AI_FALLBACK_LANGSERVE_INPUT"))
        );
    }

    #[test]
    fn credentials_per_kind_and_refusals_name_vars_never_values() {
        let openai = testkit::provider("primary", 8_000);
        assert!(openai.credentials().is_ok());
        assert_eq!(openai.credential_names(), "AI_PRIMARY_API_KEY");
        let keyless = Provider {
            api_key: None,
            ..openai
        };
        assert_eq!(keyless.credentials().err(), Some("no_api_key"));
        let open = testkit::langserve_provider("ayaka", InputShape::Messages, None);
        assert!(
            open.credentials().is_ok(),
            "a LangServe needs no credential"
        );
        assert_eq!(
            open.credential_names(),
            "none sent (set AI_PRIMARY_ACCESS_CLIENT_ID/SECRET or AI_PRIMARY_API_KEY)"
        );
        let access = testkit::langserve_provider("ayaka", InputShape::Messages, Some(("i", "s")));
        assert_eq!(
            access.credential_names(),
            "AI_PRIMARY_ACCESS_CLIENT_ID/SECRET"
        );
        let both = Provider {
            api_key: Some("k".into()),
            ..access.clone()
        };
        assert_eq!(
            both.credential_names(),
            "AI_PRIMARY_ACCESS_CLIENT_ID/SECRET or AI_PRIMARY_API_KEY"
        );
        let half = Provider {
            access_incomplete: true,
            ..open
        };
        assert_eq!(half.credentials().err(), Some("no_access_token"));
        assert_eq!(format!("{:?}", access.access), "Some(AccessToken(..))");
    }
}

// ---- The web chat's tools (issue 19) ----

/// How the web chat's model uses its tools (`chat_session` builds the
/// [`crate::tools::ToolBox`]; the loop is [`crate::ai_stream::stream_reply_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ToolSettings {
    /// Whether the tools are offered at all (`CHAT_TOOLS`: `on`, the default, or `off`).
    pub(crate) enabled: bool,
    /// How each call runs: `CHAT_TOOL_TIMEOUT_MS` (default 5,000, 0..=30,000; 0: every call
    /// times out at once, which the e2e tests use) and
    /// `CHAT_TOOL_CALLS_PER_ROUND` (default 4, 1..=16).
    pub(crate) policy: crate::tools::ToolPolicy,
}

impl ToolSettings {
    fn parse(env: &Env) -> Result<Self, CommonError> {
        let enabled = match config::optional_var(env, "CHAT_TOOLS")
            .as_deref()
            .map(str::trim)
        {
            None | Some("on") => true,
            Some("off") => false,
            Some(_) => return Err(CommonError::Misconfigured("CHAT_TOOLS")),
        };
        let max_calls = edge_core::chat::tools::MAX_STREAMED_CALLS as u64;
        Ok(Self {
            enabled,
            policy: crate::tools::ToolPolicy {
                timeout_ms: config::u64_var(env, "CHAT_TOOL_TIMEOUT_MS", 5_000, 0..=30_000)?,
                calls_per_round: usize::try_from(config::u64_var(
                    env,
                    "CHAT_TOOL_CALLS_PER_ROUND",
                    4,
                    1..=max_calls,
                )?)
                .map_err(|_| CommonError::Misconfigured("CHAT_TOOL_CALLS_PER_ROUND"))?,
            },
        })
    }
}
