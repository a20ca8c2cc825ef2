//! Consistency proofs for third parties (issue 10, item 5; decisions 120
//! and 121): [`prove_consistency`] proves that the latest seal's tree
//! extends an older checkpoint kept elsewhere, and [`check_consistency`]
//! checks such a proof without the store, against the verification key
//! and the old checkpoint, so an auditor holding yesterday's checkpoint
//! is convinced today's extends it.
//!
//! The proof carries the new checkpoint with only the certificates of the
//! epochs after the old checkpoint's (decision 122): the verifier already
//! holds the earlier ones, in the old checkpoint. Its text is a header
//! paragraph, a blank line, then that checkpoint file (`anchor.rs`):
//!
//! ```text
//! scout-audit consistency v1
//! old-size <the old checkpoint's size>
//! old-root <its base64 root>
//! size <the new checkpoint's size>
//! root <its base64 root>
//! <base64 hash>                    (the RFC 9162 consistency proof, Go tlog's order)
//!
//! <new checkpoint note, then the certificates after the old one's epoch>
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scout_audit_seal::merkle::{Hash, verify_consistency};
use scout_audit_seal::note::{Checkpoint, Epoch, Verifier, certified_epoch, verify_chain};
use serde::Serialize;

use super::anchor::{CheckpointFile, latest_in, open_seal_note};
use super::log::read_sealed_log;
use super::proof::{ProofText, range_roots, split, unsigned};
use super::seal_err;
use super::verify::under_shared_lock;
use crate::Result;
use crate::fs::Fs;
use crate::layout::Layout;

/// The first line of a consistency proof.
pub const CONSISTENCY_HEAD: &str = "scout-audit consistency v1";
/// The most hashes a consistency proof holds (64 levels and the old root).
const MAX_HASHES: usize = 65;

/// The proof that a newer checkpoint's tree extends an older one's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The old checkpoint's tree size.
    pub old_size: u64,
    /// The old checkpoint's root.
    pub old_root: Hash,
    /// The new checkpoint's tree size.
    pub size: u64,
    /// The new checkpoint's root.
    pub root: Hash,
    /// The RFC 9162 consistency proof (Go `tlog`'s `TreeProof` order).
    pub hashes: Vec<Hash>,
    /// The new checkpoint: its signed note and the certificates of the
    /// epochs after the old checkpoint's, up to the one that signed it.
    pub checkpoint: CheckpointFile,
}

/// The JSON form of a [`ConsistencyProof`] (`prove --consistency --format json`).
#[derive(Serialize)]
struct ConsistencyJson {
    old_size: u64,
    old_root: String,
    size: u64,
    root: String,
    proof: Vec<String>,
    checkpoint: String,
}

impl ConsistencyProof {
    /// The proof text (the module's format).
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{CONSISTENCY_HEAD}\nold-size {}\nold-root {}\nsize {}\nroot {}\n",
            self.old_size,
            STANDARD.encode(self.old_root),
            self.size,
            STANDARD.encode(self.root)
        );
        for h in &self.hashes {
            text.push_str(&STANDARD.encode(h));
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.checkpoint.to_text());
        text
    }

    /// The proof as one JSON object: `old_size`, `old_root`, `size`,
    /// `root`, `proof` (the hashes) and `checkpoint` (the new checkpoint
    /// file's text).
    #[must_use]
    pub fn to_json(&self) -> String {
        let json = ConsistencyJson {
            old_size: self.old_size,
            old_root: STANDARD.encode(self.old_root),
            size: self.size,
            root: STANDARD.encode(self.root),
            proof: self.hashes.iter().map(|h| STANDARD.encode(h)).collect(),
            checkpoint: self.checkpoint.to_text(),
        };
        serde_json::to_string(&json).unwrap_or_default()
    }

    /// Reads a proof text.
    ///
    /// # Errors
    ///
    /// The reason, when the text is not a consistency proof.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut t = ProofText::open(text, CONSISTENCY_HEAD, "a consistency proof")?;
        let old_size = t.number("old-size")?;
        let old_root = t.hash("old-root")?;
        let size = t.number("size")?;
        let root = t.hash("root")?;
        let (hashes, checkpoint) = t.finish(MAX_HASHES)?;
        Ok(Self {
            old_size,
            old_root,
            size,
            root,
            hashes,
            checkpoint,
        })
    }
}

/// The epoch a checkpoint's note names in its `epoch N` line, unchecked.
fn named_epoch(cp: &Checkpoint) -> Option<u64> {
    cp.extensions
        .first()
        .and_then(|l| l.strip_prefix("epoch "))
        .and_then(|n| n.parse().ok())
}

/// The leaf ranges `[start, end)` whose roots make the consistency proof
/// from the first `m` leaves of the tree of leaves `[lo, hi)` to all of
/// them (RFC 9162's SUBPROOF, as ranges); `0 < m <= hi - lo`.
fn consistency_ranges(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push((lo, hi));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        consistency_ranges(m, lo, lo + k, whole, out);
        out.push((lo + k, hi));
    } else {
        consistency_ranges(m - k, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

/// Proves that the latest seal extends `old` (a checkpoint kept
/// elsewhere, as `checkpoint` printed it): hashes the store's first lines
/// into the proof's subtree roots in one pass (O(log n) memory), checks
/// the proof before returning it, and attaches the latest seal's note
/// with the certificates of the epochs after `old`'s. Holds the store's
/// lock shared while it reads. Nothing of `old` is verified here (the
/// prover needs no key); whoever checks the proof does.
///
/// # Errors
///
/// The store is not sealed or has no seal; `old` is not a checkpoint of
/// this store, is empty, is larger or of a later epoch than the latest
/// seal (rolled back or cut); the store's lines do not give both roots (a
/// forked history); IO.
pub fn prove_consistency(
    fs: &dyn Fs,
    layout: &Layout,
    old: &CheckpointFile,
) -> Result<ConsistencyProof> {
    let log_path = layout.seal_log();
    under_shared_lock(fs, layout, || {
        let log = read_sealed_log(fs, layout)?;
        let latest = latest_in(&log)
            .ok_or_else(|| seal_err(&log_path, "holds no seal yet: run `scout-audit seal`"))?;
        let new =
            unsigned(&latest).map_err(|e| seal_err(&log_path, format!("the latest seal {e}")))?;
        let old_cp =
            unsigned(old).map_err(|e| seal_err(&log_path, format!("the old checkpoint {e}")))?;
        let refuse = |why: String| Err(seal_err(&log_path, why));
        let origin = format!("scout-audit/{}", log.store);
        if old_cp.origin != origin {
            return refuse(format!(
                "the old checkpoint is of {}, not of this store ({origin})",
                old_cp.origin
            ));
        }
        let (m, n) = (old_cp.size, new.size);
        if m == 0 {
            return refuse("the old checkpoint is of the empty tree: every tree extends it".into());
        }
        if m > n {
            return refuse(format!(
                "the old checkpoint's size {m} is larger than the latest seal's {n}: \
                 the store was rolled back or its seals cut"
            ));
        }
        let (old_epoch, epoch) = (named_epoch(&old_cp), named_epoch(&new));
        let Some(old_epoch) = old_epoch.filter(|&k| Some(k) <= epoch) else {
            return refuse(format!(
                "the old checkpoint names no epoch, or one after the latest seal's ({}): \
                 the seal log was rolled back",
                epoch.unwrap_or(0)
            ));
        };
        let mut ranges = Vec::new();
        consistency_ranges(m, 0, n, true, &mut ranges);
        let hashes = range_roots(fs, layout, &ranges, n)?;
        if verify_consistency(m, n, &old_cp.root, &new.root, &hashes).is_err() {
            return Err(seal_err(
                &layout.live(),
                format!(
                    "the store's first {n} lines do not give the roots of the old checkpoint \
                     (size {m}) and the latest seal: a forked history, or lines changed since \
                     (run `scout-audit verify --key`)"
                ),
            ));
        }
        let certs = latest
            .certs
            .into_iter()
            .filter(|c| certified_epoch(c).is_none_or(|e| e > old_epoch))
            .collect();
        Ok(ConsistencyProof {
            old_size: m,
            old_root: old_cp.root,
            size: n,
            root: new.root,
            hashes,
            checkpoint: CheckpointFile {
                note: latest.note,
                certs,
            },
        })
    })
}

/// What [`check_consistency`] proved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedConsistency {
    /// Both checkpoints' origin (`scout-audit/<store id>`).
    pub origin: String,
    /// The old checkpoint's size.
    pub old_size: u64,
    /// The epoch whose key signed the old checkpoint.
    pub old_epoch: u64,
    /// The new checkpoint's size.
    pub size: u64,
    /// The epoch whose key signed the new checkpoint.
    pub epoch: u64,
    /// The new checkpoint's seal time (unix seconds).
    pub time: u64,
}

/// A checkpoint note opened with the key of the epoch it names.
struct OpenedNote {
    checkpoint: Checkpoint,
    epoch: u64,
    time: u64,
}

/// Opens a seal's checkpoint note with the key of the epoch it names,
/// from `epochs` (epoch 0 first; epoch 0 never signs a seal).
fn open_note(note: &str, epochs: &[Epoch]) -> std::result::Result<OpenedNote, String> {
    let text = note.split_once("\n\n").map(|(t, _)| format!("{t}\n"));
    let claimed = text
        .as_deref()
        .and_then(|t| Checkpoint::parse(t).ok())
        .as_ref()
        .and_then(named_epoch)
        .ok_or("it names no epoch")?;
    let (checkpoint, time) = open_seal_note(
        note,
        claimed,
        usize::try_from(claimed)
            .ok()
            .and_then(|i| epochs.get(i))
            .map(|e| &e.verifier),
        "no certificate given certifies",
    )?;
    Ok(OpenedNote {
        checkpoint,
        epoch: claimed,
        time,
    })
}

/// The epoch chain from `key` through the certificates of every file:
/// certificates of one epoch in several files must be the same note, and
/// together they must run from epoch 1 without a gap.
fn pooled_chain(
    key: &Verifier,
    files: &[&CheckpointFile],
) -> std::result::Result<Vec<Epoch>, String> {
    let mut pool: BTreeMap<u64, &str> = BTreeMap::new();
    for cert in files.iter().flat_map(|f| &f.certs) {
        let epoch = certified_epoch(cert).ok_or("a certificate names no epoch")?;
        match pool.insert(epoch, cert) {
            Some(other) if other != cert => {
                return Err(format!(
                    "two different certificates of epoch {epoch} (a forked key chain, or a \
                     checkpoint of another store)"
                ));
            }
            _ => {}
        }
    }
    if let Some((gap, _)) = (1u64..).zip(pool.keys()).find(|(want, got)| want != *got) {
        return Err(format!(
            "no certificate of epoch {gap} is given: add the checkpoint that carries it \
             (the full one `checkpoint` printed)"
        ));
    }
    let certs: Vec<&[u8]> = pool.values().map(|c| c.as_bytes()).collect();
    verify_chain(key, &certs).map_err(|e| format!("the epoch chain: {e}"))
}

/// Checks a consistency proof without the store: the certificates of
/// `olds` (checkpoints kept elsewhere, as `checkpoint` printed them; a
/// short one needs the ones it continues) and of the proof's checkpoint
/// chain from `key`; the old checkpoint the proof starts from (one of
/// `olds`, by size and root) and the new one verify with their epochs'
/// keys; both are of one origin; the new is not smaller nor of an earlier
/// epoch; and the RFC 9162 proof joins their roots.
///
/// # Errors
///
/// Why the proof does not hold.
pub fn check_consistency(
    text: &str,
    key: &Verifier,
    olds: &[CheckpointFile],
) -> std::result::Result<CheckedConsistency, String> {
    let p = ConsistencyProof::parse(text).map_err(|e| format!("the proof {e}"))?;
    let mut files: Vec<&CheckpointFile> = olds.iter().collect();
    files.push(&p.checkpoint);
    let epochs = pooled_chain(key, &files)?;
    let mut old = None;
    for (i, f) in olds.iter().enumerate() {
        let o = open_note(&f.note, &epochs)
            .map_err(|e| format!("old checkpoint {} does not verify: {e}", i + 1))?;
        if (o.checkpoint.size, o.checkpoint.root) == (p.old_size, p.old_root) {
            old = Some(o);
        }
    }
    let old = old.ok_or(format!(
        "the proof starts from a checkpoint of size {}, and no old checkpoint given is that one",
        p.old_size
    ))?;
    let new = open_note(&p.checkpoint.note, &epochs)
        .map_err(|e| format!("the proof's checkpoint does not verify against the key: {e}"))?;
    if (new.checkpoint.size, new.checkpoint.root) != (p.size, p.root) {
        return Err("the proof's size and root are not its checkpoint's".to_owned());
    }
    if new.checkpoint.origin != old.checkpoint.origin {
        return Err(format!(
            "the new checkpoint is of {}, the old one of {}: different logs",
            new.checkpoint.origin, old.checkpoint.origin
        ));
    }
    if p.old_size > p.size || new.epoch < old.epoch {
        return Err(format!(
            "the old checkpoint (size {}, epoch {}) is after the new one (size {}, epoch {}): \
             not an extension",
            p.old_size, old.epoch, p.size, new.epoch
        ));
    }
    verify_consistency(p.old_size, p.size, &p.old_root, &p.root, &p.hashes)
        .map_err(|e| format!("the new checkpoint does not extend the old one: {e}"))?;
    Ok(CheckedConsistency {
        origin: new.checkpoint.origin,
        old_size: p.old_size,
        old_epoch: old.epoch,
        size: p.size,
        epoch: new.epoch,
        time: new.time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_audit_seal::merkle::{consistency_proof, leaf_hash, root};

    #[test]
    fn consistency_ranges_give_the_merkle_modules_proofs() {
        for n in 1..40u64 {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            for m in 1..=n {
                let mut ranges = Vec::new();
                consistency_ranges(m, 0, n, true, &mut ranges);
                let got: Vec<Hash> = ranges
                    .iter()
                    .map(|&(a, b)| root(&leaves[a as usize..b as usize]))
                    .collect();
                assert_eq!(got, consistency_proof(m, n, &leaves).unwrap(), "{m} of {n}");
            }
        }
    }

    #[test]
    fn hostile_consistency_texts_are_refused_with_what_is_wrong() {
        let h = STANDARD.encode([7u8; 32]);
        let head = format!("{CONSISTENCY_HEAD}\nold-size 1\nold-root {h}\nsize 2\nroot {h}\n");
        let cp = "c\n\n— k x\n";
        let ok = format!("{head}{h}\n\n{cp}");
        let p = ConsistencyProof::parse(&ok).unwrap();
        assert_eq!((p.old_size, p.size, p.hashes.len()), (1, 2, 1));
        assert_eq!(ConsistencyProof::parse(&p.to_text()).unwrap(), p);
        let many = format!("{head}{}\n{cp}", format!("{h}\n").repeat(66));
        let cases = [
            (
                head.clone(),
                "is not a proof: no blank line before its checkpoint".to_owned(),
            ),
            (
                ok.replacen(CONSISTENCY_HEAD, "scout-audit proof v1", 1),
                format!("is not a consistency proof: it does not start with {CONSISTENCY_HEAD:?}"),
            ),
            (
                ok.replacen("old-size 1", "old-size x", 1),
                "old-size is not a number".to_owned(),
            ),
            (
                ok.replacen("size 2\n", "", 1),
                "has no size line where it belongs".to_owned(),
            ),
            (
                ok.replacen(&format!("{h}\n\n"), "AAAA\n\n", 1),
                "\"AAAA\" is not the base64 of a 32-byte hash".to_owned(),
            ),
            (many, "holds 66 hashes, more than any tree needs".to_owned()),
            (
                format!("{head}\nc\n"),
                "its checkpoint is not signed notes separated by blank lines".to_owned(),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(ConsistencyProof::parse(&text).err(), Some(want), "{text:?}");
        }
    }
}
