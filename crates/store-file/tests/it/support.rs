//! Shared helpers: temp stores, reading back, and (from the testkit) the
//! file system that counts or fails calls.

use std::path::{Path, PathBuf};

use scout_audit_core::Record;
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

/// A writer of session `session` on the store at `path`, rotating at
/// `rotate` bytes (two of them hold separate descriptors and locks, as two
/// processes do).
pub fn open_rotating(path: &Path, rotate: u64, session: &str) -> scout_audit_store_file::FileStore {
    scout_audit_store_file::FileStore::builder(path)
        .rotate_size(scout_audit_store_file::options::RotateSize::bytes(rotate))
        .session(scout_audit_core::SessionId::new(session))
        .open()
        .unwrap()
}

pub fn layout(path: &Path) -> Layout {
    Layout::new(path).unwrap()
}

pub use scout_audit_testkit::fault::{FaultFs, Faulty, Op};
