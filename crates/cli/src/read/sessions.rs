//! `sessions`: per session its first and last `ts`, duration, records,
//! exact cost, tokens, models and navigation accuracy, by cost (highest
//! first, ties by session id), with a totals row.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use scout_audit_core::Timestamp;
use scout_audit_core::agg::{SessionGroup, Sessions};
use serde_json::{Value, json};

use super::print::{cost_value, fmt_cost};
use crate::Cli;
use crate::args::TimeArg;
use crate::output::{Format, print_rows};

#[derive(Args, Debug)]
pub struct SessionsArgs {
    /// Records at or after this time [default: all].
    #[arg(long, value_parser = TimeArg::parse)]
    since: Option<TimeArg>,
    /// Records before this time.
    #[arg(long, value_parser = TimeArg::parse)]
    until: Option<TimeArg>,
    /// Output format [default: table on a terminal, else json].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Files, directories or globs of .jsonl / .jsonl.gz to read instead of the store.
    #[arg(value_name = "INPUT")]
    inputs: Vec<std::path::PathBuf>,
}

pub fn sessions(cli: &Cli, a: &SessionsArgs) -> Result<ExitCode> {
    let now = cli.now();
    let filter = scout_audit_core::Filter::new()
        .with_since(a.since.map(|t| t.resolve(now)))
        .with_until(a.until.map(|t| t.resolve(now)));
    let answer = super::open(cli, &a.inputs)?.sessions(filter)?;
    super::print_answer(&answer, a.format, print_sessions)
}

/// A session's row, its cost checked (`None`: the totals).
pub(super) struct Row<'a> {
    pub(super) id: Option<&'a str>,
    pub(super) g: &'a SessionGroup,
    pub(super) cost: f64,
}

fn ts_text(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_python_string()))
}

/// `H:MM:SS` (whole seconds).
fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

pub(super) fn row_json(r: &Row<'_>, total: bool) -> Value {
    let m = r.g.accuracy.finish();
    let mut v = if total {
        json!({"sessions": 0})
    } else {
        json!({"session_id": r.id})
    };
    v["first_ts"] = ts_text(r.g.first_ts);
    v["last_ts"] = ts_text(r.g.last_ts);
    v["duration_s"] = json!(r.g.duration().as_secs_f64());
    v["events"] = json!(r.g.records);
    v["cost"] = json!(r.cost);
    v["input_t"] = json!(r.g.input_t);
    v["output_t"] = json!(r.g.output_t);
    v["models"] = json!(r.g.models);
    v["total_nav"] = json!(m.total_nav);
    v["validation_fail_count"] = json!(m.validation_fail_count);
    v["accuracy_pct"] = json!(m.accuracy_pct);
    v
}

fn row_cells(label: String, r: &Row<'_>) -> Vec<String> {
    let m = r.g.accuracy.finish();
    let ts = |t: Option<Timestamp>| t.map_or("-".to_owned(), |t| t.to_python_string());
    vec![
        label,
        ts(r.g.first_ts),
        ts(r.g.last_ts),
        duration_text(r.g.duration()),
        r.g.records.to_string(),
        fmt_cost(r.cost),
        r.g.input_t.to_string(),
        r.g.output_t.to_string(),
        r.g.models.iter().cloned().collect::<Vec<_>>().join(" "),
        if m.total_nav == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}", m.accuracy_pct)
        },
    ]
}

/// `sessions`' answer in a format: JSON `{"sessions": [...], "total":
/// {...}}`; a table with a `TOTAL` row; CSV without it.
fn print_sessions(out: &mut dyn Write, format: Format, s: &Sessions) -> Result<()> {
    let mut total = SessionGroup::default();
    let mut rows = Vec::with_capacity(s.len());
    for (id, g) in s.by_cost() {
        total.merge(g);
        let name = id.map(|k| format!("session {k}"));
        let cost = cost_value(g.cost.value(), Some(name.as_deref()))?;
        rows.push(Row { id, g, cost });
    }
    let total_cost = cost_value(total.cost.value(), None)?;
    let total_row = Row {
        id: None,
        g: &total,
        cost: total_cost,
    };
    match format {
        Format::Json | Format::Jsonl => {
            let mut t = row_json(&total_row, true);
            t["sessions"] = json!(rows.len());
            let v = json!({
                "sessions": rows.iter().map(|r| row_json(r, false)).collect::<Vec<_>>(),
                "total": t,
            });
            writeln!(out, "{v}")?;
        }
        Format::Table | Format::Csv => {
            let mut cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| row_cells(r.id.unwrap_or("-").to_owned(), r))
                .collect();
            if format == Format::Table {
                cells.push(row_cells(format!("TOTAL ({})", rows.len()), &total_row));
            }
            print_rows(
                out,
                format,
                &[
                    "SESSION",
                    "FIRST_TS",
                    "LAST_TS",
                    "DURATION",
                    "EVENTS",
                    "COST",
                    "INPUT_T",
                    "OUTPUT_T",
                    "MODELS",
                    "ACCURACY_PCT",
                ],
                &cells,
            )?;
        }
    }
    Ok(())
}
