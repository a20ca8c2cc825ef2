//! PostgreSQL backend tests, against the server named by
//! `SCOUT_AUDIT_PG_URL` (CI starts one with `.ci/pg-start`). Without it
//! every test says on stdout that it was skipped.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use postgres::{Client, NoTls};
use scout_audit_conformance::Harness;
use scout_audit_core::{
    Decoded, Durability, Event, Filter, ManualClock, ReadStore, Record, SessionId, Sink, Timestamp,
    decode_line,
};
use scout_audit_store_postgres::PgStore;

fn admin_url() -> Option<String> {
    match std::env::var("SCOUT_AUDIT_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            println!("skipped: SCOUT_AUDIT_PG_URL is not set (start a server with .ci/pg-start)");
            None
        }
    }
}

/// A fresh database on the test server, dropped at the end.
struct Db {
    admin: String,
    name: String,
    url: String,
}

impl Db {
    fn new() -> Option<Db> {
        static N: AtomicU64 = AtomicU64::new(0);
        let admin = admin_url()?;
        let name = format!(
            "scout_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let mut c = Client::connect(&admin, NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let base = admin.rsplit_once('/').unwrap().0;
        Some(Db {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&self.admin, NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

struct PgHarness {
    db: Option<Db>,
}

impl Harness for PgHarness {
    type S = PgStore;
    fn name(&self) -> String {
        "postgres".into()
    }
    fn open(&self, d: Durability, s: SessionId, c: Arc<ManualClock>) -> PgStore {
        let db = self.db.as_ref().unwrap();
        PgStore::builder(&db.url)
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

/// Runs a conformance check only when a server is configured.
struct MaybePg;

impl MaybePg {
    fn run(check: impl FnOnce(&PgHarness)) {
        if let Some(db) = Db::new() {
            check(&PgHarness { db: Some(db) });
        }
    }
}

mod conformance {
    use super::*;

    macro_rules! pg_check {
        ($($name:ident),*) => {$(
            #[test]
            fn $name() {
                MaybePg::run(|h| scout_audit_conformance::$name(h));
            }
        )*};
    }
    pg_check!(
        append_and_read_back,
        durable_acknowledgements,
        reopen_continues_seq,
        other_sessions_continue_across_writers,
        concurrent_writers,
        unicode_and_extras_round_trip,
        bad_input_is_refused,
        lines_over_the_bound_are_refused,
        same_answers_as_the_file_store,
        import_keeps_records,
        distinct_records_with_equal_session_and_seq_are_kept,
        huge_costs_sum_exactly,
        period_edges_group_alike
    );
}

#[test]
fn partitions_by_month_and_retention_drops_them() {
    let Some(db) = Db::new() else { return };
    let s = PgStore::open(&db.url).unwrap();
    for m in [
        "2026-09-15T00:00:00Z",
        "2026-10-15T00:00:00Z",
        "2026-11-15T00:00:00Z",
    ] {
        s.log(Event::new("nav").ts(Timestamp::parse(m).unwrap()))
            .unwrap();
    }
    s.import(vec![
        match scout_audit_core::decode_line(br#"{"ts":"someday","event":"nav"}"#) {
            scout_audit_core::Decoded::Record(r) => r,
            o => panic!("{o:?}"),
        },
    ])
    .unwrap();
    s.flush().unwrap();
    let mut c = Client::connect(&db.url, NoTls).unwrap();
    let parts: Vec<String> = c
        .query(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        parts,
        [
            "scout_audit_events_undated",
            "scout_audit_events_y2026m09",
            "scout_audit_events_y2026m10",
            "scout_audit_events_y2026m11"
        ]
    );
    let dropped = s
        .drop_partitions_before(Timestamp::parse("2026-11-01T00:00:00Z").unwrap())
        .unwrap();
    assert_eq!(
        dropped,
        ["scout_audit_events_y2026m09", "scout_audit_events_y2026m10"]
    );
    assert_eq!(
        s.count(&Filter::new()).unwrap(),
        2,
        "november and the undated record remain"
    );
    assert_eq!(
        s.count(&Filter::new().until(Timestamp::MAX)).unwrap(),
        1,
        "undated never matches a time filter"
    );
    s.close().unwrap();
}

#[test]
fn lost_connection_is_retried_without_duplicates() {
    let Some(db) = Db::new() else { return };
    let s = PgStore::builder(&db.url)
        .durability(Durability::Sync)
        .open()
        .unwrap();
    let mut admin = Client::connect(&db.url, NoTls).unwrap();
    for i in 0..300u64 {
        s.log(Event::new("nav").field("i", i)).unwrap();
        if i % 50 == 25 {
            // Kill every other connection to this database (the writer's).
            admin
                .batch_execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .unwrap();
        }
    }
    s.flush().unwrap();
    let is: Vec<u64> = s
        .scan(&Filter::new())
        .unwrap()
        .map(|r| r.unwrap().get("i").unwrap().as_u64().unwrap())
        .collect();
    assert_eq!(
        is,
        (0..300).collect::<Vec<_>>(),
        "every event once, in order"
    );
    s.close().unwrap();
}

#[test]
fn unreachable_server_is_one_clear_error() {
    let err = PgStore::open("postgres://nobody:secret@127.0.0.1:1/none")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("postgres: connect to postgres://nobody:***@127.0.0.1:1/none"),
        "{err}"
    );
    assert!(!err.contains("secret"));
}

/// A table written before content keys (the version 1 DDL, no meta table,
/// keys of session and seq) is migrated on open by concurrent openers, once:
/// every key is recomputed from its record, the version is 2, and
/// importing the same records again inserts nothing.
#[test]
fn version_1_table_migrates_to_content_keys() {
    let Some(db) = Db::new() else { return };
    let lines = [
        r#"{"ts":"2026-11-01T00:00:00+00:00","event":"llm_call","session_id":"X","seq":0,"cost":1.0}"#,
        r#"{"ts":"2026-11-01T00:00:01+00:00","event":"llm_call","session_id":"X","seq":1,"cost":2.0}"#,
        r#"{"ts":"2026-11-01T00:00:02+00:00","event":"nav","session_id":"py"}"#,
    ];
    let recs: Vec<Record> = lines
        .iter()
        .map(|l| match decode_line(l.as_bytes()) {
            Decoded::Record(r) => r,
            o => panic!("{o:?}"),
        })
        .collect();
    let mut c = Client::connect(&db.url, NoTls).unwrap();
    c.batch_execute(
        "CREATE TABLE scout_audit_events (
            id bigserial, ts_us bigint NOT NULL, ts_sub integer NOT NULL, has_ts boolean NOT NULL,
            event text, session_id text, seq bigint, cost double precision, model text,
            input_t bigint, output_t bigint, dedup_key text NOT NULL, record text NOT NULL,
            UNIQUE (dedup_key, ts_us)
         ) PARTITION BY RANGE (ts_us);
         CREATE TABLE scout_audit_events_undated PARTITION OF scout_audit_events DEFAULT;
         CREATE INDEX scout_audit_events_id ON scout_audit_events (id);",
    )
    .unwrap();
    // The month partition the old writer made for these rows.
    let month = |t: &str| Timestamp::parse(t).unwrap().unix_micros();
    c.batch_execute(&format!(
        "CREATE TABLE scout_audit_events_y2026m11 PARTITION OF scout_audit_events \
         FOR VALUES FROM ({}) TO ({})",
        month("2026-11-01T00:00:00Z"),
        month("2026-12-01T00:00:00Z")
    ))
    .unwrap();
    let old_keys = [
        "s:X:00000000000000000000",
        "s:X:00000000000000000001",
        "h:66:0123456789abcdef",
    ];
    for (r, k) in recs.iter().zip(old_keys) {
        let us = r.ts().unwrap().unix_micros();
        let seq = r.seq().map(|q| q as i64);
        c.execute(
            "INSERT INTO scout_audit_events (ts_us, ts_sub, has_ts, event, session_id, seq, cost, \
             dedup_key, record) VALUES ($1, 0, true, $2, $3, $4, $5, $6, $7)",
            &[
                &us,
                &r.event(),
                &r.session_id(),
                &seq,
                &r.cost(),
                &k,
                &r.to_json_line(),
            ],
        )
        .unwrap();
    }
    std::thread::scope(|sc| {
        for _ in 0..3 {
            sc.spawn(|| PgStore::open(&db.url).unwrap().close().unwrap());
        }
    });
    let version: String = c
        .query_one(
            "SELECT value FROM scout_audit_meta WHERE key = 'schema_version'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(version, "2");
    let keys: Vec<String> = c
        .query("SELECT dedup_key FROM scout_audit_events ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let want: Vec<String> = recs.iter().map(Record::dedup_key).collect();
    assert_eq!(keys, want);
    let s = PgStore::open(&db.url).unwrap();
    s.import(recs.clone()).unwrap();
    s.flush().unwrap();
    assert_eq!(s.count(&Filter::new()).unwrap(), 3);
    s.close().unwrap();
    // The seq probe still finds X's last seq: a writer of X continues at 2.
    let s = PgStore::builder(&db.url)
        .session(SessionId::new("X"))
        .open()
        .unwrap();
    assert_eq!(s.log(Event::new("nav")).unwrap().seq, 2);
    s.close().unwrap();
}

/// A database someone else wrote is input: a `cost` column holding an
/// infinity or NaN (which the store never writes) makes the sum an error,
/// never a plausible total without it (as on SQLite).
#[test]
fn non_finite_costs_in_a_foreign_database_are_an_error() {
    use scout_audit_core::agg::SumOverflow;
    let Some(db) = Db::new() else { return };
    let s = PgStore::open(&db.url).unwrap();
    for c in [0.25, 0.5, 1.0] {
        s.log(Event::new("nav").cost(c).model("m")).unwrap();
    }
    s.close().unwrap();
    for bad in ["'Infinity'", "'-Infinity'", "'NaN'"] {
        let mut c = Client::connect(&db.url, NoTls).unwrap();
        c.batch_execute(&format!(
            "UPDATE scout_audit_events SET cost = {bad} WHERE model = 'm' AND cost <> 0.25"
        ))
        .unwrap();
        let s = PgStore::open(&db.url).unwrap();
        let spend = s.spend(&Filter::new(), None).unwrap();
        assert_eq!(spend.records(), 3);
        assert_eq!(spend.total(), Err(SumOverflow::NotFinite), "{bad}");
        s.close().unwrap();
    }
}
