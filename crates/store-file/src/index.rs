//! Sidecar indexes of archives: a small summary written beside an archive
//! (`NAME.jsonl.gz.idx`) so that a reader can skip it, or answer counts,
//! sums and accuracy for it, without decompressing it. The contract is
//! docs/format.md ("Archive indexes"); the names are [`crate::layout`]'s.
//!
//! - [`Summary`]: what an archive holds, as a reader classifies its lines
//!   ([`scout_audit_core::decode_line`]): record and problem counts, first
//!   and last `ts`, and totals per (UTC hour, event type) and per model.
//!   A mergeable fold; the scanner builds the same one with its fast path.
//! - [`SegmentIndex`]: a summary tied to one archive by its name, length,
//!   modification time and last eight bytes ([`ArchiveStamp`]). Reading
//!   it back ([`read_index`]) checks all of them: **a missing, unreadable,
//!   partial or stale index is absent**, never trusted.
//! - [`write_index`]: written whole to `.idx.tmp`, fsync'd, then renamed
//!   under the store's exclusive lock (if the archive is still the one
//!   summarised) and the directory fsync'd.
//!
//! **Invariant:** an index never changes which records a query returns,
//! only how fast: it is written from the same line classification every
//! reader uses, and ignored unless it matches its archive exactly.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};
use std::path::Path;
use std::time::UNIX_EPOCH;

use scout_audit_core::Timestamp;
use scout_audit_core::agg::{ExactSum, SpendGroup};
use serde::{Deserialize, Serialize};

use crate::compress::exclusively;
use crate::error::{Error, Result};
use crate::fs::{Fs, LockFile};
use crate::layout::{Layout, Segment};
use crate::lines::{Item, LineReader};
use crate::reader::{gzip_reader, reopen_with};

/// The version of the index format this code writes and reads. Version 1
/// stored Shewchuk partials, which could not hold a sum beyond the range
/// of `f64` (and an overflowing one was stored wrong): its indexes are
/// ignored, so the archive is read, and `scout-audit index` rewrites them.
pub const INDEX_VERSION: u64 = 2;

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

    /// Adds another group's totals.
    pub fn merge(&mut self, other: &Totals) {
        self.records += other.records;
        self.cost.merge(&other.cost);
        self.costless += other.costless;
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
    pub fn merge(&mut self, later: &Summary) {
        self.bytes += later.bytes;
        self.records += later.records;
        self.malformed += later.malformed;
        self.torn_tails += later.torn_tails;
        self.torn_fragments += later.torn_fragments;
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
            .sum()
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

/// What ties an index to its archive: any change to the archive changes one
/// of these (a rewrite changes the modification time; the last eight bytes
/// of a gzip file are its last member's CRC-32 and length).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveStamp {
    /// Length in bytes.
    pub len: u64,
    /// Modification time: seconds and nanoseconds since the epoch.
    pub mtime: (i64, u32),
    /// The last (up to) eight bytes.
    pub tail: Vec<u8>,
}

impl ArchiveStamp {
    /// Reads the stamp of the archive at `path`.
    pub fn read(fs: &dyn Fs, path: &Path) -> io::Result<ArchiveStamp> {
        let meta = fs.stat(path)?;
        let mtime = match meta.mtime.duration_since(UNIX_EPOCH) {
            Ok(d) => (
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            ),
            Err(e) => (
                -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
                e.duration().subsec_nanos(),
            ),
        };
        let mut f = fs.open_read(path)?;
        let from = meta.len.saturating_sub(8);
        f.seek_to(from)?;
        let mut tail = Vec::with_capacity(8);
        f.take(8).read_to_end(&mut tail)?;
        Ok(ArchiveStamp {
            len: meta.len,
            mtime,
            tail,
        })
    }
}

/// An archive's index: its summary, tied to the archive by name and stamp.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentIndex {
    /// The archive's file name.
    pub archive: String,
    /// The archive it summarises.
    pub stamp: ArchiveStamp,
    /// What the archive holds.
    pub summary: Summary,
}

#[derive(Serialize, Deserialize)]
struct Header {
    scout_audit_index: u64,
    archive: String,
    archive_len: u64,
    archive_mtime: (i64, u32),
    archive_tail: String,
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn ts_pair(t: Timestamp) -> (i64, u32) {
    (t.unix_secs(), t.subsec_nanos())
}

fn pair_ts(p: (i64, u32)) -> std::result::Result<Timestamp, String> {
    Timestamp::from_unix(p.0, p.1).ok_or_else(|| format!("invalid instant {p:?}"))
}

impl SegmentIndex {
    /// The index file's bytes: a header line, then one line per (hour,
    /// event) group, then one per model (docs/format.md).
    pub fn encode(&self) -> Vec<u8> {
        let s = &self.summary;
        let header = Header {
            scout_audit_index: INDEX_VERSION,
            archive: self.archive.clone(),
            archive_len: self.stamp.len,
            archive_mtime: self.stamp.mtime,
            archive_tail: hex(&self.stamp.tail),
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
        out
    }

    /// Parses an index file, checking that it is whole and consistent
    /// (not that it matches an archive: see [`read_index`]).
    pub fn decode(bytes: &[u8]) -> std::result::Result<SegmentIndex, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        if !text.ends_with('\n') {
            return Err("index cut short".into());
        }
        let mut lines = text.split_terminator('\n');
        let h: Header = serde_json::from_str(lines.next().ok_or("empty index")?)
            .map_err(|e| format!("header: {e}"))?;
        if h.scout_audit_index != INDEX_VERSION {
            return Err(format!("unknown index version {}", h.scout_audit_index));
        }
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
        if lines.next().is_some() {
            return Err("trailing lines".into());
        }
        let in_hours: u64 = summary
            .hours
            .values()
            .flat_map(|k| k.iter())
            .map(|(_, t)| t.records)
            .sum();
        let in_models: u64 = summary.models.iter().map(|(_, t)| t.records).sum();
        let timed = summary.timed_records();
        if in_hours != summary.records
            || in_models != timed
            || (timed > 0) != summary.first_ts.is_some()
            || summary.first_ts > summary.last_ts
        {
            return Err("inconsistent totals".into());
        }
        let tail = (0..h.archive_tail.len() / 2)
            .map(|i| u8::from_str_radix(h.archive_tail.get(2 * i..2 * i + 2).unwrap_or(""), 16))
            .collect::<std::result::Result<Vec<u8>, _>>()
            .map_err(|e| format!("archive_tail: {e}"))?;
        Ok(SegmentIndex {
            archive: h.archive,
            stamp: ArchiveStamp {
                len: h.archive_len,
                mtime: h.archive_mtime,
                tail,
            },
            summary,
        })
    }
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

/// The valid index of the archive at `archive`, read from `index`: `None`
/// when it is missing, unreadable, malformed, of another version, or
/// stale (the archive's name, length, modification time or last bytes
/// differ from those it was made from).
pub fn read_index(fs: &dyn Fs, archive: &Path, index: &Path) -> Option<SegmentIndex> {
    let mut f = fs.open_read(index).ok()?;
    if f.meta().ok()?.len > MAX_INDEX_BYTES {
        return None;
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    let idx = SegmentIndex::decode(&bytes).ok()?;
    let name = archive.file_name()?.to_str()?;
    if idx.archive != name {
        return None;
    }
    let stamp = ArchiveStamp::read(fs, archive).ok()?;
    (stamp == idx.stamp).then_some(idx)
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
    let idx = SegmentIndex {
        archive: archive.name.clone(),
        stamp,
        summary,
    };
    let tmp = layout.index_temp_path(archive);
    let path = layout.index_path(archive);
    // The archive's own lock: one writer of its index at a time, across
    // processes (a writer opening the store may index an archive whose
    // compressor, in another process, is indexing it too), and recovery
    // leaves a `.idx.tmp` alone while its lock is held.
    let alock = match fs.open_file_lock(&archive.path) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("open", &archive.path, e)),
    };
    alock
        .lock_exclusive()
        .map_err(|e| Error::io("lock", &archive.path, e))?;
    let r = (|| {
        if read_index(fs, &archive.path, &path).is_some_and(|i| i.stamp == idx.stamp) {
            // Someone else wrote it meanwhile.
            return Ok(true);
        }
        write_locked(fs, layout, archive, &idx, &tmp, &path, store_lock)
    })();
    let _ = alock.unlock();
    r
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
    let f = fs.create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_once(&idx.encode())
        .map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(f);
    exclusively(store_lock, &layout.lock(), || {
        let same = ArchiveStamp::read(fs, &archive.path).is_ok_and(|s| s == idx.stamp);
        if same {
            fs.rename(&tmp, &path)
                .map_err(|e| Error::io("rename", &tmp, e))?;
        } else {
            fs.remove_file(&tmp)
                .map_err(|e| Error::io("remove", &tmp, e))?;
        }
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", dir, e))?;
        Ok(same)
    })
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
pub fn remove_strays(
    fs: &dyn Fs,
    layout: &Layout,
    listing: &crate::layout::Listing,
) -> Result<Vec<std::path::PathBuf>> {
    let mut removed = Vec::new();
    for p in &listing.stray_indexes {
        // A `.idx.tmp` of an archive whose lock is held is being written.
        let mut held = None;
        if let Some(archive) = p.to_str().and_then(|s| s.strip_suffix(".idx.tmp")) {
            match fs.open_file_lock(Path::new(archive)) {
                Ok(l) => {
                    if !l
                        .try_lock_exclusive()
                        .map_err(|e| Error::io("lock", archive, e))?
                    {
                        continue;
                    }
                    held = Some(l);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("open", archive, e)),
            }
        }
        let r = fs.remove_file(p);
        if let Some(l) = held {
            let _ = l.unlock();
        }
        match r {
            Ok(()) => removed.push(p.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", p, e)),
        }
    }
    if !removed.is_empty() {
        let dir = layout.dir();
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", dir, e))?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
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
                mtime: (1_700_000_000, 123_456_789),
                tail: vec![0, 1, 0xfe, 0xff, 7, 8, 9, 10],
            },
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
                mtime: (1, 2),
                tail: vec![1],
            },
            summary: sample(),
        };
        let bytes = idx.encode();
        // Cut anywhere: refused (never a partial summary).
        for cut in 0..bytes.len() {
            assert!(SegmentIndex::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let text = String::from_utf8(bytes.clone()).unwrap();
        for (from, to) in [
            ("\"scout_audit_index\":2", "\"scout_audit_index\":1"),
            ("\"scout_audit_index\":2", "\"scout_audit_index\":3"),
            ("\"cost\":\"0x", "\"cost\":\"0y"),
            ("\"cost\":\"0x", "\"cost\":[0.1],\"x\":\"0x"),
            ("\"records\":4", "\"records\":5"),
            ("\"hours\":3", "\"hours\":2"),
        ] {
            assert!(text.contains(from), "{from}");
            let bad = text.replacen(from, to, 1);
            assert!(SegmentIndex::decode(bad.as_bytes()).is_err(), "{to}");
        }
        let mut extra = bytes.clone();
        extra.extend_from_slice(b"{}\n");
        assert!(SegmentIndex::decode(&extra).is_err());
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
    /// sum beyond the doubles; version 2 stores the exact sum, which a
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
                mtime: (1, 2),
                tail: vec![1],
            },
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
