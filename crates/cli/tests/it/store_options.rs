//! `rotate`, the global store options (`--rotate-size`, `--no-compress`,
//! `--keep-archives`), where the store is (`--path`, `SCOUT_AUDIT_PATH`,
//! `~/.scout/audit.jsonl`), and `demo`.

use std::os::unix::fs::PermissionsExt;

use crate::support::{NOW, Store, column, numbered};

/// `audit-YYYYMMDDTHHMMSSZ-NNNNNN.jsonl`: the seal stamp and number.
fn sealed_parts(name: &str) -> (String, u64) {
    let rest = name.strip_prefix("audit-").unwrap();
    let (stamp, rest) = rest.split_once('-').unwrap();
    let num = rest.strip_suffix(".jsonl").unwrap();
    assert_eq!(stamp.len(), 16, "{name}");
    assert_eq!((&stamp[8..9], &stamp[15..]), ("T", "Z"), "{name}");
    assert!(
        stamp[..8]
            .bytes()
            .chain(stamp[9..15].bytes())
            .all(|b| b.is_ascii_digit()),
        "{name}"
    );
    assert_eq!(num.len(), 6, "{name}");
    (stamp.to_owned(), num.parse().unwrap())
}

/// `2026-03-01T12:34:56.789+00:00` as a seal stamp `20260301T123456Z`.
fn stamp_of(ts: &str) -> String {
    let d: String = ts[..19]
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    format!("{d}Z")
}

fn gz_names(s: &Store) -> Vec<String> {
    s.files()
        .into_iter()
        .filter(|f| f.ends_with(".gz"))
        .collect()
}

#[test]
fn rotate_seals_and_compresses_before_it_exits() {
    let s = Store::new();
    assert_eq!(
        s.ok(&["rotate"]),
        "nothing to seal: the live file is empty\n"
    );
    assert_eq!(s.files(), ["audit.jsonl", "audit.lock"]);
    s.log_lines(&[], &numbered("a", 3));
    let out = s.ok(&["rotate"]);
    let name = out.strip_prefix("sealed ").unwrap().trim_end();
    assert_eq!(out, format!("sealed {name}\n"));
    let (stamp, number) = sealed_parts(name);
    assert_eq!(number, 1);
    let recs = s.records();
    assert!(
        stamp >= stamp_of(recs[2]["ts"].as_str().unwrap()),
        "{stamp}"
    );
    assert_eq!(
        s.files(),
        [
            format!("{name}.gz").as_str(),
            &format!("{name}.gz.idx"),
            "audit.jsonl",
            "audit.lock"
        ]
    );
    assert_eq!(std::fs::read(&s.path).unwrap(), b"");
    assert_eq!(
        s.ok(&["rotate"]),
        "nothing to seal: the live file is empty\n"
    );
    s.log_lines(&[], &numbered("b", 2));
    let out = s.ok(&["rotate"]);
    let (stamp2, number2) = sealed_parts(out.strip_prefix("sealed ").unwrap().trim_end());
    assert_eq!(number2, 2);
    assert!(stamp2 >= stamp);
    assert_eq!(gz_names(&s).len(), 2);
    // Read back across archives, in order.
    assert_eq!(column(&s.records(), "event"), ["a", "a", "a", "b", "b"]);
}

#[test]
fn rotate_size_makes_archives() {
    let s = Store::new();
    let reason = "r".repeat(700);
    for _ in 0..5 {
        s.ok(&["--rotate-size", "1K", "log", "nav", "--reason", &reason]);
    }
    // Two records never fit in 1 KiB: each sealed alone, the last is live.
    let gz = gz_names(&s);
    let numbers: Vec<u64> = gz
        .iter()
        .map(|g| sealed_parts(g.strip_suffix(".gz").unwrap()).1)
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    // Four archives, their four indexes, the live file and the lock.
    assert_eq!(s.files().len(), 10);
    assert_eq!(s.records().len(), 5);
    // Without --rotate-size, 10M: no rotation.
    s.ok(&["log", "nav", "--reason", &reason]);
    assert_eq!(gz_names(&s).len(), 4);
    // The size limit is honoured across processes (restarts).
    s.ok(&["--rotate-size", "1K", "log", "nav"]);
    assert_eq!(gz_names(&s).len(), 5);
}

#[test]
fn no_compress_leaves_sealed_jsonl() {
    let s = Store::new();
    for e in ["a", "b"] {
        s.ok(&["--no-compress", "log", e]);
        s.ok(&["--no-compress", "rotate"]);
    }
    let files = s.files();
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files[..2].iter().all(|f| sealed_parts(f).1 > 0));
    assert_eq!(&files[2..], ["audit.jsonl", "audit.lock"]);
    assert_eq!(column(&s.records(), "event"), ["a", "b"]);
    let v = s.ok(&["verify"]);
    assert_eq!(
        v.lines().take(2).collect::<Vec<_>>(),
        [
            format!(
                "note: sealed segment not yet compressed: {}",
                s.file(&files[0])
            ),
            format!(
                "note: sealed segment not yet compressed: {}",
                s.file(&files[1])
            ),
        ]
    );
    assert!(v.ends_with(": OK\n"));
    // The next writer that compresses compresses them.
    s.ok(&["log", "c"]);
    assert_eq!(
        s.files(),
        [
            format!("{}.gz", files[0]).as_str(),
            &format!("{}.gz.idx", files[0]),
            &format!("{}.gz", files[1]),
            &format!("{}.gz.idx", files[1]),
            "audit.jsonl",
            "audit.lock"
        ]
    );
    assert_eq!(column(&s.records(), "event"), ["a", "b", "c"]);
}

#[test]
fn keep_archives_keeps_the_newest() {
    let s = Store::new();
    for e in ["a", "b", "c", "d", "e"] {
        s.ok(&["log", e]);
        s.ok(&["--keep-archives", "2", "rotate"]);
    }
    let numbers: Vec<u64> = gz_names(&s)
        .iter()
        .map(|g| sealed_parts(g.strip_suffix(".gz").unwrap()).1)
        .collect();
    assert_eq!(numbers, [4, 5]);
    assert_eq!(column(&s.records(), "event"), ["d", "e"]);
    // Applied on open too.
    s.ok(&["--keep-archives", "1", "log", "f"]);
    assert_eq!(gz_names(&s).len(), 1);
    assert_eq!(column(&s.records(), "event"), ["e", "f"]);
}

#[test]
fn keep_age_and_keep_bytes() {
    let s = Store::new();
    let old = crate::support::archive_of(
        "{\"ts\":\"2020-01-01T00:00:00Z\",\"event\":\"old\",\"session_id\":\"s\",\"seq\":0}\n",
    );
    s.write("audit-20200101T000000Z-000001.jsonl.gz", &old);
    s.ok(&["log", "a"]);
    s.ok(&["rotate"]);
    assert_eq!(gz_names(&s).len(), 2);
    // Sealed years ago: deleted; sealed just now: kept.
    s.ok(&["--keep-age", "30d", "log", "b"]);
    let gz = gz_names(&s);
    assert_eq!(gz.len(), 1);
    assert!(!gz[0].starts_with("audit-2020"), "{gz:?}");
    assert_eq!(column(&s.records(), "event"), ["a", "b"]);
    // A byte budget smaller than any archive: none kept.
    s.ok(&["--keep-bytes", "10", "rotate"]);
    assert_eq!(gz_names(&s), Vec::<String>::new());
    assert_eq!(s.records(), Vec::<serde_json::Value>::new());
}

#[test]
fn store_location_path_env_and_default() {
    let s = Store::new();
    let env_path = s.dir.path().join("env").join("audit.jsonl");
    // SCOUT_AUDIT_PATH when --path is absent.
    assert_eq!(
        s.bare(&["log", "from_env", "--ack"])
            .env("SCOUT_AUDIT_PATH", &env_path)
            .run()
            .ok(),
        "0\n"
    );
    assert!(env_path.exists());
    assert!(!s.home().exists());
    let q = s
        .bare(&["query", "--format", "jsonl"])
        .env("SCOUT_AUDIT_PATH", &env_path)
        .run()
        .ok();
    assert_eq!(
        column(&crate::support::parse_jsonl(&q), "event"),
        ["from_env"]
    );
    // --path wins over SCOUT_AUDIT_PATH.
    s.cmd(&["log", "from_flag"])
        .env("SCOUT_AUDIT_PATH", &env_path)
        .run()
        .ok();
    assert_eq!(column(&s.records(), "event"), ["from_flag"]);
    assert_eq!(
        std::fs::read_to_string(&env_path).unwrap().lines().count(),
        1
    );
    // Neither: ~/.scout/audit.jsonl (HOME is the test's), directory 0700,
    // files 0600.
    s.bare(&["log", "from_home"]).run().ok();
    let home_store = s.home().join(".scout");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home_store), 0o700);
    assert_eq!(mode(&home_store.join("audit.jsonl")), 0o600);
    assert_eq!(mode(&home_store.join("audit.lock")), 0o600);
    let q = s.bare(&["query", "--format", "jsonl"]).run().ok();
    assert_eq!(
        column(&crate::support::parse_jsonl(&q), "event"),
        ["from_home"]
    );
    // No HOME either: a clear error.
    let mut c = s.bare(&["query"]);
    c.cmd.env_remove("HOME");
    assert_eq!(
        c.run().error(),
        "scout-audit: error: no store path: pass --path or set SCOUT_AUDIT_PATH (HOME is not set)"
    );
}

#[test]
fn demo_uses_a_temporary_store_and_deletes_it() {
    let s = Store::new();
    let tmp = s.dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let env_path = s.dir.path().join("env").join("audit.jsonl");
    let out = s
        .bare(&[
            "--now",
            NOW,
            "--rotate-size",
            "256K",
            "demo",
            "--events",
            "20000",
        ])
        .env("SCOUT_AUDIT_PATH", &env_path)
        .env("TMPDIR", &tmp)
        .run()
        .ok();
    let has = |p: &str| assert!(out.contains(p), "{p:?} not in:\n{out}");
    has(&format!(
        "scout-audit demo: writing 20000 events with 4 writers to {}",
        tmp.display()
    ));
    has("  durability process, fsync every 10 lines / 1s, rotation at 262144 bytes\n");
    has("  sealed      audit-");
    has("  compressed  audit-");
    has("\nheadline answers (as of 2026-03-01T12:00:00+00:00):\n");
    has("  spend, last hour (hourly_spend(1))       $");
    has("  spend by model, last 24 h                ");
    has("  navigation accuracy since 24 h ago       ");
    has("  last 3 validation failures               ");
    has("  verify (every segment, seq per session)  20000 records in ");
    has(" segments, 4 sessions: OK   [");
    assert!(
        out.ends_with("\nthe temporary store is deleted now (--keep to keep it)\n"),
        "{out}"
    );
    // Nothing left anywhere: not the default store, not SCOUT_AUDIT_PATH,
    // not the temp dir.
    assert!(!s.home().exists());
    assert!(!env_path.parent().unwrap().exists());
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn demo_answers_agree_with_the_commands() {
    let s = Store::new();
    let out = s
        .cmd(&[
            "--now",
            NOW,
            "--rotate-size",
            "64K",
            "demo",
            "--events",
            "4000",
            "--writers",
            "2",
        ])
        .run()
        .ok();
    assert!(
        out.ends_with(&format!("\nthe store is at {}\n", s.path.display())),
        "{out}"
    );
    let answer = |label: &str| -> String {
        let l = out
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap();
        let a = l.trim_start()[label.len()..].trim_start();
        a[..a.rfind("   [").unwrap()].to_owned()
    };
    let spend: serde_json::Value =
        serde_json::from_str(&s.ok(&["--now", NOW, "spend", "--hours", "1", "--format", "json"]))
            .unwrap();
    assert_eq!(
        answer("spend, last hour (hourly_spend(1))"),
        format!("${:.4}", spend["total_cost"].as_f64().unwrap())
    );
    let acc: serde_json::Value = serde_json::from_str(&s.ok(&[
        "--now", NOW, "accuracy", "--since", "24h", "--format", "json",
    ]))
    .unwrap();
    assert_eq!(
        answer("navigation accuracy since 24 h ago"),
        format!(
            "{}% ({} nav, {} failures)",
            acc["accuracy_pct"].as_f64().unwrap(),
            acc["total_nav"],
            acc["validation_fail_count"]
        )
    );
    let last: Vec<String> = crate::support::parse_jsonl(&s.ok(&[
        "tail",
        "-n",
        "3",
        "--event",
        "validation_fail",
        "--format",
        "jsonl",
    ]))
    .iter()
    .map(|r| r["ts"].as_str().unwrap().to_owned())
    .collect();
    assert_eq!(answer("last 3 validation failures"), last.join(", "));
    let v = s.ok(&["verify"]);
    assert!(
        v.starts_with("4000 records, 2 sessions, ") && v.ends_with(": OK\n"),
        "{v}"
    );
}
