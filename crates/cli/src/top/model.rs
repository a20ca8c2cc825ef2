//! What `top` shows, without drawing or IO: per-minute tallies of a
//! sliding history, today's tally (UTC), the last records. Fed by the
//! starting scan ([`Model::from_scan`]) and then by every followed record
//! ([`Model::add`]); the clock is passed in ([`Model::tick`]), so minute
//! edges and midnight are tested without waiting.

use std::collections::{BTreeMap, VecDeque};

use scout_audit_core::agg::{ExactSum, SpendGroup};
use scout_audit_core::{Record, Timestamp};
use scout_audit_scan::{Tally, Top, minute_of};

/// Minutes of history kept (the widest sparkline; decision 181).
pub const HISTORY_MINUTES: i64 = 240;

/// Minutes in `top`'s "last hour": the current one and the 59 before.
pub const HOUR_MINUTES: i64 = 60;

/// One line of the per-model breakdown.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRow {
    /// The model (`None`: records without one).
    pub model: Option<String>,
    /// Records and cost in the last hour.
    pub hour: SpendGroup,
    /// Records, cost and tokens today.
    pub today: SpendGroup,
}

/// The dashboard's state (see the module docs).
#[derive(Clone, Debug)]
pub struct Model {
    /// The current minute's start (seconds since the epoch); moves only
    /// forward, with [`Model::tick`].
    minute: i64,
    /// UTC midnight of the current day.
    day: Timestamp,
    /// Per minute of `ts`, the minutes from `minute - HISTORY_MINUTES + 1`
    /// on (later ones, of records stamped ahead of the clock, are kept
    /// until their minute comes).
    minutes: BTreeMap<i64, Tally>,
    /// The records with `ts` at or after `day`.
    today: Tally,
    /// The last records followed, oldest first, at most `latest_cap`.
    latest: VecDeque<Record>,
    latest_cap: usize,
}

impl Model {
    /// An empty model at `now`, keeping the last `latest_cap` records.
    pub fn new(now: Timestamp, latest_cap: usize) -> Model {
        Model {
            minute: minute_of(now),
            day: now.floor_day(),
            minutes: BTreeMap::new(),
            today: Tally::default(),
            latest: VecDeque::new(),
            latest_cap,
        }
    }

    /// The start of the window the starting scan must fold per minute.
    pub fn window_start(now: Timestamp) -> Timestamp {
        let start = minute_of(now) - (HISTORY_MINUTES - 1) * 60;
        Timestamp::from_unix(start, 0).unwrap_or(now)
    }

    /// The model of what the starting scan found at `now` (the scan of
    /// [`Model::window_start`] and `now.floor_day()`).
    pub fn from_scan(now: Timestamp, top: Top, latest_cap: usize) -> Model {
        let mut m = Model::new(now, latest_cap);
        m.today = top.earlier_today;
        for (start, t) in top.minutes {
            if start >= m.day.unix_secs() {
                m.today.merge(&t);
            }
            m.minutes.insert(start, t);
        }
        for r in top.latest {
            m.push_latest(r);
        }
        m.tick(now);
        m
    }

    /// Counts one followed record: its minute (when inside the history),
    /// today (when at or after midnight), the latest records.
    pub fn add(&mut self, r: Record) {
        if let Some(ts) = r.ts() {
            let (model, cost) = (r.model(), r.cost());
            let (input_t, output_t) = (r.input_t(), r.output_t());
            let m = minute_of(ts);
            if m > self.minute - HISTORY_MINUTES * 60 {
                let t = self.minutes.entry(m).or_default();
                t.add(model, cost, input_t, output_t);
            }
            if ts >= self.day {
                self.today.add(model, cost, input_t, output_t);
            }
        }
        self.push_latest(r);
    }

    fn push_latest(&mut self, r: Record) {
        if self.latest_cap == 0 {
            return;
        }
        if self.latest.len() == self.latest_cap {
            self.latest.pop_front();
        }
        self.latest.push_back(r);
    }

    /// Moves the clock to `now` (never back): minutes that left the
    /// history are dropped; past midnight, today is what the history
    /// holds since midnight. Whether anything shown changed.
    pub fn tick(&mut self, now: Timestamp) -> bool {
        let minute = minute_of(now);
        if minute <= self.minute {
            return false;
        }
        self.minute = minute;
        let keep = minute - (HISTORY_MINUTES - 1) * 60;
        self.minutes = self.minutes.split_off(&keep);
        let day = now.floor_day();
        if day > self.day {
            self.day = day;
            self.today = Tally::default();
            for t in self.minutes.range(day.unix_secs()..).map(|(_, t)| t) {
                self.today.merge(t);
            }
        }
        true
    }

    /// The current minute's start.
    #[cfg(test)]
    pub fn minute(&self) -> i64 {
        self.minute
    }

    /// The records of the last hour: the current minute and the 59
    /// before (decision 181).
    pub fn hour(&self) -> Tally {
        let mut out = Tally::default();
        for (_, t) in self
            .minutes
            .range(self.minute - (HOUR_MINUTES - 1) * 60..=self.minute)
        {
            out.merge(t);
        }
        out
    }

    /// The records of today (UTC).
    pub fn today(&self) -> &Tally {
        &self.today
    }

    /// Records and cost per minute for the last `n` minutes, oldest
    /// first, the current minute last (`n` at most the history).
    pub fn per_minute(&self, n: usize) -> Vec<(u64, ExactSum)> {
        let n = (n as i64).clamp(0, HISTORY_MINUTES);
        (0..n)
            .rev()
            .map(|back| {
                let start = self.minute - back * 60;
                self.minutes
                    .get(&start)
                    .map_or((0, ExactSum::new()), |t| (t.records, t.cost.clone()))
            })
            .collect()
    }

    /// Per model: the last hour's and today's records and cost, by
    /// today's cost, highest first (ties by model); models with records
    /// in either.
    pub fn models(&self) -> Vec<ModelRow> {
        let hour = self.hour();
        let mut keys: Vec<&Option<String>> = self.today.models.keys().collect();
        for k in hour.models.keys() {
            if !self.today.models.contains_key(k) {
                keys.push(k);
            }
        }
        let mut rows: Vec<ModelRow> = keys
            .into_iter()
            .map(|k| ModelRow {
                model: k.clone(),
                hour: hour.models.get(k).cloned().unwrap_or_default(),
                today: self.today.models.get(k).cloned().unwrap_or_default(),
            })
            .collect();
        let cost = |g: &SpendGroup| g.cost.value().unwrap_or(f64::INFINITY);
        rows.sort_by(|a, b| {
            cost(&b.today)
                .total_cmp(&cost(&a.today))
                .then_with(|| cost(&b.hour).total_cmp(&cost(&a.hour)))
                .then_with(|| a.model.cmp(&b.model))
        });
        rows
    }

    /// The last records, newest first.
    pub fn latest(&self) -> impl Iterator<Item = &Record> {
        self.latest.iter().rev()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn rec(ts: &str, model: &str, cost: f64) -> Record {
        let line = format!(
            "{{\"ts\":\"{ts}\",\"event\":\"llm_call\",\"model\":\"{model}\",\"cost\":{cost},\"input_t\":3,\"output_t\":2}}"
        );
        match scout_audit_core::decode_line(line.as_bytes()) {
            scout_audit_core::Decoded::Record(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn cost(t: &Tally) -> f64 {
        t.cost.value().unwrap()
    }

    fn minutes(m: &Model, n: usize) -> Vec<(u64, f64)> {
        m.per_minute(n)
            .into_iter()
            .map(|(r, c)| (r, c.value().unwrap()))
            .collect()
    }

    #[test]
    fn buckets_roll_over_at_minute_edges() {
        let mut m = Model::new(t("2026-03-01T10:00:30Z"), 10);
        m.add(rec("2026-03-01T10:00:00Z", "a", 1.0));
        m.add(rec("2026-03-01T10:00:59.999999Z", "a", 2.0));
        assert_eq!(minutes(&m, 3), [(0, 0.0), (0, 0.0), (2, 3.0)]);
        // Still the same minute: nothing moves.
        assert!(!m.tick(t("2026-03-01T10:00:59.999999Z")));
        assert!(m.tick(t("2026-03-01T10:01:00Z")));
        m.add(rec("2026-03-01T10:01:00Z", "b", 0.5));
        assert_eq!(minutes(&m, 3), [(0, 0.0), (2, 3.0), (1, 0.5)]);
        // The clock never goes back.
        assert!(!m.tick(t("2026-03-01T09:00:00Z")));
        assert_eq!(m.minute(), t("2026-03-01T10:01:00Z").unix_secs());
    }

    #[test]
    fn the_last_hour_is_sixty_minutes_and_rolls_by_the_minute() {
        let mut m = Model::new(t("2026-03-01T11:00:00Z"), 10);
        m.add(rec("2026-03-01T10:00:59Z", "a", 1.0)); // 61st minute back
        m.add(rec("2026-03-01T10:01:00Z", "a", 2.0)); // 60th: in
        m.add(rec("2026-03-01T11:00:01Z", "a", 4.0));
        assert_eq!((m.hour().records, cost(&m.hour())), (2, 6.0));
        m.tick(t("2026-03-01T11:00:59Z"));
        assert_eq!(cost(&m.hour()), 6.0);
        m.tick(t("2026-03-01T11:01:00Z"));
        assert_eq!((m.hour().records, cost(&m.hour())), (1, 4.0));
        // Today kept them all.
        assert_eq!((m.today().records, cost(m.today())), (3, 7.0));
    }

    #[test]
    fn today_resets_at_utc_midnight() {
        let mut m = Model::new(t("2026-03-01T23:59:00Z"), 10);
        m.add(rec("2026-03-01T23:59:10Z", "a", 1.0));
        m.add(rec("2026-02-28T23:59:10Z", "a", 100.0)); // yesterday: not today
        assert_eq!((m.today().records, cost(m.today())), (1, 1.0));
        // A record stamped after midnight, arriving before the tick.
        m.add(rec("2026-03-02T00:00:00Z", "b", 2.0));
        assert_eq!(cost(m.today()), 3.0);
        assert!(m.tick(t("2026-03-02T00:00:00.5Z")));
        assert_eq!((m.today().records, cost(m.today())), (1, 2.0));
        let models: Vec<_> = m.today().models.keys().cloned().collect();
        assert_eq!(models, [Some("b".to_owned())]);
        // The last hour still spans midnight.
        assert_eq!(cost(&m.hour()), 3.0);
    }

    #[test]
    fn minutes_leave_the_history_and_old_records_skip_it() {
        let mut m = Model::new(t("2026-03-01T10:00:00Z"), 10);
        m.add(rec("2026-03-01T06:01:00Z", "a", 1.0)); // 239 minutes back: kept
        m.add(rec("2026-03-01T06:00:00Z", "a", 2.0)); // 240: outside
        let all = minutes(&m, 1000);
        assert_eq!(all.len(), 240);
        assert_eq!(all[0], (1, 1.0));
        assert_eq!(all.iter().map(|x| x.0).sum::<u64>(), 1);
        m.tick(t("2026-03-01T10:01:00Z"));
        assert_eq!(minutes(&m, 1000).iter().map(|x| x.0).sum::<u64>(), 0);
        // Both were today, and still are.
        assert_eq!(cost(m.today()), 3.0);
    }

    #[test]
    fn models_by_todays_cost_with_the_last_hour_beside() {
        let mut m = Model::new(t("2026-03-01T12:00:00Z"), 10);
        m.add(rec("2026-03-01T01:00:00Z", "a", 5.0));
        m.add(rec("2026-03-01T11:30:00Z", "b", 1.0));
        m.add(rec("2026-03-01T11:31:00Z", "b", 1.0));
        m.add(rec("2026-03-01T11:59:00Z", "a", 0.5));
        let rows: Vec<_> = m
            .models()
            .into_iter()
            .map(|r| {
                (
                    r.model.unwrap(),
                    r.hour.records,
                    r.hour.cost.value().unwrap(),
                    r.today.records,
                    r.today.cost.value().unwrap(),
                    r.today.input_t,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("a".into(), 1, 0.5, 2, 5.5, 6),
                ("b".into(), 2, 2.0, 2, 2.0, 6)
            ]
        );
    }

    #[test]
    fn latest_keeps_the_last_records_newest_first() {
        let mut m = Model::new(t("2026-03-01T12:00:00Z"), 2);
        for c in [1.0, 2.0, 3.0] {
            m.add(rec("2026-03-01T11:00:00Z", "a", c));
        }
        let costs: Vec<_> = m.latest().map(|r| r.cost().unwrap()).collect();
        assert_eq!(costs, [3.0, 2.0]);
    }

    #[test]
    fn from_scan_puts_the_window_and_today_together() {
        let now = t("2026-03-01T02:00:30Z");
        assert_eq!(Model::window_start(now), t("2026-02-28T22:01:00Z"));
        let mut top = Top::default();
        // The window reaches yesterday: nothing of today is before it.
        let mut yesterday = Tally::default();
        yesterday.add(Some("a"), Some(1.0), None, None);
        top.minutes
            .insert(t("2026-02-28T23:59:00Z").unix_secs(), yesterday);
        let mut tonight = Tally::default();
        tonight.add(Some("b"), Some(2.0), None, None);
        top.minutes
            .insert(t("2026-03-01T01:00:00Z").unix_secs(), tonight);
        let m = Model::from_scan(now, top, 10);
        assert_eq!((m.today().records, cost(m.today())), (1, 2.0));
        assert_eq!(cost(&m.hour()), 0.0);
        let all = minutes(&m, 240);
        assert_eq!(all.iter().map(|x| x.1).sum::<f64>(), 3.0);
    }
}
