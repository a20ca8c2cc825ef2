//! Inputs and the store: reading never writes into it, a store's
//! de-duplication holds, indexes are built for what has none.

use scout_audit_core::{Event, Filter, Sink};
use scout_audit_scan::{IndexOutcome, Inputs, Scan, build_indexes};
use scout_audit_store_file::FileStore;
use scout_audit_store_file::options::{Compression, RotateSize};

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn reading_a_store_writes_nothing_into_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("s");
    std::fs::create_dir(&dir).unwrap();
    // A Python-era store: archives and live file, no lock file, no index.
    let line = |e: &str| {
        format!("{{\"ts\": \"2026-01-01T00:00:00+00:00\", \"event\": \"{e}\", \"cost\": 0.5}}\n")
    };
    let gz = |text: String| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    std::fs::write(
        dir.join("audit_20260101T010000Z.jsonl.gz"),
        gz(line("nav") + &line("brief")),
    )
    .unwrap();
    std::fs::write(dir.join("audit.jsonl"), line("nav")).unwrap();
    let before = names(&dir);
    let live = dir.join("audit.jsonl");
    let n = Scan::new(Inputs::store(&live).unwrap())
        .filter(Filter::new().event("nav"))
        .count()
        .unwrap();
    assert_eq!(n.value, 2);
    assert_eq!(
        Scan::new(Inputs::store(&live).unwrap())
            .spend(None)
            .unwrap()
            .value
            .total,
        Ok(1.5)
    );
    assert_eq!(names(&dir), before, "a query wrote into the store");
    // `index` writes (it is a writing command): one index, valid after.
    let out = build_indexes(&live, Some(1)).unwrap();
    assert!(matches!(&out[..], [IndexOutcome::Written(_)]), "{out:?}");
    let out = build_indexes(&dir, Some(1)).unwrap();
    assert!(matches!(&out[..], [IndexOutcome::Valid(_)]), "{out:?}");
    assert!(names(&dir).contains(&"audit_20260101T010000Z.jsonl.gz.idx".to_owned()));
    // Answered from the index now, the same.
    let a = Scan::new(Inputs::store(&live).unwrap())
        .filter(Filter::new().event("nav"))
        .count()
        .unwrap();
    assert_eq!((a.value, a.report.from_index), (2, 1));
}

#[test]
fn a_sealed_file_and_its_archive_are_read_once() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("audit.jsonl");
    let store = FileStore::builder(&path)
        .rotate_size(RotateSize::NEVER)
        .compression(Compression::Off)
        .open()
        .unwrap();
    for i in 0..10u64 {
        store.log(Event::new("nav").cost(i as f64)).unwrap();
    }
    store.rotate().unwrap();
    store.log(Event::new("nav")).unwrap();
    store.close().unwrap();
    // Compress by hand, leaving the sealed file (as a crash mid-way does).
    let sealed = names(d.path())
        .into_iter()
        .find(|n| n.ends_with("01.jsonl"))
        .unwrap();
    let bytes = std::fs::read(d.path().join(&sealed)).unwrap();
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&bytes).unwrap();
        std::fs::write(d.path().join(format!("{sealed}.gz")), e.finish().unwrap()).unwrap();
    }
    for inputs in [
        Inputs::store(&path).unwrap(),
        Inputs::paths([d.path()]).unwrap(),
    ] {
        let a = Scan::new(inputs).count().unwrap();
        assert_eq!(a.value, 11);
    }
}

/// A record later than its segment's seal (an explicit timestamp: another
/// machine's clock, an import) is found by a window query whether or not
/// the archive has its index: the store's own archives are never pruned by
/// their name.
#[test]
fn a_record_later_than_its_archive_is_never_pruned_away() {
    use scout_audit_core::Timestamp;
    let d = tempfile::tempdir().unwrap();
    let live = d.path().join("s/audit.jsonl");
    let store = FileStore::builder(&live)
        .rotate_size(RotateSize::NEVER)
        .open()
        .unwrap();
    let future = Timestamp::parse("2099-06-01T00:00:00Z").unwrap();
    store.append(Event::new("nav")).unwrap();
    store.append(Event::new("nav").ts(future)).unwrap();
    store.rotate().unwrap();
    store.append(Event::new("nav")).unwrap();
    store.close().unwrap();
    let dir = live.parent().unwrap();
    let window = || Filter::new().since(Timestamp::parse("2099-05-01T00:00:00Z").unwrap());
    let count = || {
        Scan::new(Inputs::store(&live).unwrap())
            .filter(window())
            .count()
            .unwrap()
    };
    // With its index (first and last ts straddle the window): read.
    assert_eq!(count().value, 1);
    // Without its index, the archive is read, not skipped by its name.
    let idx: Vec<_> = names(dir)
        .into_iter()
        .filter(|n| n.ends_with(".gz.idx"))
        .collect();
    assert_eq!(idx.len(), 1, "{:?}", names(dir));
    std::fs::remove_file(dir.join(&idx[0])).unwrap();
    assert_eq!(count().value, 1);
}
