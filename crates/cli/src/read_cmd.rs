//! The read commands: query, tail, spend, accuracy, stats, verify. None of
//! them writes into the store.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use scout_audit_core::agg::{
    Accuracy, EventCounts, ExactSum, GroupBy, LastN, SpendBy, spend_cutoff,
};
use scout_audit_core::{Filter, Record, Timestamp};
use scout_audit_store_file::follow::{Follow, Followed};
use scout_audit_store_file::fs::{Fs, RealFs};
use scout_audit_store_file::reader::ReadReport;
use scout_audit_store_file::{Layout, Reader};
use serde_json::json;

use crate::Cli;
use crate::args::TimeArg;
use crate::output::{Format, RecordPrinter, print_rows};

/// Conditions shared by the commands that select records.
#[derive(Args, Debug, Clone)]
pub struct Select {
    /// Records at or after this time (2h, 30d, 2026-11-27, RFC 3339).
    #[arg(long, value_parser = TimeArg::parse)]
    since: Option<TimeArg>,
    /// Records before this time.
    #[arg(long, value_parser = TimeArg::parse)]
    until: Option<TimeArg>,
    /// Only this event type (repeat for several).
    #[arg(long = "event", value_name = "EVENT")]
    events: Vec<String>,
    /// Only this session.
    #[arg(long)]
    session: Option<String>,
    /// Only this model.
    #[arg(long)]
    model: Option<String>,
    /// Fail on the first malformed line instead of skipping it.
    #[arg(long)]
    strict: bool,
}

impl Select {
    fn filter(&self, now: Timestamp) -> Filter {
        let mut f = Filter::new()
            .with_since(self.since.map(|t| t.resolve(now)))
            .with_until(self.until.map(|t| t.resolve(now)));
        for e in &self.events {
            f = f.event(e.clone());
        }
        if let Some(s) = &self.session {
            f = f.session(s.clone());
        }
        if let Some(m) = &self.model {
            f = f.model(m.clone());
        }
        f
    }
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    #[command(flatten)]
    select: Select,
    /// At most this many records (the first in log order).
    #[arg(long)]
    limit: Option<u64>,
    /// Print only the number of matching records.
    #[arg(long)]
    count: bool,
    /// Output format [default: table on a terminal, else jsonl].
    #[arg(long, value_enum)]
    format: Option<Format>,
}

#[derive(Args, Debug)]
pub struct TailArgs {
    /// How many of the last records to print.
    #[arg(short = 'n', long = "lines", default_value_t = 10)]
    n: usize,
    /// Keep printing records as they are logged, across rotations.
    #[arg(short = 'f', long)]
    follow: bool,
    /// Only this event type (repeat for several).
    #[arg(long = "event", value_name = "EVENT")]
    events: Vec<String>,
    /// Output format [default: table on a terminal, else jsonl].
    #[arg(long, value_enum)]
    format: Option<Format>,
}

/// How `spend` groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// UTC hour.
    Hour,
    /// UTC day.
    Day,
    /// Model.
    Model,
    /// Session.
    Session,
}

#[derive(Args, Debug)]
pub struct SpendArgs {
    /// The window: records with ts >= now - HOURS (the Python hourly_spend) [default: 1].
    #[arg(long, conflicts_with = "since", allow_negative_numbers = true)]
    hours: Option<f64>,
    /// The window: records at or after this time instead.
    #[arg(long, value_parser = TimeArg::parse)]
    since: Option<TimeArg>,
    /// Group the spend.
    #[arg(long, value_enum)]
    by: Option<By>,
    /// Output format [default: table on a terminal, else json].
    #[arg(long, value_enum)]
    format: Option<Format>,
}

#[derive(Args, Debug)]
pub struct AccuracyArgs {
    /// Records at or after this time [default: all].
    #[arg(long, value_parser = TimeArg::parse)]
    since: Option<TimeArg>,
    /// Output format [default: table on a terminal, else json].
    #[arg(long, value_enum)]
    format: Option<Format>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Output format [default: table on a terminal, else json].
    #[arg(long, value_enum)]
    format: Option<Format>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Print at most this many problems (all are counted).
    #[arg(long, default_value_t = 50)]
    max_problems: usize,
}

fn open_reader(cli: &Cli) -> Result<(Reader, Layout, Arc<dyn Fs>)> {
    let path = cli.store_path()?;
    let layout = Layout::new(&path)
        .map_err(|r| anyhow::anyhow!("invalid store path {}: {r}", path.display()))?;
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    Ok((
        Reader::open_store(Arc::clone(&fs), layout.clone())?,
        layout,
        fs,
    ))
}

/// Tells stderr, in one summary, what was skipped.
fn report_skips(report: &ReadReport) {
    let n = report.problem_count();
    if n == 0 {
        return;
    }
    let first = report
        .problems
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    eprintln!(
        "scout-audit: skipped {n} malformed or damaged item{} (first: {first}); `scout-audit verify` lists them",
        if n == 1 { "" } else { "s" }
    );
}

pub fn query(cli: &Cli, a: &QueryArgs) -> Result<ExitCode> {
    let now = cli.now();
    let (reader, ..) = open_reader(cli)?;
    let mut reader = reader.filter(a.select.filter(now)).strict(a.select.strict);
    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 16, stdout);
    let limit = a.limit.unwrap_or(u64::MAX);
    if a.count {
        let mut n: u64 = 0;
        while n < limit {
            let Some(r) = reader.next() else { break };
            r?;
            n += 1;
        }
        match Format::or_default(a.format, Format::Table) {
            Format::Json | Format::Jsonl => writeln!(out, "{}", json!({ "count": n }))?,
            _ => writeln!(out, "{n}")?,
        }
    } else {
        let mut p = RecordPrinter::new(&mut out, Format::or_default(a.format, Format::Jsonl));
        let mut n: u64 = 0;
        while n < limit {
            let Some(r) = reader.next() else { break };
            p.print(&r?)?;
            n += 1;
        }
        p.flush()?;
    }
    out.flush()?;
    report_skips(reader.report());
    Ok(ExitCode::SUCCESS)
}

pub fn tail(cli: &Cli, a: &TailArgs) -> Result<ExitCode> {
    let mut f = Filter::new();
    for e in &a.events {
        f = f.event(e.clone());
    }
    let format = Format::or_default(a.format, Format::Jsonl);
    let mut p = RecordPrinter::new(io::stdout().lock(), format);
    if !a.follow {
        let (reader, ..) = open_reader(cli)?;
        let mut reader = reader.filter(f);
        let mut last = LastN::new(a.n);
        for r in &mut reader {
            last.push(r?);
        }
        for r in last.into_vec() {
            p.print(&r)?;
        }
        p.flush()?;
        report_skips(reader.report());
        return Ok(ExitCode::SUCCESS);
    }
    let path = cli.store_path()?;
    let layout = Layout::new(&path)
        .map_err(|r| anyhow::anyhow!("invalid store path {}: {r}", path.display()))?;
    let mut follow = Follow::start(Arc::new(RealFs), layout)?;
    let mut backlog: Option<LastN<Record>> = Some(LastN::new(a.n));
    loop {
        match follow.next_record()? {
            Followed::Record(r) => {
                if !f.matches(&r) {
                    continue;
                }
                match &mut backlog {
                    Some(b) => b.push(r),
                    None => {
                        p.print(&r)?;
                        p.flush()?;
                    }
                }
            }
            Followed::CaughtUp => {
                if let Some(b) = backlog.take() {
                    for r in b.into_vec() {
                        p.print(&r)?;
                    }
                    p.flush()?;
                }
            }
        }
    }
}

fn fmt_cost(x: f64) -> String {
    // Shortest round-trip form, as JSON writes it.
    serde_json::to_string(&x).unwrap_or_else(|_| x.to_string())
}

pub fn spend(cli: &Cli, a: &SpendArgs) -> Result<ExitCode> {
    let now = cli.now();
    let since = match (a.hours, a.since) {
        (_, Some(t)) => Some(t.resolve(now)),
        (h, None) => spend_cutoff(now, h.unwrap_or(1.0)),
    };
    let format = Format::or_default(a.format, Format::Json);
    let mut out = io::stdout().lock();
    // hours <= 0: the Python original answers 0.0 without reading.
    let Some(since) = since else {
        match format {
            Format::Json | Format::Jsonl => {
                writeln!(out, "{}", json!({"total_cost": 0.0, "records": 0}))?
            }
            _ => writeln!(out, "total_cost  0.0\nrecords     0")?,
        }
        return Ok(ExitCode::SUCCESS);
    };
    let (reader, ..) = open_reader(cli)?;
    let mut reader = reader.filter(Filter::new().since(since));
    let mut total = ExactSum::new();
    let mut records: u64 = 0;
    let mut groups = a.by.map(|b| {
        SpendBy::new(match b {
            By::Hour => GroupBy::Hour,
            By::Day => GroupBy::Day,
            By::Model => GroupBy::Model,
            By::Session => GroupBy::Session,
        })
    });
    for r in &mut reader {
        let r = r?;
        records += 1;
        total.add(r.cost().unwrap_or(0.0));
        if let Some(g) = &mut groups {
            g.add(&r);
        }
    }
    let total = total.value();
    match format {
        Format::Json | Format::Jsonl => {
            let mut v = json!({
                "total_cost": total,
                "records": records,
                "since": since.to_python_string(),
            });
            if let Some(g) = &groups {
                v["groups"] = g
                    .groups()
                    .map(|(k, g)| {
                        json!({
                            "key": k,
                            "records": g.records,
                            "cost": g.cost.value(),
                            "input_t": g.input_t,
                            "output_t": g.output_t,
                        })
                    })
                    .collect();
            }
            writeln!(out, "{v}")?;
        }
        Format::Table | Format::Csv => {
            if let Some(g) = &groups {
                let by = match a.by {
                    Some(By::Hour) => "HOUR",
                    Some(By::Day) => "DAY",
                    Some(By::Model) => "MODEL",
                    _ => "SESSION",
                };
                let rows: Vec<Vec<String>> = g
                    .groups()
                    .map(|(k, g)| {
                        vec![
                            k.unwrap_or("-").to_owned(),
                            g.records.to_string(),
                            fmt_cost(g.cost.value()),
                            g.input_t.to_string(),
                            g.output_t.to_string(),
                        ]
                    })
                    .collect();
                print_rows(
                    &mut out,
                    format,
                    &[by, "RECORDS", "COST", "INPUT_T", "OUTPUT_T"],
                    &rows,
                )?;
                if format == Format::Table {
                    writeln!(out)?;
                }
            }
            if format == Format::Table {
                writeln!(out, "total_cost  {}", fmt_cost(total))?;
                writeln!(out, "records     {records}")?;
                writeln!(out, "since       {}", since.to_python_string())?;
            }
        }
    }
    report_skips(reader.report());
    Ok(ExitCode::SUCCESS)
}

pub fn accuracy(cli: &Cli, a: &AccuracyArgs) -> Result<ExitCode> {
    let now = cli.now();
    let (reader, ..) = open_reader(cli)?;
    let mut reader = reader.filter(Filter::new().with_since(a.since.map(|t| t.resolve(now))));
    let mut acc = Accuracy::default();
    for r in &mut reader {
        acc.add(r?.event());
    }
    let m = acc.finish();
    let mut out = io::stdout().lock();
    match Format::or_default(a.format, Format::Json) {
        Format::Json | Format::Jsonl => writeln!(out, "{}", serde_json::to_string(&m)?)?,
        f => print_rows(
            &mut out,
            f,
            &["TOTAL_NAV", "VALIDATION_FAIL_COUNT", "ACCURACY_PCT"],
            &[vec![
                m.total_nav.to_string(),
                m.validation_fail_count.to_string(),
                format!("{:.2}", m.accuracy_pct),
            ]],
        )?,
    }
    report_skips(reader.report());
    Ok(ExitCode::SUCCESS)
}

pub fn stats(cli: &Cli, a: &StatsArgs) -> Result<ExitCode> {
    let (mut reader, layout, fs) = open_reader(cli)?;
    let mut counts = EventCounts::default();
    let mut first: Option<Timestamp> = None;
    let mut last: Option<Timestamp> = None;
    let mut without_ts: u64 = 0;
    let mut sessions = std::collections::HashSet::new();
    for r in &mut reader {
        let r = r?;
        counts.add(r.event());
        match r.ts() {
            Some(t) => {
                first = Some(first.map_or(t, |f| f.min(t)));
                last = Some(last.map_or(t, |l| l.max(t)));
            }
            None => without_ts += 1,
        }
        if let Some(s) = r.session_id()
            && !sessions.contains(s)
        {
            sessions.insert(s.to_owned());
        }
    }
    let report = reader.report().clone();
    let listing = layout.list(&*fs)?;
    let mut seg_bytes = BTreeMap::new();
    let mut disk: u64 = 0;
    for s in &listing.readable {
        let n = fs.stat(&s.path).map(|m| m.len).unwrap_or(0);
        disk += n;
        seg_bytes.insert(s.name.clone(), n);
    }
    let live = fs.stat(&layout.live()).map(|m| m.len).ok();
    disk += live.unwrap_or(0);
    let archives = listing.archives().count();
    let sealed = listing.readable.len() - archives;
    let ts_text = |t: Option<Timestamp>| t.map(|t| t.to_python_string());
    let mut out = io::stdout().lock();
    match Format::or_default(a.format, Format::Json) {
        Format::Json | Format::Jsonl => {
            let events: serde_json::Map<String, serde_json::Value> = counts
                .iter()
                .map(|(k, n)| (k.to_owned(), json!(n)))
                .collect();
            let v = json!({
                "path": layout.live().display().to_string(),
                "records": report.records,
                "events": events,
                "records_without_event": counts.untyped,
                "records_without_ts": without_ts,
                "sessions": sessions.len(),
                "first_ts": ts_text(first),
                "last_ts": ts_text(last),
                "segments": {"archives": archives, "sealed": sealed, "live": live.is_some()},
                "bytes_on_disk": disk,
                "bytes_read": report.bytes,
                "malformed": report.malformed,
                "torn_tails": report.torn_tails,
                "torn_fragments": report.torn_fragments,
                "damaged_segments": report.damaged_segments,
                "problems": report.problems.iter().take(100).map(ToString::to_string).collect::<Vec<_>>(),
                "quarantine_files": listing.quarantine.len(),
            });
            writeln!(out, "{v}")?;
        }
        f => {
            let rows = vec![
                vec!["path".into(), layout.live().display().to_string()],
                vec!["records".into(), report.records.to_string()],
                vec!["sessions".into(), sessions.len().to_string()],
                vec![
                    "first ts".into(),
                    ts_text(first).unwrap_or_else(|| "-".into()),
                ],
                vec![
                    "last ts".into(),
                    ts_text(last).unwrap_or_else(|| "-".into()),
                ],
                vec!["records without ts".into(), without_ts.to_string()],
                vec![
                    "segments".into(),
                    format!(
                        "{archives} archives, {sealed} sealed, {} live",
                        u8::from(live.is_some())
                    ),
                ],
                vec!["bytes on disk".into(), disk.to_string()],
                vec!["bytes read".into(), report.bytes.to_string()],
                vec!["malformed lines".into(), report.malformed.to_string()],
                vec!["torn tails".into(), report.torn_tails.to_string()],
                vec!["torn fragments".into(), report.torn_fragments.to_string()],
                vec![
                    "damaged segments".into(),
                    report.damaged_segments.to_string(),
                ],
                vec![
                    "quarantine files".into(),
                    listing.quarantine.len().to_string(),
                ],
            ];
            print_rows(&mut out, f, &["STAT", "VALUE"], &rows)?;
            writeln!(out)?;
            let mut ev: Vec<Vec<String>> = counts
                .iter()
                .map(|(k, n)| vec![k.to_owned(), n.to_string()])
                .collect();
            if counts.untyped > 0 {
                ev.push(vec!["(no event)".into(), counts.untyped.to_string()]);
            }
            print_rows(&mut out, f, &["EVENT", "RECORDS"], &ev)?;
            if !report.problems.is_empty() {
                writeln!(out)?;
                for p in report.problems.iter().take(20) {
                    writeln!(out, "{p}")?;
                }
                if report.problem_count() > 20 {
                    writeln!(out, "... and {} more", report.problem_count() - 20)?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify(cli: &Cli, a: &VerifyArgs) -> Result<ExitCode> {
    let path = cli.store_path()?;
    let layout = Layout::new(&path)
        .map_err(|r| anyhow::anyhow!("invalid store path {}: {r}", path.display()))?;
    if !layout.dir().exists() {
        bail!(
            "no store at {}: the directory does not exist",
            path.display()
        );
    }
    let rep = scout_audit_store_file::verify::verify(Arc::new(RealFs), &layout)?;
    let mut out = io::stdout().lock();
    let lines = rep.problem_lines();
    for l in lines.iter().take(a.max_problems) {
        writeln!(out, "{l}")?;
    }
    if lines.len() > a.max_problems {
        writeln!(out, "... and {} more", lines.len() - a.max_problems)?;
    }
    for q in &rep.quarantine {
        writeln!(
            out,
            "note: quarantined torn tail from an earlier recovery: {}",
            q.display()
        )?;
    }
    for s in &rep.uncompressed {
        writeln!(
            out,
            "note: sealed segment not yet compressed: {}",
            s.display()
        )?;
    }
    let problems = rep.read.problem_count() + rep.seq_gap_count + rep.leftover_temps.len() as u64;
    writeln!(
        out,
        "{} records, {} sessions, {} segments, {} bytes: {}",
        rep.read.records,
        rep.sessions,
        rep.read.segments,
        rep.read.bytes,
        if rep.is_ok() {
            "OK".to_string()
        } else {
            format!("{problems} problem{}", if problems == 1 { "" } else { "s" })
        }
    )?;
    Ok(if rep.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
