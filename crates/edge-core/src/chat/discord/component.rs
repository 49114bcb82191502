//! Component `custom_id`s this bot issues, parsed strictly on the way back (a user cannot
//! forge one into anything but these shapes): `chart:<TICKER>:<range>` and
//! `admin:<action>`.

use super::command::{AdminAction, ticker};

/// Longest custom id Discord allows.
pub const MAX_CUSTOM_ID: usize = 100;
/// Chart ranges offered as buttons.
pub const RANGES: [&str; 4] = ["1d", "1w", "1m", "1y"];

/// A button press.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Component {
    /// Show `ticker` over `range`.
    Chart {
        /// Uppercased ticker.
        ticker: String,
        /// One of [`RANGES`].
        range: &'static str,
    },
    /// An admin action.
    Admin(AdminAction),
}

impl Component {
    /// Parses a custom id.
    #[must_use]
    pub fn parse(custom_id: &str) -> Option<Self> {
        if custom_id.len() > MAX_CUSTOM_ID {
            return None;
        }
        let mut parts = custom_id.split(':');
        let parsed = match (parts.next()?, parts.next(), parts.next()) {
            ("chart", Some(t), Some(r)) => Self::Chart {
                ticker: ticker(t).filter(|u| u == t)?,
                range: RANGES.into_iter().find(|x| *x == r)?,
            },
            ("admin", Some(a), None) => Self::Admin(AdminAction::parse(a)?),
            _ => return None,
        };
        parts.next().is_none().then_some(parsed)
    }

    /// Its custom id.
    #[must_use]
    pub fn custom_id(&self) -> String {
        match self {
            Self::Chart { ticker, range } => format!("chart:{ticker}:{range}"),
            Self::Admin(a) => format!("admin:{}", a.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_issued_shapes_parse() {
        for c in [
            Component::Chart {
                ticker: "AAPL".into(),
                range: "1w",
            },
            Component::Admin(AdminAction::Status),
            Component::Admin(AdminAction::ResetBreakers),
        ] {
            assert_eq!(Component::parse(&c.custom_id()), Some(c));
        }
        for bad in [
            "",
            "chart",
            "chart:AAPL",
            "chart:aapl:1w",
            "chart:AAPL:5y",
            "chart:AAPL:1w:x",
            "admin:drop",
            "admin:status:1",
            "other:x",
            &"a".repeat(101),
        ] {
            assert_eq!(Component::parse(bad), None, "{bad}");
        }
    }
}
