//! Web origins as configured values: `http(s)://host[:port]`, nothing else.

/// Whether `s` is exactly `http://` or `https://` followed by a lowercase host (letters,
/// digits, `-`, `.`, IPv6 brackets) and an optional `:port` — no path, query, userinfo
/// or whitespace. Used for CORS origins and routing endpoints.
#[must_use]
pub fn is_http_origin(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:[]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scheme_host_port() {
        for ok in [
            "https://app.example.com",
            "http://127.0.0.1:8790",
            "http://[::1]:80",
        ] {
            assert!(is_http_origin(ok), "{ok}");
        }
        for bad in [
            "",
            "https://",
            "ftp://a",
            "https://a/path",
            "https://a?x",
            "https://u@a",
            "https://A.example",
            "*",
        ] {
            assert!(!is_http_origin(bad), "{bad}");
        }
    }
}
