//! Times Q1–Q3 on one backend, driven by `cargo xtask bench --backends`.
//!
//! `queries STORE NOW RUNS`: STORE a file store's live file (read by the
//! sequential reader, through `ReadStore`), `scan:PATH` (the same store
//! read by the parallel scanner, as every CLI read is), `sqlite:PATH` or a
//! `postgres://` URL; NOW the instant the windows end at. Q1: `nav`
//! events in the last 30 days; Q2: the sum of cost in the last 7 days;
//! Q3: accuracy in the last 30 days. Prints one JSON line with the median
//! seconds of each and the answers (which must agree across backends).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use scout_audit_core::agg::AccuracyMetrics;
use scout_audit_core::{Filter, ReadStore, Timestamp};
use scout_audit_scan::{Inputs, Scan};
use scout_audit_store_file::FileReadStore;
use scout_audit_store_postgres::PgStore;
use scout_audit_store_sqlite::SqliteStore;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What answers the questions: a backend's read side, or the scanner.
enum Engine {
    Table(Box<dyn ReadStore>),
    Scan(String),
}

impl Engine {
    fn scan(p: &str, f: &Filter) -> Result<Scan> {
        Ok(Scan::new(Inputs::store(p)?).filter(f.clone()))
    }

    fn count(&self, f: &Filter) -> Result<u64> {
        Ok(match self {
            Engine::Table(rs) => rs.count(f)?,
            Engine::Scan(p) => Engine::scan(p, f)?.count()?.value,
        })
    }

    fn spend(&self, f: &Filter) -> Result<f64> {
        Ok(match self {
            Engine::Table(rs) => rs.spend(f, None)?.total()?,
            Engine::Scan(p) => Engine::scan(p, f)?.spend(None)?.value.total?,
        })
    }

    fn accuracy(&self, f: &Filter) -> Result<AccuracyMetrics> {
        Ok(match self {
            Engine::Table(rs) => rs.accuracy(f)?,
            Engine::Scan(p) => Engine::scan(p, f)?.accuracy()?.value,
        })
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, now, runs] = &args[..] else {
        bail!("usage: queries STORE NOW RUNS");
    };
    let now = Timestamp::parse(now).context("NOW")?;
    let runs: usize = runs.parse().context("RUNS")?;
    let rs = if let Some(p) = store.strip_prefix("scan:") {
        Engine::Scan(p.to_owned())
    } else if let Some(p) = store.strip_prefix("sqlite:") {
        Engine::Table(Box::new(SqliteStore::open(p)?))
    } else if store.starts_with("postgres://") {
        Engine::Table(Box::new(PgStore::open(store)?))
    } else {
        Engine::Table(Box::new(FileReadStore::open(store)?))
    };
    let d30 = now.saturating_sub(Duration::from_secs(30 * 86_400));
    let d7 = now.saturating_sub(Duration::from_secs(7 * 86_400));
    let time = |f: &dyn Fn() -> Result<String>| -> Result<(f64, String)> {
        let mut t = Vec::new();
        let mut answer = String::new();
        for _ in 0..runs.max(1) {
            let t0 = Instant::now();
            answer = f()?;
            t.push(t0.elapsed().as_secs_f64());
        }
        Ok((median(t), answer))
    };
    let q1 = time(&|| {
        Ok(rs
            .count(&Filter::new().since(d30).event("nav"))?
            .to_string())
    })?;
    let q2 = time(&|| Ok(rs.spend(&Filter::new().since(d7))?.to_string()))?;
    let q3 = time(&|| {
        let m = rs.accuracy(&Filter::new().since(d30))?;
        Ok(format!(
            "{}/{}/{}",
            m.total_nav, m.validation_fail_count, m.accuracy_pct
        ))
    })?;
    println!(
        "{{\"q1_s\":{},\"q2_s\":{},\"q3_s\":{},\"q1\":\"{}\",\"q2\":\"{}\",\"q3\":\"{}\"}}",
        q1.0, q2.0, q3.0, q1.1, q2.1, q3.1
    );
    Ok(())
}
