//! What a scan reads: a store (through store-file's snapshot, so its
//! layout, order and de-duplication rule are the store's own), or any list
//! of files, directories and globs of `.jsonl` / `.jsonl.gz` files.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use scout_audit_core::Timestamp;
use scout_audit_store_file::fs::{Fs, ReadFile, RealFs};
use scout_audit_store_file::layout::{self, Layout, Segment, SegmentKind};
use scout_audit_store_file::reader::Snapshot;
use scout_audit_store_file::seal::Vouches;

use crate::error::{Error, Result};

/// How a source is read.
pub(crate) enum Kind {
    /// A plain file nobody truncates: memory-mapped and split.
    Mapped,
    /// A plain file read through a buffer (a live file, or mapping is off).
    Buffered,
    /// A store's live file, opened when its snapshot was taken.
    Live(Box<dyn ReadFile>),
    /// A gzip file (any number of members).
    Gzip,
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Mapped => "Mapped",
            Kind::Buffered => "Buffered",
            Kind::Live(_) => "Live",
            Kind::Gzip => "Gzip",
        })
    }
}

/// One input file, in log order.
#[derive(Debug)]
pub(crate) struct Source {
    pub path: PathBuf,
    pub kind: Kind,
    /// The seal time in its segment name: its records were logged before
    /// the end of that second (the fallback of pruning, docs/scan.md).
    pub seal: Option<Timestamp>,
    /// Its sidecar index file, when one is beside it.
    pub index: Option<PathBuf>,
    /// For a store's sealed `.jsonl`: its archive, read instead if the
    /// sealed file was compressed after the listing.
    pub archive_instead: Option<PathBuf>,
    /// The index digests its store's seals vouch for, when its store is
    /// sealed: then its index is used only if vouched for. `None`: not a
    /// sealed store's archive, its index is used when valid.
    pub vouches: Option<Arc<Vouches>>,
    /// Size on disk when listed (for progress), 0 if unknown.
    pub size: u64,
    /// Whether a store's listing named it (not the user): opened as the
    /// store opens its names, never through a symbolic link
    /// (`fs::open_regular`); a user's input is opened following links
    /// (`fs::open_input`).
    pub store_name: bool,
}

/// The inputs of a scan, in log order. Build with [`Inputs::store`] or
/// [`Inputs::paths`].
#[derive(Debug)]
pub struct Inputs {
    pub(crate) sources: Vec<Source>,
}

fn size_of(p: &Path) -> u64 {
    RealFs.stat(p).map(|m| m.len).unwrap_or(0)
}

/// The seal time pruning may trust: only the Python original's archives'.
/// Its writer stamped every record with the time of writing, before the
/// archive's name was made; our writers accept explicit timestamps
/// (another machine's clock, an import), so a segment of ours may hold
/// records later than its seal. Our archives are pruned exactly by their
/// index (the store writes one for every archive, and recovery rebuilds a
/// missing one); without it they are read.
fn seal_of(seg: &Segment) -> Option<Timestamp> {
    seg.number.is_none().then(|| seg.seal_time())
}

impl Inputs {
    /// The store whose live file is `path`: its archives and sealed
    /// segments in the layout's order (one of a sealed `.jsonl` and its
    /// `.gz`), then the live file, listed and opened under the store's
    /// shared lock. Reading never writes into the store.
    pub fn store(path: impl AsRef<Path>) -> Result<Inputs> {
        let path = path.as_ref();
        let layout = Layout::new(path).map_err(|reason| Error::Input {
            path: path.to_path_buf(),
            reason,
        })?;
        let snap = Snapshot::take(&RealFs, &layout)?;
        Inputs::from_snapshot(&layout, snap)
    }

    /// The store of `layout` as `snap` lists it (see [`Inputs::store`]):
    /// for a caller that took the snapshot itself, such as a follower
    /// that keeps the live file and leaves the sealed segments to the
    /// scanner (`Follow::start_live`).
    pub fn from_snapshot(layout: &Layout, snap: Snapshot) -> Result<Inputs> {
        let listing = snap.listing;
        // Read once a query, only when the store has an index to trust.
        let vouches = listing
            .archives()
            .any(|a| listing.has_index(a))
            .then(|| Vouches::load(&RealFs, layout).map(Arc::new))
            .flatten();
        let mut sources = Vec::with_capacity(snap.sources.len());
        for mut src in snap.sources {
            if let Some(live) = src.take_live() {
                sources.push(Source {
                    size: size_of(&src.path),
                    path: src.path,
                    kind: Kind::Live(live),
                    seal: None,
                    index: None,
                    archive_instead: None,
                    vouches: None,
                    store_name: true,
                });
                continue;
            }
            let Some(seg) = src.segment else { continue };
            // The scanner opens segments by name: one that is a link (or
            // not a regular file) is refused, never read through.
            if let Ok(m) = RealFs.lstat(&seg.path)
                && !m.is_file
            {
                return Err(Error::Input {
                    path: seg.path.clone(),
                    reason: scout_audit_store_file::fs::describe_not_regular(&seg.path)
                        .unwrap_or_else(|| "is not a regular file".to_owned()),
                });
            }
            let (kind, index, instead) = match seg.kind {
                SegmentKind::Archive => (
                    Kind::Gzip,
                    listing.has_index(&seg).then(|| layout.index_path(&seg)),
                    None,
                ),
                _ => (Kind::Mapped, None, Some(layout.archive_path(&seg))),
            };
            sources.push(Source {
                size: size_of(&seg.path),
                path: seg.path.clone(),
                kind,
                seal: seal_of(&seg),
                index,
                archive_instead: instead,
                vouches: vouches.clone(),
                store_name: true,
            });
        }
        Ok(Inputs { sources })
    }

    /// Files, directories and globs (`*`, `?`, `[…]`), each expanded in
    /// turn and read in that order; a path named twice is read once.
    ///
    /// A directory, or the files a glob matches in one directory, are
    /// grouped by store: a live file `X.jsonl` with the segments named
    /// after it are ordered and de-duplicated by the store's layout (a
    /// sealed `.jsonl` and its `.gz` are read once); other `.jsonl` and
    /// `.jsonl.gz` files follow their name order. Files named explicitly
    /// are read whatever their name (`.gz` as gzip).
    pub fn paths<P: AsRef<Path>>(args: impl IntoIterator<Item = P>) -> Result<Inputs> {
        let mut sources = Vec::new();
        let mut seen = HashSet::new();
        let mut vouches = VouchCache::new();
        for a in args {
            let a = a.as_ref();
            let text = a.to_string_lossy();
            if a.is_dir() {
                let names = list_dir(a)?;
                push_group(a, names, &mut sources, &mut seen, &mut vouches);
            } else if a.exists() {
                push_file(a, &mut sources, &mut seen, &mut vouches);
            } else if text.contains(['*', '?', '[']) {
                let matches = glob::glob(&text).map_err(|e| Error::Input {
                    path: a.to_path_buf(),
                    reason: format!("bad pattern: {e}"),
                })?;
                let mut by_dir: Vec<(PathBuf, Vec<String>)> = Vec::new();
                let mut any = false;
                for m in matches.flatten() {
                    any = true;
                    if m.is_dir() {
                        let names = list_dir(&m)?;
                        push_group(&m, names, &mut sources, &mut seen, &mut vouches);
                        continue;
                    }
                    let dir = m.parent().map(Path::to_path_buf).unwrap_or_default();
                    let Some(name) = m.file_name().and_then(|n| n.to_str()) else {
                        continue;
                    };
                    match by_dir.iter_mut().find(|(d, _)| *d == dir) {
                        Some((_, v)) => v.push(name.to_owned()),
                        None => by_dir.push((dir, vec![name.to_owned()])),
                    }
                }
                if !any {
                    return Err(Error::Input {
                        path: a.to_path_buf(),
                        reason: "no file matches".into(),
                    });
                }
                for (dir, names) in by_dir {
                    let dir = if dir.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        dir
                    };
                    push_group(&dir, names, &mut sources, &mut seen, &mut vouches);
                }
            } else {
                return Err(Error::Input {
                    path: a.to_path_buf(),
                    reason: "no such file or directory".into(),
                });
            }
        }
        Ok(Inputs { sources })
    }

    /// The files to read, in order.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.sources.iter().map(|s| s.path.as_path())
    }

    /// One `Inputs` per source, in order: for work that handles sources
    /// independently (each keeps what the listing opened or knows, such as
    /// the live file's descriptor and a sealed file's archive).
    pub fn split(self) -> Vec<Inputs> {
        self.sources
            .into_iter()
            .map(|s| Inputs { sources: vec![s] })
            .collect()
    }

    /// Total size on disk of the inputs (compressed size for archives).
    pub fn total_bytes(&self) -> u64 {
        self.sources.iter().map(|s| s.size).sum()
    }
}

fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::Io {
        op: "list",
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut names = Vec::new();
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink())
            && let Some(n) = e.file_name().to_str()
        {
            names.push(n.to_owned());
        }
    }
    Ok(names)
}

/// Whether `path` is a store's live file: a lock file named after it is
/// beside it (writers may append to it and recovery may truncate it).
fn looks_live(path: &Path) -> bool {
    Layout::new(path).is_ok_and(|l| l.lock().exists())
}

/// The vouches of each sealed store met, by its live file's path: its
/// seal log is read once, whatever the number of its archives named.
type VouchCache = HashMap<PathBuf, Option<Arc<Vouches>>>;

/// One explicitly named file.
fn push_file(
    path: &Path,
    out: &mut Vec<Source>,
    seen: &mut HashSet<PathBuf>,
    vouches: &mut VouchCache,
) {
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if !seen.insert(key) {
        return;
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let gzip = layout::is_gzip_path(path);
    let store = layout::segment_stem(name).and_then(|stem| {
        let dir = path.parent().unwrap_or(Path::new("."));
        Layout::new(dir.join(layout::live_name_of_stem(stem))).ok()
    });
    let seg = store.as_ref().and_then(|l| l.parse_segment(name));
    let index = gzip
        .then(|| layout::index_path_of(path))
        .filter(|p| p.exists());
    // A sealed store's archive: its index only if a seal vouched for it.
    let vouched = match (&index, &store) {
        (Some(_), Some(l)) => vouches
            .entry(l.live())
            .or_insert_with(|| Vouches::load(&RealFs, l).map(Arc::new))
            .clone(),
        _ => None,
    };
    let kind = if gzip {
        Kind::Gzip
    } else if looks_live(path) {
        Kind::Buffered
    } else {
        Kind::Mapped
    };
    out.push(Source {
        size: size_of(path),
        path: path.to_path_buf(),
        kind,
        seal: seg.as_ref().and_then(seal_of),
        index,
        archive_instead: None,
        vouches: vouched,
        store_name: false,
    });
}

/// The files of one store, or one file of none, among a directory's.
struct Group {
    /// What groups sort by: the store's live file name, or the file's.
    key: String,
    /// Its files, in the order they are read.
    files: Vec<PathBuf>,
}

/// The log files among `names` in `dir`, grouped by store (module docs).
fn push_group(
    dir: &Path,
    names: Vec<String>,
    out: &mut Vec<Source>,
    seen: &mut HashSet<PathBuf>,
    vouches: &mut VouchCache,
) {
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| layout::is_log_name(n))
        .collect();
    let mut groups: Vec<Group> = Vec::new();
    let mut stems: Vec<&str> = names
        .iter()
        .filter_map(|n| layout::segment_stem(n))
        .collect();
    stems.sort_unstable();
    stems.dedup();
    let mut claimed: HashSet<&str> = HashSet::new();
    for stem in &stems {
        let live_name = layout::live_name_of_stem(stem);
        let Ok(l) = Layout::new(dir.join(&live_name)) else {
            continue;
        };
        let listing = l.classify(names.iter().cloned());
        let mut files: Vec<PathBuf> = listing.readable.iter().map(|s| s.path.clone()).collect();
        for s in &listing.all {
            if let Some(n) = names.iter().find(|n| **n == s.name) {
                claimed.insert(n.as_str());
            }
        }
        if let Some(n) = names.iter().find(|n| **n == live_name) {
            claimed.insert(n.as_str());
            files.push(l.live());
        }
        groups.push(Group {
            key: live_name,
            files,
        });
    }
    for n in &names {
        if !claimed.contains(n.as_str()) {
            groups.push(Group {
                key: n.clone(),
                files: vec![dir.join(n)],
            });
        }
    }
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    for g in groups {
        for f in g.files {
            push_file(&f, out, seen, vouches);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(i: &Inputs, dir: &Path) -> Vec<String> {
        i.files()
            .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn directories_and_globs_are_grouped_by_store() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        for n in [
            "audit.jsonl",
            "audit-20261127T052116Z-000002.jsonl",
            "audit-20261127T052116Z-000002.jsonl.gz",
            "audit-20261127T052116Z-000001.jsonl.gz",
            "audit-20261127T052116Z-000001.jsonl.gz.idx",
            "audit_20250101T000000Z.jsonl.gz",
            "a-notes.jsonl",
            "zz.jsonl.gz",
            "readme.txt",
        ] {
            std::fs::write(dir.join(n), b"").unwrap();
        }
        let i = Inputs::paths([dir]).unwrap();
        assert_eq!(
            names(&i, dir),
            [
                "a-notes.jsonl",
                "audit_20250101T000000Z.jsonl.gz",
                "audit-20261127T052116Z-000001.jsonl.gz",
                "audit-20261127T052116Z-000002.jsonl",
                "audit.jsonl",
                "zz.jsonl.gz",
            ]
        );
        let s = &i.sources[2];
        assert!(matches!(s.kind, Kind::Gzip));
        assert!(s.index.is_some());
        // Ours are pruned by their index, never by their name.
        assert_eq!(s.seal, None);
        assert_eq!(
            i.sources[1].seal,
            Timestamp::parse("2025-01-01T00:00:00Z").ok()
        );
        assert!(matches!(i.sources[3].kind, Kind::Mapped));
        // No lock beside audit.jsonl: mapped; with one, read through a buffer.
        assert!(matches!(i.sources[4].kind, Kind::Mapped));
        std::fs::write(dir.join("audit.lock"), b"").unwrap();
        let i = Inputs::paths([dir.join("audit*.jsonl"), dir.join("audit.jsonl")]).unwrap();
        assert_eq!(
            names(&i, dir),
            ["audit-20261127T052116Z-000002.jsonl", "audit.jsonl"]
        );
        assert!(matches!(i.sources[1].kind, Kind::Buffered));
        assert!(Inputs::paths([dir.join("nope*.jsonl")]).is_err());
        assert!(Inputs::paths([dir.join("missing.jsonl")]).is_err());
    }
}
