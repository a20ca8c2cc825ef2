//! Indexes vouched for by seals (decision 88): the sealer vouches for the
//! index of every sealed archive, readers trust only what the seal log's
//! chain vouches for, and `verify --key` names an index that differs from
//! what was vouched for, or a vouch that should not be there.

use std::path::{Path, PathBuf};

use scout_audit_core::{Durability, Event, SystemClock};
use scout_audit_seal::note::{EpochChain, Signer, Verifier, sign};
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::index::SegmentIndex;
use scout_audit_store_file::options::SealInterval;
use scout_audit_store_file::seal::{self, SealReport, Vouches};
use scout_audit_store_file::{FileStore, Layout};
use scout_audit_testkit::forge::{reseal, with_costs};

struct Sealed {
    _dir: tempfile::TempDir,
    path: PathBuf,
    layout: Layout,
    key: Verifier,
}

fn write(path: &Path, n: u64) {
    let store = FileStore::builder(path)
        .seal_interval(SealInterval::OFF)
        .durability(Durability::Sync)
        .open()
        .unwrap();
    for i in 0..n {
        store
            .append(Event::new("llm_call").cost(0.25 * (i + 1) as f64))
            .unwrap();
    }
    store.close().unwrap();
}

fn rotate(path: &Path) {
    let store = FileStore::builder(path)
        .seal_interval(SealInterval::OFF)
        .open()
        .unwrap();
    store.rotate().unwrap();
    store.wait_compressed();
    store.close().unwrap();
}

/// A sealed store of 3 lines, rotated into an indexed archive; not sealed
/// since the rotation (its index is not vouched for yet).
fn rotated() -> Sealed {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let layout = Layout::new(&path).unwrap();
    let key = seal::init(&RealFs, &layout, 3600).unwrap();
    write(&path, 3);
    let s = seal::seal_now(&RealFs, &layout, &SystemClock)
        .unwrap()
        .unwrap();
    assert_eq!(s.size, 3);
    rotate(&path);
    Sealed {
        _dir: dir,
        path,
        layout,
        key: Verifier::parse(&key).unwrap(),
    }
}

/// [`rotated`], sealed again: nothing new to seal, but the archive's
/// index is vouched for.
fn vouched() -> Sealed {
    let s = rotated();
    assert_eq!(
        seal::seal_now(&RealFs, &s.layout, &SystemClock).unwrap(),
        None
    );
    s
}

fn verify(s: &Sealed) -> SealReport {
    seal::verify_sealed(&RealFs, &s.layout, &s.key).unwrap()
}

fn with_ext(s: &Sealed, ext: &str) -> Vec<PathBuf> {
    let dir = s.path.parent().unwrap();
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(ext))
        .collect();
    v.sort();
    v
}

fn index_of(s: &Sealed) -> PathBuf {
    let v = with_ext(s, ".jsonl.gz.idx");
    assert_eq!(v.len(), 1, "{v:?}");
    v[0].clone()
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_owned()
}

fn log_lines(s: &Sealed) -> Vec<serde_json::Value> {
    std::fs::read_to_string(s.layout.seal_log())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_index(p: &Path) -> SegmentIndex {
    SegmentIndex::decode(&std::fs::read(p).unwrap()).unwrap()
}

fn vouches(s: &Sealed) -> Vouches {
    Vouches::load(&RealFs, &s.layout).unwrap()
}

/// The index forged as testkit's forger does: every group's cost made
/// 0.5, its digest recomputed (it still matches its archive's bytes).
fn forge(idx: &Path) {
    let text = std::fs::read_to_string(idx).unwrap();
    let forged = reseal(&with_costs(&text, 0.5));
    assert_ne!(forged, text);
    std::fs::write(idx, forged).unwrap();
    assert!(SegmentIndex::decode(&std::fs::read(idx).unwrap()).is_ok());
}

/// The current epoch's key, as an attacker holding the sealing state has
/// it, and the store id.
fn current_key(s: &Sealed) -> (EpochChain, String, u64) {
    let text = std::fs::read_to_string(s.layout.seal_key()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let chain = EpochChain::decode_state(&format!("{}\n", lines[..4].join("\n"))).unwrap();
    let store = log_lines(s)[0]["store"].as_str().unwrap().to_owned();
    let epoch = chain.epoch();
    (chain, store, epoch)
}

/// Appends a vouch line signed by `signer` saying `text`'s index lines.
fn append_vouch(s: &Sealed, signer: &Signer, epoch: u64, text: &str) {
    let note = sign(text, &[signer]).unwrap();
    let line = serde_json::json!({"v": 1, "kind": "vouch", "epoch": epoch, "note": note});
    let mut log = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    log.push_str(&format!("{line}\n"));
    std::fs::write(s.layout.seal_log(), log).unwrap();
}

fn verdict(r: &SealReport) -> (String, Option<String>) {
    let t = r.tampering.clone().expect("tampering found");
    (t.what, t.segment)
}

#[test]
fn sealing_vouches_for_a_sealed_archives_index_once() {
    let s = rotated();
    let idx = index_of(&s);
    // Written after the last seal: not vouched for, not tampering.
    assert!(vouches(&s).is_empty());
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((r.indexes_vouched, r.indexes_unvouched), (0, 1));
    let before = log_lines(&s).len();
    // Nothing new to seal, but the index is vouched for: one vouch line.
    assert_eq!(
        seal::seal_now(&RealFs, &s.layout, &SystemClock).unwrap(),
        None
    );
    let lines = log_lines(&s);
    assert_eq!(lines.len(), before + 1);
    let last = &lines[before];
    assert_eq!(
        (last["kind"].as_str(), last["epoch"].as_u64()),
        (Some("vouch"), Some(1))
    );
    let text = last["note"].as_str().unwrap().split("\n\n").next().unwrap();
    let store = lines[0]["store"].as_str().unwrap();
    let gz = name(&idx).strip_suffix(".idx").unwrap().to_owned();
    let digest = hex(&read_index(&idx).vouch_digest());
    assert_eq!(
        text,
        format!("scout-audit/{store}\nvouch 3\nindex {gz} {digest}")
    );
    let v = vouches(&s);
    assert_eq!(v.len(), 1);
    assert!(v.vouches_for(&read_index(&idx)));
    // Vouched for once: the next seal adds nothing.
    assert_eq!(
        seal::seal_now(&RealFs, &s.layout, &SystemClock).unwrap(),
        None
    );
    assert_eq!(log_lines(&s).len(), before + 1);
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((r.indexes_vouched, r.indexes_unvouched), (1, 0));
}

#[test]
fn a_forged_index_is_not_vouched_for_and_verify_names_it() {
    let s = vouched();
    let idx = index_of(&s);
    forge(&idx);
    assert!(!vouches(&s).vouches_for(&read_index(&idx)));
    let (what, seg) = verdict(&verify(&s));
    assert_eq!(
        what,
        format!(
            "the index {} differs from the index the seals vouched for: edited",
            name(&idx)
        )
    );
    assert_eq!(seg, Some(name(&idx)));
    // Cut short: not an index at all, still named.
    let text = std::fs::read(&idx).unwrap();
    std::fs::write(&idx, &text[..text.len() / 2]).unwrap();
    let (what, seg) = verdict(&verify(&s));
    assert!(
        what.starts_with(&format!(
            "the index {} is not the index the seals vouched for: ",
            name(&idx)
        )),
        "{what}"
    );
    assert_eq!(seg, Some(name(&idx)));
    // Removed: queries read the archive; nothing sealed is changed.
    std::fs::remove_file(&idx).unwrap();
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((r.indexes_vouched, r.indexes_unvouched), (0, 0));
}

#[test]
fn an_index_refreshed_with_another_identity_stays_vouched_for() {
    let s = vouched();
    let idx = index_of(&s);
    let mut i = read_index(&idx);
    assert!(i.identity.is_some());
    // What `scout-audit index` does to a copied store's index: the same
    // summary, another recorded identity (here none).
    i.identity = None;
    std::fs::write(&idx, i.encode()).unwrap();
    assert!(vouches(&s).vouches_for(&read_index(&idx)));
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!(r.indexes_vouched, 1);
}

#[test]
fn a_new_archives_index_is_vouched_for_by_the_next_seal() {
    let s = vouched();
    write(&s.path, 2);
    rotate(&s.path);
    let idx = with_ext(&s, ".jsonl.gz.idx");
    assert_eq!(idx.len(), 2);
    let v = vouches(&s);
    assert_eq!(v.len(), 1);
    assert!(v.vouches_for(&read_index(&idx[0])));
    assert!(!v.vouches_for(&read_index(&idx[1])));
    let done = seal::seal_now(&RealFs, &s.layout, &SystemClock)
        .unwrap()
        .unwrap();
    assert_eq!((done.size, done.new_leaves), (5, 2));
    let v = vouches(&s);
    assert_eq!(v.len(), 2);
    assert!(v.vouches_for(&read_index(&idx[1])));
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((r.sealed_leaves, r.indexes_vouched), (5, 2));
}

#[test]
fn a_store_without_sealing_has_no_vouches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write(&path, 2);
    rotate(&path);
    let layout = Layout::new(&path).unwrap();
    assert_eq!(Vouches::load(&RealFs, &layout), None);
    // The seal log gone but the sealing state left: still sealed,
    // vouching for nothing.
    let s = vouched();
    std::fs::remove_file(s.layout.seal_log()).unwrap();
    assert!(vouches(&s).is_empty());
}

#[test]
fn a_second_vouch_by_the_current_key_is_tampering_and_readers_keep_the_first() {
    let s = vouched();
    let idx = index_of(&s);
    let honest = read_index(&idx);
    forge(&idx);
    let (chain, store, epoch) = current_key(&s);
    let signer = chain.signer();
    let gz = name(&idx).strip_suffix(".idx").unwrap().to_owned();
    let digest = hex(&read_index(&idx).vouch_digest());
    append_vouch(
        &s,
        signer,
        epoch,
        &format!("scout-audit/{store}\nvouch 3\nindex {gz} {digest}\n"),
    );
    let v = vouches(&s);
    assert!(v.vouches_for(&honest));
    assert!(!v.vouches_for(&read_index(&idx)));
    let (what, seg) = verdict(&verify(&s));
    assert_eq!(what, format!("the index of {gz} is vouched for twice"));
    assert_eq!(seg, None);
}

#[test]
fn forged_vouches_are_not_trusted_and_are_tampering() {
    let s = rotated();
    let idx = index_of(&s);
    forge(&idx);
    let (chain, store, epoch) = current_key(&s);
    let signer = chain.signer();
    let gz = name(&idx).strip_suffix(".idx").unwrap().to_owned();
    let digest = hex(&read_index(&idx).vouch_digest());
    let text = format!("scout-audit/{store}\nvouch 3\nindex {gz} {digest}\n");
    let other = Signer::generate(signer.name()).unwrap();
    // (expected verdict, a vouch line: signer, epoch, text)
    let cases: Vec<(String, &Signer, u64, String)> = vec![
        (
            format!("a vouch of epoch {epoch} does not verify: "),
            &other,
            epoch,
            text.clone(),
        ),
        (
            format!(
                "a vouch of epoch {} is out of order in the seal log",
                epoch + 1
            ),
            signer,
            epoch + 1,
            text.clone(),
        ),
        (
            "a vouch of size 2 does not follow a seal of that size".to_owned(),
            signer,
            epoch,
            text.replace("vouch 3", "vouch 2"),
        ),
        (
            "a vouch names the index of audit-20991231T000000Z-000009.jsonl.gz, whose lines \
             were not sealed"
                .to_owned(),
            signer,
            epoch,
            format!(
                "scout-audit/{store}\nvouch 3\nindex audit-20991231T000000Z-000009.jsonl.gz {digest}\n"
            ),
        ),
    ];
    let log = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    for (want, signer, epoch, text) in cases {
        std::fs::write(s.layout.seal_log(), &log).unwrap();
        append_vouch(&s, signer, epoch, &text);
        let (what, _) = verdict(&verify(&s));
        assert!(what.starts_with(&want), "{what} / {want}");
    }
    // Readers reject the unsigned and the misplaced vouch alike.
    for (signer, epoch) in [(&other, epoch), (signer, epoch + 1)] {
        std::fs::write(s.layout.seal_log(), &log).unwrap();
        append_vouch(&s, signer, epoch, &text);
        assert!(vouches(&s).is_empty());
    }
}

#[test]
fn a_seal_log_readers_cannot_use_vouches_for_nothing() {
    let s = vouched();
    let log = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    assert_eq!(vouches(&s).len(), 1);
    // Garbage, a missing init line, a line over the bound: no vouch, no
    // panic.
    for bad in [
        format!("{log}not json\n"),
        log.lines().skip(1).map(|l| format!("{l}\n")).collect(),
        format!("{log}{}\n", "x".repeat(70 * 1024)),
    ] {
        std::fs::write(s.layout.seal_log(), bad).unwrap();
        assert!(vouches(&s).is_empty());
    }
    // A torn last line is ignored, as the sealer ignores it.
    std::fs::write(s.layout.seal_log(), format!("{log}{{\"v\":1,\"ki")).unwrap();
    assert_eq!(vouches(&s).len(), 1);
    // A link in the seal log's place is never followed.
    std::fs::remove_file(s.layout.seal_log()).unwrap();
    let elsewhere = s.path.with_file_name("elsewhere");
    std::fs::write(&elsewhere, &log).unwrap();
    std::os::unix::fs::symlink(&elsewhere, s.layout.seal_log()).unwrap();
    assert!(vouches(&s).is_empty());
}

#[test]
fn the_vouch_digest_covers_the_header_but_not_the_identity() {
    let s = vouched();
    let idx = index_of(&s);
    let text = std::fs::read_to_string(&idx).unwrap();
    let digest = scout_audit_store_file::index::vouch_digest_of(text.as_bytes());
    assert_eq!(digest, Some(read_index(&idx).vouch_digest()));
    // The header's first `ts` moved a day earlier (a reader trusting it
    // prunes wrongly), its seal recomputed: another digest, not vouched.
    let k = "\"first_ts\":[";
    let at = text.find(k).unwrap() + k.len();
    let end = at + text[at..].find(',').unwrap();
    let secs: i64 = text[at..end].parse().unwrap();
    let forged = reseal(&format!("{}{}{}", &text[..at], secs - 86_400, &text[end..]));
    std::fs::write(&idx, &forged).unwrap();
    let i = read_index(&idx);
    assert!(!vouches(&s).vouches_for(&i));
    assert_ne!(
        scout_audit_store_file::index::vouch_digest_of(forged.as_bytes()),
        digest
    );
    // Not an index at all (its seal line left as it was): no digest.
    let edited = text.replacen("\"records\":3", "\"records\":4", 1);
    assert_ne!(edited, text);
    assert_eq!(
        scout_audit_store_file::index::vouch_digest_of(edited.as_bytes()),
        None
    );
}

/// A store with `archives` indexed archives, sealed a few times while
/// each was the live file, its epochs 1 s long under a clock stepping 2 s
/// a seal (so every seal certifies a new epoch and vouches are signed in
/// many epochs); then every seal line of the log repeated `copies` times
/// in place, as days of once-a-second seals would leave it (the seals'
/// end segments and the lines' epochs still never decrease).
fn long_log(archives: usize, copies: usize) -> Sealed {
    use scout_audit_core::{Clock, ManualClock};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let layout = Layout::new(&path).unwrap();
    let key = seal::init(&RealFs, &layout, 1).unwrap();
    let clock = ManualClock::new(SystemClock.now());
    let seal = || {
        clock.advance(std::time::Duration::from_secs(2));
        seal::seal_now(&RealFs, &layout, &clock).unwrap();
    };
    for _ in 0..archives {
        for _ in 0..3 {
            write(&path, 1);
            seal();
        }
        rotate(&path);
        seal();
    }
    let log = std::fs::read_to_string(layout.seal_log()).unwrap();
    let mut grown = String::new();
    for line in log.lines() {
        let n = if line.starts_with(r#"{"v":1,"kind":"seal""#) {
            copies
        } else {
            1
        };
        for _ in 0..n {
            grown.push_str(line);
            grown.push('\n');
        }
    }
    std::fs::write(layout.seal_log(), grown).unwrap();
    Sealed {
        _dir: dir,
        path,
        layout,
        key: Verifier::parse(&key).unwrap(),
    }
}

/// Decision 114: readers find each archive's vouch by bisection and a
/// short scan, not by reading the log whole. On a log of megabytes, every
/// index is vouched for exactly as the sealer vouched (each vouch line's
/// digest, signed in one of many epochs), and each keeps being so as the
/// log grows after it.
#[test]
fn readers_find_every_vouch_in_a_long_seal_log() {
    let s = long_log(5, 400);
    let size = std::fs::metadata(s.layout.seal_log()).unwrap().len();
    assert!(size > 2 << 20, "{size}");
    let lines = log_lines(&s);
    let vouch_epochs: Vec<u64> = lines
        .iter()
        .filter(|l| l["kind"] == "vouch")
        .map(|l| l["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(vouch_epochs.len(), 5);
    assert!(
        vouch_epochs.windows(2).all(|w| w[0] < w[1]),
        "{vouch_epochs:?}"
    );
    assert!(vouch_epochs[0] > 1, "{vouch_epochs:?}");
    let idx = with_ext(&s, ".jsonl.gz.idx");
    assert_eq!(idx.len(), 5);
    let v = vouches(&s);
    assert_eq!(v.len(), 5);
    for i in &idx {
        assert!(v.vouches_for(&read_index(i)), "{i:?}");
    }
    // A forged index among them is not vouched for; the others still are.
    forge(&idx[2]);
    let v = vouches(&s);
    assert_eq!(v.len(), 5);
    for (k, i) in idx.iter().enumerate() {
        assert_eq!(v.vouches_for(&read_index(i)), k != 2, "{i:?}");
    }
}

/// What a reader reads to find a vouch is an entry of the log, and a
/// vouch holds only when signed by the key its epoch's `cert` line
/// certifies: a garbled line where the search reads, or a `cert` line
/// whose key was swapped, vouches for nothing there.
#[test]
fn readers_of_a_long_seal_log_trust_only_entries_and_certified_keys() {
    let s = long_log(3, 200);
    let log = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    let idx = with_ext(&s, ".jsonl.gz.idx");
    assert_eq!(vouches(&s).len(), 3);
    let lines: Vec<&str> = log.lines().collect();
    let at = |kind: &str, nth: usize| {
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains(&format!(r#""kind":"{kind}""#)))
            .nth(nth)
            .unwrap()
            .0
    };
    let rewrite = |k: usize, new: &str| {
        let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        out[k] = new.to_owned();
        std::fs::write(s.layout.seal_log(), out.join("\n") + "\n").unwrap();
    };
    // The line before the second vouch garbled: nothing is vouched for.
    let second = at("vouch", 1);
    rewrite(second - 1, "not an entry");
    assert!(vouches(&s).is_empty());
    // The second vouch's epoch certifies another key: that vouch does not
    // hold, the others do.
    let epoch = serde_json::from_str::<serde_json::Value>(lines[second]).unwrap()["epoch"]
        .as_u64()
        .unwrap();
    let cert = lines
        .iter()
        .position(|l| l.contains(r#""kind":"cert""#) && l.contains(&format!(r#""epoch":{epoch},"#)))
        .unwrap();
    let mut c: serde_json::Value = serde_json::from_str(lines[cert]).unwrap();
    let note = c["note"].as_str().unwrap().to_owned();
    let (text, sig) = note.split_once("\n\n").unwrap();
    let mut t: Vec<String> = text.lines().map(str::to_owned).collect();
    let other = Signer::generate(Verifier::parse(&t[1]).unwrap().name()).unwrap();
    t[1] = other.verifier().to_text();
    c["note"] = serde_json::Value::from(format!("{}\n\n{sig}", t.join("\n")));
    rewrite(cert, &c.to_string());
    let v = vouches(&s);
    assert_eq!(v.len(), 2);
    assert!(!v.vouches_for(&read_index(&idx[1])));
    std::fs::write(s.layout.seal_log(), &log).unwrap();
    assert_eq!(vouches(&s).len(), 3);
}
