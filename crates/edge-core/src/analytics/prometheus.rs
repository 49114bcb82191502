//! The scrape endpoint's expositions: the Prometheus text format 0.0.4 and OpenMetrics
//! 1.0.0, chosen by the scraper's `Accept` header ([`Format::negotiate`]).
//!
//! Names follow Prometheus's conventions: counters end in `_total`, durations are in
//! seconds (`_seconds`), every family has `# HELP` and `# TYPE` lines. In OpenMetrics a
//! counter family is named without `_total` (its sample is `<family>_total`), a family with
//! a unit says so in `# UNIT` (its name ends in `_<unit>`), and the exposition ends with
//! `# EOF`.
//!
//! Counters are totals since 00:00 UTC (each UTC day has its own store), so they fall to
//! zero once a day; `rate()` and `increase()` treat that as a counter reset.

use std::fmt::Write as _;

use super::summary::Stats;
use crate::accept::{Accept, Offer};

/// The `Content-Type` of the text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The `Content-Type` of OpenMetrics 1.0.0.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4 (the default).
    Text,
    /// OpenMetrics 1.0.0.
    OpenMetrics,
}

/// The formats offered, the default first (it wins ties, e.g. `*/*`).
const OFFERS: [(Format, Offer<'static>); 2] = [
    (
        Format::Text,
        Offer {
            kind: "text",
            subtype: "plain",
            params: &[("version", &["0.0.4"]), ("charset", &["utf-8"])],
        },
    ),
    (
        Format::OpenMetrics,
        Offer {
            kind: "application",
            subtype: "openmetrics-text",
            // Our names are plain `[a-z_]`, identical under every escaping scheme a
            // Prometheus 3 scraper may ask for.
            params: &[
                ("version", &["1.0.0"]),
                ("charset", &["utf-8"]),
                (
                    "escaping",
                    &["allow-utf-8", "underscores", "dots", "values"],
                ),
            ],
        },
    ),
];

impl Format {
    /// The format for a scrape with this `Accept` header: OpenMetrics when the client
    /// weighs it above the text format, the text format otherwise — no header, a header
    /// that accepts neither, or one that does not parse (a scraper always gets metrics).
    #[must_use]
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(Ok(accept)) = accept.map(Accept::parse) else {
            return Self::Text;
        };
        let offers = OFFERS.map(|(_, o)| o);
        accept
            .choose(&offers)
            .and_then(|i| OFFERS.get(i))
            .map_or(Self::Text, |(f, _)| *f)
    }

    /// The response's `Content-Type`.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => CONTENT_TYPE,
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// An exposition being written, one metric family at a time.
#[derive(Debug)]
pub struct Exposition {
    format: Format,
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

/// A float as both formats spell it (`NaN`, `+Inf`, `-Inf` for the non-finite).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

/// Whole milliseconds as seconds, exactly as written (`1234` → `1.234`).
fn ms_as_seconds(ms: u64) -> String {
    let (s, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        format!("{s}")
    } else {
        format!("{s}.{}", format!("{frac:03}").trim_end_matches('0'))
    }
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
    /// An empty exposition in `format`.
    #[must_use]
    pub fn new(format: Format) -> Self {
        Self {
            format,
            out: String::new(),
        }
    }

    fn header(&mut self, family: &str, help: &str, kind: &str, unit: Option<&str>) {
        let _ = writeln!(self.out, "# HELP {family} {help}\n# TYPE {family} {kind}");
        if let (Format::OpenMetrics, Some(unit)) = (self.format, unit) {
            let _ = writeln!(self.out, "# UNIT {family} {unit}");
        }
    }

    /// Writes a counter family `<family>_total`: one sample per group, valued by `value`.
    /// `family` is the name without `_total` (what OpenMetrics calls the family).
    pub fn counter(
        &mut self,
        family: &str,
        help: &str,
        groups: &[Stats],
        rename: &[(&str, &str)],
        value: impl Fn(&Stats) -> u64,
    ) {
        let sample = format!("{family}_total");
        let named = match self.format {
            Format::Text => sample.as_str(),
            Format::OpenMetrics => family,
        };
        self.header(named, help, "counter", None);
        for s in groups {
            let _ = writeln!(
                self.out,
                "{sample}{} {}",
                labels(&group_labels(s, rename)),
                value(s)
            );
        }
    }

    /// Writes a summary family of durations in seconds (`family` ends in `_seconds`):
    /// p50/p95/p99 quantiles, `_sum` and `_count`.
    pub fn duration_summary(&mut self, family: &str, help: &str, groups: &[Stats]) {
        self.header(family, help, "summary", Some("seconds"));
        for s in groups {
            let base = group_labels(s, &[]);
            if let Some(l) = s.latency_ms {
                for (q, v) in [("0.5", l.p50), ("0.95", l.p95), ("0.99", l.p99)] {
                    let mut with_q = base.clone();
                    with_q.push(("quantile", q));
                    let _ = writeln!(self.out, "{family}{} {}", labels(&with_q), ms_as_seconds(v));
                }
            }
            let _ = writeln!(
                self.out,
                "{family}_sum{} {}",
                labels(&base),
                float(s.latency_sum_ms / 1000.0)
            );
            let _ = writeln!(self.out, "{family}_count{} {}", labels(&base), s.requests);
        }
    }

    /// The finished text (OpenMetrics's `# EOF` included).
    #[must_use]
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
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
            tokens: 0,
            latency_ms: Some(Latency {
                mean: 1.0,
                p50: 1,
                p95: 20,
                p99: 1500,
            }),
        }
    }

    fn sample(format: Format) -> String {
        let mut e = Exposition::new(format);
        e.counter(
            "edge_requests",
            "Requests by worker and status class since 00:00 UTC.",
            &[stats(
                &[("worker", "auth-validator"), ("status_class", "2xx")],
                7,
            )],
            &[],
            |s| s.requests,
        );
        e.counter(
            "edge_cache",
            "By outcome.",
            &[stats(&[("cache", "hit")], 3)],
            &[("cache", "outcome")],
            |s| s.requests,
        );
        e.duration_summary(
            "edge_latency_seconds",
            "Latency.",
            &[stats(&[("worker", "w\"x\\y\n")], 2)],
        );
        e.finish()
    }

    #[test]
    fn text_format_0_0_4() {
        let expected =
            "# HELP edge_requests_total Requests by worker and status class since 00:00 UTC.
# TYPE edge_requests_total counter
edge_requests_total{status_class=\"2xx\",worker=\"auth-validator\"} 7
# HELP edge_cache_total By outcome.
# TYPE edge_cache_total counter
edge_cache_total{outcome=\"hit\"} 3
# HELP edge_latency_seconds Latency.
# TYPE edge_latency_seconds summary
edge_latency_seconds{worker=\"w\\\"x\\\\y\\n\",quantile=\"0.5\"} 0.001
edge_latency_seconds{worker=\"w\\\"x\\\\y\\n\",quantile=\"0.95\"} 0.02
edge_latency_seconds{worker=\"w\\\"x\\\\y\\n\",quantile=\"0.99\"} 1.5
edge_latency_seconds_sum{worker=\"w\\\"x\\\\y\\n\"} 0.0125
edge_latency_seconds_count{worker=\"w\\\"x\\\\y\\n\"} 2
";
        assert_eq!(sample(Format::Text), expected);
    }

    #[test]
    fn openmetrics_1_0_0() {
        let expected = "# HELP edge_requests Requests by worker and status class since 00:00 UTC.
# TYPE edge_requests counter
edge_requests_total{status_class=\"2xx\",worker=\"auth-validator\"} 7
# HELP edge_cache By outcome.
# TYPE edge_cache counter
edge_cache_total{outcome=\"hit\"} 3
# HELP edge_latency_seconds Latency.
# TYPE edge_latency_seconds summary
# UNIT edge_latency_seconds seconds
edge_latency_seconds{worker=\"w\\\"x\\\\y\\n\",quantile=\"0.5\"} 0.001
edge_latency_seconds{worker=\"w\\\"x\\\\y\\n\",quantile=\"0.95\"} 0.02
edge_latency_seconds{worker=\"w\\\"x\\\\y\\n\",quantile=\"0.99\"} 1.5
edge_latency_seconds_sum{worker=\"w\\\"x\\\\y\\n\"} 0.0125
edge_latency_seconds_count{worker=\"w\\\"x\\\\y\\n\"} 2
# EOF
";
        assert_eq!(sample(Format::OpenMetrics), expected);
        assert_eq!(
            Exposition::new(Format::OpenMetrics).finish(),
            "# EOF\n",
            "an empty exposition is still complete"
        );
    }

    #[test]
    fn seconds_and_floats() {
        for (ms, s) in [
            (0, "0"),
            (1, "0.001"),
            (10, "0.01"),
            (999, "0.999"),
            (1000, "1"),
            (61_250, "61.25"),
        ] {
            assert_eq!(ms_as_seconds(ms), s);
        }
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(0.25), "0.25");
    }

    #[test]
    fn negotiation() {
        use Format::{OpenMetrics, Text};
        for (accept, f) in [
            (None, Text),
            (Some(""), Text),
            (Some("*/*"), Text),
            (Some("text/plain"), Text),
            (Some("application/json"), Text),
            (Some("application/openmetrics-text;q=nope"), Text),
            (Some("application/openmetrics-text"), OpenMetrics),
            (Some("application/openmetrics-text;version=0.0.1"), Text),
            // Prometheus 2.x and 3.x scrape headers.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                OpenMetrics,
            ),
            (
                Some(
                    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
                ),
                OpenMetrics,
            ),
            (
                Some("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.8"),
                Text,
            ),
        ] {
            assert_eq!(Format::negotiate(accept), f, "{accept:?}");
        }
        assert_eq!(
            OpenMetrics.content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
    }
}
