//! The fast path against `decode_line`, the one definition of a line, on
//! random lines built from JSON's pieces and their near misses.

use proptest::prelude::*;
use scout_audit_scan::fields::check_against_decode_line as agrees;

const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    " ",
    "\t",
    "\r",
    "\x0c",
    "\"",
    "\\",
    "\\u",
    "\\n",
    "\\\"",
    "\\u0074",
    "\\ud83d",
    "\\ude00",
    "\\uD800",
    "\"ts\"",
    "\"event\"",
    "\"cost\"",
    "\"model\"",
    "\"input_t\"",
    "\"output_t\"",
    "\"files\"",
    "\"session_id\"",
    "\"nav\"",
    "\"x\"",
    "\"2026-01-01T00:00:00Z\"",
    "\"2026-01-01 00:00:00.123+05:30\"",
    "0",
    "-0",
    "1",
    "-1",
    "01",
    "1.5",
    "1.",
    ".5",
    "1e5",
    "1E-5",
    "1e",
    "-",
    "+1",
    "1e400",
    "18446744073709551616",
    "123456789012345678901234567890",
    "0.1",
    "true",
    "false",
    "null",
    "NaN",
    "Infinity",
    "tru",
    "nul",
    "\u{e9}",
    "\u{1F600}",
    "\x01",
    "\x7f",
];

pub(crate) fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::sample::select(PIECES).prop_map(|s| s.as_bytes().to_vec()),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ]
}

/// Mostly well-formed records with one piece changed.
pub(crate) fn record() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec((0usize..8, piece()), 1..8),
        any::<u8>(),
        proptest::option::of((0usize..200, piece())),
    )
        .prop_map(|(fields, sep, mutation)| {
            let keys = [
                "ts",
                "event",
                "cost",
                "model",
                "input_t",
                "output_t",
                "files",
                "session_id",
            ];
            let mut s = Vec::from(&b"{"[..]);
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    s.extend_from_slice(if sep % 2 == 0 { b"," } else { b", " });
                }
                s.push(b'"');
                s.extend_from_slice(keys[*k].as_bytes());
                s.extend_from_slice(if sep % 3 == 0 { b"\": " } else { b"\":" });
                s.extend_from_slice(v);
            }
            s.push(b'}');
            if let Some((at, p)) = mutation {
                let at = at % (s.len() + 1);
                s.splice(at..at, p);
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn random_pieces(pieces in proptest::collection::vec(piece(), 0..24)) {
        let line: Vec<u8> = pieces.concat();
        prop_assert_eq!(agrees(&line), Ok(()));
    }

    #[test]
    fn near_records(line in record()) {
        prop_assert_eq!(agrees(&line), Ok(()));
    }

    #[test]
    fn numbers_read_as_serde_json_reads_them(x in any::<f64>(), i in any::<i64>(), u in any::<u64>()) {
        for tok in [format!("{x:?}"), format!("{x:e}"), i.to_string(), u.to_string(), format!("{x}")] {
            let line = format!("{{\"cost\":{tok},\"input_t\":{tok}}}");
            prop_assert_eq!(agrees(line.as_bytes()), Ok(()));
        }
    }
}
