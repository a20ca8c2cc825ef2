//! `scout-audit log`: one event from flags, or JSON events from stdin.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use scout_audit_core::{Durability, Event, Sink};
use serde_json::Value;

use crate::Cli;

/// Most events logged as one batch from stdin.
const MAX_BATCH: usize = 4096;

#[derive(Args, Debug)]
pub struct LogArgs {
    /// The event type (nav, validation_fail, brief, cascade, llm_call, budget_exceeded, or any other).
    #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
    event: Option<String>,
    /// Read events from stdin instead: one JSON object per line, each with "event".
    #[arg(long)]
    stdin: bool,
    /// Cost in dollars.
    #[arg(long)]
    cost: Option<f64>,
    /// Model used.
    #[arg(long)]
    model: Option<String>,
    /// Input tokens.
    #[arg(long)]
    input_t: Option<u64>,
    /// Output tokens.
    #[arg(long)]
    output_t: Option<u64>,
    /// A file touched (repeat for several).
    #[arg(long = "file", value_name = "FILE")]
    files: Vec<String>,
    /// Why.
    #[arg(long)]
    reason: Option<String>,
    /// Confidence (an integer).
    #[arg(long, allow_negative_numbers = true)]
    confidence: Option<i64>,
    /// Duration in milliseconds.
    #[arg(long)]
    duration_ms: Option<u64>,
    /// Configuration, as a JSON value.
    #[arg(long, value_name = "JSON")]
    config: Option<String>,
    /// An extra field; the value is JSON if it parses as JSON, else a string.
    #[arg(long = "field", value_name = "KEY=JSON")]
    fields: Vec<String>,
    /// When to acknowledge: buffered (in memory), process (in the kernel) or sync (fsync'd).
    #[arg(long, default_value = "process", value_parser = parse_durability)]
    durability: Durability,
    /// Print each event's seq on stdout, one per line, as soon as it is durable at the chosen level.
    #[arg(long)]
    ack: bool,
}

fn parse_durability(s: &str) -> Result<Durability, String> {
    s.parse()
}

fn event_from_flags(a: &LogArgs, event: &str) -> Result<Event> {
    let mut e = Event::new(event.to_owned());
    if let Some(c) = a.cost {
        e = e.cost(c);
    }
    if let Some(m) = &a.model {
        e = e.model(m.clone());
    }
    if let Some(n) = a.input_t {
        e = e.input_t(n);
    }
    if let Some(n) = a.output_t {
        e = e.output_t(n);
    }
    if !a.files.is_empty() {
        e = e.files(a.files.iter().cloned());
    }
    if let Some(r) = &a.reason {
        e = e.reason(r.clone());
    }
    if let Some(c) = a.confidence {
        e = e.confidence(c);
    }
    if let Some(d) = a.duration_ms {
        e = e.duration_ms(d);
    }
    if let Some(c) = &a.config {
        let v: Value =
            serde_json::from_str(c).with_context(|| format!("--config is not JSON: {c}"))?;
        e = e.config(v);
    }
    for f in &a.fields {
        let Some((k, v)) = f.split_once('=') else {
            bail!("--field {f:?}: expected KEY=VALUE");
        };
        if k.is_empty() {
            bail!("--field {f:?}: the key is empty");
        }
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        e = e.field(k, value);
    }
    e.validate()
        .map_err(|m| anyhow::anyhow!("invalid event: {m}"))?;
    Ok(e)
}

pub fn run(cli: &Cli, a: &LogArgs) -> Result<ExitCode> {
    let addr = cli.store_addr()?;
    if !a.stdin {
        // Check the flags before opening: a bad flag creates no file.
        let event = a.event.as_deref().unwrap_or_default();
        let e = event_from_flags(a, event)?;
        let store: Arc<dyn Sink> = cli.open_store(&addr, a.durability)?;
        let r = store.log(e)?;
        if a.ack {
            if a.durability == Durability::Buffered {
                // Acknowledged once written: write it now rather than after
                // the background delay.
                store.flush()?;
            }
            let mut out = io::stdout().lock();
            writeln!(out, "{}", r.seq)?;
            out.flush()?;
        }
        store.close()?;
        return Ok(ExitCode::SUCCESS);
    }
    let store: Arc<dyn Sink> = cli.open_store(&addr, a.durability)?;
    let acker = (a.ack && a.durability == Durability::Buffered)
        .then(|| BufferedAcker::start(Arc::clone(&store)));
    // Our own buffer, so the loop can see what is buffered without blocking
    // (larger than stdin's own, which our reads therefore bypass).
    let stdin = BufReader::with_capacity(1 << 16, io::stdin().lock());
    let (skipped, total) = log_stdin(&*store, stdin, a.ack && acker.is_none())?;
    let closed = store.close();
    if let Some(acker) = acker {
        acker.finish()?;
    }
    closed?;
    if skipped > 0 {
        eprintln!("scout-audit: {skipped} of {total} input lines skipped");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads stdin in batches of the lines already available; logs each batch
/// with one write (and one fsync for `sync`); prints acknowledgements.
fn log_stdin(store: &dyn Sink, mut input: BufReader<impl Read>, ack: bool) -> Result<(u64, u64)> {
    let mut line_no: u64 = 0;
    let mut skipped: u64 = 0;
    let mut line = Vec::new();
    let mut batch: Vec<Event> = Vec::new();
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .context("cannot read stdin")?;
        if n > 0 {
            line_no += 1;
            match parse_input_line(&line) {
                Ok(Some((e, dropped_ts))) => {
                    if dropped_ts {
                        eprintln!(
                            "scout-audit: stdin line {line_no}: invalid \"ts\" replaced by the write time"
                        );
                    }
                    batch.push(e);
                }
                Ok(None) => {}
                Err(msg) => {
                    skipped += 1;
                    eprintln!("scout-audit: stdin line {line_no}: {msg}; skipped");
                }
            }
        }
        // Log when input ends, when nothing more is buffered (never wait
        // for more input while holding events: `fill_buf` would block), or
        // when full.
        let flush_now = n == 0 || input.buffer().is_empty() || batch.len() >= MAX_BATCH;
        if flush_now && !batch.is_empty() {
            let receipts = store.log_batch(std::mem::take(&mut batch))?;
            if ack {
                // Locked per batch only: with `buffered` the acknowledging
                // thread prints instead, and must get the lock.
                let mut out = io::stdout().lock();
                for r in receipts {
                    writeln!(out, "{}", r.seq)?;
                }
                out.flush()?;
            }
        }
        if n == 0 {
            return Ok((skipped, line_no));
        }
    }
}

/// One stdin line: `None` for a blank line.
fn parse_input_line(line: &[u8]) -> Result<Option<(Event, bool)>, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let Value::Object(obj) = v else {
        return Err("not a JSON object".into());
    };
    Event::from_json_object(obj).map(Some)
}

/// Prints the seqs of `buffered` events as the background writer gets them
/// to the kernel.
struct BufferedAcker {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<io::Result<Option<u64>>>,
}

impl BufferedAcker {
    fn start(store: Arc<dyn Sink>) -> BufferedAcker {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut next: u64 = 0;
            let mut out = io::stdout();
            loop {
                let stopping = s.load(Ordering::SeqCst);
                if let Some(w) = store.watermark().written {
                    let mut lock = out.lock();
                    while next <= w {
                        writeln!(lock, "{next}")?;
                        next += 1;
                    }
                    lock.flush()?;
                }
                if stopping {
                    return Ok(next.checked_sub(1));
                }
                std::thread::sleep(Duration::from_millis(2));
                out = io::stdout();
            }
        });
        BufferedAcker { stop, thread }
    }

    fn finish(self) -> Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.join() {
            Ok(r) => {
                r.context("cannot write acknowledgements")?;
                Ok(())
            }
            Err(_) => bail!("the acknowledgement thread panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_lines() {
        assert!(parse_input_line(b"\n").unwrap().is_none());
        let (e, dropped) = parse_input_line(b"{\"event\":\"nav\",\"cost\":1}\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.event_type(), e.get_cost(), dropped),
            ("nav", Some(1.0), false)
        );
        assert_eq!(parse_input_line(b"[1]").unwrap_err(), "not a JSON object");
        assert_eq!(
            parse_input_line(b"{\"cost\":1}").unwrap_err(),
            "missing \"event\""
        );
        assert!(
            parse_input_line(b"{\"event\":")
                .unwrap_err()
                .starts_with("not JSON")
        );
        assert_eq!(parse_input_line(b"\xff").unwrap_err(), "not UTF-8");
    }
}
