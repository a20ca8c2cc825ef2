//! Logs N events through a `FileStore` from T threads sharing it, and prints
//! one JSON line with the rate. Driven by `cargo xtask bench`.
//!
//! `throughput MODE THREADS EVENTS DIR`, MODE one of:
//! `process` (no fsync policy), `policy` (process + 10 lines / 1 s, the
//! default), `sync` (fsync'd, group commit), `buffered` (no fsync policy).

use std::time::Instant;

use anyhow::{Context, Result, bail};
use scout_audit_benches::workload_event;
use scout_audit_core::{Durability, SessionId};
use scout_audit_store_file::FileStore;
use scout_audit_store_file::options::{FsyncPolicy, RotateSize};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, threads, events, dir] = &args[..] else {
        bail!("usage: throughput MODE THREADS EVENTS DIR");
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
    let path = std::path::Path::new(dir).join("audit.jsonl");
    let store = FileStore::builder(&path)
        .durability(durability)
        .fsync_policy(policy)
        .rotate_size(RotateSize::NEVER)
        .session(SessionId::random())
        .open()?;
    let per = events / threads.max(1);
    let t0 = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let hs: Vec<_> = (0..threads.max(1))
            .map(|_| {
                let store = store.clone();
                s.spawn(move || -> Result<()> {
                    for i in 0..per {
                        store.append(workload_event(i))?;
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
    // Buffered events count once they reached the kernel.
    store.write_buffered()?;
    let secs = t0.elapsed().as_secs_f64();
    store.close()?;
    let n = per * threads.max(1);
    println!(
        "{{\"mode\":\"{mode}\",\"threads\":{threads},\"events\":{n},\"secs\":{secs},\"events_per_sec\":{}}}",
        n as f64 / secs
    );
    Ok(())
}
