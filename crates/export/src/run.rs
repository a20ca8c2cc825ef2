//! [`Run`]: one export run (what earlier runs exported, its number, the
//! directory made ours before the first part), and [`Writer`], which
//! writes records into part files, one per date partition, renamed into
//! place only when complete.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::Type;
use scout_audit_core::{Record, Timestamp};
use scout_audit_store_file::fs::rename_noreplace;

use crate::SCHEMA;
use crate::columns::{Columns, Part};
use crate::dir::{
    MANIFEST, check_regular_or_absent, create_new, create_partition_dir, create_private_dir,
    foreign_entry, remove_unfinished,
};
use crate::error::{Error, Result};
use crate::line::Row;
use crate::manifest::Manifest;
use crate::props::writer_properties;

/// Rows per row group.
const ROW_GROUP: usize = 122_880;
/// Rows buffered over all partitions before every partition writes its
/// rows as a row group (bounds memory whatever the number of dates).
const MAX_BUFFERED: usize = 131_072;
/// The partition of records without a valid `ts` (the Hive convention).
const NO_DATE: &str = "__HIVE_DEFAULT_PARTITION__";

/// One export run: what earlier runs exported, and where this one writes.
pub(crate) struct Run {
    dir: PathBuf,
    /// The manifest as earlier runs left it (read-only during the run).
    before: Manifest,
    /// This run's number: the manifest's committed runs + 1.
    pub number: u64,
    schema: Arc<Type>,
    props: Arc<WriterProperties>,
}

/// What one writer of a run wrote.
pub(crate) struct Done {
    /// Records written.
    pub records: u64,
    /// Records skipped: exported by an earlier run.
    pub already: u64,
    /// Part files written.
    pub files: u64,
    /// The marks of the records written.
    pub marks: Manifest,
}

/// A UTC date: year, month, day.
type Day = (i32, u32, u32);

/// Writes records into part files, one per date partition.
pub(crate) struct Writer<'a> {
    run: &'a Run,
    /// The part file name's distinguishing suffix (run, and source).
    suffix: String,
    /// Per partition (its UTC date; `None` without a valid ts): the final
    /// path and the open part.
    parts: HashMap<Option<Day>, (PathBuf, Part)>,
    /// Rows buffered over all partitions (at most `MAX_BUFFERED`).
    buffered: usize,
    marks: Manifest,
    records: u64,
    already: u64,
}

impl Run {
    /// Starts a run in `dir`: refuses a directory that is not an export's,
    /// saves the manifest before any part (the directory is ours from then
    /// on), and deletes the parts of an interrupted run.
    pub fn begin(dir: &Path) -> Result<Run> {
        create_private_dir(dir)?;
        check_regular_or_absent(&dir.join(MANIFEST))?;
        let has_manifest = fs::symlink_metadata(dir.join(MANIFEST)).is_ok();
        if let Some(entry) = foreign_entry(dir, has_manifest)? {
            let dir = dir.to_path_buf();
            if has_manifest {
                return Err(Error::ForeignEntry { dir, entry });
            }
            return Err(Error::NotAnExport {
                dir,
                manifest: MANIFEST,
                entry,
            });
        }
        let before = Manifest::load(dir)?;
        if !has_manifest {
            // Ours from now on: the manifest exists before the first part,
            // so an interrupted first run leaves a directory of ours.
            before.save(dir)?;
        }
        remove_unfinished(dir, before.runs)?;
        Ok(Run {
            dir: dir.to_path_buf(),
            number: before.runs + 1,
            before,
            schema: Arc::new(parse_message_type(SCHEMA)?),
            props: Arc::new(writer_properties()?),
        })
    }

    /// A writer of part files named `part-SUFFIX.parquet`.
    pub fn writer(&self, suffix: &str) -> Writer<'_> {
        Writer {
            run: self,
            suffix: suffix.to_owned(),
            parts: HashMap::new(),
            buffered: 0,
            marks: Manifest::default(),
            records: 0,
            already: 0,
        }
    }

    /// A copy of the earlier runs' marks, to absorb this run's into.
    pub fn before_marks(&self) -> Manifest {
        self.before.clone()
    }

    /// Records this run as done: its parts are all renamed already.
    pub fn commit(&self, mut marks: Manifest) -> Result<()> {
        marks.runs = self.number;
        marks.save(&self.dir)
    }

    /// A new part file in the partition of `date`: its final path and the
    /// part, open under its temporary name.
    fn open_part(&self, date: &str, suffix: &str) -> Result<(PathBuf, Part)> {
        let pdir = self.dir.join(format!("date={date}"));
        create_partition_dir(&pdir)?;
        let name = format!("part-{suffix}.parquet");
        let tmp = pdir.join(format!("{name}.tmp"));
        let f = create_new(&tmp)?;
        let writer =
            SerializedFileWriter::new(f, Arc::clone(&self.schema), Arc::clone(&self.props))?;
        let part = Part {
            writer,
            cols: Columns::default(),
        };
        Ok((pdir.join(name), part))
    }
}

impl Writer<'_> {
    /// Adds one record (skipped when an earlier run exported it).
    pub fn add(&mut self, r: &Record) -> Result<()> {
        if self.run.before.done(r) {
            self.already += 1;
            return Ok(());
        }
        self.place(r.ts(), |c| c.push(r))?;
        self.marks.note(r);
        self.records += 1;
        Ok(())
    }

    /// Adds one row of the fast path, as [`Writer::add`] adds the record
    /// `decode_line` makes of the same line.
    pub fn add_row(&mut self, r: &Row<'_>) -> Result<()> {
        if self
            .run
            .before
            .done_parts(r.session_id, r.writer, r.seq, r.ts)
        {
            self.already += 1;
            return Ok(());
        }
        self.place(r.ts, |c| c.push_row(r))?;
        self.marks.note_parts(r.session_id, r.writer, r.seq, r.ts);
        self.records += 1;
        Ok(())
    }

    /// Appends a row (`push`) to the part of the date of `ts`, and writes
    /// row groups when a part or all of them hold enough.
    fn place(&mut self, ts: Option<Timestamp>, push: impl FnOnce(&mut Columns)) -> Result<()> {
        let day = ts.map(|t| {
            let (y, m, d, ..) = t.civil();
            (y, m, d)
        });
        let part = match self.parts.entry(day) {
            Entry::Occupied(e) => &mut e.into_mut().1,
            Entry::Vacant(v) => {
                let date = match day {
                    Some((y, m, d)) => format!("{y:04}-{m:02}-{d:02}"),
                    None => NO_DATE.to_owned(),
                };
                let opened = self.run.open_part(&date, &self.suffix)?;
                &mut v.insert(opened).1
            }
        };
        push(&mut part.cols);
        self.buffered += 1;
        if part.cols.rows >= ROW_GROUP {
            self.buffered -= part.cols.rows;
            part.flush_group()?;
        }
        if self.buffered >= MAX_BUFFERED {
            for (_, p) in self.parts.values_mut() {
                p.flush_group()?;
            }
            self.buffered = 0;
        }
        Ok(())
    }

    /// Writes what is buffered, closes every part and renames it into place
    /// (never over an existing file).
    pub fn finish(self) -> Result<Done> {
        let mut files = 0;
        for (_, (final_path, mut part)) in self.parts {
            part.flush_group()?;
            let file = part.writer.into_inner()?;
            file.sync_all()?;
            let tmp = final_path.with_extension("parquet.tmp");
            rename_noreplace(&tmp, &final_path).map_err(|source| Error::File {
                what: "rename",
                path: tmp,
                source,
            })?;
            files += 1;
        }
        Ok(Done {
            records: self.records,
            already: self.already,
            files,
            marks: self.marks,
        })
    }
}
