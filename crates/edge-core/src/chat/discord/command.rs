//! Slash commands, from one source of truth: `commands.json` is what the registration
//! script (`scripts/discord-commands`) sends to Discord *and* what incoming commands are
//! checked against (names, option names and types, lengths, choices).

use serde::Deserialize;
use serde_json::Value;

/// The command definitions, as registered with Discord.
pub const COMMANDS_JSON: &str = include_str!("commands.json");

#[derive(Debug, Deserialize)]
struct Definition {
    name: String,
    #[serde(default)]
    options: Vec<OptionDef>,
}

#[derive(Debug, Deserialize)]
struct OptionDef {
    name: String,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    min_length: Option<usize>,
    #[serde(default)]
    max_length: Option<usize>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    autocomplete: bool,
}

#[derive(Debug, Deserialize)]
struct Choice {
    value: String,
}

/// Discord's option type for strings.
const STRING: u8 = 3;

fn definitions() -> Vec<Definition> {
    serde_json::from_str(COMMANDS_JSON).expect("commands.json is valid (checked by a test)")
}

/// What an admin asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    /// Show the bot's state.
    Status,
    /// Close every AI provider's circuit breaker.
    ResetBreakers,
}

impl AdminAction {
    /// From its `value` / custom id part.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "status" => Some(Self::Status),
            "reset-breakers" => Some(Self::ResetBreakers),
            _ => None,
        }
    }

    /// Its `value` / custom id part.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::ResetBreakers => "reset-breakers",
        }
    }
}

/// A valid command invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/ask question`.
    Ask {
        /// The question.
        question: String,
    },
    /// `/check ticker`.
    Check {
        /// Uppercased, validated ticker.
        ticker: String,
    },
    /// `/compare first second`.
    Compare {
        /// First ticker.
        first: String,
        /// Second ticker.
        second: String,
    },
    /// `/research [topic]`.
    Research {
        /// The topic; `None` asks for it in a modal.
        topic: Option<String>,
    },
    /// `/admin action`.
    Admin {
        /// The action.
        action: AdminAction,
    },
}

/// Why a command was not accepted (answered as an ephemeral message, never an error status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such command.
    #[error("unknown command")]
    Unknown,
    /// An option is missing, unexpected, of the wrong type or out of its limits.
    #[error("invalid option {0}")]
    InvalidOption(String),
}

/// A ticker: 1..=10 of `A-Z 0-9 . -`, starting with a letter or digit; returned uppercase.
#[must_use]
pub fn ticker(s: &str) -> Option<String> {
    let t = s.trim().to_ascii_uppercase();
    let ok = (1..=10).contains(&t.len())
        && t.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    ok.then_some(t)
}

/// The string options of an interaction's `data`, checked against the definition.
fn options(def: &Definition, data: &Value) -> Result<Vec<(String, String)>, CommandError> {
    let given = match data.get("options") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(CommandError::InvalidOption("options".into())),
    };
    let mut out = Vec::new();
    for o in &given {
        let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
        let bad = || CommandError::InvalidOption(name.chars().take(32).collect());
        let d = def
            .options
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(bad)?;
        let value = o.get("value").and_then(Value::as_str).ok_or_else(bad)?;
        let len = value.chars().count();
        if d.kind != STRING
            || d.min_length.is_some_and(|m| len < m)
            || d.max_length.is_some_and(|m| len > m)
            || (!d.choices.is_empty() && !d.choices.iter().any(|c| c.value == value))
            || out.iter().any(|(n, _): &(String, String)| n == name)
        {
            return Err(bad());
        }
        out.push((name.to_owned(), value.to_owned()));
    }
    if let Some(missing) = def
        .options
        .iter()
        .find(|d| d.required && !out.iter().any(|(n, _)| *n == d.name))
    {
        return Err(CommandError::InvalidOption(missing.name.clone()));
    }
    Ok(out)
}

impl Command {
    /// Parses an `APPLICATION_COMMAND` interaction's `data`.
    ///
    /// # Errors
    /// [`CommandError`] for an unknown command or an option that fails its definition.
    pub fn parse(data: &Value) -> Result<Self, CommandError> {
        let name = data.get("name").and_then(Value::as_str).unwrap_or_default();
        let defs = definitions();
        let def = defs
            .iter()
            .find(|d| d.name == name)
            .ok_or(CommandError::Unknown)?;
        let opts = options(def, data)?;
        let get = |n: &str| {
            opts.iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let tick =
            |n: &str| ticker(&get(n)).ok_or_else(|| CommandError::InvalidOption(n.to_owned()));
        Ok(match name {
            "ask" => Self::Ask {
                question: get("question").trim().to_owned(),
            },
            "check" => Self::Check {
                ticker: tick("ticker")?,
            },
            "compare" => Self::Compare {
                first: tick("first")?,
                second: tick("second")?,
            },
            "research" => Self::Research {
                topic: Some(get("topic").trim().to_owned()).filter(|t| !t.is_empty()),
            },
            "admin" => Self::Admin {
                action: AdminAction::parse(&get("action"))
                    .ok_or_else(|| CommandError::InvalidOption("action".into()))?,
            },
            _ => return Err(CommandError::Unknown),
        })
    }
}

/// The focused option of an `APPLICATION_COMMAND_AUTOCOMPLETE`: `(command, option, typed
/// text)`, when the option is declared for autocomplete.
#[must_use]
pub fn focused(data: &Value) -> Option<(String, String, String)> {
    let name = data.get("name")?.as_str()?;
    let defs = definitions();
    let def = defs.iter().find(|d| d.name == name)?;
    let focused = data
        .get("options")?
        .as_array()?
        .iter()
        .find(|o| o.get("focused").and_then(Value::as_bool) == Some(true))?;
    let option = focused.get("name")?.as_str()?;
    def.options
        .iter()
        .find(|d| d.name == option && d.autocomplete)?;
    let typed: String = focused.get("value")?.as_str()?.chars().take(32).collect();
    Some((name.to_owned(), option.to_owned(), typed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_definitions_are_valid_discord_commands() {
        let raw: Vec<Value> = serde_json::from_str(COMMANDS_JSON).expect("json");
        assert_eq!(raw.len(), 5);
        for c in &raw {
            let name = c["name"].as_str().expect("name");
            assert!(
                (1..=32).contains(&name.len())
                    && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
            );
            assert!((1..=100).contains(&c["description"].as_str().expect("description").len()));
        }
        assert_eq!(definitions().len(), 5);
    }

    #[test]
    fn commands_are_checked_against_their_definitions() {
        let cmd = |v: Value| Command::parse(&v);
        assert_eq!(
            cmd(
                json!({"name": "check", "options": [{"name": "ticker", "type": 3, "value": " aapl "}]})
            ),
            Ok(Command::Check {
                ticker: "AAPL".into()
            })
        );
        assert_eq!(
            cmd(
                json!({"name": "compare", "options": [{"name": "first", "value": "MSFT"}, {"name": "second", "value": "brk.b"}]})
            ),
            Ok(Command::Compare {
                first: "MSFT".into(),
                second: "BRK.B".into()
            })
        );
        assert_eq!(
            cmd(
                json!({"name": "admin", "options": [{"name": "action", "value": "reset-breakers"}]})
            ),
            Ok(Command::Admin {
                action: AdminAction::ResetBreakers
            })
        );
        for (v, err) in [
            (json!({"name": "nope"}), CommandError::Unknown),
            (
                json!({"name": "ask"}),
                CommandError::InvalidOption("question".into()),
            ),
            (
                json!({"name": "ask", "options": [{"name": "question", "value": "x".repeat(1001)}]}),
                CommandError::InvalidOption("question".into()),
            ),
            (
                json!({"name": "ask", "options": [{"name": "question", "value": 5}]}),
                CommandError::InvalidOption("question".into()),
            ),
            (
                json!({"name": "ask", "options": [{"name": "question", "value": "a"}, {"name": "extra", "value": "b"}]}),
                CommandError::InvalidOption("extra".into()),
            ),
            (
                json!({"name": "check", "options": [{"name": "ticker", "value": "<@1234>"}]}),
                CommandError::InvalidOption("ticker".into()),
            ),
            (
                json!({"name": "admin", "options": [{"name": "action", "value": "drop-tables"}]}),
                CommandError::InvalidOption("action".into()),
            ),
            (
                json!({"name": "research", "options": [{"name": "topic", "value": "ab"}]}),
                CommandError::InvalidOption("topic".into()),
            ),
        ] {
            assert_eq!(cmd(v.clone()), Err(err), "{v}");
        }
        assert_eq!(
            cmd(json!({"name": "research"})),
            Ok(Command::Research { topic: None }),
            "no topic: the modal asks for it"
        );
    }

    #[test]
    fn autocomplete_only_for_declared_options() {
        let data = json!({"name": "check", "options": [{"name": "ticker", "value": "AA", "focused": true}]});
        assert_eq!(
            focused(&data),
            Some(("check".into(), "ticker".into(), "AA".into()))
        );
        assert_eq!(
            focused(
                &json!({"name": "ask", "options": [{"name": "question", "value": "a", "focused": true}]})
            ),
            None
        );
        assert_eq!(ticker("-X"), None);
        assert_eq!(ticker("abcdefghijk"), None);
    }
}
