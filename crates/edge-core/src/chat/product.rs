//! The admin API's product body, parsed strictly: unknown fields refused, every field's
//! type and length checked, the first failing field named.

use serde_json::{Map, Value};

use crate::error::HttpError;

/// Largest product body, bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A valid product (the id comes from the path).
#[derive(Debug, Clone, PartialEq)]
pub struct ProductInput {
    /// 1..=200 characters.
    pub name: String,
    /// At most 2000 characters (default empty).
    pub description: String,
    /// Finite, `>= 0` (absent: no price).
    pub price: Option<f64>,
    /// ISO 4217, three uppercase letters (default `THB`).
    pub currency: String,
    /// 1..=64 characters, when given.
    pub category: Option<String>,
    /// `true` unless `status` is `inactive`.
    pub active: bool,
}

/// Why a product body or id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    /// Not a JSON object.
    #[error("product body is not a json object")]
    Malformed,
    /// A field the product does not have.
    #[error("unknown field")]
    UnknownField {
        /// Its name (cut to 64 bytes).
        field: String,
    },
    /// A field with a wrong type or value.
    #[error("invalid value: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What it must be.
        reason: &'static str,
    },
}

impl HttpError for ProductError {
    fn status(&self) -> u16 {
        400
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed_json",
            Self::UnknownField { .. } => "unknown_field",
            Self::Invalid { .. } => "invalid_field",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::Malformed => None,
            Self::UnknownField { field } => Some(field),
            Self::Invalid { field, .. } => Some(field),
        }
    }
}

/// Whether `id` is a product id: `[A-Za-z0-9_-]{1,64}`.
#[must_use]
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

const FIELDS: [&str; 6] = [
    "name",
    "description",
    "price",
    "currency",
    "category",
    "status",
];

fn text(
    map: &Map<String, Value>,
    field: &'static str,
    max: usize,
    reason: &'static str,
) -> Result<Option<String>, ProductError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max && !s.chars().any(char::is_control) => {
            Ok(Some(s.trim().to_owned()))
        }
        Some(_) => Err(ProductError::Invalid { field, reason }),
    }
}

impl ProductInput {
    /// Parses a product body.
    ///
    /// # Errors
    /// [`ProductError`] naming the first field that failed.
    pub fn parse(body: &[u8]) -> Result<Self, ProductError> {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return Err(ProductError::Malformed);
        };
        if let Some(k) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ProductError::UnknownField {
                field: k.chars().take(64).collect(),
            });
        }
        let name = text(&map, "name", 200, "expected 1..=200 characters")?
            .filter(|n| !n.is_empty())
            .ok_or(ProductError::Invalid {
                field: "name",
                reason: "expected 1..=200 characters",
            })?;
        let description = text(
            &map,
            "description",
            2000,
            "expected at most 2000 characters",
        )?
        .unwrap_or_default();
        let price = match map.get("price") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_f64()
                    .filter(|p| p.is_finite() && *p >= 0.0 && *p <= 1e12)
                    .ok_or(ProductError::Invalid {
                        field: "price",
                        reason: "expected a number >= 0",
                    })?,
            ),
        };
        let currency = text(&map, "currency", 3, "expected three uppercase letters")?
            .map(|c| {
                if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
                    Ok(c)
                } else {
                    Err(ProductError::Invalid {
                        field: "currency",
                        reason: "expected three uppercase letters",
                    })
                }
            })
            .transpose()?
            .unwrap_or_else(|| "THB".to_owned());
        let category =
            text(&map, "category", 64, "expected 1..=64 characters")?.filter(|c| !c.is_empty());
        let active = match map.get("status").and_then(Value::as_str) {
            None if map.get("status").is_none_or(Value::is_null) => true,
            Some("active") => true,
            Some("inactive") => false,
            _ => {
                return Err(ProductError::Invalid {
                    field: "status",
                    reason: "expected active or inactive",
                });
            }
        };
        Ok(Self {
            name,
            description,
            price,
            currency,
            category,
            active,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: &Value) -> Result<ProductInput, ProductError> {
        ProductInput::parse(&serde_json::to_vec(v).expect("ser"))
    }

    #[test]
    fn a_full_and_a_minimal_product() {
        let p = parse(&json!({"name": " Vitamin C ", "description": "1000 mg", "price": 250, "currency": "THB",
                              "category": "supplements", "status": "inactive"})).expect("valid");
        assert_eq!(
            (p.name.as_str(), p.price, p.active),
            ("Vitamin C", Some(250.0), false)
        );
        let m = parse(&json!({"name": "Mask"})).expect("valid");
        assert_eq!(
            (m.currency.as_str(), m.price, m.active, m.category),
            ("THB", None, true, None)
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        for (body, field) in [
            (json!({}), "name"),
            (json!({"name": ""}), "name"),
            (json!({"name": "x".repeat(201)}), "name"),
            (json!({"name": "a", "price": -1}), "price"),
            (json!({"name": "a", "price": "10"}), "price"),
            (json!({"name": "a", "currency": "thb"}), "currency"),
            (json!({"name": "a", "status": "gone"}), "status"),
            (json!({"name": "a", "description": "x\u{0}"}), "description"),
            (json!({"name": "a", "sku": 1}), "sku"),
        ] {
            let err = parse(&body).expect_err(field);
            assert_eq!(err.field(), Some(field), "{body}");
            assert_eq!(err.status(), 400);
        }
        assert_eq!(ProductInput::parse(b"[]"), Err(ProductError::Malformed));
        assert!(
            valid_id("vit-c_1000")
                && !valid_id("")
                && !valid_id("a/b")
                && !valid_id(&"a".repeat(65))
        );
    }
}
