//! [`Overview`]: every figure of `scout-audit report` as one mergeable
//! fold, so a report is one pass over the records on every engine: per
//! UTC day the spend of each model (records, exact cost, tokens) and the
//! records of each event type, per session what `sessions` reports, and
//! how often each file appears.

use std::collections::BTreeMap;

use crate::Record;
use crate::Timestamp;
use crate::agg::{
    Accuracy, EventCounts, ExactSum, FileCounts, GroupBy, Sessions, SpendBy, SpendGroup,
    SumOverflow,
};
use crate::event::types;

/// Seconds in a UTC day.
const DAY: i64 = 86_400;

/// One UTC day's records, as [`Overview`] folds them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DayFigures {
    /// Spend per model (`None`: records without a model), sorted by
    /// model, `None` first (a day has few models: a sorted `Vec` is
    /// searched without building a key).
    models: Vec<(Option<String>, SpendGroup)>,
    /// Records per event type.
    pub events: EventCounts,
}

impl DayFigures {
    fn spend_of(&mut self, model: Option<&str>) -> &mut SpendGroup {
        let at = match self
            .models
            .binary_search_by(|(m, _)| m.as_deref().cmp(&model))
        {
            Ok(i) => i,
            Err(i) => {
                self.models
                    .insert(i, (model.map(str::to_owned), SpendGroup::default()));
                i
            }
        };
        &mut self.models[at].1
    }

    fn merge(&mut self, o: &DayFigures) {
        for (m, g) in &o.models {
            add_group(self.spend_of(m.as_deref()), g);
        }
        self.events.merge(&o.events);
    }

    /// The day's spend grouped by model (`spend --by day,model`'s rows of
    /// the day), models in name order, no model first.
    pub fn by_model(&self) -> SpendBy {
        let mut s = SpendBy::new(GroupBy::Model);
        for (m, g) in &self.models {
            s.add_group(m.clone(), g);
        }
        s
    }

    /// The day's spend over every model: `spend --by day`'s row of the day
    /// (the exact sums merged, so the cost is the exact sum of the day's).
    pub fn spend(&self) -> SpendGroup {
        let mut all = SpendGroup::default();
        for (_, g) in &self.models {
            add_group(&mut all, g);
        }
        all
    }

    /// `nav` against `validation_fail` on the day, as `accuracy` counts.
    pub fn accuracy(&self) -> Accuracy {
        Accuracy::from_counts(
            self.events.get(types::NAV),
            self.events.get(types::VALIDATION_FAIL),
        )
    }
}

fn add_group(to: &mut SpendGroup, g: &SpendGroup) {
    to.records += g.records;
    to.cost.merge(&g.cost);
    to.input_t = to.input_t.saturating_add(g.input_t);
    to.output_t = to.output_t.saturating_add(g.output_t);
}

/// The figures of a report (see the module docs): a fold that merges in
/// log order, so every split of the records gives the same answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overview {
    /// Per UTC day (days since the epoch; `None`: records without `ts`).
    days: BTreeMap<Option<i64>, DayFigures>,
    /// Per session, as `sessions` folds them.
    pub sessions: Sessions,
    /// How often each file appears in `files`.
    pub files: FileCounts,
}

impl Overview {
    /// Adds one record.
    pub fn add(&mut self, r: &Record) {
        self.add_parts(
            RecordParts {
                ts: r.ts(),
                event: r.event(),
                session: r.session_id(),
                model: r.model(),
                cost: r.cost(),
                tokens: (r.input_t(), r.output_t()),
            },
            r.files(),
        );
    }

    /// Adds one record given by its typed fields and its files.
    pub fn add_parts<'a>(&mut self, p: RecordParts<'_>, files: impl IntoIterator<Item = &'a str>) {
        let day = p.ts.map(|t| t.unix_secs().div_euclid(DAY));
        let d = match self.days.get_mut(&day) {
            Some(d) => d,
            None => self.days.entry(day).or_default(),
        };
        let g = d.spend_of(p.model);
        g.records += 1;
        if let Some(c) = p.cost {
            g.cost.add(c);
        }
        g.input_t = g.input_t.saturating_add(p.tokens.0.unwrap_or(0));
        g.output_t = g.output_t.saturating_add(p.tokens.1.unwrap_or(0));
        d.events.add(p.event);
        self.sessions
            .add_parts(p.ts, p.session, p.model, p.event, p.cost, p.tokens);
        self.files.add(files);
    }

    /// Adds the fold of the records that follow.
    pub fn merge(&mut self, later: &Overview) {
        for (k, d) in &later.days {
            self.days.entry(*k).or_default().merge(d);
        }
        self.sessions.merge(&later.sessions);
        self.files.merge(&later.files);
    }

    /// The days in order, each as its number (days since 1970-01-01 in
    /// UTC) and keyed as `spend --by day` keys it (`GroupBy::Day`);
    /// records without `ts` (`None`, `None`) first.
    pub fn days(&self) -> impl Iterator<Item = (Option<i64>, Option<String>, &DayFigures)> {
        self.days.iter().map(|(k, d)| {
            let key = k
                .and_then(|n| n.checked_mul(DAY))
                .and_then(|s| Timestamp::from_unix(s, 0))
                .and_then(|t| GroupBy::Day.key(Some(t), None, None));
            (*k, key, d)
        })
    }

    /// Records folded.
    pub fn records(&self) -> u64 {
        self.days.values().map(|d| d.events.total()).sum()
    }

    /// The exact cost of every record, correctly rounded.
    pub fn total_cost(&self) -> Result<f64, SumOverflow> {
        let mut s = ExactSum::new();
        for d in self.days.values() {
            for (_, g) in &d.models {
                s.merge(&g.cost);
            }
        }
        s.value()
    }

    /// `nav` against `validation_fail` over every record.
    pub fn accuracy(&self) -> Accuracy {
        let mut a = Accuracy::default();
        for d in self.days.values() {
            a.merge(&d.accuracy());
        }
        a
    }
}

/// A record's typed fields, as [`Overview::add_parts`] takes them
/// (`tokens`: `input_t`, `output_t`).
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordParts<'a> {
    /// `ts`.
    pub ts: Option<Timestamp>,
    /// `event`.
    pub event: Option<&'a str>,
    /// `session_id`.
    pub session: Option<&'a str>,
    /// `model`.
    pub model: Option<&'a str>,
    /// `cost`.
    pub cost: Option<f64>,
    /// `input_t`, `output_t`.
    pub tokens: (Option<u64>, Option<u64>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, MemorySink, Sink};

    fn records() -> Vec<Record> {
        let sink = MemorySink::new();
        let at = |s: &str| Timestamp::parse(s).unwrap();
        for (ts, ev, model, cost) in [
            ("2026-03-01T23:59:59Z", "nav", Some("m1"), 0.1),
            ("2026-03-02T00:00:00Z", "nav", Some("m2"), 0.2),
            ("2026-03-02T01:00:00+02:00", "validation_fail", None, 0.3),
            ("2026-03-02T12:00:00Z", "nav", Some("m1"), 0.4),
        ] {
            let mut e = Event::new(ev).cost(cost).ts(at(ts)).files(["a.rs"]);
            if let Some(m) = model {
                e = e.model(m);
            }
            sink.log(e).unwrap();
        }
        sink.records()
    }

    #[test]
    fn days_are_spend_by_day_and_merge_in_any_split() {
        let rs = records();
        let mut whole = Overview::default();
        rs.iter().for_each(|r| whole.add(r));
        let mut by_day = SpendBy::new(GroupBy::Day);
        rs.iter().for_each(|r| by_day.add(r));
        let mine: Vec<(Option<String>, SpendGroup)> =
            whole.days().map(|(_, k, d)| (k, d.spend())).collect();
        let theirs: Vec<(Option<String>, SpendGroup)> = by_day
            .groups()
            .map(|(k, g)| (k.map(str::to_owned), g.clone()))
            .collect();
        assert_eq!(mine, theirs);
        // 2026-03-02T01:00+02:00 is 2026-03-01 in UTC.
        let day1: Vec<_> = whole.days().next().unwrap().2.events.iter().collect();
        assert_eq!(day1, [("nav", 1), ("validation_fail", 1)]);
        for split in 0..=rs.len() {
            let (mut a, mut b) = (Overview::default(), Overview::default());
            rs[..split].iter().for_each(|r| a.add(r));
            rs[split..].iter().for_each(|r| b.add(r));
            a.merge(&b);
            assert_eq!(
                a.days().collect::<Vec<_>>(),
                whole.days().collect::<Vec<_>>()
            );
            assert_eq!(a.sessions, whole.sessions);
            assert_eq!(a.files, whole.files);
        }
        assert_eq!(whole.records(), 4);
        assert_eq!(whole.total_cost(), Ok(1.0));
        assert_eq!(whole.accuracy().finish().accuracy_pct, 66.67);
        assert_eq!(whole.files.top(1), [("a.rs", 4)]);
    }
}
