//! Indexes vouched for by seals (issue 10, item 4; decision 88).
//!
//! An archive's index (`<archive>.idx`) can be forged consistently: its
//! totals edited and its own digest recomputed. On a sealed store an index
//! is only used when a `vouch` line of the seal log, signed by an epoch's
//! key, names its digest ([`crate::index::vouch_digest_of`]).
//!
//! - The sealer ([`pending`], [`append_vouches`]) vouches, after each
//!   walk over the store, for the valid index of every numbered archive
//!   whose lines are all sealed (its number is at most the last seal's
//!   end segment) and that no vouch names yet. A vouch line is
//!   `{"v":1,"kind":"vouch","epoch":N,"note":…}`; the note's text is
//!   `scout-audit/<store>`, `vouch <size>` (the size of the seal it
//!   follows), then `index <archive name> <64 hex>` per index.
//! - Readers ([`Vouches::load`]) look up the vouch of each archive they
//!   have an index of without reading the whole seal log (`seek.rs`,
//!   decision 114): bisection to where the seals pass its number, then
//!   forwards to the first vouch naming it, signed by its epoch's key as
//!   the log's `cert` line for that epoch gives it. `verify --key` checks
//!   the chain of those keys back to the verification key.
//! - `verify --key` ([`check`]) checks every vouch (order, signature, the
//!   seal it follows, that its archives were sealed, no archive twice) and
//!   every index present against its vouched digest.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufReader};
use std::path::Path;

use scout_audit_seal::note::{Verifier, open, sign};
use serde::Deserialize;

use super::leaves::End;
use super::log::{Entry, Log, MAX_LOG_LINE, append_log, next_line};
use super::state::State;
use super::{SealReport, Tampering, seal_err};
use crate::fs::{Fs, regular_or_absent};
use crate::index::{
    IndexCheck, SegmentIndex, hex, inspect_index_for_vouch, read_index_bytes, unhex32,
    vouch_digest_of,
};
use crate::layout::Layout;
use crate::{Error, Result};

mod seek;

/// A `vouch` line of the seal log.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct VouchEntry {
    /// The epoch whose key signed it.
    pub(super) epoch: u64,
    /// The signed note.
    pub(super) note: String,
}

/// The most index lines one vouch note holds: a line is at most about
/// 300 bytes, a note at most 64 KiB.
const PER_NOTE: usize = 128;

/// What a seal-log line of a seal starts with (`serde_json` keeps the
/// order the sealer wrote): readers skip those without parsing them.
const SEAL_PREFIX: &[u8] = br#"{"v":1,"kind":"seal""#;

/// A verified seal as vouches are checked against it: its size and the
/// segment its sealed prefix ends in.
#[derive(Clone, Copy, Debug)]
pub(super) struct SealAt {
    pub(super) size: u64,
    pub(super) end_segment: u64,
}

/// An archive's name and the digest of its index.
type Item = (String, [u8; 32]);

/// A vouch note's text, as parsed.
struct Vouch {
    origin: String,
    size: u64,
    items: Vec<Item>,
}

fn note_text(store: &str, size: u64, items: &[Item]) -> String {
    let mut t = format!("scout-audit/{store}\nvouch {size}\n");
    for (name, digest) in items {
        t.push_str(&format!("index {name} {}\n", hex(digest)));
    }
    t
}

fn parse_text(text: &str) -> std::result::Result<Vouch, String> {
    let mut lines = text.lines();
    let origin = lines.next().unwrap_or("").to_owned();
    let size = lines
        .next()
        .and_then(|l| l.strip_prefix("vouch "))
        .and_then(|n| n.parse().ok())
        .ok_or("a vouch note has no size line")?;
    let items = lines
        .map(|l| {
            l.strip_prefix("index ")
                .and_then(|rest| rest.rsplit_once(' '))
                .and_then(|(name, d)| Some((name.to_owned(), unhex32(d)?)))
                .ok_or_else(|| format!("a vouch note's line {l:?} is not an index line"))
        })
        .collect::<std::result::Result<_, String>>()?;
    Ok(Vouch {
        origin,
        size,
        items,
    })
}

/// Opens a vouch: its epoch is the certificates before it (`certified`),
/// its signature that epoch's key's, its origin this store's.
fn open_vouch(
    store: &str,
    keys: &[Verifier],
    certified: u64,
    v: &VouchEntry,
) -> std::result::Result<Vouch, String> {
    if v.epoch != certified {
        return Err(format!(
            "a vouch of epoch {} is out of order in the seal log",
            v.epoch
        ));
    }
    let key = usize::try_from(v.epoch)
        .ok()
        .and_then(|i| keys.get(i))
        .ok_or_else(|| format!("a vouch of epoch {} has no certified key", v.epoch))?;
    open_with(store, key, v)
}

/// Opens a vouch with its epoch's key: its signature that key's, its
/// origin this store's.
fn open_with(store: &str, key: &Verifier, v: &VouchEntry) -> std::result::Result<Vouch, String> {
    let opened = open(v.note.as_bytes(), std::slice::from_ref(key))
        .map_err(|e| format!("a vouch of epoch {} does not verify: {e}", v.epoch))?;
    let vouch = parse_text(&opened.text)?;
    if vouch.origin != format!("scout-audit/{store}") {
        return Err(format!("a vouch of epoch {} is of another store", v.epoch));
    }
    Ok(vouch)
}

/// The archive names a vouch line names (read without checking its
/// signature: what the sealer must not vouch for again).
pub(super) fn names_of(v: &VouchEntry) -> Vec<String> {
    v.note
        .split_once("\n\n")
        .and_then(|(text, _)| parse_text(&format!("{text}\n")).ok())
        .map(|v| v.items.into_iter().map(|(name, _)| name).collect())
        .unwrap_or_default()
}

/// Every archive name the seal log's vouch lines name, read once when a
/// sealer starts (seal lines skipped unparsed); later vouches reach the
/// sealer through its tail. An unreadable log is an error: vouching again
/// for what was vouched would be a second vouch.
pub(super) fn vouched_names(fs: &dyn Fs, layout: &Layout) -> Result<HashSet<String>> {
    let kept = read_kept(fs, layout).ok_or_else(|| {
        seal_err(
            &layout.seal_log(),
            "cannot be read for the indexes it vouches for",
        )
    })?;
    Ok(kept.iter().flat_map(names_of).collect())
}

/// The indexes to vouch for once the store is sealed up to `end` (a seal
/// of `size` leaves): the valid index of every numbered archive at or
/// before `end`'s segment that no vouch names yet. An archive name a note
/// cannot hold (a control character) is left unvouched.
pub(super) fn pending(
    fs: &dyn Fs,
    layout: &Layout,
    vouched: &HashSet<String>,
    end: End,
    size: u64,
) -> Result<Vec<Item>> {
    if size == 0 {
        return Ok(Vec::new());
    }
    let listing = layout
        .list(fs)
        .map_err(|e| Error::io("list", layout.dir(), e))?;
    let mut out = Vec::new();
    for seg in listing.archives() {
        let sealed = seg.number.is_some_and(|n| n <= end.segment);
        if !sealed
            || !listing.has_index(seg)
            || vouched.contains(&seg.name)
            || seg.name.chars().any(char::is_control)
        {
            continue;
        }
        let ins = inspect_index_for_vouch(fs, &seg.path, &layout.index_path(seg));
        if let (IndexCheck::Valid(_), Some(digest)) = (ins.check, ins.vouch_digest) {
            out.push((seg.name.clone(), digest));
        }
    }
    Ok(out)
}

/// Appends `vouch` lines for `items`, signed with the state's current
/// epoch key, each following the seal of `size` leaves.
pub(super) fn append_vouches(
    fs: &dyn Fs,
    layout: &Layout,
    state: &State,
    size: u64,
    items: &[Item],
) -> Result<()> {
    for chunk in items.chunks(PER_NOTE) {
        let text = note_text(&state.store, size, chunk);
        let note = sign(&text, &[state.chain.signer()])
            .map_err(|e| seal_err(&layout.seal_key(), e.to_string()))?;
        let line = serde_json::json!({
            "v": 1, "kind": "vouch", "epoch": state.chain.epoch(), "note": note,
        });
        append_log(fs, &layout.seal_log(), &line.to_string())?;
    }
    Ok(())
}

/// The index digests a store's seal log vouches for, as queries trust
/// them: for each archive with an index in the store's listing, the first
/// vouch naming it after the seals passed its number, signed by its
/// epoch's key as the log certifies it and placed in that epoch
/// (decision 114; the chain back to the verification key is what
/// `verify --key` checks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vouches {
    /// Archive name → the digest of its index that a seal vouched for,
    /// for the archives with an index when the vouches were loaded.
    digests: HashMap<String, [u8; 32]>,
}

impl Vouches {
    /// The vouches of the store at `layout`; `None` when the store is not
    /// sealed (neither its seal log nor its sealing state exists), so its
    /// indexes are used as they always were. A sealed store whose log
    /// cannot be read, does not start with an `init` line, ends in a line
    /// that is not an entry, or has such a line where the search reads,
    /// vouches for nothing (its archives are read); a vouch that does not
    /// verify vouches for nothing. Never an error, never a panic. It reads
    /// a bounded part of the log: about the archives' number times the
    /// logarithm of its length.
    pub fn load(fs: &dyn Fs, layout: &Layout) -> Option<Vouches> {
        let absent =
            |p: &Path| matches!(fs.lstat(p), Err(e) if e.kind() == io::ErrorKind::NotFound);
        if absent(&layout.seal_log()) && absent(&layout.seal_key()) {
            return None;
        }
        Some(read_vouches(fs, layout).unwrap_or_default())
    }

    /// Whether a seal vouched for exactly this index of its archive.
    pub fn vouches_for(&self, index: &SegmentIndex) -> bool {
        self.vouches(&index.archive, Some(&index.vouch_digest()))
    }

    /// Whether a seal vouched for the index of `archive` (an archive's
    /// file name) whose digest is `digest` (`crate::index::vouch_digest_of`
    /// the index's bytes; `None`: not an index, never vouched for).
    pub fn vouches(&self, archive: &str, digest: Option<&[u8; 32]>) -> bool {
        digest.is_some_and(|d| self.digests.get(archive) == Some(d))
    }

    /// How many archives' indexes (of those present at loading) are
    /// vouched for.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether no index is vouched for.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

/// Reads the seal log's vouch lines (never through a link; a torn last
/// line ignored); `None` when it cannot be read, does not start with an
/// `init` line or a line is not an entry.
fn read_kept(fs: &dyn Fs, layout: &Layout) -> Option<Vec<VouchEntry>> {
    let path = layout.seal_log();
    if !regular_or_absent(fs, &path).ok()? {
        return None;
    }
    let f = fs.open_read(&path).ok()?;
    let mut r = BufReader::with_capacity(256 << 10, f);
    let (mut kept, mut buf, mut first) = (Vec::new(), Vec::new(), true);
    while next_line(&mut r, &mut buf, MAX_LOG_LINE, &path).ok()? {
        let Some(line) = buf.strip_suffix(b"\n") else {
            break;
        };
        let is_first = std::mem::take(&mut first);
        if line.starts_with(SEAL_PREFIX) && !is_first {
            continue;
        }
        match serde_json::from_slice(line).ok()? {
            Entry::Init { .. } if is_first => {}
            _ if is_first => return None,
            Entry::Init { .. } => return None,
            Entry::Vouch(v) => kept.push(v),
            _ => {}
        }
    }
    Some(kept)
}

/// The vouches readers use: those of the archives with an index in the
/// store's listing, found by [`seek::Seeker`] without reading the whole
/// log; `None` when the log cannot be used.
fn read_vouches(fs: &dyn Fs, layout: &Layout) -> Option<Vouches> {
    let listing = layout.list(fs).ok()?;
    let wanted: Vec<seek::Wanted> = listing
        .archives()
        .filter(|seg| listing.has_index(seg))
        .filter_map(|seg| Some((seg.name.clone(), seg.number?)))
        .collect();
    let mut seeker = seek::Seeker::open(fs, layout)?;
    Some(Vouches {
        digests: seeker.find(&wanted)?,
    })
}

/// `verify --key`'s part: every vouch of the log (in order, signed by its
/// epoch's key, following a seal of its size that sealed its archives,
/// no archive vouched for twice), then every index present against its
/// vouched digest. An index no vouch names is counted, not tampering (it
/// is used by no query); one that differs from its vouched digest is
/// tampering naming the index file.
pub(super) fn check(
    fs: &dyn Fs,
    layout: &Layout,
    log: &Log,
    keys: &[Verifier],
    seals: &[SealAt],
    report: &mut SealReport,
) -> Result<Option<Tampering>> {
    let vouched = match check_entries(layout, log, keys, seals) {
        Ok(v) => v,
        Err(what) => {
            return Ok(Some(Tampering {
                what,
                segment: None,
                line: None,
                span: None,
            }));
        }
    };
    let listing = layout
        .list(fs)
        .map_err(|e| Error::io("list", layout.dir(), e))?;
    for seg in listing.archives() {
        if !listing.has_index(seg) {
            continue;
        }
        let Some(want) = vouched.get(&seg.name) else {
            report.indexes_unvouched += 1;
            continue;
        };
        let path = layout.index_path(seg);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        let why = match read_index_bytes(fs, &path) {
            Ok(bytes) => match vouch_digest_of(&bytes) {
                Some(d) if d == *want => {
                    report.indexes_vouched += 1;
                    continue;
                }
                Some(_) => "differs from the index the seals vouched for: edited".to_owned(),
                None => {
                    let e = SegmentIndex::decode(&bytes).err();
                    let e = e.unwrap_or_else(|| "not an index".to_owned());
                    format!("is not the index the seals vouched for: {e}")
                }
            },
            Err(e) => format!("is not the index the seals vouched for: {e}"),
        };
        return Ok(Some(Tampering {
            what: format!("the index {name} {why}"),
            segment: Some(name),
            line: None,
            span: None,
        }));
    }
    Ok(None)
}

/// Checks every vouch line; the digests vouched for, by archive name.
fn check_entries(
    layout: &Layout,
    log: &Log,
    keys: &[Verifier],
    seals: &[SealAt],
) -> std::result::Result<HashMap<String, [u8; 32]>, String> {
    let (mut vouched, mut certified, mut sealed) = (HashMap::new(), 0u64, 0usize);
    for entry in log.entries.iter().skip(1) {
        let v = match entry {
            Entry::Cert { .. } => {
                certified = certified.saturating_add(1);
                continue;
            }
            Entry::Seal(_) => {
                sealed = sealed.saturating_add(1);
                continue;
            }
            Entry::Vouch(v) => v,
            _ => continue,
        };
        let vouch = open_vouch(&log.store, keys, certified, v)?;
        let last = sealed
            .checked_sub(1)
            .and_then(|i| seals.get(i))
            .filter(|s| s.size == vouch.size)
            .ok_or_else(|| {
                format!(
                    "a vouch of size {} does not follow a seal of that size",
                    vouch.size
                )
            })?;
        for (name, digest) in vouch.items {
            let number = layout.parse_segment(&name).and_then(|s| s.number);
            if number.is_none_or(|n| n > last.end_segment) {
                return Err(format!(
                    "a vouch names the index of {name}, whose lines were not sealed"
                ));
            }
            if vouched.insert(name.clone(), digest).is_some() {
                return Err(format!("the index of {name} is vouched for twice"));
            }
        }
    }
    Ok(vouched)
}
