//! The folds the engine runs: each a mergeable accumulator over the typed
//! fields of matching records (core's folds underneath, so every engine
//! computes the same bits), that may also be answered for a whole archive
//! from its index.

use std::collections::HashSet;

use scout_audit_core::agg::{Accuracy, EventCounts, ExactSum, FileCounts, GroupBy, LastN, SpendBy};
use scout_audit_core::event::types;
use scout_audit_core::{Decoded, Filter, Record, Timestamp, decode_line};
use scout_audit_store_file::index::Summary;

use crate::fields::{Fields, Want};

/// A matching record as the engine hands it to a fold: its fields, and its
/// line (for folds that keep whole records).
pub(crate) struct Matched<'a, 'b> {
    pub fields: &'b Fields<'a>,
    /// The line holding the record (a glued record's own suffix).
    pub line: &'a [u8],
    /// The record, when the slow path decoded it already.
    pub record: Option<&'b Record>,
}

impl Matched<'_, '_> {
    /// The whole record: the one decoding of its line.
    pub fn to_record(&self) -> Option<Record> {
        if let Some(r) = self.record {
            return Some(r.clone());
        }
        match decode_line(self.line) {
            Decoded::Record(r) | Decoded::Glued { record: r, .. } => Some(r),
            _ => None,
        }
    }
}

/// A query's accumulator (see the module docs).
pub(crate) trait Fold: Clone + Send + Sync {
    /// The fields `add` reads.
    fn want(&self) -> Want;
    /// Event types outside of which a record cannot change the answer
    /// (for the prefilter); `None`: any.
    fn events(&self) -> Option<&'static [&'static str]> {
        None
    }
    /// Counts one matching record.
    fn add(&mut self, m: &Matched<'_, '_>);
    /// Adds the fold of what comes after (log order).
    fn merge(&mut self, later: Self);
    /// The fold of all the records of an archive that `filter` matches,
    /// from its index, when the index can say (every record with a `ts`
    /// is known to be inside the time bounds, or there are none).
    fn answer_from_index(&self, _s: &Summary, _filter: &Filter) -> Option<Self> {
        None
    }
}

/// Index buckets that a filter matches wholly: events in the filter (any
/// when empty), the `ts`-less hour only without time bounds. `None` when
/// the filter has conditions the index does not know (session, model).
pub(crate) fn buckets<'s>(
    s: &'s Summary,
    filter: &'s Filter,
) -> Option<
    impl Iterator<
        Item = (
            Option<i64>,
            Option<&'s str>,
            &'s scout_audit_store_file::index::Totals,
        ),
    >,
> {
    if filter.session_id().is_some() || filter.model_name().is_some() {
        return None;
    }
    let timed = filter.has_time_bounds();
    Some(
        s.hours
            .iter()
            .filter(move |(h, _)| !timed || h.is_some())
            .flat_map(|(h, k)| k.iter().map(move |(e, t)| (*h, e, t)))
            .filter(move |(_, e, _)| {
                filter.events().is_empty()
                    || e.is_some_and(|e| filter.events().iter().any(|x| x == e))
            }),
    )
}

/// Number of matching records.
#[derive(Clone, Debug, Default)]
pub(crate) struct Count(pub u64);

impl Fold for Count {
    fn want(&self) -> Want {
        Want::default()
    }
    fn add(&mut self, _: &Matched<'_, '_>) {
        self.0 += 1;
    }
    fn merge(&mut self, later: Self) {
        self.0 += later.0;
    }
    fn answer_from_index(&self, s: &Summary, filter: &Filter) -> Option<Self> {
        Some(Count(buckets(s, filter)?.map(|(_, _, t)| t.records).sum()))
    }
}

/// `spend`: the exact total (a missing cost counts 0), the records, and
/// optionally groups.
#[derive(Clone, Debug)]
pub(crate) struct Spend {
    pub total: ExactSum,
    pub records: u64,
    pub groups: Option<SpendBy>,
}

impl Fold for Spend {
    fn want(&self) -> Want {
        Want {
            cost: true,
            ts: self.groups.is_some(),
            model: self.groups.is_some(),
            session: self.groups.is_some(),
            tokens: self.groups.is_some(),
            ..Want::default()
        }
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        let f = m.fields;
        self.records += 1;
        self.total.add(f.cost.unwrap_or(0.0));
        if let Some(g) = &mut self.groups {
            g.add_parts(
                f.ts,
                f.model(),
                f.session_id(),
                f.cost,
                f.input_t,
                f.output_t,
            );
        }
    }
    fn merge(&mut self, later: Self) {
        self.records += later.records;
        self.total.merge(&later.total);
        if let (Some(a), Some(b)) = (&mut self.groups, &later.groups) {
            a.merge(b);
        }
    }
    fn answer_from_index(&self, s: &Summary, filter: &Filter) -> Option<Self> {
        let mut out = Spend {
            total: ExactSum::new(),
            records: 0,
            groups: self
                .groups
                .as_ref()
                .map(|g| g.by().map_or_else(SpendBy::ungrouped, SpendBy::new)),
        };
        let by = self.groups.as_ref().and_then(SpendBy::by);
        match by {
            // The index has no sessions, nor models per hour.
            Some(
                GroupBy::Session
                | GroupBy::HourModel
                | GroupBy::DayModel
                | GroupBy::WeekModel
                | GroupBy::MonthModel,
            ) => return None,
            // Per model: the index keeps models over timed records only.
            Some(GroupBy::Model) if !filter.has_time_bounds() || !filter.events().is_empty() => {
                return None;
            }
            _ => {}
        }
        for (hour, _, t) in buckets(s, filter)? {
            out.records += t.records;
            t.add_cost_to(&mut out.total);
            if let Some(g) = &mut out.groups {
                let key = match by {
                    // Hour buckets: the same keys as the records' own (a
                    // UTC hour lies inside one UTC day, ISO week and month).
                    Some(b @ (GroupBy::Hour | GroupBy::Day | GroupBy::Week | GroupBy::Month)) => {
                        b.key(hour.and_then(|h| Timestamp::from_unix(h, 0)), None, None)
                    }
                    // One group for everything.
                    None => None,
                    _ => continue,
                };
                g.add_group(key, &t.spend_group());
            }
        }
        if by == Some(GroupBy::Model) {
            let g = out.groups.as_mut()?;
            for (model, t) in s.models.iter() {
                g.add_group(model.map(str::to_owned), &t.spend_group());
            }
        }
        Some(out)
    }
}

/// `accuracy_metrics`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Acc(pub Accuracy);

impl Fold for Acc {
    fn want(&self) -> Want {
        Want {
            event: true,
            ..Want::default()
        }
    }
    fn events(&self) -> Option<&'static [&'static str]> {
        Some(&[types::NAV, types::VALIDATION_FAIL])
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        self.0.add(m.fields.event());
    }
    fn merge(&mut self, later: Self) {
        self.0.merge(&later.0);
    }
    fn answer_from_index(&self, s: &Summary, filter: &Filter) -> Option<Self> {
        let mut a = Accuracy::default();
        for (_, e, t) in buckets(s, filter)? {
            match e {
                Some(types::NAV) => a.add_counts(t.records, 0),
                Some(types::VALIDATION_FAIL) => a.add_counts(0, t.records),
                _ => {}
            }
        }
        Some(Acc(a))
    }
}

/// Records per event type.
#[derive(Clone, Debug, Default)]
pub(crate) struct Events(pub EventCounts);

impl Fold for Events {
    fn want(&self) -> Want {
        Want {
            event: true,
            ..Want::default()
        }
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        self.0.add(m.fields.event());
    }
    fn merge(&mut self, later: Self) {
        self.0.merge(&later.0);
    }
    fn answer_from_index(&self, s: &Summary, filter: &Filter) -> Option<Self> {
        let mut c = EventCounts::default();
        for (_, e, t) in buckets(s, filter)? {
            c.add_n(e, t.records);
        }
        Some(Events(c))
    }
}

/// What `stats` reports of the records.
#[derive(Clone, Debug, Default)]
pub(crate) struct StatsFold {
    pub events: EventCounts,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub without_ts: u64,
    pub sessions: HashSet<String>,
}

impl Fold for StatsFold {
    fn want(&self) -> Want {
        Want {
            ts: true,
            event: true,
            session: true,
            ..Want::default()
        }
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        let f = m.fields;
        self.events.add(f.event());
        match f.ts {
            Some(t) => {
                self.first = Some(self.first.map_or(t, |x| x.min(t)));
                self.last = Some(self.last.map_or(t, |x| x.max(t)));
            }
            None => self.without_ts += 1,
        }
        if let Some(s) = f.session_id()
            && !self.sessions.contains(s)
        {
            self.sessions.insert(s.to_owned());
        }
    }
    fn merge(&mut self, later: Self) {
        self.events.merge(&later.events);
        self.first = match (self.first, later.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = match (self.last, later.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.without_ts += later.without_ts;
        self.sessions.extend(later.sessions);
    }
}

/// A record kept for later: its line (decoded only if it is kept to the
/// end), or the record when the slow path decoded it already.
#[derive(Clone, Debug)]
pub(crate) enum Held {
    Line(Vec<u8>),
    Record(Record),
}

impl Held {
    pub(crate) fn into_record(self) -> Option<Record> {
        match self {
            Held::Record(r) => Some(r),
            Held::Line(l) => match decode_line(&l) {
                Decoded::Record(r) | Decoded::Glued { record: r, .. } => Some(r),
                _ => None,
            },
        }
    }
}

/// The last `n` matching records, and how many matched in all.
#[derive(Clone, Debug)]
pub(crate) struct Last {
    pub last: LastN<Held>,
    pub matched: u64,
}

impl Fold for Last {
    fn want(&self) -> Want {
        Want::default()
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        self.matched += 1;
        self.last.push(match m.record {
            Some(r) => Held::Record(r.clone()),
            None => Held::Line(m.line.to_vec()),
        });
    }
    fn merge(&mut self, later: Self) {
        self.matched += later.matched;
        for r in later.last.into_vec() {
            self.last.push(r);
        }
    }
}

impl Last {
    pub(crate) fn new(n: usize) -> Last {
        Last {
            last: LastN::new(n),
            matched: 0,
        }
    }
}

/// Every matching record, in order (bounded by the engine's windows).
#[derive(Clone, Debug, Default)]
pub(crate) struct Collect(pub Vec<Record>);

impl Fold for Collect {
    fn want(&self) -> Want {
        Want::default()
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        if let Some(r) = m.to_record() {
            self.0.push(r);
        }
    }
    fn merge(&mut self, later: Self) {
        self.0.extend(later.0);
    }
}

/// How often each file appears.
#[derive(Clone, Debug, Default)]
pub(crate) struct Files(pub FileCounts);

impl Fold for Files {
    fn want(&self) -> Want {
        Want {
            files: true,
            ..Want::default()
        }
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        self.0.add(m.fields.files.iter().map(|f| f.as_ref()));
    }
    fn merge(&mut self, later: Self) {
        self.0.merge(&later.0);
    }
}

/// `stats` and the files' counts together, in one pass (`stats
/// --top-files`); never answered from an index, as neither is.
#[derive(Clone, Debug, Default)]
pub(crate) struct StatsAndFiles {
    pub stats: StatsFold,
    pub files: Files,
}

impl Fold for StatsAndFiles {
    fn want(&self) -> Want {
        self.stats.want().or(self.files.want())
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        self.stats.add(m);
        self.files.add(m);
    }
    fn merge(&mut self, later: Self) {
        self.stats.merge(later.stats);
        self.files.merge(later.files);
    }
}

/// An archive summary (what an index holds), built by the scanner.
#[derive(Clone, Debug, Default)]
pub(crate) struct SummaryFold(pub Summary);

impl Fold for SummaryFold {
    fn want(&self) -> Want {
        Want {
            ts: true,
            event: true,
            model: true,
            cost: true,
            tokens: true,
            ..Want::default()
        }
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        let f = m.fields;
        self.0
            .add_record(f.ts, f.event(), f.model(), f.cost, f.input_t, f.output_t);
    }
    fn merge(&mut self, later: Self) {
        self.0.merge(&later.0);
    }
}
