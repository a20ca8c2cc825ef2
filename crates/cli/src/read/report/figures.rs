//! The report's figures: the overview's days, sessions and files turned
//! into rows with every cost checked (a sum beyond the doubles is the
//! error `spend` gives, never a wrong number), and the page's JSON data
//! block, whose fields are those of `spend --by day`, `spend --by
//! day,model`, `accuracy` and `sessions` (`--format json`).

use anyhow::Result;
use scout_audit_core::Timestamp;
use scout_audit_core::agg::{AccuracyMetrics, SessionGroup};
use scout_audit_core::overview::Overview;
use scout_audit_scan::ScanReport;
use serde_json::{Value, json};

use super::super::backend::StoreHealth;
use super::super::print::cost_value;
use super::super::sessions::{Row, row_json};

/// What the report covers.
pub struct Window {
    /// `--since`, resolved.
    pub since: Option<Timestamp>,
    /// `--until`, resolved.
    pub until: Option<Timestamp>,
    /// When the report was made (`--now`, else the clock).
    pub generated: Timestamp,
    /// The store's address, as `stats` prints it.
    pub store: String,
}

/// Records, exact cost and tokens of a group.
#[derive(Clone, Debug, Default)]
pub struct Spent {
    pub records: u64,
    pub cost: f64,
    pub input_t: u64,
    pub output_t: u64,
}

/// One day's figures (`n`, `key`: `None` for records without `ts`).
pub struct DayRow {
    /// Days since 1970-01-01 (UTC).
    pub n: Option<i64>,
    /// `spend --by day`'s key.
    pub key: Option<String>,
    /// The day's spend (`spend --by day`'s group).
    pub spend: Spent,
    /// Per model, in model order, no model first (`--by day,model`).
    pub models: Vec<(Option<String>, Spent)>,
    /// Records per event type, in name order; and without a type.
    pub events: Vec<(String, u64)>,
    pub untyped: u64,
    /// `nav` against `validation_fail` on the day.
    pub accuracy: AccuracyMetrics,
}

/// A session among the top ones.
pub struct SessionRow {
    pub id: Option<String>,
    pub cost: f64,
    pub group: SessionGroup,
}

/// The store's health as far as this report saw it.
pub struct Health {
    /// Lines read, malformed ones, torn tails and fragments, damaged
    /// segments: what the report's read of the window met.
    pub read: scout_audit_store_file::ReadReport,
    /// Archives answered without reading, by their indexes or seal times.
    pub pruned: u64,
    /// The store's files and sealing (a file store).
    pub store: Option<StoreHealth>,
}

/// Everything the page shows.
pub struct Figures {
    pub window: Window,
    pub total: Spent,
    /// Distinct session ids (records without one are not a session).
    pub sessions: u64,
    pub accuracy: AccuracyMetrics,
    pub days: Vec<DayRow>,
    /// Models by total cost over the window, highest first, then name.
    pub models: Vec<(Option<String>, f64)>,
    /// Event types by records over the window, most first, then name.
    pub event_types: Vec<(String, u64)>,
    pub top_sessions: Vec<SessionRow>,
    pub top_files: Vec<(String, u64)>,
    /// Distinct files in the window.
    pub files: usize,
    pub health: Health,
}

fn spent(g: &scout_audit_core::agg::SpendGroup, name: Option<&str>) -> Result<Spent> {
    Ok(Spent {
        records: g.records,
        cost: cost_value(g.cost.value(), Some(name))?,
        input_t: g.input_t,
        output_t: g.output_t,
    })
}

/// The day's rows, every cost checked.
fn day_row(
    n: Option<i64>,
    key: Option<String>,
    d: &scout_audit_core::overview::DayFigures,
) -> Result<DayRow> {
    let spend = spent(&d.spend(), key.as_deref())?;
    let by_model = d.by_model();
    let models = by_model
        .groups()
        .map(|(m, g)| {
            let name = format!("{} / {}", key.as_deref().unwrap_or("-"), m.unwrap_or("-"));
            Ok((m.map(str::to_owned), spent(g, Some(&name))?))
        })
        .collect::<Result<_>>()?;
    Ok(DayRow {
        n,
        spend,
        models,
        events: d.events.iter().map(|(e, c)| (e.to_owned(), c)).collect(),
        untyped: d.events.untyped,
        accuracy: d.accuracy().finish(),
        key,
    })
}

impl Figures {
    /// The figures of `o`, with the `top` sessions and files.
    pub fn new(
        window: Window,
        o: &Overview,
        top: usize,
        report: &ScanReport,
        store: Option<StoreHealth>,
    ) -> Result<Figures> {
        let days: Vec<DayRow> = o
            .days()
            .map(|(n, k, d)| day_row(n, k, d))
            .collect::<Result<_>>()?;
        let total = Spent {
            records: o.records(),
            cost: cost_value(o.total_cost(), None)?,
            input_t: days
                .iter()
                .map(|d| d.spend.input_t)
                .fold(0, u64::saturating_add),
            output_t: days
                .iter()
                .map(|d| d.spend.output_t)
                .fold(0, u64::saturating_add),
        };
        let mut top_sessions = Vec::new();
        for (id, g) in o.sessions.by_cost().into_iter().take(top) {
            let name = id.map(|k| format!("session {k}"));
            let cost = cost_value(g.cost.value(), Some(name.as_deref()))?;
            top_sessions.push(SessionRow {
                id: id.map(str::to_owned),
                cost,
                group: g.clone(),
            });
        }
        Ok(Figures {
            sessions: o.sessions.groups().filter(|(k, _)| k.is_some()).count() as u64,
            accuracy: o.accuracy().finish(),
            models: rank_models(&days),
            event_types: rank_events(&days),
            top_files: o
                .files
                .top(top)
                .into_iter()
                .map(|(f, n)| (f.to_owned(), n))
                .collect(),
            files: o.files.len(),
            health: Health {
                read: report.read.clone(),
                pruned: report.pruned + report.from_index,
                store,
            },
            window,
            total,
            days,
            top_sessions,
        })
    }

    /// The page's data block (see the module docs).
    pub fn data(&self) -> Value {
        let w = &self.window;
        let ts = |t: Option<Timestamp>| t.map(|t| t.to_python_string());
        json!({
            "window": {"since": ts(w.since), "until": ts(w.until), "generated": w.generated.to_python_string()},
            "totals": {
                "total_cost": self.total.cost,
                "records": self.total.records,
                "sessions": self.sessions,
                "input_t": self.total.input_t,
                "output_t": self.total.output_t,
            },
            "accuracy": self.accuracy,
            "spend_by_day": self.days.iter().map(|d| spent_json(json!({"key": d.key}), &d.spend)).collect::<Vec<_>>(),
            "spend_by_day_model": self.days.iter().flat_map(|d| d.models.iter().map(|(m, s)| {
                spent_json(json!({"key": d.key, "model": m}), s)
            })).collect::<Vec<_>>(),
            "events_by_day": self.days.iter().map(|d| json!({
                "key": d.key,
                "events": d.events.iter().map(|(e, n)| (e.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "untyped": d.untyped,
            })).collect::<Vec<_>>(),
            "accuracy_by_day": self.days.iter().map(|d| {
                let mut v = json!(d.accuracy);
                v["key"] = json!(d.key);
                v
            }).collect::<Vec<_>>(),
            "top_sessions": self.top_sessions.iter().map(|s| row_json(&Row {
                id: s.id.as_deref(),
                g: &s.group,
                cost: s.cost,
            }, false)).collect::<Vec<_>>(),
            "top_files": self.top_files.iter().map(|(f, n)| json!({"file": f, "records": n})).collect::<Vec<_>>(),
            "files": self.files,
            "health": self.health_json(),
        })
    }

    fn health_json(&self) -> Value {
        let r = &self.health.read;
        let mut v = json!({
            "lines_read": r.records + r.malformed,
            "malformed": r.malformed,
            "torn_tails": r.torn_tails,
            "torn_fragments": r.torn_fragments,
            "damaged_segments": r.damaged_segments,
            "segments_read": r.segments,
            "segments_skipped": self.health.pruned,
        });
        if let Some(s) = &self.health.store {
            v["archives"] = json!(s.archives);
            v["sealed_segments"] = json!(s.sealed);
            v["live"] = json!(s.live);
            v["bytes_on_disk"] = json!(s.bytes_on_disk);
            v["quarantine_files"] = json!(s.quarantine_files);
            v["sealing"] = match &s.seal {
                None => json!({"sealed": false}),
                Some(st) => json!({
                    "sealed": st.sealed_lines.is_some(),
                    "sealed_lines": st.sealed_lines,
                    "last_seal_time": st.last_seal_time,
                    "unsealed_lines": st.unsealed_lines,
                    "verified": false,
                }),
            };
        }
        v
    }
}

/// A group's JSON as `spend` writes it: `base` then records, cost, tokens.
fn spent_json(mut base: Value, s: &Spent) -> Value {
    base["records"] = json!(s.records);
    base["cost"] = json!(s.cost);
    base["input_t"] = json!(s.input_t);
    base["output_t"] = json!(s.output_t);
    base
}

/// Models by their cost over the days, highest first, ties by name.
fn rank_models(days: &[DayRow]) -> Vec<(Option<String>, f64)> {
    let mut sums: std::collections::BTreeMap<Option<&str>, f64> = Default::default();
    for (m, s) in days.iter().flat_map(|d| d.models.iter()) {
        *sums.entry(m.as_deref()).or_default() += s.cost;
    }
    let mut v: Vec<(Option<String>, f64)> = sums
        .into_iter()
        .map(|(m, c)| (m.map(str::to_owned), c))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Event types by their records over the days, most first, ties by name.
fn rank_events(days: &[DayRow]) -> Vec<(String, u64)> {
    let mut sums: std::collections::BTreeMap<&str, u64> = Default::default();
    for (e, n) in days.iter().flat_map(|d| d.events.iter()) {
        *sums.entry(e).or_default() += n;
    }
    let mut v: Vec<(String, u64)> = sums.into_iter().map(|(e, n)| (e.to_owned(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}
