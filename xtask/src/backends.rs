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

/// One row of the write-throughput table: a durability level, a thread
/// count, and how many events each backend writes (fewer for the slower
/// ones, so each run takes seconds).
struct WriteRow {
    /// The durability level, as `throughput` takes it.
    level: &'static str,
    threads: u64,
    /// Events for the file store, SQLite and PostgreSQL.
    events: [u64; 3],
}

/// The write-throughput table's rows.
const WRITE_ROWS: [WriteRow; 6] = [
    WriteRow {
        level: "process",
        threads: 1,
        events: [300_000, 50_000, 20_000],
    },
    WriteRow {
        level: "process",
        threads: 8,
        events: [300_000, 80_000, 60_000],
    },
    WriteRow {
        level: "sync",
        threads: 1,
        events: [5_000, 3_000, 2_000],
    },
    WriteRow {
        level: "sync",
        threads: 8,
        events: [40_000, 20_000, 20_000],
    },
    WriteRow {
        level: "buffered",
        threads: 1,
        events: [1_000_000, 300_000, 200_000],
    },
    WriteRow {
        level: "buffered",
        threads: 8,
        events: [1_000_000, 300_000, 200_000],
    },
];

/// What every measurement of a run shares.
struct Bench {
    /// Where the release binaries are.
    release: std::path::PathBuf,
    /// The PostgreSQL server's admin URL.
    admin: String,
    /// 10 for a quick run (ten times fewer events), else 1.
    scale: u64,
    /// Runs per measurement, at least 1.
    runs: usize,
    /// Scratch space, removed at the end.
    scratch: tempfile::TempDir,
}

impl Bench {
    fn bin(&self, name: &str) -> std::path::PathBuf {
        self.release.join(name)
    }
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
    let pg_server = Postgres::get()?;
    let b = Bench {
        release: root.join("target/release"),
        admin: pg_server.url.clone(),
        scale: if opts.quick { 10 } else { 1 },
        runs: opts.runs,
        scratch: tempfile::Builder::new()
            .prefix("scout-audit-backends-")
            .tempdir()?,
    };
    let mut out = String::new();
    write_table(&b, &mut out)?;
    query_table(&b, &root, &mut out)?;
    export_line(&b, &mut out)?;
    Ok(out)
}

/// The write-throughput table: events/s of each backend at each row of
/// [`WRITE_ROWS`], the median of the runs.
fn write_table(b: &Bench, out: &mut String) -> Result<()> {
    writeln!(
        out,
        "write throughput, events/s, median of {} runs (8 threads share one store)\n",
        b.runs
    )?;
    writeln!(out, "| level | threads | file | SQLite | PostgreSQL |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    // Numbers the PostgreSQL databases of the runs.
    let mut n = 0;
    for row in &WRITE_ROWS {
        let (mode, threads) = (row.level, row.threads);
        let mut cells = Vec::new();
        for (backend, ev) in ["file", "sqlite", "postgres"].iter().zip(row.events) {
            let mut rates = Vec::new();
            for _ in 0..b.runs.max(1) {
                n += 1;
                let dir = tempfile::tempdir_in(b.scratch.path())?;
                let target = match *backend {
                    "postgres" => fresh_db(&b.admin, &format!("scout_bench_{n}"))?,
                    other => other.to_owned(),
                };
                let o = run(Command::new(b.bin("throughput"))
                    .args([mode, &threads.to_string(), &(ev / b.scale).to_string()])
                    .arg(dir.path())
                    .arg(&target))?;
                rates.push(field(&o, "events_per_sec")?.parse::<f64>()?);
                if *backend == "postgres" {
                    run(Command::new("psql").args([
                        b.admin.as_str(),
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
    Ok(())
}

/// Records copied into a backend and the seconds it took.
struct Copied {
    records: f64,
    secs: f64,
}

/// Q1–Q3 on about a million events per backend (the same events, copied
/// from a generated file store), and the copy rates; fails if the
/// backends' answers differ.
fn query_table(b: &Bench, root: &std::path::Path, out: &mut String) -> Result<()> {
    let scale = b.scale;
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
    let sqlite = format!("sqlite:{}", b.scratch.path().join("q.db").display());
    let pg = fresh_db(&b.admin, "scout_bench_queries")?;
    let copies = [copy_into(b, &data, &sqlite)?, copy_into(b, &data, &pg)?];
    writeln!(
        out,
        "\nQ1–Q3 on {} events (the same events in each backend), median seconds of {} runs\n",
        copies[0].records, b.runs
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
        let o = run(Command::new(b.bin("queries")).args([
            store.as_str(),
            now,
            &b.runs.max(1).to_string(),
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
        copies[0].records / copies[0].secs / 1e3,
        copies[1].records / copies[1].secs / 1e3
    )?;
    run(Command::new("psql").args([
        b.admin.as_str(),
        "-qc",
        "DROP DATABASE IF EXISTS scout_bench_queries WITH (FORCE)",
    ]))?;
    Ok(())
}

/// Copies the file store at `data` into `target` (`scout-audit copy`),
/// timed.
fn copy_into(b: &Bench, data: &std::path::Path, target: &str) -> Result<Copied> {
    let t0 = Instant::now();
    let o = run(Command::new(b.bin("scout-audit")).args([
        "copy",
        "--from",
        &data.display().to_string(),
        "--to",
        target,
    ]))?;
    let secs = t0.elapsed().as_secs_f64();
    let records: f64 = o
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0.0);
    Ok(Copied { records, secs })
}

/// Export of about 1 GiB to Parquet: the gzip store of `bench --peers`.
fn export_line(b: &Bench, out: &mut String) -> Result<()> {
    let big = crate::peers::gzip_store(1024 / b.scale)?;
    let mut secs = Vec::new();
    let mut last = String::new();
    for i in 0..b.runs.max(1) {
        let dir = b.scratch.path().join(format!("export-{i}"));
        let t0 = Instant::now();
        last = run(Command::new(b.bin("scout-audit"))
            .args(["--path", &big.display().to_string(), "export", "--out"])
            .arg(&dir))?;
        secs.push(t0.elapsed().as_secs_f64());
        std::fs::remove_dir_all(&dir)?;
    }
    writeln!(
        out,
        "\nexport of {} MiB to Parquet: median {:.2} s ({})",
        1024 / b.scale,
        median(secs),
        last.trim()
    )?;
    Ok(())
}
