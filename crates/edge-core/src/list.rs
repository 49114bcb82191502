//! The one comma-list splitter: configuration lists (`JWT_ALGORITHMS=RS256, ES256`,
//! origin lists, channel ids) and HTTP list headers without quoted strings
//! (`Access-Control-Request-Headers`, `If-None-Match` entity tags).
//!
//! Items are trimmed of spaces and tabs (RFC 9110 §5.6.1's OWS); empty items (`a,,b`,
//! a trailing comma) are dropped, as §5.6.1 tells recipients to.

/// The non-empty, trimmed items of the comma-separated `raw`, in order.
pub fn items(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty())
}

/// [`items`], owned.
#[must_use]
pub fn owned_items(raw: &str) -> Vec<String> {
    items(raw).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_drops_empty_items() {
        assert_eq!(items(" a ,\tb,,c , ").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(items("").count(), 0);
        assert_eq!(items(" , ,").count(), 0);
        assert_eq!(owned_items("RS256,ES256"), ["RS256", "ES256"]);
    }

    #[test]
    fn inner_spaces_stay() {
        assert_eq!(items("a b, c").collect::<Vec<_>>(), ["a b", "c"]);
    }
}
