//! `cargo xtask bench --backends`: the backends table. Events/s written at
//! each durability level by the file store, SQLite and PostgreSQL (1 and 8
//! threads), Q1–Q3 times on about a million events per backend (the same
//! events, copied from the file store, so the answers must agree), and the
//! time to export about 1 GiB to Parquet.
//!
//! PostgreSQL comes from `.ci/pg-start` (a throwaway cluster on loopback;
//! Debian's package installed if missing) unless `SCOUT_AUDIT_PG_URL` names
//! one; each measurement gets a fresh database.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::datagen::{GenOptions, MIB, generate};
use crate::util::{fmt_rate, median, root, run};

/// What to run.
#[derive(Clone, Debug)]
pub struct BackendOptions {
    /// Runs per measurement (the median is reported).
    pub runs: usize,
    /// Ten times fewer events (a smoke run).
    pub quick: bool,
}

fn field(json: &str, key: &str) -> Result<String> {
    let k = format!("\"{key}\":");
    let i = json
        .find(&k)
        .with_context(|| format!("no {key} in {json}"))?;
    let rest = json[i + k.len()..].trim_start();
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ',', '}']).unwrap_or(rest.len());
    Ok(rest[..end].to_owned())
}

/// A PostgreSQL server: `SCOUT_AUDIT_PG_URL`'s, or a throwaway one this
/// run starts with `.ci/pg-start` and stops when the guard drops (also on
/// an error).
struct Postgres {
    url: String,
    started: bool,
}

impl Postgres {
    fn get() -> Result<Postgres> {
        if let Ok(u) = std::env::var("SCOUT_AUDIT_PG_URL")
            && !u.is_empty()
        {
            return Ok(Postgres {
                url: u,
                started: false,
            });
        }
        let out = run(Command::new("bash")
            .arg(root().join(".ci/pg-start"))
            .arg("54329"))?;
        Ok(Postgres {
            url: out.trim().to_owned(),
            started: true,
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.started {
            let _ = Command::new("bash")
                .arg(root().join(".ci/pg-stop"))
                .arg("54329")
                .status();
        }
    }
}

/// A fresh database on the server; returns its URL.
fn fresh_db(admin: &str, name: &str) -> Result<String> {
    run(Command::new("psql").args([
        admin,
        "-qc",
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    ]))?;
    run(Command::new("psql").args([admin, "-qc", &format!("CREATE DATABASE {name}")]))?;
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

/// Measures everything; returns the tables as text.
pub fn run_backends(opts: &BackendOptions) -> Result<String> {
    let root = root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo).current_dir(&root).args([
        "build",
        "--release",
        "-q",
        "-p",
        "scout-audit-benches",
        "--bins",
        "-p",
        "scout-audit-cli",
    ]))?;
    let bin = |n: &str| root.join("target/release").join(n);
    let pg_server = Postgres::get()?;
    let admin = pg_server.url.clone();
    let scale = if opts.quick { 10 } else { 1 };
    let scratch = tempfile::Builder::new()
        .prefix("scout-audit-backends-")
        .tempdir()?;
    let mut out = String::new();
    writeln!(
        out,
        "write throughput, events/s, median of {} runs (8 threads share one store)\n",
        opts.runs
    )?;
    writeln!(out, "| level | threads | file | SQLite | PostgreSQL |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    // (mode, threads, events for file, sqlite, postgres)
    let configs: [(&str, u64, [u64; 3]); 6] = [
        ("process", 1, [300_000, 50_000, 20_000]),
        ("process", 8, [300_000, 80_000, 60_000]),
        ("sync", 1, [5_000, 3_000, 2_000]),
        ("sync", 8, [40_000, 20_000, 20_000]),
        ("buffered", 1, [1_000_000, 300_000, 200_000]),
        ("buffered", 8, [1_000_000, 300_000, 200_000]),
    ];
    let mut n = 0;
    for (mode, threads, events) in configs {
        let mut cells = Vec::new();
        for (b, ev) in ["file", "sqlite", "postgres"].iter().zip(events) {
            let mut rates = Vec::new();
            for _ in 0..opts.runs.max(1) {
                n += 1;
                let dir = tempfile::tempdir_in(scratch.path())?;
                let backend = match *b {
                    "postgres" => fresh_db(&admin, &format!("scout_bench_{n}"))?,
                    other => other.to_owned(),
                };
                let o = run(Command::new(bin("throughput"))
                    .args([mode, &threads.to_string(), &(ev / scale).to_string()])
                    .arg(dir.path())
                    .arg(&backend))?;
                rates.push(field(&o, "events_per_sec")?.parse::<f64>()?);
                if *b == "postgres" {
                    run(Command::new("psql").args([
                        admin.as_str(),
                        "-qc",
                        &format!("DROP DATABASE IF EXISTS scout_bench_{n} WITH (FORCE)"),
                    ]))?;
                }
            }
            cells.push(fmt_rate(median(rates)));
        }
        writeln!(
            out,
            "| {mode} | {threads} | {} | {} | {} |",
            cells[0], cells[1], cells[2]
        )?;
    }

    // Q1–Q3 on about a million events per backend.
    let data = root.join(format!("bench-data/backends-{}m/audit.jsonl", 240 / scale));
    if !data.exists() {
        let mut g = GenOptions::new(&data);
        g.archive_bytes = 230 * MIB / scale;
        g.live_bytes = 10 * MIB / scale;
        g.days = 90.0;
        g.force = true;
        generate(&g)?;
    }
    let now = "2026-11-27T00:00:00Z";
    let sqlite = format!("sqlite:{}", scratch.path().join("q.db").display());
    let pg = fresh_db(&admin, "scout_bench_queries")?;
    let mut copy_rates = Vec::new();
    for target in [&sqlite, &pg] {
        let t0 = Instant::now();
        let o = run(Command::new(bin("scout-audit")).args([
            "copy",
            "--from",
            &data.display().to_string(),
            "--to",
            target,
        ]))?;
        let secs = t0.elapsed().as_secs_f64();
        let copied: f64 = o
            .split_whitespace()
            .nth(1)
            .unwrap_or("0")
            .parse()
            .unwrap_or(0.0);
        copy_rates.push((copied, secs));
    }
    writeln!(
        out,
        "\nQ1–Q3 on {} events (the same events in each backend), median seconds of {} runs\n",
        copy_rates[0].0, opts.runs
    )?;
    writeln!(
        out,
        "| backend | Q1 nav, 30 d | Q2 cost, 7 d | Q3 accuracy, 30 d | answers |"
    )?;
    writeln!(out, "|---|---|---|---|---|")?;
    let mut answers = Vec::new();
    for (name, store) in [
        (
            "file (scanner, as the CLI)",
            format!("scan:{}", data.display()),
        ),
        ("file (sequential reader)", data.display().to_string()),
        ("SQLite", sqlite.clone()),
        ("PostgreSQL", pg.clone()),
    ] {
        let o = run(Command::new(bin("queries")).args([
            store.as_str(),
            now,
            &opts.runs.max(1).to_string(),
        ]))?;
        let a = format!(
            "{} / {} / {}",
            field(&o, "q1")?,
            field(&o, "q2")?,
            field(&o, "q3")?
        );
        writeln!(
            out,
            "| {name} | {:.3} | {:.3} | {:.3} | {a} |",
            field(&o, "q1_s")?.parse::<f64>()?,
            field(&o, "q2_s")?.parse::<f64>()?,
            field(&o, "q3_s")?.parse::<f64>()?
        )?;
        answers.push(a);
    }
    if answers.windows(2).any(|w| w[0] != w[1]) {
        bail!("backends disagree: {answers:?}\n{out}");
    }
    writeln!(
        out,
        "\ncopy from the file store (import, durable batches of 2000): SQLite {:.1}k records/s, PostgreSQL {:.1}k records/s",
        copy_rates[0].0 / copy_rates[0].1 / 1e3,
        copy_rates[1].0 / copy_rates[1].1 / 1e3
    )?;
    run(Command::new("psql").args([
        admin.as_str(),
        "-qc",
        "DROP DATABASE IF EXISTS scout_bench_queries WITH (FORCE)",
    ]))?;

    // Export of about 1 GiB to Parquet: the gzip store of `bench --peers`.
    let big = crate::peers::gzip_store(1024 / scale)?;
    let mut secs = Vec::new();
    let mut last = String::new();
    for i in 0..opts.runs.max(1) {
        let dir = scratch.path().join(format!("export-{i}"));
        let t0 = Instant::now();
        last = run(Command::new(bin("scout-audit"))
            .args(["--path", &big.display().to_string(), "export", "--out"])
            .arg(&dir))?;
        secs.push(t0.elapsed().as_secs_f64());
        std::fs::remove_dir_all(&dir)?;
    }
    writeln!(
        out,
        "\nexport of {} MiB to Parquet: median {:.2} s ({})",
        1024 / scale,
        median(secs),
        last.trim()
    )?;
    Ok(out)
}
