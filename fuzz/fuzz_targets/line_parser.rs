//! The line parser: any bytes, as one line of a log. It must never panic,
//! and a record must survive its own round trip. A record's cost is finite
//! and sums exactly, even among huge terms that cancel.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scout_audit_core::agg::ExactSum;
use scout_audit_core::{Decoded, Timestamp, decode_line};

fuzz_target!(|data: &[u8]| {
    let _ = Timestamp::parse_bytes(data);
    match decode_line(data) {
        Decoded::Record(r) | Decoded::Glued { record: r, .. } => {
            // Writing a record back and reading it gives the same record.
            let line = r.to_json_line();
            match decode_line(line.as_bytes()) {
                Decoded::Record(again) => {
                    assert_eq!(again.fields(), r.fields());
                    assert_eq!(again.ts(), r.ts());
                }
                other => panic!("re-encoded record did not decode: {other:?}"),
            }
            if let Some(c) = r.cost() {
                assert!(c.is_finite(), "a cost read is finite: {c}");
                let mut s = ExactSum::new();
                s.extend([1e308, c, 1.797e308, -1e308, -1.797e308]);
                // An exact zero is +0.0.
                let want = if c == 0.0 { 0.0 } else { c };
                assert_eq!(s.value().map(f64::to_bits), Ok(want.to_bits()));
            }
            // A parsed ts prints in Python's form and parses back to the same
            // instant, to the microsecond.
            if let Some(t) = r.ts() {
                let p = Timestamp::parse(&t.to_python_string()).expect("python form parses");
                assert_eq!(p.unix_micros(), t.unix_micros());
            }
        }
        Decoded::Blank | Decoded::Malformed(_) => {}
    }
});
