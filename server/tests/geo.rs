//! Geo commands answer as Redis 7's do (scores, distances, hashes and searches were checked
//! beside redis-server 7.0.15), and what GEOADD and GEOSEARCHSTORE write survives a kill -9.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{conn, err, q, start};

#[test]
fn geo_add_measure_search_and_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = start(dir.path());
        let mut c = conn(&server.url());
        let c = &mut c;
        let n: i64 = q(
            c,
            &[
                "GEOADD",
                "Sicily",
                "13.361389",
                "38.115556",
                "Palermo",
                "15.087269",
                "37.502669",
                "Catania",
            ],
        );
        assert_eq!(n, 2);
        let score: String = q(c, &["ZSCORE", "Sicily", "Palermo"]);
        assert_eq!(score, "3479099956230698");
        let d: String = q(c, &["GEODIST", "Sicily", "Palermo", "Catania", "km"]);
        assert_eq!(d, "166.2742");
        let h: Vec<Option<String>> = q(c, &["GEOHASH", "Sicily", "Palermo", "Catania", "nope"]);
        assert_eq!(
            h,
            [Some("sqc8b49rny0".into()), Some("sqdtr74hyu0".into()), None]
        );
        let pos: Vec<Option<Vec<String>>> = q(c, &["GEOPOS", "Sicily", "Palermo"]);
        assert_eq!(
            pos[0].as_deref().unwrap(),
            ["13.36138933897018433", "38.11555639549629859"]
        );
        let near: Vec<(String, String)> = q(
            c,
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
                "ASC",
                "WITHDIST",
            ],
        );
        assert_eq!(
            near,
            [
                ("Catania".into(), "56.4413".into()),
                ("Palermo".into(), "190.4424".into())
            ]
        );
        let boxed: Vec<String> = q(
            c,
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMMEMBER",
                "Palermo",
                "BYBOX",
                "100",
                "100",
                "km",
            ],
        );
        assert_eq!(boxed, ["Palermo"]);
        let n: i64 = q(
            c,
            &[
                "GEOSEARCHSTORE",
                "near",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "100",
                "km",
            ],
        );
        assert_eq!(n, 1);
        assert!(err(c, &["GEOADD", "Sicily", "200", "10", "bad"])
            .contains("invalid longitude,latitude pair"));
        assert!(err(
            c,
            &[
                "GEOSEARCH",
                "Sicily",
                "BYRADIUS",
                "10",
                "km",
                "ASC",
                "WITHDIST"
            ]
        )
        .contains("FROMMEMBER or FROMLONLAT"));
        assert!(
            err(c, &["GEODIST", "Sicily", "Palermo", "Catania", "parsec"])
                .contains("unsupported unit")
        );
        assert!(err(
            c,
            &[
                "GEORADIUS_RO",
                "Sicily",
                "15",
                "37",
                "200",
                "km",
                "STORE",
                "x"
            ]
        )
        .contains("syntax error"));
    }
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let near: Vec<String> = q(&mut c, &["ZRANGE", "near", "0", "-1"]);
    assert_eq!(near, ["Catania"]);
    let n: i64 = q(&mut c, &["ZCARD", "Sicily"]);
    assert_eq!(n, 2);
}
