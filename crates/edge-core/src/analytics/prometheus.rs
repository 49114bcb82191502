//! The Prometheus text exposition format (version 0.0.4) for the scrape endpoint.
//!
//! Counters are totals since 00:00 UTC (each UTC day has its own store), so they fall to
//! zero once a day; `rate()` and `increase()` treat that as a counter reset.

use std::fmt::Write as _;

use super::summary::Stats;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An exposition being written, one metric family at a time.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// The group's labels, renamed per `rename` (`(dimension, label)`); dimensions not listed
/// keep their name.
fn group_labels<'a>(s: &'a Stats, rename: &[(&str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    s.group
        .iter()
        .map(|(k, v)| {
            let label = rename
                .iter()
                .find(|(d, _)| d == k)
                .map_or(k.as_str(), |(_, l)| l);
            (label, v.as_str())
        })
        .collect()
}

impl Exposition {
    /// Writes a counter family: one sample per group, valued by `value`.
    pub fn counter(
        &mut self,
        name: &str,
        help: &str,
        groups: &[Stats],
        rename: &[(&str, &str)],
        value: impl Fn(&Stats) -> u64,
    ) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} counter");
        for s in groups {
            let _ = writeln!(
                self.out,
                "{name}{} {}",
                labels(&group_labels(s, rename)),
                value(s)
            );
        }
    }

    /// Writes a summary family of latencies: p50/p95/p99 quantiles, `_sum` and `_count`.
    pub fn latency_summary(&mut self, name: &str, help: &str, groups: &[Stats]) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} summary");
        for s in groups {
            let base = group_labels(s, &[]);
            if let Some(l) = s.latency_ms {
                for (q, v) in [("0.5", l.p50), ("0.95", l.p95), ("0.99", l.p99)] {
                    let mut with_q = base.clone();
                    with_q.push(("quantile", q));
                    let _ = writeln!(self.out, "{name}{} {v}", labels(&with_q));
                }
            }
            let _ = writeln!(self.out, "{name}_sum{} {}", labels(&base), s.latency_sum_ms);
            let _ = writeln!(self.out, "{name}_count{} {}", labels(&base), s.requests);
        }
    }

    /// The finished text.
    #[must_use]
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::summary::Latency;
    use std::collections::BTreeMap;

    fn stats(group: &[(&str, &str)], requests: u64) -> Stats {
        Stats {
            group: group
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            requests,
            errors: 1,
            error_rate: 0.0,
            cache_hits: 0,
            cache_lookups: 0,
            cache_hit_ratio: None,
            latency_sum_ms: 12.5,
            latency_ms: Some(Latency {
                mean: 1.0,
                p50: 1,
                p95: 2,
                p99: 3,
            }),
        }
    }

    #[test]
    fn counters_and_summaries_in_text_format() {
        let mut e = Exposition::default();
        e.counter(
            "edge_requests_total",
            "Requests by worker and status class since 00:00 UTC.",
            &[stats(
                &[("worker", "auth-validator"), ("status_class", "2xx")],
                7,
            )],
            &[],
            |s| s.requests,
        );
        e.counter(
            "edge_cache_total",
            "By outcome.",
            &[stats(&[("cache", "hit")], 3)],
            &[("cache", "outcome")],
            |s| s.requests,
        );
        e.latency_summary(
            "edge_latency_ms",
            "Latency.",
            &[stats(&[("worker", "w\"x\\y\n")], 2)],
        );
        let text = e.finish();
        let expected =
            "# HELP edge_requests_total Requests by worker and status class since 00:00 UTC.
# TYPE edge_requests_total counter
edge_requests_total{status_class=\"2xx\",worker=\"auth-validator\"} 7
# HELP edge_cache_total By outcome.
# TYPE edge_cache_total counter
edge_cache_total{outcome=\"hit\"} 3
# HELP edge_latency_ms Latency.
# TYPE edge_latency_ms summary
edge_latency_ms{worker=\"w\\\"x\\\\y\\n\",quantile=\"0.5\"} 1
edge_latency_ms{worker=\"w\\\"x\\\\y\\n\",quantile=\"0.95\"} 2
edge_latency_ms{worker=\"w\\\"x\\\\y\\n\",quantile=\"0.99\"} 3
edge_latency_ms_sum{worker=\"w\\\"x\\\\y\\n\"} 12.5
edge_latency_ms_count{worker=\"w\\\"x\\\\y\\n\"} 2
";
        assert_eq!(text, expected);
    }
}
