//! What a report says of sealing without the key: whether the store is
//! sealed, what its last seal covers and when it was made, and how many
//! complete lines follow it. Nothing is verified here (no signature is
//! checked): only `verify --key` proves that the sealed lines are as
//! sealed.

use super::leaves::{End, each_leaf};
use super::log::{note_time, read_tail};
use super::verify::under_shared_lock;
use crate::Result;
use crate::fs::Fs;
use crate::layout::Layout;

/// The store's sealing as its seal log tells it, unverified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealStatus {
    /// Lines the last seal covers (its checkpoint's size, retired lines
    /// included); `None` before the first seal.
    pub sealed_lines: Option<u64>,
    /// Unix time of the last seal, as its note says.
    pub last_seal_time: Option<u64>,
    /// Complete lines after the last seal (every line, before the first).
    pub unsealed_lines: u64,
}

/// The sealing status of the store at `layout`: `None` when it has no
/// seal log (it is not sealed). Reads the seal log's tail and the lines
/// after the last seal's end (what the next seal would read), under the
/// store's shared lock when there is one.
///
/// # Errors
///
/// The seal log or a segment after the last seal cannot be read.
pub fn seal_status(fs: &dyn Fs, layout: &Layout) -> Result<Option<SealStatus>> {
    under_shared_lock(fs, layout, || {
        let Some(tail) = read_tail(fs, layout, None)? else {
            return Ok(None);
        };
        let (from, sealed_lines, last_seal_time) = match &tail.last {
            Some(s) => (
                End {
                    segment: s.segment,
                    offset: s.offset,
                },
                note_size(&s.note),
                Some(note_time(&s.note)),
            ),
            None => (
                End {
                    segment: 0,
                    offset: 0,
                },
                None,
                None,
            ),
        };
        let mut unsealed_lines = 0u64;
        each_leaf(fs, layout, from, &mut |_, _| {
            unsealed_lines += 1;
            Ok(())
        })?;
        Ok(Some(SealStatus {
            sealed_lines: sealed_lines.or(tail.last.as_ref().map(|_| 0)),
            last_seal_time,
            unsealed_lines,
        }))
    })
}

/// The size line of a checkpoint note (its second line), unverified.
fn note_size(note: &str) -> Option<u64> {
    note.lines().nth(1).and_then(|l| l.parse().ok())
}
