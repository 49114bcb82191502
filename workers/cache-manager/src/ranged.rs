//! Byte ranges (RFC 9110 §14) through the cache: a `GET` with `Range` is looked up,
//! fetched and stored as the same `GET` without `Range` and `If-Range`, and the range is
//! applied only to an answer from a stored complete `200` (`edge_core::cache::range`).
//!
//! - On a miss the whole response is fetched (so it can be stored) and the range served
//!   from it when it was stored; a response that is not stored is relayed whole (`200`),
//!   which RFC 9110 §14.2 allows. A `206` is therefore never stored, and never taken for
//!   a complete response.
//! - Requests the cache does not look up (other methods, `HEAD`, never-cached paths,
//!   `no-store`) are forwarded as they came, `Range` included: the origin answers them.

use edge_core::cache::range::{self, Part, Validators};

use crate::flow::{Answer, Incoming, Served};

/// A `GET` with a `Range`.
pub(crate) struct Ask {
    /// The request without `Range` and `If-Range`.
    pub(crate) whole: Incoming,
    range: String,
    if_range: Option<String>,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

impl Ask {
    /// `req`'s range, when it is a `GET` with one.
    pub(crate) fn of(req: &Incoming) -> Option<Self> {
        if req.method != "GET" {
            return None;
        }
        let range = header(&req.headers, "range")?.to_owned();
        let if_range = header(&req.headers, "if-range").map(str::to_owned);
        let mut whole = req.clone();
        whole
            .headers
            .retain(|(n, _)| n != "range" && n != "if-range");
        Some(Self {
            whole,
            range,
            if_range,
        })
    }

    /// `served` with the part of its entry to send, if it is an entry.
    pub(crate) fn apply<R>(&self, mut served: Served<R>) -> Served<R> {
        if let Answer::Entry { entry, .. } = &served.answer {
            let meta = &entry.meta;
            let validators = Validators {
                etag: meta.header("etag"),
                last_modified: meta.header("last-modified"),
                date: meta.header("date"),
                received_s: meta.response_time_s,
            };
            let len = u64::try_from(entry.body.len()).unwrap_or(u64::MAX);
            served.part = range::select(
                Some(&self.range),
                self.if_range.as_deref(),
                meta.status,
                validators,
                len,
            );
        }
        served
    }
}

/// The status, headers and body of `part` of an entry answered with `status` and
/// `headers` (as `decide::entry_response` built them): only a `200` is cut.
pub(crate) fn cut(
    part: Part,
    status: u16,
    headers: Vec<(String, String)>,
    body: &[u8],
) -> (u16, Vec<(String, String)>, &[u8]) {
    match part {
        _ if status != 200 => (status, headers, body),
        Part::Whole => (status, headers, body),
        Part::Bytes { first, last, len } => {
            let slice = usize::try_from(first)
                .ok()
                .zip(usize::try_from(last).ok())
                .and_then(|(f, l)| body.get(f..=l));
            match slice {
                Some(slice) => (
                    206,
                    range::partial_headers(&headers, first, last, len),
                    slice,
                ),
                None => (status, headers, body),
            }
        }
        Part::Unsatisfiable { len } => (416, range::unsatisfiable_headers(&headers, len), &[]),
    }
}
