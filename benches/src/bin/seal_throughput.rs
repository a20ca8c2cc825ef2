//! Logs N events through a `FileStore` at `process` from one thread, with
//! the store set up for sealing (the writer seals once a second) or not,
//! and prints one JSON line: the rate, and for a sealed store the seal
//! log's seals, bytes per seal, and what an idle writer adds to it in
//! 2.5 s. Driven by `cargo xtask bench`.
//!
//! `seal_throughput on|off EVENTS DIR`

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use scout_audit_benches::workload_event;
use scout_audit_core::{SessionId, SystemClock};
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::options::{FsyncPolicy, RotateSize};
use scout_audit_store_file::{FileStore, Layout, seal};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, events, dir] = &args[..] else {
        bail!("usage: seal_throughput on|off EVENTS DIR");
    };
    let sealing = match mode.as_str() {
        "on" => true,
        "off" => false,
        other => bail!("unknown mode {other}"),
    };
    let events: u64 = events.parse().context("EVENTS")?;
    let path = Path::new(dir).join("audit.jsonl");
    let layout = Layout::new(&path).map_err(anyhow::Error::msg)?;
    if sealing {
        seal::init(&RealFs, &layout, 60)?;
    }
    let open = || {
        FileStore::builder(&path)
            .fsync_policy(FsyncPolicy::NEVER)
            .rotate_size(RotateSize::NEVER)
            .session(SessionId::random())
            .open()
    };
    let store = open()?;
    let t0 = Instant::now();
    for i in 0..events {
        store.append(workload_event(i))?;
    }
    let secs = t0.elapsed().as_secs_f64();
    store.close()?;
    let (seals, seal_bytes, log_bytes) = seal_lines(&layout)?;
    // An idle writer: open, nothing logged for 2.5 s (two seal turns), closed.
    let idle_growth = if sealing {
        let store = open()?;
        std::thread::sleep(Duration::from_millis(2500));
        store.close()?;
        seal_lines(&layout)?.2 - log_bytes
    } else {
        0
    };
    if sealing {
        // Everything was sealed by the writer: a manual seal finds nothing.
        anyhow::ensure!(
            seal::seal_now(&RealFs, &layout, &SystemClock)?.is_none(),
            "the writer left lines unsealed"
        );
    }
    println!(
        "{{\"sealing\":\"{mode}\",\"events\":{events},\"secs\":{secs},\"events_per_sec\":{},\"seals\":{seals},\"seal_line_bytes\":{seal_bytes},\"seal_log_bytes\":{log_bytes},\"idle_growth\":{idle_growth}}}",
        events as f64 / secs
    );
    Ok(())
}

/// The seal log's seal lines and their bytes (with their `\n`), and the
/// log's size; zeros without a log.
fn seal_lines(layout: &Layout) -> Result<(u64, u64, u64)> {
    let Ok(text) = std::fs::read_to_string(layout.seal_log()) else {
        return Ok((0, 0, 0));
    };
    let seals: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"kind\":\"seal\""))
        .collect();
    let bytes = seals.iter().map(|l| l.len() as u64 + 1).sum();
    Ok((seals.len() as u64, bytes, text.len() as u64))
}
