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

use rayon::prelude::*;
use scout_audit_core::Filter;
use scout_audit_store_file::fs::{Fs, RealFs};
use scout_audit_store_file::index::{
    ArchiveStamp, INDEX_VERSION, IndexCheck, inspect_index, needs_refresh, write_index,
};
use scout_audit_store_file::layout::{self, Layout};
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
    /// An index was written in place of one that could not be used, and
    /// why that one could not (of an older format, edited, cut short, made
    /// from other bytes than the archive has).
    Rewritten(PathBuf, String),
    /// It had a valid index already (its digest and its archive's match:
    /// `verify` compares what it says with the archive's records).
    Valid(PathBuf),
    /// Its index was valid, but the archive's identity it recorded was
    /// missing (format version 3), stale (a copy of the store) or racy
    /// (recorded within 2 s of the archive's last change), so readers
    /// hashed the archive on every use: rewritten with the identity now.
    Refreshed(PathBuf),
    /// It is damaged (not gzip, truncated, ...): no index, it is read whole.
    Damaged(PathBuf, String),
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
    let mut stems: Vec<String> = std::fs::read_dir(path)
        .map_err(|e| Error::Io {
            op: "list",
            path: path.to_path_buf(),
            source: e,
        })?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(layout::segment_stem)
                .map(str::to_owned)
        })
        .collect();
    stems.sort();
    stems.dedup();
    Ok(stems
        .into_iter()
        .map(|stem| path.join(layout::live_name_of_stem(&stem)))
        .collect())
}

fn index_store(layout: &Layout, rebuild: Rebuild) -> Result<Vec<IndexOutcome>> {
    let fs = RealFs;
    let lock_path = layout.lock();
    if !layout.dir().is_dir() {
        return Err(Error::Input {
            path: layout.live(),
            reason: "no store here: the directory does not exist".into(),
        });
    }
    // Writing indexes is writing into the store: its lock file may be made.
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
    let listing = layout.list(&fs);
    let _ = lock.unlock();
    let listing = listing.map_err(|e| Error::Io {
        op: "list",
        path: layout.dir().to_path_buf(),
        source: e,
    })?;
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
    archives
        .par_iter()
        .map(|seg| {
            let idx = layout.index_path(seg);
            let replaced = if listing.has_index(seg) {
                let ins = inspect_index(&fs, &seg.path, &idx);
                let refresh = needs_refresh(&fs, &seg.path, &ins);
                match ins.check {
                    IndexCheck::Valid(_) if rebuild == Rebuild::All => {
                        Some("rebuilt from the archive's records (--rebuild)".to_owned())
                    }
                    IndexCheck::Valid(i) if refresh => {
                        // Only the header changes: the summary is the
                        // archive's (its SHA-256 was just checked).
                        let i = *i;
                        let written =
                            write_index(&fs, layout, seg, i.stamp, i.summary, Some(&*lock))?;
                        return Ok(if written {
                            IndexOutcome::Refreshed(seg.path.clone())
                        } else {
                            IndexOutcome::Changed(seg.path.clone())
                        });
                    }
                    IndexCheck::Valid(_) => return Ok(IndexOutcome::Valid(seg.path.clone())),
                    IndexCheck::Missing => None,
                    IndexCheck::OtherVersion(v) => Some(format!(
                        "its index was of format version {v}, not {INDEX_VERSION}"
                    )),
                    IndexCheck::Mismatch(why) => Some(format!("its index did not match it: {why}")),
                    _ => Some("its index could not be used".to_owned()),
                }
            } else {
                None
            };
            let Ok(stamp) = ArchiveStamp::read(&fs, &seg.path) else {
                return Ok(IndexOutcome::Changed(seg.path.clone()));
            };
            let src = Source {
                path: seg.path.clone(),
                kind: Kind::Gzip,
                seal: None,
                index: None,
                archive_instead: None,
                size: stamp.len,
            };
            let part = engine::fold_all(&ctx, vec![src]);
            let r = &part.report.read;
            if r.damaged_segments > 0 || r.vanished > 0 {
                let why = r
                    .problems
                    .iter()
                    .rev()
                    .find(|p| p.line == 0)
                    .map(ToString::to_string);
                return Ok(IndexOutcome::Damaged(
                    seg.path.clone(),
                    why.unwrap_or_else(|| "damaged".into()),
                ));
            }
            let mut summary = part.fold.0;
            summary.bytes = r.bytes;
            summary.malformed = r.malformed;
            summary.torn_tails = r.torn_tails;
            summary.torn_fragments = r.torn_fragments;
            let written = write_index(&fs, layout, seg, stamp, summary, Some(&*lock))?;
            Ok(if written {
                match replaced {
                    Some(why) => IndexOutcome::Rewritten(seg.path.clone(), why),
                    None => IndexOutcome::Written(seg.path.clone()),
                }
            } else {
                IndexOutcome::Changed(seg.path.clone())
            })
        })
        .collect()
}
