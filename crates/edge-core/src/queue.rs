//! Splitting a list of messages into Cloudflare Queues `sendBatch` calls that the queue
//! accepts: at most 100 messages and 256 KB per call, 128 KB per message.
//!
//! The sizes are the bytes of each message's JSON body (the `json` content type, which the
//! queue counts as sent); each message is also charged [`QueueLimits::per_message_overhead`]
//! for the metadata the queue adds, and kilobytes are read as 1,000 bytes, so a plan stays
//! inside the published limits with a margin.

use std::ops::Range;

use crate::error::HttpError;

/// The limits a plan keeps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most messages in one `sendBatch`.
    pub max_messages: usize,
    /// Most bytes (bodies plus overhead) in one `sendBatch`.
    pub max_batch_bytes: usize,
    /// Most bytes (body plus overhead) of one message.
    pub max_message_bytes: usize,
    /// Bytes charged per message on top of its body.
    pub per_message_overhead: usize,
}

impl QueueLimits {
    /// Cloudflare Queues: 100 messages, 256 KB per batch, 128 KB per message, read as
    /// 256,000 and 128,000 bytes, plus 256 bytes of overhead per message.
    pub const CLOUDFLARE: Self = Self {
        max_messages: 100,
        max_batch_bytes: 256_000,
        max_message_bytes: 128_000,
        per_message_overhead: 256,
    };

    fn cost(&self, body_bytes: usize) -> usize {
        body_bytes.saturating_add(self.per_message_overhead)
    }
}

/// Why messages cannot be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// One message alone is over the per-message limit.
    #[error("message {index} is {bytes} bytes, over the queue's per-message limit")]
    MessageTooLarge {
        /// Its position in the input.
        index: usize,
        /// Its body's size in bytes.
        bytes: usize,
    },
}

impl HttpError for BatchError {
    fn status(&self) -> u16 {
        413
    }

    fn code(&self) -> &'static str {
        "event_too_large"
    }
}

/// Splits messages of `sizes` (body bytes, in order) into consecutive ranges, each one
/// `sendBatch` within `limits`; greedy, so the number of calls is the fewest that keeps
/// order. No message is dropped or reordered; an empty input gives no range.
///
/// # Errors
/// [`BatchError::MessageTooLarge`] when a message cannot be sent at all (nothing is planned).
pub fn plan(sizes: &[usize], limits: QueueLimits) -> Result<Vec<Range<usize>>, BatchError> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (index, &size) in sizes.iter().enumerate() {
        let cost = limits.cost(size);
        if cost > limits.max_message_bytes || cost > limits.max_batch_bytes {
            return Err(BatchError::MessageTooLarge { index, bytes: size });
        }
        if index > start
            && (index - start >= limits.max_messages
                || bytes.saturating_add(cost) > limits.max_batch_bytes)
        {
            batches.push(start..index);
            start = index;
            bytes = 0;
        }
        bytes += cost;
    }
    if start < sizes.len() {
        batches.push(start..sizes.len());
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CF: QueueLimits = QueueLimits::CLOUDFLARE;

    fn check(sizes: &[usize], limits: QueueLimits, plan: &[Range<usize>]) {
        // Order kept, nothing dropped: the ranges tile 0..len.
        let mut next = 0;
        for r in plan {
            assert_eq!(r.start, next);
            assert!(r.end > r.start, "no empty batch");
            assert!(r.len() <= limits.max_messages);
            let bytes: usize = sizes[r.clone()].iter().map(|&s| limits.cost(s)).sum();
            assert!(bytes <= limits.max_batch_bytes, "{bytes}");
            next = r.end;
        }
        assert_eq!(next, sizes.len());
    }

    #[cfg(feature = "chat")]
    /// The JSON size of a queued LINE text event (as chat-webhook queues it: the event and
    /// the time it was received) carrying `chars` Thai characters.
    fn thai_event_bytes(chars: usize) -> usize {
        use crate::chat::line::webhook::{Event, EventKind, Source};
        let event = Event {
            id: "01HZX3M8Q6Y2J4K5N7P9R1S3T5".into(),
            redelivery: false,
            timestamp_ms: 1_700_000_000_000,
            standby: false,
            source: Some(Source::User {
                user_id: "U4af4980629a1b2c3d4e5f60718293a4b".into(),
            }),
            reply_token: Some("0f3779fba3b349968c5d07db31eab56f".into()),
            kind: EventKind::Text {
                message_id: "500000000000000001".into(),
                text: "สวัสดีครับ".chars().cycle().take(chars).collect(),
            },
        };
        serde_json::to_vec(
            &serde_json::json!({"event": event, "received_ms": 1_700_000_000_000u64}),
        )
        .map_or(0, |v| v.len())
    }

    #[cfg(feature = "chat")]
    #[test]
    fn item_13_5_twenty_five_thai_texts_of_5000_chars_fit_in_two_batches() {
        let one = thai_event_bytes(5_000);
        assert!(one > 15_000, "{one}: a Thai character is 3 bytes of UTF-8");
        let sizes = vec![one; 25];
        assert!(
            sizes.iter().sum::<usize>() > 256 * 1024,
            "one batch would exceed 256 KB"
        );
        let p = plan(&sizes, CF).expect("each event fits");
        check(&sizes, CF, &p);
        assert_eq!(p, vec![0..16, 16..25]);
        // 19 such events already exceed one batch (the case that answered 503 forever).
        assert_eq!(plan(&sizes[..19], CF).expect("fits").len(), 2);
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // one batch of several messages
    fn item_13_5_count_limit_and_edges() {
        assert_eq!(plan(&[], CF), Ok(vec![]));
        let small = vec![10; 250];
        assert_eq!(
            plan(&small, CF).expect("small"),
            vec![0..100, 100..200, 200..250]
        );
        // Exactly at the batch limit stays one batch; one byte more splits.
        let third = 85_000;
        let fill = CF.max_batch_bytes - 2 * third - 3 * CF.per_message_overhead;
        assert_eq!(plan(&[third, third, fill], CF), Ok(vec![0..3]));
        assert_eq!(plan(&[third, third, fill + 1], CF), Ok(vec![0..2, 2..3]));
        // Exactly at the per-message limit is sent; over it is refused, naming the message.
        let max = CF.max_message_bytes - CF.per_message_overhead;
        assert_eq!(plan(&[1, max], CF), Ok(vec![0..2]));
        let err = plan(&[1, max + 1], CF).expect_err("too large");
        assert_eq!(
            err,
            BatchError::MessageTooLarge {
                index: 1,
                bytes: max + 1
            }
        );
        assert_eq!((err.status(), err.code()), (413, "event_too_large"));
        assert!(plan(&[usize::MAX], CF).is_err(), "no overflow");
    }

    proptest! {
        /// Every batch is within the limits, order is kept, nothing is dropped, and a batch
        /// is only closed when the next message would not fit.
        #[test]
        fn item_13_5_plans_keep_limits_order_and_every_message(
            sizes in proptest::collection::vec(0usize..140_000, 0..400),
            max_messages in 1usize..120,
        ) {
            let limits = QueueLimits { max_messages, ..CF };
            match plan(&sizes, limits) {
                Ok(p) => {
                    check(&sizes, limits, &p);
                    for w in p.windows(2) {
                        let first = &w[0];
                        let bytes: usize = sizes[first.clone()].iter().map(|&s| limits.cost(s)).sum();
                        prop_assert!(first.len() == max_messages
                            || bytes + limits.cost(sizes[first.end]) > limits.max_batch_bytes);
                    }
                }
                Err(BatchError::MessageTooLarge { index, bytes }) => {
                    prop_assert_eq!(sizes[index], bytes);
                    prop_assert!(limits.cost(bytes) > limits.max_message_bytes);
                    prop_assert!(sizes[..index].iter().all(|&s| limits.cost(s) <= limits.max_message_bytes));
                }
            }
        }
    }
}
