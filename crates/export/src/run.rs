//! [`Run`]: one export run (what earlier runs exported, its number, the
//! directory made ours before the first part), and [`Writer`], which
//! writes records into part files, one per date partition, renamed into
//! place only when complete.

use std::collections::HashMap;
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

/// Part files a writer keeps open at most: opening one more first closes
/// the one written to least recently (its date is then continued, if it
/// comes again, in a new part). Bounds the open files of a writer whatever
/// the number of dates in its sources.
const MAX_OPEN: usize = 64;

/// Emptied column buffers a writer keeps for its next row groups.
const SPARE: usize = 1;

/// Rows a part must hold for a row to another date to write them as a row
/// group first: records come mostly in date order, so a date's rows are
/// then written as soon as the next date begins, and its emptied buffers
/// go on with the next date's part instead of being freed and allocated
/// (and their pages zeroed) again. Fewer rows stay buffered, so that a
/// date interleaved with another for a while (writers whose clocks
/// differ, around midnight) is not cut into tiny row groups.
const SWITCH_ROWS: usize = 16_384;

/// One open part file of a writer.
struct Open {
    /// Its date partition (`None`: records without a valid ts).
    day: Option<Day>,
    /// Its final path (it is written under this name + `.tmp`).
    path: PathBuf,
    part: Part,
    /// The writer's tick when a row last went in (for closing the least
    /// recently used part first).
    used: u64,
}

/// Writes records into part files, one per date partition. A writer may
/// take several sources in turn ([`Writer::at_source`]): a date's rows of
/// all of them go into one part, so a run writes about one part per date
/// and writer instead of one per date and source.
pub(crate) struct Writer<'a> {
    run: &'a Run,
    /// The source being written (its place in log order), named in the
    /// parts opened while it is (`None`: an export of one feed).
    source: Option<usize>,
    /// The open parts (at most `MAX_OPEN`).
    parts: Vec<Open>,
    /// Index in `parts` of the part last written to (checked first).
    last: usize,
    /// Rows added so far (the clock of `Open::used`).
    tick: u64,
    /// Parts opened so far per date and source: the count names a part
    /// opened again for a date whose part was closed (`-K`).
    opened: HashMap<(Option<Day>, Option<usize>), u64>,
    /// Emptied column buffers to reuse (at most `SPARE`).
    spare: Vec<Columns>,
    /// Rows buffered over all partitions (at most `MAX_BUFFERED`).
    buffered: usize,
    /// Part files written (closed and renamed).
    files: u64,
    /// Open parts at most (`MAX_OPEN`; smaller in tests).
    max_open: usize,
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

    /// A writer of part files named `part-RUN[-SOURCE][-K].parquet`
    /// (SOURCE once [`Writer::at_source`] is called; K when a date's part
    /// is opened again at the same source).
    pub fn writer(&self) -> Writer<'_> {
        Writer {
            run: self,
            source: None,
            parts: Vec::new(),
            last: 0,
            tick: 0,
            opened: HashMap::new(),
            spare: Vec::new(),
            buffered: 0,
            files: 0,
            max_open: MAX_OPEN,
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

    /// A new part file named `part-NAME.parquet` in the partition of
    /// `date`: its final path and the part, open under its temporary name.
    fn open_part(&self, date: &str, name: &str, cols: Columns) -> Result<(PathBuf, Part)> {
        let pdir = self.dir.join(format!("date={date}"));
        create_partition_dir(&pdir)?;
        let name = format!("part-{name}.parquet");
        let tmp = pdir.join(format!("{name}.tmp"));
        let f = create_new(&tmp)?;
        let writer =
            SerializedFileWriter::new(f, Arc::clone(&self.schema), Arc::clone(&self.props))?;
        Ok((pdir.join(name), Part { writer, cols }))
    }
}

/// Writes a part's last rows, closes it and renames it into place (never
/// over an existing file).
fn close_part(mut part: Part, final_path: PathBuf) -> Result<Columns> {
    part.flush_group()?;
    let file = part.writer.into_inner()?;
    file.sync_all()?;
    let tmp = final_path.with_extension("parquet.tmp");
    rename_noreplace(&tmp, &final_path).map_err(|source| Error::File {
        what: "rename",
        path: tmp,
        source,
    })?;
    Ok(part.cols)
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

    /// Names the parts opened from now on after source `i` (its place in
    /// log order); the parts already open go on taking their dates' rows.
    pub fn at_source(&mut self, i: usize) {
        self.source = Some(i);
    }

    /// Appends a row (`push`) to the part of the date of `ts`, and writes
    /// row groups when a part or all of them hold enough.
    fn place(&mut self, ts: Option<Timestamp>, push: impl FnOnce(&mut Columns)) -> Result<()> {
        let day = ts.map(|t| {
            let (y, m, d, ..) = t.civil();
            (y, m, d)
        });
        let i = self.part_of(day)?;
        self.tick += 1;
        let open = &mut self.parts[i];
        open.used = self.tick;
        if open.part.cols.rows == 0
            && let Some(spare) = self.spare.pop()
        {
            open.part.cols = spare;
        }
        push(&mut open.part.cols);
        self.buffered += 1;
        if open.part.cols.rows >= ROW_GROUP {
            self.buffered -= open.part.cols.rows;
            open.part.flush_group()?;
            keep_spare(&mut self.spare, &mut open.part.cols);
        }
        if self.buffered >= MAX_BUFFERED {
            for open in &mut self.parts {
                if open.part.cols.rows > 0 {
                    open.part.flush_group()?;
                    keep_spare(&mut self.spare, &mut open.part.cols);
                }
            }
            self.buffered = 0;
        }
        Ok(())
    }

    /// The index in `parts` of the open part of `day`, opened if need be
    /// (closing the least recently used part first when `max_open` are).
    fn part_of(&mut self, day: Option<Day>) -> Result<usize> {
        if let Some(prev) = self.parts.get_mut(self.last) {
            if prev.day == day {
                return Ok(self.last);
            }
            if prev.part.cols.rows >= SWITCH_ROWS {
                self.buffered -= prev.part.cols.rows;
                prev.part.flush_group()?;
                keep_spare(&mut self.spare, &mut prev.part.cols);
            }
        }
        if let Some(i) = self.parts.iter().position(|o| o.day == day) {
            self.last = i;
            return Ok(i);
        }
        if self.parts.len() >= self.max_open.max(1) {
            let lru = (0..self.parts.len())
                .min_by_key(|&i| self.parts[i].used)
                .unwrap_or(0);
            let old = self.parts.swap_remove(lru);
            self.buffered -= old.part.cols.rows;
            let mut cols = close_part(old.part, old.path)?;
            keep_spare(&mut self.spare, &mut cols);
            self.files += 1;
        }
        let date = match day {
            Some((y, m, d)) => format!("{y:04}-{m:02}-{d:02}"),
            None => NO_DATE.to_owned(),
        };
        let k = self.opened.entry((day, self.source)).or_insert(0);
        let mut name = format!("{:06}", self.run.number);
        if let Some(s) = self.source {
            name.push_str(&format!("-{s:05}"));
        }
        if *k > 0 {
            name.push_str(&format!("-{k:05}"));
        }
        *k += 1;
        let cols = self.spare.pop().unwrap_or_default();
        let (path, part) = self.run.open_part(&date, &name, cols)?;
        self.parts.push(Open {
            day,
            path,
            part,
            used: self.tick,
        });
        self.last = self.parts.len() - 1;
        Ok(self.last)
    }

    /// Writes what is buffered, closes every part and renames it into place
    /// (never over an existing file).
    pub fn finish(self) -> Result<Done> {
        let mut files = self.files;
        for open in self.parts {
            close_part(open.part, open.path)?;
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

/// Takes the emptied buffers `cols` from a part: kept for reuse when there
/// is room, else freed (a part not written to keeps no buffers, so the
/// memory of a writer is its buffered rows and `SPARE` emptied buffers,
/// whatever the number of open parts).
fn keep_spare(spare: &mut Vec<Columns>, cols: &mut Columns) {
    let cols = std::mem::take(cols);
    if spare.len() < SPARE {
        spare.push(cols);
    }
}

#[cfg(test)]
mod tests {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    use scout_audit_core::{Decoded, decode_line};

    use super::*;

    fn rec(day: u32, seq: u64) -> Record {
        let line = format!(
            r#"{{"ts":"2026-01-{day:02}T00:00:00+00:00","event":"nav","session_id":"s","seq":{seq}}}"#
        );
        match decode_line(line.as_bytes()) {
            Decoded::Record(r) => r,
            _ => panic!("not a record: {line}"),
        }
    }

    /// The `seq` of each row of the part at `rel` under `dir`.
    fn seqs(dir: &Path, rel: &str) -> Vec<i64> {
        let f = fs::File::open(dir.join(rel)).unwrap();
        let r = SerializedFileReader::new(f).unwrap();
        r.get_row_iter(None)
            .unwrap()
            .map(|row| row.unwrap().get_long(3).unwrap())
            .collect()
    }

    /// The rows of each row group of the part at `rel` under `dir`.
    fn groups(dir: &Path, rel: &str) -> Vec<i64> {
        let f = fs::File::open(dir.join(rel)).unwrap();
        let r = SerializedFileReader::new(f).unwrap();
        r.metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect()
    }

    #[test]
    fn a_date_closed_for_room_is_continued_in_a_part_of_its_own() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let run = Run::begin(&dir).unwrap();
        let mut w = run.writer();
        w.max_open = 2;
        w.at_source(3);
        // Day 3 closes day 2 (least recently written), day 2 then closes
        // day 1, and day 1 closes day 3.
        for (day, seq) in [(1, 0), (2, 1), (1, 2), (3, 3), (2, 4), (1, 5)] {
            w.add(&rec(day, seq)).unwrap();
            assert!(w.parts.len() <= 2);
        }
        let done = w.finish().unwrap();
        assert_eq!((done.records, done.files), (6, 5));
        let p = |d: u32, k: &str| format!("date=2026-01-{d:02}/part-000001-00003{k}.parquet");
        assert_eq!(seqs(&dir, &p(1, "")), [0, 2]);
        assert_eq!(seqs(&dir, &p(1, "-00001")), [5]);
        assert_eq!(seqs(&dir, &p(2, "")), [1]);
        assert_eq!(seqs(&dir, &p(2, "-00001")), [4]);
        assert_eq!(seqs(&dir, &p(3, "")), [3]);
        let mut names: Vec<_> = fs::read_dir(dir.join("date=2026-01-01"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "part-000001-00003-00001.parquet",
                "part-000001-00003.parquet"
            ]
        );
    }

    #[test]
    fn a_date_is_written_when_the_next_begins_if_it_holds_enough() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let run = Run::begin(&dir).unwrap();
        let mut w = run.writer();
        let n = SWITCH_ROWS as u64;
        // Day 1 holds enough when day 2 begins: written as a row group.
        // Day 2 does not when day 1 comes again, nor day 1 when day 3
        // begins: their rows wait for the end.
        let days = (0..n).map(|_| 1).chain([2, 2, 1, 3, 2]);
        for (seq, day) in days.enumerate() {
            w.add(&rec(day, seq as u64)).unwrap();
        }
        let done = w.finish().unwrap();
        assert_eq!((done.records, done.files), (n + 5, 3));
        let n = n as i64;
        assert_eq!(groups(&dir, "date=2026-01-01/part-000001.parquet"), [n, 1]);
        assert_eq!(groups(&dir, "date=2026-01-02/part-000001.parquet"), [3]);
        assert_eq!(groups(&dir, "date=2026-01-03/part-000001.parquet"), [1]);
        assert_eq!(
            seqs(&dir, "date=2026-01-01/part-000001.parquet"),
            (0..n).chain([n + 2]).collect::<Vec<_>>()
        );
        assert_eq!(
            seqs(&dir, "date=2026-01-02/part-000001.parquet"),
            [n, n + 1, n + 4]
        );
    }

    #[test]
    fn reused_buffers_write_each_row_group_once() {
        // More rows than a row group in one part, then a second date: the
        // first part's emptied buffers are reused by the second.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let run = Run::begin(&dir).unwrap();
        let mut w = run.writer();
        let n = ROW_GROUP as u64 + 5;
        for seq in 0..n + 3 {
            w.add(&rec(if seq < n { 1 } else { 2 }, seq)).unwrap();
        }
        let done = w.finish().unwrap();
        assert_eq!((done.records, done.files), (n + 3, 2));
        let first = "date=2026-01-01/part-000001.parquet";
        assert_eq!(seqs(&dir, first), (0..n as i64).collect::<Vec<_>>());
        assert_eq!(groups(&dir, first), [ROW_GROUP as i64, 5]);
        let n = n as i64;
        assert_eq!(
            seqs(&dir, "date=2026-01-02/part-000001.parquet"),
            [n, n + 1, n + 2]
        );
    }
}
