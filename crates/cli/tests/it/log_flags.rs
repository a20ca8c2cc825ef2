//! `log EVENT` with flags: every field, the written order, acknowledgements,
//! and bad flags that must write nothing.

use serde_json::{Value, json};

use crate::support::{Store, assert_python_ts, assert_uuid4};

#[test]
fn every_flag_is_written_in_the_documented_order() {
    let s = Store::new();
    let acked = s.ok(&[
        "log",
        "llm_call",
        "--cost",
        "0.25",
        "--model",
        "claude-sonnet-4",
        "--input-t",
        "900",
        "--output-t",
        "120",
        "--file",
        "src/a.rs",
        "--file",
        "docs/b c.md",
        "--reason",
        "budget, \"soft\" limit",
        "--confidence",
        "-7",
        "--duration-ms",
        "1500",
        "--config",
        r#"{"tier":2,"fallback":true,"models":["a","b"]}"#,
        "--field",
        r#"extra={"k":[1,2.5,null]}"#,
        "--field",
        "note=not json at all",
        "--field",
        "n=42",
        "--field",
        "empty=",
        "--ack",
    ]);
    assert_eq!(acked, "0\n");
    let recs = s.records();
    assert_eq!(recs.len(), 1);
    let r = recs[0].as_object().unwrap();
    let keys: Vec<&str> = r.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "ts",
            "event",
            "session_id",
            "seq",
            "cost",
            "model",
            "input_t",
            "output_t",
            "files",
            "reason",
            "confidence",
            "duration_ms",
            "config",
            "extra",
            "note",
            "n",
            "empty"
        ]
    );
    assert_python_ts(&r["ts"]);
    assert_uuid4(&r["session_id"]);
    let mut rest = r.clone();
    rest.remove("ts");
    rest.remove("session_id");
    assert_eq!(
        Value::Object(rest),
        json!({
            "event": "llm_call",
            "seq": 0,
            "cost": 0.25,
            "model": "claude-sonnet-4",
            "input_t": 900,
            "output_t": 120,
            "files": ["src/a.rs", "docs/b c.md"],
            "reason": "budget, \"soft\" limit",
            "confidence": -7,
            "duration_ms": 1500,
            "config": {"tier": 2, "fallback": true, "models": ["a", "b"]},
            "extra": {"k": [1, 2.5, null]},
            "note": "not json at all",
            "n": 42,
            "empty": "",
        })
    );
    // The file holds exactly that line, as query printed it.
    let raw = std::fs::read_to_string(&s.path).unwrap();
    assert_eq!(raw, format!("{}\n", recs[0]));
}

#[test]
fn each_process_is_a_new_session_from_seq_0_and_ack_prints_it() {
    let s = Store::new();
    for d in ["buffered", "process", "sync"] {
        assert_eq!(s.ok(&["log", "nav", "--ack", "--durability", d]), "0\n");
    }
    // Without --ack nothing is printed.
    assert_eq!(s.ok(&["log", "brief"]), "");
    let recs = s.records();
    let keys: Vec<Vec<&str>> = recs
        .iter()
        .map(|r| r.as_object().unwrap().keys().map(String::as_str).collect())
        .collect();
    assert_eq!(keys, vec![vec!["ts", "event", "session_id", "seq"]; 4]);
    let seqs: Vec<u64> = recs.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [0, 0, 0, 0]);
    let sessions: std::collections::HashSet<&str> = recs
        .iter()
        .map(|r| r["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(sessions.len(), 4);
    let events: Vec<&str> = recs.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["nav", "nav", "nav", "brief"]);
}

#[test]
fn bad_flags_are_one_line_errors_and_write_nothing() {
    let s = Store::new();
    // Our own errors: exit 1, one line.
    for (args, want) in [
        (
            &["--config", "{bad"][..],
            "scout-audit: error: --config is not JSON: {bad: key must be a string at line 1 column 2",
        ),
        (
            &["--field", "nokey"],
            "scout-audit: error: --field \"nokey\": expected KEY=VALUE",
        ),
        (
            &["--field", "=1"],
            "scout-audit: error: --field \"=1\": the key is empty",
        ),
        (
            &["--field", "cost=cheap"],
            "scout-audit: error: invalid event: field \"cost\" must be a number, not a string",
        ),
        (
            &["--field", "seq=3"],
            "scout-audit: error: invalid event: field \"seq\" is assigned by the writer",
        ),
    ] {
        let mut a = vec!["log", "nav"];
        a.extend_from_slice(args);
        assert_eq!(s.cmd(&a).run().error(), want, "{args:?}");
        assert!(!s.store_dir().exists(), "{args:?} created the store");
    }
    // Usage errors: clap's message, exit 2.
    for (args, want) in [
        (
            &["log", "nav", "--durability", "fast"][..],
            "error: invalid value 'fast' for '--durability <DURABILITY>': unknown durability \"fast\" (expected buffered, process or sync)",
        ),
        (
            &["log", "nav", "--cost", "inf"],
            "error: invalid value 'inf' for '--cost <COST>': inf is not a finite number",
        ),
        (
            &["log", "nav", "--cost=NaN"],
            "error: invalid value 'NaN' for '--cost <COST>': NaN is not a finite number",
        ),
        (
            &["log", "nav", "--confidence", "high"],
            "error: invalid value 'high' for '--confidence <CONFIDENCE>': invalid digit found in string",
        ),
        (
            &["log", "nav", "--input-t", "-1"],
            "error: unexpected argument '-1' found",
        ),
        (
            &["log"],
            "error: the following required arguments were not provided:",
        ),
        (
            &["log", "nav", "--stdin"],
            "error: the argument '[EVENT]' cannot be used with '--stdin'",
        ),
        (
            &["--rotate-size", "1.5G", "log", "nav"],
            "error: invalid value '1.5G' for '--rotate-size <BYTES>': unknown size unit \".5G\" in \"1.5G\"",
        ),
    ] {
        let o = s.cmd(args).run();
        assert_eq!(o.code, Some(2), "{args:?}: {o:?}");
        assert_eq!(o.stdout, "");
        assert_eq!(o.stderr.lines().next(), Some(want), "{args:?}");
        assert!(!s.store_dir().exists(), "{args:?} created the store");
    }
}
