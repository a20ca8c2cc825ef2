//! The sealing state file: the epoch chain, the store id and the epoch length; reading, writing, evolving it and settling an interrupted evolve.

use std::path::Path;

use scout_audit_seal::note::EpochChain;

use super::log::{Entry, Log, append_log, read_small, write_new};
use super::seal_err;
use crate::fs::{Fs, sync_dir};
use crate::layout::Layout;
use crate::{Error, Result};

/// The longest sealing state read.
pub(super) const MAX_KEY_FILE: u64 = 4096;

/// The sealing state file: the epoch chain, the store id, the epoch length.
pub(super) struct State {
    pub(super) chain: EpochChain,
    pub(super) store: String,
    pub(super) epoch_length: u64,
}

/// Reads and checks the sealing state file at `path`: a regular file
/// (no link followed), mode 0600.
pub(super) fn read_state(fs: &dyn Fs, path: &Path) -> Result<State> {
    let meta = fs.lstat(path).map_err(|e| Error::io("stat", path, e))?;
    if !meta.is_file || meta.is_symlink {
        return Err(seal_err(path, "is not a regular file"));
    }
    if meta.mode & 0o777 != 0o600 {
        return Err(seal_err(
            path,
            format!(
                "has mode {:04o}, not 0600: the secret key may have been read",
                meta.mode
            ),
        ));
    }
    let bytes = read_small(fs, path, MAX_KEY_FILE)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| seal_err(path, "is not UTF-8"))?;
    parse_state(text).map_err(|reason| seal_err(path, reason))
}

pub(super) fn parse_state(text: &str) -> std::result::Result<State, String> {
    let body = text.strip_suffix('\n').ok_or("does not end in a newline")?;
    let mut parts = body.rsplitn(3, '\n');
    let (Some(length), Some(store), Some(chain)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("is not a sealing state".to_owned());
    };
    let store = store.strip_prefix("store ").ok_or("has no store line")?;
    if store.len() != 32 || !store.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("has a store id that is not 32 hex digits".to_owned());
    }
    let epoch_length = length
        .strip_prefix("epoch-length ")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&n| n > 0)
        .ok_or("has no epoch-length line of whole seconds")?;
    let chain = EpochChain::decode_state(&format!("{chain}\n")).map_err(|e| e.to_string())?;
    Ok(State {
        chain,
        store: store.to_owned(),
        epoch_length,
    })
}

pub(super) fn encode_state(state: &State) -> String {
    format!(
        "{}store {}\nepoch-length {}\n",
        state.chain.encode_state(),
        state.store,
        state.epoch_length
    )
}

/// Settles an interrupted evolve: a temp state whose epoch's cert is in
/// the log is renamed into place; one whose cert is not is deleted.
pub(super) fn settle_temp_state(fs: &dyn Fs, layout: &Layout, log: &Log) -> Result<()> {
    let temp = layout.seal_key_temp();
    if fs.lstat(&temp).is_err() {
        return Ok(());
    }
    let epoch = read_state(fs, &temp).ok().map(|s| s.chain.epoch());
    let certified = epoch.is_some_and(|n| {
        log.entries
            .iter()
            .any(|e| matches!(e, Entry::Cert { epoch, .. } if *epoch == n))
    });
    if certified {
        fs.rename(&temp, &layout.seal_key())
            .map_err(|e| Error::io("rename", &temp, e))?;
    } else {
        fs.remove_file(&temp)
            .map_err(|e| Error::io("remove", &temp, e))?;
    }
    sync_dir(fs, layout.dir())
}

/// Evolves the key: new state to the temp file, the cert to the log, the
/// temp renamed into place (the order recovery relies on).
pub(super) fn evolve(fs: &dyn Fs, layout: &Layout, state: &mut State, now: u64) -> Result<()> {
    let key = layout.seal_key();
    let cert = state
        .chain
        .evolve(now)
        .map_err(|e| seal_err(&key, e.to_string()))?;
    let temp = layout.seal_key_temp();
    write_new(fs, &temp, &encode_state(state))?;
    // The new secret's name is durable before its certificate can be: a
    // certified epoch whose secret a power loss took could sign nothing.
    sync_dir(fs, layout.dir())?;
    let line =
        serde_json::json!({"v": 1, "kind": "cert", "epoch": state.chain.epoch(), "note": cert});
    append_log(fs, &layout.seal_log(), &line.to_string())?;
    fs.rename(&temp, &key)
        .map_err(|e| Error::io("rename", &temp, e))?;
    sync_dir(fs, layout.dir())
}

/// Evolves the key when its epoch is over at `now` (before a seal or a
/// retire is signed); whether it did.
pub(super) fn evolve_if_due(
    fs: &dyn Fs,
    layout: &Layout,
    state: &mut State,
    now: u64,
) -> Result<bool> {
    let due = state.chain.not_before().saturating_add(state.epoch_length);
    if now < due {
        return Ok(false);
    }
    evolve(fs, layout, state, now)?;
    Ok(true)
}

/// Reads the sealing state (as [`read_state`]) and checks that it is the
/// state of the store whose seal log names `store`.
pub(super) fn read_state_for(fs: &dyn Fs, layout: &Layout, store: &str) -> Result<State> {
    let state = read_state(fs, &layout.seal_key())?;
    if state.store != store {
        return Err(seal_err(
            &layout.seal_log(),
            "belongs to another store than the sealing state",
        ));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "scout-audit epoch state v1\nepoch 0\nnot-before 0\n";

    fn state_text(store: &str, length: &str) -> String {
        let (chain, _) = EpochChain::init("scout-audit/x").unwrap();
        format!(
            "{}store {store}\nepoch-length {length}\n",
            chain.encode_state()
        )
    }

    #[test]
    fn a_state_round_trips() {
        let text = state_text(&"ab".repeat(16), "60");
        let state = parse_state(&text).unwrap();
        assert_eq!(
            (state.store.as_str(), state.epoch_length),
            ("ab".repeat(16).as_str(), 60)
        );
        assert_eq!(encode_state(&state), text);
    }

    #[test]
    fn hostile_states_are_refused_with_what_is_wrong() {
        let good = "ab".repeat(16);
        let cases = [
            (
                state_text(&good, "0"),
                "has no epoch-length line of whole seconds",
            ),
            (
                state_text(&good, "-1"),
                "has no epoch-length line of whole seconds",
            ),
            (
                state_text(&good, "99999999999999999999"),
                "has no epoch-length line of whole seconds",
            ),
            (
                state_text("abc", "60"),
                "has a store id that is not 32 hex digits",
            ),
            (
                state_text(&"zz".repeat(16), "60"),
                "has a store id that is not 32 hex digits",
            ),
            (
                state_text(&good, "60").trim_end().to_owned(),
                "does not end in a newline",
            ),
            (format!("{HEAD}store {good}\n"), "has no store line"),
            (String::from("\n"), "is not a sealing state"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_state(&text).err().as_deref(), Some(want), "{text:?}");
        }
    }
}
