//! [`FaultFs`]: the real file system, counting calls and failing chosen
//! ones with `EIO`, `ENOSPC` or a short write. Put under a store with
//! [`Faulty`] (`Builder::file_system(Arc::new(Faulty(fs)))`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use scout_audit_store_file::fs::{Fs, LockFile, Meta, ReadFile, RealFs, WriteFile, short_write};

pub use crate::sim::{EIO, ENOSPC};

/// Which call a [`FaultFs`] fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `write` on any file.
    Write,
    /// `fdatasync` of a file.
    SyncData,
    /// `fsync` of a file.
    SyncAll,
    /// `fsync` of a directory.
    SyncDir,
    /// `rename`.
    Rename,
}

/// How a failing call fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// With this errno, doing nothing.
    Errno(i32),
    /// A write: the first half of the bytes are written, then the call
    /// fails as `write_once` reports a short write.
    Short,
}

/// The real file system, counting calls and failing chosen ones.
#[derive(Debug, Default)]
pub struct FaultFs {
    /// `fdatasync` calls made.
    pub sync_data: AtomicU64,
    /// `fsync` calls on files made.
    pub sync_all: AtomicU64,
    /// `fsync` calls on directories made.
    pub sync_dir: AtomicU64,
    /// `write` calls made.
    pub writes: AtomicU64,
    /// The paths opened for reading, in order.
    pub opened_for_reading: Mutex<Vec<PathBuf>>,
    /// (op, how, calls of that op to let through first)
    fail: Mutex<Option<(Op, How, usize)>>,
    /// Calls of the failing op seen since `fail`.
    seen: AtomicUsize,
}

impl FaultFs {
    /// A file system that fails nothing yet.
    pub fn new() -> Arc<FaultFs> {
        Arc::new(FaultFs::default())
    }

    /// Fails the `after`-th next call of `op` (0: the next) and every one
    /// after, with `errno`.
    pub fn fail(&self, op: Op, errno: i32, after: usize) {
        self.fail_how(op, How::Errno(errno), after);
    }

    /// Fails the `after`-th next call of `op` and every one after, as `how`.
    pub fn fail_how(&self, op: Op, how: How, after: usize) {
        self.seen.store(0, Ordering::SeqCst);
        *scout_audit_core::writer::lock_ignoring_poison(&self.fail) = Some((op, how, after));
    }

    /// Fails nothing any more.
    pub fn heal(&self) {
        *scout_audit_core::writer::lock_ignoring_poison(&self.fail) = None;
    }

    fn check(&self, op: Op) -> Option<How> {
        let g = scout_audit_core::writer::lock_ignoring_poison(&self.fail);
        if let Some((o, how, after)) = *g
            && o == op
        {
            let n = self.seen.fetch_add(1, Ordering::SeqCst);
            if n >= after {
                return Some(how);
            }
        }
        None
    }

    fn errno_of(&self, op: Op) -> io::Result<()> {
        match self.check(op) {
            None => Ok(()),
            Some(How::Errno(e)) => Err(io::Error::from_raw_os_error(e)),
            Some(How::Short) => Err(io::Error::from_raw_os_error(EIO)),
        }
    }

    /// File fsyncs made (`fdatasync` and `fsync`).
    pub fn fsyncs(&self) -> u64 {
        self.sync_data.load(Ordering::SeqCst) + self.sync_all.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
struct FaultFile {
    inner: Arc<dyn WriteFile>,
    fs: Arc<FaultFs>,
}

impl WriteFile for FaultFile {
    fn write_once(&self, buf: &[u8]) -> io::Result<()> {
        match self.fs.check(Op::Write) {
            None => {}
            Some(How::Errno(e)) => return Err(io::Error::from_raw_os_error(e)),
            Some(How::Short) => {
                let half = buf.len() / 2;
                self.inner.write_once(&buf[..half])?;
                return Err(short_write(half, buf.len()));
            }
        }
        self.fs.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.write_once(buf)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.fs.errno_of(Op::SyncData)?;
        self.fs.sync_data.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.fs.errno_of(Op::SyncAll)?;
        self.fs.sync_all.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_all()
    }
    fn meta(&self) -> io::Result<Meta> {
        self.inner.meta()
    }
}

/// `Arc<FaultFs>` as an [`Fs`].
#[derive(Debug, Clone)]
pub struct Faulty(pub Arc<FaultFs>);

impl Fs for Faulty {
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
        Ok(Arc::new(FaultFile {
            inner: RealFs.open_append(path)?,
            fs: Arc::clone(&self.0),
        }))
    }
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
        Ok(Arc::new(FaultFile {
            inner: RealFs.create_new(path)?,
            fs: Arc::clone(&self.0),
        }))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
        scout_audit_core::writer::lock_ignoring_poison(&self.0.opened_for_reading)
            .push(path.to_path_buf());
        RealFs.open_read(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        RealFs.truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.errno_of(Op::Rename)?;
        RealFs.rename(from, to)
    }
    fn rename_noreplace(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.errno_of(Op::Rename)?;
        RealFs.rename_noreplace(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        RealFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.0.errno_of(Op::SyncDir)?;
        self.0.sync_dir.fetch_add(1, Ordering::SeqCst);
        RealFs.sync_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        RealFs.list_dir(dir)
    }
    fn stat(&self, path: &Path) -> io::Result<Meta> {
        RealFs.stat(path)
    }
    fn lstat(&self, path: &Path) -> io::Result<Meta> {
        RealFs.lstat(path)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealFs.create_dir_all(dir)
    }
    fn open_lock(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LockFile>> {
        RealFs.open_lock(path, create)
    }
    fn open_file_lock(&self, path: &Path) -> io::Result<Arc<dyn LockFile>> {
        RealFs.open_file_lock(path)
    }
}
