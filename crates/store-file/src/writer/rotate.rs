//! Rotation: sealing the live segment under the exclusive `flock`
//! (docs/durability.md, "Rotation": fsync it, rename it to the next sealed
//! name without replacing, fsync the directory, create the new live file,
//! fsync the directory again) and following a rotation another writer
//! made. Sealed segments go to the compressor thread.

use std::sync::Arc;

use super::{Live, Shared, State, open, threads::Job};
use crate::error::{Error, Result};
use crate::fs::{Meta, WriteFile, sync_dir};
use crate::layout::{Listing, Segment};
use crate::lock::exclusively;
use crate::mutant;
use scout_audit_core::writer::lock_ignoring_poison;

impl Shared {
    /// Makes sure `st.live` is the file at the live path (another process
    /// may have rotated it, or someone removed it) and returns that file's
    /// length. Called with the lock file held (shared or exclusive).
    pub(super) fn ensure_current(&self, st: &mut State) -> Result<u64> {
        let live_path = &self.live_path;
        match self.fs.lstat(live_path) {
            Ok(m) if m.id == st.live.id && st.live.file.is_some() => return Ok(m.len),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("stat", live_path, e)),
        }
        // Our file is no longer the live one: make what we wrote to it
        // durable (normally the rotating writer already did), then switch.
        if st.unsynced.count() > 0 || !st.writes.all_done() {
            self.sync_locked(st)?;
        }
        let (file, meta) = open::open_live_durably(&*self.fs, &self.layout)?;
        st.live = Live {
            file: Some(file),
            id: meta.id,
        };
        Ok(meta.len)
    }

    /// Seals the live segment under the exclusive lock. With
    /// `Some(incoming)`, only if it is still needed for a write of that many
    /// bytes (another process may have rotated meanwhile); with `None`,
    /// whenever the live segment is not empty.
    pub(super) fn rotate(&self, st: &mut State, incoming: Option<u64>) -> Result<Option<String>> {
        let lock_path = self.layout.lock();
        let sealed = exclusively(Some(&*self.lock), &lock_path, || {
            self.rotate_exclusive(st, incoming)
        })?;
        if let Some(seg) = &sealed {
            let q = lock_ignoring_poison(&self.compress_tx);
            if let Some(q) = q.as_ref() {
                let _ = q.send(Job::Compress(seg.clone()));
            }
        }
        Ok(sealed.map(|s| s.name))
    }

    fn rotate_exclusive(&self, st: &mut State, incoming: Option<u64>) -> Result<Option<Segment>> {
        let len = self.ensure_current(st)?;
        if len == 0 {
            return Ok(None);
        }
        if let Some(n) = incoming
            && len.saturating_add(n) <= self.settings.rotate.get()
        {
            return Ok(None);
        }
        let Some(file) = st.live.file.clone() else {
            return Err(Error::Closed);
        };
        if !mutant::active(mutant::SKIP_SEAL_FSYNC)
            && let Err(e) = file.sync_all()
        {
            return Err(self.poison(st, Error::io("fsync", &self.live_path, e)));
        }
        let (issued, written) = (st.writes.issued(), st.marks.written());
        self.mark_synced(st, issued, written);
        let dir = self.layout.dir();
        let listing = self
            .layout
            .list(&*self.fs)
            .map_err(|e| Error::io("list", dir, e))?;
        let number = self.next_number(st, &listing)?;
        let now = self.clock.now().unix_secs();
        let seal = listing.max_seal_secs().map_or(now, |m| m.max(now));
        let name = self.layout.sealed_name(seal, number);
        self.seal_as(st, &name)?;
        Ok(self.layout.parse_segment(&name))
    }

    /// The next segment number: after every listed one and every one this
    /// writer sealed. Recorded as sealed.
    fn next_number(&self, st: &mut State, listing: &Listing) -> Result<u64> {
        let last = listing.max_number().unwrap_or(0).max(st.last_number);
        let Some(number) = last.checked_add(1) else {
            // Wrapping would reuse a number and could replace a segment.
            let name = listing
                .all
                .iter()
                .find(|s| s.number == Some(last))
                .map_or_else(|| format!("segment {last}"), |s| s.name.clone());
            return Err(Error::SegmentNumbersExhausted {
                path: self.live_path.clone(),
                last,
                name,
            });
        };
        st.last_number = number;
        Ok(number)
    }

    /// Renames the (synced) live file to `name` and starts a new live
    /// file, each step made durable in the directory; any failure poisons.
    fn seal_as(&self, st: &mut State, name: &str) -> Result<()> {
        let dir = self.layout.dir();
        let live_path = &self.live_path;
        let sealed_path = dir.join(name);
        // Never replaces: a sealed segment is never overwritten.
        if let Err(e) = self.fs.rename_noreplace(live_path, &sealed_path) {
            return Err(self.poison(st, Error::io("rename", live_path, e)));
        }
        if let Err(e) = sync_dir(&*self.fs, dir) {
            return Err(self.poison(st, e));
        }
        let file = match self.fs.open_append(live_path) {
            Ok(f) => f,
            Err(e) => return Err(self.poison(st, Error::io("create", live_path, e))),
        };
        if !mutant::active(mutant::SKIP_NEW_LIVE_DIR_FSYNC)
            && let Err(e) = sync_dir(&*self.fs, dir)
        {
            return Err(self.poison(st, e));
        }
        let Meta { id, .. } = file.meta().map_err(|e| Error::io("stat", live_path, e))?;
        st.live = Live {
            file: Some(file as Arc<dyn WriteFile>),
            id,
        };
        Ok(())
    }
}
