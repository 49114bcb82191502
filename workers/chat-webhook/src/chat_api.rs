//! The web chat's HTTP routes: `POST /chat/v1/sessions` mints a session (an id, its
//! `ChatSession` object, a signed token), and every call on a session checks its token
//! (`Authorization: Bearer`, or the WebSocket subprotocol `bearer.<token>`) before it is
//! forwarded to the session's object ([`crate::chat_session`]): the history, a posted
//! message (answered as SSE), the WebSocket, the session's end (`DELETE`). Creation is
//! bounded per client address by its live sessions ([`crate::live`]) and by creations per
//! idle period.

use edge_core::chat::web::frame::MAX_CLIENT_FRAME_BYTES;
use edge_core::chat::web::limits::{self, Refusal};
use edge_core::chat::web::token::{self, TokenError};
use edge_core::chat::web::{SessionNotFound, UpgradeRequired};
use edge_core::error::CommonError;
use edge_core::route::Params;
use edge_glue::{Hop, REQUEST_ID_HEADER, body, now_ms, random_uuid, respond, window_log};
use serde::Serialize;
use worker::{Env, Headers, Method, Request, RequestInit, Response, Stub};

use crate::archive::D1Index;
use crate::chat_session::{
    CLIENT_HEADER, LIVE_KEY_HEADER, LIVE_UNTIL_HEADER, SESSION_BINDING, SESSION_ID_HEADER,
};
use crate::error::Error;
use crate::live::{self, LiveOp};
use crate::log;
use crate::quota::QUOTA_BINDING;
use crate::settings::WebChatSettings;

/// What a route on one session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChatRoute {
    History,
    Post,
    Socket,
    /// `DELETE /chat/v1/sessions/:id`: ends the session.
    End,
}

/// Largest body of `POST /chat/v1/sessions` (it takes `{}` or nothing), bytes.
const MAX_CREATE_BODY: usize = 1_024;

#[derive(Serialize)]
struct Created {
    id: String,
    token: String,
    expires_at: u64,
}

/// The client's address as Cloudflare saw it (`unknown` off Cloudflare).
pub(crate) fn client(req: &Request) -> String {
    req.headers()
        .get("cf-connecting-ip")
        .ok()
        .flatten()
        .filter(|ip| ip.len() <= 64)
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Answers one route on a session, after its token.
pub(crate) async fn handle(
    route: ChatRoute,
    params: &Params<'_>,
    req: Request,
    env: &Env,
    hop: &Hop,
) -> Result<Response, Error> {
    let s = WebChatSettings::load(env)?;
    let id = params
        .get("id")
        .filter(|id| token::valid_session_id(id))
        .ok_or(SessionNotFound)?;
    authorize(&req, id, &s, route)?;
    let after = req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == "after")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    let query = after.map(|a| format!("?after={a}")).unwrap_or_default();
    let headers = Headers::new();
    headers.set(CLIENT_HEADER, &client(&req))?;
    headers.set(REQUEST_ID_HEADER, hop.request_id.as_str())?;
    let mut init = RequestInit::new();
    let url = match route {
        ChatRoute::History => {
            init.with_method(Method::Get);
            format!("https://chat-session/messages{query}")
        }
        ChatRoute::Post => {
            let bytes = body::read(req.inner(), env, MAX_CLIENT_FRAME_BYTES).await?;
            init.with_method(Method::Post).with_body(Some(
                worker::js_sys::Uint8Array::from(bytes.as_slice()).into(),
            ));
            "https://chat-session/messages".to_owned()
        }
        ChatRoute::End => {
            init.with_method(Method::Delete);
            "https://chat-session/end".to_owned()
        }
        ChatRoute::Socket => {
            let upgrade = req
                .headers()
                .get("upgrade")
                .ok()
                .flatten()
                .unwrap_or_default();
            if !upgrade.eq_ignore_ascii_case("websocket") {
                return Err(UpgradeRequired.into());
            }
            headers.set("upgrade", "websocket")?;
            init.with_method(Method::Get);
            format!("https://chat-session/ws{query}")
        }
    };
    init.with_headers(headers);
    let forwarded = Request::new_with_init(&url, &init)?;
    hop.decide(match route {
        ChatRoute::History => "chat_history",
        ChatRoute::Post => "chat_message",
        ChatRoute::Socket => "chat_socket",
        ChatRoute::End => "chat_session_end",
    });
    Ok(stub(env, id)?.fetch_with_request(forwarded).await?)
}

/// The session's token from the request: `Authorization: Bearer`, or for the WebSocket the
/// subprotocol offer; checked against the session id.
pub(crate) fn authorize(
    req: &Request,
    id: &str,
    s: &WebChatSettings,
    route: ChatRoute,
) -> Result<(), Error> {
    let header = |name| req.headers().get(name).ok().flatten();
    let bearer = header("authorization").and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
            .map(|t| t.trim().to_owned())
    });
    let offered = (route == ChatRoute::Socket)
        .then(|| header("sec-websocket-protocol"))
        .flatten()
        .and_then(|offer| token::from_subprotocols(&offer).map(str::to_owned));
    let presented = bearer.or(offered).ok_or(TokenError::Malformed)?;
    token::verify(&s.token_secret, id, &presented, now_ms() / 1_000)?;
    Ok(())
}

/// The `ChatSession` object of session `id`.
pub(crate) fn stub(env: &Env, id: &str) -> Result<Stub, Error> {
    let ns = env
        .durable_object(SESSION_BINDING)
        .map_err(|_| CommonError::Misconfigured(SESSION_BINDING))?;
    Ok(ns.id_from_name(id)?.get_stub()?)
}

/// `POST /chat/v1/sessions` (`{}`, or `{"customer": "<the site's id>"}`): within the
/// address's session limit, a new session, recorded in the `web_sessions` index.
pub(crate) async fn create(mut req: Request, env: &Env, hop: &Hop) -> Result<Response, Error> {
    let s = WebChatSettings::load(env)?;
    let req = &mut req;
    let bytes = body::read(req.inner(), env, MAX_CREATE_BODY).await?;
    let text = String::from_utf8_lossy(&bytes);
    if !text.trim().is_empty()
        && !serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v.is_object())
    {
        return Err(edge_core::chat::web::frame::FrameError::Malformed.into());
    }
    // The embedding site's id for the visitor, if it gave one (export and erase).
    let customer = edge_core::chat::archive::create_body(&bytes)?;
    // Creations per idle period, live or not: DELETE frees a live slot at once, so this
    // is what bounds a create-and-delete loop (each session keeps storage until retention).
    let address = client(req);
    let bucket = format!("web-chat:sessions:{address}");
    let d = window_log::check(env, QUOTA_BINDING, &bucket, s.creates_per_ip).await?;
    if !d.allowed {
        hop.decide("rate_limited");
        return Err(Refusal::RateLimited {
            retry_after_s: d.reset_s.max(1),
        }
        .into());
    }
    let id = random_uuid()
        .map(|u| u.replace('-', "").to_ascii_lowercase())
        .filter(|id| token::valid_session_id(id))
        .ok_or(CommonError::UpstreamUnavailable)?;
    // The address's live sessions: a slot, held until the session ends (or, if its
    // release is lost, until its expected end: now + idle, moved on by its activity).
    let key = limits::address_key(&address);
    let until = now_ms().saturating_add(s.timers.idle_ms);
    let add = LiveOp::add(&id, until, s.sessions_per_ip);
    if let Err(refusal) = live::call(env, &key, &add).await? {
        hop.decide("too_many_sessions");
        return Err(refusal.into());
    }
    // The index first: a session created for a customer is always found by its erase.
    let indexed = match D1Index::of(env) {
        Ok(index) => index.created(&id, customer.as_deref(), now_ms()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = indexed {
        log::error(&format!("web session index: {e}"));
        if customer.is_some() {
            let _ = live::call(env, &key, &LiveOp::release(&id)).await;
            return Err(CommonError::UpstreamUnavailable.into());
        }
    }
    let headers = Headers::new();
    headers.set(SESSION_ID_HEADER, &id)?;
    headers.set(LIVE_KEY_HEADER, &key)?;
    headers.set(LIVE_UNTIL_HEADER, &until.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers);
    let created = match Request::new_with_init("https://chat-session/create", &init) {
        Ok(r) => stub(env, &id)?.fetch_with_request(r).await,
        Err(e) => Err(e),
    };
    let r = match created {
        Ok(r) if r.status_code() == 201 => r,
        other => {
            // No session came of it: give the slot back.
            let _ = live::call(env, &key, &LiveOp::release(&id)).await;
            return Ok(other?);
        }
    };
    drop(r);
    let expires_at = now_ms() / 1_000 + s.token_ttl_s;
    hop.decide("chat_session_created");
    Ok(respond::json(
        201,
        &Created {
            token: token::issue(&s.token_secret, &id, expires_at),
            id,
            expires_at,
        },
    )?)
}
