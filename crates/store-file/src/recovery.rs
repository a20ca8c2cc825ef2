//! Recovery: what opening a store does before the first append, under the
//! exclusive lock. A function of the files alone, callable and testable on
//! its own, and idempotent: running it again, or crashing in it and
//! running it again, converges to the same store.
//!
//! 1. **Torn tail.** The live file's *torn suffix* is everything after its
//!    last line that is a record: an unterminated fragment, and complete
//!    lines that are not records (garbage an interrupted write or a power
//!    loss left). It is copied to a quarantine file beside the live file
//!    (fsync'd, directory fsync'd) and only then cut off the live file, so
//!    no byte is ever deleted and no later append is glued to it. A last
//!    line that is a whole record missing only its `\n` gets the `\n`. A
//!    suffix of blank lines is harmless and left alone.
//! 2. **Compression.** A sealed `.jsonl` whose `.gz` exists and matches it
//!    byte for byte is removed (the crash came after the rename). A `.gz`
//!    is only ever made whole (renamed after fsync), so one that does not
//!    match is a conflict: both are kept and reported, nothing deleted. A
//!    `.gz.tmp` beside its sealed `.jsonl` or `.gz` is removed. Segments
//!    another process is compressing (their `flock` is held) are left alone.
//!    A `.gz.tmp` alone (no sealed file, no archive) is never deleted: it is
//!    reported.
//! 3. **Index leftovers** (`.idx.tmp`, indexes without their archive) are
//!    removed; they are never read.
//! 4. **Retention** is applied.
//! 5. **Archives without an index** are listed for the compressor to
//!    index in the background.
//!
//! Each step is a function of its own ([`scan_live`] and [`repair_tail`],
//! [`settle_sealed`] and [`settle_temps`], [`crate::index::remove_strays`],
//! [`crate::compress::apply_retention`], [`unindexed`]); [`recover`] runs
//! them in that order.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use scout_audit_core::Clock;

use crate::compress::{apply_retention, archive_matches};
use crate::error::{Error, Result};
use crate::fs::{Fs, WriteFile, remove_if_present, remove_stale_temp, sync_dir};
use crate::index::remove_strays;
use crate::layout::{Layout, Listing, Segment, SegmentKind};
use crate::lock::{Attempt, LockGuard};
use crate::options::Retention;
use crate::tail::copy_range;
pub use crate::tail::{TailScan, scan_live, scan_tail};

/// What recovery did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Where a torn suffix of the live file was moved to, if one was.
    pub quarantined: Option<Quarantined>,
    /// A final record missing its `\n` was completed.
    pub completed_last_line: bool,
    /// Sealed `.jsonl` files removed because their `.gz` was complete.
    pub finished_compressions: Vec<PathBuf>,
    /// Stale `.gz.tmp` files removed (their sealed `.jsonl` or `.gz` is
    /// intact).
    pub removed_partials: Vec<PathBuf>,
    /// `.gz` archives that differ from their sealed `.jsonl`: both kept.
    pub conflicts: Vec<PathBuf>,
    /// Sealed segments waiting for compression.
    pub to_compress: Vec<Segment>,
    /// `.gz.tmp` files with neither source nor archive, left in place.
    pub orphan_temps: Vec<PathBuf>,
    /// Archives deleted by retention.
    pub retention_removed: Vec<PathBuf>,
    /// The store's own archives without an index (a crash came between the
    /// archive and its index): the compressor indexes them in the
    /// background.
    pub to_index: Vec<Segment>,
    /// Index files no reader uses (`.idx.tmp` leftovers, indexes of
    /// archives that are gone), removed.
    pub stray_indexes_removed: Vec<PathBuf>,
}

/// A torn suffix moved from the live file to a quarantine file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    /// The quarantine file, which holds exactly the suffix.
    pub path: PathBuf,
    /// Where the suffix started in the live file (its length now).
    pub offset: u64,
    /// The suffix's length in bytes.
    pub len: u64,
}

/// What [`repair_tail`] did to the live file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TailRepair {
    /// Nothing: the file ends with a whole line (or blank lines).
    Intact,
    /// The last record's missing `\n` was appended.
    CompletedLastLine,
    /// The torn suffix was moved to quarantine.
    Quarantined(Quarantined),
}

/// How many quarantine names after the first free-looking one recovery
/// tries before giving up (each taken by something it did not make).
const QUARANTINE_NAME_TRIES: u64 = 1000;

/// Recovers the store (see the module docs): the steps below, in order.
/// The caller holds the store's exclusive lock.
pub fn recover(
    fs: &dyn Fs,
    layout: &Layout,
    clock: &dyn Clock,
    retention: &Retention,
) -> Result<RecoveryReport> {
    let mut report = RecoveryReport::default();
    let scan = scan_live(fs, layout)?;
    let listing = layout
        .list(fs)
        .map_err(|e| Error::io("list", layout.dir(), e))?;
    if let Some(scan) = scan {
        let quarantines = listing.quarantine.len() as u64;
        match repair_tail(fs, layout, clock, quarantines, scan)? {
            TailRepair::Intact => {}
            TailRepair::CompletedLastLine => report.completed_last_line = true,
            TailRepair::Quarantined(q) => report.quarantined = Some(q),
        }
    }
    settle_sealed(fs, layout, &listing, &mut report)?;
    settle_temps(fs, &listing, &mut report)?;
    if !report.finished_compressions.is_empty() || !report.removed_partials.is_empty() {
        sync_dir(fs, layout.dir())?;
    }
    report.stray_indexes_removed = remove_strays(fs, layout, &listing)?;
    report.retention_removed = apply_retention(fs, layout, retention, clock.now(), None)?;
    report.to_index = unindexed(&listing, &report.retention_removed);
    Ok(report)
}

/// Step 1b: repairs the live file's tail as `scan` found it: the missing
/// `\n` of a last record appended, or the torn suffix copied to a new
/// quarantine file (fsync'd, directory fsync'd) and only then cut off.
/// `quarantines`: how many quarantine files the directory holds (the new
/// one is numbered after them).
pub fn repair_tail(
    fs: &dyn Fs,
    layout: &Layout,
    clock: &dyn Clock,
    quarantines: u64,
    scan: TailScan,
) -> Result<TailRepair> {
    let live = layout.live();
    if scan.missing_newline {
        let f = fs
            .open_append(&live)
            .map_err(|e| Error::io("open for appending", &live, e))?;
        f.write_once(b"\n")
            .and_then(|()| f.sync_data())
            .map_err(|e| Error::io("append to", &live, e))?;
        return Ok(TailRepair::CompletedLastLine);
    }
    if scan.cut >= scan.len {
        return Ok(TailRepair::Intact);
    }
    let (path, out) = create_quarantine(fs, layout, clock, quarantines)?;
    copy_range(fs, &live, scan.cut, &path, &*out)?;
    sync_dir(fs, layout.dir())?;
    fs.truncate(&live, scan.cut)
        .map_err(|e| Error::io("truncate", &live, e))?;
    Ok(TailRepair::Quarantined(Quarantined {
        path,
        offset: scan.cut,
        len: scan.len - scan.cut,
    }))
}

/// A new quarantine file, created exclusively: a name taken by anything (a
/// file, a dangling symbolic link planted there) is skipped, never written
/// through.
fn create_quarantine(
    fs: &dyn Fs,
    layout: &Layout,
    clock: &dyn Clock,
    quarantines: u64,
) -> Result<(PathBuf, Arc<dyn WriteFile>)> {
    let secs = clock.now().unix_secs();
    let first = quarantines + 1;
    let mut k = first;
    loop {
        let q = layout.quarantine_path(secs, k);
        match fs.create_new(&q) {
            Ok(out) => return Ok((q, out)),
            Err(e)
                if e.kind() == io::ErrorKind::AlreadyExists
                    && k < first + QUARANTINE_NAME_TRIES =>
            {
                k += 1;
            }
            Err(e) => return Err(Error::io("create", &q, e)),
        }
    }
}

/// Step 2a: settles every sealed `.jsonl` no other process is compressing:
/// removed when its `.gz` matches (a finished compression), reported as a
/// conflict when it does not, its `.gz.tmp` removed, and otherwise queued
/// for compression.
pub fn settle_sealed(
    fs: &dyn Fs,
    layout: &Layout,
    listing: &Listing,
    report: &mut RecoveryReport,
) -> Result<()> {
    for seg in listing.all.iter().filter(|s| s.kind == SegmentKind::Sealed) {
        let _held = match LockGuard::try_segment(fs, &seg.path)? {
            Attempt::Held(g) => g,
            Attempt::Busy | Attempt::Missing => continue,
        };
        let mut pending = true;
        if has_kind(listing, seg, SegmentKind::Archive) {
            let gz = layout.archive_path(seg);
            if archive_matches(fs, &gz, &seg.path)? {
                remove_if_present(fs, &seg.path)?;
                report.finished_compressions.push(seg.path.clone());
            } else {
                report.conflicts.push(gz);
            }
            pending = false;
        }
        if has_kind(listing, seg, SegmentKind::Temp) {
            let tmp = layout.temp_path(seg);
            remove_stale_temp(fs, &tmp)?;
            report.removed_partials.push(tmp);
        }
        if pending {
            report.to_compress.push(seg.clone());
        }
    }
    Ok(())
}

/// Step 2b: a `.gz.tmp` without its sealed `.jsonl` (those are step 2a's):
/// removed beside its `.gz`, reported as an orphan when alone.
pub fn settle_temps(fs: &dyn Fs, listing: &Listing, report: &mut RecoveryReport) -> Result<()> {
    for tmp in listing.all.iter().filter(|s| s.kind == SegmentKind::Temp) {
        if has_kind(listing, tmp, SegmentKind::Sealed) {
            continue;
        }
        if has_kind(listing, tmp, SegmentKind::Archive) {
            remove_stale_temp(fs, &tmp.path)?;
            report.removed_partials.push(tmp.path.clone());
        } else {
            report.orphan_temps.push(tmp.path.clone());
        }
    }
    Ok(())
}

/// Whether the listing holds a file of `kind` for `seg`'s segment.
fn has_kind(listing: &Listing, seg: &Segment, kind: SegmentKind) -> bool {
    listing
        .all
        .iter()
        .any(|s| s.key == seg.key && s.kind == kind)
}

/// Step 5: the store's own archives without an index, but for those
/// retention just deleted (the compressor skips one that vanishes later).
pub fn unindexed(listing: &Listing, retention_removed: &[PathBuf]) -> Vec<Segment> {
    listing
        .archives()
        .filter(|a| a.number.is_some() && !listing.has_index(a))
        .filter(|a| !retention_removed.contains(&a.path))
        .cloned()
        .collect()
}

/// Refuses a live file that is not an audit log: one that holds bytes but
/// no record, where this store was never opened by a writer of ours (the
/// caller checks that no lock file is; segments beside it do not count: a
/// store the Python original wrote, or one copied without its lock file,
/// has segments and no lock file, and its live file is still input, not
/// state). Recovery would
/// otherwise move its whole content to quarantine: a wrong `--path` must
/// not gut a file. Our own live file can hold only a torn fragment after a
/// power loss, but then the lock file (made and made durable before the
/// live file's first byte) is there, and this check is not made.
pub fn check_is_log(fs: &dyn Fs, layout: &Layout) -> Result<()> {
    match scan_live(fs, layout)? {
        Some(scan) if scan.len > 0 && scan.cut == 0 => Err(Error::NotALog {
            path: layout.live(),
            len: scan.len,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use scout_audit_core::{ManualClock, Timestamp};

    use super::*;
    use crate::fs::RealFs;

    const RECORD: &str =
        r#"{"ts":"2026-11-27T05:21:16+00:00","event":"a","session_id":"s","seq":0}"#;

    fn store() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("audit.jsonl")).unwrap();
        (dir, layout)
    }

    fn clock() -> ManualClock {
        ManualClock::new(Timestamp::parse("2026-11-27T05:21:16Z").unwrap())
    }

    #[test]
    fn repair_tail_alone_quarantines_the_torn_suffix() {
        let (_d, layout) = store();
        let live = format!("{RECORD}\n{{\"ts\":\"2026-");
        std::fs::write(layout.live(), &live).unwrap();
        let scan = scan_live(&RealFs, &layout).unwrap().unwrap();
        assert_eq!(
            (scan.cut, scan.len),
            (RECORD.len() as u64 + 1, live.len() as u64)
        );
        let repair = repair_tail(&RealFs, &layout, &clock(), 0, scan).unwrap();
        let TailRepair::Quarantined(q) = repair else {
            panic!("{repair:?}");
        };
        assert_eq!((q.offset, q.len), (scan.cut, scan.len - scan.cut));
        assert_eq!(std::fs::read(&q.path).unwrap(), b"{\"ts\":\"2026-");
        assert_eq!(
            std::fs::read(layout.live()).unwrap(),
            format!("{RECORD}\n").as_bytes()
        );
        let again = scan_live(&RealFs, &layout).unwrap().unwrap();
        assert_eq!(
            repair_tail(&RealFs, &layout, &clock(), 1, again).unwrap(),
            TailRepair::Intact
        );
    }

    #[test]
    fn repair_tail_alone_completes_a_last_record() {
        let (_d, layout) = store();
        std::fs::write(layout.live(), RECORD).unwrap();
        let scan = scan_live(&RealFs, &layout).unwrap().unwrap();
        assert!(scan.missing_newline);
        assert_eq!(
            repair_tail(&RealFs, &layout, &clock(), 0, scan).unwrap(),
            TailRepair::CompletedLastLine
        );
        assert_eq!(
            std::fs::read(layout.live()).unwrap(),
            format!("{RECORD}\n").as_bytes()
        );
        // No live file: nothing to scan.
        let (_e, empty) = store();
        assert_eq!(scan_live(&RealFs, &empty).unwrap(), None);
    }

    #[test]
    fn settle_temps_alone_keeps_an_orphan_and_removes_a_shadowed_one() {
        let (_d, layout) = store();
        let sealed = |secs, n| {
            let name = layout.sealed_name(secs, n);
            layout.parse_segment(&name).unwrap()
        };
        let orphan = layout.temp_path(&sealed(1, 1));
        let archive = layout.archive_path(&sealed(2, 2));
        let shadowed = layout.temp_path(&sealed(2, 2));
        for p in [&orphan, &archive, &shadowed] {
            std::fs::write(p, b"x").unwrap();
        }
        let listing = layout.list(&RealFs).unwrap();
        let mut report = RecoveryReport::default();
        settle_temps(&RealFs, &listing, &mut report).unwrap();
        assert_eq!(report.orphan_temps, std::slice::from_ref(&orphan));
        assert_eq!(report.removed_partials, std::slice::from_ref(&shadowed));
        assert!(orphan.exists() && archive.exists() && !shadowed.exists());
        assert_eq!(unindexed(&listing, &[]).len(), 1);
        assert!(unindexed(&listing, &[archive]).is_empty());
    }
}
