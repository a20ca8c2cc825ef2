//! `report`: one self-contained HTML page of a window of the store:
//! headline totals, charts of spend, tokens, events and accuracy per
//! day, the top sessions and files, and the store's health, each chart
//! with its numbers beside it and every figure also in one inline JSON
//! block (`#report-data`) that equals what `spend --by day`, `spend --by
//! day,model`, `accuracy` and `sessions` answer for the window.
//!
//! The figures come from one pass (`ReadBackend::overview`: core's
//! `Overview`); `figures.rs` turns them into checked rows and their
//! JSON, `charts.rs` draws them, `html.rs` lays the page out, `out.rs`
//! writes it where asked without replacing what was not named.

mod charts;
mod figures;
mod html;
mod out;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use scout_audit_core::Filter;

use super::print::report_skips;
use crate::Cli;
use crate::args::TimeArg;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Records at or after this time [default: all].
    #[arg(long, value_parser = TimeArg::parse)]
    since: Option<TimeArg>,
    /// Records before this time [default: no bound].
    #[arg(long, value_parser = TimeArg::parse)]
    until: Option<TimeArg>,
    /// Write the page to this file (created; an existing file is refused
    /// unless --force) [default: stdout, when it is not a terminal].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace --out's file if it exists.
    #[arg(long, requires = "out")]
    force: bool,
    /// How many sessions and files the rankings show.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    top: u16,
}

pub fn report(cli: &Cli, a: &ReportArgs) -> Result<ExitCode> {
    let now = cli.now();
    let since = a.since.map(|t| t.resolve(now));
    let until = a.until.map(|t| t.resolve(now));
    if let (Some(s), Some(u)) = (since, until)
        && u <= s
    {
        bail!(
            "the window is empty: --until {} is not after --since {}",
            u.to_python_string(),
            s.to_python_string()
        );
    }
    // Where the page goes is settled before the store is read: a file
    // that would be refused is refused at once.
    let target = out::Target::new(a.out.as_deref(), a.force)?;
    let store = super::open(cli, &[])?;
    let filter = Filter::new().with_since(since).with_until(until);
    let answer = store.overview(filter)?;
    let health = store.health()?;
    report_skips(&answer.report);
    let window = figures::Window {
        since,
        until,
        generated: now,
        store: cli.store_addr()?.describe(),
    };
    let figs = figures::Figures::new(
        window,
        &answer.value,
        usize::from(a.top),
        &answer.report,
        health,
    )?;
    let page = html::page(&figs)?;
    target.write(page.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
