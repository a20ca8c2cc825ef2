//! PostgreSQL backend tests, against the server named by
//! `SCOUT_AUDIT_PG_URL` (CI starts one with `.ci/pg-start`). Without it
//! every test says on stdout that it was skipped.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use postgres::{Client, NoTls};
use scout_audit_conformance::Harness;
use scout_audit_core::{
    Durability, Event, Filter, ManualClock, ReadStore, SessionId, Sink, Timestamp,
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
        same_answers_as_the_file_store,
        huge_costs_sum_exactly,
        import_keeps_records
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
