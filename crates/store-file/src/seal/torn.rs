//! A torn last line of the seal log: copied to `<stem>.seal-log.torn-<n>`
//! (fsync'd, and the directory fsync'd) and only then cut off the log, as
//! recovery does with the live file's torn tail, so that a power loss at
//! any point leaves the torn bytes at the log's end or in a durable file.

use crate::fs::{Fs, sync_dir};
use crate::layout::Layout;
use crate::tail::{copy_range, scan_live};
use crate::{Error, Result};

use super::seal_err;

/// Moves the seal log's torn last line, which starts at byte `at`, to the
/// first free `<stem>.seal-log.torn-<n>` (created exclusively: a name
/// taken by anything is skipped, never written through) and cuts it from
/// the log. The copy's data and its directory entry are durable before the
/// truncation, which `Fs::truncate` makes durable itself.
pub(super) fn cut_torn(fs: &dyn Fs, layout: &Layout, at: u64) -> Result<()> {
    let log = layout.seal_log();
    let mut n = 1u64;
    while fs.lstat(&layout.seal_log_torn(n)).is_ok() {
        n = n
            .checked_add(1)
            .ok_or_else(|| seal_err(&log, "no name for its torn tail"))?;
    }
    let torn = layout.seal_log_torn(n);
    let out = fs
        .create_new(&torn)
        .map_err(|e| Error::io("create", &torn, e))?;
    copy_range(fs, &log, at, &torn, &*out)?;
    // Without this, a power loss after the truncation could keep the cut
    // and lose the copy's name, and with it the torn bytes.
    sync_dir(fs, layout.dir())?;
    fs.truncate(&log, at)
        .map_err(|e| Error::io("truncate", &log, e))
}

/// Where the live file's torn suffix starts, if it has one: the lines
/// after its last record, which the next writer's recovery quarantines.
/// Sealing stops there, so that it never seals lines recovery then cuts
/// (a `seal` run after a power loss, before any writer opened the store).
pub(super) fn live_cut(fs: &dyn Fs, layout: &Layout) -> Result<Option<u64>> {
    Ok(scan_live(fs, layout)?
        .filter(|s| s.cut < s.len && !s.missing_newline)
        .map(|s| s.cut))
}
