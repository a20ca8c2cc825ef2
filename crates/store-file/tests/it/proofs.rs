//! Checkpoints kept elsewhere and inclusion proofs (issue 10, item 5):
//! a checkpoint's round trip, the rollback, cut and fork it catches, a
//! record's proof checked without the store, and a sealing state this
//! user may not read.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use scout_audit_core::{Durability, Event, ManualClock, SessionId, Timestamp};
use scout_audit_seal::note::Verifier;
use scout_audit_store_file::fs::{Fs, LockFile, Meta, ReadFile, RealFs, WriteFile};
use scout_audit_store_file::options::SealInterval;
use scout_audit_store_file::seal::{self, CheckpointFile, RecordKey};
use scout_audit_store_file::{FileStore, Layout};

struct Store {
    dir: tempfile::TempDir,
    layout: Layout,
    key: Verifier,
    /// The sealers' clock: each seal is 10 s after the one before, so
    /// with 60 s epochs only [`Store::next_epoch`] evolves the key.
    clock: ManualClock,
}

impl Store {
    fn path(&self) -> PathBuf {
        self.dir.path().join("s").join("audit.jsonl")
    }

    /// Appends `n` events of session `session` (seqs 0..n of a new writer).
    fn write(&self, session: &str, n: u64) {
        let store = FileStore::builder(self.path())
            .seal_interval(SealInterval::OFF)
            .session(SessionId::new(session))
            .durability(Durability::Sync)
            .open()
            .unwrap();
        for _ in 0..n {
            store.append(Event::new("llm_call")).unwrap();
        }
        store.close().unwrap();
    }

    /// Moves the clock past the current epoch.
    fn next_epoch(&self) {
        self.clock.advance(std::time::Duration::from_secs(60));
    }

    fn seal(&self) -> u64 {
        self.clock.advance(std::time::Duration::from_secs(10));
        seal::seal_now(&RealFs, &self.layout, &self.clock)
            .unwrap()
            .unwrap()
            .size
    }

    fn check(&self, cp: &CheckpointFile) -> Result<u64, String> {
        let mut r =
            seal::verify_checkpoints(&RealFs, &self.layout, &self.key, std::slice::from_ref(cp))
                .unwrap();
        r.pop().unwrap().map(|a| a.size).map_err(|t| t.what)
    }
}

/// A store of 3 lines of session "a", sealed (60 s epochs).
fn sealed() -> Store {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("s")).unwrap();
    let layout = Layout::new(dir.path().join("s").join("audit.jsonl")).unwrap();
    let key = Verifier::parse(&seal::init(&RealFs, &layout, 60).unwrap()).unwrap();
    let clock = ManualClock::new(Timestamp::parse("2026-12-06T00:00:00Z").unwrap());
    let s = Store {
        dir,
        layout,
        key,
        clock,
    };
    s.write("a", 3);
    assert_eq!(s.seal(), 3);
    s
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn the_latest_checkpoint_round_trips_and_the_store_extends_it() {
    let s = sealed();
    let cp = seal::latest_checkpoint(&RealFs, &s.layout).unwrap();
    assert_eq!(CheckpointFile::parse(&cp.to_text()).unwrap(), cp);
    assert_eq!(cp.certs.len(), 1);
    assert!(cp.note.starts_with("scout-audit/"), "{}", cp.note);
    let log = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    let stored = serde_json::to_string(&cp.note).unwrap();
    assert!(
        log.contains(&stored),
        "the note is the seal log's, byte for byte"
    );
    let opened = cp.open(&s.key, &[]).unwrap();
    assert_eq!((opened.checkpoint.size, opened.epoch), (3, 1));
    assert_eq!(s.check(&cp), Ok(3));
    // More lines, more seals, a new epoch: still an extension.
    s.write("b", 2);
    s.next_epoch();
    assert_eq!(s.seal(), 5);
    assert_eq!(s.check(&cp), Ok(3));
    let later = seal::latest_checkpoint(&RealFs, &s.layout).unwrap();
    assert_eq!(later.certs.len(), 2);
    assert_eq!(s.check(&later), Ok(5));
    // A bare note takes its certificates from the store's seal log.
    let bare = CheckpointFile {
        note: later.note.clone(),
        certs: Vec::new(),
    };
    assert_eq!(s.check(&bare), Ok(5));
}

#[test]
fn a_rolled_back_store_fails_its_later_checkpoint_and_passes_verify_key() {
    let s = sealed();
    let t1 = s.dir.path().join("t1");
    copy_dir(s.path().parent().unwrap(), &t1);
    s.write("b", 2);
    s.next_epoch();
    assert_eq!(s.seal(), 5);
    let cp = seal::latest_checkpoint(&RealFs, &s.layout).unwrap();
    let live = s.path().parent().unwrap().to_path_buf();
    std::fs::remove_dir_all(&live).unwrap();
    copy_dir(&t1, &live);
    let r = seal::verify_sealed(&RealFs, &s.layout, &s.key).unwrap();
    assert_eq!((r.tampering, r.sealed_leaves), (None, 3));
    assert_eq!(
        s.check(&cp),
        Err("the store is shorter than the checkpoint of size 5: rolled back or cut (it holds 3 lines)".to_owned())
    );
    // The bare note: the rolled-back log certifies no key of epoch 2.
    let bare = CheckpointFile {
        note: cp.note.clone(),
        certs: Vec::new(),
    };
    assert_eq!(
        s.check(&bare),
        Err(
            "the checkpoint does not verify against the key: it is signed by epoch 2's key, \
             which the store's certificates do not certify"
                .to_owned()
        )
    );
}

#[test]
fn a_cut_seal_tail_and_a_forked_store_are_named() {
    let s = sealed();
    s.write("b", 2);
    assert_eq!(s.seal(), 5);
    let cp = seal::latest_checkpoint(&RealFs, &s.layout).unwrap();
    // The last seal cut from the log: verify --key sees 2 unsealed lines.
    let log = s.layout.seal_log();
    let text = std::fs::read_to_string(&log).unwrap();
    let cut = text.trim_end().rfind('\n').unwrap() + 1;
    std::fs::write(&log, &text[..cut]).unwrap();
    let r = seal::verify_sealed(&RealFs, &s.layout, &s.key).unwrap();
    assert_eq!((r.tampering, r.unsealed), (None, 2));
    assert_eq!(
        s.check(&cp),
        Err(
            "the seal log's last seal is of size 3, before the checkpoint of size 5: \
             seals were cut or rolled back"
                .to_owned()
        )
    );
    // The seal's lines cut too: shorter.
    let live = std::fs::read_to_string(s.path()).unwrap();
    let keep: String = live.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(s.path(), &keep).unwrap();
    assert!(
        s.check(&cp)
            .unwrap_err()
            .starts_with("the store is shorter than the checkpoint of size 5")
    );
    // Two other lines in their place: a fork.
    std::fs::write(s.path(), &keep).unwrap();
    s.write("c", 2);
    assert_eq!(
        s.check(&cp),
        Err("the store's first 5 leaves do not match the checkpoint: a forked history".to_owned())
    );
}

#[test]
fn a_checkpoint_of_another_store_or_key_is_refused() {
    let s = sealed();
    let other = sealed();
    let cp = seal::latest_checkpoint(&RealFs, &other.layout).unwrap();
    let err = s.check(&cp).unwrap_err();
    assert!(
        err.starts_with(
            "the checkpoint does not verify against the key: its epoch chain: epoch 1 certificate"
        ),
        "{err}"
    );
    let r = seal::verify_checkpoints(
        &RealFs,
        &other.layout,
        &other.key,
        std::slice::from_ref(&cp),
    )
    .unwrap();
    assert!(r[0].is_ok());
    let key = RecordKey::parse("s:a:0").unwrap();
    let err = seal::prove(&RealFs, &s.layout, &key, Some(&cp))
        .unwrap_err()
        .to_string();
    let origin = |c: &CheckpointFile| c.note.lines().next().unwrap().to_owned();
    let mine = seal::latest_checkpoint(&RealFs, &s.layout).unwrap();
    assert!(
        err.ends_with(&format!(
            "the checkpoint is of {}, not of this store ({})",
            origin(&cp),
            origin(&mine)
        )),
        "{err}"
    );
}

#[test]
fn a_proof_checks_without_the_store_and_a_flipped_byte_fails() {
    let s = sealed();
    s.write("b", 4);
    assert_eq!(s.seal(), 7);
    let key = RecordKey::parse("s:b:1").unwrap();
    let p = seal::prove(&RealFs, &s.layout, &key, None).unwrap();
    assert_eq!((p.index, p.size, p.hashes.len()), (4, 7, 3));
    let text = p.to_text();
    assert!(text.starts_with(
        "scout-audit proof v1\nrecord s:b:00000000000000000001\nindex 4\nsize 7\nroot "
    ));
    let checked = seal::check_proof(&text, &s.key).unwrap();
    assert_eq!((checked.index, checked.size, checked.epoch), (4, 7, 1));
    assert_eq!(seal::Proof::parse(&text).unwrap(), p);
    // Every byte of every hash line flipped fails.
    let head_end = text.find("\n\n").unwrap();
    let line_at = text.find("\nline ").unwrap() + 1;
    let first_hash = line_at + text[line_at..].find('\n').unwrap() + 1;
    assert_eq!(text[first_hash..head_end].lines().count(), 3);
    for at in first_hash..head_end {
        if text.as_bytes()[at] == b'\n' {
            continue;
        }
        let mut b = text.clone().into_bytes();
        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(b).unwrap();
        assert!(seal::check_proof(&t, &s.key).is_err(), "byte {at}");
    }
    // Another line, another index, a wrong key.
    let edited = text.replacen("\"llm_call\"", "\"llm_cal1\"", 1);
    assert!(
        seal::check_proof(&edited, &s.key)
            .unwrap_err()
            .contains("not leaf 4")
    );
    let moved = text.replacen("index 4", "index 5", 1);
    assert!(seal::check_proof(&moved, &s.key).is_err());
    let err = seal::check_proof(&text, &other_key()).unwrap_err();
    assert!(
        err.starts_with("the proof's checkpoint does not verify against the key"),
        "{err}"
    );
}

fn other_key() -> Verifier {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path().join("audit.jsonl")).unwrap();
    Verifier::parse(&seal::init(&RealFs, &layout, 60).unwrap()).unwrap()
}

#[test]
fn proofs_against_every_leaf_of_a_rotated_store_check() {
    let s = sealed();
    let store = FileStore::open(s.path()).unwrap();
    store.rotate().unwrap();
    store.wait_compressed();
    store.close().unwrap();
    s.write("b", 6);
    assert_eq!(s.seal(), 9);
    let cp = seal::latest_checkpoint(&RealFs, &s.layout).unwrap();
    for (session, seq, index) in [("a", 0, 0), ("a", 2, 2), ("b", 0, 3), ("b", 5, 8)] {
        let key = RecordKey {
            session: session.to_owned(),
            seq,
        };
        let p = seal::prove(&RealFs, &s.layout, &key, Some(&cp)).unwrap();
        assert_eq!(p.index, index);
        assert_eq!(
            seal::check_proof(&p.to_text(), &s.key).unwrap().index,
            index
        );
    }
}

#[test]
fn unsealed_missing_and_repeated_records_are_errors() {
    let s = sealed();
    s.write("b", 1);
    let prove = |k: &str| {
        seal::prove(&RealFs, &s.layout, &RecordKey::parse(k).unwrap(), None)
            .unwrap_err()
            .to_string()
    };
    let err = prove("s:b:0");
    assert!(
        err.ends_with("the record s:b:00000000000000000000 is line 4 of the store, after the 3 lines the latest seal covers: not sealed yet (run `scout-audit seal`)"),
        "{err}"
    );
    assert!(prove("s:zz:0").ends_with("the store holds no record s:zz:00000000000000000000"));
    // The first line copied to the end: two lines hold s:a:0.
    let text = std::fs::read_to_string(s.path()).unwrap();
    let first = text.lines().next().unwrap();
    std::fs::write(s.path(), format!("{text}{first}\n")).unwrap();
    assert_eq!(s.seal(), 5);
    let err = prove("s:a:0");
    assert!(
        err.ends_with("the record key s:a:00000000000000000000 names 2 lines (audit.jsonl line 1, audit.jsonl line 5): a proof names one record"),
        "{err}"
    );
}

/// The real file system, refusing to open the sealing state for reading
/// as the system refuses another user's 0600 file.
#[derive(Debug)]
struct NotOwner(PathBuf);

impl Fs for NotOwner {
    fn open_append(&self, p: &Path) -> io::Result<Arc<dyn WriteFile>> {
        RealFs.open_append(p)
    }
    fn create_new(&self, p: &Path) -> io::Result<Arc<dyn WriteFile>> {
        RealFs.create_new(p)
    }
    fn open_read(&self, p: &Path) -> io::Result<Box<dyn ReadFile>> {
        if p == self.0 {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        RealFs.open_read(p)
    }
    fn truncate(&self, p: &Path, len: u64) -> io::Result<()> {
        RealFs.truncate(p, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFs.rename(from, to)
    }
    fn rename_noreplace(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFs.rename_noreplace(from, to)
    }
    fn remove_file(&self, p: &Path) -> io::Result<()> {
        RealFs.remove_file(p)
    }
    fn sync_dir(&self, d: &Path) -> io::Result<()> {
        RealFs.sync_dir(d)
    }
    fn list_dir(&self, d: &Path) -> io::Result<Vec<String>> {
        RealFs.list_dir(d)
    }
    fn stat(&self, p: &Path) -> io::Result<Meta> {
        RealFs.stat(p)
    }
    fn lstat(&self, p: &Path) -> io::Result<Meta> {
        RealFs.lstat(p)
    }
    fn create_dir_all(&self, d: &Path) -> io::Result<()> {
        RealFs.create_dir_all(d)
    }
    fn open_lock(&self, p: &Path, create: bool) -> io::Result<Arc<dyn LockFile>> {
        RealFs.open_lock(p, create)
    }
    fn open_file_lock(&self, p: &Path) -> io::Result<Arc<dyn LockFile>> {
        RealFs.open_file_lock(p)
    }
}

#[test]
fn a_sealing_state_this_user_may_not_read_is_a_note_not_tampering() {
    let s = sealed();
    let fs = NotOwner(s.layout.seal_key());
    let r = seal::verify_sealed(&fs, &s.layout, &s.key).unwrap();
    assert_eq!(r.tampering, None);
    assert_eq!(
        r.notes,
        ["the sealing state could not be read: not checked"]
    );
    assert_eq!(r.sealed_leaves, 3);
    // The lines are still checked.
    let text = std::fs::read_to_string(s.path()).unwrap();
    std::fs::write(s.path(), text.replacen("llm_call", "llm_cal1", 1)).unwrap();
    let r = seal::verify_sealed(&fs, &s.layout, &s.key).unwrap();
    assert!(r.tampering.is_some());
    // Readable: no note.
    std::fs::write(s.path(), text).unwrap();
    let r = seal::verify_sealed(&RealFs, &s.layout, &s.key).unwrap();
    assert_eq!((r.tampering, r.notes.len()), (None, 0));
}
