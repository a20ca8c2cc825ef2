//! scout-audit-scan: the parallel scanner behind every read of the
//! `scout-audit` command line, and a library for analysts.
//!
//! - [`Inputs`]: what to read: a store ([`Inputs::store`], through the
//!   store's own layout and de-duplication rule) or any files, directories
//!   and globs of `.jsonl` / `.jsonl.gz` ([`Inputs::paths`]).
//! - [`Scan`]: one query over them: a [`Filter`], threads, strictness,
//!   [`Pruning`]; then an answer: [`Scan::count`], [`Scan::spend`],
//!   [`Scan::accuracy`], [`Scan::event_counts`], [`Scan::stats`],
//!   [`Scan::last`], [`Scan::top_files`], [`Scan::summary`], [`Scan::overview`], or the
//!   matching records in log order ([`Scan::for_each_record`]).
//! - [`Answer`]: the value and a [`ScanReport`] (malformed lines counted
//!   and located, what was pruned or answered from indexes).
//!
//! Answers are identical to the sequential reader's
//! (`scout_audit_store_file::Reader` with core's folds) for every query:
//! [`scout_audit_core::decode_line`] stays the one definition of a line
//! (the fast path only decides what it agrees with), and the folds are
//! core's, exact and mergeable. How it works: docs/scan.md.
//!
//! ```
//! use scout_audit_core::{Event, Filter, Sink};
//! use scout_audit_scan::{Inputs, Scan};
//! use scout_audit_store_file::FileStore;
//! # let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("audit.jsonl");
//! let store = FileStore::open(&path)?;
//! store.log(Event::new("nav").cost(0.5))?;
//! store.log(Event::new("validation_fail"))?;
//! store.close()?;
//! let nav = Scan::new(Inputs::store(&path)?).filter(Filter::new().event("nav")).count()?;
//! assert_eq!(nav.value, 1);
//! let acc = Scan::new(Inputs::store(&path)?).accuracy()?;
//! assert_eq!(acc.value.accuracy_pct, 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod canon;
mod engine;
mod error;
pub mod fields;
mod floor;
mod fold;
mod index;
mod live;
mod mmap;
mod order;
mod out;
mod overview;
mod prefilter;
mod sessions;
mod source;
mod status;
mod top;

use std::ops::ControlFlow;
use std::sync::Arc;

use scout_audit_core::agg::{
    AccuracyMetrics, EventCounts, ExactSum, FileCounts, GroupBy, SpendBy, SumOverflow,
};
pub use scout_audit_core::{Filter, Record, Timestamp};
use scout_audit_store_file::index::Summary;

pub use canon::is_canonical;
pub use engine::{Progress, Pruning, ScanReport};
pub use error::{Error, Result};
pub use floor::count_newlines;
pub use index::{IndexOutcome, Rebuild, build_indexes, build_indexes_with};
pub use out::{Jsonl, RecordLine, Render, Rendered, write_json};
pub use source::Inputs;
pub use status::Status;
pub use top::{Tally, Top, minute_of};

use engine::{Ctx, Part};
use fold::Fold;
use prefilter::Prefilter;

/// An answer and what the scan met on the way.
#[derive(Clone, Debug)]
pub struct Answer<T> {
    /// The answer.
    pub value: T,
    /// Counts, located problems, pruning.
    pub report: ScanReport,
}

/// The answer of [`Scan::spend`].
#[derive(Clone, Debug, PartialEq)]
pub struct Spend {
    /// Exact sum of `cost` over the matching records (a missing cost
    /// counts 0), correctly rounded; an error when it is beyond the range
    /// of `f64` (never a wrong number).
    pub total: Result<f64, SumOverflow>,
    /// Matching records.
    pub records: u64,
    /// The groups, when asked for.
    pub groups: Option<SpendBy>,
}

/// The answer of [`Scan::stats`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Records per event type.
    pub events: EventCounts,
    /// The earliest `ts`.
    pub first_ts: Option<Timestamp>,
    /// The latest `ts`.
    pub last_ts: Option<Timestamp>,
    /// Records without a parseable `ts`.
    pub without_ts: u64,
    /// Distinct `session_id`s.
    pub sessions: u64,
}

impl From<fold::StatsFold> for Stats {
    fn from(f: fold::StatsFold) -> Stats {
        Stats {
            events: f.events,
            first_ts: f.first,
            last_ts: f.last,
            without_ts: f.without_ts,
            sessions: f.sessions.len() as u64,
        }
    }
}

/// The answer of [`Scan::stats_with_files`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatsWithFiles {
    /// What [`Scan::stats`] answers.
    pub stats: Stats,
    /// What [`Scan::top_files`] answers.
    pub files: FileCounts,
}

/// One query over [`Inputs`] (see the crate docs). Each answer method
/// consumes it: a store's snapshot is read once.
#[derive(Debug)]
pub struct Scan {
    inputs: Inputs,
    filter: Filter,
    threads: Option<usize>,
    strict: bool,
    pruning: Pruning,
    progress: Option<Arc<Progress>>,
}

impl Scan {
    /// A scan of `inputs` with the empty filter, one thread per core,
    /// [`Pruning::SealTime`], not strict.
    pub fn new(inputs: Inputs) -> Scan {
        Scan {
            inputs,
            filter: Filter::new(),
            threads: None,
            strict: false,
            pruning: Pruning::SealTime,
            progress: None,
        }
    }

    /// Only records matching `filter`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Scan with `n` threads (`None` or 0: one per core).
    pub fn threads(mut self, n: Option<usize>) -> Self {
        self.threads = n;
        self
    }

    /// Fail with the first problem (malformed line, damaged archive, ...)
    /// instead of counting it. A strict scan reads every line of every
    /// input: no pruning, prefilter or index.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// How much may be skipped without reading.
    pub fn pruning(mut self, p: Pruning) -> Self {
        self.pruning = p;
        self
    }

    /// Counts progress into `p` (for a progress bar).
    pub fn progress(mut self, p: Arc<Progress>) -> Self {
        self.progress = Some(p);
        self
    }

    fn want_of_filter(&self) -> fields::Want {
        fields::Want {
            ts: self.filter.has_time_bounds(),
            event: !self.filter.events().is_empty(),
            session: self.filter.session_id().is_some(),
            model: self.filter.model_name().is_some(),
            ..fields::Want::default()
        }
    }

    /// The prefilter of a fold (none in strict mode: every line is read).
    fn prefilter(&self, fold_events: Option<&[&str]>) -> Option<Prefilter> {
        if self.strict {
            None
        } else {
            Prefilter::new(&self.filter, fold_events)
        }
    }

    /// Takes the sources to read (setting the progress total).
    fn take_sources(&mut self) -> Vec<source::Source> {
        if let Some(p) = &self.progress {
            p.set_total(self.inputs.total_bytes());
        }
        std::mem::take(&mut self.inputs.sources)
    }

    /// What every chunk of the scan shares.
    fn ctx<'a, F>(
        &'a self,
        proto: &'a F,
        want: fields::Want,
        pre: Option<&'a Prefilter>,
    ) -> Ctx<'a, F> {
        Ctx {
            filter: &self.filter,
            want: want.or(self.want_of_filter()),
            prefilter: pre,
            proto,
            strict: self.strict,
            pruning: if self.strict {
                Pruning::Off
            } else {
                self.pruning
            },
            progress: self.progress.as_deref(),
        }
    }

    fn run<F: Fold>(mut self, proto: F, how: How<F>) -> Result<(F, ScanReport)> {
        let prefilter = self.prefilter(proto.events());
        let pool = engine::pool(self.threads)?;
        let sources = self.take_sources();
        let ctx = self.ctx(&proto, proto.want(), prefilter.as_ref());
        let threads = pool.current_num_threads();
        let part: Part<F> = pool.install(|| match how {
            How::All => engine::fold_all(&ctx, sources),
            How::Backwards(enough) => engine::fold_backwards(&ctx, sources, threads, enough),
        });
        if self.strict
            && let Some(e) = engine::strict_error(&part.report)
        {
            return Err(e);
        }
        Ok((part.fold, part.report))
    }

    /// The number of matching records.
    pub fn count(self) -> Result<Answer<u64>> {
        let (f, report) = self.run(fold::Count(0), How::All)?;
        Ok(Answer { value: f.0, report })
    }

    /// The exact sum of `cost` over the matching records, optionally
    /// grouped (`spend --by`).
    pub fn spend(self, by: Option<GroupBy>) -> Result<Answer<Spend>> {
        let proto = fold::Spend {
            total: ExactSum::new(),
            records: 0,
            groups: by.map(SpendBy::new),
        };
        let (f, report) = self.run(proto, How::All)?;
        Ok(Answer {
            value: Spend {
                total: f.total.value(),
                records: f.records,
                groups: f.groups,
            },
            report,
        })
    }

    /// Per-session figures of the matching records (`sessions`).
    pub fn sessions(self) -> Result<Answer<scout_audit_core::agg::Sessions>> {
        let (f, report) = self.run(sessions::SessionsFold::default(), How::All)?;
        Ok(Answer { value: f.0, report })
    }

    /// Every figure of `report` over the matching records, in one pass
    /// (core's `Overview`: spend and events per day, sessions, files).
    pub fn overview(self) -> Result<Answer<scout_audit_core::overview::Overview>> {
        let (f, report) = self.run(overview::OverviewFold::default(), How::All)?;
        Ok(Answer { value: f.0, report })
    }

    /// `status`: the exact cost since `hour_since`, the exact cost and
    /// the accuracy since `day_since`, in one scan (the scan's own time
    /// bounds are replaced by the earlier of the two).
    pub fn status(mut self, hour_since: Timestamp, day_since: Timestamp) -> Result<Answer<Status>> {
        let proto = status::StatusFold::new(hour_since, day_since);
        self.filter = proto.filter();
        let (f, report) = self.run(proto, How::All)?;
        Ok(Answer {
            value: f.finish(),
            report,
        })
    }

    /// `top`'s starting point: the records at or after `window_since`
    /// per UTC minute and model, the last `n` of them, and the records
    /// of today (at or after `day_since`) before the window, per model;
    /// in one scan (the scan's own time bounds are replaced by the
    /// earlier start). An archive wholly inside today and before the
    /// window is answered from its index.
    pub fn top(
        mut self,
        day_since: Timestamp,
        window_since: Timestamp,
        n: usize,
    ) -> Result<Answer<Top>> {
        let proto = top::TopFold::new(day_since, window_since, n);
        self.filter = proto.filter();
        let (f, report) = self.run(proto, How::All)?;
        Ok(Answer {
            value: f.finish(),
            report,
        })
    }

    /// `accuracy_metrics` over the matching records.
    pub fn accuracy(self) -> Result<Answer<AccuracyMetrics>> {
        let (f, report) = self.run(fold::Acc::default(), How::All)?;
        Ok(Answer {
            value: f.0.finish(),
            report,
        })
    }

    /// Matching records per event type.
    pub fn event_counts(self) -> Result<Answer<EventCounts>> {
        let (f, report) = self.run(fold::Events::default(), How::All)?;
        Ok(Answer { value: f.0, report })
    }

    /// What `stats` reports of the matching records.
    pub fn stats(self) -> Result<Answer<Stats>> {
        let (f, report) = self.run(fold::StatsFold::default(), How::All)?;
        Ok(Answer {
            value: Stats::from(f),
            report,
        })
    }

    /// [`Scan::stats`] and [`Scan::top_files`] in one pass.
    pub fn stats_with_files(self) -> Result<Answer<StatsWithFiles>> {
        let (f, report) = self.run(fold::StatsAndFiles::default(), How::All)?;
        let value = StatsWithFiles {
            stats: Stats::from(f.stats),
            files: f.files.0,
        };
        Ok(Answer { value, report })
    }

    /// How often each file appears in the matching records' `files`.
    pub fn top_files(self) -> Result<Answer<FileCounts>> {
        let (f, report) = self.run(fold::Files::default(), How::All)?;
        Ok(Answer { value: f.0, report })
    }

    /// The last `n` matching records, oldest first. Reads inputs from the
    /// newest back and stops once it has `n`.
    pub fn last(self, n: usize) -> Result<Answer<Vec<Record>>> {
        let want = n as u64;
        let enough: Box<dyn Fn(&fold::Last) -> bool + Send + Sync> =
            Box::new(move |f: &fold::Last| f.matched >= want);
        let (f, report) = self.run(fold::Last::new(n), How::Backwards(enough))?;
        let value = f
            .last
            .into_vec()
            .into_iter()
            .filter_map(fold::Held::into_record)
            .collect();
        Ok(Answer { value, report })
    }

    /// [`Scan::last`] as text: the last `n` matching records, oldest
    /// first, rendered by `render` on the scan's threads (the held lines
    /// of canonical records copied as they are, with [`Jsonl`]).
    pub fn last_rendered(self, n: usize, render: &dyn Render) -> Result<Answer<Rendered>> {
        let threads = self.threads;
        let want = n as u64;
        let enough: Box<dyn Fn(&fold::Last) -> bool + Send + Sync> =
            Box::new(move |f: &fold::Last| f.matched >= want);
        let (f, report) = self.run(fold::Last::new(n), How::Backwards(enough))?;
        let held = f.last.into_vec();
        let pool = engine::pool(threads)?;
        let value = pool.install(|| out::render_held(&held, render));
        Ok(Answer { value, report })
    }

    /// The summary an archive index holds, of the matching records (with
    /// the empty filter: of the inputs).
    pub fn summary(self) -> Result<Answer<Summary>> {
        let (f, report) = self.run(fold::SummaryFold::default(), How::All)?;
        let mut s = f.0;
        s.bytes = report.read.bytes;
        s.malformed = report.read.malformed;
        s.torn_tails = report.read.torn_tails;
        s.torn_fragments = report.read.torn_fragments;
        Ok(Answer { value: s, report })
    }

    /// Hands every matching record to `emit`, in log order, until it
    /// returns `Break`. Chunks are parsed in parallel, a bounded window at
    /// a time. In strict mode the records before the first problem are
    /// handed over, then the error is returned.
    pub fn for_each_record(
        self,
        mut emit: impl FnMut(Record) -> ControlFlow<()>,
    ) -> Result<ScanReport> {
        self.stream(fold::Collect::default(), &mut |c: fold::Collect| {
            for r in c.0 {
                emit(r)?;
            }
            ControlFlow::Continue(())
        })
    }

    /// The matching records as text, in log order: each chunk's records
    /// are rendered by `render` on the thread that parsed the chunk, and
    /// handed to `emit` as one [`Rendered`] (possibly empty) per chunk,
    /// until it returns `Break`. The same records as
    /// [`Scan::for_each_record`], in the same order, with the same
    /// report and strict error; with [`Jsonl`], the bytes of writing each
    /// of them with [`write_json`] and a `\n` (docs/scan.md, "Records
    /// out").
    pub fn for_each_rendered(
        self,
        render: &dyn Render,
        mut emit: impl FnMut(&Rendered) -> ControlFlow<()>,
    ) -> Result<ScanReport> {
        let proto = out::RenderFold {
            render,
            out: Rendered::default(),
        };
        self.stream(proto, &mut |f: out::RenderFold<'_>| emit(&f.out))
    }

    /// Streams the folds of the chunks in log order (the two above).
    fn stream<F: Fold>(
        mut self,
        proto: F,
        emit: &mut dyn FnMut(F) -> ControlFlow<()>,
    ) -> Result<ScanReport> {
        let prefilter = self.prefilter(None);
        let pool = engine::pool(self.threads)?;
        let window = RECORD_WINDOW * pool.current_num_threads();
        let sources = self.take_sources();
        let ctx = self.ctx(&proto, fields::Want::default(), prefilter.as_ref());
        let report = engine::stream_records(&ctx, &pool, sources, window, emit);
        if self.strict
            && let Some(e) = engine::strict_error(&report)
        {
            return Err(e);
        }
        Ok(report)
    }
}

/// Chunks of the record stream in flight (parsed, or waiting their turn
/// to be handed over) per thread: bounds its memory (chunks of 2 MiB of
/// a map, blocks of 1 MiB of a stream, and what they render).
const RECORD_WINDOW: usize = 3;

/// How the engine walks the sources for a fold.
enum How<F> {
    All,
    Backwards(Box<dyn Fn(&F) -> bool + Send + Sync>),
}
