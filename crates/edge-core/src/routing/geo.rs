//! Great-circle distance and the latency estimate built on it.

use serde::{Deserialize, Serialize};

/// Mean Earth radius (IUGG), kilometres.
pub const EARTH_RADIUS_KM: f64 = 6_371.008_8;

/// A point on Earth in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    /// Latitude, −90..=90.
    pub lat: f64,
    /// Longitude, −180..=180.
    pub lon: f64,
}

impl LatLon {
    /// A point, if both coordinates are finite and in range.
    #[must_use]
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        (lat.is_finite()
            && lon.is_finite()
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon))
        .then_some(Self { lat, lon })
    }
}

/// Haversine great-circle distance in kilometres on a sphere of [`EARTH_RADIUS_KM`].
#[must_use]
pub fn haversine_km(a: LatLon, b: LatLon) -> f64 {
    haversine_on(a, b, EARTH_RADIUS_KM)
}

/// The haversine formula on a sphere of `radius_km`.
fn haversine_on(a: LatLon, b: LatLon, radius_km: f64) -> f64 {
    let (phi1, phi2) = (a.lat.to_radians(), b.lat.to_radians());
    let dphi = (b.lat - a.lat).to_radians();
    let dlambda = (b.lon - a.lon).to_radians();
    let h = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    2.0 * radius_km * h.sqrt().min(1.0).asin()
}

/// Round-trip latency estimate: `base_ms + per_1000km_ms × distance / 1000`, clamped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyModel {
    /// Fixed cost (TLS, processing), ms.
    pub base_ms: f64,
    /// Cost per 1,000 km of distance, ms (light in fibre: about 10 ms round trip).
    pub per_1000km_ms: f64,
    /// Lower clamp, ms.
    pub min_ms: f64,
    /// Upper clamp, ms.
    pub max_ms: f64,
}

impl Default for LatencyModel {
    fn default() -> Self {
        Self {
            base_ms: 5.0,
            per_1000km_ms: 10.0,
            min_ms: 1.0,
            max_ms: 500.0,
        }
    }
}

impl LatencyModel {
    /// The estimate for `distance_km`.
    #[must_use]
    pub fn estimate_ms(&self, distance_km: f64) -> f64 {
        (self.base_ms + self.per_1000km_ms * distance_km.max(0.0) / 1000.0)
            .clamp(self.min_ms, self.max_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).expect("in range")
    }

    /// The Rosetta Code haversine vector (BNA → LAX on R = 6372.8 km), and references
    /// computed independently (Python `math`, same formula, R = 6371.0088 km).
    #[test]
    fn known_distances() {
        let rosetta = haversine_on(p(36.12, -86.67), p(33.94, -118.40), 6372.8);
        assert!(
            (rosetta - 2_887.259_950_607_110_6).abs() < 1e-9,
            "{rosetta}"
        );
        let cases = [
            (
                p(51.5074, -0.1278),
                p(48.8566, 2.3522),
                343.556_534_880_883_25,
            ), // London → Paris
            (
                p(35.6762, 139.6503),
                p(-33.8688, 151.2093),
                7_825.829_425_997_216,
            ), // Tokyo → Sydney
            (
                p(40.6413, -73.7781),
                p(33.9416, -118.4085),
                3_974.341_689_577_772_7,
            ), // JFK → LAX
        ];
        for (a, b, km) in cases {
            let d = haversine_km(a, b);
            assert!((d - km).abs() < 1e-6, "{d} vs {km}");
            assert!((haversine_km(b, a) - d).abs() < 1e-9, "symmetric");
        }
        assert_eq!(haversine_km(p(10.0, 20.0), p(10.0, 20.0)), 0.0);
        // Antipodes: half the circumference, exactly.
        let half = haversine_km(p(0.0, 0.0), p(0.0, 180.0));
        assert!((half - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
        // Quarter circumference pole to equator.
        let quarter = haversine_km(p(90.0, 0.0), p(0.0, 45.0));
        assert!((quarter - std::f64::consts::FRAC_PI_2 * EARTH_RADIUS_KM).abs() < 1e-6);
    }

    #[test]
    fn coordinates_are_validated() {
        assert!(LatLon::new(91.0, 0.0).is_none());
        assert!(LatLon::new(0.0, -180.1).is_none());
        assert!(LatLon::new(f64::NAN, 0.0).is_none());
    }

    #[test]
    fn latency_estimate_is_linear_then_clamped() {
        let m = LatencyModel::default();
        assert_eq!(m.estimate_ms(0.0), 5.0);
        assert_eq!(m.estimate_ms(1_000.0), 15.0);
        assert_eq!(m.estimate_ms(5_500.0), 60.0);
        assert_eq!(m.estimate_ms(1e9), 500.0);
        let floor = LatencyModel { base_ms: 0.0, ..m };
        assert_eq!(floor.estimate_ms(10.0), 1.0);
    }
}
