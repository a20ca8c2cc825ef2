//! `scout-audit top`: a live dashboard of the file store on the terminal
//! (ratatui on crossterm). One scan over the follower's snapshot folds
//! today and the window of the sparklines (`Scan::top`, archives answered
//! from their indexes where they can), then the follower `tail -f` uses
//! feeds every new record once, across rotations and other processes'
//! writes.
//!
//! - `model.rs`: [`model::Model`], what is shown, without IO (a clock
//!   passed in: minute edges and midnight tested without waiting).
//! - `view.rs`: drawing it, a pure function onto a ratatui frame.
//! - `screen.rs`: the terminal: raw mode and the alternate screen, put
//!   back on every exit (drop, panic hook), and the signals that end it.
//!
//! The loop blocks on input up to the next redraw (at least one a second,
//! at most four: new records show within a quarter of a second of the
//! follower reading them); the follower polls the live file every 250 ms
//! on a thread of its own.

mod input;
mod model;
mod screen;
mod view;

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use scout_audit_core::{Record, Timestamp};
use scout_audit_scan::{Inputs, Pruning, Scan};
use scout_audit_store_file::Layout;
use scout_audit_store_file::follow::{Follow, Followed};
use scout_audit_store_file::fs::RealFs;

use crate::Cli;
use crate::read::report_skips;
use input::Input;
use model::Model;
use screen::{Screen, Signals};
use view::Header;

/// Records the latest-events table keeps (more than any screen shows).
const LATEST: usize = 200;

/// How often the follower looks at the live file when nothing is new.
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// The longest the loop waits for input before it looks for records.
const WAKE: Duration = Duration::from_millis(250);

/// Records in flight from the follower to the loop at most.
const IN_FLIGHT: usize = 4096;

#[derive(Args, Debug)]
pub struct TopArgs {}

/// `scout-audit top` (see the module docs): until `q`, Esc, Ctrl-C or a
/// signal; exit status 0 for `q` and Esc, 128 + N for signal N (Ctrl-C
/// is SIGINT's 130).
pub fn run(cli: &Cli, _a: &TopArgs) -> Result<ExitCode> {
    if cli.now.is_some() {
        bail!("top shows the store live: --now does not apply to it");
    }
    if !io::stdout().is_terminal() {
        bail!(
            "top draws a dashboard and stdout is not a terminal; \
             for scripts use `status --format json` or `tail -f`"
        );
    }
    if !io::stdin().is_terminal() {
        bail!("top reads its keys (q to quit) from stdin, and stdin is not a terminal");
    }
    let path = cli.store_path_for("top")?;
    let layout = Layout::new(&path)
        .map_err(|r| anyhow::anyhow!("invalid store path {}: {r}", path.display()))?;
    let now = Timestamp::now();
    let (mut follow, snap) = Follow::start_live(Arc::new(RealFs), layout.clone())?;
    let answer = Scan::new(Inputs::from_snapshot(&layout, snap)?)
        .threads(cli.threads)
        .pruning(if cli.no_prune {
            Pruning::Off
        } else {
            Pruning::SealTime
        })
        .top(now.floor_day(), Model::window_start(now), LATEST)?;
    report_skips(&answer.report);
    let mut model = Model::from_scan(now, answer.value, LATEST);
    // The live file's records as of the snapshot, before the screen.
    while let Followed::Record(r) = follow.next_record()? {
        model.add(r);
    }
    let records = spawn_follower(follow.poll_interval(FOLLOW_POLL))?;
    let signals = Signals::register()?;
    let store = path.display().to_string();
    let mut screen = Screen::enter()?;
    let end = run_loop(&mut screen, &mut model, &records, &signals, &store);
    let left = screen.leave();
    match end? {
        // Nothing to restore on a terminal that is gone.
        Ended::HungUp => Ok(ExitCode::from(129)),
        Ended::Status(code) => {
            left?;
            Ok(ExitCode::from(code))
        }
    }
}

/// How the loop ended.
enum Ended {
    /// The exit status: 0 for `q` and Esc, 128 + N for signal N.
    Status(u8),
    /// The terminal hung up (as SIGHUP: 129).
    HungUp,
}

/// The follower on its own thread, its records (or its error, last) on
/// a bounded channel.
fn spawn_follower(mut follow: Follow) -> Result<Receiver<Result<Record>>> {
    let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
    std::thread::Builder::new()
        .name("top-follow".into())
        .spawn(move || {
            loop {
                let sent = match follow.next_record() {
                    Ok(Followed::Record(r)) => tx.send(Ok(r)),
                    Ok(Followed::CaughtUp) => Ok(()),
                    Err(e) => {
                        let _ = tx.send(Err(anyhow::Error::new(e).context("following the store")));
                        return;
                    }
                };
                if sent.is_err() {
                    return; // The dashboard ended.
                }
            }
        })
        .context("could not start the follower thread")?;
    Ok(rx)
}

/// Draws and waits until the user or a signal ends it.
fn run_loop(
    screen: &mut Screen,
    model: &mut Model,
    records: &Receiver<Result<Record>>,
    signals: &Signals,
    store: &str,
) -> Result<Ended> {
    let mut drawn: Option<i64> = None;
    let mut dirty = true;
    loop {
        if let Some(sig) = signals.received() {
            return Ok(Ended::Status(128u8.saturating_add(sig)));
        }
        loop {
            match records.try_recv() {
                Ok(r) => {
                    model.add(r?);
                    dirty = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => bail!("the follower stopped"),
            }
        }
        let now = Timestamp::now();
        dirty |= model.tick(now);
        if dirty || drawn != Some(now.unix_secs()) {
            let header = Header {
                store: store.to_owned(),
                now,
            };
            screen.draw(|f| view::draw(f, model, &header))?;
            drawn = Some(now.unix_secs());
            dirty = false;
        }
        let to_next_second = Duration::from_nanos(1_000_000_000 - u64::from(now.subsec_nanos()));
        match input::wait(to_next_second.min(WAKE)).context("reading the terminal")? {
            Input::Quit => return Ok(Ended::Status(0)),
            Input::Interrupt => return Ok(Ended::Status(130)),
            Input::HungUp => return Ok(Ended::HungUp),
            Input::Nothing | Input::Other => {}
        }
        dirty |= signals.resized();
    }
}
