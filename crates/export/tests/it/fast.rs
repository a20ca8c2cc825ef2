//! `export_store`: a file store's lines through the fast path give the
//! same part files, byte for byte, the same summary and the same skipped
//! lines as the record path (`export_segments` over the scanner).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use scout_audit_core::Filter;
use scout_audit_export::{ExportSummary, export_segments, export_store};
use scout_audit_scan::Inputs;

fn gz(path: &Path, text: &str) {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    fs::write(path, e.finish().unwrap()).unwrap();
}

/// Every file under `dir` with its bytes, by relative path.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

fn summary(s: &ExportSummary) -> (u64, u64, u64, u64) {
    (s.records, s.already, s.files, s.run)
}

const ARCHIVE: &str = concat!(
    r#"{"ts":"2026-01-01T10:00:00.5+00:00","event":"nav","session_id":"a","seq":0,"cost":0.25,"model":"m1","input_t":10,"output_t":2,"files":["x.rs","é.txt"],"confidence":90,"duration_ms":12,"config":{"tiers":["m1"],"retries":2}}"#,
    "\n",
    r#"{ "ts": "2026-01-01T11:00:00+00:00", "event": "nav", "session_id": "a", "seq": 1, "cost": 1.0 }"#,
    "\n",
    r#"{"ts":"2026-01-01T12:00:00+00:00","event":"llm_call","session_id":"a","seq":2,"model":"gpt\u002d4","cost":1e-3}"#,
    "\n",
    "not json\n",
    "\n",
    r#"{"ts":"2026-01-02T00:00:00+00:00","event":"validation_fail","reason":"bad \"quote\"","session_id":"a","seq":3,"extra_field":[1.5,{"k":"v"}]}"#,
    "\n",
    r#"{"ts":"2026-01-02T01:00:00+00:00","event":"nav","session_id":"b","writer":"w1","seq":0,"confidence":null,"custom":{"a":1}}"#,
    "\n",
    r#"{"ts":"2026-01-0{"ts":"2026-01-02T02:00:00+00:00","event":"nav","session_id":"b","writer":"w1","seq":1}"#,
    "\n",
);

const SEALED: &str = concat!(
    r#"{"ts":"2026-01-02T03:00:00+00:00","event":"nav","session_id":"b","writer":"w2","seq":0,"cost":"free"}"#,
    "\r\n",
    r#"{"event":"nav","session_id":"by-hand","cost":0.5}"#,
    "\n",
    r#"{"ts":"2026-01-02T04:00:00+00:00","event":"nav","event":"llm_call","session_id":"c","seq":0}"#,
    "\n",
    "[1,2]\n",
);

const LIVE: &str = concat!(
    "\u{feff}",
    r#"{"ts":"2026-01-03T00:00:00-05:00","event":"nav","session_id":"c","seq":1,"seq_note":-0,"input_t":-1}"#,
    "\n",
    r#"{"ts":"2026-01-03T06:00:00Z","event":"nav","session_id":"c","seq":2,"model":"m2","files":[]}"#,
    "\n",
    r#"{"ts":"2026-01-03T07:00:00Z","ev"#,
);

/// A store: an archive, a sealed plain segment and a live file, with
/// lines of every kind (compact, spaced, escaped, duplicate keys, floats
/// in `extra`, glued, malformed, blank, CRLF, BOM, a torn tail).
fn store(dir: &Path) -> PathBuf {
    gz(&dir.join("audit-20260102T000000Z-000001.jsonl.gz"), ARCHIVE);
    fs::write(dir.join("audit-20260102T050000Z-000002.jsonl"), SEALED).unwrap();
    let live = dir.join("audit.jsonl");
    fs::write(&live, LIVE).unwrap();
    live
}

#[test]
fn the_fast_path_writes_the_record_paths_files_byte_for_byte() {
    // Two workers: each source a group of its own (five parts); one: the
    // archive and the sealed segment in one group, so their 2026-01-02
    // rows share a part (four).
    check_fast_against_records(2, 5);
    check_fast_against_records(1, 4);
}

fn check_fast_against_records(threads: usize, first_files: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let sdir = tmp.path().join("store");
    fs::create_dir(&sdir).unwrap();
    let live = store(&sdir);
    let (fast, slow) = (tmp.path().join("fast"), tmp.path().join("slow"));
    let none = Filter::new();
    for round in 0..2 {
        let (f, fs_) = export_store(&fast, &live, &none, threads).unwrap();
        let (s, ss) =
            export_segments(&slow, Inputs::store(&live).unwrap(), &none, threads).unwrap();
        assert_eq!(summary(&f), summary(&s), "round {round}");
        assert_eq!((fs_.count, &fs_.examples), (ss.count, &ss.examples));
        if round == 0 {
            assert_eq!(summary(&f), (11, 0, first_files, 1));
            // not json, [1,2] (malformed), the glued fragment, the torn tail.
            assert_eq!(fs_.count, 4);
            assert!(fs_.examples[0].contains("000001.jsonl.gz:4 "), "{fs_:?}");
        } else {
            assert_eq!(summary(&f), (2, 11, 2, 2));
        }
        let (tf, ts) = (tree(&fast), tree(&slow));
        assert_eq!(
            tf.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            ts.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
        for ((p, a), (_, b)) in tf.iter().zip(&ts) {
            assert!(a == b, "{} differs", p.display());
        }
        // More records, for the incremental round.
        let mut l = fs::OpenOptions::new().append(true).open(&live).unwrap();
        l.write_all(b"ent\":\"x\"}\n{\"ts\":\"2026-01-04T00:00:00Z\",\"event\":\"nav\",\"session_id\":\"c\",\"seq\":3}\n")
            .unwrap();
    }
}

#[test]
fn a_filtered_export_of_a_store_goes_through_the_scanner() {
    let tmp = tempfile::tempdir().unwrap();
    let sdir = tmp.path().join("store");
    fs::create_dir(&sdir).unwrap();
    let live = store(&sdir);
    let since = scout_audit_core::Timestamp::parse("2026-01-02T00:00:00Z").unwrap();
    let filter = Filter::new().with_since(Some(since));
    let (f, _) = export_store(&tmp.path().join("a"), &live, &filter, 2).unwrap();
    let (s, _) = export_segments(
        &tmp.path().join("b"),
        Inputs::store(&live).unwrap(),
        &filter,
        2,
    )
    .unwrap();
    assert_eq!(summary(&f), summary(&s));
    // Exactly the records the scanner matches.
    let matched = scout_audit_scan::Scan::new(Inputs::store(&live).unwrap())
        .filter(filter.clone())
        .count()
        .unwrap()
        .value;
    assert_eq!(f.records, matched);
    // Since 2026-01-02: the archive's last three (the glued one included),
    // the sealed segment's two with a ts, the live file's two.
    assert_eq!(matched, 7);
    assert_eq!(tree(&tmp.path().join("a")), tree(&tmp.path().join("b")));
}
