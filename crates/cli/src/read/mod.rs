//! The read commands: query, tail, spend, accuracy, stats, verify (and
//! `index`). None of them writes into the store.
//!
//! Each command is written once: it computes its answer through
//! [`backend::ReadBackend`], the one interface every store implements
//! (`scanned.rs`: the parallel scanner, for a file store and input files;
//! `table.rs`: a table store's `ReadStore`), then prints the answer with
//! the printers of `print.rs`, in the format asked for.

mod backend;
mod print;
mod records;
mod report;
mod scanned;
mod sessions;
mod status;
mod table;

/// Notes on stderr of what a scan skipped (`top` prints them too).
pub use print::report_skips;
pub use report::{ReportArgs, report};
pub use sessions::{SessionsArgs, sessions};
pub use status::{StatusArgs, status};

use scanned::Scanned;
use table::Table;

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use scout_audit_core::agg::{GroupBy, LastN, spend_cutoff};
use scout_audit_core::{Filter, Record, Timestamp};
use scout_audit_scan::{Answer, IndexOutcome};
use scout_audit_store_file::Layout;
use scout_audit_store_file::follow::{Follow, Followed};
use scout_audit_store_file::fs::RealFs;

use crate::Cli;
use crate::addr::StoreAddr;
use crate::args::TimeArg;
use crate::output::{Format, RecordPrinter, terminal_text};
use backend::ReadBackend;
use print::{print_accuracy, print_count, print_no_spend, print_spend, print_stats, print_verify};

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
    /// ISO week in UTC (Monday start), labelled 2026-W01.
    Week,
    /// UTC month, labelled 2026-02.
    Month,
    /// Model.
    Model,
    /// Session.
    Session,
}

impl By {
    fn group_by(self) -> GroupBy {
        match self {
            By::Hour => GroupBy::Hour,
            By::Day => GroupBy::Day,
            By::Week => GroupBy::Week,
            By::Month => GroupBy::Month,
            By::Model => GroupBy::Model,
            By::Session => GroupBy::Session,
        }
    }
}

/// `--by`: one key, or a period then the model (`day,model`).
fn parse_by(text: &str) -> Result<GroupBy, String> {
    let one = |k: &str| {
        By::from_str(k.trim(), true).map(By::group_by).map_err(|_| {
            format!("unknown key {k:?}: expected hour, day, week, month, model or session")
        })
    };
    match text.split_once(',') {
        None => one(text),
        Some((a, b)) => GroupBy::paired(one(a)?, one(b)?).ok_or_else(|| {
            format!(
                "cannot group by {text:?}: two keys are a period (hour, day, week, month) \
                 then model, as day,model"
            )
        }),
    }
}

#[derive(Args, Debug)]
pub struct SpendArgs {
    /// The window: records with ts >= now - HOURS (the Python hourly_spend) [default: 1].
    #[arg(long, conflicts_with = "since", allow_negative_numbers = true)]
    hours: Option<f64>,
    /// The window: records at or after this time instead.
    #[arg(long, value_parser = TimeArg::parse)]
    since: Option<TimeArg>,
    /// Group the spend: hour, day, week (ISO, UTC), month (UTC), model,
    /// session, or a period then the model (hour,model day,model
    /// week,model month,model).
    #[arg(long, value_parser = parse_by, value_name = "KEY[,model]")]
    by: Option<GroupBy>,
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
    /// Also prove every sealed line is as sealed, with this verification
    /// key (as `seal init` printed it, or a file holding it).
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// With --key: lines after the last seal are a failure.
    #[arg(long, requires = "key")]
    require_sealed: bool,
    /// With --key: also prove the store extends each of these checkpoints
    /// (as `checkpoint` printed them), which catches a rollback.
    #[arg(long, value_name = "FILE", num_args = 1.., requires = "key")]
    checkpoint: Vec<PathBuf>,
}

/// The backend of a read command: the scanner over the `given` inputs,
/// else over the file store at `--path`, else the table store there
/// (filters pushed down to SQL).
fn open<'a>(cli: &'a Cli, given: &'a [PathBuf]) -> Result<Box<dyn ReadBackend + 'a>> {
    if !given.is_empty() {
        return Ok(Box::new(Scanned::new(cli, given)));
    }
    match cli.store_addr()? {
        StoreAddr::File(_) => Ok(Box::new(Scanned::new(cli, given))),
        addr => Ok(Box::new(Table::new(cli.open_read(&addr)?, addr.describe()))),
    }
}

pub fn query(cli: &Cli, a: &QueryArgs) -> Result<ExitCode> {
    let now = cli.now();
    let store = open(cli, &a.inputs)?;
    let filter = a.select.filter(now);
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let limit = a.limit.unwrap_or(u64::MAX);
    let report = if a.count {
        let answer = store.count(filter, a.select.strict)?;
        print_count(&mut out, a.format, answer.value.min(limit))?;
        answer.report
    } else {
        let format = Format::or_default(a.format, Format::Jsonl);
        match store.write_records(filter, a.select.strict, limit, format, &mut out) {
            Ok(report) => report,
            Err(e) => {
                // The records before a strict scan's problem are printed
                // (a failed write is the error itself: nothing to flush).
                if e.downcast_ref::<io::Error>().is_none() {
                    out.flush()?;
                }
                return Err(e);
            }
        }
    };
    out.flush()?;
    report_skips(&report);
    Ok(ExitCode::SUCCESS)
}

pub fn tail(cli: &Cli, a: &TailArgs) -> Result<ExitCode> {
    let mut f = Filter::new();
    for e in &a.events {
        f = f.event(e.clone());
    }
    let format = Format::or_default(a.format, Format::Jsonl);
    if a.follow {
        let mut p = RecordPrinter::new(io::stdout().lock(), format);
        return follow(cli, a, &f, &mut p);
    }
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let report = open(cli, &a.inputs)?.write_last(f, a.n, format, &mut out)?;
    out.flush()?;
    report_skips(&report);
    Ok(ExitCode::SUCCESS)
}

/// `tail -f`: the last records of the file store, then every new one that
/// matches `f`, across rotations, until interrupted.
fn follow(
    cli: &Cli,
    a: &TailArgs,
    f: &Filter,
    p: &mut RecordPrinter<impl Write>,
) -> Result<ExitCode> {
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

pub fn spend(cli: &Cli, a: &SpendArgs) -> Result<ExitCode> {
    let now = cli.now();
    let since = match (a.hours, a.since) {
        (_, Some(t)) => Some(t.resolve(now)),
        (h, None) => spend_cutoff(now, h.unwrap_or(1.0)),
    };
    let format = Format::or_default(a.format, Format::Json);
    let mut out = io::stdout().lock();
    let Some(since) = since else {
        print_no_spend(&mut out, format)?;
        return Ok(ExitCode::SUCCESS);
    };
    let by = a.by;
    let answer = open(cli, &a.inputs)?.spend(Filter::new().since(since), by)?;
    print_spend(&mut out, format, by, since, &answer.value)?;
    report_skips(&answer.report);
    Ok(ExitCode::SUCCESS)
}

pub fn accuracy(cli: &Cli, a: &AccuracyArgs) -> Result<ExitCode> {
    let now = cli.now();
    let filter = Filter::new().with_since(a.since.map(|t| t.resolve(now)));
    let answer = open(cli, &a.inputs)?.accuracy(filter)?;
    print_answer(&answer, a.format, print_accuracy)
}

/// Prints a read's answer on stdout with `print`, as JSON unless
/// `format` says otherwise, then notes on stderr what the read skipped.
fn print_answer<T>(
    answer: &Answer<T>,
    format: Option<Format>,
    print: fn(&mut dyn Write, Format, &T) -> Result<()>,
) -> Result<ExitCode> {
    print(
        &mut io::stdout().lock(),
        Format::or_default(format, Format::Json),
        &answer.value,
    )?;
    report_skips(&answer.report);
    Ok(ExitCode::SUCCESS)
}

pub fn stats(cli: &Cli, a: &StatsArgs) -> Result<ExitCode> {
    let answer = open(cli, &a.inputs)?.stats(a.top_files)?;
    let mut out = io::stdout().lock();
    print_stats(
        &mut out,
        Format::or_default(a.format, Format::Json),
        &answer,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `verify`, and with `--key` the sealed check: on a file store both
/// from one read of each segment (`verify::verify_keyed`), else beside it
/// on its own thread. The output is the plain report then the sealed
/// one, as if run in turn.
pub fn verify(cli: &Cli, a: &VerifyArgs) -> Result<ExitCode> {
    let backend = open(cli, &[])?;
    let keyed = a.key.as_deref().and_then(|k| {
        let key = crate::seal_cmd::layout(cli)
            .and_then(|_| crate::seal_cmd::parse_key(k))
            .ok()?;
        scanned::verify_keyed(cli, &key)
    });
    let (answer, report) = match (&a.key, keyed) {
        (_, Some((answer, report))) => (answer?, Some(report?)),
        (None, None) => (backend.verify()?, None),
        (Some(key), None) => std::thread::scope(|s| {
            let sealed = s.spawn(|| crate::seal_cmd::verify_report(cli, key));
            let answer = backend.verify();
            let report = sealed
                .join()
                .map_err(|_| anyhow::anyhow!("the sealed verify panicked"));
            Ok::<_, anyhow::Error>((answer?, Some(report??)))
        })?,
    };
    let mut out = io::stdout().lock();
    print_verify(&mut out, &answer, a.max_problems)?;
    let sealed = match (&a.key, &report) {
        (Some(key), Some(r)) => {
            crate::proof_cmd::verify(cli, key, r, a.require_sealed, &a.checkpoint, &mut out)?
        }
        _ => true,
    };
    Ok(if answer.ok && sealed {
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
