//! `report`: core's [`Overview`] over the typed fields of matching
//! records, in one pass. An index has no sessions nor files, so every
//! archive inside the window is read.

use scout_audit_core::overview::{Overview, RecordParts};

use crate::fields::Want;
use crate::fold::{Fold, Matched};

/// The scanner's side of [`Overview`].
#[derive(Clone, Debug, Default)]
pub(crate) struct OverviewFold(pub Overview);

impl Fold for OverviewFold {
    fn want(&self) -> Want {
        Want::ALL
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        let f = m.fields;
        let parts = RecordParts {
            ts: f.ts,
            event: f.event(),
            session: f.session_id(),
            model: f.model(),
            cost: f.cost,
            tokens: (f.input_t, f.output_t),
        };
        self.0.add_parts(parts, f.files.iter().map(|x| x.as_ref()));
    }
    fn merge(&mut self, later: Self) {
        self.0.merge(&later.0);
    }
}
