//! Logs N events through a `FileStore` from T threads sharing it, and prints
//! one JSON line with the rate. Driven by `cargo xtask bench`.
//!
//! `throughput MODE THREADS EVENTS DIR [BACKEND]`, MODE one of:
//! `process` (no fsync policy), `policy` (process + 10 lines / 1 s, the
//! default), `sync` (fsync'd, group commit), `buffered` (no fsync policy);
//! BACKEND `file` (default), `sqlite`, or a `postgres://` URL. The file
//! backend's line also gives `fsyncs`, the `fdatasync` calls its writer
//! started during the run (the close's not counted), and `fsync_secs`,
//! the time they took in all.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use scout_audit_benches::workload_event;
use scout_audit_core::{Durability, SessionId, Sink};
use scout_audit_store_file::FileStore;
use scout_audit_store_file::options::{FsyncPolicy, RotateSize};
use scout_audit_store_postgres::PgStore;
use scout_audit_store_sqlite::SqliteStore;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, threads, events, dir, backend) = match &args[..] {
        [m, t, e, d] => (m, t, e, d, "file"),
        [m, t, e, d, b] => (m, t, e, d, b.as_str()),
        _ => bail!("usage: throughput MODE THREADS EVENTS DIR [BACKEND]"),
    };
    let threads: u64 = threads.parse().context("THREADS")?;
    let events: u64 = events.parse().context("EVENTS")?;
    let (durability, policy) = match mode.as_str() {
        "process" => (Durability::Process, FsyncPolicy::NEVER),
        "policy" => (Durability::Process, FsyncPolicy::PYTHON),
        "sync" => (Durability::Sync, FsyncPolicy::NEVER),
        "buffered" => (Durability::Buffered, FsyncPolicy::NEVER),
        other => bail!("unknown mode {other}"),
    };
    let (store, file) = open_store(backend, dir, durability, policy)?;
    let per = events / threads.max(1);
    let t0 = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let hs: Vec<_> = (0..threads.max(1))
            .map(|_| {
                let store = &store;
                s.spawn(move || -> Result<()> {
                    for i in 0..per {
                        store.log(workload_event(i))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in hs {
            h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
        }
        Ok(())
    })?;
    // Buffered events count once they are written (not necessarily synced).
    if durability == Durability::Buffered {
        store.flush()?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let fsyncs = file.as_ref().map_or(String::new(), |f| {
        format!(
            ",\"fsyncs\":{},\"fsync_secs\":{}",
            f.fsyncs(),
            f.fsync_time().as_secs_f64()
        )
    });
    drop(file);
    store.close()?;
    let n = per * threads.max(1);
    println!(
        "{{\"mode\":\"{mode}\",\"threads\":{threads},\"events\":{n},\"secs\":{secs},\"events_per_sec\":{}{fsyncs}}}",
        n as f64 / secs
    );
    Ok(())
}

/// Opens the store under test; for the file backend also a handle on the
/// `FileStore` itself (its fsync counters).
fn open_store(
    backend: &str,
    dir: &str,
    durability: Durability,
    policy: FsyncPolicy,
) -> Result<(Box<dyn Sink>, Option<FileStore>)> {
    let (rows, interval) = (policy.lines.map_or(0, |n| n.get()), policy.interval);
    let mut file = None;
    let store: Box<dyn Sink> = match backend {
        "file" => {
            let f = FileStore::builder(std::path::Path::new(dir).join("audit.jsonl"))
                .durability(durability)
                .fsync_policy(policy)
                .rotate_size(RotateSize::NEVER)
                .session(SessionId::random())
                .open()?;
            file = Some(f.clone());
            Box::new(f)
        }
        "sqlite" => Box::new(
            SqliteStore::builder(std::path::Path::new(dir).join("audit.db"))
                .durability(durability)
                .sync_policy(rows, interval)
                .session(SessionId::random())
                .open()?,
        ),
        url if url.starts_with("postgres://") => Box::new(
            PgStore::builder(url)
                .durability(durability)
                .sync_policy(rows, interval)
                .session(SessionId::random())
                .open()?,
        ),
        other => bail!("unknown backend {other}"),
    };
    Ok((store, file))
}
