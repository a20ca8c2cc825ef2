//! Automatic sealing: a writer of a store set up for sealing (its
//! `<stem>.seal-key` and `<stem>.seal-log` exist when it opens) runs a
//! thread of its own that, once per interval, seals when this writer
//! wrote since its last seal ([`crate::seal::seal_with`], which fsyncs
//! the live file first, so only durable lines are sealed). `close` stops
//! it and seals what is left. The state lock is never held while
//! sealing: the seal takes the store's locks itself, and appends go on
//! while it hashes. A failed seal loses no record: it is kept as the
//! writer's background error (`close` returns it) and tried again at the
//! next turn.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scout_audit_core::writer::{lock_ignoring_poison, wait_timeout_ignoring_poison};

use super::Shared;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::layout::Layout;
use crate::options::SealInterval;
use crate::seal::{SealCache, seal_with, starts_with_init};

/// The sealing thread's settings and state.
#[derive(Debug)]
pub(super) struct AutoSeal {
    /// How long written lines may wait for their seal.
    interval: Duration,
    state: Mutex<SealerState>,
    /// Wakes the thread to stop.
    wake: Condvar,
}

/// What the sealing thread keeps between turns.
#[derive(Debug, Default)]
struct SealerState {
    /// Set once by `close`: the thread returns.
    stop: bool,
    /// The writer's `GroupCommit::issued` count the last successful seal
    /// covered; `None` before the first, which seals whatever earlier
    /// writers left unsealed. A seal is due when the count moved on.
    sealed_through: Option<u64>,
    /// The seal log's tail and the leaves hashed ahead, kept so a seal
    /// costs what was written since the last one.
    cache: SealCache,
}

/// Automatic sealing for the store at `layout`, when it is set up for
/// sealing and `interval` is not off; `None` otherwise.
pub(super) fn detect(fs: &dyn Fs, layout: &Layout, interval: SealInterval) -> Option<AutoSeal> {
    let interval = interval.get()?;
    let set_up = fs.lstat(&layout.seal_key()).is_ok() && starts_with_init(fs, layout);
    set_up.then(|| AutoSeal {
        interval,
        state: Mutex::default(),
        wake: Condvar::new(),
    })
}

/// Starts the sealing thread when the store seals automatically.
pub(super) fn start(shared: &Arc<Shared>) -> Result<Option<JoinHandle<()>>> {
    if shared.autoseal.is_none() {
        return Ok(None);
    }
    let sh = Arc::clone(shared);
    std::thread::Builder::new()
        .name("scout-audit-seal".into())
        .spawn(move || sh.sealer())
        .map(Some)
        .map_err(|e| Error::io("start sealing thread", shared.layout.dir(), e))
}

impl Shared {
    /// The sealing thread: a seal when due, once per interval, until
    /// stopped.
    fn sealer(&self) {
        let Some(auto) = &self.autoseal else {
            return;
        };
        let mut st = lock_ignoring_poison(&auto.state);
        loop {
            let deadline = Instant::now() + auto.interval;
            while !st.stop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                st = wait_timeout_ignoring_poison(&auto.wake, st, deadline - now);
            }
            if st.stop {
                return;
            }
            self.seal_if_due(&mut st);
        }
    }

    /// Seals when this writer wrote since its last seal (or has not
    /// sealed yet); a failure is recorded and the next turn tries again.
    fn seal_if_due(&self, st: &mut MutexGuard<'_, SealerState>) {
        let issued = self.lock_state().writes.issued();
        if st.sealed_through == Some(issued) {
            return;
        }
        match seal_with(&*self.fs, &self.layout, &*self.clock, &mut st.cache) {
            Ok(_) => st.sealed_through = Some(issued),
            Err(e) => {
                // Start the next try afresh: nothing kept can be trusted.
                st.cache = SealCache::default();
                self.record_bg_error(e);
            }
        }
    }

    /// At close: stops the sealing thread, waits for it, and seals what
    /// this writer wrote last (a failure is recorded for `close`).
    pub(super) fn stop_sealing(&self, thread: Option<JoinHandle<()>>) {
        let Some(auto) = &self.autoseal else {
            return;
        };
        lock_ignoring_poison(&auto.state).stop = true;
        auto.wake.notify_all();
        if let Some(t) = thread {
            let _ = t.join();
        }
        self.seal_if_due(&mut lock_ignoring_poison(&auto.state));
    }
}
