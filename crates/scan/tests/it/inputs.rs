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

/// Finding 2 through indexes: an archive whose costs sum beyond the
/// doubles is indexed exactly (index version 2), and the next archive's
/// costs bring the total back; indexed or not, the answer is the same:
/// the exact total correctly rounded, or the overflow error.
#[test]
fn huge_costs_sum_exactly_through_indexes() {
    use scout_audit_core::Timestamp;
    use scout_audit_core::agg::{GroupBy, SumOverflow};
    let gz = |costs: &[&str], hour: u32| {
        use std::io::Write;
        let text: String = costs
            .iter()
            .map(|c| {
                format!("{{\"ts\":\"2026-01-01T0{hour}:30:00Z\",\"event\":\"nav\",\"cost\":{c}}}\n")
            })
            .collect();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let hour = |h: u32| Timestamp::parse(&format!("2026-01-01T0{h}:00:00Z")).unwrap();
    for (first, second, live, total, first_alone) in [
        (
            &["100", "1.797e308", "1.797e308"][..],
            &["-1.797e308"][..],
            "50",
            Ok(1.797e308),
            Err(SumOverflow::Positive),
        ),
        (
            &["100", "200", "1e308"],
            &["1e308"],
            "300",
            Err(SumOverflow::Positive),
            Ok(1e308),
        ),
        (
            &["1e308", "1e308"],
            &["-1e308", "-1e308", "-1e308", "2.5"],
            "5e-324",
            Ok(-1e308),
            Err(SumOverflow::Positive),
        ),
    ] {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        std::fs::write(dir.join("audit_20260101T013000Z.jsonl.gz"), gz(first, 1)).unwrap();
        std::fs::write(dir.join("audit_20260101T023000Z.jsonl.gz"), gz(second, 2)).unwrap();
        std::fs::write(
            dir.join("audit.jsonl"),
            format!("{{\"ts\":\"2026-01-01T03:30:00Z\",\"event\":\"nav\",\"cost\":{live}}}\n"),
        )
        .unwrap();
        let live_path = dir.join("audit.jsonl");
        let ask = |f: Filter, by: Option<GroupBy>| {
            let a = Scan::new(Inputs::store(&live_path).unwrap())
                .filter(f)
                .spend(by)
                .unwrap();
            (a.value, a.report.from_index)
        };
        let cold = ask(Filter::new(), None);
        let cold_hours = ask(Filter::new(), Some(GroupBy::Hour));
        let cold_first = ask(Filter::new().until(hour(2)), None);
        assert_eq!((cold.0.total, cold.1), (total, 0), "{first:?}");
        assert_eq!(cold_first.0.total, first_alone, "{first:?}");
        let out = build_indexes(&live_path, Some(1)).unwrap();
        assert_eq!(out.len(), 2, "{out:?}");
        let idx = std::fs::read_to_string(dir.join("audit_20260101T013000Z.jsonl.gz.idx")).unwrap();
        let version = scout_audit_store_file::index::INDEX_VERSION;
        assert!(
            idx.starts_with(&format!("{{\"scout_audit_index\":{version},")),
            "{idx}"
        );
        let warm = ask(Filter::new(), None);
        assert_eq!((&warm.0, warm.1), (&cold.0, 2), "{first:?}");
        let warm_first = ask(Filter::new().until(hour(2)), None);
        assert_eq!((&warm_first.0, warm_first.1), (&cold_first.0, 1));
        let warm_hours = ask(Filter::new(), Some(GroupBy::Hour));
        assert_eq!((&warm_hours.0, warm_hours.1), (&cold_hours.0, 2));
        let groups = warm_hours.0.groups.unwrap();
        let first_hour = groups.groups().next().unwrap().1.cost.value();
        assert_eq!(first_hour, first_alone, "{first:?}");
    }
}

/// A version-1 index (Shewchuk partials, which could be wrong for an
/// archive whose costs overflowed) is ignored: the archive is read, the
/// answer is exact, and `index` rewrites it as version 2.
#[test]
fn version_1_indexes_are_ignored_and_rewritten() {
    use scout_audit_core::agg::SumOverflow;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let text: String = ["1e308", "1e308", "300"]
        .iter()
        .map(|c| format!("{{\"ts\":\"2026-01-01T01:30:00Z\",\"event\":\"nav\",\"cost\":{c}}}\n"))
        .collect();
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    std::fs::write(dir.join("audit_20260101T013000Z.jsonl.gz"), gz).unwrap();
    std::fs::write(
        dir.join("audit.jsonl"),
        "{\"ts\":\"2026-01-01T02:30:00Z\",\"event\":\"nav\",\"cost\":-1e308}\n",
    )
    .unwrap();
    let live = dir.join("audit.jsonl");
    let idx_path = dir.join("audit_20260101T013000Z.jsonl.gz.idx");
    let out = build_indexes(&live, Some(1)).unwrap();
    assert!(matches!(&out[..], [IndexOutcome::Written(_)]), "{out:?}");
    let v2 = std::fs::read_to_string(&idx_path).unwrap();
    // The same index as version 1 would have been, with plausible but
    // wrong partials (what an overflow could leave): never trusted.
    let v1 = v2
        .replace(
            &format!(
                "\"scout_audit_index\":{}",
                scout_audit_store_file::index::INDEX_VERSION
            ),
            "\"scout_audit_index\":1",
        )
        .replace(
            &format!(
                "\"cost\":\"{}\"",
                v2.split("\"cost\":\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
            ),
            "\"cost\":[0.0]",
        );
    assert_ne!(v1, v2);
    assert!(!v1.contains("\"cost\":\"0x"), "{v1}");
    std::fs::write(&idx_path, &v1).unwrap();
    let spend = |live: &std::path::Path| {
        let a = Scan::new(Inputs::store(live).unwrap()).spend(None).unwrap();
        (a.value.total, a.report.from_index)
    };
    assert_eq!(spend(&live), (Ok(1e308), 0));
    let first = Scan::new(Inputs::store(&live).unwrap())
        .filter(
            Filter::new()
                .until(scout_audit_core::Timestamp::parse("2026-01-01T02:00:00Z").unwrap()),
        )
        .spend(None)
        .unwrap();
    assert_eq!(first.value.total, Err(SumOverflow::Positive));
    // `index` rewrites it, saying why.
    let out = build_indexes(&live, Some(1)).unwrap();
    assert!(
        matches!(&out[..], [IndexOutcome::Rewritten { why, .. }] if why.contains("format version 1")),
        "{out:?}"
    );
    assert_eq!(
        scout_audit_testkit::forge::without_identity(&std::fs::read_to_string(&idx_path).unwrap()),
        scout_audit_testkit::forge::without_identity(&v2)
    );
    assert_eq!(spend(&live), (Ok(1e308), 1));
}
