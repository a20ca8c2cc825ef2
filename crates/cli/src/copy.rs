//! `scout-audit copy --from STORE --to STORE`: moves a log between
//! backends without loss or duplicates, resumable after an interruption.
//!
//! Records keep their `ts`, `session_id`, `seq` and `writer` stamp
//! (`Sink::import`). Before copying, the target is read once for its marks:
//! the digest of every record it holds (`Record::digest`, the first 16
//! bytes of the SHA-256 of the record's line: the record's identity, the
//! same as the table backends' `dedup_key`). A source record whose digest
//! is marked is already there and is not sent again (memory: the digests
//! of the target's records, none for a fresh target). A line the source
//! holds twice is sent twice: a file store keeps both, as the source does; a
//! table stores one. Two records
//! are never taken for one because they share a `session_id` and `seq`
//! (several processes logging under one session id). An interrupted copy
//! run again copies exactly the rest; table backends also refuse a second
//! copy of a key. The count printed is what the target stored
//! (`Sink::import`'s count: a table backend does not count a row it
//! already held, say one another writer inserted meanwhile); every other
//! source record is "already there".

use std::collections::HashSet;
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

/// What the target already holds: the digest of each record.
#[derive(Default)]
struct Marks {
    digests: HashSet<[u8; 16]>,
}

impl Marks {
    fn of(target: &dyn Store) -> Result<Marks> {
        let mut m = Marks::default();
        for r in target.scan(&Filter::new())? {
            m.digests.insert(r?.digest());
        }
        Ok(m)
    }

    fn has(&self, r: &Record) -> bool {
        !self.digests.is_empty() && self.digests.contains(&r.digest())
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
    let (mut copied, mut read) = (0u64, 0u64);
    let mut batch = Vec::with_capacity(a.batch.max(1));
    for r in src.scan(&Filter::new())? {
        let r = r?;
        read += 1;
        if marks.has(&r) {
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
    let present = read.saturating_sub(copied);
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
