//! scout-audit-core: the event model of scout-audit, and nothing that
//! touches a disk.
//!
//! - [`Event`]: what a program logs, built with chained setters, and its one
//!   JSONL encoding ([`Event::encode_into`]).
//! - [`Record`]: a line read back, faithful to the disk, and
//!   [`decode_line`], the one definition of how a line is read.
//! - [`Sink`]: where events go, with durable acknowledgements at a
//!   [`Durability`] level; [`MemorySink`] is the in-memory one.
//! - [`Filter`] and the aggregates in [`agg`]: the queries of the Python
//!   original, as pure folds shared by every engine; [`ReadStore`], the
//!   query side every backend implements.
//! - [`writer`]: the writer core (seqs, poisoning, sync policy, group
//!   commit, buffering, the timer loop) every writer keeps its bookkeeping
//!   in: the file store's and [`batching::BatchingSink`].
//!
//! ```
//! use scout_audit_core::{Event, MemorySink, Sink, agg};
//!
//! let sink = MemorySink::new();
//! sink.log(Event::new("nav").cost(0.25).model("m1")).unwrap();
//! sink.log(Event::new("validation_fail")).unwrap();
//! let records = sink.records();
//! let m = agg::accuracy_metrics(&records, None);
//! assert_eq!((m.total_nav, m.validation_fail_count, m.accuracy_pct), (1, 1, 0.0));
//! ```

pub mod agg;
pub mod batching;
mod clock;
pub mod compact;
mod error;
pub mod event;
mod filter;
mod memory;
pub mod overview;
pub mod read;
pub mod record;
mod session;
mod sink;
mod time;
pub mod writer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use event::{Event, types};
pub use filter::Filter;
pub use memory::MemorySink;
pub use read::{
    MAX_LISTED_BREAKS, ReadStore, RecordStats, RecordStream, SHARED_SEQ_NOTE, SeqBreakAt, SeqCheck,
    Skipped, Store,
};
pub use record::{Decoded, MAX_LINE, Malformed, Record, check_line_len, decode_line};
pub use session::{SessionId, WriterId};
pub use sink::{Durability, Receipt, Sink, Watermark};
pub use time::{Timestamp, TimestampError};
