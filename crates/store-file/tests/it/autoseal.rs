//! Writers that seal by themselves (issue 10, items 2 and 6): a writer of
//! a store set up for sealing seals what it wrote once per interval and at
//! close, never forks the chain with another writer, seals across
//! rotations and epochs, and keeps every record when a seal fails.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scout_audit_core::{Durability, Event, SystemClock};
use scout_audit_seal::note::Verifier;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::options::{RotateSize, SealInterval};
use scout_audit_store_file::seal::{self, SealCache, SealReport};
use scout_audit_store_file::{Error, FileStore, Layout, Reader};

struct Store {
    dir: tempfile::TempDir,
    path: PathBuf,
    layout: Layout,
    key: Verifier,
}

/// A new store set up for sealing with epochs of `epoch` seconds.
fn sealed_store(epoch: u64) -> Store {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let layout = Layout::new(&path).unwrap();
    let key = seal::init(&RealFs, &layout, epoch).unwrap();
    Store {
        dir,
        path,
        layout,
        key: Verifier::parse(&key).unwrap(),
    }
}

fn verify(s: &Store) -> SealReport {
    seal::verify_sealed(&RealFs, &s.layout, &s.key).unwrap()
}

fn log(store: &FileStore, n: u64) {
    for i in 0..n {
        store
            .append(Event::new("llm_call").cost(0.001 * i as f64))
            .unwrap();
    }
}

/// The seal log's lines of `kind`.
fn log_lines(s: &Store, kind: &str) -> usize {
    let text = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    let tag = format!("\"kind\":\"{kind}\"");
    text.lines().filter(|l| l.contains(&tag)).count()
}

fn records(path: &Path) -> usize {
    let mut n = 0;
    for r in Reader::open(path).unwrap() {
        r.unwrap();
        n += 1;
    }
    n
}

/// Verifies until nothing is unsealed (the writer's thread seals once a
/// second); how long that takes is not asserted, only that it happens
/// while the writer is open.
fn wait_sealed(s: &Store) -> SealReport {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = verify(s);
        assert_eq!(r.tampering, None);
        if r.unsealed == 0 || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_running_writer_seals_what_it_wrote_and_an_idle_one_grows_no_log() {
    let s = sealed_store(3600);
    let store = FileStore::open(&s.path).unwrap();
    assert_eq!(store.durability_level(), Durability::Process);
    log(&store, 50);
    let r = wait_sealed(&s);
    assert_eq!((r.sealed_leaves, r.unsealed, r.epochs), (50, 0, 2));
    // Idle: two more intervals add no seal.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(verify(&s).seals, r.seals);
    store.close().unwrap();
    let r = verify(&s);
    assert_eq!((r.sealed_leaves, r.unsealed, r.tampering), (50, 0, None));
}

#[test]
fn close_seals_what_the_writer_wrote_last() {
    let s = sealed_store(3600);
    let store = FileStore::builder(&s.path)
        .seal_interval(SealInterval::every(Duration::from_secs(3600)))
        .open()
        .unwrap();
    log(&store, 7);
    assert_eq!(verify(&s).unsealed, 7);
    store.close().unwrap();
    let r = verify(&s);
    assert_eq!((r.seals, r.sealed_leaves, r.unsealed), (1, 7, 0));
    assert_eq!(r.tampering, None);
    // A writer that opens and closes without writing seals what a killed
    // one left, and nothing when nothing is left.
    let lines = std::fs::read_to_string(&s.path).unwrap();
    std::fs::write(
        &s.path,
        format!("{lines}{}", lines.lines().next().unwrap()) + "\n",
    )
    .unwrap();
    FileStore::open(&s.path).unwrap().close().unwrap();
    let r = verify(&s);
    assert_eq!((r.seals, r.sealed_leaves, r.unsealed), (2, 8, 0));
    FileStore::open(&s.path).unwrap().close().unwrap();
    assert_eq!(verify(&s).seals, 2);
}

#[test]
fn interval_off_and_stores_without_sealing_are_left_alone() {
    let s = sealed_store(3600);
    let store = FileStore::builder(&s.path)
        .seal_interval(SealInterval::every(Duration::ZERO))
        .open()
        .unwrap();
    log(&store, 3);
    store.close().unwrap();
    assert_eq!(verify(&s).unsealed, 3);
    assert_eq!(SealInterval::every(Duration::ZERO), SealInterval::OFF);
    assert_eq!(SealInterval::default().get(), Some(Duration::from_secs(1)));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let store = FileStore::open(&path).unwrap();
    log(&store, 3);
    store.rotate().unwrap();
    store.wait_compressed();
    log(&store, 2);
    store.close().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("seal"))
        .collect();
    names.sort();
    assert_eq!(names, Vec::<String>::new());
}

#[test]
fn two_writers_sealing_one_store_never_fork() {
    let s = sealed_store(3600);
    let fast = SealInterval::every(Duration::from_millis(10));
    let a = FileStore::builder(&s.path)
        .seal_interval(fast)
        .session(scout_audit_core::SessionId::new("a"))
        .open()
        .unwrap();
    let b = FileStore::builder(&s.path)
        .seal_interval(fast)
        .session(scout_audit_core::SessionId::new("b"))
        .durability(Durability::Sync)
        .open()
        .unwrap();
    std::thread::scope(|scope| {
        for store in [&a, &b] {
            scope.spawn(move || {
                for _ in 0..20 {
                    log(store, 10);
                    std::thread::sleep(Duration::from_millis(3));
                }
            });
        }
        // Verifying while both write and seal finds nothing wrong.
        for _ in 0..5 {
            assert_eq!(verify(&s).tampering, None);
        }
    });
    a.close().unwrap();
    b.close().unwrap();
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((r.sealed_leaves, r.unsealed), (400, 0));
    assert!(r.seals >= 2, "{r:?}");
}

#[test]
fn sealing_goes_on_across_rotations_and_compression() {
    let s = sealed_store(3600);
    let store = FileStore::builder(&s.path)
        .rotate_size(RotateSize::bytes(2000))
        .seal_interval(SealInterval::every(Duration::from_millis(10)))
        .open()
        .unwrap();
    for _ in 0..30 {
        log(&store, 10);
        std::thread::sleep(Duration::from_millis(2));
    }
    store.wait_compressed();
    store.close().unwrap();
    let archives = std::fs::read_dir(s.dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".jsonl.gz")
        })
        .count();
    assert!(archives > 5, "{archives} archives");
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((r.sealed_leaves, r.unsealed), (300, 0));
    assert_eq!(records(&s.path), 300);
}

#[test]
fn epochs_evolve_while_a_writer_seals() {
    let s = sealed_store(1);
    let store = FileStore::builder(&s.path)
        .seal_interval(SealInterval::every(Duration::from_millis(50)))
        .open()
        .unwrap();
    // Until the key evolved three times (epochs are 1 s long).
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_lines(&s, "cert") < 3 && Instant::now() < deadline {
        log(&store, 1);
        std::thread::sleep(Duration::from_millis(20));
    }
    store.close().unwrap();
    let certs = log_lines(&s, "cert");
    assert!(certs >= 3, "{certs} certificates");
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((r.epochs, r.unsealed), (certs as u64 + 1, 0));
    assert_eq!(r.sealed_leaves, records(&s.path) as u64);
}

#[test]
fn a_failing_seal_is_reported_by_close_and_loses_no_record() {
    let s = sealed_store(3600);
    let key_file = s.layout.seal_key();
    // A careless user makes the sealing state readable by others.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = FileStore::builder(&s.path)
        .seal_interval(SealInterval::every(Duration::from_millis(10)))
        .open()
        .unwrap();
    log(&store, 10);
    std::thread::sleep(Duration::from_millis(50));
    log(&store, 5);
    match store.close() {
        Err(Error::Seal { path, reason }) => {
            assert_eq!(path, key_file);
            assert!(reason.contains("has mode 0644, not 0600"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(records(&s.path), 15);
    // Put right, the next writer seals every record.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    FileStore::open(&s.path).unwrap().close().unwrap();
    let r = verify(&s);
    assert_eq!((r.sealed_leaves, r.unsealed, r.tampering), (15, 0, None));
}

#[test]
fn a_cached_sealer_and_other_sealers_take_turns_without_forking() {
    let s = sealed_store(3600);
    let store = FileStore::builder(&s.path)
        .seal_interval(SealInterval::OFF)
        .open()
        .unwrap();
    let mut cache = SealCache::default();
    let mut sizes = Vec::new();
    for round in 0..4 {
        log(&store, 3);
        let by_cache = seal::seal_with(&RealFs, &s.layout, &SystemClock, &mut cache).unwrap();
        sizes.push(by_cache.map(|x| x.size));
        log(&store, 2);
        if round % 2 == 0 {
            // Another process seals in between: the cache's tail and what
            // it hashed ahead no longer describe the log.
            let other = seal::seal_now(&RealFs, &s.layout, &SystemClock).unwrap();
            sizes.push(other.map(|x| x.size));
        }
    }
    sizes.push(
        seal::seal_with(&RealFs, &s.layout, &SystemClock, &mut cache)
            .unwrap()
            .map(|x| x.size),
    );
    assert_eq!(
        sizes,
        [3, 5, 8, 13, 15, 18, 20]
            .iter()
            .map(|n| Some(*n))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        seal::seal_with(&RealFs, &s.layout, &SystemClock, &mut cache).unwrap(),
        None
    );
    store.close().unwrap();
    let r = verify(&s);
    assert_eq!((r.seals, r.sealed_leaves, r.tampering), (7, 20, None));
}

/// A `seal init` cut short by a crash (the state written, the seal log
/// empty or torn) leaves a store that is not set up: writers neither seal
/// nor fail on it, and `seal` says what is wrong.
#[test]
fn a_store_whose_seal_init_was_cut_short_is_not_sealed_and_writers_do_not_fail() {
    for log_text in ["", "{\"v\":1,\"kind\":\"init\",\"sto"] {
        let s = sealed_store(60);
        std::fs::write(s.layout.seal_log(), log_text).unwrap();
        let store = FileStore::builder(&s.path).open().unwrap();
        log(&store, 3);
        store.close().unwrap();
        assert_eq!(records(&s.path), 3);
        assert_eq!(
            std::fs::read_to_string(s.layout.seal_log()).unwrap(),
            log_text
        );
        let e = seal::seal_now(&RealFs, &s.layout, &SystemClock).unwrap_err();
        assert!(
            e.to_string().contains("does not start with an init line"),
            "{e}"
        );
    }
}
