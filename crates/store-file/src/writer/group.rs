//! Group commit for `Sync`: a `log` call puts its encoded lines in the
//! queue (`State::pending`, under the state lock, no system call) and waits
//! until an fsync covers them. A waiter that finds no fsync under way leads:
//! it writes the whole queue with one `write` (under the shared `flock`, as
//! every append), then runs one `fdatasync` outside the state lock, so the
//! other threads keep queueing meanwhile and the next fsync covers all of
//! them. Before leading, the group gathers (core's `Gather`: at most half an
//! fsync, until as many calls wait as there were writers inside at once):
//! the first waiter keeps the time, later ones wait for the fsync, and the
//! call that completes the group leads at once, so no wake-up stands
//! between the last arrival and the fsync. One thread alone never waits.
//!
//! A queued line is acknowledged only after an fsync that started after
//! the `write` holding it returned. A failed write of the queue poisons the
//! writer (its lines belong to several callers; each learns it through
//! `Poisoned`, the leader through the error itself) and gives back the
//! seqs of the lines it did not land.

use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use scout_audit_core::writer::{wait_ignoring_poison, wait_timeout_ignoring_poison};

use super::{Shared, State, refused};
use crate::error::{Error, Result};

impl Shared {
    /// `Sync`: counts the `lines` just encoded onto the queue (with the
    /// last own-session seq among them), then waits for their group fsync.
    pub(super) fn enqueue<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        lines: u64,
        last_own: Option<u64>,
    ) -> Result<()> {
        st.gather.enter();
        // Every write at `Sync` is a write of the whole queue, so the next
        // one issued holds these lines. A call with no line waits for what
        // was written before it.
        let my_write = if lines == 0 {
            st.writes.issued()
        } else {
            st.pending.added(lines, last_own);
            st.queued_calls += 1;
            st.writes.issued() + 1
        };
        let (mut st, r) = self.wait_synced(st, my_write);
        st.gather.leave();
        r
    }

    /// Calls waiting whose lines are not durable yet: queued, or written
    /// and not yet fsync'd.
    fn waiting(st: &State) -> u64 {
        st.queued_calls + st.writes.outstanding()
    }

    /// Waits until write `my_write` (written or still queued) is durable,
    /// gathering and leading as the module says.
    fn wait_synced<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        my_write: u64,
    ) -> (MutexGuard<'a, State>, Result<()>) {
        let mut gathered = false;
        loop {
            if st.writes.is_done(my_write) {
                return (st, Ok(()));
            }
            if let Err(r) = st.life.check_poisoned() {
                return (st, Err(refused(r)));
            }
            if st.writes.leading() {
                st = wait_ignoring_poison(&self.synced_cv, st);
                continue;
            }
            if !gathered && let Some(budget) = st.gather.wait_for(Self::waiting(&st)) {
                if st.gather.gathering() {
                    // Another waiter keeps the time: it leads when the time
                    // is up, unless the last arrival leads first.
                    st = wait_ignoring_poison(&self.synced_cv, st);
                    continue;
                }
                gathered = true;
                st = self.gather(st, my_write, budget);
                continue;
            }
            st = match self.lead(st) {
                Ok(st) => st,
                Err(failed) => return failed,
            };
        }
    }

    /// Writes the queue, then runs one fsync for everything written,
    /// outside the state lock. On failure the writer is poisoned.
    fn lead<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
    ) -> std::result::Result<MutexGuard<'a, State>, (MutexGuard<'a, State>, Result<()>)> {
        if let Err(e) = self.write_held(&mut st) {
            // A write error poisoned already; any other (a rotation that
            // failed, say) must too: the lines of other callers are lost.
            let e = self.poison(&mut st, e);
            return Err((st, Err(e)));
        }
        let Some(file) = st.live.file.clone() else {
            return Err((st, Err(Error::Closed)));
        };
        let target = st.writes.lead();
        if st.gather.gathering() {
            // The waiter keeping the time waits for this fsync instead.
            self.gather_cv.notify_all();
        }
        st.gather.start_round();
        let seq = st.marks.written();
        let started = Instant::now();
        st.fsyncs += 1;
        drop(st);
        let r = file.sync_data();
        let mut st = self.lock_state();
        st.writes.stop_leading();
        let took = started.elapsed();
        st.fsync_time += took;
        st.gather.record(took);
        match r {
            Ok(()) => {
                self.mark_synced(&mut st, target, seq);
                Ok(st)
            }
            Err(e) => {
                let err = Error::io("fsync", &self.live_path, e);
                let err = self.poison(&mut st, err);
                Err((st, Err(err)))
            }
        }
    }

    /// The first waiter's wait (at most `budget`) for more calls to join
    /// the group fsync; it ends early when another waiter leads.
    fn gather<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        my_write: u64,
        budget: Duration,
    ) -> MutexGuard<'a, State> {
        let want = st.gather.want();
        let deadline = Instant::now() + budget;
        st.gather.set_gathering(true);
        while !st.writes.leading() && !st.writes.is_done(my_write) && Self::waiting(&st) < want {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = wait_timeout_ignoring_poison(&self.gather_cv, st, deadline - now);
        }
        st.gather.set_gathering(false);
        st
    }
}

#[cfg(test)]
mod tests {
    //! Group commit against a file system whose fsync can be held: which
    //! lines one `write` and one fsync cover, decided by the test, not by
    //! timing.

    use std::io;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Condvar, Mutex};

    use scout_audit_core::{Durability, Event, SessionId};

    use crate::FileStore;
    use crate::fs::{Fs, LockFile, Meta, ReadFile, RealFs, WriteFile};
    use crate::reader::Reader;

    /// The real file system, except that the live file's fsync waits while
    /// the gate is held, and its writes can be made to fail.
    #[derive(Debug, Default)]
    struct Gate {
        held: Mutex<bool>,
        opened: Condvar,
        /// fsyncs waiting at the gate now.
        waiting: AtomicU64,
        /// `write` calls on the live file.
        writes: AtomicU64,
        /// Every later write fails with `EIO`.
        fail_writes: AtomicBool,
    }

    #[derive(Debug)]
    struct GatedFs(Arc<Gate>);

    #[derive(Debug)]
    struct GatedFile(Arc<dyn WriteFile>, Arc<Gate>);

    impl WriteFile for GatedFile {
        fn write_once(&self, buf: &[u8]) -> io::Result<()> {
            self.1.writes.fetch_add(1, Ordering::SeqCst);
            if self.1.fail_writes.load(Ordering::SeqCst) {
                return Err(io::Error::from_raw_os_error(5));
            }
            self.0.write_once(buf)
        }
        fn sync_data(&self) -> io::Result<()> {
            let mut held = self.1.held.lock().unwrap();
            self.1.waiting.fetch_add(1, Ordering::SeqCst);
            while *held {
                held = self.1.opened.wait(held).unwrap();
            }
            self.1.waiting.fetch_sub(1, Ordering::SeqCst);
            drop(held);
            self.0.sync_data()
        }
        fn sync_all(&self) -> io::Result<()> {
            self.0.sync_all()
        }
        fn meta(&self) -> io::Result<Meta> {
            self.0.meta()
        }
    }

    impl Fs for GatedFs {
        fn open_append(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
            let f = RealFs.open_append(path)?;
            Ok(Arc::new(GatedFile(f, Arc::clone(&self.0))))
        }
        fn create_new(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
            let f = RealFs.create_new(path)?;
            Ok(Arc::new(GatedFile(f, Arc::clone(&self.0))))
        }
        fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
            RealFs.open_read(path)
        }
        fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
            RealFs.truncate(path, len)
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            RealFs.rename(from, to)
        }
        fn rename_noreplace(&self, from: &Path, to: &Path) -> io::Result<()> {
            RealFs.rename_noreplace(from, to)
        }
        fn remove_file(&self, path: &Path) -> io::Result<()> {
            RealFs.remove_file(path)
        }
        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            RealFs.sync_dir(dir)
        }
        fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
            RealFs.list_dir(dir)
        }
        fn stat(&self, path: &Path) -> io::Result<Meta> {
            RealFs.stat(path)
        }
        fn lstat(&self, path: &Path) -> io::Result<Meta> {
            RealFs.lstat(path)
        }
        fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
            RealFs.create_dir_all(dir)
        }
        fn open_lock(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LockFile>> {
            RealFs.open_lock(path, create)
        }
        fn open_file_lock(&self, path: &Path) -> io::Result<Arc<dyn LockFile>> {
            RealFs.open_file_lock(path)
        }
    }

    fn open(path: &Path, gate: &Arc<Gate>, session: &SessionId) -> FileStore {
        FileStore::builder(path)
            .durability(Durability::Sync)
            .file_system(Arc::new(GatedFs(Arc::clone(gate))))
            .session(session.clone())
            .open()
            .unwrap()
    }

    /// Spins (yielding) until `cond` holds: the test waits for a state, it
    /// never sleeps for a time.
    fn until(mut cond: impl FnMut() -> bool) {
        while !cond() {
            std::thread::yield_now();
        }
    }

    fn queued_calls(store: &FileStore) -> u64 {
        store.inner.shared.lock_state().queued_calls
    }

    /// The seqs of the records in the store at `path`, in log order.
    fn seqs(path: &Path) -> Vec<u64> {
        Reader::open(path)
            .unwrap()
            .map(|r| r.unwrap().seq().unwrap())
            .collect()
    }

    /// Thread A's fsync is held; B and C log meanwhile and queue. When A's
    /// fsync returns, one of them writes both lines with one `write` and
    /// one fsync covers both.
    #[test]
    fn one_write_and_one_fsync_cover_the_lines_queued_during_an_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let gate = Arc::new(Gate::default());
        let store = open(&path, &gate, &SessionId::new("s"));
        let (fsyncs0, writes0) = (store.fsyncs(), gate.writes.load(Ordering::SeqCst));
        *gate.held.lock().unwrap() = true;
        let receipts = std::thread::scope(|s| {
            let a = s.spawn(|| store.append(Event::new("a")).unwrap().seq);
            until(|| gate.waiting.load(Ordering::SeqCst) == 1);
            let b = s.spawn(|| store.append(Event::new("b")).unwrap().seq);
            let c = s.spawn(|| store.append(Event::new("c")).unwrap().seq);
            until(|| queued_calls(&store) == 2);
            assert_eq!(
                store.watermark_now().synced,
                None,
                "nothing acknowledged yet"
            );
            *gate.held.lock().unwrap() = false;
            gate.opened.notify_all();
            [a, b, c].map(|h| h.join().unwrap())
        });
        assert_eq!(receipts[0], 0);
        let mut bc = [receipts[1], receipts[2]];
        bc.sort_unstable();
        assert_eq!(bc, [1, 2]);
        assert_eq!(
            store.fsyncs() - fsyncs0,
            2,
            "a's fsync, then one for b and c"
        );
        assert_eq!(
            gate.writes.load(Ordering::SeqCst) - writes0,
            2,
            "a's line, then b's and c's"
        );
        assert_eq!(store.watermark_now().synced, Some(2));
        store.close().unwrap();
        assert_eq!(seqs(&path), [0, 1, 2]);
    }

    /// The queued lines' write fails: its leader gets the error, the other
    /// caller `Poisoned`, neither is acknowledged, and their seqs are given
    /// back (the session reopened continues after what is on disk).
    #[test]
    fn a_failed_write_of_the_queue_poisons_every_caller_in_it_and_leaves_no_hole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let gate = Arc::new(Gate::default());
        let session = SessionId::new("s");
        let store = open(&path, &gate, &session);
        *gate.held.lock().unwrap() = true;
        let errors = std::thread::scope(|s| {
            let a = s.spawn(|| store.append(Event::new("a")).map(|r| r.seq));
            until(|| gate.waiting.load(Ordering::SeqCst) == 1);
            let b = s.spawn(|| store.append(Event::new("b")).map(|r| r.seq));
            let c = s.spawn(|| store.append(Event::new("c")).map(|r| r.seq));
            until(|| queued_calls(&store) == 2);
            gate.fail_writes.store(true, Ordering::SeqCst);
            *gate.held.lock().unwrap() = false;
            gate.opened.notify_all();
            assert_eq!(a.join().unwrap().unwrap(), 0);
            let mut errors: Vec<String> = [b, c]
                .map(|h| h.join().unwrap().unwrap_err().to_string())
                .to_vec();
            errors.sort();
            errors
        });
        assert!(errors[0].starts_with("cannot append to"), "{errors:?}");
        assert!(
            errors[1].starts_with("the writer is poisoned"),
            "{errors:?}"
        );
        assert!(errors[1].contains("Input/output error"), "{errors:?}");
        assert_eq!(store.watermark_now().synced, Some(0));
        assert!(store.close().is_err(), "poisoned");
        gate.fail_writes.store(false, Ordering::SeqCst);
        let again = open(&path, &gate, &session);
        assert_eq!(again.append(Event::new("after")).unwrap().seq, 1);
        again.close().unwrap();
        assert_eq!(seqs(&path), [0, 1]);
    }

    /// 8 threads at `Sync`: each gets a receipt for every event, and once
    /// they return every acknowledged event is in the file, each thread's
    /// in its order.
    #[test]
    fn eight_threads_at_sync_find_every_acknowledged_event_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let gate = Arc::new(Gate::default());
        let store = open(&path, &gate, &SessionId::new("s"));
        let per = 150;
        let got: Vec<Vec<u64>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|t| {
                    let store = &store;
                    s.spawn(move || {
                        (0..per)
                            .map(|i| {
                                let e = Event::new("nav").field("t", t).field("i", i);
                                store.append(e).unwrap().seq
                            })
                            .collect()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // Before close (which fsyncs): what the receipts promised is there.
        let on_disk = seqs(&path);
        let mut acked: Vec<u64> = got.iter().flatten().copied().collect();
        acked.sort_unstable();
        assert_eq!(acked, (0..8 * per).collect::<Vec<_>>());
        assert_eq!(on_disk, acked, "every acknowledged seq, once, in seq order");
        assert_eq!(store.watermark_now().synced, Some(8 * per - 1));
        for (t, mine) in got.iter().enumerate() {
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "thread {t}: {mine:?}");
        }
        let by_thread = records_by_thread(&path);
        assert_eq!(by_thread, got);
        store.close().unwrap();
    }

    /// The seqs of each thread's records (field `t`), in log order, each
    /// record's `i` checked to count up from 0.
    fn records_by_thread(path: &Path) -> Vec<Vec<u64>> {
        let mut out = vec![Vec::new(); 8];
        for r in Reader::open(path).unwrap() {
            let r = r.unwrap();
            let t = r.fields()["t"].as_u64().unwrap() as usize;
            let i = r.fields()["i"].as_u64().unwrap() as usize;
            assert_eq!(out[t].len(), i, "thread {t}'s events in its order");
            out[t].push(r.seq().unwrap());
        }
        out
    }
}
