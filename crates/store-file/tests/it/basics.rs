//! Basics: log and read back at every level, the Python API, sessions, the line bound.
use std::os::unix::fs::PermissionsExt;

use scout_audit_core::{Durability, Event, Filter, SessionId, Timestamp};
use scout_audit_store_file::{AuditLog, FileStore};

use crate::support::*;

#[test]
fn logs_and_reads_back_in_order() {
    let t = temp_store();
    let store = FileStore::builder(&t.path)
        .session(SessionId::new("s-basic"))
        .open()
        .unwrap();
    for i in 0..25u64 {
        let r = store
            .append(Event::new("nav").cost(0.5).input_t(i).field("i", i))
            .unwrap();
        assert_eq!(r.seq, i);
    }
    store.close().unwrap();
    let (recs, report) = read_all(&t.path);
    assert_eq!(recs.len(), 25);
    assert_eq!(report.problem_count(), 0);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.seq(), Some(i as u64));
        assert_eq!(r.session_id(), Some("s-basic"));
        assert_eq!(r.get("i").and_then(|v| v.as_u64()), Some(i as u64));
    }
    let keys: Vec<&str> = recs[0].fields().keys().map(String::as_str).collect();
    // The session was given, not generated: the writer stamps its records.
    assert_eq!(
        keys,
        [
            "ts",
            "event",
            "session_id",
            "seq",
            "writer",
            "cost",
            "input_t",
            "i"
        ]
    );
    let text = std::fs::read_to_string(&t.path).unwrap();
    assert!(text.starts_with("{\"ts\":\""));
    assert_eq!(text.lines().count(), 25);
    // Files 0600, directories 0700.
    let mode = std::fs::metadata(&t.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn creates_missing_directories_0700() {
    let t = temp_store();
    let path = t.dir.path().join("a/b/audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    log.log(Event::new("nav")).unwrap();
    log.close().unwrap();
    for d in ["a", "a/b"] {
        let mode = std::fs::metadata(t.dir.path().join(d))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700, "{d}");
    }
}

/// Finding 2: costs whose exact sum overflows give an error, never 0; a
/// finite exact sum of huge costs is given correctly rounded.
#[test]
fn hourly_spend_is_exact_or_an_error() {
    let t = temp_store();
    let log = AuditLog::open(&t.path).unwrap();
    for c in [100.0, 1.797e308, 1.797e308, -1.797e308, 50.0] {
        log.log(Event::new("nav").cost(c)).unwrap();
    }
    assert_eq!(log.hourly_spend(1.0).unwrap(), 1.797e308);
    log.log(Event::new("nav").cost(1.797e308)).unwrap();
    let err = log.hourly_spend(1.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "total cost of the selected records in {} cannot be given: \
             the exact sum exceeds the largest finite double (about 1.8e308)",
            t.path.parent().unwrap().display()
        )
    );
}

#[test]
fn python_api_answers() {
    let t = temp_store();
    let log = AuditLog::open(&t.path).unwrap();
    let now = Timestamp::now();
    let old = now.saturating_sub(std::time::Duration::from_secs(7200));
    log.log(Event::new("nav").cost(1.0).ts(old)).unwrap();
    log.log(Event::new("nav").cost(0.25)).unwrap();
    log.log(Event::new("validation_fail").cost(0.5)).unwrap();
    log.log(Event::new("brief")).unwrap();
    assert_eq!(log.hourly_spend(1.0).unwrap(), 0.75);
    assert_eq!(log.hourly_spend(3.0).unwrap(), 1.75);
    assert_eq!(log.hourly_spend(0.0).unwrap(), 0.0);
    let last = log.last_events(2, Some("nav")).unwrap();
    assert_eq!(
        last.iter().map(|r| r.cost()).collect::<Vec<_>>(),
        [Some(1.0), Some(0.25)]
    );
    let m = log.accuracy_metrics(None).unwrap();
    assert_eq!(
        (m.total_nav, m.validation_fail_count, m.accuracy_pct),
        (2, 1, 50.0)
    );
    let m = log
        .accuracy_metrics(Some(now.saturating_sub(std::time::Duration::from_secs(60))))
        .unwrap();
    assert_eq!(
        (m.total_nav, m.validation_fail_count, m.accuracy_pct),
        (1, 1, 0.0)
    );
    let q: Vec<_> = log
        .query(&Filter::new().since(old).event("nav"))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(q.len(), 2);
    log.close().unwrap();
}

#[test]
fn every_level_reads_back() {
    for d in Durability::ALL {
        let t = temp_store();
        let store = FileStore::builder(&t.path).durability(d).open().unwrap();
        for _ in 0..100 {
            store.append(Event::new("nav")).unwrap();
        }
        store.close().unwrap();
        let (recs, _) = read_all(&t.path);
        assert_eq!(recs.len(), 100, "{d}");
    }
}

/// Two writers (two processes' opens) logging the same event at the same
/// instant under one session id: two distinct records, each stamped with
/// its writer, both seq 0; verify checks each writer's seq and finds no
/// problem. A writer's own generated session is not stamped.
#[test]
fn writers_under_one_session_id_stay_distinct() {
    let t = temp_store();
    let ts = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    for own in ["p1", "p2"] {
        let store = FileStore::builder(&t.path)
            .session(SessionId::new(own))
            .open()
            .unwrap();
        let r = store
            .append(Event::new("llm_call").session("X").ts(ts).cost(1.0))
            .unwrap();
        assert_eq!(r.seq, 0);
        store.close().unwrap();
    }
    let plain = FileStore::open(&t.path).unwrap();
    plain.append(Event::new("nav")).unwrap();
    plain.close().unwrap();
    let (recs, _) = read_all(&t.path);
    assert_eq!(recs.len(), 3);
    assert_ne!(recs[0].writer(), recs[1].writer());
    assert!(recs[0].writer().is_some() && recs[1].writer().is_some());
    assert_ne!(recs[0].dedup_key(), recs[1].dedup_key());
    assert_eq!(recs[2].writer(), None, "a generated session needs no stamp");
    let layout = scout_audit_store_file::Layout::new(&t.path).unwrap();
    let rep = scout_audit_store_file::verify::verify(
        std::sync::Arc::new(scout_audit_store_file::fs::RealFs),
        &layout,
    )
    .unwrap();
    assert!(rep.is_ok(), "{:?}", rep.problem_lines());
    assert_eq!(rep.shared_seq_count, 0);
}

/// An event whose line, written at `t0` with a one-digit seq of the given
/// session `s` (so stamped with a writer, docs/format.md), is `len` bytes
/// long (without its `\n`).
fn event_of_len(len: usize, t0: Timestamp) -> Event {
    let mut base = Vec::new();
    Event::new("llm_call")
        .cost(5.0)
        .field("pad", "")
        .encode_stamped(
            t0,
            &SessionId::new("s"),
            0,
            Some(&scout_audit_core::WriterId::random()),
            &mut base,
        );
    let pad = len - (base.len() - 1);
    Event::new("llm_call")
        .cost(5.0)
        .field("pad", "a".repeat(pad))
}

#[test]
fn a_line_over_the_bound_is_refused_at_every_level_and_nothing_is_written() {
    let t0 = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    let max = scout_audit_core::MAX_LINE;
    for level in Durability::ALL {
        let t = temp_store();
        let store = FileStore::builder(&t.path)
            .session(SessionId::new("s"))
            .durability(level)
            .clock(std::sync::Arc::new(scout_audit_core::ManualClock::new(t0)))
            .open()
            .unwrap();
        store.append(Event::new("nav")).unwrap();
        let err = store
            .append_batch(vec![Event::new("brief"), event_of_len(max + 1, t0).ts(t0)])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the line is {} bytes, over the line bound of {max} bytes; nothing was written",
                max + 1
            ),
            "{level}"
        );
        // Not poisoned; the refused batch's seqs are given back.
        assert_eq!(store.append(event_of_len(max, t0)).unwrap().seq, 1);
        store.close().unwrap();
        let (recs, report) = read_all(&t.path);
        assert_eq!(report.problem_count(), 0, "{level}");
        let events: Vec<_> = recs.iter().map(|r| (r.event(), r.seq())).collect();
        assert_eq!(
            events,
            [(Some("nav"), Some(0)), (Some("llm_call"), Some(1))],
            "{level}"
        );
        assert_eq!(recs[1].to_json_line().len(), max, "{level}");
    }
}

#[test]
fn import_refuses_a_record_over_the_bound_and_writes_none_of_the_batch() {
    let t = temp_store();
    let store = FileStore::builder(&t.path).open().unwrap();
    let rec = |pad: usize| {
        let line = format!(
            r#"{{"ts":"2026-01-01T00:00:00+00:00","event":"x","session_id":"o","seq":0,"pad":"{}"}}"#,
            "a".repeat(pad)
        );
        match scout_audit_core::decode_line(line.as_bytes()) {
            scout_audit_core::Decoded::Record(r) => r,
            o => panic!("{o:?}"),
        }
    };
    let err = scout_audit_core::Sink::import(&store, vec![rec(1), rec(scout_audit_core::MAX_LINE)])
        .unwrap_err();
    assert!(
        matches!(err, scout_audit_core::Error::LineTooLong { .. }),
        "{err}"
    );
    store.close().unwrap();
    assert_eq!(std::fs::read(&t.path).unwrap(), b"");
}
