//! `scout-audit demo`: a realistic log written to a fresh temporary store
//! (never the default one), rotations shown as they happen, then the
//! headline questions answered with timings.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use scout_audit_core::agg::{GroupBy, spend_cutoff};
use scout_audit_core::{Durability, Event, Filter, SessionId, Timestamp, types};
use scout_audit_scan::{Inputs, Scan};
use scout_audit_store_file::Layout;
use scout_audit_store_file::fs::RealFs;

use crate::Cli;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Events to write.
    #[arg(long, default_value_t = 400_000)]
    events: u64,
    /// Concurrent writers (each its own session, as separate processes would be).
    #[arg(long, default_value_t = 4)]
    writers: u64,
    /// Keep the temporary store instead of deleting it at the end.
    #[arg(long)]
    keep: bool,
}

/// splitmix64: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const MODELS: [&str; 4] = [
    "claude-sonnet-4",
    "claude-haiku-4",
    "gpt-4.1-mini",
    "llama-3.1-70b",
];
const FILES: [&str; 6] = [
    "src/main.rs",
    "src/lib.rs",
    "README.md",
    "docs/design.md",
    "tests/it/main.rs",
    "Cargo.toml",
];

fn event(rng: &mut Rng, ts: Timestamp) -> Event {
    let roll = rng.below(100);
    let model = MODELS[rng.below(MODELS.len() as u64) as usize];
    let cost = (rng.unit() * rng.unit() * 0.2 * 1e6).round() / 1e6;
    let e = match roll {
        0..45 => Event::new(types::NAV)
            .model(model)
            .cost(cost)
            .confidence(50 + rng.below(51) as i64)
            .files([FILES[rng.below(6) as usize]]),
        45..70 => Event::new(types::LLM_CALL)
            .model(model)
            .cost(cost)
            .input_t(200 + rng.below(8000))
            .output_t(20 + rng.below(1500))
            .duration_ms(100 + rng.below(5000)),
        70..80 => Event::new(types::BRIEF).cost(cost / 4.0).model(model),
        80..88 => Event::new(types::VALIDATION_FAIL).reason("target file does not exist"),
        88..96 => Event::new(types::CASCADE)
            .model(model)
            .cost(cost)
            .config(serde_json::json!({"tier": rng.below(3), "fallback": true})),
        _ => Event::new(types::BUDGET_EXCEEDED).reason("hourly budget reached"),
    };
    e.ts(ts).field("repo", "scout")
}

fn seg_names(layout: &Layout) -> BTreeSet<String> {
    layout
        .list(&RealFs)
        .map(|l| l.all.into_iter().map(|s| s.name).collect())
        .unwrap_or_default()
}

/// `scout-audit demo`: a temporary store (or `--path`), written by
/// concurrent writers with rotations shown as they happen, then the
/// headline questions answered with timings.
pub fn run(cli: &Cli, a: &DemoArgs) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    let target = Target::choose(cli)?;
    let path = target.path.clone();
    writeln!(
        out,
        "scout-audit demo: writing {} events with {} writers to {}",
        a.events,
        a.writers,
        path.display()
    )?;
    writeln!(
        out,
        "  durability process, fsync every {} lines / {:?}, rotation at {} bytes\n",
        cli.fsync_lines, cli.fsync_interval, cli.rotate_size
    )?;
    let layout =
        Layout::new(&path).map_err(|r| anyhow::anyhow!("invalid path {}: {r}", path.display()))?;
    let now = cli.now();
    write_log(cli, a, &path, &layout, now, &mut out)?;
    writeln!(out, "\nheadline answers (as of {now}):\n")?;
    headline_answers(cli, &path, &layout, now, &mut out)?;
    writeln!(out)?;
    target.finish(a.keep, &mut out)?;
    Ok(ExitCode::SUCCESS)
}

/// Where the demo writes: never the default store.
struct Target {
    /// The live file of the demo's store.
    path: PathBuf,
    /// The temporary directory holding it (`None`: `--path` was given).
    temp: Option<tempfile::TempDir>,
}

impl Target {
    /// `--path` on the command line, or a fresh temporary directory.
    fn choose(cli: &Cli) -> Result<Target> {
        Ok(match &cli.path {
            Some(p) => Target {
                path: PathBuf::from(p),
                temp: None,
            },
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("scout-audit-demo-")
                    .tempdir()
                    .context("cannot create a temporary directory")?;
                Target {
                    path: dir.path().join("audit.jsonl"),
                    temp: Some(dir),
                }
            }
        })
    }

    /// Keeps or deletes the temporary store, and says which.
    fn finish(self, keep: bool, out: &mut io::StdoutLock<'_>) -> Result<()> {
        match self.temp {
            Some(dir) if keep => {
                let kept: PathBuf = dir.keep();
                writeln!(out, "kept the store in {}", kept.display())?;
            }
            Some(_) => writeln!(
                out,
                "the temporary store is deleted now (--keep to keep it)"
            )?,
            None => writeln!(out, "the store is at {}", self.path.display())?,
        }
        Ok(())
    }
}

/// Writes the events over the week before `now` with `--writers`
/// concurrent writers (each its own session), showing rotations and
/// compressions as they happen, and waits for the compressions.
fn write_log(
    cli: &Cli,
    a: &DemoArgs,
    path: &Path,
    layout: &Layout,
    now: Timestamp,
    out: &mut io::StdoutLock<'_>,
) -> Result<()> {
    let span = Duration::from_secs(7 * 86_400);
    let start = now.saturating_sub(span);
    let per_writer = a.events / a.writers.max(1);
    let stores = (0..a.writers.max(1))
        .map(|_| {
            cli.builder(path.to_path_buf(), Durability::Process)
                .session(SessionId::random())
                .open()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let t0 = Instant::now();
    let result: Result<()> = std::thread::scope(|sc| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(w, store)| {
                sc.spawn(move || -> Result<()> {
                    let mut rng = Rng(0x5C07_A0D1 + w as u64);
                    let step = span.as_nanos() / u128::from(per_writer.max(1));
                    for i in 0..per_writer {
                        let off =
                            Duration::from_nanos(u64::try_from(step * u128::from(i)).unwrap_or(0));
                        store.append(event(&mut rng, start.saturating_add(off)))?;
                    }
                    Ok(())
                })
            })
            .collect();
        let mut seen = seg_names(layout);
        while !handles.iter().all(|h| h.is_finished()) {
            show_new_segments(out, layout, &mut seen, t0)?;
            std::thread::sleep(Duration::from_millis(20));
        }
        let write_secs = t0.elapsed().as_secs_f64();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
        }
        let total = per_writer * a.writers.max(1);
        writeln!(
            out,
            "\n  wrote {total} events in {write_secs:.2} s ({:.0} events/s); waiting for background compression",
            total as f64 / write_secs
        )?;
        for s in &stores {
            s.wait_compressed();
        }
        show_new_segments(out, layout, &mut seen, t0)?;
        Ok(())
    });
    result?;
    for s in &stores {
        s.close()?;
    }
    Ok(())
}

/// Shows the segments sealed or compressed since `seen` was listed.
fn show_new_segments(
    out: &mut io::StdoutLock<'_>,
    layout: &Layout,
    seen: &mut BTreeSet<String>,
    t0: Instant,
) -> io::Result<()> {
    let now_names = seg_names(layout);
    for n in now_names.difference(seen) {
        let what = if n.ends_with(".gz") {
            "compressed"
        } else if n.ends_with(".tmp") {
            continue;
        } else {
            "sealed    "
        };
        writeln!(out, "  {:>6.2}s  {what}  {n}", t0.elapsed().as_secs_f64())?;
    }
    *seen = now_names;
    Ok(())
}

/// Prints one answer and how long it took.
fn timed(
    label: &str,
    out: &mut io::StdoutLock<'_>,
    f: &mut dyn FnMut() -> Result<String>,
) -> Result<()> {
    let t = Instant::now();
    let answer = f()?;
    writeln!(
        out,
        "  {label:<40} {answer}   [{:.0} ms]",
        t.elapsed().as_secs_f64() * 1000.0
    )?;
    Ok(())
}

/// The headline questions, answered by the engine every read command
/// uses: the parallel scanner, which answers archives wholly inside a
/// window from their indexes; then `verify`.
fn headline_answers(
    cli: &Cli,
    path: &Path,
    layout: &Layout,
    now: Timestamp,
    out: &mut io::StdoutLock<'_>,
) -> Result<()> {
    let scan = |f: Filter| -> Result<Scan> {
        Ok(Scan::new(Inputs::store(path)?)
            .filter(f)
            .threads(cli.threads))
    };
    let day_ago = now.saturating_sub(Duration::from_secs(86_400));
    timed("spend, last hour (hourly_spend(1))", out, &mut || {
        let cut = spend_cutoff(now, 1.0).unwrap_or(now);
        let s = scan(Filter::new().since(cut))?.spend(None)?.value;
        Ok(format!("${:.4}", s.total?))
    })?;
    timed("spend by model, last 24 h", out, &mut || {
        let s = scan(Filter::new().since(day_ago))?
            .spend(Some(GroupBy::Model))?
            .value;
        let parts: Vec<String> = s
            .groups
            .iter()
            .flat_map(|by| by.groups())
            .map(|(k, g)| {
                Ok(format!(
                    "{}=${:.2}",
                    k.unwrap_or("(no model)"),
                    g.cost.value()?
                ))
            })
            .collect::<Result<_>>()?;
        Ok(parts.join(" "))
    })?;
    timed("navigation accuracy since 24 h ago", out, &mut || {
        let m = scan(Filter::new().since(day_ago))?.accuracy()?.value;
        Ok(format!(
            "{}% ({} nav, {} failures)",
            m.accuracy_pct, m.total_nav, m.validation_fail_count
        ))
    })?;
    timed("last 3 validation failures", out, &mut || {
        let last = scan(Filter::new().event(types::VALIDATION_FAIL))?
            .last(3)?
            .value;
        let ts: Vec<String> = last
            .iter()
            .map(|r| r.ts().map(|t| t.to_python_string()).unwrap_or_default())
            .collect();
        Ok(ts.join(", "))
    })?;
    timed("verify (every segment, seq per session)", out, &mut || {
        let rep = scout_audit_store_file::verify::verify(Arc::new(RealFs), layout)?;
        let segs = rep.read.segments;
        Ok(format!(
            "{} records in {segs} segments, {} sessions: {}",
            rep.read.records,
            rep.sessions,
            if rep.is_ok() { "OK" } else { "PROBLEMS" }
        ))
    })
}
