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
