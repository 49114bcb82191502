//! Incoming interactions: the fields this bot uses, checked (ids are snowflakes, the token
//! is bounded), the rest of `data` kept for the command or component parser.

use serde_json::Value;

/// Largest interaction body accepted, bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The interaction type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 1: Discord checking the endpoint.
    Ping,
    /// 2: a slash command.
    Command,
    /// 3: a button or select.
    Component,
    /// 4: typing in an autocompleted option.
    Autocomplete,
    /// 5: a submitted modal.
    ModalSubmit,
}

/// One interaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// Its id (a snowflake, unique per interaction).
    pub id: String,
    /// Its type.
    pub kind: Kind,
    /// The application's id (for follow-up webhooks).
    pub application_id: String,
    /// The interaction token (for follow-up webhooks; valid 15 minutes).
    pub token: String,
    /// Who invoked it.
    pub user_id: Option<String>,
    /// Their guild role ids (empty in DMs).
    pub role_ids: Vec<String>,
    /// The type-specific `data` (`Null` for PING).
    pub data: Value,
}

/// Why an interaction could not be read (answered with an ephemeral message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    /// Not a JSON object with the fields every interaction has.
    #[error("malformed interaction")]
    Malformed,
    /// A type this bot does not know.
    #[error("unsupported interaction type")]
    Unsupported,
}

/// A Discord snowflake: 1..=20 decimal digits.
#[must_use]
pub fn snowflake(s: &str) -> bool {
    (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn token_ok(s: &str) -> bool {
    (1..=500).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl Interaction {
    /// Parses a (signature-verified) interaction body.
    ///
    /// # Errors
    /// [`InteractionError`] when the body is not an interaction this bot can answer.
    pub fn parse(body: &[u8]) -> Result<Self, InteractionError> {
        let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(body) else {
            return Err(InteractionError::Malformed);
        };
        let kind = match v.get("type").and_then(Value::as_u64) {
            Some(1) => Kind::Ping,
            Some(2) => Kind::Command,
            Some(3) => Kind::Component,
            Some(4) => Kind::Autocomplete,
            Some(5) => Kind::ModalSubmit,
            Some(_) => return Err(InteractionError::Unsupported),
            None => return Err(InteractionError::Malformed),
        };
        let id = v.get("id").and_then(Value::as_str).filter(|s| snowflake(s));
        let application_id = v
            .get("application_id")
            .and_then(Value::as_str)
            .filter(|s| snowflake(s));
        let token = v
            .get("token")
            .and_then(Value::as_str)
            .filter(|s| token_ok(s));
        let (Some(id), Some(application_id), Some(token)) = (id, application_id, token) else {
            return Err(InteractionError::Malformed);
        };
        let member = v.get("member");
        let user = member.and_then(|m| m.get("user")).or_else(|| v.get("user"));
        let user_id = user
            .and_then(|u| u.get("id"))
            .and_then(Value::as_str)
            .filter(|s| snowflake(s))
            .map(str::to_owned);
        let role_ids = member
            .and_then(|m| m.get("roles"))
            .and_then(Value::as_array)
            .map(|roles| {
                roles
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|r| snowflake(r))
                    .take(250)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let data = v.get("data").cloned().unwrap_or(Value::Null);
        if kind != Kind::Ping && !data.is_object() {
            return Err(InteractionError::Malformed);
        }
        Ok(Self {
            id: id.to_owned(),
            kind,
            application_id: application_id.to_owned(),
            token: token.to_owned(),
            user_id,
            role_ids,
            data,
        })
    }

    /// The key under which this interaction is claimed so a replay of it (same signed body,
    /// inside the timestamp window) does no work twice: `discord:<id>` for interactions that
    /// do work (commands, components, modal submits); `None` for PING and autocomplete,
    /// which only read and are harmless to repeat.
    #[must_use]
    pub fn replay_key(&self) -> Option<String> {
        match self.kind {
            Kind::Ping | Kind::Autocomplete => None,
            Kind::Command | Kind::Component | Kind::ModalSubmit => {
                Some(format!("discord:{}", self.id))
            }
        }
    }

    /// Whether the invoker is one of `admin_users` or has one of `admin_roles`.
    #[must_use]
    pub fn is_admin(&self, admin_users: &[String], admin_roles: &[String]) -> bool {
        self.user_id
            .as_ref()
            .is_some_and(|u| admin_users.contains(u))
            || self.role_ids.iter().any(|r| admin_roles.contains(r))
    }

    /// The value of text input `custom_id` in a submitted modal.
    #[must_use]
    pub fn modal_value(&self, custom_id: &str) -> Option<&str> {
        self.data
            .get("components")?
            .as_array()?
            .iter()
            .filter_map(|row| row.get("components")?.as_array())
            .flatten()
            .find(|c| c.get("custom_id").and_then(Value::as_str) == Some(custom_id))?
            .get("value")?
            .as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: &Value) -> Result<Interaction, InteractionError> {
        Interaction::parse(&serde_json::to_vec(v).expect("ser"))
    }

    #[test]
    fn the_fields_this_bot_uses() {
        let i = parse(&json!({"type": 2, "id": "1", "application_id": "123", "token": "aW50ZXJhY3Rpb24", "guild_id": "9",
            "member": {"user": {"id": "42"}, "roles": ["7", "bad"]}, "data": {"name": "ask"}})).expect("valid");
        assert_eq!(
            (i.kind, i.user_id.as_deref(), i.role_ids.as_slice()),
            (Kind::Command, Some("42"), &["7".to_owned()][..])
        );
        assert!(
            i.is_admin(&[], &["7".into()])
                && i.is_admin(&["42".into()], &[])
                && !i.is_admin(&["1".into()], &["2".into()])
        );
        let dm =
            parse(&json!({"type": 1, "id": "2", "application_id": "123", "token": "t", "user": {"id": "5"}}))
                .expect("ping");
        assert_eq!((dm.kind, dm.user_id.as_deref()), (Kind::Ping, Some("5")));
        let modal = parse(&json!({"type": 5, "id": "3", "application_id": "1", "token": "t", "data": {"custom_id": "ask_modal",
            "components": [{"type": 1, "components": [{"type": 4, "custom_id": "question", "value": "why?"}]}]}})).expect("modal");
        assert_eq!(modal.modal_value("question"), Some("why?"));
    }

    #[test]
    fn malformed_and_unknown() {
        assert_eq!(
            Interaction::parse(b"nope"),
            Err(InteractionError::Malformed)
        );
        assert_eq!(
            parse(&json!({"type": 9, "application_id": "1", "token": "t"})),
            Err(InteractionError::Unsupported)
        );
        assert_eq!(
            parse(&json!({"type": 2, "application_id": "x", "token": "t", "data": {}})),
            Err(InteractionError::Malformed)
        );
        assert_eq!(
            parse(&json!({"type": 2, "application_id": "1", "token": "a/b", "data": {}})),
            Err(InteractionError::Malformed)
        );
        assert_eq!(
            parse(&json!({"type": 2, "id": "1", "application_id": "1", "token": "t"})),
            Err(InteractionError::Malformed)
        );
        // Every interaction Discord sends has a snowflake id.
        for id in [json!(null), json!(7), json!("x1")] {
            assert_eq!(
                parse(
                    &json!({"type": 2, "id": id, "application_id": "1", "token": "t", "data": {}})
                ),
                Err(InteractionError::Malformed)
            );
        }
    }

    #[test]
    fn item_13_discord_dedup_replay_keys_for_interactions_that_do_work() {
        let i = |t: u64| {
            parse(
                &json!({"type": t, "id": "1234", "application_id": "1", "token": "t", "data": {}}),
            )
            .expect("valid")
        };
        for t in [2, 3, 5] {
            assert_eq!(i(t).replay_key().as_deref(), Some("discord:1234"));
        }
        assert_eq!(i(1).replay_key(), None);
        assert_eq!(i(4).replay_key(), None);
    }
}
