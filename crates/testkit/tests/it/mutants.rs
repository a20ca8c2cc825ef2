//! The harness sees the bug class it exists for: with one fsync removed
//! from the store, the power-loss campaign finds violations; with none
//! removed, it finds none. Compiled only with `--cfg scout_audit_mutant`
//! (`.ci/run` builds it in its own target directory); run alone, since the
//! active mutant is process-wide:
//! `RUSTFLAGS='--cfg scout_audit_mutant' CARGO_TARGET_DIR=target/mutant
//! cargo test -p scout-audit-testkit --test it mutants`.
#![cfg(scout_audit_mutant)]

use scout_audit_store_file::mutant;
use scout_audit_testkit::campaign::{self, Options};

fn campaign() -> campaign::Report {
    let opts = Options {
        seeds: 8,
        recovery_points: 0,
        seed: 3,
    };
    campaign::run_many(&opts, 0, |_| {})
}

#[test]
fn mutants_are_caught_and_the_real_store_is_not() {
    for m in mutant::ALL {
        mutant::activate(Some(m));
        let report = campaign();
        mutant::activate(None);
        eprintln!("{m}: {}", report.summary_line());
        assert!(
            report.found.count > 0,
            "{m} was not caught: {}",
            report.summary_line()
        );
        // What it finds is acknowledged-durable data lost.
        assert!(
            report
                .found
                .examples
                .iter()
                .any(|e| e.contains("lost-durable")),
            "{m}: {:#?}",
            report.found.examples
        );
        eprintln!("  e.g. {}", report.found.examples[0]);
    }
    let control = campaign();
    assert_eq!(control.found.count, 0, "{:#?}", control.found.examples);
}
