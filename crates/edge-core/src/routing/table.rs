//! The routing table, as data: regions (coordinates, endpoint) and, per country, the
//! regions to use in priority order, plus a default route.
//!
//! Loaded from the var `ROUTING_TABLE` (JSON) and validated before any request is routed
//! with it; a table that fails validation is a misconfiguration, never a silent fallback.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::origin::is_http_origin;
use crate::routing::geo::LatLon;

/// Largest table document, bytes.
pub const MAX_TABLE_BYTES: usize = 64 * 1024;
/// Most regions.
pub const MAX_REGIONS: usize = 32;
/// Most regions in one country's list.
pub const MAX_ROUTE_LEN: usize = 8;

/// The default table: three regions, the seed's countries, a default route. Endpoints are
/// placeholders; each environment sets `ROUTING_TABLE` with its own.
pub const DEFAULT_TABLE: &str = r#"{
  "regions": [
    { "id": "us-east-1", "name": "Virginia", "lat": 39.0438, "lon": -77.4874, "endpoint": "https://us-east-1.origin.example.com" },
    { "id": "us-west-2", "name": "Oregon", "lat": 45.8399, "lon": -119.7006, "endpoint": "https://us-west-2.origin.example.com" },
    { "id": "eu-west-1", "name": "Ireland", "lat": 53.3498, "lon": -6.2603, "endpoint": "https://eu-west-1.origin.example.com" }
  ],
  "countries": {
    "US": ["us-east-1", "us-west-2"], "CA": ["us-east-1", "us-west-2"], "MX": ["us-east-1", "us-west-2"],
    "GB": ["eu-west-1", "us-east-1"], "DE": ["eu-west-1", "us-east-1"], "FR": ["eu-west-1", "us-east-1"],
    "ES": ["eu-west-1", "us-east-1"], "IT": ["eu-west-1", "us-east-1"], "NL": ["eu-west-1", "us-east-1"],
    "JP": ["us-west-2", "eu-west-1"], "AU": ["us-west-2", "us-east-1"], "SG": ["eu-west-1", "us-west-2"]
  },
  "default": ["us-east-1", "eu-west-1", "us-west-2"]
}"#;

/// One backend region.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Identifier, `[a-z0-9-]{1,32}`.
    pub id: String,
    /// Human name.
    #[serde(default)]
    pub name: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Base URL, `http(s)://host[:port]`, no path.
    pub endpoint: String,
}

impl Region {
    /// Its location.
    #[must_use]
    pub fn location(&self) -> LatLon {
        LatLon {
            lat: self.lat,
            lon: self.lon,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    regions: Vec<Region>,
    #[serde(default)]
    countries: BTreeMap<String, Vec<String>>,
    default: Vec<String>,
}

/// A validated table.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingTable {
    regions: Vec<Region>,
    countries: BTreeMap<String, Vec<usize>>,
    default: Vec<usize>,
}

/// Why a table was refused (the message names the place).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid routing table: {0}")]
pub struct TableError(pub String);

impl RoutingTable {
    /// Parses and validates a table document.
    ///
    /// # Errors
    /// [`TableError`] naming the first problem.
    pub fn parse(json: &str) -> Result<Self, TableError> {
        let err = |m: String| Err(TableError(m));
        if json.len() > MAX_TABLE_BYTES {
            return err("larger than 64 KiB".into());
        }
        let doc: Document = serde_json::from_str(json).map_err(|e| TableError(e.to_string()))?;
        if doc.regions.is_empty() || doc.regions.len() > MAX_REGIONS {
            return err("expected 1..=32 regions".into());
        }
        for (i, r) in doc.regions.iter().enumerate() {
            let id_ok = (1..=32).contains(&r.id.len())
                && r.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !id_ok || doc.regions[..i].iter().any(|o| o.id == r.id) {
                return err(format!(
                    "region {:?}: id must be unique [a-z0-9-]{{1,32}}",
                    r.id
                ));
            }
            if LatLon::new(r.lat, r.lon).is_none() {
                return err(format!("region {}: coordinates out of range", r.id));
            }
            if !is_http_origin(&r.endpoint) {
                return err(format!(
                    "region {}: endpoint must be http(s)://host[:port]",
                    r.id
                ));
            }
        }
        let index = |list: &[String], place: &str| -> Result<Vec<usize>, TableError> {
            if list.is_empty() || list.len() > MAX_ROUTE_LEN {
                return Err(TableError(format!("{place}: expected 1..=8 regions")));
            }
            let mut out = Vec::new();
            for id in list {
                let i = doc
                    .regions
                    .iter()
                    .position(|r| &r.id == id)
                    .ok_or_else(|| TableError(format!("{place}: unknown region {id:?}")))?;
                if out.contains(&i) {
                    return Err(TableError(format!("{place}: region {id} listed twice")));
                }
                out.push(i);
            }
            Ok(out)
        };
        let mut countries = BTreeMap::new();
        for (code, list) in &doc.countries {
            if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return err(format!("country {code:?}: expected ISO 3166-1 alpha-2"));
            }
            countries.insert(code.clone(), index(list, &format!("country {code}"))?);
        }
        let default = index(&doc.default, "default")?;
        Ok(Self {
            regions: doc.regions,
            countries,
            default,
        })
    }

    /// The built-in table.
    #[must_use]
    pub fn default_table() -> Self {
        Self::parse(DEFAULT_TABLE)
            .unwrap_or_else(|e| unreachable!("the default table is valid: {e}"))
    }

    /// Every region.
    #[must_use]
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The priority list of `country`, if the table has one.
    #[must_use]
    pub fn country_route(&self, country: &str) -> Option<Vec<&Region>> {
        self.countries
            .get(country)
            .map(|l| l.iter().map(|&i| &self.regions[i]).collect())
    }

    /// The default route.
    #[must_use]
    pub fn default_route(&self) -> Vec<&Region> {
        self.default.iter().map(|&i| &self.regions[i]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_covers_the_seed_countries() {
        let t = RoutingTable::default_table();
        for c in [
            "US", "CA", "MX", "GB", "DE", "FR", "ES", "IT", "NL", "JP", "AU", "SG",
        ] {
            let route = t.country_route(c).expect(c);
            assert!(!route.is_empty());
        }
        assert_eq!(t.country_route("DE").expect("DE")[0].id, "eu-west-1");
        assert_eq!(t.country_route("US").expect("US")[0].id, "us-east-1");
        assert!(t.country_route("BR").is_none());
        assert_eq!(t.default_route()[0].id, "us-east-1");
        assert_eq!(t.regions().len(), 3);
    }

    #[test]
    fn more_regions_by_configuration_alone() {
        let json = DEFAULT_TABLE.replace(
            r#""regions": ["#,
            r#""regions": [ { "id": "ap-northeast-1", "name": "Tokyo", "lat": 35.6762, "lon": 139.6503, "endpoint": "https://ap.example.com" },"#,
        ).replace(r#""JP": ["us-west-2", "eu-west-1"]"#, r#""JP": ["ap-northeast-1", "us-west-2"]"#);
        let t = RoutingTable::parse(&json).expect("valid");
        assert_eq!(t.country_route("JP").expect("JP")[0].id, "ap-northeast-1");
    }

    #[test]
    fn invalid_tables_name_the_problem() {
        let cases = [
            (r#"{"regions":[],"default":[]}"#, "regions"),
            (
                r#"{"regions":[{"id":"a","lat":91,"lon":0,"endpoint":"https://a"}],"default":["a"]}"#,
                "coordinates",
            ),
            (
                r#"{"regions":[{"id":"a","lat":1,"lon":0,"endpoint":"ftp://a"}],"default":["a"]}"#,
                "endpoint",
            ),
            (
                r#"{"regions":[{"id":"a","lat":1,"lon":0,"endpoint":"https://a/path"}],"default":["a"]}"#,
                "endpoint",
            ),
            (
                r#"{"regions":[{"id":"A","lat":1,"lon":0,"endpoint":"https://a"}],"default":["A"]}"#,
                "id",
            ),
            (
                r#"{"regions":[{"id":"a","lat":1,"lon":0,"endpoint":"https://a"}],"default":["b"]}"#,
                "unknown region",
            ),
            (
                r#"{"regions":[{"id":"a","lat":1,"lon":0,"endpoint":"https://a"}],"countries":{"usa":["a"]},"default":["a"]}"#,
                "alpha-2",
            ),
            (
                r#"{"regions":[{"id":"a","lat":1,"lon":0,"endpoint":"https://a"}],"countries":{"US":["a","a"]},"default":["a"]}"#,
                "twice",
            ),
            (
                r#"{"regions":[{"id":"a","lat":1,"lon":0,"endpoint":"https://a"}],"default":["a"],"x":1}"#,
                "unknown field",
            ),
        ];
        for (json, needle) in cases {
            let e = RoutingTable::parse(json).expect_err(needle);
            assert!(e.0.contains(needle), "{needle}: {e}");
        }
    }
}
