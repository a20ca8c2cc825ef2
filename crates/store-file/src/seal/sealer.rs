//! Sealing: setting a store up and sealing what is durable.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scout_audit_core::Clock;
use scout_audit_seal::merkle::{Tree, leaf_hash};
use scout_audit_seal::note::{Checkpoint, EpochChain, sign};

use super::leaves::{End, each_leaf};
use super::log::{
    Tail, append_log, read_log, read_tail, seal_number, seal_point, seal_time, write_new,
};
use super::nodes::NewBlocks;
use super::state::{State, encode_state, evolve_if_due, read_state_for, settle_temp_state};
use super::torn::{cut_torn, live_cut};
use super::{SealSummary, now_secs, seal_err, vouch};
use crate::fs::{FileId, Fs, sync_dir};
use crate::layout::Layout;
use crate::lock::{LockGuard, exclusively};
use crate::{Error, Result};

/// Sets the store up for sealing: a new store id and epoch chain, the
/// sealing state (0600, O_EXCL) and the seal log's `init` line. Returns the
/// verification key text, which is public and meant to be kept elsewhere.
/// Refuses a store already set up (either file present).
pub fn init(fs: &dyn Fs, layout: &Layout, epoch_length: u64) -> Result<String> {
    let (key_path, log_path) = (layout.seal_key(), layout.seal_log());
    if epoch_length == 0 {
        return Err(seal_err(&key_path, "the epoch length must be at least 1 s"));
    }
    for path in [&key_path, &log_path] {
        if fs.lstat(path).is_ok() {
            return Err(seal_err(
                path,
                "exists: the store is already set up for sealing",
            ));
        }
    }
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| seal_err(&key_path, format!("no randomness: {e}")))?;
    let store = crate::index::hex(&id);
    let (chain, verifier) = EpochChain::init(&format!("scout-audit/{store}"))
        .map_err(|e| seal_err(&key_path, e.to_string()))?;
    let state = State {
        chain,
        store: store.clone(),
        epoch_length,
    };
    write_new(fs, &key_path, &encode_state(&state))?;
    let at = now_secs(&scout_audit_core::SystemClock);
    let line = serde_json::json!({"v": 1, "kind": "init", "store": store, "key": verifier.to_text(), "at": at});
    write_new(fs, &log_path, &format!("{line}\n"))?;
    sync_dir(fs, layout.dir())?;
    Ok(verifier.to_text())
}

/// Seals every complete line not yet sealed, under the store's exclusive
/// lock; `None` when there was nothing new (idle stores grow no log).
/// The key evolves first when its epoch is over.
pub fn seal_now(fs: &dyn Fs, layout: &Layout, clock: &dyn Clock) -> Result<Option<SealSummary>> {
    seal_with(fs, layout, clock, &mut SealCache::default())
}

/// What a sealer keeps between seals (a writer keeps one for its life),
/// so that a seal costs what was written since the last one, not what the
/// seal log and the store hold: the seal log's tail as last read, and the
/// leaves hashed ahead under the shared lock.
#[derive(Debug, Default)]
pub struct SealCache {
    /// The seal log as far as it was read; the next read starts there.
    tail: Option<Tail>,
    /// Leaves hashed past the last seal while appends went on.
    ahead: Option<Ahead>,
}

/// The tree hashed past the last seal, valid while the seal log is the
/// one it was hashed against (same file, same length: no seal since).
#[derive(Debug)]
struct Ahead {
    log: (FileId, u64),
    hashed: Hashed,
}

/// Leaves hashed past the last seal: the tree with the seal-nodes blocks
/// they complete (each leaf hashed once, decision 107), and where their
/// lines end.
#[derive(Debug)]
struct Hashed {
    end: End,
    blocks: NewBlocks,
}

/// [`seal_now`] with a cache kept between seals. The new lines are
/// fsync'd and hashed first under the store's shared lock, so appends go
/// on meanwhile; then, under the exclusive lock, only what was appended
/// since is fsync'd and hashed before the seal is signed and appended.
/// The exclusive part starts again from the log's last seal when another
/// sealer sealed in between.
pub fn seal_with(
    fs: &dyn Fs,
    layout: &Layout,
    clock: &dyn Clock,
    cache: &mut SealCache,
) -> Result<Option<SealSummary>> {
    let lock_path = layout.lock();
    let lock = fs
        .open_lock(&lock_path, true)
        .map_err(|e| Error::io("open", &lock_path, e))?;
    // A sealer's first turn (a new writer, `scout-audit seal`) goes on
    // to the exclusive part even with no new line: it vouches for the
    // indexes written since the last seal (decision 88).
    let first_turn = cache.tail.is_none();
    let guard = LockGuard::shared(&*lock, &lock_path)?;
    let ahead = catch_up(fs, layout, cache);
    let unlocked = guard.unlock();
    if !ahead? && !first_turn {
        unlocked?;
        return Ok(None);
    }
    unlocked?;
    exclusively(Some(&*lock), &lock_path, || {
        seal_cached(fs, layout, clock, cache)
    })
}

/// The most passes [`catch_up`] makes under the shared lock.
const AHEAD_PASSES: usize = 3;
/// A pass that hashed at most this many lines ends [`catch_up`]: another
/// would save the exclusive part less than its own fsync costs.
const CAUGHT_UP: u64 = 4096;

/// Hashes ahead under the shared lock in passes, each taking the lines
/// written while the one before fsync'd and hashed, until a pass finds
/// few (decision 108). The exclusive part, which stalls appends, is left
/// with what was written during the last, short pass, not during a whole
/// second's fsync and hashing. Whether there is anything to seal.
fn catch_up(fs: &dyn Fs, layout: &Layout, cache: &mut SealCache) -> Result<bool> {
    let mut new = false;
    for _ in 0..AHEAD_PASSES {
        let (any, hashed) = hash_ahead(fs, layout, cache)?;
        new |= any;
        if hashed <= CAUGHT_UP {
            break;
        }
    }
    Ok(new)
}

/// Hashes, under the shared lock, the complete lines past the last seal
/// (or past what was hashed ahead before) into `cache`; whether there is
/// anything to seal, and how many lines this pass hashed.
fn hash_ahead(fs: &dyn Fs, layout: &Layout, cache: &mut SealCache) -> Result<(bool, u64)> {
    let log_path = layout.seal_log();
    let tail = read_tail(fs, layout, cache.tail.as_ref())?.ok_or_else(|| no_log(&log_path))?;
    let sealed = sealed_point(&tail, &log_path)?;
    let mut hashed = resume(layout, cache.ahead.take(), &tail, &sealed)?;
    sync_live(fs, layout)?;
    let before = hashed.blocks.size();
    push_leaves(fs, layout, &mut hashed)?;
    let (size, new) = (hashed.blocks.size(), hashed.blocks.size() > sealed.0.size());
    cache.ahead = Some(Ahead {
        log: (tail.id, tail.len),
        hashed,
    });
    cache.tail = Some(tail);
    Ok((new, size.saturating_sub(before)))
}

fn no_log(path: &Path) -> Error {
    seal_err(path, "does not exist: run `seal init` first")
}

/// The last seal's tree and end, or an empty tree at the start; an end
/// in a segment retention retired since moves to the next segment.
fn sealed_point(tail: &Tail, path: &Path) -> Result<(Tree, End)> {
    let (tree, end) = match &tail.last {
        Some(s) => seal_point(s, path)?,
        None => (
            Tree::new(),
            End {
                segment: 0,
                offset: 0,
            },
        ),
    };
    Ok((tree, super::retire::resume_after(tail.retired, end)))
}

/// Where hashing continues: what was hashed ahead if no seal came since,
/// else the last seal.
fn resume(
    layout: &Layout,
    ahead: Option<Ahead>,
    tail: &Tail,
    sealed: &(Tree, End),
) -> Result<Hashed> {
    match ahead {
        Some(a) if a.log == (tail.id, tail.len) => Ok(a.hashed),
        _ => Ok(Hashed {
            end: sealed.1,
            blocks: NewBlocks::after(layout, &sealed.0)?,
        }),
    }
}

/// Fsyncs the live file, so only durable lines are sealed.
fn sync_live(fs: &dyn Fs, layout: &Layout) -> Result<()> {
    let live = layout.live();
    if let Ok(f) = fs.open_read(&live) {
        f.sync_all().map_err(|e| Error::io("fsync", &live, e))?;
    }
    Ok(())
}

/// Pushes every complete line after `end` onto `tree`, moving `end`; it
/// stops at the live file's torn suffix, which recovery will cut
/// (decision 102).
fn push_leaves(fs: &dyn Fs, layout: &Layout, h: &mut Hashed) -> Result<()> {
    let live = layout.live();
    let (cut, live_name) = (live_cut(fs, layout)?, live.file_name());
    each_leaf(fs, layout, h.end, &mut |line, place| {
        if cut.is_some_and(|c| place.end.offset > c) && live_name == Some(place.segment.as_ref()) {
            return Ok(());
        }
        h.blocks.push(layout, leaf_hash(line))?;
        h.end = place.end;
        Ok(())
    })
}

/// Seals under the exclusive lock (held by the caller): the log's new
/// lines read, a torn one cut, an interrupted evolve settled, the lines
/// after what `cache` hashed ahead (or after the last seal) hashed, the
/// key evolved when its epoch is over, the seal appended.
fn seal_cached(
    fs: &dyn Fs,
    layout: &Layout,
    clock: &dyn Clock,
    cache: &mut SealCache,
) -> Result<Option<SealSummary>> {
    let log_path = layout.seal_log();
    let mut tail =
        read_tail(fs, layout, cache.tail.take().as_ref())?.ok_or_else(|| no_log(&log_path))?;
    if let Some(at) = tail.torn_at.take() {
        cut_torn(fs, layout, at)?;
    }
    if fs.lstat(&layout.seal_key_temp()).is_ok() {
        // Rare (a sealer died while evolving): the whole log says whether
        // the new key's certificate made it.
        let log = read_log(fs, layout)?.ok_or_else(|| no_log(&log_path))?;
        settle_temp_state(fs, layout, &log)?;
    }
    let mut state = read_state_for(fs, layout, &tail.store)?;
    let sealed = sealed_point(&tail, &log_path)?;
    let mut hashed = resume(layout, cache.ahead.take(), &tail, &sealed)?;
    sync_live(fs, layout)?;
    push_leaves(fs, layout, &mut hashed)?;
    let Hashed { end, blocks } = hashed;
    let tree = blocks.tree(layout)?;
    let before = sealed.0.size();
    let last_time = tail.last.as_ref().map_or(0, seal_time);
    let number = tail.last.as_ref().map_or(0, seal_number).saturating_add(1);
    let vouched = match tail.vouched.take() {
        Some(v) => v,
        None => vouch::vouched_names(fs, layout)?,
    };
    let vouch = vouch::pending(fs, layout, &vouched, end, tree.size())?;
    tail.vouched = Some(vouched);
    cache.tail = Some(tail);
    if tree.size() == before && vouch.is_empty() {
        return Ok(None);
    }
    // Seal times never go backwards, whatever the clock does (verify
    // refuses a seal older than the one before it).
    let now = now_secs(clock).max(last_time).max(state.chain.not_before());
    let evolved = evolve_if_due(fs, layout, &mut state, now)?;
    let sealed = tree.size() > before;
    if sealed {
        // The blocks are durable before the seal that vouches for them.
        blocks.write(fs, layout)?;
        append_seal(fs, layout, &state, &tree, end, now, number)?;
    }
    vouch::append_vouches(fs, layout, &state, tree.size(), &vouch)?;
    Ok(sealed.then(|| SealSummary {
        epoch: state.chain.epoch(),
        size: tree.size(),
        new_leaves: tree.size().saturating_sub(before),
        evolved,
    }))
}

/// A seal's checkpoint text: size and root, then the extension lines
/// `epoch N`, `end S O`, `time T` and `seal K` (the seal's 1-based place
/// among the log's seals, so a seal removed from the middle of the log
/// shows; decision 106).
pub(super) fn checkpoint_text(
    store: &str,
    tree: &Tree,
    epoch: u64,
    end: End,
    now: u64,
    number: u64,
) -> String {
    Checkpoint {
        origin: format!("scout-audit/{store}"),
        size: tree.size(),
        root: tree.root(),
        extensions: vec![
            format!("epoch {epoch}"),
            format!("end {} {}", end.segment, end.offset),
            format!("time {now}"),
            format!("seal {number}"),
        ],
    }
    .to_text()
}

pub(super) fn append_seal(
    fs: &dyn Fs,
    layout: &Layout,
    state: &State,
    tree: &Tree,
    end: End,
    now: u64,
    number: u64,
) -> Result<()> {
    let epoch = state.chain.epoch();
    let text = checkpoint_text(&state.store, tree, epoch, end, now, number);
    let note = sign(&text, &[state.chain.signer()])
        .map_err(|e| seal_err(&layout.seal_key(), e.to_string()))?;
    let line = serde_json::json!({
        "v": 1, "kind": "seal", "epoch": epoch, "note": note,
        "tree": STANDARD.encode(tree.encode()), "segment": end.segment, "offset": end.offset,
    });
    append_log(fs, &layout.seal_log(), &line.to_string())
}
