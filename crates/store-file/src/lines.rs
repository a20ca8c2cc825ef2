//! Splitting a segment's bytes into lines, with bounded memory, and
//! classifying each line with [`scout_audit_core::decode_line`].

use std::io::{self, BufRead};

use scout_audit_core::{Decoded, Malformed, Record, decode_line};

/// Lines longer than this are malformed and skipped without being held in
/// memory: the line bound of the format, defined once in core
/// ([`scout_audit_core::MAX_LINE`]), which every writer refuses to exceed.
pub use scout_audit_core::MAX_LINE;

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

/// Reads lines from a `BufRead`, holding at most [`MAX_LINE`] bytes.
pub struct LineReader<R> {
    r: R,
    buf: Vec<u8>,
    /// Line number of the next line (1-based).
    line: u64,
    /// Offset of the next byte to read.
    offset: u64,
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

    /// As [`LineReader::new`] with another line-length limit.
    pub fn with_limit(r: R, max_line: usize) -> LineReader<R> {
        LineReader {
            r,
            buf: Vec::new(),
            line: 1,
            offset: 0,
            at_start: true,
            max_line,
        }
    }

    /// The reader underneath (to see what it has buffered).
    pub fn get_ref(&self) -> &R {
        &self.r
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next raw line; `None` at the end of input.
    pub fn next_raw(&mut self) -> io::Result<Option<RawLine<'_>>> {
        if self.at_start {
            self.at_start = false;
            let head = self.r.fill_buf()?;
            if head.starts_with(b"\xEF\xBB\xBF") {
                self.r.consume(3);
                self.offset += 3;
            }
        }
        self.buf.clear();
        let pos = Pos {
            line: self.line,
            offset: self.offset,
        };
        let mut total: u64 = 0;
        let mut too_long = false;
        loop {
            let avail = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                if total == 0 {
                    return Ok(None);
                }
                self.line += 1;
                return Ok(Some(if too_long {
                    RawLine::TooLong(total, pos)
                } else {
                    RawLine::Unterminated(&self.buf, pos)
                }));
            }
            let (chunk, done) = match memchr(avail) {
                Some(i) => (&avail[..i], i + 1),
                None => (avail, 0),
            };
            if !too_long {
                let want = self.buf.len() + chunk.len();
                if want > self.max_line {
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
            let used = if done > 0 { done } else { avail.len() };
            total += used as u64;
            self.offset += used as u64;
            self.r.consume(used);
            if done > 0 {
                self.line += 1;
                return Ok(Some(if too_long {
                    RawLine::TooLong(total, pos)
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

    #[test]
    fn glued_fragment_is_reported_and_record_kept() {
        let input = b"{\"ts\":\"2026-01-01T00:00:00Z\",\"ev{\"ts\":\"2026-01-01T00:00:01Z\"}\n";
        assert_eq!(
            items(input, 1000),
            ["rec 1@32 {\"ts\":\"2026-01-01T00:00:01Z\"}", "frag 1@0"]
        );
    }
}
