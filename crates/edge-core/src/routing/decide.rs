//! The routing decision: which regions a request tries, in which order.
//!
//! 1. The client's country's priority list when the table has one (then the default
//!    route's other regions, as further fallbacks);
//! 2. else, with `cf` coordinates, every region nearest first (haversine);
//! 3. else the default route.
//!
//! Regions whose breaker is open are skipped. If that leaves none, the decision is
//! `degraded` and the first region of the list (the primary) is used anyway: a region
//! marked down by stale data is better than certain failure.

use std::collections::BTreeMap;

use crate::routing::breaker::Breaker;
use crate::routing::geo::{LatLon, LatencyModel, haversine_km};
use crate::routing::table::{Region, RoutingTable};

/// Region health as every isolate sees it: breaker per region id (absent = healthy).
pub type HealthMap = BTreeMap<String, Breaker>;

/// Where the client is, from `request.cf`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Client<'a> {
    /// ISO 3166-1 alpha-2 country.
    pub country: Option<&'a str>,
    /// Coordinates.
    pub location: Option<LatLon>,
}

/// How the order was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The country's list in the table.
    Country,
    /// Nearest first, from the client's coordinates.
    Nearest,
    /// The default route.
    Default,
}

/// One region to try.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate<'a> {
    /// The region.
    pub region: &'a Region,
    /// Distance from the client, when its location is known, km.
    pub distance_km: Option<f64>,
    /// Estimated round trip, when its location is known, ms.
    pub estimate_ms: Option<f64>,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Route<'a> {
    /// Regions to try, in order (the first is the target; the next is the failover).
    pub candidates: Vec<Candidate<'a>>,
    /// No region was healthy; the primary is used anyway.
    pub degraded: bool,
    /// How the order was chosen.
    pub basis: Basis,
}

/// Routes a request from `client` at `now_ms`.
#[must_use]
pub fn route<'a>(
    table: &'a RoutingTable,
    health: &HealthMap,
    client: Client<'_>,
    model: &LatencyModel,
    now_ms: u64,
) -> Route<'a> {
    let (ordered, basis): (Vec<&Region>, Basis) =
        match client.country.and_then(|c| table.country_route(c)) {
            Some(mut list) => {
                for r in table.default_route() {
                    if !list.iter().any(|x| x.id == r.id) {
                        list.push(r);
                    }
                }
                (list, Basis::Country)
            }
            None => match client.location {
                Some(at) => {
                    let mut all: Vec<&Region> = table.regions().iter().collect();
                    all.sort_by(|a, b| {
                        haversine_km(at, a.location()).total_cmp(&haversine_km(at, b.location()))
                    });
                    (all, Basis::Nearest)
                }
                None => (table.default_route(), Basis::Default),
            },
        };
    let healthy = |r: &&Region| health.get(&r.id).is_none_or(|b| b.allows(now_ms));
    let mut chosen: Vec<&Region> = ordered.iter().copied().filter(healthy).collect();
    let degraded = chosen.is_empty();
    if degraded {
        chosen = ordered.into_iter().take(1).collect();
    }
    let candidates = chosen
        .into_iter()
        .map(|region| {
            let distance_km = client
                .location
                .map(|at| haversine_km(at, region.location()));
            Candidate {
                region,
                distance_km,
                estimate_ms: distance_km.map(|d| model.estimate_ms(d)),
            }
        })
        .collect();
    Route {
        candidates,
        degraded,
        basis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::breaker::{BreakerConfig, Observation};

    fn down(ids: &[&str]) -> HealthMap {
        let cfg = BreakerConfig::default();
        ids.iter()
            .map(|id| {
                let mut b = Breaker::default();
                for t in 0..cfg.failure_threshold {
                    b.observe(Observation::Failed, &cfg, u64::from(t));
                }
                ((*id).to_owned(), b)
            })
            .collect()
    }

    fn ids(r: &Route<'_>) -> Vec<String> {
        r.candidates.iter().map(|c| c.region.id.clone()).collect()
    }

    const NOW: u64 = 10;

    #[test]
    fn country_list_then_default_fallbacks() {
        let t = RoutingTable::default_table();
        let de = route(
            &t,
            &HealthMap::new(),
            Client {
                country: Some("DE"),
                location: None,
            },
            &LatencyModel::default(),
            NOW,
        );
        assert_eq!(ids(&de), ["eu-west-1", "us-east-1", "us-west-2"]);
        assert_eq!(de.basis, Basis::Country);
        assert!(!de.degraded);
        let failover = route(
            &t,
            &down(&["eu-west-1"]),
            Client {
                country: Some("DE"),
                location: None,
            },
            &LatencyModel::default(),
            NOW,
        );
        assert_eq!(ids(&failover)[0], "us-east-1");
    }

    #[test]
    fn unknown_country_goes_to_the_nearest_healthy_region() {
        let t = RoutingTable::default_table();
        // São Paulo: Virginia is nearest, then Oregon, then Ireland.
        let sp = LatLon::new(-23.55, -46.63).expect("valid");
        let r = route(
            &t,
            &HealthMap::new(),
            Client {
                country: Some("BR"),
                location: Some(sp),
            },
            &LatencyModel::default(),
            NOW,
        );
        assert_eq!(r.basis, Basis::Nearest);
        assert_eq!(ids(&r)[0], "us-east-1");
        let d = r.candidates[0].distance_km.expect("known");
        assert!((d - haversine_km(sp, t.regions()[0].location())).abs() < 1e-9);
        assert_eq!(
            r.candidates[0].estimate_ms,
            Some(LatencyModel::default().estimate_ms(d))
        );
        // Moscow is nearest to Ireland.
        let moscow = LatLon::new(55.75, 37.62).expect("valid");
        let m = route(
            &t,
            &down(&["eu-west-1"]),
            Client {
                country: None,
                location: Some(moscow),
            },
            &LatencyModel::default(),
            NOW,
        );
        assert_eq!(ids(&m)[0], "us-east-1", "nearest healthy");
        let nowhere = route(
            &t,
            &HealthMap::new(),
            Client {
                country: None,
                location: None,
            },
            &LatencyModel::default(),
            NOW,
        );
        assert_eq!(
            (nowhere.basis, ids(&nowhere)[0].as_str()),
            (Basis::Default, "us-east-1")
        );
    }

    #[test]
    fn all_down_is_degraded_on_the_primary_and_recovery_restores_order() {
        let t = RoutingTable::default_table();
        let all = down(&["us-east-1", "us-west-2", "eu-west-1"]);
        let r = route(
            &t,
            &all,
            Client {
                country: Some("GB"),
                location: None,
            },
            &LatencyModel::default(),
            NOW,
        );
        assert!(r.degraded);
        assert_eq!(ids(&r), ["eu-west-1"]);
        let later = route(
            &t,
            &all,
            Client {
                country: Some("GB"),
                location: None,
            },
            &LatencyModel::default(),
            NOW + BreakerConfig::default().recovery_ms,
        );
        assert!(!later.degraded, "half-open regions take trials");
        assert_eq!(ids(&later)[0], "eu-west-1");
    }
}
