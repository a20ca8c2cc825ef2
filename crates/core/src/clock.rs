//! [`Clock`]: the time source, replaceable in tests.

use std::sync::Mutex;
use std::time::Duration;

use crate::Timestamp;
use crate::writer::lock_ignoring_poison;

/// Where writers and queries get "now" from. Tests use [`ManualClock`] to
/// check time windows and seal names without sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's real-time clock, truncated to microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until told to move.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Sets the time.
    pub fn set(&self, t: Timestamp) {
        *lock_ignoring_poison(&self.now) = t;
    }

    /// Moves the time forward.
    pub fn advance(&self, d: Duration) {
        let mut g = lock_ignoring_poison(&self.now);
        *g = g.saturating_add(d);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *lock_ignoring_poison(&self.now)
    }
}
