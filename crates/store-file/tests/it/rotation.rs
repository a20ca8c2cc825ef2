//! Rotation: by size, across restarts, explicit, with seal times that never go back.
use std::sync::Arc;
use std::time::Duration;

use scout_audit_core::{Event, ManualClock, SessionId, Timestamp};
use scout_audit_store_file::FileStore;
use scout_audit_store_file::layout::SegmentKind;
use scout_audit_store_file::options::{Compression, RotateSize};

use crate::support::*;

#[test]
fn rotates_at_size_and_compresses_in_background() {
    let t = temp_store();
    let clock = Arc::new(ManualClock::new(
        Timestamp::parse("2026-11-27T05:21:16Z").unwrap(),
    ));
    let store = FileStore::builder(&t.path)
        .rotate_size(RotateSize::bytes(2000))
        .clock(clock.clone())
        .session(SessionId::new("rot"))
        .open()
        .unwrap();
    for i in 0..100u64 {
        store.append(Event::new("nav").field("i", i)).unwrap();
        if i % 10 == 0 {
            clock.advance(Duration::from_millis(700));
        }
    }
    store.wait_compressed();
    let listing = layout(&t.path)
        .list(&scout_audit_store_file::fs::RealFs)
        .unwrap();
    assert!(listing.readable.len() >= 4, "{:?}", listing.readable);
    assert!(listing.all.iter().all(|s| s.kind == SegmentKind::Archive));
    // Name order is time order, numbers never repeat, every segment <= limit.
    let names: Vec<&str> = listing.readable.iter().map(|s| s.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let nums: Vec<u64> = listing.readable.iter().map(|s| s.number.unwrap()).collect();
    assert_eq!(nums, (1..=nums.len() as u64).collect::<Vec<_>>());
    assert!(names[0].starts_with("audit-20261127T0521"), "{names:?}");
    assert!(names[0].ends_with("-000001.jsonl.gz"), "{names:?}");
    store.close().unwrap();
    let (recs, report) = read_all(&t.path);
    assert_eq!(report.problem_count(), 0);
    let seqs: Vec<u64> = recs.iter().map(|r| r.seq().unwrap()).collect();
    assert_eq!(seqs, (0..100).collect::<Vec<_>>());
    for s in &listing.readable {
        let mut gz = flate2::read::MultiGzDecoder::new(std::fs::File::open(&s.path).unwrap());
        let mut text = String::new();
        std::io::Read::read_to_string(&mut gz, &mut text).unwrap();
        assert!(text.len() <= 2000, "{} holds {} bytes", s.name, text.len());
        assert!(text.ends_with('\n'));
    }
}

#[test]
fn rotation_size_is_honoured_across_restarts() {
    let t = temp_store();
    for _ in 0..3 {
        let store = FileStore::builder(&t.path)
            .rotate_size(RotateSize::bytes(1500))
            .compression(Compression::Off)
            .session(SessionId::random())
            .open()
            .unwrap();
        for _ in 0..5 {
            store.append(Event::new("nav")).unwrap();
        }
        store.close().unwrap();
    }
    let listing = layout(&t.path)
        .list(&scout_audit_store_file::fs::RealFs)
        .unwrap();
    assert!(!listing.readable.is_empty());
    assert!(
        listing
            .readable
            .iter()
            .all(|s| s.kind == SegmentKind::Sealed)
    );
    assert!(std::fs::metadata(&t.path).unwrap().len() <= 1500);
    assert_eq!(read_all(&t.path).0.len(), 15);
}

#[test]
fn explicit_rotate_and_seal_time_never_goes_back() {
    let t = temp_store();
    let clock = Arc::new(ManualClock::new(
        Timestamp::parse("2026-11-27T05:00:00Z").unwrap(),
    ));
    let store = FileStore::builder(&t.path)
        .clock(clock.clone())
        .compression(Compression::Off)
        .open()
        .unwrap();
    assert_eq!(
        store.rotate().unwrap(),
        None,
        "empty live file is not sealed"
    );
    store.append(Event::new("a")).unwrap();
    let first = store.rotate().unwrap().unwrap();
    clock.set(Timestamp::parse("2026-11-27T04:00:00Z").unwrap());
    store.append(Event::new("b")).unwrap();
    let second = store.rotate().unwrap().unwrap();
    assert_eq!(first, "audit-20261127T050000Z-000001.jsonl");
    assert_eq!(second, "audit-20261127T050000Z-000002.jsonl");
    store.close().unwrap();
    let events: Vec<String> = read_all(&t.path)
        .0
        .iter()
        .map(|r| r.event().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["a", "b"]);
}

#[test]
fn two_writers_on_one_store_notice_each_others_rotations() {
    // Two stores in one process hold separate file descriptions and locks,
    // exactly as two processes do.
    let t = temp_store();
    let a = open_rotating(&t.path, 3000, "A");
    let b = open_rotating(&t.path, 3000, "B");
    std::thread::scope(|sc| {
        sc.spawn(|| {
            for i in 0..300u64 {
                a.append(Event::new("nav").field("i", i)).unwrap();
            }
        });
        sc.spawn(|| {
            for i in 0..300u64 {
                b.append(Event::new("brief").field("i", i)).unwrap();
            }
        });
    });
    a.close().unwrap();
    b.close().unwrap();
    let (recs, report) = read_all(&t.path);
    assert_eq!(report.problem_count(), 0, "{:?}", report.problems);
    for s in ["A", "B"] {
        let seqs: Vec<u64> = recs
            .iter()
            .filter(|r| r.session_id() == Some(s))
            .map(|r| r.seq().unwrap())
            .collect();
        assert_eq!(seqs, (0..300).collect::<Vec<_>>(), "session {s}");
    }
    let names = file_names(t.dir.path());
    assert!(
        names.iter().filter(|n| n.ends_with(".jsonl.gz")).count() >= 10,
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}
