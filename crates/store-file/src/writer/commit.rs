//! The append path: encoding under the state lock (seqs assigned in file
//! order), `Buffered` lines and `Sync`'s queue held in memory, one `write`
//! per batch under the shared `flock`, the fsync policy, and poisoning
//! after a failed write or fsync (group commit for `Sync` is `group.rs`). The bookkeeping is the writer
//! core's (`scout_audit_core::writer`); what is the file store's own is
//! here: a write can land partially (its whole lines keep their seqs), it
//! may rotate first, and it holds the shared lock while it writes.

use std::sync::MutexGuard;
use std::time::Instant;

use scout_audit_core::writer::Assigned;
use scout_audit_core::{Durability, Event, Receipt};

use super::{Given, Shared, State};
use crate::error::{Error, Result, check_line_len};
use crate::lock::LockGuard;

/// A buffered store writes its buffer inline once it holds this much.
const MAX_PENDING: usize = 1 << 20;

/// What an encoder put in the buffer.
#[derive(Clone, Copy, Debug)]
struct Encoded {
    /// How many lines.
    lines: u64,
    /// The last own-session seq among them (`None`: none is own, or an
    /// import).
    last_own: Option<u64>,
}

impl Shared {
    pub(super) fn log_batch(&self, events: Vec<Event>) -> Result<Vec<Receipt>> {
        for e in &events {
            e.validate().map_err(Error::InvalidEvent)?;
        }
        let mut receipts = Vec::with_capacity(events.len());
        let queue = self.queues();
        self.write_lines(
            |st, buf| {
                let mut last_own = None;
                let start = buf.len();
                let given = st.queued.len();
                for (i, e) in events.iter().enumerate() {
                    let ts = e.timestamp().unwrap_or_else(|| self.clock.now());
                    let Assigned { seq, own } = st.seqs.assign(e);
                    if queue {
                        st.queued.push(match e.session_override() {
                            Some(s) if !own => Given::Other(s.clone()),
                            _ => Given::Own,
                        });
                    }
                    let stamp = if own {
                        last_own = Some(seq);
                        self.identity.stamp_own
                    } else {
                        true
                    };
                    let at = buf.len();
                    // Another process may log under a session this writer
                    // did not generate, with the same seq: the stamp keeps
                    // the records distinct (docs/format.md).
                    let writer = stamp.then_some(&self.identity.writer);
                    e.encode_stamped(ts, &self.identity.session, seq, writer, buf);
                    // The line bound: refused before anything is written.
                    if let Err(err) = check_line_len(buf.len() - at - 1) {
                        buf.truncate(start);
                        st.queued.truncate(given);
                        st.seqs.unassign(&events[..=i]);
                        receipts.clear();
                        return Err(err);
                    }
                    receipts.push(Receipt { seq, ts });
                }
                Ok(Encoded {
                    lines: events.len() as u64,
                    last_own,
                })
            },
            |st, landed| st.seqs.unassign(&events[landed.min(events.len())..]),
        )?;
        Ok(receipts)
    }

    /// Writes records of another store as they are (`Sink::import`).
    pub(super) fn import(&self, records: &[scout_audit_core::Record]) -> Result<u64> {
        let queue = self.queues();
        self.write_lines(
            |st, buf| {
                let start = buf.len();
                for r in records {
                    let at = buf.len();
                    // A map with string keys always serializes.
                    let _ = serde_json::to_writer(&mut *buf, r.fields());
                    if let Err(err) = check_line_len(buf.len() - at) {
                        buf.truncate(start);
                        return Err(err);
                    }
                    buf.push(b'\n');
                }
                if queue {
                    st.queued
                        .extend(std::iter::repeat_with(|| Given::Nothing).take(records.len()));
                }
                Ok(Encoded {
                    lines: records.len() as u64,
                    last_own: None,
                })
            },
            |_, _| {},
        )?;
        Ok(records.len() as u64)
    }

    /// Encodes lines with `encode` (which returns how many lines and the
    /// last own-session seq among them) under the state lock, then makes
    /// them durable at the store's level: the one write path. When the
    /// write fails, `unassign` is told how many lines landed whole, to give
    /// back the seqs of the rest. When `encode` refuses (a line over the
    /// bound), it leaves the buffer and the seqs as it found them, and
    /// nothing is written.
    fn write_lines(
        &self,
        encode: impl FnOnce(&mut State, &mut Vec<u8>) -> Result<Encoded>,
        unassign: impl FnOnce(&mut State, usize),
    ) -> Result<()> {
        let mut st = self.lock_state();
        self.check_open(&st)?;
        let buffered = self.settings.durability == Durability::Buffered;
        let queue = self.queues();
        // `Buffered` and `Sync` encode onto what is pending (the lines held
        // in memory; `Sync`'s group commit queue), `Process` into the
        // reused scratch buffer: no allocation per call.
        let mut buf = if buffered || queue {
            std::mem::take(&mut st.pending.items)
        } else {
            let mut b = std::mem::take(&mut st.scratch);
            b.clear();
            b
        };
        let encoded = encode(&mut st, &mut buf);
        let put_back = |st: &mut State, buf: Vec<u8>| {
            if buffered || queue {
                st.pending.items = buf;
            } else {
                st.scratch = buf;
            }
        };
        let encoded = match encoded {
            Ok(x) => x,
            Err(e) => {
                // Refused before writing (the line bound): `encode` left
                // the buffer as it found it.
                put_back(&mut st, buf);
                return Err(e);
            }
        };
        if buffered {
            put_back(&mut st, buf);
            return self.hold(&mut st, encoded);
        }
        if queue {
            put_back(&mut st, buf);
            return self.enqueue(st, encoded.lines, encoded.last_own);
        }
        self.write_now(st, buf, encoded, unassign)
    }

    /// `Buffered`: counts the lines just encoded onto `st.pending`, starts
    /// the timer's delay, and writes inline when the buffer is full.
    fn hold(&self, st: &mut State, Encoded { lines, last_own }: Encoded) -> Result<()> {
        st.pending.added(lines, last_own);
        if st.pending.start_clock() {
            self.ticker_cv.notify_one();
        }
        if st.pending.items.len() >= MAX_PENDING {
            self.write_pending(st)?;
        }
        Ok(())
    }

    /// `Process`: writes `buf` now, gives back the seqs of lines a failed
    /// write did not land, then applies the policy.
    fn write_now(
        &self,
        mut st: MutexGuard<'_, State>,
        mut buf: Vec<u8>,
        Encoded { lines, last_own }: Encoded,
        unassign: impl FnOnce(&mut State, usize),
    ) -> Result<()> {
        let r = self.append_locked(&mut st, &buf, lines, last_own);
        if r.is_err() {
            // The events whose lines did not reach the file were never
            // used: give their seqs back, so that reopening this session in
            // this process continues without a hole.
            // Only a short write of this batch landed anything.
            let written = match &r {
                Err(Error::Io { source, .. }) => crate::fs::bytes_written_by(source),
                _ => 0,
            };
            let landed = whole_lines(&buf[..written.min(buf.len())]);
            unassign(&mut st, landed);
        }
        buf.clear();
        st.scratch = buf;
        r?;
        self.apply_policy(&mut st, lines)
    }

    /// Writes `bytes` (whole lines) to the live file with one `write`,
    /// rotating first when the size limit asks for it. Returns the write's
    /// number. Any write error poisons the writer.
    fn append_locked(
        &self,
        st: &mut State,
        bytes: &[u8],
        lines: u64,
        last_own: Option<u64>,
    ) -> Result<u64> {
        if bytes.is_empty() {
            return Ok(st.writes.issued());
        }
        loop {
            let guard = LockGuard::shared(&*self.lock, &self.lock_path)?;
            let len = self.ensure_current(st)?;
            if len > 0 && len.saturating_add(bytes.len() as u64) > self.settings.rotate.get() {
                drop(guard);
                self.rotate(st, Some(bytes.len() as u64))?;
                continue;
            }
            let Some(file) = st.live.file.clone() else {
                return Err(Error::Closed);
            };
            if let Err(e) = file.write_once(bytes) {
                let err = Error::io("append to", &self.live_path, e);
                return Err(self.poison(st, err));
            }
            drop(guard);
            let n = st.writes.issue();
            st.unsynced.add(lines);
            st.marks.wrote(last_own);
            return Ok(n);
        }
    }

    /// Writes through `through` are durable, and own-session seqs through
    /// `seq` with them (unless a later fsync already covered more).
    pub(super) fn mark_synced(&self, st: &mut State, through: u64, seq: Option<u64>) {
        if st.writes.complete(through) {
            st.marks.synced_through(seq);
        }
        let all = st.writes.all_done();
        st.unsynced.synced(all);
        self.synced_cv.notify_all();
    }

    /// Fsyncs the live file while holding the state lock (the policy's
    /// bound on unsynced lines then holds with any number of threads).
    pub(super) fn sync_locked(&self, st: &mut State) -> Result<()> {
        if st.writes.all_done() && st.unsynced.count() == 0 {
            return Ok(());
        }
        let Some(file) = st.live.file.clone() else {
            return Err(Error::Closed);
        };
        let (target, seq) = (st.writes.issued(), st.marks.written());
        st.fsyncs += 1;
        let started = Instant::now();
        let r = file.sync_data();
        st.fsync_time += started.elapsed();
        if let Err(e) = r {
            return Err(self.poison(st, Error::io("fsync", &self.live_path, e)));
        }
        self.mark_synced(st, target, seq);
        Ok(())
    }

    /// The policy on top of `Process`: fsync when enough lines or time.
    fn apply_policy(&self, st: &mut State, just_written: u64) -> Result<()> {
        if st.unsynced.count() == 0 {
            return Ok(());
        }
        if st.unsynced.due(&self.settings.policy) {
            return self.sync_locked(st);
        }
        if self.settings.policy.interval.is_some() && st.unsynced.count() == just_written {
            // The first unsynced lines since the last fsync: arm the timer.
            self.ticker_cv.notify_one();
        }
        Ok(())
    }

    /// Writes the lines held in memory (`Buffered`'s, or `Sync`'s queue),
    /// then applies the policy (not at `Sync`, whose callers wait for their
    /// group fsync).
    pub(super) fn write_pending(&self, st: &mut State) -> Result<()> {
        let lines = self.write_held(st)?;
        if lines == 0 || self.queues() {
            return Ok(());
        }
        self.apply_policy(st, lines)
    }

    /// Writes the lines held in `pending` with one `write`; returns how
    /// many. When the write fails, the seqs of the queued lines it did not
    /// land are given back (`Sync`; `Buffered` keeps none).
    pub(super) fn write_held(&self, st: &mut State) -> Result<u64> {
        if st.pending.items.is_empty() {
            return Ok(0);
        }
        let bytes = std::mem::take(&mut st.pending.items);
        let taken = st.pending.take();
        st.queued_calls = 0;
        let r = self.append_locked(st, &bytes, taken.lines, taken.last_own);
        if let Err(e) = &r {
            let written = match e {
                Error::Io { source, .. } => crate::fs::bytes_written_by(source),
                _ => 0,
            };
            let landed = whole_lines(&bytes[..written.min(bytes.len())]);
            let lost = st.queued.len().saturating_sub(landed);
            for _ in 0..lost {
                match st.queued.pop() {
                    Some(Given::Own) => st.seqs.give_back(None),
                    Some(Given::Other(s)) => st.seqs.give_back(Some(&s)),
                    Some(Given::Nothing) | None => {}
                }
            }
        }
        st.queued.clear();
        // Keep the allocation for the next batch.
        let mut bytes = bytes;
        bytes.clear();
        st.pending.items = bytes;
        r.map(|_| taken.lines)
    }

    /// Whether `log` queues its lines for a group commit leader to write
    /// (`Sync`) instead of writing them itself.
    pub(super) fn queues(&self) -> bool {
        self.settings.durability == Durability::Sync
    }
}

/// How many lines of `landed` (the start of a batch) are records after a
/// crash: those ended by their `\n`, and an unterminated last one that
/// recovery would complete (it decodes as a record, by the one rule of
/// `decode_line`). A partial line is a torn fragment, not a record.
fn whole_lines(landed: &[u8]) -> usize {
    let n = memchr::memchr_iter(b'\n', landed).count();
    let tail = match memchr::memrchr(b'\n', landed) {
        Some(i) => &landed[i + 1..],
        None => landed,
    };
    let completed = !tail.is_empty()
        && matches!(
            scout_audit_core::decode_line(tail),
            scout_audit_core::Decoded::Record(_) | scout_audit_core::Decoded::Glued { .. }
        );
    n + usize::from(completed)
}
