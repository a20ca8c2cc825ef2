//! The segment layout of a store: names, order, and which file a reader
//! reads. This is the one place these rules exist; the writer, recovery,
//! the sequential reader and the scanner all use it.
//!
//! ```text
//! audit.jsonl                                 live segment
//! audit-20261127T052116Z-000042.jsonl         sealed, not yet compressed
//! audit-20261127T052116Z-000042.jsonl.gz.tmp  compression under way
//! audit-20261127T052116Z-000042.jsonl.gz      sealed archive
//! audit-20261127T052116Z-000042.jsonl.gz.idx  its sidecar index (optional)
//! audit_20250101T120000Z.jsonl.gz             archive of the Python original
//! audit.lock                                  lock file
//! audit.seal-key                              sealing state (src/seal.rs)
//! audit.seal-log                              seal log (src/seal.rs)
//! audit.seal-nodes                            sealed block hashes (src/seal/nodes.rs)
//! audit.jsonl.torn-20261127T052116Z-000001    quarantined torn tail
//! ```
//!
//! **Order.** Segments sort by (seal second, number), the Python
//! original's archives (no number) first within their second; the live
//! segment comes last. Seal times never go backwards within a store
//! (the writer clamps them), so name order is time order.
//!
//! **De-duplication.** A sealed `.jsonl` and its `.gz` hold the same
//! records while compression finishes: a reader reads the `.jsonl` and
//! never both. A `.gz.tmp` is never read.
//!
//! **Indexes.** An archive `NAME.gz` may have a sidecar index `NAME.gz.idx`
//! (format in docs/format.md, code in [`crate::index`]); `NAME.gz.idx.tmp`
//! is one being written and is never read. An index is an optimisation:
//! readers treat a missing, unreadable or stale one as absent.

use std::io;
use std::path::{Path, PathBuf};

use scout_audit_core::Timestamp;

use crate::fs::Fs;

/// Where a store's files are: its directory and the names derived from the
/// live file's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    dir: PathBuf,
    /// File name of the live segment, such as `audit.jsonl`.
    live_name: String,
    /// The live name without its last extension: `audit`.
    stem: String,
}

/// What state a segment file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SegmentKind {
    /// `…-NNNNNN.jsonl`: sealed, plain, awaiting compression.
    Sealed,
    /// `….jsonl.gz`: a compressed archive (ours or the Python original's).
    Archive,
    /// `….jsonl.gz.tmp`: compression under way or interrupted; never read.
    Temp,
}

/// The position of a segment in the store's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentKey {
    /// Seal time, whole seconds since the epoch (UTC).
    pub seal_secs: i64,
    /// 0 for the Python original's archives, `number + 1` for ours.
    pub rank: u64,
}

/// A segment file found in the store's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its order among segments.
    pub key: SegmentKey,
    /// Its state.
    pub kind: SegmentKind,
    /// Its segment number (`None` for the Python original's archives).
    pub number: Option<u64>,
    /// Its file name.
    pub name: String,
    /// Its full path.
    pub path: PathBuf,
}

impl Segment {
    /// Whether the file is gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.kind == SegmentKind::Archive
    }

    /// The seal time as a timestamp.
    pub fn seal_time(&self) -> Timestamp {
        Timestamp::from_unix(self.key.seal_secs, 0).unwrap_or(Timestamp::MIN)
    }
}

/// A directory listing sorted into segments.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// The segments a reader reads, in order, one per key (de-duplicated).
    pub readable: Vec<Segment>,
    /// Every segment file, in order, including `.gz` files shadowed by
    /// their sealed `.jsonl` and `.gz.tmp` files.
    pub all: Vec<Segment>,
    /// Quarantine files of torn tails.
    pub quarantine: Vec<PathBuf>,
    /// File names of the archives that have an index file beside them
    /// (whether it is valid is for [`crate::index`] to say), sorted.
    pub indexed: Vec<String>,
    /// Index files whose archive is not in the directory, and index
    /// files being written (`.idx.tmp`): never read, removed by recovery.
    pub stray_indexes: Vec<PathBuf>,
    /// Whether the live file exists.
    pub live_exists: bool,
}

impl Listing {
    /// The highest segment number in use (any kind), if any.
    pub fn max_number(&self) -> Option<u64> {
        self.all.iter().filter_map(|s| s.number).max()
    }

    /// The latest seal second of our own segments, if any.
    pub fn max_seal_secs(&self) -> Option<i64> {
        self.all
            .iter()
            .filter(|s| s.number.is_some())
            .map(|s| s.key.seal_secs)
            .max()
    }

    /// Whether an index file exists for this archive.
    pub fn has_index(&self, archive: &Segment) -> bool {
        self.indexed.binary_search(&archive.name).is_ok()
    }

    /// Compressed archives (readable `.gz` files), oldest first.
    pub fn archives(&self) -> impl Iterator<Item = &Segment> {
        self.readable
            .iter()
            .filter(|s| s.kind == SegmentKind::Archive)
    }
}

impl Layout {
    /// The layout of the store whose live file is `live`. The path must name
    /// a file (`…/audit.jsonl`), not end in `/` or `..`.
    pub fn new(live: impl AsRef<Path>) -> Result<Layout, String> {
        let live = live.as_ref();
        let name = live
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{} does not name a file", live.display()))?;
        if name.is_empty() || name == "." || name == ".." {
            return Err(format!("{} does not name a file", live.display()));
        }
        let stem = match name.rsplit_once('.') {
            Some((s, _)) if !s.is_empty() => s.to_owned(),
            _ => name.to_owned(),
        };
        let dir = match live.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(Layout {
            dir,
            live_name: name.to_owned(),
            stem,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The live file's path.
    pub fn live(&self) -> PathBuf {
        self.dir.join(&self.live_name)
    }

    /// The lock file's path (`audit.lock`).
    pub fn lock(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.stem))
    }

    /// The sealing state's path (`audit.seal-key`, mode 0600).
    pub fn seal_key(&self) -> PathBuf {
        self.dir.join(format!("{}.seal-key", self.stem))
    }

    /// The path a new sealing state is written to before its rename.
    pub fn seal_key_temp(&self) -> PathBuf {
        self.dir.join(format!("{}.seal-key.tmp", self.stem))
    }

    /// The seal log's path (`audit.seal-log`).
    pub fn seal_log(&self) -> PathBuf {
        self.dir.join(format!("{}.seal-log", self.stem))
    }

    /// The seal-nodes file's path (`audit.seal-nodes`): the hashes of the
    /// tree's complete aligned blocks of leaves, to locate a departure.
    pub fn seal_nodes(&self) -> PathBuf {
        self.dir.join(format!("{}.seal-nodes", self.stem))
    }

    /// The path a torn last line of the seal log is moved to.
    pub fn seal_log_torn(&self, n: u64) -> PathBuf {
        self.dir.join(format!("{}.seal-log.torn-{n}", self.stem))
    }

    /// The file name of a sealed segment.
    pub fn sealed_name(&self, seal_secs: i64, number: u64) -> String {
        format!("{}-{}-{number:06}.jsonl", self.stem, stamp(seal_secs))
    }

    /// The path of a sealed segment's archive (`.gz`).
    pub fn archive_path(&self, sealed: &Segment) -> PathBuf {
        self.dir.join(format!("{}.gz", base_name(sealed)))
    }

    /// The path of a sealed segment's temporary archive (`.gz.tmp`).
    pub fn temp_path(&self, sealed: &Segment) -> PathBuf {
        self.dir.join(format!("{}.gz.tmp", base_name(sealed)))
    }

    /// The path of the sealed `.jsonl` a `.gz` or `.gz.tmp` was made from.
    pub fn sealed_path(&self, seg: &Segment) -> PathBuf {
        self.dir.join(base_name(seg))
    }

    /// The path of an archive's sidecar index (`….jsonl.gz.idx`).
    pub fn index_path(&self, archive: &Segment) -> PathBuf {
        self.dir.join(index_name(&archive.name))
    }

    /// The path an archive's index is written to before its rename.
    pub fn index_temp_path(&self, archive: &Segment) -> PathBuf {
        self.dir.join(format!("{}.tmp", index_name(&archive.name)))
    }

    /// The path of a quarantine file for a torn tail.
    pub fn quarantine_path(&self, secs: i64, n: u64) -> PathBuf {
        self.dir
            .join(format!("{}.torn-{}-{n:06}", self.live_name, stamp(secs)))
    }

    /// Sorts a directory's entry names into segments.
    pub fn classify(&self, names: impl IntoIterator<Item = String>) -> Listing {
        let mut listing = Listing::default();
        let torn_prefix = format!("{}.torn-", self.live_name);
        let mut index_files = Vec::new();
        for name in names {
            if name == self.live_name {
                listing.live_exists = true;
            } else if name.starts_with(&torn_prefix) {
                listing.quarantine.push(self.dir.join(&name));
            } else if let Some(seg) = self.parse_segment(&name) {
                listing.all.push(seg);
            } else if let Some(archive) = index_temp_archive(&name) {
                if self.parse_segment(archive).is_some() {
                    listing.stray_indexes.push(self.dir.join(&name));
                }
            } else if let Some(archive) = indexed_archive(&name)
                && self.parse_segment(archive).is_some()
            {
                index_files.push(archive.to_owned());
            }
        }
        listing.all.sort_by_key(|s| (s.key, s.kind));
        listing.quarantine.sort();
        for archive in index_files {
            if listing
                .all
                .iter()
                .any(|s| s.kind == SegmentKind::Archive && s.name == archive)
            {
                listing.indexed.push(archive);
            } else {
                listing
                    .stray_indexes
                    .push(self.dir.join(index_name(&archive)));
            }
        }
        listing.indexed.sort();
        listing.stray_indexes.sort();
        // One readable file per key: the sealed .jsonl if present, else the .gz.
        let mut i = 0;
        while i < listing.all.len() {
            let key = listing.all[i].key;
            let mut best: Option<&Segment> = None;
            while i < listing.all.len() && listing.all[i].key == key {
                let s = &listing.all[i];
                if s.kind != SegmentKind::Temp && best.is_none_or(|b| s.kind < b.kind) {
                    best = Some(s);
                }
                i += 1;
            }
            if let Some(b) = best {
                listing.readable.push(b.clone());
            }
        }
        listing
    }

    /// Lists and classifies the store's directory. A missing directory is an
    /// empty store.
    pub fn list(&self, fs: &dyn Fs) -> io::Result<Listing> {
        match fs.list_dir(&self.dir) {
            Ok(names) => Ok(self.classify(names)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Listing::default()),
            Err(e) => Err(e),
        }
    }

    /// Parses a segment file name of this store.
    pub fn parse_segment(&self, name: &str) -> Option<Segment> {
        let (base, kind) = if let Some(b) = name.strip_suffix(".jsonl.gz.tmp") {
            (b, SegmentKind::Temp)
        } else if let Some(b) = name.strip_suffix(".jsonl.gz") {
            (b, SegmentKind::Archive)
        } else if let Some(b) = name.strip_suffix(".jsonl") {
            (b, SegmentKind::Sealed)
        } else {
            return None;
        };
        // Ours: {stem}-{stamp}-{number}
        if let Some(rest) = base
            .strip_prefix(&self.stem)
            .and_then(|r| r.strip_prefix('-'))
            && let Some((st, num)) = rest.split_once('-')
            && num.len() >= 6
            && num.bytes().all(|b| b.is_ascii_digit())
            && let Some(secs) = parse_stamp(st)
            && let Ok(number) = num.parse::<u64>()
        {
            return Some(Segment {
                key: SegmentKey {
                    seal_secs: secs,
                    rank: number.saturating_add(1),
                },
                kind,
                number: Some(number),
                name: name.to_owned(),
                path: self.dir.join(name),
            });
        }
        // The Python original's: {stem}_{stamp}.jsonl.gz
        if kind == SegmentKind::Archive
            && let Some(st) = base
                .strip_prefix(&self.stem)
                .and_then(|r| r.strip_prefix('_'))
            && let Some(secs) = parse_stamp(st)
        {
            return Some(Segment {
                key: SegmentKey {
                    seal_secs: secs,
                    rank: 0,
                },
                kind,
                number: None,
                name: name.to_owned(),
                path: self.dir.join(name),
            });
        }
        None
    }
}

/// The file name of the sidecar index of the archive named `archive`
/// (any `.jsonl.gz` file, in a store or not): `archive` + `.idx`.
pub fn index_name(archive: &str) -> String {
    format!("{archive}.idx")
}

/// The path of the sidecar index of the archive at `archive`.
pub fn index_path_of(archive: &Path) -> PathBuf {
    let mut s = archive.as_os_str().to_owned();
    s.push(".idx");
    PathBuf::from(s)
}

/// The archive name an index file name belongs to (`X.jsonl.gz.idx` →
/// `X.jsonl.gz`).
pub fn indexed_archive(name: &str) -> Option<&str> {
    name.strip_suffix(".idx")
        .filter(|a| a.ends_with(".jsonl.gz"))
}

/// The archive an index being written belongs to (`X.jsonl.gz.idx.tmp` →
/// `X.jsonl.gz`), by file name or by path; `None` for anything else.
pub fn index_temp_archive(name: &str) -> Option<&str> {
    name.strip_suffix(".idx.tmp")
}

/// The stem of the store a segment file name belongs to, whatever store
/// it is (`audit-20261127T052116Z-000042.jsonl.gz` → `audit`,
/// `audit_20250101T120000Z.jsonl.gz` → `audit`); `None` for a name that
/// is not a segment's. Lets a reader of a directory group its files into
/// stores and apply each store's order and de-duplication.
pub fn segment_stem(name: &str) -> Option<&str> {
    let base = name
        .strip_suffix(".jsonl.gz.tmp")
        .or_else(|| name.strip_suffix(".jsonl.gz"))
        .or_else(|| name.strip_suffix(".jsonl"))?;
    let ours = base
        .rsplit_once('-')
        .and_then(|(rest, _)| rest.rsplit_once('-'))
        .map(|(stem, _)| stem);
    let python = base.rsplit_once('_').map(|(stem, _)| stem);
    [ours, python].into_iter().flatten().find(|stem| {
        !stem.is_empty()
            && Layout::new(format!("{stem}.jsonl")).is_ok_and(|l| l.parse_segment(name).is_some())
    })
}

/// The name without `.gz` / `.gz.tmp`: the sealed `.jsonl` name.
fn base_name(seg: &Segment) -> &str {
    seg.name
        .strip_suffix(".gz.tmp")
        .or_else(|| seg.name.strip_suffix(".gz"))
        .unwrap_or(&seg.name)
}

/// `YYYYMMDDTHHMMSSZ` for whole seconds since the epoch.
pub fn stamp(secs: i64) -> String {
    let t = Timestamp::from_unix(secs, 0).unwrap_or(Timestamp::MIN);
    let (y, mo, d, h, mi, s) = t.civil();
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub fn parse_stamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    );
    Timestamp::parse(&text).ok().map(Timestamp::unix_secs)
}

// Names a reader of files outside a store's listing recognises (the
// scanner's inputs: files, directories and globs named by the user).

/// The live file name of the store whose stem is `stem` (`audit` →
/// `audit.jsonl`): the name a [`Layout`] is made from when only a
/// segment's name ([`segment_stem`]) is known.
pub fn live_name_of_stem(stem: &str) -> String {
    format!("{stem}.jsonl")
}

/// Whether a file name is a log's: a `.jsonl` (a live or sealed segment,
/// or any JSONL file) or a `.jsonl.gz` (an archive).
pub fn is_log_name(name: &str) -> bool {
    name.ends_with(".jsonl") || name.ends_with(".jsonl.gz")
}

/// Whether a file named as input is read as gzip: its name ends in `.gz`.
pub fn is_gzip_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout::new("/d/audit.jsonl").unwrap()
    }

    #[test]
    fn names_round_trip() {
        let l = layout();
        let secs = parse_stamp("20261127T052116Z").unwrap();
        assert_eq!(stamp(secs), "20261127T052116Z");
        assert_eq!(
            l.sealed_name(secs, 42),
            "audit-20261127T052116Z-000042.jsonl"
        );
        let s = l
            .parse_segment("audit-20261127T052116Z-000042.jsonl.gz")
            .unwrap();
        assert_eq!(
            (s.kind, s.number, s.key.seal_secs),
            (SegmentKind::Archive, Some(42), secs)
        );
        assert_eq!(
            l.sealed_path(&s),
            PathBuf::from("/d/audit-20261127T052116Z-000042.jsonl")
        );
        assert_eq!(
            l.temp_path(&s),
            PathBuf::from("/d/audit-20261127T052116Z-000042.jsonl.gz.tmp")
        );
        assert_eq!(l.lock(), PathBuf::from("/d/audit.lock"));
        let p = l.parse_segment("audit_20250101T120000Z.jsonl.gz").unwrap();
        assert_eq!((p.number, p.key.rank), (None, 0));
        for bad in [
            "audit.jsonl",
            "audit-2026-000001.jsonl",
            "audit-20261127T052116Z-42.jsonl",
            "other-20261127T052116Z-000042.jsonl",
            "audit_20250101T120000Z.jsonl",
            "audit-20261327T052116Z-000001.jsonl",
            "audit.jsonl.torn-20261127T052116Z-000001",
        ] {
            assert_eq!(l.parse_segment(bad), None, "{bad}");
        }
    }

    #[test]
    fn classify_orders_and_deduplicates() {
        let l = layout();
        let names = [
            "audit.jsonl",
            "audit-20261127T052117Z-000003.jsonl.gz.tmp",
            "audit-20261127T052117Z-000003.jsonl",
            "audit-20261127T052116Z-000002.jsonl.gz",
            "audit-20261127T052116Z-000002.jsonl",
            "audit-20261127T052116Z-000001.jsonl.gz",
            "audit_20261127T052116Z.jsonl.gz",
            "audit_20250101T000000Z.jsonl.gz",
            "audit.lock",
            "audit.jsonl.torn-20261127T052116Z-000001",
            "notes.txt",
        ]
        .map(String::from);
        let listing = l.classify(names);
        assert!(listing.live_exists);
        let readable: Vec<&str> = listing.readable.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            readable,
            [
                "audit_20250101T000000Z.jsonl.gz",
                "audit_20261127T052116Z.jsonl.gz",
                "audit-20261127T052116Z-000001.jsonl.gz",
                "audit-20261127T052116Z-000002.jsonl",
                "audit-20261127T052117Z-000003.jsonl",
            ]
        );
        assert_eq!(listing.all.len(), 7);
        assert_eq!(listing.max_number(), Some(3));
        assert_eq!(listing.quarantine.len(), 1);
        assert_eq!(listing.archives().count(), 3);
    }

    #[test]
    fn indexes_and_stems() {
        let l = layout();
        let names = [
            "audit.jsonl",
            "audit-20261127T052116Z-000001.jsonl.gz",
            "audit-20261127T052116Z-000001.jsonl.gz.idx",
            "audit-20261127T052117Z-000002.jsonl.gz",
            "audit-20261127T052117Z-000002.jsonl.gz.idx.tmp",
            "audit-20261127T052118Z-000003.jsonl.gz.idx",
            "audit_20250101T000000Z.jsonl.gz.idx",
            "other.jsonl.gz.idx",
        ]
        .map(String::from);
        let listing = l.classify(names);
        assert_eq!(listing.indexed, ["audit-20261127T052116Z-000001.jsonl.gz"]);
        assert!(listing.has_index(&listing.readable[0]));
        assert!(!listing.has_index(&listing.readable[1]));
        assert_eq!(
            listing.stray_indexes,
            [
                PathBuf::from("/d/audit-20261127T052117Z-000002.jsonl.gz.idx.tmp"),
                PathBuf::from("/d/audit-20261127T052118Z-000003.jsonl.gz.idx"),
                PathBuf::from("/d/audit_20250101T000000Z.jsonl.gz.idx"),
            ]
        );
        assert_eq!(
            l.index_path(&listing.readable[0]),
            PathBuf::from("/d/audit-20261127T052116Z-000001.jsonl.gz.idx")
        );
        assert_eq!(
            index_path_of(Path::new("/x/a.jsonl.gz")),
            PathBuf::from("/x/a.jsonl.gz.idx")
        );
        assert_eq!(indexed_archive("a.jsonl.gz.idx"), Some("a.jsonl.gz"));
        assert_eq!(indexed_archive("a.jsonl.idx"), None);
        assert_eq!(
            index_temp_archive("/d/a.jsonl.gz.idx.tmp"),
            Some("/d/a.jsonl.gz")
        );
        assert_eq!(index_temp_archive("a.jsonl.gz.idx"), None);
        for (name, stem) in [
            ("audit-20261127T052116Z-000001.jsonl.gz", Some("audit")),
            ("my-log-20261127T052116Z-000001.jsonl", Some("my-log")),
            (
                "audit_x-20261127T052116Z-000001.jsonl.gz.tmp",
                Some("audit_x"),
            ),
            ("audit_20250101T000000Z.jsonl.gz", Some("audit")),
            ("audit_20250101T000000Z.jsonl", None),
            ("audit.jsonl", None),
            ("-20261127T052116Z-000001.jsonl", None),
            ("notes-2026-01.jsonl", None),
        ] {
            assert_eq!(segment_stem(name), stem, "{name}");
        }
    }

    #[test]
    fn layout_of_odd_paths() {
        let l = Layout::new("audit.jsonl").unwrap();
        assert_eq!(l.dir(), Path::new("."));
        let l = Layout::new("/x/log").unwrap();
        assert_eq!(l.lock(), PathBuf::from("/x/log.lock"));
        assert!(Layout::new("/").is_err());
        assert!(Layout::new("/x/..").is_err());
    }
}
