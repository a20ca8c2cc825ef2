//! `scout-audit copy --from STORE --to STORE`: moves a log between
//! backends without loss or duplicates, resumable after an interruption.
//!
//! Records keep their `ts`, `session_id` and `seq` (`Sink::import`). Before
//! copying, the target is read once for its marks: per writer session the
//! highest `seq` it holds, and the keys of records without `seq` (the
//! Python original's). A record at or below its session's mark is already
//! there; the source is read in log order and a session's records are a
//! prefix in the target (copies go in order, batch by batch, each batch
//! durable before the next), so an interrupted copy run again copies
//! exactly the rest. Table backends also refuse a second copy of a key.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use scout_audit_core::{Durability, Filter, Record, Store};

use crate::Cli;
use crate::addr::StoreAddr;

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// The store to read (a file store path, sqlite:PATH or postgres://…).
    #[arg(long, value_name = "STORE")]
    from: String,
    /// The store to write (created if missing).
    #[arg(long, value_name = "STORE")]
    to: String,
    /// Records per durable batch.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
}

/// What the target already holds.
#[derive(Default)]
struct Marks {
    sessions: HashMap<String, u64>,
    seqless: HashSet<String>,
}

impl Marks {
    fn of(target: &dyn Store) -> Result<Marks> {
        let mut m = Marks::default();
        for r in target.scan(&Filter::new())? {
            let r = r?;
            match (r.session_id(), r.seq()) {
                (Some(s), Some(q)) => {
                    let e = m.sessions.entry(s.to_owned()).or_insert(q);
                    *e = (*e).max(q);
                }
                _ => {
                    m.seqless.insert(r.dedup_key());
                }
            }
        }
        Ok(m)
    }

    fn has(&self, r: &Record) -> bool {
        match (r.session_id(), r.seq()) {
            (Some(s), Some(q)) => self.sessions.get(s).is_some_and(|m| q <= *m),
            _ => self.seqless.contains(&r.dedup_key()),
        }
    }
}

pub fn run(cli: &Cli, a: &CopyArgs) -> Result<ExitCode> {
    let from = StoreAddr::parse(&a.from);
    let to = StoreAddr::parse(&a.to);
    if from == to {
        bail!("--from and --to name the same store: {}", from.describe());
    }
    let src = cli.open_read(&from)?;
    // Durable batches: each is acknowledged at `sync` before the next.
    let dst = cli.open_store(&to, Durability::Sync)?;
    let marks = Marks::of(&*dst)?;
    let (mut copied, mut present) = (0u64, 0u64);
    let mut batch = Vec::with_capacity(a.batch.max(1));
    for r in src.scan(&Filter::new())? {
        let r = r?;
        if marks.has(&r) {
            present += 1;
            continue;
        }
        batch.push(r);
        if batch.len() >= a.batch.max(1) {
            copied += dst.import(std::mem::take(&mut batch))?;
        }
    }
    if !batch.is_empty() {
        copied += dst.import(batch)?;
    }
    dst.close()?;
    let skipped = src.skipped();
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "copied {copied} records from {} to {} ({present} already there)",
        crate::output::terminal_text(&from.describe()),
        crate::output::terminal_text(&to.describe())
    )?;
    crate::output::report_skipped(skipped.count, skipped.examples.first().map(String::as_str));
    Ok(ExitCode::SUCCESS)
}
