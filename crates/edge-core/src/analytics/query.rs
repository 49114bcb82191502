//! The query API's parameters: a time range, a resolution, a grouping and a filter, parsed
//! strictly (unknown or repeated parameters are refused by name) and clamped to what the
//! stores keep.

use serde::{Deserialize, Serialize};

use super::window::Resolution;
use crate::error::HttpError;
use crate::service::ServiceName;

/// Most windows one query may return per group.
pub const MAX_POINTS: u64 = 1500;
/// Most dimensions one query may group by.
pub const MAX_GROUP_DIMS: usize = 3;
/// Spans up to this long default to minute resolution; longer ones to hourly.
const MINUTE_DEFAULT_UP_TO_MS: u64 = 6 * 3_600_000;
/// The default span: the last hour.
const DEFAULT_SPAN_MS: u64 = 3_600_000;

/// A dimension results can be grouped by; each is one column of the cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Reporting worker.
    Worker,
    /// Routed region (voice-router events).
    Region,
    /// Client country.
    Country,
    /// `1xx` … `5xx`.
    StatusClass,
    /// Cache outcome (cache-manager events).
    Cache,
}

impl Dimension {
    /// The parameter spelling, which is also the column name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Worker => "worker",
            Self::Region => "region",
            Self::Country => "country",
            Self::StatusClass => "status_class",
            Self::Cache => "cache",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Worker,
            Self::Region,
            Self::Country,
            Self::StatusClass,
            Self::Cache,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// A validated query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Window resolution.
    pub resolution: Resolution,
    /// First window start included, unix ms (aligned).
    pub from_ms: u64,
    /// End of the range, exclusive, unix ms (aligned).
    pub to_ms: u64,
    /// Grouping dimensions, in the order given (empty: one group for everything).
    pub group_by: Vec<Dimension>,
    /// Only events of this worker.
    pub worker: Option<ServiceName>,
    /// Whether per-window points are wanted (totals are always returned).
    pub series: bool,
}

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A parameter the API does not define.
    #[error("unknown query parameter")]
    Unknown {
        /// Its name (cut to 64 bytes).
        field: String,
    },
    /// A parameter given twice.
    #[error("query parameter given more than once")]
    Repeated {
        /// Its name.
        field: &'static str,
    },
    /// A parameter with a value it cannot take.
    #[error("invalid query parameter: {reason}")]
    Invalid {
        /// Its name.
        field: &'static str,
        /// What it must be.
        reason: &'static str,
    },
}

impl HttpError for QueryError {
    fn status(&self) -> u16 {
        400
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Unknown { .. } => "unknown_field",
            Self::Repeated { .. } => "repeated_field",
            Self::Invalid { .. } => "invalid_field",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::Unknown { field } => Some(field),
            Self::Repeated { field } | Self::Invalid { field, .. } => Some(field),
        }
    }
}

const PARAMS: [&str; 6] = ["from", "to", "resolution", "group_by", "worker", "series"];

impl Query {
    /// Parses decoded query pairs at `now_ms`.
    ///
    /// `from`/`to` are unix milliseconds (default: the last hour up to now); `resolution` is
    /// `minute` or `hour` (default: minute for spans up to 6 hours); `group_by` is a comma
    /// list of up to three of `worker`, `region`, `country`, `status_class`, `cache`;
    /// `worker` filters by reporting worker; `series=false` returns only totals.
    /// The range is aligned outwards to whole windows, and its start is raised to the
    /// oldest window the resolution still keeps.
    ///
    /// # Errors
    /// [`QueryError`] naming the parameter that failed.
    pub fn parse(pairs: &[(String, String)], now_ms: u64) -> Result<Self, QueryError> {
        let mut seen: [Option<&str>; 6] = [None; 6];
        for (k, v) in pairs {
            let Some(i) = PARAMS.iter().position(|p| p == k) else {
                return Err(QueryError::Unknown {
                    field: k.chars().take(64).collect(),
                });
            };
            if seen[i].replace(v).is_some() {
                return Err(QueryError::Repeated { field: PARAMS[i] });
            }
        }
        let [from, to, resolution, group_by, worker, series] = seen;
        let ms = |field: &'static str, v: &str| {
            v.parse::<u64>()
                .ok()
                .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(QueryError::Invalid {
                    field,
                    reason: "expected unix milliseconds",
                })
        };
        let to_ms = to.map(|v| ms("to", v)).transpose()?.unwrap_or(now_ms);
        let from_ms = from
            .map(|v| ms("from", v))
            .transpose()?
            .unwrap_or(to_ms.saturating_sub(DEFAULT_SPAN_MS));
        if from_ms >= to_ms {
            return Err(QueryError::Invalid {
                field: "from",
                reason: "must be before to",
            });
        }
        let resolution = match resolution {
            Some(r) => Resolution::parse(r).ok_or(QueryError::Invalid {
                field: "resolution",
                reason: "expected minute or hour",
            })?,
            None if to_ms - from_ms <= MINUTE_DEFAULT_UP_TO_MS => Resolution::Minute,
            None => Resolution::Hour,
        };
        let width = resolution.width_ms();
        let from_ms = resolution
            .window_start(from_ms)
            .max(resolution.oldest_kept_start(now_ms));
        let to_ms = to_ms.div_ceil(width).saturating_mul(width);
        if to_ms <= from_ms {
            return Err(QueryError::Invalid {
                field: "to",
                reason: "the range ends before the oldest kept window",
            });
        }
        if (to_ms - from_ms) / width > MAX_POINTS {
            return Err(QueryError::Invalid {
                field: "from",
                reason: "the range spans more than 1500 windows; use hour resolution",
            });
        }
        let group_by = match group_by {
            None | Some("") | Some("none") => Vec::new(),
            Some(list) => parse_dims(list)?,
        };
        let worker = worker
            .map(|w| {
                ServiceName::parse(w).ok_or(QueryError::Invalid {
                    field: "worker",
                    reason: "not a known worker",
                })
            })
            .transpose()?;
        let series = match series {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => {
                return Err(QueryError::Invalid {
                    field: "series",
                    reason: "expected true or false",
                });
            }
        };
        Ok(Self {
            resolution,
            from_ms,
            to_ms,
            group_by,
            worker,
            series,
        })
    }
}

/// The `group_by` list. Strict, unlike `crate::list::items` (which trims and drops empty
/// items, as configuration and HTTP list headers want): a query parameter with an empty or
/// padded item (`worker,,region`, `worker,`, ` worker`) is refused, not guessed at.
fn parse_dims(list: &str) -> Result<Vec<Dimension>, QueryError> {
    let invalid = QueryError::Invalid {
        field: "group_by",
        reason: "expected up to 3 distinct of worker, region, country, status_class, cache",
    };
    let mut dims = Vec::new();
    for name in list.split(',') {
        let dim = Dimension::parse(name).ok_or_else(|| invalid.clone())?;
        if dims.contains(&dim) || dims.len() == MAX_GROUP_DIMS {
            return Err(invalid);
        }
        dims.push(dim);
    }
    Ok(dims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::window::{DAY_MS, HOUR_MS, MINUTE_MS};

    const NOW: u64 = 1_795_435_200_000 + 90_000; // 2026-11-23T12:01:30Z

    fn q(pairs: &[(&str, &str)]) -> Result<Query, QueryError> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Query::parse(&owned, NOW)
    }

    #[test]
    fn defaults_are_the_last_hour_by_minute() {
        let d = q(&[]).expect("valid");
        assert_eq!(d.resolution, Resolution::Minute);
        assert_eq!(
            d.to_ms,
            NOW - 30_000 + MINUTE_MS,
            "to rounds up to the window end"
        );
        assert_eq!(d.from_ms, NOW - 30_000 - HOUR_MS);
        assert!(d.group_by.is_empty() && d.worker.is_none() && d.series);
    }

    #[test]
    fn long_spans_default_to_hours_and_are_clamped_to_retention() {
        let from = (NOW - 30 * DAY_MS).to_string();
        let d = q(&[
            ("from", &from),
            ("group_by", "worker,status_class"),
            ("worker", "voice-router"),
        ])
        .expect("valid");
        assert_eq!(d.resolution, Resolution::Hour);
        assert_eq!(d.from_ms, Resolution::Hour.window_start(NOW) - 7 * DAY_MS);
        assert_eq!(d.group_by, [Dimension::Worker, Dimension::StatusClass]);
        assert_eq!(d.worker, Some(ServiceName::VoiceRouter));
        // 24 hours of minutes is the most one query returns.
        let day_ago = (NOW - DAY_MS).to_string();
        assert!(q(&[("from", &day_ago), ("resolution", "minute")]).is_ok());
        let too_long = (NOW - DAY_MS - 5 * HOUR_MS).to_string();
        let clamped = q(&[("from", &too_long), ("resolution", "minute")]).expect("clamped");
        assert!(clamped.from_ms >= NOW - DAY_MS - 2 * MINUTE_MS);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: [Case<'_>; 9] = [
            (&[("form", "1")], "unknown_field", "form"),
            (&[("to", "1"), ("to", "2")], "repeated_field", "to"),
            (&[("from", "-5")], "invalid_field", "from"),
            (&[("to", "1e9")], "invalid_field", "to"),
            (&[("resolution", "second")], "invalid_field", "resolution"),
            (
                &[("group_by", "worker,worker")],
                "invalid_field",
                "group_by",
            ),
            (&[("group_by", "path")], "invalid_field", "group_by"),
            (&[("worker", "billing")], "invalid_field", "worker"),
            (&[("series", "yes")], "invalid_field", "series"),
        ];
        for (pairs, code, field) in cases {
            let err = q(pairs).expect_err(field);
            assert_eq!((err.code(), err.field()), (code, Some(field)), "{pairs:?}");
        }
        let to = NOW.to_string();
        assert_eq!(
            q(&[("from", &to), ("to", &to)]).expect_err("empty").field(),
            Some("from")
        );
        let old = (NOW - 20 * DAY_MS).to_string();
        assert_eq!(q(&[("to", &old)]).expect_err("expired").field(), Some("to"));
        assert_eq!(
            q(&[("group_by", "worker,region,country,cache")])
                .expect_err("4 dims")
                .field(),
            Some("group_by")
        );
    }

    #[test]
    fn group_by_items_are_exact_names_without_padding_or_gaps() {
        for list in [
            "worker,,region",
            "worker,",
            ",worker",
            " worker",
            "worker, region",
        ] {
            let err = q(&[("group_by", list)]).expect_err(list);
            assert_eq!(err.field(), Some("group_by"), "{list}");
        }
        let ok = q(&[("group_by", "region,worker")]).expect("exact names");
        assert_eq!(ok.group_by, [Dimension::Region, Dimension::Worker]);
    }
}
