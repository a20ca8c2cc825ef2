//! Compatibility both ways with the Python original: fixtures it wrote
//! (checked in, so this runs without Python), and, where python3 and the
//! reference at ../shared/reference/audit.py are present, live runs of it.

use std::path::{Path, PathBuf};
use std::process::Command;

use scout_audit_core::agg::{Accuracy, ExactSum, LastN, spend_cutoff};
use scout_audit_core::{Durability, Event, Filter, Record, SessionId, Timestamp};
use scout_audit_store_file::options::RotateSize;
use scout_audit_store_file::reader::ProblemKind;
use scout_audit_store_file::{FileStore, Reader};
use serde_json::{Value, json};

use crate::support::*;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/python-v1").join(name)
}

fn records(path: &Path) -> (Vec<Record>, scout_audit_store_file::ReadReport) {
    read_all(path)
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// Checks every answer of an `oracle.py answer` JSON against the store at `path`.
fn check_answers(path: &Path, expected: &Value) {
    let (recs, report) = records(path);
    let now = ts(expected["now"].as_str().unwrap());
    assert_eq!(
        recs.len() as u64,
        expected["count_all"].as_u64().unwrap(),
        "count_all"
    );
    assert_eq!(
        report.problem_count(),
        expected["malformed_lines"].as_u64().unwrap(),
        "problems: {:?}",
        report.problems
    );
    for (event, n) in expected["count_by_event"].as_object().unwrap() {
        let f = Filter::new().event(event.as_str());
        let got = recs.iter().filter(|r| f.matches(r)).count() as u64;
        assert_eq!(got, n.as_u64().unwrap(), "count of {event}");
    }
    for (since, n) in expected["query_since"].as_object().unwrap() {
        let f = Filter::new().since(ts(since));
        let got = recs.iter().filter(|r| f.matches(r)).count() as u64;
        assert_eq!(got, n.as_u64().unwrap(), "query(since={since})");
    }
    for (hours, want) in expected["hourly_spend_fsum"].as_object().unwrap() {
        let h: f64 = hours.parse().unwrap();
        let got = match spend_cutoff(now, h) {
            None => 0.0,
            Some(cut) => {
                let mut s = ExactSum::new();
                for r in recs.iter().filter(|r| r.ts().is_some_and(|t| t >= cut)) {
                    s.add(r.cost().unwrap_or(0.0));
                }
                s.value().unwrap()
            }
        };
        let want = want.as_f64().unwrap();
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "hourly_spend({hours}) = {got}, fsum {want}"
        );
        let naive = expected["hourly_spend"][hours].as_f64().unwrap();
        assert!(
            (got - naive).abs() <= 1e-9 * naive.abs().max(1.0),
            "naive {naive} vs {got}"
        );
    }
    for (key, want) in expected["last_events"].as_object().unwrap() {
        let mut n = 0usize;
        let mut event = None;
        for part in key.split(',') {
            match part.split_once('=').unwrap() {
                ("n", v) => n = v.parse().unwrap(),
                ("event", v) => event = Some(v.to_owned()),
                other => panic!("{other:?}"),
            }
        }
        let mut last = LastN::new(n);
        for r in &recs {
            if event.as_deref().is_none_or(|e| r.event() == Some(e)) {
                last.push(Value::Object(r.fields().clone()));
            }
        }
        let got = Value::Array(last.into_vec());
        assert_json_eq(&got, want, key);
    }
    for (since, want) in expected["accuracy_metrics"].as_object().unwrap() {
        let cut = ts(since);
        let mut acc = Accuracy::default();
        for r in recs.iter().filter(|r| r.ts().is_some_and(|t| t >= cut)) {
            acc.add(r.event());
        }
        let m = acc.finish();
        assert_eq!(
            json!({"total_nav": m.total_nav, "validation_fail_count": m.validation_fail_count, "accuracy_pct": m.accuracy_pct}),
            *want,
            "accuracy_metrics(since={since})"
        );
    }
}

/// JSON equality with numbers compared as f64 (Python's `4.0` and `4`).
fn assert_json_eq(got: &Value, want: &Value, ctx: &str) {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            assert_eq!(a.as_f64(), b.as_f64(), "{ctx}: {a} vs {b}")
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{ctx}: {got} vs {want}");
            for (x, y) in a.iter().zip(b) {
                assert_json_eq(x, y, ctx);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<&String> = a.keys().collect();
            let kb: Vec<&String> = b.keys().collect();
            assert_eq!(ka, kb, "{ctx}: field order");
            for (k, v) in a {
                assert_json_eq(v, &b[k], ctx);
            }
        }
        _ => assert_eq!(got, want, "{ctx}"),
    }
}

#[test]
fn python_written_fixture_with_archives() {
    let dir = fixture("rotated");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    // Archives are read in name order, then the live file.
    let r = Reader::open(dir.join("audit.jsonl")).unwrap();
    let names: Vec<String> = r
        .sources()
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let want: Vec<&str> = expected["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, want);
    check_answers(&dir.join("audit.jsonl"), &expected);
}

#[test]
fn python_edge_fixture() {
    let dir = fixture("edge");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    check_answers(&dir.join("audit.jsonl"), &expected);
    let (recs, report) = records(&dir.join("audit.jsonl"));
    assert_eq!(
        recs.iter().filter(|r| r.ts().is_none()).count() as u64,
        expected["records_without_valid_ts"].as_u64().unwrap()
    );
    let got: Vec<(u64, u64, &str)> = report
        .problems
        .iter()
        .map(|p| {
            let kind = match &p.kind {
                ProblemKind::Malformed(m) if m.contains("not a JSON object") => "not_an_object",
                ProblemKind::Malformed(m) if m.contains("invalid JSON") => "invalid_utf8",
                ProblemKind::TornFragment => "torn_fragment",
                ProblemKind::TornTail(_) => "torn_tail",
                other => panic!("unexpected {other:?}"),
            };
            (p.line, p.offset, kind)
        })
        .collect();
    let want: Vec<(u64, u64, &str)> = expected["malformed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["line"].as_u64().unwrap(),
                m["offset"].as_u64().unwrap(),
                m["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
}

/// python3 and the reference, or `None` (and a note on stdout) to skip.
fn python() -> Option<(String, PathBuf)> {
    let reference = std::env::var_os("SCOUT_AUDIT_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/reference/audit.py"));
    if !reference.exists() {
        println!(
            "skipped: the Python reference is not at {}",
            reference.display()
        );
        return None;
    }
    match Command::new("python3").arg("--version").output() {
        Ok(o) if o.status.success() => Some(("python3".into(), reference)),
        _ => {
            println!("skipped: python3 is not available");
            None
        }
    }
}

fn oracle(py: &(String, PathBuf), args: &[&str]) -> Value {
    let out = Command::new(&py.0)
        .arg(repo_root().join("tests/python/oracle.py"))
        .args(args)
        .env("SCOUT_AUDIT_REFERENCE", &py.1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oracle {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn live_python_writes_and_scout_audit_answers_the_same() {
    let Some(py) = python() else { return };
    let t = temp_store();
    let p = t.path.to_str().unwrap();
    oracle(
        &py,
        &[
            "write",
            "--path",
            p,
            "--events",
            "400",
            "--seed",
            "7",
            "--rotate-bytes",
            "30000",
        ],
    );
    let expected = oracle(
        &py,
        &[
            "answer",
            "--path",
            p,
            "--now",
            "mid+1h",
            "--include-archives",
        ],
    );
    assert!(
        expected["files"].as_array().unwrap().len() >= 3,
        "{}",
        expected["files"]
    );
    check_answers(&t.path, &expected);
}

#[test]
fn live_python_reads_every_line_scout_audit_writes() {
    let Some(py) = python() else { return };
    let t = temp_store();
    let store = FileStore::builder(&t.path)
        .durability(Durability::Sync)
        .rotate_size(RotateSize::bytes(8000))
        .session(SessionId::new("for-python"))
        .open()
        .unwrap();
    let mut navs = 0;
    let mut fails = 0;
    for i in 0..300u64 {
        let e = match i % 5 {
            0 => {
                fails += 1;
                Event::new("validation_fail").reason("path \"x\" not found\n")
            }
            1 => Event::new("llm_call")
                .cost(0.000123 * i as f64)
                .model("claude-sonnet")
                .input_t(i * 10)
                .output_t(i)
                .config(json!({"temperature": 0.2, "tools": ["a", "b"]})),
            2 => Event::new("brief")
                .field("note", "caf\u{e9} \u{1F600} \u{1}")
                .cost(f64::NAN),
            _ => {
                navs += 1;
                Event::new("nav")
                    .files(["src/main.rs", "docs/ü.md"])
                    .confidence(90)
                    .duration_ms(12)
                    .field("nested", json!({"ts": "x", "n": null}))
            }
        };
        store.append(e).unwrap();
    }
    store.close().unwrap();
    // The session was given: every line carries the `writer` stamp, which
    // the original must read past (it ignores unknown keys).
    let live = std::fs::read_to_string(&t.path).unwrap();
    assert!(live.lines().all(|l| l.contains(",\"writer\":\"")), "{live}");
    let got = oracle(
        &py,
        &[
            "read",
            "--path",
            t.path.to_str().unwrap(),
            "--include-archives",
        ],
    );
    assert_eq!(got["bad_lines"], 0);
    assert_eq!(got["ts_not_python_form"], 0);
    assert_eq!(got["records"], 300);
    assert_eq!(got["accuracy"]["total_nav"], navs);
    assert_eq!(got["accuracy"]["validation_fail_count"], fails);
    assert_eq!(got["seq"]["for-python"]["contiguous_in_order"], true);
    assert!(
        got["files"].as_array().unwrap().len() >= 3,
        "{}",
        got["files"]
    );
    // And the live file alone, as the original reads it.
    let live_only = oracle(&py, &["read", "--path", t.path.to_str().unwrap()]);
    assert_eq!(live_only["bad_lines"], 0);
}
