//! `export_segments`: sources exported in parallel, each into its own
//! parts, what was skipped reported in log order, and nothing twice.

use std::fs;
use std::path::Path;

use scout_audit_core::Filter;
use scout_audit_export::export_segments;
use scout_audit_scan::Inputs;

fn line(day: u32, session: &str, seq: u64) -> String {
    format!(
        "{{\"ts\":\"2026-01-{day:02}T00:00:00+00:00\",\"event\":\"nav\",\"session_id\":\"{session}\",\"seq\":{seq}}}\n"
    )
}

fn part(out: &Path, day: u32, name: &str) -> bool {
    out.join(format!("date=2026-01-{day:02}"))
        .join(name)
        .is_file()
}

#[test]
fn sources_go_into_parts_of_their_own_and_are_exported_once() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.jsonl");
    let b = tmp.path().join("b.jsonl");
    fs::write(
        &a,
        [line(2, "a", 0), line(3, "a", 1), line(3, "a", 2)].concat(),
    )
    .unwrap();
    fs::write(
        &b,
        [line(2, "b", 0), "not json\n".into(), line(2, "b", 1)].concat(),
    )
    .unwrap();
    let out = tmp.path().join("export");
    let inputs = || Inputs::paths([&a, &b]).unwrap();

    let (s, skipped) = export_segments(&out, inputs(), &Filter::new(), 2).unwrap();
    assert_eq!((s.records, s.already, s.files, s.run), (5, 0, 3, 1));
    assert_eq!(skipped.count, 1);
    assert!(skipped.examples[0].contains("b.jsonl:2"), "{skipped:?}");
    assert!(part(&out, 2, "part-000001-00000.parquet"));
    assert!(part(&out, 3, "part-000001-00000.parquet"));
    assert!(part(&out, 2, "part-000001-00001.parquet"));

    let (s, _) = export_segments(&out, inputs(), &Filter::new(), 2).unwrap();
    assert_eq!((s.records, s.already, s.files, s.run), (0, 5, 0, 2));
}
