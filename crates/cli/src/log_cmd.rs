//! `scout-audit log`: one event from flags, or JSON events from stdin.

use std::io::{self, BufReader, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use scout_audit_core::{Durability, Event, MAX_LINE, SessionId, Sink, Timestamp};
use scout_audit_store_file::lines::{LineReader, RawLine};
use serde_json::Value;

use crate::Cli;
use crate::output::terminal_text;

/// Most events logged as one batch from stdin.
const MAX_BATCH: usize = 4096;

/// Most input bytes whose events are held as one batch: with lines near
/// the bound, a batch of `MAX_BATCH` would hold gigabytes.
const MAX_BATCH_BYTES: usize = MAX_LINE;

#[derive(Args, Debug)]
pub struct LogArgs {
    /// The event type (nav, validation_fail, brief, cascade, llm_call, budget_exceeded, or any other).
    #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
    event: Option<String>,
    /// Read events from stdin instead: one JSON object per line, each with "event".
    #[arg(long)]
    stdin: bool,
    /// Cost in dollars (a finite number).
    #[arg(long, value_parser = parse_cost)]
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

/// A cost: a finite number. `inf` and `NaN` parse as floats but would be
/// written as `null` (decision 2), silently losing what was asked.
fn parse_cost(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(c) if c.is_finite() => Ok(c),
        Ok(_) => Err(format!("{s} is not a finite number")),
        Err(e) => Err(e.to_string()),
    }
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
///
/// Memory is bounded: a line is held only up to the line bound
/// ([`MAX_LINE`]); a longer one is skipped as it streams past (counted and
/// reported with its line number, like any other bad line).
fn log_stdin(store: &dyn Sink, input: BufReader<impl Read>, ack: bool) -> Result<(u64, u64)> {
    let mut lines = LineReader::new(input);
    let mut line_no: u64 = 0;
    let mut skipped: u64 = 0;
    let mut batch: Vec<Event> = Vec::new();
    let mut batch_bytes: usize = 0;
    let session = store.session();
    let mut scratch = Vec::new();
    loop {
        let raw = lines.next_raw().context("cannot read stdin")?;
        let end = raw.is_none();
        if let Some(raw) = raw {
            let parsed = match raw {
                RawLine::Complete(b, p) | RawLine::Unterminated(b, p) => {
                    line_no = p.line;
                    batch_bytes += b.len();
                    parse_input_line(b).and_then(|ev| match ev {
                        Some((ref e, _)) if b.len() > MAX_LINE / 16 => {
                            check_encoded_len(e, &session, &mut scratch).map(|()| ev)
                        }
                        _ => Ok(ev),
                    })
                }
                RawLine::TooLong(n, p) => {
                    line_no = p.line;
                    Err(format!(
                        "line of {n} bytes is longer than the line bound ({MAX_LINE} bytes)"
                    ))
                }
            };
            match parsed {
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
                    eprintln!(
                        "scout-audit: stdin line {line_no}: {}; skipped",
                        terminal_text(&msg)
                    );
                }
            }
        }
        // Log when input ends, when nothing more is buffered (never wait
        // for more input while holding events: `fill_buf` would block), or
        // when full.
        let flush_now = end
            || lines.read_ahead().is_empty()
            || batch.len() >= MAX_BATCH
            || batch_bytes >= MAX_BATCH_BYTES;
        if flush_now {
            batch_bytes = 0;
        }
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
        if end {
            return Ok((skipped, line_no));
        }
    }
}

/// Refuses an event whose line could be over the line bound once written,
/// so that one such event does not make its whole batch fail. The line is
/// encoded with the widest `ts` and `seq` a writer can give it: an upper
/// bound of its length (by at most 26 bytes). Only events read from lines
/// over a sixteenth of the bound are checked: re-encoding an event grows
/// its text less than fivefold (a number such as `1e15` is the worst case),
/// and the writer's own check stays behind this one.
fn check_encoded_len(e: &Event, session: &SessionId, scratch: &mut Vec<u8>) -> Result<(), String> {
    scratch.clear();
    e.encode_into(widest_ts(), session, u64::MAX, scratch);
    let len = scratch.len() - 1;
    *scratch = Vec::new();
    if len > MAX_LINE {
        return Err(format!(
            "the event's line would be {len} bytes, longer than the line bound ({MAX_LINE} bytes)"
        ));
    }
    Ok(())
}

/// A write time as wide as a writer's clock gives (with microseconds).
fn widest_ts() -> Timestamp {
    // 2026-01-01T00:00:00.000001+00:00: four-digit year, microseconds.
    Timestamp::from_unix_micros(1_767_225_600_000_001)
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
    fn the_widest_write_time_has_microseconds_and_a_four_digit_year() {
        let mut out = Vec::new();
        widest_ts().write_python(&mut out);
        assert_eq!(out, b"2026-01-01T00:00:00.000001+00:00");
        // The check's bound is never below the line written at seq 0.
        let e = Event::new("x").field("pad", "a".repeat(100));
        let (mut at0, mut bound) = (Vec::new(), Vec::new());
        e.encode_into(Timestamp::UNIX_EPOCH, &SessionId::new("s"), 0, &mut at0);
        e.encode_into(widest_ts(), &SessionId::new("s"), u64::MAX, &mut bound);
        assert_eq!(bound.len() - at0.len(), 26);
        assert!(check_encoded_len(&e, &SessionId::new("s"), &mut Vec::new()).is_ok());
    }

    /// A sink that keeps the sizes of the batches it is given.
    struct Batches(scout_audit_core::MemorySink, std::sync::Mutex<Vec<usize>>);

    impl Sink for Batches {
        fn log(&self, e: Event) -> Result<scout_audit_core::Receipt, scout_audit_core::Error> {
            self.0.log(e)
        }
        fn log_batch(
            &self,
            events: Vec<Event>,
        ) -> Result<Vec<scout_audit_core::Receipt>, scout_audit_core::Error> {
            self.1.lock().unwrap().push(events.len());
            self.0.log_batch(events)
        }
        fn import(&self, r: Vec<scout_audit_core::Record>) -> Result<u64, scout_audit_core::Error> {
            self.0.import(r)
        }
        fn flush(&self) -> Result<(), scout_audit_core::Error> {
            self.0.flush()
        }
        fn close(&self) -> Result<(), scout_audit_core::Error> {
            self.0.close()
        }
        fn durability(&self) -> Durability {
            self.0.durability()
        }
        fn session(&self) -> SessionId {
            self.0.session()
        }
        fn watermark(&self) -> scout_audit_core::Watermark {
            self.0.watermark()
        }
    }

    #[test]
    fn a_batch_is_cut_once_it_holds_the_bound_of_input_bytes() {
        // Four 6 MiB lines and two small ones, all buffered at once: the
        // batch is cut once it holds 16 MiB of input.
        let big = format!("{{\"event\":\"x\",\"pad\":\"{}\"}}\n", "a".repeat(6 << 20));
        let mut input = String::new();
        for _ in 0..4 {
            input.push_str(&big);
        }
        input.push_str("{\"event\":\"a\"}\n{\"event\":\"b\"}\n");
        let sink = Batches(scout_audit_core::MemorySink::new(), Default::default());
        let r = BufReader::with_capacity(1 << 16, std::io::Cursor::new(input));
        assert_eq!(log_stdin(&sink, r, false).unwrap(), (0, 6));
        assert_eq!(*sink.1.lock().unwrap(), [3, 3]);
        assert_eq!(sink.0.records().len(), 6);
    }

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
