//! `top`'s starting point: from one scan, the records of today (UTC)
//! and of the dashboard's window folded per UTC minute and per model, and
//! the window's last records, so that the dashboard then only follows the
//! live file. An archive wholly inside today and before the window is
//! answered from its index (its per-model totals); the others the window
//! or midnight reaches are read.

use std::collections::BTreeMap;

use scout_audit_core::agg::{ExactSum, LastN, SpendGroup};
use scout_audit_core::{Filter, Record, Timestamp};
use scout_audit_store_file::index::Summary;

use crate::fields::Want;
use crate::fold::{Fold, Held, Matched};

/// Records, their exact cost and the same per model: one minute of the
/// dashboard, or a longer span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// Records counted.
    pub records: u64,
    /// Their exact cost (a missing cost counts 0).
    pub cost: ExactSum,
    /// Per `model` (`None`: records without one), in key order.
    pub models: BTreeMap<Option<String>, SpendGroup>,
}

impl Tally {
    /// Counts one record by its fields.
    pub fn add(
        &mut self,
        model: Option<&str>,
        cost: Option<f64>,
        input_t: Option<u64>,
        output_t: Option<u64>,
    ) {
        self.records = self.records.saturating_add(1);
        if let Some(c) = cost {
            self.cost.add(c);
        }
        let g = self.group(model);
        g.records = g.records.saturating_add(1);
        if let Some(c) = cost {
            g.cost.add(c);
        }
        g.input_t = g.input_t.saturating_add(input_t.unwrap_or(0));
        g.output_t = g.output_t.saturating_add(output_t.unwrap_or(0));
    }

    /// Adds another tally (counts saturate).
    pub fn merge(&mut self, other: &Tally) {
        self.records = self.records.saturating_add(other.records);
        self.cost.merge(&other.cost);
        for (m, o) in &other.models {
            merge_group(self.group(m.as_deref()), o);
        }
    }

    /// The group of `model`, created empty if new.
    fn group(&mut self, model: Option<&str>) -> &mut SpendGroup {
        let key = model.map(str::to_owned);
        self.models.entry(key).or_default()
    }
}

/// Adds `o` to `g` (counts saturate).
fn merge_group(g: &mut SpendGroup, o: &SpendGroup) {
    g.records = g.records.saturating_add(o.records);
    g.cost.merge(&o.cost);
    g.input_t = g.input_t.saturating_add(o.input_t);
    g.output_t = g.output_t.saturating_add(o.output_t);
}

/// The answer of [`crate::Scan::top`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Top {
    /// Per UTC minute of `ts` (its start, seconds since the epoch), the
    /// records at or after the window's start.
    pub minutes: BTreeMap<i64, Tally>,
    /// The records of today before the window's start (empty when the
    /// window starts before midnight).
    pub earlier_today: Tally,
    /// The last records at or after the window's start, oldest first.
    pub latest: Vec<Record>,
}

/// The fold behind [`Top`].
#[derive(Clone, Debug)]
pub(crate) struct TopFold {
    /// UTC midnight of today.
    day_since: Timestamp,
    /// The window's start (a minute's start).
    window_since: Timestamp,
    minutes: BTreeMap<i64, Tally>,
    earlier: Tally,
    /// The last matching records in the window, at most `n`.
    latest: LastN<Held>,
    /// How many records `latest` keeps.
    n: usize,
}

impl TopFold {
    /// An empty fold keeping the last `n` records of the window.
    pub fn new(day_since: Timestamp, window_since: Timestamp, n: usize) -> TopFold {
        TopFold {
            day_since,
            window_since,
            minutes: BTreeMap::new(),
            earlier: Tally::default(),
            latest: LastN::new(n),
            n,
        }
    }

    /// The filter of the scan: from the earlier of the two starts.
    pub fn filter(&self) -> Filter {
        Filter::new().since(self.day_since.min(self.window_since))
    }

    /// What the scan answers.
    pub fn finish(self) -> Top {
        let latest = self
            .latest
            .into_vec()
            .into_iter()
            .filter_map(Held::into_record)
            .collect();
        Top {
            minutes: self.minutes,
            earlier_today: self.earlier,
            latest,
        }
    }
}

/// The start of the UTC minute of `ts`, in seconds since the epoch.
pub fn minute_of(ts: Timestamp) -> i64 {
    ts.unix_secs().div_euclid(60) * 60
}

impl Fold for TopFold {
    fn want(&self) -> Want {
        Want {
            ts: true,
            model: true,
            cost: true,
            tokens: true,
            ..Want::default()
        }
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        let f = m.fields;
        let Some(ts) = f.ts else { return };
        let tally = if ts >= self.window_since {
            self.latest.push(match m.record {
                Some(r) => Held::Record(r.clone()),
                None => Held::Line(m.line.to_vec()),
            });
            self.minutes.entry(minute_of(ts)).or_default()
        } else if ts >= self.day_since {
            &mut self.earlier
        } else {
            return;
        };
        tally.add(f.model.as_deref(), f.cost, f.input_t, f.output_t);
    }
    fn merge(&mut self, later: Self) {
        for (k, t) in &later.minutes {
            self.minutes.entry(*k).or_default().merge(t);
        }
        self.earlier.merge(&later.earlier);
        for line in later.latest.into_vec() {
            self.latest.push(line);
        }
    }
    /// From the per-model totals, when every record with a `ts` is
    /// before the window and either all today or all before it.
    fn answer_from_index(&self, s: &Summary, _filter: &Filter) -> Option<Self> {
        let mut out = TopFold::new(self.day_since, self.window_since, self.n);
        let (Some(first), Some(last)) = (s.first_ts, s.last_ts) else {
            return Some(out);
        };
        if last >= self.window_since {
            return None;
        }
        if last < self.day_since {
            return Some(out);
        }
        if first < self.day_since {
            return None;
        }
        for (model, t) in s.models.iter() {
            let g = t.spend_group();
            out.earlier.records = out.earlier.records.saturating_add(g.records);
            out.earlier.cost.merge(&g.cost);
            merge_group(out.earlier.group(model), &g);
        }
        Some(out)
    }
}
