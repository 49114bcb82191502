use proptest::prelude::*;
use serde_json::json;

use super::*;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn mapping(doc: &str) -> ClaimsMapping {
    ClaimsMapping::parse(doc).expect("valid mapping")
}

/// Percent-decoding, as an origin would (`decodeURIComponent`).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.extend(crate::hex::decode(&s[i + 1..i + 3]).expect("hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn the_default_reads_sub_permissions_scope_and_role() {
    let m = ClaimsMapping::default();
    let c = obj(
        json!({"sub":"u1","permissions":["calls:read"],"scope":"agents:write openid",
        "role":"Operator"}),
    );
    assert_eq!(m.subject(&c), Ok("u1".to_owned()));
    let g = m.grants(&c);
    assert_eq!(g.permissions, ["calls:read", "agents:write", "openid"]);
    assert_eq!((g.role.as_str(), g.ignored), ("operator", 0));
    assert_eq!(ClaimsMapping::parse("{}"), Ok(ClaimsMapping::default()));
}

#[test]
fn names_with_dots_and_colons_are_exact_and_arrays_are_paths() {
    let m = mapping(
        r#"{"permissions":["cognito:groups","https://example.com/roles",["app_metadata","roles"]],
            "map":{"support":["calls:read"],"Billing":["invoices:read","invoices:write"]}}"#,
    );
    let c = obj(json!({"sub":"u","cognito:groups":["support"],
        "https://example.com/roles":["Billing"],"app_metadata":{"roles":["agents:read"]},
        "cognito":{"groups":["admin:*"]}}));
    let g = m.grants(&c);
    assert_eq!(
        g.permissions,
        [
            "calls:read",
            "invoices:read",
            "invoices:write",
            "agents:read"
        ]
    );
    assert_eq!(g.ignored, 0);
}

#[test]
fn subject_claim_is_configurable_and_non_ascii_is_percent_encoded() {
    let m = mapping(r#"{"subject":"oid"}"#);
    let c = obj(json!({"sub":"ignored","oid":"ผู้ใช้-1"}));
    let s = m.subject(&c).expect("subject");
    assert!(s.bytes().all(|b| b.is_ascii_graphic()), "{s}");
    assert_eq!(decode(&s), "ผู้ใช้-1");
    let emoji = mapping(r#"{"subject":["firebase","identities","uid"]}"#);
    let c = obj(json!({"firebase":{"identities":{"uid":"a 🚀%b"}}}));
    assert_eq!(emoji.subject(&c), Ok("a%20%F0%9F%9A%80%25b".to_owned()));
    let numeric = mapping(r#"{"subject":"user_id"}"#);
    assert_eq!(
        numeric.subject(&obj(json!({"user_id": 42}))),
        Ok("42".to_owned())
    );
    for bad in [
        json!({}),
        json!({"oid": ""}),
        json!({"oid": ["a"]}),
        json!({"oid": "a\r\nx-auth-role: admin"}),
        json!({"oid": "key:0101010101010101"}),
        json!({"oid": "x".repeat(257)}),
    ] {
        assert_eq!(
            m.subject(&obj(bad.clone())),
            Err(AuthError::InvalidClaim { field: "sub" }),
            "{bad}"
        );
    }
}

#[test]
fn unusable_values_are_skipped_and_counted_never_refused() {
    let m = mapping(r#"{"permissions":["scp","roles"],"roles":["role"]}"#);
    let c = obj(
        json!({"scp":["calls:read", 7, {"x":1}, "has space?", "calls:read"],
        "roles": 12, "role": ["", "Not A Role", "SUPPORT", "admin"]}),
    );
    let g = m.grants(&c);
    assert_eq!(g.permissions, ["calls:read"]);
    assert_eq!(g.role, "support", "the first usable role wins");
    // 7, {"x":1}, "has space?" (one array item), 12, "", "Not A Role"
    assert_eq!(g.ignored, 6);
}

#[test]
fn maps_translate_and_drop_leaves_only_what_they_name() {
    let m = mapping(
        r#"{"permissions":["groups"],"roles":["groups"],"unmapped":"drop",
            "map":{"Everyone":[],"Support":["calls:read","calls:write"]},
            "role_map":{"Admins":"admin","Support":"support"}}"#,
    );
    let g = m.grants(&obj(
        json!({"groups":["Everyone","Support","calls:write","Admins"]}),
    ));
    assert_eq!(g.permissions, ["calls:read", "calls:write"]);
    assert_eq!(g.role, "support", "the first mapped group in token order");
    // permissions: "calls:write", "Admins" unmapped; roles: "Everyone", "calls:write"
    assert_eq!(g.ignored, 4);
    let keep = mapping(r#"{"permissions":["groups"],"map":{"Support":["calls:read"]}}"#);
    let g = keep.grants(&obj(
        json!({"groups":["Support","agents:read","Sales Team"]}),
    ));
    // An array item is one value (only string claims are split on spaces).
    assert_eq!(g.permissions, ["calls:read", "agents:read"]);
    assert_eq!(g.ignored, 1);
}

#[test]
fn audience_may_come_from_another_claim() {
    let m = mapping(r#"{"audience":["aud","client_id"]}"#);
    assert!(m.audience_lists(&obj(json!({"client_id":"app1"})), "app1"));
    assert!(m.audience_lists(&obj(json!({"aud":["x","app1"]})), "app1"));
    assert!(!m.audience_lists(&obj(json!({"client_id":["app2"]})), "app1"));
    assert!(!ClaimsMapping::default().audience_lists(&obj(json!({"client_id":"app1"})), "app1"));
}

#[test]
fn malformed_documents_are_refused() {
    for doc in [
        "",
        "[]",
        "{\"subjet\":\"oid\"}",
        "{\"subject\":\"\"}",
        "{\"subject\":[]}",
        "{\"subject\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
        "{\"permissions\":\"scp\"}",
        "{\"permissions\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}",
        "{\"map\":{\"x\":[\"not a permission\"]}}",
        "{\"map\":{\"x\":\"calls:read\"}}",
        "{\"role_map\":{\"x\":\"Admin\"}}",
        "{\"unmapped\":\"sometimes\"}",
    ] {
        assert!(ClaimsMapping::parse(doc).is_err(), "{doc}");
    }
    let big = format!(
        "{{\"map\":{{\"x\":[\"{}\"]}}}}",
        "a".repeat(MAX_CONFIG_BYTES)
    );
    assert!(ClaimsMapping::parse(&big).is_err());
    let many: Map<String, Value> = (0..=MAX_MAP_ENTRIES)
        .map(|i| (format!("v{i}"), json!(["calls:read"])))
        .collect();
    let doc = json!({ "map": many }).to_string();
    assert!(ClaimsMapping::parse(&doc).is_err());
}

#[test]
fn huge_claims_are_bounded() {
    let m = mapping(r#"{"permissions":["groups"]}"#);
    let groups: Vec<String> = (0..1000).map(|i| format!("g{i}:read")).collect();
    let g = m.grants(&obj(json!({ "groups": groups })));
    assert_eq!(g.permissions.len(), MAX_PERMISSIONS);
    assert_eq!(
        g.ignored,
        1000 - u32::try_from(MAX_PERMISSIONS).expect("small")
    );
    let long = "x".repeat(MAX_VALUE_BYTES + 1);
    let g = m.grants(&obj(json!({ "groups": [long] })));
    assert_eq!((g.permissions.len(), g.ignored), (0, 1));
}

fn claim_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        "\\PC{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("[a-z:]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_claims_give_a_valid_identity_or_refuse_only_the_subject(
        claims in prop::collection::btree_map(
            prop_oneof![Just("sub".to_owned()), Just("scp".to_owned()),
                Just("role".to_owned()), Just("groups".to_owned()), "[a-z:]{1,6}"],
            claim_value(), 0..6),
    ) {
        let claims: Map<String, Value> = claims.into_iter().collect();
        let m = mapping(r#"{"permissions":["scp","groups",["groups","x"]],"roles":["role","groups"],
            "map":{"a":["calls:read"]},"role_map":{"b":"admin"}}"#);
        let g = m.grants(&claims);
        prop_assert!(valid_role(&g.role));
        prop_assert!(g.permissions.len() <= MAX_PERMISSIONS);
        prop_assert!(g.permissions.iter().all(|p| valid_permission(p)));
        if let Ok(s) = m.subject(&claims) {
            prop_assert!(s.bytes().all(|b| b.is_ascii_graphic()));
        }
    }

    #[test]
    fn subjects_round_trip_through_their_encoding(raw in "\\PC{1,60}") {
        if let Some(encoded) = encode_subject(&raw) {
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
            prop_assert_eq!(decode(&encoded), raw);
        } else {
            prop_assert!(raw.starts_with("key:") || raw.len() > 256 || raw.chars().any(char::is_control));
        }
    }
}
