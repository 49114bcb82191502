//! A customer's preferences (interests the AI prompt mentions), as the admin API sets them:
//! `{"preferences": ["vitamins", "skin care"]}`, strictly.

use serde_json::Value;

use super::product::ProductError;

/// Most preferences per customer.
pub const MAX_PREFERENCES: usize = 10;
/// Longest preference, characters.
pub const MAX_PREFERENCE_CHARS: usize = 64;

/// Parses a preferences body into its trimmed, non-empty, distinct entries.
///
/// # Errors
/// [`ProductError`] (the admin API's field error) naming `preferences`, or an unknown field.
pub fn parse(body: &[u8]) -> Result<Vec<String>, ProductError> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(ProductError::Malformed);
    };
    if let Some(k) = map.keys().find(|k| *k != "preferences") {
        return Err(ProductError::UnknownField {
            field: k.chars().take(64).collect(),
        });
    }
    let invalid = ProductError::Invalid {
        field: "preferences",
        reason: "expected up to 10 strings of 1..=64 characters",
    };
    let Some(Value::Array(items)) = map.get("preferences") else {
        return Err(invalid);
    };
    if items.len() > MAX_PREFERENCES {
        return Err(invalid);
    }
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let s = item
            .as_str()
            .map(str::trim)
            .ok_or_else(|| invalid.clone())?;
        if s.is_empty()
            || s.chars().count() > MAX_PREFERENCE_CHARS
            || s.chars().any(char::is_control)
        {
            return Err(invalid);
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::HttpError;

    #[test]
    fn strict_preferences() {
        assert_eq!(
            parse(br#"{"preferences":[" vitamins ","skin care","vitamins"]}"#),
            Ok(vec!["vitamins".into(), "skin care".into()])
        );
        assert_eq!(parse(br#"{"preferences":[]}"#), Ok(vec![]));
        for bad in [
            &br#"{"preferences":"vitamins"}"#[..],
            br#"{"preferences":[1]}"#,
            br#"{"preferences":[""]}"#,
            br#"{}"#,
        ] {
            assert_eq!(
                parse(bad).expect_err("invalid").field(),
                Some("preferences")
            );
        }
        let many = format!(r#"{{"preferences":[{}]}}"#, ["\"a\""; 11].join(","));
        assert!(parse(many.as_bytes()).is_err());
        assert_eq!(
            parse(br#"{"prefs":[]}"#).expect_err("unknown").code(),
            "unknown_field"
        );
    }
}
