//! Records are merged only when they are the same record: several processes
//! logging under one session id (each writes seq 0) keep every record
//! through `copy`, incremental `export` and `verify`.

use serde_json::Value;

use crate::support::*;

fn sqlite_addr(s: &Store, name: &str) -> String {
    format!("sqlite:{}", s.dir.path().join(name).display())
}

fn total_cost(records: &[Value]) -> f64 {
    records.iter().map(|r| r["cost"].as_f64().unwrap()).sum()
}

/// Three processes `log llm_call --cost N --field session_id=X`.
fn three_processes(s: &Store) {
    for cost in ["1", "2", "3"] {
        s.ok(&["log", "llm_call", "--cost", cost, "--field", "session_id=X"]);
    }
}

#[test]
fn three_processes_under_one_session_copy_to_sqlite_as_three_rows() {
    let s = Store::new();
    three_processes(&s);
    let recs = s.records();
    assert_eq!(recs.len(), 3);
    for r in &recs {
        assert_eq!(
            (r["session_id"].as_str(), r["seq"].as_u64()),
            (Some("X"), Some(0))
        );
        assert_eq!(r["writer"].as_str().map(str::len), Some(16), "{r}");
    }
    assert_ne!(recs[0]["writer"], recs[1]["writer"]);
    assert_ne!(recs[1]["writer"], recs[2]["writer"]);
    let db = sqlite_addr(&s, "x.db");
    let path = s.path.display().to_string();
    let out = s.bare(&["copy", "--from", &path, "--to", &db]).run().ok();
    assert_eq!(
        out,
        format!("copied 3 records from {path} to {db} (0 already there)\n")
    );
    let in_db = parse_jsonl(
        &s.bare(&["--path", &db, "query", "--format", "jsonl"])
            .run()
            .ok(),
    );
    assert_eq!(in_db, recs);
    assert_eq!(total_cost(&in_db), 6.0);
    let out = s.bare(&["copy", "--from", &path, "--to", &db]).run().ok();
    assert_eq!(
        out,
        format!("copied 0 records from {path} to {db} (3 already there)\n")
    );
    // verify: each writer's seq is continuous, on both backends.
    let o = s.cmd(&["verify"]).run();
    assert_eq!(o.code, Some(0), "{o:?}");
    assert!(
        o.stdout.starts_with("3 records, 1 sessions, 1 segments, "),
        "{o:?}"
    );
    assert!(o.stdout.ends_with(": OK\n"), "{o:?}");
    let o = s.bare(&["--path", &db, "verify"]).run();
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(o.stdout, format!("3 records, 1 sessions in {db}: OK\n"));
}

#[test]
fn incremental_export_keeps_a_later_record_of_a_shared_session() {
    let s = Store::new();
    three_processes(&s);
    let dir = s.dir.path().join("export");
    let out = s.ok(&["export", "--out", dir.to_str().unwrap()]);
    assert!(
        out.starts_with("exported 3 records into 1 files under ")
            && out.contains("(run 1, 0 already exported)"),
        "{out}"
    );
    // A fourth process logs $500 under X: seq 0 again, another writer.
    s.ok(&[
        "log",
        "llm_call",
        "--cost",
        "500",
        "--field",
        "session_id=X",
    ]);
    let out = s.ok(&["export", "--out", dir.to_str().unwrap()]);
    assert!(
        out.starts_with("exported 1 records into 1 files under ")
            && out.contains("(run 2, 3 already exported)"),
        "{out}"
    );
    let out = s.ok(&["export", "--out", dir.to_str().unwrap()]);
    assert!(
        out.starts_with("exported 0 records into 0 files under ")
            && out.contains("(run 3, 4 already exported)"),
        "{out}"
    );
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("_scout_audit_export.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["version"], 2);
    assert_eq!(manifest["writers"]["X"].as_object().unwrap().len(), 4);
}

/// A store written before the stamp: three processes' lines under session X,
/// all seq 0, no `writer`. Copy keeps all three; verify notes the shared
/// session but reports no problem.
#[test]
fn old_store_with_colliding_session_and_seq_copies_without_loss() {
    let s = Store::new();
    let line = |sec: u32, cost: u32| {
        format!(
            "{{\"ts\":\"2026-01-01T00:00:0{sec}+00:00\",\"event\":\"llm_call\",\"session_id\":\"X\",\"seq\":0,\"cost\":{cost}.0}}\n"
        )
    };
    let (a, b, c) = (line(1, 1), line(2, 2), line(3, 3));
    s.write("audit.jsonl", format!("{a}{b}{c}"));
    let db = sqlite_addr(&s, "old.db");
    let path = s.path.display().to_string();
    let out = s.bare(&["copy", "--from", &path, "--to", &db]).run().ok();
    assert_eq!(
        out,
        format!("copied 3 records from {path} to {db} (0 already there)\n")
    );
    let in_db = parse_jsonl(
        &s.bare(&["--path", &db, "query", "--format", "jsonl"])
            .run()
            .ok(),
    );
    assert_eq!(in_db, s.records());
    assert_eq!(total_cost(&in_db), 6.0);
    // And back into a new file store: the same three records.
    let other = Store::new();
    let path2 = other.path.display().to_string();
    let out = s.bare(&["copy", "--from", &db, "--to", &path2]).run().ok();
    assert_eq!(
        out,
        format!("copied 3 records from {db} to {path2} (0 already there)\n")
    );
    assert_eq!(other.records(), in_db);
    let o = s.cmd(&["verify"]).run();
    assert_eq!(o.code, Some(0), "{o:?}");
    let file = s.file("audit.jsonl");
    let file_note = |n: usize, at: usize| {
        format!(
            "note: {file}:{n} (byte {at}): session X: seq 0 where 1 was expected (unstamped records of a session several writers used)\n"
        )
    };
    let bytes = a.len() + b.len() + c.len();
    assert_eq!(
        o.stdout,
        format!(
            "{}{}3 records, 1 sessions, 1 segments, {bytes} bytes: OK\n",
            file_note(2, a.len()),
            file_note(3, a.len() + b.len())
        )
    );
    let o = s.bare(&["--path", &db, "verify"]).run();
    assert_eq!(o.code, Some(0), "{o:?}");
    let note = "note: session X: seq 0 where 1 was expected (unstamped records of a session several writers used)\n";
    assert_eq!(
        o.stdout,
        format!("{note}{note}3 records, 1 sessions in {db}: OK\n")
    );
    // Past --max-problems, a table store counts the notes left out; the
    // file store leaves them out silently.
    let o = s
        .bare(&["--path", &db, "verify", "--max-problems", "1"])
        .run();
    assert_eq!(
        o.stdout,
        format!("{note}note: ... and 1 more such breaks\n3 records, 1 sessions in {db}: OK\n")
    );
    let o = s.cmd(&["verify", "--max-problems", "1"]).run();
    assert_eq!(
        o.stdout,
        format!(
            "{}3 records, 1 sessions, 1 segments, {bytes} bytes: OK\n",
            file_note(2, a.len())
        )
    );
}

/// The three processes' records copied to PostgreSQL (when
/// `SCOUT_AUDIT_PG_URL` names a server): three rows, then none again.
#[test]
fn three_processes_under_one_session_copy_to_postgres_as_three_rows() {
    let Ok(url) = std::env::var("SCOUT_AUDIT_PG_URL") else {
        println!("skipped: SCOUT_AUDIT_PG_URL is not set");
        return;
    };
    let db = format!("cli_keys_{}", std::process::id());
    let admin = |sql: &str| {
        let o = std::process::Command::new("psql")
            .args([url.as_str(), "-qc", sql])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    admin(&format!("DROP DATABASE IF EXISTS {db}"));
    admin(&format!("CREATE DATABASE {db}"));
    let pg = format!("{}/{db}", url.rsplit_once('/').unwrap().0);
    let s = Store::new();
    three_processes(&s);
    let path = s.path.display().to_string();
    let out = s.bare(&["copy", "--from", &path, "--to", &pg]).run().ok();
    assert_eq!(
        out,
        format!("copied 3 records from {path} to {pg} (0 already there)\n")
    );
    let out = s.bare(&["copy", "--from", &path, "--to", &pg]).run().ok();
    assert_eq!(
        out,
        format!("copied 0 records from {path} to {pg} (3 already there)\n")
    );
    let in_db = parse_jsonl(
        &s.bare(&["--path", &pg, "query", "--format", "jsonl"])
            .run()
            .ok(),
    );
    assert_eq!(in_db, s.records());
    assert_eq!(total_cost(&in_db), 6.0);
    let o = s.bare(&["--path", &pg, "verify"]).run();
    assert_eq!(o.code, Some(0), "{o:?}");
    admin(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
}

/// `copy` prints the rows the target stored: a line the source holds twice
/// is one row in a table ("1 already there"), and two lines in a file
/// store, as in the source.
#[test]
fn copy_counts_the_rows_a_table_inserted() {
    let s = Store::new();
    let line = "{\"ts\":\"2026-01-01T00:00:01+00:00\",\"event\":\"nav\",\"session_id\":\"py\"}\n";
    s.write("audit.jsonl", format!("{line}{line}"));
    let db = sqlite_addr(&s, "dup.db");
    let path = s.path.display().to_string();
    let out = s.bare(&["copy", "--from", &path, "--to", &db]).run().ok();
    assert_eq!(
        out,
        format!("copied 1 records from {path} to {db} (1 already there)\n")
    );
    let other = Store::new();
    let path2 = other.path.display().to_string();
    let out = s
        .bare(&["copy", "--from", &path, "--to", &path2])
        .run()
        .ok();
    assert_eq!(
        out,
        format!("copied 2 records from {path} to {path2} (0 already there)\n")
    );
    assert_eq!(other.records(), s.records());
    let out = s
        .bare(&["copy", "--from", &path, "--to", &path2])
        .run()
        .ok();
    assert_eq!(
        out,
        format!("copied 0 records from {path} to {path2} (2 already there)\n")
    );
}

/// verify still finds a hole in one writer's seq among several writers of
/// one session, and names the writer.
#[test]
fn verify_finds_a_hole_in_one_writers_seq() {
    let s = Store::new();
    let line = |w: &str, seq: u64| {
        format!(
            "{{\"ts\":\"2026-01-01T00:00:0{seq}+00:00\",\"event\":\"nav\",\"session_id\":\"X\",\"seq\":{seq},\"writer\":\"{w}\"}}\n"
        )
    };
    let (w1, w2) = ("00000000000000a1", "00000000000000a2");
    let lines = [line(w1, 0), line(w2, 0), line(w2, 1), line(w1, 2)];
    s.write("audit.jsonl", lines.concat());
    let o = s.cmd(&["verify"]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    let at: usize = lines[..3].iter().map(String::len).sum();
    let bytes: usize = lines.iter().map(String::len).sum();
    assert_eq!(
        o.stdout,
        format!(
            "{}:4 (byte {at}): session X (writer {w1}): seq 2 where 1 was expected\n\
             4 records, 1 sessions, 1 segments, {bytes} bytes: 1 problem\n",
            s.file("audit.jsonl")
        )
    );
}

/// A version 1 manifest (per-session marks only, written before the stamp)
/// still reads: its marks cover the unstamped records, and a stamped record
/// of the same session and seq is exported.
#[test]
fn version_1_export_manifest_reads_and_stamped_records_are_new() {
    let s = Store::new();
    let old = "{\"ts\":\"2026-01-01T00:00:01+00:00\",\"event\":\"llm_call\",\"session_id\":\"X\",\"seq\":0,\"cost\":1.0}\n";
    let new = "{\"ts\":\"2026-01-01T00:00:02+00:00\",\"event\":\"llm_call\",\"session_id\":\"X\",\"seq\":0,\"writer\":\"00000000000000a1\",\"cost\":500.0}\n";
    s.write("audit.jsonl", format!("{old}{new}"));
    let dir = s.dir.path().join("export");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("_scout_audit_export.json"),
        r#"{"version":1,"runs":1,"sessions":{"X":0},"seqless_ts":null,"undated_seqless_done":false}"#,
    )
    .unwrap();
    let out = s.ok(&["export", "--out", dir.to_str().unwrap()]);
    assert!(
        out.starts_with("exported 1 records into 1 files under ")
            && out.contains("(run 2, 1 already exported)"),
        "{out}"
    );
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("_scout_audit_export.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            &manifest["version"],
            &manifest["sessions"],
            &manifest["writers"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!({"X": 0}),
            &serde_json::json!({"X": {"00000000000000a1": 0}})
        )
    );
}
