//! An index never changes an answer silently (finding 8): an index whose
//! totals or hours were edited, or whose archive was edited in place while
//! keeping its length, modification time and last bytes, is not used; the
//! archive is read, and the report says which index did not match.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use scout_audit_core::{Filter, Timestamp};
use scout_audit_scan::{IndexOutcome, Inputs, Scan, build_indexes};
use scout_audit_testkit::forge::{with_costs, without_identity};

const ARCHIVE: &str = "audit-20260301T030000Z-000001.jsonl.gz";

fn line(ts: &str, cost: &str) -> String {
    format!("{{\"ts\":\"{ts}\",\"event\":\"llm_call\",\"cost\":{cost}}}\n")
}

/// One gzip member of `text`, stored (not compressed): its length depends
/// only on the text's length.
fn stored_member(text: &str) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::none());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

fn fast_member(text: &str) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// A store with one archive of two gzip members (the first holding
/// `first`, the second two records at 02:xx costing 0.25 each) and a live
/// file, indexed; the live file's path.
fn indexed_store(dir: &Path, first: &str) -> PathBuf {
    let mut gz = stored_member(first);
    gz.extend(fast_member(
        &(line("2026-03-01T02:10:00Z", "0.25") + &line("2026-03-01T02:20:00Z", "0.25")),
    ));
    std::fs::write(dir.join(ARCHIVE), gz).unwrap();
    let live = dir.join("audit.jsonl");
    std::fs::write(&live, line("2026-03-01T04:00:00Z", "1")).unwrap();
    let out = build_indexes(&live, Some(1)).unwrap();
    assert_eq!(out, [IndexOutcome::Written(dir.join(ARCHIVE))]);
    live
}

/// Waits until an identity recorded now is past the racy window of every
/// file changed before the call (2 s, docs/format.md).
fn past_the_racy_window() {
    std::thread::sleep(std::time::Duration::from_millis(2100));
}

fn idx_path(dir: &Path) -> PathBuf {
    dir.join(format!("{ARCHIVE}.idx"))
}

fn spend(live: &Path) -> scout_audit_scan::Answer<scout_audit_scan::Spend> {
    Scan::new(Inputs::store(live).unwrap()).spend(None).unwrap()
}

#[test]
fn an_index_with_edited_totals_is_not_used_and_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let live = indexed_store(dir, &line("2026-03-01T02:00:00Z", "500"));
    let a = spend(&live);
    assert_eq!((a.value.total, a.report.from_index), (Ok(501.5), 1));
    assert!(a.report.index_mismatches.is_empty());
    // Every group's cost made 0.5: the archive, its name, length, mtime
    // and last bytes are untouched (the old stamp would have matched).
    let text = std::fs::read_to_string(idx_path(dir)).unwrap();
    let forged = with_costs(&text, 0.5);
    assert_ne!(forged, text);
    std::fs::write(idx_path(dir), forged).unwrap();
    let a = spend(&live);
    assert_eq!(a.value.total, Ok(501.5));
    assert_eq!(a.report.from_index, 0);
    assert_eq!(a.report.index_mismatches, [idx_path(dir)]);
    // `index` rewrites it, saying why; then it is used again.
    let out = build_indexes(&live, Some(1)).unwrap();
    assert_eq!(
        out,
        [IndexOutcome::Rewritten {
            archive: dir.join(ARCHIVE),
            why: "its index did not match it: its digest does not match its contents (edited?)"
                .into()
        }]
    );
    assert_eq!(
        without_identity(&std::fs::read_to_string(idx_path(dir)).unwrap()),
        without_identity(&text)
    );
    let a = spend(&live);
    assert_eq!((a.value.total, a.report.from_index), (Ok(501.5), 1));
    assert!(a.report.index_mismatches.is_empty());
}

#[test]
fn an_index_with_earlier_hours_hides_no_record() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let live = indexed_store(dir, &line("2026-03-01T02:00:00Z", "500"));
    let since = Filter::new().since(Timestamp::parse("2026-03-01T02:15:00Z").unwrap());
    let count = || {
        Scan::new(Inputs::store(&live).unwrap())
            .filter(since.clone())
            .count()
            .unwrap()
    };
    let a = count();
    assert_eq!((a.value, a.report.pruned), (2, 0));
    // The header's first and last `ts` moved a day earlier: a reader
    // trusting it prunes the archive as wholly before `since`.
    let mut text = std::fs::read_to_string(idx_path(dir)).unwrap();
    for k in ["\"first_ts\":[", "\"last_ts\":["] {
        let from = text.find(k).unwrap() + k.len();
        let to = from + text[from..].find(',').unwrap();
        let secs: i64 = text[from..to].parse().unwrap();
        text.replace_range(from..to, &(secs - 86_400).to_string());
    }
    std::fs::write(idx_path(dir), text).unwrap();
    let a = count();
    assert_eq!((a.value, a.report.pruned), (2, 0));
    assert_eq!(a.report.index_mismatches, [idx_path(dir)]);
    // The records themselves, streamed.
    let mut costs = Vec::new();
    let r = Scan::new(Inputs::store(&live).unwrap())
        .filter(since.clone())
        .for_each_record(|r| {
            costs.push(r.cost());
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(costs, [Some(0.25), Some(1.0)]);
    assert_eq!(r.index_mismatches, [idx_path(dir)]);
}

#[test]
fn an_archive_edited_in_place_keeping_its_stamp_is_read() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let live = indexed_store(dir, &line("2026-03-01T02:00:00Z", "0.5"));
    // Hashed: its identity was recorded within 2 s of its ctime.
    let a = spend(&live);
    assert_eq!((a.value.total, a.report.indexes_hashed), (Ok(2.0), 1));
    // Refreshed over 2 s later, the identity is trusted: no hashing.
    past_the_racy_window();
    let out = build_indexes(&live, Some(1)).unwrap();
    assert_eq!(out, [IndexOutcome::Refreshed(dir.join(ARCHIVE))]);
    let a = spend(&live);
    assert_eq!(
        (a.value.total, a.report.from_index, a.report.indexes_hashed),
        (Ok(2.0), 1, 0)
    );
    // The first member replaced by one of the same length (stored blocks
    // of a line of the same length), the last member (whose CRC and size
    // are the last 8 bytes) kept, the modification time put back.
    let path = dir.join(ARCHIVE);
    let was = std::fs::read(&path).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let old = stored_member(&line("2026-03-01T02:00:00Z", "0.5"));
    let new = stored_member(&line("2026-03-01T02:00:00Z", "9.5"));
    assert_eq!((old.len(), &was[..old.len()]), (new.len(), &old[..]));
    let mut edited = new.clone();
    edited.extend_from_slice(&was[old.len()..]);
    std::fs::write(&path, &edited).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (meta.len(), meta.modified().unwrap()),
        (was.len() as u64, mtime)
    );
    assert_eq!(edited[edited.len() - 8..], was[was.len() - 8..]);
    // Its ctime moved (over 2 s after the hashing): hashed, refused.
    let a = spend(&live);
    assert_eq!(
        (a.value.total, a.report.from_index, a.report.indexes_hashed),
        (Ok(11.0), 0, 1)
    );
    assert_eq!(a.report.index_mismatches, [idx_path(dir)]);
    let out = build_indexes(&live, Some(1)).unwrap();
    assert_eq!(
        out,
        [IndexOutcome::Rewritten {
            archive: path.clone(),
            why: "its index did not match it: \
                  the archive's SHA-256 differs from the one the index was made from"
                .into()
        }]
    );
    let a = spend(&live);
    assert_eq!((a.value.total, a.report.from_index), (Ok(11.0), 1));
}

/// A copy of the store (new inodes and ctimes) answers from its indexes
/// after hashing its archives; `index` refreshes them once their ctime is
/// past the racy window, and then they are trusted without hashing.
#[test]
fn a_copied_store_hashes_until_index_refreshes_it() {
    let d = tempfile::tempdir().unwrap();
    let live = indexed_store(d.path(), &line("2026-03-01T02:00:00Z", "0.5"));
    past_the_racy_window();
    assert_eq!(
        build_indexes(&live, Some(1)).unwrap(),
        [IndexOutcome::Refreshed(d.path().join(ARCHIVE))]
    );
    assert_eq!(spend(&live).report.indexes_hashed, 0);
    let c = tempfile::tempdir().unwrap();
    for name in [
        ARCHIVE.to_owned(),
        format!("{ARCHIVE}.idx"),
        "audit.jsonl".into(),
    ] {
        std::fs::copy(d.path().join(&name), c.path().join(&name)).unwrap();
    }
    let copy = c.path().join("audit.jsonl");
    let a = spend(&copy);
    assert_eq!(
        (a.value.total, a.report.from_index, a.report.indexes_hashed),
        (Ok(2.0), 1, 1)
    );
    assert!(a.report.index_mismatches.is_empty());
    // Just copied: an identity recorded now would be racy, so left.
    assert_eq!(
        build_indexes(&copy, Some(1)).unwrap(),
        [IndexOutcome::Valid(c.path().join(ARCHIVE))]
    );
    past_the_racy_window();
    assert_eq!(
        build_indexes(&copy, Some(1)).unwrap(),
        [IndexOutcome::Refreshed(c.path().join(ARCHIVE))]
    );
    let a = spend(&copy);
    assert_eq!(
        (a.value.total, a.report.from_index, a.report.indexes_hashed),
        (Ok(2.0), 1, 0)
    );
    // The original's index is untouched and still trusted.
    assert_eq!(spend(&live).report.indexes_hashed, 0);
}
