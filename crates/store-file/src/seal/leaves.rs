//! The leaves: every complete line of the store's numbered segments and
//! live file, in layout order (read in turn by the sealer; `verify --key`
//! reads them on workers, [`super::hashing`]).

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::seal_err;
use crate::fs::Fs;
use crate::layout::{Layout, Segment};
use crate::reader::{READ_BUFFER, gzip_reader, reopen_with};
use crate::{Error, Result};

/// The longest store line hashed: the line bound, its `\n` and a BOM.
pub(super) const MAX_LEAF_LINE: u64 = scout_audit_core::MAX_LINE as u64 + 4;

/// Where the sealed prefix ends: segment number and byte offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct End {
    pub(super) segment: u64,
    pub(super) offset: u64,
}

/// Where a leaf is: the segment's file name, its 1-based line there
/// (counted from where the walk started in that segment) and where it
/// ends.
pub(super) struct Place<'a> {
    pub(super) segment: &'a str,
    pub(super) line: u64,
    pub(super) end: End,
}

/// The segments holding leaves, in order, with their numbers: numbered
/// readable segments, then the live file (numbered as rotation will
/// number it). The Python original's unnumbered archives hold no leaves
/// (decision 69).
pub(super) fn leaf_segments(
    fs: &dyn Fs,
    layout: &Layout,
) -> Result<Vec<(u64, Option<Segment>, PathBuf)>> {
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
pub(super) fn open_segment<'a>(
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
        _ => Ok(Box::new(BufReader::with_capacity(READ_BUFFER, f))),
    }
}

/// Calls `f` with every complete line from `from` on, in layout order.
/// The segment `from` ends in is read from `from.offset` on: a plain file
/// is entered with a seek (a seal a second no longer reads the live file
/// again from its start), an archive is decompressed up to it.
pub(super) fn each_leaf(
    fs: &dyn Fs,
    layout: &Layout,
    from: End,
    f: &mut dyn FnMut(&[u8], Place<'_>) -> Result<()>,
) -> Result<()> {
    let mut held = Vec::new();
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
        let start = if number == from.segment {
            from.offset
        } else {
            0
        };
        let mut r = open_at(fs, seg.as_ref(), &path, start)?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let (mut line, mut offset) = (0u64, start);
        each_line(&mut *r, &mut held, &path, &mut |l| {
            // A line and its `\n`: at most MAX_LEAF_LINE bytes.
            offset = offset.saturating_add(l.len() as u64 + 1);
            line = line.saturating_add(1);
            let end = End {
                segment: number,
                offset,
            };
            let place = Place {
                segment: name,
                line,
                end,
            };
            f(l, place)
        })?;
    }
    Ok(())
}

/// Opens a segment for reading from byte `offset` (of its decompressed
/// lines, in an archive): a plain file seeks there after checking its
/// length, an archive is read up to it.
fn open_at<'a>(
    fs: &'a dyn Fs,
    seg: Option<&Segment>,
    path: &Path,
    offset: u64,
) -> Result<Box<dyn BufRead + Send + 'a>> {
    let short = || seal_err(path, format!("is shorter than the sealed {offset} bytes"));
    if offset > 0 && !seg.is_some_and(Segment::is_gzip) {
        let mut f = fs.open_read(path).map_err(|e| Error::io("open", path, e))?;
        let len = f.meta().map_err(|e| Error::io("stat", path, e))?.len;
        if len < offset {
            return Err(short());
        }
        f.seek_to(offset).map_err(|e| Error::io("seek", path, e))?;
        return Ok(Box::new(BufReader::with_capacity(READ_BUFFER, f)));
    }
    let mut r = open_segment(fs, seg, path)?;
    let skip = io::copy(&mut (&mut r).take(offset), &mut io::sink())
        .map_err(|e| Error::io("read", path, e))?;
    if skip != offset {
        return Err(short());
    }
    Ok(r)
}

/// Calls `f` with every complete line of `r`, without its `\n`, and stops
/// at an unterminated last line (not a leaf). A line is lent from `r`'s
/// buffer when it lies whole there, else gathered in `held` (cleared
/// first). A line of more than [`MAX_LEAF_LINE`] bytes with its `\n` is an
/// error, the one [`super::log::next_line`] gives, found before `held`
/// grows past that bound and one buffer.
pub(super) fn each_line(
    r: &mut dyn BufRead,
    held: &mut Vec<u8>,
    path: &Path,
    f: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    held.clear();
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        if avail.is_empty() {
            return Ok(());
        }
        let Some(i) = memchr::memchr(b'\n', avail) else {
            let n = avail.len();
            held.extend_from_slice(avail);
            r.consume(n);
            if held.len() as u64 >= MAX_LEAF_LINE {
                return Err(too_long(path));
            }
            continue;
        };
        if (held.len() + i) as u64 >= MAX_LEAF_LINE {
            return Err(too_long(path));
        }
        if held.is_empty() {
            f(&avail[..i])?;
        } else {
            held.extend_from_slice(&avail[..i]);
            f(held)?;
            held.clear();
        }
        r.consume(i + 1);
    }
}

fn too_long(path: &Path) -> Error {
    seal_err(path, format!("holds a line over {MAX_LEAF_LINE} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::RealFs;
    use crate::seal::log::next_line;

    /// The lines (or the error) `each_line` gives for `input` read
    /// through a buffer of `cap` bytes.
    fn lent(input: &[u8], cap: usize) -> std::result::Result<Vec<Vec<u8>>, String> {
        let mut r = BufReader::with_capacity(cap, input);
        let (mut held, mut out) = (vec![b'x'], Vec::new());
        each_line(&mut r, &mut held, Path::new("seg"), &mut |l| {
            out.push(l.to_vec());
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// The same by the sealer's former loop over `next_line`: the
    /// reference.
    fn read(input: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
        let (mut r, mut buf, mut out) = (input, Vec::new(), Vec::new());
        while next_line(&mut r, &mut buf, MAX_LEAF_LINE, Path::new("seg"))
            .map_err(|e| e.to_string())?
        {
            if buf.last() != Some(&b'\n') {
                break;
            }
            out.push(buf[..buf.len() - 1].to_vec());
        }
        Ok(out)
    }

    #[test]
    fn each_line_gives_the_lines_next_line_reads_whatever_the_buffer() {
        let max = MAX_LEAF_LINE as usize;
        let long = |n: usize| vec![b'a'; n];
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\n".to_vec(),
            b"a\n\nbc\r\n".to_vec(),
            b"a\nunterminated".to_vec(),
            b"\xef\xbb\xbf{\"a\":1}\n{\"b\":2}\n".to_vec(),
            [long(max - 1), b"\nb\n".to_vec()].concat(),
            [long(max), b"\nb\n".to_vec()].concat(),
            [b"a\n".to_vec(), long(max)].concat(),
            [b"a\n".to_vec(), long(max - 1)].concat(),
        ];
        for input in &cases {
            let want = read(input);
            for cap in [1, 3, 64, 256 << 10] {
                if cap < 64 && input.len() > 1000 {
                    continue;
                }
                assert_eq!(lent(input, cap), want, "{} bytes, cap {cap}", input.len());
            }
        }
        assert_eq!(
            lent(b"a\n\nbc\r\nd", 3).unwrap(),
            [b"a".to_vec(), vec![], b"bc\r".to_vec()]
        );
        let over = format!("seg: holds a line over {MAX_LEAF_LINE} bytes");
        assert!(
            lent(&[long(max), b"\n".to_vec()].concat(), 64)
                .unwrap_err()
                .contains(&over)
        );
        assert_eq!(lent(&long(max - 1), 64).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn each_leaf_resumes_at_an_offset_and_names_a_live_file_shorter_than_it() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("audit.jsonl")).unwrap();
        std::fs::write(layout.live(), "a\nbb\nc\nd").unwrap();
        let walk = |offset| {
            let mut out = Vec::new();
            let from = End { segment: 1, offset };
            each_leaf(&RealFs, &layout, from, &mut |line, place| {
                out.push((line.to_vec(), place.line, place.end.offset));
                Ok(())
            })
            .map(|()| out)
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            walk(2).unwrap(),
            [(b"bb".to_vec(), 1, 5), (b"c".to_vec(), 2, 7)]
        );
        assert_eq!(walk(7).unwrap(), []);
        assert_eq!(walk(8).unwrap(), []);
        let err = walk(9).unwrap_err();
        assert!(err.contains("is shorter than the sealed 9 bytes"), "{err}");
    }
}
