//! `POST /webhooks/discord`: Discord interactions.
//!
//! The Ed25519 signature (and its timestamp window) is checked on the raw bytes before
//! anything is parsed (401 otherwise). Then every interaction gets an answer within
//! Discord's 3 seconds: PONG, an immediate (often ephemeral) message, choices, a modal, or a
//! deferred response whose content follows as exactly one edit of the original response
//! (`PATCH <api>/webhooks/<application>/<token>/messages/@original`, [`crate::discord_api`])
//! from `wait_until`.
//! `/check` and the chart buttons attach a PNG chart rendered here (`edge_core::chat::chart`)
//! as Discord's multipart form. Every call to Discord sends `User-Agent: DiscordBot (…)`;
//! an edit answered 429 is sent once more after a short `retry_after` (the core decides).
//! Unknown commands, bad options, forged component ids and malformed payloads get an
//! ephemeral explanation, never an error status.

use std::rc::Rc;

use edge_core::chat::chart::{self, ChartSpec};
use edge_core::chat::completion::{Channel, Prompt};
use edge_core::chat::discord::api::{self, Attachment};
use edge_core::chat::discord::command::{AdminAction, Command, CommandError, focused};
use edge_core::chat::discord::component::Component;
use edge_core::chat::discord::interaction::{Interaction, InteractionError, Kind, MAX_BODY_BYTES};
use edge_core::chat::discord::response;
use edge_core::chat::discord::signature;
use edge_core::chat::intent::{self, Language};
use edge_core::chat::quote;
use edge_glue::Incoming;
use edge_glue::body;
use edge_glue::{Hop, now_ms, respond, webcrypto};
use serde_json::Value;
use worker::{Env, Response};

use crate::ai::{self, Asker, Start};
use crate::backends::{Call, MAX_ANSWER_BYTES, Method, Outbound};
use crate::bindings;
use crate::db;
use crate::discord_api::{self, Edit};
use crate::error::Error;
use crate::log;
use crate::outbound::Fetch;
use crate::settings::{AiSettings, DiscordSettings};

/// One interaction's view of the Discord settings (cloned into the deferred work).
#[derive(Clone)]
struct Bot {
    settings: Rc<DiscordSettings>,
    /// `DiscordBot (<DISCORD_BOT_URL or this endpoint's origin>, <version>)`.
    user_agent: String,
    /// When the interaction arrived (its token accepts edits for 15 minutes from then), ms.
    received_ms: u64,
}

impl std::ops::Deref for Bot {
    type Target = DiscordSettings;

    fn deref(&self) -> &DiscordSettings {
        &self.settings
    }
}

fn reply(v: &Value) -> Result<Response, Error> {
    Ok(respond::json(200, v)?)
}

fn ephemeral(text: &str) -> Result<Response, Error> {
    reply(&response::message(text, true, None))
}

/// Handles one interaction.
pub(crate) async fn interaction(req: Incoming, env: &Env, hop: &Hop) -> Result<Response, Error> {
    let origin = req
        .url()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let settings = DiscordSettings::load(env)?;
    let s = Bot {
        user_agent: api::user_agent(
            settings.bot_url.as_deref().unwrap_or(&origin),
            env!("CARGO_PKG_VERSION"),
        ),
        received_ms: now_ms(),
        settings,
    };
    let raw = body::read(req.inner(), env, MAX_BODY_BYTES).await?;
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let checked = match signature::prepare(
        header(signature::SIGNATURE_HEADER).as_deref(),
        header(signature::TIMESTAMP_HEADER).as_deref(),
        &raw,
    ) {
        Ok(signed) => {
            // Ed25519 in WebCrypto, the key imported once per isolate.
            let ok = webcrypto::verify(&s.key, signed.message(), signed.signature()).await;
            signed.finish(ok, now_ms() / 1000, s.window_s)
        }
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        hop.decide("discord_bad_signature");
        return Err(e.into());
    }
    let i = match Interaction::parse(&raw) {
        Ok(i) => i,
        Err(InteractionError::Unsupported) => {
            return ephemeral("This kind of interaction is not supported.");
        }
        Err(InteractionError::Malformed) => return ephemeral("That request could not be read."),
    };
    if let Some(key) = i.replay_key() {
        // A captured, validly signed interaction replayed inside the timestamp window is
        // answered without doing its work again (no second AI call, edit or admin action).
        let first = match db::db(env) {
            Ok(d) => db::claim_once(&d, &key, kind_name(i.kind), now_ms()).await,
            Err(e) => Err(e),
        };
        match first {
            Ok(true) => {}
            Ok(false) => {
                hop.decide("discord_replay");
                return ephemeral("This interaction was already handled.");
            }
            Err(e) => {
                log::warn(&format!("discord interaction {}: claim failed: {e}", i.id));
                hop.decide("discord_claim_failed");
                return ephemeral("Something went wrong on our side. Please try again.");
            }
        }
    }
    hop.decide(match i.kind {
        Kind::Ping => "discord_ping",
        Kind::Command => "discord_command",
        Kind::Component => "discord_component",
        Kind::Autocomplete => "discord_autocomplete",
        Kind::ModalSubmit => "discord_modal",
    });
    match i.kind {
        Kind::Ping => reply(&response::pong()),
        Kind::Command => command(env, &s, &i, hop).await,
        Kind::Component => component(env, &s, &i, hop),
        Kind::Autocomplete => autocomplete(&s, &i),
        Kind::ModalSubmit => match (
            i.data.get("custom_id").and_then(Value::as_str),
            i.modal_value(response::RESEARCH_TOPIC).map(str::trim),
        ) {
            (Some(response::RESEARCH_MODAL), Some(topic))
                if (3..=500).contains(&topic.chars().count()) =>
            {
                ai_answer(env, &s, &i, hop, topic, true).await
            }
            _ => ephemeral("That form could not be read."),
        },
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Ping => "discord.ping",
        Kind::Command => "discord.command",
        Kind::Component => "discord.component",
        Kind::Autocomplete => "discord.autocomplete",
        Kind::ModalSubmit => "discord.modal",
    }
}

/// Work done after a deferred response, ending in one edit of the original response.
enum Work {
    /// Ask the AI providers (the quota is already charged), caching under the key.
    Ai {
        lang: Language,
        key: Option<String>,
        prompt: Prompt,
    },
    Check(String),
    Compare(String, String),
    Chart(String, &'static str),
}

async fn command(env: &Env, s: &Bot, i: &Interaction, hop: &Hop) -> Result<Response, Error> {
    match Command::parse(&i.data) {
        Ok(Command::Ask { question }) => ai_answer(env, s, i, hop, &question, false).await,
        Ok(Command::Research { topic: Some(topic) }) => {
            ai_answer(env, s, i, hop, &topic, true).await
        }
        Ok(Command::Research { topic: None }) => reply(&response::research_modal()),
        Ok(Command::Check { ticker }) => defer(env, s, i, hop, Work::Check(ticker)),
        Ok(Command::Compare { first, second }) => {
            defer(env, s, i, hop, Work::Compare(first, second))
        }
        Ok(Command::Admin { action }) => {
            if !i.is_admin(&s.admin_users, &s.admin_roles) {
                return ephemeral("Only the bot's admins can do that.");
            }
            reply(&response::message(
                &admin(env, action),
                true,
                Some(response::admin_buttons()),
            ))
        }
        Err(CommandError::Unknown) => ephemeral("I don't know that command."),
        Err(CommandError::InvalidOption(name)) => {
            ephemeral(&format!("The option `{name}` is missing or not valid."))
        }
    }
}

fn component(env: &Env, s: &Bot, i: &Interaction, hop: &Hop) -> Result<Response, Error> {
    let custom_id = i
        .data
        .get("custom_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match Component::parse(custom_id) {
        Some(Component::Chart { ticker, range }) => {
            // Acknowledge the press now; the button's message is edited when the chart is in.
            hop.wait_until(finish(
                env.clone(),
                s.clone(),
                i.clone(),
                Work::Chart(ticker, range),
            ));
            reply(&response::deferred_update())
        }
        Some(Component::Admin(action)) => {
            if !i.is_admin(&s.admin_users, &s.admin_roles) {
                return ephemeral("Only the bot's admins can do that.");
            }
            reply(&response::update(
                &admin(env, action),
                Some(response::admin_buttons()),
            ))
        }
        None => ephemeral("That button is not valid."),
    }
}

fn autocomplete(s: &Bot, i: &Interaction) -> Result<Response, Error> {
    let Some((_, _, typed)) = focused(&i.data) else {
        return reply(&response::choices(&[]));
    };
    let typed = typed.trim().to_ascii_uppercase();
    let matches: Vec<String> = s
        .tickers
        .iter()
        .filter(|t| t.to_ascii_uppercase().starts_with(&typed))
        .cloned()
        .collect();
    reply(&response::choices(&matches))
}

/// The admin action's effect and the bot's state, as text.
fn admin(env: &Env, action: AdminAction) -> String {
    let breakers = bindings::breakers();
    if action == AdminAction::ResetBreakers {
        breakers.reset();
    }
    let state = match AiSettings::load(env) {
        Ok(ai_settings) => breakers
            .states(&ai_settings, now_ms())
            .into_iter()
            .map(|(name, state)| format!("{name}: {state}"))
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => e.to_string(),
    };
    let done = if action == AdminAction::ResetBreakers {
        "Breakers reset. "
    } else {
        ""
    };
    format!("{done}AI providers (this isolate): {state}")
}

fn defer(env: &Env, s: &Bot, i: &Interaction, hop: &Hop, work: Work) -> Result<Response, Error> {
    hop.wait_until(finish(env.clone(), s.clone(), i.clone(), work));
    reply(&response::deferred())
}

/// Does `work` and edits the original response with the result, once (sent a second time
/// only after a 429 with a short `retry_after`).
async fn finish(env: Env, s: Bot, i: Interaction, work: Work) {
    let mut chart = None;
    let (content, components) = match work {
        Work::Ai { lang, key, prompt } => match AiSettings::load(&env) {
            Ok(settings) => (
                ai::ask_chain(
                    &bindings::io(&env),
                    &settings,
                    lang,
                    key.as_deref(),
                    &prompt,
                )
                .await
                .text,
                None,
            ),
            Err(e) => (format!("The assistant is not configured: {e}"), None),
        },
        Work::Check(ticker) => match fetch_quote(&s, &ticker).await {
            Ok(q) => {
                // The quote alone if the day's chart cannot be had.
                chart = match fetch_chart(&s, &q.symbol, "1d").await {
                    Ok(c) => render_chart(&s, &c, "1d"),
                    Err(why) => {
                        log::warn(&format!("discord chart {}: {why}", q.symbol));
                        None
                    }
                };
                (
                    quote::quote_line(&q),
                    Some(response::chart_buttons(&q.symbol, "1d")),
                )
            }
            Err(why) => (why, None),
        },
        Work::Compare(a, b) => match (fetch_quote(&s, &a).await, fetch_quote(&s, &b).await) {
            (Ok(qa), Ok(qb)) => (quote::compare_lines(&qa, &qb), None),
            (Err(why), _) | (_, Err(why)) => (why, None),
        },
        Work::Chart(ticker, range) => match fetch_chart(&s, &ticker, range).await {
            Ok(c) => {
                chart = render_chart(&s, &c, range);
                (
                    quote::chart_line(&c, range),
                    Some(response::chart_buttons(&ticker, range)),
                )
            }
            Err(why) => (why, Some(response::chart_buttons(&ticker, range))),
        },
    };
    let url = format!(
        "{}/webhooks/{}/{}/messages/@original",
        s.api, i.application_id, i.token
    );
    let message = response::edit(&content, components);
    let (content_type, body) = match chart {
        Some((title, png)) => {
            let alt = format!("{title} price chart");
            let form = api::multipart(
                &response::with_chart(message, &title),
                &[Attachment {
                    filename: response::CHART_FILENAME,
                    content_type: "image/png",
                    description: &alt,
                    bytes: &png,
                }],
            );
            (form.content_type, form.body)
        }
        None => (
            "application/json".to_owned(),
            message.to_string().into_bytes(),
        ),
    };
    let edit = Edit {
        url: &url,
        user_agent: &s.user_agent,
        content_type: &content_type,
        body,
        timeout_ms: s.timeout_ms,
        received_ms: s.received_ms,
    };
    // The end is logged there; nothing is left to do with it here.
    let _ = discord_api::edit_original(&bindings::io(&env), &edit).await;
    bindings::report_refusals(&env).await;
}

/// The chart of `c` over `range` as an embed title and PNG, or `None` (logged) if it cannot
/// be drawn.
fn render_chart(s: &Bot, c: &quote::Chart, range: &str) -> Option<(String, Vec<u8>)> {
    let spec = ChartSpec {
        symbol: &c.symbol,
        range,
        theme: s.chart_theme,
    };
    match chart::render(&c.closes, &spec) {
        Ok(png) => Some((format!("{} {}", c.symbol, range.to_uppercase()), png)),
        Err(e) => {
            log::warn(&format!("discord chart {}: {e}", c.symbol));
            None
        }
    }
}

/// An AI answer to `text` (a research answer asks for an analysis): from the cache at once;
/// over the user's quota, an ephemeral note and no AI call; otherwise deferred, the
/// providers asked in `wait_until` (the static apology when every one fails).
async fn ai_answer(
    env: &Env,
    s: &Bot,
    i: &Interaction,
    hop: &Hop,
    text: &str,
    research: bool,
) -> Result<Response, Error> {
    let settings = match AiSettings::load(env) {
        Ok(s) => s,
        Err(e) => return ephemeral(&format!("The assistant is not configured: {e}")),
    };
    let lang = Language::of_text(text, Language::En);
    let intent = if research {
        intent::Intent::General
    } else {
        intent::detect(text).0
    };
    let mut prompt = Prompt::new(lang, &[], Vec::new(), text);
    if research {
        prompt.system.push_str(
            " Write a structured analysis: key facts, the main arguments for and against, \
             risks, and a short conclusion. Stay under 1800 characters.",
        );
    }
    let who = Asker {
        channel: Channel::Discord,
        user_id: i.user_id.as_deref().unwrap_or("unknown"),
        lang,
    };
    match ai::start(&bindings::io(env), &settings, who, intent, &prompt).await {
        Start::Cached(r) => reply(&response::message(&r.text, false, None)),
        Start::Refused(r) => {
            hop.decide("discord_ai_refused");
            ephemeral(&r.text)
        }
        Start::Ask(key) => defer(env, s, i, hop, Work::Ai { lang, key, prompt }),
    }
}

async fn quote_get(s: &Bot, path_and_query: &str) -> Result<Vec<u8>, String> {
    let Some(base) = &s.quote_api else {
        return Err("Market data is not configured.".to_owned());
    };
    let auth = s.quote_key.as_ref().map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let url = format!("{base}{path_and_query}");
    let answer = Fetch
        .call(Call {
            method: Method::Get,
            url: &url,
            headers: &headers,
            body: None,
            timeout_ms: s.timeout_ms,
            cap: MAX_ANSWER_BYTES,
        })
        .await;
    match answer {
        Ok(a) if a.status == 200 => Ok(a.body),
        Ok(a) if a.status == 404 => Err("I couldn't find that ticker.".to_owned()),
        Ok(a) => Err(format!(
            "Market data is unavailable right now (status {}).",
            a.status
        )),
        Err(e) => Err(format!("Market data is unavailable right now ({e}).")),
    }
}

async fn fetch_quote(s: &Bot, ticker: &str) -> Result<quote::Quote, String> {
    let body = quote_get(s, &format!("/quote?symbol={ticker}")).await?;
    quote::parse_quote(&body).ok_or_else(|| "Market data came back unreadable.".to_owned())
}

async fn fetch_chart(s: &Bot, ticker: &str, range: &str) -> Result<quote::Chart, String> {
    let body = quote_get(s, &format!("/chart?symbol={ticker}&range={range}")).await?;
    quote::parse_chart(&body).ok_or_else(|| "Market data came back unreadable.".to_owned())
}
