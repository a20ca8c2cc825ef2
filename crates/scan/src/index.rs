//! `scout-audit index`: sidecar indexes for the archives of a store that
//! have no valid one (the Python original's, a store's written before
//! indexes existed, one of an older format, or one that does not match its
//! archive: edited, cut short, made from other bytes), built with the
//! scanner and written as the store writes them (store-file's
//! `index::write_index`: temporary file, fsync, rename under the store's
//! exclusive lock). A valid index whose recorded archive identity readers
//! cannot trust (version 3, a copied store, recorded within 2 s of the
//! archive's last change) is refreshed: rewritten with the identity now.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use scout_audit_core::Filter;
use scout_audit_store_file::fs::{Fs, LockFile, RealFs};
use scout_audit_store_file::index::{
    ArchiveStamp, INDEX_VERSION, IndexCheck, Summary, inspect_index, needs_refresh, write_index,
};
use scout_audit_store_file::layout::{self, Layout, Listing, Segment};
use scout_audit_store_file::options::SharedDir;

use crate::engine::{self, Ctx, Pruning};
use crate::error::{Error, Result};
use crate::fold::SummaryFold;
use crate::source::{Kind, Source};

/// What `build_indexes` did for one archive.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexOutcome {
    /// An index was written (there was none).
    Written(PathBuf),
    /// An index was written in place of one that could not be used.
    Rewritten {
        /// The archive.
        archive: PathBuf,
        /// Why the index it had could not be used (of an older format,
        /// edited, cut short, made from other bytes than the archive has).
        why: String,
    },
    /// It had a valid index already (its digest and its archive's match:
    /// `verify` compares what it says with the archive's records).
    Valid(PathBuf),
    /// Its index was valid, but the archive's identity it recorded was
    /// missing (format version 3), stale (a copy of the store) or racy
    /// (recorded within 2 s of the archive's last change), so readers
    /// hashed the archive on every use: rewritten with the identity now.
    Refreshed(PathBuf),
    /// It is damaged: no index, it is read whole.
    Damaged {
        /// The archive.
        archive: PathBuf,
        /// What is wrong with it (not gzip, truncated, ...).
        why: String,
    },
    /// It changed or vanished while being read: try again.
    Changed(PathBuf),
}

/// Writes an index for every archive of the store(s) at `path` (a store's
/// live file, or a directory: every store in it) that has no valid one,
/// replacing one that is not (docs/format.md, "Archive indexes"). A store
/// directory group or others can write is refused ([`build_indexes_with`]
/// to allow it).
pub fn build_indexes(path: &Path, threads: Option<usize>) -> Result<Vec<IndexOutcome>> {
    build_indexes_with(path, threads, SharedDir::Refuse, Rebuild::Stale)
}

/// Which indexes [`build_indexes_with`] writes again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rebuild {
    /// Those missing, of an older format, or not matching their archive's
    /// bytes (what a read can see).
    Stale,
    /// Every one, from its archive's records: an index forged with its
    /// digests recomputed matches its archive's bytes, and only reading
    /// the archive again (what `verify` does) shows it lies.
    All,
}

/// [`build_indexes`], saying whether a store directory that group or
/// others can write is accepted. Index files are written as the store
/// writes its own: never through a link, temporary files created
/// exclusively, mode 0600.
pub fn build_indexes_with(
    path: &Path,
    threads: Option<usize>,
    shared_dir: SharedDir,
    rebuild: Rebuild,
) -> Result<Vec<IndexOutcome>> {
    let mut out = Vec::new();
    let pool = engine::pool(threads)?;
    for live in stores(path)? {
        let layout = Layout::new(&live).map_err(|reason| Error::Input {
            path: live.clone(),
            reason,
        })?;
        if layout.dir().is_dir() {
            shared_dir.check(&RealFs, layout.dir())?;
        }
        out.extend(pool.install(|| index_store(&layout, rebuild))?);
    }
    Ok(out)
}

fn stores(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut stems: Vec<String> = RealFs
        .list_dir(path)
        .map_err(|e| Error::Io {
            op: "list",
            path: path.to_path_buf(),
            source: e,
        })?
        .iter()
        .filter_map(|name| layout::segment_stem(name).map(str::to_owned))
        .collect();
    stems.sort();
    stems.dedup();
    Ok(stems
        .into_iter()
        .map(|stem| path.join(layout::live_name_of_stem(&stem)))
        .collect())
}

/// Indexes the archives of one store, in parallel: lists them under the
/// store's shared lock, then each is [`Job::index_archive`]d.
fn index_store(layout: &Layout, rebuild: Rebuild) -> Result<Vec<IndexOutcome>> {
    let fs = RealFs;
    if !layout.dir().is_dir() {
        return Err(Error::Input {
            path: layout.live(),
            reason: "no store here: the directory does not exist".into(),
        });
    }
    let (lock, listing) = lock_and_list(&fs, layout)?;
    let archives: Vec<_> = listing.archives().cloned().collect();
    let filter = Filter::new();
    let proto = SummaryFold::default();
    let ctx = Ctx {
        filter: &filter,
        want: crate::fold::Fold::want(&proto),
        prefilter: None,
        proto: &proto,
        strict: false,
        pruning: Pruning::Off,
        progress: None,
    };
    let job = Job {
        fs: &fs,
        layout,
        listing: &listing,
        lock: &*lock,
        rebuild,
        ctx: &ctx,
    };
    archives
        .par_iter()
        .map(|seg| job.index_archive(seg))
        .collect()
}

/// Opens the store's lock file (writing indexes is writing into the
/// store: it may be made) and lists the store under the shared lock.
fn lock_and_list(fs: &RealFs, layout: &Layout) -> Result<(Arc<dyn LockFile>, Listing)> {
    let lock_path = layout.lock();
    let lock = fs.open_lock(&lock_path, true).map_err(|e| Error::Io {
        op: "open lock file",
        path: lock_path.clone(),
        source: e,
    })?;
    lock.lock_shared().map_err(|e| Error::Io {
        op: "lock",
        path: lock_path.clone(),
        source: e,
    })?;
    let listing = layout.list(fs);
    let _ = lock.unlock();
    let listing = listing.map_err(|e| Error::Io {
        op: "list",
        path: layout.dir().to_path_buf(),
        source: e,
    })?;
    Ok((lock, listing))
}

/// What indexing every archive of one store shares.
struct Job<'a> {
    fs: &'a RealFs,
    layout: &'a Layout,
    listing: &'a Listing,
    /// The store's lock file, taken exclusively by `write_index` for
    /// each rename.
    lock: &'a dyn LockFile,
    rebuild: Rebuild,
    ctx: &'a Ctx<'a, SummaryFold>,
}

/// What an archive's present index means for it.
enum Existing {
    /// Nothing more to do: this is the outcome.
    Done(IndexOutcome),
    /// Write an index from the archive's records, replacing the present
    /// one for this reason (`None`: there is none).
    Write(Option<String>),
}

impl Job<'_> {
    /// Writes the index of one archive if it needs one (see
    /// [`build_indexes`]).
    fn index_archive(&self, seg: &Segment) -> Result<IndexOutcome> {
        let replaced = match self.existing(seg)? {
            Existing::Done(outcome) => return Ok(outcome),
            Existing::Write(why) => why,
        };
        let Ok(stamp) = ArchiveStamp::read(self.fs, &seg.path) else {
            return Ok(IndexOutcome::Changed(seg.path.clone()));
        };
        let summary = match self.summarise(seg, stamp.len) {
            Ok(summary) => summary,
            Err(why) => {
                return Ok(IndexOutcome::Damaged {
                    archive: seg.path.clone(),
                    why,
                });
            }
        };
        let written = write_index(self.fs, self.layout, seg, stamp, summary, Some(self.lock))?;
        Ok(if written {
            match replaced {
                Some(why) => IndexOutcome::Rewritten {
                    archive: seg.path.clone(),
                    why,
                },
                None => IndexOutcome::Written(seg.path.clone()),
            }
        } else {
            IndexOutcome::Changed(seg.path.clone())
        })
    }

    /// Checks the archive's present index: valid (kept, or refreshed when
    /// readers cannot trust its recorded identity), or why it is replaced.
    fn existing(&self, seg: &Segment) -> Result<Existing> {
        if !self.listing.has_index(seg) {
            return Ok(Existing::Write(None));
        }
        let ins = inspect_index(self.fs, &seg.path, &self.layout.index_path(seg));
        let refresh = needs_refresh(self.fs, &seg.path, &ins);
        let why = match ins.check {
            IndexCheck::Valid(_) if self.rebuild == Rebuild::All => {
                "rebuilt from the archive's records (--rebuild)".to_owned()
            }
            IndexCheck::Valid(i) if refresh => {
                // Only the header changes: the summary is the archive's
                // (its SHA-256 was just checked).
                let i = *i;
                let written = write_index(
                    self.fs,
                    self.layout,
                    seg,
                    i.stamp,
                    i.summary,
                    Some(self.lock),
                )?;
                return Ok(Existing::Done(if written {
                    IndexOutcome::Refreshed(seg.path.clone())
                } else {
                    IndexOutcome::Changed(seg.path.clone())
                }));
            }
            IndexCheck::Valid(_) => {
                return Ok(Existing::Done(IndexOutcome::Valid(seg.path.clone())));
            }
            IndexCheck::Missing => return Ok(Existing::Write(None)),
            IndexCheck::OtherVersion(v) => {
                format!("its index was of format version {v}, not {INDEX_VERSION}")
            }
            IndexCheck::Mismatch(why) => format!("its index did not match it: {why}"),
            _ => "its index could not be used".to_owned(),
        };
        Ok(Existing::Write(Some(why)))
    }

    /// The summary of the archive's records, read with the scanner; why
    /// not when it is damaged or vanished.
    fn summarise(&self, seg: &Segment, size: u64) -> std::result::Result<Summary, String> {
        let src = Source {
            path: seg.path.clone(),
            kind: Kind::Gzip,
            seal: None,
            index: None,
            archive_instead: None,
            // Indexing reads the archive whole: no index is consulted.
            vouches: None,
            size,
            // Opened as `index` always opened archives: following a link
            // (the listing is the store's, taken under its lock).
            store_name: false,
        };
        let part = engine::fold_all(self.ctx, vec![src]);
        let r = &part.report.read;
        if r.damaged_segments > 0 || r.vanished > 0 {
            let why = r
                .problems
                .iter()
                .rev()
                .find(|p| p.line == 0)
                .map(ToString::to_string);
            return Err(why.unwrap_or_else(|| "damaged".into()));
        }
        let mut summary = part.fold.0;
        summary.bytes = r.bytes;
        summary.malformed = r.malformed;
        summary.torn_tails = r.torn_tails;
        summary.torn_fragments = r.torn_fragments;
        Ok(summary)
    }
}
