//! The period groupings (`spend --by week|month|day`) at their edges:
//! hand-computed answers every backend must give exactly.

use scout_audit_core::agg::{GroupBy, SpendBy};
use scout_audit_core::{
    Decoded, Durability, Filter, ReadStore, Record, SessionId, Sink, Timestamp, decode_line,
};

use crate::{FileHarness, Harness, clock};

/// The edge records: `(ts text, cost, input_t)`. Costs are distinct powers
/// of two, so every group's exact sum names its records.
const EDGES: [(Option<&str>, f64, u64); 9] = [
    // Sunday's last microsecond in UTC, then Monday 00:00: two ISO weeks.
    (Some("2026-01-04T23:59:59.999999+00:00"), 1.0, 1),
    (Some("2026-01-05T00:00:00+00:00"), 2.0, 2),
    // Dec 31 / Jan 1 across an ISO-year change: both in 2026-W53.
    (Some("2026-12-31T23:59:59+00:00"), 4.0, 3),
    (Some("2027-01-01T00:00:00+00:00"), 8.0, 4),
    // Feb 29 of a leap year; the next record is March 1 where it was
    // written, Feb 29 in UTC.
    (Some("2028-02-29T12:00:00+00:00"), 16.0, 5),
    (Some("2028-03-01T00:30:00+01:00"), 32.0, 6),
    // Sunday March 1 where written (2026-W09), Monday March 2 in UTC.
    (Some("2026-03-01T23:30:00-01:00"), 0.5, 7),
    // Sunday where written (2026-W53), Monday 2027-01-04 in UTC.
    (Some("2027-01-03T23:59:59-05:00"), 0.25, 8),
    // No ts: the group without a key.
    (None, 64.0, 9),
];

/// The edge records as read back (session `P`, seqs 0..).
fn edge_records() -> Vec<Record> {
    EDGES
        .iter()
        .enumerate()
        .map(|(i, (ts, cost, input_t))| {
            let ts = ts.map_or(String::new(), |t| format!(r#""ts":"{t}","#));
            let line = format!(
                r#"{{{ts}"event":"llm_call","session_id":"P","seq":{i},"model":"m","cost":{cost:?},"input_t":{input_t}}}"#
            );
            match decode_line(line.as_bytes()) {
                Decoded::Record(r) => r,
                other => panic!("{line}: {other:?}"),
            }
        })
        .collect()
}

/// `(key, records, cost, input_t)` of each group, in key order.
fn rows(s: &SpendBy) -> Vec<(Option<String>, u64, f64, u64)> {
    s.groups()
        .map(|(k, g)| {
            let cost = g.cost.value().expect("finite");
            (k.map(str::to_owned), g.records, cost, g.input_t)
        })
        .collect()
}

fn row(k: Option<&str>, records: u64, cost: f64, input_t: u64) -> (Option<String>, u64, f64, u64) {
    (k.map(str::to_owned), records, cost, input_t)
}

/// Weeks, months and days at their edges: the exact hand-computed groups,
/// and the file store's answer, on this backend; a `since` filter keeps
/// only the records at or after it (in UTC).
pub fn period_edges_group_alike<H: Harness>(h: &H) {
    let n = h.name();
    let s = h.open(Durability::Process, SessionId::new("s-periods"), clock());
    s.import(edge_records()).unwrap();
    s.flush().unwrap();
    let fh = FileHarness::default();
    let f = fh.open(Durability::Process, SessionId::new("s-periods"), clock());
    f.import(edge_records()).unwrap();
    f.flush().unwrap();
    let all = Filter::new();
    let week = s.spend(&all, Some(GroupBy::Week)).unwrap();
    assert_eq!(
        rows(&week),
        [
            row(None, 1, 64.0, 9),
            row(Some("2026-W01"), 1, 1.0, 1),
            row(Some("2026-W02"), 1, 2.0, 2),
            row(Some("2026-W10"), 1, 0.5, 7),
            row(Some("2026-W53"), 2, 12.0, 7),
            row(Some("2027-W01"), 1, 0.25, 8),
            row(Some("2028-W09"), 2, 48.0, 11),
        ],
        "{n}: by week"
    );
    let month = s.spend(&all, Some(GroupBy::Month)).unwrap();
    assert_eq!(
        rows(&month),
        [
            row(None, 1, 64.0, 9),
            row(Some("2026-01"), 2, 3.0, 3),
            row(Some("2026-03"), 1, 0.5, 7),
            row(Some("2026-12"), 1, 4.0, 3),
            row(Some("2027-01"), 2, 8.25, 12),
            row(Some("2028-02"), 2, 48.0, 11),
        ],
        "{n}: by month"
    );
    let day = s.spend(&all, Some(GroupBy::Day)).unwrap();
    let days: Vec<_> = rows(&day).into_iter().map(|r| (r.0, r.1)).collect();
    let want: Vec<_> = [
        (None, 1),
        (Some("2026-01-04"), 1),
        (Some("2026-01-05"), 1),
        (Some("2026-03-02"), 1),
        (Some("2026-12-31"), 1),
        (Some("2027-01-01"), 1),
        (Some("2027-01-04"), 1),
        (Some("2028-02-29"), 2),
    ]
    .into_iter()
    .map(|(k, c)| (k.map(str::to_owned), c))
    .collect();
    assert_eq!(days, want, "{n}: by day");
    // From Monday 2026-01-05 on, in UTC: not the Sunday, nor the record
    // without a ts.
    let since = Filter::new().since(Timestamp::parse("2026-01-05T00:00:00Z").unwrap());
    let week_since = s.spend(&since, Some(GroupBy::Week)).unwrap();
    assert_eq!(
        rows(&week_since).first(),
        Some(&row(Some("2026-W02"), 1, 2.0, 2)),
        "{n}: by week since"
    );
    assert_eq!(week_since.records(), 7, "{n}");
    for flt in [&all, &since] {
        for by in [GroupBy::Day, GroupBy::Week, GroupBy::Month] {
            assert_eq!(
                s.spend(flt, Some(by)).unwrap(),
                f.spend(flt, Some(by)).unwrap(),
                "{n}: {by:?} {flt:?} as the file store"
            );
        }
    }
    s.close().unwrap();
    f.close().unwrap();
}
