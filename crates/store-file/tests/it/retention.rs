//! Retention: archives kept by count, age and total size, applied after each rotation.
use std::sync::Arc;
use std::time::Duration;

use scout_audit_core::{Event, ManualClock, Timestamp};
use scout_audit_store_file::FileStore;
use scout_audit_store_file::options::{Retention, RotateSize};

use crate::support::*;

/// Makes `n` archives an hour apart, then reopens with `retention`.
fn archives_after(n: usize, retention: Retention) -> Vec<String> {
    let t = temp_store();
    let clock = Arc::new(ManualClock::new(
        Timestamp::parse("2026-11-01T00:00:00Z").unwrap(),
    ));
    let store = FileStore::builder(&t.path)
        .clock(clock.clone())
        .rotate_size(RotateSize::NEVER)
        .open()
        .unwrap();
    for _ in 0..n {
        store
            .append(Event::new("x").field("pad", "p".repeat(500)))
            .unwrap();
        store.rotate().unwrap();
        clock.advance(Duration::from_secs(3600));
    }
    store.append(Event::new("live")).unwrap();
    store.close().unwrap();
    let store = FileStore::builder(&t.path)
        .clock(clock.clone())
        .retention(retention)
        .open()
        .unwrap();
    let removed = store.recovery_report().retention_removed.len();
    store.close().unwrap();
    let left: Vec<String> = file_names(t.dir.path())
        .into_iter()
        .filter(|n| n.ends_with(".gz"))
        .collect();
    assert_eq!(removed + left.len(), n);
    // The live file is never touched.
    assert_eq!(read_all(&t.path).0.last().unwrap().event(), Some("live"));
    left
}

#[test]
fn keeps_at_most_n_archives_newest_kept() {
    let left = archives_after(
        6,
        Retention {
            max_archives: Some(2),
            ..Retention::KEEP_ALL
        },
    );
    assert_eq!(left.len(), 2);
    assert!(left[0].contains("-000005."), "{left:?}");
    assert!(left[1].contains("-000006."), "{left:?}");
}

#[test]
fn deletes_archives_older_than_max_age() {
    // Archives sealed at 00:00 .. 05:00, clock now at 06:00.
    let left = archives_after(
        6,
        Retention {
            max_age: Some(Duration::from_secs(3 * 3600 + 60)),
            ..Retention::KEEP_ALL
        },
    );
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left[0].contains("T030000Z"), "{left:?}");
}

#[test]
fn keeps_total_bytes_under_max() {
    let all = archives_after(5, Retention::KEEP_ALL);
    assert_eq!(all.len(), 5);
    let left = archives_after(
        5,
        Retention {
            max_bytes: Some(1),
            ..Retention::KEEP_ALL
        },
    );
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn retention_runs_after_each_rotation() {
    let t = temp_store();
    let store = FileStore::builder(&t.path)
        .rotate_size(RotateSize::bytes(300))
        .retention(Retention {
            max_archives: Some(3),
            ..Retention::KEEP_ALL
        })
        .open()
        .unwrap();
    for _ in 0..40 {
        store
            .append(Event::new("x").field("pad", "p".repeat(100)))
            .unwrap();
    }
    store.wait_compressed();
    let gz = file_names(t.dir.path())
        .into_iter()
        .filter(|n| n.ends_with(".gz"))
        .count();
    assert_eq!(gz, 3);
    store.close().unwrap();
}
