//! The page: one HTML document with its CSS inline (a print stylesheet
//! included), the charts' SVG inline, a table of each chart's numbers,
//! and the figures as JSON in `<script type="application/json"
//! id="report-data">` (data, never run). A Content-Security-Policy
//! forbids every fetch and script, so the page opens from disk as it is.
//! Everything from the store (models, session ids, files, event types)
//! is escaped: text with [`esc`], JSON with [`json_for_script`].

use std::fmt::Write as _;

use anyhow::Result;
use scout_audit_core::Timestamp;

use super::charts::{self, css_color};
use super::figures::{DayRow, Figures};

/// The series a chart draws in colour; the rest share the last colour.
const SERIES: usize = 9;

const CSS: &str = "\
:root{color-scheme:light}\
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:16px;color:#1d2329}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d5dbe1}\
.meta{color:#56606b;margin:0}\
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}\
.card{border:1px solid #d5dbe1;border-radius:6px;padding:10px 14px;min-width:150px}\
.card b{display:block;font-size:24px}.card span{color:#56606b}\
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}\
figure{margin:0;flex:0 1 760px}figure svg{width:100%;height:auto}\
.scroll{flex:1 1 360px;max-height:290px;overflow:auto}\
table{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}\
th,td{border-bottom:1px solid #e4e8ec;padding:2px 8px;text-align:right;white-space:nowrap}\
th{position:sticky;top:0;background:#f4f6f8}td.t,th.t{text-align:left}\
td.id{white-space:normal;overflow-wrap:anywhere;min-width:10em}\
tr.sum td{font-weight:600}\
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;margin:4px 0}\
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px}\
.empty{color:#56606b;font-style:italic}.note{color:#56606b;font-size:12px}\
@media print{body{max-width:none;padding:0;font-size:11px}.scroll{max-height:none;overflow:visible}\
figure,.cards,tr{break-inside:avoid}h2{break-after:avoid}th{position:static}}";

/// `s` as HTML text or attribute value.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// JSON text safe inside a `<script>` element: `<`, `>` and `&` (which
/// JSON has only inside strings) written as `\u` escapes, so no value can
/// close the element or open a comment.
pub fn json_for_script(v: &serde_json::Value) -> String {
    let mut o = String::new();
    for c in v.to_string().chars() {
        match c {
            '<' => o.push_str("\\u003c"),
            '>' => o.push_str("\\u003e"),
            '&' => o.push_str("\\u0026"),
            c => o.push(c),
        }
    }
    o
}

/// Cents, as `$1,234.57`.
fn dollars(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let s = format!("{:.2}", x.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    format!("{}${}.{frac}", if x < 0.0 { "-" } else { "" }, group(int))
}

/// Digits grouped by thousands.
fn group(digits: &str) -> String {
    let mut o = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            o.push(',');
        }
        o.push(c);
    }
    o
}

fn int(n: u64) -> String {
    group(&n.to_string())
}

fn day_text(d: &DayRow) -> String {
    d.key.clone().unwrap_or_else(|| "no ts".to_owned())
}

fn exact(x: f64) -> String {
    super::super::print::fmt_cost(x)
}

/// The whole page.
pub fn page(f: &Figures) -> Result<String> {
    let mut o = String::with_capacity(64 << 10);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    o.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; img-src data:\">\n",
    );
    o.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n");
    let _ = writeln!(
        o,
        "<title>scout-audit report: {}</title>",
        esc(&window_text(f))
    );
    let _ = writeln!(o, "<style>{CSS}</style></head><body>");
    header(&mut o, f);
    spend_section(&mut o, f)?;
    tokens_section(&mut o, f)?;
    events_section(&mut o, f)?;
    accuracy_section(&mut o, f)?;
    sessions_section(&mut o, f)?;
    files_section(&mut o, f)?;
    health_section(&mut o, f);
    let _ = writeln!(
        o,
        "<script type=\"application/json\" id=\"report-data\">{}</script>\n</body></html>",
        json_for_script(&f.data())
    );
    Ok(o)
}

fn window_text(f: &Figures) -> String {
    let t = |x: Option<Timestamp>, none: &str| x.map_or(none.to_owned(), |t| t.to_python_string());
    format!(
        "{} to {}",
        t(f.window.since, "the first record"),
        t(f.window.until, "the last record")
    )
}

fn header(o: &mut String, f: &Figures) {
    let _ = write!(
        o,
        "<header><h1>scout-audit report</h1><p class=\"meta\">{} &middot; store {} &middot; \
         made {}</p></header>\n<section class=\"cards\" id=\"totals\">",
        esc(&window_text(f)),
        esc(&f.window.store),
        esc(&f.window.generated.to_python_string())
    );
    let a = &f.accuracy;
    let acc = if a.total_nav == 0 {
        "&ndash;".to_owned()
    } else {
        format!("{:.2}%", a.accuracy_pct)
    };
    let cards = [
        (
            "total_cost",
            exact(f.total.cost),
            dollars(f.total.cost),
            "spend".to_owned(),
        ),
        (
            "records",
            f.total.records.to_string(),
            int(f.total.records),
            "records".to_owned(),
        ),
        (
            "sessions",
            f.sessions.to_string(),
            int(f.sessions),
            "sessions".to_owned(),
        ),
        (
            "accuracy_pct",
            a.accuracy_pct.to_string(),
            acc,
            format!(
                "navigation accuracy ({} nav, {} validation_fail)",
                int(a.total_nav),
                int(a.validation_fail_count)
            ),
        ),
    ];
    for (name, value, text, label) in cards {
        let _ = write!(
            o,
            "<div class=\"card\"><b data-figure=\"{name}\" data-value=\"{}\">{text}</b><span>{label}</span></div>",
            esc(&value)
        );
    }
    o.push_str("</section>\n");
}

/// A section: title, the chart (or a note that there is nothing to
/// draw), a legend, and the table.
fn section(o: &mut String, id: &str, title: &str, svg: &str, legend: &str, table: &str) {
    let _ = write!(
        o,
        "<section id=\"{id}\"><h2>{title}</h2>{legend}<div class=\"row\">"
    );
    if svg.is_empty() {
        o.push_str("<p class=\"empty\">No records in the window.</p>");
    } else {
        let _ = write!(
            o,
            "<figure role=\"img\" aria-label=\"{}\">{svg}</figure>",
            esc(title)
        );
    }
    let _ = writeln!(o, "<div class=\"scroll\">{table}</div></div></section>");
}

/// A legend of `names` in the palette's colours, `other` last when
/// there are more than [`SERIES`].
fn legend(names: &[String]) -> String {
    let mut o = String::from("<div class=\"legend\">");
    for (i, n) in names.iter().take(SERIES).enumerate() {
        let _ = write!(
            o,
            "<span><i class=\"sw\" style=\"background:{}\"></i>{}</span>",
            css_color(i),
            esc(n)
        );
    }
    if names.len() > SERIES {
        let _ = write!(
            o,
            "<span><i class=\"sw\" style=\"background:{}\"></i>{} others</span>",
            css_color(SERIES),
            names.len() - SERIES
        );
    }
    o.push_str("</div>");
    o
}

fn model_name(m: Option<&str>) -> String {
    m.map_or_else(|| "(no model)".to_owned(), str::to_owned)
}

fn spend_section(o: &mut String, f: &Figures) -> Result<()> {
    let place = |m: Option<&str>| {
        f.models
            .iter()
            .position(|(x, _)| x.as_deref() == m)
            .map_or(SERIES, |i| i.min(SERIES))
    };
    let bars: Vec<(i64, Vec<f64>)> = f
        .days
        .iter()
        .filter_map(|d| {
            let mut v = vec![0.0; SERIES + 1];
            for (m, s) in &d.models {
                v[place(m.as_deref())] += s.cost;
            }
            Some((d.n?, v))
        })
        .collect();
    let svg = charts::stacked_days(&bars, "USD")?;
    let names: Vec<String> = f
        .models
        .iter()
        .map(|(m, _)| model_name(m.as_deref()))
        .collect();
    let mut t = String::from(
        "<table id=\"spend-table\"><tr><th class=\"t\">day</th><th class=\"t\">model</th>\
         <th>records</th><th>cost</th><th>input_t</th><th>output_t</th></tr>",
    );
    for d in &f.days {
        for (m, s) in &d.models {
            let _ = write!(
                t,
                "<tr data-day=\"{k}\" data-model=\"{mm}\" data-cost=\"{c}\"><td class=\"t\">{k}</td>\
                 <td class=\"t id\">{mm}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                int(s.records),
                dollars(s.cost),
                int(s.input_t),
                int(s.output_t),
                k = esc(&day_text(d)),
                mm = esc(&model_name(m.as_deref())),
                c = exact(s.cost),
            );
        }
        let s = &d.spend;
        let _ = write!(
            t,
            "<tr class=\"sum\" data-day=\"{k}\" data-cost=\"{c}\"><td class=\"t\">{k}</td><td class=\"t\">all</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            int(s.records),
            dollars(s.cost),
            int(s.input_t),
            int(s.output_t),
            k = esc(&day_text(d)),
            c = exact(s.cost),
        );
    }
    t.push_str("</table>");
    section(
        o,
        "spend",
        "Spend per day, by model (UTC days)",
        &svg,
        &legend(&names),
        &t,
    );
    Ok(())
}

fn tokens_section(o: &mut String, f: &Figures) -> Result<()> {
    let timed = || f.days.iter().filter_map(|d| Some((d.n?, d)));
    let input: Vec<(i64, f64)> = timed().map(|(n, d)| (n, d.spend.input_t as f64)).collect();
    let output: Vec<(i64, f64)> = timed().map(|(n, d)| (n, d.spend.output_t as f64)).collect();
    let top = input.iter().chain(&output).map(|p| p.1).fold(0.0, f64::max);
    let svg = charts::day_lines(&[input, output], 0.0..(top.max(1.0) * 1.08), "tokens")?;
    let mut t = String::from(
        "<table id=\"tokens-table\"><tr><th class=\"t\">day</th><th>input_t</th><th>output_t</th></tr>",
    );
    for d in &f.days {
        let _ = write!(
            t,
            "<tr data-day=\"{k}\"><td class=\"t\">{k}</td><td>{}</td><td>{}</td></tr>",
            int(d.spend.input_t),
            int(d.spend.output_t),
            k = esc(&day_text(d))
        );
    }
    t.push_str("</table>");
    let names = ["input tokens".to_owned(), "output tokens".to_owned()];
    section(
        o,
        "tokens",
        "Input and output tokens per day",
        &svg,
        &legend(&names),
        &t,
    );
    Ok(())
}

fn events_section(o: &mut String, f: &Figures) -> Result<()> {
    let place = |e: &str| {
        f.event_types
            .iter()
            .position(|(x, _)| x == e)
            .map_or(SERIES, |i| i.min(SERIES))
    };
    let bars: Vec<(i64, Vec<f64>)> = f
        .days
        .iter()
        .filter_map(|d| {
            let mut v = vec![0.0; SERIES + 1];
            for (e, n) in &d.events {
                v[place(e)] += *n as f64;
            }
            v[SERIES] += d.untyped as f64;
            Some((d.n?, v))
        })
        .collect();
    let svg = charts::stacked_days(&bars, "records")?;
    let shown: Vec<&String> = f.event_types.iter().take(SERIES).map(|(e, _)| e).collect();
    let mut t = String::from("<table id=\"events-table\"><tr><th class=\"t\">day</th>");
    for e in &shown {
        let _ = write!(t, "<th class=\"t\">{}</th>", esc(e));
    }
    t.push_str("<th>other</th></tr>");
    for d in &f.days {
        let _ = write!(
            t,
            "<tr data-day=\"{k}\"><td class=\"t\">{k}</td>",
            k = esc(&day_text(d))
        );
        let count = |e: &str| d.events.iter().find(|(x, _)| x == e).map_or(0, |(_, n)| *n);
        for e in &shown {
            let _ = write!(t, "<td>{}</td>", int(count(e)));
        }
        let other = d
            .events
            .iter()
            .filter(|(e, _)| !shown.contains(&e))
            .map(|(_, n)| n)
            .sum::<u64>()
            + d.untyped;
        let _ = write!(t, "<td>{}</td></tr>", int(other));
    }
    t.push_str("</table>");
    let names: Vec<String> = f.event_types.iter().map(|(e, _)| e.clone()).collect();
    section(o, "events", "Event mix per day", &svg, &legend(&names), &t);
    Ok(())
}

fn accuracy_section(o: &mut String, f: &Figures) -> Result<()> {
    let points: Vec<(i64, f64)> = f
        .days
        .iter()
        .filter(|d| d.accuracy.total_nav > 0)
        .filter_map(|d| Some((d.n?, d.accuracy.accuracy_pct)))
        .collect();
    let low = points.iter().map(|p| p.1).fold(0.0, f64::min);
    let high = points.iter().map(|p| p.1).fold(100.0, f64::max);
    let svg = charts::day_lines(&[points], (low - 2.0)..(high + 2.0), "accuracy %")?;
    let mut t = String::from(
        "<table id=\"accuracy-table\"><tr><th class=\"t\">day</th><th>nav</th>\
         <th>validation_fail</th><th>accuracy %</th></tr>",
    );
    for d in &f.days {
        let a = &d.accuracy;
        let pct = if a.total_nav == 0 {
            "&ndash;".to_owned()
        } else {
            format!("{:.2}", a.accuracy_pct)
        };
        let _ = write!(
            t,
            "<tr data-day=\"{k}\" data-accuracy=\"{}\"><td class=\"t\">{k}</td><td>{}</td><td>{}</td><td>{pct}</td></tr>",
            a.accuracy_pct,
            int(a.total_nav),
            int(a.validation_fail_count),
            k = esc(&day_text(d))
        );
    }
    t.push_str("</table>");
    let title = "Navigation accuracy per day (nav against validation_fail)";
    section(o, "accuracy", title, &svg, "", &t);
    Ok(())
}

fn sessions_section(o: &mut String, f: &Figures) -> Result<()> {
    let label = |id: &Option<String>| id.clone().unwrap_or_else(|| "(no session)".to_owned());
    let labels: Vec<String> = f.top_sessions.iter().map(|s| label(&s.id)).collect();
    let values: Vec<f64> = f.top_sessions.iter().map(|s| s.cost).collect();
    let svg = charts::ranked_bars(&labels, &values, "USD")?;
    let mut t = String::from(
        "<table id=\"sessions-table\"><tr><th>#</th><th class=\"t\">session</th><th>cost</th>\
         <th>records</th><th class=\"t\">models</th><th>first</th><th>last</th></tr>",
    );
    for (i, s) in f.top_sessions.iter().enumerate() {
        let models: Vec<&str> = s.group.models.iter().map(String::as_str).collect();
        let ts = |x: Option<Timestamp>| x.map_or("-".to_owned(), |t| t.to_python_string());
        let _ = write!(
            t,
            "<tr data-cost=\"{}\"><td>{}</td><td class=\"t id\">{}</td><td>{}</td><td>{}</td><td class=\"t id\">{}</td>\
             <td>{}</td><td>{}</td></tr>",
            exact(s.cost),
            i + 1,
            esc(&labels[i]),
            dollars(s.cost),
            int(s.group.records),
            esc(&models.join(" ")),
            esc(&ts(s.group.first_ts)),
            esc(&ts(s.group.last_ts)),
        );
    }
    t.push_str("</table>");
    section(o, "sessions", "Top sessions by cost", &svg, "", &t);
    Ok(())
}

fn files_section(o: &mut String, f: &Figures) -> Result<()> {
    let labels: Vec<String> = f.top_files.iter().map(|(p, _)| p.clone()).collect();
    let values: Vec<f64> = f.top_files.iter().map(|(_, n)| *n as f64).collect();
    let svg = charts::ranked_bars(&labels, &values, "records")?;
    let mut t = String::from(
        "<table id=\"files-table\"><tr><th>#</th><th class=\"t\">file</th><th>records</th></tr>",
    );
    for (i, (p, n)) in f.top_files.iter().enumerate() {
        let _ = write!(
            t,
            "<tr><td>{}</td><td class=\"t id\">{}</td><td>{}</td></tr>",
            i + 1,
            esc(p),
            int(*n)
        );
    }
    let _ = write!(
        t,
        "</table><p class=\"note\">{} distinct files in the window.</p>",
        int(f.files as u64)
    );
    section(o, "files", "Most-touched files", &svg, "", &t);
    Ok(())
}

fn health_section(o: &mut String, f: &Figures) {
    let h = &f.health;
    let r = &h.read;
    let mut rows: Vec<(String, String)> = vec![
        ("segments read for this window".into(), int(r.segments)),
        (
            "segments answered without reading (outside the window)".into(),
            int(h.pruned),
        ),
        ("lines read".into(), int(r.records + r.malformed)),
        ("malformed lines (skipped)".into(), int(r.malformed)),
        ("torn tails".into(), int(r.torn_tails)),
        ("torn fragments".into(), int(r.torn_fragments)),
        ("damaged segments".into(), int(r.damaged_segments)),
    ];
    match &h.store {
        None => rows.push((
            "store".into(),
            "a table store: no segments, no sealing".into(),
        )),
        Some(s) => {
            rows.push(("archives (.gz)".into(), int(s.archives as u64)));
            rows.push(("sealed plain segments".into(), int(s.sealed as u64)));
            rows.push(("live file".into(), if s.live { "yes" } else { "no" }.into()));
            rows.push(("bytes on disk".into(), int(s.bytes_on_disk)));
            rows.push((
                "quarantined torn tails".into(),
                int(s.quarantine_files as u64),
            ));
            rows.extend(seal_rows(s.seal.as_ref()));
        }
    }
    let mut t = String::from("<table id=\"health-table\">");
    for (k, v) in rows {
        let _ = write!(
            t,
            "<tr><td class=\"t\">{}</td><td>{}</td></tr>",
            esc(&k),
            esc(&v)
        );
    }
    t.push_str(
        "</table><p class=\"note\">Counts of what this report read; <code>scout-audit verify</code> \
         checks the whole store, and only <code>scout-audit verify --key</code> proves the sealed \
         lines are as sealed: the sealing figures here are the seal log's, unverified.</p>",
    );
    let _ = writeln!(
        o,
        "<section id=\"health\"><h2>Store health</h2>{t}</section>"
    );
}

fn seal_rows(seal: Option<&scout_audit_store_file::seal::SealStatus>) -> Vec<(String, String)> {
    let Some(s) = seal else {
        return vec![("sealed".into(), "no (no seal log)".into())];
    };
    let time = s
        .last_seal_time
        .and_then(|t| Timestamp::from_unix(i64::try_from(t).ok()?, 0))
        .map_or("-".to_owned(), |t| t.to_python_string());
    vec![
        (
            "sealed".into(),
            if s.sealed_lines.is_some() {
                "yes (unverified)"
            } else {
                "set up, no seal yet"
            }
            .into(),
        ),
        (
            "lines the last seal covers".into(),
            s.sealed_lines.map_or("-".into(), int),
        ),
        ("last seal".into(), time),
        ("lines after the last seal".into(), int(s.unsealed_lines)),
    ]
}
