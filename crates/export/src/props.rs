//! The Parquet writer's settings of an export (docs/export.md, "Format",
//! decision 129): the codec, each column's encoding, statistics.

use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::Result;

/// zstd's level: 1 wrote 92.1 MB of the 1 GiB bench store, level 3 92.6
/// MB for more CPU; snappy 110.5 MB, LZ4_RAW 112.4 MB (docs/export.md).
const ZSTD_LEVEL: i32 = 1;

/// Columns that rise within a segment: deltas, bit-packed.
const DELTA: [&str; 2] = ["ts", "seq"];

/// Columns whose values are nearly all distinct: no dictionary.
const PLAIN: [&str; 2] = ["cost", "duration_ms"];

/// The writer properties of every part file.
pub(crate) fn writer_properties() -> Result<WriterProperties> {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_created_by(format!("scout-audit {}", env!("CARGO_PKG_VERSION")));
    for c in DELTA {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(c), false)
            .set_column_encoding(ColumnPath::from(c), Encoding::DELTA_BINARY_PACKED);
    }
    for c in PLAIN {
        b = b.set_column_dictionary_enabled(ColumnPath::from(c), false);
    }
    Ok(b.build())
}
