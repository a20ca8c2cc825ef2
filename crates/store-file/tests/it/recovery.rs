//! Recovery at open: torn tails quarantined, interrupted compressions finished or redone.
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use scout_audit_core::{Event, ManualClock, SessionId, Timestamp};
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::options::{self, RotateSize};
use scout_audit_store_file::recovery::{Quarantined, recover};
use scout_audit_store_file::{FileStore, Layout};

use crate::support::*;

const A: &str = r#"{"ts":"2026-01-01T00:00:00+00:00","event":"nav","session_id":"s","seq":0}"#;
const B: &str = r#"{"ts":"2026-01-01T00:00:01+00:00","event":"nav","session_id":"s","seq":1}"#;

fn recover_bytes(
    initial: &[u8],
) -> (
    Vec<u8>,
    Option<Vec<u8>>,
    scout_audit_store_file::recovery::RecoveryReport,
) {
    let t = temp_store();
    std::fs::write(&t.path, initial).unwrap();
    let layout = Layout::new(&t.path).unwrap();
    let clock = ManualClock::new(Timestamp::parse("2026-11-27T00:00:00Z").unwrap());
    let report = recover(&RealFs, &layout, &clock, &options::Retention::KEEP_ALL).unwrap();
    let live = std::fs::read(&t.path).unwrap();
    let q = report
        .quarantined
        .as_ref()
        .map(|q| std::fs::read(&q.path).unwrap());
    // Recovery is idempotent: a second run changes nothing.
    let again = recover(&RealFs, &layout, &clock, &options::Retention::KEEP_ALL).unwrap();
    assert_eq!(again.quarantined, None);
    assert!(!again.completed_last_line);
    assert_eq!(std::fs::read(&t.path).unwrap(), live);
    (live, q, report)
}

#[test]
fn torn_tail_is_quarantined_never_deleted() {
    let torn = &B[..30];
    let (live, q, report) = recover_bytes(format!("{A}\n{torn}").as_bytes());
    assert_eq!(live, format!("{A}\n").as_bytes());
    assert_eq!(q.unwrap(), torn.as_bytes());
    let Quarantined { path, offset, len } = report.quarantined.unwrap();
    assert_eq!((offset, len), (A.len() as u64 + 1, 30));
    assert!(
        path.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("audit.jsonl.torn-20261127T000000Z-")
    );
}

#[test]
fn complete_record_missing_newline_is_completed() {
    let (live, q, report) = recover_bytes(format!("{A}\n{B}").as_bytes());
    assert_eq!(live, format!("{A}\n{B}\n").as_bytes());
    assert!(q.is_none());
    assert!(report.completed_last_line);
}

#[test]
fn garbage_suffix_after_last_record_is_quarantined() {
    // What a power loss can leave: zeros (size grown before data) and
    // garbled lines after the last good record.
    let mut input = format!("{A}\n{B}\n").into_bytes();
    let good = input.len();
    input.extend_from_slice(b"x\x07garbage\n\n{\"ts\":\n");
    input.extend_from_slice(&[0u8; 700]);
    let (live, q, _) = recover_bytes(&input);
    assert_eq!(live, &input[..good]);
    assert_eq!(q.unwrap(), &input[good..]);
}

#[test]
fn bad_line_followed_by_good_ones_is_not_a_tail() {
    let input = format!("{A}\nnot json\n{B}\n");
    let (live, q, _) = recover_bytes(input.as_bytes());
    assert_eq!(live, input.as_bytes());
    assert!(q.is_none());
}

#[test]
fn blank_suffix_and_empty_file_are_left_alone() {
    let input = format!("{A}\n\n\r\n");
    let (live, q, _) = recover_bytes(input.as_bytes());
    assert_eq!(live, input.as_bytes());
    assert!(q.is_none());
    let (live, q, _) = recover_bytes(b"");
    assert!(live.is_empty() && q.is_none());
    // A file of nothing but garbage is moved whole.
    let (live, q, _) = recover_bytes(b"\0\0\0\0");
    assert!(live.is_empty());
    assert_eq!(q.unwrap(), b"\0\0\0\0");
}

#[test]
fn long_torn_tail_spanning_chunks() {
    let big = "y".repeat(200_000);
    let (live, q, _) = recover_bytes(format!("{A}\n{{\"ts\":\"{big}").as_bytes());
    assert_eq!(live, format!("{A}\n").as_bytes());
    assert_eq!(q.unwrap().len(), 200_007);
}

#[test]
fn appends_after_recovery_start_on_a_fresh_line() {
    let t = temp_store();
    std::fs::write(&t.path, format!("{A}\n{{\"ts\":\"2026")).unwrap();
    let store = FileStore::builder(&t.path)
        .session(SessionId::new("r"))
        .open()
        .unwrap();
    assert!(store.recovery_report().quarantined.is_some());
    store.append(Event::new("brief")).unwrap();
    store.close().unwrap();
    let (recs, report) = read_all(&t.path);
    assert_eq!(report.problem_count(), 0);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].event(), Some("brief"));
    let names = file_names(t.dir.path());
    assert!(
        names.iter().any(|n| n.starts_with("audit.jsonl.torn-")),
        "{names:?}"
    );
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn interrupted_compressions_are_finished_or_redone() {
    let t = temp_store();
    let dir = t.dir.path();
    let content = format!("{A}\n{B}\n");
    // 1: crash after rename to .gz, before unlinking the sealed file.
    std::fs::write(dir.join("audit-20261127T000001Z-000001.jsonl"), &content).unwrap();
    std::fs::write(
        dir.join("audit-20261127T000001Z-000001.jsonl.gz"),
        gz(content.as_bytes()),
    )
    .unwrap();
    // 2: crash mid-write of the .gz.tmp.
    std::fs::write(dir.join("audit-20261127T000002Z-000002.jsonl"), &content).unwrap();
    std::fs::write(
        dir.join("audit-20261127T000002Z-000002.jsonl.gz.tmp"),
        &gz(content.as_bytes())[..10],
    )
    .unwrap();
    // 3: a .gz that does not match its source.
    std::fs::write(dir.join("audit-20261127T000003Z-000003.jsonl"), &content).unwrap();
    std::fs::write(
        dir.join("audit-20261127T000003Z-000003.jsonl.gz"),
        gz(b"other\n"),
    )
    .unwrap();
    // 4: a temp with nothing else: never deleted, reported.
    std::fs::write(
        dir.join("audit-20261127T000004Z-000004.jsonl.gz.tmp"),
        b"??",
    )
    .unwrap();
    let store = FileStore::builder(&t.path)
        .rotate_size(RotateSize::DEFAULT)
        .open()
        .unwrap();
    let rep = store.recovery_report().clone();
    assert_eq!(rep.finished_compressions.len(), 1);
    assert_eq!(rep.removed_partials.len(), 1);
    assert_eq!(rep.to_compress.len(), 1);
    assert_eq!(rep.orphan_temps.len(), 1);
    // An archive is only ever made whole, so one that differs from its
    // source is a conflict: nothing is deleted.
    assert_eq!(rep.conflicts.len(), 1);
    store.wait_compressed();
    store.close().unwrap();
    let names = file_names(dir);
    assert_eq!(
        names,
        [
            "audit-20261127T000001Z-000001.jsonl.gz",
            "audit-20261127T000002Z-000002.jsonl.gz",
            // Compressed by this open: indexed once durable.
            "audit-20261127T000002Z-000002.jsonl.gz.idx",
            "audit-20261127T000003Z-000003.jsonl",
            "audit-20261127T000003Z-000003.jsonl.gz",
            "audit-20261127T000004Z-000004.jsonl.gz.tmp",
            "audit.jsonl",
            "audit.lock",
        ]
    );
    let (recs, report) = read_all(&t.path);
    assert_eq!(recs.len(), 6);
    assert_eq!(report.problem_count(), 0);
}
