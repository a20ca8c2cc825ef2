//! The live file's tail: where its torn suffix starts (read backwards,
//! only the tail in the common case), and copying a byte range into a
//! new file. Recovery repairs the tail with them; sealing stops at the
//! torn suffix and keeps a torn seal-log line with them. Before
//! `compress` and `seal` in the module order, so neither depends on
//! recovery.

use std::io::{self, Read};
use std::path::Path;

use scout_audit_core::{Decoded, decode_line};

use crate::error::{Error, Result};
use crate::fs::{Fs, ReadFile, WriteFile};
use crate::layout::Layout;
use crate::lines::MAX_LINE;

/// Where the torn suffix of a live file starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TailScan {
    /// Length of the file.
    pub len: u64,
    /// Offset where the torn suffix starts (`len` when there is none).
    pub cut: u64,
    /// The file ends with a whole record that lacks only its `\n`.
    pub missing_newline: bool,
}

/// Where the live file's torn suffix starts (recovery's step 1a);
/// `None` when there is no live file.
pub fn scan_live(fs: &dyn Fs, layout: &Layout) -> Result<Option<TailScan>> {
    let live = layout.live();
    match fs.open_read(&live) {
        Ok(mut f) => Ok(Some(
            scan_tail(&mut *f).map_err(|e| Error::io("read", &live, e))?,
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("open", &live, e)),
    }
}

/// Copies `from[offset..]` into `out`, the new file `to`, fsync'd (the
/// directory fsync that makes `to`'s name durable is the caller's).
pub(crate) fn copy_range(
    fs: &dyn Fs,
    from: &Path,
    offset: u64,
    to: &Path,
    out: &dyn WriteFile,
) -> Result<()> {
    let mut src = fs.open_read(from).map_err(|e| Error::io("open", from, e))?;
    src.seek_to(offset)
        .map_err(|e| Error::io("seek", from, e))?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", from, e)),
        };
        out.write_once(&buf[..n])
            .map_err(|e| Error::io("write", to, e))?;
    }
    out.sync_all().map_err(|e| Error::io("fsync", to, e))
}

/// Reads a file backwards to find its torn suffix (see the module docs).
/// Reads only the tail in the common case; a file of garbage is read
/// whole, in chunks, never held whole in memory beyond one line.
pub fn scan_tail(f: &mut dyn ReadFile) -> io::Result<TailScan> {
    let len = f.meta()?.len;
    let mut back = Backwards::new(f, len);
    // The bytes after the last '\n'.
    let last_nl = back.find_newline_before(len)?;
    let frag_start = last_nl.map_or(0, |p| p + 1);
    let mut cut = len;
    let mut only_blank = true;
    if frag_start < len {
        match back.line(frag_start, len)? {
            Some(bytes) => match decode_line(&bytes) {
                Decoded::Record(_) | Decoded::Glued { .. } => {
                    return Ok(TailScan {
                        len,
                        cut: len,
                        missing_newline: true,
                    });
                }
                _ => {
                    cut = frag_start;
                    only_blank = false;
                }
            },
            None => {
                cut = frag_start;
                only_blank = false;
            }
        }
    }
    // Complete lines, last first, while they are not records.
    let mut end_nl = last_nl;
    while let Some(nl) = end_nl {
        let prev = back.find_newline_before(nl)?;
        let start = prev.map_or(0, |p| p + 1);
        let is_record = match back.line(start, nl)? {
            Some(bytes) => match decode_line(&bytes) {
                Decoded::Record(_) | Decoded::Glued { .. } => true,
                Decoded::Blank => false,
                Decoded::Malformed(_) => {
                    only_blank = false;
                    false
                }
            },
            None => {
                only_blank = false;
                false
            }
        };
        if is_record {
            break;
        }
        cut = start;
        end_nl = prev;
    }
    if only_blank {
        cut = len;
    }
    Ok(TailScan {
        len,
        cut,
        missing_newline: false,
    })
}

/// Random access to a file from its end, in chunks.
struct Backwards<'a> {
    f: &'a mut dyn ReadFile,
    /// A window of the file: `buf` holds bytes `[start, start + buf.len())`.
    start: u64,
    buf: Vec<u8>,
}

const CHUNK: u64 = 64 << 10;

impl<'a> Backwards<'a> {
    fn new(f: &'a mut dyn ReadFile, len: u64) -> Backwards<'a> {
        Backwards {
            f,
            start: len,
            buf: Vec::new(),
        }
    }

    /// Makes the window start at or before `pos` (keeping at most what is
    /// needed), reading backwards by chunks.
    fn load(&mut self, from: u64, to: u64) -> io::Result<()> {
        if from >= self.start && to <= self.start + self.buf.len() as u64 {
            return Ok(());
        }
        let n = usize::try_from(to - from).map_err(|_| io::Error::other("range too large"))?;
        let mut buf = vec![0u8; n];
        self.f.seek_to(from)?;
        let mut got = 0;
        while got < n {
            match self.f.read(&mut buf[got..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank")),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.start = from;
        self.buf = buf;
        Ok(())
    }

    /// The position of the last `\n` before `end`, if any.
    fn find_newline_before(&mut self, end: u64) -> io::Result<Option<u64>> {
        let mut hi = end;
        while hi > 0 {
            let lo = hi.saturating_sub(CHUNK);
            self.load(lo, hi)?;
            let off = (lo - self.start) as usize;
            let slice = &self.buf[off..off + (hi - lo) as usize];
            if let Some(i) = memchr::memrchr(b'\n', slice) {
                return Ok(Some(lo + i as u64));
            }
            hi = lo;
        }
        Ok(None)
    }

    /// The bytes `[from, to)`, or `None` when longer than a line may be.
    fn line(&mut self, from: u64, to: u64) -> io::Result<Option<Vec<u8>>> {
        if to - from > MAX_LINE as u64 {
            return Ok(None);
        }
        self.load(from, to)?;
        let off = (from - self.start) as usize;
        Ok(Some(self.buf[off..off + (to - from) as usize].to_vec()))
    }
}
