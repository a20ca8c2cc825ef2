//! On a sealed store, queries take answers only from indexes a seal
//! vouched for (decision 88): a forged index with its digests recomputed
//! changes no answer and is counted; an honest one is used once sealed;
//! a store without sealing uses a matching index as it always did.

use std::path::{Path, PathBuf};

use scout_audit_core::{Durability, Event, SystemClock};
use scout_audit_scan::{Answer, Inputs, Scan, Spend};
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::options::SealInterval;
use scout_audit_store_file::seal;
use scout_audit_store_file::{FileStore, Layout};
use scout_audit_testkit::forge::{reseal, with_costs};

/// Appends records costing 1, 2, 3, ... `n`.
fn write(path: &Path, n: u64) {
    // Sealing by hand only, so the test says when a vouch is made.
    let store = FileStore::builder(path)
        .seal_interval(SealInterval::OFF)
        .durability(Durability::Sync)
        .open()
        .unwrap();
    for i in 1..=n {
        store.append(Event::new("llm_call").cost(i as f64)).unwrap();
    }
    store.close().unwrap();
}

fn rotate(path: &Path) {
    let store = FileStore::builder(path)
        .seal_interval(SealInterval::OFF)
        .open()
        .unwrap();
    store.rotate().unwrap();
    store.wait_compressed();
    store.close().unwrap();
}

fn seal_now(path: &Path) {
    let layout = Layout::new(path).unwrap();
    seal::seal_now(&RealFs, &layout, &SystemClock).unwrap();
}

/// A store of one indexed archive (costs 1 to 4: 10) and a live record
/// (cost 1), set up for sealing when `sealed`, and sealed; its live file.
fn store(dir: &Path, sealed: bool) -> PathBuf {
    let path = dir.join("audit.jsonl");
    if sealed {
        seal::init(&RealFs, &Layout::new(&path).unwrap(), 3600).unwrap();
    }
    write(&path, 4);
    rotate(&path);
    write(&path, 1);
    if sealed {
        seal_now(&path);
    }
    path
}

fn indexes(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(".idx"))
        .collect();
    v.sort();
    v
}

fn forge(idx: &Path) {
    let text = std::fs::read_to_string(idx).unwrap();
    let forged = reseal(&with_costs(&text, 0.5));
    assert_ne!(forged, text);
    std::fs::write(idx, forged).unwrap();
}

fn spend(live: &Path) -> Answer<Spend> {
    Scan::new(Inputs::store(live).unwrap()).spend(None).unwrap()
}

fn spend_of_dir(dir: &Path) -> Answer<Spend> {
    Scan::new(Inputs::paths([dir]).unwrap())
        .spend(None)
        .unwrap()
}

#[test]
fn a_vouched_index_answers_and_a_forged_one_is_read_past_and_counted() {
    let d = tempfile::tempdir().unwrap();
    let live = store(d.path(), true);
    let idx = indexes(d.path());
    assert_eq!(idx.len(), 1);
    let a = spend(&live);
    assert_eq!((a.value.total, a.report.from_index), (Ok(11.0), 1));
    assert!(a.report.unvouched_indexes.is_empty());
    forge(&idx[0]);
    // The forgery matches its archive's bytes: only the seals tell.
    for a in [spend(&live), spend_of_dir(d.path())] {
        assert_eq!(a.value.total, Ok(11.0));
        assert_eq!(a.report.from_index, 0);
        assert_eq!(a.report.unvouched_indexes, idx);
        assert!(a.report.index_mismatches.is_empty());
    }
    // Records, counts and stats read the archive too: the same answers.
    let count = Scan::new(Inputs::store(&live).unwrap()).count().unwrap();
    assert_eq!((count.value, count.report.unvouched_indexes.len()), (5, 1));
}

#[test]
fn a_new_archives_index_is_used_once_the_next_seal_vouches_for_it() {
    let d = tempfile::tempdir().unwrap();
    let live = store(d.path(), true);
    rotate(&live);
    write(&live, 2);
    let idx = indexes(d.path());
    assert_eq!(idx.len(), 2);
    let a = spend(&live);
    assert_eq!(a.value.total, Ok(14.0));
    assert_eq!(a.report.from_index, 1);
    assert_eq!(a.report.unvouched_indexes, [idx[1].clone()]);
    seal_now(&live);
    let a = spend(&live);
    assert_eq!((a.value.total, a.report.from_index), (Ok(14.0), 2));
    assert!(a.report.unvouched_indexes.is_empty());
}

#[test]
fn a_store_without_sealing_uses_a_matching_index_as_before() {
    let d = tempfile::tempdir().unwrap();
    let live = store(d.path(), false);
    let idx = indexes(d.path());
    let a = spend(&live);
    assert_eq!((a.value.total, a.report.from_index), (Ok(11.0), 1));
    // Unsealed, a consistent forgery is trusted for speed, as it always
    // was (`verify` compares it with the archive's records).
    forge(&idx[0]);
    let a = spend(&live);
    assert_eq!((a.value.total, a.report.from_index), (Ok(1.0 + 0.5), 1));
    assert!(a.report.unvouched_indexes.is_empty());
}
