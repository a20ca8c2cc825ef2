//! Records out (`Scan::for_each_rendered`, `Jsonl`): the canonical check
//! against serde_json on random lines. The rendered stream against the
//! sequential reader on every layout is checked by `differential.rs`
//! (`check_all`), beside the other answers.

use proptest::prelude::*;
use scout_audit_core::{Decoded, decode_line};
use scout_audit_scan::is_canonical;

use crate::fast_path::{piece, record};

/// The compact canonical encoding of what `line` decodes to, if a record.
fn encoded(line: &[u8]) -> Option<Vec<u8>> {
    match decode_line(line) {
        Decoded::Record(r) => Some(serde_json::to_vec(r.fields()).unwrap()),
        _ => None,
    }
}

/// `is_canonical` says yes only for a line that is its record's
/// encoding, and says yes for every encoding of a record (the copy path
/// is taken for every line our writers and serde_json write).
fn check(line: &[u8]) -> Result<(), TestCaseError> {
    let enc = encoded(line);
    if is_canonical(line) {
        prop_assert_eq!(
            enc.as_deref(),
            Some(line),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    if let Some(e) = enc {
        prop_assert!(is_canonical(&e), "{}", String::from_utf8_lossy(&e));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn canonical_only_when_the_encoding_is_the_line(pieces in proptest::collection::vec(piece(), 0..24)) {
        check(&pieces.concat())?;
    }

    #[test]
    fn canonical_near_records(line in record()) {
        check(&line)?;
        // Compact spellings of the same pieces.
        let compact: Vec<u8> = line
            .iter()
            .copied()
            .filter(|b| *b != b' ')
            .collect();
        check(&compact)?;
    }

    #[test]
    fn canonical_numbers_and_strings(x in any::<f64>(), i in any::<i64>(), u in any::<u64>(), s in any::<String>()) {
        let q = serde_json::to_string(&s).unwrap();
        for tok in [format!("{x:?}"), format!("{x:e}"), i.to_string(), u.to_string(), format!("{x}"), q.clone()] {
            check(format!("{{\"cost\":{tok},\"s\":{q}}}").as_bytes())?;
            check(format!("{{\"a\":[{tok},{{\"b\":{tok}}}]}}").as_bytes())?;
        }
    }
}

#[test]
fn what_our_writers_and_python_write() {
    use scout_audit_core::{Event, SessionId, Timestamp};
    let ts = Timestamp::parse("2026-11-27T05:21:16.123456+00:00").unwrap();
    let e = Event::new("nav")
        .cost(0.25)
        .model("m\u{1}\"é")
        .input_t(3)
        .output_t(4)
        .files(["a.rs", "b/c.rs"])
        .reason("tab\there")
        .confidence(80)
        .duration_ms(12)
        .field("n", serde_json::json!({"k": [1, -2, 1e300, null, true]}));
    let mut line = Vec::new();
    e.encode_into(ts, &SessionId::new("s-1"), 7, &mut line);
    // The writer's line ends with its `\n`; the readers hand lines without.
    assert_eq!(line.pop(), Some(b'\n'));
    assert!(is_canonical(&line), "{}", String::from_utf8_lossy(&line));
    // The Python original: json.dumps's separators and ensure_ascii.
    let py = r#"{"ts": "2026-11-27T05:21:16.123456+00:00", "event": "nav", "session_id": "caf\u00e9", "cost": 0.25}"#;
    assert!(!is_canonical(py.as_bytes()));
    assert_eq!(
        encoded(py.as_bytes()).unwrap(),
        r#"{"ts":"2026-11-27T05:21:16.123456+00:00","event":"nav","session_id":"café","cost":0.25}"#.as_bytes()
    );
}
