//! A small SVG line plot: one panel per series over the same x values, so `make bench` can
//! draw its scaling curve without a plotting dependency or a browser.

use std::fmt::Write as _;

/// Panel size and margins, in SVG user units.
const W: f64 = 340.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 36.0;
const TOP: f64 = 28.0;
const RIGHT: f64 = 16.0;

/// Renders `series` (title, one y per x) as panels side by side under `title`.
pub fn svg(title: &str, xs: &[f64], series: &[(&str, Vec<f64>)]) -> String {
    let width = W * series.len() as f64;
    let height = H + 30.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = write!(
        out,
        r#"<text x="8" y="18" font-size="13">{}</text>"#,
        escape(title)
    );
    for (i, (name, ys)) in series.iter().enumerate() {
        panel(&mut out, 30.0, W * i as f64, name, xs, ys);
    }
    out.push_str("</svg>\n");
    out
}

fn panel(out: &mut String, dy: f64, dx: f64, name: &str, xs: &[f64], ys: &[f64]) {
    let x_max = xs.iter().copied().fold(0.0, f64::max).max(1.0);
    let y_max = nice(
        ys.iter()
            .copied()
            .filter(|y| y.is_finite())
            .fold(0.0, f64::max),
    );
    let px = |x: f64| dx + LEFT + x / x_max * (W - LEFT - RIGHT);
    let py = |y: f64| dy + TOP + (1.0 - y / y_max) * (H - TOP - BOTTOM);
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#,
        dx + LEFT,
        dy + 14.0,
        escape(name)
    );
    // axes, three y gridlines and their labels
    for k in 0..=2 {
        let y = y_max * k as f64 / 2.0;
        let (x0, x1, yy) = (px(0.0), px(x_max), py(y));
        let (lx, ly, label) = (dx + LEFT - 4.0, py(y) + 4.0, short(y));
        let _ = write!(
            out,
            r##"<line x1="{x0}" x2="{x1}" y1="{yy}" y2="{yy}" stroke="#ddd"/><text x="{lx}" y="{ly}" text-anchor="end">{label}</text>"##
        );
    }
    for &x in xs {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            px(x),
            dy + H - BOTTOM + 14.0,
            short(x)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">edges</text>"#,
        px(x_max / 2.0),
        dy + H - 6.0
    );
    let points: Vec<String> = xs
        .iter()
        .zip(ys)
        .filter(|(_, y)| y.is_finite())
        .map(|(&x, &y)| format!("{:.1},{:.1}", px(x), py(y)))
        .collect();
    let _ = write!(
        out,
        r##"<polyline fill="none" stroke="#2a6fdb" stroke-width="2" points="{}"/>"##,
        points.join(" ")
    );
    for (&x, &y) in xs.iter().zip(ys).filter(|(_, y)| y.is_finite()) {
        let _ = write!(
            out,
            r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#2a6fdb"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">{}</text>"##,
            px(x),
            py(y),
            px(x),
            py(y) - 6.0,
            short(y)
        );
    }
}

/// A round upper bound for an axis: 1, 2 or 5 times a power of ten, at least `v`.
fn nice(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * p)
}

/// A number as a short label: 20000 as 20k, 0.5 as 0.5, 123.4 as 123.
fn short(v: f64) -> String {
    if v >= 1000.0 && (v / 1000.0).fract() == 0.0 {
        format!("{}k", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up_to_one_two_or_five() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(3.2), 5.0);
        assert_eq!(nice(17.0), 20.0);
        assert_eq!(nice(100.0), 100.0);
        assert_eq!(nice(101.0), 200.0);
    }

    #[test]
    fn a_plot_has_one_panel_per_series_and_one_point_per_value() {
        let svg = svg(
            "t <1>",
            &[1000.0, 20000.0],
            &[("a", vec![1.0, 2.0]), ("b", vec![3.0, f64::NAN])],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("t &lt;1&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains(">20k<"));
    }
}
