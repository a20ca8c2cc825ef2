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
}

impl Kind {
    /// Every kind, in the report's order.
    pub const ALL: [Kind; 22] = [
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
        )
    }
}

/// Tamperings of issue 10 item 4 this campaign does not try, and why.
pub const NOT_YET: [&str; 3] = [
    "the whole store rolled back, or whole seals cut from the end of the log within the \
     current epoch: caught only against a checkpoint kept elsewhere (`verify --checkpoint`, \
     decision 74), proven by `it::proofs`, not drawn here",
    "an archive removed by retention and retires forged or edited: proven by `it::retire` \
     (decision 73), not drawn here",
    "the unsigned fields of the seal log (`v`, the init line's `at`): not checked today \
     (they carry no record)",
];
