//! **The one line splitter** of the workspace: a segment's bytes cut into
//! lines with bounded memory, and each line classified with
//! [`scout_audit_core::decode_line`].
//!
//! [`LineReader`] is used by everything that reads a segment as a stream:
//! the sequential [`crate::reader::Reader`] (and `verify`, the index
//! builder), [`crate::follow::Follow`] (`tail -f`) and the scanner's
//! stream path (the live file, gzip archives, files it cannot map). Its
//! rules, which the scanner's mapped path shares through the small
//! functions below:
//!
//! - **BOM.** A UTF-8 byte-order mark at offset 0 of a segment is skipped
//!   ([`bom_len`]); line 1 starts after it. A BOM anywhere else is data.
//! - **CRLF.** A line is the bytes before a `\n`; a `\r` before it stays in
//!   the line, and the one decoder ([`scout_audit_core::decode_line`], and
//!   the scanner's fast path, which agrees with it) ignores it.
//! - **Bound.** A line of more than [`MAX_LINE`] bytes (its `\n` not
//!   counted) is too long ([`over_bound`]): skipped as it streams past,
//!   never held, and reported with its length, `\n` included
//!   ([`too_long_len`]).
//! - **Torn tail.** Bytes at the end of input without a `\n` are an
//!   unterminated line: a record if they decode as one, else a torn tail.

use std::io::{self, BufRead, BufReader, Read};

use scout_audit_core::{Decoded, Malformed, Record, decode_line};

/// Lines longer than this are malformed and skipped without being held in
/// memory: the line bound of the format, defined once in core
/// ([`scout_audit_core::MAX_LINE`]), which every writer refuses to exceed.
pub use scout_audit_core::MAX_LINE;

/// The UTF-8 byte-order mark a segment may start with (module docs).
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How many bytes of BOM the first bytes of a segment start with: 3 or 0.
pub fn bom_len(head: &[u8]) -> usize {
    if head.starts_with(BOM) { BOM.len() } else { 0 }
}

/// Whether a line of `len` bytes (without its `\n`) is over the bound
/// `max_line` ([`MAX_LINE`] for every reader but tests).
pub fn over_bound(len: usize, max_line: usize) -> bool {
    len > max_line
}

/// The length a too-long line is reported with: its bytes and its `\n`,
/// when it has one.
pub fn too_long_len(len: u64, terminated: bool) -> u64 {
    len + u64::from(terminated)
}

/// One line of a segment, positioned.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Pos {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's first byte (after a BOM on line 1).
    pub offset: u64,
}

/// What a line turned out to be.
#[derive(Debug)]
pub enum Item {
    /// A record.
    Record(Record, Pos),
    /// A line that is not a record (counted, reported, skipped).
    Malformed(Malformed, Pos),
    /// A line over [`MAX_LINE`] bytes.
    TooLong(u64, Pos),
    /// The segment ends without `\n` in bytes that are not a record: a torn
    /// tail (or, in the live file, a write in progress).
    TornTail(u64, Pos),
}

/// Reads lines from a `BufRead`, holding at most [`MAX_LINE`] bytes: the
/// one line splitter (module docs).
///
/// A line that lies whole in the reader's buffer is handed out from it,
/// without a copy; only a line that straddles two fills of the buffer is
/// gathered in a buffer of its own, bounded by the limit.
pub struct LineReader<R> {
    r: R,
    /// A line that straddles fills of `r`'s buffer, gathered; at most
    /// `max_line` bytes (cleared when the line turns out too long).
    buf: Vec<u8>,
    /// Line number of the next line (1-based).
    line: u64,
    /// Offset of the next byte to hand out: the end of the last line.
    offset: u64,
    /// Bytes of `r`'s buffer handed out as the last line (with its `\n`)
    /// and not yet consumed: consumed at the next call, once the line is
    /// no longer borrowed.
    unconsumed: usize,
    /// Whether the start of the input (and its BOM) is still ahead.
    at_start: bool,
    max_line: usize,
}

/// A raw line.
pub enum RawLine<'a> {
    /// Bytes before a `\n` (the `\n` excluded).
    Complete(&'a [u8], Pos),
    /// Bytes at the end of input with no `\n` after them.
    Unterminated(&'a [u8], Pos),
    /// A line longer than the limit: its length (with the `\n`, if any).
    TooLong(u64, Pos),
}

impl<R: BufRead> LineReader<R> {
    /// Reads lines from `r`, which starts at offset 0 of its segment.
    pub fn new(r: R) -> LineReader<R> {
        LineReader::with_limit(r, MAX_LINE)
    }

    /// Reads lines from `r`, which starts at `offset` of its segment, at
    /// the start of a line (a BOM is looked for only at offset 0). Line
    /// numbers count from 1 at `offset`.
    pub fn resume(r: R, offset: u64) -> LineReader<R> {
        let mut lines = LineReader::new(r);
        lines.offset = offset;
        lines.at_start = offset == 0;
        lines
    }

    /// As [`LineReader::new`] with another line-length limit.
    pub fn with_limit(r: R, max_line: usize) -> LineReader<R> {
        LineReader {
            r,
            buf: Vec::new(),
            line: 1,
            offset: 0,
            unconsumed: 0,
            at_start: true,
            max_line,
        }
    }

    /// Offset of the end of the last line handed out (bytes read so far,
    /// BOM included); after an error, of the bytes read before it.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next raw line; `None` at the end of input. A read interrupted
    /// by a signal is retried.
    pub fn next_raw(&mut self) -> io::Result<Option<RawLine<'_>>> {
        self.r.consume(std::mem::take(&mut self.unconsumed));
        if self.at_start {
            self.at_start = false;
            let bom = bom_len(fill(&mut self.r)?);
            self.r.consume(bom);
            self.offset += bom as u64;
        }
        let pos = Pos {
            line: self.line,
            offset: self.offset,
        };
        // A line whole in the buffer is lent from it.
        let newline = memchr(fill(&mut self.r)?);
        if let Some(len) = newline
            && !over_bound(len, self.max_line)
        {
            let line =
                self.r.fill_buf()?.get(..len).ok_or_else(|| {
                    io::Error::other("a reader's buffer shrank between two looks")
                })?;
            self.unconsumed = len + 1;
            self.offset += len as u64 + 1;
            self.line += 1;
            return Ok(Some(RawLine::Complete(line, pos)));
        }
        self.gather(pos)
    }

    /// The rest of [`LineReader::next_raw`]: a line that straddles fills
    /// of the buffer (or is too long), gathered into `buf` up to the
    /// limit.
    fn gather(&mut self, pos: Pos) -> io::Result<Option<RawLine<'_>>> {
        self.buf.clear();
        let mut total: u64 = 0;
        let mut too_long = false;
        loop {
            let avail = fill(&mut self.r)?;
            if avail.is_empty() {
                if total == 0 {
                    return Ok(None);
                }
                self.line += 1;
                return Ok(Some(if too_long {
                    RawLine::TooLong(too_long_len(total, false), pos)
                } else {
                    RawLine::Unterminated(&self.buf, pos)
                }));
            }
            let (chunk, terminated) = match memchr(avail) {
                Some(i) => (&avail[..i], true),
                None => (avail, false),
            };
            if !too_long {
                let want = self.buf.len() + chunk.len();
                if over_bound(want, self.max_line) {
                    too_long = true;
                    self.buf.clear();
                } else {
                    // Grow by doubling, but never past the limit: the
                    // buffer holds at most `max_line` bytes.
                    if want > self.buf.capacity() {
                        let cap = want.max(self.buf.capacity() * 2).min(self.max_line);
                        self.buf.reserve_exact(cap - self.buf.len());
                    }
                    self.buf.extend_from_slice(chunk);
                }
            }
            let used = chunk.len() + usize::from(terminated);
            total += chunk.len() as u64;
            self.offset += used as u64;
            self.r.consume(used);
            if terminated {
                self.line += 1;
                return Ok(Some(if too_long {
                    RawLine::TooLong(too_long_len(total, true), pos)
                } else {
                    RawLine::Complete(&self.buf, pos)
                }));
            }
        }
    }

    /// The next item that is not a blank line; `None` at the end of input.
    /// A glued line yields its record; the fragment before it is reported
    /// through `on_fragment`.
    pub fn next_item(&mut self, on_fragment: &mut dyn FnMut(Pos)) -> io::Result<Option<Item>> {
        loop {
            let Some(raw) = self.next_raw()? else {
                return Ok(None);
            };
            let (bytes, pos, terminated) = match raw {
                RawLine::Complete(b, p) => (b, p, true),
                RawLine::Unterminated(b, p) => (b, p, false),
                RawLine::TooLong(n, p) => return Ok(Some(Item::TooLong(n, p))),
            };
            match decode_line(bytes) {
                Decoded::Blank => continue,
                Decoded::Record(r) => return Ok(Some(Item::Record(r, pos))),
                Decoded::Glued { at, record } => {
                    on_fragment(pos);
                    let p = Pos {
                        line: pos.line,
                        offset: pos.offset + at as u64,
                    };
                    return Ok(Some(Item::Record(record, p)));
                }
                Decoded::Malformed(m) if terminated => return Ok(Some(Item::Malformed(m, pos))),
                Decoded::Malformed(_) => return Ok(Some(Item::TornTail(bytes.len() as u64, pos))),
            }
        }
    }
}

impl<R: Read> LineReader<BufReader<R>> {
    /// The bytes read ahead of the last line handed out (for a caller that
    /// must not block on input while it holds lines: nothing more is
    /// buffered when this is empty).
    pub fn read_ahead(&self) -> &[u8] {
        self.r.buffer().get(self.unconsumed..).unwrap_or_default()
    }
}

/// `r.fill_buf()`, retried when a signal interrupts it.
fn fill<R: BufRead>(r: &mut R) -> io::Result<&[u8]> {
    loop {
        match r.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    r.fill_buf()
}

fn memchr(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(input: &[u8], limit: usize) -> Vec<String> {
        let mut r = LineReader::with_limit(std::io::BufReader::with_capacity(7, input), limit);
        let mut out = Vec::new();
        let mut frags = Vec::new();
        while let Some(it) = r.next_item(&mut |p| frags.push(p)).unwrap() {
            out.push(match it {
                Item::Record(rec, p) => {
                    format!("rec {}@{} {}", p.line, p.offset, rec.to_json_line())
                }
                Item::Malformed(_, p) => format!("bad {}@{}", p.line, p.offset),
                Item::TooLong(n, p) => format!("long {}@{} {n}", p.line, p.offset),
                Item::TornTail(n, p) => format!("torn {}@{} {n}", p.line, p.offset),
            });
        }
        for f in frags {
            out.push(format!("frag {}@{}", f.line, f.offset));
        }
        out
    }

    #[test]
    fn bom_crlf_blank_and_positions() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\r\n\n{\"b\":2}\nnope\n{\"c\":3}";
        assert_eq!(
            items(input, 100),
            [
                "rec 1@3 {\"a\":1}",
                "rec 4@15 {\"b\":2}",
                "bad 5@23",
                "rec 6@28 {\"c\":3}",
            ]
        );
    }

    #[test]
    fn torn_tail_and_long_lines() {
        let input = b"{\"a\":1}\n0123456789012345678901234567890\n{\"b\":";
        assert_eq!(
            items(input, 16),
            ["rec 1@0 {\"a\":1}", "long 2@8 32", "torn 3@40 5"]
        );
        assert_eq!(items(b"xxxxxxxxxxxxxxxxxxxxxxxxx", 4), ["long 1@0 25"]);
        assert_eq!(items(b"", 4), Vec::<String>::new());
    }

    /// A reader of `len` bytes of `b'a'` (no `\n`), never held whole.
    fn endless(len: u64) -> std::io::BufReader<std::io::Take<std::io::Repeat>> {
        std::io::BufReader::with_capacity(1 << 16, std::io::Read::take(std::io::repeat(b'a'), len))
    }

    #[test]
    fn a_line_over_the_limit_is_never_held_past_the_limit() {
        // Over 64 MiB without a newline, at the real bound: skipped, and
        // the buffer never grew past the bound.
        let len = (64 << 20) + 1;
        let mut r = LineReader::new(endless(len));
        match r.next_raw().unwrap() {
            Some(RawLine::TooLong(n, p)) => assert_eq!((n, p.line, p.offset), (len, 1, 0)),
            _ => panic!("not too long"),
        }
        assert!(r.next_raw().unwrap().is_none());
        assert!(r.buf.capacity() <= MAX_LINE, "{}", r.buf.capacity());
        // A small limit: the line held grows to the limit, never past it,
        // whatever the chunks (64 KiB here, not a divisor of the limit).
        for limit in [1000, 100_000, 1 << 20] {
            let mut r = LineReader::with_limit(endless(limit as u64), limit);
            assert!(
                matches!(r.next_raw().unwrap(), Some(RawLine::Unterminated(b, _)) if b.len() == limit)
            );
            assert!(r.buf.capacity() <= limit, "{limit}: {}", r.buf.capacity());
            let mut r = LineReader::with_limit(endless(limit as u64 + 1), limit);
            assert!(
                matches!(r.next_raw().unwrap(), Some(RawLine::TooLong(n, _)) if n == limit as u64 + 1)
            );
            assert!(r.buf.capacity() <= limit, "{limit}: {}", r.buf.capacity());
        }
    }

    /// Every raw line of `input` read through buffers of `cap` bytes.
    fn raws(input: &[u8], cap: usize, limit: usize) -> Vec<String> {
        let r = std::io::BufReader::with_capacity(cap, input);
        let mut lines = LineReader::with_limit(r, limit);
        let mut out = Vec::new();
        while let Some(raw) = lines.next_raw().unwrap() {
            out.push(match raw {
                RawLine::Complete(b, p) => format!("{}@{} {:?}", p.line, p.offset, b),
                RawLine::Unterminated(b, p) => format!("{}@{} torn {:?}", p.line, p.offset, b),
                RawLine::TooLong(n, p) => format!("{}@{} long {n}", p.line, p.offset),
            });
        }
        out.push(format!("end {}", lines.offset()));
        out
    }

    #[test]
    fn every_buffer_size_splits_alike() {
        // A BOM only at offset 0 is skipped; one later is data. A `\r`
        // stays in its line (the decoder drops it), also before a torn
        // tail; lines over the limit are too long however they straddle
        // the buffer.
        let input = b"\xEF\xBB\xBFab\r\n\xEF\xBB\xBFc\n0123456789\n\nxyz\r\n0123456789ab\r";
        let want = raws(input, 1 << 10, 10);
        assert_eq!(
            want,
            [
                "1@3 [97, 98, 13]",
                "2@7 [239, 187, 191, 99]",
                "3@12 [48, 49, 50, 51, 52, 53, 54, 55, 56, 57]",
                "4@23 []",
                "5@24 [120, 121, 122, 13]",
                "6@29 long 13",
                "end 42",
            ]
        );
        // (A buffer holds at least the BOM: the first fill shows it whole.)
        for cap in BOM.len()..input.len() {
            assert_eq!(raws(input, cap, 10), want, "buffer of {cap}");
        }
    }

    #[test]
    fn a_line_whole_in_the_buffer_is_lent_not_copied() {
        let input = b"{\"a\":1}\n{\"b\":2}\n";
        let mut lines = LineReader::new(&input[..]);
        for _ in 0..2 {
            match lines.next_raw().unwrap() {
                Some(RawLine::Complete(b, _)) => {
                    // Points into the input itself.
                    assert!(input.as_ptr_range().contains(&b.as_ptr()));
                }
                _ => panic!("not a line"),
            }
        }
        assert!(lines.next_raw().unwrap().is_none());
        assert_eq!(lines.buf.capacity(), 0);
    }

    #[test]
    fn read_ahead_is_what_follows_the_last_line() {
        let input = b"one\ntwo\nthr";
        let mut lines = LineReader::new(std::io::BufReader::new(&input[..]));
        assert!(matches!(
            lines.next_raw().unwrap(),
            Some(RawLine::Complete(b"one", _))
        ));
        assert_eq!(lines.read_ahead(), b"two\nthr");
        assert!(matches!(
            lines.next_raw().unwrap(),
            Some(RawLine::Complete(b"two", _))
        ));
        assert!(matches!(
            lines.next_raw().unwrap(),
            Some(RawLine::Unterminated(b"thr", _))
        ));
        assert_eq!(lines.read_ahead(), b"");
    }

    #[test]
    fn resuming_looks_for_a_bom_only_at_offset_zero() {
        let input = b"\xEF\xBB\xBFx\n";
        let mut lines = LineReader::resume(&input[..], 10);
        match lines.next_raw().unwrap() {
            Some(RawLine::Complete(b, p)) => {
                assert_eq!((b, p.line, p.offset), (&input[..4], 1, 10));
            }
            _ => panic!("not a line"),
        }
        assert_eq!(lines.offset(), 15);
        let mut lines = LineReader::resume(&input[..], 0);
        assert!(
            matches!(lines.next_raw().unwrap(), Some(RawLine::Complete(b"x", p)) if p.offset == 3)
        );
    }

    #[test]
    fn glued_fragment_is_reported_and_record_kept() {
        let input = b"{\"ts\":\"2026-01-01T00:00:00Z\",\"ev{\"ts\":\"2026-01-01T00:00:01Z\"}\n";
        assert_eq!(
            items(input, 1000),
            ["rec 1@32 {\"ts\":\"2026-01-01T00:00:01Z\"}", "frag 1@0"]
        );
    }
}
