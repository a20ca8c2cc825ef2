//! `status`: the last hour's spend, today's (UTC) and today's accuracy,
//! hand-computed, as the line, JSON and CSV, from the live file and an
//! indexed archive.

use serde_json::{Value, json};

use crate::support::{NOW, Store};

/// `NOW` is 2026-03-01T12:00:00Z. Yesterday's records go to an indexed
/// archive with some of today's; the rest stay in the live file.
fn status_store() -> Store {
    let s = Store::new();
    let r = |event: &str, ts: &str, cost: Option<f64>| {
        let mut v = json!({"event": event, "ts": ts});
        if let Some(c) = cost {
            v["cost"] = json!(c);
        }
        v
    };
    s.log_lines(
        &[],
        &[
            // Yesterday: in neither window.
            r("nav", "2026-02-28T23:59:59.999999Z", Some(8.0)),
            r("validation_fail", "2026-02-28T23:30:00Z", None),
            // Today from midnight, before the last hour.
            r("llm_call", "2026-03-01T00:00:00Z", Some(0.5)),
            r("llm_call", "2026-03-01T10:59:59.999999Z", Some(1.0)),
        ],
    );
    s.ok(&["rotate"]);
    s.log_lines(
        &[],
        &[
            // The last hour starts at 11:00:00 exactly.
            r("nav", "2026-03-01T11:00:00Z", Some(0.25)),
            // 10:30 in UTC: today, not the last hour.
            r("validation_fail", "2026-03-01T12:30:00+02:00", Some(0.1)),
            r("nav", "2026-03-01T11:30:00Z", Some(2.0)),
            r("nav", "2026-03-01T11:45:00Z", None),
        ],
    );
    assert!(s.files().iter().any(|f| f.ends_with(".gz.idx")));
    s
}

fn status(s: &Store, args: &[&str]) -> String {
    let mut a = vec!["--now", NOW, "status"];
    a.extend_from_slice(args);
    s.ok(&a)
}

#[test]
fn status_line_json_and_csv() {
    let s = status_store();
    // Hour: 0.25 + 2.0; today: 0.5 + 1.0 + 0.25 + 0.1 + 2.0; today's
    // accuracy: 3 nav, 1 validation_fail, (3 - 1) / 3 = 66.67%.
    assert_eq!(
        status(&s, &[]),
        "$2.25/h \u{b7} $3.85 today \u{b7} acc 67%\n"
    );
    let v: Value = serde_json::from_str(&status(&s, &["--format", "json"])).unwrap();
    assert_eq!(
        v,
        json!({
            "per_hour": 2.25,
            "today": 3.85,
            "accuracy_pct": 66.67,
            "total_nav": 3,
            "validation_fail_count": 1,
            "hour_since": "2026-03-01T11:00:00+00:00",
            "today_since": "2026-03-01T00:00:00+00:00",
        })
    );
    assert_eq!(
        status(&s, &["--format", "csv"]),
        "PER_HOUR,TODAY,ACCURACY_PCT,TOTAL_NAV,VALIDATION_FAIL_COUNT\n2.25,3.85,66.67,3,1\n"
    );
    // The same answers from the archive's records as from its index.
    let idx = s.files().into_iter().find(|f| f.ends_with(".idx")).unwrap();
    std::fs::remove_file(s.store_dir().join(idx)).unwrap();
    assert_eq!(
        status(&s, &[]),
        "$2.25/h \u{b7} $3.85 today \u{b7} acc 67%\n"
    );
}

#[test]
fn status_just_after_midnight_and_without_nav() {
    let s = Store::new();
    s.log_lines(
        &[],
        &[
            json!({"event": "nav", "ts": "2026-02-28T23:45:00Z", "cost": 8.0}),
            json!({"event": "llm_call", "ts": "2026-03-01T00:10:00Z", "cost": 0.5}),
        ],
    );
    // At 00:30 the last hour reaches into yesterday; today has one record
    // (0.5) and no nav.
    let early = ["--now", "2026-03-01T00:30:00Z", "status"];
    assert_eq!(s.ok(&early), "$8.50/h \u{b7} $0.50 today \u{b7} acc -\n");
    let mut json = early.to_vec();
    json.extend(["--format", "json"]);
    let v: Value = serde_json::from_str(&s.ok(&json)).unwrap();
    assert_eq!(
        (
            v["per_hour"].clone(),
            v["today"].clone(),
            v["accuracy_pct"].clone(),
            v["total_nav"].clone()
        ),
        (json!(8.5), json!(0.5), json!(100.0), json!(0))
    );
    // Like `spend`, the windows have no upper bound: at 23:50 the day
    // before, tomorrow's record counts in the last hour and today too.
    assert_eq!(
        s.ok(&["--now", "2026-02-28T23:50:00Z", "status"]),
        "$8.50/h \u{b7} $8.50 today \u{b7} acc 100%\n"
    );
    // A day with nothing logged.
    assert_eq!(
        s.ok(&["--now", "2026-03-05T09:00:00Z", "status"]),
        "$0.00/h \u{b7} $0.00 today \u{b7} acc -\n"
    );
}

/// An archive wholly inside today: answered from its index when neither
/// window's start splits an hour bucket, read when the last hour's does;
/// the same answers either way, and without the index.
#[test]
fn status_from_an_index_and_across_a_split_bucket() {
    let s = Store::new();
    s.log_lines(
        &[],
        &[
            json!({"event": "nav", "ts": "2026-03-01T00:00:00Z", "cost": 0.5}),
            json!({"event": "validation_fail", "ts": "2026-03-01T09:15:00Z", "cost": 0.25}),
            json!({"event": "nav", "ts": "2026-03-01T11:00:00Z", "cost": 1.0}),
            json!({"event": "nav", "ts": "2026-03-01T11:40:00Z", "cost": 2.0}),
        ],
    );
    s.ok(&["rotate"]);
    s.log_lines(
        &[],
        &[json!({"event": "llm_call", "ts": "2026-03-01T12:10:00Z", "cost": 4.0})],
    );
    let at = |now: &str| s.ok(&["--now", now, "status"]);
    let check = |s_idx: &str| {
        // At 12:00 the hour starts on a bucket's edge: 1 + 2 + 4.
        assert_eq!(
            at("2026-03-01T12:00:00Z"),
            "$7.00/h \u{b7} $7.75 today \u{b7} acc 67%\n",
            "{s_idx}"
        );
        // At 12:30 it splits the 11:00 bucket: 2 + 4.
        assert_eq!(
            at("2026-03-01T12:30:00Z"),
            "$6.00/h \u{b7} $7.75 today \u{b7} acc 67%\n",
            "{s_idx}"
        );
    };
    check("with the index");
    let idx = s.files().into_iter().find(|f| f.ends_with(".idx")).unwrap();
    std::fs::remove_file(s.store_dir().join(idx)).unwrap();
    check("without it");
}
