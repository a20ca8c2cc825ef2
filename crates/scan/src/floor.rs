//! The floor of a cold scan of a plain file: the engine's mapped path
//! (the same map, chunks, read-ahead hint and release) doing nothing but
//! count the file's newlines with `memchr` on every core. No scan of the
//! same file can take less; `cargo xtask bench --peers` prints it beside
//! Q1-Q3 on the plain file (docs/scan.md, "Measured").

use std::path::Path;

use rayon::prelude::*;
use scout_audit_store_file::fs::open_input;

use crate::engine::{CHUNK, chunks, pool};
use crate::error::{Error, Result};
use crate::mmap::Map;

/// Counts the `\n` bytes of the plain file at `path` through a map split
/// into the engine's chunks, on `threads` threads (default: one per core).
/// An empty file counts 0 (it cannot be mapped); a file that cannot be
/// mapped is an error (the floor is of the mapped path).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.jsonl");
/// std::fs::write(&path, b"{}\n{}\n{}")?;
/// assert_eq!(scout_audit_scan::count_newlines(&path, Some(2))?, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn count_newlines(path: &Path, threads: Option<usize>) -> Result<u64> {
    let io = |op, source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    };
    let file = open_input(path).map_err(|e| io("open", e))?;
    let len = file.metadata().map_err(|e| io("stat", e))?.len();
    if len == 0 {
        return Ok(0);
    }
    let map = Map::open(&file).map_err(|e| io("map", e))?;
    let bytes = map.bytes();
    let ranges = chunks(bytes, 0, CHUNK);
    let n = pool(threads)?.install(|| {
        ranges
            .par_iter()
            .map(|r| {
                map.will_need(r);
                let n = memchr::memchr_iter(b'\n', &bytes[r.clone()]).count();
                map.release(r);
                n as u64
            })
            .sum()
    });
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_newline_across_chunks() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.jsonl");
        // Over two chunks, lines of varied length, no final newline.
        let mut data = Vec::new();
        let mut want = 0;
        for i in 0..400_000u32 {
            data.extend(std::iter::repeat_n(b'x', (i % 97) as usize));
            data.push(b'\n');
            want += 1;
        }
        data.extend_from_slice(b"tail");
        assert!(data.len() > CHUNK + CHUNK / 2);
        std::fs::write(&p, &data).unwrap();
        assert_eq!(count_newlines(&p, Some(2)).unwrap(), want);
        std::fs::write(&p, b"").unwrap();
        assert_eq!(count_newlines(&p, None).unwrap(), 0);
        let e = count_newlines(&d.path().join("missing"), None).unwrap_err();
        assert!(e.to_string().starts_with("cannot open "), "{e}");
    }
}
