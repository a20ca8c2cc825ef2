//! Following a store as it grows (`tail -f`), across rotations: every
//! record once, in order, never a partial line.
//!
//! The follower reads the store's backlog (a [`Snapshot`]), then keeps
//! reading the live file it opened. When the live path names another file,
//! a writer rotated: under the shared lock (so no writer is mid-append) it
//! drains the old file to its end, reads whole any segments sealed since
//! that are not the old file itself, and opens the new live file.
//!
//! Recovery may cut a torn tail off the live file (under the exclusive
//! lock) and writers then append in its place: the follower reads the live
//! file under the shared lock and, at its end, goes back to just after the
//! last record line it read, so it never glues old bytes to new ones.

use std::io::{self, BufReader};
use std::sync::Arc;
use std::time::Duration;

use scout_audit_core::{Decoded, Record, decode_line};

use crate::error::{Error, Result};
use crate::fs::{FileId, Fs, ReadFile};
use crate::layout::{Layout, SegmentKey};
use crate::lines::{LineReader, RawLine};
use crate::reader::{ReadReport, Reader, Snapshot};

/// What [`Follow::next`] yields.
#[derive(Debug)]
pub enum Followed {
    /// The next record.
    Record(Record),
    /// Everything that existed when following started has been yielded;
    /// later records are new.
    CaughtUp,
}

/// A follower of one store (see the module docs). Call
/// [`Follow::next_record`] in a loop.
#[derive(Debug)]
pub struct Follow {
    fs: Arc<dyn Fs>,
    layout: Layout,
    /// Records of the backlog's sealed segments, read first.
    backlog: Option<Reader>,
    /// The live file being followed and its identity.
    live: Option<(Box<dyn ReadFile>, FileId)>,
    /// Offset in the live file of the next byte to read.
    pos: u64,
    /// Offset just past the last record line read from the live file.
    /// Recovery may cut off (and a writer then overwrite) only what follows
    /// the last record, so reading resumes here when what was read after it
    /// was not records (see `read_live`).
    rec_end: u64,
    /// Malformed lines counted after `rec_end` (taken back when re-read).
    malformed_after_rec: u64,
    /// The store's lock file, once it exists: held shared while reading
    /// the live file, so no recovery truncates it in the middle of a read.
    lock: Option<Arc<dyn crate::fs::LockFile>>,
    /// The highest segment key that existed when `live` was opened.
    known: Option<SegmentKey>,
    /// Whether `CaughtUp` was yielded.
    caught_up: bool,
    /// Records ready to yield, in order.
    ready: std::collections::VecDeque<Record>,
    poll: Duration,
    /// Malformed lines seen in the live phase.
    malformed: u64,
}

impl Follow {
    /// Starts following the store: the backlog first, then new records.
    pub fn start(fs: Arc<dyn Fs>, layout: Layout) -> Result<Follow> {
        let (mut follow, snap) = Follow::start_live(Arc::clone(&fs), layout.clone())?;
        follow.backlog = Some(Reader::from_snapshot(fs, Some(layout), snap));
        Ok(follow)
    }

    /// Starts following the store from its live file, and hands back the
    /// backlog's sealed segments unread: the snapshot taken with the live
    /// file under one shared lock, without it. A caller that reads that
    /// snapshot its own way (the scanner, answering archives from their
    /// indexes) and then follows sees every record once, as `start` does
    /// (`scout-audit top`).
    pub fn start_live(fs: Arc<dyn Fs>, layout: Layout) -> Result<(Follow, Snapshot)> {
        let mut snap = Snapshot::take(&*fs, &layout)?;
        let live_src = snap.sources.iter().position(|s| s.is_live());
        let live = match live_src {
            Some(i) => {
                let src = snap.sources.remove(i);
                let path = src.path.clone();
                let f = src
                    .into_live()
                    .ok_or_else(|| Error::io("open", &path, io::Error::other("live file")))?;
                let id = f.meta().map_err(|e| Error::io("stat", &path, e))?.id;
                Some((f, id))
            }
            None => None,
        };
        // Taken with the live file under one shared lock: the first segment
        // sealed after this key is the live file we hold.
        let known = snap
            .sources
            .iter()
            .filter_map(|s| s.segment.as_ref().map(|g| g.key))
            .max();
        let follow = Follow {
            fs,
            layout,
            backlog: None,
            live,
            pos: 0,
            rec_end: 0,
            malformed_after_rec: 0,
            lock: None,
            known,
            caught_up: false,
            ready: Default::default(),
            poll: Duration::from_millis(100),
            malformed: 0,
        };
        Ok((follow, snap))
    }

    /// How long to sleep when there is nothing new (default 100 ms).
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll = d;
        self
    }

    /// Problems met in the backlog, plus malformed lines seen live.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// The backlog's report, while it is being read.
    pub fn backlog_report(&self) -> Option<&ReadReport> {
        self.backlog.as_ref().map(Reader::report)
    }

    /// The next record, waiting for one as long as needed. Returns
    /// `CaughtUp` once, when the backlog is exhausted.
    pub fn next_record(&mut self) -> Result<Followed> {
        loop {
            if let Some(b) = &mut self.backlog {
                match b.next() {
                    Some(Ok(r)) => return Ok(Followed::Record(r)),
                    Some(Err(e)) => return Err(e),
                    None => {
                        self.malformed += b.report().problem_count();
                        self.backlog = None;
                    }
                }
            }
            if let Some(r) = self.ready.pop_front() {
                return Ok(Followed::Record(r));
            }
            let got = self.read_live_locked()?;
            if got {
                continue;
            }
            if !self.caught_up {
                self.caught_up = true;
                return Ok(Followed::CaughtUp);
            }
            if self.check_rotation()? {
                continue;
            }
            std::thread::sleep(self.poll);
        }
    }

    /// [`Follow::read_live`] under the store's shared lock (when the store
    /// has a lock file), so that a recovery cannot cut the live file in the
    /// middle of the read.
    fn read_live_locked(&mut self) -> Result<bool> {
        if self.lock.is_none() {
            let lock_path = self.layout.lock();
            self.lock = match self.fs.open_lock(&lock_path, false) {
                Ok(l) => Some(l),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io("open lock file", &lock_path, e)),
            };
        }
        let Some(lock) = self.lock.clone() else {
            return self.read_live(false);
        };
        lock.lock_shared()
            .map_err(|e| Error::io("lock", self.layout.lock(), e))?;
        let r = self.read_live(false);
        let _ = lock.unlock();
        r
    }

    /// Reads what is new in the live file; whether any record came.
    ///
    /// At the end of the file, unless `draining` a file no writer appends
    /// to any more, whatever was read after the last record line (a line
    /// being written, or what a killed writer left) is read again next
    /// time: a recovery may cut it off and a writer then append in its
    /// place, and reading on from where we were would skip the new lines or
    /// glue the old bytes to them.
    fn read_live(&mut self, draining: bool) -> Result<bool> {
        let Some((f, _)) = &mut self.live else {
            return Ok(false);
        };
        let mut any = false;
        let mut lines = LineReader::resume(BufReader::with_capacity(64 << 10, &mut **f), self.pos);
        loop {
            let raw = lines
                .next_raw()
                .map_err(|e| Error::io("read", self.layout.live(), e))?;
            match raw {
                None => break,
                Some(RawLine::Complete(line, pos)) => match decode_line(line) {
                    Decoded::Record(r) | Decoded::Glued { record: r, .. } => {
                        self.ready.push_back(r);
                        any = true;
                        self.rec_end = pos.offset + line.len() as u64 + 1;
                        self.malformed_after_rec = 0;
                    }
                    Decoded::Blank => {}
                    Decoded::Malformed(_) => {
                        self.malformed += 1;
                        self.malformed_after_rec += 1;
                    }
                },
                Some(RawLine::TooLong(..)) => {
                    self.malformed += 1;
                    self.malformed_after_rec += 1;
                }
                // A line being written, or what a killed writer left: read
                // again next time, or, in a file no writer appends to any
                // more, a torn tail.
                Some(RawLine::Unterminated(..)) if draining => self.malformed += 1,
                Some(RawLine::Unterminated(..)) => {}
            }
        }
        self.pos = lines.offset();
        if !draining && self.pos > self.rec_end {
            f.seek_to(self.rec_end)
                .map_err(|e| Error::io("seek", self.layout.live(), e))?;
            self.pos = self.rec_end;
            self.malformed -= self.malformed_after_rec;
            self.malformed_after_rec = 0;
        }
        Ok(any)
    }

    /// If the live file was rotated: drains it, queues the segments sealed
    /// since (except it), and switches to the new live file.
    fn check_rotation(&mut self) -> Result<bool> {
        let live_path = self.layout.live();
        let current = match self.fs.stat(&live_path) {
            Ok(m) => Some(m.id),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("stat", &live_path, e)),
        };
        let our = self.live.as_ref().map(|(_, id)| *id);
        if current == our {
            return Ok(false);
        }
        let lock_path = self.layout.lock();
        let lock = match self.fs.open_lock(&lock_path, false) {
            Ok(l) => Some(l),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("open lock file", &lock_path, e)),
        };
        if let Some(l) = &lock {
            l.lock_shared()
                .map_err(|e| Error::io("lock", &lock_path, e))?;
        }
        let r = self.switch();
        if let Some(l) = &lock {
            let _ = l.unlock();
        }
        r.map(|()| true)
    }

    fn switch(&mut self) -> Result<()> {
        // No writer appends to the old file any more: drain it.
        self.read_live(true)?;
        let old_id = self.live.as_ref().map(|(_, id)| *id);
        let listing = self
            .layout
            .list(&*self.fs)
            .map_err(|e| Error::io("list", self.layout.dir(), e))?;
        let mut new: Vec<_> = listing
            .readable
            .iter()
            .filter(|s| self.known.is_none_or(|k| s.key > k))
            .cloned()
            .collect();
        new.sort_by_key(|s| s.key);
        // The first segment sealed since we opened the live file is that file.
        if old_id.is_some() && !new.is_empty() {
            let first = new.remove(0);
            if let Ok(m) = self.fs.stat(&first.path)
                && Some(m.id) != old_id
                && first.kind == crate::layout::SegmentKind::Sealed
            {
                // Not ours after all (the old file was removed by hand).
                new.insert(0, first);
            }
        }
        self.known = listing.all.iter().map(|s| s.key).max().max(self.known);
        let sources = new.into_iter().map(crate::reader::Source::sealed).collect();
        let mut reader = Reader::from_snapshot(
            Arc::clone(&self.fs),
            Some(self.layout.clone()),
            Snapshot { sources, listing },
        );
        for r in &mut reader {
            self.ready.push_back(r?);
        }
        self.malformed += reader.report().problem_count();
        let live_path = self.layout.live();
        (self.pos, self.rec_end, self.malformed_after_rec) = (0, 0, 0);
        self.live = match self.fs.open_read(&live_path) {
            Ok(f) => {
                let id = f.meta().map_err(|e| Error::io("stat", &live_path, e))?.id;
                Some((f, id))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("open", &live_path, e)),
        };
        Ok(())
    }
}
