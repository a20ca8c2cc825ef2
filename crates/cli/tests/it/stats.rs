//! `stats --format json` over a hand-made store: an archive, a live file
//! with a malformed line, a record without `ts` and a torn tail.

use serde_json::json;

use crate::support::{Store, archive_of};

const ARCHIVED: &str = concat!(
    r#"{"ts":"2026-01-01T00:00:00+00:00","event":"nav","session_id":"s","seq":0}"#,
    "\n",
    r#"{"ts":"2026-01-01T01:00:00Z","event":"llm_call","session_id":"s","seq":1,"cost":1}"#,
    "\n",
);

const LIVE: &str = concat!(
    r#"{"ts":"2026-01-02T00:00:00+02:00","event":"nav","session_id":"s","seq":2}"#,
    "\n",
    "not json\n",
    r#"{"event":"brief","session_id":"t","seq":0}"#,
    "\n",
    r#"{"ts":"2026-01-01T23:00:00Z","event":"nav","session_id":"t","seq":1}"#,
    "\n",
    r#"{"ts":"2026-01-0"#,
);

const ARCHIVE_NAME: &str = "audit-20260101T020000Z-000001.jsonl.gz";

/// The store, the archive's size, and the byte offsets of live lines 2 and 5.
fn damaged_store() -> (Store, u64, u64, u64) {
    let s = Store::new();
    let gz = archive_of(ARCHIVED);
    s.write(ARCHIVE_NAME, &gz);
    s.write("audit.jsonl", LIVE);
    let line2 = LIVE.find("not json").unwrap() as u64;
    let line5 = LIVE.rfind('\n').unwrap() as u64 + 1;
    (s, gz.len() as u64, line2, line5)
}

#[test]
fn stats_counts_and_locates() {
    let (s, gz_len, line2, line5) = damaged_store();
    let live = s.path.display().to_string();
    let out = s.ok(&["stats", "--format", "json"]);
    let torn = LIVE.len() as u64 - line5;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        json!({
            "path": live,
            "records": 5,
            "events": {"brief": 1, "llm_call": 1, "nav": 3},
            "records_without_event": 0,
            "records_without_ts": 1,
            "sessions": 2,
            "first_ts": "2026-01-01T00:00:00+00:00",
            "last_ts": "2026-01-01T23:00:00+00:00",
            "segments": {"archives": 1, "sealed": 0, "live": true},
            "bytes_on_disk": gz_len + LIVE.len() as u64,
            "bytes_read": (ARCHIVED.len() + LIVE.len()) as u64,
            "malformed": 1,
            "torn_tails": 1,
            "torn_fragments": 0,
            "damaged_segments": 0,
            "problems": [
                format!("{live}:2 (byte {line2}): malformed line: invalid JSON: expected ident at line 1 column 2"),
                format!("{live}:5 (byte {line5}): torn tail of {torn} bytes"),
            ],
            "quarantine_files": 0,
        })
    );
    // The keys in this order, for scripts that read them as text.
    assert!(out.starts_with(&format!(
        "{{\"path\":{:?},\"records\":5,\"events\":{{\"brief\":1,\"llm_call\":1,\"nav\":3}},",
        live
    )));
    // Reading repairs nothing: the torn tail is still there.
    assert_eq!(std::fs::read_to_string(&s.path).unwrap(), LIVE);
    assert_eq!(s.files(), [ARCHIVE_NAME, "audit.jsonl"]);
}

#[test]
fn stats_table_lists_problems() {
    let (s, _, line2, line5) = damaged_store();
    let live = s.path.display().to_string();
    let torn = LIVE.len() as u64 - line5;
    let out = s.ok(&["stats", "--format", "table"]);
    assert!(out.starts_with(&format!("STAT                VALUE\npath                {live}\nrecords             5\nsessions            2\n")), "{out}");
    assert!(
        out.contains("\nsegments            1 archives, 0 sealed, 1 live\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "\nEVENT     RECORDS\nbrief           1\nllm_call        1\nnav             3\n\n"
        ),
        "{out}"
    );
    assert!(out.ends_with(&format!("{live}:2 (byte {line2}): malformed line: invalid JSON: expected ident at line 1 column 2\n{live}:5 (byte {line5}): torn tail of {torn} bytes\n")), "{out}");
}

#[test]
fn a_writer_quarantines_the_torn_tail_and_continues_on_a_fresh_line() {
    let (s, _, _, line5) = damaged_store();
    assert_eq!(s.ok(&["log", "after", "--ack"]), "0\n");
    let files = s.files();
    // The archive, the index the writer built for it at open, the live
    // file, the quarantined tail and the lock.
    assert_eq!(files.len(), 5, "{files:?}");
    assert!(
        files.iter().any(|f| f.ends_with(".jsonl.gz.idx")),
        "{files:?}"
    );
    let q = files
        .iter()
        .find(|f| f.starts_with("audit.jsonl.torn-"))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(s.store_dir().join(q)).unwrap(),
        &LIVE[line5 as usize..]
    );
    let live = std::fs::read_to_string(&s.path).unwrap();
    assert!(live.starts_with(&LIVE[..line5 as usize]));
    assert_eq!(live[line5 as usize..].lines().count(), 1);
    let st: serde_json::Value = serde_json::from_str(&s.ok(&["stats"])).unwrap();
    assert_eq!(
        (
            &st["records"],
            &st["torn_tails"],
            &st["malformed"],
            &st["quarantine_files"]
        ),
        (&json!(6), &json!(0), &json!(1), &json!(1))
    );
}

/// Whether text holds a control character other than `\n` (ESC, BEL, C1...).
fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n')
}

#[test]
fn tables_escape_control_characters_from_event_names_and_file_names() {
    let s = Store::new();
    s.write(
        "audit.jsonl",
        concat!(
            r#"{"ts":"2026-01-01T00:00:00Z","event":"e\u001b]0;owned\u0007","session_id":"s\u001b[2J","seq":0,"model":"m\u009b31m"}"#,
            "\n",
            "\u{1b}[31mnot json\n",
            r#"{"ts":"2026-01-01T00:00:01Z","event":"nav","session_id":"s\u001b[2J","seq":5}"#,
            "\n",
        ),
    );
    let out = s.cmd(&["stats", "--format", "table"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!has_control(&out.stdout), "{:?}", out.stdout);
    assert!(
        out.stdout.contains("\ne\\x1b]0;owned\\x07  "),
        "{:?}",
        out.stdout
    );
    // The problem lines below the table are escaped too.
    assert!(out.stdout.contains("malformed line"), "{:?}", out.stdout);
    // JSON stays exact (escaped by JSON itself).
    let json = s.ok(&["stats", "--format", "json"]);
    assert!(json.contains(r#""e\u001b]0;owned\u0007":1"#), "{json}");
    // verify's messages: a seq gap names the session.
    let v = s.cmd(&["verify"]).run();
    assert!(!has_control(&v.stdout), "{:?}", v.stdout);
    assert!(
        v.stdout
            .contains(": session s\\x1b[2J: seq 5 where 1 was expected\n"),
        "{:?}",
        v.stdout
    );
    assert!(!has_control(&v.stderr), "{:?}", v.stderr);
    // query's and tail's tables.
    for cmd in ["query", "tail"] {
        let q = s.cmd(&[cmd, "--format", "table"]).run();
        assert_eq!(q.code, Some(0), "{q:?}");
        assert!(!has_control(&q.stdout), "{cmd}: {:?}", q.stdout);
        assert!(
            q.stdout.contains("  e\\x1b]0;owned\\x…  s\\x1b[2J  "),
            "{cmd}: {:?}",
            q.stdout
        );
    }
}

const SMALL: &str = concat!(
    r#"{"ts":"2026-01-01T00:00:01+00:00","event":"nav","session_id":"a","seq":0,"cost":0.5,"files":["x.rs"]}"#,
    "\n",
    r#"{"ts":"2026-01-02T00:00:00+00:00","event":"llm_call","session_id":"b","seq":0,"model":"m1"}"#,
    "\n",
    r#"{"session_id":"a","seq":1,"files":["x.rs","y.rs"]}"#,
    "\n",
);

const STATS_HEAD: &str = "\
records             3
sessions            2
first ts            2026-01-01T00:00:01+00:00
last ts             2026-01-02T00:00:00+00:00
records without ts  1
";

/// Every format of `stats --top-files` on a file store and on a table
/// store, byte for byte: a table store has no segments, no `(no event)`
/// row and no files' counts (it ignores `--top-files`).
#[test]
fn stats_prints_exactly_on_files_and_tables() {
    let s = Store::new();
    s.write("audit.jsonl", SMALL);
    let live = s.path.display().to_string();
    let files_table = format!(
        "STAT                VALUE\npath                {live}\n{STATS_HEAD}\
segments            0 archives, 0 sealed, 1 live
bytes on disk       245
bytes read          245
malformed lines     0
torn tails          0
torn fragments      0
damaged segments    0
quarantine files    0

EVENT       RECORDS
llm_call          1
nav               1
(no event)        1

FILE  RECORDS
x.rs        2
y.rs        1
"
    );
    let files_csv = format!(
        "STAT,VALUE\npath,{live}\nrecords,3\nsessions,2\nfirst ts,2026-01-01T00:00:01+00:00\n\
last ts,2026-01-02T00:00:00+00:00\nrecords without ts,1\nsegments,\"0 archives, 0 sealed, 1 live\"\n\
bytes on disk,245\nbytes read,245\nmalformed lines,0\ntorn tails,0\ntorn fragments,0\n\
damaged segments,0\nquarantine files,0\n\nEVENT,RECORDS\nllm_call,1\nnav,1\n(no event),1\n\n\
FILE,RECORDS\nx.rs,2\ny.rs,1\n"
    );
    let stats = |path: &str, format: &str| {
        s.bare(&[
            "--path",
            path,
            "stats",
            "--top-files",
            "2",
            "--format",
            format,
        ])
        .run()
        .ok()
    };
    assert_eq!(stats(&live, "table"), files_table);
    assert_eq!(stats(&live, "csv"), files_csv);

    let db = format!("sqlite:{}", s.dir.path().join("t.db").display());
    s.bare(&["copy", "--from", &live, "--to", &db]).run();
    let table_table = format!(
        "STAT                VALUE\npath                {db}\n{STATS_HEAD}\n\
EVENT     RECORDS\nllm_call        1\nnav             1\n"
    );
    let table_csv = format!(
        "STAT,VALUE\npath,{db}\nrecords,3\nsessions,2\nfirst ts,2026-01-01T00:00:01+00:00\n\
last ts,2026-01-02T00:00:00+00:00\nrecords without ts,1\n\nEVENT,RECORDS\nllm_call,1\nnav,1\n"
    );
    let table_json = format!(
        "{{\"path\":\"{db}\",\"records\":3,\"events\":{{\"llm_call\":1,\"nav\":1}},\
\"records_without_event\":1,\"records_without_ts\":1,\"sessions\":2,\
\"first_ts\":\"2026-01-01T00:00:01+00:00\",\"last_ts\":\"2026-01-02T00:00:00+00:00\"}}\n"
    );
    assert_eq!(stats(&db, "table"), table_table);
    assert_eq!(stats(&db, "csv"), table_csv);
    assert_eq!(stats(&db, "json"), table_json);
}
