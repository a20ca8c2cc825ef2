//! Logs N events through a `FileStore` at `process` from one thread, with
//! the store set up for sealing (the writer seals once a second) or not,
//! and prints one JSON line: the rate, and for a sealed store the seal
//! log's seals, bytes per seal, and what an idle writer adds to it in
//! 2.5 s. Driven by `cargo xtask bench`.
//!
//! `fsync` is `off` plus a thread that fsyncs the live file once a second,
//! as the sealer does before each seal: the cost of that fsync alone, the
//! floor under sealing's cost at `process`, where it is the only fsync.
//!
//! `seal_throughput on|off|fsync EVENTS DIR`

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
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
        bail!("usage: seal_throughput on|off|fsync EVENTS DIR");
    };
    let (sealing, fsyncing) = match mode.as_str() {
        "on" => (true, false),
        "off" => (false, false),
        "fsync" => (false, true),
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
    let fsyncer = fsyncing.then(|| Fsyncer::start(path.clone()));
    let t0 = Instant::now();
    for i in 0..events {
        store.append(workload_event(i))?;
    }
    let secs = t0.elapsed().as_secs_f64();
    if let Some(f) = fsyncer {
        f.stop()?;
    }
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

/// A thread that fsyncs the live file once a second until stopped.
struct Fsyncer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<Result<u64>>,
}

impl Fsyncer {
    fn start(path: PathBuf) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let s = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (lock, wake) = &*s;
            let mut fsyncs = 0;
            let mut stopped = lock.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            loop {
                let (g, _) = wake
                    .wait_timeout(stopped, Duration::from_secs(1))
                    .map_err(|_| anyhow::anyhow!("poisoned"))?;
                stopped = g;
                if *stopped {
                    return Ok(fsyncs);
                }
                std::fs::File::open(&path)
                    .and_then(|f| f.sync_all())
                    .with_context(|| format!("fsync {}", path.display()))?;
                fsyncs += 1;
            }
        });
        Self { stop, thread }
    }

    fn stop(self) -> Result<u64> {
        let (lock, wake) = &*self.stop;
        *lock.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = true;
        wake.notify_all();
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the fsync thread panicked"))?
    }
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
