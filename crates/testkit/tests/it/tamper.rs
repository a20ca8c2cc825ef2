//! The tamper campaign (issue 10, item 7): at least 10,000 random
//! tamperings of sealed stores, every one detected and located, and at
//! least 1,000 untampered stores (crash-recovered ones among them) with no
//! false alarm. `SCOUT_AUDIT_TAMPER_SEED` replays another seed; `cargo
//! xtask tamper` is the long mode.

use scout_audit_testkit::tamper::model::{Model, SealPoint, Seg, expected_location};
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

fn seg(number: u64, name: &str, lines: &[&str]) -> Seg {
    let mut s = Seg {
        number,
        name: name.to_owned(),
        seal_secs: if name == "live" { 0 } else { 1_800_000_000 },
        gz: name != "live",
        bytes: Vec::new(),
    };
    s.set_lines(
        &lines
            .iter()
            .map(|l| l.as_bytes().to_vec())
            .collect::<Vec<_>>(),
    );
    s
}

/// Decision 72's rule on the model: the place named is the tampered
/// store's leaf at the size of the seal before the first that fails.
fn check(tampered: &[Seg], want: Option<Option<(&str, u64)>>) {
    let original = Model {
        segs: vec![seg(1, "a1", &["a", "b", "c"]), seg(2, "live", &["d", "e"])],
    };
    let seals: Vec<SealPoint> = [2, 4, 5]
        .iter()
        .map(|&n| original.seal_point(n).unwrap())
        .collect();
    let mut m = Model {
        segs: tampered.to_vec(),
    };
    m.normalise();
    let got = expected_location(&original, &m, &seals);
    let want = want.map(|w| w.map(|(s, l)| (s.to_owned(), l)));
    assert_eq!(got, want, "{tampered:?}");
}

#[test]
fn the_location_rule_names_the_first_leaf_after_the_last_seal_that_holds() {
    // Untampered, or only lines appended: nothing to locate.
    check(
        &[seg(1, "a1", &["a", "b", "c"]), seg(2, "live", &["d", "e"])],
        None,
    );
    check(
        &[
            seg(1, "a1", &["a", "b", "c"]),
            seg(2, "live", &["d", "e", "f"]),
        ],
        None,
    );
    // "c" edited: the seal of 4 fails, the one of 2 holds: leaf 2 (a1:3).
    check(
        &[seg(1, "a1", &["a", "b", "x"]), seg(2, "live", &["d", "e"])],
        Some(Some(("a1", 3))),
    );
    // "a" edited: the first seal fails: leaf 0.
    check(
        &[seg(1, "a1", &["x", "b", "c"]), seg(2, "live", &["d", "e"])],
        Some(Some(("a1", 1))),
    );
    // "e" removed: fewer leaves than sealed; leaf 4 is gone, the last is named.
    check(
        &[seg(1, "a1", &["a", "b", "c"]), seg(2, "live", &["d"])],
        Some(Some(("live", 1))),
    );
    // The archive deleted: the live file is renumbered; leaf 0 is live:1.
    check(&[seg(2, "live", &["d", "e"])], Some(Some(("live", 1))));
    // The archive renamed to number 3: the same leaves, but the seals'
    // ends name segment 1 and 2: the first seal fails.
    check(
        &[seg(3, "a1", &["a", "b", "c"]), seg(4, "live", &["d", "e"])],
        Some(Some(("a1", 1))),
    );
    // Nothing left at all.
    check(&[], Some(None));
}
