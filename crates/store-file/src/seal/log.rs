//! The seal log: reading it (complete lines parsed, a torn tail found, which `torn.rs` cuts), appending to it, and its last seal.
//!
//! A sealer reads only the log's [`Tail`]: the `init` line, the last seal
//! (found by reading backwards from the end), and what was appended since
//! the tail it read before, so a seal costs the same on a log of a million
//! seals as on a new one.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scout_audit_seal::merkle::Tree;
use serde::Deserialize;

use super::leaves::End;
use super::seal_err;
use crate::fs::{FileId, Fs, ReadFile, regular_or_absent};
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
    /// Archives deleted by retention, signed (`super::retire`).
    Retire(super::retire::RetireEntry),
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

/// The seal log as read: complete lines parsed, and where a torn suffix
/// starts (if any): an unterminated last line, or lines that are not
/// entries with no entry after them (a garbled last append).
pub(super) struct Log {
    pub(super) entries: Vec<Entry>,
    /// The store id of the `init` line.
    pub(super) store: String,
    /// The verification key text of the `init` line.
    pub(super) key: String,
    /// Where the torn suffix starts, if there is one.
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
    // The first line that is not an entry, and why: the start of a torn
    // suffix (what a power loss makes of the last, unsynced append) unless
    // an entry follows it.
    let mut bad: Option<(u64, Error)> = None;
    while next_line(&mut r, &mut buf, MAX_LOG_LINE, &path)? {
        let start = offset;
        if buf.last() != Some(&b'\n') {
            torn_at = Some(start);
            break;
        }
        offset = offset.saturating_add(buf.len() as u64);
        let line = offset_line(&entries);
        match serde_json::from_slice::<Entry>(&buf[..buf.len() - 1]) {
            Ok(entry) => {
                if let Some((_, e)) = bad {
                    return Err(e);
                }
                entries.push(entry);
            }
            Err(e) => {
                if bad.is_none() {
                    let why = format!("line {line} is not a seal-log entry: {e}");
                    bad = Some((start, seal_err(&path, why)));
                }
            }
        }
    }
    if let Some((start, _)) = bad {
        torn_at = Some(start);
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

/// A seal's time (its checkpoint's `time` line), or 0; read without
/// checking the signature.
pub(super) fn seal_time(s: &SealEntry) -> u64 {
    note_time(&s.note)
}

/// The `time` line of a signed note's text (a seal's or a retire's), or
/// 0; read without checking the signature.
pub(super) fn note_time(note: &str) -> u64 {
    let text = note.split_once("\n\n").map_or("", |(t, _)| t);
    text.lines()
        .filter_map(|l| l.strip_prefix("time "))
        .find_map(|t| t.parse().ok())
        .unwrap_or(0)
}

/// Reads the seal log, which must exist: a store without one is not
/// sealed.
pub(super) fn read_sealed_log(fs: &dyn Fs, layout: &Layout) -> Result<Log> {
    read_log(fs, layout)?.ok_or_else(|| {
        seal_err(
            &layout.seal_log(),
            "does not exist: the store is not sealed",
        )
    })
}

/// A seal's place among the log's seals (its checkpoint's `seal` line),
/// or 0 when it has none; read without checking the signature.
pub(super) fn seal_number(s: &SealEntry) -> u64 {
    let text = s.note.split_once("\n\n").map_or("", |(t, _)| t);
    text.lines()
        .filter_map(|l| l.strip_prefix("seal "))
        .find_map(|t| t.parse().ok())
        .unwrap_or(0)
}

/// Whether the seal log at `layout` is a regular file whose first line is
/// a complete `init` entry: a store whose `seal init` was cut short by a
/// crash (the state written, the log empty or torn) is not set up for
/// sealing, and `seal` says why.
pub(crate) fn starts_with_init(fs: &dyn Fs, layout: &Layout) -> bool {
    let path = layout.seal_log();
    if !matches!(regular_or_absent(fs, &path), Ok(true)) {
        return false;
    }
    let Ok(f) = fs.open_read(&path) else {
        return false;
    };
    let mut first = Vec::new();
    let read = BufReader::new(f.take(MAX_LOG_LINE)).read_until(b'\n', &mut first);
    read.is_ok()
        && first
            .strip_suffix(b"\n")
            .is_some_and(|l| matches!(serde_json::from_slice(l), Ok(Entry::Init { .. })))
}

/// The time of the log's last seal, or 0.
pub(super) fn last_time(log: &Log) -> u64 {
    log.entries
        .iter()
        .rev()
        .find_map(|e| match e {
            Entry::Seal(s) => Some(seal_time(s)),
            _ => None,
        })
        .unwrap_or(0)
}

/// A seal's tree and end.
pub(super) fn seal_point(s: &SealEntry, path: &Path) -> Result<(Tree, End)> {
    let bytes = STANDARD
        .decode(&s.tree)
        .map_err(|_| seal_err(path, "the last seal's tree is not base64"))?;
    let tree = Tree::decode(&bytes).map_err(|e| seal_err(path, e.to_string()))?;
    let end = End {
        segment: s.segment,
        offset: s.offset,
    };
    Ok((tree, end))
}

/// What a sealer knows of the seal log: its `init` line, its last seal
/// and how far its complete lines reach. Kept between seals, it lets the
/// next read start where this one stopped ([`read_tail`]).
#[derive(Clone, Debug)]
pub(super) struct Tail {
    /// Device and inode of the log read: another file at the name (a log
    /// replaced) is read afresh.
    pub(super) id: FileId,
    /// Bytes of complete lines read: where the next read starts.
    pub(super) len: u64,
    /// Where a torn last line starts, if one follows `len`.
    pub(super) torn_at: Option<u64>,
    /// The store id of the `init` line.
    pub(super) store: String,
    /// The last seal within `len`, if any.
    pub(super) last: Option<SealEntry>,
    /// The last segment retention retired, of the retires read after the
    /// last seal (a retire before it is behind the seal's end).
    pub(super) retired: Option<u64>,
    /// The archives some vouch line names; `None` until the sealer has
    /// read them all once (`vouch::vouched_names`), then kept up to date
    /// by every forward read.
    pub(super) vouched: Option<HashSet<String>>,
}

/// The chunk a backward read of the log takes at a time.
const BACK_CHUNK: u64 = 64 * 1024;

/// Reads the seal log's tail: with `prev` (a tail read before from the
/// same file, which only grows), only the lines appended since; else the
/// `init` line and the last seal, read backwards from the end. `None`
/// when there is no log. The complete lines before a tail are never read
/// again: the store only appends whole lines and cuts torn ones after
/// them.
pub(super) fn read_tail(fs: &dyn Fs, layout: &Layout, prev: Option<&Tail>) -> Result<Option<Tail>> {
    let path = layout.seal_log();
    if !regular_or_absent(fs, &path)? {
        return Ok(None);
    }
    let mut f = fs
        .open_read(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    let meta = f.meta().map_err(|e| Error::io("stat", &path, e))?;
    let mut tail = match prev {
        Some(p) if p.id == meta.id && meta.len >= p.len => Tail {
            torn_at: None,
            ..p.clone()
        },
        _ => cold_tail(&mut *f, &path, meta.id, meta.len)?,
    };
    f.seek_to(tail.len)
        .map_err(|e| Error::io("seek", &path, e))?;
    let mut r = BufReader::new(f);
    let (mut buf, mut pos) = (Vec::new(), tail.len);
    // The first line that is not an entry: the start of a torn suffix (a
    // garbled last append, decision 101) unless an entry follows it.
    let mut bad: Option<Error> = None;
    while next_line(&mut r, &mut buf, MAX_LOG_LINE, &path)? {
        if buf.last() != Some(&b'\n') {
            tail.torn_at = Some(tail.len);
            break;
        }
        let at = pos;
        pos = pos.saturating_add(buf.len() as u64);
        let entry = match parse_at(&buf[..buf.len() - 1], at, &path) {
            Ok(entry) => entry,
            Err(e) => {
                bad.get_or_insert(e);
                tail.torn_at = Some(tail.len);
                continue;
            }
        };
        if let Some(e) = bad {
            return Err(e);
        }
        match entry {
            Entry::Seal(s) => tail.last = Some(s),
            Entry::Retire(r) => tail.retired = Some(r.segment),
            Entry::Vouch(v) => {
                if let Some(names) = &mut tail.vouched {
                    names.extend(super::vouch::names_of(&v));
                }
            }
            _ => {}
        }
        tail.len = pos;
    }
    Ok(Some(tail))
}

/// The tail of a log read for the first time: its `init` line, then its
/// last seal found backwards (the lines after it are read forwards by
/// the caller).
fn cold_tail(f: &mut dyn ReadFile, path: &Path, id: FileId, len: u64) -> Result<Tail> {
    let mut first = Vec::new();
    BufReader::new((&mut *f).take(MAX_LOG_LINE))
        .read_until(b'\n', &mut first)
        .map_err(|e| Error::io("read", path, e))?;
    let Some(Ok(Entry::Init { store, .. })) = first
        .strip_suffix(b"\n")
        .map(serde_json::from_slice::<Entry>)
    else {
        return Err(seal_err(path, "does not start with an init line"));
    };
    let start = first.len() as u64;
    let (last, len) = match last_seal_backwards(f, path, start, len)? {
        Some((s, end)) => (Some(s), end),
        None => (None, start),
    };
    Ok(Tail {
        id,
        len,
        torn_at: None,
        store,
        last,
        retired: None,
        vouched: None,
    })
}

/// The last `seal` line among the complete lines in `[start, len)`, with
/// the offset where its line ends, read backwards a chunk at a time
/// (memory bounded by a chunk and a line).
fn last_seal_backwards(
    f: &mut dyn ReadFile,
    path: &Path,
    start: u64,
    len: u64,
) -> Result<Option<(SealEntry, u64)>> {
    let (mut pos, mut carry, mut torn_cut) = (len, Vec::new(), false);
    let mut seen_entry = false;
    while pos > start {
        let n = (pos - start).min(BACK_CHUNK);
        pos -= n;
        let mut chunk = vec![0u8; usize::try_from(n).unwrap_or(0)];
        f.seek_to(pos).map_err(|e| Error::io("seek", path, e))?;
        f.read_exact(&mut chunk)
            .map_err(|e| Error::io("read", path, e))?;
        chunk.extend_from_slice(&carry);
        carry = chunk;
        if !torn_cut {
            // What follows the last `\n` is a torn line, never a seal.
            match memchr::memrchr(b'\n', &carry) {
                Some(i) => carry.truncate(i + 1),
                None if pos == start => return Ok(None),
                None => return Err(over_long(path)),
            }
            torn_cut = true;
        }
        while let Some((&b'\n', body)) = carry.split_last() {
            let from = match memchr::memrchr(b'\n', body) {
                Some(i) => i + 1,
                None if pos == start => 0,
                None => break,
            };
            let at = pos.saturating_add(from as u64);
            match parse_at(&body[from..], at, path) {
                Ok(Entry::Seal(s)) => return Ok(Some((s, pos.saturating_add(carry.len() as u64)))),
                Ok(_) => seen_entry = true,
                // A garbled last append (no entry after it) is the torn
                // suffix the forward read finds again (decision 101).
                Err(_) if !seen_entry => {}
                Err(e) => return Err(e),
            }
            carry.truncate(from);
        }
        if carry.len() as u64 > MAX_LOG_LINE {
            return Err(over_long(path));
        }
    }
    Ok(None)
}

fn over_long(path: &Path) -> Error {
    seal_err(path, format!("holds a line over {MAX_LOG_LINE} bytes"))
}

/// Parses the complete line (without its `\n`) that starts at byte `at`.
fn parse_at(line: &[u8], at: u64, path: &Path) -> Result<Entry> {
    if line.len() as u64 >= MAX_LOG_LINE {
        return Err(over_long(path));
    }
    serde_json::from_slice(line).map_err(|e| {
        seal_err(
            path,
            format!("the line at byte {at} is not a seal-log entry: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::RealFs;

    fn seal_line(i: u64, pad: usize) -> String {
        serde_json::json!({
            "v": 1, "kind": "seal", "epoch": 1, "note": "x".repeat(pad),
            "tree": "", "segment": 1, "offset": i,
        })
        .to_string()
    }

    fn last_offset(t: &Tail) -> Option<u64> {
        t.last.as_ref().map(|s| s.offset)
    }

    #[test]
    fn the_tail_finds_the_last_seal_backwards_and_reads_on_from_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("audit.jsonl")).unwrap();
        let init = r#"{"v":1,"kind":"init","store":"s","key":"k","at":0}"#;
        let mut text = format!("{init}\n");
        // Lines of many lengths, so seals straddle the backward chunks.
        for i in 0..300 {
            text.push_str(&seal_line(i, (i as usize * 37) % 900));
            text.push('\n');
        }
        let cert = r#"{"v":1,"kind":"cert","epoch":2,"note":"n"}"#;
        text.push_str(&format!("{cert}\n"));
        let complete = text.len() as u64;
        text.push_str(r#"{"v":1,"kind":"se"#);
        let path = layout.seal_log();
        std::fs::write(&path, &text).unwrap();
        let t = read_tail(&RealFs, &layout, None).unwrap().unwrap();
        assert_eq!((t.store.as_str(), last_offset(&t)), ("s", Some(299)));
        assert_eq!((t.len, t.torn_at), (complete, Some(complete)));
        // The torn line cut and two seals appended: read from `len` on.
        text.truncate(complete as usize);
        text.push_str(&format!("{}\n{}\n", seal_line(300, 5), seal_line(301, 7)));
        std::fs::write(&path, &text).unwrap();
        let again = read_tail(&RealFs, &layout, Some(&t)).unwrap().unwrap();
        assert_eq!(
            (last_offset(&again), again.len, again.torn_at),
            (Some(301), text.len() as u64, None)
        );
    }

    #[test]
    fn a_log_without_seals_a_garbled_last_append_and_a_bad_line_before_an_entry_are_read_as_decided()
     {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("audit.jsonl")).unwrap();
        let init = r#"{"v":1,"kind":"init","store":"s","key":"k","at":0}"#;
        std::fs::write(layout.seal_log(), format!("{init}\n")).unwrap();
        let t = read_tail(&RealFs, &layout, None).unwrap().unwrap();
        assert_eq!((last_offset(&t), t.len), (None, init.len() as u64 + 1));
        // A garbled last append is a torn suffix (decision 101), but not
        // when an entry follows it.
        std::fs::write(layout.seal_log(), format!("{init}\nnot json\n")).unwrap();
        let t = read_tail(&RealFs, &layout, None).unwrap().unwrap();
        assert_eq!((t.len, t.torn_at), (51, Some(51)));
        // Read backwards, a bad line between the last seal and an entry
        // after it is an error; lines before the last seal are verify's to
        // read, not a sealer's.
        let seal = seal_line(3, 1);
        let cert = r#"{"v":1,"kind":"cert","epoch":2,"note":"n"}"#;
        let text = format!("{init}\n{seal}\nnot json\n{cert}\n");
        std::fs::write(layout.seal_log(), &text).unwrap();
        let e = read_tail(&RealFs, &layout, None).unwrap_err().to_string();
        let at = 51 + seal.len() + 1;
        assert!(
            e.contains(&format!("the line at byte {at} is not a seal-log entry")),
            "{e}"
        );
        std::fs::write(
            layout.seal_log(),
            "{\"v\":1,\"kind\":\"cert\",\"epoch\":1,\"note\":\"n\"}\n",
        )
        .unwrap();
        let e = read_tail(&RealFs, &layout, None).unwrap_err().to_string();
        assert!(e.contains("does not start with an init line"), "{e}");
        std::fs::remove_file(layout.seal_log()).unwrap();
        assert!(read_tail(&RealFs, &layout, None).unwrap().is_none());
    }
}
