//! The latency histogram: log-linear buckets over whole milliseconds, mergeable by adding
//! counts, so windows, shards and days combine exactly.
//!
//! Latencies are rounded to whole milliseconds (the resolution of a Worker's clock). Below
//! [`EXACT_BELOW_MS`] every millisecond has its own bucket, so percentiles there are exact.
//! Above it each power of two is split into 64 equal buckets (HdrHistogram's layout with
//! two significant binary digits more than a decimal one), so a reported percentile is
//! never below the true value and at most 1/64 (1.6 %) above it.

/// Latencies below this many milliseconds have one bucket per millisecond.
pub const EXACT_BELOW_MS: u64 = 128;
/// Buckets per power of two above [`EXACT_BELOW_MS`].
const SUB_BUCKETS: u64 = 64;
/// log2 of [`SUB_BUCKETS`].
const SUB_BITS: u32 = 6;
/// log2 of [`EXACT_BELOW_MS`].
const EXACT_BITS: u32 = 7;

/// A bucket index; small enough for every latency up to `u64::MAX` ms.
pub type Bucket = u16;

/// The bucket of a latency in milliseconds (negative and NaN count as 0).
#[must_use]
pub fn bucket_of(latency_ms: f64) -> Bucket {
    // `as` saturates: NaN and negatives become 0, huge values u64::MAX.
    let ms = latency_ms.round() as u64;
    if ms < EXACT_BELOW_MS {
        return ms as Bucket;
    }
    let exp = 63 - ms.leading_zeros(); // floor(log2 ms), >= 7
    let sub = (ms >> (exp - SUB_BITS)) - SUB_BUCKETS; // 0..64
    (EXACT_BELOW_MS + u64::from(exp - EXACT_BITS) * SUB_BUCKETS + sub) as Bucket
}

/// The largest whole millisecond that falls in `bucket`: the value a percentile reports,
/// so a reported percentile is never below the latencies it covers.
#[must_use]
pub fn bucket_upper_ms(bucket: Bucket) -> u64 {
    let b = u64::from(bucket);
    if b < EXACT_BELOW_MS {
        return b;
    }
    let exp = (b - EXACT_BELOW_MS) / SUB_BUCKETS + u64::from(EXACT_BITS);
    let sub = (b - EXACT_BELOW_MS) % SUB_BUCKETS;
    let width = 1u64 << (exp - u64::from(SUB_BITS));
    (SUB_BUCKETS + sub) * width + width - 1
}

/// p50, p95 and p99 of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
}

/// Nearest-rank percentiles of `(bucket, count)` pairs, which may repeat a bucket and come in
/// any order: the p-th percentile is the upper bound of the first bucket at which the
/// running count reaches `ceil(p/100 × total)`. `None` when the counts add up to zero.
#[must_use]
pub fn percentiles(counts: &[(Bucket, u64)]) -> Option<Percentiles> {
    let mut sorted: Vec<(Bucket, u64)> = counts.iter().copied().filter(|&(_, n)| n > 0).collect();
    sorted.sort_unstable_by_key(|&(b, _)| b);
    let total: u64 = sorted.iter().map(|&(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let at = |pct: u64| {
        // ceil(pct * total / 100) without overflow for any realistic total.
        let rank = (u128::from(pct) * u128::from(total)).div_ceil(100) as u64;
        let mut seen = 0u64;
        for &(b, n) in &sorted {
            seen += n;
            if seen >= rank.max(1) {
                return bucket_upper_ms(b);
            }
        }
        bucket_upper_ms(sorted[sorted.len() - 1].0)
    };
    Some(Percentiles {
        p50: at(50),
        p95: at(95),
        p99: at(99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_latencies_are_exact_and_rounded() {
        for ms in 0..EXACT_BELOW_MS {
            assert_eq!(bucket_upper_ms(bucket_of(ms as f64)), ms);
        }
        assert_eq!(bucket_of(4.4), 4);
        assert_eq!(bucket_of(4.5), 5);
        assert_eq!(bucket_of(-3.0), 0);
        assert_eq!(bucket_of(f64::NAN), 0);
    }

    #[test]
    fn buckets_are_contiguous_and_the_upper_bound_is_within_one_sixty_fourth() {
        let mut prev = bucket_of(0.0);
        for ms in 1..2_000_000u64 {
            let b = bucket_of(ms as f64);
            assert!(b == prev || b == prev + 1, "gap at {ms}");
            let upper = bucket_upper_ms(b);
            assert!(upper >= ms, "{ms} above its bucket's bound {upper}");
            assert!((upper - ms) as f64 <= ms as f64 / 64.0, "{ms} -> {upper}");
            if b != prev {
                assert_eq!(
                    bucket_upper_ms(prev),
                    ms - 1,
                    "bucket ends where the next starts"
                );
            }
            prev = b;
        }
        // Ten minutes (the largest accepted latency) needs fewer than 1000 buckets.
        assert!(bucket_of(600_000.0) < 1000);
        assert!(bucket_of(f64::MAX) > bucket_of(600_000.0));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        // 1..=100 ms once each: p50 = 50, p95 = 95, p99 = 99.
        let counts: Vec<(Bucket, u64)> =
            (1..=100).map(|ms| (bucket_of(f64::from(ms)), 1)).collect();
        assert_eq!(
            percentiles(&counts),
            Some(Percentiles {
                p50: 50,
                p95: 95,
                p99: 99
            })
        );
        // Repeated buckets in any order add up.
        let split = [
            (bucket_of(7.0), 3),
            (bucket_of(2.0), 1),
            (bucket_of(7.0), 0),
            (bucket_of(2.0), 1),
        ];
        assert_eq!(
            percentiles(&split),
            Some(Percentiles {
                p50: 7,
                p95: 7,
                p99: 7
            })
        );
        assert_eq!(percentiles(&[(3, 0)]), None);
        assert_eq!(percentiles(&[]), None);
    }

    proptest::proptest! {
        #[test]
        fn percentiles_match_a_sort_within_bucket_precision(
            mut values in proptest::collection::vec(0u64..700_000, 1..400)
        ) {
            let counts: Vec<(Bucket, u64)> = values.iter().map(|&v| (bucket_of(v as f64), 1)).collect();
            let got = percentiles(&counts).expect("non-empty");
            values.sort_unstable();
            for (pct, reported) in [(50u64, got.p50), (95, got.p95), (99, got.p99)] {
                let rank = (pct * values.len() as u64).div_ceil(100).max(1);
                let exact = values[rank as usize - 1];
                proptest::prop_assert!(reported >= exact);
                proptest::prop_assert!((reported - exact) as f64 <= exact as f64 / 64.0);
                proptest::prop_assert_eq!(bucket_of(reported as f64), bucket_of(exact as f64));
            }
        }
    }
}
