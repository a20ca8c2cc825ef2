//! Reading: damaged archives, verify, following rotations, and readers that never write.
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use scout_audit_core::{Event, SessionId};
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::reader::ProblemKind;
use scout_audit_store_file::verify::verify;
use scout_audit_store_file::{FileStore, Reader};

use crate::support::*;

fn line(seq: u64, session: &str) -> String {
    format!(
        "{{\"ts\":\"2026-01-01T00:00:{:02}+00:00\",\"event\":\"nav\",\"session_id\":\"{session}\",\"seq\":{seq}}}\n",
        seq % 60
    )
}

fn gz(text: &str) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

#[test]
fn damaged_archives_keep_what_precedes_the_damage() {
    let t = temp_store();
    let dir = t.dir.path();
    let body: String = (0..2000).map(|i| line(i, "a")).collect();
    let full = gz(&body);
    // Truncated archive: the records decoded before the cut count.
    std::fs::write(
        dir.join("audit-20260101T000001Z-000001.jsonl.gz"),
        &full[..full.len() / 2],
    )
    .unwrap();
    // Not gzip at all.
    std::fs::write(
        dir.join("audit-20260101T000002Z-000002.jsonl.gz"),
        b"this is not gzip\n",
    )
    .unwrap();
    // A good multi-member archive.
    let mut two = gz(&line(0, "b"));
    two.extend(gz(&line(1, "b")));
    std::fs::write(dir.join("audit-20260101T000003Z-000003.jsonl.gz"), two).unwrap();
    std::fs::write(&t.path, line(2, "b")).unwrap();
    let (recs, report) = read_all(&t.path);
    let from_a = recs.iter().filter(|r| r.session_id() == Some("a")).count();
    assert!(from_a > 100 && from_a < 2000, "{from_a}");
    let bs: Vec<u64> = recs
        .iter()
        .filter(|r| r.session_id() == Some("b"))
        .map(|r| r.seq().unwrap())
        .collect();
    assert_eq!(bs, [0, 1, 2]);
    assert_eq!(report.damaged_segments, 2, "{:?}", report.problems);
    assert!(
        report
            .problems
            .iter()
            .all(|p| matches!(p.kind, ProblemKind::Gzip(_) | ProblemKind::TornTail(_)))
    );
    // Strict mode stops at the first problem with a located error.
    let mut strict = Reader::open(&t.path).unwrap().strict(true);
    let err = strict.find_map(|r| r.err()).unwrap();
    assert!(
        err.to_string()
            .contains("audit-20260101T000001Z-000001.jsonl.gz"),
        "{err}"
    );
}

#[test]
fn decompression_bomb_is_bounded() {
    // 64 MiB of zeros with no newline compresses to ~64 KiB: the reader
    // must skip it as one over-long line, not hold it in memory.
    let t = temp_store();
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    e.write_all(b"\n").unwrap();
    e.write_all(line(0, "z").as_bytes()).unwrap();
    std::fs::write(
        t.dir.path().join("audit-20260101T000001Z-000001.jsonl.gz"),
        e.finish().unwrap(),
    )
    .unwrap();
    let (recs, report) = read_all(&t.path);
    assert_eq!(recs.len(), 1);
    assert_eq!(report.malformed, 1);
    assert!(matches!(report.problems[0].kind, ProblemKind::TooLong(n) if n == (64 << 20) + 1));
}

#[test]
fn verify_finds_gaps_malformed_and_leftovers() {
    let t = temp_store();
    let dir = t.dir.path();
    let mut live = String::new();
    for s in [0, 1, 2, 4, 5] {
        live.push_str(&line(s, "gappy"));
    }
    live.push_str("garbage\n");
    for s in 0..3 {
        live.push_str(&line(s, "fine"));
    }
    std::fs::write(&t.path, &live).unwrap();
    std::fs::write(dir.join("audit-20260101T000009Z-000009.jsonl.gz.tmp"), b"x").unwrap();
    let rep = verify(std::sync::Arc::new(RealFs), &layout(&t.path)).unwrap();
    assert!(!rep.is_ok());
    assert_eq!(rep.seq_gap_count, 1);
    assert_eq!((rep.seq_gaps[0].expected, rep.seq_gaps[0].found), (3, 4));
    assert_eq!(rep.seq_gaps[0].pos.line, 4);
    assert_eq!(rep.read.malformed, 1);
    assert_eq!(rep.leftover_temps.len(), 1);
    assert_eq!(rep.sessions, 2);
    let lines = rep.problem_lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].contains("audit.jsonl:6 (byte"), "{lines:?}");
}

#[test]
fn verify_passes_a_healthy_store() {
    let t = temp_store();
    let store = FileStore::builder(&t.path)
        .rotate_size(scout_audit_store_file::options::RotateSize::bytes(1000))
        .session(SessionId::new("ok"))
        .open()
        .unwrap();
    for _ in 0..50 {
        store.append(Event::new("nav")).unwrap();
    }
    store.close().unwrap();
    let rep = verify(std::sync::Arc::new(RealFs), &layout(&t.path)).unwrap();
    assert!(rep.is_ok(), "{:?}", rep.problem_lines());
    assert_eq!(rep.read.records, 50);
}

#[test]
fn reading_never_creates_files() {
    let t = temp_store();
    let (recs, _) = read_all(&t.path);
    assert!(recs.is_empty());
    assert!(file_names(t.dir.path()).is_empty());
}

#[test]
fn follow_sees_every_record_once_across_rotations() {
    use scout_audit_store_file::follow::{Follow, Followed};
    use scout_audit_store_file::options::RotateSize;
    let t = temp_store();
    let open = |s: &str| {
        FileStore::builder(&t.path)
            .rotate_size(RotateSize::bytes(1500))
            .session(SessionId::new(s))
            .open()
            .unwrap()
    };
    let a = open("A");
    for _ in 0..30 {
        a.append(Event::new("before")).unwrap();
    }
    let mut follow = Follow::start(std::sync::Arc::new(RealFs), layout(&t.path))
        .unwrap()
        .poll_interval(std::time::Duration::from_millis(2));
    let b = open("B");
    let total = 30 + 2 * 400;
    let seen = std::thread::scope(|sc| {
        let reader = sc.spawn(move || {
            let mut seen = Vec::new();
            let mut caught_up_at = None;
            while seen.len() < total {
                match follow.next_record().unwrap() {
                    Followed::Record(r) => seen.push(r),
                    Followed::CaughtUp => caught_up_at = Some(seen.len()),
                }
            }
            assert!(caught_up_at.is_some_and(|n| n >= 30));
            assert_eq!(follow.malformed(), 0);
            seen
        });
        for (w, s) in [(&a, "A"), (&b, "B")] {
            let w = w.clone();
            sc.spawn(move || {
                for i in 0..400u64 {
                    w.append(Event::new("after").field("i", i)).unwrap();
                    if i % 50 == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(3));
                    }
                }
                let _ = s;
            });
        }
        reader.join().unwrap()
    });
    a.close().unwrap();
    b.close().unwrap();
    for s in ["A", "B"] {
        let seqs: Vec<u64> = seen
            .iter()
            .filter(|r| r.session_id() == Some(s))
            .map(|r| r.seq().unwrap())
            .collect();
        let n = if s == "A" { 430 } else { 400 };
        assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "session {s}");
    }
    // The follower saw exactly what a reader sees afterwards, in order.
    let (all, _) = read_all(&t.path);
    let key = |r: &scout_audit_core::Record| (r.session_id().unwrap().to_owned(), r.seq().unwrap());
    assert_eq!(
        seen.iter().map(key).collect::<Vec<_>>(),
        all.iter().map(key).collect::<Vec<_>>()
    );
}

/// Found while writing the concurrency campaign: a follower that had read a
/// torn tail (a writer killed mid-line) kept its read position past it;
/// when the next writer's recovery cut the tail off and appended, the
/// follower resumed in the middle of the new lines and skipped records.
#[test]
fn follow_resumes_at_the_cut_when_recovery_removes_a_torn_tail() {
    use scout_audit_store_file::follow::{Follow, Followed};
    let t = temp_store();
    let a = FileStore::builder(&t.path)
        .session(SessionId::new("A"))
        .open()
        .unwrap();
    for _ in 0..3 {
        a.append(Event::new("before")).unwrap();
    }
    a.close().unwrap();
    // A writer killed in the middle of a line.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&t.path)
        .unwrap();
    f.write_all(br#"{"ts":"2026-11-27T05:21:16.123456+00:00","event":"to"#)
        .unwrap();
    drop(f);
    let mut follow = Follow::start(std::sync::Arc::new(RealFs), layout(&t.path))
        .unwrap()
        .poll_interval(std::time::Duration::from_millis(1));
    let mut seen = Vec::new();
    while let Followed::Record(r) = follow.next_record().unwrap() {
        seen.push(r.event().unwrap().to_owned());
    }
    assert_eq!(seen, ["before"; 3]);
    // The next writer recovers (quarantines the torn tail) and appends.
    let b = FileStore::builder(&t.path)
        .session(SessionId::new("B"))
        .open()
        .unwrap();
    assert!(b.recovery_report().quarantined.is_some());
    for i in 0..3u64 {
        b.append(Event::new("after").field("i", i)).unwrap();
    }
    b.close().unwrap();
    let mut after = Vec::new();
    // A follower that lost its place would stay caught up for ever: fail
    // rather than hang.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while after.len() < 3 {
        match follow.next_record().unwrap() {
            Followed::Record(r) => after.push((r.event().unwrap().to_owned(), r.get("i").cloned())),
            Followed::CaughtUp => assert!(
                std::time::Instant::now() < deadline,
                "the follower saw only {after:?} in 30 s"
            ),
        }
    }
    let want: Vec<(String, Option<serde_json::Value>)> = (0..3u64)
        .map(|i| ("after".to_owned(), Some(serde_json::Value::from(i))))
        .collect();
    assert_eq!(after, want);
    assert_eq!(follow.malformed(), 0);
}

/// Found by the `segment_reader` fuzz target: when an archive's damage
/// came in the middle of the decompressor's read (here an "invalid distance
/// too far back" after one whole record, not a truncation), the records
/// decompressed in that same read were dropped with it.
#[test]
fn records_before_corrupt_deflate_data_are_kept() {
    const FOUND: &[u8] = include_bytes!(
        "../../../../fuzz/corpus/segment_reader/found-corrupt-deflate-after-a-record"
    );
    let t = temp_store();
    std::fs::write(
        t.dir.path().join("audit-20260101T000001Z-000001.jsonl.gz"),
        FOUND,
    )
    .unwrap();
    let (recs, report) = read_all(&t.path);
    let got: Vec<String> = recs.iter().map(|r| r.to_json_line()).collect();
    assert_eq!(
        got,
        [r#"{"ts":"2026-01-01T00:00:00+00:00","event":"nav","session_id":"s","seq":0}"#]
    );
    assert_eq!(report.damaged_segments, 1);
    assert!(
        matches!(&report.problems[0].kind, ProblemKind::Gzip(m) if m.contains("corrupt deflate stream")),
        "{:?}",
        report.problems
    );
}

/// Found by the `segment_reader` fuzz target: the reader skips a UTF-8 BOM
/// at the start of a file but the follower did not, so a live file that
/// starts with one lost its first record in `tail -f` (unless the record
/// began with `"ts"` and was recovered as glued).
#[test]
fn follow_skips_a_bom_as_the_reader_does() {
    let t = temp_store();
    let first = r#"{"event":"nav","ts":"2026-01-01T00:00:00Z"}"#;
    std::fs::write(&t.path, format!("\u{feff}{first}\n{}", line(1, "b"))).unwrap();
    let (recs, report) = read_all(&t.path);
    assert_eq!((recs.len(), report.problem_count()), (2, 0));
    let want: Vec<String> = recs.iter().map(|r| r.to_json_line()).collect();
    assert_eq!(follow_to_the_end(&t.path), (want, 0));
}

/// A reader lists a store that has no lock file yet (no writer of ours has
/// started) while a writer starts, writes, rotates and writes again: the
/// listing it took can hold neither name of the sealed segment, yet it
/// opens the new live file. It must notice the lock file that appeared and
/// list again under the lock, rather than return the later record alone.
/// (Found as a rare failure of `cli it::processes::readers_during_compression_see_every_record`.)
#[test]
fn a_writer_starting_during_an_unlocked_listing_is_not_missed() {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use scout_audit_store_file::fs::{Fs, LockFile, Meta, ReadFile, WriteFile};
    use scout_audit_store_file::options::RotateSize;

    /// The real file system, whose first directory listing is taken just
    /// before a writer does its work.
    #[derive(Debug)]
    struct WriterDuringListing {
        live: PathBuf,
        fired: AtomicBool,
    }
    impl Fs for WriterDuringListing {
        fn open_append(&self, p: &Path) -> std::io::Result<Arc<dyn WriteFile>> {
            RealFs.open_append(p)
        }
        fn create_new(&self, p: &Path) -> std::io::Result<Arc<dyn WriteFile>> {
            RealFs.create_new(p)
        }
        fn open_read(&self, p: &Path) -> std::io::Result<Box<dyn ReadFile>> {
            RealFs.open_read(p)
        }
        fn truncate(&self, p: &Path, len: u64) -> std::io::Result<()> {
            RealFs.truncate(p, len)
        }
        fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
            RealFs.rename(from, to)
        }
        fn rename_noreplace(&self, from: &Path, to: &Path) -> std::io::Result<()> {
            RealFs.rename_noreplace(from, to)
        }
        fn remove_file(&self, p: &Path) -> std::io::Result<()> {
            RealFs.remove_file(p)
        }
        fn sync_dir(&self, d: &Path) -> std::io::Result<()> {
            RealFs.sync_dir(d)
        }
        fn list_dir(&self, d: &Path) -> std::io::Result<Vec<String>> {
            let names = RealFs.list_dir(d)?;
            if !self.fired.swap(true, Ordering::SeqCst) {
                let w = FileStore::builder(&self.live)
                    .session(SessionId::new("w"))
                    .rotate_size(RotateSize::NEVER)
                    .open()
                    .unwrap();
                w.append(Event::new("first")).unwrap();
                w.rotate().unwrap();
                w.append(Event::new("second")).unwrap();
                w.close().unwrap();
            }
            Ok(names)
        }
        fn stat(&self, p: &Path) -> std::io::Result<Meta> {
            RealFs.stat(p)
        }
        fn lstat(&self, p: &Path) -> std::io::Result<Meta> {
            RealFs.lstat(p)
        }
        fn create_dir_all(&self, d: &Path) -> std::io::Result<()> {
            RealFs.create_dir_all(d)
        }
        fn open_lock(&self, p: &Path, create: bool) -> std::io::Result<Arc<dyn LockFile>> {
            RealFs.open_lock(p, create)
        }
        fn open_file_lock(&self, p: &Path) -> std::io::Result<Arc<dyn LockFile>> {
            RealFs.open_file_lock(p)
        }
    }

    let t = temp_store();
    std::fs::create_dir_all(t.path.parent().unwrap()).unwrap();
    // A store without a lock file: only the Python original wrote here.
    std::fs::write(&t.path, b"").unwrap();
    let fs = Arc::new(WriterDuringListing {
        live: t.path.clone(),
        fired: AtomicBool::new(false),
    });
    let events: Vec<String> = Reader::open_store(fs, layout(&t.path))
        .unwrap()
        .map(|r| r.unwrap().event().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["first", "second"]);
}

/// `tail -f` splits the live file with the reader's splitter
/// (decisions.md 61): a BOM at offset 0, CRLF, blank and malformed lines,
/// a record over the line bound (skipped, one malformed line, never
/// printed) and a torn tail (read again later, not counted) come out as
/// the reader has them.
#[test]
fn follow_splits_as_the_reader_does() {
    use scout_audit_store_file::lines::MAX_LINE;
    let t = temp_store();
    let long = format!(
        r#"{{"event":"nav","ts":"2026-01-01T00:00:00Z","pad":"{}"}}"#,
        "a".repeat(MAX_LINE)
    );
    let text = format!(
        "\u{feff}{}\r\n\r\n\nnot json\n{long}\n{}{{\"ts\":",
        line(1, "a").trim_end(),
        line(2, "a")
    );
    std::fs::write(&t.path, text).unwrap();
    let (recs, report) = read_all(&t.path);
    assert_eq!((recs.len(), report.malformed, report.torn_tails), (2, 2, 1));
    let want: Vec<String> = recs.iter().map(|r| r.to_json_line()).collect();
    assert_eq!(follow_to_the_end(&t.path), (want, 2));
}

/// What `tail -f` prints of the store at `path` until it has read
/// everything there (each record as a JSON line), and how many malformed
/// lines it counted.
fn follow_to_the_end(path: &std::path::Path) -> (Vec<String>, u64) {
    use scout_audit_store_file::follow::{Follow, Followed};
    let mut follow = Follow::start(std::sync::Arc::new(RealFs), layout(path)).unwrap();
    let mut seen = Vec::new();
    while let Followed::Record(r) = follow.next_record().unwrap() {
        seen.push(r.to_json_line());
    }
    (seen, follow.malformed())
}

/// `start_live` hands the sealed segments back unread and follows from
/// the live file: the snapshot's records, then the follower's, are every
/// record once, in order, even with rotations after it started.
#[test]
fn start_live_leaves_the_sealed_backlog_to_the_caller() {
    use scout_audit_store_file::follow::{Follow, Followed};
    use scout_audit_store_file::options::RotateSize;
    use scout_audit_store_file::reader::Snapshot;
    let t = temp_store();
    let w = FileStore::builder(&t.path)
        .rotate_size(RotateSize::bytes(1500))
        .session(SessionId::new("A"))
        .open()
        .unwrap();
    let seq_of = |r: &scout_audit_core::Record| r.seq().unwrap();
    for _ in 0..40 {
        w.append(Event::new("before")).unwrap();
    }
    let (mut follow, snap) =
        Follow::start_live(std::sync::Arc::new(RealFs), layout(&t.path)).unwrap();
    assert!(snap.sources.iter().all(|s| !s.is_live()));
    assert!(snap.sources.len() >= 2, "the 40 records were rotated");
    let sealed: Vec<u64> = Reader::from_snapshot(
        std::sync::Arc::new(RealFs),
        Some(layout(&t.path)),
        Snapshot {
            sources: snap.sources,
            listing: snap.listing,
        },
    )
    .map(|r| seq_of(&r.unwrap()))
    .collect();
    for _ in 0..40 {
        w.append(Event::new("after")).unwrap();
    }
    let mut live = Vec::new();
    let mut caught_up = false;
    while live.len() + sealed.len() < 80 {
        match follow.next_record().unwrap() {
            Followed::Record(r) => live.push(seq_of(&r)),
            Followed::CaughtUp => caught_up = true,
        }
    }
    assert!(caught_up);
    let all: Vec<u64> = sealed.iter().chain(&live).copied().collect();
    assert_eq!(all, (0..80).collect::<Vec<u64>>());
    w.close().unwrap();
}
