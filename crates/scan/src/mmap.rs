//! Memory maps of sealed files: the one module of the workspace that maps
//! files, and the only `unsafe` code in it.
//!
//! **Why it is sound.** A map hands out a `&[u8]` over the file's pages;
//! Rust requires those bytes not to change while the slice lives, and a
//! file shortened under a map makes reads past its new end fault
//! (SIGBUS). So we map only files that nobody writes or truncates:
//!
//! - a store's sealed segments (`…-NNNNNN.jsonl`): rotation renames the
//!   live file to its sealed name under the exclusive lock, after which no
//!   writer appends to it (every append first checks, under the shared
//!   lock, that its descriptor is still the live file), recovery only ever
//!   truncates the live file, and compression only reads a sealed file and
//!   then unlinks it (an unlinked file stays mapped, unchanged);
//! - plain files named on the command line that are not a store's live
//!   file (no `<stem>.lock` beside them), which the caller vouches for like
//!   ripgrep's users do for its maps: appends are harmless (the map covers
//!   the length at open), truncation while scanning is not.
//!
//! A store's live file is never mapped (recovery may truncate it); it is
//! read through a buffer. When mapping fails the caller falls back to
//! reading.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Range;

use memmap2::{Advice, Mmap, UncheckedAdvice};

/// A read-only map of a whole file that nobody modifies while it is mapped
/// (see the module docs).
#[derive(Debug)]
pub(crate) struct Map {
    map: Mmap,
}

impl Map {
    /// Maps `file` read-only. The caller guarantees the file is one the
    /// module docs allow (sealed, or vouched for).
    pub(crate) fn open(file: &File) -> io::Result<Map> {
        // SAFETY: the file is sealed or vouched for (module docs): nothing
        // writes to or truncates it while the map lives, so the bytes
        // behind the slice `bytes` hands out do not change and every page
        // within the length mapped stays backed by the file.
        let map = unsafe { Mmap::map(file)? };
        // Lines are read front to back; a hint, failure is harmless.
        let _ = map.advise(Advice::Sequential);
        Ok(Map { map })
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Tells the kernel a range will be read soon (a hint).
    pub(crate) fn will_need(&self, range: &Range<usize>) {
        let _ = self
            .map
            .advise_range(Advice::WillNeed, range.start, range.len());
    }

    /// Drops the pages of a range that has been read from this process's
    /// memory (they stay in the page cache), so that scanning a file of
    /// any size keeps the resident set small.
    pub(crate) fn release(&self, range: &Range<usize>) {
        // Page-align inwards: only whole pages of the range are dropped.
        const PAGE: usize = 4096;
        let start = range.start.div_ceil(PAGE) * PAGE;
        let end = range.end / PAGE * PAGE;
        if end <= start {
            return;
        }
        // SAFETY: MADV_DONTNEED on a shared, read-only file mapping only
        // unmaps the pages; the next access maps them again from the page
        // cache with the same bytes (the file does not change, module
        // docs), so no slice handed out observes a change. The range lies
        // within the map (both ends are clamped to the range given, which
        // callers take within `bytes()`).
        let _ = unsafe {
            self.map
                .unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_reads_and_releases() {
        let mut f = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        f.write_all(&data).unwrap();
        let m = Map::open(&f).unwrap();
        assert_eq!(m.bytes(), &data[..]);
        m.will_need(&(0..data.len()));
        m.release(&(100..30_000));
        // Released pages read back the same bytes.
        assert_eq!(m.bytes(), &data[..]);
    }
}
