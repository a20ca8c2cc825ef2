//! Finding the vouches a reader needs without reading the whole seal log
//! (decision 114).
//!
//! The seal log grows by a seal line a second while writers run (about
//! 80 MB a day), so reading it whole once a query cost a query more the
//! older its store. A [`Seeker`] reads only:
//!
//! - the first line (the `init` line: the store id and epoch 0's key) and
//!   the last complete line (an entry, so a log ending in garbage vouches
//!   for nothing, as before);
//! - for each archive the reader has an index of, numbered `N`: the place
//!   where the seals' end segment passes `N` (found by bisection on the
//!   byte offset: seals' end segments never decrease), then the lines
//!   after it until the first vouch naming the archive, at most
//!   [`SCAN_BUDGET`] bytes. The sealer vouches for archive `N` after the
//!   last seal whose end is in segment `N` at the earliest (decision 88),
//!   and in practice within seconds of it (the next seal after its index
//!   is written);
//! - for each epoch a vouch found was signed in: that epoch's `cert` line
//!   (bisection on the epoch: every line after `init` carries one, and
//!   they never decrease), whose key checks the vouch's signature, and
//!   where the next epoch starts (the vouch must lie between).
//!
//! What is read is bounded by the number of archives and the logarithm of
//! the log's length. Every line read must be an entry, or nothing is
//! vouched for. What is trusted is what the log says, as before: a vouch
//! line of the log, signed by its epoch's key as the log certifies it;
//! `verify --key` checks the whole log against the verification key.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use scout_audit_seal::note::Verifier;
use serde::Deserialize;

use super::super::log::{Entry, MAX_LOG_LINE, next_line};
use super::{SEAL_PREFIX, VouchEntry, names_of, open_with};
use crate::fs::{Fs, ReadFile, regular_or_absent};
use crate::layout::Layout;

/// The most bytes of lines read after where an archive's vouch can start
/// before giving up on it (its archive is then read): about 18 minutes of
/// once-a-second seals.
pub(super) const SCAN_BUDGET: u64 = 1 << 20;

/// Bisection stops when the range is this short, and reads it forwards.
const WINDOW: u64 = 16 << 10;

/// The most bytes a probe reads looking for a line that says what it
/// looks for (a seal, for the end segment).
const PROBE_BUDGET: u64 = 256 << 10;

/// What a line says for a search: its kind, epoch and (a seal's) end
/// segment. Every line after `init` carries an epoch.
#[derive(Deserialize)]
struct Head {
    kind: String,
    #[serde(default)]
    epoch: u64,
    #[serde(default)]
    segment: u64,
}

/// An epoch's key as the log certifies it, and the bytes it covers: from
/// its `cert` line (0 for epoch 0) to where the next epoch starts.
#[derive(Clone)]
struct EpochSpan {
    key: Verifier,
    from: u64,
    to: u64,
}

/// The seal log opened for bounded reads.
pub(super) struct Seeker {
    f: Box<dyn ReadFile>,
    path: PathBuf,
    /// The store id of the `init` line.
    store: String,
    /// Epoch 0's key (the `init` line's).
    key: Verifier,
    /// Where the `init` line ends: the first line a search reads.
    start: u64,
    /// Bytes of complete lines (a torn last line after them is ignored).
    len: u64,
    /// The epochs looked up so far (`None`: not certified in the log).
    epochs: HashMap<u64, Option<EpochSpan>>,
    buf: Vec<u8>,
}

/// Whether a complete line (without its `\n`) is an entry of the log.
fn is_entry(line: &[u8]) -> bool {
    line.starts_with(SEAL_PREFIX) || serde_json::from_slice::<Entry>(line).is_ok()
}

impl Seeker {
    /// Opens the seal log at `layout` (never through a link): its first
    /// line an `init` line, its last complete line an entry; `None`
    /// otherwise.
    pub(super) fn open(fs: &dyn Fs, layout: &Layout) -> Option<Seeker> {
        let path = layout.seal_log();
        if !regular_or_absent(fs, &path).ok()? {
            return None;
        }
        let mut f = fs.open_read(&path).ok()?;
        let flen = f.meta().ok()?.len;
        let mut first = Vec::new();
        BufReader::new((&mut *f).take(MAX_LOG_LINE))
            .read_until(b'\n', &mut first)
            .ok()?;
        let Ok(Entry::Init { store, key }) = serde_json::from_slice(first.strip_suffix(b"\n")?)
        else {
            return None;
        };
        let key = Verifier::parse(&key).ok()?;
        let start = first.len() as u64;
        let len = last_line_end(&mut *f, flen, start)?;
        Some(Seeker {
            f,
            path,
            store,
            key,
            start,
            len,
            epochs: HashMap::new(),
            buf: Vec::new(),
        })
    }

    /// Calls `each(offset, line)` (the line without its `\n`) for the
    /// complete lines from the first that starts at or after `pos` (the
    /// line after `init` at the earliest), until `each` says stop (`Some`),
    /// `budget` bytes were read or the complete lines end. `None`: the
    /// log cannot be read or a line is over the bound.
    fn lines_from<T>(
        &mut self,
        pos: u64,
        budget: u64,
        mut each: impl FnMut(u64, &[u8]) -> Option<T>,
    ) -> Option<Option<T>> {
        let from = pos.max(self.start).min(self.len);
        // Read from the byte before `from`: a `\n` there means a line
        // starts at `from`.
        let back = from.saturating_sub(1).max(self.start);
        self.f.seek_to(back).ok()?;
        let limit = self.len.saturating_sub(back);
        let mut r = BufReader::with_capacity(16 << 10, (&mut *self.f).take(limit));
        let mut at = back;
        if back < from {
            self.buf.clear();
            let n = (&mut r)
                .take(MAX_LOG_LINE)
                .read_until(b'\n', &mut self.buf)
                .ok()?;
            if self.buf.last() != Some(&b'\n') {
                return (n == 0).then_some(None);
            }
            at = at.saturating_add(n as u64);
        }
        let end = at.saturating_add(budget);
        while at < end && next_line(&mut r, &mut self.buf, MAX_LOG_LINE, &self.path).ok()? {
            let line = self.buf.strip_suffix(b"\n")?;
            if let Some(out) = each(at, line) {
                return Some(Some(out));
            }
            at = at.saturating_add(self.buf.len() as u64);
        }
        Some(None)
    }

    /// The value `pick` takes from the first line at or after `pos` that
    /// it takes one from, with the line's offset; `Some(None)` when no
    /// line within [`PROBE_BUDGET`] has one. `None`: a line is not an
    /// entry, or the log cannot be read.
    fn probe(
        &mut self,
        pos: u64,
        pick: &dyn Fn(&Head) -> Option<u64>,
    ) -> Option<Option<(u64, u64)>> {
        let mut bad = false;
        let found =
            self.lines_from(pos, PROBE_BUDGET, |at, line| {
                match serde_json::from_slice::<Head>(line) {
                    Ok(h) => pick(&h).map(|v| (at, v)),
                    Err(_) => {
                        bad = true;
                        Some((at, 0))
                    }
                }
            })?;
        (!bad).then_some(found)
    }

    /// An offset at or before the first line whose `pick` value is at
    /// least `target` (lines `pick` takes no value from aside), at most
    /// [`WINDOW`] bytes before it when the values never decrease.
    fn lower_bound(&mut self, pick: &dyn Fn(&Head) -> Option<u64>, target: u64) -> Option<u64> {
        let (mut lo, mut hi) = (self.start, self.len);
        while hi - lo > WINDOW {
            let mid = lo + (hi - lo) / 2;
            match self.probe(mid, pick)? {
                Some((_, v)) if v < target => lo = mid,
                _ => hi = mid,
            }
        }
        Some(lo)
    }

    /// Where the first line of epoch `epoch` or later starts, and that
    /// line's epoch (`None` past the last line).
    fn epoch_start(&mut self, epoch: u64) -> Option<Option<(u64, u64)>> {
        let pick = |h: &Head| Some(h.epoch);
        let lo = self.lower_bound(&pick, epoch)?;
        let pick_from = move |h: &Head| (h.epoch >= epoch).then_some(h.epoch);
        self.probe(lo, &pick_from)
    }

    /// Epoch `epoch`'s key as its `cert` line gives it (the `init` key for
    /// epoch 0), and the bytes the epoch covers; `None` when the log does
    /// not certify it where it should be.
    fn epoch(&mut self, epoch: u64) -> Option<EpochSpan> {
        if let Some(known) = self.epochs.get(&epoch) {
            return known.clone();
        }
        let span = self.find_epoch(epoch);
        self.epochs.insert(epoch, span.clone());
        span
    }

    fn find_epoch(&mut self, epoch: u64) -> Option<EpochSpan> {
        let (key, from) = if epoch == 0 {
            (self.key.clone(), 0)
        } else {
            let (at, e) = self.epoch_start(epoch)??;
            if e != epoch {
                return None;
            }
            let cert = self.lines_from(at, MAX_LOG_LINE, |_, line| {
                Some(serde_json::from_slice::<Entry>(line).ok())
            })??;
            let Some(Entry::Cert { epoch: e, note }) = cert else {
                return None;
            };
            (e == epoch).then_some(())?;
            (cert_key(&note)?, at)
        };
        let to = match self.epoch_start(epoch.checked_add(1)?)? {
            Some((at, _)) => at,
            None => self.len,
        };
        Some(EpochSpan { key, from, to })
    }

    /// The first vouch line at or after `pos` (within [`SCAN_BUDGET`])
    /// naming `name`, signed by its epoch's key and placed in its epoch;
    /// every archive of `wanted` it names is added to `found` (a vouch
    /// found first is kept). `None`: a line read is not an entry.
    fn scan_for(
        &mut self,
        pos: u64,
        name: &str,
        wanted: &HashMap<String, u64>,
        found: &mut HashMap<String, [u8; 32]>,
    ) -> Option<()> {
        let mut candidates: Vec<(u64, VouchEntry)> = Vec::new();
        let mut bad = false;
        let mut budget = SCAN_BUDGET;
        let mut from = pos;
        loop {
            // Vouches are collected a batch at a time (the scan borrows the
            // file), then checked; the first one naming `name` ends it.
            let stop = self.lines_from(from, budget, |at, line| {
                if line.starts_with(SEAL_PREFIX) {
                    return None;
                }
                match serde_json::from_slice::<Entry>(line) {
                    Ok(Entry::Vouch(v)) => {
                        let names = names_of(&v);
                        if names.iter().any(|n| wanted.contains_key(n)) {
                            let ends = names.iter().any(|n| n == name);
                            candidates.push((at, v));
                            return ends.then_some((at, line.len() as u64 + 1));
                        }
                        None
                    }
                    Ok(_) => None,
                    Err(_) => {
                        bad = true;
                        Some((at, 0))
                    }
                }
            })?;
            if bad {
                return None;
            }
            for (at, v) in std::mem::take(&mut candidates) {
                self.trust(at, &v, wanted, found);
            }
            match stop {
                Some((at, n)) if !found.contains_key(name) => {
                    // That vouch named it but did not hold: look further.
                    let next = at.saturating_add(n);
                    budget = budget.saturating_sub(next.saturating_sub(from));
                    from = next;
                    if budget == 0 {
                        return Some(());
                    }
                }
                _ => return Some(()),
            }
        }
    }

    /// Adds the wanted archives a vouch at `at` names to `found`, when it
    /// is signed by its epoch's key and lies within that epoch.
    fn trust(
        &mut self,
        at: u64,
        v: &VouchEntry,
        wanted: &HashMap<String, u64>,
        found: &mut HashMap<String, [u8; 32]>,
    ) {
        let Some(span) = self.epoch(v.epoch) else {
            return;
        };
        if at <= span.from || at >= span.to {
            return;
        }
        let Ok(vouch) = open_with(&self.store, &span.key, v) else {
            return;
        };
        for (name, digest) in vouch.items {
            if wanted.contains_key(&name) {
                found.entry(name).or_insert(digest);
            }
        }
    }

    /// The digests vouched for the archives of `wanted` (name → number),
    /// each looked for where the seals pass its number.
    pub(super) fn find(&mut self, wanted: &[Wanted]) -> Option<HashMap<String, [u8; 32]>> {
        let by_name: HashMap<String, u64> = wanted.iter().cloned().collect();
        let mut order: Vec<&Wanted> = wanted.iter().collect();
        order.sort_by_key(|(_, n)| *n);
        let mut found = HashMap::new();
        let seal_segment = |h: &Head| (h.kind == "seal").then_some(h.segment);
        for (name, number) in order {
            if found.contains_key(name) {
                continue;
            }
            // Archive N is vouched for after the last seal whose end is
            // in segment N at the earliest: start before the first seal
            // ending past it.
            let lo = self.lower_bound(&seal_segment, number.saturating_add(1))?;
            self.scan_for(lo, name, &by_name, &mut found)?;
        }
        Some(found)
    }
}

/// An archive's name and number, as a reader looks for its vouch.
pub(super) type Wanted = (String, u64);

/// The key a certificate note certifies, read from its text (line 2); the
/// note's own signature is the chain's, which `verify --key` checks.
fn cert_key(note: &str) -> Option<Verifier> {
    let (text, _) = note.split_once("\n\n")?;
    let mut lines = text.lines();
    lines.next()?.strip_prefix("scout-audit epoch ")?;
    Verifier::parse(lines.next()?).ok()
}

/// Where the log's complete lines end, its last complete line an entry
/// (the `init` line if it is the only one); `None` when a line or the
/// torn tail is over the bound, or the last line is not an entry.
fn last_line_end(f: &mut dyn ReadFile, flen: u64, start: u64) -> Option<u64> {
    let from = flen.saturating_sub(2 * MAX_LOG_LINE + 2).max(start);
    if from >= flen {
        return Some(start);
    }
    f.seek_to(from).ok()?;
    let mut window = vec![0u8; usize::try_from(flen - from).ok()?];
    f.read_exact(&mut window).ok()?;
    let Some(nl) = memchr::memrchr(b'\n', &window) else {
        // No complete line after `init`: a torn one within the bound.
        return (flen - from <= MAX_LOG_LINE).then_some(start);
    };
    let end = from + nl as u64 + 1;
    if flen - end > MAX_LOG_LINE {
        return None;
    }
    let begin = match memchr::memrchr(b'\n', &window[..nl]) {
        Some(i) => i + 1,
        None if from == start => 0,
        None => return None,
    };
    let line = &window[begin..nl];
    ((line.len() as u64) < MAX_LOG_LINE && is_entry(line)).then_some(end)
}
