//! Inclusion proofs for third parties (issue 10, item 5; decision 81):
//! [`prove`] finds one record by its key and proves its line is a leaf of
//! a signed checkpoint (the latest seal's, or one kept elsewhere);
//! [`Proof`] is the proof as text (or JSON), and [`check_proof`] checks
//! one without the store: the checkpoint against the verification key
//! through its certificates, then the RFC 9162 inclusion proof.
//!
//! The proof text is a header paragraph, a blank line, then the
//! checkpoint file (`anchor.rs`):
//!
//! ```text
//! scout-audit proof v1
//! record s:<session>:<seq, 20 digits>
//! index <leaf index, from 0>
//! size <tree size>
//! root <base64 root>
//! line <the line as stored>        (or: line-base64 <base64 of its bytes>)
//! <base64 hash>                    (the proof, the leaf's sibling first)
//!
//! <checkpoint note, then its certificates>
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scout_audit_core::record::{Decoded, decode_line, seq_key};
use scout_audit_seal::merkle::{Hash, Tree, leaf_hash, verify_inclusion};
use scout_audit_seal::note::{Checkpoint, Verifier};
use serde::Serialize;

use super::anchor::{CheckpointFile, latest_in};
use super::leaves::{End, each_leaf};
use super::log::read_sealed_log;
use super::seal_err;
use super::verify::under_shared_lock;
use crate::Result;
use crate::fs::Fs;
use crate::layout::Layout;

/// The first line of a proof.
const PROOF_HEAD: &str = "scout-audit proof v1";
/// The most hashes a proof holds (64 levels).
const MAX_HASHES: usize = 64;

/// A record named by its session and seq: decision 30's key without the
/// digest, `s:<session>:<seq>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordKey {
    /// The record's `session_id`.
    pub session: String,
    /// The record's `seq`.
    pub seq: u64,
}

impl RecordKey {
    /// Parses `s:<session>:<seq>` (the seq in decimal, zero-padded or not;
    /// the session may hold `:`, the seq is after the last one).
    ///
    /// # Errors
    ///
    /// The reason, when the text is not such a key.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{text:?} is not a record key s:<session>:<seq>");
        let (session, seq) = text
            .strip_prefix("s:")
            .and_then(|rest| rest.rsplit_once(':'))
            .ok_or_else(bad)?;
        if session.is_empty() || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let seq = seq.parse().map_err(|_| bad())?;
        Ok(Self {
            session: session.to_owned(),
            seq,
        })
    }

    /// The key as decision 30 writes it: `s:<session>:<seq, 20 digits>`.
    #[must_use]
    pub fn to_text(&self) -> String {
        seq_key(&self.session, self.seq)
    }

    /// Whether `line` is this record (a record glued after a torn
    /// fragment counts: the line is its leaf).
    fn names(&self, line: &[u8]) -> bool {
        let record = match decode_line(line) {
            Decoded::Record(r) | Decoded::Glued { record: r, .. } => r,
            _ => return false,
        };
        record.session_id() == Some(self.session.as_str()) && record.seq() == Some(self.seq)
    }
}

/// A record's inclusion proof against a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// The record's key.
    pub record: RecordKey,
    /// Its line, as stored (without the `\n`).
    pub line: Vec<u8>,
    /// Its leaf index, from 0.
    pub index: u64,
    /// The checkpoint's tree size.
    pub size: u64,
    /// The checkpoint's root.
    pub root: Hash,
    /// The inclusion proof, the leaf's sibling first (RFC 9162, Go `tlog`).
    pub hashes: Vec<Hash>,
    /// The checkpoint (signed note and certificates).
    pub checkpoint: CheckpointFile,
}

/// The JSON form of a [`Proof`] (`prove --format json`).
#[derive(Serialize)]
struct ProofJson<'a> {
    record: String,
    index: u64,
    size: u64,
    root: String,
    line: Option<&'a str>,
    line_base64: String,
    proof: Vec<String>,
    checkpoint: String,
}

/// The line as text, when it is UTF-8 without control characters.
fn printable(line: &[u8]) -> Option<&str> {
    std::str::from_utf8(line)
        .ok()
        .filter(|t| !t.chars().any(char::is_control))
}

impl Proof {
    /// The proof text (the module's format).
    #[must_use]
    pub fn to_text(&self) -> String {
        let line = match printable(&self.line) {
            Some(t) => format!("line {t}"),
            None => format!("line-base64 {}", STANDARD.encode(&self.line)),
        };
        let mut text = format!(
            "{PROOF_HEAD}\nrecord {}\nindex {}\nsize {}\nroot {}\n{line}\n",
            self.record.to_text(),
            self.index,
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

    /// The proof as one JSON object: `record`, `index`, `size`, `root`,
    /// `line` (null when not printable), `line_base64`, `proof` (the
    /// hashes) and `checkpoint` (the checkpoint file's text).
    #[must_use]
    pub fn to_json(&self) -> String {
        let json = ProofJson {
            record: self.record.to_text(),
            index: self.index,
            size: self.size,
            root: STANDARD.encode(self.root),
            line: printable(&self.line),
            line_base64: STANDARD.encode(&self.line),
            proof: self.hashes.iter().map(|h| STANDARD.encode(h)).collect(),
            checkpoint: self.checkpoint.to_text(),
        };
        serde_json::to_string(&json).unwrap_or_default()
    }

    /// Reads a proof text.
    ///
    /// # Errors
    ///
    /// The reason, when the text is not a proof.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut t = ProofText::open(text, PROOF_HEAD, "a proof")?;
        let record = RecordKey::parse(t.field("record")?)?;
        let index = t.number("index")?;
        let size = t.number("size")?;
        let root = t.hash("root")?;
        let line = t.line();
        let line = if let Some(raw) = line.strip_prefix("line ") {
            raw.as_bytes().to_vec()
        } else if let Some(b64) = line.strip_prefix("line-base64 ") {
            STANDARD
                .decode(b64)
                .map_err(|_| "its line-base64 is not base64".to_owned())?
        } else {
            return Err("has no line where it belongs".to_owned());
        };
        let (hashes, checkpoint) = t.finish(MAX_HASHES)?;
        Ok(Self {
            record,
            line,
            index,
            size,
            root,
            hashes,
            checkpoint,
        })
    }
}

/// A proof's text as its parsers read it: the head's lines, one field a
/// line in a fixed order, then the hashes, a blank line and the checkpoint
/// file (inclusion and consistency proofs alike).
pub(super) struct ProofText<'a> {
    lines: std::str::Split<'a, char>,
    rest: &'a str,
}

impl<'a> ProofText<'a> {
    /// The text split at its blank line, its first line checked to be
    /// `head`; `what` names the proof in the errors ("a proof").
    pub(super) fn open(text: &'a str, head: &str, what: &str) -> std::result::Result<Self, String> {
        let (top, rest) = text
            .split_once("\n\n")
            .ok_or("is not a proof: no blank line before its checkpoint")?;
        let mut lines = top.split('\n');
        if lines.next() != Some(head) {
            return Err(format!("is not {what}: it does not start with {head:?}"));
        }
        Ok(Self { lines, rest })
    }

    /// The next line's value, which must be `name` and a space.
    pub(super) fn field(&mut self, name: &str) -> std::result::Result<&'a str, String> {
        self.lines
            .next()
            .and_then(|l| l.strip_prefix(name))
            .and_then(|l| l.strip_prefix(' '))
            .ok_or(format!("has no {name} line where it belongs"))
    }

    /// The next line's value as a number.
    pub(super) fn number(&mut self, name: &str) -> std::result::Result<u64, String> {
        self.field(name)?
            .parse::<u64>()
            .map_err(|_| format!("{name} is not a number"))
    }

    /// The next line's value as a hash.
    pub(super) fn hash(&mut self, name: &str) -> std::result::Result<Hash, String> {
        hash(self.field(name)?)
    }

    /// The next line, whatever it holds (empty when there is none).
    pub(super) fn line(&mut self) -> &'a str {
        self.lines.next().unwrap_or_default()
    }

    /// The remaining lines as hashes (at most `max`) and the checkpoint file.
    pub(super) fn finish(
        self,
        max: usize,
    ) -> std::result::Result<(Vec<Hash>, CheckpointFile), String> {
        let hashes = self
            .lines
            .map(hash)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if hashes.len() > max {
            return Err(format!(
                "holds {} hashes, more than any tree needs",
                hashes.len()
            ));
        }
        let checkpoint =
            CheckpointFile::parse(self.rest).map_err(|e| format!("its checkpoint {e}"))?;
        Ok((hashes, checkpoint))
    }
}

/// A base64 hash of 32 bytes.
pub(super) fn hash(text: &str) -> std::result::Result<Hash, String> {
    STANDARD
        .decode(text)
        .ok()
        .and_then(|b| Hash::try_from(b).ok())
        .ok_or_else(|| format!("{text:?} is not the base64 of a 32-byte hash"))
}

/// What [`check_proof`] proved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The record.
    pub record: RecordKey,
    /// Its leaf index.
    pub index: u64,
    /// The checkpoint's size.
    pub size: u64,
    /// The checkpoint's origin (`scout-audit/<store id>`).
    pub origin: String,
    /// The epoch whose key signed the checkpoint.
    pub epoch: u64,
    /// The seal's time (unix seconds).
    pub time: u64,
}

/// Checks a proof text without the store: its checkpoint's signature
/// against `key` through the certificates it carries, its size and root
/// against the checkpoint's, its line against its record key, and the
/// inclusion proof of the line's leaf hash against the root.
///
/// # Errors
///
/// Why the proof does not hold.
pub fn check_proof(text: &str, key: &Verifier) -> std::result::Result<Checked, String> {
    let p = Proof::parse(text).map_err(|e| format!("the proof {e}"))?;
    if p.checkpoint.certs.is_empty() {
        return Err("the proof's checkpoint carries no certificates of its key".to_owned());
    }
    let opened = p
        .checkpoint
        .open(key, &[])
        .map_err(|e| format!("the proof's checkpoint does not verify against the key: {e}"))?;
    if (opened.checkpoint.size, opened.checkpoint.root) != (p.size, p.root) {
        return Err("the proof's size and root are not its checkpoint's".to_owned());
    }
    if !p.record.names(&p.line) {
        return Err(format!(
            "the proof's line is not the record {}",
            p.record.to_text()
        ));
    }
    verify_inclusion(p.index, p.size, &leaf_hash(&p.line), &p.hashes, &p.root).map_err(|e| {
        format!(
            "the proof's line is not leaf {} of the checkpoint: {e}",
            p.index
        )
    })?;
    Ok(Checked {
        record: p.record,
        index: p.index,
        size: p.size,
        origin: opened.checkpoint.origin,
        epoch: opened.epoch,
        time: opened.time,
    })
}

/// The unsigned checkpoint in a checkpoint file's note (the checker
/// verifies the signature; the prover only needs the size and root).
pub(super) fn unsigned(file: &CheckpointFile) -> std::result::Result<Checkpoint, String> {
    let text = file
        .note
        .split_once("\n\n")
        .map(|(t, _)| format!("{t}\n"))
        .ok_or("is not a signed note")?;
    Checkpoint::parse(&text).map_err(|e| e.to_string())
}

/// Proves that the record `key` is a leaf of `against` (a checkpoint kept
/// elsewhere) or, without one, of the latest seal: finds its one line
/// (reading every line), then hashes the store's first `size` lines into
/// the proof's subtree roots (O(log n) memory) and checks the proof
/// before returning it. Holds the store's lock shared while it reads.
///
/// # Errors
///
/// The store is not sealed; the record is not found, found twice, or
/// not in the checkpoint (not sealed yet); the store's lines do not
/// match the checkpoint; IO.
pub fn prove(
    fs: &dyn Fs,
    layout: &Layout,
    key: &RecordKey,
    against: Option<&CheckpointFile>,
) -> Result<Proof> {
    let log_path = layout.seal_log();
    under_shared_lock(fs, layout, || {
        let log = read_sealed_log(fs, layout)?;
        let (checkpoint, what) = match against {
            Some(c) => (c.clone(), "the checkpoint"),
            None => (
                latest_in(&log).ok_or_else(|| {
                    seal_err(&log_path, "holds no seal yet: run `scout-audit seal`")
                })?,
                "the latest seal",
            ),
        };
        let cp = unsigned(&checkpoint)
            .map_err(|e| seal_err(&log_path, format!("the checkpoint {e}")))?;
        let origin = format!("scout-audit/{}", log.store);
        if cp.origin != origin {
            return Err(seal_err(
                &log_path,
                format!(
                    "the checkpoint is of {}, not of this store ({origin})",
                    cp.origin
                ),
            ));
        }
        let (index, line) = find(fs, layout, key)?;
        if index >= cp.size {
            return Err(seal_err(
                &layout.live(),
                format!(
                    "the record {} is line {} of the store, after the {} lines {what} covers: not sealed yet (run `scout-audit seal`)",
                    key.to_text(),
                    index.saturating_add(1),
                    cp.size
                ),
            ));
        }
        let hashes = path_hashes(fs, layout, index, cp.size)?;
        if verify_inclusion(index, cp.size, &leaf_hash(&line), &hashes, &cp.root).is_err() {
            return Err(seal_err(
                &layout.live(),
                format!(
                    "the store's first {} leaves do not match {what}: a forked history",
                    cp.size
                ),
            ));
        }
        Ok(Proof {
            record: key.clone(),
            line,
            index,
            size: cp.size,
            root: cp.root,
            hashes,
            checkpoint,
        })
    })
}

/// The one line that is record `key`: its leaf index and bytes.
fn find(fs: &dyn Fs, layout: &Layout, key: &RecordKey) -> Result<(u64, Vec<u8>)> {
    let (mut index, mut found, mut places) = (0u64, None, Vec::new());
    let start = End {
        segment: 0,
        offset: 0,
    };
    each_leaf(fs, layout, start, &mut |line, place| {
        if key.names(line) {
            places.push(format!("{} line {}", place.segment, place.line));
            if found.is_none() {
                found = Some((index, line.to_vec()));
            }
        }
        index = index.saturating_add(1);
        Ok(())
    })?;
    let live = layout.live();
    match (found, places.len()) {
        (Some(f), 1) => Ok(f),
        (None, _) => Err(seal_err(
            &live,
            format!("the store holds no record {}", key.to_text()),
        )),
        (Some(_), n) => Err(seal_err(
            &live,
            format!(
                "the record key {} names {n} lines ({}): a proof names one record",
                key.to_text(),
                places.join(", ")
            ),
        )),
    }
}

/// The largest power of two smaller than `n`, for `n >= 2`.
pub(super) fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The leaf ranges `[start, end)` whose roots make the inclusion proof of
/// leaf `m` in the tree of leaves `[lo, hi)`, the leaf's sibling first
/// (RFC 9162's PATH, as ranges).
pub(super) fn path_ranges(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    if hi - lo < 2 {
        return;
    }
    let k = lo + split(hi - lo);
    if m < k {
        path_ranges(m, lo, k, out);
        out.push((k, hi));
    } else {
        path_ranges(m, k, hi, out);
        out.push((lo, k));
    }
}

/// The inclusion proof of leaf `index` in the tree of the store's first
/// `size` lines, hashed in one pass.
fn path_hashes(fs: &dyn Fs, layout: &Layout, index: u64, size: u64) -> Result<Vec<Hash>> {
    let mut ranges = Vec::new();
    path_ranges(index, 0, size, &mut ranges);
    range_roots(fs, layout, &ranges, size)
}

/// The roots of the store's leaves in each range `[start, end)` (disjoint
/// ranges, all within the first `size` lines), in the ranges' order,
/// hashed in one pass over the store (O(log n) memory a range).
///
/// # Errors
///
/// The store holds fewer than `size` lines; IO.
pub(super) fn range_roots(
    fs: &dyn Fs,
    layout: &Layout,
    ranges: &[(u64, u64)],
    size: u64,
) -> Result<Vec<Hash>> {
    // Ranges are disjoint: walk them by start, each into its own tree.
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| ranges[i].0);
    let mut trees = vec![Tree::new(); ranges.len()];
    let (mut at, mut cursor) = (0u64, 0usize);
    let start = End {
        segment: 0,
        offset: 0,
    };
    each_leaf(fs, layout, start, &mut |line, _| {
        while let Some(&i) = order.get(cursor)
            && ranges[i].1 <= at
        {
            cursor += 1;
        }
        if let Some(&i) = order.get(cursor)
            && ranges[i].0 <= at
            && at < ranges[i].1
        {
            trees[i]
                .push(leaf_hash(line))
                .map_err(|e| seal_err(layout.dir(), e.to_string()))?;
        }
        at = at.saturating_add(1);
        Ok(())
    })?;
    if at < size {
        return Err(seal_err(
            &layout.live(),
            format!("the store holds {at} lines, fewer than the checkpoint's {size}"),
        ));
    }
    Ok(trees.iter().map(Tree::root).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_audit_seal::merkle::inclusion_proof;

    #[test]
    fn path_ranges_give_the_merkle_modules_proofs() {
        for size in 1..40u64 {
            let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            for m in 0..size {
                let mut ranges = Vec::new();
                path_ranges(m, 0, size, &mut ranges);
                let got: Vec<Hash> = ranges
                    .iter()
                    .map(|&(a, b)| scout_audit_seal::merkle::root(&leaves[a as usize..b as usize]))
                    .collect();
                assert_eq!(got, inclusion_proof(m, &leaves).unwrap(), "{m} of {size}");
            }
        }
    }

    #[test]
    fn hostile_proof_texts_are_refused_with_what_is_wrong() {
        let h = STANDARD.encode([7u8; 32]);
        let head = format!("{PROOF_HEAD}\nrecord s:a:1\nindex 0\nsize 2\nroot {h}\nline {{}}\n");
        let cp = "c\n\n— k x\n";
        let ok = format!("{head}{h}\n\n{cp}");
        let p = Proof::parse(&ok).unwrap();
        assert_eq!(
            (p.index, p.size, p.hashes.len(), p.line.as_slice()),
            (0, 2, 1, &b"{}"[..])
        );
        let many = format!("{head}{}\n{cp}", format!("{h}\n").repeat(65));
        let cases = [
            (
                head.clone(),
                "is not a proof: no blank line before its checkpoint".to_owned(),
            ),
            (
                ok.replacen(PROOF_HEAD, "scout-audit proof v2", 1),
                format!("is not a proof: it does not start with {PROOF_HEAD:?}"),
            ),
            (
                ok.replacen("index 0", "index -1", 1),
                "index is not a number".to_owned(),
            ),
            (
                ok.replacen("size 2\n", "", 1),
                "has no size line where it belongs".to_owned(),
            ),
            (
                ok.replacen("line {}", "lines {}", 1),
                "has no line where it belongs".to_owned(),
            ),
            (
                ok.replacen("line {}", "line-base64 !", 1),
                "its line-base64 is not base64".to_owned(),
            ),
            (
                ok.replacen(&format!("{h}\n\n"), "AAAA\n\n", 1),
                "\"AAAA\" is not the base64 of a 32-byte hash".to_owned(),
            ),
            (many, "holds 65 hashes, more than any tree needs".to_owned()),
            (
                format!("{head}\nc\n"),
                "its checkpoint is not signed notes separated by blank lines".to_owned(),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Proof::parse(&text).err(), Some(want), "{text:?}");
        }
    }

    #[test]
    fn record_keys_parse_with_colons_in_the_session() {
        let k = RecordKey::parse("s:a:b:0007").unwrap();
        assert_eq!((k.session.as_str(), k.seq), ("a:b", 7));
        assert_eq!(k.to_text(), "s:a:b:00000000000000000007");
        for bad in [
            "a:1",
            "s::1",
            "s:a:",
            "s:a:x1",
            "s:a",
            "s:a:99999999999999999999",
        ] {
            assert!(RecordKey::parse(bad).is_err(), "{bad}");
        }
    }
}
