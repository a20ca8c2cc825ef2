//! Checkpoints kept elsewhere (issue 10, item 5): the checkpoint file
//! `scout-audit checkpoint` prints (the latest seal's signed note and the
//! certificates of its key), opening one against the verification key,
//! and proving the store an append-only extension of each (which catches
//! a rollback of the whole store and a deleted tail; decision 80).
//!
//! A checkpoint file is notes separated by one blank line: the seal's
//! note byte for byte as in the seal log, then epoch 1's certificate,
//! epoch 2's, … up to the epoch that signed the seal. Neither a
//! checkpoint nor a certificate holds a blank line, so the file splits
//! into paragraphs that alternate a note's text and its signatures.

use std::collections::BTreeMap;

use scout_audit_seal::merkle::{Hash, empty_root, leaf_hash};
use scout_audit_seal::note::{Checkpoint, Verifier, open, verify_chain};

use super::Tampering;
use super::leaves::each_leaf;
use super::log::{Entry, Log, read_sealed_log};
use super::retire::{ProvenRetire, check_retires, start};
use super::seal_err;
use super::verify::{cert_notes, check_log, tamper, under_shared_lock};
use super::walk::unreadable;
use crate::Result;
use crate::fs::Fs;
use crate::layout::Layout;

/// The longest checkpoint file read: about 900,000 certificates of some
/// 290 bytes (an epoch a minute for 1.7 years).
pub const MAX_CHECKPOINT_FILE: u64 = 256 << 20;

/// A checkpoint file: a seal's signed note and the certificates of the
/// epochs up to the one whose key signed it (none: take them from the
/// store's seal log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointFile {
    /// The signed checkpoint note, as stored in the seal log.
    pub note: String,
    /// The certificate notes of epochs 1, 2, …, in order.
    pub certs: Vec<String>,
}

/// A checkpoint whose signature verified through the epoch chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The checkpoint (origin, size, root, extension lines).
    pub checkpoint: Checkpoint,
    /// The epoch whose key signed it.
    pub epoch: u64,
    /// The seal's time (its `time` line, unix seconds).
    pub time: u64,
    /// Every epoch's key the chain proved, epoch 0 (the verification key) first.
    pub keys: Vec<Verifier>,
}

impl CheckpointFile {
    /// The file's text: the notes, one blank line between them.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut text = self.note.clone();
        for cert in &self.certs {
            text.push('\n');
            text.push_str(cert);
        }
        text
    }

    /// Reads a checkpoint file (a bare note is one with no certificates).
    ///
    /// # Errors
    ///
    /// The reason when the text is not notes separated by blank lines.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let body = text.strip_suffix('\n').ok_or("does not end in a newline")?;
        let paragraphs: Vec<&str> = body.split("\n\n").collect();
        if paragraphs.len() % 2 != 0 || paragraphs.iter().any(|p| p.is_empty()) {
            return Err("is not signed notes separated by blank lines".to_owned());
        }
        let mut notes = paragraphs
            .chunks_exact(2)
            .map(|p| format!("{}\n\n{}\n", p[0], p[1]));
        let note = notes.next().ok_or("is empty")?;
        Ok(Self {
            note,
            certs: notes.collect(),
        })
    }

    /// Opens the checkpoint against `key`: its certificates (or, when it
    /// carries none, `fallback`, the store's) must certify the key of the
    /// epoch it names, and that key must have signed it.
    ///
    /// # Errors
    ///
    /// What did not verify.
    pub fn open(&self, key: &Verifier, fallback: &[&[u8]]) -> std::result::Result<Opened, String> {
        let own: Vec<&[u8]> = self.certs.iter().map(|c| c.as_bytes()).collect();
        let certs = if own.is_empty() { fallback } else { &own[..] };
        let keys: Vec<Verifier> = verify_chain(key, certs)
            .map_err(|e| format!("its epoch chain: {e}"))?
            .into_iter()
            .map(|e| e.verifier)
            .collect();
        let claimed = self
            .note
            .split_once("\n\n")
            .and_then(|(text, _)| text.lines().find_map(|l| l.strip_prefix("epoch ")))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or("it names no epoch")?;
        let whose = if own.is_empty() { "store's" } else { "file's" };
        let (checkpoint, time) = open_seal_note(
            &self.note,
            claimed,
            usize::try_from(claimed).ok().and_then(|i| keys.get(i)),
            &format!("the {whose} certificates do not certify"),
        )?;
        Ok(Opened {
            checkpoint,
            epoch: claimed,
            time,
            keys,
        })
    }
}

/// Opens a seal's checkpoint note that names epoch `claimed` with that
/// epoch's key (`None`, or epoch 0, which never signs a seal: refused as
/// signed by a key that `uncertified` says is not certified, e.g. "no
/// certificate given certifies"): the checkpoint and the seal's time. Its
/// extension lines must be a seal's (`epoch` `claimed`, end, time).
pub(super) fn open_seal_note(
    note: &str,
    claimed: u64,
    signer: Option<&Verifier>,
    uncertified: &str,
) -> std::result::Result<(Checkpoint, u64), String> {
    let signer = signer
        .filter(|_| claimed > 0)
        .ok_or_else(|| format!("it is signed by epoch {claimed}'s key, which {uncertified}"))?;
    let opened = open(note.as_bytes(), std::slice::from_ref(signer))
        .map_err(|e| format!("its signature: {e}"))?;
    let checkpoint = Checkpoint::parse(&opened.text).map_err(|e| e.to_string())?;
    let time = checkpoint
        .extensions
        .get(2)
        .and_then(|t| t.strip_prefix("time "))
        .and_then(|t| t.parse().ok());
    let named = checkpoint.extensions.first() == Some(&format!("epoch {claimed}"));
    match time {
        Some(time) if named => Ok((checkpoint, time)),
        _ => Err("its extension lines are not a seal's (epoch, end, time)".to_owned()),
    }
}

/// The latest seal as a checkpoint file: its note and the certificates of
/// epochs 1 up to the seal's, as the seal log holds them. Nothing is
/// verified here: whoever keeps the file checks it against the key.
///
/// # Errors
///
/// The store has no seal log or no seal yet, or it cannot be read.
pub fn latest_checkpoint(fs: &dyn Fs, layout: &Layout) -> Result<CheckpointFile> {
    under_shared_lock(fs, layout, || {
        let log = read_sealed_log(fs, layout)?;
        latest_in(&log).ok_or_else(|| {
            seal_err(
                &layout.seal_log(),
                "holds no seal yet: run `scout-audit seal`",
            )
        })
    })
}

/// The last seal of `log` as a checkpoint file.
pub(super) fn latest_in(log: &Log) -> Option<CheckpointFile> {
    let (at, seal) = log
        .entries
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, e)| match e {
            Entry::Seal(s) => Some((i, s)),
            _ => None,
        })?;
    let certs = log.entries[..at]
        .iter()
        .filter_map(|e| match e {
            Entry::Cert { note, .. } => Some(note.clone()),
            _ => None,
        })
        .collect();
    Some(CheckpointFile {
        note: seal.note.clone(),
        certs,
    })
}

/// A checkpoint the store extends: its size, epoch and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchored {
    /// The checkpoint's tree size.
    pub size: u64,
    /// The epoch whose key signed it.
    pub epoch: u64,
    /// Its seal time (unix seconds).
    pub time: u64,
}

/// Proves the store an append-only extension of each checkpoint: its
/// signature verifies against `key` through the epoch chain, the store
/// holds at least its size of lines, the root of the store's first
/// `size` lines is its root, and the seal log reaches its size. One
/// answer per checkpoint, in order: what it anchors, or the tampering.
/// Holds the store's lock shared while it reads.
///
/// # Errors
///
/// IO failures, or a store that is not sealed.
pub fn verify_checkpoints(
    fs: &dyn Fs,
    layout: &Layout,
    key: &Verifier,
    files: &[CheckpointFile],
) -> Result<Vec<std::result::Result<Anchored, Tampering>>> {
    under_shared_lock(fs, layout, || {
        let log = read_sealed_log(fs, layout)?;
        let certs = cert_notes(&log);
        let store_keys = verify_chain(key, &certs).ok();
        let opened: Vec<_> = files
            .iter()
            .map(|f| open_for(&log, key, &certs, store_keys.as_deref(), f))
            .collect();
        let sizes = opened
            .iter()
            .filter_map(|o| o.as_ref().ok().map(|o| o.checkpoint.size));
        let proven = check_log(&log, key).ok();
        // After retention, the walk starts from the last retire's tree
        // (decision 117), as verify's does.
        let retire = proven
            .as_ref()
            .and_then(|(seals, keys)| check_retires(&log, keys, seals).ok().flatten());
        let (total, mut roots) = match roots_at(fs, layout, sizes.collect(), retire.as_ref())? {
            Ok(v) => v,
            Err(t) => return Ok(files.iter().map(|_| Err(t.clone())).collect()),
        };
        if let (Some(r), Some((seals, _))) = (&retire, &proven) {
            // The retired lines are gone: a checkpoint within them is
            // extended when a proven seal of its size has its root.
            let within = seals.iter().filter(|s| s.size <= r.tree.size());
            for (size, root) in within.map(|s| (s.size, s.root)) {
                roots.entry(size).or_insert(root);
            }
            roots.entry(r.tree.size()).or_insert(r.tree.root());
        }
        let sealed = proven.map(|(seals, _)| seals.last().map_or(0, |s| s.size));
        Ok(opened
            .into_iter()
            .map(|o| extends(o?, total, &roots, sealed))
            .collect())
    })
}

/// Opens one checkpoint for this store: signature, origin, and a key
/// chain that agrees with the store's where both have an epoch.
fn open_for(
    log: &Log,
    key: &Verifier,
    certs: &[&[u8]],
    store_keys: Option<&[scout_audit_seal::note::Epoch]>,
    file: &CheckpointFile,
) -> std::result::Result<Opened, Tampering> {
    let opened = file.open(key, certs).map_err(|e| {
        tamper(format!(
            "the checkpoint does not verify against the key: {e}"
        ))
    })?;
    let origin = format!("scout-audit/{}", log.store);
    if opened.checkpoint.origin != origin {
        return Err(tamper(format!(
            "the checkpoint is of {}, not of this store ({origin})",
            opened.checkpoint.origin
        )));
    }
    let forked = store_keys
        .into_iter()
        .flatten()
        .zip(&opened.keys)
        .find(|(s, k)| s.verifier.to_text() != k.to_text());
    if let Some((s, _)) = forked {
        return Err(tamper(format!(
            "the checkpoint's key of epoch {} is not the seal log's: a forked key chain",
            s.number
        )));
    }
    Ok(opened)
}

/// The store's complete lines counted, and the roots of its first lines
/// at the sizes asked.
type Counted = (u64, BTreeMap<u64, Hash>);

/// The number of complete lines, and the root of the first `size` for
/// each size asked (`None` for sizes past the end, or within the lines
/// `retire` removed: the walk starts from its tree); a segment that
/// cannot be read as lines is the tampering.
fn roots_at(
    fs: &dyn Fs,
    layout: &Layout,
    sizes: Vec<u64>,
    retire: Option<&ProvenRetire>,
) -> Result<std::result::Result<Counted, Tampering>> {
    let mut roots = BTreeMap::new();
    let Some(&last) = sizes.iter().max() else {
        return Ok(Ok((0, roots)));
    };
    let wanted: std::collections::BTreeSet<u64> = sizes.into_iter().collect();
    let (mut tree, start) = start(retire);
    let mut total = tree.size();
    let walked = each_leaf(fs, layout, start, &mut |line, _| {
        total = total.saturating_add(1);
        if tree.size() < last {
            tree.push(leaf_hash(line))
                .map_err(|e| seal_err(layout.dir(), e.to_string()))?;
            if wanted.contains(&tree.size()) {
                roots.insert(tree.size(), tree.root());
            }
        }
        Ok(())
    });
    match walked {
        Ok(()) => Ok(Ok((total, roots))),
        Err(e) => match unreadable(&e) {
            Some(t) => Ok(Err(t)),
            None => Err(e),
        },
    }
}

/// Whether the store (`total` lines, these roots, the seal log's last
/// seal at `sealed`) extends one opened checkpoint.
fn extends(
    o: Opened,
    total: u64,
    roots: &BTreeMap<u64, Hash>,
    sealed: Option<u64>,
) -> std::result::Result<Anchored, Tampering> {
    let size = o.checkpoint.size;
    if total < size {
        return Err(tamper(format!(
            "the store is shorter than the checkpoint of size {size}: rolled back or cut \
             (it holds {total} lines)"
        )));
    }
    let root = if size == 0 {
        Some(empty_root())
    } else {
        roots.get(&size).copied()
    };
    if root != Some(o.checkpoint.root) {
        return Err(tamper(format!(
            "the store's first {size} leaves do not match the checkpoint: a forked history"
        )));
    }
    if let Some(sealed) = sealed
        && sealed < size
    {
        return Err(tamper(format!(
            "the seal log's last seal is of size {sealed}, before the checkpoint of size \
             {size}: seals were cut or rolled back"
        )));
    }
    Ok(Anchored {
        size,
        epoch: o.epoch,
        time: o.time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_files_split_into_notes_and_refuse_other_shapes() {
        let f = CheckpointFile::parse("a\n\n— k x\n\nb\n\n— k y\n").unwrap();
        assert_eq!(f.note, "a\n\n— k x\n");
        assert_eq!(f.certs, ["b\n\n— k y\n"]);
        assert_eq!(f.to_text(), "a\n\n— k x\n\nb\n\n— k y\n");
        let cases = [
            ("a\n\n— k x", "does not end in a newline"),
            ("a\n", "is not signed notes separated by blank lines"),
            (
                "a\n\n— k x\n\nb\n",
                "is not signed notes separated by blank lines",
            ),
            ("\n\n\n", "is not signed notes separated by blank lines"),
        ];
        for (text, want) in cases {
            assert_eq!(
                CheckpointFile::parse(text).err().as_deref(),
                Some(want),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_note_that_names_no_epoch_or_an_uncertified_one_is_refused() {
        let (chain, key) = scout_audit_seal::note::EpochChain::init("scout-audit/x").unwrap();
        let signed = |text: &str| scout_audit_seal::note::sign(text, &[chain.signer()]).unwrap();
        let root = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let file = |note: String| CheckpointFile {
            note,
            certs: Vec::new(),
        };
        let no_epoch = file(signed(&format!("scout-audit/x\n1\n{root}\n")));
        assert_eq!(
            no_epoch.open(&key, &[]).err().as_deref(),
            Some("it names no epoch")
        );
        // Epoch 0's key never signs a seal (decision 70).
        let epoch0 = file(signed(&format!("scout-audit/x\n1\n{root}\nepoch 0\n")));
        assert_eq!(
            epoch0.open(&key, &[]).err().as_deref(),
            Some("it is signed by epoch 0's key, which the store's certificates do not certify")
        );
    }
}
