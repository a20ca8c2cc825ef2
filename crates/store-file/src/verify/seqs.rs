//! Seq continuity read in parallel and merged in log order.
//!
//! A segment's worker keeps, per writer (session and `writer` stamp), the
//! runs of consecutive seqs it met ([`Runs`]): where each run starts, its
//! first and last seq. Only a run's first record can break the seq (every
//! other record of a run is the one expected), so replaying the runs'
//! starts in line order, segment after segment ([`Merge`]), finds exactly
//! the breaks the sequential tracker (`scout_audit_core::agg::SeqTracker`)
//! finds record by record, in the same order and with the same verdicts.

use std::collections::HashMap;

use scout_audit_core::agg::{SeqBreak, SeqTracker};

use crate::lines::Pos;

/// The most runs a segment keeps (about 40 MiB); past it the segment's
/// seqs are read again record by record at the merge ([`Runs::overflowed`]),
/// so memory stays bounded whatever a hostile segment holds.
pub(super) const MAX_RUNS: usize = 1 << 20;

/// One run of consecutive seqs of one writer in a segment.
#[derive(Clone, Debug)]
pub(super) struct Run {
    /// The writer, an index into [`Runs::keys`].
    key: u32,
    /// The run's first seq (the record that may break the seq).
    first: u64,
    /// Its last seq (each record of the run is the one before plus one).
    last: u64,
    /// Where its first record is.
    pos: Pos,
}

/// The writers of one session in a segment: the unstamped one and the
/// stamped ones, as indexes into [`Runs::keys`].
#[derive(Debug, Default)]
struct Writers {
    unstamped: Option<u32>,
    stamped: HashMap<String, u32>,
}

/// The runs of one segment, in the order their first records appear.
#[derive(Debug, Default)]
pub(super) struct Runs {
    sessions: HashMap<String, Writers>,
    /// (session, writer) of each key.
    keys: Vec<(String, Option<String>)>,
    /// Per key, the index in `runs` of its run still open.
    open: Vec<usize>,
    runs: Vec<Run>,
    /// Whether more than [`MAX_RUNS`] runs were met (then `runs` is empty).
    overflow: bool,
}

impl Runs {
    /// Notes a record's seq, in line order.
    pub(super) fn observe(&mut self, session: &str, writer: Option<&str>, seq: u64, pos: Pos) {
        if self.overflow {
            return;
        }
        let key = self.key(session, writer);
        let k = key as usize;
        if let Some(&r) = self.open.get(k)
            && let Some(run) = self.runs.get_mut(r)
            && seq == run.last.saturating_add(1)
        {
            run.last = seq;
            return;
        }
        if self.runs.len() >= MAX_RUNS {
            self.overflow = true;
            self.runs = Vec::new();
            return;
        }
        let at = self.runs.len();
        self.runs.push(Run {
            key,
            first: seq,
            last: seq,
            pos,
        });
        match self.open.get_mut(k) {
            Some(o) => *o = at,
            None => self.open.push(at),
        }
    }

    fn key(&mut self, session: &str, writer: Option<&str>) -> u32 {
        let next = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        let ws = match self.sessions.get_mut(session) {
            Some(w) => w,
            None => self.sessions.entry(session.to_owned()).or_default(),
        };
        let slot = match writer {
            None => &mut ws.unstamped,
            Some(w) => {
                if let Some(&k) = ws.stamped.get(w) {
                    return k;
                }
                ws.stamped.insert(w.to_owned(), next);
                self.keys.push((session.to_owned(), Some(w.to_owned())));
                return next;
            }
        };
        if let Some(k) = *slot {
            return k;
        }
        *slot = Some(next);
        self.keys.push((session.to_owned(), None));
        next
    }

    /// Whether the segment held more runs than are kept: its seqs must be
    /// read again, record by record, at the merge.
    pub(super) fn overflowed(&self) -> bool {
        self.overflow
    }
}

/// A break found at the merge: the writer, the seq found and the verdict.
pub(super) struct Found<'a> {
    pub(super) session: &'a str,
    pub(super) writer: Option<&'a str>,
    pub(super) seq: u64,
    pub(super) pos: Pos,
    pub(super) brk: SeqBreak,
}

/// The seq each writer is expected to continue with, across segments:
/// `SeqTracker`'s rules, fed a record or a run at a time.
#[derive(Debug, Default)]
pub(super) struct Merge {
    tracker: SeqTracker,
}

impl Merge {
    /// `SeqTracker::observe`.
    pub(super) fn observe(
        &mut self,
        session: &str,
        writer: Option<&str>,
        seq: u64,
    ) -> Option<SeqBreak> {
        self.tracker.observe(session, writer, seq)
    }

    /// Replays a segment's runs in order, calling `found` with each break.
    pub(super) fn runs(&mut self, runs: &Runs, found: &mut dyn FnMut(Found<'_>)) {
        for run in &runs.runs {
            let Some((session, writer)) = runs.keys.get(run.key as usize) else {
                continue;
            };
            let brk = self.observe(session, writer.as_deref(), run.first);
            if run.last != run.first {
                self.tracker
                    .continue_to(session, writer.as_deref(), run.last);
            }
            if let Some(brk) = brk {
                found(Found {
                    session,
                    writer: writer.as_deref(),
                    seq: run.first,
                    pos: run.pos,
                    brk,
                });
            }
        }
    }

    /// Sessions seen.
    pub(super) fn sessions(&self) -> u64 {
        self.tracker.sessions()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_audit_core::agg::SeqTracker;

    /// The breaks of `records` (session, writer, seq) split into segments
    /// at `cuts`, found by runs and merge, equal those the sequential
    /// tracker finds record by record.
    fn check(records: &[(&str, Option<&str>, u64)], cuts: &[usize]) {
        let mut t = SeqTracker::default();
        let want: Vec<(u64, Option<SeqBreak>)> = records
            .iter()
            .enumerate()
            .map(|(i, (s, w, q))| (i as u64, t.observe(s, *w, *q)))
            .filter(|(_, b)| b.is_some())
            .collect();
        let mut m = Merge::default();
        let mut got = Vec::new();
        let mut from = 0;
        for &to in cuts.iter().chain([records.len()].iter()) {
            let mut runs = Runs::default();
            for (i, (s, w, q)) in records.iter().enumerate().take(to).skip(from) {
                let pos = Pos {
                    line: i as u64,
                    offset: 0,
                };
                runs.observe(s, *w, *q, pos);
            }
            m.runs(&runs, &mut |f| got.push((f.pos.line, Some(f.brk))));
            from = to;
        }
        assert_eq!(got, want);
        assert_eq!(m.sessions(), t.sessions());
    }

    #[test]
    fn runs_merged_find_the_sequential_breaks() {
        let (a, b) = (Some("w1"), Some("w2"));
        let recs = [
            ("x", a, 0),
            ("y", None, 5),
            ("x", a, 1),
            ("x", b, 0),
            ("y", None, 6),
            ("x", a, 3),
            ("y", None, 2),
            ("y", None, 3),
            ("y", None, 9),
            ("x", b, 1),
            ("z", None, u64::MAX),
            ("z", None, u64::MAX),
            ("x", a, 4),
            ("x", a, 4),
            ("y", None, 10),
        ];
        for cuts in [
            &[][..],
            &[1],
            &[3, 7],
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
        ] {
            check(&recs, cuts);
        }
    }
}
