//! Compressing a sealed segment in the crash-safe order, verifying an
//! archive against its source, and retention.
//!
//! Order (docs/durability.md): write `.gz.tmp` streaming, fsync it, rename
//! it to `.gz`, fsync the directory, unlink the sealed `.jsonl`. A crash
//! anywhere leaves the sealed `.jsonl` readable until the `.gz` is durable;
//! recovery finishes or redoes the step. The segment's own `flock` marks
//! "being compressed", so two processes never compress one segment at once.
//! Once the archive is durable, the compressor writes its sidecar index
//! ([`crate::index`]); retention deletes an archive's index with it. On a
//! sealed store retention deletes only archives whose lines are all
//! sealed, after a signed `retire` entry ([`retention_run`]).
//!
//! These are functions of the file system and the layout; the writer's
//! compressor thread runs them as `Archiver`'s jobs, which return their
//! failures for the writer to keep for `close()`.

use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::Compression as Level;
use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;
use scout_audit_core::{Clock, Timestamp};

use crate::error::{Error, Result};
use crate::fs::{Fs, LockFile, WriteFile, remove_if_present, remove_stale_temp, sync_dir};
use crate::index;
use crate::layout::{Layout, Segment};
use crate::lock::{Attempt, LockGuard, exclusively};
use crate::options::Retention;
use crate::seal;

/// gzip level of archives: zlib's default, a fair trade of size for speed.
pub const GZIP_LEVEL: u32 = 6;

/// What the store's compressor thread works with: the files, their
/// layout, the retention to apply and the clock it is applied by, and the
/// compressor's own handle on the store's lock file (flock belongs to an
/// open file description, and the writer's is used by writer threads).
/// Its jobs never fail the writer: they return their errors for the
/// caller to keep for `close()` (nothing is lost: the sealed file or the
/// archive stays, and the next open retries).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Archiver<'a> {
    /// The file system.
    pub(crate) fs: &'a dyn Fs,
    /// The store's names.
    pub(crate) layout: &'a Layout,
    /// What retention deletes after each compression.
    pub(crate) retention: &'a Retention,
    /// "Now" for retention's maximum age.
    pub(crate) clock: &'a dyn Clock,
    /// The compressor's handle on the store's lock file.
    pub(crate) lock: &'a dyn LockFile,
}

impl Archiver<'_> {
    /// Compresses a sealed segment, indexes its archive, then applies
    /// retention; returns the failures, in order (a failed compression
    /// stops there). `last_indexed`: the archive this compressor indexed
    /// last, refreshed now and replaced by this one.
    pub(crate) fn compress_and_retain(
        &self,
        seg: &Segment,
        last_indexed: &mut Option<Segment>,
    ) -> Vec<Error> {
        let mut errors = Vec::new();
        match compress_segment(self.fs, self.layout, seg, Some(self.lock)) {
            Err(e) => {
                errors.push(background("compression", &e));
                return errors;
            }
            Ok(true) => self.index_new_archive(seg, last_indexed, &mut errors),
            Ok(false) => {}
        }
        let now = self.clock.now();
        match retention_run(self.fs, self.layout, self.retention, now, Some(self.lock)) {
            Err(e) => errors.push(background("retention", &e)),
            // Archives kept until a seal covers them are no failure: the
            // next run after that seal retires them.
            Ok(RetentionOutcome {
                refused: Some(why), ..
            }) => errors.push(background(
                "retention",
                &Error::Seal {
                    path: self.layout.seal_log(),
                    reason: why,
                },
            )),
            Ok(_) => {}
        }
        errors
    }

    /// Writes the missing index of one of the store's archives (found at
    /// open); an archive that vanished (retention) is skipped.
    pub(crate) fn index_archive(&self, archive: &Segment) -> Result<()> {
        index::index_archive(self.fs, self.layout, archive, Some(self.lock))
            .map(|_| ())
            .map_err(|e| background("index", &e))
    }

    /// Writes the sidecar index of the archive just made from `sealed`, now
    /// that it is durable (docs/format.md, "Archive indexes"), and
    /// refreshes the identity in the index written before it. A failure
    /// loses nothing (readers then read the archive whole).
    fn index_new_archive(
        &self,
        sealed: &Segment,
        last_indexed: &mut Option<Segment>,
        errors: &mut Vec<Error>,
    ) {
        let gz = self.layout.archive_path(sealed);
        if let Some(archive) = gz
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| self.layout.parse_segment(n))
        {
            errors.extend(self.index_archive(&archive).err());
            if let Some(p) = last_indexed.replace(archive) {
                errors.extend(self.refresh_identity(&p).err());
            }
        }
    }

    /// Rewrites the index of `archive` with its identity now when readers
    /// cannot trust the recorded one (racy: recorded just after the archive
    /// was made) and one recorded now would be ([`index::needs_refresh`]),
    /// so that readers stop hashing it.
    fn refresh_identity(&self, archive: &Segment) -> Result<()> {
        let path = self.layout.index_path(archive);
        let ins = index::inspect_index(self.fs, &archive.path, &path);
        if !index::needs_refresh(self.fs, &archive.path, &ins) {
            return Ok(());
        }
        if let index::IndexCheck::Valid(i) = ins.check {
            index::write_index(
                self.fs,
                self.layout,
                archive,
                i.stamp,
                i.summary,
                Some(self.lock),
            )
            .map_err(|e| background("index", &e))?;
        }
        Ok(())
    }
}

/// The error a background `task` ("compression", "retention", "index")
/// keeps for `close()`.
fn background(task: &'static str, e: &Error) -> Error {
    Error::Background {
        task,
        message: e.to_string(),
    }
}

/// `io::Write` over a [`WriteFile`].
struct Out(Arc<dyn WriteFile>);

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_once(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Compresses one sealed segment to its `.gz` (see the module docs).
/// `store_lock`: a handle on the store's lock file for the renames and
/// unlinks (`None`: the caller holds the exclusive lock already).
/// Returns `false` when there was nothing to do: another process holds the
/// segment, or it is already compressed. An existing `.gz` that differs
/// from the sealed file is never deleted: both are kept and an error says so.
pub fn compress_segment(
    fs: &dyn Fs,
    layout: &Layout,
    seg: &Segment,
    store_lock: Option<&dyn LockFile>,
) -> Result<bool> {
    let sealed = layout.sealed_path(seg);
    let dir = layout.dir();
    let _held = match LockGuard::try_segment(fs, &sealed)? {
        Attempt::Held(g) => g,
        Attempt::Busy | Attempt::Missing => return Ok(false),
    };
    // Under the segment lock: the state cannot change under us.
    compress_locked(fs, layout, seg, &sealed, dir, store_lock)
}

fn compress_locked(
    fs: &dyn Fs,
    layout: &Layout,
    seg: &Segment,
    sealed: &Path,
    dir: &Path,
    store_lock: Option<&dyn LockFile>,
) -> Result<bool> {
    let lock_path = layout.lock();
    match fs.stat(sealed) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("stat", sealed, e)),
    }
    let gz = layout.archive_path(seg);
    let tmp = layout.temp_path(seg);
    if fs.lstat(&gz).is_ok() {
        // An earlier run got as far as the rename (an archive is only ever
        // made whole, by rename after fsync): finish it.
        if archive_matches(fs, &gz, sealed)? {
            exclusively(store_lock, &lock_path, || {
                remove_if_present(fs, sealed)?;
                sync_dir(fs, dir)
            })?;
            return Ok(true);
        }
        return Err(Error::Conflict {
            path: gz,
            reason: format!("differs from {}; both are kept", sealed.display()),
        });
    }
    // A `.gz.tmp` here is a crashed run's (the segment lock is ours).
    remove_stale_temp(fs, &tmp)?;
    let out = fs
        .create_new(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    let input = fs
        .open_read(sealed)
        .map_err(|e| Error::io("open", sealed, e))?;
    let mut enc = GzEncoder::new(Out(Arc::clone(&out)), Level::new(GZIP_LEVEL));
    let mut reader = BufReader::with_capacity(256 << 10, input);
    io::copy(&mut reader, &mut enc).map_err(|e| Error::io("compress", sealed, e))?;
    enc.finish().map_err(|e| Error::io("write", &tmp, e))?;
    out.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(out);
    exclusively(store_lock, &lock_path, || {
        fs.rename_noreplace(&tmp, &gz)
            .map_err(|e| Error::io("rename", &tmp, e))?;
        sync_dir(fs, dir)?;
        remove_if_present(fs, sealed)?;
        sync_dir(fs, dir)
    })?;
    Ok(true)
}

/// Whether `gz` decompresses to exactly the bytes of `plain`. A corrupt or
/// truncated archive does not match; an unreadable `plain` is an error.
pub fn archive_matches(fs: &dyn Fs, gz: &Path, plain: &Path) -> Result<bool> {
    let a = match fs.open_read(gz) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("open", gz, e)),
    };
    let b = fs
        .open_read(plain)
        .map_err(|e| Error::io("open", plain, e))?;
    let mut a = MultiGzDecoder::new(BufReader::with_capacity(64 << 10, a));
    let mut b = BufReader::with_capacity(64 << 10, b);
    let mut ba = vec![0u8; 64 << 10];
    let mut bb = vec![0u8; 64 << 10];
    loop {
        let na = match read_full(&mut a, &mut ba) {
            Ok(n) => n,
            // A damaged archive simply does not match.
            Err(_) => return Ok(false),
        };
        let nb = read_full(&mut b, &mut bb).map_err(|e| Error::io("read", plain, e))?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Deletes the archives `retention` says to, oldest first, and returns
/// their paths. Only readable `.gz` archives are candidates. Runs under the
/// store's exclusive lock (`store_lock`, or held by the caller when `None`).
/// On a sealed store, see [`retention_run`].
pub fn apply_retention(
    fs: &dyn Fs,
    layout: &Layout,
    retention: &Retention,
    now: Timestamp,
    store_lock: Option<&dyn LockFile>,
) -> Result<Vec<PathBuf>> {
    retention_run(fs, layout, retention, now, store_lock).map(|o| o.removed)
}

/// What one retention run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// The archives deleted, oldest first.
    pub removed: Vec<PathBuf>,
    /// Sealed store: archives retention wanted gone but kept because some
    /// of their lines are not sealed yet (the run after the next seal
    /// deletes them).
    pub unsealed: Vec<PathBuf>,
    /// Sealed store: why archives retention wanted gone were kept though
    /// sealed (they do not match the seals, or one before them is
    /// missing); for `verify --key` to locate.
    pub refused: Option<String>,
}

/// [`apply_retention`], saying what it kept and why. On a sealed store (a
/// seal log exists) an archive of ours is deleted only when every line of
/// it is sealed, after a signed `retire` entry covering it is in the seal
/// log ([`crate::seal::retire_now`]); the newest numbered segment is
/// never deleted there (decision 73). The Python original's archives hold
/// no leaves and go as on any store.
pub fn retention_run(
    fs: &dyn Fs,
    layout: &Layout,
    retention: &Retention,
    now: Timestamp,
    store_lock: Option<&dyn LockFile>,
) -> Result<RetentionOutcome> {
    if !retention.is_active() {
        return Ok(RetentionOutcome::default());
    }
    exclusively(store_lock, &layout.lock(), || {
        retain(fs, layout, retention, now)
    })
}

/// An archive retention may delete, with its size on disk.
struct SizedArchive {
    seg: Segment,
    /// Its length in bytes, when listed.
    len: u64,
}

fn retain(
    fs: &dyn Fs,
    layout: &Layout,
    retention: &Retention,
    now: Timestamp,
) -> Result<RetentionOutcome> {
    let dir = layout.dir();
    let listing = layout.list(fs).map_err(|e| Error::io("list", dir, e))?;
    let mut archives: Vec<SizedArchive> = Vec::new();
    for seg in listing.archives() {
        match fs.stat(&seg.path) {
            Ok(m) => archives.push(SizedArchive {
                seg: seg.clone(),
                len: m.len,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("stat", &seg.path, e)),
        }
    }
    let doomed = doomed(&archives, retention, now);
    let sealed = seal::is_sealed(fs, layout);
    let mut outcome = RetentionOutcome::default();
    // On a sealed store, our archives go only through a retire.
    let mut delete: Vec<&Segment> = archives
        .iter()
        .zip(&doomed)
        .filter(|(a, d)| **d && (a.seg.number.is_none() || !sealed))
        .map(|(a, _)| &a.seg)
        .collect();
    let plan;
    if sealed {
        let numbers: Vec<u64> = archives
            .iter()
            .zip(&doomed)
            .filter(|(_, d)| **d)
            .filter_map(|(a, _)| a.seg.number)
            .collect();
        let secs = u64::try_from(now.unix_secs()).unwrap_or(0);
        // A sealing state or log that cannot be used keeps the archives
        // (said in `refused`) rather than failing the caller (an open).
        plan = match seal::retire_locked(fs, layout, &numbers, secs) {
            Err(Error::Seal { path, reason }) => seal::RetirePlan {
                refused: Some(format!("{}: {reason}", path.display())),
                ..seal::RetirePlan::default()
            },
            r => r?,
        };
        delete.extend(&plan.delete);
        outcome.unsealed.clone_from(&plan.unsealed);
        outcome.refused.clone_from(&plan.refused);
    }
    for seg in delete {
        remove_if_present(fs, &seg.path)?;
        // Its index goes with it (an index without archive is unused).
        remove_if_present(fs, &layout.index_path(seg))?;
        outcome.removed.push(seg.path.clone());
    }
    if !outcome.removed.is_empty() {
        sync_dir(fs, dir)?;
    }
    Ok(outcome)
}

/// Which archives `retention` wants gone at `now`, oldest first.
fn doomed(archives: &[SizedArchive], retention: &Retention, now: Timestamp) -> Vec<bool> {
    let mut doomed = vec![false; archives.len()];
    if let Some(age) = retention.max_age {
        let cutoff = now.saturating_sub(age);
        for (i, a) in archives.iter().enumerate() {
            if a.seg.seal_time() < cutoff {
                doomed[i] = true;
            }
        }
    }
    if let Some(max) = retention.max_archives {
        let excess = archives.len().saturating_sub(max);
        for d in doomed.iter_mut().take(excess) {
            *d = true;
        }
    }
    if let Some(max) = retention.max_bytes {
        let mut total: u64 = archives
            .iter()
            .zip(&doomed)
            .filter(|(_, d)| !**d)
            .map(|(a, _)| a.len)
            .sum();
        for (i, a) in archives.iter().enumerate() {
            if total <= max {
                break;
            }
            if !doomed[i] {
                doomed[i] = true;
                total -= a.len;
            }
        }
    }
    doomed
}
