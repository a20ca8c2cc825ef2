//! The leaves: every complete line of the store's numbered segments and
//! live file, in layout order (read in turn by the sealer; `verify --key`
//! reads them on workers, [`super::hashing`]).

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::log::next_line;
use super::seal_err;
use crate::fs::Fs;
use crate::layout::{Layout, Segment};
use crate::reader::{gzip_reader, reopen_with};
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
        _ => Ok(Box::new(BufReader::new(f))),
    }
}

/// Calls `f` with every complete line from `from` on, in layout order.
pub(super) fn each_leaf(
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
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
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
            let place = Place {
                segment: name,
                line,
                end,
            };
            f(&buf[..buf.len() - 1], place)?;
        }
    }
    Ok(())
}
