//! `verify --key` in one read: the plain verify's read hands each
//! segment's leaves to the sealed check's walk (decision 132).

use std::sync::Arc;

use scout_audit_seal::note::Verifier;

use super::VerifyReport;
use super::parallel::{verify_fed, verify_with};
use crate::Result;
use crate::fs::Fs;
use crate::layout::Layout;
use crate::seal::{SealReport, Workers, verify_sealed_fed};

/// `verify` and `verify --key` in one read of the store: the plain
/// verify's workers hash each segment's lines as they read them, and the
/// sealed check walks those leaves in order, so no segment is read twice
/// (a segment the plain read could not hash whole, a damaged archive or
/// a line over the bound, is read again by the walk). The answers are
/// exactly [`verify_with`]'s and [`crate::seal::verify_sealed_with`]'s,
/// errors included; both run under the store's shared lock.
pub fn verify_keyed(
    fs: Arc<dyn Fs>,
    layout: &Layout,
    key: &Verifier,
    workers: Workers,
) -> (Result<VerifyReport>, Result<SealReport>) {
    let (plain, sealed) = verify_sealed_fed(&*fs, layout, key, workers, |sink| {
        verify_fed(Arc::clone(&fs), layout, workers, sink)
    });
    let plain = plain.unwrap_or_else(|| verify_with(fs, layout, workers));
    (plain, sealed)
}
