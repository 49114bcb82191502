//! From summed cells to the numbers the query API returns: per window and per group,
//! requests, errors, cache hits and exact-bucket latency percentiles.
//!
//! A window is split over the shards of its day (`analytics::shard`), so a store answers
//! with mergeable accumulators (counts plus histogram) per window and per group, uncapped;
//! [`QueryResult::merge`] sums them across stores exactly, then caps and finishes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::histogram::{Bucket, percentiles};
use super::query::{Dimension, Query};
use super::window::Resolution;

/// Most groups reported per window and in the totals; the rest are summed into one group
/// whose every value is [`OTHER`].
pub const MAX_GROUPS: usize = 50;
/// The value of every dimension of the folded group.
pub const OTHER: &str = "(other)";

/// What a store returns per window, group and latency bucket: sums of its cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketRow {
    /// Window start, unix ms.
    pub window_start: u64,
    /// One value per grouping dimension, in the query's order.
    pub group: Vec<String>,
    /// Latency bucket.
    pub bucket: Bucket,
    /// Events.
    pub n: u64,
    /// Sum of their latencies, ms.
    pub latency_sum: f64,
    /// Of them, 5xx answers.
    pub errors: u64,
    /// Of them, served from the cache.
    pub cache_hits: u64,
    /// Of them, cache lookups (hits, stale, misses, revalidations).
    pub cache_lookups: u64,
    /// Sum of their AI tokens.
    #[serde(default)]
    pub tokens: u64,
}

/// A mergeable accumulator: counts plus the latency histogram.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Acc {
    /// The group's values.
    pub group: Vec<String>,
    /// Events.
    pub n: u64,
    /// Sum of latencies, ms.
    pub latency_sum: f64,
    /// 5xx answers.
    pub errors: u64,
    /// Cache hits.
    pub cache_hits: u64,
    /// Cache lookups.
    pub cache_lookups: u64,
    /// Sum of AI tokens (a store of an older build answers without: 0).
    #[serde(default)]
    pub tokens: u64,
    /// Count per latency bucket.
    pub buckets: BTreeMap<Bucket, u64>,
}

impl Acc {
    fn add(&mut self, other: &Self) {
        self.n += other.n;
        self.latency_sum += other.latency_sum;
        self.errors += other.errors;
        self.cache_hits += other.cache_hits;
        self.cache_lookups += other.cache_lookups;
        self.tokens = self.tokens.saturating_add(other.tokens);
        for (&b, &n) in &other.buckets {
            *self.buckets.entry(b).or_default() += n;
        }
    }

    fn empty(group: &[String]) -> Self {
        Self {
            group: group.to_vec(),
            ..Self::default()
        }
    }

    fn add_row(&mut self, row: &BucketRow) {
        self.n += row.n;
        self.latency_sum += row.latency_sum;
        self.errors += row.errors;
        self.cache_hits += row.cache_hits;
        self.cache_lookups += row.cache_lookups;
        self.tokens = self.tokens.saturating_add(row.tokens);
        *self.buckets.entry(row.bucket).or_default() += row.n;
    }

    fn finish(&self, dims: &[Dimension]) -> Stats {
        let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
        Stats {
            group: dims
                .iter()
                .zip(&self.group)
                .map(|(d, v)| (d.as_str().to_owned(), v.clone()))
                .collect(),
            requests: self.n,
            errors: self.errors,
            error_rate: ratio(self.errors, self.n).unwrap_or(0.0),
            cache_hits: self.cache_hits,
            cache_lookups: self.cache_lookups,
            cache_hit_ratio: ratio(self.cache_hits, self.cache_lookups),
            latency_sum_ms: self.latency_sum,
            tokens: self.tokens,
            latency_ms: percentiles(
                &self
                    .buckets
                    .iter()
                    .map(|(&b, &n)| (b, n))
                    .collect::<Vec<_>>(),
            )
            .map(|p| Latency {
                mean: self.latency_sum / self.n as f64,
                p50: p.p50,
                p95: p.p95,
                p99: p.p99,
            }),
        }
    }
}

/// Latency of a group: the mean, and nearest-rank percentiles at bucket precision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Arithmetic mean, ms.
    pub mean: f64,
    /// Median, ms.
    pub p50: u64,
    /// 95th percentile, ms.
    pub p95: u64,
    /// 99th percentile, ms.
    pub p99: u64,
}

/// The reported numbers of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Dimension name → value (empty without grouping).
    pub group: BTreeMap<String, String>,
    /// Events counted.
    pub requests: u64,
    /// 5xx answers.
    pub errors: u64,
    /// `errors / requests` (0 without requests).
    pub error_rate: f64,
    /// Answers served from the cache.
    pub cache_hits: u64,
    /// Cache lookups (the hit ratio's denominator; bypasses excluded).
    pub cache_lookups: u64,
    /// `cache_hits / cache_lookups`; `null` without lookups.
    pub cache_hit_ratio: Option<f64>,
    /// Sum of latencies, ms.
    pub latency_sum_ms: f64,
    /// Sum of the AI tokens its events reported (0 when none did).
    #[serde(default)]
    pub tokens: u64,
    /// `null` without requests.
    pub latency_ms: Option<Latency>,
}

/// One window's groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Window start, unix ms.
    pub window_start: u64,
    /// Its groups, most requests first.
    pub groups: Vec<Stats>,
}

/// One window's per-group accumulators, as a store holds them (not yet merged or capped).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WindowAccs {
    /// Window start, unix ms.
    pub window_start: u64,
    /// Its groups.
    pub groups: Vec<Acc>,
}

/// What one store answers for a query: mergeable accumulators, uncapped (capping before
/// the merge would fold a group into [`OTHER`] in one shard and not in another).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StoreAnswer {
    /// Its part of each window, oldest first (empty when series were not asked for).
    pub series: Vec<WindowAccs>,
    /// Per-group totals over its part of the range.
    pub totals: Vec<Acc>,
}

/// Sums accumulators by group, then caps them ([`cap`]).
fn fold(accs: impl IntoIterator<Item = Acc>, dims: usize) -> Vec<Acc> {
    let mut by_group: BTreeMap<Vec<String>, Acc> = BTreeMap::new();
    for acc in accs {
        match by_group.get_mut(&acc.group) {
            Some(sum) => sum.add(&acc),
            None => {
                by_group.insert(acc.group.clone(), acc);
            }
        }
    }
    cap(by_group.into_values(), dims)
}

/// Distinct groups, most requests first, at most [`MAX_GROUPS`]: the tail is summed into one
/// [`OTHER`] group.
fn cap(groups: impl IntoIterator<Item = Acc>, dims: usize) -> Vec<Acc> {
    let mut groups: Vec<Acc> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.n.cmp(&a.n).then_with(|| a.group.cmp(&b.group)));
    if groups.len() > MAX_GROUPS {
        let mut other = Acc {
            group: vec![OTHER.to_owned(); dims],
            ..Acc::default()
        };
        for acc in groups.drain(MAX_GROUPS - 1..) {
            other.add(&acc);
        }
        groups.push(other);
    }
    groups
}

impl StoreAnswer {
    /// A store's answer from its rows for `query`.
    #[must_use]
    pub fn from_rows(rows: &[BucketRow], query: &Query) -> Self {
        let mut totals: BTreeMap<&[String], Acc> = BTreeMap::new();
        let mut windows: BTreeMap<u64, BTreeMap<&[String], Acc>> = BTreeMap::new();
        for row in rows {
            let group = row.group.as_slice();
            totals
                .entry(group)
                .or_insert_with(|| Acc::empty(group))
                .add_row(row);
            if query.series {
                windows
                    .entry(row.window_start)
                    .or_default()
                    .entry(group)
                    .or_insert_with(|| Acc::empty(group))
                    .add_row(row);
            }
        }
        let series = windows
            .into_iter()
            .map(|(window_start, groups)| WindowAccs {
                window_start,
                groups: groups.into_values().collect(),
            })
            .collect();
        Self {
            series,
            totals: totals.into_values().collect(),
        }
    }
}

/// The query API's response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    /// Window resolution.
    pub resolution: Resolution,
    /// Range start (aligned), unix ms.
    pub from_ms: u64,
    /// Range end (aligned, exclusive), unix ms.
    pub to_ms: u64,
    /// Grouping dimensions.
    pub group_by: Vec<Dimension>,
    /// Windows with data, oldest first (windows without events are absent).
    pub series: Vec<Point>,
    /// Per-group totals over the range.
    pub totals: Vec<Stats>,
}

impl QueryResult {
    /// Merges the answers of every store the range touches (every shard of every day):
    /// sums each window's and the range's accumulators by group, then caps and finishes.
    #[must_use]
    pub fn merge(query: &Query, answers: Vec<StoreAnswer>) -> Self {
        let dims = query.group_by.len();
        let mut windows: BTreeMap<u64, Vec<Acc>> = BTreeMap::new();
        let mut totals = Vec::new();
        for answer in answers {
            for w in answer.series {
                windows.entry(w.window_start).or_default().extend(w.groups);
            }
            totals.extend(answer.totals);
        }
        let series = windows
            .into_iter()
            .map(|(window_start, groups)| Point {
                window_start,
                groups: fold(groups, dims)
                    .iter()
                    .map(|a| a.finish(&query.group_by))
                    .collect(),
            })
            .collect();
        Self {
            resolution: query.resolution,
            from_ms: query.from_ms,
            to_ms: query.to_ms,
            group_by: query.group_by.clone(),
            series,
            totals: fold(totals, dims)
                .iter()
                .map(|a| a.finish(&query.group_by))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::histogram::bucket_of;

    fn query(group_by: Vec<Dimension>) -> Query {
        Query {
            resolution: Resolution::Minute,
            from_ms: 0,
            to_ms: 600_000,
            group_by,
            worker: None,
            series: true,
        }
    }

    fn row(window_start: u64, group: &[&str], ms: f64, n: u64, errors: u64) -> BucketRow {
        BucketRow {
            window_start,
            group: group.iter().map(|g| (*g).to_owned()).collect(),
            bucket: bucket_of(ms),
            n,
            latency_sum: ms * n as f64,
            errors,
            cache_hits: 0,
            cache_lookups: 0,
            tokens: 0,
        }
    }

    #[test]
    fn points_and_totals_across_stores() {
        let q = query(vec![Dimension::Worker]);
        let day1 = StoreAnswer::from_rows(
            &[
                row(0, &["a"], 10.0, 98, 0),
                row(0, &["a"], 500.0, 2, 2),
                row(60_000, &["b"], 5.0, 1, 0),
            ],
            &q,
        );
        let day2 = StoreAnswer::from_rows(&[row(120_000, &["a"], 10.0, 100, 1)], &q);
        // Through JSON, as stores answer.
        let wire: StoreAnswer =
            serde_json::from_str(&serde_json::to_string(&day2).expect("ser")).expect("de");
        let r = QueryResult::merge(&q, vec![wire, day1]);
        assert_eq!(
            r.series.iter().map(|p| p.window_start).collect::<Vec<_>>(),
            [0, 60_000, 120_000]
        );
        let first = &r.series[0].groups[0];
        assert_eq!((first.requests, first.errors), (100, 2));
        let lat = first.latency_ms.expect("latency");
        assert_eq!((lat.p50, lat.p95, lat.p99), (10, 10, bucket_upper(500.0)));
        let a = &r.totals[0];
        assert_eq!(a.group.get("worker").map(String::as_str), Some("a"));
        assert_eq!((a.requests, a.errors), (200, 3));
        assert!((a.error_rate - 0.015).abs() < 1e-12);
        let lat = a.latency_ms.expect("latency");
        assert_eq!(
            (lat.p50, lat.p99),
            (10, 10),
            "2 slow of 200 is under the 1 %"
        );
        assert_eq!(r.totals[1].requests, 1);
        assert_eq!(a.cache_hit_ratio, None);
    }

    #[test]
    fn one_window_split_over_shards_merges_exactly() {
        let q = query(vec![Dimension::Worker]);
        // The same window and group in two shards: one point, summed, percentiles over both.
        let s0 = StoreAnswer::from_rows(&[row(0, &["a"], 10.0, 50, 1)], &q);
        let s1 = StoreAnswer::from_rows(&[row(0, &["a"], 500.0, 50, 0)], &q);
        let r = QueryResult::merge(&q, vec![s0, s1]);
        assert_eq!(r.series.len(), 1);
        let g = &r.series[0].groups;
        assert_eq!(g.len(), 1);
        assert_eq!((g[0].requests, g[0].errors), (100, 1));
        let lat = g[0].latency_ms.expect("latency");
        assert_eq!((lat.p50, lat.p95), (10, bucket_upper(500.0)));
        // Groups beyond the cap in each shard are not folded before the merge.
        let many = |shard: u64| -> Vec<BucketRow> {
            (0..MAX_GROUPS as u64 + 5)
                .map(|i| {
                    let c = format!("W{i:02}");
                    row(0, &[c.as_str()], 1.0, 1000 - i + shard, 0)
                })
                .collect()
        };
        let a = StoreAnswer::from_rows(&many(0), &q);
        let b = StoreAnswer::from_rows(&many(1), &q);
        let r = QueryResult::merge(&q, vec![a, b]);
        assert_eq!(r.totals[0].requests, 2001);
        assert_eq!(r.totals.len(), MAX_GROUPS);
    }

    #[test]
    fn tokens_sum_exactly_across_buckets_windows_and_shards() {
        let q = query(vec![Dimension::Worker]);
        let with = |window: u64, ms: f64, n: u64, tokens: u64| BucketRow {
            tokens,
            ..row(window, &["chat-webhook"], ms, n, 0)
        };
        // One window in two shards (two buckets in one), a second window in one shard.
        let s0 = StoreAnswer::from_rows(&[with(0, 10.0, 2, 300), with(0, 900.0, 1, 77)], &q);
        let s1 = StoreAnswer::from_rows(&[with(0, 10.0, 3, 1_000), with(60_000, 5.0, 1, 5)], &q);
        let wire: StoreAnswer =
            serde_json::from_str(&serde_json::to_string(&s1).expect("ser")).expect("de");
        let r = QueryResult::merge(&q, vec![s0, wire]);
        assert_eq!(r.series.len(), 2);
        assert_eq!(r.series[0].groups[0].tokens, 1_377);
        assert_eq!(r.series[1].groups[0].tokens, 5);
        assert_eq!((r.totals[0].requests, r.totals[0].tokens), (7, 1_382));
        // A store of an older build answers without `tokens`: it counts as 0.
        let old: StoreAnswer = serde_json::from_str(
            r#"{"series":[],"totals":[{"group":["chat-webhook"],"n":1,"latency_sum":1.0,"errors":0,"cache_hits":0,"cache_lookups":0,"buckets":{"1":1}}]}"#,
        )
        .expect("an answer without tokens");
        assert_eq!(old.totals[0].tokens, 0);
        let r = QueryResult::merge(
            &q,
            vec![old, StoreAnswer::from_rows(&[with(0, 1.0, 1, 9)], &q)],
        );
        assert_eq!((r.totals[0].requests, r.totals[0].tokens), (2, 9));
    }

    fn bucket_upper(ms: f64) -> u64 {
        crate::analytics::histogram::bucket_upper_ms(bucket_of(ms))
    }

    #[test]
    fn groups_beyond_the_cap_fold_into_other() {
        let q = query(vec![Dimension::Country]);
        let rows: Vec<BucketRow> = (0..MAX_GROUPS + 10)
            .map(|i| {
                let c = format!("C{i:02}");
                BucketRow {
                    tokens: 10,
                    ..row(0, &[c.as_str()], 1.0, 1000 - i as u64, 0)
                }
            })
            .collect();
        let r = QueryResult::merge(&q, vec![StoreAnswer::from_rows(&rows, &q)]);
        assert_eq!(r.totals.len(), MAX_GROUPS);
        assert_eq!(r.series[0].groups.len(), MAX_GROUPS);
        let other = r
            .totals
            .iter()
            .filter(|s| s.group.get("country").map(String::as_str) == Some(OTHER));
        assert_eq!(
            other.map(|s| s.requests).collect::<Vec<_>>(),
            [(0..11).map(|i| 951 - i).sum::<u64>()]
        );
        let total: u64 = r.totals.iter().map(|s| s.requests).sum();
        assert_eq!(
            total,
            rows.iter().map(|r| r.n).sum::<u64>(),
            "nothing lost by folding"
        );
        let tokens: Vec<u64> = r.totals.iter().map(|s| s.tokens).collect();
        assert_eq!(tokens.iter().sum::<u64>(), 10 * rows.len() as u64);
        assert_eq!(
            tokens.last(),
            Some(&110),
            "(other) sums the tokens of the 11 it folds"
        );
    }

    #[test]
    fn totals_only_and_empty() {
        let mut q = query(Vec::new());
        q.series = false;
        let a = StoreAnswer::from_rows(&[row(0, &[], 3.0, 4, 0)], &q);
        assert!(a.series.is_empty());
        let r = QueryResult::merge(&q, vec![a, StoreAnswer::default()]);
        assert_eq!(r.totals.len(), 1);
        assert!(r.totals[0].group.is_empty());
        let none = QueryResult::merge(&q, Vec::new());
        assert!(none.totals.is_empty() && none.series.is_empty());
    }
}
