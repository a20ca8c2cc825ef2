//! The fast path of an export: one stored line straight into a [`Row`]
//! of borrowed column values, without building a
//! [`scout_audit_core::Record`]. The reader is core's
//! [`scout_audit_core::compact`] (shared with `verify`), whose contract
//! is the one this path needs: it takes a line only when
//! [`scout_audit_core::decode_line`] reads it the same way, and what it
//! keeps as JSON text (`files`, `config`, the fields of `extra`) is byte
//! for byte what serde_json writes for the decoded value. The tests here
//! check the columns: `Columns::push_row` of the row against
//! `Columns::push` of the record.

pub(crate) use scout_audit_core::compact::{Row, parse};

#[cfg(test)]
mod tests {
    use scout_audit_core::{Decoded, decode_line};

    use super::*;
    use crate::columns::Columns;

    /// The fast path's row of `line`, when it takes the line, holds what
    /// the record path takes from `decode_line`'s record: the same
    /// columns and the same marks. Returns whether it took the line.
    fn check(line: &str) -> bool {
        let Some(row) = parse(line.as_bytes()) else {
            return false;
        };
        let Decoded::Record(r) = decode_line(line.as_bytes()) else {
            panic!("the fast path took a line decode_line refuses: {line}");
        };
        let (mut fast, mut slow) = (Columns::default(), Columns::default());
        fast.push_row(&row);
        slow.push(&r);
        assert_eq!(fast.dump(), slow.dump(), "{line}");
        assert_eq!(
            (row.session_id, row.writer, row.seq, row.ts),
            (r.session_id(), r.writer(), r.seq(), r.ts()),
            "{line}"
        );
        true
    }

    #[test]
    fn compact_lines_take_the_fast_path_with_the_record_paths_columns() {
        for line in [
            r#"{"ts":"2026-08-29T00:00:00.759898+00:00","event":"nav","session_id":"b3f2","seq":0,"cost":0.0239738,"model":"claude-sonnet-4","input_t":8265,"output_t":25,"files":["a.sql","notes/résumé 2026.txt"],"confidence":100,"duration_ms":82,"config":{"tiers":["h","s"],"escalate_below":70,"retries":2}}"#,
            r#"{"event":"validation_fail","reason":"bad","ts":"2026-01-01T00:00:00Z","writer":"w1","seq":7,"session_id":"s"}"#,
            r#"{"ts":"2026-01-01T00:00:00Z","cost":null,"confidence":1.5e1,"duration_ms":0.25}"#,
            r#"{"ts":"not a time","event":null,"session_id":5,"seq":"x","model":true,"input_t":18446744073709551615,"files":null,"config":[]}"#,
            r#"{"custom":{"a":[1,{"b":null}],"c":false},"other":"x","confidence":null,"files":"one"}"#,
            r#"{"seq":9223372036854775808,"event":"nav"}"#,
            // Floats as serde_json writes them, kept as text.
            r#"{"x":1.5}"#,
            r#"{"files":[1.0]}"#,
            r#"{"config":{"per_call_limit":0.05,"hourly_budget":1.0,"action":"refuse"},"scope":"hourly"}"#,
            r#"{"x":[12345.678]}"#,
            r#"{"x":[1e-7]}"#,
            r#"{"seq":1.0}"#,
        ] {
            assert!(check(line), "not taken: {line}");
        }
    }

    #[test]
    fn what_serde_json_writes_otherwise_takes_the_slow_path() {
        for line in [
            r#"{ "ts":"2026-01-01T00:00:00Z"}"#,
            r#"{"ts" :"2026-01-01T00:00:00Z"}"#,
            "{\"ts\":\"2026-01-01T00:00:00Z\"}\r",
            r#"{"model":"gpt\u002d4"}"#,
            r#"{"model":"a\"b"}"#,
            "{\"model\":\"a\tb\"}",
            r#"{"event":"nav","event":"llm_call"}"#,
            r#"{"x":1,"x":2}"#,
            r#"{"cost":-0}"#,
            r#"{"cost":-1.5}"#,
            r#"{"cost":1e400}"#,
            r#"{"seq":18446744073709551616}"#,
            r#"{"x":1.50}"#,
            r#"{"files":[1.0E0]}"#,
            r#"{"config":{"a":1,"a":2}}"#,
            r#"{"config":{"a":1e3}}"#,
            r#"{"config":{"a":0.10}}"#,
            r#"{"config":{"a":-0.5}}"#,
            r#"{"x":100000000000000000000.0}"#,
            // Not as serde_json writes it.
            r#"{"x":[1e300]}"#,
            r#"{"files":[ "a"]}"#,
            r#"{"n":01}"#,
            r#"{"ts":"2026-01-01T00:00:00Z"} "#,
            r#"{"ts":"2026-01-01T00:00:00Z"}{"ts":"2026-01-01T00:00:00Z"}"#,
            "{}",
            "[1]",
            "",
            "not json",
            r#"{"a":NaN}"#,
            r#"{"a":tru}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
        ] {
            assert!(!check(line), "taken: {line}");
        }
        // Invalid UTF-8 inside a string.
        assert!(parse(b"{\"model\":\"\xff\"}").is_none());
        // Deeper than the limit.
        let deep = format!("{{\"x\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert!(!check(&deep));
        let shallow = format!("{{\"x\":{}1{}}}", "[".repeat(20), "]".repeat(20));
        assert!(check(&shallow));
    }
}
