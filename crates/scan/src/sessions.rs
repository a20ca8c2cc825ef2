//! `sessions`: per-session figures (core's [`Sessions`] fold) over the
//! typed fields of matching records. An index has no sessions, so every
//! archive inside the window is read.

use scout_audit_core::agg::Sessions;

use crate::fields::Want;
use crate::fold::{Fold, Matched};

/// The scanner's side of [`Sessions`].
#[derive(Clone, Debug, Default)]
pub(crate) struct SessionsFold(pub Sessions);

impl Fold for SessionsFold {
    fn want(&self) -> Want {
        Want {
            ts: true,
            event: true,
            session: true,
            model: true,
            cost: true,
            tokens: true,
            ..Want::default()
        }
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        let f = m.fields;
        self.0.add_parts(
            f.ts,
            f.session_id(),
            f.model(),
            f.event(),
            f.cost,
            (f.input_t, f.output_t),
        );
    }
    fn merge(&mut self, later: Self) {
        self.0.merge(&later.0);
    }
}
