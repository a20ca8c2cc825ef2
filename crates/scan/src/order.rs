//! Jobs run in parallel, results handed over in the order they were
//! submitted: the record stream's bounded reorder buffer.
//!
//! The caller's thread submits jobs (reading a stream's next block as it
//! goes) and hands results over; the pool's threads run the jobs. At most
//! `window` jobs are submitted and not yet handed over, running or done,
//! so memory is bounded by the window whatever the input's size. A job
//! that finishes early waits in the buffer for those before it; the next
//! job starts as soon as one is handed over, not when a whole window is.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};

/// A job's result, or the panic it ended in (raised again on the
/// caller's thread).
type Outcome<R> = std::thread::Result<R>;

/// The jobs of one [`rayon::Scope`] (see the module docs).
pub(crate) struct Ordered<'a, 's, R> {
    scope: &'a rayon::Scope<'s>,
    tx: Sender<(u64, Outcome<R>)>,
    rx: Receiver<(u64, Outcome<R>)>,
    /// Results received ahead of their turn, by job number; with the jobs
    /// running, never more than `window`.
    early: BTreeMap<u64, R>,
    /// Jobs submitted.
    submitted: u64,
    /// Jobs handed over (the next to hand over is this one).
    handed: u64,
    /// At least 1.
    window: u64,
    /// Set once `hand` broke: nothing more is handed over.
    stopped: bool,
}

impl<'a, 's, R: Send + 's> Ordered<'a, 's, R> {
    /// Jobs on `scope`, at most `window` (at least 1) in flight.
    pub fn new(scope: &'a rayon::Scope<'s>, window: usize) -> Self {
        let (tx, rx) = channel();
        Ordered {
            scope,
            tx,
            rx,
            early: BTreeMap::new(),
            submitted: 0,
            handed: 0,
            window: window.max(1) as u64,
            stopped: false,
        }
    }

    /// Starts `job`, after handing over results in order to `hand` until
    /// fewer than `window` are in flight. `Break` once `hand` broke.
    pub fn submit(
        &mut self,
        job: impl FnOnce() -> R + Send + 's,
        hand: &mut dyn FnMut(R) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        while !self.stopped && self.submitted - self.handed >= self.window {
            self.hand_next(hand);
        }
        if self.stopped {
            return ControlFlow::Break(());
        }
        let n = self.submitted;
        self.submitted += 1;
        let tx = self.tx.clone();
        self.scope.spawn(move |_| {
            let out = catch_unwind(AssertUnwindSafe(job));
            // The receiver outlives the scope's jobs; a send cannot fail.
            let _ = tx.send((n, out));
        });
        ControlFlow::Continue(())
    }

    /// Hands over every remaining result in order. `Break` if `hand` broke.
    pub fn finish(&mut self, hand: &mut dyn FnMut(R) -> ControlFlow<()>) -> ControlFlow<()> {
        while !self.stopped && self.handed < self.submitted {
            self.hand_next(hand);
        }
        if self.stopped {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Waits for the next result in order and hands it over.
    fn hand_next(&mut self, hand: &mut dyn FnMut(R) -> ControlFlow<()>) {
        let r = loop {
            if let Some(r) = self.early.remove(&self.handed) {
                break r;
            }
            // Every job sends exactly once, and `self.tx` keeps the
            // channel open: a job in flight always answers.
            let Ok((n, out)) = self.rx.recv() else {
                unreachable!("the sender is held by self")
            };
            match out {
                Ok(r) => {
                    self.early.insert(n, r);
                }
                Err(panic) => resume_unwind(panic),
            }
        };
        self.handed += 1;
        if hand(r).is_break() {
            self.stopped = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(jobs: u64, window: usize, stop_at: Option<u64>) -> Vec<u64> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let mut got = Vec::new();
        let mut hand = |r: u64| {
            got.push(r);
            if Some(r) == stop_at {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        pool.in_place_scope(|s| {
            let mut o = Ordered::new(s, window);
            for i in 0..jobs {
                let job = move || {
                    // Later jobs finish first.
                    std::thread::sleep(std::time::Duration::from_micros((jobs - i) * 50));
                    i
                };
                if o.submit(job, &mut hand).is_break() {
                    return;
                }
            }
            let _ = o.finish(&mut hand);
        });
        got
    }

    #[test]
    fn results_come_in_submission_order() {
        assert_eq!(run(40, 4, None), (0..40).collect::<Vec<_>>());
        assert_eq!(run(5, 1, None), (0..5).collect::<Vec<_>>());
        assert_eq!(run(0, 4, None), Vec::<u64>::new());
    }

    #[test]
    fn nothing_is_handed_after_a_break() {
        assert_eq!(run(40, 4, Some(6)), (0..=6).collect::<Vec<_>>());
    }

    #[test]
    #[should_panic(expected = "job 3")]
    fn a_job_panic_reaches_the_caller() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.in_place_scope(|s| {
            let mut o = Ordered::new(s, 2);
            let mut hand = |_: u64| ControlFlow::Continue(());
            for i in 0..6u64 {
                let _ = o.submit(
                    move || {
                        assert!(i != 3, "job 3");
                        i
                    },
                    &mut hand,
                );
            }
            let _ = o.finish(&mut hand);
        });
    }
}
