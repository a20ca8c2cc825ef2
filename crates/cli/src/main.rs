//! `scout-audit`: record LLM tool events and query them, from the shell.
//!
//! See `scout-audit --help` and docs/cli.md.

mod addr;
mod args;
mod copy;
mod demo;
mod export;
mod log_cmd;
mod output;
mod progress;
mod proof_cmd;
mod read;
mod seal_cmd;
mod top;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use scout_audit_core::{Durability, Timestamp};
use scout_audit_store_file::options::{
    Compression, FsyncPolicy, Retention, RotateSize, SealInterval, SharedDir,
};
use scout_audit_store_file::{Builder, FileStore};

use crate::args::{TimeArg, parse_duration, parse_size};

// Records are built on scanner threads and freed on the main thread;
// glibc's allocator spends most of an export consolidating such frees.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Record what an LLM tool did and what it cost, and ask about it.
#[derive(Parser, Debug)]
#[command(name = "scout-audit", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// The store: a file store's live file, `sqlite:PATH`, or
    /// `postgres://…` [default: $SCOUT_AUDIT_PATH, else ~/.scout/audit.jsonl].
    #[arg(long, global = true, value_name = "STORE")]
    path: Option<String>,

    /// Seal the live file when it would grow past this size (suffixes K, M, G; 0: never).
    #[arg(long, global = true, value_name = "BYTES", default_value = "10M", value_parser = parse_size)]
    rotate_size: u64,

    /// Fsync after this many unsynced lines (0: no line bound).
    #[arg(long, global = true, value_name = "N", default_value_t = 10)]
    fsync_lines: u64,

    /// Fsync unsynced lines after this long, even when writes stop (0: never).
    #[arg(long, global = true, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    fsync_interval: std::time::Duration,

    /// For --durability buffered: the longest an event waits in memory.
    #[arg(long, global = true, value_name = "DURATION", default_value = "50ms", value_parser = parse_duration)]
    max_delay: std::time::Duration,

    /// Retention: keep at most this many archives.
    #[arg(long, global = true, value_name = "N")]
    keep_archives: Option<usize>,

    /// Retention: delete archives sealed longer ago than this (e.g. 90d).
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    keep_age: Option<std::time::Duration>,

    /// Retention: keep the archives' total size under this (suffixes K, M, G).
    #[arg(long, global = true, value_name = "BYTES", value_parser = parse_size)]
    keep_bytes: Option<u64>,

    /// Leave sealed segments uncompressed.
    #[arg(long, global = true)]
    no_compress: bool,

    /// On a store set up with `seal init`: how long logged lines may wait
    /// for their seal while a writer runs (0: only `seal` seals).
    #[arg(long, global = true, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    seal_interval: std::time::Duration,

    /// Evaluate relative times (1h, 30d) and windows against this instant
    /// instead of the clock.
    #[arg(long, global = true, value_name = "TIME", value_parser = TimeArg::parse)]
    now: Option<TimeArg>,

    /// Threads of the scans of read commands, 1 to 256 [default: one per core].
    #[arg(long, global = true, value_name = "N", value_parser = parse_threads)]
    threads: Option<usize>,

    /// Accept a store directory that group or others can write (they could
    /// plant links and files in it; see docs/durability.md).
    #[arg(long, global = true)]
    allow_shared_dir: bool,

    /// Read every segment: no pruning by index or seal time (indexes still
    /// answer nothing).
    #[arg(long, global = true)]
    no_prune: bool,

    #[command(subcommand)]
    command: Command,
}

/// The most threads `--threads` may ask for: past the cores a scan gains
/// nothing, and each thread costs a stack and its buffers (docs/cli.md).
const MAX_THREADS: usize = 256;

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {MAX_THREADS}")),
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Log one event from flags, or many JSON events from stdin.
    Log(log_cmd::LogArgs),
    /// Print matching records in log order.
    Query(read::QueryArgs),
    /// Print the last records, and with -f follow new ones across rotations.
    Tail(read::TailArgs),
    /// Sum of cost in a window, optionally grouped.
    Spend(read::SpendArgs),
    /// Navigation accuracy: nav events against validation failures.
    Accuracy(read::AccuracyArgs),
    /// Records, events, time range, segments, bytes and malformed lines.
    Stats(read::StatsArgs),
    /// One line for a shell prompt: spend in the last hour, today (UTC), today's accuracy.
    Status(read::StatusArgs),
    /// Per session: first and last ts, duration, events, cost, tokens, models, accuracy; by cost.
    Sessions(read::SessionsArgs),
    /// Live dashboard on the terminal: spend, events and cost per minute, models, latest events.
    Top(top::TopArgs),
    /// Check every segment: torn tails, malformed lines, seq gaps, leftovers.
    Verify(read::VerifyArgs),
    /// Write sidecar indexes for the archives that have none (Python-era or older ones).
    Index(read::IndexArgs),
    /// Seal the live file now (it is compressed before the command exits).
    Rotate,
    /// Seal the file store now (signed checkpoint); `seal init` sets sealing up.
    Seal(seal_cmd::SealArgs),
    /// Print the latest seal as a signed checkpoint, with the certificates of its key.
    Checkpoint(proof_cmd::CheckpointArgs),
    /// Print a record's inclusion proof, or (--consistency OLD) that the latest seal extends OLD.
    Prove(proof_cmd::ProveArgs),
    /// Check a proof `prove` printed, without the store, against the verification key.
    CheckProof(proof_cmd::CheckProofArgs),
    /// Write a realistic log to a fresh temporary store and run the headline queries.
    Demo(demo::DemoArgs),
    /// Copy a log from one store to another, without loss or duplicates; resumable.
    Copy(copy::CopyArgs),
    /// Export the log for other engines (hive-partitioned Parquet), incrementally.
    Export(export::ExportArgs),
    /// One self-contained HTML page: totals, daily charts, top sessions and files, health.
    Report(read::ReportArgs),
}

impl Cli {
    /// The live file of the file store (read and file commands).
    fn store_path(&self) -> Result<PathBuf> {
        self.store_path_for("this command")
    }

    /// "Now" for relative times.
    fn now(&self) -> Timestamp {
        let clock = Timestamp::now();
        self.now.map_or(clock, |t| t.resolve(clock))
    }

    /// Whether a store directory others can write is accepted.
    fn shared_dir(&self) -> SharedDir {
        if self.allow_shared_dir {
            SharedDir::Allow
        } else {
            SharedDir::Refuse
        }
    }

    /// A store builder with every store setting of the command line.
    fn builder(&self, path: PathBuf, durability: Durability) -> Builder {
        let interval = (!self.fsync_interval.is_zero()).then_some(self.fsync_interval);
        FileStore::builder(path)
            .shared_dir(self.shared_dir())
            .durability(durability)
            .fsync_policy(FsyncPolicy::new(self.fsync_lines, interval))
            .max_delay(self.max_delay)
            .rotate_size(RotateSize::bytes(self.rotate_size))
            .retention(Retention {
                max_archives: self.keep_archives,
                max_age: self.keep_age,
                max_bytes: self.keep_bytes,
            })
            .compression(if self.no_compress {
                Compression::Off
            } else {
                Compression::Background
            })
            .seal_interval(SealInterval::every(self.seal_interval))
    }
}

fn run(cli: &Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Log(a) => log_cmd::run(cli, a),
        Command::Query(a) => read::query(cli, a),
        Command::Tail(a) => read::tail(cli, a),
        Command::Spend(a) => read::spend(cli, a),
        Command::Accuracy(a) => read::accuracy(cli, a),
        Command::Stats(a) => read::stats(cli, a),
        Command::Status(a) => read::status(cli, a),
        Command::Sessions(a) => read::sessions(cli, a),
        Command::Top(a) => top::run(cli, a),
        Command::Verify(a) => read::verify(cli, a),
        Command::Index(a) => read::index(cli, a),
        Command::Seal(a) => seal_cmd::run(cli, a),
        Command::Checkpoint(a) => proof_cmd::checkpoint(cli, a),
        Command::Prove(a) => proof_cmd::prove(cli, a),
        Command::CheckProof(a) => proof_cmd::check_proof(a),
        Command::Rotate => {
            let store = cli
                .builder(cli.store_path_for("rotate")?, Durability::Process)
                .open()?;
            let sealed = store.rotate()?;
            store.close()?;
            let mut out = io::stdout().lock();
            match sealed {
                Some(name) => writeln!(out, "sealed {name}")?,
                None => writeln!(out, "nothing to seal: the live file is empty")?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(a) => demo::run(cli, a),
        Command::Copy(a) => copy::run(cli, a),
        Command::Export(a) => export::run(cli, a),
        Command::Report(a) => read::report(cli, a),
    }
}

/// Whether an error is a closed pipe on output (`scout-audit query | head`).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: each cause once (store errors already name theirs).
            let mut msg = String::new();
            for c in e.chain() {
                let c = c.to_string();
                if !msg.ends_with(&c) {
                    if !msg.is_empty() {
                        msg.push_str(": ");
                    }
                    msg.push_str(&c);
                }
            }
            // Errors name paths and values read from files: escaped.
            let msg = output::terminal_text(&msg);
            let _ = writeln!(io::stderr(), "scout-audit: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
