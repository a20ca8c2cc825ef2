//! Sealing a file store (issue "Tamper evidence"): signed Merkle
//! checkpoints of every line of the store, appended to the seal log, and
//! their verification against the verification key.
//!
//! Files (names in [`crate::layout`]): `<stem>.seal-key`, the sealing
//! state (the current epoch's secret, the store id, the epoch length;
//! mode 0600, replaced only by an atomic rename) and `<stem>.seal-log`,
//! one JSON object a line: `init`, then `cert` (an epoch's key certified
//! by the one before) and `seal` (a signed checkpoint: size, root, the
//! tree state and where the sealed prefix ends). A leaf is a line of the
//! store as stored, without its `\n`, in layout order; a torn tail is not
//! a leaf until its `\n` lands.
//!
//! [`init`] sets a store up, [`seal_now`] seals what is durable (under
//! the store's exclusive lock, so two sealers never fork), and
//! [`verify_sealed`] recomputes the tree from the segments and checks
//! every seal, naming where the store departs from what was sealed.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scout_audit_core::Clock;
use scout_audit_seal::merkle::{Tree, leaf_hash};
use scout_audit_seal::note::{Checkpoint, EpochChain, Verifier, open, sign, verify_chain};
use serde::Deserialize;

use crate::fs::{Fs, regular_or_absent, sync_dir};
use crate::layout::{Layout, Segment};
use crate::lock::{LockGuard, exclusively};
use crate::reader::{gzip_reader, reopen_with};
use crate::{Error, Result};

/// The longest seal-log line read (a seal holds a note and a tree state).
const MAX_LOG_LINE: u64 = 64 * 1024;
/// The longest sealing state read.
const MAX_KEY_FILE: u64 = 4096;
/// The longest store line hashed: the line bound, its `\n` and a BOM.
const MAX_LEAF_LINE: u64 = scout_audit_core::MAX_LINE as u64 + 4;

/// What one [`seal_now`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealSummary {
    /// The epoch whose key signed the seal.
    pub epoch: u64,
    /// Leaves sealed in all (the checkpoint's size).
    pub size: u64,
    /// Leaves this seal added.
    pub new_leaves: u64,
    /// Whether the key evolved to a new epoch first.
    pub evolved: bool,
}

/// Tampering found by [`verify_sealed`], and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tampering {
    /// What is wrong.
    pub what: String,
    /// The segment file where the store departs from the seals, if known.
    pub segment: Option<String>,
    /// The 1-based line in that segment, if known.
    pub line: Option<u64>,
}

/// What [`verify_sealed`] proved, or the tampering it found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealReport {
    /// Seals checked.
    pub seals: u64,
    /// Epochs whose certificates verified (epoch 0 included).
    pub epochs: u64,
    /// Leaves proven as sealed (the last seal's size).
    pub sealed_leaves: u64,
    /// Complete lines after the last seal.
    pub unsealed: u64,
    /// Unix time of the last seal, if any (the unsealed lines' age is
    /// at most now minus this).
    pub last_seal_time: Option<u64>,
    /// The tampering found; `None` when everything sealed is as sealed.
    pub tampering: Option<Tampering>,
}

/// One line of the seal log.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Entry {
    /// The first line.
    Init {
        /// The store id.
        store: String,
        /// The verification key text.
        key: String,
    },
    /// An epoch's key, certified by the epoch before.
    Cert {
        /// The epoch certified.
        epoch: u64,
        /// The signed certificate.
        note: String,
    },
    /// A signed checkpoint.
    Seal(SealEntry),
}

/// A `seal` line.
#[derive(Clone, Debug, Deserialize)]
struct SealEntry {
    epoch: u64,
    note: String,
    tree: String,
    segment: u64,
    offset: u64,
}

/// The seal log as read: complete lines parsed, and where a torn last
/// line starts (if any).
struct Log {
    entries: Vec<Entry>,
    /// The store id of the `init` line.
    store: String,
    /// The verification key text of the `init` line.
    key: String,
    torn_at: Option<u64>,
}

/// The sealing state file: the epoch chain, the store id, the epoch length.
struct State {
    chain: EpochChain,
    store: String,
    epoch_length: u64,
}

fn seal_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Seal {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn now_secs(clock: &dyn Clock) -> u64 {
    u64::try_from(clock.now().unix_secs()).unwrap_or(0)
}

/// Appends `line` and its `\n` to the seal log and fsyncs it.
fn append_log(fs: &dyn Fs, path: &Path, line: &str) -> Result<()> {
    let f = fs
        .open_append(path)
        .map_err(|e| Error::io("append to", path, e))?;
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    f.write_once(&bytes)
        .map_err(|e| Error::io("append to", path, e))?;
    f.sync_data().map_err(|e| Error::io("fsync", path, e))
}

/// Writes a new file (O_EXCL, 0600) and fsyncs it.
fn write_new(fs: &dyn Fs, path: &Path, text: &str) -> Result<()> {
    let f = fs
        .create_new(path)
        .map_err(|e| Error::io("create", path, e))?;
    f.write_once(text.as_bytes())
        .map_err(|e| Error::io("write", path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", path, e))
}

/// Reads a small regular file whole, refusing one over `max` bytes.
fn read_small(fs: &dyn Fs, path: &Path, max: u64) -> Result<Vec<u8>> {
    let f = fs.open_read(path).map_err(|e| Error::io("open", path, e))?;
    let mut bytes = Vec::new();
    f.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    if bytes.len() as u64 > max {
        return Err(seal_err(path, format!("is over {max} bytes")));
    }
    Ok(bytes)
}

/// Reads the next line (with its `\n`, if any) of at most `max` bytes into
/// `buf`; `Ok(false)` at the end of input.
fn next_line(r: &mut dyn BufRead, buf: &mut Vec<u8>, max: u64, path: &Path) -> Result<bool> {
    buf.clear();
    let n = r
        .take(max)
        .read_until(b'\n', buf)
        .map_err(|e| Error::io("read", path, e))?;
    if n as u64 == max && buf.last() != Some(&b'\n') {
        return Err(seal_err(path, format!("holds a line over {max} bytes")));
    }
    Ok(n > 0)
}

/// Reads the seal log; `None` when there is none.
fn read_log(fs: &dyn Fs, layout: &Layout) -> Result<Option<Log>> {
    let path = layout.seal_log();
    if !regular_or_absent(fs, &path)? {
        return Ok(None);
    }
    let f = fs
        .open_read(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    let mut r = BufReader::new(f);
    let (mut entries, mut buf, mut offset, mut torn_at) = (Vec::new(), Vec::new(), 0u64, None);
    while next_line(&mut r, &mut buf, MAX_LOG_LINE, &path)? {
        if buf.last() != Some(&b'\n') {
            torn_at = Some(offset);
            break;
        }
        offset = offset.saturating_add(buf.len() as u64);
        let line = offset_line(&entries);
        let entry: Entry = serde_json::from_slice(&buf[..buf.len() - 1])
            .map_err(|e| seal_err(&path, format!("line {line} is not a seal-log entry: {e}")))?;
        entries.push(entry);
    }
    let Some(Entry::Init { store, key }) = entries.first().cloned() else {
        return Err(seal_err(&path, "does not start with an init line"));
    };
    Ok(Some(Log {
        entries,
        store,
        key,
        torn_at,
    }))
}

fn offset_line(entries: &[Entry]) -> usize {
    entries.len().saturating_add(1)
}

/// Reads and checks the sealing state file at `path`: a regular file
/// (no link followed), mode 0600.
fn read_state(fs: &dyn Fs, path: &Path) -> Result<State> {
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

fn parse_state(text: &str) -> std::result::Result<State, String> {
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

fn encode_state(state: &State) -> String {
    format!(
        "{}store {}\nepoch-length {}\n",
        state.chain.encode_state(),
        state.store,
        state.epoch_length
    )
}

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

/// Where the sealed prefix ends: segment number and byte offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct End {
    segment: u64,
    offset: u64,
}

/// A leaf as read: its bytes' hash and where it is.
struct Place<'a> {
    segment: &'a str,
    line: u64,
    end: End,
}

/// The segments holding leaves, in order, with their numbers: numbered
/// readable segments, then the live file (numbered as rotation will
/// number it). The Python original's unnumbered archives hold no leaves
/// (decision 69).
fn leaf_segments(fs: &dyn Fs, layout: &Layout) -> Result<Vec<(u64, Option<Segment>, PathBuf)>> {
    let listing = layout
        .list(fs)
        .map_err(|e| Error::io("list", layout.dir(), e))?;
    let mut out: Vec<_> = listing
        .readable
        .iter()
        .filter_map(|s| s.number.map(|n| (n, Some(s.clone()), s.path.clone())))
        .collect();
    let live = listing
        .max_number()
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| seal_err(&layout.live(), "no segment number after the last"))?;
    if listing.live_exists {
        out.push((live, None, layout.live()));
    }
    Ok(out)
}

/// Opens a segment for reading, decompressing an archive.
fn open_segment<'a>(
    fs: &'a dyn Fs,
    seg: Option<&Segment>,
    path: &Path,
) -> Result<Box<dyn BufRead + Send + 'a>> {
    let f = fs.open_read(path).map_err(|e| Error::io("open", path, e))?;
    match seg {
        Some(s) if s.is_gzip() => Ok(Box::new(gzip_reader(
            f,
            reopen_with(fs, path.to_path_buf()),
        ))),
        _ => Ok(Box::new(BufReader::new(f))),
    }
}

/// Calls `f` with every complete line from `from` on, in layout order.
fn each_leaf(
    fs: &dyn Fs,
    layout: &Layout,
    from: End,
    f: &mut dyn FnMut(&[u8], Place<'_>) -> Result<()>,
) -> Result<()> {
    let mut buf = Vec::new();
    let mut seen = from
        == (End {
            segment: 0,
            offset: 0,
        });
    for (number, seg, path) in leaf_segments(fs, layout)? {
        if number < from.segment {
            continue;
        }
        if number > from.segment && !seen {
            return Err(seal_err(
                &path,
                format!(
                    "follows the sealed segment {}, which is missing",
                    from.segment
                ),
            ));
        }
        seen = true;
        let mut r = open_segment(fs, seg.as_ref(), &path)?;
        let mut offset = 0;
        if number == from.segment {
            let skip = io::copy(&mut (&mut r).take(from.offset), &mut io::sink())
                .map_err(|e| Error::io("read", &path, e))?;
            if skip != from.offset {
                return Err(seal_err(
                    &path,
                    format!("is shorter than the sealed {} bytes", from.offset),
                ));
            }
            offset = skip;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        let mut line = 0u64;
        while next_line(&mut r, &mut buf, MAX_LEAF_LINE, &path)? {
            if buf.last() != Some(&b'\n') {
                break;
            }
            offset = offset.saturating_add(buf.len() as u64);
            line = line.saturating_add(1);
            let end = End {
                segment: number,
                offset,
            };
            f(
                &buf[..buf.len() - 1],
                Place {
                    segment: &name,
                    line,
                    end,
                },
            )?;
        }
    }
    Ok(())
}

/// The last seal's tree and end, or an empty tree at the start.
fn last_seal(log: &Log, path: &Path) -> Result<(Tree, End)> {
    for entry in log.entries.iter().rev() {
        if let Entry::Seal(s) = entry {
            let bytes = STANDARD
                .decode(&s.tree)
                .map_err(|_| seal_err(path, "the last seal's tree is not base64"))?;
            let tree = Tree::decode(&bytes).map_err(|e| seal_err(path, e.to_string()))?;
            return Ok((
                tree,
                End {
                    segment: s.segment,
                    offset: s.offset,
                },
            ));
        }
    }
    Ok((
        Tree::new(),
        End {
            segment: 0,
            offset: 0,
        },
    ))
}

/// The time of the last seal (its checkpoint's `time` line), or 0; read
/// without checking the signature, as a floor for the next seal's time.
fn last_time(log: &Log) -> u64 {
    let Some(Entry::Seal(s)) = log
        .entries
        .iter()
        .rev()
        .find(|e| matches!(e, Entry::Seal(_)))
    else {
        return 0;
    };
    let text = s.note.split_once("\n\n").map_or("", |(t, _)| t);
    text.lines()
        .filter_map(|l| l.strip_prefix("time "))
        .find_map(|t| t.parse().ok())
        .unwrap_or(0)
}

/// Settles an interrupted evolve: a temp state whose epoch's cert is in
/// the log is renamed into place; one whose cert is not is deleted.
fn settle_temp_state(fs: &dyn Fs, layout: &Layout, log: &Log) -> Result<()> {
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

/// Moves a torn last line of the seal log to `<stem>.seal-log.torn-<n>`
/// and cuts it from the log.
fn cut_torn(fs: &dyn Fs, layout: &Layout, at: u64) -> Result<()> {
    let log = layout.seal_log();
    let mut f = fs.open_read(&log).map_err(|e| Error::io("open", &log, e))?;
    f.seek_to(at).map_err(|e| Error::io("seek", &log, e))?;
    let mut tail = Vec::new();
    f.take(MAX_LOG_LINE)
        .read_to_end(&mut tail)
        .map_err(|e| Error::io("read", &log, e))?;
    let mut n = 1u64;
    while fs.lstat(&layout.seal_log_torn(n)).is_ok() {
        n = n
            .checked_add(1)
            .ok_or_else(|| seal_err(&log, "no name for its torn tail"))?;
    }
    let torn = layout.seal_log_torn(n);
    let f = fs
        .create_new(&torn)
        .map_err(|e| Error::io("create", &torn, e))?;
    f.write_once(&tail)
        .map_err(|e| Error::io("write", &torn, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &torn, e))?;
    fs.truncate(&log, at)
        .map_err(|e| Error::io("truncate", &log, e))
}

/// Evolves the key: new state to the temp file, the cert to the log, the
/// temp renamed into place (the order recovery relies on).
fn evolve(fs: &dyn Fs, layout: &Layout, state: &mut State, now: u64) -> Result<()> {
    let key = layout.seal_key();
    let cert = state
        .chain
        .evolve(now)
        .map_err(|e| seal_err(&key, e.to_string()))?;
    let temp = layout.seal_key_temp();
    write_new(fs, &temp, &encode_state(state))?;
    let line =
        serde_json::json!({"v": 1, "kind": "cert", "epoch": state.chain.epoch(), "note": cert});
    append_log(fs, &layout.seal_log(), &line.to_string())?;
    fs.rename(&temp, &key)
        .map_err(|e| Error::io("rename", &temp, e))?;
    sync_dir(fs, layout.dir())
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

fn seal_locked(fs: &dyn Fs, layout: &Layout, clock: &dyn Clock) -> Result<Option<SealSummary>> {
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
    each_leaf(fs, layout, end, &mut |line, place| {
        tree.push(leaf_hash(line))
            .map_err(|e| seal_err(&log_path, e.to_string()))?;
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
    append_seal(fs, layout, &state, &tree, end, now)?;
    Ok(Some(SealSummary {
        epoch: state.chain.epoch(),
        size: tree.size(),
        new_leaves: tree.size().saturating_sub(before),
        evolved,
    }))
}

fn checkpoint_text(store: &str, tree: &Tree, epoch: u64, end: End, now: u64) -> String {
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

fn append_seal(
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

/// A seal as verified: its size, root, end and time.
struct Proven {
    size: u64,
    root: [u8; 32],
    end: End,
    time: u64,
}

fn tamper(what: impl Into<String>) -> Tampering {
    Tampering {
        what: what.into(),
        segment: None,
        line: None,
    }
}

/// Checks one seal's signature and checkpoint against its epoch's key.
fn check_seal(log: &Log, keys: &[Verifier], s: &SealEntry) -> std::result::Result<Proven, String> {
    let key = usize::try_from(s.epoch)
        .ok()
        .and_then(|i| keys.get(i))
        .ok_or_else(|| {
            format!(
                "a seal of epoch {} comes before that epoch's certificate",
                s.epoch
            )
        })?;
    let opened = open(s.note.as_bytes(), std::slice::from_ref(key))
        .map_err(|e| format!("a seal of epoch {} does not verify: {e}", s.epoch))?;
    let cp = Checkpoint::parse(&opened.text).map_err(|e| e.to_string())?;
    let want = [
        format!("epoch {}", s.epoch),
        format!("end {} {}", s.segment, s.offset),
    ];
    if cp.origin != format!("scout-audit/{}", log.store)
        || cp.extensions.get(..2) != Some(&want[..])
    {
        return Err(format!(
            "the seal of size {} does not match its checkpoint",
            cp.size
        ));
    }
    let tree = STANDARD
        .decode(&s.tree)
        .ok()
        .and_then(|b| Tree::decode(&b).ok())
        .filter(|t| t.size() == cp.size && t.root() == cp.root);
    if tree.is_none() {
        return Err(format!(
            "the tree state of the seal of size {} is not its signed root",
            cp.size
        ));
    }
    let time = cp
        .extensions
        .get(2)
        .and_then(|t| t.strip_prefix("time "))
        .and_then(|t| t.parse().ok())
        .ok_or("a seal has no time")?;
    Ok(Proven {
        size: cp.size,
        root: cp.root,
        end: End {
            segment: s.segment,
            offset: s.offset,
        },
        time,
    })
}

/// Checks the log: the key, the epoch chain and every seal's signature,
/// order and growth. Returns the proven seals and the epochs' count.
fn check_log(
    log: &Log,
    key: &Verifier,
) -> std::result::Result<(Vec<Proven>, Vec<Verifier>), String> {
    let logged = Verifier::parse(&log.key).map_err(|e| format!("the init line's key: {e}"))?;
    if logged.to_text() != key.to_text() {
        return Err(
            "the seal log was not made with this verification key (wrong key, or a log rewritten)"
                .to_owned(),
        );
    }
    let certs = cert_notes(log);
    let keys: Vec<Verifier> = verify_chain(key, &certs)
        .map_err(|e| format!("the epoch chain: {e}"))?
        .into_iter()
        .map(|e| e.verifier)
        .collect();
    let (mut seals, mut certified): (Vec<Proven>, u64) = (Vec::new(), 0);
    for entry in log.entries.iter().skip(1) {
        match entry {
            Entry::Init { .. } => return Err("a second init line".to_owned()),
            Entry::Cert { epoch, .. } => {
                certified = certified.saturating_add(1);
                if *epoch != certified {
                    return Err(format!(
                        "the certificate of epoch {epoch} is labelled out of order"
                    ));
                }
            }
            Entry::Seal(s) => {
                if s.epoch != certified {
                    return Err(format!(
                        "a seal of epoch {} is out of order in the seal log",
                        s.epoch
                    ));
                }
                let p = check_seal(log, &keys, s)?;
                if let Some(prev) = seals.last() {
                    check_growth(prev, &p)?;
                }
                seals.push(p);
            }
        }
    }
    Ok((seals, keys))
}

/// The certificates in log order.
fn cert_notes(log: &Log) -> Vec<&[u8]> {
    log.entries
        .iter()
        .filter_map(|e| match e {
            Entry::Cert { note, .. } => Some(note.as_bytes()),
            _ => None,
        })
        .collect()
}

fn check_growth(prev: &Proven, p: &Proven) -> std::result::Result<(), String> {
    if p.size == prev.size && p.root != prev.root {
        return Err(format!(
            "two seals of size {} with different roots: a forked history",
            p.size
        ));
    }
    let end_grows = (p.end.segment, p.end.offset) > (prev.end.segment, prev.end.offset);
    if p.size <= prev.size || !end_grows || p.time < prev.time {
        return Err(format!(
            "the seal of size {} does not grow from the one before",
            p.size
        ));
    }
    Ok(())
}

/// Checks the sealing state file: present, 0600, of this store, at the
/// last certified epoch and holding that epoch's key.
fn check_state(fs: &dyn Fs, layout: &Layout, log: &Log, keys: &[Verifier]) -> Option<Tampering> {
    let state = match read_state(fs, &layout.seal_key()) {
        Ok(s) => s,
        Err(e) => return Some(tamper(format!("the sealing state: {e}"))),
    };
    let current = keys.last().map(Verifier::to_text);
    if state.store != log.store || Some(state.chain.signer().verifier().to_text()) != current {
        return Some(tamper(
            "the sealing state is not the last certified epoch's key of this store",
        ));
    }
    None
}

/// Verifies a sealed store against its verification key: the seal log,
/// the epoch chain, every seal's signature, and the tree recomputed from
/// the segments at every seal's size. IO failures are errors; tampering
/// is reported in [`SealReport::tampering`], located where it can be.
///
/// It holds the store's lock shared while it reads (when the lock file
/// exists and can be opened), so no seal and no rotation happen under it:
/// writers go on appending, which only adds unsealed lines.
pub fn verify_sealed(fs: &dyn Fs, layout: &Layout, key: &Verifier) -> Result<SealReport> {
    let lock_path = layout.lock();
    let lock = match fs.open_lock(&lock_path, false) {
        Ok(l) => Some(l),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            None
        }
        Err(e) => return Err(Error::io("open", &lock_path, e)),
    };
    let Some(lock) = lock else {
        return verify_unlocked(fs, layout, key);
    };
    let guard = LockGuard::shared(&*lock, &lock_path)?;
    let r = verify_unlocked(fs, layout, key);
    let u = guard.unlock();
    let v = r?;
    u?;
    Ok(v)
}

fn verify_unlocked(fs: &dyn Fs, layout: &Layout, key: &Verifier) -> Result<SealReport> {
    let log_path = layout.seal_log();
    let log = match read_log(fs, layout) {
        Ok(Some(log)) => log,
        Ok(None) => {
            return Err(seal_err(
                &log_path,
                "does not exist: the store is not sealed",
            ));
        }
        Err(Error::Seal { reason, .. }) => {
            return Ok(tampered(tamper(format!("the seal log {reason}"))));
        }
        Err(e) => return Err(e),
    };
    let (seals, keys) = match check_log(&log, key) {
        Ok(v) => v,
        Err(what) => return Ok(tampered(tamper(what))),
    };
    let mut report = SealReport {
        seals: seals.len() as u64,
        epochs: keys.len() as u64,
        sealed_leaves: seals.last().map_or(0, |s| s.size),
        last_seal_time: seals.last().map(|s| s.time),
        ..SealReport::default()
    };
    report.tampering = check_state(fs, layout, &log, &keys);
    if report.tampering.is_none() {
        let (total, found) = recompute(fs, layout, &seals)?;
        report.unsealed = total.saturating_sub(report.sealed_leaves);
        report.tampering = found;
    }
    Ok(report)
}

fn tampered(t: Tampering) -> SealReport {
    SealReport {
        tampering: Some(t),
        ..SealReport::default()
    }
}

/// Recomputes the tree from the segments and checks each seal's root and
/// end at its size. Returns the leaves counted and the first departure,
/// located at the first line after the last seal that still holds.
fn recompute(fs: &dyn Fs, layout: &Layout, seals: &[Proven]) -> Result<(u64, Option<Tampering>)> {
    let mut tree = Tree::new();
    let (mut next, mut found, mut from): (usize, Option<Tampering>, Option<(String, u64)>) =
        (0, None, None);
    let mut last_place = None;
    let walked = each_leaf(
        fs,
        layout,
        End {
            segment: 0,
            offset: 0,
        },
        &mut |line, place| {
            let boundary = next
                .checked_sub(1)
                .and_then(|i| seals.get(i))
                .map_or(0, |s| s.size);
            if tree.size() == boundary {
                from = Some((place.segment.to_owned(), place.line));
            }
            tree.push(leaf_hash(line))
                .map_err(|e| seal_err(layout.dir(), e.to_string()))?;
            // The name is copied once a segment, not once a line.
            match &mut last_place {
                Some((number, _, line)) if *number == place.end.segment => *line = place.line,
                _ => last_place = Some((place.end.segment, place.segment.to_owned(), place.line)),
            }
            if found.is_none()
                && let Some(s) = seals.get(next)
                && s.size == tree.size()
            {
                if s.root != tree.root() || s.end != place.end {
                    found = Some(departure(s, from.take()));
                }
                next += 1;
            }
            Ok(())
        },
    );
    if let Err(e) = walked {
        let Some(t) = unreadable(&e) else {
            return Err(e);
        };
        return Ok((tree.size(), found.or(Some(t))));
    }
    if found.is_none()
        && let Some(s) = seals.get(next)
    {
        let mut t = departure(s, from.or(last_place.map(|(_, name, line)| (name, line))));
        t.what = format!(
            "the store holds {} lines, fewer than the {} sealed: lines or segments were removed",
            tree.size(),
            s.size
        );
        found = Some(t);
    }
    Ok((tree.size(), found))
}

fn departure(s: &Proven, from: Option<(String, u64)>) -> Tampering {
    let (segment, line) = from.map_or((None, None), |(s, l)| (Some(s), Some(l)));
    Tampering {
        what: format!(
            "the lines sealed up to size {} differ from the seal: edited, inserted, removed or reordered",
            s.size
        ),
        segment,
        line,
    }
}

/// A segment whose data cannot be read as lines (a corrupt archive, a
/// line over the bound, shorter than a seal says) as tampering; `None`
/// for failures of the system (permissions, IO), which stay errors.
fn unreadable(e: &Error) -> Option<Tampering> {
    let (path, why) = match e {
        Error::Seal { path, reason } => (path, reason.clone()),
        Error::Io { path, source, .. }
            if matches!(
                source.kind(),
                io::ErrorKind::InvalidData
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::UnexpectedEof
            ) =>
        {
            (path, format!("cannot be read: {source}"))
        }
        _ => return None,
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_owned();
    Some(Tampering {
        what: format!("the segment {name} {why}"),
        segment: Some(name),
        line: None,
    })
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
