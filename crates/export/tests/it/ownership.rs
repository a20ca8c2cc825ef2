//! What an export may create, keep and delete in its directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use scout_audit_core::{Decoded, Record, decode_line};
use scout_audit_export::{Error, export_from};

const MANIFEST: &str = "_scout_audit_export.json";

fn rec(day: u32, seq: u64) -> Record {
    let line = format!(
        r#"{{"ts":"2026-01-{day:02}T00:00:00+00:00","event":"nav","session_id":"s","seq":{seq}}}"#
    );
    match decode_line(line.as_bytes()) {
        Decoded::Record(r) => r,
        o => panic!("{o:?}"),
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_manifest_is_saved_before_the_first_part_and_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("a").join("export");
    let s = export_from(&out, |emit| {
        // The directory is the export's before any part is written.
        assert!(out.join(MANIFEST).is_file());
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
        emit(rec(2, 0))?;
        emit(rec(3, 1))
    })
    .unwrap();
    assert_eq!((s.records, s.files, s.run, s.already), (2, 2, 1, 0));
    assert_eq!(mode(&out), 0o700);
    assert_eq!(mode(&out.join(MANIFEST)), 0o600);
    let part = out.join("date=2026-01-02").join("part-000001.parquet");
    assert_eq!(mode(&part), 0o600);
    assert_eq!(mode(&out.join("date=2026-01-02")), 0o700);
}

#[test]
fn only_the_parts_of_the_interrupted_run_are_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    export_from(&out, |emit| emit(rec(2, 0))).unwrap();
    // Run 2 was interrupted (its parts never reached the manifest); a part
    // named for run 3 cannot be an interrupted run's.
    let day = out.join("date=2026-01-02");
    fs::write(day.join("part-000002-00007.parquet"), b"half").unwrap();
    fs::write(day.join("part-000003.parquet"), b"not ours to delete").unwrap();
    let s = export_from(&out, |emit| {
        emit(rec(2, 0))?;
        emit(rec(5, 1))
    })
    .unwrap();
    assert_eq!((s.records, s.already, s.run), (1, 1, 2));
    assert!(!day.join("part-000002-00007.parquet").exists());
    assert_eq!(
        fs::read(day.join("part-000003.parquet")).unwrap(),
        b"not ours to delete"
    );
    assert!(day.join("part-000001.parquet").is_file());
    assert!(
        out.join("date=2026-01-05")
            .join("part-000002.parquet")
            .is_file()
    );
}

#[test]
fn a_directory_of_another_tool_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("data");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("notes.txt"), b"mine").unwrap();
    let e = export_from(&out, |emit| emit(rec(2, 0))).unwrap_err();
    assert!(matches!(e, Error::NotAnExport { .. }), "{e}");
    assert!(e.to_string().contains("is not a scout-audit export"), "{e}");
    assert_eq!(fs::read_dir(&out).unwrap().count(), 1);

    // An export's directory with a stranger beside the manifest.
    let out = tmp.path().join("export");
    export_from(&out, |emit| emit(rec(2, 0))).unwrap();
    fs::write(out.join("date=2026-01-02").join("README"), b"x").unwrap();
    let e = export_from(&out, |emit| emit(rec(3, 1))).unwrap_err();
    assert!(matches!(e, Error::ForeignEntry { .. }), "{e}");
    assert!(!out.join("date=2026-01-03").exists());
}

#[test]
fn a_link_where_the_manifest_belongs_is_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    fs::create_dir(&out).unwrap();
    let target = tmp.path().join("elsewhere.json");
    fs::write(&target, b"keep").unwrap();
    std::os::unix::fs::symlink(&target, out.join(MANIFEST)).unwrap();
    let e = export_from(&out, |emit| emit(rec(2, 0))).unwrap_err();
    assert!(matches!(e, Error::NotRegular { .. }), "{e}");
    assert_eq!(fs::read(&target).unwrap(), b"keep");
}
