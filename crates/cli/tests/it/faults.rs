//! Bad paths, closed pipes and damaged archives.

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use crate::support::{Store, column, numbered, parse_jsonl};

/// Waits for a child to exit, at most 5 s.
fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the child did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn path_naming_a_directory() {
    let s = Store::new();
    std::fs::create_dir_all(s.store_dir()).unwrap();
    let dir = s.store_dir().display().to_string();
    for args in [
        &["log", "nav"][..],
        &["log", "--stdin"],
        &["query"],
        &["tail", "-n", "1"],
        &["stats"],
        &["verify"],
        &["rotate"],
        &["spend"],
        &["accuracy"],
    ] {
        let mut c = s.bare(&["--path", &dir]);
        c.cmd.args(args);
        assert_eq!(
            c.stdin("{\"event\":\"nav\"}\n").run().error(),
            format!("scout-audit: error: invalid store path {dir}: is a directory"),
            "{args:?}"
        );
    }
    assert_eq!(std::fs::read_dir(s.store_dir()).unwrap().count(), 0);
}

#[test]
fn path_under_a_regular_file() {
    let s = Store::new();
    let file = s.dir.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let path = file.join("audit.jsonl");
    let p = path.to_str().unwrap();
    let f = file.display();
    for (args, want) in [
        (
            &["log", "nav"][..],
            format!("scout-audit: error: invalid store path {f}: is not a directory"),
        ),
        (
            &["rotate"],
            format!("scout-audit: error: invalid store path {f}: is not a directory"),
        ),
        (
            &["query"],
            format!("scout-audit: error: invalid store path {f}: is not a directory"),
        ),
        (
            &["verify"],
            format!("scout-audit: error: invalid store path {f}: is not a directory"),
        ),
    ] {
        let mut c = s.bare(&["--path", p]);
        c.cmd.args(args);
        assert_eq!(c.run().error(), want, "{args:?}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn closed_pipe_ends_quietly() {
    let s = Store::new();
    // Far more than a pipe holds.
    s.log_lines(&[], &numbered("a", 5000));
    for args in [
        &["query", "--format", "jsonl"][..],
        &["query", "--format", "csv"],
        &["tail", "-n", "5000", "--format", "table"],
    ] {
        let mut child = s.cmd(args).spawn();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert!(!first.is_empty());
        drop(out);
        let st = wait_exit(&mut child);
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!((st.code(), err.as_str()), (Some(0), ""), "{args:?}");
    }
    // tail -f ends at its next write after the reader went away.
    let mut child = s.cmd(&["tail", "-f", "-n", "1"]).spawn();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(parse_jsonl(&first)[0]["i"], 4999);
    drop(out);
    s.ok(&["log", "nav"]);
    let st = wait_exit(&mut child);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!((st.code(), err.as_str()), (Some(0), ""));
}

#[test]
fn archive_that_is_not_gzip_is_reported_and_the_rest_read() {
    let s = Store::new();
    let bad = "audit-20260101T000000Z-000001.jsonl.gz";
    s.write(bad, "{\"event\":\"plain text where gzip should be\"}\n");
    s.log_lines(&[], &numbered("live", 3));
    let o = s.cmd(&["query", "--format", "jsonl"]).run();
    assert_eq!(o.code, Some(0));
    assert_eq!(column(&parse_jsonl(&o.stdout), "i"), [0, 1, 2]);
    let prefix = format!(
        "scout-audit: skipped 1 malformed or damaged item (first: {}: damaged gzip after 0 bytes: ",
        s.file(bad)
    );
    assert!(o.stderr.starts_with(&prefix), "{o:?}");
    assert!(
        o.stderr.ends_with("); `scout-audit verify` lists them\n") && o.stderr.lines().count() == 1,
        "{o:?}"
    );
    // The aggregates too.
    let o = s.cmd(&["query", "--count"]).run();
    assert_eq!((o.code, o.stdout.as_str()), (Some(0), "3\n"));
    assert!(o.stderr.starts_with(&prefix), "{o:?}");
    let st: serde_json::Value = serde_json::from_str(&s.ok(&["stats"])).unwrap();
    assert_eq!(
        (&st["records"], &st["damaged_segments"]),
        (&3.into(), &1.into())
    );
    // A writer leaves the damaged archive alone.
    s.ok(&["log", "nav"]);
    assert!(s.files().contains(&bad.to_owned()));
}
