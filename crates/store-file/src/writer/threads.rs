//! The writer's two threads: the timer (writes `Buffered` lines after
//! `max_delay`, fsyncs unsynced lines after the policy's interval, even
//! when writes stop; its loop is core's `run_ticker`) and the compressor
//! (compresses sealed segments, applies retention, writes missing
//! indexes, in the order they were queued). Both stop and are joined on
//! close.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scout_audit_core::writer::{
    IDLE_WAIT, Tick, lock_ignoring_poison, run_ticker, sleep_until_first,
};

use super::{Shared, State};
use crate::compress;
use crate::error::{Error, Result};
use crate::fs::LockFile;
use crate::layout::Segment;

/// Work for the compressor thread.
#[derive(Debug)]
pub(super) enum Job {
    /// Compress a sealed segment, then apply retention.
    Compress(Segment),
    /// Write the missing index of one of the store's archives.
    Index(Segment),
    /// Answer when reached: everything queued before is done.
    Marker(Sender<()>),
}

/// Starts the compressor with what recovery found still to compress and
/// to index queued first, and opens its queue.
pub(super) fn start_compressor(
    shared: &Arc<Shared>,
    to_compress: Vec<Segment>,
    to_index: Vec<Segment>,
) -> Result<JoinHandle<()>> {
    // Its own handle on the lock file: flock belongs to an open file
    // description, and the writer's is used by writer threads.
    let bg_lock = shared
        .fs
        .open_lock(&shared.lock_path, true)
        .map_err(|e| Error::io("open lock file", &shared.lock_path, e))?;
    let (tx, rx) = mpsc::channel::<Job>();
    for seg in to_compress {
        // The receiver is alive: it is in this scope.
        let _ = tx.send(Job::Compress(seg));
    }
    for seg in to_index {
        let _ = tx.send(Job::Index(seg));
    }
    *lock_ignoring_poison(&shared.compress_tx) = Some(tx);
    let sh = Arc::clone(shared);
    std::thread::Builder::new()
        .name("scout-audit-compress".into())
        .spawn(move || compressor(&sh, &*bg_lock, rx))
        .map_err(|e| Error::io("start compression thread", shared.layout.dir(), e))
}

/// The compressor's loop: each job in turn until the queue closes.
fn compressor(sh: &Shared, bg_lock: &dyn LockFile, jobs: Receiver<Job>) {
    let archiver = compress::Archiver {
        fs: &*sh.fs,
        layout: &sh.layout,
        retention: &sh.retention,
        clock: &*sh.clock,
        lock: bg_lock,
    };
    // The archive this thread indexed last: its identity was recorded
    // milliseconds after it was made (racy), so it is refreshed when the
    // next one is indexed.
    let mut last_indexed = None;
    for job in jobs {
        match job {
            Job::Compress(seg) => {
                for e in archiver.compress_and_retain(&seg, &mut last_indexed) {
                    sh.record_bg_error(e);
                }
            }
            Job::Index(seg) => {
                if let Err(e) = archiver.index_archive(&seg) {
                    sh.record_bg_error(e);
                }
            }
            Job::Marker(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Starts the timer thread.
pub(super) fn start_timer(shared: &Arc<Shared>) -> Result<JoinHandle<()>> {
    let sh = Arc::clone(shared);
    std::thread::Builder::new()
        .name("scout-audit-timer".into())
        .spawn(move || {
            run_ticker(&sh.state, &sh.ticker_cv, Duration::from_micros(100), |st| {
                sh.tick(st)
            })
        })
        .map_err(|e| Error::io("start timer thread", shared.layout.dir(), e))
}

impl Shared {
    /// One turn of the timer: what is due is done (an error poisons the
    /// writer; the next call reports it), then how long to sleep.
    fn tick<'a>(&'a self, mut st: MutexGuard<'a, State>) -> (MutexGuard<'a, State>, Tick) {
        if st.life.is_closed() {
            return (st, Tick::Stop);
        }
        let policy = &self.settings.policy;
        if !st.life.is_poisoned() {
            let now = Instant::now();
            if st.pending.due(now, self.settings.max_delay) {
                let _ = self.write_pending(&mut st);
            }
            if st.unsynced.interval_due(policy, now) {
                let _ = self.sync_locked(&mut st);
            }
        }
        if st.life.is_poisoned() {
            return (st, Tick::Sleep(IDLE_WAIT));
        }
        let deadlines = [
            st.pending.deadline(self.settings.max_delay),
            st.unsynced.deadline(policy),
        ];
        (
            st,
            Tick::Sleep(sleep_until_first(Instant::now(), &deadlines)),
        )
    }
}
