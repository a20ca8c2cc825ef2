//! How the read commands' answers are printed: one printer per answer,
//! for every format (table, CSV, JSON), and the stderr lines about what a
//! scan skipped. Nothing here reads a store.

use std::io::{self, Write};

use anyhow::{Result, bail};
use scout_audit_core::Timestamp;
use scout_audit_core::agg::{AccuracyMetrics, GroupBy, SpendBy, SumOverflow};
use scout_audit_scan::{ScanReport, Spend};
use serde_json::json;

use super::backend::{FileStats, StatsAnswer, Verified, VerifySummary};
use crate::output::{Format, print_rows, report_skipped, terminal_text};

/// Tells stderr, in one summary, what was skipped, and which indexes
/// could not be used (their archives were read instead).
pub fn report_skips(report: &ScanReport) {
    let first = report.read.problems.first().map(ToString::to_string);
    report_skipped(report.read.problem_count(), first.as_deref());
    report_indexes(report);
}

/// Tells stderr how many indexes were not used: an index never changes an
/// answer silently (docs/format.md, "Archive indexes").
pub fn report_indexes(report: &ScanReport) {
    let n = report.index_mismatches.len();
    if let Some(first) = report.index_mismatches.first() {
        let (idx, their, arch, it) = if n == 1 {
            ("index", "its", "archive", "it")
        } else {
            ("indexes", "their", "archives", "them")
        };
        eprintln!(
            "scout-audit: {n} {idx} did not match {their} {arch}; read the {arch} instead \
             (first: {}); `scout-audit verify` names {it}, `scout-audit index` rewrites {it}",
            first.display()
        );
    }
    let n = report.unvouched_indexes.len();
    if let Some(first) = report.unvouched_indexes.first() {
        let (idx, arch) = if n == 1 {
            ("index", "archive")
        } else {
            ("indexes", "archives")
        };
        eprintln!(
            "scout-audit: {n} {idx} not vouched for by the store's seals; read the {arch} instead \
             (first: {}); `scout-audit seal` vouches for those of sealed archives, \
             `scout-audit verify --key` names an edited one",
            first.display()
        );
    }
    let n = report.outdated_indexes;
    if n > 0 {
        let (idx, it) = if n == 1 {
            ("index", "it")
        } else {
            ("indexes", "them")
        };
        eprintln!(
            "scout-audit: {n} {idx} of an older format not used; `scout-audit index` rewrites {it}"
        );
    }
}

/// `query --count`'s answer: the number, or `{"count": N}`.
pub fn print_count(out: &mut dyn Write, format: Option<Format>, n: u64) -> io::Result<()> {
    match Format::or_default(format, Format::Table) {
        Format::Json | Format::Jsonl => writeln!(out, "{}", json!({ "count": n })),
        _ => writeln!(out, "{n}"),
    }
}

/// A total cost, or the error `spend` gives when the exact sum has no
/// double value (never a wrong number): `group` names a `--by` group.
pub(super) fn cost_value(
    sum: Result<f64, SumOverflow>,
    group: Option<Option<&str>>,
) -> Result<f64> {
    let of = match group {
        None => "the selected records".to_owned(),
        Some(Some(k)) => format!("the selected records in group {k:?}"),
        Some(None) => "the selected records without a group key".to_owned(),
    };
    let why = match sum {
        Ok(x) => return Ok(x),
        Err(SumOverflow::Positive) => "overflows (exceeds 1.8e308): at least one cost is absurd",
        Err(SumOverflow::Negative) => "overflows (below -1.8e308): at least one cost is absurd",
        Err(SumOverflow::NotFinite) => "is not a number: at least one cost is infinite or NaN",
    };
    bail!(
        "total cost of {of} {why}; `scout-audit query --format jsonl` lists the records with their costs"
    )
}

pub(super) fn fmt_cost(x: f64) -> String {
    // Shortest round-trip form, as JSON writes it.
    serde_json::to_string(&x).unwrap_or_else(|_| x.to_string())
}

/// `spend`'s answer when the window is empty (`--hours 0` or less): the
/// Python original answers 0.0 without reading.
pub fn print_no_spend(out: &mut dyn Write, format: Format) -> io::Result<()> {
    match format {
        Format::Json | Format::Jsonl => {
            writeln!(out, "{}", json!({"total_cost": 0.0, "records": 0}))
        }
        _ => writeln!(out, "total_cost  0.0\nrecords     0"),
    }
}

/// `spend`'s answer in a format. A pair grouping (`--by day,model`)
/// gives each group its period as `key` and its model as `model` (JSON),
/// or a column each (table, CSV).
pub fn print_spend(
    out: &mut dyn Write,
    format: Format,
    by: Option<GroupBy>,
    since: Timestamp,
    spend: &Spend,
) -> Result<()> {
    // Every cost is checked before anything is printed.
    let total = cost_value(spend.total, None)?;
    let groups = spend.groups.as_ref();
    let paired = by.and_then(GroupBy::pair).is_some();
    let costs: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.pairs())
        .map(|(k, m, g)| {
            let name = match (k, m) {
                (k, Some(m)) if paired => format!("{} / {m}", k.unwrap_or("-")),
                (k, None) if paired => format!("{} / -", k.unwrap_or("-")),
                (Some(k), _) => k.to_owned(),
                (None, _) => return cost_value(g.cost.value(), Some(None)),
            };
            cost_value(g.cost.value(), Some(Some(&name)))
        })
        .collect::<Result<_>>()?;
    match format {
        Format::Json | Format::Jsonl => {
            let mut v = json!({
                "total_cost": total,
                "records": spend.records,
                "since": since.to_python_string(),
            });
            if let Some(g) = groups {
                v["groups"] = g
                    .pairs()
                    .zip(&costs)
                    .map(|((k, m, g), cost)| {
                        let mut row = json!({"key": k});
                        if paired {
                            row["model"] = json!(m);
                        }
                        row["records"] = json!(g.records);
                        row["cost"] = json!(cost);
                        row["input_t"] = json!(g.input_t);
                        row["output_t"] = json!(g.output_t);
                        row
                    })
                    .collect();
            }
            writeln!(out, "{v}")?;
        }
        Format::Table | Format::Csv => {
            if let Some(g) = groups {
                print_spend_groups(out, format, by, g, &costs)?;
            }
            if format == Format::Table {
                writeln!(out, "total_cost  {}", fmt_cost(total))?;
                writeln!(out, "records     {}", spend.records)?;
                writeln!(out, "since       {}", since.to_python_string())?;
            }
        }
    }
    Ok(())
}

/// The column header of a grouping's key.
fn key_header(by: GroupBy) -> &'static str {
    match by {
        GroupBy::Hour => "HOUR",
        GroupBy::Day => "DAY",
        GroupBy::Week => "WEEK",
        GroupBy::Month => "MONTH",
        GroupBy::Model => "MODEL",
        _ => "SESSION",
    }
}

/// `spend --by`'s groups as rows, `costs` checked already.
fn print_spend_groups(
    out: &mut dyn Write,
    format: Format,
    by: Option<GroupBy>,
    groups: &SpendBy,
    costs: &[f64],
) -> Result<()> {
    let pair = by.and_then(GroupBy::pair);
    let mut headers = match (by, pair) {
        (_, Some((a, b))) => vec![key_header(a), key_header(b)],
        (Some(b), None) => vec![key_header(b)],
        (None, None) => vec!["SESSION"],
    };
    headers.extend(["RECORDS", "COST", "INPUT_T", "OUTPUT_T"]);
    let rows: Vec<Vec<String>> = groups
        .pairs()
        .zip(costs)
        .map(|((k, m, g), &cost)| {
            let mut row = vec![k.unwrap_or("-").to_owned()];
            if pair.is_some() {
                row.push(m.unwrap_or("-").to_owned());
            }
            row.extend([
                g.records.to_string(),
                fmt_cost(cost),
                g.input_t.to_string(),
                g.output_t.to_string(),
            ]);
            row
        })
        .collect();
    print_rows(out, format, &headers, &rows)?;
    if format == Format::Table {
        writeln!(out)?;
    }
    Ok(())
}

/// `accuracy`'s answer in a format.
pub fn print_accuracy(out: &mut dyn Write, format: Format, m: &AccuracyMetrics) -> Result<()> {
    match format {
        Format::Json | Format::Jsonl => writeln!(out, "{}", serde_json::to_string(m)?)?,
        f => print_rows(
            out,
            f,
            &["TOTAL_NAV", "VALIDATION_FAIL_COUNT", "ACCURACY_PCT"],
            &[vec![
                m.total_nav.to_string(),
                m.validation_fail_count.to_string(),
                format!("{:.2}", m.accuracy_pct),
            ]],
        )?,
    }
    Ok(())
}

fn ts_text(t: Option<Timestamp>) -> Option<String> {
    t.map(|t| t.to_python_string())
}

/// `stats`'s answer in a format.
pub fn print_stats(out: &mut dyn Write, format: Format, st: &StatsAnswer) -> Result<()> {
    match format {
        Format::Json | Format::Jsonl => print_stats_json(out, st),
        f => print_stats_rows(out, f, st),
    }
}

fn print_stats_json(out: &mut dyn Write, st: &StatsAnswer) -> Result<()> {
    let events: serde_json::Map<String, serde_json::Value> = st
        .events
        .iter()
        .map(|(k, n)| (k.to_owned(), json!(n)))
        .collect();
    let mut v = json!({
        "path": st.path,
        "records": st.records,
        "events": events,
        "records_without_event": st.events.untyped,
        "records_without_ts": st.without_ts,
        "sessions": st.sessions,
        "first_ts": ts_text(st.first_ts),
        "last_ts": ts_text(st.last_ts),
    });
    if let Some(files) = &st.files {
        let r = &files.read;
        let more = json!({
            "segments": {"archives": files.archives, "sealed": files.sealed, "live": files.live},
            "bytes_on_disk": files.bytes_on_disk,
            "bytes_read": r.bytes,
            "malformed": r.malformed,
            "torn_tails": r.torn_tails,
            "torn_fragments": r.torn_fragments,
            "damaged_segments": r.damaged_segments,
            "problems": r.problems.iter().take(100).map(ToString::to_string).collect::<Vec<_>>(),
            "quarantine_files": files.quarantine_files,
        });
        if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), more) {
            obj.extend(more);
        }
        if let Some(top) = &files.top_files {
            v["top_files"] = top
                .counts
                .top(top.n)
                .into_iter()
                .map(|(f, n)| json!({"file": f, "records": n}))
                .collect();
        }
    }
    writeln!(out, "{v}")?;
    Ok(())
}

fn print_stats_rows(out: &mut dyn Write, f: Format, st: &StatsAnswer) -> Result<()> {
    let mut rows = vec![
        vec!["path".into(), st.path.clone()],
        vec!["records".into(), st.records.to_string()],
        vec!["sessions".into(), st.sessions.to_string()],
        vec![
            "first ts".into(),
            ts_text(st.first_ts).unwrap_or_else(|| "-".into()),
        ],
        vec![
            "last ts".into(),
            ts_text(st.last_ts).unwrap_or_else(|| "-".into()),
        ],
        vec!["records without ts".into(), st.without_ts.to_string()],
    ];
    if let Some(files) = &st.files {
        rows.extend(file_rows(files));
    }
    print_rows(out, f, &["STAT", "VALUE"], &rows)?;
    writeln!(out)?;
    let mut ev: Vec<Vec<String>> = st
        .events
        .iter()
        .map(|(k, n)| vec![k.to_owned(), n.to_string()])
        .collect();
    // Only files tell of records without an event (as they always have).
    if st.files.is_some() && st.events.untyped > 0 {
        ev.push(vec!["(no event)".into(), st.events.untyped.to_string()]);
    }
    print_rows(out, f, &["EVENT", "RECORDS"], &ev)?;
    let Some(files) = &st.files else {
        return Ok(());
    };
    if let Some(top) = &files.top_files {
        writeln!(out)?;
        let rows: Vec<Vec<String>> = top
            .counts
            .top(top.n)
            .into_iter()
            .map(|(f, n)| vec![f.to_owned(), n.to_string()])
            .collect();
        print_rows(out, f, &["FILE", "RECORDS"], &rows)?;
    }
    let r = &files.read;
    if !r.problems.is_empty() {
        writeln!(out)?;
        for p in r.problems.iter().take(20) {
            writeln!(out, "{}", terminal_text(&p.to_string()))?;
        }
        if r.problem_count() > 20 {
            writeln!(out, "... and {} more", r.problem_count() - 20)?;
        }
    }
    Ok(())
}

/// The `STAT` rows only files have.
fn file_rows(files: &FileStats) -> Vec<Vec<String>> {
    let r = &files.read;
    vec![
        vec![
            "segments".into(),
            format!(
                "{} archives, {} sealed, {} live",
                files.archives,
                files.sealed,
                u8::from(files.live)
            ),
        ],
        vec!["bytes on disk".into(), files.bytes_on_disk.to_string()],
        vec!["bytes read".into(), r.bytes.to_string()],
        vec!["malformed lines".into(), r.malformed.to_string()],
        vec!["torn tails".into(), r.torn_tails.to_string()],
        vec!["torn fragments".into(), r.torn_fragments.to_string()],
        vec!["damaged segments".into(), r.damaged_segments.to_string()],
        vec![
            "quarantine files".into(),
            files.quarantine_files.to_string(),
        ],
    ]
}

/// `verify`'s answer: at most `max` problems and notes, then one line.
pub fn print_verify(out: &mut dyn Write, v: &Verified, max: usize) -> Result<()> {
    let shown = v.problems.len().min(max);
    for l in &v.problems[..shown] {
        writeln!(out, "{}", terminal_text(l))?;
    }
    // The count, not the list: only the first problems of each kind are
    // listed, and a hostile store can hold one a record.
    let unshown = v.problem_count.max(v.problems.len() as u64) - shown as u64;
    if unshown > 0 {
        writeln!(out, "... and {unshown} more")?;
    }
    for q in &v.quarantine {
        writeln!(
            out,
            "note: quarantined torn tail from an earlier recovery: {}",
            terminal_text(&q.display().to_string())
        )?;
    }
    for s in &v.uncompressed {
        writeln!(
            out,
            "note: sealed segment not yet compressed: {}",
            terminal_text(&s.display().to_string())
        )?;
    }
    for n in v.notes.iter().take(max) {
        writeln!(out, "{n}")?;
    }
    for i in &v.outdated_indexes {
        writeln!(
            out,
            "note: index of format version {}, not used (`scout-audit index` rewrites it): {}",
            i.version,
            terminal_text(&i.path.display().to_string())
        )?;
    }
    let verdict = if v.ok {
        "OK".to_string()
    } else {
        let n = v.problem_count;
        format!("{n} problem{}", if n == 1 { "" } else { "s" })
    };
    match &v.summary {
        VerifySummary::Files {
            records,
            sessions,
            segments,
            bytes,
        } => writeln!(
            out,
            "{records} records, {sessions} sessions, {segments} segments, {bytes} bytes: {verdict}"
        )?,
        VerifySummary::Table {
            records,
            sessions,
            addr,
        } => {
            if v.notes.len() > max {
                writeln!(
                    out,
                    "note: ... and {} more such breaks",
                    v.notes.len() - max
                )?;
            }
            writeln!(
                out,
                "{records} records, {sessions} sessions in {}: {verdict}",
                terminal_text(addr)
            )?;
        }
    }
    Ok(())
}
