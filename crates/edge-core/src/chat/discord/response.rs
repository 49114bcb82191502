//! Interaction responses and follow-up edits. Every message goes out with
//! `allowed_mentions: {parse: []}` and with user-controlled text defused (`@everyone`,
//! `@here`, `<@…>` get a zero-width space), so nothing the bot echoes can ping anyone.

use serde_json::{Value, json};

use super::component::{Component, RANGES};

/// Longest message content Discord accepts, characters.
pub const MAX_CONTENT_CHARS: usize = 2000;
/// The `EPHEMERAL` message flag.
pub const EPHEMERAL: u64 = 1 << 6;

/// Defuses mentions in text and cuts it to [`MAX_CONTENT_CHARS`] (ending with `…` if cut).
#[must_use]
pub fn sanitize(text: &str) -> String {
    let defused = text
        .replace("@everyone", "@\u{200b}everyone")
        .replace("@here", "@\u{200b}here")
        .replace("<@", "<@\u{200b}");
    if defused.chars().count() <= MAX_CONTENT_CHARS {
        return defused;
    }
    let mut cut: String = defused.chars().take(MAX_CONTENT_CHARS - 1).collect();
    cut.push('…');
    cut
}

fn no_mentions() -> Value {
    json!({ "parse": [] })
}

/// `PONG`.
#[must_use]
pub fn pong() -> Value {
    json!({ "type": 1 })
}

/// An immediate message (type 4), optionally ephemeral, with optional component rows.
#[must_use]
pub fn message(content: &str, ephemeral: bool, components: Option<Value>) -> Value {
    let mut data = json!({ "content": sanitize(content), "allowed_mentions": no_mentions() });
    if ephemeral {
        data["flags"] = json!(EPHEMERAL);
    }
    if let Some(c) = components {
        data["components"] = c;
    }
    json!({ "type": 4, "data": data })
}

/// "Thinking…" (type 5): the answer follows as an edit of the original response.
#[must_use]
pub fn deferred() -> Value {
    json!({ "type": 5 })
}

/// Acknowledge a component press and edit its message later (type 6).
#[must_use]
pub fn deferred_update() -> Value {
    json!({ "type": 6 })
}

/// Update the component's message now (type 7).
#[must_use]
pub fn update(content: &str, components: Option<Value>) -> Value {
    let mut v = message(content, false, components);
    v["type"] = json!(7);
    v
}

/// The modal asking for a research topic (type 9); its submit carries `topic`.
#[must_use]
pub fn research_modal() -> Value {
    json!({
        "type": 9,
        "data": {
            "custom_id": RESEARCH_MODAL,
            "title": "Research",
            "components": [{ "type": 1, "components": [{
                "type": 4, "custom_id": RESEARCH_TOPIC, "label": "What should I research?",
                "style": 2, "min_length": 3, "max_length": 500, "required": true
            }]}]
        }
    })
}

/// The research modal's custom id.
pub const RESEARCH_MODAL: &str = "research_modal";
/// Its text input's custom id.
pub const RESEARCH_TOPIC: &str = "topic";

/// Autocomplete choices (type 8), at most 25.
#[must_use]
pub fn choices(values: &[String]) -> Value {
    let list: Vec<Value> = values
        .iter()
        .take(25)
        .map(|v| json!({ "name": v, "value": v }))
        .collect();
    json!({ "type": 8, "data": { "choices": list } })
}

/// The body of a follow-up edit of the original response (`PATCH …/messages/@original`).
#[must_use]
pub fn edit(content: &str, components: Option<Value>) -> Value {
    let mut v = json!({ "content": sanitize(content), "allowed_mentions": no_mentions() });
    if let Some(c) = components {
        v["components"] = c;
    }
    v
}

/// The file name of a chart attached to a message.
pub const CHART_FILENAME: &str = "chart.png";

/// Adds an embed showing the attached chart ([`CHART_FILENAME`], sent as `files[0]`) under
/// `title` to an edit body from [`edit`].
#[must_use]
pub fn with_chart(mut edit: Value, title: &str) -> Value {
    if let Some(obj) = edit.as_object_mut() {
        obj.insert(
            "embeds".to_owned(),
            json!([{ "title": sanitize(title), "image": { "url": format!("attachment://{CHART_FILENAME}") } }]),
        );
    }
    edit
}

/// One row of chart-range buttons for `ticker`, the current `range` highlighted and disabled.
#[must_use]
pub fn chart_buttons(ticker: &str, current: &str) -> Value {
    let buttons: Vec<Value> = RANGES
        .iter()
        .map(|r| {
            json!({
                "type": 2,
                "style": if *r == current { 1 } else { 2 },
                "label": r.to_uppercase(),
                "custom_id": Component::Chart { ticker: ticker.to_owned(), range: r }.custom_id(),
                "disabled": *r == current,
            })
        })
        .collect();
    json!([{ "type": 1, "components": buttons }])
}

/// One row of admin action buttons.
#[must_use]
pub fn admin_buttons() -> Value {
    use super::command::AdminAction;
    let buttons: Vec<Value> = [(AdminAction::Status, "Refresh", 2), (AdminAction::ResetBreakers, "Reset breakers", 4)]
        .into_iter()
        .map(|(a, label, style)| json!({ "type": 2, "style": style, "label": label, "custom_id": Component::Admin(a).custom_id() }))
        .collect();
    json!([{ "type": 1, "components": buttons }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_echoed_can_ping() {
        let s = sanitize("hi @everyone and @here, <@123> <@&456> <@!789>");
        assert!(
            !s.contains("@everyone")
                && !s.contains("@here")
                && !s.contains("<@1")
                && !s.contains("<@&")
                && !s.contains("<@!")
        );
        let m = message("@everyone", true, None);
        assert_eq!(m["data"]["allowed_mentions"], json!({"parse": []}));
        assert_eq!(m["data"]["flags"], json!(64));
        assert_eq!(edit("x", None)["allowed_mentions"], json!({"parse": []}));
        let charted = with_chart(edit("x", None), "AAPL 1D @here");
        assert_eq!(
            charted["embeds"][0]["image"]["url"],
            json!("attachment://chart.png")
        );
        assert_eq!(
            charted["embeds"][0]["title"],
            json!("AAPL 1D @\u{200b}here")
        );
    }

    #[test]
    fn content_is_cut_to_discords_limit() {
        let long = sanitize(&"é".repeat(3000));
        assert_eq!(long.chars().count(), MAX_CONTENT_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn buttons_carry_parseable_ids() {
        let row = chart_buttons("AAPL", "1w");
        let buttons = row[0]["components"].as_array().expect("buttons");
        assert_eq!(buttons.len(), 4);
        for b in buttons {
            assert!(Component::parse(b["custom_id"].as_str().expect("id")).is_some());
        }
        assert_eq!(buttons[1]["disabled"], json!(true));
        for b in admin_buttons()[0]["components"]
            .as_array()
            .expect("buttons")
        {
            assert!(Component::parse(b["custom_id"].as_str().expect("id")).is_some());
        }
        assert_eq!(
            choices(&vec!["A".to_owned(); 30])["data"]["choices"]
                .as_array()
                .map(Vec::len),
            Some(25)
        );
        assert_eq!(update("x", None)["type"], json!(7));
        assert_eq!(
            (
                pong()["type"].clone(),
                deferred()["type"].clone(),
                deferred_update()["type"].clone()
            ),
            (json!(1), json!(5), json!(6))
        );
    }
}
