//! The tamper campaign (issue 10, item 7): at least 10,000 random
//! tamperings of sealed stores, every one detected and located, and at
//! least 1,000 untampered stores (crash-recovered ones among them) with no
//! false alarm. `SCOUT_AUDIT_TAMPER_SEED` replays another seed; `cargo
//! xtask tamper` is the long mode.

use scout_audit_testkit::tamper::{self, Kind, Options};

fn seed() -> u64 {
    std::env::var("SCOUT_AUDIT_TAMPER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_206)
}

#[test]
fn ten_thousand_tamperings_are_detected_and_located_and_untampered_stores_pass() {
    let opts = Options {
        trials: 480 * Kind::ALL.len() as u64,
        clean: 1_000,
        seed: seed(),
        ..Options::default()
    };
    let report = tamper::run(&opts).unwrap();
    eprintln!("{report}");
    assert!(report.tried() >= 10_000, "{}", report.tried());
    assert!(report.clean >= 1_000);
    for (k, f) in &report.kinds {
        assert_eq!(f.tried, 480, "{}", k.name());
    }
    assert!(report.passed(), "{report}");
    assert!(report.examples.is_empty(), "{report}");
}

/// With verify skipping seals' signatures, the campaign fails, and names
/// the kinds that slip through: an attacker's own key re-signing every
/// seal, and seal-log edits of a signature. Run alone (the active mutant
/// is process-wide): `RUSTFLAGS='--cfg scout_audit_mutant'
/// CARGO_TARGET_DIR=target/mutant cargo test -p scout-audit-testkit --test
/// it tamper::a_sealing_mutant`.
#[cfg(scout_audit_mutant)]
#[test]
fn a_sealing_mutant_makes_the_campaign_fail() {
    use scout_audit_store_file::mutant;
    let opts = Options {
        trials: 40 * Kind::ALL.len() as u64,
        clean: 50,
        seed: seed(),
        ..Options::default()
    };
    for m in mutant::SEALING {
        mutant::activate(Some(m));
        let report = tamper::run(&opts).unwrap();
        mutant::activate(None);
        eprintln!("{m}:\n{report}");
        assert!(!report.passed(), "{m} was not caught:\n{report}");
        let missed = report.missed();
        assert!(missed.contains(&Kind::ResealWithOwnKey), "{m}: {missed:?}");
        assert!(!report.examples.is_empty());
        eprintln!("{m} slipped through as: {missed:?}");
    }
    let control = tamper::run(&opts).unwrap();
    assert!(control.passed(), "{control}");
}
