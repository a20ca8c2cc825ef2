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

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use scout_audit_core::{Clock, Decoded, decode_line};

use crate::compress::{apply_retention, archive_matches};
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::layout::{Layout, Segment, SegmentKind};
use crate::lines::MAX_LINE;
use crate::options::Retention;

/// What recovery did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The quarantine file a torn suffix was moved to, with the suffix's
    /// offset in the live file and its length.
    pub quarantined: Option<(PathBuf, u64, u64)>,
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

/// Where the torn suffix of a live file starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TailScan {
    /// Length of the file.
    pub len: u64,
    /// Offset where the torn suffix starts (`len` when there is none).
    pub cut: u64,
    /// The file ends with a whole record that lacks only its `\n`.
    pub missing_newline: bool,
}

/// Recovers the store (see the module docs). The caller holds the store's
/// exclusive lock.
pub fn recover(
    fs: &dyn Fs,
    layout: &Layout,
    clock: &dyn Clock,
    retention: &Retention,
) -> Result<RecoveryReport> {
    let mut report = RecoveryReport::default();
    let dir = layout.dir();
    let live = layout.live();
    let scan = match fs.open_read(&live) {
        Ok(mut f) => Some(scan_tail(&mut *f).map_err(|e| Error::io("read", &live, e))?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("open", &live, e)),
    };
    let listing = layout.list(fs).map_err(|e| Error::io("list", dir, e))?;
    if let Some(scan) = scan {
        if scan.missing_newline {
            let f = fs
                .open_append(&live)
                .map_err(|e| Error::io("open for appending", &live, e))?;
            f.write_once(b"\n")
                .and_then(|()| f.sync_data())
                .map_err(|e| Error::io("append to", &live, e))?;
            report.completed_last_line = true;
        } else if scan.cut < scan.len {
            let secs = clock.now().unix_secs();
            let n = listing.quarantine.len() as u64 + 1;
            // Created exclusively: a name taken by anything (a file, a
            // dangling symbolic link planted there) is skipped, never
            // written through.
            let mut k = n;
            let (q, out) = loop {
                let q = layout.quarantine_path(secs, k);
                match fs.create_new(&q) {
                    Ok(out) => break (q, out),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && k < n + 1000 => {
                        k += 1;
                    }
                    Err(e) => return Err(Error::io("create", &q, e)),
                }
            };
            copy_range(fs, &live, scan.cut, &q, &*out)?;
            fs.sync_dir(dir)
                .map_err(|e| Error::io("fsync directory", dir, e))?;
            fs.truncate(&live, scan.cut)
                .map_err(|e| Error::io("truncate", &live, e))?;
            report.quarantined = Some((q, scan.cut, scan.len - scan.cut));
        }
    }
    let mut removed_any = false;
    let same = |a: &Segment, b: &Segment| a.key == b.key;
    for seg in listing.all.iter().filter(|s| s.kind == SegmentKind::Sealed) {
        let seg_lock = match fs.open_file_lock(&seg.path) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("open", &seg.path, e)),
        };
        if !seg_lock
            .try_lock_exclusive()
            .map_err(|e| Error::io("lock", &seg.path, e))?
        {
            continue;
        }
        let r = (|| {
            let mut pending = true;
            if listing
                .all
                .iter()
                .any(|s| same(s, seg) && s.kind == SegmentKind::Archive)
            {
                let gz = layout.archive_path(seg);
                if archive_matches(fs, &gz, &seg.path)? {
                    remove(fs, &seg.path)?;
                    report.finished_compressions.push(seg.path.clone());
                    removed_any = true;
                } else {
                    report.conflicts.push(gz);
                }
                pending = false;
            }
            if listing
                .all
                .iter()
                .any(|s| same(s, seg) && s.kind == SegmentKind::Temp)
            {
                let tmp = layout.temp_path(seg);
                crate::compress::remove_stale_temp(fs, &tmp)?;
                report.removed_partials.push(tmp);
                removed_any = true;
            }
            if pending {
                report.to_compress.push(seg.clone());
            }
            Ok::<_, Error>(())
        })();
        let _ = seg_lock.unlock();
        r?;
    }
    for tmp in listing.all.iter().filter(|s| s.kind == SegmentKind::Temp) {
        let has_sealed = listing
            .all
            .iter()
            .any(|s| same(s, tmp) && s.kind == SegmentKind::Sealed);
        if has_sealed {
            continue;
        }
        if listing
            .all
            .iter()
            .any(|s| same(s, tmp) && s.kind == SegmentKind::Archive)
        {
            crate::compress::remove_stale_temp(fs, &tmp.path)?;
            report.removed_partials.push(tmp.path.clone());
            removed_any = true;
        } else {
            report.orphan_temps.push(tmp.path.clone());
        }
    }
    if removed_any {
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", dir, e))?;
    }
    report.stray_indexes_removed = crate::index::remove_strays(fs, layout, &listing)?;
    report.retention_removed = apply_retention(fs, layout, retention, clock.now(), None)?;
    // Archives deleted by retention just now are not in the listing's
    // future; the compressor skips an archive that vanished.
    report.to_index = listing
        .archives()
        .filter(|a| a.number.is_some() && !listing.has_index(a))
        .filter(|a| !report.retention_removed.contains(&a.path))
        .cloned()
        .collect();
    Ok(report)
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
    let live = layout.live();
    let mut f = match fs.open_read(&live) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("open", &live, e)),
    };
    let scan = scan_tail(&mut *f).map_err(|e| Error::io("read", &live, e))?;
    if scan.len > 0 && scan.cut == 0 {
        return Err(Error::NotALog {
            path: live,
            len: scan.len,
        });
    }
    Ok(())
}

fn remove(fs: &dyn Fs, path: &Path) -> Result<()> {
    match fs.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Copies `from[offset..]` into `out`, the new file `to`, fsync'd.
fn copy_range(
    fs: &dyn Fs,
    from: &Path,
    offset: u64,
    to: &Path,
    out: &dyn crate::fs::WriteFile,
) -> Result<()> {
    let mut src = fs.open_read(from).map_err(|e| Error::io("open", from, e))?;
    src.seek_to(offset)
        .map_err(|e| Error::io("seek", from, e))?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", from, e)),
        };
        out.write_once(&buf[..n])
            .map_err(|e| Error::io("write", to, e))?;
    }
    out.sync_all().map_err(|e| Error::io("fsync", to, e))
}

/// Reads a file backwards to find its torn suffix (see the module docs).
/// Reads only the tail in the common case; a file of garbage is read
/// whole, in chunks, never held whole in memory beyond one line.
pub fn scan_tail(f: &mut dyn crate::fs::ReadFile) -> io::Result<TailScan> {
    let len = f.meta()?.len;
    let mut back = Backwards::new(f, len);
    // The bytes after the last '\n'.
    let last_nl = back.find_newline_before(len)?;
    let frag_start = last_nl.map_or(0, |p| p + 1);
    let mut cut = len;
    let mut only_blank = true;
    if frag_start < len {
        match back.line(frag_start, len)? {
            Some(bytes) => match decode_line(&bytes) {
                Decoded::Record(_) | Decoded::Glued { .. } => {
                    return Ok(TailScan {
                        len,
                        cut: len,
                        missing_newline: true,
                    });
                }
                _ => {
                    cut = frag_start;
                    only_blank = false;
                }
            },
            None => {
                cut = frag_start;
                only_blank = false;
            }
        }
    }
    // Complete lines, last first, while they are not records.
    let mut end_nl = last_nl;
    while let Some(nl) = end_nl {
        let prev = back.find_newline_before(nl)?;
        let start = prev.map_or(0, |p| p + 1);
        let is_record = match back.line(start, nl)? {
            Some(bytes) => match decode_line(&bytes) {
                Decoded::Record(_) | Decoded::Glued { .. } => true,
                Decoded::Blank => false,
                Decoded::Malformed(_) => {
                    only_blank = false;
                    false
                }
            },
            None => {
                only_blank = false;
                false
            }
        };
        if is_record {
            break;
        }
        cut = start;
        end_nl = prev;
    }
    if only_blank {
        cut = len;
    }
    Ok(TailScan {
        len,
        cut,
        missing_newline: false,
    })
}

/// Random access to a file from its end, in chunks.
struct Backwards<'a> {
    f: &'a mut dyn crate::fs::ReadFile,
    /// A window of the file: `buf` holds bytes `[start, start + buf.len())`.
    start: u64,
    buf: Vec<u8>,
}

const CHUNK: u64 = 64 << 10;

impl<'a> Backwards<'a> {
    fn new(f: &'a mut dyn crate::fs::ReadFile, len: u64) -> Backwards<'a> {
        Backwards {
            f,
            start: len,
            buf: Vec::new(),
        }
    }

    /// Makes the window start at or before `pos` (keeping at most what is
    /// needed), reading backwards by chunks.
    fn load(&mut self, from: u64, to: u64) -> io::Result<()> {
        if from >= self.start && to <= self.start + self.buf.len() as u64 {
            return Ok(());
        }
        let n = usize::try_from(to - from).map_err(|_| io::Error::other("range too large"))?;
        let mut buf = vec![0u8; n];
        self.f.seek_to(from)?;
        let mut got = 0;
        while got < n {
            match self.f.read(&mut buf[got..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank")),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.start = from;
        self.buf = buf;
        Ok(())
    }

    /// The position of the last `\n` before `end`, if any.
    fn find_newline_before(&mut self, end: u64) -> io::Result<Option<u64>> {
        let mut hi = end;
        while hi > 0 {
            let lo = hi.saturating_sub(CHUNK);
            self.load(lo, hi)?;
            let off = (lo - self.start) as usize;
            let slice = &self.buf[off..off + (hi - lo) as usize];
            if let Some(i) = memchr::memrchr(b'\n', slice) {
                return Ok(Some(lo + i as u64));
            }
            hi = lo;
        }
        Ok(None)
    }

    /// The bytes `[from, to)`, or `None` when longer than a line may be.
    fn line(&mut self, from: u64, to: u64) -> io::Result<Option<Vec<u8>>> {
        if to - from > MAX_LINE as u64 {
            return Ok(None);
        }
        self.load(from, to)?;
        let off = (from - self.start) as usize;
        Ok(Some(self.buf[off..off + (to - from) as usize].to_vec()))
    }
}
