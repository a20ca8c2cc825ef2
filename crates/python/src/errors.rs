//! The package's exceptions (`scout_audit.AuditError` and its
//! subclasses) and how each store error maps to one. Messages are the
//! store's, as the CLI prints them (each cause once, joined by `: `).

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _native,
    AuditError,
    PyException,
    "Every error of the package: the store's message, as the CLI gives it."
);
create_exception!(
    _native,
    InvalidEventError,
    AuditError,
    "The event was refused before anything was written: a known field of the wrong type, a reserved field, a line over the 16 MiB bound."
);
create_exception!(
    _native,
    InvalidArgumentError,
    AuditError,
    "An option or argument out of its range: a durability name, a negative interval, a time that does not parse, an unknown group."
);
create_exception!(_native, ClosedError, AuditError, "The log was closed.");
create_exception!(
    _native,
    PoisonedError,
    AuditError,
    "A write or fsync failed earlier: the writer refuses everything until the store is reopened."
);
create_exception!(
    _native,
    AlreadyOpenError,
    AuditError,
    "The store is already open in this process for this session."
);
create_exception!(
    _native,
    SumOverflowError,
    AuditError,
    "The exact sum of cost is beyond the range of a float (or a cost is not finite)."
);
create_exception!(
    _native,
    UnsupportedError,
    AuditError,
    "The operation needs another kind of store (a file store's rotate, say)."
);

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AuditError", py.get_type::<AuditError>())?;
    m.add("InvalidEventError", py.get_type::<InvalidEventError>())?;
    m.add(
        "InvalidArgumentError",
        py.get_type::<InvalidArgumentError>(),
    )?;
    m.add("ClosedError", py.get_type::<ClosedError>())?;
    m.add("PoisonedError", py.get_type::<PoisonedError>())?;
    m.add("AlreadyOpenError", py.get_type::<AlreadyOpenError>())?;
    m.add("SumOverflowError", py.get_type::<SumOverflowError>())?;
    m.add("UnsupportedError", py.get_type::<UnsupportedError>())?;
    Ok(())
}

/// The kinds of failure the exceptions tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// [`InvalidEventError`].
    Invalid,
    /// [`InvalidArgumentError`].
    Argument,
    /// [`ClosedError`].
    Closed,
    /// [`PoisonedError`].
    Poisoned,
    /// [`AlreadyOpenError`].
    AlreadyOpen,
    /// [`SumOverflowError`].
    SumOverflow,
    /// [`UnsupportedError`].
    Unsupported,
    /// [`AuditError`] itself.
    Other,
}

/// An error on its way to Python: its kind and its message.
#[derive(Debug)]
pub struct Failure {
    /// Which exception class.
    pub kind: Kind,
    /// The message.
    pub message: String,
}

impl Failure {
    /// A failure of `kind` with `message`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        let m = f.message;
        match f.kind {
            Kind::Invalid => InvalidEventError::new_err(m),
            Kind::Argument => InvalidArgumentError::new_err(m),
            Kind::Closed => ClosedError::new_err(m),
            Kind::Poisoned => PoisonedError::new_err(m),
            Kind::AlreadyOpen => AlreadyOpenError::new_err(m),
            Kind::SumOverflow => SumOverflowError::new_err(m),
            Kind::Unsupported => UnsupportedError::new_err(m),
            Kind::Other => AuditError::new_err(m),
        }
    }
}

/// The message of an error as the CLI prints it: each cause once.
pub fn message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        let text = c.to_string();
        if !msg.ends_with(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
        cur = c.source();
    }
    msg
}

/// The kind of a file store error.
fn file_kind(e: &scout_audit_store_file::Error) -> Kind {
    use scout_audit_store_file::Error as E;
    match e {
        E::InvalidEvent(_) | E::LineTooLong { .. } => Kind::Invalid,
        E::Closed => Kind::Closed,
        E::Poisoned { .. } => Kind::Poisoned,
        E::AlreadyOpen { .. } => Kind::AlreadyOpen,
        E::SumOverflow { .. } => Kind::SumOverflow,
        _ => Kind::Other,
    }
}

impl From<scout_audit_store_file::Error> for Failure {
    fn from(e: scout_audit_store_file::Error) -> Failure {
        Failure::new(file_kind(&e), message(&e))
    }
}

impl From<scout_audit_core::Error> for Failure {
    fn from(e: scout_audit_core::Error) -> Failure {
        use scout_audit_core::Error as E;
        let kind = match &e {
            E::InvalidEvent(_) | E::LineTooLong { .. } => Kind::Invalid,
            E::Closed => Kind::Closed,
            E::Poisoned(_) => Kind::Poisoned,
            E::Backend(b) => b
                .downcast_ref::<scout_audit_store_file::Error>()
                .map_or(Kind::Other, file_kind),
            _ => Kind::Other,
        };
        Failure::new(kind, message(&e))
    }
}

impl From<scout_audit_scan::Error> for Failure {
    fn from(e: scout_audit_scan::Error) -> Failure {
        match e {
            scout_audit_scan::Error::Store(s) => s.into(),
            other => Failure::new(Kind::Other, message(&other)),
        }
    }
}

impl From<scout_audit_core::agg::SumOverflow> for Failure {
    fn from(e: scout_audit_core::agg::SumOverflow) -> Failure {
        Failure::new(
            Kind::SumOverflow,
            format!("total cost of the selected records cannot be given: {e}"),
        )
    }
}

/// The crate's results.
pub type Result<T> = std::result::Result<T, Failure>;
