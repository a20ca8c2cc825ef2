//! `cargo xtask <task>`: parses the command line and runs the task from the
//! xtask library. One variant of [`Task`] per task.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, ensure};
use clap::{Args, Parser, Subcommand};
use scout_audit_core::Timestamp;
use xtask::datagen::{self, GenOptions, MIB, Shape};

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
    /// against the Python reference in the same run, and print the table
    /// (or, with --backends, --peers or --python, that table instead).
    Bench(BenchArgs),
    /// Prove the durability contract: writer processes killed with SIGKILL
    /// at random moments (at least 200 kills by default; --minutes for the
    /// long mode), and with --sim-states the simulated power-loss campaign.
    /// Exits non-zero on any violation.
    Crash(CrashArgs),
    /// Run every cargo-fuzz target of fuzz/ (nightly, through cargo fuzz)
    /// for --time seconds each on a scratch copy of its corpus; report the
    /// executions. Exits non-zero on a finding.
    Fuzz(FuzzArgs),
    /// Export generated data to Parquet and check DuckDB (and with --spark,
    /// Spark) answer Q1-Q3 as scout-audit does.
    ExportCheck {
        /// Also check with Spark (pyspark is installed into .venv if missing).
        #[arg(long)]
        spark: bool,
    },
    /// Check every .rs file against the house rules (module cycles, file-name
    /// suffixes outside layout.rs, std::fs in store-file, unsafe outside
    /// mmap.rs, long functions, trailing white space, markers, module docs);
    /// one line per violation, non-zero exit on any. Exceptions live in
    /// xtask/tidy-allow.txt, each with its reason.
    Tidy,
    /// Prove tamper evidence: random tamperings of sealed stores (every
    /// kind of issue 10), each must be detected and located by verify, and
    /// untampered stores must verify clean. Exits non-zero on any miss.
    Tamper(TamperArgs),
    /// Check with Go's golang.org/x/mod/sumdb/note and sumdb/tlog that a
    /// sealed store's checkpoint and inclusion proofs verify as printed
    /// (skipped, exit 0, without `go` or the module).
    Interop {
        /// Instead: print the sizes of checkpoint files after DAYS of
        /// one-minute epochs (decision 122).
        #[arg(long, value_name = "DAYS")]
        checkpoint_sizes: Option<u64>,
    },
    /// (internal) A writer process of the crash campaign.
    #[command(hide = true)]
    CrashChild(CrashChildArgs),
}

#[derive(Args)]
struct TamperArgs {
    /// Tamperings to try (spread evenly over the kinds).
    #[arg(long, default_value_t = 100_000)]
    trials: u64,
    /// Untampered stores to verify.
    #[arg(long, default_value_t = 10_000)]
    clean: u64,
    /// The run's seed (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

#[derive(Args)]
struct CrashArgs {
    /// Kill at least this many writer processes.
    #[arg(long, default_value_t = 200)]
    kills: u64,
    /// Keep killing for this many minutes (the long mode).
    #[arg(long, default_value_t = 0.0)]
    minutes: f64,
    /// Writer processes at once on one store.
    #[arg(long, default_value_t = 3)]
    processes: u64,
    /// Threads in each writer process.
    #[arg(long, default_value_t = 2)]
    threads: u64,
    /// Rounds of kills on one store before it is recovered and checked.
    #[arg(long, default_value_t = 8)]
    rounds_per_store: u64,
    /// Also run the simulated power-loss campaign until this many crash
    /// states are checked (the long mode: 1000000).
    #[arg(long, default_value_t = 0)]
    sim_states: u64,
    /// Damage seeds per crash point in the simulated campaign.
    #[arg(long, default_value_t = 8)]
    sim_seeds: u64,
    /// Skip the kill campaign (with --sim-states: only the simulation).
    #[arg(long)]
    no_kill: bool,
    /// Seed of everything random [default: from the clock, printed].
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Args)]
struct FuzzArgs {
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    time: u64,
    /// Only this target (repeat for several).
    #[arg(long)]
    target: Vec<String>,
    /// Merge inputs with new coverage into the checked-in corpus.
    #[arg(long)]
    merge: bool,
    /// libFuzzer's memory limit in MiB (an input that makes a reader hold
    /// more, such as a decompression bomb, is a finding).
    #[arg(long, default_value_t = 512)]
    rss_limit_mb: u64,
}

#[derive(Args)]
struct CrashChildArgs {
    #[arg(long)]
    path: PathBuf,
    #[arg(long)]
    durability: String,
    #[arg(long)]
    threads: u64,
    #[arg(long)]
    writer: u64,
    #[arg(long)]
    rotate: u64,
    #[arg(long)]
    batch_max: u64,
    #[arg(long)]
    pace_us: u64,
    #[arg(long)]
    seed: u64,
}

#[derive(Args)]
struct BenchArgs {
    /// Runs per scout-audit configuration (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Runs per Python reference configuration (--python: runs of every
    /// row, the original and the package interleaved).
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
    /// --peers: MiB of data to generate (or reuse) under target/peers;
    /// --python: MiB of the one live file the reads run over (under
    /// bench-data/).
    #[arg(long, default_value_t = 1024)]
    mib: u64,
    /// --peers: runs of each jq measurement.
    #[arg(long, default_value_t = 1)]
    jq_runs: usize,
    /// --peers: leave jq out.
    #[arg(long)]
    no_jq: bool,
    /// --peers: only this row (Q1, Q2, Q3, Q4, plain: the plain-file table,
    /// sealed: the verify row, export: Parquet against DuckDB; repeat for
    /// several).
    #[arg(long, value_name = "ROW")]
    only: Vec<String>,
    /// Instead: the Python table (issue 12): the package `scout_audit`,
    /// installed from this checkout into .venv as a release build, against
    /// the Python original (crates/python/bench/run.py; docs/python.md).
    #[arg(long)]
    python: bool,
    /// --python: events each log() run writes.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// --python: only the reads (hourly_spend, accuracy_metrics, iter_query).
    #[arg(long)]
    reads_only: bool,
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
    #[arg(long, default_value_t = Shape::Store)]
    layout: Shape,
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
            shape: self.layout,
            python_style: self.python_style,
            force: self.force,
        })
    }
}

fn crash(a: &CrashArgs) -> anyhow::Result<()> {
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("cargo xtask crash --seed {seed}");
    let mut violations = 0;
    if !a.no_kill {
        let dir = tempfile::Builder::new().prefix("scout-crash-").tempdir()?;
        let opts = xtask::crash::KillOptions {
            kills: a.kills,
            duration: std::time::Duration::from_secs_f64(a.minutes.max(0.0) * 60.0),
            processes: a.processes.max(1),
            threads: a.threads.max(1),
            rounds_per_store: a.rounds_per_store.max(1),
            seed,
            exe: std::env::current_exe()?,
            dir: dir.path().to_path_buf(),
        };
        let started = std::time::Instant::now();
        let mut last = std::time::Instant::now();
        let report = xtask::crash::kill_campaign(&opts, |r| {
            if last.elapsed() >= std::time::Duration::from_secs(10) {
                last = std::time::Instant::now();
                eprintln!("  ... {} kills, {} violations", r.kills, r.found.count);
            }
        })?;
        print_quietly(&format!(
            "{report}\n  ({:.0} s)",
            started.elapsed().as_secs_f64()
        ))?;
        if report.found.count > 0 {
            eprintln!("stores kept in {}", dir.keep().display());
        }
        violations += report.found.count;
    }
    if a.sim_states > 0 {
        use scout_audit_testkit::campaign;
        let opts = campaign::Options {
            seeds: a.sim_seeds.max(1),
            recovery_points: 4,
            seed,
        };
        let started = std::time::Instant::now();
        let mut last = std::time::Instant::now();
        let report = campaign::run_many(&opts, a.sim_states, |r| {
            if last.elapsed() >= std::time::Duration::from_secs(10) {
                last = std::time::Instant::now();
                eprintln!("  ... {}", r.summary_line());
            }
        });
        let mut text = format!(
            "simulated power loss: {} ({:.0} s)\n  damage: files {:?}, directories {:?}, {} directory operations lost, {} writes lost, {} sectors garbled\n  recovery: {} torn tails quarantined, {} compressions finished, {} partial archives removed; {} states with damage readers reported; {} acknowledged, not yet durable events lost (allowed)",
            report.summary_line(),
            started.elapsed().as_secs_f64(),
            report.file_damage,
            report.dir_damage,
            report.lost_dir_ops,
            report.lost_writes,
            report.garbled_sectors,
            report.quarantined,
            report.finished_compressions,
            report.removed_partials,
            report.damage_reported,
            report.lost_acknowledged,
        );
        for e in &report.found.examples {
            text.push_str(&format!("\n    {e}"));
        }
        print_quietly(&text)?;
        violations += report.found.count;
    }
    anyhow::ensure!(
        violations == 0,
        "{violations} violations of the durability contract"
    );
    Ok(())
}

fn tamper(a: &TamperArgs) -> anyhow::Result<()> {
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!(
        "cargo xtask tamper --trials {} --clean {} --seed {seed}",
        a.trials, a.clean
    );
    let started = std::time::Instant::now();
    let opts = xtask::tamper::TamperOptions {
        trials: a.trials,
        clean: a.clean,
        seed,
        threads: a.threads,
    };
    let report = xtask::tamper::run(&opts, |_| {})?;
    print_quietly(&format!(
        "{report}  ({:.0} s)",
        started.elapsed().as_secs_f64()
    ))?;
    anyhow::ensure!(report.passed(), "the tamper campaign failed");
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.task {
        Task::Tamper(a) => tamper(&a)?,
        Task::Crash(a) => crash(&a)?,
        Task::Fuzz(a) => {
            let runs = xtask::fuzz::run(&xtask::fuzz::FuzzOptions {
                root: xtask::util::root(),
                seconds: a.time.max(1),
                targets: a.target,
                merge: a.merge,
                rss_limit_mb: a.rss_limit_mb,
            })?;
            print_quietly(&xtask::fuzz::table(&runs))?;
        }
        Task::CrashChild(a) => xtask::crash::child(&xtask::crash::ChildOptions {
            path: a.path,
            durability: a.durability.parse().map_err(anyhow::Error::msg)?,
            threads: a.threads,
            writer: a.writer,
            rotate: a.rotate,
            batch_max: a.batch_max.max(1),
            pace: std::time::Duration::from_micros(a.pace_us),
            seed: a.seed,
        })?,
        Task::Gen(args) => {
            let summary = datagen::generate(&args.options()?)?;
            print_quietly(&summary.to_string())?;
        }
        Task::Tidy => tidy()?,
        Task::Interop { checkpoint_sizes } => print_quietly(&match checkpoint_sizes {
            Some(days) => xtask::interop::checkpoint_sizes(days)?,
            None => xtask::interop::run()?,
        })?,
        Task::ExportCheck { spark } => print_quietly(&xtask::export_check::run_check(spark)?)?,
        Task::Bench(a) if a.python => xtask::pybench::run(&xtask::pybench::PyBenchOptions {
            mib: a.mib.max(1),
            runs: a.python_runs,
            events: a.events,
            reads_only: a.reads_only,
            reference: a.reference,
        })?,
        Task::Bench(a) => print_quietly(&bench(a)?)?,
    }
    Ok(())
}

/// `cargo xtask bench`: the throughput table, or with `--backends` or
/// `--peers` that table instead.
fn bench(a: BenchArgs) -> anyhow::Result<String> {
    if a.backends {
        return xtask::backends::run_backends(&xtask::backends::BackendOptions {
            runs: a.runs.max(1),
            quick: a.quick,
        });
    }
    if a.peers {
        return xtask::peers::run(&xtask::peers::PeerOptions {
            mib: if a.quick { a.mib.min(64) } else { a.mib }.max(16),
            runs: a.runs.max(1),
            jq_runs: a.jq_runs.max(1),
            no_jq: a.no_jq,
            only: a.only,
        });
    }
    // As .ci/run finds it: SCOUT_AUDIT_REFERENCE, else ../shared.
    let default = std::env::var_os("SCOUT_AUDIT_REFERENCE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| xtask::util::root().join("../shared/reference/audit.py"));
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
    xtask::bench::run(&xtask::bench::BenchOptions {
        runs: a.runs.max(1),
        python_runs: a.python_runs.max(1),
        quick: a.quick,
        reference,
    })
}

/// `cargo xtask tidy`: one line per violation, an error if there is any.
fn tidy() -> anyhow::Result<()> {
    let found = xtask::tidy::check(&xtask::util::root())?;
    if !found.is_empty() {
        let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
        print_quietly(&lines.join("\n"))?;
    }
    ensure!(found.is_empty(), "tidy: {} violations", found.len());
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
