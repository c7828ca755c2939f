//! Line charts as inline SVG, drawn on the server from numbers: no script,
//! no library. Text in a chart (titles, series names) is escaped like
//! everything else the console shows.

use std::fmt::Write;

pub struct Series<'a> {
    pub name: &'a str,
    /// CSS class of the line (its colour comes from the stylesheet).
    pub class: &'a str,
    /// One point per sample; None is a gap.
    pub points: Vec<Option<f64>>,
}

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 8.0;

/// An SVG line chart of `series` over the same x axis, `x_label` under it
/// (e.g. "last hour"), the y axis from 0 to the largest value, in `unit`.
pub fn line(title: &str, unit: &str, x_label: &str, series: &[Series<'_>]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().flatten())
        .fold(0.0f64, |m, v| m.max(*v));
    let top = nice_ceiling(max);
    let n = series.iter().map(|s| s.points.len()).max().unwrap_or(0);
    let plot_w = WIDTH - LEFT - 4.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| {
        LEFT + if n > 1 {
            plot_w * i as f64 / (n - 1) as f64
        } else {
            0.0
        }
    };
    let y = |v: f64| TOP + plot_h - if top > 0.0 { plot_h * v / top } else { 0.0 };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    // Axes and three gridlines with their values.
    for step in 0..=2 {
        let v = top * step as f64 / 2.0;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}"/><text class="tick" x="{}" y="{:.1}">{}</text>"#,
            WIDTH - 4.0,
            y(v),
            y(v),
            LEFT - 4.0,
            y(v) + 4.0,
            escape(&format!("{}{}", short(v), unit))
        );
    }
    let _ = write!(
        svg,
        r#"<text class="axis" x="{}" y="{}">{}</text>"#,
        LEFT,
        HEIGHT - 4.0,
        escape(x_label)
    );
    for s in series {
        let mut d = String::new();
        for (i, p) in s.points.iter().enumerate() {
            let Some(v) = p else { continue };
            let joined = i > 0 && s.points[i - 1].is_some();
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if joined { "L" } else { "M" },
                x(i),
                y(*v)
            );
            // A point with no neighbours is drawn as a dot (the round cap
            // of a zero-length segment).
            let alone = !joined && s.points.get(i + 1).is_none_or(Option::is_none);
            if alone {
                d.push_str("l0,0 ");
            }
        }
        if !d.is_empty() {
            let _ = write!(
                svg,
                r#"<path class="series {}" d="{}"><title>{}</title></path>"#,
                escape(s.class),
                d.trim_end(),
                escape(s.name)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// 1, 2 or 5 times a power of ten at or above `v` (0 stays 0... drawn as 1).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * magnitude >= v {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// A short axis label: 1.5k, 20, 0.25.
fn short(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M", v / 1_000_000.0)
    } else if v >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_scales_to_a_nice_maximum_and_escapes_its_text() {
        let svg = line(
            "requests <script>",
            "/s",
            "last hour",
            &[Series {
                name: "ok & fine",
                class: "ok",
                points: vec![Some(0.0), Some(37.0), None, Some(12.0)],
            }],
        );
        assert!(svg.contains("requests &lt;script&gt;"), "{svg}");
        assert!(svg.contains("ok &amp; fine"));
        assert!(!svg.contains("<script>"));
        // 37 rounds up to 50: the top gridline says so.
        assert!(svg.contains(">50/s<"), "{svg}");
        // The gap starts a new segment.
        assert_eq!(svg.matches('M').count(), 2, "{svg}");
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(1200.0), 2000.0);
    }
}
