//! A careless user and a hostile process share the store's directory: the
//! store never follows a link it did not expect, never replaces or deletes
//! what it did not create, and names what is in its way.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::sync::Arc;

use scout_audit_core::{Clock, Event, ManualClock, SessionId, Timestamp};
use scout_audit_store_file::compress::compress_segment;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::options::{Compression, RotateSize, SharedDir};
use scout_audit_store_file::recovery::Quarantined;
use scout_audit_store_file::{Error, FileStore, Layout, Reader};

use crate::support::*;

const A: &str = r#"{"ts":"2026-01-01T00:00:00+00:00","event":"nav","session_id":"s","seq":0}"#;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Timestamp::parse("2026-11-27T00:00:00Z").unwrap(),
    ))
}

fn mkfifo(p: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}

/// A directory outside the store, holding the attacker's targets.
fn outside() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_dangling_link_at_the_quarantine_name_is_skipped_not_followed() {
    let t = temp_store();
    let out = outside();
    let target = out.path().join("created-by-the-store");
    // Our store, opened once (its lock file exists), with a torn tail.
    FileStore::open(&t.path).unwrap().close().unwrap();
    std::fs::write(&t.path, format!("{A}\n{{\"ts\":\"2026-")).unwrap();
    let layout = Layout::new(&t.path).unwrap();
    let c = clock();
    let planted = layout.quarantine_path(c.now().unix_secs(), 1);
    symlink(&target, &planted).unwrap();
    let s = FileStore::builder(&t.path).clock(c.clone()).open().unwrap();
    let Quarantined {
        path: q,
        offset: cut,
        len,
    } = s.recovery_report().quarantined.clone().unwrap();
    assert_eq!(q, layout.quarantine_path(c.now().unix_secs(), 2));
    assert_eq!((cut, len), (A.len() as u64 + 1, 12));
    assert_eq!(std::fs::read(&q).unwrap(), b"{\"ts\":\"2026-");
    s.append(Event::new("after")).unwrap();
    s.close().unwrap();
    assert!(!target.exists(), "the link's target was created");
    assert!(std::fs::symlink_metadata(&planted).unwrap().is_symlink());
    let (recs, _) = read_all(&t.path);
    assert_eq!(recs.len(), 2);
}

#[test]
fn a_symlinked_live_file_is_refused_and_its_target_untouched() {
    let t = temp_store();
    let out = outside();
    let target = out.path().join("precious.jsonl");
    std::fs::write(&target, format!("{A}\ntorn")).unwrap();
    symlink(&target, &t.path).unwrap();
    let e = FileStore::open(&t.path).unwrap_err();
    assert!(matches!(e, Error::Foreign { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "{} is a symbolic link to {} (not followed); the store does not touch what it did not create",
            t.path.display(),
            target.display()
        )
    );
    assert_eq!(
        std::fs::read(&target).unwrap(),
        format!("{A}\ntorn").as_bytes()
    );
    // Nothing was created beside it (no lock file, no quarantine).
    assert_eq!(file_names(t.dir.path()), ["audit.jsonl"]);
    // Readers do not follow it either.
    let e = Reader::open(&t.path).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("is a symbolic link to"), "{e}");
}

#[test]
fn a_hard_link_at_the_live_name_is_neither_appended_to_nor_truncated() {
    // A file elsewhere (same file system) linked in at the live name: the
    // writer must not append to it, and recovery must not cut its tail.
    let t = temp_store();
    let target = t.dir.path().join("elsewhere.jsonl");
    let bytes = format!("{A}\npartial");
    std::fs::write(&target, &bytes).unwrap();
    std::fs::hard_link(&target, &t.path).unwrap();
    // With a lock file beside it (a store of ours), recovery would quarantine
    // the partial tail and truncate the file: refused at the truncate.
    std::fs::write(t.dir.path().join("audit.lock"), b"").unwrap();
    let e = FileStore::open(&t.path).unwrap_err();
    assert!(
        e.to_string().contains(
            "has 2 hard links (another name shares the file): the store does not write to a file it cannot own"
        ),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), bytes);
    // A whole file (no tail to cut): the append is refused.
    let whole = format!("{A}\n");
    std::fs::write(&target, &whole).unwrap();
    let e = FileStore::open(&t.path)
        .and_then(|s| s.append(Event::new("nav")).map(|_| s))
        .map(|_| ())
        .unwrap_err();
    assert!(e.to_string().contains("has 2 hard links"), "{e}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), whole);
}

#[test]
fn a_symlinked_lock_file_is_refused_and_not_created() {
    let t = temp_store();
    let out = outside();
    let target = out.path().join("lock-target");
    let layout = Layout::new(&t.path).unwrap();
    symlink(&target, layout.lock()).unwrap();
    let e = FileStore::open(&t.path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} is a symbolic link to {} (not followed); the store does not touch what it did not create",
            layout.lock().display(),
            target.display()
        )
    );
    assert!(!target.exists());
    assert!(!t.path.exists());
}

#[test]
fn a_fifo_or_directory_at_the_live_name_is_refused_without_hanging() {
    let t = temp_store();
    mkfifo(&t.path);
    let e = FileStore::open(&t.path).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "{} is a FIFO, not a regular file",
            t.path.display()
        )),
        "{e}"
    );
    // A reader must not block on it either.
    let e = Reader::open(&t.path).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("is a FIFO"), "{e}");
    std::fs::remove_file(&t.path).unwrap();
    std::fs::create_dir(&t.path).unwrap();
    let e = FileStore::open(&t.path).unwrap_err();
    assert!(e.to_string().contains(&t.path.display().to_string()), "{e}");
    assert!(e.to_string().contains("directory"), "{e}");
}

#[test]
fn a_symlinked_segment_is_not_read_through() {
    let t = temp_store();
    let out = outside();
    let target = out.path().join("elsewhere.jsonl");
    let secret = r#"{"ts":"2026-01-01T00:00:00+00:00","event":"secret","session_id":"x","seq":0}"#;
    std::fs::write(&target, format!("{secret}\n")).unwrap();
    let s = FileStore::open(&t.path).unwrap();
    s.append(Event::new("mine")).unwrap();
    s.close().unwrap();
    let link = t.dir.path().join("audit-20260101T000000Z-000001.jsonl");
    symlink(&target, &link).unwrap();
    let (recs, report) = read_all(&t.path);
    let events: Vec<_> = recs.iter().map(|r| r.event().unwrap().to_owned()).collect();
    assert_eq!(events, ["mine"]);
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(&link.display().to_string()),
        "{problems:?}"
    );
    assert!(problems[0].contains("symbolic link"), "{problems:?}");
    // A writer refuses to compress or remove it.
    let e = FileStore::open(&t.path).unwrap_err();
    assert!(e.to_string().contains(&link.display().to_string()), "{e}");
    assert_eq!(
        std::fs::read(&target).unwrap(),
        format!("{secret}\n").as_bytes()
    );
}

#[test]
fn a_link_at_the_archive_temp_name_is_not_written_through() {
    let t = temp_store();
    let out = outside();
    let target = out.path().join("victim");
    std::fs::write(&target, b"victim bytes").unwrap();
    let s = FileStore::builder(&t.path)
        .compression(Compression::Off)
        .open()
        .unwrap();
    s.append(Event::new("a")).unwrap();
    let sealed = s.rotate().unwrap().unwrap();
    s.close().unwrap();
    let layout = Layout::new(&t.path).unwrap();
    let seg = layout.parse_segment(&sealed).unwrap();
    let tmp = layout.temp_path(&seg);
    symlink(&target, &tmp).unwrap();
    let e = compress_segment(&RealFs, &layout, &seg, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} is a symbolic link to {} (not followed); the store does not touch what it did not create",
            tmp.display(),
            target.display()
        )
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"victim bytes");
    assert!(seg.path.exists());
    assert!(!layout.archive_path(&seg).exists());
    let (recs, _) = read_all(&t.path);
    assert_eq!(recs.len(), 1);
}

#[test]
fn a_link_at_the_index_temp_name_is_not_written_through() {
    let t = temp_store();
    let out = outside();
    let target = out.path().join("victim");
    std::fs::write(&target, b"victim bytes").unwrap();
    let s = FileStore::builder(&t.path)
        .compression(Compression::Off)
        .open()
        .unwrap();
    s.append(Event::new("a")).unwrap();
    let sealed = s.rotate().unwrap().unwrap();
    s.close().unwrap();
    let layout = Layout::new(&t.path).unwrap();
    let seg = layout.parse_segment(&sealed).unwrap();
    assert!(compress_segment(&RealFs, &layout, &seg, None).unwrap());
    let gz = layout.archive_path(&seg);
    let archive = layout
        .parse_segment(gz.file_name().unwrap().to_str().unwrap())
        .unwrap();
    let tmp = layout.index_temp_path(&archive);
    symlink(&target, &tmp).unwrap();
    let e =
        scout_audit_store_file::index::index_archive(&RealFs, &layout, &archive, None).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{} is a symbolic link", tmp.display())),
        "{e}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"victim bytes");
    // The index name itself: a link there is not replaced either.
    std::fs::remove_file(&tmp).unwrap();
    let idx = layout.index_path(&archive);
    symlink(&target, &idx).unwrap();
    let e =
        scout_audit_store_file::index::index_archive(&RealFs, &layout, &archive, None).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{} is a symbolic link", idx.display())),
        "{e}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"victim bytes");
    assert!(std::fs::symlink_metadata(&idx).unwrap().is_symlink());
    assert!(!tmp.exists());
}

#[test]
fn segment_numbers_never_wrap_and_no_segment_is_replaced() {
    let t = temp_store();
    let planted = t
        .dir
        .path()
        .join("audit-20260101T000000Z-18446744073709551615.jsonl");
    std::fs::write(&planted, format!("{A}\n")).unwrap();
    let s = FileStore::builder(&t.path)
        .compression(Compression::Off)
        .rotate_size(RotateSize::bytes(200))
        .session(SessionId::new("w"))
        .open()
        .unwrap();
    let mut acked = Vec::new();
    let mut errors = Vec::new();
    for i in 0..10 {
        match s.append(Event::new(format!("e{i}"))) {
            Ok(_) => acked.push(format!("e{i}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    s.close().unwrap();
    assert!(!errors.is_empty());
    assert_eq!(
        errors[0],
        format!(
            "cannot rotate {}: the next segment number after 18446744073709551615 (of audit-20260101T000000Z-18446744073709551615.jsonl) would overflow; move the archives away to continue",
            t.path.display()
        )
    );
    assert_eq!(
        std::fs::read(&planted).unwrap(),
        format!("{A}\n").as_bytes()
    );
    let (recs, _) = read_all(&t.path);
    let mut got: Vec<String> = recs
        .iter()
        .filter(|r| r.session_id() == Some("w"))
        .map(|r| r.event().unwrap().to_owned())
        .collect();
    got.sort();
    acked.sort();
    assert_eq!(got, acked);
    assert_eq!(
        file_names(t.dir.path()).len(),
        3,
        "{:?}",
        file_names(t.dir.path())
    );
}

#[test]
fn a_text_file_given_as_the_store_is_not_gutted() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    let text = "shopping list\nmilk\neggs\n";
    std::fs::write(&notes, text).unwrap();
    let e = FileStore::open(&notes).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} holds {} bytes and no audit record: not an audit log; refusing to modify it",
            notes.display(),
            text.len()
        )
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), text);
    assert_eq!(file_names(dir.path()), ["notes.txt"]);
}

#[test]
fn our_own_live_file_holding_only_a_torn_fragment_is_recovered() {
    // After a power loss the live file can hold only the torn first write
    // after a rotation, or of a new store: the lock file says a writer of
    // ours opened the store here, so recovery quarantines it as always.
    let t = temp_store();
    FileStore::open(&t.path).unwrap().close().unwrap();
    std::fs::write(&t.path, b"{\"ts\":\"2026-01").unwrap();
    let s = FileStore::open(&t.path).unwrap();
    let Quarantined {
        offset: cut, len, ..
    } = s.recovery_report().quarantined.clone().unwrap();
    assert_eq!((cut, len), (0, 14));
    s.close().unwrap();
    // No lock file, but a segment (a store the Python original wrote, or
    // one copied without its lock): the live file is still input, and one
    // holding no record is refused, untouched.
    let t = temp_store();
    let seg = t.dir.path().join("audit-20260101T000000Z-000001.jsonl");
    std::fs::write(&seg, format!("{A}\n")).unwrap();
    std::fs::write(&t.path, b"garbage").unwrap();
    let e = FileStore::open(&t.path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} holds 7 bytes and no audit record: not an audit log; refusing to modify it",
            t.path.display()
        )
    );
    assert_eq!(std::fs::read(&t.path).unwrap(), b"garbage");
    assert_eq!(std::fs::read_to_string(&seg).unwrap(), format!("{A}\n"));
}

#[test]
fn a_shared_store_directory_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("shared");
    std::fs::create_dir(&store_dir).unwrap();
    std::fs::set_permissions(&store_dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let path = store_dir.join("audit.jsonl");
    let e = FileStore::open(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the store directory {} has mode 1777: group or others can write it, and could plant links or files in it; make it private (chmod go-w) or allow a shared directory explicitly (--allow-shared-dir)",
            store_dir.display()
        )
    );
    assert_eq!(file_names(&store_dir), Vec::<String>::new());
    let s = FileStore::builder(&path)
        .shared_dir(SharedDir::Allow)
        .open()
        .unwrap();
    s.append(Event::new("a")).unwrap();
    s.close().unwrap();
    // A symlink on the directory's own path is fine (`~/.scout -> /data`).
    let private = dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = dir.path().join("link");
    symlink(&private, &link).unwrap();
    let s = FileStore::open(link.join("audit.jsonl")).unwrap();
    s.append(Event::new("b")).unwrap();
    s.close().unwrap();
    assert_eq!(read_all(&private.join("audit.jsonl")).0.len(), 1);
}
