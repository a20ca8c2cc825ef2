//! Concurrency: threads and processes writing one store, with readers and a follower.
use std::collections::HashMap;

use scout_audit_core::{Durability, Event, SessionId};
use scout_audit_store_file::FileStore;
use scout_audit_store_file::options::RotateSize;

use crate::support::*;

fn hammer(d: Durability, threads: u64, per: u64, rotate: u64) {
    let t = temp_store();
    let store = FileStore::builder(&t.path)
        .durability(d)
        .rotate_size(RotateSize::bytes(rotate))
        .session(SessionId::new("hammer"))
        .open()
        .unwrap();
    let seqs = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for th in 0..threads {
            let store = store.clone();
            let seqs = &seqs;
            sc.spawn(move || {
                let mut mine = Vec::new();
                for i in 0..per {
                    let r = store
                        .append(Event::new("nav").field("th", th).field("i", i))
                        .unwrap();
                    mine.push((r.seq, th, i));
                }
                seqs.lock().unwrap().extend(mine);
            });
        }
    });
    store.sync().unwrap();
    let wm = store.watermark_now();
    store.close().unwrap();
    let total = threads * per;
    assert_eq!(wm.written, Some(total - 1));
    assert_eq!(wm.synced, Some(total - 1));
    let (recs, report) = read_all(&t.path);
    assert_eq!(report.problem_count(), 0);
    assert_eq!(recs.len() as u64, total);
    // On disk in seq order, contiguous; each receipt names its own record.
    let by_seq: HashMap<u64, (u64, u64)> = seqs
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|(s, th, i)| (s, (th, i)))
        .collect();
    for (n, r) in recs.iter().enumerate() {
        assert_eq!(r.seq(), Some(n as u64));
        let want = by_seq[&(n as u64)];
        let got = (
            r.get("th").unwrap().as_u64().unwrap(),
            r.get("i").unwrap().as_u64().unwrap(),
        );
        assert_eq!(got, want);
    }
    // Each thread's own events are in its order.
    for th in 0..threads {
        let is: Vec<u64> = recs
            .iter()
            .filter(|r| r.get("th").unwrap().as_u64() == Some(th))
            .map(|r| r.get("i").unwrap().as_u64().unwrap())
            .collect();
        assert_eq!(is, (0..per).collect::<Vec<_>>());
    }
}

#[test]
fn threads_process_level_with_rotation() {
    hammer(Durability::Process, 8, 500, 20_000);
}

#[test]
fn threads_sync_level_group_commit() {
    hammer(Durability::Sync, 8, 100, 1 << 20);
}

#[test]
fn threads_buffered() {
    hammer(Durability::Buffered, 4, 1000, 50_000);
}

#[test]
fn same_session_twice_in_one_process_is_refused_and_reopen_continues_seq() {
    let t = temp_store();
    let s = SessionId::new("twice");
    let a = FileStore::builder(&t.path)
        .session(s.clone())
        .open()
        .unwrap();
    let err = FileStore::builder(&t.path)
        .session(s.clone())
        .open()
        .unwrap_err();
    assert!(
        err.to_string().contains("already open in this process"),
        "{err}"
    );
    a.append(Event::new("x")).unwrap();
    a.append(Event::new("x")).unwrap();
    a.close().unwrap();
    let b = FileStore::builder(&t.path).session(s).open().unwrap();
    assert_eq!(b.append(Event::new("x")).unwrap().seq, 2);
    b.close().unwrap();
}

/// K threads in each of two writers (each with its own descriptors and
/// lock handle, as two processes have) append while a reader scans the
/// store over and over and a follower tails it, across constant rotations
/// and background compression: every scan returns each session as a
/// contiguous prefix, nothing twice, nothing partial or garbled; the
/// follower returns exactly the final log, in order. (With real processes
/// and kills: `cargo xtask crash`.)
#[test]
fn writers_readers_and_a_follower_across_rotations() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use scout_audit_store_file::follow::{Follow, Followed};
    use scout_audit_store_file::fs::RealFs;
    use scout_audit_testkit::history::{History, Loss, check, event_for, key_of};

    const THREADS: u64 = 3;
    const EACH: u64 = 150;
    let t = temp_store();
    let writers = [
        open_rotating(&t.path, 3000, "P1"),
        open_rotating(&t.path, 3000, "P2"),
    ];
    // Every event any thread logs, keyed by (writer, thread, index).
    let key = |w: u64, th: u64, i: u64| (w << 20) | (th << 10) | i;
    let mut attempted = History::new();
    for (w, s) in ["P1", "P2"].iter().enumerate() {
        for th in 0..THREADS {
            for i in 0..EACH {
                attempted.attempt(s, key(w as u64, th, i), None);
            }
        }
    }
    let summary = attempted.summary();
    let done = AtomicBool::new(false);
    let mut follow = Follow::start(Arc::new(RealFs), layout(&t.path))
        .unwrap()
        .poll_interval(std::time::Duration::from_millis(1));
    let total = (2 * THREADS * EACH) as usize;
    let (scans, followed) = std::thread::scope(|sc| {
        let scanner = sc.spawn(|| {
            let mut scans = 0;
            while !done.load(Ordering::SeqCst) {
                let (recs, _) = read_all(&t.path);
                let vs = check(&summary, &recs, Loss::Process, false);
                assert!(vs.is_empty(), "scan {scans}: {vs:?}");
                scans += 1;
            }
            scans
        });
        let follower = sc.spawn(move || {
            let mut seen = Vec::new();
            // A follower that skips records would wait for ever: fail
            // rather than hang (the writers finish in well under this).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while seen.len() < total {
                match follow.next_record().unwrap() {
                    Followed::Record(r) => seen.push(r),
                    Followed::CaughtUp => assert!(
                        std::time::Instant::now() < deadline,
                        "the follower saw {} of {total} records in 120 s",
                        seen.len()
                    ),
                }
            }
            seen
        });
        let mut handles = Vec::new();
        for (w, store) in writers.iter().enumerate() {
            for th in 0..THREADS {
                let store = store.clone();
                handles.push(sc.spawn(move || {
                    for i in 0..EACH {
                        store.append(event_for(key(w as u64, th, i))).unwrap();
                    }
                }));
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        // Stop the scanner before a follower failure unwinds the scope,
        // which would otherwise wait for it for ever.
        let followed = follower.join();
        done.store(true, Ordering::SeqCst);
        (scanner.join().unwrap(), followed.unwrap())
    });
    for w in &writers {
        w.wait_compressed();
        w.close().unwrap();
    }
    let (all, report) = read_all(&t.path);
    assert_eq!(report.problem_count(), 0);
    assert_eq!(all.len(), total);
    assert!(check(&summary, &all, Loss::Process, false).is_empty());
    assert!(scans > 0);
    // Each thread's events in its order, every one present.
    for (w, s) in ["P1", "P2"].iter().enumerate() {
        for th in 0..THREADS {
            let is: Vec<u64> = all
                .iter()
                .filter(|r| r.session_id() == Some(s))
                .map(|r| key_of(r).unwrap())
                .filter(|n| (n >> 10) & 0x3FF == th && (n >> 20) == w as u64)
                .map(|n| n & 0x3FF)
                .collect();
            assert_eq!(is, (0..EACH).collect::<Vec<_>>(), "{s} thread {th}");
        }
    }
    // The follower saw the final log exactly, in order.
    let ids = |v: &[scout_audit_core::Record]| -> Vec<(String, u64)> {
        v.iter()
            .map(|r| (r.session_id().unwrap().to_owned(), r.seq().unwrap()))
            .collect()
    };
    assert_eq!(ids(&followed), ids(&all));
    let names = file_names(t.dir.path());
    assert!(
        names.iter().filter(|n| n.ends_with(".jsonl.gz")).count() >= 10,
        "{names:?}"
    );
}
