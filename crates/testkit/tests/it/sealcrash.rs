//! Sealing under simulated power loss: the campaign's sealing workloads.

use scout_audit_testkit::campaign::{self, Options};
use scout_audit_testkit::workload::Workload;

#[test]
fn every_crash_point_of_the_sealing_workloads_keeps_seals_and_raises_no_alarm() {
    let opts = Options::default();
    let mut total = campaign::Report::default();
    for w in Workload::sealed() {
        let t = std::time::Instant::now();
        let r = campaign::run(&w, &opts);
        eprintln!("{}: {} in {:?}", w.name, r.summary_line(), t.elapsed());
        total.merge(&r);
    }
    eprintln!("{:#?}", total.seal);
    for e in &total.found.examples {
        eprintln!("EX {e}");
    }
    assert_eq!(total.found.count, 0);
}
