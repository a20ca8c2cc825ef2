//! Consistency proofs for third parties (issue 10 item 5; decisions
//! 120-122): the proof from a checkpoint kept elsewhere to the latest
//! seal is RFC 9162's (the same hashes as `merkle::consistency_proof`
//! over the store's lines), checks without the store against the key and
//! the old checkpoint, carries only the certificates after the old
//! checkpoint's epoch, and is refused when it does not match, when the
//! old checkpoint is later or of another store, or when the key chain
//! forks.

use std::path::{Path, PathBuf};

use scout_audit_core::{Durability, Event, ManualClock, SessionId, Timestamp};
use scout_audit_seal::merkle::{Hash, consistency_proof, leaf_hash};
use scout_audit_seal::note::{Verifier, certified_epoch};
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::options::SealInterval;
use scout_audit_store_file::seal::{self, CheckpointFile, ConsistencyProof};
use scout_audit_store_file::{FileStore, Layout};

struct Store {
    dir: tempfile::TempDir,
    layout: Layout,
    key: Verifier,
    /// Each seal 10 s after the one before; [`Store::next_epoch`] moves
    /// past the 60 s epoch.
    clock: ManualClock,
}

impl Store {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("s")).unwrap();
        let layout = Layout::new(dir.path().join("s").join("audit.jsonl")).unwrap();
        let key = Verifier::parse(&seal::init(&RealFs, &layout, 60).unwrap()).unwrap();
        let clock = ManualClock::new(Timestamp::parse("2026-12-06T00:00:00Z").unwrap());
        Self {
            dir,
            layout,
            key,
            clock,
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("s").join("audit.jsonl")
    }

    /// Appends `n` events of a new writer of `session`.
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

    /// Writes `n` lines, moves past the epoch, seals; the latest checkpoint.
    fn epoch_of(&self, session: &str, n: u64) -> CheckpointFile {
        self.write(session, n);
        self.clock.advance(std::time::Duration::from_secs(70));
        seal::seal_now(&RealFs, &self.layout, &self.clock)
            .unwrap()
            .unwrap();
        seal::latest_checkpoint(&RealFs, &self.layout).unwrap()
    }

    fn prove(&self, old: &CheckpointFile) -> Result<ConsistencyProof, String> {
        seal::prove_consistency(&RealFs, &self.layout, old).map_err(|e| e.to_string())
    }

    /// The leaf hashes of the live file's lines (the store never rotates here).
    fn leaves(&self) -> Vec<Hash> {
        let text = std::fs::read(self.path()).unwrap();
        text.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(leaf_hash)
            .collect()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn epochs_carried(cp: &CheckpointFile) -> Vec<u64> {
    cp.certs.iter().filter_map(|c| certified_epoch(c)).collect()
}

#[test]
fn a_consistency_proof_checks_without_the_store_and_every_flipped_byte_fails() {
    let s = Store::new();
    let cp1 = s.epoch_of("a", 3);
    s.epoch_of("b", 4);
    s.epoch_of("c", 6);
    let p = s.prove(&cp1).unwrap();
    // The RFC's proof over the store's lines, differentially.
    let leaves = s.leaves();
    assert_eq!(leaves.len(), 13);
    assert_eq!(p.hashes, consistency_proof(3, 13, &leaves).unwrap());
    assert_eq!((p.old_size, p.size), (3, 13));
    // Only the certificates after the old checkpoint's epoch travel.
    assert_eq!(epochs_carried(&cp1), [1]);
    assert_eq!(epochs_carried(&p.checkpoint), [2, 3]);
    let text = p.to_text();
    assert!(text.starts_with("scout-audit consistency v1\nold-size 3\nold-root "));
    assert_eq!(ConsistencyProof::parse(&text).unwrap(), p);
    let ok = seal::check_consistency(&text, &s.key, std::slice::from_ref(&cp1)).unwrap();
    assert_eq!(
        (ok.old_size, ok.old_epoch, ok.size, ok.epoch),
        (3, 1, 13, 3)
    );
    let start = Timestamp::parse("2026-12-06T00:00:00Z")
        .unwrap()
        .unix_secs();
    assert_eq!(ok.time, u64::try_from(start).unwrap() + 3 * 70);
    // Every byte of every hash line (the old and new roots included) flipped fails.
    let head_end = text.find("\n\n").unwrap();
    let hashes_at = text.find("old-root ").unwrap();
    for at in hashes_at..head_end {
        let c = text.as_bytes()[at];
        if !(c.is_ascii_alphanumeric() || c == b'+' || c == b'/') || text[..at].ends_with("size ") {
            continue;
        }
        let mut b = text.clone().into_bytes();
        b[at] = if c == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(b).unwrap();
        assert!(
            seal::check_consistency(&t, &s.key, std::slice::from_ref(&cp1)).is_err(),
            "byte {at} of {text}"
        );
    }
    // One hash changed by a whole value: the RFC check names the mismatch.
    let mut bad = p.clone();
    bad.hashes[1][0] ^= 1;
    assert_eq!(
        seal::check_consistency(&bad.to_text(), &s.key, std::slice::from_ref(&cp1)),
        Err(
            "the new checkpoint does not extend the old one: the consistency proof does not \
             lead to the given root"
                .to_owned()
        )
    );
}

#[test]
fn a_proof_between_equal_sizes_or_epochs_is_empty_and_checks() {
    let s = Store::new();
    let cp1 = s.epoch_of("a", 4);
    let p = s.prove(&cp1).unwrap();
    assert_eq!((p.old_size, p.size, p.hashes.len()), (4, 4, 0));
    assert!(p.checkpoint.certs.is_empty());
    let ok = seal::check_consistency(&p.to_text(), &s.key, &[cp1]).unwrap();
    assert_eq!((ok.size, ok.epoch, ok.old_epoch), (4, 1, 1));
}

#[test]
fn the_checker_refuses_another_key_a_foreign_or_missing_old_and_a_later_old() {
    let s = Store::new();
    let cp1 = s.epoch_of("a", 3);
    let cp2 = s.epoch_of("b", 2);
    let p12 = s.prove(&cp1).unwrap().to_text();
    let other = Store::new();
    let err = seal::check_consistency(&p12, &other.key, std::slice::from_ref(&cp1)).unwrap_err();
    assert!(
        err.starts_with("the epoch chain: epoch 1 certificate: "),
        "{err}"
    );
    // The old checkpoint the proof starts from is not among those given.
    let oc = other.epoch_of("z", 3);
    assert_eq!(
        seal::check_consistency(&p12, &s.key, &[cp2.clone(), oc]),
        Err(
            "two different certificates of epoch 1 (a forked key chain, or a checkpoint of \
             another store)"
                .to_owned()
        )
    );
    assert_eq!(
        seal::check_consistency(&p12, &s.key, std::slice::from_ref(&cp2)),
        Err(
            "the proof starts from a checkpoint of size 3, and no old checkpoint given is that one"
                .to_owned()
        )
    );
    // A bare note (`checkpoint --note`) as the old one: no certificate of epoch 1.
    let bare = CheckpointFile {
        note: cp1.note.clone(),
        certs: Vec::new(),
    };
    assert_eq!(
        seal::check_consistency(&p12, &s.key, &[bare]),
        Err(
            "no certificate of epoch 1 is given: add the checkpoint that carries it (the full \
             one `checkpoint` printed)"
                .to_owned()
        )
    );
    // Old and new swapped: the old is larger and later.
    let p = ConsistencyProof::parse(&p12).unwrap();
    let swapped = ConsistencyProof {
        old_size: p.size,
        old_root: p.root,
        size: p.old_size,
        root: p.old_root,
        hashes: p.hashes.clone(),
        checkpoint: cp1.clone(),
    };
    assert_eq!(
        seal::check_consistency(&swapped.to_text(), &s.key, std::slice::from_ref(&cp2)),
        Err(
            "the old checkpoint (size 5, epoch 2) is after the new one (size 3, epoch 1): not an \
             extension"
                .to_owned()
        )
    );
}

#[test]
fn the_prover_refuses_a_later_foreign_or_forked_old_checkpoint() {
    let s = Store::new();
    let cp1 = s.epoch_of("a", 3);
    let t1 = s.dir.path().join("t1");
    copy_dir(s.path().parent().unwrap(), &t1);
    let cp2 = s.epoch_of("b", 2);
    // Another store's checkpoint.
    let other = Store::new();
    let oc = other.epoch_of("z", 3);
    let err = s.prove(&oc).unwrap_err();
    let origin = |c: &CheckpointFile| c.note.lines().next().unwrap().to_owned();
    assert!(
        err.ends_with(&format!(
            "the old checkpoint is of {}, not of this store ({})",
            origin(&oc),
            origin(&cp1)
        )),
        "{err}"
    );
    // Rolled back to before cp2: cp2 is larger than the latest seal.
    let live = s.path().parent().unwrap().to_path_buf();
    std::fs::remove_dir_all(&live).unwrap();
    copy_dir(&t1, &live);
    let err = s.prove(&cp2).unwrap_err();
    assert!(
        err.ends_with(
            "the old checkpoint's size 5 is larger than the latest seal's 3: the store was \
             rolled back or its seals cut"
        ),
        "{err}"
    );
    // Forked: other lines sealed with a new epoch 2 key after the rollback.
    let forked = s.epoch_of("c", 4);
    let err = s.prove(&cp2).unwrap_err();
    assert!(
        err.ends_with(
            "the store's first 7 lines do not give the roots of the old checkpoint (size 5) and \
             the latest seal: a forked history, or lines changed since (run `scout-audit verify \
             --key`)"
        ),
        "{err}"
    );
    // The fork's proof from cp1 holds alone, but not beside cp2: two
    // different certificates of epoch 2.
    let p = s.prove(&cp1).unwrap().to_text();
    assert_eq!(epochs_carried(&forked), [1, 2]);
    assert!(seal::check_consistency(&p, &s.key, std::slice::from_ref(&cp1)).is_ok());
    assert_eq!(
        seal::check_consistency(&p, &s.key, &[cp1, cp2]),
        Err(
            "two different certificates of epoch 2 (a forked key chain, or a checkpoint of \
             another store)"
                .to_owned()
        )
    );
}

#[test]
fn short_checkpoints_chain_from_the_full_one_an_auditor_kept() {
    let s = Store::new();
    let cp1 = s.epoch_of("a", 2);
    s.epoch_of("b", 2);
    let p2 = s.prove(&cp1).unwrap();
    s.epoch_of("c", 2);
    s.epoch_of("d", 2);
    // The auditor kept cp1 (full) and p2's checkpoint (short: epoch 2 only).
    let short = p2.checkpoint.clone();
    assert_eq!(epochs_carried(&short), [2]);
    let p4 = s.prove(&short).unwrap();
    assert_eq!(epochs_carried(&p4.checkpoint), [3, 4]);
    assert_eq!((p4.old_size, p4.size), (4, 8));
    let text = p4.to_text();
    let ok = seal::check_consistency(&text, &s.key, &[cp1.clone(), short.clone()]).unwrap();
    assert_eq!((ok.old_epoch, ok.epoch, ok.size), (2, 4, 8));
    // The short one alone cannot be checked from the key.
    assert_eq!(
        seal::check_consistency(&text, &s.key, &[short]),
        Err(
            "no certificate of epoch 1 is given: add the checkpoint that carries it (the full \
             one `checkpoint` printed)"
                .to_owned()
        )
    );
    // The full latest checkpoint, or any full one, works as well.
    let full = seal::latest_checkpoint(&RealFs, &s.layout).unwrap();
    assert_eq!(epochs_carried(&full), [1, 2, 3, 4]);
    let p = s.prove(&cp1).unwrap();
    assert!(seal::check_consistency(&p.to_text(), &s.key, &[cp1, full]).is_ok());
}
