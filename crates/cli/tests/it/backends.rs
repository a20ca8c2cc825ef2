//! Other backends through the CLI: store addresses, `copy` between
//! backends, and `export` to Parquet read back by DuckDB.

use std::path::PathBuf;
use std::process::Command;

use scout_audit_core::Timestamp;
use serde_json::{Value, json};

use crate::support::*;

/// Events with explicit times, 1.6 h apart from 2026-01-20 (ending near NOW).
fn timed_events(n: u64) -> Vec<Value> {
    let types = [
        "nav",
        "nav",
        "llm_call",
        "validation_fail",
        "brief",
        "nav",
        "cascade",
    ];
    (0..n)
        .map(|i| {
            let secs = 1_768_867_200 + i * 5760; // 2026-01-20T00:00:00Z + i * 1.6 h
            let micros = (i * 7919 % 1_000_000) as u32;
            let ts = Timestamp::from_unix(secs as i64, micros * 1000)
                .unwrap()
                .to_python_string();
            let mut v = json!({"event": types[(i % 7) as usize], "ts": ts, "cost": (i % 13) as f64 * 0.0125 + 0.001});
            if i % 3 == 0 {
                v["model"] = json!(["m1", "m2"][(i % 2) as usize]);
            }
            v
        })
        .collect()
}

fn sqlite_addr(s: &Store, name: &str) -> String {
    format!("sqlite:{}", s.dir.path().join(name).display())
}

fn seqs(records: &[Value]) -> Vec<u64> {
    records.iter().map(|r| r["seq"].as_u64().unwrap()).collect()
}

#[test]
fn log_into_sqlite_then_copy_is_resumable_and_exact() {
    let s = Store::new();
    let db = sqlite_addr(&s, "a.db");
    let acks = s
        .bare(&[
            "--path",
            &db,
            "log",
            "--stdin",
            "--ack",
            "--durability",
            "sync",
        ])
        .stdin(jsonl_text(&timed_events(50)))
        .run()
        .ok();
    assert_eq!(acks, (0..50).map(|i| format!("{i}\n")).collect::<String>());
    let path = s.path.display().to_string();
    let out = s.bare(&["copy", "--from", &db, "--to", &path]).run().ok();
    assert_eq!(
        out,
        format!("copied 50 records from {db} to {path} (0 already there)\n")
    );
    let recs = s.records();
    assert_eq!(seqs(&recs), (0..50).collect::<Vec<_>>());
    // Copying again copies nothing.
    let out = s.bare(&["copy", "--from", &db, "--to", &path]).run().ok();
    assert_eq!(
        out,
        format!("copied 0 records from {db} to {path} (50 already there)\n")
    );
    // New records in the source: only they are copied (the same session
    // continues its seq in the SQLite store of another process? no: a new
    // process is a new session, starting at 0).
    s.bare(&["--path", &db, "log", "--stdin"])
        .stdin(jsonl_text(&timed_events(10)))
        .run()
        .ok();
    let out = s.bare(&["copy", "--from", &db, "--to", &path]).run().ok();
    assert_eq!(
        out,
        format!("copied 10 records from {db} to {path} (50 already there)\n")
    );
    let recs = s.records();
    assert_eq!(recs.len(), 60);
    // And back into a second SQLite store, then out again: the same records.
    let db2 = sqlite_addr(&s, "b.db");
    s.bare(&["copy", "--from", &path, "--to", &db2]).run().ok();
    let other = Store::new();
    let path2 = other.path.display().to_string();
    s.bare(&["copy", "--from", &db2, "--to", &path2]).run().ok();
    assert_eq!(
        other.records(),
        recs,
        "file -> sqlite -> file keeps every record exactly"
    );
}

#[test]
fn copy_refuses_the_same_store_and_file_commands_refuse_tables() {
    let s = Store::new();
    let db = sqlite_addr(&s, "a.db");
    let err = s.bare(&["copy", "--from", &db, "--to", &db]).run().error();
    assert_eq!(
        err,
        format!("scout-audit: error: --from and --to name the same store: {db}")
    );
    let err = s.bare(&["--path", &db, "rotate"]).run().error();
    assert_eq!(
        err,
        format!("scout-audit: error: rotate needs a file store, not {db}")
    );
}

/// A python3 with duckdb: `$SCOUT_AUDIT_DUCKDB_PYTHON`, else the repository's
/// `.venv` that `.ci/run` makes; `None` (and a note on stdout) to skip.
fn duckdb_python() -> Option<PathBuf> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py = std::env::var_os("SCOUT_AUDIT_DUCKDB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".venv/bin/python"));
    let ok = Command::new(&py)
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!(
            "skipped: no python with duckdb at {} (bash .ci/run makes one)",
            py.display()
        );
        return None;
    }
    Some(py)
}

fn duck(py: &PathBuf, sql: &str) -> Value {
    let script = format!(
        "import duckdb, json\nr = duckdb.connect().sql({sql:?}).fetchall()\nprint(json.dumps([list(x) for x in r], default=str))"
    );
    let out = Command::new(py).args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn parquet_export_gives_duckdb_the_same_answers() {
    let Some(py) = duckdb_python() else { return };
    let s = Store::new();
    s.log_lines(&[], &timed_events(700));
    // A record without ts (written by hand: writers always set one) is
    // exported, into the default partition, and matches no time window.
    {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&s.path)
            .unwrap();
        f.write_all(b"{\"event\":\"nav\",\"session_id\":\"by-hand\",\"seq\":0,\"cost\":0.5}\n")
            .unwrap();
    }
    let now = NOW;
    let q1: Value = serde_json::from_str(&s.ok(&[
        "--now", now, "query", "--count", "--since", "30d", "--event", "nav", "--format", "json",
    ]))
    .unwrap();
    let q2: Value =
        serde_json::from_str(&s.ok(&["--now", now, "spend", "--since", "7d", "--format", "json"]))
            .unwrap();
    let q3: Value = serde_json::from_str(&s.ok(&[
        "--now", now, "accuracy", "--since", "30d", "--format", "json",
    ]))
    .unwrap();
    let dir = s.dir.path().join("export");
    let out = s.ok(&[
        "export",
        "--format",
        "parquet",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.starts_with("exported 701 records into "), "{out}");
    assert!(dir.join("date=__HIVE_DEFAULT_PARTITION__").is_dir());
    let src = format!(
        "read_parquet('{}/*/*.parquet', hive_partitioning = true)",
        dir.display()
    );
    let d1 = duck(
        &py,
        &format!(
            "select count(*) from {src} where event = 'nav' and ts >= TIMESTAMPTZ '2026-01-30 12:00:00+00'"
        ),
    );
    let d2 = duck(
        &py,
        &format!(
            "select sum(cost), count(*) from {src} where ts >= TIMESTAMPTZ '2026-02-22 12:00:00+00'"
        ),
    );
    let d3 = duck(
        &py,
        &format!(
            "select count(*) filter (where event = 'nav'), count(*) filter (where event = 'validation_fail') \
             from {src} where ts >= TIMESTAMPTZ '2026-01-30 12:00:00+00'"
        ),
    );
    assert_eq!(q1["count"], d1[0][0]);
    let (ours, theirs) = (
        q2["total_cost"].as_f64().unwrap(),
        d2[0][0].as_f64().unwrap(),
    );
    assert!(
        (ours - theirs).abs() <= 1e-9 * ours.abs(),
        "spend {ours} vs duckdb {theirs}"
    );
    assert_eq!(q2["records"], d2[0][1]);
    assert_eq!(q3["total_nav"], d3[0][0]);
    assert_eq!(q3["validation_fail_count"], d3[0][1]);
    // The whole export holds every record once; the one without ts in the
    // default partition.
    let all = duck(
        &py,
        &format!("select count(*), count(ts), count(distinct (session_id, seq)) from {src}"),
    );
    assert_eq!(all, json!([[701, 700, 701]]));
    // Incremental: a second run adds nothing; new records only are added.
    let again = s.ok(&["export", "--out", dir.to_str().unwrap()]);
    assert!(
        again.starts_with("exported 0 records into 0 files"),
        "{again}"
    );
    s.log_lines(&[], &timed_events(5));
    let more = s.ok(&["export", "--out", dir.to_str().unwrap()]);
    assert!(more.starts_with("exported 5 records into "), "{more}");
    assert_eq!(
        duck(&py, &format!("select count(*) from {src}")),
        json!([[706]])
    );
}

#[test]
fn interrupted_export_is_redone_without_duplicates() {
    let Some(py) = duckdb_python() else { return };
    let s = Store::new();
    s.log_lines(&[], &timed_events(100));
    let dir = s.dir.path().join("export");
    s.ok(&["export", "--out", dir.to_str().unwrap()]);
    // A run that died after writing a part but before its manifest.
    let day = dir.join("date=2026-01-20");
    let first = std::fs::read_dir(&day)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(
        first
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("part-000001"),
        "{first:?}"
    );
    std::fs::copy(&first, day.join("part-000002-00000.parquet")).unwrap();
    s.log_lines(&[], &timed_events(3));
    let out = s.ok(&["export", "--out", dir.to_str().unwrap()]);
    assert!(out.starts_with("exported 3 records into "), "{out}");
    let src = format!(
        "read_parquet('{}/*/*.parquet', hive_partitioning = true)",
        dir.display()
    );
    assert_eq!(
        duck(&py, &format!("select count(*) from {src}")),
        json!([[103]])
    );
}

/// Runs one SQL statement on the server with psql; it must succeed.
fn psql(url: &str, sql: &str) {
    let o = Command::new("psql")
        .args([url, "-qc", sql])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn copy_to_postgres_and_back() {
    let Ok(url) = std::env::var("SCOUT_AUDIT_PG_URL") else {
        println!("skipped: SCOUT_AUDIT_PG_URL is not set");
        return;
    };
    let db = format!("cli_copy_{}", std::process::id());
    let admin = |sql: &str| psql(&url, sql);
    admin(&format!("DROP DATABASE IF EXISTS {db}"));
    admin(&format!("CREATE DATABASE {db}"));
    let pg = format!("{}/{db}", url.rsplit_once('/').unwrap().0);
    let s = Store::new();
    s.log_lines(&[], &timed_events(120));
    let path = s.path.display().to_string();
    let out = s.bare(&["copy", "--from", &path, "--to", &pg]).run().ok();
    assert!(out.starts_with("copied 120 records from "), "{out}");
    let out = s.bare(&["copy", "--from", &path, "--to", &pg]).run().ok();
    assert!(out.starts_with("copied 0 records from "), "{out}");
    let other = Store::new();
    s.bare(&[
        "copy",
        "--from",
        &pg,
        "--to",
        &other.path.display().to_string(),
    ])
    .run()
    .ok();
    assert_eq!(other.records(), s.records());
    admin(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
}

/// The read commands give the same output on every backend holding the
/// same records.
fn same_reads(s: &Store, other: &str) {
    let file = s.path.display().to_string();
    let now = NOW;
    for args in [
        &["query", "--format", "jsonl"][..],
        &[
            "query", "--since", "10d", "--until", "2d", "--event", "nav", "--event", "brief",
            "--format", "csv",
        ],
        &["query", "--count", "--model", "m1", "--format", "json"],
        &["query", "--limit", "3", "--format", "jsonl"],
        &[
            "tail",
            "-n",
            "4",
            "--event",
            "validation_fail",
            "--format",
            "jsonl",
        ],
        &["spend", "--hours", "48", "--format", "json"],
        &["spend", "--since", "30d", "--by", "day", "--format", "json"],
        &[
            "spend", "--since", "30d", "--by", "model", "--format", "csv",
        ],
        &["accuracy", "--since", "20d", "--format", "json"],
        &["accuracy", "--format", "table"],
        &[
            "spend", "--since", "60d", "--by", "week", "--format", "json",
        ],
        &[
            "spend", "--since", "60d", "--by", "month", "--format", "csv",
        ],
        &[
            "spend",
            "--since",
            "30d",
            "--by",
            "day,model",
            "--format",
            "json",
        ],
        &[
            "spend",
            "--since",
            "60d",
            "--by",
            "week,model",
            "--format",
            "table",
        ],
        &["sessions", "--format", "json"],
        &[
            "sessions", "--since", "10d", "--until", "2d", "--format", "csv",
        ],
        &["status", "--format", "json"],
        &["status"],
    ] {
        let a = s
            .bare(&["--path", &file, "--now", now])
            .args(args)
            .run()
            .ok();
        let b = s
            .bare(&["--path", other, "--now", now])
            .args(args)
            .run()
            .ok();
        let b = b.replace(other, &file);
        assert_eq!(a, b, "{args:?} on {other}");
    }
    let stats = |p: &str| -> Value {
        serde_json::from_str(
            &s.bare(&["--path", p, "stats", "--format", "json"])
                .run()
                .ok(),
        )
        .unwrap()
    };
    let (a, b) = (stats(&file), stats(other));
    for k in [
        "records",
        "events",
        "sessions",
        "first_ts",
        "last_ts",
        "records_without_ts",
    ] {
        assert_eq!(a[k], b[k], "stats {k} on {other}");
    }
    let v = s.bare(&["--path", other, "verify"]).run().ok();
    assert!(v.ends_with(": OK\n"), "{v}");
}

#[test]
fn read_commands_answer_alike_on_every_backend() {
    let s = Store::new();
    s.log_lines(&[], &timed_events(400));
    let path = s.path.display().to_string();
    let db = sqlite_addr(&s, "r.db");
    s.bare(&["copy", "--from", &path, "--to", &db]).run().ok();
    same_reads(&s, &db);
    if let Ok(url) = std::env::var("SCOUT_AUDIT_PG_URL") {
        let name = format!("cli_reads_{}", std::process::id());
        let admin = |sql: &str| psql(&url, sql);
        admin(&format!("DROP DATABASE IF EXISTS {name}"));
        admin(&format!("CREATE DATABASE {name}"));
        let pg = format!("{}/{name}", url.rsplit_once('/').unwrap().0);
        s.bare(&["copy", "--from", &path, "--to", &pg]).run().ok();
        same_reads(&s, &pg);
        admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    } else {
        println!("skipped the PostgreSQL half: SCOUT_AUDIT_PG_URL is not set");
    }
}

/// `verify` on a table backend finds a seq gap as on the file store.
#[test]
fn verify_finds_a_seq_gap_in_sqlite() {
    let s = Store::new();
    let line = |seq: u64| {
        format!(
            "{{\"ts\":\"2026-01-01T00:00:0{seq}Z\",\"event\":\"nav\",\"session_id\":\"s\",\"seq\":{seq}}}\n"
        )
    };
    s.write("audit.jsonl", format!("{}{}", line(0), line(2)));
    let db = sqlite_addr(&s, "gap.db");
    let path = s.path.display().to_string();
    s.bare(&["copy", "--from", &path, "--to", &db]).run().ok();
    let o = s.bare(&["--path", &db, "verify"]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(
        o.stdout,
        format!(
            "session s: seq 2 where 1 was expected\n2 records, 1 sessions in {db}: 1 problem\n"
        )
    );
}

/// A table store with more seq breaks than are listed: verify counts
/// them all and lists the first ones, with the same "more" line.
#[test]
fn verify_counts_every_gap_of_a_table_store_and_lists_the_first() {
    let s = Store::new();
    let lines: String = (0..1500u64)
        .map(|i| {
            format!(
                "{{\"event\":\"nav\",\"session_id\":\"s\",\"seq\":{}}}\n",
                i * 2
            )
        })
        .collect();
    s.write("audit.jsonl", lines);
    let db = sqlite_addr(&s, "gaps.db");
    let path = s.path.display().to_string();
    s.bare(&["copy", "--from", &path, "--to", &db]).run().ok();
    let o = s
        .bare(&["--path", &db, "verify", "--max-problems", "3"])
        .run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(
        o.stdout,
        format!(
            "session s: seq 2 where 1 was expected\n\
             session s: seq 4 where 3 was expected\n\
             session s: seq 6 where 5 was expected\n\
             ... and 1496 more\n\
             1500 records, 1 sessions in {db}: 1499 problems\n"
        )
    );
}

#[test]
fn a_postgres_password_never_reaches_stderr() {
    let s = Store::new();
    // A closed port on this machine: the connection is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let urls = [
        format!("postgres://u:hunter2@127.0.0.1:{port}/db"),
        format!("postgres://u@127.0.0.1:{port}/db?password=hunter2&connect_timeout=5"),
    ];
    for url in &urls {
        for args in [
            vec!["--path", url.as_str(), "log", "nav"],
            vec!["--path", url.as_str(), "query"],
            vec!["--path", url.as_str(), "stats"],
            vec!["--path", url.as_str(), "rotate"],
        ] {
            let e = s.bare(&args).run().error();
            assert!(!e.contains("hunter2"), "{args:?}: {e}");
            assert!(e.contains("***"), "{args:?}: {e}");
        }
        let to = s.path.display().to_string();
        let out = s
            .bare(&["copy", "--from", url.as_str(), "--to", to.as_str()])
            .run();
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(!out.stderr.contains("hunter2"), "{out:?}");
        assert!(!out.stdout.contains("hunter2"), "{out:?}");
    }
}
