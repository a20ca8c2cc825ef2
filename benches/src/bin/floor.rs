//! The floor of a cold plain-file scan, for `cargo xtask bench --peers`:
//! `floor FILE [THREADS]` counts the file's newlines with `memchr` through
//! the scanner's own map, chunks and release, on every core (or THREADS),
//! and prints the count. Timed from outside (wall and CPU of the process),
//! as the scout-audit rows are.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: floor FILE [THREADS]");
        return ExitCode::from(2);
    };
    let threads = args
        .next()
        .and_then(|t| t.to_str().and_then(|t| t.parse().ok()));
    match scout_audit_scan::count_newlines(&path, threads) {
        Ok(n) => {
            println!("{n}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("floor: {e}");
            ExitCode::FAILURE
        }
    }
}
