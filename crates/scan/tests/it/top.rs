//! `Scan::top`: today's and the window's records per minute and model,
//! the window's last records, from an index where it can answer, and the
//! same answer when every archive is read.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use scout_audit_core::Timestamp;
use scout_audit_scan::{Inputs, Pruning, Scan, Top, build_indexes};

fn line(ts: &str, model: &str, cost: &str) -> String {
    format!(
        "{{\"ts\":\"{ts}\",\"event\":\"llm_call\",\"model\":\"{model}\",\"cost\":{cost},\"input_t\":10,\"output_t\":1}}\n"
    )
}

fn archive(dir: &Path, name: &str, lines: &[String]) {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(lines.concat().as_bytes()).unwrap();
    std::fs::write(dir.join(name), e.finish().unwrap()).unwrap();
}

fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn top(live: &Path, pruning: Pruning) -> (Top, u64) {
    let a = Scan::new(Inputs::store(live).unwrap())
        .pruning(pruning)
        .top(t("2026-03-01T00:00:00Z"), t("2026-03-01T09:05:00Z"), 3)
        .unwrap();
    (a.value, a.report.from_index)
}

#[test]
fn top_folds_today_and_the_window_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Yesterday only; across midnight; wholly today before the window;
    // in the window.
    archive(
        d,
        "audit-20260228T230000Z-000001.jsonl.gz",
        &[line("2026-02-28T22:00:00Z", "a", "100")],
    );
    archive(
        d,
        "audit-20260301T001000Z-000002.jsonl.gz",
        &[
            line("2026-02-28T23:50:00Z", "a", "100"),
            line("2026-03-01T00:10:00Z", "a", "1"),
        ],
    );
    archive(
        d,
        "audit-20260301T040000Z-000003.jsonl.gz",
        &[
            line("2026-03-01T03:00:00Z", "a", "2"),
            line("2026-03-01T03:30:00Z", "b", "4"),
        ],
    );
    archive(
        d,
        "audit-20260301T100000Z-000004.jsonl.gz",
        &[line("2026-03-01T09:05:00Z", "b", "8")],
    );
    let live = d.join("audit.jsonl");
    std::fs::write(
        &live,
        [
            line("2026-03-01T09:04:59.999999Z", "a", "16"),
            line("2026-03-01T11:00:10Z", "b", "0.5"),
            line("2026-03-01T11:00:59Z", "a", "0.25"),
        ]
        .concat(),
    )
    .unwrap();
    build_indexes(&live, Some(1)).unwrap();
    let (got, from_index) = top(&live, Pruning::SealTime);
    // The archive wholly today and before the window, from its index; the
    // one across midnight and the one in the window read.
    assert_eq!(from_index, 1);
    let (read_all, none) = top(&live, Pruning::Off);
    assert_eq!(none, 0);
    assert_eq!(got, read_all);

    let e = &got.earlier_today;
    assert_eq!(e.records, 4);
    assert_eq!(e.cost.value(), Ok(23.0));
    let models: Vec<_> = e
        .models
        .iter()
        .map(|(k, g)| {
            (
                k.clone().unwrap(),
                g.records,
                g.cost.value().unwrap(),
                g.input_t,
            )
        })
        .collect();
    assert_eq!(
        models,
        [("a".into(), 3, 19.0, 30), ("b".into(), 1, 4.0, 10)]
    );

    let minutes: Vec<_> = got
        .minutes
        .iter()
        .map(|(m, g)| (*m, g.records, g.cost.value().unwrap()))
        .collect();
    let m = |s: &str| t(s).unix_secs();
    assert_eq!(
        minutes,
        [
            (m("2026-03-01T09:05:00Z"), 1, 8.0),
            (m("2026-03-01T11:00:00Z"), 2, 0.75)
        ]
    );
    let latest: Vec<_> = got.latest.iter().map(|r| r.cost().unwrap()).collect();
    assert_eq!(latest, [8.0, 0.5, 0.25]);
}
