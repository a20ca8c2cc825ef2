//! Shared helpers: temp stores, reading back, and file systems that count
//! or fail calls.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use scout_audit_core::Record;
use scout_audit_store_file::fs::{Fs, LockFile, Meta, ReadFile, RealFs, WriteFile};
use scout_audit_store_file::{Layout, Reader};

pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn temp_store() -> TempStore {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    TempStore { dir, path }
}

/// Every record of the store at `path`, and the read report.
pub fn read_all(path: &Path) -> (Vec<Record>, scout_audit_store_file::ReadReport) {
    let mut r = Reader::open(path).unwrap();
    let mut out = Vec::new();
    for rec in &mut r {
        out.push(rec.unwrap());
    }
    (out, r.report().clone())
}

pub fn file_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

pub fn layout(path: &Path) -> Layout {
    Layout::new(path).unwrap()
}

/// Which call a [`FaultFs`] fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Write,
    SyncData,
    SyncAll,
    SyncDir,
    Rename,
}

/// The real file system, counting calls and failing chosen ones.
#[derive(Debug, Default)]
pub struct FaultFs {
    pub sync_data: AtomicU64,
    pub sync_all: AtomicU64,
    pub sync_dir: AtomicU64,
    pub writes: AtomicU64,
    /// (op, errno, calls of that op to let through first)
    fail: Mutex<Option<(Op, i32, usize)>>,
    seen: AtomicUsize,
}

impl FaultFs {
    pub fn new() -> Arc<FaultFs> {
        Arc::new(FaultFs::default())
    }

    /// Fails the `after`-th next call of `op` (0: the next) and every one after.
    pub fn fail(&self, op: Op, errno: i32, after: usize) {
        self.seen.store(0, Ordering::SeqCst);
        *self.fail.lock().unwrap() = Some((op, errno, after));
    }

    pub fn heal(&self) {
        *self.fail.lock().unwrap() = None;
    }

    fn check(&self, op: Op) -> io::Result<()> {
        if let Some((o, errno, after)) = *self.fail.lock().unwrap()
            && o == op
        {
            let n = self.seen.fetch_add(1, Ordering::SeqCst);
            if n >= after {
                return Err(io::Error::from_raw_os_error(errno));
            }
        }
        Ok(())
    }

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
        self.fs.check(Op::Write)?;
        self.fs.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.write_once(buf)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.fs.check(Op::SyncData)?;
        self.fs.sync_data.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.fs.check(Op::SyncAll)?;
        self.fs.sync_all.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_all()
    }
    fn meta(&self) -> io::Result<Meta> {
        self.inner.meta()
    }
}

/// `Arc<FaultFs>` as an `Fs`.
#[derive(Debug, Clone)]
pub struct Faulty(pub Arc<FaultFs>);

impl Fs for Faulty {
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
        Ok(Arc::new(FaultFile {
            inner: RealFs.open_append(path)?,
            fs: Arc::clone(&self.0),
        }))
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
        Ok(Arc::new(FaultFile {
            inner: RealFs.create(path)?,
            fs: Arc::clone(&self.0),
        }))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
        RealFs.open_read(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        RealFs.truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.check(Op::Rename)?;
        RealFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        RealFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.0.check(Op::SyncDir)?;
        self.0.sync_dir.fetch_add(1, Ordering::SeqCst);
        RealFs.sync_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        RealFs.list_dir(dir)
    }
    fn stat(&self, path: &Path) -> io::Result<Meta> {
        RealFs.stat(path)
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
