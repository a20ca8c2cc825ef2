//! Untampered stores: a base as it is, with unsealed lines added, after a
//! torn tail and its recovery, after a rotation and another seal; verify
//! must find nothing, with the exact counts of sealed and unsealed lines.

use std::io::Write;
use std::time::Duration;

use scout_audit_core::{ManualClock, Timestamp};
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::options::SealInterval;
use scout_audit_store_file::seal::{self, SealReport};
use scout_audit_store_file::{FileStore, Layout};

use super::base::{Base, EPOCH_SECS, io, write_records};
use crate::rng::Rng;

/// One untampered trial of variant `i % 5`; `Err` says what was wrong.
pub(super) fn trial(b: &Base, layout: &Layout, i: u64, rng: &mut Rng) -> Result<(), String> {
    let total = b.model.leaves().len() as u64;
    let sealed = b.sealed();
    let live = layout.live();
    match i % 5 {
        0 => check(b, layout, sealed, total - sealed),
        1 => {
            let n = rng.range(1, 30);
            write_records(&live, rng, n)?;
            check(b, layout, sealed, total - sealed + n)
        }
        2 | 3 => {
            // A crash mid-append: a torn record (2) or a whole record
            // lacking only its `\n` (3); recovery quarantines the first and
            // completes the second.
            let whole = i % 5 == 3;
            let tail: Vec<u8> = match b.model.leaves().last() {
                Some(l) if whole => l.to_vec(),
                _ => b"{\"ts\":\"2027-01-15T08:00:00.000Z\",\"type\":\"ll".to_vec(),
            };
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&live)
                .map_err(io("open", &live))?;
            f.write_all(&tail).map_err(io("write", &live))?;
            drop(f);
            check(b, layout, sealed, total - sealed)?;
            FileStore::builder(&live)
                .seal_interval(SealInterval::OFF)
                .open()
                .and_then(|s| s.close())
                .map_err(io("recover", &live))?;
            check(b, layout, sealed, total - sealed + u64::from(whole))?;
            let grown = seal_again(b, layout, rng)?;
            check(b, layout, grown, 0)
        }
        _ => {
            let store = FileStore::builder(&live)
                .seal_interval(SealInterval::OFF)
                .open()
                .map_err(io("open", &live))?;
            store.rotate().map_err(io("rotate", &live))?;
            store.wait_compressed();
            store.close().map_err(io("close", &live))?;
            let n = rng.range(0, 5);
            write_records(&live, rng, n)?;
            let grown = seal_again(b, layout, rng)?;
            check(b, layout, grown, 0)
        }
    }
}

/// Every checkpoint the base kept (one per seal) and the store's latest
/// one must be extended by the untampered store, whatever the trial did.
pub(super) fn anchored(b: &Base, layout: &Layout) -> Result<(), String> {
    let mut files = b.checkpoints.clone();
    files.push(seal::latest_checkpoint(&RealFs, layout).map_err(io("checkpoint", layout.dir()))?);
    let verdicts = seal::verify_checkpoints(&RealFs, layout, &b.key, &files)
        .map_err(|e| format!("verify --checkpoint failed: {e}"))?;
    for (f, v) in files.iter().zip(verdicts) {
        if let Err(t) = v {
            let size = f.note.lines().nth(1).unwrap_or("?");
            return Err(format!(
                "the checkpoint of size {size} is refused: {}",
                t.what
            ));
        }
    }
    Ok(())
}

/// Seals with the base's clock moved on by up to two epochs; returns the
/// leaves sealed.
fn seal_again(b: &Base, layout: &Layout, rng: &mut Rng) -> Result<u64, String> {
    let clock = ManualClock::new(
        Timestamp::from_unix(i64::try_from(b.now).unwrap_or(0), 0).ok_or("a time out of range")?,
    );
    clock.advance(Duration::from_secs(rng.below(2 * EPOCH_SECS + 1)));
    let s = seal::seal_now(&RealFs, layout, &clock).map_err(io("seal", layout.dir()))?;
    Ok(s.map_or(b.sealed(), |s| s.size))
}

fn check(b: &Base, layout: &Layout, sealed: u64, unsealed: u64) -> Result<(), String> {
    let r: SealReport = super::keyed(layout, &b.key).map_err(|e| format!("verify failed: {e}"))?;
    if r.tampering.is_some() || (r.sealed_leaves, r.unsealed) != (sealed, unsealed) {
        return Err(format!(
            "expected no tampering, {sealed} sealed and {unsealed} unsealed; got {:?}, {} and {}",
            r.tampering, r.sealed_leaves, r.unsealed
        ));
    }
    Ok(())
}
