//! `cargo xtask bench`: the `log()` throughput table, scout-audit against
//! the Python reference in the same run, on the same workload.
//!
//! Each configuration (durability level × threads) runs several times in a
//! fresh temporary directory; the table gives medians (these machines are
//! shared and noisy), the ratio to the reference, the issue's target, and
//! the physical bound the measured fsync latency puts on fsync'd levels:
//! for those rows also the share of the bound reached, the events one
//! fsync covered (the runner counts the writer's fsyncs), the fsync
//! latency inside the run itself (the writer times its fsyncs) and the
//! share of the bound that latency gives.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::util::{fmt_rate, median};
use anyhow::{Context, Result, bail};

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Runs of each scout-audit configuration (the median is reported).
    pub runs: usize,
    /// Runs of each reference configuration.
    pub python_runs: usize,
    /// Divide every event count by 10 (a smoke run).
    pub quick: bool,
    /// The Python reference (`audit.py`); `None` skips it.
    pub reference: Option<PathBuf>,
}

struct Config {
    mode: &'static str,
    threads: u64,
    events: u64,
    py_events: Option<u64>,
    target: Option<f64>,
}

const CONFIGS: [Config; 8] = [
    Config {
        mode: "process",
        threads: 1,
        events: 1_000_000,
        py_events: Some(200_000),
        target: Some(500_000.0),
    },
    Config {
        mode: "process",
        threads: 8,
        events: 1_000_000,
        py_events: Some(200_000),
        target: None,
    },
    Config {
        mode: "policy",
        threads: 1,
        events: 200_000,
        py_events: Some(50_000),
        target: Some(100_000.0),
    },
    Config {
        mode: "policy",
        threads: 8,
        events: 200_000,
        py_events: Some(50_000),
        target: None,
    },
    Config {
        mode: "sync",
        threads: 1,
        events: 10_000,
        py_events: Some(3_000),
        target: None,
    },
    Config {
        mode: "sync",
        threads: 8,
        events: 80_000,
        py_events: Some(8_000),
        target: Some(100_000.0),
    },
    Config {
        mode: "buffered",
        threads: 1,
        events: 1_000_000,
        py_events: None,
        target: None,
    },
    Config {
        mode: "buffered",
        threads: 8,
        events: 1_000_000,
        py_events: None,
        target: None,
    },
];

/// Median latency in µs of a 200-byte append followed by `fdatasync`.
pub fn fsync_latency_us(dir: &Path) -> Result<f64> {
    let path = dir.join("fsync-probe");
    let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
    let line = [b'x'; 200];
    let mut v = Vec::with_capacity(300);
    for _ in 0..300 {
        let t = Instant::now();
        f.write_all(&line)?;
        f.sync_data()?;
        v.push(t.elapsed().as_secs_f64() * 1e6);
    }
    std::fs::remove_file(&path)?;
    Ok(median(v))
}

fn events_per_sec(out: &[u8]) -> Result<f64> {
    number(out, "events_per_sec")
}

/// The number after `"name":` in a runner's JSON line.
fn number(out: &[u8], name: &str) -> Result<f64> {
    let text = String::from_utf8_lossy(out);
    let key = format!("\"{name}\":");
    let i = text
        .find(&key)
        .with_context(|| format!("no {name} in {text:?}"))?;
    let rest = text[i + key.len()..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || ".eE+-".contains(c)))
        .unwrap_or(rest.len());
    rest[..end]
        .parse()
        .with_context(|| format!("bad {name} in {text:?}"))
}

/// Runs a runner; its output line.
fn output(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd.output().context("cannot run the benchmark runner")?;
    if !out.status.success() {
        bail!(
            "benchmark runner failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

fn run_once(cmd: &mut Command) -> Result<f64> {
    events_per_sec(&output(cmd)?)
}

/// `x` with `digits` decimals, or `-` when NaN.
fn fmt_nan(x: f64, digits: usize) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{x:.digits$}")
    }
}

/// Builds the runner, measures every configuration, returns the table.
pub fn run(opts: &BenchOptions) -> Result<String> {
    let root = crate::util::root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "scout-audit-benches",
            "--bin",
            "throughput",
            "--bin",
            "seal_throughput",
        ])
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("building the throughput runner failed");
    }
    let scratch = tempfile::Builder::new()
        .prefix("scout-audit-bench-")
        .tempdir()?;
    let fsync_us = fsync_latency_us(scratch.path())?;
    let runners = Runners {
        ours: root.join("target/release/throughput"),
        script: root.join("benches/python/reference_throughput.py"),
        scratch: scratch.path(),
        scale: if opts.quick { 10 } else { 1 },
    };
    let mut table = String::new();
    writeln!(
        table,
        "log() throughput, events/s, median of {} runs (Python reference: {} runs); fsync (200 B append + fdatasync) median {fsync_us:.0} µs\n",
        opts.runs, opts.python_runs
    )?;
    writeln!(
        table,
        "| level | threads | scout-audit | Python reference | ratio | target | fsync bound | of the bound | events / fsync | fsync in the run | of its bound |"
    )?;
    writeln!(table, "|---|---|---|---|---|---|---|---|---|---|---|")?;
    for c in &CONFIGS {
        let rates = runners.measure(c, opts)?;
        writeln!(table, "{}", row(c, &rates, fsync_us))?;
    }
    writeln!(
        table,
        "\nlevels: process = in the kernel, no fsync policy; policy = process + fsync every 10 lines / 1 s (the default);\nsync = fsync'd before log() returns (group commit across threads); buffered = in memory, written within 50 ms.\nThe reference has no buffered level; its 'process' has its fsync disabled, its 'sync' fsyncs every line. No rotation in either."
    )?;
    let sealing = Sealing {
        exe: root.join("target/release/seal_throughput"),
        scratch: scratch.path(),
        events: 1_000_000 / runners.scale,
    };
    table.push_str(&sealing.table(opts.runs)?);
    Ok(table)
}

/// The two runners and where they run.
struct Runners<'a> {
    /// scout-audit's `throughput` binary.
    ours: PathBuf,
    /// The Python reference's runner script.
    script: PathBuf,
    /// Each run gets a fresh directory in here.
    scratch: &'a Path,
    /// 10 for a quick run (ten times fewer events), else 1.
    scale: u64,
}

/// What one configuration measured, in events/s.
struct Rates {
    /// scout-audit's median, slowest and fastest run.
    median: f64,
    min: f64,
    max: f64,
    /// The reference's median; NaN when not run.
    python: f64,
    /// Median events per fsync of the writer; NaN when it fsynced never.
    per_fsync: f64,
    /// Median of each run's mean fsync latency in µs; NaN when none.
    fsync_us: f64,
}

/// What one run of the runner measured.
struct RunFigures {
    rate: f64,
    /// Events per fsync (NaN: no fsync).
    per_fsync: f64,
    /// Mean fsync latency in µs (NaN: no fsync).
    fsync_us: f64,
}

/// Reads a runner's line: the rate, and the fsync figures when it gives
/// them (the file backend does).
fn run_figures(out: &[u8]) -> Result<RunFigures> {
    let rate = events_per_sec(out)?;
    let fsyncs = number(out, "fsyncs").unwrap_or(0.0);
    if fsyncs == 0.0 {
        return Ok(RunFigures {
            rate,
            per_fsync: f64::NAN,
            fsync_us: f64::NAN,
        });
    }
    Ok(RunFigures {
        rate,
        per_fsync: number(out, "events")? / fsyncs,
        fsync_us: number(out, "fsync_secs")? * 1e6 / fsyncs,
    })
}

impl Runners<'_> {
    /// Runs configuration `c`: scout-audit `opts.runs` times, then the
    /// reference (where it has the level) `opts.python_runs` times.
    fn measure(&self, c: &Config, opts: &BenchOptions) -> Result<Rates> {
        let (mut ours, mut per_fsync, mut fsync_us) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..opts.runs {
            let dir = tempfile::tempdir_in(self.scratch)?;
            let f = run_figures(&output(
                Command::new(&self.ours)
                    .arg(c.mode)
                    .arg(c.threads.to_string())
                    .arg((c.events / self.scale).to_string())
                    .arg(dir.path()),
            )?)?;
            ours.push(f.rate);
            per_fsync.push(f.per_fsync);
            fsync_us.push(f.fsync_us);
        }
        let min = ours.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ours.iter().copied().fold(0.0, f64::max);
        let median_rate = median(ours);
        let mut python = f64::NAN;
        if let (Some(reference), Some(n)) = (&opts.reference, c.py_events) {
            let mut v = Vec::new();
            for _ in 0..opts.python_runs {
                let dir = tempfile::tempdir_in(self.scratch)?;
                v.push(run_once(
                    Command::new("python3")
                        .arg(&self.script)
                        .arg(c.mode)
                        .arg(c.threads.to_string())
                        .arg((n / self.scale).to_string())
                        .arg(dir.path())
                        .env("SCOUT_AUDIT_REFERENCE", reference),
                )?);
            }
            python = median(v);
        }
        Ok(Rates {
            median: median_rate,
            min,
            max,
            python,
            per_fsync: median_or_nan(per_fsync),
            fsync_us: median_or_nan(fsync_us),
        })
    }
}

/// The median of `v` without its NaNs; NaN when nothing is left.
fn median_or_nan(v: Vec<f64>) -> f64 {
    median(v.into_iter().filter(|x| !x.is_nan()).collect())
}

/// The table row of configuration `c` (without its newline).
fn row(c: &Config, r: &Rates, fsync_us: f64) -> String {
    // Events an fsync may cover at most: the policy's lines, or one
    // waiting event per thread at `sync`.
    let per = match c.mode {
        "policy" => Some((10.0, "10 lines / fsync".to_string())),
        "sync" => Some((c.threads as f64, format!("{} / fsync", c.threads))),
        _ => None,
    };
    let (bound, share, per_fsync, in_run, in_run_share) = match per {
        Some((n, what)) => {
            let bound = n / (fsync_us * 1e-6);
            let (in_run, in_run_share) = if r.fsync_us.is_nan() {
                ("-".into(), "-".into())
            } else {
                let b = n / (r.fsync_us * 1e-6);
                (
                    format!("{:.0} µs", r.fsync_us),
                    format!("{:.1} %", 100.0 * r.median / b),
                )
            };
            (
                format!("{} ({what})", fmt_rate(bound)),
                format!("{:.1} %", 100.0 * r.median / bound),
                fmt_nan(r.per_fsync, 2),
                in_run,
                in_run_share,
            )
        }
        None => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
    };
    let target = c
        .target
        .map_or("-".into(), |t| format!(">= {}", fmt_rate(t)));
    let ratio = if r.python.is_nan() {
        "-".into()
    } else {
        format!("{:.1}x", r.median / r.python)
    };
    format!(
        "| {} | {} | {} [{}–{}] | {} | {ratio} | {target} | {bound} | {share} | {per_fsync} | {in_run} | {in_run_share} |",
        c.mode,
        c.threads,
        fmt_rate(r.median),
        fmt_rate(r.min),
        fmt_rate(r.max),
        fmt_rate(r.python)
    )
}

/// The sealing rows: `log()` at `process` from one thread on a store set
/// up for sealing (its writer seals once a second) against one that is
/// not, and the seal log's growth.
struct Sealing<'a> {
    /// The `seal_throughput` runner.
    exe: PathBuf,
    /// Each run gets a fresh directory in here.
    scratch: &'a Path,
    /// Events per run.
    events: u64,
}

/// What the sealed runs measured (medians).
struct SealFigures {
    rate: f64,
    seals: f64,
    bytes_per_seal: f64,
    idle_growth: f64,
}

impl Sealing<'_> {
    fn run(&self, mode: &str) -> Result<Vec<u8>> {
        let dir = tempfile::tempdir_in(self.scratch)?;
        output(
            Command::new(&self.exe)
                .arg(mode)
                .arg(self.events.to_string())
                .arg(dir.path()),
        )
    }

    /// Runs both modes `runs` times, interleaved (so drift of a shared
    /// machine hits both alike), and returns the section.
    fn table(&self, runs: usize) -> Result<String> {
        let (mut off, mut on) = (Vec::new(), Vec::new());
        let (mut seals, mut per_seal, mut idle) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            off.push(events_per_sec(&self.run("off")?)?);
            let out = self.run("on")?;
            on.push(events_per_sec(&out)?);
            let n = number(&out, "seals")?;
            seals.push(n);
            per_seal.push(number(&out, "seal_line_bytes")? / n.max(1.0));
            idle.push(number(&out, "idle_growth")?);
        }
        let figures = SealFigures {
            rate: median(on),
            seals: median(seals),
            bytes_per_seal: median(per_seal),
            idle_growth: median(idle),
        };
        Ok(sealing_section(self.events, runs, median(off), &figures))
    }
}

/// The sealing section: the rate with sealing against without (the
/// target is 95 % or more), and the seal log per day at one seal a second
/// (the writer's rate whenever it logs at least once a second) and idle.
fn sealing_section(events: u64, runs: usize, off: f64, f: &SealFigures) -> String {
    let per_day = f.bytes_per_seal * 86_400.0 / (1 << 20) as f64;
    format!(
        "\nSealing: log() at process, 1 thread, {events} events, median of {runs} runs (seal_throughput on|off)\n\n\
         | sealing | events/s | ratio | target | seals in the run | bytes a seal | seal log a day at 1 seal/s | idle writer, 2.5 s |\n\
         |---|---|---|---|---|---|---|---|\n\
         | off | {} | - | - | - | - | - | - |\n\
         | on (1 s) | {} | {:.1} % | >= 95 % | {:.0} | {:.0} | {per_day:.1} MiB (+ a certificate a minute) | {:.0} bytes |\n",
        fmt_rate(off),
        fmt_rate(f.rate),
        100.0 * f.rate / off,
        f.seals,
        f.bytes_per_seal,
        f.idle_growth,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_from_the_runner() {
        let r = events_per_sec(br#"{"mode":"x","events_per_sec":523456.7}"#).unwrap();
        assert_eq!(r, 523456.7);
        assert!(events_per_sec(b"nothing").is_err());
        assert_eq!(
            number(br#"{"seals":3,"idle_growth":0}"#, "idle_growth").unwrap(),
            0.0
        );
    }

    #[test]
    fn the_sealing_section_gives_the_ratio_and_the_log_per_day() {
        let f = SealFigures {
            rate: 960.0,
            seals: 3.0,
            bytes_per_seal: 1024.0,
            idle_growth: 0.0,
        };
        let s = sealing_section(10, 5, 1000.0, &f);
        assert!(
            s.contains("| on (1 s) | 1.0k | 96.0 % | >= 95 % | 3 | 1024 | 84.4 MiB"),
            "{s}"
        );
        assert!(s.contains("| 0 bytes |"), "{s}");
    }

    #[test]
    fn a_row_without_the_reference_has_no_ratio() {
        let rates = Rates {
            median: 2.0,
            min: 1.0,
            max: 3.0,
            python: f64::NAN,
            per_fsync: f64::NAN,
            fsync_us: f64::NAN,
        };
        let r = row(&CONFIGS[6], &rates, 100.0);
        assert!(r.starts_with("| buffered | 1 | "), "{r}");
        assert!(r.ends_with(" | - | - | - | - | - | - | - |"), "{r}");
    }

    #[test]
    fn an_fsyncd_row_gives_the_share_of_the_bound_and_events_per_fsync() {
        let out = br#"{"mode":"sync","threads":8,"events":8000,"secs":0.4,"events_per_sec":20000,"fsyncs":1000,"fsync_secs":0.25}"#;
        let f = run_figures(out).unwrap();
        assert_eq!((f.rate, f.per_fsync, f.fsync_us), (20000.0, 8.0, 250.0));
        let rates = Rates {
            median: f.rate,
            min: f.rate,
            max: f.rate,
            python: f64::NAN,
            per_fsync: median_or_nan(vec![f.per_fsync, f64::NAN, 6.0]),
            fsync_us: median_or_nan(vec![f.fsync_us]),
        };
        // 8 threads / 320 µs = 25k events/s; 20k is 80 % of it.
        let r = row(&CONFIGS[5], &rates, 320.0);
        assert!(
            r.ends_with("| 25.0k (8 / fsync) | 80.0 % | 7.00 | 250 µs | 62.5 % |"),
            "{r}"
        );
        let none = run_figures(br#"{"events":5,"events_per_sec":9}"#).unwrap();
        assert!(none.per_fsync.is_nan() && none.fsync_us.is_nan());
    }
}
