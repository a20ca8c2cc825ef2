//! Holding a lock: [`LockGuard`], the one guard of the store's locks, and
//! [`exclusively`], running a step under the store's exclusive lock.
//!
//! The store has two kinds of `flock` (docs/durability.md):
//!
//! - **The store's lock file** (`audit.lock`): held shared by a writer
//!   while it appends and by a reader while it lists, exclusively while
//!   names change (rotation, compression's rename and unlinks, retention,
//!   recovery).
//! - **A segment's own lock**, taken on the sealed `.jsonl` or the `.gz`
//!   itself: "being compressed" (the sealed file) or "its index being
//!   written" (the archive). Another process that finds it held leaves
//!   that segment alone.
//!
//! A guard releases what it holds when dropped, so no early return can
//! leave a lock held; [`LockGuard::unlock`] releases it and reports a
//! failure where the caller must know of one (the store's lock).

use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fs::{Fs, LockFile};

/// A held `flock`, released when dropped (a failure to release it then is
/// ignored: closing the handle releases it anyway). Borrows the store's
/// lock-file handle, or owns the handle it opened on a segment.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard<'a> {
    /// The handle whose lock is held; `None` once released by
    /// [`LockGuard::unlock`].
    held: Option<Handle<'a>>,
    /// The locked file, named in errors.
    path: &'a Path,
}

/// A lock-file handle: the caller's, or one the guard opened.
#[derive(Debug)]
enum Handle<'a> {
    Borrowed(&'a dyn LockFile),
    Owned(Arc<dyn LockFile>),
}

impl Handle<'_> {
    fn get(&self) -> &dyn LockFile {
        match self {
            Handle::Borrowed(l) => *l,
            Handle::Owned(l) => &**l,
        }
    }
}

/// What trying a segment's own lock found ([`LockGuard::try_segment`]).
#[derive(Debug)]
#[must_use]
pub enum Attempt<'a> {
    /// The lock is ours until the guard is dropped.
    Held(LockGuard<'a>),
    /// Another holder has it: the segment is being worked on.
    Busy,
    /// The file is gone.
    Missing,
}

impl<'a> LockGuard<'a> {
    /// Blocks until `lock` (a handle on the file at `path`) is held shared.
    pub fn shared(lock: &'a dyn LockFile, path: &'a Path) -> Result<LockGuard<'a>> {
        lock.lock_shared().map_err(|e| Error::io("lock", path, e))?;
        Ok(LockGuard::borrowed(lock, path))
    }

    /// Blocks until `lock` (a handle on the file at `path`) is held
    /// exclusively.
    pub fn exclusive(lock: &'a dyn LockFile, path: &'a Path) -> Result<LockGuard<'a>> {
        lock.lock_exclusive()
            .map_err(|e| Error::io("lock", path, e))?;
        Ok(LockGuard::borrowed(lock, path))
    }

    /// Blocks until the segment file at `path` is locked exclusively by a
    /// handle of its own; `None` when the file is gone.
    pub fn segment(fs: &dyn Fs, path: &'a Path) -> Result<Option<LockGuard<'a>>> {
        let Some(lock) = open_segment_lock(fs, path)? else {
            return Ok(None);
        };
        lock.lock_exclusive()
            .map_err(|e| Error::io("lock", path, e))?;
        Ok(Some(LockGuard::owned(lock, path)))
    }

    /// Takes the segment file at `path` exclusively by a handle of its own
    /// if no one else holds it.
    pub fn try_segment(fs: &dyn Fs, path: &'a Path) -> Result<Attempt<'a>> {
        let Some(lock) = open_segment_lock(fs, path)? else {
            return Ok(Attempt::Missing);
        };
        if !lock
            .try_lock_exclusive()
            .map_err(|e| Error::io("lock", path, e))?
        {
            return Ok(Attempt::Busy);
        }
        Ok(Attempt::Held(LockGuard::owned(lock, path)))
    }

    /// Releases the lock now, reporting a failure to (as dropping the guard
    /// does not).
    pub fn unlock(mut self) -> Result<()> {
        match self.held.take() {
            Some(h) => h
                .get()
                .unlock()
                .map_err(|e| Error::io("unlock", self.path, e)),
            None => Ok(()),
        }
    }

    fn borrowed(lock: &'a dyn LockFile, path: &'a Path) -> LockGuard<'a> {
        LockGuard {
            held: Some(Handle::Borrowed(lock)),
            path,
        }
    }

    fn owned(lock: Arc<dyn LockFile>, path: &'a Path) -> LockGuard<'a> {
        LockGuard {
            held: Some(Handle::Owned(lock)),
            path,
        }
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if let Some(h) = &self.held {
            let _ = h.get().unlock();
        }
    }
}

/// A handle of its own on the segment file at `path`; `None` when it is gone.
fn open_segment_lock(fs: &dyn Fs, path: &Path) -> Result<Option<Arc<dyn LockFile>>> {
    match fs.open_file_lock(path) {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("open", path, e)),
    }
}

/// Runs `f` under the store's exclusive lock, whose file is at `path`:
/// `lock` is a handle of the caller's own (not the writer's), or `None`
/// when the caller already holds the lock. `f`'s error comes first; a
/// failure to unlock is reported when `f` succeeded.
pub fn exclusively<T>(
    lock: Option<&dyn LockFile>,
    path: &Path,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let Some(l) = lock else { return f() };
    let guard = LockGuard::exclusive(l, path)?;
    let r = f();
    let u = guard.unlock();
    let v = r?;
    u?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::RealFs;

    #[test]
    fn a_guard_releases_its_lock_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.lock");
        let fs = RealFs;
        let mine = fs.open_lock(&path, true).unwrap();
        let theirs = fs.open_lock(&path, true).unwrap();
        {
            let _g = LockGuard::exclusive(&*mine, &path).unwrap();
            assert!(!theirs.try_lock_exclusive().unwrap());
        }
        assert!(theirs.try_lock_exclusive().unwrap());
        assert!(matches!(
            LockGuard::try_segment(&fs, &path).unwrap(),
            Attempt::Busy
        ));
        theirs.unlock().unwrap();
        match LockGuard::try_segment(&fs, &path).unwrap() {
            Attempt::Held(g) => {
                assert!(!theirs.try_lock_exclusive().unwrap());
                g.unlock().unwrap();
            }
            other => panic!("{other:?}"),
        }
        assert!(theirs.try_lock_exclusive().unwrap());
        theirs.unlock().unwrap();
        let gone = dir.path().join("gone.jsonl");
        assert!(matches!(
            LockGuard::try_segment(&fs, &gone).unwrap(),
            Attempt::Missing
        ));
        assert!(LockGuard::segment(&fs, &gone).unwrap().is_none());
    }

    #[test]
    fn exclusively_holds_the_lock_while_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.lock");
        let fs = RealFs;
        let mine = fs.open_lock(&path, true).unwrap();
        let theirs = fs.open_lock(&path, true).unwrap();
        let held = exclusively(Some(&*mine), &path, || {
            Ok(!theirs.try_lock_exclusive().unwrap())
        })
        .unwrap();
        assert!(held);
        assert!(theirs.try_lock_exclusive().unwrap());
    }
}
