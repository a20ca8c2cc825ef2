//! Compressing a sealed segment in the crash-safe order, verifying an
//! archive against its source, and retention.
//!
//! Order (docs/durability.md): write `.gz.tmp` streaming, fsync it, rename
//! it to `.gz`, fsync the directory, unlink the sealed `.jsonl`. A crash
//! anywhere leaves the sealed `.jsonl` readable until the `.gz` is durable;
//! recovery finishes or redoes the step. The segment's own `flock` marks
//! "being compressed", so two processes never compress one segment at once.
//! Once the archive is durable, the compressor writes its sidecar index
//! ([`crate::index`]); retention deletes an archive's index with it.

use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::Compression as Level;
use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;
use scout_audit_core::Timestamp;

use crate::error::{Error, Result};
use crate::fs::{Fs, LockFile, WriteFile};
use crate::index;
use crate::layout::{Layout, Segment};
use crate::options::Retention;
use crate::writer::Shared;

/// gzip level of archives: zlib's default, a fair trade of size for speed.
pub const GZIP_LEVEL: u32 = 6;

/// Compresses a sealed segment, then applies retention; failures are kept
/// for `close()` to report (nothing is lost: the sealed file stays).
pub(crate) fn compress_and_retain(sh: &Shared, lock: &dyn LockFile, seg: &Segment) {
    match compress_segment(&*sh.fs, &sh.layout, seg, Some(lock)) {
        Err(e) => {
            sh.record_bg_error(Error::Background {
                task: "compression",
                message: e.to_string(),
            });
            return;
        }
        Ok(true) => index_new_archive(sh, lock, seg),
        Ok(false) => {}
    }
    if let Err(e) = apply_retention(&*sh.fs, &sh.layout, &sh.retention, sh.now(), Some(lock)) {
        sh.record_bg_error(Error::Background {
            task: "retention",
            message: e.to_string(),
        });
    }
}

/// Writes the missing index of one of the store's archives (found at
/// open); failures are kept for `close()`, and an archive that vanished
/// (retention) is skipped.
pub(crate) fn index_archive(sh: &Shared, lock: &dyn LockFile, archive: &Segment) {
    if let Err(e) = index::index_archive(&*sh.fs, &sh.layout, archive, Some(lock)) {
        sh.record_bg_error(Error::Background {
            task: "index",
            message: e.to_string(),
        });
    }
}

/// Writes the sidecar index of the archive just made from `sealed`, now
/// that it is durable (docs/format.md, "Archive indexes"). A failure loses
/// nothing (readers then read the archive whole); it is kept for `close()`.
fn index_new_archive(sh: &Shared, lock: &dyn LockFile, sealed: &Segment) {
    let gz = sh.layout.archive_path(sealed);
    if let Some(archive) = gz
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| sh.layout.parse_segment(n))
    {
        index_archive(sh, lock, &archive);
        let previous =
            scout_audit_core::writer::lock_ignoring_poison(&sh.last_indexed).replace(archive);
        if let Some(p) = previous {
            refresh_identity(sh, lock, &p);
        }
    }
}

/// Rewrites the index of `archive` with its identity now when readers
/// cannot trust the recorded one (racy: recorded just after the archive
/// was made) and one recorded now would be ([`index::needs_refresh`]), so
/// that readers stop hashing it. Failures are kept for `close()`.
fn refresh_identity(sh: &Shared, lock: &dyn LockFile, archive: &Segment) {
    let path = sh.layout.index_path(archive);
    let ins = index::inspect_index(&*sh.fs, &archive.path, &path);
    if !index::needs_refresh(&*sh.fs, &archive.path, &ins) {
        return;
    }
    if let index::IndexCheck::Valid(i) = ins.check
        && let Err(e) =
            index::write_index(&*sh.fs, &sh.layout, archive, i.stamp, i.summary, Some(lock))
    {
        sh.record_bg_error(Error::Background {
            task: "index",
            message: e.to_string(),
        });
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

/// Runs `f` under the store's exclusive lock: `lock` is a handle of the
/// caller's own (not the writer's), or `None` when the caller already holds
/// the lock.
pub(crate) fn exclusively<T>(
    lock: Option<&dyn LockFile>,
    path: &Path,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let Some(l) = lock else { return f() };
    l.lock_exclusive().map_err(|e| Error::io("lock", path, e))?;
    let r = f();
    let u = l.unlock().map_err(|e| Error::io("unlock", path, e));
    let v = r?;
    u?;
    Ok(v)
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
    let seg_lock = match fs.open_file_lock(&sealed) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("open", &sealed, e)),
    };
    if !seg_lock
        .try_lock_exclusive()
        .map_err(|e| Error::io("lock", &sealed, e))?
    {
        return Ok(false);
    }
    // Under the segment lock: the state cannot change under us.
    let r = compress_locked(fs, layout, seg, &sealed, dir, store_lock);
    let _ = seg_lock.unlock();
    r
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
                remove(fs, sealed)?;
                fs.sync_dir(dir)
                    .map_err(|e| Error::io("fsync directory", dir, e))
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
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", dir, e))?;
        remove(fs, sealed)?;
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", dir, e))
    })?;
    Ok(true)
}

/// Removes a temporary file of the store's own left by a crash, before it
/// is created again exclusively: only a regular file is; anything else at
/// the name (a symbolic link, a directory, a FIFO) was not made by the
/// store, is left alone, and is an error naming it.
pub(crate) fn remove_stale_temp(fs: &dyn Fs, path: &Path) -> Result<()> {
    if crate::fs::regular_or_absent(fs, path)? {
        remove(fs, path)?;
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
pub fn apply_retention(
    fs: &dyn Fs,
    layout: &Layout,
    retention: &Retention,
    now: Timestamp,
    store_lock: Option<&dyn LockFile>,
) -> Result<Vec<PathBuf>> {
    if !retention.is_active() {
        return Ok(Vec::new());
    }
    exclusively(store_lock, &layout.lock(), || {
        retain(fs, layout, retention, now)
    })
}

fn retain(
    fs: &dyn Fs,
    layout: &Layout,
    retention: &Retention,
    now: Timestamp,
) -> Result<Vec<PathBuf>> {
    let dir = layout.dir();
    let listing = layout.list(fs).map_err(|e| Error::io("list", dir, e))?;
    let mut archives: Vec<(Segment, u64)> = Vec::new();
    for seg in listing.archives() {
        match fs.stat(&seg.path) {
            Ok(m) => archives.push((seg.clone(), m.len)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("stat", &seg.path, e)),
        }
    }
    let mut doomed = vec![false; archives.len()];
    if let Some(age) = retention.max_age {
        let cutoff = now.saturating_sub(age);
        for (i, (seg, _)) in archives.iter().enumerate() {
            if seg.seal_time() < cutoff {
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
            .map(|((_, n), _)| *n)
            .sum();
        for (i, (_, n)) in archives.iter().enumerate() {
            if total <= max {
                break;
            }
            if !doomed[i] {
                doomed[i] = true;
                total -= n;
            }
        }
    }
    let mut removed = Vec::new();
    for ((seg, _), d) in archives.iter().zip(&doomed) {
        if *d {
            remove(fs, &seg.path)?;
            // Its index goes with it (an index without archive is unused).
            remove(fs, &layout.index_path(seg))?;
            removed.push(seg.path.clone());
        }
    }
    if !removed.is_empty() {
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", dir, e))?;
    }
    Ok(removed)
}
