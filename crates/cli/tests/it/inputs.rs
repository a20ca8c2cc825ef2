//! Read commands over positional inputs (files, directories, globs) and
//! over indexed stores: the same answers, nothing written by a query.

use serde_json::{Value, json};

use crate::support::*;

const LINES: &str = "\
{\"ts\": \"2026-02-28T10:00:00+00:00\", \"event\": \"nav\", \"cost\": 0.25, \"model\": \"a\", \"files\": [\"x.rs\", \"y.rs\"]}\n\
{\"ts\":\"2026-02-28T11:00:00Z\",\"event\":\"validation_fail\",\"cost\":0.5,\"model\":\"b\",\"files\":[\"x.rs\"]}\n\
not json\n\
{\"ts\":\"2026-03-01T11:30:00+01:00\",\"event\":\"nav\",\"cost\":1,\"model\":\"a\"}\n";

fn json_of(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap()
}

#[test]
fn positional_files_dirs_and_globs() {
    let s = Store::new();
    s.write("one.jsonl", LINES);
    s.write("two.jsonl.gz", archive_of(LINES));
    let dir = s.store_dir();
    let one = s.file("one.jsonl");
    let two = s.file("two.jsonl.gz");
    let glob = format!("{}/*.jsonl*", dir.display());
    let dir_arg = dir.display().to_string();
    for inputs in [
        vec![one.as_str(), two.as_str()],
        vec![glob.as_str()],
        vec![dir_arg.as_str()],
    ] {
        let mut args = vec![
            "--now", NOW, "query", "--count", "--event", "nav", "--format", "json",
        ];
        args.extend(&inputs);
        // (`not json` cannot be a nav record: the prefilter skips it unread.)
        assert_eq!(json_of(&s.bare(&args).run().ok()), json!({"count": 4}));
        let mut args = vec![
            "--now",
            NOW,
            "spend",
            "--since",
            "2026-02-28T10:30:00Z",
            "--format",
            "json",
        ];
        args.extend(&inputs);
        let out = s.bare(&args).run();
        // The malformed line of each file is read and summarised once.
        assert!(
            out.stderr.starts_with("scout-audit: skipped 2 malformed"),
            "{}",
            out.stderr
        );
        let v = json_of(&out.stdout);
        assert_eq!(
            (v["total_cost"].clone(), v["records"].clone()),
            (json!(3.0), json!(4))
        );
        let mut args = vec!["accuracy", "--format", "json", "--threads", "1"];
        args.extend(&inputs);
        let v = json_of(&s.bare(&args).run().stdout);
        assert_eq!(
            v,
            json!({"total_nav": 4, "validation_fail_count": 2, "accuracy_pct": 50.0})
        );
    }
    let v = json_of(&s.bare(&["stats", "--top-files", "1", &one]).run().stdout);
    assert_eq!(v["records"], 3);
    assert_eq!(v["malformed"], 1);
    assert_eq!(v["top_files"], json!([{"file": "x.rs", "records": 2}]));
    let tail = s
        .bare(&["tail", "-n", "1", "--event", "nav", &one])
        .run()
        .ok();
    assert_eq!(parse_jsonl(&tail)[0]["model"], "a");
    assert_eq!(parse_jsonl(&tail).len(), 1);
    // Errors: one clear line.
    let missing = s.file("missing.jsonl");
    assert!(
        s.bare(&["query", &missing])
            .run()
            .error()
            .contains("no such file or directory")
    );
    let none = format!("{}/*.nothing", dir.display());
    assert!(
        s.bare(&["query", &none])
            .run()
            .error()
            .contains("no file matches")
    );
    assert!(
        s.bare(&["tail", "-f", &one])
            .run()
            .error()
            .contains("no INPUT")
    );
}

#[test]
fn index_makes_queries_read_less_and_answer_the_same() {
    let s = Store::new();
    // A Python-era store: an archive without index, and the live file.
    s.write("audit_20260228T120000Z.jsonl.gz", archive_of(LINES));
    s.write("audit.jsonl", LINES);
    let before = s.files();
    let q = [
        "--now",
        NOW,
        "query",
        "--count",
        "--since",
        "2026-02-28T00:00:00Z",
        "--format",
        "json",
    ];
    let cold = json_of(&s.cmd(&q).run().stdout);
    let by_model = ["--now", NOW, "spend", "--since", "2d", "--by", "model"];
    let spend = json_of(&s.cmd(&by_model).run().stdout);
    assert_eq!(cold, json!({"count": 6}));
    // Reading wrote nothing: no lock file, no index.
    assert_eq!(s.files(), before);
    let out = s.ok(&["index"]);
    assert!(
        out.ends_with("1 archive indexed, 0 reindexed, 0 already indexed, 0 damaged, 0 changed\n"),
        "{out}"
    );
    assert!(
        s.files()
            .contains(&"audit_20260228T120000Z.jsonl.gz.idx".to_owned())
    );
    let out = s.ok(&["index"]);
    assert!(
        out.ends_with("0 archives indexed, 0 reindexed, 1 already indexed, 0 damaged, 0 changed\n"),
        "{out}"
    );
    assert_eq!(json_of(&s.cmd(&q).run().stdout), cold);
    assert_eq!(json_of(&s.cmd(&by_model).run().stdout), spend);
    let mut no_prune = vec!["--no-prune"];
    no_prune.extend(q);
    assert_eq!(json_of(&s.cmd(&no_prune).run().stdout), cold);
    // A damaged archive is reported, never indexed.
    s.write("audit_20260301T000000Z.jsonl.gz", b"not gzip at all");
    let out = s.cmd(&["index"]).run();
    assert!(out.stderr.contains("not indexed (damaged)"), "{out:?}");
    assert!(
        !s.files()
            .contains(&"audit_20260301T000000Z.jsonl.gz.idx".to_owned())
    );
}

#[test]
fn threads_are_bounded_with_a_clear_error() {
    let s = Store::new();
    s.log_lines(&[], &[serde_json::json!({"event": "nav"})]);
    for n in ["1000000", "257", "0", "many"] {
        let out = s.cmd(&["query", "--count", "--threads", n]).run();
        assert_eq!(out.code, Some(2), "{n}: {out:?}");
        assert_eq!(out.stdout, "");
        assert_eq!(
            out.stderr.lines().next().unwrap(),
            format!(
                "error: invalid value '{n}' for '--threads <N>': must be a whole number from 1 to 256"
            ),
        );
    }
    assert_eq!(s.ok(&["query", "--count", "--threads", "256"]), "1\n");
    assert_eq!(s.ok(&["query", "--count", "--threads", "1"]), "1\n");
}

/// A FIFO among the named inputs (through a glob) is a reported, counted
/// skip, never a hang: the other files are read.
#[test]
fn a_fifo_among_the_inputs_is_skipped_not_waited_on() {
    let s = Store::new();
    let d = s.dir.path().join("d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(
        d.join("a.jsonl"),
        "{\"ts\":\"2026-01-01T00:00:00Z\",\"event\":\"nav\"}\n",
    )
    .unwrap();
    let fifo = d.join("b.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut child = s.bare(&["query", "--count", "d/*.jsonl"]).spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("query waited on the FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "1\n");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "scout-audit: skipped 1 malformed or damaged item (first: d/b.jsonl: cannot open: is a FIFO, not a regular file); `scout-audit verify` lists them\n"
    );
}
