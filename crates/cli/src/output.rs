//! Output formats: a table on a terminal, JSONL, CSV or JSON on request.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};

use clap::ValueEnum;
use scout_audit_core::Record;
use serde_json::Value;

/// How records or answers are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON object per line (records as written).
    Jsonl,
    /// Comma-separated values with a header.
    Csv,
    /// One JSON document (for aggregating commands).
    Json,
}

impl Format {
    /// The format asked for, else a table on a terminal and `otherwise`
    /// when stdout is a pipe or file.
    pub fn or_default(asked: Option<Format>, otherwise: Format) -> Format {
        asked.unwrap_or_else(|| {
            if io::stdout().is_terminal() {
                Format::Table
            } else {
                otherwise
            }
        })
    }
}

/// CSV columns: the fields the writer owns or types, in written order,
/// then `extra` (every other field, as one JSON object).
const CSV_COLUMNS: [&str; 13] = scout_audit_core::event::RESERVED_FIELDS;

/// The fields the table shows in columns of their own (`ts` to
/// `output_t`); every other field goes into its details column.
const TABLE_COLUMNS: &[&str] = CSV_COLUMNS.split_at(8).0;

/// Prints records one at a time in a format.
pub struct RecordPrinter<W: Write> {
    out: W,
    format: Format,
    header_done: bool,
}

impl<W: Write> RecordPrinter<W> {
    /// A printer; `Json` prints records as JSONL.
    pub fn new(out: W, format: Format) -> Self {
        RecordPrinter {
            out,
            format,
            header_done: false,
        }
    }

    /// A printer of rows that follow a header printed elsewhere (rows
    /// rendered in parallel, `read/records.rs`).
    pub fn rows_only(out: W, format: Format) -> Self {
        RecordPrinter {
            out,
            format,
            header_done: true,
        }
    }

    /// Prints the format's header (CSV, table) unless printed already.
    pub fn header(&mut self) -> io::Result<()> {
        if self.header_done {
            return Ok(());
        }
        self.header_done = true;
        match self.format {
            Format::Jsonl | Format::Json => Ok(()),
            Format::Csv => writeln!(self.out, "{},extra", CSV_COLUMNS.join(",")),
            Format::Table => writeln!(
                self.out,
                "{:<26}  {:<16}  {:<8}  {:>6}  {:>10}  {:<18}  {:>7}  {:>7}  DETAILS",
                "TS", "EVENT", "SESSION", "SEQ", "COST", "MODEL", "IN", "OUT"
            ),
        }
    }

    /// Prints one record.
    pub fn print(&mut self, r: &Record) -> io::Result<()> {
        match self.format {
            Format::Jsonl | Format::Json => {
                serde_json::to_writer(&mut self.out, r.fields())?;
                self.out.write_all(b"\n")
            }
            Format::Csv => {
                self.header()?;
                let mut cells: Vec<String> = CSV_COLUMNS
                    .iter()
                    .map(|k| r.get(k).map(cell_text).unwrap_or_default())
                    .collect();
                let extra: serde_json::Map<String, Value> = r
                    .fields()
                    .iter()
                    .filter(|(k, _)| !CSV_COLUMNS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                cells.push(if extra.is_empty() {
                    String::new()
                } else {
                    Value::Object(extra).to_string()
                });
                let line: Vec<String> = cells.iter().map(|c| csv_escape(c)).collect();
                writeln!(self.out, "{}", line.join(","))
            }
            Format::Table => {
                self.header()?;
                let ts = match r.get("ts") {
                    Some(Value::String(s)) => s.strip_suffix("+00:00").unwrap_or(s).to_owned(),
                    Some(v) => v.to_string(),
                    None => "-".into(),
                };
                let session: String = terminal_text(r.session_id().unwrap_or("-"))
                    .chars()
                    .take(8)
                    .collect();
                // Typed columns may hold a string of anything in a hostile file.
                let num = |k: &str| {
                    r.get(k)
                        .map(|v| clip(&cell_text(v), 24))
                        .unwrap_or_else(|| "-".into())
                };
                let details: Vec<String> = r
                    .fields()
                    .iter()
                    .filter(|(k, _)| !TABLE_COLUMNS.contains(&k.as_str()))
                    .map(|(k, v)| format!("{k}={}", cell_text(v)))
                    .collect();
                writeln!(
                    self.out,
                    "{:<26}  {:<16}  {:<8}  {:>6}  {:>10}  {:<18}  {:>7}  {:>7}  {}",
                    clip(&ts, 26),
                    clip(r.event().unwrap_or("-"), 16),
                    session,
                    num("seq"),
                    num("cost"),
                    clip(r.model().unwrap_or("-"), 18),
                    num("input_t"),
                    num("output_t"),
                    clip(&details.join(" "), 80)
                )
            }
        }
    }

    /// Flushes the output.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Text as a terminal may show it: every control character (C0, DEL and
/// C1, ESC and BEL among them) escaped (`\t`, `\n`, `\r`, `\x1b`,
/// `\u{9b}`), so no value read from a log or a file name can move the
/// cursor, retitle the window or ring the bell. The one function every
/// table, message and note on a terminal goes through; JSON and CSV keep
/// values exact (docs/cli.md).
pub fn terminal_text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn clip(s: &str, n: usize) -> String {
    let s = terminal_text(s).into_owned();
    if s.chars().count() <= n {
        s
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Quotes a CSV cell when needed (RFC 4180).
pub fn csv_escape(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Prints rows as an aligned table (numbers right-aligned) or CSV.
pub fn print_rows(
    out: &mut dyn Write,
    format: Format,
    headers: &[&str],
    rows: &[Vec<String>],
) -> io::Result<()> {
    if format == Format::Csv {
        writeln!(out, "{}", headers.join(","))?;
        for r in rows {
            let cells: Vec<String> = r.iter().map(|c| csv_escape(c)).collect();
            writeln!(out, "{}", cells.join(","))?;
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| terminal_text(c).into_owned()).collect())
        .collect();
    let rows = &rows[..];
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| {
            !rows.is_empty()
                && rows
                    .iter()
                    .all(|r| r[i].is_empty() || r[i].parse::<f64>().is_ok() || r[i] == "-")
        })
        .collect();
    let line = |cells: Vec<&str>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if numeric[i] {
                    format!("{c:>w$}", w = widths[i])
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        parts.join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(headers.to_vec()))?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// The one stderr line about what a read skipped: how many malformed or
/// damaged items, the first of them when known, and where to see them all.
pub fn report_skipped(count: u64, first: Option<&str>) {
    if count == 0 {
        return;
    }
    let first = first
        .filter(|f| !f.is_empty())
        .map(|f| format!(" (first: {})", terminal_text(f)))
        .unwrap_or_default();
    eprintln!(
        "scout-audit: skipped {count} malformed or damaged item{}{first}; `scout-audit verify` lists them",
        if count == 1 { "" } else { "s" }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_escape("plain"), "plain");
        assert_eq!(csv_escape("a,b"), "\"a,b\"");
        assert_eq!(csv_escape("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
    }

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert!(matches!(terminal_text("plain é ✓ \\x1b"), Cow::Borrowed(_)));
        assert_eq!(
            terminal_text("a\u{1b}]0;owned\u{7}b\tc\nd\re\u{0}\u{7f}\u{80}\u{9b}\u{9f}"),
            "a\\x1b]0;owned\\x07b\\tc\\nd\\re\\x00\\x7f\\u{80}\\u{9b}\\u{9f}"
        );
        // Tables escape cells, and align on the escaped text; CSV is exact.
        let rows = [vec!["m\u{1b}[31m".to_string(), "1".to_string()]];
        let mut out = Vec::new();
        print_rows(&mut out, Format::Table, &["MODEL", "N"], &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "MODEL      N\nm\\x1b[31m  1\n"
        );
        let mut out = Vec::new();
        print_rows(&mut out, Format::Csv, &["MODEL", "N"], &rows).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "MODEL,N\nm\u{1b}[31m,1\n");
    }

    #[test]
    fn every_column_of_the_record_table_is_escaped() {
        let line = r#"{"ts":"\u001b[2J","event":"e\u0007","session_id":"\u001b]0;x","seq":"\u009b1m","cost":1,"model":"m\u001b","input_t":"\u0007","k\u001b":"v\u007f"}"#;
        let r = match scout_audit_core::decode_line(line.as_bytes()) {
            scout_audit_core::Decoded::Record(r) => r,
            o => panic!("{o:?}"),
        };
        let mut out = Vec::new();
        let mut p = RecordPrinter::new(&mut out, Format::Table);
        p.print(&r).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "\\x1b[2J                     e\\x07             \\x1b]0;x  \\u{9b}1m           1  m\\x1b                  \\x07        -  k\\x1b=v\\x7f"
        );
    }

    #[test]
    fn rows_align() {
        let mut out = Vec::new();
        print_rows(
            &mut out,
            Format::Table,
            &["MODEL", "COST"],
            &[
                vec!["a".into(), "1.5".into()],
                vec!["long-name".into(), "10".into()],
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "MODEL      COST\na           1.5\nlong-name    10\n"
        );
    }
}
