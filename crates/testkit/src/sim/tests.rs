//! Tests of `SimFs`: what a crash keeps, drops or garbles; faults, recording, locks, renames.
use super::*;

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

/// A disk with `/d` durable, and `/d/f` holding `synced` durably, then
/// `unsynced` appended as separate writes.
fn file_with(synced: &[u8], unsynced: &[&[u8]]) -> SimFs {
    let mut st = SimState::default();
    st.put(&p("/d/f"), synced).unwrap();
    let fs = SimFs::new(st);
    let f = fs.open_append(&p("/d/f")).unwrap();
    for w in unsynced {
        f.write_once(w).unwrap();
    }
    fs
}

fn crash(fs: &SimFs, seed: u64, mode: Option<(FileDamage, DirDamage)>) -> (SimState, CrashReport) {
    fs.state().crash_with(&mut Rng::new(seed), mode)
}

#[test]
fn synced_data_survives_and_unsynced_is_kept_or_dropped() {
    let fs = file_with(b"abc\n", &[b"def\n", b"ghi\n"]);
    assert_eq!(fs.state().read(&p("/d/f")).unwrap(), b"abc\ndef\nghi\n");
    let (keep, r) = crash(&fs, 1, Some((FileDamage::Keep, DirDamage::Keep)));
    assert_eq!(keep.read(&p("/d/f")).unwrap(), b"abc\ndef\nghi\n");
    assert_eq!(r.files["/d/f"], FileDamage::Keep);
    let (drop, r) = crash(&fs, 1, Some((FileDamage::Drop, DirDamage::Drop)));
    assert_eq!(drop.read(&p("/d/f")).unwrap(), b"abc\n");
    assert_eq!(r.lost_writes, 2);
    // After an fsync nothing is pending: every crash keeps it all.
    let f = fs.open_append(&p("/d/f")).unwrap();
    f.sync_data().unwrap();
    for seed in 0..20 {
        let (s, r) = crash(&fs, seed, None);
        assert_eq!(s.read(&p("/d/f")).unwrap(), b"abc\ndef\nghi\n");
        assert!(r.files.is_empty());
    }
}

#[test]
fn subset_and_size_first_leave_zeros_where_writes_were_lost() {
    let fs = file_with(b"ab\n", &[b"cd\n", b"ef\n"]);
    let mut seen = BTreeSet::new();
    for seed in 0..64 {
        seen.insert(
            crash(&fs, seed, Some((FileDamage::Subset, DirDamage::Keep)))
                .0
                .read(&p("/d/f"))
                .unwrap(),
        );
    }
    let want: BTreeSet<Vec<u8>> = [
        b"ab\n".to_vec(),
        b"ab\ncd\n".to_vec(),
        b"ab\n\0\0\0ef\n".to_vec(),
        b"ab\ncd\nef\n".to_vec(),
    ]
    .into();
    assert_eq!(seen, want);
    let mut seen = BTreeSet::new();
    for seed in 0..64 {
        seen.insert(
            crash(&fs, seed, Some((FileDamage::SizeFirst, DirDamage::Keep)))
                .0
                .read(&p("/d/f"))
                .unwrap(),
        );
    }
    let want: BTreeSet<Vec<u8>> = [
        b"ab\n\0\0\0\0\0\0".to_vec(),
        b"ab\ncd\n\0\0\0".to_vec(),
        b"ab\n\0\0\0ef\n".to_vec(),
        b"ab\ncd\nef\n".to_vec(),
    ]
    .into();
    assert_eq!(seen, want);
}

#[test]
fn garbling_touches_only_unsynced_bytes_of_whole_sectors() {
    let synced = vec![b's'; 700];
    let unsynced = vec![b'u'; 900];
    let fs = file_with(&synced, &[&unsynced]);
    let mut garbled_any = false;
    for seed in 0..32 {
        let (s, r) = crash(&fs, seed, Some((FileDamage::Garble, DirDamage::Keep)));
        let d = s.read(&p("/d/f")).unwrap();
        assert_eq!(d.len(), 1600);
        assert_eq!(&d[..700], &synced[..], "synced bytes are never damaged");
        // Sectors are 512 bytes: 700..1024 and 1024..1536 and 1536..1600.
        let mut not_intact = 0;
        for (lo, hi) in [(700, 1024), (1024, 1536), (1536, 1600)] {
            let intact = d[lo..hi].iter().all(|b| *b == b'u');
            not_intact += usize::from(!intact);
            garbled_any |= !intact;
        }
        // Every sector the report counts as garbled differs, and no other.
        assert_eq!(r.garbled_sectors, not_intact, "seed {seed}");
    }
    assert!(garbled_any);
}

#[test]
fn unsynced_directory_operations_can_be_lost() {
    let mut st = SimState::default();
    st.put(&p("/d/live"), b"old\n").unwrap();
    let fs = SimFs::new(st);
    fs.rename(&p("/d/live"), &p("/d/sealed")).unwrap();
    let f = fs.create_new(&p("/d/live")).unwrap();
    f.write_once(b"new\n").unwrap();
    f.sync_data().unwrap();
    assert_eq!(fs.state().list(&p("/d")), ["live", "sealed"]);
    let (kept, _) = crash(&fs, 0, Some((FileDamage::Keep, DirDamage::Keep)));
    assert_eq!(kept.list(&p("/d")), ["live", "sealed"]);
    assert_eq!(kept.read(&p("/d/live")).unwrap(), b"new\n");
    // Without the directory fsync, the rename and the create are lost:
    // the synced "new" data is unreachable.
    let (lost, r) = crash(&fs, 0, Some((FileDamage::Keep, DirDamage::Drop)));
    assert_eq!(lost.list(&p("/d")), ["live"]);
    assert_eq!(lost.read(&p("/d/live")).unwrap(), b"old\n");
    assert_eq!(r.lost_dir_ops, 2);
    // A subset never applies the create over the old file.
    let mut outcomes = BTreeSet::new();
    for seed in 0..64 {
        let (s, _) = crash(&fs, seed, Some((FileDamage::Keep, DirDamage::Subset)));
        outcomes.insert((s.list(&p("/d")), s.read(&p("/d/live"))));
    }
    let want: BTreeSet<(Vec<String>, Option<Vec<u8>>)> = [
        (vec!["live".into()], Some(b"old\n".to_vec())),
        (vec!["sealed".into()], None),
        (
            vec!["live".into(), "sealed".into()],
            Some(b"new\n".to_vec()),
        ),
    ]
    .into();
    assert_eq!(outcomes, want);
    // After a directory fsync, every crash keeps both names.
    fs.sync_dir(&p("/d")).unwrap();
    for seed in 0..20 {
        assert_eq!(crash(&fs, seed, None).0.list(&p("/d")), ["live", "sealed"]);
    }
}

#[test]
fn new_directories_need_their_parent_fsynced() {
    let fs = SimFs::default();
    fs.create_dir_all(&p("/a/b")).unwrap();
    let f = fs.create_new(&p("/a/b/f")).unwrap();
    f.write_once(b"x").unwrap();
    f.sync_all().unwrap();
    fs.sync_dir(&p("/a/b")).unwrap();
    let (s, _) = crash(&fs, 0, Some((FileDamage::Keep, DirDamage::Drop)));
    assert_eq!(s.read(&p("/a/b/f")), None, "/a was never made durable in /");
    fs.sync_dir(&p("/a")).unwrap();
    fs.sync_dir(&p("/")).unwrap();
    let (s, _) = crash(&fs, 0, Some((FileDamage::Keep, DirDamage::Drop)));
    assert_eq!(s.read(&p("/a/b/f")).unwrap(), b"x");
}

#[test]
fn unlinked_open_files_stay_readable_until_the_crash() {
    let mut st = SimState::default();
    st.put(&p("/d/f"), b"data").unwrap();
    let fs = SimFs::new(st);
    let mut r = fs.open_read(&p("/d/f")).unwrap();
    fs.remove_file(&p("/d/f")).unwrap();
    assert!(fs.stat(&p("/d/f")).is_err());
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s, "data");
    let (kept, _) = crash(&fs, 0, Some((FileDamage::Keep, DirDamage::Drop)));
    assert_eq!(
        kept.read(&p("/d/f")).unwrap(),
        b"data",
        "the unlink was not fsync'd"
    );
}

#[test]
fn faults_fail_the_chosen_call() {
    let fs = file_with(b"", &[]);
    let f = fs.open_append(&p("/d/f")).unwrap();
    fs.inject(Fault {
        class: OpClass::Write,
        nth: 1,
        kind: FaultKind::Short,
        sticky: false,
    });
    f.write_once(b"1234").unwrap();
    let e = f.write_once(b"abcd").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WriteZero);
    assert_eq!(e.to_string(), "short write: 2 of 4 bytes");
    f.write_once(b"!").unwrap();
    assert_eq!(fs.state().read(&p("/d/f")).unwrap(), b"1234ab!");
    fs.inject(Fault {
        class: OpClass::Fsync,
        nth: 0,
        kind: FaultKind::Errno(EIO),
        sticky: true,
    });
    assert_eq!(f.sync_data().unwrap_err().raw_os_error(), Some(EIO));
    assert_eq!(f.sync_data().unwrap_err().raw_os_error(), Some(EIO));
    let (s, _) = crash(&fs, 0, Some((FileDamage::Drop, DirDamage::Keep)));
    assert_eq!(
        s.read(&p("/d/f")).unwrap(),
        b"",
        "a failed fsync made nothing durable"
    );
    fs.heal();
    f.sync_data().unwrap();
    fs.inject(Fault {
        class: OpClass::DirFsync,
        nth: 0,
        kind: FaultKind::Errno(ENOSPC),
        sticky: false,
    });
    assert_eq!(
        fs.sync_dir(&p("/d")).unwrap_err().raw_os_error(),
        Some(ENOSPC)
    );
    fs.sync_dir(&p("/d")).unwrap();
}

#[test]
fn recording_keeps_each_state_with_its_mark() {
    let fs = SimFs::default();
    fs.record();
    fs.create_dir_all(&p("/d")).unwrap();
    fs.set_mark(7);
    let f = fs.create_new(&p("/d/f")).unwrap();
    f.write_once(b"x").unwrap();
    let rec = fs.take_recording();
    let ops: Vec<(&str, OpClass, u64)> = rec
        .iter()
        .map(|r| (r.op.as_str(), r.class, r.mark))
        .collect();
    assert_eq!(
        ops,
        [
            ("mkdir -p /d", OpClass::Mkdir, 0),
            ("create /d/f", OpClass::Create, 7),
            ("write /d/f (1 bytes)", OpClass::Write, 7),
        ]
    );
    assert_eq!(rec[2].state.read(&p("/d/f")).unwrap(), b"x");
    assert_eq!(rec[1].state.read(&p("/d/f")).unwrap(), b"");
    assert!(fs.take_recording().is_empty());
}

#[test]
fn locks_are_shared_or_exclusive_per_handle() {
    let fs = SimFs::default();
    fs.create_dir_all(&p("/d")).unwrap();
    let a = fs.open_lock(&p("/d/lock"), true).unwrap();
    let b = fs.open_lock(&p("/d/lock"), false).unwrap();
    a.lock_shared().unwrap();
    assert!(!b.try_lock_exclusive().unwrap());
    b.lock_shared().unwrap();
    a.unlock().unwrap();
    assert!(!a.try_lock_exclusive().unwrap());
    b.unlock().unwrap();
    assert!(a.try_lock_exclusive().unwrap());
    assert!(!b.try_lock_exclusive().unwrap());
    drop(a);
    assert!(b.try_lock_exclusive().unwrap(), "closing releases the lock");
}

#[test]
fn create_new_and_rename_noreplace_never_replace() {
    let mut st = SimState::default();
    st.put(&p("/d/a"), b"a\n").unwrap();
    st.put(&p("/d/b"), b"b\n").unwrap();
    let fs = SimFs::new(st);
    let e = fs.create_new(&p("/d/a")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    let e = fs.rename_noreplace(&p("/d/a"), &p("/d/b")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(fs.state().read(&p("/d/a")).unwrap(), b"a\n");
    assert_eq!(fs.state().read(&p("/d/b")).unwrap(), b"b\n");
    fs.rename_noreplace(&p("/d/a"), &p("/d/c")).unwrap();
    assert_eq!(fs.state().list(&p("/d")), ["b", "c"]);
    let f = fs.create_new(&p("/d/a")).unwrap();
    f.write_once(b"new\n").unwrap();
    assert_eq!(fs.state().read(&p("/d/a")).unwrap(), b"new\n");
    let m = fs.lstat(&p("/d/a")).unwrap();
    assert_eq!((m.is_file, m.is_symlink, m.mode), (true, false, 0o600));
}
