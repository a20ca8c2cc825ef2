//! Sidecar indexes: written when an archive is made, equal to a summary of
//! the archive as readers read it, removed with it, and never trusted when
//! stale, partial or foreign.

use std::sync::Arc;

use scout_audit_core::{Event, ManualClock, Timestamp};
use scout_audit_store_file::FileStore;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::index::{ArchiveStamp, SegmentIndex, read_index, summarize_archive};
use scout_audit_store_file::options::{Retention, RotateSize};

use crate::support::*;

fn store_with_archives(t: &TempStore, n: usize) {
    let clock = Arc::new(ManualClock::new(
        Timestamp::parse("2026-11-01T00:00:00Z").unwrap(),
    ));
    let store = FileStore::builder(&t.path)
        .clock(clock.clone())
        .rotate_size(RotateSize::NEVER)
        .open()
        .unwrap();
    for i in 0..n {
        for j in 0..5u64 {
            store
                .append(
                    Event::new(if j % 2 == 0 { "nav" } else { "llm_call" })
                        .cost(0.1 * (j + 1) as f64)
                        .model("m")
                        .input_t(10 + i as u64),
                )
                .unwrap();
        }
        store.rotate().unwrap();
        clock.advance(std::time::Duration::from_secs(3600));
    }
    store.append(Event::new("live")).unwrap();
    store.close().unwrap();
}

#[test]
fn every_archive_is_indexed_with_what_readers_read() {
    let t = temp_store();
    store_with_archives(&t, 3);
    let l = layout(&t.path);
    let listing = l.list(&RealFs).unwrap();
    assert_eq!(listing.archives().count(), 3);
    assert_eq!(listing.indexed.len(), 3);
    assert!(listing.stray_indexes.is_empty());
    for seg in listing.archives() {
        let idx = read_index(&RealFs, &seg.path, &l.index_path(seg)).unwrap();
        assert_eq!(idx.archive, seg.name);
        let summary = summarize_archive(&RealFs, &seg.path).unwrap().unwrap();
        assert_eq!(idx.summary, summary);
        assert_eq!(summary.records, 5);
        let nav: u64 = summary
            .hours
            .values()
            .filter_map(|k| k.get(Some("nav")))
            .map(|t| t.records)
            .sum();
        assert_eq!(nav, 3);
        assert_eq!(summary.models.get(Some("m")).unwrap().records, 5);
    }
}

#[test]
fn stale_or_damaged_indexes_are_absent() {
    let t = temp_store();
    store_with_archives(&t, 1);
    let l = layout(&t.path);
    let listing = l.list(&RealFs).unwrap();
    let seg = listing.archives().next().unwrap().clone();
    let idx_path = l.index_path(&seg);
    assert!(read_index(&RealFs, &seg.path, &idx_path).is_some());
    // Another file's index under this name: refused.
    let bytes = std::fs::read(&idx_path).unwrap();
    let mut other = SegmentIndex::decode(&bytes).unwrap();
    other.archive = "audit-20991231T000000Z-000009.jsonl.gz".into();
    std::fs::write(&idx_path, other.encode()).unwrap();
    assert!(read_index(&RealFs, &seg.path, &idx_path).is_none());
    // Cut short: refused.
    std::fs::write(&idx_path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(read_index(&RealFs, &seg.path, &idx_path).is_none());
    // Whole again, but the archive was rewritten (same bytes, new mtime).
    std::fs::write(&idx_path, &bytes).unwrap();
    assert!(read_index(&RealFs, &seg.path, &idx_path).is_some());
    let gz = std::fs::read(&seg.path).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&seg.path, &gz).unwrap();
    assert!(read_index(&RealFs, &seg.path, &idx_path).is_none());
    // A stamp check compares length, time and the last bytes.
    let stamp = ArchiveStamp::read(&RealFs, &seg.path).unwrap();
    assert_eq!(stamp.len, gz.len() as u64);
    assert_eq!(stamp.tail, gz[gz.len() - 8..]);
}

#[test]
fn retention_and_recovery_remove_indexes_no_one_reads() {
    let t = temp_store();
    store_with_archives(&t, 3);
    let l = layout(&t.path);
    let dir = t.dir.path();
    // A leftover of an interrupted index write, and an index whose archive
    // is gone.
    std::fs::write(
        dir.join("audit-20261101T000000Z-000001.jsonl.gz.idx.tmp"),
        b"{",
    )
    .unwrap();
    std::fs::write(dir.join("audit-20200101T000000Z-000099.jsonl.gz.idx"), b"{").unwrap();
    let store = FileStore::builder(&t.path)
        .retention(Retention {
            max_archives: Some(1),
            ..Retention::KEEP_ALL
        })
        .open()
        .unwrap();
    assert_eq!(store.recovery_report().stray_indexes_removed.len(), 2);
    store.close().unwrap();
    let names: Vec<String> = file_names(dir)
        .into_iter()
        .filter(|n| n.contains(".gz"))
        .collect();
    assert_eq!(
        names,
        [
            "audit-20261101T020000Z-000003.jsonl.gz",
            "audit-20261101T020000Z-000003.jsonl.gz.idx"
        ]
    );
    let listing = l.list(&RealFs).unwrap();
    assert_eq!(listing.indexed.len(), 1);
}

#[test]
fn recovery_rebuilds_an_index_a_crash_left_unwritten() {
    let t = temp_store();
    store_with_archives(&t, 3);
    let l = layout(&t.path);
    let before: Vec<(String, Vec<u8>)> = l
        .list(&RealFs)
        .unwrap()
        .archives()
        .map(|seg| {
            let p = l.index_path(seg);
            (seg.name.clone(), std::fs::read(p).unwrap())
        })
        .collect();
    assert_eq!(before.len(), 3);
    // A crash between an archive and its index: two archives without one.
    for seg in l.list(&RealFs).unwrap().archives().take(2) {
        std::fs::remove_file(l.index_path(seg)).unwrap();
    }
    assert_eq!(l.list(&RealFs).unwrap().indexed.len(), 1);
    let store = FileStore::builder(&t.path).open().unwrap();
    assert_eq!(store.recovery_report().to_index.len(), 2);
    // close() waits for the background work.
    store.close().unwrap();
    let listing = l.list(&RealFs).unwrap();
    assert_eq!(listing.indexed.len(), 3);
    for (seg, (name, bytes)) in listing.archives().zip(&before) {
        assert_eq!(&seg.name, name);
        let idx = read_index(&RealFs, &seg.path, &l.index_path(seg)).unwrap();
        let was = SegmentIndex::decode(bytes).unwrap();
        assert_eq!(idx.summary, was.summary, "{name}");
    }
}
