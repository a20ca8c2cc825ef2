//! `status`: one line for a shell prompt or an editor's status bar,
//! `$1.23/h · $14.50 today · acc 87%`: the spend of the last hour (as
//! `spend`), of the UTC day so far, and the day's navigation accuracy
//! (as `accuracy`). A file store answers all three from one scan from the
//! earlier window's start (the live file read once, the archives the
//! window reaches answered by their indexes); a table store runs three
//! windowed queries.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use scout_audit_core::Timestamp;
use scout_audit_core::agg::{AccuracyMetrics, spend_cutoff};
use serde_json::json;

use super::print::{cost_value, report_skips};
use crate::Cli;
use crate::output::{Format, print_rows};

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Output format [default: the one line (table); json or csv for scripts].
    #[arg(long, value_enum)]
    format: Option<Format>,
}

/// What `status` reports.
struct Status {
    /// The start of the last hour (`spend`'s default window).
    hour_since: Timestamp,
    /// The spend since `hour_since`.
    per_hour: f64,
    /// UTC midnight of today.
    today_since: Timestamp,
    /// The spend since `today_since`.
    today: f64,
    /// The navigation accuracy since `today_since`.
    accuracy: AccuracyMetrics,
}

pub fn status(cli: &Cli, a: &StatusArgs) -> Result<ExitCode> {
    let now = cli.now();
    let hour_since = spend_cutoff(now, 1.0).unwrap_or(now);
    let today_since = now.floor_day();
    let answer = super::open(cli, &[])?.status(hour_since, today_since)?;
    report_skips(&answer.report);
    let s = Status {
        hour_since,
        per_hour: cost_value(answer.value.hour, None)?,
        today_since,
        today: cost_value(answer.value.day, None)?,
        accuracy: answer.value.accuracy,
    };
    let mut out = io::stdout().lock();
    print_status(&mut out, Format::or_default(a.format, Format::Table), &s)?;
    Ok(ExitCode::SUCCESS)
}

/// The line: costs to the cent, accuracy to the percent (`acc -` when
/// the day has no `nav` yet).
fn line(s: &Status) -> String {
    let acc = if s.accuracy.total_nav == 0 {
        "-".to_owned()
    } else {
        format!("{:.0}%", s.accuracy.accuracy_pct)
    };
    format!(
        "${:.2}/h \u{b7} ${:.2} today \u{b7} acc {acc}",
        s.per_hour, s.today
    )
}

fn print_status(out: &mut dyn Write, format: Format, s: &Status) -> Result<()> {
    match format {
        Format::Table => writeln!(out, "{}", line(s))?,
        Format::Json | Format::Jsonl => writeln!(
            out,
            "{}",
            json!({
                "per_hour": s.per_hour,
                "today": s.today,
                "accuracy_pct": s.accuracy.accuracy_pct,
                "total_nav": s.accuracy.total_nav,
                "validation_fail_count": s.accuracy.validation_fail_count,
                "hour_since": s.hour_since.to_python_string(),
                "today_since": s.today_since.to_python_string(),
            })
        )?,
        Format::Csv => print_rows(
            out,
            format,
            &[
                "PER_HOUR",
                "TODAY",
                "ACCURACY_PCT",
                "TOTAL_NAV",
                "VALIDATION_FAIL_COUNT",
            ],
            &[vec![
                s.per_hour.to_string(),
                s.today.to_string(),
                s.accuracy.accuracy_pct.to_string(),
                s.accuracy.total_nav.to_string(),
                s.accuracy.validation_fail_count.to_string(),
            ]],
        )?,
    }
    Ok(())
}
