//! Records out of the scanner at the speed of the scan: `query` and
//! `tail -n` render records in their format on the scanner's threads
//! ([`FormatRender`]) and write the rendered chunks in log order through
//! one buffer, instead of printing one record at a time on the main
//! thread. The bytes are those of [`RecordPrinter`] printing the same
//! records one by one (the differential tests below and in `tests/it`).

use std::io::{self, Write};
use std::ops::ControlFlow;

use scout_audit_scan::{Jsonl, RecordLine, Render, Rendered};

use crate::output::{Format, RecordPrinter};

/// A record in a format, as [`RecordPrinter::print`] prints it after the
/// header: JSONL through the scanner's [`Jsonl`] (a canonical stored line
/// copied as is), CSV and table rows from the decoded record.
#[derive(Clone, Copy, Debug)]
pub struct FormatRender(pub Format);

impl Render for FormatRender {
    fn render(&self, rec: &RecordLine<'_>, out: &mut Vec<u8>) -> bool {
        match self.0 {
            Format::Jsonl | Format::Json => Jsonl.render(rec, out),
            f => {
                let Some(r) = rec.record() else {
                    return false;
                };
                // Writing into a Vec does not fail.
                RecordPrinter::rows_only(out, f).print(&r).is_ok()
            }
        }
    }
}

/// Writes rendered chunks to `out`: the format's header before the first
/// record, then at most `limit` records; remembers a failed write.
pub struct ChunkWriter<'a> {
    out: &'a mut dyn Write,
    format: Format,
    /// Records still to write.
    left: u64,
    /// Whether the header is written.
    header_done: bool,
    /// The first write that failed (nothing is written after it).
    pub failed: Option<io::Error>,
}

impl<'a> ChunkWriter<'a> {
    /// A writer of at most `limit` records of `format` to `out`.
    pub fn new(out: &'a mut dyn Write, format: Format, limit: u64) -> Self {
        ChunkWriter {
            out,
            format,
            left: limit,
            header_done: false,
            failed: None,
        }
    }

    /// Writes the records of `chunk` (up to the limit); `Break` when the
    /// limit is reached or a write failed.
    pub fn write(&mut self, chunk: &Rendered) -> ControlFlow<()> {
        if self.failed.is_some() || self.left == 0 {
            return ControlFlow::Break(());
        }
        if chunk.is_empty() {
            return ControlFlow::Continue(());
        }
        let take = usize::try_from(self.left).unwrap_or(usize::MAX);
        let n = chunk.len().min(take);
        if let Err(e) = self.write_bytes(chunk.first(n)) {
            self.failed = Some(e);
            return ControlFlow::Break(());
        }
        self.left -= n as u64;
        if self.left == 0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.header_done {
            self.header_done = true;
            RecordPrinter::new(&mut *self.out, self.format).header()?;
        }
        self.out.write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_audit_core::{Decoded, decode_line};
    use scout_audit_scan::{Inputs, Scan};

    /// Lines of every kind the printers meet: canonical, Python's
    /// separators and `\u` escapes, numbers spelled otherwise, duplicate
    /// keys, nested values, control characters, CRLF, malformed.
    const LINES: &[&str] = &[
        r#"{"ts":"2026-11-27T05:21:16.123456+00:00","event":"nav","session_id":"s1","seq":1,"cost":0.5,"model":"m","input_t":3,"output_t":4,"files":["a.rs"],"reason":"r","x":{"k":[1,2]}}"#,
        r#"{"ts": "2026-11-27T05:21:17+00:00", "event": "nav", "session_id": "caf\u00e9", "cost": 1e3, "extra": [1.0, 1E2, -0]}"#,
        r#"{"ts":"2026-11-27T05:21:18+00:00","event":"n\u0061v","model":"a,b \"q\"","cost":1.50,"event":"brief"}"#,
        "{\"ts\":\"2026-11-27T05:21:19+00:00\",\"event\":\"nav\",\"reason\":\"line\\nbreak\\u001b[31m\",\"cost\":NaN}\r",
        r#"{"ts":"2026-11-27T05:21:20+00:00","event":"validation_fail","seq":18446744073709551616,"big":-9223372036854775809}"#,
        "not json",
        "",
        r#"{"ts":"2026-11-27T05:21:21+00:00","event":"llm_call","files":[],"config":{"a":{"b":null}},"t":true}"#,
    ];

    /// What the one-record-at-a-time printer writes for the records.
    fn printed(path: &std::path::Path, format: Format, limit: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut p = RecordPrinter::new(&mut out, format);
        let mut n = 0;
        Scan::new(Inputs::paths(&[path.to_path_buf()]).unwrap())
            .for_each_record(|r| {
                p.print(&r).unwrap();
                n += 1;
                if n >= limit {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        out
    }

    fn rendered(path: &std::path::Path, format: Format, limit: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = ChunkWriter::new(&mut out, format, limit);
        Scan::new(Inputs::paths(&[path.to_path_buf()]).unwrap())
            .for_each_rendered(&FormatRender(format), |c| w.write(c))
            .unwrap();
        assert!(w.failed.is_none());
        out
    }

    #[test]
    fn every_format_prints_the_same_bytes_as_the_printer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        let mut text = String::new();
        for _ in 0..3 {
            for l in LINES {
                text.push_str(l);
                text.push('\n');
            }
        }
        std::fs::write(&path, &text).unwrap();
        // Every line that decodes is one record of the output.
        let records = LINES
            .iter()
            .filter(|l| matches!(decode_line(l.as_bytes()), Decoded::Record(_)))
            .count();
        assert_eq!(records, 6);
        for format in [Format::Jsonl, Format::Json, Format::Csv, Format::Table] {
            for limit in [1, 2, 7, 1000] {
                let want = printed(&path, format, limit);
                assert!(!want.is_empty());
                assert_eq!(
                    String::from_utf8(rendered(&path, format, limit as u64)).unwrap(),
                    String::from_utf8(want).unwrap(),
                    "{format:?} limit {limit}"
                );
            }
        }
        let jsonl = String::from_utf8(rendered(&path, Format::Jsonl, 1000)).unwrap();
        assert_eq!(jsonl.lines().count(), 18);
        // The canonical line is copied, the others are encoded again.
        assert_eq!(jsonl.lines().next(), Some(LINES[0]));
        assert_eq!(
            jsonl.lines().nth(1),
            Some(
                r#"{"ts":"2026-11-27T05:21:17+00:00","event":"nav","session_id":"café","cost":1000.0,"extra":[1.0,100.0,-0.0]}"#
            )
        );
    }

    #[test]
    fn no_record_no_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, "garbage\n").unwrap();
        for format in [Format::Csv, Format::Table] {
            assert_eq!(rendered(&path, format, 10), b"");
        }
    }
}
