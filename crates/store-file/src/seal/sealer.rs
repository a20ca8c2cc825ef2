//! Sealing: setting a store up and sealing what is durable.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scout_audit_core::Clock;
use scout_audit_seal::merkle::{Tree, leaf_hash};
use scout_audit_seal::note::{Checkpoint, EpochChain, sign};

use super::leaves::{End, each_leaf};
use super::log::{append_log, cut_torn, last_seal, last_time, read_log, write_new};
use super::nodes::NewBlocks;
use super::state::{State, encode_state, evolve, read_state, settle_temp_state};
use super::{SealSummary, now_secs, seal_err};
use crate::fs::{Fs, sync_dir};
use crate::layout::Layout;
use crate::lock::exclusively;
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
    let lock_path = layout.lock();
    let lock = fs
        .open_lock(&lock_path, true)
        .map_err(|e| Error::io("open", &lock_path, e))?;
    exclusively(Some(&*lock), &lock_path, || seal_locked(fs, layout, clock))
}

pub(super) fn seal_locked(
    fs: &dyn Fs,
    layout: &Layout,
    clock: &dyn Clock,
) -> Result<Option<SealSummary>> {
    let log_path = layout.seal_log();
    let log = read_log(fs, layout)?
        .ok_or_else(|| seal_err(&log_path, "does not exist: run `seal init` first"))?;
    if let Some(at) = log.torn_at {
        cut_torn(fs, layout, at)?;
    }
    settle_temp_state(fs, layout, &log)?;
    let mut state = read_state(fs, &layout.seal_key())?;
    if state.store != log.store {
        return Err(seal_err(
            &log_path,
            "belongs to another store than the sealing state",
        ));
    }
    let (mut tree, mut end) = last_seal(&log, &log_path)?;
    let live = layout.live();
    if let Ok(f) = fs.open_read(&live) {
        f.sync_all().map_err(|e| Error::io("fsync", &live, e))?;
    }
    let before = tree.size();
    let mut blocks = NewBlocks::after(layout, &tree)?;
    each_leaf(fs, layout, end, &mut |line, place| {
        let leaf = leaf_hash(line);
        tree.push(leaf)
            .map_err(|e| seal_err(&log_path, e.to_string()))?;
        blocks.push(layout, leaf)?;
        end = place.end;
        Ok(())
    })?;
    if tree.size() == before {
        return Ok(None);
    }
    // Seal times never go backwards, whatever the clock does (verify
    // refuses a seal older than the one before it).
    let now = now_secs(clock)
        .max(last_time(&log))
        .max(state.chain.not_before());
    let due = state.chain.not_before().saturating_add(state.epoch_length);
    let evolved = now >= due;
    if evolved {
        evolve(fs, layout, &mut state, now)?;
    }
    // The blocks are durable before the seal that vouches for them.
    blocks.write(fs, layout)?;
    append_seal(fs, layout, &state, &tree, end, now)?;
    Ok(Some(SealSummary {
        epoch: state.chain.epoch(),
        size: tree.size(),
        new_leaves: tree.size().saturating_sub(before),
        evolved,
    }))
}

pub(super) fn checkpoint_text(store: &str, tree: &Tree, epoch: u64, end: End, now: u64) -> String {
    Checkpoint {
        origin: format!("scout-audit/{store}"),
        size: tree.size(),
        root: tree.root(),
        extensions: vec![
            format!("epoch {epoch}"),
            format!("end {} {}", end.segment, end.offset),
            format!("time {now}"),
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
) -> Result<()> {
    let epoch = state.chain.epoch();
    let text = checkpoint_text(&state.store, tree, epoch, end, now);
    let note = sign(&text, &[state.chain.signer()])
        .map_err(|e| seal_err(&layout.seal_key(), e.to_string()))?;
    let line = serde_json::json!({
        "v": 1, "kind": "seal", "epoch": epoch, "note": note,
        "tree": STANDARD.encode(tree.encode()), "segment": end.segment, "offset": end.offset,
    });
    append_log(fs, &layout.seal_log(), &line.to_string())
}
