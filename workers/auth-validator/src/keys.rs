//! The API key store: one KV entry per key id, holding an `ApiKeyRecord` (digests only).
//!
//! KV is eventually consistent: a revocation is visible at once where it was written and
//! within about a minute elsewhere (KV's edge cache). Counting is never done here — rate
//! limits live in the `RateLimiter` Durable Object.

use edge_core::auth::Identity;
use edge_core::auth::api_key::{self, ApiKey, ApiKeyRecord};
use edge_core::error::CommonError;
use worker::kv::KvStore;
use worker::{Env, console_error};

use crate::error::Error;

/// KV binding holding the records.
const BINDING: &str = "API_KEYS";
/// Prefix of every record's KV key.
const PREFIX: &str = "apikey:";

/// The KV store of key records.
pub(crate) fn store(env: &Env) -> Result<KvStore, CommonError> {
    env.kv(BINDING)
        .map_err(|_| CommonError::Misconfigured(BINDING))
}

/// Verifies a presented key at `now_s`.
pub(crate) async fn verify(env: &Env, key: &ApiKey, now_s: u64) -> Result<Identity, Error> {
    match load(&store(env)?, key.id()).await? {
        Some(record) => Ok(record.verify(key, now_s)?),
        None => Err(api_key::verify_missing(key).into()),
    }
}

/// The record of `id`, if one exists.
pub(crate) async fn load(kv: &KvStore, id: &str) -> Result<Option<ApiKeyRecord>, Error> {
    let raw = kv
        .get(&format!("{PREFIX}{id}"))
        .text()
        .await
        .map_err(|e| internal("read", id, &e.to_string()))?;
    raw.map(|text| {
        serde_json::from_str(&text).map_err(|e| internal("decode", id, &e.to_string()).into())
    })
    .transpose()
}

/// Stores `record` under its id.
pub(crate) async fn save(kv: &KvStore, record: &ApiKeyRecord) -> Result<(), Error> {
    let text = serde_json::to_string(record)
        .map_err(|e| internal("encode", &record.info.id, &e.to_string()))?;
    kv.put(&format!("{PREFIX}{}", record.info.id), text)
        .map_err(|e| internal("write", &record.info.id, &e.to_string()))?
        .execute()
        .await
        .map_err(|e| internal("write", &record.info.id, &e.to_string()))?;
    Ok(())
}

/// One page of key ids (at most `limit`), and the cursor of the next page if any.
pub(crate) async fn list_ids(
    kv: &KvStore,
    limit: u64,
    cursor: Option<String>,
) -> Result<(Vec<String>, Option<String>), Error> {
    let mut req = kv.list().prefix(PREFIX.to_owned()).limit(limit);
    if let Some(c) = cursor {
        req = req.cursor(c);
    }
    let page = req
        .execute()
        .await
        .map_err(|e| internal("list", "*", &e.to_string()))?;
    let ids = page
        .keys
        .into_iter()
        .filter_map(|k| k.name.strip_prefix(PREFIX).map(str::to_owned))
        .collect();
    Ok((ids, (!page.list_complete).then_some(page.cursor).flatten()))
}

fn internal(what: &str, id: &str, reason: &str) -> CommonError {
    console_error!("api key store: {what} of {id} failed: {reason}");
    CommonError::Internal
}
