//! `sessions`: per-session figures, hand-computed, by cost, with totals,
//! from an archive and the live file, and from input files.

use serde_json::{Value, json};

use crate::support::{NOW, Store};

const ARCHIVED: &str = concat!(
    r#"{"ts":"2026-03-01T10:00:00Z","session_id":"b","event":"nav","model":"m2","cost":1.0,"input_t":5}"#,
    "\n",
    r#"{"ts":"2026-03-01T09:00:00+02:00","session_id":"b","event":"validation_fail","model":"m1"}"#,
    "\n",
    r#"{"ts":"2026-03-01T11:30:00Z","session_id":"b","event":"nav","model":"m2","cost":0.5,"output_t":7}"#,
    "\n",
);

const LIVE: &str = concat!(
    r#"{"ts":"2026-03-01T11:00:00Z","session_id":"a","event":"nav","cost":1.5}"#,
    "\n",
    r#"{"ts":"2026-03-01T12:00:00Z","session_id":"c","event":"brief","cost":0.25,"model":"m1"}"#,
    "\n",
    r#"{"ts":"2026-02-28T12:00:00Z","event":"nav","cost":4.0}"#,
    "\n",
);

fn sessions_store() -> Store {
    let s = Store::new();
    s.write("audit.jsonl", ARCHIVED);
    assert!(s.ok(&["rotate"]).starts_with("sealed "));
    s.write("audit.jsonl", LIVE);
    s
}

#[allow(clippy::too_many_arguments)]
fn row(
    id: Option<&str>,
    first: &str,
    last: &str,
    duration: f64,
    events: u64,
    cost: f64,
    tokens: (u64, u64),
    models: &[&str],
    nav: (u64, u64, f64),
) -> Value {
    json!({
        "session_id": id, "first_ts": first, "last_ts": last, "duration_s": duration,
        "events": events, "cost": cost, "input_t": tokens.0, "output_t": tokens.1,
        "models": models, "total_nav": nav.0, "validation_fail_count": nav.1,
        "accuracy_pct": nav.2,
    })
}

fn sessions(s: &Store, args: &[&str]) -> Value {
    let mut a = vec!["--now", NOW, "sessions", "--format", "json"];
    a.extend_from_slice(args);
    serde_json::from_str(&s.ok(&a)).unwrap()
}

#[test]
fn sessions_by_cost_with_totals() {
    let s = sessions_store();
    let v = sessions(&s, &[]);
    let feb28 = "2026-02-28T12:00:00+00:00";
    let t = |hm: &str| format!("2026-03-01T{hm}:00+00:00");
    assert_eq!(
        v["sessions"],
        json!([
            row(None, feb28, feb28, 0.0, 1, 4.0, (0, 0), &[], (1, 0, 100.0)),
            // a and b tie at 1.5: by session id.
            row(
                Some("a"),
                &t("11:00"),
                &t("11:00"),
                0.0,
                1,
                1.5,
                (0, 0),
                &[],
                (1, 0, 100.0)
            ),
            row(
                Some("b"),
                &t("07:00"),
                &t("11:30"),
                16200.0,
                3,
                1.5,
                (5, 7),
                &["m1", "m2"],
                (2, 1, 50.0)
            ),
            row(
                Some("c"),
                &t("12:00"),
                &t("12:00"),
                0.0,
                1,
                0.25,
                (0, 0),
                &["m1"],
                (0, 0, 100.0)
            ),
        ])
    );
    let mut total = row(
        None,
        feb28,
        &t("12:00"),
        86400.0,
        6,
        7.25,
        (5, 7),
        &["m1", "m2"],
        (4, 1, 75.0),
    );
    let m = total.as_object_mut().unwrap();
    m.remove("session_id");
    m.insert("sessions".into(), json!(4));
    assert_eq!(v["total"], total);
    // The same from the records as input files.
    let input = s.dir.path().join("in.jsonl");
    std::fs::write(&input, format!("{ARCHIVED}{LIVE}")).unwrap();
    let from_input = sessions(&s, &[input.to_str().unwrap()]);
    assert_eq!(from_input, v);
}

#[test]
fn sessions_in_a_window() {
    let s = sessions_store();
    let t = |hm: &str| format!("2026-03-01T{hm}:00+00:00");
    let v = sessions(&s, &["--since", "2026-03-01T08:00:00Z"]);
    assert_eq!(
        v["sessions"],
        json!([
            row(
                Some("a"),
                &t("11:00"),
                &t("11:00"),
                0.0,
                1,
                1.5,
                (0, 0),
                &[],
                (1, 0, 100.0)
            ),
            row(
                Some("b"),
                &t("10:00"),
                &t("11:30"),
                5400.0,
                2,
                1.5,
                (5, 7),
                &["m2"],
                (2, 0, 100.0)
            ),
            row(
                Some("c"),
                &t("12:00"),
                &t("12:00"),
                0.0,
                1,
                0.25,
                (0, 0),
                &["m1"],
                (0, 0, 100.0)
            ),
        ])
    );
    let v = sessions(&s, &["--until", "2026-03-01T11:00:00Z"]);
    let ids: Vec<Value> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["session_id"], r["events"], r["cost"]]))
        .collect();
    assert_eq!(ids, [json!([null, 1, 4.0]), json!(["b", 2, 1.0])]);
    assert_eq!(v["total"]["sessions"], 2);
    assert_eq!(v["total"]["cost"], 5.0);
}

#[test]
fn sessions_as_csv_and_table() {
    let s = sessions_store();
    assert_eq!(
        s.ok(&["--now", NOW, "sessions", "--format", "csv"]),
        "SESSION,FIRST_TS,LAST_TS,DURATION,EVENTS,COST,INPUT_T,OUTPUT_T,MODELS,ACCURACY_PCT\n\
         -,2026-02-28T12:00:00+00:00,2026-02-28T12:00:00+00:00,0:00:00,1,4.0,0,0,,100.00\n\
         a,2026-03-01T11:00:00+00:00,2026-03-01T11:00:00+00:00,0:00:00,1,1.5,0,0,,100.00\n\
         b,2026-03-01T07:00:00+00:00,2026-03-01T11:30:00+00:00,4:30:00,3,1.5,5,7,m1 m2,50.00\n\
         c,2026-03-01T12:00:00+00:00,2026-03-01T12:00:00+00:00,0:00:00,1,0.25,0,0,m1,-\n"
    );
    let table = s.ok(&["--now", NOW, "sessions", "--format", "table"]);
    let last = table.lines().last().unwrap();
    let cells: Vec<&str> = last.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "TOTAL",
            "(4)",
            "2026-02-28T12:00:00+00:00",
            "2026-03-01T12:00:00+00:00",
            "24:00:00",
            "6",
            "7.25",
            "5",
            "7",
            "m1",
            "m2",
            "75.00"
        ]
    );
    assert_eq!(table.lines().count(), 6, "{table}");
}
