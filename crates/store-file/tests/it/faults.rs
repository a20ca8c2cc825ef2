//! Injected faults: a failed write or fsync poisons the writer and is never acknowledged.
use std::sync::Arc;

use scout_audit_core::{Durability, Event, SessionId, Sink};
use scout_audit_store_file::options::{FsyncPolicy, RotateSize};
use scout_audit_store_file::{Error, FileStore};

use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::verify::verify;
use scout_audit_testkit::fault::How;

use crate::support::*;

const ENOSPC: i32 = 28;
const EIO: i32 = 5;

fn open(t: &TempStore, fs: &Arc<FaultFs>, d: Durability) -> FileStore {
    FileStore::builder(&t.path)
        .durability(d)
        .file_system(Arc::new(Faulty(Arc::clone(fs))))
        .session(SessionId::random())
        .open()
        .unwrap()
}

#[test]
fn failed_fsync_poisons_and_is_never_acknowledged() {
    let t = temp_store();
    let fs = FaultFs::new();
    let store = open(&t, &fs, Durability::Sync);
    for _ in 0..5 {
        store.append(Event::new("ok")).unwrap();
    }
    fs.fail(Op::SyncData, EIO, 0);
    let err = store.append(Event::new("lost?")).unwrap_err();
    assert!(err.to_string().contains("cannot fsync"), "{err}");
    assert!(err.to_string().contains("Input/output error"), "{err}");
    fs.heal();
    // Poisoned: refuses further events even though the disk is back.
    let err = store.append(Event::new("after")).unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert!(matches!(
        store.flush(),
        Err(scout_audit_core::Error::Poisoned(_))
    ));
    assert_eq!(store.watermark_now().synced, Some(4));
    assert!(store.close().is_err());
    // Reopen recovers; everything acknowledged is there.
    let (recs, _) = read_all(&t.path);
    assert_eq!(recs.iter().filter(|r| r.event() == Some("ok")).count(), 5);
    let again = FileStore::open(&t.path).unwrap();
    again.append(Event::new("again")).unwrap();
    again.close().unwrap();
}

#[test]
fn full_disk_is_one_clear_error_and_loses_nothing_written() {
    let t = temp_store();
    let fs = FaultFs::new();
    let store = open(&t, &fs, Durability::Process);
    for _ in 0..3 {
        store.append(Event::new("ok")).unwrap();
    }
    fs.fail(Op::Write, ENOSPC, 0);
    let err = store.append(Event::new("no room")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cannot append to") && msg.contains("No space left on device"),
        "{msg}"
    );
    assert!(msg.contains("audit.jsonl"), "{msg}");
    assert!(matches!(
        store.append(Event::new("x")),
        Err(Error::Poisoned { .. })
    ));
    fs.heal();
    drop(store);
    let (recs, report) = read_all(&t.path);
    assert_eq!(recs.len(), 3);
    assert_eq!(report.problem_count(), 0);
}

#[test]
fn failed_rotation_step_poisons_but_keeps_data() {
    let t = temp_store();
    let fs = FaultFs::new();
    let store = FileStore::builder(&t.path)
        .rotate_size(RotateSize::bytes(400))
        .file_system(Arc::new(Faulty(Arc::clone(&fs))))
        .session(SessionId::random())
        .open()
        .unwrap();
    store.append(Event::new("a")).unwrap();
    store.append(Event::new("b")).unwrap();
    fs.fail(Op::SyncDir, EIO, 0);
    let mut n = 2;
    let err = loop {
        match store.append(Event::new("c")) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert!(err.to_string().contains("fsync directory"), "{err}");
    fs.heal();
    let _ = store.close();
    let again = FileStore::open(&t.path).unwrap();
    again.close().unwrap();
    assert_eq!(read_all(&t.path).0.len(), n);
}

#[test]
fn fsync_policy_counts() {
    let t = temp_store();
    let fs = FaultFs::new();
    let store = FileStore::builder(&t.path)
        .fsync_policy(FsyncPolicy::new(10, None))
        .file_system(Arc::new(Faulty(Arc::clone(&fs))))
        .open()
        .unwrap();
    let base = fs.fsyncs();
    for _ in 0..25 {
        store.append(Event::new("x")).unwrap();
    }
    assert_eq!(fs.fsyncs() - base, 2, "one fsync per 10 lines");
    // At most 9 acknowledged lines are ever unsynced.
    let wm = store.watermark_now();
    assert_eq!((wm.written, wm.synced), (Some(24), Some(19)));
    store.sync().unwrap();
    assert_eq!(store.watermark_now().synced, Some(24));
    store.close().unwrap();
}

#[test]
fn fsync_interval_holds_when_writes_stop() {
    let t = temp_store();
    let fs = FaultFs::new();
    let store = FileStore::builder(&t.path)
        .fsync_policy(FsyncPolicy::new(
            0,
            Some(std::time::Duration::from_millis(50)),
        ))
        .file_system(Arc::new(Faulty(Arc::clone(&fs))))
        .open()
        .unwrap();
    store.append(Event::new("x")).unwrap();
    store.append(Event::new("y")).unwrap();
    assert_eq!(store.watermark_now().synced, None);
    // No further write: the background timer must fsync by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while store.watermark_now().synced != Some(1) {
        assert!(std::time::Instant::now() < deadline, "timer never fsynced");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    store.close().unwrap();
}

#[test]
fn buffered_events_are_written_within_max_delay() {
    let t = temp_store();
    let store = FileStore::builder(&t.path)
        .durability(Durability::Buffered)
        .max_delay(std::time::Duration::from_millis(20))
        .open()
        .unwrap();
    store.append(Event::new("x")).unwrap();
    assert_eq!(store.watermark_now().written, None, "in memory only");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while store.watermark_now().written != Some(0) {
        assert!(std::time::Instant::now() < deadline, "never written");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(read_all(&t.path).0.len(), 1);
    store.close().unwrap();
}

#[test]
fn bad_paths_get_clear_errors() {
    let t = temp_store();
    std::fs::create_dir(&t.path).unwrap();
    let err = FileStore::open(&t.path).unwrap_err().to_string();
    assert!(err.contains("is a directory"), "{err}");
    let file = t.dir.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let err = FileStore::open(file.join("audit.jsonl"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!("invalid store path {}: is not a directory", file.display())
    );
    let err = FileStore::open("/").unwrap_err().to_string();
    assert!(err.contains("does not name a file"), "{err}");
    let err = FileStore::open("/dev/null").unwrap_err().to_string();
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn invalid_events_are_refused_without_side_effects() {
    let t = temp_store();
    let store = FileStore::open(&t.path).unwrap();
    let err = store
        .append(Event::new("nav").field("cost", "free"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid event: field \"cost\" must be a number, not a string"
    );
    let r = store.append(Event::new("nav")).unwrap();
    assert_eq!(r.seq, 0, "a refused event takes no seq");
    store.close().unwrap();
    assert!(matches!(store.append(Event::new("x")), Err(Error::Closed)));
}

/// Every write, fsync and directory fsync of the standard workloads fails
/// in turn (EIO, ENOSPC that stays full, short writes) on the simulated
/// file system: a clear error, the failing batch never acknowledged
/// durable, the writer poisoned, nothing earlier lost after a process
/// crash or a power loss, and reopening recovers (testkit `faults`).
#[test]
fn every_write_and_fsync_failing_in_turn_keeps_the_contract() {
    let mut total = scout_audit_testkit::faults::Report::default();
    for w in scout_audit_testkit::workload::Workload::standard() {
        total.merge(&scout_audit_testkit::faults::run_matrix(&w));
    }
    eprintln!("{total:#?}");
    assert_eq!(total.found.count, 0, "{:#?}", total.found.examples);
    let kinds: Vec<&str> = total.by_kind.keys().map(String::as_str).collect();
    assert_eq!(
        kinds,
        [
            "DirFsync EIO",
            "DirFsync ENOSPC",
            "Fsync EIO",
            "Fsync ENOSPC",
            "Write EIO",
            "Write ENOSPC",
            "Write short write"
        ]
    );
    assert!(total.cases > 500, "{}", total.cases);
    assert!(
        total.poisoned > 100 && total.compression_failed > 10 && total.open_failed > 10,
        "{total:#?}"
    );
    assert_eq!(total.recoveries, 3 * total.cases);
}

/// Found by the fault matrix: a write that failed took its events' seqs
/// with it, so reopening the same session in this process (once the disk
/// had room again) continued after them and left a hole in the session's
/// seqs. Seqs of lines that did not reach the file are now given back.
#[test]
fn reopening_a_session_after_a_failed_write_leaves_no_hole() {
    for (how, batch) in [(How::Errno(ENOSPC), 1), (How::Short, 3)] {
        let t = temp_store();
        let fs = FaultFs::new();
        let s = SessionId::new(format!("{how:?}"));
        let open = || {
            FileStore::builder(&t.path)
                .file_system(Arc::new(Faulty(Arc::clone(&fs))))
                .session(s.clone())
                .open()
                .unwrap()
        };
        let store = open();
        for _ in 0..3 {
            store.append(Event::new("ok")).unwrap();
        }
        fs.fail_how(Op::Write, how, 0);
        let batch: Vec<Event> = (0..batch).map(|_| Event::new("failed")).collect();
        let err = store.append_batch(batch).unwrap_err();
        assert!(err.to_string().starts_with("cannot append to"), "{err}");
        fs.heal();
        assert!(store.close().is_err(), "poisoned");
        // The same session, reopened in this process, continues on.
        let again = open();
        let seq = again.append(Event::new("after")).unwrap().seq;
        again.close().unwrap();
        let (recs, _) = read_all(&t.path);
        let seqs: Vec<u64> = recs.iter().map(|r| r.seq().unwrap()).collect();
        assert_eq!(seqs, (0..=seq).collect::<Vec<_>>(), "{how:?}");
        // A short write of 3 lines landed one whole line, which stays.
        let want = if how == How::Short { 4 } else { 3 };
        assert_eq!(seq, want, "{how:?}");
        let report = verify(Arc::new(RealFs), &layout(&t.path)).unwrap();
        assert!(report.is_ok(), "{how:?}: {:?}", report.problem_lines());
    }
}
