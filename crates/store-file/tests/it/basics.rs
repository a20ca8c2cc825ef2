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
    assert_eq!(
        keys,
        ["ts", "event", "session_id", "seq", "cost", "input_t", "i"]
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
