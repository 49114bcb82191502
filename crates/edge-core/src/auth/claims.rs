//! Claims mapping: how a verified token's claims become an [`Identity`]'s user id, role
//! and permissions, configured per deployment (auth-validator's `JWT_CLAIMS`, one JSON
//! object; see [`ClaimsMapping::parse`]).
//!
//! Identity providers put the same facts in different places: Auth0 `permissions`, Okta
//! and Entra ID `scp`, Cognito `scope` and `cognito:groups`, Entra ID `roles`, Firebase
//! `user_id`, Supabase `role` and `app_metadata`, namespaced custom claims such as
//! `https://example.com/roles`. A mapping names the claims to read ([`ClaimPath`]), and
//! optionally translates provider values into our permissions and roles.
//!
//! Paths are unambiguous although claim names may hold dots and colons: a JSON string
//! is one exact top-level claim name (`"cognito:groups"`, `"https://example.com/roles"`),
//! a JSON array is a path of exact names from the top (`["app_metadata", "roles"]`).
//!
//! A value that cannot be used (not a string, not a valid permission or role once mapped,
//! beyond the limits) is ignored and counted in [`Identity::ignored_values`]: it is never a
//! reason to refuse a token whose signature and registered claims are valid. Only the user
//! id is required, since every hop behind the edge keys on it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::AuthError;
use crate::auth::identity::{
    DEFAULT_ROLE, MAX_PERMISSIONS, encode_subject, valid_permission, valid_role,
};

/// Largest `JWT_CLAIMS` document, in bytes.
pub const MAX_CONFIG_BYTES: usize = 16 * 1024;
/// Most claims one list (`permissions`, `roles`, `audience`) may name.
pub const MAX_SOURCES: usize = 8;
/// Deepest path into nested claims.
pub const MAX_PATH_DEPTH: usize = 4;
/// Most entries of `map` and of `role_map` each.
pub const MAX_MAP_ENTRIES: usize = 256;
/// Most permissions one provider value may map to.
pub const MAX_MAPPED_PERMISSIONS: usize = 16;
/// Most values read from one claim; the rest are counted as ignored without being looked at.
pub const MAX_VALUES_PER_CLAIM: usize = 256;
/// Longest provider value looked up, in bytes; longer ones are ignored.
pub const MAX_VALUE_BYTES: usize = 256;

/// Where a claim is: exact names from the top of the claims object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// The top-level claim `name`, taken literally (dots and colons included).
    #[must_use]
    pub fn top(name: &str) -> Self {
        Self(vec![name.to_owned()])
    }

    /// The value at this path, if every step is an object member.
    #[must_use]
    pub fn find<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.0.split_first()?;
        rest.iter()
            .try_fold(claims.get(first)?, |v, key| v.as_object()?.get(key))
    }

    /// The path as written in logs and errors: names joined with `/`.
    #[must_use]
    pub fn display(&self) -> String {
        self.0.join("/")
    }
}

/// What to do with a provider value that `map` / `role_map` does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmapped {
    /// Use it as it is when it is a valid permission (or role): the default, so tokens that
    /// already carry our names (`calls:read`) need no map.
    Keep,
    /// Ignore it (and count it): only what the maps name is granted.
    Drop,
}

/// A deployment's claims mapping; [`Default`] is the behaviour before mappings existed:
/// user id `sub`, permissions from `permissions` and `scope`, role from `role`, audience
/// from `aud`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsMapping {
    /// The claim holding the user id (a string, or an integer).
    pub subject: ClaimPath,
    /// Claims holding permissions: arrays of strings, or space-separated strings.
    pub permissions: Vec<ClaimPath>,
    /// Claims holding the role: a string or an array; the first usable value wins.
    pub roles: Vec<ClaimPath>,
    /// Claims where the configured audience may be listed (Cognito access tokens carry
    /// `client_id` instead of `aud`).
    pub audience: Vec<ClaimPath>,
    /// Provider value → our permissions.
    pub map: BTreeMap<String, Vec<String>>,
    /// Provider value → our role.
    pub role_map: BTreeMap<String, String>,
    /// Values no map lists.
    pub unmapped: Unmapped,
}

impl Default for ClaimsMapping {
    fn default() -> Self {
        Self {
            subject: ClaimPath::top("sub"),
            permissions: vec![ClaimPath::top("permissions"), ClaimPath::top("scope")],
            roles: vec![ClaimPath::top("role")],
            audience: vec![ClaimPath::top("aud")],
            map: BTreeMap::new(),
            role_map: BTreeMap::new(),
            unmapped: Unmapped::Keep,
        }
    }
}

/// Why a `JWT_CLAIMS` document was refused (the worker answers `misconfigured` naming the
/// var, for bearer tokens only, and `/health` reports it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("claims mapping: {0}")]
pub struct ClaimsConfigError(pub String);

/// A path as written in the document: a name, or an array of names.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawPath {
    Name(String),
    Path(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    subject: Option<RawPath>,
    permissions: Option<Vec<RawPath>>,
    roles: Option<Vec<RawPath>>,
    audience: Option<Vec<RawPath>>,
    #[serde(default)]
    map: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    role_map: BTreeMap<String, String>,
    unmapped: Option<Unmapped>,
}

fn path(raw: RawPath) -> Result<ClaimPath, ClaimsConfigError> {
    let names = match raw {
        RawPath::Name(n) => vec![n],
        RawPath::Path(p) => p,
    };
    if names.is_empty()
        || names.len() > MAX_PATH_DEPTH
        || names
            .iter()
            .any(|n| n.is_empty() || n.len() > MAX_VALUE_BYTES)
    {
        return Err(ClaimsConfigError(format!(
            "a claim path is 1..={MAX_PATH_DEPTH} non-empty names"
        )));
    }
    Ok(ClaimPath(names))
}

fn paths(
    raw: Option<Vec<RawPath>>,
    default: Vec<ClaimPath>,
    what: &str,
) -> Result<Vec<ClaimPath>, ClaimsConfigError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    if raw.len() > MAX_SOURCES {
        return Err(ClaimsConfigError(format!(
            "{what} names more than {MAX_SOURCES} claims"
        )));
    }
    raw.into_iter().map(path).collect()
}

impl ClaimsMapping {
    /// Parses a `JWT_CLAIMS` document, e.g.
    /// `{"subject":"oid","permissions":["scp","roles"],"map":{"Calls.Read":["calls:read"]}}`.
    ///
    /// Members (all optional; an absent one keeps its [`Default`]): `subject` (a path),
    /// `permissions`, `roles`, `audience` (lists of paths), `map` (value → permissions),
    /// `role_map` (value → role), `unmapped` (`keep` or `drop`). A path is a string (one
    /// exact top-level name) or an array of names.
    ///
    /// # Errors
    /// [`ClaimsConfigError`] for anything else: unknown members, empty or too deep paths,
    /// too many sources or entries, a mapped permission or role that is not valid.
    pub fn parse(document: &str) -> Result<Self, ClaimsConfigError> {
        if document.len() > MAX_CONFIG_BYTES {
            return Err(ClaimsConfigError("document too large".to_owned()));
        }
        let raw: Raw =
            serde_json::from_str(document).map_err(|e| ClaimsConfigError(e.to_string()))?;
        let d = Self::default();
        if raw.map.len() > MAX_MAP_ENTRIES || raw.role_map.len() > MAX_MAP_ENTRIES {
            return Err(ClaimsConfigError(format!(
                "a map holds at most {MAX_MAP_ENTRIES} entries"
            )));
        }
        for (from, to) in &raw.map {
            if from.len() > MAX_VALUE_BYTES
                || to.len() > MAX_MAPPED_PERMISSIONS
                || !to.iter().all(|p| valid_permission(p))
            {
                return Err(ClaimsConfigError(format!(
                    "map[{from:?}] must list at most {MAX_MAPPED_PERMISSIONS} valid permissions"
                )));
            }
        }
        for (from, to) in &raw.role_map {
            if from.len() > MAX_VALUE_BYTES || !valid_role(to) {
                return Err(ClaimsConfigError(format!(
                    "role_map[{from:?}] must be a valid role"
                )));
            }
        }
        Ok(Self {
            subject: raw.subject.map(path).transpose()?.unwrap_or(d.subject),
            permissions: paths(raw.permissions, d.permissions, "permissions")?,
            roles: paths(raw.roles, d.roles, "roles")?,
            audience: paths(raw.audience, d.audience, "audience")?,
            map: raw.map,
            role_map: raw.role_map,
            unmapped: raw.unmapped.unwrap_or(d.unmapped),
        })
    }

    /// Whether `want` is listed in any audience claim (a string, or an array of strings).
    #[must_use]
    pub fn audience_lists(&self, claims: &Map<String, Value>, want: &str) -> bool {
        self.audience
            .iter()
            .filter_map(|p| p.find(claims))
            .any(|v| match v {
                Value::String(a) => a == want,
                Value::Array(all) => all.iter().any(|a| a.as_str() == Some(want)),
                _ => false,
            })
    }

    /// The user id, encoded for headers ([`encode_subject`]).
    ///
    /// # Errors
    /// [`AuthError::InvalidClaim`] (`sub`) when the claim is missing, not a string or an
    /// integer, empty, over 256 bytes, holds control characters, or names an API key's
    /// user id (`key:…`).
    pub fn subject(&self, claims: &Map<String, Value>) -> Result<String, AuthError> {
        let raw = match self.subject.find(claims) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
            _ => return Err(AuthError::InvalidClaim { field: "sub" }),
        };
        encode_subject(&raw).ok_or(AuthError::InvalidClaim { field: "sub" })
    }

    /// The role and permissions the claims grant, and how many values were ignored.
    #[must_use]
    pub fn grants(&self, claims: &Map<String, Value>) -> Grants {
        let mut ignored = 0u32;
        let mut permissions: Vec<String> = Vec::new();
        let mut grant = |p: &str, ignored: &mut u32| {
            if permissions.iter().any(|have| have == p) {
                return;
            }
            if permissions.len() < MAX_PERMISSIONS {
                permissions.push(p.to_owned());
            } else {
                *ignored += 1;
            }
        };
        for value in values(&self.permissions, claims, &mut ignored) {
            match self.map.get(value) {
                Some(mapped) => mapped.iter().for_each(|p| grant(p, &mut ignored)),
                None if self.unmapped == Unmapped::Keep && valid_permission(value) => {
                    grant(value, &mut ignored);
                }
                None => ignored += 1,
            }
        }
        let mut role = None;
        for value in values(&self.roles, claims, &mut ignored) {
            let found = match self.role_map.get(value) {
                Some(mapped) => Some(mapped.clone()),
                None if self.unmapped == Unmapped::Keep => {
                    Some(value.to_ascii_lowercase()).filter(|r| valid_role(r))
                }
                None => None,
            };
            match found {
                Some(r) if role.is_none() => role = Some(r),
                Some(_) => {}
                None => ignored += 1,
            }
        }
        Grants {
            role: role.unwrap_or_else(|| DEFAULT_ROLE.to_owned()),
            permissions,
            ignored,
        }
    }
}

/// What [`ClaimsMapping::grants`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    /// The role ([`DEFAULT_ROLE`] when no claim gave a usable one).
    pub role: String,
    /// The permissions, each valid, no duplicates, at most [`MAX_PERMISSIONS`].
    pub permissions: Vec<String>,
    /// Values that were not usable and were skipped.
    pub ignored: u32,
}

/// The string values of `sources` in order: a string claim split on spaces, an array's
/// strings; anything else (numbers, objects, nested arrays, values over
/// [`MAX_VALUE_BYTES`], past [`MAX_VALUES_PER_CLAIM`]) counted in `ignored`.
fn values<'a>(
    sources: &'a [ClaimPath],
    claims: &'a Map<String, Value>,
    ignored: &mut u32,
) -> Vec<&'a str> {
    let mut out = Vec::new();
    for source in sources {
        let mut seen = 0usize;
        let mut take = |value: Option<&'a str>| {
            seen += 1;
            match value {
                Some(s) if seen <= MAX_VALUES_PER_CLAIM && s.len() <= MAX_VALUE_BYTES => {
                    out.push(s);
                }
                _ => *ignored += 1,
            }
        };
        match source.find(claims) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => s
                .split(' ')
                .filter(|p| !p.is_empty())
                .for_each(|p| take(Some(p))),
            Some(Value::Array(items)) => items.iter().for_each(|v| take(v.as_str())),
            Some(_) => take(None),
        }
    }
    out
}

#[cfg(test)]
mod tests;
