//! The Discord API client: the one edit of a deferred interaction response
//! (`PATCH <api>/webhooks/<application>/<token>/messages/@original`), sent a second time
//! only after a 429 with a short `retry_after` (`edge_core::chat::discord::api::after_edit`
//! decides). Generic over [`ChatIo`], so the retry is tested natively.

use edge_core::chat::discord::api::{self, EditDecision, GiveUp};

use crate::backends::{Call, CallError, ChatIo, Clock, MAX_ANSWER_BYTES, Method, Outbound};
use crate::log;

/// An edit of a deferred response, ready to send.
pub(crate) struct Edit<'a> {
    pub(crate) url: &'a str,
    pub(crate) user_agent: &'a str,
    pub(crate) content_type: &'a str,
    pub(crate) body: Vec<u8>,
    pub(crate) timeout_ms: u64,
    /// When the interaction arrived (its token accepts edits for 15 minutes), unix ms.
    pub(crate) received_ms: u64,
}

/// How an edit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Edited {
    /// Discord applied it.
    Done,
    /// Not applied, and not sent again.
    GaveUp(GiveUp),
    /// No answer (timeout or transport).
    Failed(CallError),
}

/// Sends `edit`, once more after a short 429; the end is logged when it is not applied.
pub(crate) async fn edit_original(io: &impl ChatIo, edit: &Edit<'_>) -> Edited {
    let headers = [("user-agent", edit.user_agent)];
    let mut attempt = 0;
    loop {
        let sent = io
            .net()
            .call(Call {
                method: Method::Patch,
                url: edit.url,
                headers: &headers,
                body: Some((edit.content_type, edit.body.clone())),
                timeout_ms: edit.timeout_ms,
                cap: MAX_ANSWER_BYTES,
            })
            .await;
        let a = match sent {
            Ok(a) => a,
            Err(e) => {
                log::warn(&format!("discord edit: {e}"));
                return Edited::Failed(e);
            }
        };
        match api::after_edit(
            a.status,
            &a.body,
            a.retry_after.as_deref(),
            attempt,
            io.clock().now_ms(),
            edit.received_ms,
        ) {
            EditDecision::Done => return Edited::Done,
            EditDecision::RetryAfter { wait_ms } => {
                log::warn(&format!("discord edit: 429, retrying once in {wait_ms} ms"));
                io.clock().sleep(wait_ms).await;
                attempt += 1;
            }
            EditDecision::GiveUp(why) => {
                log::warn(&format!(
                    "discord edit: status {}, not retried: {why:?}",
                    a.status
                ));
                return Edited::GaveUp(why);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::Answer;
    use crate::testkit::{self, FakeNet, answer, run};

    const T0: u64 = 1_790_000_000_000;
    const URL: &str = "https://discord.test/api/v10/webhooks/app/tok/messages/@original";

    fn edit() -> Edit<'static> {
        Edit {
            url: URL,
            user_agent: "DiscordBot (https://bot.test, 1.0)",
            content_type: "application/json",
            body: br#"{"content":"hi"}"#.to_vec(),
            timeout_ms: 5_000,
            received_ms: T0,
        }
    }

    fn limited(body: &str) -> Result<Answer, CallError> {
        answer(429, body)
    }

    #[test]
    fn an_applied_edit_is_sent_once_with_the_bots_user_agent() {
        let io = testkit::io(FakeNet::new(|_| answer(200, "{}")), T0);
        assert_eq!(run(edit_original(&io, &edit())), Edited::Done);
        let sent = io.net.to("/messages/@original");
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].method, sent[0].body.as_str()),
            (Method::Patch, r#"{"content":"hi"}"#)
        );
        assert_eq!(
            sent[0].header("user-agent"),
            Some("DiscordBot (https://bot.test, 1.0)")
        );
    }

    #[test]
    fn a_short_429_is_waited_out_and_sent_once_more() {
        let io = testkit::io(FakeNet::new(|_| limited(r#"{"retry_after": 1.5}"#)), T0);
        // The second try is applied.
        let tries = std::cell::Cell::new(0);
        io.net.answer_with(move |_| {
            tries.set(tries.get() + 1);
            if tries.get() == 1 {
                limited(r#"{"retry_after": 1.5}"#)
            } else {
                answer(200, "{}")
            }
        });
        assert_eq!(run(edit_original(&io, &edit())), Edited::Done);
        assert_eq!(io.net.to("/messages/@original").len(), 2);
        assert_eq!(
            io.clock.now_ms(),
            T0 + 1_500,
            "waited the body's retry_after"
        );
    }

    #[test]
    fn a_second_429_a_long_wait_or_another_status_ends_the_edit() {
        let io = testkit::io(FakeNet::new(|_| limited(r#"{"retry_after": 0.2}"#)), T0);
        assert_eq!(
            run(edit_original(&io, &edit())),
            Edited::GaveUp(GiveUp::RetriedOnce)
        );
        assert_eq!(io.net.to("/messages/@original").len(), 2);
        let io = testkit::io(FakeNet::new(|_| limited(r#"{"retry_after": 60}"#)), T0);
        assert!(matches!(
            run(edit_original(&io, &edit())),
            Edited::GaveUp(GiveUp::WaitTooLong(_))
        ));
        assert_eq!(
            (io.net.to("/messages/@original").len(), io.clock.now_ms()),
            (1, T0)
        );
        let io = testkit::io(FakeNet::new(|_| answer(404, "{}")), T0);
        assert_eq!(
            run(edit_original(&io, &edit())),
            Edited::GaveUp(GiveUp::Status(404))
        );
        assert_eq!(io.net.to("/messages/@original").len(), 1);
    }

    #[test]
    fn a_429_near_the_end_of_the_tokens_life_is_not_retried() {
        let io = testkit::io(
            FakeNet::new(|_| limited(r#"{"retry_after": 2}"#)),
            T0 + 15 * 60_000 - 2_500,
        );
        assert_eq!(
            run(edit_original(&io, &edit())),
            Edited::GaveUp(GiveUp::TokenExpiring)
        );
        assert_eq!(io.net.to("/messages/@original").len(), 1);
    }

    #[test]
    fn an_edit_that_times_out_is_not_sent_again() {
        let io = testkit::io(FakeNet::new(|_| Err(CallError::Timeout)), T0);
        assert_eq!(
            run(edit_original(&io, &edit())),
            Edited::Failed(CallError::Timeout)
        );
        assert_eq!(io.net.to("/messages/@original").len(), 1);
    }
}
