//! [`RecordIter`]: `iter_query`'s stream. A thread runs the read and
//! hands records over a bounded channel; memory holds at most
//! [`WINDOW`] records besides the scanner's own bounded window, however
//! many months the store holds. Dropping the iterator ends the read.

use std::ops::ControlFlow;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};

use pyo3::prelude::*;
use scout_audit_core::Record;
use scout_audit_core::writer::lock_ignoring_poison;

use crate::convert::map_to_py;
use crate::errors::{Failure, Kind};
use crate::open::Writer;
use crate::reads::{self, Select};

/// Records waiting in the channel, at most.
pub const WINDOW: usize = 1024;

type Item = Result<Record, Failure>;

/// The records of one `iter_query`, in log order.
#[pyclass(frozen, module = "scout_audit._native")]
pub struct RecordIter {
    /// The channel's receiving end; `None` once the stream ended.
    rx: Mutex<Option<Receiver<Item>>>,
    /// The process that started the read (its thread is not in a child).
    pid: u32,
}

/// The reading thread's loop: every matching record into `tx` (at most
/// `limit`), then the read's error if any.
fn produce(
    w: Writer,
    sel: Select,
    limit: Option<u64>,
    threads: Option<usize>,
    tx: SyncSender<Item>,
) {
    let limit = limit.unwrap_or(u64::MAX);
    if limit == 0 {
        return;
    }
    let mut sent: u64 = 0;
    let r = reads::for_each(&w, &sel, threads, |rec| {
        if tx.send(Ok(rec)).is_err() {
            return ControlFlow::Break(());
        }
        sent += 1;
        if sent >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if let Err(e) = r {
        let _ = tx.send(Err(e));
    }
}

impl RecordIter {
    /// Starts the read on its own thread.
    pub fn start(w: Writer, sel: Select, limit: Option<u64>, threads: Option<usize>) -> RecordIter {
        let (tx, rx) = sync_channel(WINDOW);
        std::thread::spawn(move || produce(w, sel, limit, threads, tx));
        RecordIter {
            rx: Mutex::new(Some(rx)),
            pid: std::process::id(),
        }
    }
}

#[pymethods]
impl RecordIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, pyo3::types::PyDict>>> {
        if self.pid != std::process::id() {
            return Err(Failure::new(
                Kind::Other,
                "this iterator was started in the parent process: start iter_query again in the child",
            )
            .into());
        }
        // A record already waiting is taken without releasing the GIL;
        // otherwise wait (and take the lock) with it released.
        let ready = match self.rx.try_lock() {
            Ok(g) => g.as_ref().map(|rx| rx.try_recv()),
            Err(_) => None,
        };
        let item = match ready {
            Some(Ok(i)) => Some(i),
            Some(Err(TryRecvError::Disconnected)) => None,
            _ => py.allow_threads(|| {
                let g = lock_ignoring_poison(&self.rx);
                g.as_ref().and_then(|rx| rx.recv().ok())
            }),
        };
        match item {
            Some(Ok(r)) => Ok(Some(map_to_py(py, r.fields())?)),
            Some(Err(e)) => {
                self.close();
                Err(e.into())
            }
            None => {
                self.close();
                Ok(None)
            }
        }
    }

    /// Ends the read (the reading thread stops at its next record).
    fn close(&self) {
        lock_ignoring_poison(&self.rx).take();
    }
}
