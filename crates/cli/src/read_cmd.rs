//! The read commands: query, tail, spend, accuracy, stats, verify. None of
//! them writes into the store.

use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use scout_audit_core::ReadStore;
use scout_audit_core::agg::{GroupBy, LastN, spend_cutoff};
use scout_audit_core::agg::{SpendBy, SumOverflow};
use scout_audit_core::{Filter, Record, Timestamp};
use scout_audit_scan::{IndexOutcome, Inputs, Pruning, Scan, ScanReport};

use crate::addr::StoreAddr;
use scout_audit_store_file::Layout;
use scout_audit_store_file::follow::{Follow, Followed};
use scout_audit_store_file::fs::{Fs, RealFs};
use serde_json::json;

use crate::Cli;
use crate::args::TimeArg;
use crate::output::{Format, RecordPrinter, print_rows, terminal_text};
use crate::progress::with_progress;

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
    /// Files, directories or globs of .jsonl / .jsonl.gz to read instead of the store.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
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
    /// Files, directories or globs of .jsonl / .jsonl.gz to read instead of the store.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
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
    /// Files, directories or globs of .jsonl / .jsonl.gz to read instead of the store.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct AccuracyArgs {
    /// Records at or after this time [default: all].
    #[arg(long, value_parser = TimeArg::parse)]
    since: Option<TimeArg>,
    /// Output format [default: table on a terminal, else json].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Files, directories or globs of .jsonl / .jsonl.gz to read instead of the store.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Output format [default: table on a terminal, else json].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Also list the N files most often in `files`.
    #[arg(long, value_name = "N")]
    top_files: Option<usize>,
    /// Files, directories or globs of .jsonl / .jsonl.gz to read instead of the store.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct IndexArgs {
    /// The store's live file, or a directory of stores [default: --path].
    #[arg(value_name = "PATH")]
    target: Option<PathBuf>,
    /// Write every index again from its archive's records, even one that
    /// matches its archive's bytes (one forged with its digests recomputed
    /// does; `verify` names it).
    #[arg(long)]
    rebuild: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Print at most this many problems (all are counted).
    #[arg(long, default_value_t = 50)]
    max_problems: usize,
}

/// The store at `--path` when it is a table backend (SQLite, PostgreSQL)
/// and no inputs are named: read commands then run on its `ReadStore`,
/// with the filters pushed down to SQL.
fn table(cli: &Cli, given: &[PathBuf]) -> Result<Option<Box<dyn ReadStore>>> {
    if !given.is_empty() {
        return Ok(None);
    }
    match cli.store_addr()? {
        StoreAddr::File(_) => Ok(None),
        addr => Ok(Some(cli.open_read(&addr)?)),
    }
}

/// The inputs of a read command: the positional ones, else the store.
fn inputs(cli: &Cli, given: &[PathBuf]) -> Result<Inputs> {
    if given.is_empty() {
        Ok(Inputs::store(cli.store_path()?)?)
    } else {
        Ok(Inputs::paths(given)?)
    }
}

/// A scan of the command's inputs with the command line's settings.
fn scan(cli: &Cli, given: &[PathBuf]) -> Result<Scan> {
    Ok(configure(cli, Scan::new(inputs(cli, given)?)))
}

fn configure(cli: &Cli, scan: Scan) -> Scan {
    scan.threads(cli.threads).pruning(if cli.no_prune {
        Pruning::Off
    } else {
        Pruning::SealTime
    })
}

/// Tells stderr, in one summary, what was skipped, and which indexes
/// could not be used (their archives were read instead).
fn report_skips(report: &ScanReport) {
    let first = report.read.problems.first().map(ToString::to_string);
    crate::output::report_skipped(report.read.problem_count(), first.as_deref());
    report_indexes(report);
}

/// Tells stderr how many indexes were not used: an index never changes an
/// answer silently (docs/format.md, "Archive indexes").
fn report_indexes(report: &ScanReport) {
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

pub fn query(cli: &Cli, a: &QueryArgs) -> Result<ExitCode> {
    let now = cli.now();
    if let Some(t) = table(cli, &a.inputs)? {
        let f = a.select.filter(now);
        let limit = a.limit.unwrap_or(u64::MAX);
        let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
        if a.count {
            print_count(&mut out, a.format, t.count(&f)?.min(limit))?;
        } else {
            let mut p = RecordPrinter::new(&mut out, Format::or_default(a.format, Format::Jsonl));
            for r in t
                .scan(&f)?
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
            {
                p.print(&r?)?;
            }
            p.flush()?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let scan = scan(cli, &a.inputs)?
        .filter(a.select.filter(now))
        .strict(a.select.strict);
    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 16, stdout);
    let limit = a.limit.unwrap_or(u64::MAX);
    let report = if a.count {
        let answer = with_progress(scan, |s| s.count())?;
        print_count(&mut out, a.format, answer.value.min(limit))?;
        answer.report
    } else {
        let mut p = RecordPrinter::new(&mut out, Format::or_default(a.format, Format::Jsonl));
        let mut n: u64 = 0;
        let mut failed: Option<io::Error> = None;
        let r = if limit == 0 {
            Ok(ScanReport::default())
        } else {
            with_progress(scan, |s| {
                s.for_each_record(|r| {
                    if let Err(e) = p.print(&r) {
                        failed = Some(e);
                        return ControlFlow::Break(());
                    }
                    n += 1;
                    if n >= limit {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                })
            })
        };
        if let Some(e) = failed {
            return Err(e.into());
        }
        p.flush()?;
        match r {
            Ok(report) => report,
            Err(e) => {
                out.flush()?;
                return Err(e.into());
            }
        }
    };
    out.flush()?;
    report_skips(&report);
    Ok(ExitCode::SUCCESS)
}

/// `query --count`'s answer: the number, or `{"count": N}`.
fn print_count(out: &mut dyn Write, format: Option<Format>, n: u64) -> io::Result<()> {
    match Format::or_default(format, Format::Table) {
        Format::Json | Format::Jsonl => writeln!(out, "{}", json!({ "count": n })),
        _ => writeln!(out, "{n}"),
    }
}

pub fn tail(cli: &Cli, a: &TailArgs) -> Result<ExitCode> {
    let mut f = Filter::new();
    for e in &a.events {
        f = f.event(e.clone());
    }
    let format = Format::or_default(a.format, Format::Jsonl);
    let mut p = RecordPrinter::new(io::stdout().lock(), format);
    if !a.follow {
        if let Some(t) = table(cli, &a.inputs)? {
            for r in &t.last(&f, a.n)? {
                p.print(r)?;
            }
            p.flush()?;
            return Ok(ExitCode::SUCCESS);
        }
        let answer = with_progress(scan(cli, &a.inputs)?.filter(f), |s| s.last(a.n))?;
        for r in &answer.value {
            p.print(r)?;
        }
        p.flush()?;
        report_skips(&answer.report);
        return Ok(ExitCode::SUCCESS);
    }
    if !a.inputs.is_empty() {
        bail!("tail -f follows the store at --path; it takes no INPUT arguments");
    }
    let path = cli.store_path_for("tail -f")?;
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

/// A total cost, or the error `spend` gives when the exact sum has no
/// double value (never a wrong number): `group` names a `--by` group.
fn cost_value(sum: Result<f64, SumOverflow>, group: Option<Option<&str>>) -> Result<f64> {
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
    let by = a.by.map(|b| match b {
        By::Hour => GroupBy::Hour,
        By::Day => GroupBy::Day,
        By::Model => GroupBy::Model,
        By::Session => GroupBy::Session,
    });
    if let Some(t) = table(cli, &a.inputs)? {
        // One query: the grouped answer holds the totals too.
        let s = t.spend(&Filter::new().since(since), by)?;
        print_spend(
            &mut out,
            format,
            a.by,
            since,
            s.total(),
            s.records(),
            by.map(|_| &s),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let answer = with_progress(
        scan(cli, &a.inputs)?.filter(Filter::new().since(since)),
        |s| s.spend(by),
    )?;
    print_spend(
        &mut out,
        format,
        a.by,
        since,
        answer.value.total,
        answer.value.records,
        answer.value.groups.as_ref(),
    )?;
    report_skips(&answer.report);
    Ok(ExitCode::SUCCESS)
}

/// `spend`'s answer in a format.
fn print_spend(
    out: &mut dyn Write,
    format: Format,
    by: Option<By>,
    since: Timestamp,
    total: Result<f64, SumOverflow>,
    records: u64,
    groups: Option<&SpendBy>,
) -> Result<()> {
    // Every cost is checked before anything is printed.
    let total = cost_value(total, None)?;
    let costs: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.groups())
        .map(|(k, g)| cost_value(g.cost.value(), Some(k)))
        .collect::<Result<_>>()?;
    match format {
        Format::Json | Format::Jsonl => {
            let mut v = json!({
                "total_cost": total,
                "records": records,
                "since": since.to_python_string(),
            });
            if let Some(g) = groups {
                v["groups"] = g
                    .groups()
                    .zip(&costs)
                    .map(|((k, g), cost)| {
                        json!({
                            "key": k,
                            "records": g.records,
                            "cost": cost,
                            "input_t": g.input_t,
                            "output_t": g.output_t,
                        })
                    })
                    .collect();
            }
            writeln!(out, "{v}")?;
        }
        Format::Table | Format::Csv => {
            if let Some(g) = groups {
                let by = match by {
                    Some(By::Hour) => "HOUR",
                    Some(By::Day) => "DAY",
                    Some(By::Model) => "MODEL",
                    _ => "SESSION",
                };
                let rows: Vec<Vec<String>> = g
                    .groups()
                    .zip(&costs)
                    .map(|((k, g), &cost)| {
                        vec![
                            k.unwrap_or("-").to_owned(),
                            g.records.to_string(),
                            fmt_cost(cost),
                            g.input_t.to_string(),
                            g.output_t.to_string(),
                        ]
                    })
                    .collect();
                print_rows(
                    out,
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
    Ok(())
}

pub fn accuracy(cli: &Cli, a: &AccuracyArgs) -> Result<ExitCode> {
    let now = cli.now();
    let filter = Filter::new().with_since(a.since.map(|t| t.resolve(now)));
    let (m, report) = match table(cli, &a.inputs)? {
        Some(t) => (t.accuracy(&filter)?, ScanReport::default()),
        None => {
            let answer = with_progress(scan(cli, &a.inputs)?.filter(filter), |s| s.accuracy())?;
            (answer.value, answer.report)
        }
    };
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
    report_skips(&report);
    Ok(ExitCode::SUCCESS)
}

pub fn stats(cli: &Cli, a: &StatsArgs) -> Result<ExitCode> {
    if let Some(t) = table(cli, &a.inputs)? {
        return table_stats(cli, &*t, a.format);
    }
    let ins = inputs(cli, &a.inputs)?;
    // What the inputs are on disk, before the scan reads them.
    let gz = ins
        .files()
        .filter(|p| p.extension().is_some_and(|e| e == "gz"))
        .count();
    let plain = ins.files().count() - gz;
    let in_bytes = ins.total_bytes();
    let answer = with_progress(configure(cli, Scan::new(ins)), |s| s.stats())?;
    report_indexes(&answer.report);
    let top = match a.top_files {
        Some(k) => Some((k, scan(cli, &a.inputs)?.top_files()?.value)),
        None => None,
    };
    let st = answer.value;
    let report = answer.report.read;
    let (counts, first, last, without_ts, sessions) = (
        st.events,
        st.first_ts,
        st.last_ts,
        st.without_ts,
        st.sessions,
    );
    let (path_text, archives, sealed, live, disk, quarantine) = if a.inputs.is_empty() {
        let path = cli.store_path()?;
        let layout = Layout::new(&path)
            .map_err(|r| anyhow::anyhow!("invalid store path {}: {r}", path.display()))?;
        let fs: Arc<dyn Fs> = Arc::new(RealFs);
        let listing = layout.list(&*fs)?;
        let mut disk: u64 = listing
            .readable
            .iter()
            .map(|s| fs.stat(&s.path).map(|m| m.len).unwrap_or(0))
            .sum();
        let live = fs.stat(&layout.live()).map(|m| m.len).ok();
        disk += live.unwrap_or(0);
        let archives = listing.archives().count();
        let sealed = listing.readable.len() - archives;
        (
            layout.live().display().to_string(),
            archives,
            sealed,
            live.is_some(),
            disk,
            listing.quarantine.len(),
        )
    } else {
        let text: Vec<String> = a.inputs.iter().map(|p| p.display().to_string()).collect();
        (text.join(" "), gz, plain, false, in_bytes, 0)
    };
    let ts_text = |t: Option<Timestamp>| t.map(|t| t.to_python_string());
    let mut out = io::stdout().lock();
    match Format::or_default(a.format, Format::Json) {
        Format::Json | Format::Jsonl => {
            let events: serde_json::Map<String, serde_json::Value> = counts
                .iter()
                .map(|(k, n)| (k.to_owned(), json!(n)))
                .collect();
            let v = json!({
                "path": path_text,
                "records": report.records,
                "events": events,
                "records_without_event": counts.untyped,
                "records_without_ts": without_ts,
                "sessions": sessions,
                "first_ts": ts_text(first),
                "last_ts": ts_text(last),
                "segments": {"archives": archives, "sealed": sealed, "live": live},
                "bytes_on_disk": disk,
                "bytes_read": report.bytes,
                "malformed": report.malformed,
                "torn_tails": report.torn_tails,
                "torn_fragments": report.torn_fragments,
                "damaged_segments": report.damaged_segments,
                "problems": report.problems.iter().take(100).map(ToString::to_string).collect::<Vec<_>>(),
                "quarantine_files": quarantine,
            });
            let mut v = v;
            if let Some((k, files)) = &top {
                v["top_files"] = files
                    .top(*k)
                    .into_iter()
                    .map(|(f, n)| json!({"file": f, "records": n}))
                    .collect();
            }
            writeln!(out, "{v}")?;
        }
        f => {
            let rows = vec![
                vec!["path".into(), path_text.clone()],
                vec!["records".into(), report.records.to_string()],
                vec!["sessions".into(), sessions.to_string()],
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
                        u8::from(live)
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
                vec!["quarantine files".into(), quarantine.to_string()],
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
            if let Some((k, files)) = &top {
                writeln!(out)?;
                let rows: Vec<Vec<String>> = files
                    .top(*k)
                    .into_iter()
                    .map(|(f, n)| vec![f.to_owned(), n.to_string()])
                    .collect();
                print_rows(&mut out, f, &["FILE", "RECORDS"], &rows)?;
            }
            if !report.problems.is_empty() {
                writeln!(out)?;
                for p in report.problems.iter().take(20) {
                    writeln!(out, "{}", terminal_text(&p.to_string()))?;
                }
                if report.problem_count() > 20 {
                    writeln!(out, "... and {} more", report.problem_count() - 20)?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `stats` of a table store: one pass over its records.
fn table_stats(cli: &Cli, t: &dyn ReadStore, format: Option<Format>) -> Result<ExitCode> {
    let mut counts = scout_audit_core::agg::EventCounts::default();
    let (mut first, mut last, mut without_ts) = (None::<Timestamp>, None::<Timestamp>, 0u64);
    let mut sessions = std::collections::HashSet::new();
    let mut records = 0u64;
    for r in t.scan(&Filter::new())? {
        let r = r?;
        records += 1;
        counts.add(r.event());
        match r.ts() {
            Some(ts) => {
                first = Some(first.map_or(ts, |f| f.min(ts)));
                last = Some(last.map_or(ts, |l| l.max(ts)));
            }
            None => without_ts += 1,
        }
        if let Some(s) = r.session_id()
            && !sessions.contains(s)
        {
            sessions.insert(s.to_owned());
        }
    }
    let addr = cli.store_addr()?.describe();
    let ts = |t: Option<Timestamp>| t.map(|t| t.to_python_string());
    let mut out = io::stdout().lock();
    match Format::or_default(format, Format::Json) {
        Format::Json | Format::Jsonl => {
            let events: serde_json::Map<String, serde_json::Value> = counts
                .iter()
                .map(|(k, n)| (k.to_owned(), json!(n)))
                .collect();
            writeln!(
                out,
                "{}",
                json!({
                    "path": addr,
                    "records": records,
                    "events": events,
                    "records_without_event": counts.untyped,
                    "records_without_ts": without_ts,
                    "sessions": sessions.len(),
                    "first_ts": ts(first),
                    "last_ts": ts(last),
                })
            )?;
        }
        f => {
            let rows = vec![
                vec!["path".into(), addr],
                vec!["records".into(), records.to_string()],
                vec!["sessions".into(), sessions.len().to_string()],
                vec!["first ts".into(), ts(first).unwrap_or_else(|| "-".into())],
                vec!["last ts".into(), ts(last).unwrap_or_else(|| "-".into())],
                vec!["records without ts".into(), without_ts.to_string()],
            ];
            print_rows(&mut out, f, &["STAT", "VALUE"], &rows)?;
            writeln!(out)?;
            let ev: Vec<Vec<String>> = counts
                .iter()
                .map(|(k, n)| vec![k.to_owned(), n.to_string()])
                .collect();
            print_rows(&mut out, f, &["EVENT", "RECORDS"], &ev)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `verify` of a table store: every writer's `seq` contiguous (per session
/// and `writer` stamp).
fn table_verify(cli: &Cli, t: &dyn ReadStore, max: usize) -> Result<ExitCode> {
    use scout_audit_core::agg::SeqBreak;
    use scout_audit_store_file::verify::seq_break_text;
    let mut seqs = scout_audit_core::agg::SeqTracker::default();
    let (mut records, mut gaps, mut notes) = (0u64, Vec::new(), Vec::new());
    for r in t.scan(&Filter::new())? {
        let r = r?;
        records += 1;
        let (Some(s), Some(q)) = (r.session_id(), r.seq()) else {
            continue;
        };
        match seqs.observe(s, r.writer(), q) {
            None => {}
            Some(SeqBreak::Gap(e)) => gaps.push(seq_break_text(s, r.writer(), q, e)),
            Some(SeqBreak::Shared(e)) => notes.push(format!(
                "note: {} (unstamped records of a session several writers used)",
                seq_break_text(s, None, q, e)
            )),
        }
    }
    let mut out = io::stdout().lock();
    for g in gaps.iter().take(max) {
        writeln!(out, "{}", terminal_text(g))?;
    }
    if gaps.len() > max {
        writeln!(out, "... and {} more", gaps.len() - max)?;
    }
    for n in notes.iter().take(max) {
        writeln!(out, "{n}")?;
    }
    if notes.len() > max {
        writeln!(out, "note: ... and {} more such breaks", notes.len() - max)?;
    }
    let n = gaps.len();
    writeln!(
        out,
        "{} records, {} sessions in {}: {}",
        records,
        seqs.sessions(),
        terminal_text(&cli.store_addr()?.describe()),
        if n == 0 {
            "OK".to_string()
        } else {
            format!("{n} problem{}", if n == 1 { "" } else { "s" })
        }
    )?;
    Ok(if n == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn verify(cli: &Cli, a: &VerifyArgs) -> Result<ExitCode> {
    if let Some(t) = table(cli, &[])? {
        return table_verify(cli, &*t, a.max_problems);
    }
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
        writeln!(out, "{}", terminal_text(l))?;
    }
    if lines.len() > a.max_problems {
        writeln!(out, "... and {} more", lines.len() - a.max_problems)?;
    }
    for q in &rep.quarantine {
        writeln!(
            out,
            "note: quarantined torn tail from an earlier recovery: {}",
            terminal_text(&q.display().to_string())
        )?;
    }
    for s in &rep.uncompressed {
        writeln!(
            out,
            "note: sealed segment not yet compressed: {}",
            terminal_text(&s.display().to_string())
        )?;
    }
    let notes = rep.note_lines();
    for n in notes.iter().take(a.max_problems) {
        writeln!(out, "{n}")?;
    }
    for (p, v) in &rep.outdated_indexes {
        writeln!(
            out,
            "note: index of format version {v}, not used (`scout-audit index` rewrites it): {}",
            terminal_text(&p.display().to_string())
        )?;
    }
    let problems = rep.problem_count();
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

pub fn index(cli: &Cli, a: &IndexArgs) -> Result<ExitCode> {
    let path = match &a.target {
        Some(p) => p.clone(),
        None => cli.store_path_for("index")?,
    };
    let rebuild = if a.rebuild {
        scout_audit_scan::Rebuild::All
    } else {
        scout_audit_scan::Rebuild::Stale
    };
    let outcomes =
        scout_audit_scan::build_indexes_with(&path, cli.threads, cli.shared_dir(), rebuild)?;
    let mut out = io::stdout().lock();
    let (mut written, mut rewritten, mut valid, mut damaged, mut changed) = (0, 0, 0, 0, 0);
    for o in &outcomes {
        match o {
            IndexOutcome::Written(p) => {
                written += 1;
                writeln!(out, "indexed {}", terminal_text(&p.display().to_string()))?;
            }
            IndexOutcome::Rewritten { archive: p, why } => {
                rewritten += 1;
                writeln!(out, "reindexed {}: {why}", p.display())?;
            }
            IndexOutcome::Valid(_) => valid += 1,
            IndexOutcome::Refreshed(p) => {
                // Valid all along: counted as already indexed.
                valid += 1;
                writeln!(
                    out,
                    "refreshed {}: its index now records the archive's identity, so reads \
                     stop hashing the archive (the store was copied, the index was of format 3, \
                     or it was written just after the archive changed)",
                    terminal_text(&p.display().to_string())
                )?;
            }
            IndexOutcome::Damaged { archive: p, why } => {
                damaged += 1;
                eprintln!(
                    "scout-audit: not indexed (damaged): {}: {}",
                    terminal_text(&p.display().to_string()),
                    terminal_text(&why.to_string())
                );
            }
            IndexOutcome::Changed(p) => {
                changed += 1;
                eprintln!(
                    "scout-audit: not indexed (changed while read): {}",
                    terminal_text(&p.display().to_string())
                );
            }
            _ => {}
        }
    }
    writeln!(
        out,
        "{written} archive{} indexed, {rewritten} reindexed, {valid} already indexed, \
         {damaged} damaged, {changed} changed",
        if written == 1 { "" } else { "s" }
    )?;
    Ok(ExitCode::SUCCESS)
}
