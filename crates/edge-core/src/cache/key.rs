//! Cache keys: which stored entry a request may be answered from.
//!
//! `c:<path> <query hash>|<identity hash>|e:<vary hash>`. The entry without `Vary` values
//! (`e:` of nothing) is the resource's base key: it holds the response itself, or, for a
//! resource that varies, a marker naming the `Vary` headers (see `entry::Stored`), so the
//! common case is one read. The path stays readable so a purge can list a prefix; the
//! query and the identity are SHA-256 hashed. A request that carries credentials is keyed
//! by a hash of who it is (the verified user id from auth-validator, else the
//! `Authorization` value itself), so one user's stored response can never answer another.

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
        Owner::Shared => "shared".to_owned(),
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
}
