//! [`Native`]: one open writer on any store, with its read side: what the
//! Python `AuditLog` holds.
//!
//! Fork safety: the writer remembers the process that opened it. A call
//! in another process (a child of `os.fork()`, which `multiprocessing`
//! does) never touches the parent's writer, its buffer or its threads:
//! it is forgotten (leaked, so nothing of it is flushed or closed twice)
//! and the child opens its own writer, with its own random session, on
//! the same store with the same options.
//!
//! Locking: `state` is taken only while the GIL is held and is never held
//! across Python code or a GIL release, so two Python threads never wait
//! for each other through it, and `os.fork()` (which runs with the GIL
//! held) never copies it locked.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyString};
use scout_audit_core::writer::lock_ignoring_poison;
use scout_audit_core::{Durability, Event, Record, SessionId, Timestamp};
use serde_json::Value;

use crate::convert::{NotJson, map_to_py, to_json};
use crate::errors::{Failure, Kind};
use crate::iter::RecordIter;
use crate::open::{Addr, Options, Writer, open, seconds};
use crate::reads::{self, Select};

/// What changes over a writer's life.
struct State {
    /// The writer; `None` once closed.
    writer: Option<Writer>,
    /// The process that opened `writer`.
    pid: u32,
}

/// One open writer (see the module docs).
#[pyclass(frozen, module = "scout_audit._native")]
pub struct Native {
    addr: Addr,
    opts: Options,
    state: Mutex<State>,
}

/// Parses a time given by the Python layer (an ISO 8601 text).
fn time(name: &str, t: Option<&str>) -> PyResult<Option<Timestamp>> {
    t.map(|s| {
        Timestamp::parse(s)
            .map_err(|e| Failure::new(Kind::Argument, format!("{name}: {s:?}: {e}")).into())
    })
    .transpose()
}

fn select(
    since: Option<&str>,
    until: Option<&str>,
    events: Vec<String>,
    session: Option<String>,
    model: Option<String>,
) -> PyResult<Select> {
    Ok(Select {
        since: time("since", since)?,
        until: time("until", until)?,
        events,
        session,
        model,
    })
}

fn records_to_py<'py>(py: Python<'py>, rs: &[Record]) -> PyResult<Bound<'py, PyList>> {
    let l = PyList::empty(py);
    for r in rs {
        l.append(map_to_py(py, r.fields())?)?;
    }
    Ok(l)
}

/// The known fields of `log`, in the original's order.
const KNOWN: [&str; 9] = [
    "cost",
    "model",
    "input_t",
    "output_t",
    "files",
    "reason",
    "confidence",
    "duration_ms",
    "config",
];

/// Builds the event `log` was given (see docs/python.md, "log").
fn build_event(
    event_type: &Bound<'_, PyAny>,
    known: [Option<&Bound<'_, PyAny>>; 9],
    extra: Option<&Bound<'_, PyDict>>,
) -> PyResult<Event> {
    let Ok(t) = event_type.downcast::<PyString>() else {
        let ty = event_type.get_type().name()?;
        return Err(
            Failure::new(Kind::Invalid, format!("event_type must be a str, not {ty}")).into(),
        );
    };
    let mut e = Event::new(t.to_cow()?.into_owned());
    for (name, v) in KNOWN.iter().zip(known) {
        let Some(v) = v.filter(|v| !v.is_none()) else {
            continue;
        };
        if *name == "cost"
            && let Ok(f) = v.downcast::<PyFloat>()
        {
            e = e.cost(f.value());
            continue;
        }
        let j = to_json(v, NotJson::Str)?.unwrap_or(Value::Null);
        e = e.field(*name, j);
    }
    if let Some(extra) = extra {
        for (k, v) in extra.iter() {
            let k: String = k.extract()?;
            if k == "session_id" && !v.is_truthy()? {
                continue;
            }
            if k == "ts"
                && let Some(text) = datetime_text(&v)?
            {
                e = e.field(k, Value::String(text));
                continue;
            }
            let j = match to_json(&v, NotJson::Fail)? {
                Some(j) => j,
                None => Value::String(v.str()?.to_string()),
            };
            e = e.field(k, j);
        }
    }
    e.validate().map_err(|m| Failure::new(Kind::Invalid, m))?;
    Ok(e)
}

/// A `datetime` as the text the store reads: `isoformat()`, a naive one
/// taken as UTC (decision 3); `None` for anything else.
fn datetime_text(v: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    let py = v.py();
    let dt = py.import("datetime")?;
    if !v.is_instance(&dt.getattr("datetime")?)? {
        return Ok(None);
    }
    let tz = v.getattr("tzinfo")?;
    let naive = tz.is_none() || tz.call_method1("utcoffset", (v,))?.is_none();
    let v = if naive {
        let utc = dt.getattr("timezone")?.getattr("utc")?;
        let kw = PyDict::new(py);
        kw.set_item("tzinfo", utc)?;
        v.call_method("replace", (), Some(&kw))?
    } else {
        v.clone()
    };
    Ok(Some(v.call_method0("isoformat")?.extract()?))
}

impl Native {
    /// The writer of this process (opening this process's own after a
    /// fork); `ClosedError` once closed.
    fn writer(&self) -> PyResult<Writer> {
        let mut st = lock_ignoring_poison(&self.state);
        let pid = std::process::id();
        if st.pid != pid {
            // A child of fork: the parent's writer is not ours to flush or
            // close; forget it whole.
            if let Some(w) = st.writer.take() {
                std::mem::forget(w);
                st.writer = Some(open(&self.addr, &self.opts, Some(SessionId::random()))?);
            }
            st.pid = pid;
        }
        st.writer
            .clone()
            .ok_or_else(|| Failure::new(Kind::Closed, "the log is closed").into())
    }
}

#[pymethods]
impl Native {
    /// Opens a writer on the store at `addr` (a file store's live file,
    /// `sqlite:PATH` or `postgres://…`) with the CLI's options.
    #[new]
    #[pyo3(signature = (addr, durability="process", rotate_size=10 << 20, fsync_lines=10,
        fsync_interval=1.0, max_delay=0.05, keep_archives=None, keep_age=None,
        keep_bytes=None, no_compress=false, seal_interval=1.0, allow_shared_dir=false,
        threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        addr: &str,
        durability: &str,
        rotate_size: u64,
        fsync_lines: u64,
        fsync_interval: f64,
        max_delay: f64,
        keep_archives: Option<usize>,
        keep_age: Option<f64>,
        keep_bytes: Option<u64>,
        no_compress: bool,
        seal_interval: f64,
        allow_shared_dir: bool,
        threads: Option<usize>,
    ) -> PyResult<Native> {
        let durability: Durability = durability.parse().map_err(|_| {
            Failure::new(
                Kind::Argument,
                format!(
                    "durability must be \"buffered\", \"process\" or \"sync\", not {durability:?}"
                ),
            )
        })?;
        if threads.is_some_and(|n| !(1..=256).contains(&n)) {
            return Err(Failure::new(Kind::Argument, "threads must be from 1 to 256").into());
        }
        let opts = Options {
            durability,
            rotate_size,
            fsync_lines,
            fsync_interval: seconds("fsync_interval", fsync_interval)?,
            max_delay: seconds("max_delay", max_delay)?,
            keep_archives,
            keep_age: keep_age.map(|s| seconds("keep_age", s)).transpose()?,
            keep_bytes,
            no_compress,
            seal_interval: seconds("seal_interval", seal_interval)?,
            allow_shared_dir,
            threads,
        };
        let addr = Addr::parse(addr);
        let fresh = crate::MODULE_PID.get() != Some(&std::process::id());
        let session = fresh.then(SessionId::random);
        let w = py.allow_threads(|| open(&addr, &opts, session))?;
        Ok(Native {
            addr,
            opts,
            state: Mutex::new(State {
                writer: Some(w),
                pid: std::process::id(),
            }),
        })
    }

    /// Logs one event: `AuditLog.log` itself (bound to the instance by
    /// the Python layer, decision 192), with its signature.
    #[pyo3(signature = (event_type, *, cost=None, model=None, input_t=None, output_t=None,
        files=None, reason=None, confidence=None, duration_ms=None, config=None, **extra))]
    #[allow(clippy::too_many_arguments)]
    fn log(
        &self,
        py: Python<'_>,
        event_type: &Bound<'_, PyAny>,
        cost: Option<&Bound<'_, PyAny>>,
        model: Option<&Bound<'_, PyAny>>,
        input_t: Option<&Bound<'_, PyAny>>,
        output_t: Option<&Bound<'_, PyAny>>,
        files: Option<&Bound<'_, PyAny>>,
        reason: Option<&Bound<'_, PyAny>>,
        confidence: Option<&Bound<'_, PyAny>>,
        duration_ms: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyAny>>,
        extra: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let known = [
            cost,
            model,
            input_t,
            output_t,
            files,
            reason,
            confidence,
            duration_ms,
            config,
        ];
        let e = build_event(event_type, known, extra)?;
        let w = self.writer()?;
        // The GIL is released even for one write: it costs under 1% of a
        // call, and the write may wait (decision 191).
        py.allow_threads(|| match &w {
            Writer::File(s) => s.append(e).map(drop).map_err(Failure::from),
            Writer::Table(t) => t.log(e).map(drop).map_err(Failure::from),
        })?;
        Ok(())
    }

    /// Makes every event logged so far survive power loss.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let w = self.writer()?;
        py.allow_threads(|| match &w {
            Writer::File(s) => s.sync().map_err(Failure::from),
            Writer::Table(t) => t.flush().map_err(Failure::from),
        })?;
        Ok(())
    }

    /// Flushes and closes; a second close does nothing. In a child of
    /// fork that never used the log, the parent's writer is left alone.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let w = {
            let mut st = lock_ignoring_poison(&self.state);
            if st.pid != std::process::id() {
                if let Some(w) = st.writer.take() {
                    std::mem::forget(w);
                }
                return Ok(());
            }
            st.writer.take()
        };
        let Some(w) = w else { return Ok(()) };
        py.allow_threads(|| match &w {
            Writer::File(s) => s.close().map_err(Failure::from),
            Writer::Table(t) => t.close().map_err(Failure::from),
        })?;
        Ok(())
    }

    /// Whether the log is closed.
    #[getter]
    fn closed(&self) -> bool {
        lock_ignoring_poison(&self.state).writer.is_none()
    }

    /// Seals the live file of a file store now; the sealed segment's name,
    /// `None` when the live file was empty.
    fn rotate(&self, py: Python<'_>) -> PyResult<Option<String>> {
        match self.writer()? {
            Writer::File(s) => Ok(py.allow_threads(|| s.rotate()).map_err(Failure::from)?),
            Writer::Table(_) => Err(Failure::new(
                Kind::Unsupported,
                format!("rotate needs a file store, not {}", self.addr.describe()),
            )
            .into()),
        }
    }

    /// This writer's session id.
    #[getter]
    fn session(&self) -> PyResult<String> {
        Ok(match self.writer()? {
            Writer::File(s) => s.session_id().to_string(),
            Writer::Table(t) => t.session().to_string(),
        })
    }

    /// The durability level's name.
    #[getter]
    fn durability(&self) -> &'static str {
        self.opts.durability.name()
    }

    /// The store's address, a password hidden.
    #[getter]
    fn address(&self) -> String {
        self.addr.describe()
    }

    /// The matching records (at most `limit`), in log order.
    #[pyo3(signature = (since=None, until=None, events=Vec::new(), session=None, model=None, limit=None))]
    #[allow(clippy::too_many_arguments)]
    fn query<'py>(
        &self,
        py: Python<'py>,
        since: Option<&str>,
        until: Option<&str>,
        events: Vec<String>,
        session: Option<String>,
        model: Option<String>,
        limit: Option<u64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let sel = select(since, until, events, session, model)?;
        let w = self.writer()?;
        let threads = self.opts.threads;
        let rs = py.allow_threads(|| reads::records(&w, &sel, limit, threads))?;
        records_to_py(py, &rs)
    }

    /// The matching records, streamed (bounded memory).
    #[pyo3(signature = (since=None, until=None, events=Vec::new(), session=None, model=None, limit=None))]
    #[allow(clippy::too_many_arguments)]
    fn iter_query(
        &self,
        since: Option<&str>,
        until: Option<&str>,
        events: Vec<String>,
        session: Option<String>,
        model: Option<String>,
        limit: Option<u64>,
    ) -> PyResult<RecordIter> {
        let sel = select(since, until, events, session, model)?;
        let w = self.writer()?;
        // One scan thread unless asked: the consumer (dicts made under the
        // GIL) is the bottleneck, and each scan thread keeps a window of
        // parsed records (decision 148).
        Ok(RecordIter::start(
            w,
            sel,
            limit,
            self.opts.threads.or(Some(1)),
        ))
    }

    /// The last `n` matching records, oldest first.
    #[pyo3(signature = (n, events=Vec::new()))]
    fn last<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        events: Vec<String>,
    ) -> PyResult<Bound<'py, PyList>> {
        let sel = select(None, None, events, None, None)?;
        let w = self.writer()?;
        let threads = self.opts.threads;
        let rs = py.allow_threads(|| reads::last(&w, &sel, n, threads))?;
        records_to_py(py, &rs)
    }

    /// `hourly_spend(hours)`: the exact sum of cost since `hours` ago.
    fn hourly_spend(&self, py: Python<'_>, hours: f64) -> PyResult<f64> {
        let Some(cutoff) = scout_audit_core::agg::spend_cutoff(Timestamp::now(), hours) else {
            return Ok(0.0);
        };
        let sel = Select {
            since: Some(cutoff),
            ..Select::default()
        };
        let w = self.writer()?;
        let threads = self.opts.threads;
        Ok(py
            .allow_threads(|| reads::spend(&w, &sel, None, threads))?
            .total)
    }

    /// The exact spend: `(total, records, groups)`, each group
    /// `(key, records, cost, input_t, output_t)`.
    #[pyo3(signature = (since=None, until=None, events=Vec::new(), session=None, model=None, by=None))]
    #[allow(clippy::too_many_arguments)]
    fn spend(
        &self,
        py: Python<'_>,
        since: Option<&str>,
        until: Option<&str>,
        events: Vec<String>,
        session: Option<String>,
        model: Option<String>,
        by: Option<&str>,
    ) -> PyResult<(f64, u64, Option<Vec<reads::Group>>)> {
        let sel = select(since, until, events, session, model)?;
        let by = by.map(reads::group_by).transpose()?;
        let w = self.writer()?;
        let threads = self.opts.threads;
        let s = py.allow_threads(|| reads::spend(&w, &sel, by, threads))?;
        Ok((s.total, s.records, s.groups))
    }

    /// Navigation accuracy: `(total_nav, validation_fail_count, accuracy_pct)`.
    #[pyo3(signature = (since=None, until=None))]
    fn accuracy(
        &self,
        py: Python<'_>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> PyResult<(u64, u64, f64)> {
        let sel = select(since, until, Vec::new(), None, None)?;
        let w = self.writer()?;
        let threads = self.opts.threads;
        let m = py.allow_threads(|| reads::accuracy(&w, &sel, threads))?;
        Ok((m.total_nav, m.validation_fail_count, m.accuracy_pct))
    }

    /// What `scout-audit stats` tells, as a dict (times as ISO texts).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let w = self.writer()?;
        let threads = self.opts.threads;
        let s = py.allow_threads(|| reads::stats(&w, threads))?;
        let d = PyDict::new(py);
        d.set_item("records", s.records)?;
        let ev = PyDict::new(py);
        for (e, n) in &s.events {
            ev.set_item(e, n)?;
        }
        d.set_item("events", ev)?;
        d.set_item("untyped", s.untyped)?;
        d.set_item("first_ts", s.first_ts.map(|t| t.to_python_string()))?;
        d.set_item("last_ts", s.last_ts.map(|t| t.to_python_string()))?;
        d.set_item("without_ts", s.without_ts)?;
        d.set_item("sessions", s.sessions)?;
        d.set_item("skipped", s.skipped)?;
        Ok(d)
    }

    /// Sets sealing up on a file store; the verification key's text.
    #[pyo3(signature = (epoch=86400))]
    fn seal_init(&self, py: Python<'_>, epoch: u64) -> PyResult<String> {
        let w = self.writer()?;
        Ok(py.allow_threads(|| crate::seal::init(&w, epoch))?)
    }

    /// Seals what was logged: `(new_leaves, size, epoch)` or `None`.
    fn seal(&self, py: Python<'_>) -> PyResult<Option<(u64, u64, u64)>> {
        let w = self.writer()?;
        Ok(py.allow_threads(|| crate::seal::seal_now(&w))?)
    }

    /// `verify --key`'s sealed check, as a dict.
    fn verify_sealed<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyDict>> {
        let w = self.writer()?;
        let v = py.allow_threads(|| crate::seal::verify(&w, key))?;
        let d = PyDict::new(py);
        d.set_item("seals", v.seals)?;
        d.set_item("sealed_leaves", v.sealed_leaves)?;
        d.set_item("unsealed", v.unsealed)?;
        d.set_item("tampering", v.tampering)?;
        d.set_item("notes", v.notes)?;
        Ok(d)
    }

    /// What `scout-audit verify` tells, as a dict.
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let w = self.writer()?;
        let v = py.allow_threads(|| reads::verify(&w))?;
        let d = PyDict::new(py);
        d.set_item("ok", v.ok)?;
        d.set_item("problem_count", v.problem_count)?;
        d.set_item("problems", v.problems)?;
        d.set_item("notes", v.notes)?;
        d.set_item("records", v.records)?;
        d.set_item("sessions", v.sessions)?;
        Ok(d)
    }
}
