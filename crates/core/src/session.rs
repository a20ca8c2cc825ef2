//! Session ids: one uuid4 per process, as in the Python original.

use std::fmt;
use std::sync::{Arc, OnceLock};

/// The id of a writer session, written as `session_id`.
///
/// [`SessionId::process`] is generated once per process (a uuid4, as the
/// Python original's `_get_session_id`); other values can be given per
/// writer or per event. Cloning is cheap.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Arc<str>);

impl SessionId {
    /// This process's session id: a uuid4 made on first use, the same for
    /// every later call in this process.
    pub fn process() -> SessionId {
        static PROCESS: OnceLock<SessionId> = OnceLock::new();
        PROCESS.get_or_init(SessionId::random).clone()
    }

    /// A fresh random uuid4 session id.
    pub fn random() -> SessionId {
        SessionId(Arc::from(uuid::Uuid::new_v4().to_string()))
    }

    /// A session id with the given text (any string, as Python allowed).
    pub fn new(id: impl Into<String>) -> SessionId {
        SessionId(Arc::from(id.into()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({:?})", &*self.0)
    }
}

impl From<&str> for SessionId {
    fn from(s: &str) -> Self {
        SessionId(Arc::from(s))
    }
}

impl From<String> for SessionId {
    fn from(s: String) -> Self {
        SessionId(Arc::from(s))
    }
}

/// The id of one open writer, written as the reserved field `writer` on
/// records it logs under a session it did not generate itself (an explicit
/// `session_id`): 16 hex digits, random per open. Two processes that log
/// the same event under the same session id and `seq` then write distinct
/// records, and `verify` checks `seq` per (session, writer).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WriterId(Arc<str>);

impl WriterId {
    /// A fresh random writer id (64 bits from a uuid4's random bits).
    pub fn random() -> WriterId {
        let n = uuid::Uuid::new_v4().as_u128();
        let folded = (n >> 64) as u64 ^ n as u64;
        WriterId(Arc::from(format!("{folded:016x}")))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for WriterId {
    /// A writer id read back from a record's `writer` field.
    fn from(s: &str) -> Self {
        WriterId(Arc::from(s))
    }
}

impl fmt::Display for WriterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for WriterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WriterId({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_session_is_stable_uuid4() {
        let a = SessionId::process();
        let b = SessionId::process();
        assert_eq!(a, b);
        let u = uuid::Uuid::parse_str(a.as_str()).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_ne!(SessionId::random(), a);
    }

    #[test]
    fn writer_ids_are_16_hex_and_fresh() {
        let w = WriterId::random();
        assert_eq!(w.as_str().len(), 16);
        assert!(w.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(WriterId::random(), w);
    }
}
