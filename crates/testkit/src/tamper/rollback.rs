//! Rollbacks and cut tails: tamperings `verify --key` alone cannot see
//! (decision 74), drawn against a checkpoint kept elsewhere, as
//! `verify --key KEY --checkpoint FILE` checks them.

use super::attack::{Applied, Expect, Target};
use super::base::{copy_store, gzip, io, write_records};
use super::log_edit::LogLines;
use crate::rng::Rng;

/// The store copied back from the copy taken after an earlier seal than
/// the checkpoint kept elsewhere; half the time records are written after
/// it, past the checkpoint's size (a forked history).
pub(super) fn rollback(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let b = t.base;
    let n = b.checkpoints.len() as u64;
    let c = rng.range(1, n - 1) as usize;
    let s = rng.below(c as u64) as usize;
    let snap = b.snapshots.get(s).ok_or("no snapshot")?;
    copy_store(snap, t.dir())?;
    let (size, old) = (b.seals[c].size, b.seals[s].size);
    let (expect, what) = if rng.chance(0.5) {
        (
            format!("the store is shorter than the checkpoint of size {size}: rolled back or cut"),
            format!(
                "copied back the store as it was at size {old}, kept a checkpoint of size {size}"
            ),
        )
    } else {
        let more = size - old + rng.below(5);
        write_records(&t.layout.live(), rng, more)?;
        (
            format!(
                "the store's first {size} leaves do not match the checkpoint: a forked history"
            ),
            format!(
                "copied back the store as it was at size {old} and wrote {more} records, \
                 kept a checkpoint of size {size}"
            ),
        )
    };
    Ok(anchored(t, c, expect, what))
}

/// The seal log cut back to an earlier seal (certificates, vouches and
/// seals after it removed); half the time the lines after that seal are
/// cut too (later archives and their indexes deleted, the seal's segment
/// cut at its end). The checkpoint kept elsewhere is the last seal's.
pub(super) fn tail_cut(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let b = t.base;
    let n = b.seals.len();
    let k = rng.below(n as u64 - 1) as usize;
    let mut log = LogLines::read(&t.layout)?;
    let at = *log
        .of_kind("seal")
        .get(k)
        .ok_or("fewer seal lines than seals")?;
    let cert_cut = log.of_kind("cert").iter().any(|&i| i > at);
    log.text.truncate(at + 1);
    log.write(&t.layout)?;
    let (size, kept) = (b.seals[n - 1].size, b.seals[k].size);
    let cut_lines = rng.chance(0.5);
    if cut_lines {
        cut_after(t, k)?;
    }
    let expect = if cut_lines {
        format!("the store is shorter than the checkpoint of size {size}: rolled back or cut")
    } else {
        format!(
            "the seal log's last seal is of size {kept}, before the checkpoint of size {size}: \
             seals were cut or rolled back"
        )
    };
    let what = format!(
        "cut the seal log after the seal of size {kept}{}{}, kept a checkpoint of size {size}",
        if cert_cut {
            " (a certificate with it)"
        } else {
            ""
        },
        if cut_lines {
            " and the lines after it"
        } else {
            ""
        },
    );
    Ok(anchored(t, n - 1, expect, what))
}

/// Removes every line after seal `k`: later archives (and indexes)
/// deleted, the seal's segment cut at its end (an archive recompressed
/// without its index), the live file emptied when it comes after.
fn cut_after(t: &Target<'_>, k: usize) -> Result<(), String> {
    let end = t.base.seals[k];
    let mut m = t.base.model.clone();
    for i in 0..m.segs.len() {
        let seg = &m.segs[i];
        let path = t.dir().join(&seg.name);
        if seg.gz && seg.number > end.segment {
            std::fs::remove_file(&path).map_err(io("remove", &path))?;
            remove_index(t, &seg.name)?;
        } else if seg.number >= end.segment {
            let keep = if seg.number == end.segment {
                usize::try_from(end.offset).map_err(|e| e.to_string())?
            } else {
                0
            };
            let bytes = m.segs[i].bytes[..keep].to_vec();
            m.segs[i].bytes = bytes;
            if m.segs[i].gz {
                let gz = gzip(&m.segs[i].bytes).map_err(io("gzip", &path))?;
                std::fs::write(&path, gz).map_err(io("write", &path))?;
                remove_index(t, &m.segs[i].name)?;
            } else {
                t.write_seg(&m, i)?;
            }
        }
    }
    Ok(())
}

fn remove_index(t: &Target<'_>, archive: &str) -> Result<(), String> {
    let seg = t
        .layout
        .parse_segment(archive)
        .ok_or("an archive name the layout refuses")?;
    let path = t.layout.index_path(&seg);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &path)(e)),
        _ => Ok(()),
    }
}

fn anchored(t: &Target<'_>, c: usize, expect: String, what: String) -> Applied {
    let mut a = t.unlocated(Expect::Anchor(expect), what);
    a.checkpoints = vec![t.base.checkpoints[c].clone()];
    a
}
