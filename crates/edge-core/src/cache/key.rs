//! Cache keys: which stored entry a request may be answered from.
//!
//! `c:<path> <query hash>|<identity hash>|e:<vary hash>`. The entry without `Vary` values
//! (`e:` of nothing) is the resource's base key: it holds the response itself, or, for a
//! resource that varies, a marker naming the `Vary` headers (see `entry::Stored`), so the
//! common case is one read. The path stays readable so a purge can list a prefix; the
//! query and the identity are SHA-256 hashed. A request that carries credentials is keyed
//! by a hash of who it is (the verified user id from auth-validator, else the
//! `Authorization` value itself), so one user's stored response can never answer another.
//!
//! Purge generations (issue 17): a prefix purge bumps that prefix's generation instead of
//! deleting keys, and [`generation_token`] (a hash of the generations of every purged
//! prefix of the path) is part of the key (`…|<owner>|g<token>|e:…`, [`with_generation`]),
//! so a purge makes every entry below the prefix unreachable at once, in both tiers and
//! every location, and they expire by their TTL.

use sha2::{Digest, Sha256};

use crate::hex::encode as hex;

/// Prefix of every key this cache writes.
pub const KEY_PREFIX: &str = "c:";
/// Longest path that is cached (KV keys are at most 512 bytes).
pub const MAX_PATH_BYTES: usize = 300;

/// Who a cached response belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// Anyone: a request without credentials.
    Shared,
    /// The verified user id forwarded by auth-validator (`x-auth-user-id`).
    User(&'a str),
    /// The raw `Authorization` value, when no verified id came with it.
    Credential(&'a str),
}

/// The key of a resource for one owner, without the `Vary` part; `None` when the path is
/// too long or has a space (it cannot be keyed, so it is not cached).
#[must_use]
pub fn resource(path: &str, query: Option<&str>, owner: Owner<'_>) -> Option<String> {
    if path.len() > MAX_PATH_BYTES || !path.starts_with('/') || path.contains(' ') {
        return None;
    }
    let owner = match owner {
        Owner::Shared => SHARED.to_owned(),
        Owner::User(id) => hex(&Sha256::digest(format!("user\0{id}").as_bytes())),
        Owner::Credential(c) => hex(&Sha256::digest(format!("cred\0{c}").as_bytes())),
    };
    Some(format!("{}|{owner}", uri_prefix(path, query)))
}

/// The key of the entry of `resource` for these `Vary` values (lowercase name, value);
/// with none, the resource's base key.
#[must_use]
pub fn entry_key(resource: &str, vary: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    for (name, value) in vary {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(value.as_bytes());
        h.update([0]);
    }
    format!("{resource}|e:{}", &hex(&h.finalize())[..32])
}

/// The key prefix of every entry of one URI (all owners, all variants): what a purge by
/// URL or an unsafe request invalidates.
#[must_use]
pub fn uri_prefix(path: &str, query: Option<&str>) -> String {
    let q = query.filter(|q| !q.is_empty()).unwrap_or("");
    format!(
        "{KEY_PREFIX}{path} {}",
        &hex(&Sha256::digest(q.as_bytes()))[..32]
    )
}

/// The key prefix of every entry whose path starts with `path_prefix`.
#[must_use]
pub fn path_prefix(path_prefix: &str) -> String {
    format!("{KEY_PREFIX}{path_prefix}")
}

/// Owner part of the keys anyone may be answered from.
const SHARED: &str = "shared";

/// A purged prefix and its generation (the purge's time, unix ms).
pub type Generation = (String, u64);

/// The generation token of `path` under `table`: a hash of the generations of every
/// purged prefix of `path`, `0` when none. It changes whenever one of them is purged.
#[must_use]
pub fn generation_token(table: &[Generation], path: &str) -> String {
    let mut matching: Vec<&Generation> = table
        .iter()
        .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
        .collect();
    if matching.is_empty() {
        return "0".to_owned();
    }
    matching.sort();
    let mut h = Sha256::new();
    for (prefix, generation) in matching {
        h.update(prefix.as_bytes());
        h.update([0]);
        h.update(generation.to_be_bytes());
    }
    hex(&h.finalize())[..16].to_owned()
}

/// `resource` (see [`resource`]) in generation `token`: what [`entry_key`] takes.
#[must_use]
pub fn with_generation(resource: &str, token: &str) -> String {
    format!("{resource}|g{token}")
}

/// The path of a key or key prefix (`c:<path> …`).
#[must_use]
pub fn path_of(key: &str) -> Option<&str> {
    key.strip_prefix(KEY_PREFIX)?
        .split_once(' ')
        .map(|(path, _)| path)
}

/// The base key anyone may be answered from for the URI of `uri_prefix` (see
/// [`uri_prefix`]) in generation `token`.
#[must_use]
pub fn shared_base(uri_prefix: &str, token: &str) -> String {
    entry_key(
        &with_generation(&format!("{uri_prefix}|{SHARED}"), token),
        &[],
    )
}

/// Whether `key` is a base key anyone may be answered from (no owner, no `Vary` part).
#[must_use]
pub fn is_shared_base(key: &str) -> bool {
    let Some((uri, _)) = key.split_once('|') else {
        return false;
    };
    let Some(token) = key
        .strip_prefix(uri)
        .and_then(|rest| rest.strip_prefix(&format!("|{SHARED}|g")))
        .and_then(|rest| rest.split_once('|'))
        .map(|(token, _)| token)
    else {
        return false;
    };
    key == shared_base(uri, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_never_share_keys() {
        let shared = resource("/a", None, Owner::Shared).expect("keyed");
        let alice = resource("/a", None, Owner::User("alice")).expect("keyed");
        let bob = resource("/a", None, Owner::User("bob")).expect("keyed");
        let cred = resource("/a", None, Owner::Credential("alice")).expect("keyed");
        let all = [&shared, &alice, &bob, &cred];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert!(!alice.contains("alice"), "identities are hashed");
        assert!(alice.len() < 512 - 40);
    }

    #[test]
    fn queries_and_variants_separate_entries_and_prefixes_cover_them() {
        let a = resource("/a", Some("x=1"), Owner::Shared).expect("keyed");
        let b = resource("/a", Some("x=2"), Owner::Shared).expect("keyed");
        assert_ne!(a, b);
        assert_eq!(
            resource("/a", Some(""), Owner::Shared),
            resource("/a", None, Owner::Shared)
        );
        let gzip = entry_key(&a, &[("accept-encoding".into(), "gzip".into())]);
        let br = entry_key(&a, &[("accept-encoding".into(), "br".into())]);
        assert_ne!(gzip, br);
        let uri = uri_prefix("/a", Some("x=1"));
        assert!(gzip.starts_with(&uri) && entry_key(&a, &[]).starts_with(&uri));
        assert_ne!(gzip, entry_key(&a, &[]));
        assert!(!b.starts_with(&uri));
        assert!(a.starts_with(&path_prefix("/a")));
        assert!(!uri_prefix("/ab", None).starts_with(&uri_prefix("/a", None)));
        assert_eq!(
            resource(
                &format!("/{}", "p".repeat(MAX_PATH_BYTES)),
                None,
                Owner::Shared
            ),
            None
        );
    }

    #[test]
    fn generations_of_purged_prefixes_change_the_keys_below_them_only() {
        let none: Vec<Generation> = Vec::new();
        assert_eq!(generation_token(&none, "/a/b"), "0");
        let table = vec![("/a/".to_owned(), 5), ("/c/".to_owned(), 7)];
        let before = generation_token(&table, "/a/b");
        assert_ne!(before, "0");
        assert_eq!(
            generation_token(&table, "/b/x"),
            "0",
            "not below a purged prefix"
        );
        let bumped = vec![("/a/".to_owned(), 6), ("/c/".to_owned(), 7)];
        assert_ne!(generation_token(&bumped, "/a/b"), before);
        let other = vec![("/a/".to_owned(), 5), ("/c/".to_owned(), 8)];
        assert_eq!(
            generation_token(&other, "/a/b"),
            before,
            "another prefix's purge"
        );
        let nested = vec![
            ("/c/".to_owned(), 7),
            ("/a/".to_owned(), 5),
            ("/".to_owned(), 1),
        ];
        assert_ne!(
            generation_token(&nested, "/a/b"),
            before,
            "a purge of / covers all"
        );
        let reordered = vec![("/".to_owned(), 1), ("/a/".to_owned(), 5)];
        assert_eq!(
            generation_token(&nested, "/a/b"),
            generation_token(&reordered, "/a/b")
        );
    }

    #[test]
    fn shared_base_keys_are_recognised() {
        let uri = uri_prefix("/a b", None);
        let res = resource("/a", Some("x=1"), Owner::Shared).expect("keyed");
        let base = entry_key(&with_generation(&res, "abc"), &[]);
        assert!(is_shared_base(&base));
        assert_eq!(base, shared_base(&uri_prefix("/a", Some("x=1")), "abc"));
        assert_eq!(path_of(&base), Some("/a"));
        assert_eq!(path_of(&uri), Some("/a"));
        let variant = entry_key(&with_generation(&res, "abc"), &[("a".into(), "b".into())]);
        assert!(!is_shared_base(&variant));
        let user = resource("/a", None, Owner::User("u")).expect("keyed");
        assert!(!is_shared_base(&entry_key(
            &with_generation(&user, "0"),
            &[]
        )));
        assert!(!is_shared_base("c:/a"));
        assert!(variant.starts_with(&uri_prefix("/a", Some("x=1"))));
    }
}
