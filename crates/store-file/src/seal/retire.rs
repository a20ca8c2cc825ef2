//! Retention on a sealed store: the signed `retire` entry, written before
//! retention deletes archives whose lines are all sealed, and its checks
//! by verify (decision 73).
//!
//! A retire says "the archives up to and including segment S, holding the
//! first L leaves, are gone by retention; here is the tree after them".
//! It is appended (and fsync'd) under the store's exclusive lock before
//! any of those archives is deleted, signed with the current epoch's key
//! like a seal. Its note is a checkpoint of size L whose extension lines
//! are `epoch N`, `retire S K` (K: archives retired in all), `time T`
//! and `place R` (its 1-based place among the log's retires, so a retire
//! removed from the middle of the log shows, as seals are numbered). Verify starts from the last retire's tree at leaf L and
//! expects the first remaining numbered segment to be S+1; archives up to
//! S that still exist (a crash between the entry and the deletion) are
//! skipped, and the next retention run deletes them.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scout_audit_seal::merkle::{Hash, Tree, leaf_hash};
use scout_audit_seal::note::{Checkpoint, Verifier, open, sign};
use serde::Deserialize;

use super::leaves::{End, MAX_LEAF_LINE, leaf_segments, open_segment};
use super::log::{Entry, Log, append_log, last_time, next_line, note_time, read_sealed_log};
use super::state::{State, evolve_if_due, read_state_for, settle_temp_state};
use super::torn::cut_torn;
use super::walk::Proven;
use super::{Retired, seal_err};
use crate::fs::Fs;
use crate::layout::{Layout, Segment};
use crate::lock::exclusively;
use crate::{Error, Result};

/// A `retire` line of the seal log.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct RetireEntry {
    /// The epoch whose key signed it.
    pub(super) epoch: u64,
    /// The signed note: a checkpoint of size `leaves`.
    pub(super) note: String,
    /// The last segment number retired.
    pub(super) segment: u64,
    /// Leaves in the retired archives and every one before them.
    pub(super) leaves: u64,
    /// The tree state after `leaves` leaves (base64 `Tree::encode`).
    pub(super) tree: String,
}

/// A retire as checked by verify: what it removed and the tree after it.
pub(super) struct ProvenRetire {
    /// What the report says of it.
    pub(super) retired: Retired,
    /// The tree state after the retired leaves.
    pub(super) tree: Tree,
}

/// Where verify starts: the tree after the last retire and the segment
/// after the last one retired, or an empty tree at the store's start.
pub(super) fn start(retire: Option<&ProvenRetire>) -> (Tree, End) {
    match retire {
        Some(r) => (
            r.tree.clone(),
            End {
                segment: r.retired.segment.saturating_add(1),
                offset: 0,
            },
        ),
        None => (
            Tree::new(),
            End {
                segment: 0,
                offset: 0,
            },
        ),
    }
}

/// What [`retire_now`] decided: the archives retention may now delete
/// (retired, by this run or an earlier one whose deletion did not
/// finish) and those it keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetirePlan {
    /// Archives covered by a retire entry, to delete, oldest first.
    pub delete: Vec<Segment>,
    /// Archives retention wanted gone but kept because some of their lines
    /// are not sealed yet; a retention run after the next seal retires them.
    pub unsealed: Vec<PathBuf>,
    /// Why archives retention wanted gone were kept though sealed: they do
    /// not match the seals (tampering or damage, for `verify --key` to
    /// locate), or a segment is missing before them.
    pub refused: Option<String>,
}

/// Whether the store is set up for sealing (its seal log exists, as any
/// kind of file: a link there is for the sealing code to refuse).
pub(crate) fn is_sealed(fs: &dyn Fs, layout: &Layout) -> bool {
    fs.lstat(&layout.seal_log()).is_ok()
}

/// Appends a signed `retire` entry for the longest run of `doomed`
/// archives (segment numbers retention wants gone) that follows the last
/// retire and is wholly sealed, under the store's exclusive lock. It
/// deletes nothing: the caller deletes [`RetirePlan::delete`]. The
/// newest numbered segment is never retired (it carries the numbering
/// of the segments after it). `now`: unix seconds, floored so that
/// signed times never go back.
pub fn retire_now(fs: &dyn Fs, layout: &Layout, doomed: &[u64], now: u64) -> Result<RetirePlan> {
    let lock_path = layout.lock();
    let lock = fs
        .open_lock(&lock_path, true)
        .map_err(|e| Error::io("open", &lock_path, e))?;
    exclusively(Some(&*lock), &lock_path, || {
        retire_locked(fs, layout, doomed, now)
    })
}

/// [`retire_now`] for a caller that holds the store's exclusive lock.
pub(crate) fn retire_locked(
    fs: &dyn Fs,
    layout: &Layout,
    doomed: &[u64],
    now: u64,
) -> Result<RetirePlan> {
    let log = read_sealed_log(fs, layout)?;
    if let Some(at) = log.torn_at {
        cut_torn(fs, layout, at)?;
    }
    settle_temp_state(fs, layout, &log)?;
    let mut state = read_state_for(fs, layout, &log.store)?;
    let last = last_retire(&log, &layout.seal_log())?;
    let mut plan = RetirePlan::default();
    let segments = leaf_segments(fs, layout)?;
    let newest = segments
        .iter()
        .filter(|(_, seg, _)| seg.is_some())
        .map(|(n, _, _)| *n)
        .max();
    let mut run = Vec::new();
    for (number, seg, _) in segments {
        let Some(seg) = seg else { continue };
        if number <= last.segment {
            if seg.is_gzip() {
                plan.delete.push(seg);
            }
        } else if doomed.contains(&number) && seg.is_gzip() && Some(number) != newest {
            run.push(seg);
        } else {
            break;
        }
    }
    let done = hash_run(fs, &log, &last, &run, &mut plan)?;
    let Some((tree, through)) = done else {
        return Ok(plan);
    };
    let archives = last.archives.saturating_add(through as u64 + 1);
    let number = run[through].number.unwrap_or(0);
    sign_retire(fs, layout, &log, &mut state, &tree, (number, archives), now)?;
    plan.delete.extend(run.into_iter().take(through + 1));
    Ok(plan)
}

/// The last retire of the log as written (unchecked: verify checks it),
/// or the start of the store.
struct LastRetire {
    segment: u64,
    archives: u64,
    tree: Tree,
    /// Whether there is one.
    any: bool,
}

fn last_retire(log: &Log, path: &std::path::Path) -> Result<LastRetire> {
    let Some(r) = log.entries.iter().rev().find_map(|e| match e {
        Entry::Retire(r) => Some(r),
        _ => None,
    }) else {
        return Ok(LastRetire {
            segment: 0,
            archives: 0,
            tree: Tree::new(),
            any: false,
        });
    };
    let tree = decode_tree(&r.tree).ok_or_else(|| seal_err(path, "the last retire's tree"))?;
    let archives = note_lines(&r.note)
        .find_map(|l| l.strip_prefix("retire "))
        .and_then(|l| l.split_once(' '))
        .and_then(|(_, k)| k.parse().ok())
        .ok_or_else(|| seal_err(path, "the last retire's note has no retire line"))?;
    Ok(LastRetire {
        segment: r.segment,
        archives,
        tree,
        any: true,
    })
}

/// Hashes the run of archives from the last retire's tree, checking the
/// root at every seal's size on the way. Returns the tree after the last
/// archive wholly sealed and matching, and its index in `run`; archives
/// after it go to the plan's `unsealed` or `refused`.
fn hash_run(
    fs: &dyn Fs,
    log: &Log,
    last: &LastRetire,
    run: &[Segment],
    plan: &mut RetirePlan,
) -> Result<Option<(Tree, usize)>> {
    let seals = seal_points(log);
    let sealed = seals.iter().map(|(size, _)| *size).max().unwrap_or(0);
    let (mut tree, mut done, mut buf) = (last.tree.clone(), None, Vec::new());
    for (i, seg) in run.iter().enumerate() {
        let expected = last.segment.saturating_add(1);
        if i == 0 && last.any && seg.number != Some(expected) {
            plan.refused = Some(format!(
                "segment {expected} is missing after the last retire; nothing more is retired"
            ));
            return Ok(done);
        }
        let mut r = open_segment(fs, Some(seg), &seg.path)?;
        let mut whole = true;
        while next_line(&mut r, &mut buf, MAX_LEAF_LINE, &seg.path)? {
            if buf.last() != Some(&b'\n') || tree.size() >= sealed {
                whole = false;
                break;
            }
            tree.push(leaf_hash(&buf[..buf.len() - 1]))
                .map_err(|e| seal_err(&seg.path, e.to_string()))?;
            if seals
                .iter()
                .any(|(size, root)| *size == tree.size() && *root != tree.root())
            {
                plan.refused = Some(format!(
                    "{} does not match the seal of size {}; it is kept",
                    seg.name,
                    tree.size()
                ));
                return Ok(done);
            }
        }
        if !whole {
            plan.unsealed
                .extend(run[i..].iter().map(|s| s.path.clone()));
            return Ok(done);
        }
        done = Some((tree.clone(), i));
    }
    Ok(done)
}

/// Every seal's size and root as logged (signatures are verify's to check).
fn seal_points(log: &Log) -> Vec<(u64, Hash)> {
    log.entries
        .iter()
        .filter_map(|e| match e {
            Entry::Seal(s) => decode_tree(&s.tree).map(|t| (t.size(), t.root())),
            _ => None,
        })
        .collect()
}

fn decode_tree(text: &str) -> Option<Tree> {
    STANDARD
        .decode(text)
        .ok()
        .and_then(|b| Tree::decode(&b).ok())
}

/// The text lines of a note (before its signatures), unchecked.
fn note_lines(note: &str) -> std::str::Lines<'_> {
    note.split_once("\n\n").map_or("", |(t, _)| t).lines()
}

/// The latest time signed in the log (seal or retire), unchecked.
fn last_signed_time(log: &Log) -> u64 {
    let retire = log
        .entries
        .iter()
        .rev()
        .find_map(|e| match e {
            Entry::Retire(r) => Some(r),
            _ => None,
        })
        .map_or(0, |r| note_time(&r.note));
    retire.max(last_time(log))
}

/// The retire's checkpoint text.
/// `place`: the retire's 1-based place among the log's retires.
fn retire_text(
    store: &str,
    tree: &Tree,
    epoch: u64,
    through: (u64, u64),
    now: u64,
    place: u64,
) -> String {
    Checkpoint {
        origin: format!("scout-audit/{store}"),
        size: tree.size(),
        root: tree.root(),
        extensions: vec![
            format!("epoch {epoch}"),
            format!("retire {} {}", through.0, through.1),
            format!("time {now}"),
            format!("place {place}"),
        ],
    }
    .to_text()
}

/// How many retires the log holds.
fn retires_in(log: &Log) -> u64 {
    log.entries
        .iter()
        .filter(|e| matches!(e, Entry::Retire(_)))
        .count() as u64
}

/// Signs and appends the retire (the key evolves first when its epoch is
/// over, as before a seal). `through`: the last segment retired and the
/// archives retired in all.
fn sign_retire(
    fs: &dyn Fs,
    layout: &Layout,
    log: &Log,
    state: &mut State,
    tree: &Tree,
    through: (u64, u64),
    now: u64,
) -> Result<()> {
    let now = now.max(last_signed_time(log)).max(state.chain.not_before());
    evolve_if_due(fs, layout, state, now)?;
    let epoch = state.chain.epoch();
    let place = retires_in(log).saturating_add(1);
    let text = retire_text(&state.store, tree, epoch, through, now, place);
    let note = sign(&text, &[state.chain.signer()])
        .map_err(|e| seal_err(&layout.seal_key(), e.to_string()))?;
    let line = serde_json::json!({
        "v": 1, "kind": "retire", "epoch": epoch, "note": note, "segment": through.0,
        "leaves": tree.size(), "tree": STANDARD.encode(tree.encode()),
    });
    append_log(fs, &layout.seal_log(), &line.to_string())
}

/// Where `seal_now` goes on from: after the last retired segment when the
/// last seal ended in or before it (the retired lines are all sealed, so
/// that seal ended at the retired segment's end).
pub(super) fn resume_after(retired: Option<u64>, end: End) -> End {
    match retired {
        Some(s) if s >= end.segment => End {
            segment: s.saturating_add(1),
            offset: 0,
        },
        _ => end,
    }
}

/// Checks every retire of the log: its signature with its epoch's key, its
/// checkpoint, that it does not go back, that it removes only lines
/// sealed before it, and that it agrees with every seal of its size.
/// Returns the last one.
pub(super) fn check_retires(
    log: &Log,
    keys: &[Verifier],
    seals: &[Proven],
) -> std::result::Result<Option<ProvenRetire>, String> {
    let (mut certified, mut seals_before, mut last): (u64, usize, Option<ProvenRetire>) =
        (0, 0, None);
    let mut place = 0u64;
    for entry in &log.entries {
        match entry {
            Entry::Cert { .. } => certified = certified.saturating_add(1),
            Entry::Seal(_) => seals_before = seals_before.saturating_add(1),
            Entry::Retire(r) => {
                if r.epoch != certified {
                    return Err(format!(
                        "a retire of epoch {} is out of order in the seal log",
                        r.epoch
                    ));
                }
                let before = seals_before.checked_sub(1).and_then(|i| seals.get(i));
                place = place.saturating_add(1);
                let p = check_one(log, keys, r, place)?;
                check_place(&p, last.as_ref(), before, seals)?;
                last = Some(p);
            }
            Entry::Init { .. } | Entry::Vouch(_) => {}
        }
    }
    Ok(last)
}

/// One retire's signature and checkpoint; `place`: its 1-based place
/// among the log's retires, which its note must carry.
fn check_one(
    log: &Log,
    keys: &[Verifier],
    r: &RetireEntry,
    place: u64,
) -> std::result::Result<ProvenRetire, String> {
    let bad = || {
        format!(
            "the retire of segment {} does not match its note",
            r.segment
        )
    };
    let key = usize::try_from(r.epoch)
        .ok()
        .and_then(|i| keys.get(i))
        .ok_or_else(|| {
            format!(
                "a retire of epoch {} comes before that epoch's certificate",
                r.epoch
            )
        })?;
    let opened = open(r.note.as_bytes(), std::slice::from_ref(key)).map_err(|e| {
        format!(
            "the retire of segment {} (epoch {}) does not verify: {e}",
            r.segment, r.epoch
        )
    })?;
    let cp = Checkpoint::parse(&opened.text).map_err(|e| e.to_string())?;
    let [epoch, retire, time, numbered] = cp.extensions.as_slice() else {
        return Err(bad());
    };
    let archives = retire
        .strip_prefix(&format!("retire {} ", r.segment))
        .and_then(|k| k.parse::<u64>().ok());
    let time = time
        .strip_prefix("time ")
        .and_then(|t| t.parse::<u64>().ok());
    let tree = decode_tree(&r.tree).filter(|t| t.size() == cp.size && t.root() == cp.root);
    let (Some(archives), Some(time), Some(tree)) = (archives, time, tree) else {
        return Err(bad());
    };
    if cp.origin != format!("scout-audit/{}", log.store)
        || *epoch != format!("epoch {}", r.epoch)
        || cp.size != r.leaves
    {
        return Err(bad());
    }
    if *numbered != format!("place {place}") {
        return Err(format!(
            "the retire of segment {} is not numbered {place}, its place among the seal log's \
             retires: a retire was removed or reordered",
            r.segment
        ));
    }
    Ok(ProvenRetire {
        retired: Retired {
            lines: r.leaves,
            archives,
            segment: r.segment,
            epoch: r.epoch,
            time,
        },
        tree,
    })
}

/// A retire against the retire and the seal before it, and every seal of
/// its size.
fn check_place(
    p: &ProvenRetire,
    prev: Option<&ProvenRetire>,
    seal_before: Option<&Proven>,
    seals: &[Proven],
) -> std::result::Result<(), String> {
    let r = &p.retired;
    if let Some(q) = prev.map(|q| &q.retired)
        && (r.segment <= q.segment
            || r.lines < q.lines
            || r.archives <= q.archives
            || r.time < q.time)
    {
        return Err(format!(
            "the retire of segment {} goes back from the retire of segment {}",
            r.segment, q.segment
        ));
    }
    let sealed = seal_before.map_or(0, |s| s.size);
    if r.lines > sealed || r.lines == 0 {
        return Err(format!(
            "the retire of segment {} removes {} lines, but only {sealed} were sealed before it",
            r.segment, r.lines
        ));
    }
    if seal_before.is_some_and(|s| r.time < s.time) {
        return Err(format!(
            "the retire of segment {} is older than the seal before it",
            r.segment
        ));
    }
    if seals
        .iter()
        .any(|s| s.size == r.lines && s.root != p.tree.root())
    {
        return Err(format!(
            "the retire of segment {} differs from the seal of size {}: a forked history",
            r.segment, r.lines
        ));
    }
    Ok(())
}
