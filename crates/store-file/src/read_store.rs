//! [`FileReadStore`]: the file store's side of
//! [`scout_audit_core::ReadStore`], over the sequential reader.

use std::path::Path;
use std::sync::{Arc, Mutex};

use scout_audit_core::writer::lock_ignoring_poison;
use scout_audit_core::{Filter, ReadStore, Record, RecordStream, Skipped};

use crate::error::{Error, Result};
use crate::fs::{Fs, RealFs};
use crate::layout::Layout;
use crate::reader::Reader;

/// How many skipped items [`Skipped::examples`] keeps.
const EXAMPLES: usize = 20;

/// Queries over a file store (archives and live file), for code that works
/// with any backend. Reading never writes into the store.
#[derive(Debug)]
pub struct FileReadStore {
    fs: Arc<dyn Fs>,
    layout: Layout,
    /// What the last finished scan skipped.
    skipped: Arc<Mutex<Skipped>>,
}

impl FileReadStore {
    /// Reads the store whose live file is `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<FileReadStore> {
        let layout = Layout::new(path.as_ref()).map_err(|reason| Error::InvalidPath {
            path: path.as_ref().to_path_buf(),
            reason,
        })?;
        Ok(FileReadStore::new(Arc::new(RealFs), layout))
    }

    /// Reads a store through a given file system.
    pub fn new(fs: Arc<dyn Fs>, layout: Layout) -> FileReadStore {
        FileReadStore {
            fs,
            layout,
            skipped: Arc::default(),
        }
    }
}

/// Streams a reader's records and, at the end, records what it skipped.
struct Tracked {
    reader: Reader,
    skipped: Arc<Mutex<Skipped>>,
    done: bool,
}

impl Iterator for Tracked {
    type Item = std::result::Result<Record, scout_audit_core::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.reader.next() {
            Some(r) => Some(r.map_err(Into::into)),
            None => {
                self.done = true;
                let rep = self.reader.report();
                let mut g = lock_ignoring_poison(&self.skipped);
                *g = Skipped {
                    count: rep.problem_count(),
                    examples: rep
                        .problems
                        .iter()
                        .take(EXAMPLES)
                        .map(ToString::to_string)
                        .collect(),
                };
                None
            }
        }
    }
}

/// A writer's store answers queries too; buffered events of this writer
/// are written first, so a query sees everything logged before it.
impl ReadStore for crate::FileStore {
    fn scan(
        &self,
        filter: &Filter,
    ) -> std::result::Result<RecordStream<'_>, scout_audit_core::Error> {
        self.write_buffered()?;
        let reader =
            Reader::open_store(self.file_system(), self.layout().clone())?.filter(filter.clone());
        Ok(Box::new(Tracked {
            reader,
            skipped: self.skipped_cell(),
            done: false,
        }))
    }

    fn skipped(&self) -> Skipped {
        lock_ignoring_poison(&self.skipped_cell()).clone()
    }
}

impl ReadStore for FileReadStore {
    fn scan(
        &self,
        filter: &Filter,
    ) -> std::result::Result<RecordStream<'_>, scout_audit_core::Error> {
        let reader =
            Reader::open_store(Arc::clone(&self.fs), self.layout.clone())?.filter(filter.clone());
        Ok(Box::new(Tracked {
            reader,
            skipped: Arc::clone(&self.skipped),
            done: false,
        }))
    }

    fn skipped(&self) -> Skipped {
        lock_ignoring_poison(&self.skipped).clone()
    }
}
