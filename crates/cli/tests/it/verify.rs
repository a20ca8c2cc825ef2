//! `verify`: exit 0 on a healthy store; exit 1 and one located line per
//! problem otherwise.

use crate::support::{Store, archive_of, numbered};

fn line(seq: u64, session: &str) -> String {
    format!(
        "{{\"ts\":\"2026-01-01T00:00:{seq:02}Z\",\"event\":\"nav\",\"session_id\":\"{session}\",\"seq\":{seq}}}\n"
    )
}

/// Runs verify, which must fail (exit 1, nothing on stderr); its stdout.
fn verify_fails(s: &Store) -> String {
    let o = s.cmd(&["verify"]).run();
    assert_eq!((o.code, o.stderr.as_str()), (Some(1), ""), "{o:?}");
    o.stdout
}

#[test]
fn healthy_store_after_rotations_is_ok() {
    let s = Store::new();
    s.log_lines(&["--rotate-size", "2K"], &numbered("a", 100));
    s.log_lines(&["--rotate-size", "2K"], &numbered("b", 50));
    s.ok(&["rotate"]);
    s.log_lines(&[], &numbered("c", 3));
    let archives = s.files().iter().filter(|f| f.ends_with(".gz")).count();
    // Every record as written: the bytes verify reads.
    let bytes = s.ok(&["query", "--format", "jsonl"]).len();
    assert_eq!(
        s.ok(&["verify"]),
        format!(
            "153 records, 3 sessions, {} segments, {bytes} bytes: OK\n",
            archives + 1
        )
    );
}

#[test]
fn malformed_line_in_the_middle() {
    let s = Store::new();
    let text = format!(
        "{}{{\"ts\":\"2026-01-01T00:00:01Z\",\"ev\n{}",
        line(0, "s"),
        line(1, "s")
    );
    s.write("audit.jsonl", &text);
    let at = line(0, "s").len();
    assert_eq!(
        verify_fails(&s),
        format!(
            "{}:2 (byte {at}): malformed line: invalid JSON: EOF while parsing a string at line 1 column 32\n\
             2 records, 1 sessions, 1 segments, {} bytes: 1 problem\n",
            s.path.display(),
            text.len()
        )
    );
}

#[test]
fn seq_gap() {
    let s = Store::new();
    let text = [
        line(0, "s"),
        line(0, "t"),
        line(1, "s"),
        line(3, "s"),
        line(1, "t"),
    ]
    .concat();
    s.write("audit.jsonl", &text);
    let at = [line(0, "s"), line(0, "t"), line(1, "s")].concat().len();
    assert_eq!(
        verify_fails(&s),
        format!(
            "{}:4 (byte {at}): session s: seq 3 where 2 was expected\n\
             5 records, 2 sessions, 1 segments, {} bytes: 1 problem\n",
            s.path.display(),
            text.len()
        )
    );
}

#[test]
fn leftover_temp_files() {
    // A .gz.tmp with no sealed segment and no archive: nothing will finish
    // it, and it is never read.
    let s = Store::new();
    s.write("audit.jsonl", line(0, "s"));
    s.write("audit-20260101T000000Z-000001.jsonl.gz.tmp", "partial");
    let tmp = s.file("audit-20260101T000000Z-000001.jsonl.gz.tmp");
    let want = format!(
        "{tmp}: leftover temporary file\n1 records, 1 sessions, 1 segments, 69 bytes: 1 problem\n"
    );
    assert_eq!(verify_fails(&s), want);
    // A writer keeps it (it may be all that is left of a segment).
    s.ok(&["log", "nav"]);
    assert!(
        s.files()
            .contains(&"audit-20260101T000000Z-000001.jsonl.gz.tmp".to_owned())
    );

    // An interrupted compression (sealed .jsonl beside its .gz.tmp): reported,
    // then redone by the next writer to open the store.
    let s = Store::new();
    let sealed = "audit-20260101T000000Z-000001.jsonl";
    s.write(sealed, line(0, "s"));
    s.write(&format!("{sealed}.gz.tmp"), "partial");
    assert_eq!(
        verify_fails(&s),
        format!(
            "{}.gz.tmp: leftover temporary file\n\
             note: sealed segment not yet compressed: {}\n\
             1 records, 1 sessions, 1 segments, 69 bytes: 1 problem\n",
            s.file(sealed),
            s.file(sealed)
        )
    );
    s.ok(&["log", "nav"]);
    assert_eq!(
        s.files(),
        [
            &format!("{sealed}.gz"),
            &format!("{sealed}.gz.idx"),
            "audit.jsonl",
            "audit.lock"
        ]
    );
    assert!(s.ok(&["verify"]).ends_with(": OK\n"));
}

/// An archive that differs from the sealed segment of the same name (only
/// a foreign hand makes one): counted as a problem like any other.
#[test]
fn an_archive_differing_from_its_sealed_segment_is_one_problem() {
    let s = Store::new();
    let sealed = "audit-20260101T000000Z-000001.jsonl";
    s.write(sealed, line(0, "s"));
    std::fs::write(
        s.store_dir().join(format!("{sealed}.gz")),
        archive_of(&line(7, "other")),
    )
    .unwrap();
    assert_eq!(
        verify_fails(&s),
        format!(
            "{}.gz: differs from the sealed segment of the same name; its records are not read\n\
             note: sealed segment not yet compressed: {}\n\
             1 records, 1 sessions, 1 segments, 69 bytes: 1 problem\n",
            s.file(sealed),
            s.file(sealed)
        )
    );
}

#[test]
fn truncated_and_non_gzip_archives() {
    let s = Store::new();
    let archived = [line(0, "s"), line(1, "s")].concat();
    let gz = archive_of(&archived);
    let truncated = "audit-20260101T000000Z-000001.jsonl.gz";
    s.write(truncated, &gz[..gz.len() - 8]);
    s.write("audit.jsonl", line(0, "t"));
    let out = verify_fails(&s);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    // The checksum and length trailer is missing: the records were read,
    // the damage is reported.
    assert!(
        lines[0].starts_with(&format!("{}: damaged gzip after ", s.file(truncated))),
        "{out}"
    );
    assert!(
        lines[1].starts_with("3 records, 2 sessions, 2 segments, "),
        "{out}"
    );
    assert!(lines[1].ends_with(" bytes: 1 problem"), "{out}");

    // Half an archive: what precedes the damage, nothing invented.
    let s = Store::new();
    s.write(truncated, &gz[..gz.len() / 2]);
    s.write("audit.jsonl", line(0, "t"));
    let out = verify_fails(&s);
    assert!(
        out.starts_with(&format!("{}: damaged gzip after ", s.file(truncated))),
        "{out}"
    );
    assert!(out.ends_with(" bytes: 1 problem\n"), "{out}");

    // Not gzip at all.
    let s = Store::new();
    let bad = "audit-20260101T000000Z-000001.jsonl.gz";
    s.write(bad, "this is plain text, not gzip\n");
    s.write("audit.jsonl", line(0, "t"));
    let out = verify_fails(&s);
    assert!(
        out.starts_with(&format!("{}: damaged gzip after 0 bytes: ", s.file(bad))),
        "{out}"
    );
    assert!(
        out.ends_with("\n1 records, 1 sessions, 2 segments, 69 bytes: 1 problem\n"),
        "{out}"
    );
}

#[test]
fn max_problems_prints_some_and_counts_all() {
    let s = Store::new();
    let text = [line(0, "s"), "x\n".repeat(5), line(1, "s")].concat();
    s.write("audit.jsonl", &text);
    let o = s.cmd(&["verify", "--max-problems", "2"]).run();
    assert_eq!((o.code, o.stderr.as_str()), (Some(1), ""));
    let out = o.stdout;
    let lines: Vec<&str> = out.lines().collect();
    let live = s.path.display();
    assert_eq!(
        lines,
        [
            format!(
                "{live}:2 (byte 69): malformed line: invalid JSON: expected value at line 1 column 1"
            ),
            format!(
                "{live}:3 (byte 71): malformed line: invalid JSON: expected value at line 1 column 1"
            ),
            "... and 3 more".to_owned(),
            format!(
                "2 records, 1 sessions, 1 segments, {} bytes: 5 problems",
                text.len()
            ),
        ]
    );
}

/// A record line (with its `\n`) of exactly `len` bytes.
fn long_line(len: usize) -> Vec<u8> {
    let mut l = br#"{"ts":"2026-01-01T00:00:01Z","event":"llm_call","cost":5,"pad":""#.to_vec();
    l.resize(len - 3, b'a');
    l.extend_from_slice(b"\"}\n");
    l
}

#[test]
fn a_line_over_the_bound_is_a_problem_in_the_middle_and_at_the_end() {
    const MAX_LINE: usize = 16 << 20;
    let big = long_line(17 << 20);
    for last in [false, true] {
        let s = Store::new();
        let mut text = line(0, "s").into_bytes();
        text.extend_from_slice(&big);
        if !last {
            text.extend_from_slice(line(1, "s").as_bytes());
        }
        s.write("audit.jsonl", &text);
        let at = line(0, "s").len();
        assert_eq!(
            verify_fails(&s),
            format!(
                "{}:2 (byte {at}): line of {} bytes is longer than the line bound ({MAX_LINE} bytes)\n\
                 {} records, 1 sessions, 1 segments, {} bytes: 1 problem\n",
                s.path.display(),
                big.len(),
                if last { 1 } else { 2 },
                text.len()
            ),
            "last: {last}"
        );
    }
    // At the bound exactly (MAX_LINE bytes before the `\n`): a record.
    let s = Store::new();
    let text = long_line(MAX_LINE + 1);
    s.write("audit.jsonl", &text);
    assert_eq!(
        s.ok(&["verify"]),
        format!(
            "1 records, 0 sessions, 1 segments, {} bytes: OK\n",
            text.len()
        )
    );
}
