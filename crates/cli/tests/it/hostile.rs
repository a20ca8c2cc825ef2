//! A careless user and a hostile process share the directories the CLI
//! writes: nothing is written through a planted link, nothing of another
//! tool's is deleted, a wrong `--path` is refused, and what is made is
//! private (0600 files, 0700 directories).

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use serde_json::json;

use crate::support::*;

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn events(n: u64) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| json!({"ts": format!("2026-01-20T00:00:{:02}+00:00", i % 60), "event": "nav", "cost": 0.5}))
        .collect()
}

#[test]
fn export_refuses_another_tools_data_set_and_deletes_nothing() {
    let s = Store::new();
    s.log_lines(&[], &events(3));
    let dir = s.dir.path().join("spark");
    let day = dir.join("date=2026-01-20");
    std::fs::create_dir_all(&day).unwrap();
    let theirs = [
        day.join("part-00001-8d1c.snappy.parquet"),
        day.join("part-00002-8d1c.snappy.parquet"),
        dir.join("_SUCCESS"),
    ];
    for f in &theirs {
        std::fs::write(f, b"their bytes").unwrap();
    }
    let err = s
        .cmd(&["export", "--out", dir.to_str().unwrap()])
        .run()
        .error();
    assert!(
        err.starts_with(&format!(
            "scout-audit: error: {} is not empty and is not a scout-audit export (no _scout_audit_export.json; ",
            dir.display()
        )),
        "{err}"
    );
    assert!(
        err.ends_with(" is not ours): refusing to write into it or delete anything in it"),
        "{err}"
    );
    for f in &theirs {
        assert_eq!(std::fs::read(f).unwrap(), b"their bytes", "{f:?}");
    }
    let mut names: Vec<_> = std::fs::read_dir(&day)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "part-00001-8d1c.snappy.parquet",
            "part-00002-8d1c.snappy.parquet"
        ]
    );
}

#[test]
fn export_writes_private_files_and_continues_its_own_directory() {
    let s = Store::new();
    s.log_lines(&[], &events(3));
    let dir = s.dir.path().join("export");
    let out = s.ok(&["export", "--out", dir.to_str().unwrap()]);
    assert!(out.starts_with("exported 3 records into 1 files"), "{out}");
    let day = dir.join("date=2026-01-20");
    let part = day.join("part-000001-00000.parquet");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&day), 0o700);
    assert_eq!(mode(&part), 0o600);
    assert_eq!(mode(&dir.join("_scout_audit_export.json")), 0o600);
    // Our own directory: a second run continues it.
    s.log_lines(&[], &events(2));
    let out = s.ok(&["export", "--out", dir.to_str().unwrap()]);
    assert!(out.starts_with("exported 2 records into 1 files"), "{out}");
    assert!(day.join("part-000002-00000.parquet").is_file());
    assert!(part.is_file());
}

#[test]
fn export_never_writes_through_a_planted_link() {
    let s = Store::new();
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("victim");
    std::fs::write(&victim, b"victim bytes").unwrap();
    s.log_lines(&[], &events(3));
    let dir = s.dir.path().join("export");
    s.ok(&["export", "--out", dir.to_str().unwrap()]);
    s.log_lines(&[], &events(1));
    // At the manifest's temporary name.
    let mtmp = dir.join("_scout_audit_export.json.tmp");
    symlink(&victim, &mtmp).unwrap();
    let err = s
        .cmd(&["export", "--out", dir.to_str().unwrap()])
        .run()
        .error();
    assert_eq!(
        err,
        format!(
            "scout-audit: error: {} is a symbolic link to {} (not followed); export does not touch what it did not create",
            mtmp.display(),
            victim.display()
        )
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"victim bytes");
    assert!(std::fs::symlink_metadata(&mtmp).unwrap().is_symlink());
    std::fs::remove_file(&mtmp).unwrap();
    // At a part's temporary name (the run's parts were cleaned up).
    let ptmp = dir.join("date=2026-01-20/part-000002-00000.parquet.tmp");
    symlink(&victim, &ptmp).unwrap();
    let err = s
        .cmd(&["export", "--out", dir.to_str().unwrap()])
        .run()
        .error();
    // Refused before the run starts: a link among the parts is not an
    // export's file.
    assert_eq!(
        err,
        format!(
            "scout-audit: error: {} holds {}, which no export makes: refusing to write into it or delete anything in it",
            dir.display(),
            ptmp.display()
        )
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"victim bytes");
    assert!(std::fs::symlink_metadata(&ptmp).unwrap().is_symlink());
}

#[test]
fn index_never_writes_through_a_link_at_its_temporary_name() {
    let s = Store::new();
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("victim");
    std::fs::write(&victim, b"victim bytes").unwrap();
    s.log_lines(&[], &events(3));
    s.ok(&["rotate"]);
    let idx: Vec<String> = s
        .files()
        .into_iter()
        .filter(|f| f.ends_with(".idx"))
        .collect();
    assert_eq!(idx.len(), 1, "{:?}", s.files());
    std::fs::remove_file(s.store_dir().join(&idx[0])).unwrap();
    let tmp = s.store_dir().join(format!("{}.tmp", idx[0]));
    symlink(&victim, &tmp).unwrap();
    let err = s
        .bare(&["index", s.store_dir().to_str().unwrap()])
        .run()
        .error();
    assert_eq!(
        err,
        format!(
            "scout-audit: error: {} is a symbolic link to {} (not followed); the store does not touch what it did not create",
            tmp.display(),
            victim.display()
        )
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"victim bytes");
}

#[test]
fn a_wrong_path_to_a_text_file_is_refused_and_the_file_kept() {
    let s = Store::new();
    let notes = s.dir.path().join("notes.txt");
    let text = "meeting notes\n- call Bob\n";
    std::fs::write(&notes, text).unwrap();
    let err = s
        .bare(&["--path", "./notes.txt", "log", "nav"])
        .run()
        .error();
    assert_eq!(
        err,
        format!(
            "scout-audit: error: ./notes.txt holds {} bytes and no audit record: not an audit log; refusing to modify it",
            text.len()
        )
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), text);
    let mut names: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["notes.txt"]);
}

#[test]
fn a_shared_store_directory_needs_allow_shared_dir() {
    let s = Store::new();
    std::fs::create_dir_all(s.store_dir()).unwrap();
    std::fs::set_permissions(s.store_dir(), std::fs::Permissions::from_mode(0o770)).unwrap();
    let err = s.cmd(&["log", "nav"]).run().error();
    assert_eq!(
        err,
        format!(
            "scout-audit: error: the store directory {} has mode 0770: group or others can write it, and could plant links or files in it; make it private (chmod go-w) or allow a shared directory explicitly (--allow-shared-dir)",
            s.store_dir().display()
        )
    );
    assert_eq!(s.files(), Vec::<String>::new());
    s.ok(&["--allow-shared-dir", "log", "nav"]);
    assert_eq!(s.records().len(), 1);
    // `index` writes into the store: the same rule.
    let err = s.cmd(&["index"]).run().error();
    assert!(
        err.contains(" has mode 0770: group or others can write it"),
        "{err}"
    );
    s.ok(&["--allow-shared-dir", "index"]);
}

#[test]
fn read_commands_refuse_a_fifo_or_link_at_the_live_name_without_hanging() {
    let s = Store::new();
    std::fs::create_dir_all(s.store_dir()).unwrap();
    let st = std::process::Command::new("mkfifo")
        .arg(&s.path)
        .status()
        .unwrap();
    assert!(st.success());
    for cmd in [&["query"][..], &["stats"], &["tail", "-n", "1"]] {
        let err = s.cmd(cmd).run().error();
        assert!(
            err.contains(&format!(
                "{}: is a FIFO, not a regular file",
                s.path.display()
            )),
            "{cmd:?}: {err}"
        );
    }
    std::fs::remove_file(&s.path).unwrap();
    let other = s.dir.path().join("other.jsonl");
    let line = r#"{"ts":"2026-01-20T00:00:00+00:00","event":"secret","session_id":"x","seq":0}"#;
    std::fs::write(&other, format!("{line}\n")).unwrap();
    symlink(&other, &s.path).unwrap();
    let err = s.cmd(&["query"]).run().error();
    assert!(err.contains("is a symbolic link to"), "{err}");
    assert!(err.contains(&s.path.display().to_string()), "{err}");
}

#[test]
fn copy_creates_a_private_sqlite_database() {
    let s = Store::new();
    s.log_lines(&[], &events(3));
    let db = s.dir.path().join("db/copy.db");
    let to = format!("sqlite:{}", db.display());
    s.bare(&["copy", "--from", s.path.to_str().unwrap(), "--to", &to])
        .run()
        .ok();
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&s.dir.path().join("db")), 0o700);
}
