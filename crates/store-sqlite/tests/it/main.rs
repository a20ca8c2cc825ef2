//! SQLite backend tests: the conformance suite, then what is SQLite's own.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use scout_audit_conformance::{Harness, conformance_tests};
use scout_audit_core::{
    Decoded, Durability, Event, Filter, ManualClock, ReadStore, Record, SessionId, Sink,
    decode_line,
};
use scout_audit_store_sqlite::SqliteStore;

struct SqliteHarness {
    dir: tempfile::TempDir,
}

impl SqliteHarness {
    fn new() -> SqliteHarness {
        SqliteHarness {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl Harness for SqliteHarness {
    type S = SqliteStore;
    fn name(&self) -> String {
        "sqlite".into()
    }
    fn open(&self, d: Durability, s: SessionId, c: Arc<ManualClock>) -> SqliteStore {
        SqliteStore::builder(self.dir.path().join("audit.db"))
            .durability(d)
            .session(s)
            .clock(c)
            .open()
            .unwrap()
    }
    fn import_dedups(&self) -> bool {
        true
    }
}

conformance_tests!(SqliteHarness::new());

#[test]
fn schema_and_pushdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let s = SqliteStore::open(&path).unwrap();
    s.log(Event::new("nav").cost(0.25).model("m")).unwrap();
    s.close().unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let (event, cost, model, record): (String, f64, String, String) = c
        .query_row("SELECT event, cost, model, record FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!((event.as_str(), cost, model.as_str()), ("nav", 0.25, "m"));
    assert!(record.starts_with("{\"ts\":\""), "{record}");
    let plan: String = c
        .query_row(
            "EXPLAIN QUERY PLAN SELECT id FROM events WHERE (ts_us, ts_sub) >= (1, 0) AND event IN ('nav')",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("INDEX events_event_ts"), "{plan}");
}

#[test]
fn unopenable_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "x").unwrap();
    let err = SqliteStore::open(dir.path().join("f/a.db"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("f"), "{err}");
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 4096]).unwrap();
    let err = SqliteStore::open(&garbage).unwrap_err().to_string();
    assert!(err.contains("not a database"), "{err}");
}

#[test]
fn readers_see_committed_rows_while_writing() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("a.db")).unwrap();
    for i in 0..10_000u64 {
        s.log(Event::new("nav").field("i", i)).unwrap();
    }
    // Pagination across several pages keeps order.
    let is: Vec<u64> = s
        .scan(&Filter::new())
        .unwrap()
        .map(|r| r.unwrap().get("i").unwrap().as_u64().unwrap())
        .collect();
    assert_eq!(is, (0..10_000).collect::<Vec<_>>());
    s.close().unwrap();
}

#[test]
fn a_new_database_and_its_wal_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/a.db");
    let s = SqliteStore::open(&path).unwrap();
    s.log(Event::new("nav")).unwrap();
    s.flush().unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("new/a.db-wal")), 0o600);
    assert_eq!(mode(&dir.path().join("new/a.db-shm")), 0o600);
    assert_eq!(mode(&dir.path().join("new")), 0o700);
    s.close().unwrap();
}

#[test]
fn a_database_is_not_opened_through_a_link_at_its_name() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    // A dangling link: the database must not be created at its target.
    let target = out.path().join("victim.db");
    let link = dir.path().join("a.db");
    symlink(&target, &link).unwrap();
    let err = SqliteStore::open(&link).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "open {}: is a symbolic link to {} (not followed)",
            link.display(),
            target.display()
        )
    );
    assert!(!target.exists());
    // A link to an existing file: its bytes are untouched.
    std::fs::write(&target, b"not yours").unwrap();
    let err = SqliteStore::open(&link).unwrap_err().to_string();
    assert!(err.contains("is a symbolic link"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"not yours");
    // Links on the directory's own path are the user's, and followed.
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    symlink(&real, dir.path().join("via")).unwrap();
    let s = SqliteStore::open(dir.path().join("via/b.db")).unwrap();
    s.log(Event::new("nav")).unwrap();
    s.close().unwrap();
    assert!(real.join("b.db").exists());
}

#[test]
fn a_link_or_fifo_at_sqlites_own_side_files_is_refused_and_named() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let victim = out.path().join("victim");
    std::fs::write(&victim, b"not yours").unwrap();
    for suffix in ["-wal", "-shm", "-journal"] {
        let db = dir.path().join(format!("d{suffix}.db"));
        let side = dir.path().join(format!("d{suffix}.db{suffix}"));
        symlink(&victim, &side).unwrap();
        let err = SqliteStore::open(&db).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "open {}: is a symbolic link to {} (not followed)",
                side.display(),
                victim.display()
            )
        );
        // Still a link, and what it points at is untouched.
        assert!(
            std::fs::symlink_metadata(&side)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        std::fs::remove_file(&side).unwrap();
        std::fs::create_dir(&side).unwrap();
        let err = SqliteStore::open(&db).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("open {}: is not a regular file", side.display())
        );
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"not yours");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
}

/// A table written before content keys (schema version 1: keys of session
/// and seq, FNV hashes) is migrated on open: every key is recomputed from
/// its record, the version is 2, and importing the same records again
/// inserts nothing. A second open migrates nothing.
#[test]
fn version_1_table_migrates_to_content_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let lines = [
        r#"{"ts":"2026-11-01T00:00:00+00:00","event":"llm_call","session_id":"X","seq":0,"cost":1.0}"#,
        r#"{"ts":"2026-11-01T00:00:01+00:00","event":"llm_call","session_id":"X","seq":1,"cost":2.0}"#,
        r#"{"ts":"2026-11-01T00:00:02+00:00","event":"nav","session_id":"py"}"#,
    ];
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        // The version 1 DDL and keys, as the code before content keys wrote them.
        c.execute_batch(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, ts_us INTEGER, ts_sub INTEGER, event TEXT, \
             session_id TEXT, seq INTEGER, cost REAL, model TEXT, input_t INTEGER, output_t INTEGER, \
             dedup_key TEXT NOT NULL UNIQUE, record TEXT NOT NULL);
             CREATE INDEX events_ts ON events (ts_us, ts_sub);
             CREATE INDEX events_event_ts ON events (event, ts_us, ts_sub);
             CREATE TABLE scout_audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO scout_audit_meta (key, value) VALUES ('schema_version', '1');",
        )
        .unwrap();
        let old_keys = [
            "s:X:00000000000000000000",
            "s:X:00000000000000000001",
            "h:66:0123456789abcdef",
        ];
        for (i, (l, k)) in lines.iter().zip(old_keys).enumerate() {
            c.execute(
                "INSERT INTO events (ts_us, event, session_id, seq, cost, dedup_key, record) \
                 VALUES (?1, 'x', ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    1_800_000_000_000_000i64 + i as i64,
                    if i < 2 { Some("X") } else { Some("py") },
                    if i < 2 { Some(i as i64) } else { None },
                    (i + 1) as f64,
                    k,
                    l
                ],
            )
            .unwrap();
        }
    }
    let recs: Vec<Record> = lines
        .iter()
        .map(|l| match decode_line(l.as_bytes()) {
            Decoded::Record(r) => r,
            o => panic!("{o:?}"),
        })
        .collect();
    let s = SqliteStore::open(&path).unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let version: String = c
        .query_row(
            "SELECT value FROM scout_audit_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, "2");
    let keys: Vec<String> = c
        .prepare("SELECT dedup_key FROM events ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let want: Vec<String> = recs.iter().map(Record::dedup_key).collect();
    assert_eq!(keys, want);
    // Copying the same records again (an old store copied after the upgrade).
    s.import(recs.clone()).unwrap();
    s.flush().unwrap();
    assert_eq!(s.count(&Filter::new()).unwrap(), 3);
    // The seq probe still finds X's last seq: a writer of X continues at 2.
    s.close().unwrap();
    let s = SqliteStore::builder(&path)
        .session(SessionId::new("X"))
        .open()
        .unwrap();
    assert_eq!(s.log(Event::new("nav")).unwrap().seq, 2);
    s.close().unwrap();
    // Migrated once: a second open keeps the keys.
    let again: Vec<String> = c
        .prepare("SELECT dedup_key FROM events WHERE id <= 3 ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(again, want);
}

/// Concurrent openers of a version 1 table: one migrates, the others wait
/// for its lock and find version 2; every key is the content key once.
#[test]
fn concurrent_openers_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, ts_us INTEGER, ts_sub INTEGER, event TEXT, \
             session_id TEXT, seq INTEGER, cost REAL, model TEXT, input_t INTEGER, output_t INTEGER, \
             dedup_key TEXT NOT NULL UNIQUE, record TEXT NOT NULL);
             CREATE TABLE scout_audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO scout_audit_meta (key, value) VALUES ('schema_version', '1');",
        )
        .unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for i in 0..10_000i64 {
            let line = format!(
                r#"{{"ts":"2026-11-01T00:00:00+00:00","event":"nav","session_id":"s","seq":{i}}}"#
            );
            tx.execute(
                "INSERT INTO events (session_id, seq, dedup_key, record) VALUES ('s', ?1, ?2, ?3)",
                rusqlite::params![i, format!("s:s:{i:020}"), line],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    std::thread::scope(|sc| {
        for _ in 0..3 {
            sc.spawn(|| SqliteStore::open(&path).unwrap().close().unwrap());
        }
    });
    let c = rusqlite::Connection::open(&path).unwrap();
    let mut st = c.prepare("SELECT dedup_key, record FROM events").unwrap();
    let rows: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 10_000);
    for (k, line) in rows {
        match decode_line(line.as_bytes()) {
            Decoded::Record(r) => assert_eq!(k, r.dedup_key()),
            o => panic!("{o:?}"),
        }
    }
}

/// A database someone else wrote is input: a `cost` column holding an
/// infinity or NaN (which the store never writes) makes the sum an error,
/// never a plausible total without it.
#[test]
fn non_finite_costs_in_a_foreign_database_are_an_error() {
    use scout_audit_core::agg::SumOverflow;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let s = SqliteStore::open(&path).unwrap();
    for c in [0.25, 0.5, 1.0] {
        s.log(Event::new("nav").cost(c).model("m")).unwrap();
    }
    s.close().unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("UPDATE events SET cost = 9e999 WHERE cost = 0.5", [])
        .unwrap();
    drop(c);
    let s = SqliteStore::open(&path).unwrap();
    let spend = s.spend(&Filter::new(), None).unwrap();
    assert_eq!(spend.records(), 3);
    assert_eq!(spend.total(), Err(SumOverflow::NotFinite));
    s.close().unwrap();
}
