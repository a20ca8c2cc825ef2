//! The kinds of tampering the campaign tries (issue 10, item 4), and
//! those it cannot try yet.

/// One kind of tampering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One digit of a sealed line changed (a cost, a time), the JSON kept
    /// valid; in an archive, decompressed and recompressed.
    LineEdited,
    /// A line inserted among the sealed ones.
    LineInserted,
    /// A sealed line removed.
    LineRemoved,
    /// A sealed line written twice.
    LineDuplicated,
    /// A sealed line swapped with another line of the store.
    LinesReordered,
    /// Any byte of an archive's data changed (a `\n` too), recompressed.
    ArchiveEdited,
    /// An archive's gzip file cut short.
    ArchiveTruncated,
    /// An archive deleted.
    ArchiveDeleted,
    /// An archive renamed to another, unused number.
    ArchiveRenamed,
    /// Two archives' contents swapped.
    ArchivesSwapped,
    /// An archive replaced by an older copy (a prefix of its lines, as the
    /// live file held them before rotation, gzip'd).
    ArchiveReplacedByOlder,
    /// The `init` line or a `cert` line of the seal log removed.
    LogLineRemoved,
    /// A field verify checks, of any seal-log line, edited.
    LogLineEdited,
    /// Two seal-log lines swapped.
    LogLinesReordered,
    /// An epoch certificate removed.
    CertRemoved,
    /// An epoch certificate edited.
    CertEdited,
    /// A line edited, then the seal files removed, the sealing state
    /// removed, or sealing set up anew (the journald downgrade).
    Downgrade,
    /// A seal of the last seal's size with another root, signed with the
    /// current key.
    ForkWithCurrentKey,
    /// Verified with another store's verification key.
    WrongKey,
    /// The attacker holding the current key state rewrites a line of an
    /// older epoch and reseals everything it can with the current key.
    ResealOlderEpoch,
    /// An attacker with no key rewrites a line and re-signs every seal
    /// with a key of its own.
    ResealWithOwnKey,
    /// An archive's index forged consistently: its hourly costs edited
    /// and its own digest recomputed (testkit's `forge`), after a seal
    /// vouched for it.
    IndexForged,
    /// The whole store (lines, seal files, state, indexes) copied back
    /// from an older copy, as is or with records written after it; caught
    /// against a checkpoint kept elsewhere.
    Rollback,
    /// The last seals cut from the seal log, with the lines after the
    /// last seal kept kept or cut too; caught against a checkpoint kept
    /// elsewhere (or by the state, when a certificate went with them).
    TailCut,
    /// A field of a `retire` line edited (its note, tree, epoch, segment
    /// or leaves).
    RetireEdited,
    /// The archive right after the last retire deleted, as is, or passed
    /// off as retired (the retire's unsigned fields moved over it, or the
    /// retire re-signed with the attacker's own key).
    RetiredNeighbourRemoved,
    /// On a store with retires, a later archive deleted without a retire.
    ArchiveRemovedPastRetire,
    /// A `retire` line written again elsewhere in the seal log.
    RetireReplayed,
    /// On a store with two retires or more, a retire line removed while
    /// a later one follows (which accounts for every retired line).
    RetireRemoved,
    /// A retire signed with the current key that contradicts the log:
    /// going back, removing lines never sealed, or with a made-up tree at
    /// a seal's size.
    RetireForgedCurrentKey,
}

impl Kind {
    /// Every kind, in the report's order.
    pub const ALL: [Kind; 30] = [
        Kind::LineEdited,
        Kind::LineInserted,
        Kind::LineRemoved,
        Kind::LineDuplicated,
        Kind::LinesReordered,
        Kind::ArchiveEdited,
        Kind::ArchiveTruncated,
        Kind::ArchiveDeleted,
        Kind::ArchiveRenamed,
        Kind::ArchivesSwapped,
        Kind::ArchiveReplacedByOlder,
        Kind::LogLineRemoved,
        Kind::LogLineEdited,
        Kind::LogLinesReordered,
        Kind::CertRemoved,
        Kind::CertEdited,
        Kind::Downgrade,
        Kind::ForkWithCurrentKey,
        Kind::WrongKey,
        Kind::ResealOlderEpoch,
        Kind::ResealWithOwnKey,
        Kind::IndexForged,
        Kind::Rollback,
        Kind::TailCut,
        Kind::RetireEdited,
        Kind::RetiredNeighbourRemoved,
        Kind::ArchiveRemovedPastRetire,
        Kind::RetireReplayed,
        Kind::RetireRemoved,
        Kind::RetireForgedCurrentKey,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::LineEdited => "line-edited",
            Kind::LineInserted => "line-inserted",
            Kind::LineRemoved => "line-removed",
            Kind::LineDuplicated => "line-duplicated",
            Kind::LinesReordered => "lines-reordered",
            Kind::ArchiveEdited => "archive-edited",
            Kind::ArchiveTruncated => "archive-truncated",
            Kind::ArchiveDeleted => "archive-deleted",
            Kind::ArchiveRenamed => "archive-renamed",
            Kind::ArchivesSwapped => "archives-swapped",
            Kind::ArchiveReplacedByOlder => "archive-older-copy",
            Kind::LogLineRemoved => "seal-log-line-removed",
            Kind::LogLineEdited => "seal-log-line-edited",
            Kind::LogLinesReordered => "seal-log-lines-reordered",
            Kind::CertRemoved => "cert-removed",
            Kind::CertEdited => "cert-edited",
            Kind::Downgrade => "downgrade",
            Kind::ForkWithCurrentKey => "fork-current-key",
            Kind::WrongKey => "wrong-key",
            Kind::ResealOlderEpoch => "reseal-older-epoch",
            Kind::ResealWithOwnKey => "reseal-own-key",
            Kind::IndexForged => "index-forged",
            Kind::Rollback => "rollback",
            Kind::TailCut => "tail-cut",
            Kind::RetireEdited => "retire-edited",
            Kind::RetiredNeighbourRemoved => "retired-neighbour-removed",
            Kind::ArchiveRemovedPastRetire => "archive-removed-past-retire",
            Kind::RetireReplayed => "retire-replayed",
            Kind::RetireRemoved => "retire-removed",
            Kind::RetireForgedCurrentKey => "retire-forged-current-key",
        }
    }

    /// Whether verify names a segment for it (the report's "located").
    pub fn locatable(self) -> bool {
        matches!(
            self,
            Kind::LineEdited
                | Kind::LineInserted
                | Kind::LineRemoved
                | Kind::LineDuplicated
                | Kind::LinesReordered
                | Kind::ArchiveEdited
                | Kind::ArchiveTruncated
                | Kind::ArchiveDeleted
                | Kind::ArchiveRenamed
                | Kind::ArchivesSwapped
                | Kind::ArchiveReplacedByOlder
                | Kind::IndexForged
                | Kind::ResealOlderEpoch
                | Kind::RetiredNeighbourRemoved
                | Kind::ArchiveRemovedPastRetire
        )
    }

    /// Whether the report shows its "located" count: it names a segment,
    /// or is checked for the exact reason verify gives.
    pub fn shows_located(self) -> bool {
        self.locatable()
            || self.anchored()
            || matches!(self, Kind::RetireForgedCurrentKey | Kind::RetireRemoved)
    }

    /// Whether it is found against a checkpoint kept elsewhere; "located"
    /// then means the checkpoint refused with the reason the model
    /// predicts (shorter, seals cut, forked).
    pub fn anchored(self) -> bool {
        matches!(self, Kind::Rollback | Kind::TailCut)
    }

    /// Whether it needs a store whose archives retention retired.
    pub fn needs_retire(self) -> bool {
        matches!(
            self,
            Kind::RetireEdited
                | Kind::RetiredNeighbourRemoved
                | Kind::ArchiveRemovedPastRetire
                | Kind::RetireReplayed
                | Kind::RetireRemoved
                | Kind::RetireForgedCurrentKey
        )
    }
}

/// Tamperings of issue 10 item 4 this campaign does not try, and why.
pub const NOT_YET: [&str; 3] = [
    "a retire signed with the current key over the real tree of archives retention would \
     have kept: verify cannot tell it from a real one (decision 84); it is reported with its \
     reach, epoch and time, not refused",
    "a rolled-back store sealed again with its old sealing state: not drawn (the rollback \
     kind writes records after the old copy but does not seal them)",
    "the unsigned fields of the seal log (`v`, the init line's `at`): not checked today \
     (they carry no record)",
];
