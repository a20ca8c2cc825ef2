//! The report's charts: SVG drawn by `plotters`' SVG backend (no font
//! files: text is in the generic `sans-serif` family, and plotters
//! escapes every text and attribute it writes), returned as text to be
//! embedded inline. Each chart takes the numbers its table shows.

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use scout_audit_core::Timestamp;
use scout_audit_core::agg::GroupBy;

/// A chart's size in SVG pixels (it scales with the page).
const SIZE: (u32, u32) = (760, 280);

/// The series' colours (Tableau 10), the HTML legend's too; series past
/// the last reuse the grey of "other".
pub const PALETTE: [(u8, u8, u8); 10] = [
    (0x4e, 0x79, 0xa7),
    (0xf2, 0x8e, 0x2b),
    (0xe1, 0x57, 0x59),
    (0x76, 0xb7, 0xb2),
    (0x59, 0xa1, 0x4f),
    (0xed, 0xc9, 0x48),
    (0xb0, 0x7a, 0xa1),
    (0xff, 0x9d, 0xa7),
    (0x9c, 0x75, 0x5f),
    (0xba, 0xb0, 0xac),
];

/// The colour of series `i` as CSS `#rrggbb`.
pub fn css_color(i: usize) -> String {
    let (r, g, b) = PALETTE[i.min(PALETTE.len() - 1)];
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i.min(PALETTE.len() - 1)];
    RGBColor(r, g, b)
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a chart: {e}")
}

/// A day number (days since 1970-01-01) as `MM-DD`, or its year too
/// when the chart spans years.
fn day_label(n: i64, with_year: bool) -> String {
    let key = n
        .checked_mul(86_400)
        .and_then(|s| Timestamp::from_unix(s, 0))
        .and_then(|t| GroupBy::Day.key(Some(t), None, None))
        .unwrap_or_default();
    if with_year {
        key
    } else {
        key.get(5..).unwrap_or("").to_owned()
    }
}

/// A number with a short unit: 1.2k, 3.4M.
fn short(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{:.1}G", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if a >= 10.0 || x == x.trunc() {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// The x range of days `first..=last`, half a day either side.
fn day_range(first: i64, last: i64) -> std::ops::Range<f64> {
    (first as f64 - 0.5)..(last as f64 + 0.5)
}

/// A chart on `root` of the days `first..=last` (half a day either
/// side) against `y`, its mesh drawn: days as `MM-DD` (with the year
/// when `with_year`), values short, `y_desc` beside them.
fn day_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    (first, last): (i64, i64),
    y: std::ops::Range<f64>,
    y_desc: &str,
    with_year: bool,
) -> Result<ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>> {
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(day_range(first, last), y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(8)
        .x_label_formatter(&|x| day_label(x.round() as i64, with_year))
        .y_label_formatter(&|y| short(*y))
        .y_desc(y_desc)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// Bars per day, stacked: `days[i]` is a day number and its values per
/// series (drawn bottom up in series order). Empty days are gaps.
pub fn stacked_days(days: &[(i64, Vec<f64>)], y_desc: &str) -> Result<String> {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(String::new());
    };
    let top = days
        .iter()
        .map(|(_, v)| v.iter().filter(|x| x.is_finite() && **x > 0.0).sum::<f64>())
        .fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.08 } else { 1.0 };
    let with_year = first.0.div_euclid(365) != last.0.div_euclid(365) || last.0 - first.0 > 300;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = day_chart(&root, (first.0, last.0), 0.0..top, y_desc, with_year)?;
        let half = 0.4;
        let mut rects = Vec::new();
        for (day, values) in days {
            let mut base = 0.0;
            for (i, v) in values.iter().enumerate() {
                if !v.is_finite() || *v <= 0.0 {
                    continue;
                }
                let x = *day as f64;
                rects.push(Rectangle::new(
                    [(x - half, base), (x + half, base + v)],
                    color(i).filled(),
                ));
                base += v;
            }
        }
        chart.draw_series(rects).map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(buf)
}

/// Lines over days: each series its points (day number, value), in
/// day order; `y` the value range shown.
pub fn day_lines(
    series: &[Vec<(i64, f64)>],
    y: std::ops::Range<f64>,
    y_desc: &str,
) -> Result<String> {
    let days = series.iter().flatten().map(|(d, _)| *d);
    let (Some(first), Some(last)) = (days.clone().min(), days.max()) else {
        return Ok(String::new());
    };
    let with_year = last - first > 300;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = day_chart(&root, (first, last), y, y_desc, with_year)?;
        for (i, points) in series.iter().enumerate() {
            let c = color(i);
            let pts: Vec<(f64, f64)> = points.iter().map(|(d, v)| (*d as f64, *v)).collect();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                .map_err(err)?;
            chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(buf)
}

/// Horizontal bars, the first on top: `labels[i]` (shortened; the
/// table beside the chart has them whole) and `values[i]`.
pub fn ranked_bars(labels: &[String], values: &[f64], x_desc: &str) -> Result<String> {
    if values.is_empty() {
        return Ok(String::new());
    }
    let n = values.len();
    let top = values
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.08 } else { 1.0 };
    let short_labels: Vec<String> = labels.iter().map(|l| shorten(l, 28)).collect();
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(200)
            .build_cartesian_2d(0.0..top, -0.5..(n as f64 - 0.5))
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|y| {
                let i = n as i64 - 1 - y.round() as i64;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| short_labels.get(i).cloned())
                    .unwrap_or_default()
            })
            .x_label_formatter(&|x| short(*x))
            .x_desc(x_desc)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        let bars = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite() && **v > 0.0)
            .map(|(i, v)| {
                let y = (n - 1 - i) as f64;
                Rectangle::new([(0.0, y - 0.35), (*v, y + 0.35)], color(0).filled())
            });
        chart.draw_series(bars).map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(buf)
}

/// At most `max` characters of `s`, an ellipsis marking a cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('\u{2026}');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_bars_and_escaped_labels() {
        let svg =
            stacked_days(&[(20_000, vec![1.0, 2.0]), (20_003, vec![0.5, 0.0])], "USD").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        // Three bars of the palette's first two colours.
        assert_eq!(
            svg.matches("fill=\"#4E79A7\"").count() + svg.matches("fill=\"#4e79a7\"").count(),
            2,
            "{svg}"
        );
        let bars = ranked_bars(&["</text><script>x</script>".to_owned()], &[3.0], "USD").unwrap();
        assert!(!bars.contains("<script>"), "{bars}");
        assert!(bars.contains("&lt;/text&gt;&lt;script&gt;"), "{bars}");
        assert_eq!(stacked_days(&[], "USD").unwrap(), "");
        assert_eq!(shorten("abcdef", 4), "abc\u{2026}");
        assert_eq!(day_label(20_000, false), "10-04");
        assert_eq!(day_label(20_000, true), "2024-10-04");
    }
}
