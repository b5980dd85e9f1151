//! Latitude and longitude to the KMA village-forecast grid: a Lambert conformal conic projection
//! with 5 km cells, as KMA publishes it (constants below, from its documentation).

use std::f64::consts::{FRAC_PI_4, PI};

use crate::domain::LatLon;

/// Earth radius, km.
const RE: f64 = 6371.00877;
/// Cell size, km.
const GRID: f64 = 5.0;
/// First and second standard parallels, degrees.
const SLAT1: f64 = 30.0;
const SLAT2: f64 = 60.0;
/// The origin's longitude and latitude, degrees.
const OLON: f64 = 126.0;
const OLAT: f64 = 38.0;
/// The origin's cell.
const XO: f64 = 43.0;
const YO: f64 = 136.0;
/// The grid's extent: cells 1..=149 west to east, 1..=253 south to north.
const NX_MAX: i32 = 149;
const NY_MAX: i32 = 253;

/// A cell of the village-forecast grid (`nx`, `ny` in KMA's queries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GridCell {
    /// West to east, 1..=149.
    pub nx: i32,
    /// South to north, 1..=253.
    pub ny: i32,
}

/// The cell `at` falls in; `None` outside the grid, where KMA has no village forecast.
pub fn cell(at: LatLon) -> Option<GridCell> {
    let rad = PI / 180.0;
    let (slat1, slat2, olon, olat) = (SLAT1 * rad, SLAT2 * rad, OLON * rad, OLAT * rad);
    let re = RE / GRID;
    let sn = ((slat1.cos() / slat2.cos()).ln()) / ((FRAC_PI_4 + slat2 * 0.5).tan() / (FRAC_PI_4 + slat1 * 0.5).tan()).ln();
    let sf = (FRAC_PI_4 + slat1 * 0.5).tan().powf(sn) * slat1.cos() / sn;
    let ro = re * sf / (FRAC_PI_4 + olat * 0.5).tan().powf(sn);
    let ra = re * sf / (FRAC_PI_4 + at.lat * rad * 0.5).tan().powf(sn);
    let mut theta = at.lon * rad - olon;
    if theta > PI {
        theta -= 2.0 * PI;
    }
    if theta < -PI {
        theta += 2.0 * PI;
    }
    theta *= sn;
    let x = (ra * theta.sin() + XO + 0.5).floor();
    let y = (ro - ra * theta.cos() + YO + 0.5).floor();
    // At the south pole `ra` is infinite; anywhere far away the cell is off the grid.
    let inside = x.is_finite() && y.is_finite() && (1.0..=f64::from(NX_MAX)).contains(&x) && (1.0..=f64::from(NY_MAX)).contains(&y);
    // `as` saturates (NaN is 0); the cell is only kept when in range, where it is exact.
    inside.then_some(GridCell { nx: x as i32, ny: y as i32 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64) -> Option<(i32, i32)> {
        cell(LatLon::new(lat, lon).unwrap()).map(|c| (c.nx, c.ny))
    }

    #[test]
    fn city_halls_fall_in_their_known_cells() {
        assert_eq!(at(37.5665, 126.9780), Some((60, 127)), "Seoul");
        assert_eq!(at(35.1798, 129.0750), Some((98, 76)), "Busan");
        // Jeju City Hall is at x = 52.72 and rounds to 53, KMA's cell for Jeju-si; 52,38 is KMA's
        // cell for the province, whose office is 3 km west.
        assert_eq!(at(33.4996, 126.5312), Some((53, 38)), "Jeju City Hall");
        assert_eq!(at(33.4890, 126.4983), Some((52, 38)), "Jeju provincial office");
    }

    #[test]
    fn places_far_from_korea_are_off_the_grid() {
        assert_eq!(at(48.8566, 2.3522), None, "Paris");
        assert_eq!(at(-33.8688, 151.2093), None, "Sydney");
        assert_eq!(at(35.6762, 139.6503), None, "Tokyo is east of the grid");
        assert_eq!(at(-90.0, 0.0), None, "the south pole");
        assert_eq!(at(90.0, 126.0), None, "the north pole");
    }
}
