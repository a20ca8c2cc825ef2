//! The seal log: reading it (complete lines parsed, a torn tail found), appending to it, and its last seal.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scout_audit_seal::merkle::Tree;
use serde::Deserialize;

use super::leaves::End;
use super::seal_err;
use crate::fs::{Fs, regular_or_absent};
use crate::layout::Layout;
use crate::{Error, Result};

/// The longest seal-log line read (a seal holds a note and a tree state).
pub(super) const MAX_LOG_LINE: u64 = 64 * 1024;

/// One line of the seal log.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(super) enum Entry {
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
    /// Index digests vouched for (`vouch.rs`).
    Vouch(super::vouch::VouchEntry),
}

/// A `seal` line.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct SealEntry {
    pub(super) epoch: u64,
    pub(super) note: String,
    pub(super) tree: String,
    pub(super) segment: u64,
    pub(super) offset: u64,
}

/// The seal log as read: complete lines parsed, and where a torn last
/// line starts (if any).
pub(super) struct Log {
    pub(super) entries: Vec<Entry>,
    /// The store id of the `init` line.
    pub(super) store: String,
    /// The verification key text of the `init` line.
    pub(super) key: String,
    pub(super) torn_at: Option<u64>,
}

/// Appends `line` and its `\n` to the seal log and fsyncs it.
pub(super) fn append_log(fs: &dyn Fs, path: &Path, line: &str) -> Result<()> {
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
pub(super) fn write_new(fs: &dyn Fs, path: &Path, text: &str) -> Result<()> {
    let f = fs
        .create_new(path)
        .map_err(|e| Error::io("create", path, e))?;
    f.write_once(text.as_bytes())
        .map_err(|e| Error::io("write", path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", path, e))
}

/// Reads a small regular file whole, refusing one over `max` bytes.
pub(super) fn read_small(fs: &dyn Fs, path: &Path, max: u64) -> Result<Vec<u8>> {
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
pub(super) fn next_line(
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: u64,
    path: &Path,
) -> Result<bool> {
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
pub(super) fn read_log(fs: &dyn Fs, layout: &Layout) -> Result<Option<Log>> {
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

pub(super) fn offset_line(entries: &[Entry]) -> usize {
    entries.len().saturating_add(1)
}

/// The last seal's tree and end, or an empty tree at the start.
pub(super) fn last_seal(log: &Log, path: &Path) -> Result<(Tree, End)> {
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
pub(super) fn last_time(log: &Log) -> u64 {
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

/// Moves a torn last line of the seal log to `<stem>.seal-log.torn-<n>`
/// and cuts it from the log.
pub(super) fn cut_torn(fs: &dyn Fs, layout: &Layout, at: u64) -> Result<()> {
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
