//! `spend` and `accuracy` with a fixed `--now` over events with explicit
//! `ts`: the Python semantics, exactly.

use serde_json::{Value, json};

use crate::support::{NOW, Store, column};

/// Costs are exact binary fractions, so sums are exact whatever the order.
/// Two writer processes: A..D, then E..G.
fn spend_store() -> (Store, [String; 2]) {
    let s = Store::new();
    s.log_lines(
        &[],
        &[
            json!({"event":"llm_call","ts":"2026-03-01T11:30:00Z","cost":0.25,"model":"a","input_t":100,"output_t":10}),
            json!({"event":"llm_call","ts":"2026-03-01T10:59:59.999999Z","cost":1.0,"model":"b"}),
            // Exactly now - 1h, written with an offset.
            json!({"event":"nav","ts":"2026-03-01T13:00:00+02:00","cost":0.5,"model":"a"}),
            json!({"event":"nav","ts":"2026-02-28T23:00:00Z","cost":2}),
        ],
    );
    s.log_lines(
        &[],
        &[
            json!({"event":"validation_fail","ts":"2026-03-01T11:59:00Z"}),
            json!({"event":"llm_call","ts":"2026-03-01T12:00:00Z","cost":0.125,"model":"b","input_t":7}),
            // In the future: the Python hourly_spend has no upper bound.
            json!({"event":"cascade","ts":"2026-03-01T13:00:00Z","cost":4,"model":"a"}),
        ],
    );
    let sessions = column(&s.records(), "session_id");
    let a = sessions[0].as_str().unwrap().to_owned();
    let b = sessions[6].as_str().unwrap().to_owned();
    assert_ne!(a, b);
    (s, [a, b])
}

fn spend(s: &Store, args: &[&str]) -> Value {
    let mut a = vec!["--now", NOW, "spend", "--format", "json"];
    a.extend_from_slice(args);
    let out = s.ok(&a);
    assert_eq!(out.lines().count(), 1, "{out}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn spend_windows() {
    let (s, _) = spend_store();
    // --hours 1 is the default; ts >= now - 1h.
    let one = json!({"total_cost": 4.875, "records": 5, "since": "2026-03-01T11:00:00+00:00"});
    assert_eq!(spend(&s, &["--hours", "1"]), one);
    assert_eq!(spend(&s, &[]), one);
    // The exact text, keys in this order.
    assert_eq!(
        s.ok(&["--now", NOW, "spend", "--hours", "1", "--format", "json"]),
        "{\"total_cost\":4.875,\"records\":5,\"since\":\"2026-03-01T11:00:00+00:00\"}\n"
    );
    assert_eq!(
        spend(&s, &["--hours", "0.5"]),
        json!({"total_cost": 4.375, "records": 4, "since": "2026-03-01T11:30:00+00:00"})
    );
    assert_eq!(
        spend(&s, &["--hours", "2"]),
        json!({"total_cost": 5.875, "records": 6, "since": "2026-03-01T10:00:00+00:00"})
    );
    // hours <= 0: 0.0 without reading.
    for h in ["0", "-1", "-0.5"] {
        assert_eq!(
            s.ok(&["--now", NOW, "spend", "--hours", h, "--format", "json"]),
            "{\"total_cost\":0.0,\"records\":0}\n",
            "{h}"
        );
    }
    assert_eq!(
        spend(&s, &["--since", "2026-03-01"]),
        json!({"total_cost": 5.875, "records": 6, "since": "2026-03-01T00:00:00+00:00"})
    );
    assert_eq!(
        spend(&s, &["--since", "2026-03-01T00:00:00+01:00"]),
        json!({"total_cost": 7.875, "records": 7, "since": "2026-02-28T23:00:00+00:00"})
    );
    assert_eq!(
        spend(&s, &["--since", "61m"]),
        json!({"total_cost": 5.875, "records": 6, "since": "2026-03-01T10:59:00+00:00"})
    );
    // --hours and --since exclude each other.
    let o = s.cmd(&["spend", "--hours", "1", "--since", "2h"]).run();
    assert_eq!(o.code, Some(2));
}

#[test]
fn spend_grouped() {
    let (s, [a, b]) = spend_store();
    let g = |key: Value, records: u64, cost: f64, input_t: u64, output_t: u64| json!({"key": key, "records": records, "cost": cost, "input_t": input_t, "output_t": output_t});
    let all = ["--since", "2026-02-01"];
    let by = |what: &str| {
        let mut a = all.to_vec();
        a.extend(["--by", what]);
        spend(&s, &a)["groups"].clone()
    };
    assert_eq!(
        by("hour"),
        json!([
            g("2026-02-28T23:00:00+00:00".into(), 1, 2.0, 0, 0),
            g("2026-03-01T10:00:00+00:00".into(), 1, 1.0, 0, 0),
            g("2026-03-01T11:00:00+00:00".into(), 3, 0.75, 100, 10),
            g("2026-03-01T12:00:00+00:00".into(), 1, 0.125, 7, 0),
            g("2026-03-01T13:00:00+00:00".into(), 1, 4.0, 0, 0),
        ])
    );
    assert_eq!(
        by("day"),
        json!([
            g("2026-02-28".into(), 1, 2.0, 0, 0),
            g("2026-03-01".into(), 6, 5.875, 107, 10),
        ])
    );
    assert_eq!(
        by("model"),
        json!([
            g(Value::Null, 2, 2.0, 0, 0),
            g("a".into(), 3, 4.75, 100, 10),
            g("b".into(), 2, 1.125, 7, 0),
        ])
    );
    let mut want = vec![
        (a.clone(), g(a.clone().into(), 4, 3.75, 100, 10)),
        (b.clone(), g(b.clone().into(), 3, 4.125, 7, 0)),
    ];
    want.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        by("session"),
        Value::Array(want.into_iter().map(|(_, v)| v).collect())
    );
    let whole = spend(&s, &["--hours", "1", "--by", "model"]);
    assert_eq!(whole["total_cost"], 4.875);
    assert_eq!(
        whole["groups"],
        json!([
            g(Value::Null, 1, 0.0, 0, 0),
            g("a".into(), 3, 4.75, 100, 10),
            g("b".into(), 1, 0.125, 7, 0)
        ])
    );
    // The table for people.
    assert_eq!(
        s.ok(&[
            "--now",
            NOW,
            "spend",
            "--since",
            "2026-02-01",
            "--by",
            "day",
            "--format",
            "table"
        ]),
        "DAY         RECORDS   COST  INPUT_T  OUTPUT_T\n\
         2026-02-28        1    2.0        0         0\n\
         2026-03-01        6  5.875      107        10\n\
         \n\
         total_cost  7.875\n\
         records     7\n\
         since       2026-02-01T00:00:00+00:00\n"
    );
    assert_eq!(
        s.ok(&["--now", NOW, "spend", "--by", "model", "--format", "csv"]),
        "MODEL,RECORDS,COST,INPUT_T,OUTPUT_T\n-,1,0.0,0,0\na,3,4.75,100,10\nb,1,0.125,7,0\n"
    );
}

#[test]
fn accuracy_python_rounding() {
    let s = Store::new();
    let ev = |e: &str, t: &str| json!({"event": e, "ts": format!("2026-03-01T{t}Z")});
    s.log_lines(
        &[],
        &[
            ev("nav", "08:00:00"),
            ev("validation_fail", "09:00:00"),
            ev("nav", "10:00:00"),
            ev("nav", "10:30:00"),
            ev("nav", "11:00:00"),
            ev("validation_fail", "11:30:00"),
            ev("brief", "11:45:00"),
        ],
    );
    let check = |args: &[&str], want: &str| {
        let mut a = vec!["--now", NOW, "accuracy", "--format", "json"];
        a.extend_from_slice(args);
        assert_eq!(s.ok(&a), format!("{want}\n"), "{args:?}");
    };
    check(
        &[],
        r#"{"total_nav":4,"validation_fail_count":2,"accuracy_pct":50.0}"#,
    );
    check(
        &["--since", "2h"],
        r#"{"total_nav":3,"validation_fail_count":1,"accuracy_pct":66.67}"#,
    );
    check(
        &["--since", "2026-03-01T11:00:00+01:00"],
        r#"{"total_nav":3,"validation_fail_count":1,"accuracy_pct":66.67}"#,
    );
    check(
        &["--since", "2026-03-01T10:15:00Z"],
        r#"{"total_nav":2,"validation_fail_count":1,"accuracy_pct":50.0}"#,
    );
    check(
        &["--since", "45m"],
        r#"{"total_nav":0,"validation_fail_count":1,"accuracy_pct":100.0}"#,
    );
    check(
        &["--since", "now"],
        r#"{"total_nav":0,"validation_fail_count":0,"accuracy_pct":100.0}"#,
    );
    assert_eq!(
        s.ok(&[
            "--now", NOW, "accuracy", "--since", "2h", "--format", "table"
        ]),
        "TOTAL_NAV  VALIDATION_FAIL_COUNT  ACCURACY_PCT\n        3                      1         66.67\n"
    );
}

#[test]
fn spend_tables_escape_control_characters_in_models_and_sessions() {
    let s = Store::new();
    s.log_lines(
        &[],
        &[
            json!({"event":"llm_call","ts":"2026-03-01T11:30:00Z","cost":0.25,"model":"m\u{1b}]0;owned\u{7}"}),
            json!({"event":"llm_call","ts":"2026-03-01T11:31:00Z","cost":0.5,"model":"n\u{9b}31m","session_id":"ignored"}),
        ],
    );
    for by in ["model", "session", "day"] {
        let out = s
            .cmd(&["--now", NOW, "spend", "--by", by, "--format", "table"])
            .run()
            .ok();
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "{by}: {out:?}"
        );
        if by == "model" {
            assert!(out.contains("\nm\\x1b]0;owned\\x07  "), "{out:?}");
            assert!(out.contains("\nn\\u{9b}31m  "), "{out:?}");
        }
    }
    // CSV keeps the value exact.
    let csv = s.ok(&["--now", NOW, "spend", "--by", "model", "--format", "csv"]);
    assert!(csv.contains("\nm\u{1b}]0;owned\u{7},1,"), "{csv:?}");
    // accuracy's table is numbers only, and goes through the same printer.
    let acc = s.ok(&["--now", NOW, "accuracy", "--format", "table"]);
    assert!(!acc.chars().any(|c| c.is_control() && c != '\n'), "{acc:?}");
}

/// Finding 2: costs whose exact sum overflows are an error (exit 1, one
/// line), never 0; a finite exact sum of huge costs is given correctly
/// rounded, from the live file and from indexed archives alike.
#[test]
fn spend_of_huge_costs_is_exact_or_an_error() {
    let overflow = "scout-audit: error: total cost of the selected records overflows \
                    (exceeds 1.8e308): at least one cost is absurd; `scout-audit query \
                    --format jsonl` lists the records with their costs";
    // Each through `log EVENT --cost X`.
    let s = Store::new();
    for c in ["100", "1.797e308", "1.797e308", "-1.797e308", "50"] {
        s.ok(&["log", "nav", &format!("--cost={c}"), "--model", "m"]);
    }
    let v: Value = serde_json::from_str(&s.ok(&["spend", "--format", "json"])).unwrap();
    assert_eq!(
        (&v["total_cost"], &v["records"]),
        (&json!(1.797e308), &json!(5))
    );
    let t = Store::new();
    for c in ["100", "200", "1e308", "1e308", "300"] {
        t.ok(&["log", "nav", &format!("--cost={c}"), "--model", "m"]);
    }
    for format in ["json", "table", "csv"] {
        assert_eq!(
            t.cmd(&["spend", "--format", format]).run().error(),
            overflow
        );
    }
    let n = Store::new();
    for c in ["-1e308", "-1e308"] {
        n.ok(&["log", "nav", &format!("--cost={c}")]);
    }
    assert_eq!(
        n.cmd(&["spend"]).run().error(),
        "scout-audit: error: total cost of the selected records overflows (below -1.8e308): \
         at least one cost is absurd; `scout-audit query --format jsonl` lists the records \
         with their costs"
    );
    // Grouped: a group that overflows is an error even when the total is
    // not, naming the group.
    t.ok(&["log", "nav", "--cost=-1e308", "--model", "n"]);
    t.ok(&["log", "nav", "--cost=-1e308", "--model", "n"]);
    let v: Value = serde_json::from_str(&t.ok(&["spend", "--format", "json"])).unwrap();
    assert_eq!(v["total_cost"], json!(600.0));
    assert_eq!(
        t.cmd(&["spend", "--by", "model"]).run().error(),
        "scout-audit: error: total cost of the selected records in group \"m\" overflows \
         (exceeds 1.8e308): at least one cost is absurd; `scout-audit query --format jsonl` \
         lists the records with their costs"
    );
    // Per session (one a `log` process): no group overflows.
    let v: Value =
        serde_json::from_str(&t.ok(&["spend", "--by", "session", "--format", "json"])).unwrap();
    let mut costs: Vec<f64> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["cost"].as_f64().unwrap())
        .collect();
    costs.sort_by(f64::total_cmp);
    assert_eq!(costs, [-1e308, -1e308, 100.0, 200.0, 300.0, 1e308, 1e308]);
    assert_eq!(v["total_cost"], json!(600.0));
    // Two archives (two 1e308, then -1e308), indexed as they are sealed,
    // and the live file: the index holds a sum beyond the doubles.
    let u = Store::new();
    for batch in [&["1e308", "1e308"][..], &["-1e308"], &["100"]] {
        for c in batch {
            u.ok(&["log", "nav", &format!("--cost={c}")]);
        }
        if batch != ["100"] {
            u.ok(&["rotate"]);
        }
    }
    let idx: Vec<String> = u
        .files()
        .into_iter()
        .filter(|f| f.ends_with(".idx"))
        .collect();
    assert_eq!(idx.len(), 2, "{:?}", u.files());
    let texts: Vec<String> = idx
        .iter()
        .map(|i| std::fs::read_to_string(u.file(i)).unwrap())
        .collect();
    for text in &texts {
        assert!(
            text.starts_with(&format!(
                "{{\"scout_audit_index\":{},",
                scout_audit_store_file::index::INDEX_VERSION
            )),
            "{text}"
        );
    }
    // 2e308 exactly (0x8e679c2f5e45 * 2^977 == 2 * 1e308).
    assert!(
        texts
            .iter()
            .any(|t| t.contains("\"cost\":\"0x8e679c2f5e45p+977\"")),
        "{texts:?}"
    );
    let v: Value = serde_json::from_str(&u.ok(&["spend", "--format", "json"])).unwrap();
    assert_eq!(
        (&v["total_cost"], &v["records"]),
        (&json!(1e308), &json!(4))
    );
}
