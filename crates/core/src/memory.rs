//! [`MemorySink`]: a sink that keeps records in memory, for tests and for
//! programs that want the model without the disk.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::record::{Decoded, decode_line};
use crate::{
    Clock, Durability, Error, Event, Receipt, Record, SessionId, Sink, SystemClock, Watermark,
};

/// Keeps every logged event as the [`Record`] a file store would read
/// back (the event is encoded and decoded by the same code). Its
/// acknowledgements mean "held in this sink's memory"; it reports the
/// durability it was created with.
#[derive(Debug)]
pub struct MemorySink {
    session: SessionId,
    durability: Durability,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Every record logged or imported, in order.
    records: Vec<Record>,
    /// The writer session's next seq (imported records do not move it).
    next_seq: u64,
    closed: bool,
}

impl Default for MemorySink {
    fn default() -> Self {
        MemorySink::new()
    }
}

impl MemorySink {
    /// An empty sink writing this process's session, at `Process` level.
    pub fn new() -> MemorySink {
        MemorySink::with(
            SessionId::process(),
            Durability::Process,
            Arc::new(SystemClock),
        )
    }

    /// An empty sink with the given session, level and clock.
    pub fn with(session: SessionId, durability: Durability, clock: Arc<dyn Clock>) -> MemorySink {
        MemorySink {
            session,
            durability,
            clock,
            state: Mutex::new(State::default()),
        }
    }

    /// A copy of every record logged so far, in order.
    pub fn records(&self) -> Vec<Record> {
        self.lock().records.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::writer::lock_ignoring_poison(&self.state)
    }
}

impl Sink for MemorySink {
    fn log(&self, event: Event) -> Result<Receipt, Error> {
        event.validate().map_err(Error::InvalidEvent)?;
        let mut st = self.lock();
        if st.closed {
            return Err(Error::Closed);
        }
        let seq = st.next_seq;
        let ts = event.timestamp().unwrap_or_else(|| self.clock.now());
        let mut line = Vec::with_capacity(256);
        event.encode_into(ts, &self.session, seq, &mut line);
        line.pop();
        crate::record::check_line_len(line.len())?;
        match decode_line(&line) {
            Decoded::Record(r) => {
                st.records.push(r);
                st.next_seq += 1;
            }
            other => {
                return Err(Error::InvalidEvent(format!(
                    "does not read back: {other:?}"
                )));
            }
        }
        Ok(Receipt { seq, ts })
    }

    fn import(&self, records: Vec<Record>) -> Result<u64, Error> {
        let mut st = self.lock();
        if st.closed {
            return Err(Error::Closed);
        }
        for r in &records {
            crate::record::check_line_len(r.to_json_line().len())?;
        }
        let n = records.len() as u64;
        st.records.extend(records);
        Ok(n)
    }

    fn flush(&self) -> Result<(), Error> {
        if self.lock().closed {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn close(&self) -> Result<(), Error> {
        self.lock().closed = true;
        Ok(())
    }

    fn durability(&self) -> Durability {
        self.durability
    }

    fn session(&self) -> SessionId {
        self.session.clone()
    }

    fn watermark(&self) -> Watermark {
        let last = self.lock().next_seq.checked_sub(1);
        Watermark {
            written: last,
            synced: last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ManualClock, Timestamp};

    #[test]
    fn logs_records_with_contiguous_seq() {
        let t0 = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let clock = Arc::new(ManualClock::new(t0));
        let sink = MemorySink::with(SessionId::new("s"), Durability::Sync, clock.clone());
        let r0 = sink.log(Event::new("nav").cost(0.5)).unwrap();
        clock.advance(std::time::Duration::from_secs(1));
        let r1 = sink.log(Event::new("brief")).unwrap();
        assert_eq!((r0.seq, r1.seq), (0, 1));
        assert_eq!(r0.ts, t0);
        let recs = sink.records();
        assert_eq!(
            recs[1].ts(),
            Some(t0.saturating_add(std::time::Duration::from_secs(1)))
        );
        assert_eq!(recs[0].session_id(), Some("s"));
        assert_eq!(recs[0].cost(), Some(0.5));
        assert_eq!(sink.watermark().synced, Some(1));
        assert!(matches!(
            sink.log(Event::new("x").field("seq", 1)),
            Err(Error::InvalidEvent(_))
        ));
        sink.close().unwrap();
        assert!(matches!(sink.log(Event::new("nav")), Err(Error::Closed)));
    }

    #[test]
    fn a_line_over_the_bound_is_refused_and_not_kept() {
        let t0 = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let sink = MemorySink::with(
            SessionId::new("s"),
            Durability::Process,
            Arc::new(ManualClock::new(t0)),
        );
        let mut base = Vec::new();
        Event::new("x")
            .field("pad", "")
            .encode_into(t0, &SessionId::new("s"), 0, &mut base);
        let pad = crate::MAX_LINE - (base.len() - 1);
        let err = sink
            .log(Event::new("x").field("pad", "a".repeat(pad + 1)))
            .unwrap_err();
        assert!(
            matches!(err, Error::LineTooLong { len, max } if len == crate::MAX_LINE as u64 + 1 && max == crate::MAX_LINE as u64),
            "{err}"
        );
        assert!(sink.records().is_empty());
        assert_eq!(sink.watermark(), Watermark::default());
        // At the bound exactly: kept, and the refused event took no seq.
        let r = sink
            .log(Event::new("x").field("pad", "a".repeat(pad)))
            .unwrap();
        assert_eq!(r.seq, 0);
        let recs = sink.records();
        assert_eq!(recs[0].to_json_line().len(), crate::MAX_LINE);
        let mut map = recs[0].clone().into_map();
        map.insert("y".into(), serde_json::Value::from(1));
        assert!(matches!(
            sink.import(vec![Record::from_map(map)]),
            Err(Error::LineTooLong { .. })
        ));
        assert_eq!(sink.records().len(), 1);
    }

    #[test]
    fn imported_records_do_not_move_the_writers_seq() {
        let sink = MemorySink::with(
            SessionId::new("s"),
            Durability::Process,
            Arc::new(ManualClock::new(
                Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            )),
        );
        assert_eq!(sink.log(Event::new("nav")).unwrap().seq, 0);
        let other = MemorySink::with(
            SessionId::new("o"),
            Durability::Process,
            Arc::new(SystemClock),
        );
        for _ in 0..3 {
            other.log(Event::new("brief")).unwrap();
        }
        assert_eq!(sink.import(other.records()).unwrap(), 3);
        assert_eq!(sink.log(Event::new("nav")).unwrap().seq, 1);
        assert_eq!(sink.watermark().written, Some(1));
        assert_eq!(sink.records().len(), 5);
    }
}
