//! chat-webhook's one way to log: the runtime's console in wasm, stderr in native tests
//! (where the console does not exist). Every line is redacted first
//! (`edge_core::chat::privacy`: e-mails, phones, cards, Thai ids), because what is logged
//! may quote a user, a provider or an error carrying either; a line with nothing to
//! redact is not copied.

use std::borrow::Cow;

use edge_core::chat::privacy;

/// What is written for `message`: its redaction.
pub(crate) fn line(message: &str) -> Cow<'_, str> {
    privacy::redact(message)
}

/// Logs `message` as an error.
pub(crate) fn error(message: &str) {
    let line = line(message);
    #[cfg(target_arch = "wasm32")]
    worker::console_error!("{line}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("error: {line}");
}

/// Logs `message` as a warning.
pub(crate) fn warn(message: &str) {
    let line = line(message);
    #[cfg(target_arch = "wasm32")]
    worker::console_warn!("{line}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("warn: {line}");
}

/// Logs `message`.
pub(crate) fn info(message: &str) {
    let line = line(message);
    #[cfg(target_arch = "wasm32")]
    worker::console_log!("{line}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("info: {line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_redacted_and_clean_ones_borrowed() {
        assert_eq!(
            line("ai provider deepseek said in its stream: call 081-234-5678 or a@b.co"),
            "ai provider deepseek said in its stream: call [phone] or [email]"
        );
        let clean = "line event 0123abcd: reply token expired, pushed";
        assert!(matches!(line(clean), Cow::Borrowed(_)));
    }
}
