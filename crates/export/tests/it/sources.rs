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

/// The rows of each part file under `out`, by path relative to it.
fn rows(out: &Path) -> Vec<(String, i64)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let mut v = Vec::new();
    for d in fs::read_dir(out).unwrap() {
        let d = d.unwrap().path();
        if !d.is_dir() {
            continue;
        }
        for f in fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            let r = SerializedFileReader::new(fs::File::open(&f).unwrap()).unwrap();
            let name = f.strip_prefix(out).unwrap().display().to_string();
            v.push((name, r.metadata().file_metadata().num_rows()));
        }
    }
    v.sort();
    v
}

#[test]
fn consecutive_sources_of_one_group_share_a_dates_part() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.jsonl");
    let b = tmp.path().join("b.jsonl");
    let c = tmp.path().join("c.jsonl");
    fs::write(&a, [line(2, "a", 0), line(3, "a", 1)].concat()).unwrap();
    fs::write(&b, [line(3, "a", 2), line(4, "a", 3)].concat()).unwrap();
    fs::write(&c, [line(4, "a", 4), line(4, "a", 5)].concat()).unwrap();
    let out = tmp.path().join("export");
    // One worker: two groups, [a, b] and [c]. A part is named after the
    // source it was opened at.
    let inputs = Inputs::paths([&a, &b, &c]).unwrap();
    let (s, _) = export_segments(&out, inputs, &Filter::new(), 1).unwrap();
    assert_eq!((s.records, s.already, s.files, s.run), (6, 0, 4, 1));
    assert_eq!(
        rows(&out),
        [
            ("date=2026-01-02/part-000001-00000.parquet".to_owned(), 1),
            ("date=2026-01-03/part-000001-00000.parquet".to_owned(), 2),
            ("date=2026-01-04/part-000001-00001.parquet".to_owned(), 1),
            ("date=2026-01-04/part-000001-00002.parquet".to_owned(), 2),
        ]
    );
}
