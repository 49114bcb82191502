use super::*;
use crate::cache::entry::format_http_date;

const T: u64 = 1_700_000_000;

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn req<'a>(method: &'a str, headers: &'a [(String, String)]) -> RequestFacts<'a> {
    RequestFacts {
        method,
        path: "/api/v1/agents/a1",
        query: None,
        headers,
    }
}

fn entry(status: u16, headers: &[(&str, &str)]) -> EntryMeta {
    EntryMeta::from_response(status, &h(headers), &[], T, T)
}

#[test]
fn plans() {
    let none = h(&[]);
    assert!(matches!(
        plan(&req("GET", &none), PathPolicy::OriginOnly),
        Plan::Lookup(_)
    ));
    assert!(matches!(
        plan(&req("HEAD", &none), PathPolicy::OriginOnly),
        Plan::Lookup(_)
    ));
    assert!(matches!(
        plan(&req("DELETE", &none), PathPolicy::OriginOnly),
        Plan::Invalidate(_)
    ));
    assert_eq!(
        plan(&req("OPTIONS", &none), PathPolicy::OriginOnly),
        Plan::Bypass("method")
    );
    assert_eq!(
        plan(&req("GET", &none), PathPolicy::Never),
        Plan::Bypass("policy")
    );
    let range = h(&[("range", "bytes=0-1")]);
    assert_eq!(
        plan(&req("GET", &range), PathPolicy::OriginOnly),
        Plan::Bypass("range")
    );
    let ns = h(&[("cache-control", "no-store")]);
    assert_eq!(
        plan(&req("GET", &ns), PathPolicy::OriginOnly),
        Plan::Bypass("request_no_store")
    );
}

#[test]
fn identities_get_their_own_keys() {
    let alice = h(&[("authorization", "Bearer a"), ("x-auth-user-id", "alice")]);
    let alice2 = h(&[
        ("authorization", "Bearer other-token"),
        ("x-auth-user-id", "alice"),
    ]);
    let bob = h(&[("authorization", "Bearer b"), ("x-auth-user-id", "bob")]);
    let anon = h(&[]);
    let k = |hs| match plan(&req("GET", hs), PathPolicy::OriginOnly) {
        Plan::Lookup(k) => k,
        other => panic!("{other:?}"),
    };
    assert_eq!(k(&alice), k(&alice2), "same verified user, any token");
    assert_ne!(k(&alice), k(&bob));
    assert_ne!(k(&alice), k(&anon));
}

#[test]
fn storability_rules() {
    let anon = h(&[]);
    let authed = h(&[("authorization", "Bearer t"), ("x-auth-user-id", "u")]);
    let ok = |hs: &[(String, String)], e: &EntryMeta| {
        storability(
            &req("GET", hs),
            e,
            PathPolicy::OriginOnly,
            SetCookie::Refuse,
        )
    };
    assert!(ok(&anon, &entry(200, &[("cache-control", "max-age=60")])).is_ok());
    assert_eq!(
        ok(
            &anon,
            &entry(200, &[("cache-control", "max-age=60, private")])
        ),
        Err("private")
    );
    assert_eq!(
        ok(
            &anon,
            &entry(200, &[("cache-control", "no-store, max-age=60")])
        ),
        Err("no_store")
    );
    assert_eq!(
        ok(
            &anon,
            &entry(
                200,
                &[("cache-control", "max-age=60"), ("set-cookie", "s=1")]
            )
        ),
        Err("set_cookie")
    );
    assert_eq!(
        ok(&anon, &entry(206, &[("cache-control", "max-age=60")])),
        Err("status")
    );
    assert_eq!(
        ok(
            &anon,
            &entry(200, &[("cache-control", "max-age=60"), ("vary", "*")])
        ),
        Err("vary_star")
    );
    assert_eq!(ok(&anon, &entry(200, &[])), Err("not_fresh"));
    assert!(
        ok(&anon, &entry(200, &[("etag", "\"1\"")])).is_ok(),
        "kept to revalidate"
    );
    // RFC 9111 §3.5: with Authorization, only public / s-maxage / must-revalidate.
    assert_eq!(
        ok(&authed, &entry(200, &[("cache-control", "max-age=60")])),
        Err("authorization")
    );
    for cc in [
        "public, max-age=60",
        "s-maxage=60",
        "must-revalidate, max-age=60",
    ] {
        assert!(
            ok(&authed, &entry(200, &[("cache-control", cc)])).is_ok(),
            "{cc}"
        );
    }
    // Policy TTL where the origin says nothing.
    assert!(
        storability(
            &req("GET", &anon),
            &entry(200, &[]),
            PathPolicy::DefaultTtl(300),
            SetCookie::Refuse
        )
        .is_ok()
    );
    let keep = ok(
        &anon,
        &entry(
            200,
            &[(
                "cache-control",
                "max-age=10, stale-while-revalidate=100, stale-if-error=500",
            )],
        ),
    )
    .expect("storable");
    assert_eq!(keep.keep_s, 510);
}

#[test]
fn evaluation_fresh_stale_and_windows() {
    let anon = h(&[]);
    let e = entry(
        200,
        &[(
            "cache-control",
            "max-age=10, stale-while-revalidate=20, stale-if-error=100",
        )],
    );
    let at = |now| evaluate(&e, &req("GET", &anon), PathPolicy::OriginOnly, now);
    assert!(at(T + 9).fresh);
    assert_eq!(at(T + 9).age_s, 9);
    let stale = at(T + 15);
    assert!(!stale.fresh && stale.serve_while_revalidating && stale.serve_on_error);
    let later = at(T + 40);
    assert!(!later.serve_while_revalidating && later.serve_on_error);
    assert!(!at(T + 200).serve_on_error);

    let strict = entry(
        200,
        &[(
            "cache-control",
            "max-age=10, must-revalidate, stale-while-revalidate=20, stale-if-error=100",
        )],
    );
    let s = evaluate(&strict, &req("GET", &anon), PathPolicy::OriginOnly, T + 15);
    assert!(
        !s.serve_while_revalidating && !s.serve_on_error,
        "must-revalidate forbids stale"
    );
    let no_cache = entry(
        200,
        &[
            ("cache-control", "no-cache, max-age=100"),
            ("etag", "\"x\""),
        ],
    );
    assert!(!evaluate(&no_cache, &req("GET", &anon), PathPolicy::OriginOnly, T).fresh);

    let wants_fresh = h(&[("cache-control", "no-cache")]);
    assert!(!evaluate(&e, &req("GET", &wants_fresh), PathPolicy::OriginOnly, T + 1).fresh);
    let max_age0 = h(&[("cache-control", "max-age=0")]);
    assert!(!evaluate(&e, &req("GET", &max_age0), PathPolicy::OriginOnly, T + 1).fresh);
}

#[test]
fn revalidation_and_merge() {
    let lm = format_http_date(T - 1000);
    let e = entry(
        200,
        &[
            ("etag", "\"v1\""),
            ("last-modified", &lm),
            ("content-length", "5"),
            ("x-old", "1"),
            ("cache-control", "max-age=10"),
        ],
    );
    let cond = conditional_headers(&e);
    assert_eq!(
        cond,
        vec![
            ("if-none-match", "\"v1\"".to_owned()),
            ("if-modified-since", lm.clone())
        ]
    );
    let merged = merge_not_modified(
        &e,
        &h(&[
            ("Cache-Control", "max-age=60"),
            ("Content-Length", "0"),
            ("X-New", "2"),
        ]),
        T + 50,
        T + 51,
    );
    assert_eq!(merged.header("cache-control"), Some("max-age=60"));
    assert_eq!(
        merged.header("content-length"),
        Some("5"),
        "the stored body's length stays"
    );
    assert_eq!(merged.header("x-old"), Some("1"));
    assert_eq!(merged.header("x-new"), Some("2"));
    assert_eq!(merged.status, 200);
    assert!(evaluate(&merged, &req("GET", &[]), PathPolicy::OriginOnly, T + 100).fresh);

    let inm = h(&[("if-none-match", "W/\"v1\", \"v0\"")]);
    assert!(client_has_current(&req("GET", &inm), &e));
    let other = h(&[("if-none-match", "\"v2\"")]);
    assert!(!client_has_current(&req("GET", &other), &e));
}

#[test]
fn only_non_error_answers_invalidate() {
    assert!([200, 201, 204, 302, 399].into_iter().all(invalidates));
    assert!(![400, 404, 409, 500, 503].into_iter().any(invalidates));
}

#[test]
fn a_declared_length_over_the_limit_is_too_large() {
    assert!(declared_too_large(
        &entry(200, &[("content-length", "11")]),
        10
    ));
    assert!(!declared_too_large(
        &entry(200, &[("content-length", "10")]),
        10
    ));
    assert!(
        !declared_too_large(&entry(200, &[]), 10),
        "chunked: read to find out"
    );
    assert!(!declared_too_large(
        &entry(200, &[("content-length", "x")]),
        10
    ));
}

#[test]
fn revalidation_replaces_the_clients_conditionals_with_ours() {
    let client = h(&[
        ("accept", "text/plain"),
        ("if-none-match", "\"client\""),
        ("if-modified-since", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("if-match", "\"m\""),
        ("if-unmodified-since", "Mon, 01 Jan 2024 00:00:00 GMT"),
    ]);
    assert_eq!(
        origin_request_headers(&client, &[]),
        client,
        "a miss sends the client's own"
    );
    let ours = vec![("if-none-match", "\"v1\"".to_owned())];
    assert_eq!(
        origin_request_headers(&client, &ours),
        h(&[("accept", "text/plain"), ("if-none-match", "\"v1\"")])
    );
}

#[test]
fn what_a_revalidation_answer_means() {
    use AfterRevalidation::*;
    let cases = [
        (None, true, true, ServeStale),
        (None, true, false, Fail),
        (Some(304), true, false, Merge),
        (Some(304), false, true, Replace),
        (Some(500), true, true, ServeStale),
        (Some(503), true, false, Replace),
        (Some(200), true, true, Replace),
        (Some(404), true, true, Replace),
    ];
    for (status, validated, serve_on_error, want) in cases {
        assert_eq!(
            after_revalidation(status, validated, serve_on_error),
            want,
            "{status:?} {validated} {serve_on_error}"
        );
    }
}

#[test]
fn store_writes_put_a_vary_list_at_the_base_key() {
    let plain = entry(200, &[("cache-control", "max-age=60")]);
    let writes = store_writes("r", &plain, b"x", &[]);
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].0, key::entry_key("r", &[]));
    assert_eq!(
        writes[0].1.as_slice(),
        entry::encode(&plain, b"x").as_slice()
    );

    let req_headers = h(&[("accept-language", "de")]);
    let varied = EntryMeta::from_response(
        200,
        &h(&[("cache-control", "max-age=60"), ("vary", "Accept-Language")]),
        &req_headers,
        T,
        T,
    );
    let writes = store_writes("r", &varied, b"x", &req_headers);
    let keys: Vec<&str> = writes.iter().map(|(k, _)| k.as_str()).collect();
    let varied_key = key::entry_key("r", &entry::vary_values(&varied.vary_names(), &req_headers));
    assert_eq!(
        keys,
        [key::entry_key("r", &[]).as_str(), varied_key.as_str()]
    );
    assert_ne!(varied_key, key::entry_key("r", &[]));
    assert!(matches!(
        entry::decode_stored(&writes[0].1),
        Some(entry::Stored::Vary(names)) if names == ["accept-language"]
    ));
}

#[test]
fn entry_responses_carry_age_and_answer_the_clients_conditional() {
    let stored = entry(
        200,
        &[("etag", "\"v1\""), ("content-length", "2"), ("age", "99")],
    );
    let none = h(&[]);
    let served = entry_response(&req("GET", &none), &stored, 7);
    assert_eq!(served.status, 200);
    assert!(served.with_body);
    assert_eq!(
        served.headers,
        h(&[("etag", "\"v1\""), ("content-length", "2"), ("age", "7")])
    );

    let head = entry_response(&req("HEAD", &none), &stored, 7);
    assert_eq!((head.status, head.with_body), (200, false));

    let has = h(&[("if-none-match", "W/\"v1\"")]);
    let not_modified = entry_response(&req("GET", &has), &stored, 7);
    assert_eq!((not_modified.status, not_modified.with_body), (304, false));
    assert_eq!(not_modified.headers, h(&[("etag", "\"v1\""), ("age", "7")]));

    let empty = entry_response(&req("GET", &none), &entry(204, &[]), 0);
    assert!(!empty.with_body);
}

fn store(e: &EntryMeta) -> Result<StorePlan, &'static str> {
    let none: &[(String, String)] = &[];
    storability(
        &req("GET", none),
        e,
        PathPolicy::OriginOnly,
        SetCookie::Refuse,
    )
}

#[test]
fn issue_17_storable_statuses_rfc_9110_15_1_and_explicit_freshness() {
    // Heuristically cacheable: stored on a validator or a heuristic alone.
    for status in [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501] {
        assert!(
            store(&entry(status, &[("etag", "\"1\"")])).is_ok(),
            "{status}"
        );
    }
    // Others: only with explicit freshness (or public).
    for status in [
        201, 299, 302, 303, 307, 400, 403, 451, 499, 500, 502, 503, 504, 599,
    ] {
        assert_eq!(
            store(&entry(status, &[("etag", "\"1\"")])),
            Err("status"),
            "{status}"
        );
        assert!(
            store(&entry(status, &[("cache-control", "max-age=60")])).is_ok(),
            "{status}"
        );
        let expires = entry(
            status,
            &[
                ("date", &format_http_date(T)),
                ("expires", &format_http_date(T + 60)),
            ],
        );
        assert!(store(&expires).is_ok(), "{status} with Expires");
    }
    assert!(
        store(&entry(
            302,
            &[("cache-control", "public"), ("etag", "\"1\"")]
        ))
        .is_ok()
    );
    // Never: partial content, a 304 (a client's conditional answered), non-final.
    for status in [206, 304, 100, 600] {
        assert_eq!(
            store(&entry(status, &[("cache-control", "max-age=60")])),
            Err("status")
        );
    }
}

#[test]
fn issue_17_must_understand() {
    let mu = [("cache-control", "must-understand, no-store, max-age=60")];
    assert!(
        store(&entry(200, &mu)).is_ok(),
        "understood: no-store ignored"
    );
    assert!(store(&entry(404, &mu)).is_ok());
    assert_eq!(store(&entry(299, &mu)), Err("must_understand"));
    assert_eq!(store(&entry(499, &mu)), Err("must_understand"));
    assert_eq!(
        store(&entry(200, &[("cache-control", "no-store, max-age=60")])),
        Err("no_store")
    );
    let req_no_store = h(&[("cache-control", "no-store")]);
    assert_eq!(
        storability(
            &req("GET", &req_no_store),
            &entry(200, &mu),
            PathPolicy::OriginOnly,
            SetCookie::Refuse
        ),
        Err("no_store"),
        "the request's no-store still holds"
    );
}

#[test]
fn issue_17_invalid_age_is_not_stored_and_cdn_cache_control_decides() {
    assert_eq!(
        store(&entry(
            200,
            &[("cache-control", "max-age=60"), ("age", "1a")]
        )),
        Err("age")
    );
    assert!(
        store(&entry(
            200,
            &[("cache-control", "max-age=60"), ("age", "7200, 0")]
        ))
        .is_ok()
    );
    let targeted = entry(
        200,
        &[
            ("cache-control", "private, no-store"),
            ("cdn-cache-control", "max-age=60"),
        ],
    );
    assert!(
        store(&targeted).is_ok(),
        "the targeted field replaces Cache-Control"
    );
    let cf = entry(
        200,
        &[
            ("cache-control", "max-age=60"),
            ("cdn-cache-control", "max-age=60"),
            ("cloudflare-cdn-cache-control", "no-store"),
        ],
    );
    assert_eq!(store(&cf), Err("no_store"));
    let stale = entry(200, &[("cache-control", "max-age=3600"), ("age", "7200")]);
    let none = h(&[]);
    let eval = evaluate(&stale, &req("GET", &none), PathPolicy::OriginOnly, T);
    assert!(!eval.fresh && eval.age_s == 7200);
}

#[test]
fn issue_17_set_cookie_policy() {
    let e = entry(
        200,
        &[("cache-control", "max-age=60"), ("set-cookie", "s=1")],
    );
    let none = h(&[]);
    assert_eq!(store(&e), Err("set_cookie"));
    assert!(
        storability(
            &req("GET", &none),
            &e,
            PathPolicy::OriginOnly,
            SetCookie::Strip
        )
        .is_ok()
    );
    assert_eq!(SetCookie::parse("strip"), Ok(SetCookie::Strip));
    assert_eq!(SetCookie::parse(" refuse "), Ok(SetCookie::Refuse));
    assert_eq!(SetCookie::parse("store"), Err(()));
    assert_eq!(SetCookie::default(), SetCookie::Refuse);
}

#[test]
fn issue_17_if_modified_since_and_if_none_match() {
    let lm = format_http_date(T - 100);
    let e = entry(200, &[("etag", "\"v1\""), ("last-modified", &lm)]);
    let at = |hs: &[(&str, &str)]| {
        let hs = h(hs);
        client_has_current(&req("GET", &hs), &e)
    };
    assert!(at(&[("if-modified-since", &format_http_date(T - 100))]));
    assert!(at(&[("if-modified-since", &format_http_date(T))]));
    assert!(!at(&[("if-modified-since", &format_http_date(T - 101))]));
    assert!(
        at(&[("if-modified-since", "wednesday, 15-nov-23 00:00:00 gmt")]),
        "RFC 850, any case"
    );
    assert!(
        at(&[("if-modified-since", "wed NOV 15 00:00:00 2023")]),
        "asctime"
    );
    assert!(
        !at(&[("if-modified-since", "yesterday")]),
        "invalid: ignored"
    );
    // If-None-Match wins when both are sent.
    assert!(!at(&[
        ("if-none-match", "\"v0\""),
        ("if-modified-since", &format_http_date(T))
    ]));
    assert!(at(&[
        ("if-none-match", "\"v1\""),
        ("if-modified-since", &format_http_date(T - 1000))
    ]));
    // Without Last-Modified the Date counts; a non-200 entry never answers 304.
    let dated = entry(200, &[("date", &format_http_date(T - 5))]);
    let since = h(&[("if-modified-since", &format_http_date(T - 5))]);
    assert!(client_has_current(&req("GET", &since), &dated));
    let gone = entry(404, &[("etag", "\"v1\"")]);
    let inm = h(&[("if-none-match", "\"v1\"")]);
    assert!(!client_has_current(&req("GET", &inm), &gone));
    let served = entry_response(&req("GET", &since), &dated, 3);
    assert_eq!((served.status, served.with_body), (304, false));
}

#[test]
fn issue_17_location_and_content_location_on_the_same_origin_are_invalidated() {
    let o = "https://edge.example";
    let p = |path: &str| key::uri_prefix(path, None);
    let of = |hs: &[(&str, &str)]| also_invalidated(o, "/api/v1/agents/a1", &h(hs));
    assert_eq!(
        of(&[("location", "/api/v1/agents/a2")]),
        [p("/api/v1/agents/a2")]
    );
    assert_eq!(
        of(&[(
            "Content-Location",
            "HTTPS://EDGE.example/api/v1/agents/a3?x=1#f"
        )]),
        [key::uri_prefix("/api/v1/agents/a3", Some("x=1"))]
    );
    assert_eq!(of(&[("location", "a4")]), [p("/api/v1/agents/a4")]);
    assert_eq!(of(&[("location", "../b/./c")]), [p("/api/v1/b/c")]);
    assert_eq!(of(&[("location", "//edge.example/x")]), [p("/x")]);
    assert_eq!(of(&[("location", "https://edge.example")]), [p("/")]);
    for other in [
        "https://evil.example/api/v1/agents/a1",
        "http://edge.example/api/v1/agents/a1",
        "https://edge.example:8443/x",
        "//evil.example/x",
        "mailto:a@b",
        "",
        "/a b",
    ] {
        assert!(of(&[("location", other)]).is_empty(), "{other:?}");
    }
    assert_eq!(
        of(&[("location", "/x"), ("content-location", "/x")]),
        [p("/x")],
        "once"
    );
    assert!(of(&[("link", "</x>")]).is_empty());
}
