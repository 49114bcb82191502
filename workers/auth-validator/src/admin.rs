//! The key admin API, guarded by `ADMIN_SECRET` (`Authorization: Bearer <secret>`):
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/admin/v1/keys` | 201 `{key, record}`: the key is shown this once |
//! | GET | `/admin/v1/keys?limit=&cursor=` | 200 `{keys, cursor?}` |
//! | GET | `/admin/v1/keys/<id>` | 200 the record's public view |
//! | POST | `/admin/v1/keys/<id>/revoke` | 200 the revoked record |
//! | POST | `/admin/v1/keys/<id>/rotate` | 200 `{key, record}`; body `{"grace_s":N}` optional |
//!
//! Records shown never include digests. Bodies are strict JSON (unknown fields refused).

use edge_core::auth::key_admin::{
    self, AdminError, Issued, MAX_ADMIN_BODY_BYTES, NewKey, Rotation,
};
use edge_core::error::CommonError;
use edge_glue::Incoming;
use edge_glue::{Hop, admin as guard, body, now_ms, respond};
use futures::future::join_all;
use worker::{Env, Method, Response};

use crate::error::Error;
use crate::keys;
use crate::settings::Settings;

/// Path prefix of the admin API.
pub(crate) const PREFIX: &str = "/admin/v1/keys";
/// Largest page of a list.
const MAX_PAGE: u64 = 100;

/// Answers one admin request.
pub(crate) async fn handle(
    req: Incoming,
    env: &Env,
    settings: &Settings,
    hop: &Hop,
) -> Result<Response, Error> {
    let path = req.path();
    crate::gate::check_framing(&req, settings, &req.inner().method(), &path)?;
    guard::require_admin_throttled(req.inner(), env, crate::limiter::BINDING).await?;
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let kv = keys::store(env)?;
    let now_s = now_ms() / 1000;
    let method = Method::from(req.method());
    match (method, segments.as_slice()) {
        (Method::Post, []) => {
            let new = NewKey::from_json(&read_body(&req, env).await?, now_s)?;
            let issued = new.issue(random()?, random()?, settings.key_rate_limit, now_s);
            keys::save(&kv, &issued.record).await?;
            hop.decide("admin_key_created");
            shown_once(201, &issued)
        }
        (Method::Get, []) => {
            let url = req.url()?;
            let query = |name: &str| {
                url.query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
            };
            let limit = match query("limit") {
                None => 50,
                Some(raw) => raw
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or(AdminError::InvalidField {
                        field: "limit",
                        reason: "expected 1..=100",
                    })?,
            };
            let (ids, cursor) = keys::list_ids(&kv, limit, query("cursor")).await?;
            let records = join_all(ids.iter().map(|id| keys::load(&kv, id))).await;
            let mut views = Vec::with_capacity(records.len());
            for record in records {
                if let Some(r) = record? {
                    views.push(r.info);
                }
            }
            hop.decide("admin_keys_listed");
            Ok(respond::json(
                200,
                &serde_json::json!({ "keys": views, "cursor": cursor }),
            )?)
        }
        (Method::Get, [id]) => {
            let record = existing(&kv, id).await?;
            hop.decide("admin_key_read");
            Ok(respond::json(200, &record.info)?)
        }
        (Method::Post, [id, "revoke"]) => {
            let record = key_admin::revoke(&existing(&kv, id).await?, now_s);
            keys::save(&kv, &record).await?;
            hop.decide("admin_key_revoked");
            Ok(respond::json(200, &record.info)?)
        }
        (Method::Post, [id, "rotate"]) => {
            let rotation = Rotation::from_json(&read_body(&req, env).await?)?;
            let issued = rotation.apply(&existing(&kv, id).await?, random()?, now_s)?;
            keys::save(&kv, &issued.record).await?;
            hop.decide("admin_key_rotated");
            shown_once(200, &issued)
        }
        (_, [] | [_] | [_, "revoke" | "rotate"]) => Err(CommonError::MethodNotAllowed.into()),
        _ => Err(CommonError::NotFound.into()),
    }
}

async fn existing(
    kv: &worker::kv::KvStore,
    id: &str,
) -> Result<edge_core::auth::api_key::ApiKeyRecord, Error> {
    if !edge_core::auth::api_key::valid_id(id) {
        return Err(AdminError::KeyNotFound.into());
    }
    keys::load(kv, id)
        .await?
        .ok_or_else(|| AdminError::KeyNotFound.into())
}

/// The only response that ever contains a key.
fn shown_once(status: u16, issued: &Issued) -> Result<Response, Error> {
    Ok(respond::json(
        status,
        &serde_json::json!({ "key": issued.key, "record": issued.record.info }),
    )?)
}

async fn read_body(req: &Incoming, env: &Env) -> Result<Vec<u8>, Error> {
    Ok(body::read(req.inner(), env, MAX_ADMIN_BODY_BYTES).await?)
}

/// Bytes from the runtime's CSPRNG (`crypto.getRandomValues`).
fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|_| CommonError::Internal)?;
    Ok(bytes)
}
