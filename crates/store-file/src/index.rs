//! Sidecar indexes of archives: a small summary written beside an archive
//! (`NAME.jsonl.gz.idx`) so that a reader can skip it, or answer counts,
//! sums and accuracy for it, without decompressing it. The contract is
//! docs/format.md ("Archive indexes"); the names are [`crate::layout`]'s.
//!
//! - [`Summary`]: what an archive holds, as a reader classifies its lines
//!   ([`scout_audit_core::decode_line`]): record and problem counts, first
//!   and last `ts`, and totals per (UTC hour, event type) and per model.
//!   A mergeable fold; the scanner builds the same one with its fast path.
//! - [`SegmentIndex`]: a summary tied to one archive by its name, length
//!   and the SHA-256 of its bytes ([`ArchiveStamp`]), the file sealed by a
//!   last line holding the SHA-256 of everything before it. Checking it
//!   ([`check_index`]) hashes the index, and the archive unless the
//!   archive's identity recorded at its last hashing ([`ArchiveIdentity`]:
//!   device, inode, length, mtime, ctime) still matches its `lstat` and
//!   was not racy: **a missing, unreadable, partial, edited, foreign or
//!   stale index is not used**, and the caller is told which
//!   ([`IndexCheck`]) so it can say so.
//! - [`Summary::differences`]: an index compared with the summary of its
//!   archive's records, field by field (`verify`).
//! - [`write_index`]: written whole to `.idx.tmp`, fsync'd, then renamed
//!   under the store's exclusive lock (if the archive is still the one
//!   summarised) and the directory fsync'd.
//!
//! **Invariant:** an index never changes which records a query returns,
//! only how fast: it is written from the same line classification every
//! reader uses, and ignored unless its own digest and its archive's bytes
//! match. Trusted for speed, never for truth: whoever can write the
//! directory and recompute the digests can forge a consistent index;
//! `verify` recomputes the summary and catches it (docs/format.md).

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use scout_audit_core::Timestamp;
use scout_audit_core::agg::{ExactSum, SpendGroup};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::fs::{Fs, LockFile, Meta, ReadFile, remove_stale_temp, sync_dir};
use crate::layout::{Layout, Listing, Segment, index_temp_archive};
use crate::lines::{Item, LineReader};
use crate::lock::{Attempt, LockGuard, exclusively};
use crate::reader::{gzip_reader, reopen_with};

/// The version of the index format this code writes. Version 1 stored
/// Shewchuk partials, which could not hold a sum beyond the range of `f64`
/// (and an overflowing one was stored wrong), and was trusted on a stamp
/// an in-place edit could keep; version 2 was each of those fixes alone
/// (exact sums, or digests) during their development; version 3 is
/// version 4 without the archive's recorded identity ([`ArchiveIdentity`]).
/// Versions 1 and 2 are ignored, so the archive is read, and `scout-audit
/// index` rewrites them; version 3 is read (its archive hashed on every
/// use) and `scout-audit index` refreshes it to version 4.
pub const INDEX_VERSION: u64 = 4;

/// The oldest version read: 3, the same file without an identity.
pub const OLDEST_READ_VERSION: u64 = 3;

/// How much older than the hashing an archive's recorded ctime must be for
/// the identity to be trusted (git's racy-entry rule): a change within the
/// file system's timestamp granularity of the recorded ctime (up to 2 s on
/// some file systems; a network file system's server clock) could keep it.
pub const RACY_NANOS: i64 = 2_000_000_000;

/// Index files larger than this are not read (a corrupt or hostile file).
pub const MAX_INDEX_BYTES: u64 = 64 << 20;

/// Totals of a group of records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    /// Records in the group.
    pub records: u64,
    /// Exact sum of the records' numeric `cost`s.
    pub cost: ExactSum,
    /// Records without a numeric `cost` (they count 0).
    pub costless: u64,
    /// Sum of `input_t` (saturating).
    pub input_t: u64,
    /// Sum of `output_t` (saturating).
    pub output_t: u64,
}

impl Totals {
    fn add(&mut self, cost: Option<f64>, input_t: Option<u64>, output_t: Option<u64>) {
        self.records += 1;
        match cost {
            Some(c) => self.cost.add(c),
            None => self.costless += 1,
        }
        self.input_t = self.input_t.saturating_add(input_t.unwrap_or(0));
        self.output_t = self.output_t.saturating_add(output_t.unwrap_or(0));
    }

    /// Adds another group's totals. Counts saturate: `u64::MAX` records
    /// is an absurd answer, never a plausible wrapped one.
    pub fn merge(&mut self, other: &Totals) {
        self.records = self.records.saturating_add(other.records);
        self.cost.merge(&other.cost);
        self.costless = self.costless.saturating_add(other.costless);
        self.input_t = self.input_t.saturating_add(other.input_t);
        self.output_t = self.output_t.saturating_add(other.output_t);
    }

    /// The group as `spend --by` folds it ([`scout_audit_core::agg::SpendBy`]).
    pub fn spend_group(&self) -> SpendGroup {
        SpendGroup {
            records: self.records,
            cost: self.cost.clone(),
            input_t: self.input_t,
            output_t: self.output_t,
        }
    }

    /// Adds the group's costs as `spend` totals them: every record's cost,
    /// a missing one counting `0.0` (which adds nothing to an exact sum).
    pub fn add_cost_to(&self, total: &mut ExactSum) {
        total.merge(&self.cost);
    }
}

/// Groups keyed by an optional string (`None`: the field is missing or not
/// a string), looked up without allocating.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Keyed {
    none: Option<Totals>,
    some: BTreeMap<String, Totals>,
}

impl Keyed {
    /// The group of `key`, created empty if new (allocating only then).
    fn slot(&mut self, key: Option<&str>) -> &mut Totals {
        match key {
            None => self.none.get_or_insert_with(Totals::default),
            Some(k) => {
                if !self.some.contains_key(k) {
                    self.some.insert(k.to_owned(), Totals::default());
                }
                self.some
                    .get_mut(k)
                    .unwrap_or_else(|| unreachable!("inserted above"))
            }
        }
    }

    fn merge(&mut self, other: &Keyed) {
        if let Some(t) = &other.none {
            self.none.get_or_insert_with(Totals::default).merge(t);
        }
        for (k, t) in &other.some {
            self.slot(Some(k)).merge(t);
        }
    }

    /// The groups, `None` first, then by key.
    pub fn iter(&self) -> impl Iterator<Item = (Option<&str>, &Totals)> {
        self.none
            .iter()
            .map(|t| (None, t))
            .chain(self.some.iter().map(|(k, t)| (Some(k.as_str()), t)))
    }

    /// The group of one key.
    pub fn get(&self, key: Option<&str>) -> Option<&Totals> {
        match key {
            None => self.none.as_ref(),
            Some(k) => self.some.get(k),
        }
    }

    fn len(&self) -> usize {
        self.some.len() + usize::from(self.none.is_some())
    }
}

/// The differences of two groupings, per group and field (see
/// [`Summary::differences`]).
/// A cost sum as a person reads it (its rounded value, or why it has
/// none); its exact text when it differs from `other` only beyond the
/// rounding, so that two different sums never look equal.
fn cost_text(sum: &ExactSum, other: &ExactSum) -> String {
    let shown = |s: &ExactSum| match s.value() {
        Ok(v) => v.to_string(),
        Err(e) => format!("none ({e})"),
    };
    let (mine, theirs) = (shown(sum), shown(other));
    if mine == theirs && sum.to_string() != other.to_string() {
        format!("{sum} (exact)")
    } else {
        mine
    }
}

fn keyed_differences(what: &str, index: &Keyed, actual: &Keyed, out: &mut Vec<String>) {
    let mut keys: Vec<Option<&str>> = index.iter().chain(actual.iter()).map(|(k, _)| k).collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        let name = match k {
            Some(k) => format!("{what} {k:?}"),
            None => format!("{what} none"),
        };
        match (index.get(k), actual.get(k)) {
            (Some(_), None) => out.push(format!("{name}: only in the index")),
            (None, Some(_)) => out.push(format!("{name}: only in the archive")),
            (Some(a), Some(b)) => {
                let pairs = [
                    ("records", a.records.to_string(), b.records.to_string()),
                    (
                        "cost",
                        cost_text(&a.cost, &b.cost),
                        cost_text(&b.cost, &a.cost),
                    ),
                    ("costless", a.costless.to_string(), b.costless.to_string()),
                    ("input_t", a.input_t.to_string(), b.input_t.to_string()),
                    ("output_t", a.output_t.to_string(), b.output_t.to_string()),
                ];
                for (field, x, y) in pairs {
                    if x != y {
                        out.push(format!(
                            "{name}: {field} {x} in the index, {y} in the archive"
                        ));
                    }
                }
            }
            (None, None) => {}
        }
    }
}

/// What an archive holds, as a reader classifies its lines. A mergeable
/// fold: the summary of a file is the merge of the summaries of its parts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Decompressed bytes.
    pub bytes: u64,
    /// Records (glued ones included).
    pub records: u64,
    /// Malformed lines (too long ones included).
    pub malformed: u64,
    /// Torn tails (an unterminated last line that is not a record).
    pub torn_tails: u64,
    /// Torn fragments with a record glued after them.
    pub torn_fragments: u64,
    /// The earliest parseable `ts`.
    pub first_ts: Option<Timestamp>,
    /// The latest parseable `ts`.
    pub last_ts: Option<Timestamp>,
    /// Per UTC hour of `ts` (the hour's start, seconds since the epoch;
    /// `None`: no parseable `ts`), per event type.
    pub hours: BTreeMap<Option<i64>, Keyed>,
    /// Per model, over the records that have a parseable `ts`.
    pub models: Keyed,
}

impl Summary {
    /// Counts one record by its typed fields (those of [`scout_audit_core::Record`]).
    pub fn add_record(
        &mut self,
        ts: Option<Timestamp>,
        event: Option<&str>,
        model: Option<&str>,
        cost: Option<f64>,
        input_t: Option<u64>,
        output_t: Option<u64>,
    ) {
        self.records += 1;
        if let Some(t) = ts {
            self.first_ts = Some(self.first_ts.map_or(t, |f| f.min(t)));
            self.last_ts = Some(self.last_ts.map_or(t, |l| l.max(t)));
            self.models.slot(model).add(cost, input_t, output_t);
        }
        let hour = ts.map(|t| t.floor_hour().unix_secs());
        self.hours
            .entry(hour)
            .or_default()
            .slot(event)
            .add(cost, input_t, output_t);
    }

    /// Adds the summary of what follows this one.
    /// Counts saturate (see [`Totals::merge`]).
    pub fn merge(&mut self, later: &Summary) {
        self.bytes = self.bytes.saturating_add(later.bytes);
        self.records = self.records.saturating_add(later.records);
        self.malformed = self.malformed.saturating_add(later.malformed);
        self.torn_tails = self.torn_tails.saturating_add(later.torn_tails);
        self.torn_fragments = self.torn_fragments.saturating_add(later.torn_fragments);
        self.first_ts = match (self.first_ts, later.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ts = match (self.last_ts, later.last_ts) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (h, k) in &later.hours {
            self.hours.entry(*h).or_default().merge(k);
        }
        self.models.merge(&later.models);
    }

    /// Records with a parseable `ts`.
    pub fn timed_records(&self) -> u64 {
        self.hours
            .iter()
            .filter(|(h, _)| h.is_some())
            .flat_map(|(_, k)| k.iter())
            .map(|(_, t)| t.records)
            .fold(0u64, u64::saturating_add)
    }

    /// How this summary (an index's) differs from `actual` (the summary of
    /// the archive's records), field by field: one line per differing
    /// field or group, `index` value first. Empty when they agree. Sums
    /// are compared by their exactly rounded value, so two summaries of
    /// the same records folded in other orders agree.
    pub fn differences(&self, actual: &Summary) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |name: &str, index: String, archive: String| {
            if index != archive {
                out.push(format!(
                    "{name}: {index} in the index, {archive} in the archive"
                ));
            }
        };
        let ts = |t: Option<Timestamp>| t.map_or_else(|| "none".to_owned(), |t| t.to_string());
        field("bytes", self.bytes.to_string(), actual.bytes.to_string());
        field(
            "records",
            self.records.to_string(),
            actual.records.to_string(),
        );
        field(
            "malformed",
            self.malformed.to_string(),
            actual.malformed.to_string(),
        );
        field(
            "torn_tails",
            self.torn_tails.to_string(),
            actual.torn_tails.to_string(),
        );
        field(
            "torn_fragments",
            self.torn_fragments.to_string(),
            actual.torn_fragments.to_string(),
        );
        field("first_ts", ts(self.first_ts), ts(actual.first_ts));
        field("last_ts", ts(self.last_ts), ts(actual.last_ts));
        let hour_name = |h: Option<i64>| {
            h.and_then(|h| Timestamp::from_unix(h, 0))
                .map_or_else(|| "none".to_owned(), |t| t.to_string())
        };
        let mut hours: Vec<Option<i64>> = self
            .hours
            .keys()
            .chain(actual.hours.keys())
            .copied()
            .collect();
        hours.sort_unstable();
        hours.dedup();
        let empty = Keyed::default();
        for h in hours {
            let a = self.hours.get(&h).unwrap_or(&empty);
            let b = actual.hours.get(&h).unwrap_or(&empty);
            keyed_differences(&format!("hour {}, event", hour_name(h)), a, b, &mut out);
        }
        keyed_differences("model", &self.models, &actual.models, &mut out);
        out
    }

    /// Summarises a file's lines with the one line decoder. An IO error
    /// (a damaged archive) is returned: a damaged archive gets no index.
    pub fn of_lines<R: BufRead>(mut lines: LineReader<R>) -> io::Result<Summary> {
        let mut s = Summary::default();
        loop {
            let mut fragments = 0;
            let item = lines.next_item(&mut |_| fragments += 1)?;
            s.torn_fragments += fragments;
            match item {
                None => break,
                Some(Item::Record(r, _)) => s.add_record(
                    r.ts(),
                    r.event(),
                    r.model(),
                    r.cost(),
                    r.input_t(),
                    r.output_t(),
                ),
                Some(Item::Malformed(..) | Item::TooLong(..)) => s.malformed += 1,
                Some(Item::TornTail(..)) => s.torn_tails += 1,
            }
        }
        s.bytes = lines.offset();
        Ok(s)
    }
}

/// What ties an index to its archive: its length and the SHA-256 of its
/// bytes. Any edit of the archive changes the digest; a copy that keeps
/// the bytes (`cp`, `tar`, `rsync`, a new modification time) keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveStamp {
    /// Length in bytes.
    pub len: u64,
    /// SHA-256 of the archive's bytes.
    pub sha256: [u8; 32],
}

/// Bytes read at a time when hashing.
const HASH_BUFFER: usize = 1 << 20;

/// What `lstat` said of an archive when it was hashed, and when: an index
/// recording it is trusted without hashing the archive again while the
/// archive's `lstat` is the same and its ctime was more than
/// [`RACY_NANOS`] older than the hashing ([`ArchiveIdentity::trusted`]).
/// Times are nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveIdentity {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_size`.
    pub len: u64,
    /// `st_mtime`, nanoseconds.
    pub mtime_ns: i64,
    /// `st_ctime`, nanoseconds.
    pub ctime_ns: i64,
    /// The clock before the archive was opened to be hashed.
    pub hashed_ns: i64,
}

/// Nanoseconds since the epoch (saturating; negative before it).
fn nanos(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

impl ArchiveIdentity {
    /// The identity `m` describes, hashed at `hashed_ns`; `None` for
    /// anything but a regular file with a known ctime.
    fn of(m: &Meta, hashed_ns: i64) -> Option<ArchiveIdentity> {
        if !m.is_file || m.is_symlink {
            return None;
        }
        Some(ArchiveIdentity {
            dev: m.id.dev,
            ino: m.id.ino,
            len: m.len,
            mtime_ns: nanos(m.mtime),
            ctime_ns: nanos(m.ctime?),
            hashed_ns,
        })
    }

    /// Whether the archive whose `lstat` is `now` is, without hashing it,
    /// the one hashed: same device, inode, length, mtime and ctime (any
    /// write, truncate, rename over it or `touch` sets ctime to the time
    /// of the change), and that ctime older than the hashing by more than
    /// [`RACY_NANOS`] (else a change in the same clock tick as the
    /// recorded ctime, after the hashing, could have kept it).
    pub fn trusted(&self, now: &Meta) -> bool {
        !self.is_racy() && ArchiveIdentity::of(now, self.hashed_ns).is_some_and(|n| n == *self)
    }

    /// Whether the ctime is too close to the hashing for the identity to
    /// be trusted.
    pub fn is_racy(&self) -> bool {
        self.ctime_ns.saturating_add(RACY_NANOS) >= self.hashed_ns
    }

    /// Whether an identity recorded now of a file whose `lstat` is `m`
    /// would be trusted (its ctime is more than [`RACY_NANOS`] old).
    pub fn would_be_trusted(m: &Meta) -> bool {
        ArchiveIdentity::of(m, nanos(SystemTime::now())).is_some_and(|i| !i.is_racy())
    }
}

impl ArchiveStamp {
    /// Reads the archive at `path` whole and hashes it (what a reader
    /// does: no fsync, no identity).
    pub fn read(fs: &dyn Fs, path: &Path) -> io::Result<ArchiveStamp> {
        let mut f = fs.open_read(path)?;
        hash(&mut *f)
    }

    /// Reads the archive at `path` whole and hashes it, with its identity
    /// at the hashing (`None`: it changed while read, or its ctime is
    /// unknown). Pages someone dirtied through a shared mapping are
    /// written back first, so that a later write through it faults and
    /// changes ctime.
    pub fn read_identified(
        fs: &dyn Fs,
        path: &Path,
    ) -> io::Result<(ArchiveStamp, Option<ArchiveIdentity>)> {
        let hashed_ns = nanos(SystemTime::now());
        let mut f = fs.open_read(path)?;
        f.sync_all()?;
        let before = f.meta()?;
        let stamp = hash(&mut *f)?;
        let after = f.meta()?;
        let identity = if before == after && after.len == stamp.len {
            ArchiveIdentity::of(&after, hashed_ns)
        } else {
            None
        };
        Ok((stamp, identity))
    }
}

/// The length and SHA-256 of what `f` holds from where it is.
fn hash(f: &mut dyn ReadFile) -> io::Result<ArchiveStamp> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; HASH_BUFFER];
    let mut len = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok(ArchiveStamp {
        len,
        sha256: h.finalize().into(),
    })
}

/// An archive's index: its summary, tied to the archive by name and stamp.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentIndex {
    /// The archive's file name.
    pub archive: String,
    /// The archive it summarises.
    pub stamp: ArchiveStamp,
    /// The archive's identity when it was last hashed (`None`: unknown, or
    /// a version 3 index): lets readers skip hashing it.
    pub identity: Option<ArchiveIdentity>,
    /// What the archive holds.
    pub summary: Summary,
}

#[derive(Serialize, Deserialize)]
struct Header {
    scout_audit_index: u64,
    archive: String,
    archive_len: u64,
    archive_sha256: String,
    /// Version 4; absent from version 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    archive_identity: Option<ArchiveIdentity>,
    bytes: u64,
    records: u64,
    malformed: u64,
    torn_tails: u64,
    torn_fragments: u64,
    first_ts: Option<(i64, u32)>,
    last_ts: Option<(i64, u32)>,
    hours: u64,
    models: u64,
}

/// The first line's version alone, read before the rest (an index of
/// another version is ignored, not damaged).
#[derive(Deserialize)]
struct VersionOnly {
    scout_audit_index: u64,
}

/// The last line: the SHA-256 of every byte before it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealLine {
    index_sha256: String,
}

#[derive(Serialize, Deserialize)]
struct HourLine {
    hour: Option<i64>,
    event: Option<String>,
    #[serde(flatten)]
    totals: TotalsLine,
}

#[derive(Serialize, Deserialize)]
struct ModelLine {
    model: Option<String>,
    #[serde(flatten)]
    totals: TotalsLine,
}

#[derive(Serialize, Deserialize)]
struct TotalsLine {
    records: u64,
    /// The exact sum as [`ExactSum`]'s text (`0x…p…`).
    cost: String,
    costless: u64,
    input_t: u64,
    output_t: u64,
}

impl From<&Totals> for TotalsLine {
    fn from(t: &Totals) -> TotalsLine {
        TotalsLine {
            records: t.records,
            cost: t.cost.to_string(),
            costless: t.costless,
            input_t: t.input_t,
            output_t: t.output_t,
        }
    }
}

impl TotalsLine {
    fn totals(&self) -> std::result::Result<Totals, String> {
        let cost = ExactSum::parse_exact(&self.cost)
            .ok_or_else(|| format!("invalid cost sum {:?}", self.cost))?;
        Ok(Totals {
            records: self.records,
            cost,
            costless: self.costless,
            input_t: self.input_t,
            output_t: self.output_t,
        })
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(2 * b.len());
    for x in b {
        let _ = write!(out, "{x:02x}");
    }
    out
}

/// 32 bytes from 64 lowercase hex digits.
pub(crate) fn unhex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digit(b[2 * i])? << 4 | digit(b[2 * i + 1])?;
    }
    Some(out)
}

/// The version an index file says it has, if its first line says one.
fn version_of(bytes: &[u8]) -> Option<u64> {
    let first = bytes.split(|&b| b == b'\n').next()?;
    serde_json::from_slice::<VersionOnly>(first)
        .ok()
        .map(|v| v.scout_audit_index)
}

fn ts_pair(t: Timestamp) -> (i64, u32) {
    (t.unix_secs(), t.subsec_nanos())
}

fn pair_ts(p: (i64, u32)) -> std::result::Result<Timestamp, String> {
    Timestamp::from_unix(p.0, p.1).ok_or_else(|| format!("invalid instant {p:?}"))
}

impl SegmentIndex {
    /// The index file's bytes: a header line, then one line per (hour,
    /// event) group, then one per model, then the SHA-256 of all of that
    /// (docs/format.md).
    pub fn encode(&self) -> Vec<u8> {
        let s = &self.summary;
        let header = Header {
            scout_audit_index: INDEX_VERSION,
            archive: self.archive.clone(),
            archive_len: self.stamp.len,
            archive_sha256: hex(&self.stamp.sha256),
            archive_identity: self.identity,
            bytes: s.bytes,
            records: s.records,
            malformed: s.malformed,
            torn_tails: s.torn_tails,
            torn_fragments: s.torn_fragments,
            first_ts: s.first_ts.map(ts_pair),
            last_ts: s.last_ts.map(ts_pair),
            hours: s.hours.values().map(|k| k.len() as u64).sum(),
            models: s.models.len() as u64,
        };
        let mut out = Vec::with_capacity(4096);
        let mut line = |v: &dyn erased::Ser| {
            v.write_json(&mut out);
            out.push(b'\n');
        };
        line(&header);
        for (hour, k) in &s.hours {
            for (event, t) in k.iter() {
                line(&HourLine {
                    hour: *hour,
                    event: event.map(str::to_owned),
                    totals: t.into(),
                });
            }
        }
        for (model, t) in s.models.iter() {
            line(&ModelLine {
                model: model.map(str::to_owned),
                totals: t.into(),
            });
        }
        let seal = SealLine {
            index_sha256: hex(&Sha256::digest(&out)),
        };
        erased::Ser::write_json(&seal, &mut out);
        out.push(b'\n');
        out
    }

    /// The digest a seal vouches for ([`vouch_digest_of`] of its
    /// encoding): the archive identity it records is left out.
    pub fn vouch_digest(&self) -> [u8; 32] {
        vouch_digest_of(&self.encode()).unwrap_or([0; 32])
    }

    /// Parses an index file, checking that it is whole, that its last
    /// line's digest is that of the rest, and that it is consistent (not
    /// that it matches an archive: see [`check_index`]).
    pub fn decode(bytes: &[u8]) -> std::result::Result<SegmentIndex, String> {
        let version = match version_of(bytes) {
            Some(v @ OLDEST_READ_VERSION..=INDEX_VERSION) => v,
            Some(v) => return Err(format!("index format version {v}, not {INDEX_VERSION}")),
            None => return Err("no index header".into()),
        };
        let body = unseal(bytes)?;
        let mut lines = body.split_terminator('\n');
        let h: Header = serde_json::from_str(lines.next().ok_or("empty index")?)
            .map_err(|e| format!("header: {e}"))?;
        let summary = read_summary(&h, &mut lines)?;
        if lines.next().is_some() {
            return Err("trailing lines".into());
        }
        check_totals(&summary)?;
        let sha256 = unhex32(&h.archive_sha256).ok_or("archive_sha256: not 64 hex digits")?;
        // Version 3 had no identity: one there is not the format's.
        let identity = match (version, h.archive_identity) {
            (INDEX_VERSION, i) => i,
            (_, None) => None,
            (_, Some(_)) => return Err("an archive identity in a version 3 index".into()),
        };
        Ok(SegmentIndex {
            archive: h.archive,
            stamp: ArchiveStamp {
                len: h.archive_len,
                sha256,
            },
            identity,
            summary,
        })
    }
}

/// The body of an index file (every line but the last), once its last
/// line is checked to be the SHA-256 of the body: an index cut short or
/// edited is refused.
fn unseal(bytes: &[u8]) -> std::result::Result<&str, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let Some(body_and_seal) = text.strip_suffix('\n') else {
        return Err("index cut short".into());
    };
    let (body, seal) = match body_and_seal.rfind('\n') {
        Some(i) => body_and_seal.split_at(i + 1),
        None => return Err("index cut short".into()),
    };
    let seal: SealLine = serde_json::from_str(seal).map_err(|_| "index cut short")?;
    if unhex32(&seal.index_sha256) != Some(Sha256::digest(body.as_bytes()).into()) {
        return Err("its digest does not match its contents (edited?)".into());
    }
    Ok(body)
}

/// The digest a seal vouches for (`seal/vouch.rs`, decision 88) of an
/// index file's bytes: the SHA-256 of its body (every line but its seal)
/// with the header written as this version writes it without the
/// archive identity. The identity says when the archive was last hashed,
/// and a refresh (`scout-audit index`, the compressor) rewrites it; every
/// claim about the archive (name, length, SHA-256, every total) is
/// covered, the group lines byte for byte. `None` when the bytes are not
/// an index (cut short, edited without recomputing its seal, no header).
pub fn vouch_digest_of(bytes: &[u8]) -> Option<[u8; 32]> {
    let body = unseal(bytes).ok()?;
    let (header, rest) = body.split_once('\n')?;
    let mut h: Header = serde_json::from_str(header).ok()?;
    h.scout_audit_index = INDEX_VERSION;
    h.archive_identity = None;
    let mut sha = Sha256::new();
    sha.update(serde_json::to_vec(&h).ok()?);
    sha.update(b"\n");
    sha.update(rest.as_bytes());
    Some(sha.finalize().into())
}

/// An index file's bytes (never through a link, at most
/// [`MAX_INDEX_BYTES`]); why not when it cannot be read.
pub fn read_index_bytes(fs: &dyn Fs, path: &Path) -> std::result::Result<Vec<u8>, String> {
    let f = fs
        .open_read(path)
        .map_err(|e| format!("cannot open it: {e}"))?;
    let mut bytes = Vec::new();
    f.take(MAX_INDEX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_INDEX_BYTES {
        return Err(format!("larger than {MAX_INDEX_BYTES} bytes"));
    }
    Ok(bytes)
}

/// The summary a header and the group lines after it describe: as many
/// (hour, event) lines and model lines as the header says, each group once.
fn read_summary<'a>(
    h: &Header,
    lines: &mut impl Iterator<Item = &'a str>,
) -> std::result::Result<Summary, String> {
    let mut summary = Summary {
        bytes: h.bytes,
        records: h.records,
        malformed: h.malformed,
        torn_tails: h.torn_tails,
        torn_fragments: h.torn_fragments,
        first_ts: h.first_ts.map(pair_ts).transpose()?,
        last_ts: h.last_ts.map(pair_ts).transpose()?,
        ..Summary::default()
    };
    for _ in 0..h.hours {
        let l: HourLine = serde_json::from_str(lines.next().ok_or("index cut short")?)
            .map_err(|e| format!("hour line: {e}"))?;
        let k = summary.hours.entry(l.hour).or_default();
        let slot = k.slot(l.event.as_deref());
        if slot.records != 0 {
            return Err("a group appears twice".into());
        }
        *slot = l.totals.totals()?;
    }
    for _ in 0..h.models {
        let l: ModelLine = serde_json::from_str(lines.next().ok_or("index cut short")?)
            .map_err(|e| format!("model line: {e}"))?;
        let slot = summary.models.slot(l.model.as_deref());
        if slot.records != 0 {
            return Err("a model appears twice".into());
        }
        *slot = l.totals.totals()?;
    }
    Ok(summary)
}

/// Checks that a decoded summary's counts agree: the (hour, event) groups
/// hold every record, the model groups every timed one, and the first and
/// last `ts` exist exactly when timed records do, in order. Sums are
/// checked: a forged index's counts must not wrap into consistent small
/// ones (an overflow is an inconsistency, never a total).
fn check_totals(summary: &Summary) -> std::result::Result<(), String> {
    fn checked_sum(mut it: impl Iterator<Item = u64>) -> std::result::Result<u64, String> {
        it.try_fold(0u64, u64::checked_add)
            .ok_or_else(|| "inconsistent totals (a count overflows)".to_string())
    }
    let in_hours = checked_sum(
        summary
            .hours
            .values()
            .flat_map(|k| k.iter())
            .map(|(_, t)| t.records),
    )?;
    let in_models = checked_sum(summary.models.iter().map(|(_, t)| t.records))?;
    let timed = checked_sum(
        summary
            .hours
            .iter()
            .filter(|(h, _)| h.is_some())
            .flat_map(|(_, k)| k.iter())
            .map(|(_, t)| t.records),
    )?;
    if in_hours != summary.records
        || in_models != timed
        || (timed > 0) != summary.first_ts.is_some()
        || summary.first_ts > summary.last_ts
    {
        return Err("inconsistent totals".into());
    }
    Ok(())
}

/// A tiny object-safe serialization, so one closure writes every line kind.
mod erased {
    pub trait Ser {
        fn write_json(&self, out: &mut Vec<u8>);
    }
    impl<T: serde::Serialize> Ser for T {
        fn write_json(&self, out: &mut Vec<u8>) {
            // Structs of numbers, strings and options always serialize.
            let _ = serde_json::to_writer(&mut *out, self);
        }
    }
}

/// What a reader may make of an archive's index file ([`check_index`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum IndexCheck {
    /// There is no index file.
    Missing,
    /// The index is whole, its digest matches its contents, and it was
    /// made from exactly the archive's bytes: usable for speed.
    Valid(Box<SegmentIndex>),
    /// An index of another format version (an older one: `scout-audit
    /// index` rewrites it): not used.
    OtherVersion(u64),
    /// An index that must not be used, and why: unreadable, cut short,
    /// edited (its digest does not match its contents), of another
    /// archive, or made from other bytes than the archive has now.
    Mismatch(String),
}

impl IndexCheck {
    /// The index, if it is valid.
    pub fn valid(self) -> Option<SegmentIndex> {
        match self {
            IndexCheck::Valid(i) => Some(*i),
            _ => None,
        }
    }
}

/// Checks the index file `index` of the archive at `archive`: reads and
/// decodes it (its own digest included), then compares the archive's
/// name, length and SHA-256 with those the index was made from, hashing
/// the archive whole unless the identity the index recorded is trusted
/// ([`ArchiveIdentity::trusted`]). Never trusts what it cannot check.
pub fn check_index(fs: &dyn Fs, archive: &Path, index: &Path) -> IndexCheck {
    inspect_index(fs, archive, index).check
}

/// What [`inspect_index`] found, and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Inspection {
    /// The verdict, as [`check_index`] gives it.
    pub check: IndexCheck,
    /// Whether the archive was read whole and hashed (its identity was not
    /// recorded, did not match its `lstat`, or was racy).
    pub hashed: bool,
    /// From [`inspect_index_for_vouch`]: the [`vouch_digest_of`] the very
    /// bytes checked (one read: no other file can be swapped in between).
    pub vouch_digest: Option<[u8; 32]>,
}

/// [`check_index`], saying whether the archive was hashed.
pub fn inspect_index(fs: &dyn Fs, archive: &Path, index: &Path) -> Inspection {
    let mut hashed = false;
    let check = inspect(fs, archive, index, true, &mut hashed, None);
    Inspection {
        check,
        hashed,
        vouch_digest: None,
    }
}

/// [`inspect_index`], with the digest a seal vouches for of the bytes
/// checked (`Inspection::vouch_digest`).
pub fn inspect_index_for_vouch(fs: &dyn Fs, archive: &Path, index: &Path) -> Inspection {
    let (mut hashed, mut digest) = (false, None);
    let check = inspect(fs, archive, index, true, &mut hashed, Some(&mut digest));
    Inspection {
        check,
        hashed,
        vouch_digest: digest,
    }
}

/// [`check_index`] hashing the archive whatever identity the index
/// records (what `verify` does: it trusts nothing it can check).
pub fn check_index_hashing(fs: &dyn Fs, archive: &Path, index: &Path) -> IndexCheck {
    inspect(fs, archive, index, false, &mut false, None)
}

fn inspect(
    fs: &dyn Fs,
    archive: &Path,
    index: &Path,
    trust_identity: bool,
    hashed: &mut bool,
    digest: Option<&mut Option<[u8; 32]>>,
) -> IndexCheck {
    let mut f = match fs.open_read(index) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return IndexCheck::Missing,
        Err(e) => return IndexCheck::Mismatch(format!("cannot open it: {e}")),
    };
    match f.meta() {
        Ok(m) if m.len > MAX_INDEX_BYTES => {
            return IndexCheck::Mismatch(format!("larger than {MAX_INDEX_BYTES} bytes"));
        }
        Ok(_) => {}
        Err(e) => return IndexCheck::Mismatch(format!("cannot stat it: {e}")),
    }
    let mut bytes = Vec::new();
    if let Err(e) = f.by_ref().take(MAX_INDEX_BYTES + 1).read_to_end(&mut bytes) {
        return IndexCheck::Mismatch(format!("cannot read it: {e}"));
    }
    drop(f);
    let idx = match SegmentIndex::decode(&bytes) {
        Ok(i) => i,
        Err(e) => {
            return match version_of(&bytes) {
                Some(v) if !(OLDEST_READ_VERSION..=INDEX_VERSION).contains(&v) => {
                    IndexCheck::OtherVersion(v)
                }
                _ => IndexCheck::Mismatch(e),
            };
        }
    };
    if let Some(d) = digest {
        *d = vouch_digest_of(&bytes);
    }
    let name = archive.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if idx.archive != name {
        return IndexCheck::Mismatch(format!("it is the index of {:?}", idx.archive));
    }
    // The archive as it is now (never following a link): if it is the
    // very file hashed, unchanged since (ctime), the digest holds.
    if trust_identity
        && let (Some(id), Ok(m)) = (&idx.identity, fs.lstat(archive))
        && id.trusted(&m)
        && m.len == idx.stamp.len
    {
        return IndexCheck::Valid(Box::new(idx));
    }
    *hashed = true;
    match fs.stat(archive) {
        Ok(m) if m.len != idx.stamp.len => {
            return IndexCheck::Mismatch(format!(
                "the archive has {} bytes, the index was made from {}",
                m.len, idx.stamp.len
            ));
        }
        Ok(_) => {}
        Err(e) => return IndexCheck::Mismatch(format!("cannot stat the archive: {e}")),
    }
    match ArchiveStamp::read(fs, archive) {
        Ok(stamp) if stamp == idx.stamp => IndexCheck::Valid(Box::new(idx)),
        Ok(_) => IndexCheck::Mismatch(
            "the archive's SHA-256 differs from the one the index was made from".into(),
        ),
        Err(e) => IndexCheck::Mismatch(format!("cannot read the archive: {e}")),
    }
}

/// Whether the index `ins` found valid only by hashing its archive at
/// `archive` is worth rewriting with the archive's identity now: the
/// recorded one is missing (version 3), stale (a copy of the store: other
/// device, inode and ctime) or was racy, and one recorded now would be
/// trusted (the archive's ctime is more than [`RACY_NANOS`] old).
pub fn needs_refresh(fs: &dyn Fs, archive: &Path, ins: &Inspection) -> bool {
    ins.hashed
        && matches!(ins.check, IndexCheck::Valid(_))
        && fs
            .lstat(archive)
            .is_ok_and(|m| ArchiveIdentity::would_be_trusted(&m))
}

/// The valid index of the archive at `archive`, read from `index`: `None`
/// for anything but [`IndexCheck::Valid`].
pub fn read_index(fs: &dyn Fs, archive: &Path, index: &Path) -> Option<SegmentIndex> {
    check_index(fs, archive, index).valid()
}

/// Summarises the archive at `path` by reading it as every reader does;
/// `Ok(None)` when it is damaged (no index is made for it).
pub fn summarize_archive(fs: &dyn Fs, path: &Path) -> Result<Option<Summary>> {
    let f = fs.open_read(path).map_err(|e| Error::io("open", path, e))?;
    match Summary::of_lines(LineReader::new(gzip_reader(
        f,
        reopen_with(fs, path.to_path_buf()),
    ))) {
        Ok(s) => Ok(Some(s)),
        Err(_) => Ok(None),
    }
}

/// Writes the index of `archive` (one of the store's `.gz` archives) from
/// `summary`, which must summarise it as it is now (`stamp`): to
/// `.idx.tmp`, fsync'd, then renamed under the store's exclusive lock
/// (`store_lock`, or held by the caller when `None`) if the archive still
/// has that stamp, and the directory fsync'd. Returns whether it was
/// written (`false`: the archive changed or vanished meanwhile).
pub fn write_index(
    fs: &dyn Fs,
    layout: &Layout,
    archive: &Segment,
    stamp: ArchiveStamp,
    summary: Summary,
    store_lock: Option<&dyn LockFile>,
) -> Result<bool> {
    let mut idx = SegmentIndex {
        archive: archive.name.clone(),
        stamp,
        identity: None,
        summary,
    };
    let tmp = layout.index_temp_path(archive);
    let path = layout.index_path(archive);
    // The archive's own lock: one writer of its index at a time, across
    // processes (a writer opening the store may index an archive whose
    // compressor, in another process, is indexing it too), and recovery
    // leaves a `.idx.tmp` alone while its lock is held.
    let Some(_held) = LockGuard::segment(fs, &archive.path)? else {
        return Ok(false);
    };
    let now = inspect_index(fs, &archive.path, &path);
    if !now.hashed
        && let IndexCheck::Valid(i) = &now.check
        && i.stamp == idx.stamp
    {
        // Someone else wrote it meanwhile, with a trusted identity.
        return Ok(true);
    }
    // The archive's identity at a hashing that still finds the bytes
    // summarised: what readers will trust instead of hashing.
    match ArchiveStamp::read_identified(fs, &archive.path) {
        Ok((s, identity)) if s == idx.stamp => idx.identity = identity,
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("read", &archive.path, e)),
    }
    write_locked(fs, layout, archive, &idx, &tmp, &path, store_lock)
}

fn write_locked(
    fs: &dyn Fs,
    layout: &Layout,
    archive: &Segment,
    idx: &SegmentIndex,
    tmp: &Path,
    path: &Path,
    store_lock: Option<&dyn LockFile>,
) -> Result<bool> {
    let (tmp, path) = (tmp.to_path_buf(), path.to_path_buf());
    let dir = layout.dir();
    // A `.idx.tmp` here is a crashed writer's: the archive's lock is ours.
    remove_stale_temp(fs, &tmp)?;
    let f = fs
        .create_new(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    f.write_once(&idx.encode())
        .map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(f);
    exclusively(store_lock, &layout.lock(), || {
        // Unchanged since hashed: by its identity when trusted, else by
        // hashing it again.
        let same = idx
            .identity
            .is_some_and(|i| fs.lstat(&archive.path).is_ok_and(|m| i.trusted(&m)))
            || ArchiveStamp::read(fs, &archive.path).is_ok_and(|s| s == idx.stamp);
        if same {
            // An index is replaced (it went stale), but only a regular
            // file of ours: a link or anything else there is left alone.
            if let Err(e) = check_replaceable(fs, &path) {
                let _ = fs.remove_file(&tmp);
                return Err(e);
            }
            fs.rename(&tmp, &path)
                .map_err(|e| Error::io("rename", &tmp, e))?;
        } else {
            fs.remove_file(&tmp)
                .map_err(|e| Error::io("remove", &tmp, e))?;
        }
        sync_dir(fs, dir)?;
        Ok(same)
    })
}

/// Whether `path` may be replaced by a rename: nothing is there, or a
/// regular file (the store's own index). Anything else is an error naming it.
fn check_replaceable(fs: &dyn Fs, path: &Path) -> Result<()> {
    crate::fs::regular_or_absent(fs, path).map(|_| ())
}

/// Indexes one of the store's archives from its own bytes (what the
/// compressor does after an archive is durable). `Ok(false)` when the
/// archive is damaged, vanished, or changed while being read.
pub fn index_archive(
    fs: &dyn Fs,
    layout: &Layout,
    archive: &Segment,
    store_lock: Option<&dyn LockFile>,
) -> Result<bool> {
    let stamp = match ArchiveStamp::read(fs, &archive.path) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("stat", &archive.path, e)),
    };
    let Some(summary) = summarize_archive(fs, &archive.path)? else {
        return Ok(false);
    };
    write_index(fs, layout, archive, stamp, summary, store_lock)
}

/// Removes index files that no reader uses: `.idx.tmp` leftovers of an
/// interrupted write, and indexes whose archive is gone. The caller holds
/// the store's exclusive lock. Returns the paths removed.
pub fn remove_strays(fs: &dyn Fs, layout: &Layout, listing: &Listing) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for p in &listing.stray_indexes {
        // A `.idx.tmp` of an archive whose lock is held is being written.
        let archive = p.to_str().and_then(index_temp_archive).map(Path::new);
        let held = match archive {
            Some(a) => match LockGuard::try_segment(fs, a)? {
                Attempt::Held(g) => Some(g),
                Attempt::Busy => continue,
                Attempt::Missing => None,
            },
            None => None,
        };
        // Only a regular file is an index of ours; a link or anything else
        // at the name is left alone and reported.
        let r = match fs.lstat(p) {
            Ok(m) if !m.is_file => Err(Error::Foreign {
                path: p.clone(),
                what: crate::fs::describe_not_regular(p)
                    .unwrap_or_else(|| "is not a regular file".to_owned()),
            }),
            _ => fs.remove_file(p).map_err(|e| Error::io("remove", p, e)),
        };
        drop(held);
        match r {
            Ok(()) => removed.push(p.clone()),
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if !removed.is_empty() {
        sync_dir(fs, layout.dir())?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::FileId;
    use scout_audit_core::agg::SumOverflow;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn sample() -> Summary {
        let mut s = Summary::default();
        s.add_record(
            Some(t("2026-01-01T09:10:00Z")),
            Some("nav"),
            Some("m"),
            Some(0.1),
            Some(5),
            None,
        );
        s.add_record(
            Some(t("2026-01-01T09:50:00.123456789Z")),
            Some("nav"),
            None,
            None,
            None,
            Some(7),
        );
        s.add_record(None, None, Some("m"), Some(-0.0), None, None);
        s.add_record(
            Some(t("2026-01-01T11:00:00Z")),
            Some("ev\u{e9}\"nt"),
            Some("m"),
            Some(1e-300),
            Some(u64::MAX),
            Some(1),
        );
        s.malformed = 2;
        s.torn_tails = 1;
        s.torn_fragments = 3;
        s.bytes = 999;
        s
    }

    #[test]
    fn round_trips_exactly() {
        let idx = SegmentIndex {
            archive: "audit-20260101T120000Z-000001.jsonl.gz".into(),
            stamp: ArchiveStamp {
                len: 1234,
                sha256: std::array::from_fn(|i| (i * 37 % 256) as u8),
            },
            identity: Some(ArchiveIdentity {
                dev: u64::MAX,
                ino: 7,
                len: 1234,
                mtime_ns: -5,
                ctime_ns: i64::MAX,
                hashed_ns: 1_800_000_000_123_456_789,
            }),
            summary: sample(),
        };
        let bytes = idx.encode();
        let back = SegmentIndex::decode(&bytes).unwrap();
        assert_eq!(back, idx);
        let s = &back.summary;
        assert_eq!(s.records, 4);
        assert_eq!(s.timed_records(), 3);
        assert_eq!(s.first_ts, Some(t("2026-01-01T09:10:00Z")));
        assert_eq!(s.last_ts, Some(t("2026-01-01T11:00:00Z")));
        let nine = t("2026-01-01T09:00:00Z").unix_secs();
        let nav = s.hours[&Some(nine)].get(Some("nav")).unwrap();
        assert_eq!(
            (nav.records, nav.costless, nav.input_t, nav.output_t),
            (2, 1, 5, 7)
        );
        assert_eq!(nav.cost.value(), Ok(0.1));
        let m = s.models.get(Some("m")).unwrap();
        assert_eq!(m.records, 2);
        assert_eq!(m.input_t, u64::MAX);
        // The untimed record is in the hour `None`, not in the models; its
        // cost -0.0 sums to +0.0, as math.fsum([-0.0]).
        assert_eq!(
            s.hours[&None]
                .get(None)
                .unwrap()
                .cost
                .value()
                .map(f64::to_bits),
            Ok(0)
        );
    }

    #[test]
    fn damaged_indexes_are_refused() {
        let idx = SegmentIndex {
            archive: "a.jsonl.gz".into(),
            stamp: ArchiveStamp {
                len: 1,
                sha256: [7; 32],
            },
            identity: None,
            summary: sample(),
        };
        let bytes = idx.encode();
        assert!(SegmentIndex::decode(&bytes).is_ok());
        // Cut anywhere: refused (never a partial summary).
        for cut in 0..bytes.len() {
            assert!(SegmentIndex::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let text = String::from_utf8(bytes.clone()).unwrap();
        let version = format!("\"scout_audit_index\":{INDEX_VERSION}");
        // Any edit that leaves the last line's digest as it was is refused
        // for it; an edit with the digest recomputed, for inconsistency.
        let old = |v: u64| format!("index format version {v}, not {INDEX_VERSION}");
        let (v1, v2) = (old(1), old(2));
        let edited = "its digest does not match its contents (edited?)";
        for (from, to, err) in [
            (version.as_str(), "\"scout_audit_index\":1", v1.as_str()),
            (version.as_str(), "\"scout_audit_index\":2", v2.as_str()),
            ("\"records\":4", "\"records\":5", edited),
            ("\"cost\":\"0x", "\"cost\":\"0y", edited),
            ("\"hours\":3", "\"hours\":2", edited),
        ] {
            assert!(text.contains(from), "{from}");
            let bad = text.replacen(from, to, 1);
            assert_eq!(
                SegmentIndex::decode(bad.as_bytes()).unwrap_err(),
                err,
                "{to}"
            );
        }
        // Counts that would wrap into consistent ones are refused: every
        // hour's count at its largest, digest recomputed.
        let huge = text.replace("\"records\":1,", "\"records\":18446744073709551615,");
        assert_ne!(huge, text);
        assert_eq!(
            SegmentIndex::decode(reseal(&huge).as_bytes()).unwrap_err(),
            "inconsistent totals (a count overflows)"
        );
        let resealed = reseal(&text.replacen("\"records\":4", "\"records\":5", 1));
        assert_eq!(
            SegmentIndex::decode(resealed.as_bytes()).unwrap_err(),
            "inconsistent totals"
        );
        // The cost of a group edited and the digest recomputed: a
        // consistent forgery, which only `verify` can catch.
        let text_of = |c: f64| {
            let mut s = ExactSum::new();
            s.add(c);
            format!("\"cost\":\"{s}\"")
        };
        assert!(text.contains(&text_of(0.1)), "{text}");
        let forged = reseal(&text.replacen(&text_of(0.1), &text_of(500.0), 1));
        let f = SegmentIndex::decode(forged.as_bytes()).unwrap();
        assert_eq!(
            f.summary.differences(&idx.summary),
            [
                "hour 2026-01-01T09:00:00+00:00, event \"nav\": cost 500 in the index, 0.1 in the archive"
            ]
        );
        let mut extra = bytes.clone();
        extra.extend_from_slice(b"{}\n");
        assert!(SegmentIndex::decode(&extra).is_err());
        let mut no_seal = bytes.clone();
        let body = no_seal.len() - 1;
        let last = no_seal[..body].iter().rposition(|&b| b == b'\n').unwrap();
        no_seal.truncate(last + 1);
        assert_eq!(
            SegmentIndex::decode(&no_seal).unwrap_err(),
            "index cut short"
        );
    }

    fn meta(ino: u64, len: u64, mtime: i64, ctime: Option<i64>) -> Meta {
        let at = |ns: i64| SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64);
        Meta {
            id: FileId { dev: 3, ino },
            len,
            is_file: true,
            is_dir: false,
            is_symlink: false,
            mode: 0o600,
            mtime: at(mtime),
            ctime: ctime.map(at),
        }
    }

    /// The racy rule: an identity is trusted only when every field matches
    /// the archive's `lstat` and its ctime is more than 2 s older than the
    /// hashing; a file with an unknown ctime is never identified.
    #[test]
    fn an_identity_is_trusted_only_when_equal_and_not_racy() {
        const S: i64 = 1_000_000_000;
        let m = meta(9, 100, 1_700_000_000 * S, Some(1_700_000_000 * S + 5));
        let at = |hashed: i64| ArchiveIdentity::of(&m, hashed).unwrap();
        let ctime = 1_700_000_000 * S + 5;
        assert!(at(ctime + 2 * S + 1).trusted(&m));
        for racy in [ctime - S, ctime, ctime + 1, ctime + 2 * S] {
            assert!(at(racy).is_racy());
            assert!(!at(racy).trusted(&m), "{racy}");
        }
        let id = at(ctime + 3 * S);
        for other in [
            meta(8, 100, 1_700_000_000 * S, Some(ctime)),
            meta(9, 101, 1_700_000_000 * S, Some(ctime)),
            meta(9, 100, 1_700_000_000 * S + 1, Some(ctime)),
            meta(9, 100, 1_700_000_000 * S, Some(ctime + 1)),
            meta(9, 100, 1_700_000_000 * S, None),
            Meta {
                id: FileId { dev: 4, ino: 9 },
                ..m
            },
            Meta {
                is_symlink: true,
                ..m
            },
            Meta {
                is_file: false,
                ..m
            },
        ] {
            assert!(!id.trusted(&other), "{other:?}");
        }
        assert!(ArchiveIdentity::of(&meta(9, 100, 0, None), ctime).is_none());
    }

    /// Version 3 is version 4 without the identity: read, never trusted
    /// without hashing; an identity in one is refused.
    #[test]
    fn version_3_is_read_without_an_identity() {
        let mut idx = SegmentIndex {
            archive: "a.jsonl.gz".into(),
            stamp: ArchiveStamp {
                len: 1,
                sha256: [7; 32],
            },
            identity: None,
            summary: sample(),
        };
        let v4 = String::from_utf8(idx.encode()).unwrap();
        assert!(!v4.contains("archive_identity"), "{v4}");
        let v3 = reseal(&v4.replacen(
            &format!("\"scout_audit_index\":{INDEX_VERSION}"),
            "\"scout_audit_index\":3",
            1,
        ));
        assert_eq!(SegmentIndex::decode(v3.as_bytes()), Ok(idx.clone()));
        idx.identity = ArchiveIdentity::of(&meta(1, 1, 0, Some(0)), 5);
        let v4 = String::from_utf8(idx.encode()).unwrap();
        assert!(
            v4.contains("\"archive_identity\":{\"dev\":3,\"ino\":1,"),
            "{v4}"
        );
        let v3 = reseal(&v4.replacen(
            &format!("\"scout_audit_index\":{INDEX_VERSION}"),
            "\"scout_audit_index\":3",
            1,
        ));
        assert_eq!(
            SegmentIndex::decode(v3.as_bytes()).unwrap_err(),
            "an archive identity in a version 3 index"
        );
    }

    /// `text` with its last line replaced by the digest of the rest.
    fn reseal(text: &str) -> String {
        let body_end = text[..text.len() - 1].rfind('\n').unwrap() + 1;
        let body = &text[..body_end];
        format!(
            "{body}{{\"index_sha256\":\"{}\"}}\n",
            hex(&Sha256::digest(body.as_bytes()))
        )
    }

    #[test]
    fn differences_name_every_field_that_differs() {
        let a = sample();
        assert!(a.differences(&a.clone()).is_empty());
        let mut b = sample();
        b.records += 1;
        b.first_ts = None;
        b.add_record(
            Some(t("2026-01-01T12:00:00Z")),
            Some("nav"),
            Some("n"),
            Some(2.0),
            None,
            None,
        );
        assert_eq!(
            a.differences(&b),
            [
                "records: 4 in the index, 6 in the archive",
                "first_ts: 2026-01-01T09:10:00+00:00 in the index, 2026-01-01T12:00:00+00:00 in the archive",
                "last_ts: 2026-01-01T11:00:00+00:00 in the index, 2026-01-01T12:00:00+00:00 in the archive",
                "hour 2026-01-01T12:00:00+00:00, event \"nav\": only in the archive",
                "model \"n\": only in the archive",
            ]
        );
    }

    #[test]
    fn merge_is_the_summary_of_the_whole() {
        let mut a = sample();
        let b = sample();
        a.merge(&b);
        assert_eq!(a.records, 8);
        assert_eq!(a.malformed, 4);
        let m = a.models.get(Some("m")).unwrap();
        assert_eq!((m.records, m.input_t), (4, u64::MAX));
        let mut total = ExactSum::new();
        for k in a.hours.values() {
            for (_, t) in k.iter() {
                t.add_cost_to(&mut total);
            }
        }
        assert_eq!(total.value(), Ok(0.2 + 2e-300));
    }

    /// Finding 2: version 1 stored Shewchuk partials, which cannot hold a
    /// sum beyond the doubles; version 3 stores the exact sum, which a
    /// reader continues exactly.
    #[test]
    fn sums_beyond_the_doubles_round_trip() {
        let mut s = Summary::default();
        let ts = Some(t("2026-01-01T09:10:00Z"));
        for c in [100.0, 1e308, 1e308, 300.0] {
            s.add_record(ts, Some("nav"), Some("m"), Some(c), None, None);
        }
        let idx = SegmentIndex {
            archive: "a.jsonl.gz".into(),
            stamp: ArchiveStamp {
                len: 1,
                sha256: [7; 32],
            },
            identity: None,
            summary: s,
        };
        let bytes = idx.encode();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"cost\":\"0x11ccf385ebc8a000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000019p+4\""), "{text}");
        let back = SegmentIndex::decode(&bytes).unwrap();
        assert_eq!(back, idx);
        let nav = back
            .summary
            .hours
            .values()
            .next()
            .unwrap()
            .get(Some("nav"))
            .unwrap();
        assert_eq!(nav.cost.value(), Err(SumOverflow::Positive));
        let mut total = ExactSum::new();
        nav.add_cost_to(&mut total);
        total.add(-1e308);
        assert_eq!(total.value(), Ok(1e308));
        total.add(-1e308);
        assert_eq!(total.value(), Ok(400.0));
    }
}
