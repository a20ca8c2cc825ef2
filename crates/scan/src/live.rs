//! A store's live file split for a parallel read (decision 190): the
//! complete lines of the prefix it had when the scan reached it, in
//! chunks of whole lines, each read into a buffer of its own; what
//! follows (lines appended since, a torn tail) is left to the line
//! splitter, which reads it in sequence from [`Split::rest`].
//!
//! The live file is never mapped (a recovering writer may truncate its
//! torn tail; docs/architecture.md): its chunks are read with `seek` and
//! `read` on the one handle the store's snapshot opened, one chunk at a
//! time under a lock, and parsed outside it. Nothing here knows about
//! folds; the engine parses the chunks as it parses a map's.

use std::io;
use std::ops::Range;

use scout_audit_store_file::fs::ReadFile;
use scout_audit_store_file::lines::bom_len;

/// How far the newline searches read at a time.
const WINDOW: usize = 64 << 10;

/// A live file's prefix in chunks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Split {
    /// Chunks of whole lines (each ends just after a `\n`), in order,
    /// contiguous from just after a BOM at offset 0.
    pub ranges: Vec<Range<u64>>,
    /// Where the rest starts: the end of the last chunk.
    pub rest: u64,
}

/// Splits the first `len` bytes of `file` into chunks of whole lines of
/// about `chunk` bytes; `None` when there is nothing to split (no `\n`
/// after the first chunk's start). A chunk ends at the first `\n` at or
/// after `chunk` bytes from its start; when none is found within
/// `max_line` bytes more (a line longer than the line bound), the
/// splitting stops there and the rest is the splitter's, which skips
/// such a line without holding it. The last chunk ends at the last `\n`
/// before `len`.
pub(crate) fn split(
    file: &mut dyn ReadFile,
    len: u64,
    chunk: u64,
    max_line: u64,
) -> io::Result<Option<Split>> {
    let mut head = [0u8; 3];
    let n = read_at(file, &mut head[..len.min(3) as usize], 0)?;
    let mut start = bom_len(&head[..n]) as u64;
    let mut ranges = Vec::new();
    loop {
        let guess = start.saturating_add(chunk.max(1));
        if guess >= len {
            break;
        }
        let limit = guess.saturating_add(max_line).saturating_add(1).min(len);
        match find_forward(file, guess - 1, limit)? {
            Some(nl) => {
                ranges.push(start..nl + 1);
                start = nl + 1;
            }
            // The file ends first: its last line is the last chunk's.
            None if limit == len => break,
            None => return Ok(finish(ranges, start)),
        }
    }
    if let Some(nl) = find_backward(file, start, len)? {
        ranges.push(start..nl + 1);
        start = nl + 1;
    }
    Ok(finish(ranges, start))
}

fn finish(ranges: Vec<Range<u64>>, rest: u64) -> Option<Split> {
    (!ranges.is_empty()).then_some(Split { ranges, rest })
}

/// The bytes of `r`, read whole; an error when the file ends before
/// (truncated since it was split).
pub(crate) fn read_range(file: &mut dyn ReadFile, r: &Range<u64>) -> io::Result<Vec<u8>> {
    let len = usize::try_from(r.end - r.start)
        .map_err(|_| io::Error::other("a chunk does not fit in memory"))?;
    let mut buf = vec![0; len];
    file.seek_to(r.start)?;
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// Reads up to `buf.len()` bytes at `pos`; how many (fewer at the end).
fn read_at(file: &mut dyn ReadFile, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    file.seek_to(pos)?;
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The first `\n` in `from..to`.
fn find_forward(file: &mut dyn ReadFile, from: u64, to: u64) -> io::Result<Option<u64>> {
    let mut buf = vec![0; WINDOW];
    let mut at = from;
    while at < to {
        let want = (to - at).min(WINDOW as u64) as usize;
        let n = read_at(file, &mut buf[..want], at)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(Some(at + i as u64));
        }
        at += n as u64;
    }
    Ok(None)
}

/// The last `\n` in `from..to`.
fn find_backward(file: &mut dyn ReadFile, from: u64, to: u64) -> io::Result<Option<u64>> {
    let mut buf = vec![0; WINDOW];
    let mut end = to;
    while end > from {
        let at = end.saturating_sub(WINDOW as u64).max(from);
        let want = (end - at) as usize;
        let n = read_at(file, &mut buf[..want], at)?;
        if n < want {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
            return Ok(Some(at + i as u64));
        }
        end = at;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_audit_store_file::fs::{Fs, RealFs};

    fn split_of(bytes: &[u8], chunk: u64, max_line: u64) -> Option<Split> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("audit.jsonl");
        std::fs::write(&p, bytes).unwrap();
        let mut f = RealFs.open_read(&p).unwrap();
        split(&mut *f, bytes.len() as u64, chunk, max_line).unwrap()
    }

    fn check(input: &str, chunk: u64, max_line: u64, expected: Option<(&[Range<u64>], u64)>) {
        let got = split_of(input.as_bytes(), chunk, max_line);
        let want = expected.map(|(r, rest)| Split {
            ranges: r.to_vec(),
            rest,
        });
        assert_eq!(got, want, "{input:?} chunk {chunk}");
    }

    #[test]
    fn chunks_are_whole_lines_and_the_rest_is_after_the_last_newline() {
        // Lines of 4 bytes; chunks of about 5 end at the next `\n`.
        check("aaa\nbbb\nccc\nddd\n", 5, 100, Some((&[0..8, 8..16], 16)));
        // A torn tail is left to the splitter.
        check("aaa\nbbb\nccc\ndd", 5, 100, Some((&[0..8, 8..12], 12)));
        // A `\n` exactly at the guess ends the chunk there.
        check("aaaa\nbbbb\n", 5, 100, Some((&[0..5, 5..10], 10)));
        // No `\n` at all: nothing to split.
        check("aaaaaaaaaa", 3, 100, None);
        // A BOM is not in any chunk.
        check(
            "\u{feff}aa\nbb\ncc\n",
            3,
            100,
            Some((&[3..6, 6..9, 9..12], 12)),
        );
        // A line longer than the bound stops the splitting before it.
        let first = 0..2;
        check(
            "a\nbbbbbbbbbbbbbbbbbbbb\nc\n",
            1,
            5,
            Some((std::slice::from_ref(&first), 2)),
        );
    }

    #[test]
    fn a_chunk_comes_back_whole_and_a_truncated_one_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("audit.jsonl");
        std::fs::write(&p, b"aaa\nbbb\n").unwrap();
        let mut f = RealFs.open_read(&p).unwrap();
        assert_eq!(read_range(&mut *f, &(4..8)).unwrap(), b"bbb\n");
        std::fs::write(&p, b"aaa\n").unwrap();
        let e = read_range(&mut *f, &(4..8)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
