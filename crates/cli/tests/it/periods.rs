//! `spend --by week|month` through the scanner: ISO weeks and UTC months at
//! their edges, hand-computed, the same from an archive's index as from
//! its records, as JSON, CSV and a table.

use serde_json::{Value, json};

use crate::support::{NOW, Store};

/// Edge records (costs are distinct powers of two, so a group's sum names
/// its records): the first five go to an indexed archive, the rest stay
/// in the live file.
fn edge_store() -> Store {
    let r = |ts: &str, cost: f64, input_t: u64| json!({"event":"llm_call","ts":ts,"cost":cost,"model":"m","input_t":input_t});
    let s = Store::new();
    s.log_lines(
        &[],
        &[
            // Sunday's last microsecond, then Monday: two ISO weeks.
            r("2026-01-04T23:59:59.999999Z", 1.0, 1),
            r("2026-01-05T00:00:00Z", 2.0, 2),
            // Dec 31 / Jan 1 across an ISO-year change: both 2026-W53.
            r("2026-12-31T23:59:59Z", 4.0, 3),
            r("2027-01-01T00:00:00Z", 8.0, 4),
            // Feb 29 of a leap year.
            r("2028-02-29T12:00:00Z", 16.0, 5),
        ],
    );
    s.ok(&["rotate"]);
    s.log_lines(
        &[],
        &[
            // March 1 where written, Feb 29 in UTC.
            r("2028-03-01T00:30:00+01:00", 32.0, 6),
            // Sunday March 1 where written (W09), Monday March 2 in UTC.
            r("2026-03-01T23:30:00-01:00", 0.5, 7),
            // Sunday 2027-01-03 where written (2026-W53), Monday in UTC.
            r("2027-01-03T23:59:59-05:00", 0.25, 8),
        ],
    );
    assert!(
        s.files().iter().any(|f| f.ends_with(".gz.idx")),
        "{:?}",
        s.files()
    );
    s
}

fn spend(s: &Store, args: &[&str]) -> String {
    let mut a = vec!["--now", NOW, "spend", "--since", "2020-01-01"];
    a.extend_from_slice(args);
    s.ok(&a)
}

fn groups(s: &Store, by: &str) -> Value {
    let v: Value = serde_json::from_str(&spend(s, &["--by", by, "--format", "json"])).unwrap();
    assert_eq!(v["total_cost"], 63.75, "{v}");
    assert_eq!(v["records"], 8, "{v}");
    v["groups"].clone()
}

fn g(key: &str, records: u64, cost: f64, input_t: u64) -> Value {
    json!({"key": key, "records": records, "cost": cost, "input_t": input_t, "output_t": 0})
}

fn week_groups() -> Value {
    json!([
        g("2026-W01", 1, 1.0, 1),
        g("2026-W02", 1, 2.0, 2),
        g("2026-W10", 1, 0.5, 7),
        g("2026-W53", 2, 12.0, 7),
        g("2027-W01", 1, 0.25, 8),
        g("2028-W09", 2, 48.0, 11),
    ])
}

fn month_groups() -> Value {
    json!([
        g("2026-01", 2, 3.0, 3),
        g("2026-03", 1, 0.5, 7),
        g("2026-12", 1, 4.0, 3),
        g("2027-01", 2, 8.25, 12),
        g("2028-02", 2, 48.0, 11),
    ])
}

#[test]
fn weeks_and_months_at_their_edges() {
    let s = edge_store();
    assert_eq!(groups(&s, "week"), week_groups());
    assert_eq!(groups(&s, "month"), month_groups());
    // The same answers from the archive's records as from its index.
    let idx = s.files().into_iter().find(|f| f.ends_with(".idx")).unwrap();
    std::fs::remove_file(s.store_dir().join(idx)).unwrap();
    assert_eq!(groups(&s, "week"), week_groups());
    assert_eq!(groups(&s, "month"), month_groups());
}

#[test]
fn weeks_and_months_as_csv_and_table() {
    let s = edge_store();
    assert_eq!(
        spend(&s, &["--by", "month", "--format", "csv"]),
        "MONTH,RECORDS,COST,INPUT_T,OUTPUT_T\n\
         2026-01,2,3.0,3,0\n\
         2026-03,1,0.5,7,0\n\
         2026-12,1,4.0,3,0\n\
         2027-01,2,8.25,12,0\n\
         2028-02,2,48.0,11,0\n"
    );
    assert_eq!(
        spend(&s, &["--by", "week", "--format", "table"]),
        "WEEK      RECORDS  COST  INPUT_T  OUTPUT_T\n\
         2026-W01        1   1.0        1         0\n\
         2026-W02        1   2.0        2         0\n\
         2026-W10        1   0.5        7         0\n\
         2026-W53        2  12.0        7         0\n\
         2027-W01        1  0.25        8         0\n\
         2028-W09        2  48.0       11         0\n\
         \n\
         total_cost  63.75\n\
         records     8\n\
         since       2020-01-01T00:00:00+00:00\n"
    );
}

/// Two days, two weeks, two models and a record without one.
fn pair_store() -> Store {
    let s = Store::new();
    let r = |ts: &str, model: Option<&str>, cost: f64, output_t: u64| {
        let mut v = json!({"event":"llm_call","ts":ts,"cost":cost,"output_t":output_t});
        if let Some(m) = model {
            v["model"] = json!(m);
        }
        v
    };
    s.log_lines(
        &[],
        &[
            r("2026-02-22T10:00:00Z", Some("b"), 0.5, 1),
            r("2026-02-22T11:00:00Z", Some("a"), 1.0, 2),
            r("2026-02-22T12:00:00Z", Some("b"), 0.25, 4),
            // Monday 00:00 UTC, written at Sunday 23:00 in -01:00.
            r("2026-02-22T23:00:00-01:00", Some("a"), 2.0, 8),
            r("2026-02-23T05:00:00Z", None, 4.0, 16),
        ],
    );
    s
}

fn pg(key: &str, model: Option<&str>, records: u64, cost: f64, output_t: u64) -> Value {
    json!({"key": key, "model": model, "records": records, "cost": cost, "input_t": 0, "output_t": output_t})
}

#[test]
fn two_keys_one_row_per_pair() {
    let s = pair_store();
    let json_of = |by: &str| -> Value {
        serde_json::from_str(&spend(&s, &["--by", by, "--format", "json"])).unwrap()
    };
    let day = json_of("day,model");
    assert_eq!(
        (day["total_cost"].clone(), day["records"].clone()),
        (json!(7.75), json!(5))
    );
    assert_eq!(
        day["groups"],
        json!([
            pg("2026-02-22", Some("a"), 1, 1.0, 2),
            pg("2026-02-22", Some("b"), 2, 0.75, 5),
            pg("2026-02-23", None, 1, 4.0, 16),
            pg("2026-02-23", Some("a"), 1, 2.0, 8),
        ])
    );
    assert_eq!(
        json_of("week,model")["groups"],
        json!([
            pg("2026-W08", Some("a"), 1, 1.0, 2),
            pg("2026-W08", Some("b"), 2, 0.75, 5),
            pg("2026-W09", None, 1, 4.0, 16),
            pg("2026-W09", Some("a"), 1, 2.0, 8),
        ])
    );
    assert_eq!(
        json_of("month,model")["groups"],
        json!([
            pg("2026-02", None, 1, 4.0, 16),
            pg("2026-02", Some("a"), 2, 3.0, 10),
            pg("2026-02", Some("b"), 2, 0.75, 5),
        ])
    );
    assert_eq!(
        spend(&s, &["--by", "day,model", "--format", "csv"]),
        "DAY,MODEL,RECORDS,COST,INPUT_T,OUTPUT_T\n\
         2026-02-22,a,1,1.0,0,2\n\
         2026-02-22,b,2,0.75,0,5\n\
         2026-02-23,-,1,4.0,0,16\n\
         2026-02-23,a,1,2.0,0,8\n"
    );
    assert_eq!(
        spend(&s, &["--by", "month,model", "--format", "table"]),
        "MONTH    MODEL  RECORDS  COST  INPUT_T  OUTPUT_T\n\
         2026-02  -            1   4.0        0        16\n\
         2026-02  a            2   3.0        0        10\n\
         2026-02  b            2  0.75        0         5\n\
         \n\
         total_cost  7.75\n\
         records     5\n\
         since       2020-01-01T00:00:00+00:00\n"
    );
}

#[test]
fn two_keys_are_a_period_then_the_model() {
    let s = pair_store();
    for bad in [
        "model,day",
        "day,session",
        "day,week",
        "day,model,hour",
        "fortnight",
    ] {
        let e = s
            .cmd(&["--now", NOW, "spend", "--since", "30d", "--by", bad])
            .run();
        assert_eq!(e.code, Some(2), "{bad}");
    }
    let e = s.cmd(&["--now", NOW, "spend", "--by", "model,day"]).run();
    assert_eq!(e.code, Some(2));
    assert!(
        e.stderr.contains(
            "cannot group by \"model,day\": two keys are a period (hour, day, week, month) \
             then model, as day,model"
        ),
        "{}",
        e.stderr
    );
}
