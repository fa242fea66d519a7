//! Throughput and p99 latency per second of a workload, as CSV and as an SVG chart (two
//! stacked panels sharing the time axis: ops/s, then p99 on a log scale, where write stalls
//! show as spikes).

use std::fmt::Write as _;

/// One second of a workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Seconds since the workload started.
    pub second: usize,
    /// Operations completed in that second.
    pub ops: u64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// Slowest operation, microseconds.
    pub max_us: f64,
}

/// The points as CSV with a header line.
pub fn csv(points: &[Point]) -> String {
    let mut out = String::from("second,ops_per_s,p50_us,p99_us,max_us\n");
    for p in points {
        let _ = writeln!(
            out,
            "{},{},{:.2},{:.2},{:.2}",
            p.second, p.ops, p.p50_us, p.p99_us, p.max_us
        );
    }
    out
}

const WIDTH: f64 = 900.0;
const PANEL: f64 = 200.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const GAP: f64 = 50.0;

/// A "nice" step (1, 2 or 5 times a power of ten) giving about `ticks` ticks up to `max`.
fn nice_step(max: f64, ticks: f64) -> f64 {
    let raw = (max / ticks).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let f = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * mag
}

fn polyline(out: &mut String, pts: &[(f64, f64)], color: &str) {
    let coords: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = writeln!(
        out,
        r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
        coords.join(" ")
    );
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, s: &str) {
    let _ = writeln!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" font-family="sans-serif" font-size="12">{s}</text>"#
    );
}

fn line(out: &mut String, x1: f64, y1: f64, x2: f64, y2: f64, color: &str) {
    let _ = writeln!(
        out,
        r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{color}" stroke-width="1"/>"#
    );
}

/// The chart of `points`, titled `title`.
pub fn svg(title: &str, points: &[Point]) -> String {
    let height = TOP + 2.0 * PANEL + GAP + 40.0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let seconds = points.len().max(1) as f64;
    let x_of = |s: f64| LEFT + plot_w * s / seconds;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    text(&mut out, WIDTH / 2.0, 20.0, "middle", title);

    // Panel 1: throughput, linear from 0.
    let top1 = TOP;
    let max_ops = points.iter().map(|p| p.ops).max().unwrap_or(1).max(1) as f64;
    let step = nice_step(max_ops, 4.0);
    let y_max = (max_ops / step).ceil() * step;
    let y1 = |v: f64| top1 + PANEL - PANEL * v / y_max;
    let mut v = 0.0;
    while v <= y_max + step / 2.0 {
        line(&mut out, LEFT, y1(v), WIDTH - RIGHT, y1(v), "#e0e0e0");
        text(&mut out, LEFT - 6.0, y1(v) + 4.0, "end", &format!("{v:.0}"));
        v += step;
    }
    text(&mut out, LEFT, top1 - 8.0, "start", "ops/s");
    let pts: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (x_of(p.second as f64 + 0.5), y1(p.ops as f64)))
        .collect();
    polyline(&mut out, &pts, "#1f77b4");

    // Panel 2: p99 latency, log scale over whole decades.
    let top2 = TOP + PANEL + GAP;
    let lo = points
        .iter()
        .map(|p| p.p99_us)
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p.p99_us).fold(0.0, f64::max);
    let (lo_dec, hi_dec) = if lo.is_finite() && hi > 0.0 {
        (
            lo.log10().floor(),
            hi.log10().ceil().max(lo.log10().floor() + 1.0),
        )
    } else {
        (0.0, 1.0)
    };
    let y2 = |v: f64| {
        let l = v.max(10f64.powf(lo_dec)).log10();
        top2 + PANEL - PANEL * (l - lo_dec) / (hi_dec - lo_dec)
    };
    let mut d = lo_dec;
    while d <= hi_dec {
        let v = 10f64.powf(d);
        line(&mut out, LEFT, y2(v), WIDTH - RIGHT, y2(v), "#e0e0e0");
        text(&mut out, LEFT - 6.0, y2(v) + 4.0, "end", &format!("{v}"));
        d += 1.0;
    }
    text(
        &mut out,
        LEFT,
        top2 - 8.0,
        "start",
        "p99 latency, us (log scale)",
    );
    let pts: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (x_of(p.second as f64 + 0.5), y2(p.p99_us)))
        .collect();
    polyline(&mut out, &pts, "#d62728");

    // Shared time axis.
    let xstep = nice_step(seconds, 8.0).max(1.0);
    let mut s = 0.0;
    while s <= seconds {
        for (top, bottom) in [(top1, top1 + PANEL), (top2, top2 + PANEL)] {
            line(&mut out, x_of(s), top, x_of(s), bottom, "#f0f0f0");
        }
        text(
            &mut out,
            x_of(s),
            top2 + PANEL + 16.0,
            "middle",
            &format!("{s:.0}"),
        );
        s += xstep;
    }
    text(
        &mut out,
        LEFT + plot_w / 2.0,
        top2 + PANEL + 34.0,
        "middle",
        "seconds",
    );
    for top in [top1, top2] {
        line(
            &mut out,
            LEFT,
            top + PANEL,
            WIDTH - RIGHT,
            top + PANEL,
            "#000",
        );
        line(&mut out, LEFT, top, LEFT, top + PANEL, "#000");
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn points() -> Vec<Point> {
        (0..30)
            .map(|s| Point {
                second: s,
                ops: 200_000 + (s as u64 % 7) * 10_000,
                p50_us: 3.0,
                p99_us: if s == 12 { 5000.0 } else { 9.0 },
                max_us: 20_000.0,
            })
            .collect()
    }

    #[test]
    fn csv_has_a_line_per_second() {
        let text = csv(&points());
        assert_eq!(text.lines().count(), 31);
        assert!(text.starts_with("second,ops_per_s,p50_us,p99_us,max_us\n0,200000,3.00,9.00,"));
    }

    #[test]
    fn svg_draws_both_series_inside_the_canvas() {
        let chart = svg("fillrandom", &points());
        assert!(chart.starts_with("<svg") && chart.ends_with("</svg>\n"));
        assert_eq!(chart.matches("<polyline").count(), 2);
        for line in chart.lines().filter(|l| l.starts_with("<polyline")) {
            let pts = line
                .split("points=\"")
                .nth(1)
                .unwrap()
                .trim_end_matches("\"/>");
            for xy in pts.split(' ') {
                let (x, y) = xy.split_once(',').unwrap();
                let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
                assert!(
                    (0.0..=WIDTH).contains(&x) && (0.0..=600.0).contains(&y),
                    "{xy}"
                );
            }
        }
        // The stall second is the highest point of the latency line (smallest y).
        assert!(
            chart.contains(">10000<"),
            "the log axis reaches the spike's decade"
        );
        let empty = svg("nothing", &[]);
        assert!(empty.contains("</svg>"));
    }
}
