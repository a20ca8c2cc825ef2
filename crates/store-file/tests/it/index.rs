//! Sidecar indexes: written when an archive is made, equal to a summary of
//! the archive as readers read it, removed with it, and never trusted when
//! stale, partial, edited or foreign; `verify` compares each with its
//! archive.

use std::sync::Arc;

use scout_audit_core::{Event, ManualClock, Timestamp};
use scout_audit_store_file::FileStore;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::index::{
    ArchiveIdentity, ArchiveStamp, INDEX_VERSION, IndexCheck, SegmentIndex, check_index,
    inspect_index, needs_refresh, read_index, summarize_archive, write_index,
};
use scout_audit_store_file::options::{Retention, RotateSize};
use scout_audit_store_file::verify::verify;

use crate::support::*;
use scout_audit_testkit::forge::{reseal, with_first_group_cost};

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

/// The version field as this code writes it.
fn current_version() -> String {
    format!("\"scout_audit_index\":{INDEX_VERSION}")
}

/// The modification time of `path`.
fn mtime(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// Overwrites `path` with `bytes` and puts its modification time back.
fn write_keeping_mtime(path: &std::path::Path, bytes: &[u8]) {
    let was = mtime(path);
    std::fs::write(path, bytes).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(was).unwrap();
    drop(f);
    assert_eq!(mtime(path), was);
}

#[test]
fn an_index_is_checked_against_its_archive_bytes_and_its_own_digest() {
    let t = temp_store();
    store_with_archives(&t, 1);
    let l = layout(&t.path);
    let listing = l.list(&RealFs).unwrap();
    let seg = listing.archives().next().unwrap().clone();
    let idx_path = l.index_path(&seg);
    let check = || check_index(&RealFs, &seg.path, &idx_path);
    let edited = "its digest does not match its contents (edited?)";
    assert!(matches!(check(), IndexCheck::Valid(_)));
    let bytes = std::fs::read(&idx_path).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let valid = SegmentIndex::decode(&bytes).unwrap();
    // Another file's index under this name: refused.
    let mut other = valid.clone();
    other.archive = "audit-20991231T000000Z-000009.jsonl.gz".into();
    std::fs::write(&idx_path, other.encode()).unwrap();
    assert_eq!(
        check(),
        IndexCheck::Mismatch(
            "it is the index of \"audit-20991231T000000Z-000009.jsonl.gz\"".into()
        )
    );
    // Cut short: refused.
    std::fs::write(&idx_path, &bytes[..bytes.len() - 3]).unwrap();
    assert_eq!(check(), IndexCheck::Mismatch("index cut short".into()));
    // Finding 8: totals edited, the archive untouched (the old stamp kept
    // by construction): the index's own digest no longer matches.
    let forged = with_first_group_cost(&text, 500.0);
    assert_ne!(forged, text);
    std::fs::write(&idx_path, &forged).unwrap();
    assert_eq!(check(), IndexCheck::Mismatch(edited.into()));
    // An index of the old format: ignored, told apart.
    let v1 = text.replacen(&current_version(), "\"scout_audit_index\":1", 1);
    std::fs::write(&idx_path, v1).unwrap();
    assert_eq!(check(), IndexCheck::OtherVersion(1));
    // Whole again; the archive copied with the same bytes and a new
    // modification time (cp): still its index.
    std::fs::write(&idx_path, &bytes).unwrap();
    let gz = std::fs::read(&seg.path).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let before = mtime(&seg.path);
    std::fs::write(&seg.path, &gz).unwrap();
    assert_ne!(mtime(&seg.path), before);
    assert_eq!(check(), IndexCheck::Valid(Box::new(valid.clone())));
    // The stamp is the length and the SHA-256 of the bytes.
    let stamp = ArchiveStamp::read(&RealFs, &seg.path).unwrap();
    assert_eq!(stamp.len, gz.len() as u64);
    use sha2::Digest;
    assert_eq!(stamp.sha256, <[u8; 32]>::from(sha2::Sha256::digest(&gz)));
    // Finding 8: the archive edited in place keeping its length,
    // modification time and last 8 bytes: refused.
    let mut edited_gz = gz.clone();
    let mid = gz.len() / 2;
    edited_gz[mid] ^= 0x55;
    write_keeping_mtime(&seg.path, &edited_gz);
    assert_eq!(
        check(),
        IndexCheck::Mismatch(
            "the archive's SHA-256 differs from the one the index was made from".into()
        )
    );
    assert!(read_index(&RealFs, &seg.path, &idx_path).is_none());
    // A different length is refused before hashing.
    std::fs::write(&seg.path, &gz[..gz.len() - 1]).unwrap();
    assert_eq!(
        check(),
        IndexCheck::Mismatch(format!(
            "the archive has {} bytes, the index was made from {}",
            gz.len() - 1,
            gz.len()
        ))
    );
    std::fs::remove_file(&idx_path).unwrap();
    assert_eq!(check(), IndexCheck::Missing);
}

/// The identity `lstat` gives `path` now, as if hashed at `hashed_ns`.
fn identity_now(path: &std::path::Path, hashed_ns: i64) -> ArchiveIdentity {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).unwrap();
    ArchiveIdentity {
        dev: m.dev(),
        ino: m.ino(),
        len: m.size(),
        mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
        hashed_ns,
    }
}

/// Decision 52: an index records its archive's `lstat` identity when the
/// archive is hashed; a reader trusts the recorded SHA-256 without reading
/// the archive only while that identity is unchanged and its ctime was
/// more than 2 s older than the hashing. An in-place edit keeping length,
/// mtime and last bytes changes ctime, so it is hashed and refused; an
/// identity recorded within 2 s of the ctime (racy) is hashed too.
#[test]
fn an_index_skips_hashing_its_archive_only_while_its_identity_holds() {
    let t = temp_store();
    store_with_archives(&t, 1);
    let l = layout(&t.path);
    let seg = l.list(&RealFs).unwrap().archives().next().unwrap().clone();
    let idx_path = l.index_path(&seg);
    let fs = FaultFs::new();
    let faulty = Faulty(fs.clone());
    // (verdict, whether the archive was opened, what inspect_index says)
    let check = || {
        fs.opened_for_reading.lock().unwrap().clear();
        let ins = inspect_index(&faulty, &seg.path, &idx_path);
        let opened = fs.opened_for_reading.lock().unwrap().contains(&seg.path);
        assert_eq!(opened, ins.hashed);
        (ins.check, opened)
    };
    // Written by the compressor just after the archive was made: its
    // identity is racy, so the archive is hashed.
    let valid = SegmentIndex::decode(&std::fs::read(&idx_path).unwrap()).unwrap();
    let id = valid.identity.expect("an identity is recorded");
    assert!(id.is_racy(), "{id:?}");
    assert_eq!(
        (check().0, check().1),
        (IndexCheck::Valid(Box::new(valid.clone())), true)
    );
    // Over 2 s later the identity can be refreshed; then the archive is
    // not read at all.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let ins = inspect_index(&RealFs, &seg.path, &idx_path);
    assert!(needs_refresh(&RealFs, &seg.path, &ins));
    assert!(
        write_index(
            &RealFs,
            &l,
            &seg,
            valid.stamp.clone(),
            valid.summary.clone(),
            None
        )
        .unwrap()
    );
    let refreshed = SegmentIndex::decode(&std::fs::read(&idx_path).unwrap()).unwrap();
    assert!(!refreshed.identity.unwrap().is_racy());
    assert_eq!(
        check(),
        (IndexCheck::Valid(Box::new(refreshed.clone())), false)
    );
    let ins = inspect_index(&RealFs, &seg.path, &idx_path);
    assert!(!needs_refresh(&RealFs, &seg.path, &ins));
    // Edited in place, over 2 s after the hashing, keeping its length,
    // modification time and last 8 bytes: ctime moved, so it is hashed
    // and refused.
    let gz = std::fs::read(&seg.path).unwrap();
    let mut edited_gz = gz.clone();
    edited_gz[gz.len() / 2] ^= 0x55;
    let mtime_before = mtime(&seg.path);
    write_keeping_mtime(&seg.path, &edited_gz);
    assert_eq!(mtime(&seg.path), mtime_before);
    let stale = IndexCheck::Mismatch(
        "the archive's SHA-256 differs from the one the index was made from".into(),
    );
    assert_eq!(check(), (stale.clone(), true));
    // The same stale index recording the edited archive's very identity,
    // but hashed within 2 s of its ctime (racy: an edit in the same clock
    // tick could have kept the ctime): hashed, refused.
    let ctime = identity_now(&seg.path, 0).ctime_ns;
    for hashed_ns in [ctime, ctime + 1_000_000_000, ctime + 2_000_000_000] {
        let racy = SegmentIndex {
            identity: Some(identity_now(&seg.path, hashed_ns)),
            ..refreshed.clone()
        };
        std::fs::write(&idx_path, racy.encode()).unwrap();
        assert_eq!(check(), (stale.clone(), true), "{hashed_ns}");
    }
    // Whereas a (forged) identity past the racy window is trusted without
    // reading: what makes the rule above the one that decides.
    let trusted = SegmentIndex {
        identity: Some(identity_now(&seg.path, ctime + 2_000_000_001)),
        ..refreshed.clone()
    };
    std::fs::write(&idx_path, trusted.encode()).unwrap();
    assert_eq!(check(), (IndexCheck::Valid(Box::new(trusted)), false));
    // verify trusts no identity: it hashes, and names the stale index.
    let rep = verify(Arc::new(RealFs), &l).unwrap();
    assert_eq!(
        rep.index_problems,
        [(
            idx_path.clone(),
            "the archive's SHA-256 differs from the one the index was made from".to_owned()
        )]
    );
    // The original bytes back (a new ctime): hashed, valid again.
    std::fs::write(&seg.path, &gz).unwrap();
    assert!(matches!(check(), (IndexCheck::Valid(_), true)));
}

/// The compressor's identity of a new archive is racy (recorded just after
/// the archive was made); when it indexes the next archive it refreshes
/// the previous one's, so readers hash only the newest.
#[test]
fn the_compressor_refreshes_the_previous_archives_identity() {
    let t = temp_store();
    let store = FileStore::builder(&t.path)
        .rotate_size(RotateSize::NEVER)
        .open()
        .unwrap();
    store.append(Event::new("nav").cost(1.0)).unwrap();
    store.rotate().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    store.append(Event::new("nav").cost(2.0)).unwrap();
    store.rotate().unwrap();
    store.close().unwrap();
    let l = layout(&t.path);
    let segs: Vec<_> = l.list(&RealFs).unwrap().archives().cloned().collect();
    assert_eq!(segs.len(), 2);
    let hashed = |i: usize| inspect_index(&RealFs, &segs[i].path, &l.index_path(&segs[i])).hashed;
    assert_eq!((hashed(0), hashed(1)), (false, true));
}

#[test]
fn verify_compares_every_index_with_its_archive_field_by_field() {
    let t = temp_store();
    store_with_archives(&t, 3);
    let l = layout(&t.path);
    let fs: Arc<dyn scout_audit_store_file::fs::Fs> = Arc::new(RealFs);
    let rep = verify(fs.clone(), &l).unwrap();
    assert!(rep.is_ok(), "{:?}", rep.problem_lines());
    assert!(rep.index_problems.is_empty());
    let listing = l.list(&RealFs).unwrap();
    let segs: Vec<_> = listing.archives().cloned().collect();
    let paths: Vec<_> = segs.iter().map(|s| l.index_path(s)).collect();
    let texts: Vec<String> = paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    // 1: edited, digest left as it was; 2: edited and resealed (a
    // consistent forgery readers would use); 3: an older format.
    std::fs::write(&paths[0], with_first_group_cost(&texts[0], 500.0)).unwrap();
    std::fs::write(&paths[1], reseal(&with_first_group_cost(&texts[1], 500.0))).unwrap();
    assert!(matches!(
        check_index(&RealFs, &segs[1].path, &paths[1]),
        IndexCheck::Valid(_)
    ));
    std::fs::write(
        &paths[2],
        texts[2].replacen(&current_version(), "\"scout_audit_index\":1", 1),
    )
    .unwrap();
    let rep = verify(fs, &l).unwrap();
    let hour1 = "2026-11-01T01:00:00+00:00";
    assert_eq!(
        rep.index_problems,
        [
            (
                paths[0].clone(),
                "its digest does not match its contents (edited?)".to_owned()
            ),
            (
                paths[1].clone(),
                format!(
                    "it summarises other records than the archive holds (`scout-audit index --rebuild` writes it again): \
                     hour {hour1}, event \"llm_call\": cost 500 in the index, 0.6000000000000001 in the archive"
                )
            ),
        ]
    );
    assert_eq!(rep.outdated_indexes, [(paths[2].clone(), 1)]);
    assert_eq!(rep.problem_count(), 2);
    assert!(!rep.is_ok());
    assert_eq!(
        rep.problem_lines(),
        [
            format!(
                "{}: index does not match its archive: its digest does not match its contents (edited?)",
                paths[0].display()
            ),
            format!(
                "{}: index does not match its archive: it summarises other records than the archive holds (`scout-audit index --rebuild` writes it again): \
                 hour {hour1}, event \"llm_call\": cost 500 in the index, 0.6000000000000001 in the archive",
                paths[1].display()
            ),
        ]
    );
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
