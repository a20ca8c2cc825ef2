//! `cargo xtask <task>`: parses the command line and runs the task from the
//! xtask library. One variant of [`Task`] per task.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, ensure};
use clap::{Args, Parser, Subcommand};
use scout_audit_core::Timestamp;
use xtask::datagen::{self, GenOptions, Layout, MIB};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "scout-audit's development tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Write deterministic, realistic audit data: a store (gzip archives and
    /// a live file) or one plain JSONL file.
    Gen(GenArgs),
    /// Measure log() throughput at every durability level, 1 and 8 threads,
    /// against the Python reference in the same run, and print the table.
    Bench(BenchArgs),
    /// Export generated data to Parquet and check DuckDB (and with --spark,
    /// Spark) answer Q1-Q3 as scout-audit does.
    ExportCheck {
        /// Also check with Spark (pyspark is installed into .venv if missing).
        #[arg(long)]
        spark: bool,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// Runs per scout-audit configuration (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Runs per Python reference configuration.
    #[arg(long, default_value_t = 3)]
    python_runs: usize,
    /// Ten times fewer events (a smoke run).
    #[arg(long)]
    quick: bool,
    /// The Python reference [default: ../shared/reference/audit.py].
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Instead: the backends table (file, SQLite, PostgreSQL: write rates,
    /// Q1-Q3 on a million events, export of 1 GiB).
    #[arg(long)]
    backends: bool,
    /// Instead: the scanner against DuckDB and jq on ~1 GiB (Q1 to Q3,
    /// plain file and gzip store, cold and indexed).
    #[arg(long)]
    peers: bool,
    /// --peers: MiB of data to generate (or reuse) under target/peers.
    #[arg(long, default_value_t = 1024)]
    mib: u64,
    /// --peers: runs of each jq measurement.
    #[arg(long, default_value_t = 1)]
    jq_runs: usize,
    /// --peers: leave jq out.
    #[arg(long)]
    no_jq: bool,
}

#[derive(Args)]
struct GenArgs {
    /// The live file of the store to write (or the plain file), e.g.
    /// /tmp/scout/audit.jsonl.
    #[arg(long)]
    out: PathBuf,
    /// Size of the live file, in MiB.
    #[arg(long, default_value_t = 1.0)]
    live_mib: f64,
    /// Total uncompressed MiB held in gzip archives.
    #[arg(long, default_value_t = 10.0)]
    archive_mib: f64,
    /// Uncompressed MiB of each archive (the store's rotation size).
    #[arg(long, default_value_t = 10.0)]
    segment_mib: f64,
    /// Spread the records over this many days ending at --end.
    #[arg(long, default_value_t = 30.0)]
    days: f64,
    /// The end of the time span: RFC 3339, or `now`.
    #[arg(long, default_value = "2026-11-27T00:00:00Z")]
    end: String,
    /// Fraction of lines replaced by damage (truncated JSON, non-objects,
    /// garbage bytes, invalid UTF-8, bad ts).
    #[arg(long, default_value_t = 0.0)]
    malformed: f64,
    /// Seed of everything random.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `store`: archives and a live file; `plain`: one JSONL file at --out.
    #[arg(long, default_value_t = Layout::Store)]
    layout: Layout,
    /// Write lines as the Python original did (", " and ": " separators,
    /// ASCII only, no seq).
    #[arg(long)]
    python_style: bool,
    /// Replace an existing store at --out (its live file and archives).
    #[arg(long)]
    force: bool,
}

fn mib_to_bytes(flag: &str, mib: f64) -> anyhow::Result<u64> {
    ensure!(
        mib.is_finite() && mib >= 0.0,
        "--{flag} must be a non-negative number of MiB, not {mib}"
    );
    Ok((mib * MIB as f64).round() as u64)
}

impl GenArgs {
    fn options(&self) -> anyhow::Result<GenOptions> {
        let end = if self.end == "now" {
            Timestamp::now()
        } else {
            Timestamp::parse(&self.end).context("--end")?
        };
        Ok(GenOptions {
            out: self.out.clone(),
            live_bytes: mib_to_bytes("live-mib", self.live_mib)?,
            archive_bytes: mib_to_bytes("archive-mib", self.archive_mib)?,
            segment_bytes: mib_to_bytes("segment-mib", self.segment_mib)?,
            days: self.days,
            end,
            malformed: self.malformed,
            seed: self.seed,
            layout: self.layout,
            python_style: self.python_style,
            force: self.force,
        })
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.task {
        Task::Gen(args) => {
            let summary = datagen::generate(&args.options()?)?;
            print_quietly(&summary.to_string())?;
        }
        Task::ExportCheck { spark } => print_quietly(&xtask::export_check::run_check(spark)?)?,
        Task::Bench(a) if a.backends => {
            let table = xtask::backends::run_backends(&xtask::backends::BackendOptions {
                runs: a.runs.max(1),
                quick: a.quick,
            })?;
            print_quietly(&table)?;
        }
        Task::Bench(a) if a.peers => {
            let table = xtask::peers::run(&xtask::peers::PeerOptions {
                mib: if a.quick { a.mib.min(64) } else { a.mib }.max(16),
                runs: a.runs.max(1),
                jq_runs: a.jq_runs.max(1),
                no_jq: a.no_jq,
            })?;
            print_quietly(&table)?;
        }
        Task::Bench(a) => {
            let default =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/audit.py");
            let reference = a.reference.unwrap_or(default);
            let python = std::process::Command::new("python3")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            let reference = if reference.exists() && python {
                Some(reference)
            } else {
                eprintln!("the Python reference or python3 is missing: its column is skipped");
                None
            };
            let table = xtask::bench::run(&xtask::bench::BenchOptions {
                runs: a.runs.max(1),
                python_runs: a.python_runs.max(1),
                quick: a.quick,
                reference,
            })?;
            print_quietly(&table)?;
        }
    }
    Ok(())
}

/// Prints a line on stdout; a closed pipe is not an error.
fn print_quietly(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
