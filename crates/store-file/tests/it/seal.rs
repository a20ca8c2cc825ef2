//! Sealing a real file store: seal, rotate, compress, seal, verify; then
//! tamperings, each with its exact verdict and location.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use scout_audit_core::{Clock, Durability, Event, ManualClock, SystemClock, Timestamp};
use scout_audit_seal::merkle::{Tree, leaf_hash};
use scout_audit_seal::note::{Checkpoint, EpochChain, Verifier, sign};
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::options::SealInterval;
use scout_audit_store_file::seal::{self, SealReport};
use scout_audit_store_file::{FileStore, Layout};

/// A store with two archives' worth of sealed lines and a sealed live
/// file: 3 lines, rotate (compressed), 2 lines, all sealed twice.
struct Sealed {
    _dir: tempfile::TempDir,
    path: PathBuf,
    layout: Layout,
    key: Verifier,
}

fn write(path: &Path, n: u64) {
    let store = manual(path).durability(Durability::Sync).open().unwrap();
    for i in 0..n {
        store
            .append(Event::new("llm_call").cost(0.01 * i as f64))
            .unwrap();
    }
    store.close().unwrap();
}

/// A writer that does not seal by itself: these tests seal by hand.
fn manual(path: &Path) -> scout_audit_store_file::Builder {
    FileStore::builder(path).seal_interval(SealInterval::OFF)
}

fn sealed() -> Sealed {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let layout = Layout::new(&path).unwrap();
    let key = seal::init(&RealFs, &layout, 3600).unwrap();
    write(&path, 3);
    let s = seal::seal_now(&RealFs, &layout, &SystemClock)
        .unwrap()
        .unwrap();
    assert_eq!((s.size, s.new_leaves, s.epoch), (3, 3, 1));
    let store = manual(&path).open().unwrap();
    store.rotate().unwrap();
    store.wait_compressed();
    store.close().unwrap();
    write(&path, 2);
    let s = seal::seal_now(&RealFs, &layout, &SystemClock)
        .unwrap()
        .unwrap();
    assert_eq!((s.size, s.new_leaves, s.evolved), (5, 2, false));
    assert_eq!(
        seal::seal_now(&RealFs, &layout, &SystemClock).unwrap(),
        None
    );
    Sealed {
        _dir: dir,
        path,
        layout,
        key: Verifier::parse(&key).unwrap(),
    }
}

fn verify(s: &Sealed) -> SealReport {
    seal::verify_sealed(&RealFs, &s.layout, &s.key).unwrap()
}

fn archive(s: &Sealed) -> PathBuf {
    let dir = s.path.parent().unwrap();
    let name = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".jsonl.gz"))
        .unwrap();
    dir.join(name)
}

fn verdict(r: &SealReport) -> (String, Option<String>, Option<u64>) {
    let t = r.tampering.clone().expect("tampering found");
    (t.what, t.segment, t.line)
}

#[test]
fn an_untampered_store_verifies_and_later_lines_are_unsealed() {
    let s = sealed();
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!(
        (r.seals, r.epochs, r.sealed_leaves, r.unsealed),
        (2, 2, 5, 0)
    );
    write(&s.path, 4);
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((r.sealed_leaves, r.unsealed), (5, 4));
}

#[test]
fn an_edited_sealed_line_is_located() {
    let s = sealed();
    let mut bytes = std::fs::read(&s.path).unwrap();
    let at = bytes.iter().position(|&b| b == b'1').unwrap();
    bytes[at] = b'2';
    std::fs::write(&s.path, bytes).unwrap();
    let (what, seg, line) = verdict(&verify(&s));
    assert!(what.contains("differ from the seal"), "{what}");
    assert_eq!((seg.as_deref(), line), (Some("audit.jsonl"), Some(1)));
}

#[test]
fn removed_and_swapped_lines_are_located() {
    let s = sealed();
    let text = std::fs::read_to_string(&s.path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&s.path, format!("{}\n{}\n", lines[1], lines[0])).unwrap();
    let (_, seg, line) = verdict(&verify(&s));
    assert_eq!((seg.as_deref(), line), (Some("audit.jsonl"), Some(1)));
    std::fs::write(&s.path, format!("{}\n", lines[0])).unwrap();
    let (what, seg, line) = verdict(&verify(&s));
    assert!(
        what.contains("holds 4 lines, fewer than the 5 sealed"),
        "{what}"
    );
    assert_eq!((seg.as_deref(), line), (Some("audit.jsonl"), Some(1)));
}

#[test]
fn a_deleted_archive_is_tampering() {
    let s = sealed();
    let gz = archive(&s);
    std::fs::remove_file(&gz).unwrap();
    let (what, seg, line) = verdict(&verify(&s));
    assert!(
        what.contains("holds 2 lines, fewer than the 3 sealed"),
        "{what}"
    );
    assert_eq!((seg.as_deref(), line), (Some("audit.jsonl"), Some(1)));
}

#[test]
fn a_wrong_key_an_edited_root_and_a_missing_key_file_are_tampering() {
    let s = sealed();
    let other = tempfile::tempdir().unwrap();
    let l2 = Layout::new(other.path().join("audit.jsonl")).unwrap();
    let wrong = Verifier::parse(&seal::init(&RealFs, &l2, 60).unwrap()).unwrap();
    let r = seal::verify_sealed(&RealFs, &s.layout, &wrong).unwrap();
    assert!(
        verdict(&r)
            .0
            .contains("not made with this verification key")
    );

    let log = s.layout.seal_log();
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    let note = v["note"].as_str().unwrap();
    let root_line = note.lines().nth(2).unwrap();
    let edited = note.replacen(root_line, &format!("A{}", &root_line[1..]), 1);
    let edited = if edited == note {
        note.replacen(root_line, &format!("B{}", &root_line[1..]), 1)
    } else {
        edited
    };
    std::fs::write(
        &log,
        text.replace(
            note.replace('\n', "\\n").as_str(),
            edited.replace('\n', "\\n").as_str(),
        ),
    )
    .unwrap();
    assert!(
        verdict(&verify(&s)).0.contains("does not verify"),
        "{:?}",
        verify(&s)
    );
    std::fs::write(&log, &text).unwrap();
    assert_eq!(verify(&s).tampering, None);

    let key = s.layout.seal_key();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(verdict(&verify(&s)).0.contains("not 0600"));
    std::fs::remove_file(&key).unwrap();
    assert!(verdict(&verify(&s)).0.starts_with("the sealing state"));
}

#[test]
fn a_truncated_seal_log_drops_seals_but_a_torn_line_is_ignored() {
    let s = sealed();
    let log = s.layout.seal_log();
    let text = std::fs::read_to_string(&log).unwrap();
    // The last seal's line (a vouch for the archive's index follows it).
    let cut = text.rfind(r#"{"v":1,"kind":"seal""#).unwrap();
    std::fs::write(&log, &text[..cut + 10]).unwrap();
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((r.sealed_leaves, r.unsealed), (3, 2));
    let again = seal::seal_now(&RealFs, &s.layout, &SystemClock)
        .unwrap()
        .unwrap();
    assert_eq!(again.size, 5);
    assert!(s.layout.seal_log_torn(1).exists());
    assert_eq!(verify(&s).tampering, None);
}

#[test]
fn init_refuses_a_store_already_set_up() {
    let s = sealed();
    let e = seal::init(&RealFs, &s.layout, 60).unwrap_err().to_string();
    assert!(e.contains("already set up for sealing"), "{e}");
}

/// The next epoch's sealing state and its certificate, as an evolve
/// interrupted before its rename leaves them.
fn evolved_state(s: &Sealed) -> (String, String) {
    let text = std::fs::read_to_string(s.layout.seal_key()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut chain = EpochChain::decode_state(&format!("{}\n", lines[..4].join("\n"))).unwrap();
    let now = u64::try_from(SystemClock.now().unix_secs()).unwrap();
    let cert = chain.evolve(now).unwrap();
    let state = format!("{}{}\n{}\n", chain.encode_state(), lines[4], lines[5]);
    (state, cert)
}

fn plant_temp(s: &Sealed, state: &str) -> PathBuf {
    let temp = s.layout.seal_key_temp();
    std::fs::write(&temp, state).unwrap();
    std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600)).unwrap();
    temp
}

#[test]
fn an_evolve_interrupted_before_its_cert_keeps_the_old_key() {
    let s = sealed();
    let (state, _cert) = evolved_state(&s);
    let temp = plant_temp(&s, &state);
    write(&s.path, 1);
    let r = seal::seal_now(&RealFs, &s.layout, &SystemClock)
        .unwrap()
        .unwrap();
    assert_eq!((r.size, r.epoch, r.evolved), (6, 1, false));
    assert!(!temp.exists());
    assert_eq!(verify(&s).tampering, None);
}

#[test]
fn an_evolve_interrupted_after_its_cert_takes_the_new_key() {
    let s = sealed();
    let (state, cert) = evolved_state(&s);
    let temp = plant_temp(&s, &state);
    let line = serde_json::json!({"v": 1, "kind": "cert", "epoch": 2, "note": cert});
    let mut log = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    log.push_str(&format!("{line}\n"));
    std::fs::write(s.layout.seal_log(), log).unwrap();
    write(&s.path, 1);
    let r = seal::seal_now(&RealFs, &s.layout, &SystemClock)
        .unwrap()
        .unwrap();
    assert_eq!((r.size, r.epoch, r.evolved), (6, 2, false));
    assert!(!temp.exists());
    let v = verify(&s);
    assert_eq!(v.tampering, None);
    assert_eq!((v.epochs, v.seals, v.sealed_leaves), (3, 3, 6));
}

#[test]
fn a_fork_signed_with_the_current_key_is_found() {
    let s = sealed();
    let text = std::fs::read_to_string(s.layout.seal_key()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let chain = EpochChain::decode_state(&format!("{}\n", lines[..4].join("\n"))).unwrap();
    let log = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    let last_seal = log.lines().rfind(|l| l.contains(r#""kind":"seal""#));
    let last: serde_json::Value = serde_json::from_str(last_seal.unwrap()).unwrap();
    let note = last["note"].as_str().unwrap();
    let body: Vec<&str> = note.split("\n\n").next().unwrap().lines().collect();
    let mut tree = Tree::new();
    for i in 0..5u8 {
        tree.push(leaf_hash(&[i])).unwrap();
    }
    let forged = Checkpoint {
        origin: body[0].to_owned(),
        size: 5,
        root: tree.root(),
        // The next seal's place in the log, as an honest sealer numbers it.
        extensions: body[3..]
            .iter()
            .map(|l| match l.strip_prefix("seal ") {
                Some(n) => format!("seal {}", n.parse::<u64>().unwrap() + 1),
                None => (*l).to_owned(),
            })
            .collect(),
    };
    let mut entry = last.clone();
    entry["note"] = sign(&forged.to_text(), &[chain.signer()]).unwrap().into();
    entry["tree"] = base64::engine::general_purpose::STANDARD
        .encode(tree.encode())
        .into();
    std::fs::write(s.layout.seal_log(), format!("{log}{entry}\n")).unwrap();
    let (what, seg, line) = verdict(&verify(&s));
    assert_eq!(
        what,
        "two seals of size 5 with different roots: a forked history"
    );
    assert_eq!((seg, line), (None, None));
}

#[test]
fn reordered_seal_log_lines_are_tampering() {
    let s = sealed();
    let log = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    let mut lines: Vec<&str> = log.lines().collect();
    lines.swap(1, 2);
    std::fs::write(s.layout.seal_log(), format!("{}\n", lines.join("\n"))).unwrap();
    let (what, _, _) = verdict(&verify(&s));
    assert_eq!(what, "a seal of epoch 1 is out of order in the seal log");
}

#[test]
fn an_archive_replaced_by_another_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let layout = Layout::new(&path).unwrap();
    let key = Verifier::parse(&seal::init(&RealFs, &layout, 3600).unwrap()).unwrap();
    for n in [2, 3] {
        write(&path, n);
        seal::seal_now(&RealFs, &layout, &SystemClock)
            .unwrap()
            .unwrap();
        let store = manual(&path).open().unwrap();
        store.rotate().unwrap();
        store.wait_compressed();
        store.close().unwrap();
    }
    let mut gz: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    gz.sort();
    assert_eq!(gz.len(), 2);
    assert_eq!(
        seal::verify_sealed(&RealFs, &layout, &key)
            .unwrap()
            .tampering,
        None
    );
    std::fs::copy(&gz[0], &gz[1]).unwrap();
    let r = seal::verify_sealed(&RealFs, &layout, &key).unwrap();
    let (what, seg, line) = verdict(&r);
    assert!(
        what.contains("holds 4 lines, fewer than the 5 sealed"),
        "{what}"
    );
    let name = gz[1].file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!((seg, line), (Some(name), Some(1)));
}

#[test]
fn every_changed_byte_of_a_sealed_line_is_found() {
    let s = sealed();
    let original = std::fs::read(&s.path).unwrap();
    for at in 0..original.len() {
        for flip in [0x01u8, 0x80] {
            let mut bytes = original.clone();
            bytes[at] ^= flip;
            std::fs::write(&s.path, &bytes).unwrap();
            let r = verify(&s);
            let t = r
                .tampering
                .unwrap_or_else(|| panic!("byte {at} ^ {flip:#x} not found"));
            assert_eq!(
                t.segment.as_deref(),
                Some("audit.jsonl"),
                "byte {at}: {t:?}"
            );
        }
    }
    std::fs::write(&s.path, &original).unwrap();
    assert_eq!(verify(&s).tampering, None);
}

#[test]
fn a_corrupt_archive_is_tampering_naming_it() {
    let s = sealed();
    let gz = archive(&s);
    let mut bytes = std::fs::read(&gz).unwrap();
    let crc = bytes.len() - 8;
    bytes[crc] ^= 0xff;
    std::fs::write(&gz, &bytes).unwrap();
    let t = verify(&s).tampering.unwrap();
    let name = gz.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        t.what
            .starts_with(&format!("the segment {name} cannot be read")),
        "{t:?}"
    );
    assert_eq!((t.segment, t.line), (Some(name), None));
}

#[test]
fn sealing_refuses_a_readable_or_linked_key_file() {
    let s = sealed();
    let key = s.layout.seal_key();
    write(&s.path, 1);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = seal::seal_now(&RealFs, &s.layout, &SystemClock)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("has mode 0640, not 0600: the secret key may have been read"),
        "{e}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let aside = key.with_extension("aside");
    std::fs::rename(&key, &aside).unwrap();
    std::os::unix::fs::symlink(&aside, &key).unwrap();
    let e = seal::seal_now(&RealFs, &s.layout, &SystemClock)
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("is not a regular file"), "{e}");
}

#[test]
fn a_seal_log_cut_before_the_current_epoch_is_tampering() {
    let s = sealed();
    let log = s.layout.seal_log();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Whole seals cut within the current epoch: only unsealed lines.
    std::fs::write(&log, format!("{}\n{}\n", lines[0], lines[1])).unwrap();
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((r.seals, r.sealed_leaves, r.unsealed), (0, 0, 5));
    // Cut before the current epoch's cert: the key state is ahead of the log.
    std::fs::write(&log, format!("{}\n", lines[0])).unwrap();
    let (what, seg, line) = verdict(&verify(&s));
    assert_eq!(
        what,
        "the sealing state is not the last certified epoch's key of this store"
    );
    assert_eq!((seg, line), (None, None));
}

#[test]
fn racing_sealers_never_fork() {
    let s = sealed();
    let store = FileStore::builder(&s.path)
        .durability(Durability::Sync)
        .open()
        .unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..5 {
                    store.append(Event::new("llm_call")).unwrap();
                    seal::seal_now(&RealFs, &s.layout, &SystemClock).unwrap();
                }
            });
        }
    });
    store.close().unwrap();
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((r.sealed_leaves, r.unsealed), (25, 0));
}

#[test]
fn a_clock_stepping_back_gives_no_false_alarm() {
    let s = sealed();
    let past = ManualClock::new(Timestamp::from_unix(1_000_000, 0).unwrap());
    write(&s.path, 2);
    let r = seal::seal_now(&RealFs, &s.layout, &past).unwrap().unwrap();
    assert_eq!((r.size, r.evolved), (7, false));
    let v = verify(&s);
    assert_eq!(v.tampering, None);
    assert_eq!((v.seals, v.sealed_leaves), (3, 7));
}

#[test]
fn verifying_while_writers_write_rotate_and_seal_finds_nothing() {
    let s = sealed();
    let store = FileStore::builder(&s.path)
        .durability(Durability::Sync)
        .open()
        .unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..60 {
                store.append(Event::new("llm_call")).unwrap();
                if i % 10 == 0 {
                    store.rotate().unwrap();
                }
                if i % 3 == 0 {
                    seal::seal_now(&RealFs, &s.layout, &SystemClock).unwrap();
                }
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut checks = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) || checks == 0 {
            assert_eq!(verify(&s).tampering, None);
            checks += 1;
        }
    });
    store.close().unwrap();
    assert_eq!(verify(&s).tampering, None);
}

/// A seal removed from the middle of the log: the seals after it still
/// prove its lines, but their numbers no longer follow (decision 106).
#[test]
fn a_seal_removed_from_the_middle_of_the_log_is_tampering() {
    let s = sealed();
    let log = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    let first_seal = log
        .lines()
        .position(|l| l.contains(r#""kind":"seal""#))
        .unwrap();
    let kept: Vec<&str> = log
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != first_seal)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(s.layout.seal_log(), format!("{}\n", kept.join("\n"))).unwrap();
    let (what, seg, line) = verdict(&verify(&s));
    assert_eq!(
        what,
        "the seal of size 5 is not numbered 1, its place in the seal log: a seal was removed or reordered"
    );
    assert_eq!((seg, line), (None, None));
}
