//! `scout-audit export --format parquet --out DIR`: the log as
//! hive-partitioned Parquet, incrementally: the command line of the
//! `scout-audit-export` crate, which holds the manifest, the Parquet
//! writer, the partitioning and the ownership rules of the export
//! directory (docs/export.md).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use scout_audit_core::Filter;
use scout_audit_export::{export, export_store};

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Hive-partitioned Parquet.
    Parquet,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The format.
    #[arg(long, value_enum, default_value = "parquet")]
    format: ExportFormat,
    /// The directory to write (created if missing; re-running adds only new records).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Records at or after this time.
    #[arg(long, value_parser = crate::args::TimeArg::parse)]
    since: Option<crate::args::TimeArg>,
    /// Records before this time.
    #[arg(long, value_parser = crate::args::TimeArg::parse)]
    until: Option<crate::args::TimeArg>,
}

/// `scout-audit export`.
pub fn run(cli: &crate::Cli, a: &ExportArgs) -> Result<std::process::ExitCode> {
    let now = cli.now();
    let filter = Filter::new()
        .with_since(a.since.map(|t| t.resolve(now)))
        .with_until(a.until.map(|t| t.resolve(now)));
    let addr = cli.store_addr()?;
    let t = std::time::Instant::now();
    let (s, skipped) = match &addr {
        // The file store: its segments in parallel, each into its own parts.
        crate::addr::StoreAddr::File(p) => {
            let threads = cli
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            export_store(&a.out, p, &filter, threads)?
        }
        other => {
            let store = cli.open_read(other)?;
            let s = export(&*store, &filter, &a.out)?;
            (s, store.skipped())
        }
    };
    println!(
        "exported {} records into {} files under {} (run {}, {} already exported) in {:.2} s",
        s.records,
        s.files,
        a.out.display(),
        s.run,
        s.already,
        t.elapsed().as_secs_f64()
    );
    crate::output::report_skipped(skipped.count, skipped.examples.first().map(String::as_str));
    Ok(std::process::ExitCode::SUCCESS)
}
