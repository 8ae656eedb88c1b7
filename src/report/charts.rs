//! Small inline SVG charts: histograms for the report's distributions, and line charts of a
//! figure against a swept knob for `connlab sweep`.

use std::fmt::Write as _;

use connlab_core::diagnose::Bin;

use super::html::esc;

const W: f64 = 560.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 36.0;
const TOP: f64 = 28.0;

/// The opening of a chart: its frame and its title (also its accessible name).
fn svg_start(title: &str) -> String {
    format!(
        "<svg class=\"chart\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{t}\">\
         <text x=\"{LEFT}\" y=\"16\" style=\"font-weight:bold\">{t}</text>",
        t = esc(title)
    )
}

/// A histogram titled `title` on an axis from 0 (so a narrow spread looks narrow: 205–207 ms
/// sits near 205 of 250, not across the chart), bars placed by their values, round ticks on
/// both axes; `label` formats a value (ms, a count).
pub fn histogram(title: &str, bins: &[Bin], label: impl Fn(u64) -> String) -> String {
    let mut out = svg_start(title);
    if bins.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{LEFT}\" y=\"{}\">no values</text></svg>",
            H / 2.0
        );
        return out;
    }
    let (top, step) = nice_ticks(bins.iter().map(|b| b.count).max().unwrap_or(1) as f64);
    let (x_top, x_step) = nice_ticks(bins.iter().map(|b| b.hi).max().unwrap_or(1) as f64 + 1.0);
    let plot_w = W - LEFT - 24.0;
    let plot_h = H - TOP - BOTTOM;
    let x_at = |v: f64| LEFT + v / x_top * plot_w;
    y_axis(&mut out, plot_w, plot_h, (top, step));
    for b in bins {
        let h = b.count as f64 / top * plot_h;
        // A bin covers [lo, hi + 1): a bin of one value still has a width.
        let (x0, x1) = (x_at(b.lo as f64), x_at(b.hi as f64 + 1.0));
        let range = if b.lo == b.hi {
            label(b.lo)
        } else {
            format!("{} – {}", label(b.lo), label(b.hi))
        };
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\">\
             <title>{}: {}</title></rect>",
            TOP + plot_h - h,
            (x1 - x0 - 1.0).max(3.0),
            esc(&range),
            b.count
        );
    }
    let ticks = (x_top / x_step).round() as u64;
    for k in 0..=ticks {
        let v = x_step * k as f64;
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x_at(v),
            H - BOTTOM + 16.0,
            esc(&label(v as u64))
        );
    }
    out.push_str("</svg>");
    out
}

/// One line of a line chart: its name and a y value per x position (None: no value).
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// y per x position, in the chart's x order.
    pub points: Vec<Option<f64>>,
}

/// Distinct colours for series, in order.
const COLOURS: [&str; 8] = [
    "#4a7bd0", "#d04040", "#2e9e44", "#d9a400", "#a94bc0", "#0a8aa0", "#e64a19", "#555555",
];
/// Dash patterns for series, in order: series with the same values stay visible on top of
/// each other.
const DASHES: [&str; 4] = ["", "8 4", "2 3", "12 3 2 3"];

/// The y axis for values up to `max`: a round top and a round step, 3 to 6 ticks.
pub fn nice_ticks(max: f64) -> (f64, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| max / step <= 5.0)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

/// Where each x value goes, 0 to 1: numbers by value (on a log scale when they span more
/// than twenty-fold, as 1, 2, 5, 10, 25, 50 do), anything else evenly in the given order.
fn x_positions(xs: &[String]) -> Vec<f64> {
    if xs.len() <= 1 {
        return vec![0.5; xs.len()];
    }
    let numbers: Option<Vec<f64>> = xs.iter().map(|x| x.parse::<f64>().ok()).collect();
    let even = || {
        (0..xs.len())
            .map(|i| i as f64 / (xs.len() - 1) as f64)
            .collect()
    };
    let Some(numbers) = numbers else {
        return even();
    };
    let (lo, hi) = numbers
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    if hi <= lo {
        return even();
    }
    let scale: &dyn Fn(f64) -> f64 = if lo > 0.0 && hi / lo > 20.0 {
        &|v: f64| v.ln()
    } else {
        &|v: f64| v
    };
    let (a, b) = (scale(lo), scale(hi));
    numbers.iter().map(|v| (scale(*v) - a) / (b - a)).collect()
}

/// A line chart of `series` over the swept values `xs` (numbers placed by value), with a
/// y axis in round steps and a legend under it when there are several series.
pub fn line_chart(title: &str, x_label: &str, xs: &[String], series: &[Series]) -> String {
    let mut out = String::from("<figure class=\"chart\">");
    out.push_str(&svg_start(title));
    let values = series.iter().flat_map(|s| s.points.iter().flatten());
    let (top, step) = nice_ticks(values.fold(0.0f64, |m, v| m.max(*v)));
    let plot_w = W - LEFT - 24.0;
    let plot_h = H - TOP - BOTTOM;
    let positions = x_positions(xs);
    let x_at = |i: usize| LEFT + 12.0 + (plot_w - 12.0) * positions[i];
    let y_at = |v: f64| TOP + plot_h - v / top * plot_h;
    y_axis(&mut out, plot_w, plot_h, (top, step));
    for (i, x) in xs.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x_at(i),
            H - BOTTOM + 16.0,
            esc(x)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        LEFT + plot_w / 2.0,
        H - 4.0,
        esc(x_label)
    );
    let mut legend = String::new();
    for (n, s) in series.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let dash = DASHES[n % DASHES.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x_at(i), y_at(v))))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"line\" style=\"stroke:{colour}\" stroke-dasharray=\"{dash}\" \
             points=\"{}\"/>",
            points.join(" ")
        );
        for (i, v) in s.points.iter().enumerate() {
            if let Some(v) = v {
                let _ = write!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\" style=\"fill:{colour}\">\
                     <title>{}: {} at {}</title></circle>",
                    x_at(i),
                    y_at(*v),
                    4 - n.min(2),
                    esc(&s.name),
                    trim_number(*v),
                    esc(&xs[i])
                );
            }
        }
        let same = series[..n]
            .iter()
            .find(|earlier| earlier.points == s.points);
        let _ = write!(
            legend,
            "<span><i class=\"sw\" style=\"background:{colour}\"></i>{}{}</span>",
            esc(&s.name),
            same.map(|e| format!(" (same as {})", esc(&e.name)))
                .unwrap_or_default()
        );
    }
    out.push_str("</svg>");
    if series.len() > 1 {
        let _ = write!(out, "<figcaption class=\"legend\">{legend}</figcaption>");
    }
    out.push_str("</figure>");
    out
}

/// The y axis with a labelled gridline per step up to `top`, and the x axis.
fn y_axis(out: &mut String, plot_w: f64, plot_h: f64, (top, step): (f64, f64)) {
    let bottom = TOP + plot_h;
    out.push_str("<g class=\"axis\">");
    let ticks = (top / step).round() as usize;
    for k in 0..=ticks {
        let v = step * k as f64;
        let y = bottom - v / top * plot_h;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT + plot_w,
            LEFT - 4.0,
            y + 4.0,
            trim_number(v)
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{bottom}\"/></g>"
    );
}

/// A number without needless decimals (`48`, `0.75`, `1234.5`).
pub fn trim_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_has_one_bar_per_bin_with_its_range() {
        let bins = [
            Bin {
                lo: 1,
                hi: 1,
                count: 40,
            },
            Bin {
                lo: 2,
                hi: 9,
                count: 10,
            },
        ];
        let svg = histogram("requests per connection", &bins, |v| v.to_string());
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2);
        assert!(
            svg.contains(">0</text>") && svg.contains(">10</text>"),
            "{svg}"
        );
        assert!(svg.contains("<title>2 – 9: 10</title>"), "{svg}");
        assert!(histogram("t", &[], |v| v.to_string()).contains("no values"));
    }

    #[test]
    fn a_line_chart_has_a_line_and_a_point_per_value() {
        let xs: Vec<String> = ["1", "2", "5"].iter().map(|s| s.to_string()).collect();
        let series = [Series {
            name: "time_wait.client".into(),
            points: vec![Some(49.0), Some(48.0), None],
        }];
        let svg = line_chart("TIME_WAIT", "max_idle_per_host", &xs, &series);
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("time_wait.client: 48 at 2"), "{svg}");
        assert_eq!(trim_number(0.750), "0.75");
    }

    #[test]
    fn a_narrow_spread_looks_narrow() {
        let bins = [
            Bin {
                lo: 205,
                hi: 205,
                count: 3,
            },
            Bin {
                lo: 207,
                hi: 207,
                count: 1,
            },
        ];
        let svg = histogram("idle ms", &bins, |v| v.to_string());
        let xs: Vec<f64> = svg
            .split("<rect class=\"bar\" x=\"")
            .skip(1)
            .map(|r| r[..r.find('"').expect("x")].parse().expect("a number"))
            .collect();
        assert!(xs[1] - xs[0] < 10.0, "two ms apart on a 0–250 axis: {xs:?}");
        assert!(svg.contains(">250</text>"), "{svg}");
    }

    #[test]
    fn the_y_axis_has_round_steps() {
        assert_eq!(nice_ticks(49.0), (50.0, 10.0));
        assert_eq!(nice_ticks(207.0), (250.0, 50.0));
        assert_eq!(nice_ticks(0.21), (0.25, 0.05));
        assert_eq!(nice_ticks(0.0), (1.0, 0.2));
        let (top, step) = nice_ticks(7.0);
        assert!((3.0..=6.0).contains(&(top / step)), "{top} {step}");
    }

    #[test]
    fn numbers_sit_by_value_and_legends_keep_their_colours() {
        let xs: Vec<String> = ["1", "2", "5", "10", "25", "50"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = x_positions(&xs);
        assert_eq!((p[0], p[5]), (0.0, 1.0));
        assert!(p[1] > 0.15 && p[3] > 0.5, "log scale for 1..50: {p:?}");
        let linear = x_positions(&["0".into(), "5".into(), "10".into()]);
        assert_eq!(linear, [0.0, 0.5, 1.0]);
        let words = x_positions(&["fin".into(), "rst".into()]);
        assert_eq!(words, [0.0, 1.0]);
        let same = vec![Some(3.0); 6];
        let series = [
            Series {
                name: "a=1".into(),
                points: same.clone(),
            },
            Series {
                name: "a=2".into(),
                points: same,
            },
        ];
        let svg = line_chart("t", "x", &xs, &series);
        // A presentation attribute loses to the page's `svg text { fill }`; a style wins.
        assert!(svg.contains("style=\"background:#d04040\""), "{svg}");
        assert!(svg.contains("a=2 (same as a=1)"), "{svg}");
        assert!(svg.contains("stroke-dasharray=\"8 4\""), "{svg}");
        let legend_at = svg.find("<figcaption").expect("a legend");
        assert!(
            legend_at > svg.find("</svg>").expect("svg"),
            "under the plot"
        );
        assert!(svg.matches("class=\"grid\"").count() >= 3, "{svg}");
    }
}
