//! Server-Sent Events: an incremental parser for the streams AI providers answer with, and
//! the encoder the web chat writes its own streams with.
//!
//! The parser follows the WHATWG event-stream rules: lines end with CRLF, LF or CR; an
//! empty line dispatches the event being built; `data:` lines are joined with `\n`;
//! `event:` names it; `id:` sets the last event id (kept for later events, ignored when it
//! holds a NUL); lines starting with `:` are comments; one leading U+FEFF (BOM) is dropped;
//! a field without a colon has an empty value; one space after the colon is dropped; an
//! event with no data is not dispatched; an unfinished event at the end is discarded.
//!
//! Bytes arrive in chunks cut anywhere, even inside a CRLF or a UTF-8 sequence: the parser
//! only ever decodes whole lines (line breaks are ASCII, so never inside a sequence), and a
//! CR at the end of a chunk swallows an LF at the start of the next. Any cutting of the same
//! bytes yields the same events. Invalid UTF-8 becomes U+FFFD.
//!
//! One event (its data, its name and the line being read) may hold at most
//! `max_event_bytes`: a stream that sends an endless line or endless `data:` lines without
//! a blank line is refused rather than buffered. The events completed before the overflow
//! are still returned; the error comes on the next call, so the events and the error seen
//! are the same for any chunking.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` name, `None` when absent or empty (the default type, `message`).
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The last event id, `None` while no `id:` (or an empty one) was seen.
    pub id: Option<String>,
}

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// One event (or one line) grew past the parser's cap.
    #[error("server-sent event larger than {0} bytes")]
    EventTooLarge(usize),
}

/// The incremental parser; see the module docs.
#[derive(Debug, Clone)]
pub struct SseParser {
    max_event_bytes: usize,
    /// The current line's bytes (no terminator yet).
    line: Vec<u8>,
    /// The previous byte was a CR: an LF now ends nothing.
    after_cr: bool,
    /// No line completed yet (the BOM may still be dropped).
    first_line: bool,
    data: String,
    /// Whether a `data` field was seen for the current event.
    has_data: bool,
    event: String,
    last_id: String,
    failed: Option<SseError>,
}

impl SseParser {
    /// A parser refusing any event larger than `max_event_bytes`.
    #[must_use]
    pub const fn new(max_event_bytes: usize) -> Self {
        Self {
            max_event_bytes,
            line: Vec::new(),
            after_cr: false,
            first_line: true,
            data: String::new(),
            has_data: false,
            event: String::new(),
            last_id: String::new(),
            failed: None,
        }
    }

    /// The bytes the current event holds so far.
    fn held(&self) -> usize {
        self.line.len() + self.data.len() + self.event.len()
    }

    /// Feeds the next chunk; the events it completed.
    ///
    /// # Errors
    /// [`SseError::EventTooLarge`] once an event passed the cap (the events completed
    /// before it in the same chunk are returned first, the error on the next call).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let mut events = Vec::new();
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.after_cr && rest[0] == b'\n' {
                rest = &rest[1..];
                self.after_cr = false;
                continue;
            }
            self.after_cr = false;
            let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                self.line.extend_from_slice(rest);
                if self.held() > self.max_event_bytes {
                    return self.fail(events);
                }
                break;
            };
            self.line.extend_from_slice(&rest[..end]);
            self.after_cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if self.held() > self.max_event_bytes {
                return self.fail(events);
            }
            if let Some(event) = self.end_line() {
                events.push(event);
            }
            // Decoding may have grown the data (U+FFFD for each bad byte).
            if self.held() > self.max_event_bytes {
                return self.fail(events);
            }
        }
        Ok(events)
    }

    fn fail(&mut self, events: Vec<SseEvent>) -> Result<Vec<SseEvent>, SseError> {
        let e = SseError::EventTooLarge(self.max_event_bytes);
        self.failed = Some(e);
        self.line.clear();
        self.data.clear();
        if events.is_empty() {
            Err(e)
        } else {
            Ok(events)
        }
    }

    /// Processes the completed line; the event it dispatched, if any.
    fn end_line(&mut self) -> Option<SseEvent> {
        let raw = std::mem::take(&mut self.line);
        let mut bytes = raw.as_slice();
        if std::mem::replace(&mut self.first_line, false) {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if bytes.is_empty() {
            return self.dispatch();
        }
        if bytes[0] == b':' {
            return None;
        }
        let line = String::from_utf8_lossy(bytes);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => value.clone_into(&mut self.event),
            "id" if !value.contains('\0') => value.clone_into(&mut self.last_id),
            // `retry` and unknown fields change nothing here.
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        if !std::mem::replace(&mut self.has_data, false) {
            return None;
        }
        Some(SseEvent {
            event: (!event.is_empty()).then_some(event),
            data,
            id: (!self.last_id.is_empty()).then(|| self.last_id.clone()),
        })
    }

    /// Ends the stream: an unfinished event is discarded (as the standard says).
    ///
    /// # Errors
    /// The error the stream already failed with, if any.
    pub fn finish(self) -> Result<(), SseError> {
        self.failed.map_or(Ok(()), Err)
    }
}

/// One event as event-stream text: `event: <name>` (unless `event` is empty), then each
/// line of `data` as a `data:` line, then the blank line. Line breaks in `event` are
/// dropped (it cannot span lines); `data`'s CR, LF and CRLF all become line breaks, so a
/// parser gets `data` back with `\n` for each.
#[must_use]
pub fn encode(event: &str, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + event.len() + 16);
    let name: String = event
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    if !name.is_empty() {
        out.push_str("event: ");
        out.push_str(&name);
        out.push('\n');
    }
    for line in data.split("\r\n").flat_map(|l| l.split(['\r', '\n'])) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// A comment line (ignored by every client), e.g. a keep-alive through proxies.
#[must_use]
pub fn comment(text: &str) -> String {
    let text: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    format!(": {text}\n\n")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const CAP: usize = 1024;

    /// All events of `bytes` cut at `cuts`, and whether the stream was refused.
    fn parse_cut(bytes: &[u8], cuts: &[usize], cap: usize) -> (Vec<SseEvent>, Option<SseError>) {
        let mut p = SseParser::new(cap);
        let mut events = Vec::new();
        let mut at = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        points.push(bytes.len());
        for end in points {
            match p.push(&bytes[at..end]) {
                Ok(mut e) => events.append(&mut e),
                Err(e) => return (events, Some(e)),
            }
            at = end;
        }
        (events, p.finish().err())
    }

    fn parse(bytes: &[u8]) -> Vec<SseEvent> {
        let (events, err) = parse_cut(bytes, &[], CAP);
        assert_eq!(err, None);
        events
    }

    fn ev(event: Option<&str>, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        }
    }

    #[test]
    fn data_lines_join_and_a_blank_line_dispatches() {
        let s = b"data: {\"a\":1}\n\ndata: one\ndata:two\ndata\n\n";
        assert_eq!(
            parse(s),
            [ev(None, "{\"a\":1}", None), ev(None, "one\ntwo\n", None)]
        );
    }

    #[test]
    fn names_ids_comments_and_unknown_fields() {
        let s = b": keep-alive\nevent: error\nid: 7\nretry: 10\nfoo: bar\ndata: x\n\nevent:\ndata:  y\n\nid: a\0b\ndata: z\n\nid\ndata: w\n\n";
        assert_eq!(
            parse(s),
            [
                ev(Some("error"), "x", Some("7")),
                ev(None, " y", Some("7")),
                ev(None, "z", Some("7")),
                ev(None, "w", None),
            ]
        );
    }

    #[test]
    fn events_without_data_are_not_dispatched_and_the_last_unfinished_one_is_dropped() {
        assert_eq!(
            parse(b"event: ping\n\n\n\ndata: kept\n\ndata: cut"),
            [ev(None, "kept", None)]
        );
        assert_eq!(parse(b"data:\n\n"), [ev(None, "", None)]);
    }

    #[test]
    fn crlf_cr_and_lf_all_end_lines_and_a_leading_bom_is_dropped() {
        let want = [ev(Some("e"), "a\nb", None)];
        for s in [
            &b"\xEF\xBB\xBFevent: e\r\ndata: a\r\ndata: b\r\n\r\n"[..],
            b"event: e\rdata: a\rdata: b\r\r",
            b"event: e\ndata: a\rdata: b\r\n\n",
        ] {
            assert_eq!(parse(s), want, "{:?}", String::from_utf8_lossy(s));
        }
        // Only at the very start: later it is part of the field name.
        assert_eq!(
            parse(b"data: 1\n\n\xEF\xBB\xBFdata: 2\n\n"),
            [ev(None, "1", None)]
        );
    }

    #[test]
    fn a_utf8_sequence_cut_between_chunks_decodes_whole_and_bad_bytes_become_replacement() {
        let s = "data: ราคา 🙂\n\n".as_bytes();
        for cut in 0..s.len() {
            assert_eq!(
                parse_cut(s, &[cut], CAP).0,
                [ev(None, "ราคา 🙂", None)],
                "cut at {cut}"
            );
        }
        assert_eq!(
            parse(b"data: \xFF\xC3\n\n"),
            [ev(None, "\u{FFFD}\u{FFFD}", None)]
        );
    }

    #[test]
    fn an_event_over_the_cap_is_refused_after_the_events_before_it() {
        let mut s = b"data: ok\n\n".to_vec();
        s.extend(b"data: ".iter().chain(&[b'x'; 40]));
        let (events, err) = parse_cut(&s, &[], 32);
        assert_eq!(events, [ev(None, "ok", None)]);
        assert_eq!(err, Some(SseError::EventTooLarge(32)));
        // Many small data lines add up, too; a line with no end at all as well.
        let many = b"data: 0123456789\n".repeat(4);
        assert_eq!(
            parse_cut(&many, &[], 32).1,
            Some(SseError::EventTooLarge(32))
        );
        let mut p = SseParser::new(32);
        assert_eq!(p.push(&[b'a'; 33]), Err(SseError::EventTooLarge(32)));
        assert_eq!(
            p.push(b"\n\n"),
            Err(SseError::EventTooLarge(32)),
            "stays refused"
        );
        // Just under the cap is fine, and the count starts again at every event.
        let fits = b"data: 0123456789\n\n".repeat(10);
        assert_eq!(parse_cut(&fits, &[], 32).0.len(), 10);
    }

    #[test]
    fn encode_writes_what_the_parser_reads_back() {
        assert_eq!(
            encode("delta", "a\nb"),
            "event: delta\ndata: a\ndata: b\n\n"
        );
        assert_eq!(encode("", ""), "data: \n\n");
        assert_eq!(
            encode("x\ny", "1\r\n2\r3"),
            "event: xy\ndata: 1\ndata: 2\ndata: 3\n\n"
        );
        assert_eq!(comment("ping\n"), ": ping\n\n");
        assert_eq!(parse(comment("hi").as_bytes()), []);
    }

    /// Text with the characters that matter to the format, and some that do not.
    fn stream_text() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                Just(b"data: ".to_vec()),
                Just(b"data:".to_vec()),
                Just(b"event: e".to_vec()),
                Just(b"id: 1".to_vec()),
                Just(b":c".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"\r".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"\xEF\xBB\xBF".to_vec()),
                Just("ก🙂".as_bytes().to_vec()),
                "[a-z {}\":]{0,8}".prop_map(String::into_bytes),
                proptest::collection::vec(any::<u8>(), 0..4),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_events(
            s in stream_text(),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            cap in 8usize..200,
        ) {
            prop_assert_eq!(parse_cut(&s, &cuts, cap), parse_cut(&s, &[], cap));
            // Byte by byte, too.
            let every: Vec<usize> = (0..s.len()).collect();
            prop_assert_eq!(parse_cut(&s, &every, cap), parse_cut(&s, &[], cap));
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_events_respect_the_cap(
            s in proptest::collection::vec(any::<u8>(), 0..512),
            cap in 0usize..64,
        ) {
            for e in parse_cut(&s, &[], cap).0 {
                prop_assert!(e.data.len() <= cap);
            }
        }

        #[test]
        fn encoded_events_parse_back(
            name in "[a-z]{0,8}",
            data in "[^\r]{0,64}",
        ) {
            let events = parse(encode(&name, &data).as_bytes());
            prop_assert_eq!(events, vec![SseEvent {
                event: (!name.is_empty()).then(|| name.clone()),
                data,
                id: None,
            }]);
        }
    }
}
