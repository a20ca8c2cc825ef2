//! `cargo xtask export-check`: proves a Parquet export answers Q1–Q3 like
//! scout-audit does, with DuckDB and (with `--spark`, where pyspark can be
//! installed; Java 17 is on these machines) Spark, in the repository's
//! `.venv` (made and filled here if missing).

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::datagen::{GenOptions, MIB, generate};
use crate::util::{python_with, root, run};

fn num(v: &str, key: &str) -> Result<f64> {
    let k = format!("\"{key}\":");
    let i = v.find(&k).with_context(|| format!("no {key} in {v}"))?;
    let rest = v[i + k.len()..]
        .trim_start()
        .trim_start_matches(['[', '{', '"']);
    let end = rest.find([',', '}', ']', '"']).unwrap_or(rest.len());
    rest[..end]
        .trim()
        .parse()
        .with_context(|| format!("{key} in {v}"))
}

/// Generates data, exports it, and compares the engines' answers.
pub fn run_check(spark: bool) -> Result<String> {
    let root = root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo).current_dir(&root).args([
        "build",
        "--release",
        "-q",
        "-p",
        "scout-audit-cli",
    ]))?;
    let bin = root.join("target/release/scout-audit");
    let scratch = tempfile::Builder::new()
        .prefix("scout-audit-export-check-")
        .tempdir()?;
    let store = scratch.path().join("store/audit.jsonl");
    let mut g = GenOptions::new(&store);
    g.archive_bytes = 40 * MIB;
    g.live_bytes = 2 * MIB;
    g.days = 90.0;
    g.malformed = 0.001;
    generate(&g)?;
    let now = "2026-11-27T00:00:00Z";
    let p = store.display().to_string();
    let q = |args: &[&str]| {
        run(Command::new(&bin)
            .args(["--path", &p, "--now", now])
            .args(args))
    };
    let q1 = num(
        &q(&[
            "query", "--count", "--since", "30d", "--event", "nav", "--format", "json",
        ])?,
        "count",
    )?;
    let q2 = num(
        &q(&["spend", "--since", "7d", "--format", "json"])?,
        "total_cost",
    )?;
    let acc = q(&["accuracy", "--since", "30d", "--format", "json"])?;
    let (nav, fails) = (num(&acc, "total_nav")?, num(&acc, "validation_fail_count")?);
    let out = scratch.path().join("export");
    run(Command::new(&bin)
        .args(["--path", &p, "export", "--out"])
        .arg(&out))?;
    let script = root.join("tests/python/engines_check.py");
    let mut report = format!("scout-audit: Q1 {q1}, Q2 {q2}, Q3 {nav} nav / {fails} fails\n");
    let mut engines = vec![("duckdb", python_with("duckdb", "duckdb")?)];
    if spark {
        engines.push(("spark", python_with("pyspark", "pyspark")?));
    }
    for (engine, py) in engines {
        let v = run(Command::new(&py)
            .arg(&script)
            .arg(engine)
            .arg(&out)
            .arg(now))?;
        let (e1, e2) = (num(&v, "q1")?, num(&v, "q2")?);
        let i = v.find("\"q3\":").context("no q3")?;
        let parts: Vec<f64> = v[i + 5..]
            .trim_matches(|c: char| !c.is_ascii_digit() && c != ',')
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        report.push_str(&format!("{engine}: Q1 {e1}, Q2 {e2}, Q3 {:?}\n", parts));
        if e1 != q1 || (e2 - q2).abs() > 1e-9 * q2.abs() || parts != [nav, fails] {
            bail!("{engine} disagrees with scout-audit:\n{report}");
        }
    }
    report.push_str("all engines agree with scout-audit");
    Ok(report)
}
