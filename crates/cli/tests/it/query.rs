//! `query`: time windows compared as instants, the other filters,
//! `--limit`, `--count`, the output formats, and malformed lines.

use crate::support::{NOW, Store, column, parse_jsonl};

/// Seven records (field "n" 1..=7) whose `ts` use `Z`, `+02:00`, fractions,
/// and one has no `ts`. In instants: n=1 09:00, n=2 10:00, n=3 10:30:00.5,
/// n=4 11:00, n=5 11:59:59.999999, n=6 12:00 (all 2026-03-01 UTC).
const SEVEN: &str = r#"{"ts":"2026-03-01T09:00:00Z","event":"nav","session_id":"s1","model":"m1","n":1}
{"ts":"2026-03-01T12:00:00+02:00","event":"llm_call","session_id":"s1","model":"m2","n":2}
{"ts":"2026-03-01T10:30:00.5Z","event":"brief","session_id":"s2","model":"m1","n":3}
{"ts":"2026-03-01T13:00:00+02:00","event":"nav","session_id":"s2","model":"m1","n":4}
{"ts":"2026-03-01T11:59:59.999999Z","event":"validation_fail","session_id":"s1","n":5}
{"ts":"2026-03-01T12:00:00Z","event":"cascade","session_id":"s2","model":"m2","n":6}
{"event":"nav","session_id":"s3","n":7}
"#;

fn seven() -> Store {
    let s = Store::new();
    s.write("audit.jsonl", SEVEN);
    s
}

#[test]
fn filters_select_exactly_in_log_order() {
    let s = seven();
    let check = |args: &[&str], want: &[u64]| {
        let mut a = vec!["--now", NOW, "query", "--format", "jsonl"];
        a.extend_from_slice(args);
        let got = column(&parse_jsonl(&s.ok(&a)), "n");
        assert_eq!(got, want, "{args:?}");
    };
    check(&[], &[1, 2, 3, 4, 5, 6, 7]);
    // since inclusive (n=2 is exactly 10:00Z), records without ts never match.
    check(&["--since", "2h"], &[2, 3, 4, 5, 6]);
    check(&["--since", "90m"], &[3, 4, 5, 6]);
    // until exclusive.
    check(&["--until", "2026-03-01T12:00:00Z"], &[1, 2, 3, 4, 5]);
    check(&["--until", "now"], &[1, 2, 3, 4, 5]);
    // Instants, not strings: "12:00:00+02:00" is before 11:30Z...
    check(&["--since", "2026-03-01T11:30:00Z"], &[5, 6]);
    // ...and "13:00:00+02:00" is before 12:30+01:00 (= 11:30Z).
    check(&["--until", "2026-03-01T12:30:00+01:00"], &[1, 2, 3, 4]);
    check(
        &[
            "--since",
            "2026-03-01T10:00:00Z",
            "--until",
            "2026-03-01T10:30:00.5Z",
        ],
        &[2],
    );
    check(&["--since", "2026-03-01T10:30:00.500001Z"], &[4, 5, 6]);
    check(
        &["--since", "2026-03-01", "--until", "2026-03-02"],
        &[1, 2, 3, 4, 5, 6],
    );
    check(&["--since", "2026-03-02"], &[]);
    check(&["--until", "2026-03-01"], &[]);
    check(&["--event", "nav"], &[1, 4, 7]);
    check(&["--event", "nav", "--event", "brief"], &[1, 3, 4, 7]);
    check(&["--event", "nope"], &[]);
    check(&["--session", "s2"], &[3, 4, 6]);
    check(&["--model", "m1"], &[1, 3, 4]);
    check(&["--event", "nav", "--since", "2h"], &[4]);
    check(&["--session", "s1", "--model", "m2"], &[2]);
    check(&["--limit", "2"], &[1, 2]);
    check(&["--limit", "0"], &[]);
    check(&["--event", "nav", "--limit", "2"], &[1, 4]);
    // JSONL is the default when stdout is not a terminal, and prints the
    // lines as written.
    assert_eq!(s.ok(&["query"]), SEVEN);
    assert_eq!(s.ok(&["query", "--format", "json"]), SEVEN);
}

#[test]
fn count_plain_and_json() {
    let s = seven();
    let check = |args: &[&str], want: &str| {
        let mut a = vec!["--now", NOW, "query", "--count"];
        a.extend_from_slice(args);
        assert_eq!(s.ok(&a), want, "{args:?}");
    };
    check(&[], "7\n");
    check(&["--event", "nav"], "3\n");
    check(&["--since", "2h", "--until", "1h"], "2\n");
    check(&["--limit", "4"], "4\n");
    check(&["--limit", "0"], "0\n");
    check(&["--format", "json"], "{\"count\":7}\n");
    check(&["--format", "jsonl", "--session", "s3"], "{\"count\":1}\n");
    check(&["--format", "table", "--event", "nope"], "0\n");
}

#[test]
fn csv_and_table_formats() {
    let s = Store::new();
    s.write(
        "audit.jsonl",
        concat!(
            r#"{"ts":"2026-03-01T09:00:00Z","event":"nav","session_id":"s1","seq":0,"cost":0.5,"model":"m1","input_t":10,"output_t":2,"files":["a.rs","b.rs"],"reason":"a, \"b\"\nc","confidence":-1,"duration_ms":5,"config":{"t":1},"x":1}"#,
            "\n",
            r#"{"ts":"2026-03-01T10:00:00.123456+00:00","event":"brief","session_id":"0123456789abcdef","seq":1}"#,
            "\n"
        ),
    );
    assert_eq!(
        s.ok(&["query", "--format", "csv"]),
        "ts,event,session_id,seq,cost,model,input_t,output_t,files,reason,confidence,duration_ms,config,extra\n\
         2026-03-01T09:00:00Z,nav,s1,0,0.5,m1,10,2,\"[\"\"a.rs\"\",\"\"b.rs\"\"]\",\"a, \"\"b\"\"\nc\",-1,5,\"{\"\"t\"\":1}\",\"{\"\"x\"\":1}\"\n\
         2026-03-01T10:00:00.123456+00:00,brief,0123456789abcdef,1,,,,,,,,,,\n"
    );
    // CSV of nothing is nothing (no header without rows).
    assert_eq!(s.ok(&["query", "--format", "csv", "--event", "x"]), "");
    let table = s.ok(&["query", "--format", "table", "--event", "brief"]);
    assert_eq!(
        table.lines().map(str::trim_end).collect::<Vec<_>>(),
        [
            "TS                          EVENT             SESSION      SEQ        COST  MODEL                    IN      OUT  DETAILS",
            "2026-03-01T10:00:00.123456  brief             01234567       1           -  -                         -        -",
        ]
    );
}

#[test]
fn malformed_lines_are_skipped_with_one_summary_and_strict_fails_at_the_line() {
    let s = Store::new();
    s.write(
        "audit.jsonl",
        concat!(
            r#"{"ts":"2026-03-01T09:00:00Z","event":"nav","session_id":"s","seq":0}"#,
            "\nGARBAGE\n[1,2]\n",
            r#"{"ts":"2026-03-01T10:00:00Z","event":"nav","session_id":"s","seq":1}"#,
            "\n"
        ),
    );
    let path = s.path.display().to_string();
    let out = s.cmd(&["query", "--format", "jsonl"]).run();
    assert_eq!(out.code, Some(0));
    assert_eq!(column(&parse_jsonl(&out.stdout), "seq"), [0, 1]);
    assert_eq!(
        out.stderr,
        format!(
            "scout-audit: skipped 2 malformed or damaged items (first: {path}:2 (byte 69): malformed line: invalid JSON: expected value at line 1 column 1); `scout-audit verify` lists them\n"
        )
    );
    // The same for --count.
    let out = s.cmd(&["query", "--count"]).run();
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "2\n"));
    assert_eq!(out.stderr.lines().count(), 1);
    // --strict: fails at the first malformed line, with its location.
    let out = s.cmd(&["query", "--strict", "--format", "jsonl"]).run();
    assert_eq!(out.code, Some(1));
    assert_eq!(
        out.stderr,
        format!(
            "scout-audit: error: {path}:2 (byte 69): invalid JSON: expected value at line 1 column 1\n"
        )
    );
    // What preceded the bad line was printed (streamed output).
    assert_eq!(column(&parse_jsonl(&out.stdout), "seq"), [0]);
}

#[test]
fn bad_time_arguments_are_usage_errors() {
    let s = seven();
    for (arg, want) in [
        (
            "yesterday",
            "error: invalid value 'yesterday' for '--since <SINCE>': \"yesterday\" is not a time: use 2h, 30d, 2026-11-27 or 2026-11-27T05:00:00Z",
        ),
        (
            "2026-02-30",
            "error: invalid value '2026-02-30' for '--since <SINCE>': \"2026-02-30\" is not a date",
        ),
    ] {
        let out = s.cmd(&["query", "--since", arg]).run();
        assert_eq!((out.code, out.stdout.as_str()), (Some(2), ""), "{arg}");
        assert_eq!(out.stderr.lines().next(), Some(want), "{arg}");
    }
}

#[test]
fn read_commands_on_a_missing_store_answer_empty_and_create_nothing() {
    let s = Store::new();
    assert_eq!(s.ok(&["query"]), "");
    assert_eq!(s.ok(&["query", "--count"]), "0\n");
    assert_eq!(s.ok(&["tail", "-n", "5"]), "");
    assert_eq!(
        s.ok(&["--now", NOW, "spend", "--format", "json"]),
        "{\"total_cost\":0.0,\"records\":0,\"since\":\"2026-03-01T11:00:00+00:00\"}\n"
    );
    assert_eq!(
        s.ok(&["accuracy", "--format", "json"]),
        "{\"total_nav\":0,\"validation_fail_count\":0,\"accuracy_pct\":100.0}\n"
    );
    let st: serde_json::Value =
        serde_json::from_str(&s.ok(&["stats", "--format", "json"])).unwrap();
    assert_eq!(st["records"], 0);
    // verify says there is no store.
    assert_eq!(
        s.cmd(&["verify"]).run().error(),
        format!(
            "scout-audit: error: no store at {}: the directory does not exist",
            s.path.display()
        )
    );
    assert!(!s.store_dir().exists());
    assert!(!s.home().exists());
}

#[test]
fn python_archives_first_and_a_sealed_segment_beside_its_archive_read_once() {
    let s = Store::new();
    let a = "{\"ts\":\"2026-01-01T00:00:00Z\",\"event\":\"a\",\"session_id\":\"s\",\"seq\":0}\n";
    let gz = crate::support::archive_of(a);
    // Compression finishing: the sealed .jsonl and its .gz both present.
    s.write("audit-20260101T000000Z-000001.jsonl.gz", &gz);
    s.write("audit-20260101T000000Z-000001.jsonl", a);
    // An archive of the Python original (no number, naive ts).
    let py =
        crate::support::archive_of("{\"ts\":\"2025-01-01T00:00:00.000000\",\"event\":\"py\"}\n");
    s.write("audit_20250101T120000Z.jsonl.gz", &py);
    s.write(
        "audit.jsonl",
        "{\"ts\":\"2026-01-02T00:00:00Z\",\"event\":\"b\",\"session_id\":\"s\",\"seq\":1}\n",
    );
    assert_eq!(column(&s.records(), "event"), ["py", "a", "b"]);
    assert_eq!(
        s.ok(&["--now", NOW, "query", "--count", "--since", "3000d"]),
        "3\n"
    );
    assert!(
        s.ok(&["verify"])
            .ends_with("3 records, 1 sessions, 3 segments, 183 bytes: OK\n")
    );
}
