//! [`Manifest`]: the marks of what earlier runs exported (per writer the
//! highest `seq`, for records without `seq` the latest `ts`), its JSON
//! format, and its atomic replacement.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write as _;
use std::path::Path;

use scout_audit_core::{Record, Timestamp};
use serde_json::{Value, json};

use crate::dir::{MANIFEST, check_regular_or_absent, create_new, manifest_tmp, remove_own_file};
use crate::error::{Error, Result};

/// The manifest version this code writes: 2 adds the per-writer marks
/// (`writers`); version 1 manifests are read as they are.
const MANIFEST_VERSION: u64 = 2;

/// The manifest: marks of what earlier runs exported.
#[derive(Clone, Debug, Default)]
pub(crate) struct Manifest {
    /// Runs committed; the next run is number `runs + 1`.
    pub runs: u64,
    /// Per session, the highest seq of its unstamped records exported.
    sessions: HashMap<String, u64>,
    /// Per session and `writer` stamp, the highest seq exported.
    writers: HashMap<String, HashMap<String, u64>>,
    /// For records without seq, the latest ts exported.
    seqless_ts: Option<Timestamp>,
    /// Records without seq or ts already exported (never again).
    undated_seqless_done: bool,
}

impl Manifest {
    /// The manifest in `dir`, or the empty one when there is none.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let p = dir.join(MANIFEST);
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
            Err(source) => {
                return Err(Error::File {
                    what: "read",
                    path: p,
                    source,
                });
            }
        };
        let v: Value = serde_json::from_str(&text).map_err(|source| Error::ManifestNotJson {
            path: p.clone(),
            source,
        })?;
        // Version 1 had no per-writer marks (its writers stamped nothing).
        if v["version"] != 1 && v["version"] != MANIFEST_VERSION {
            return Err(Error::ManifestVersion {
                path: p,
                version: v["version"].to_string(),
            });
        }
        Ok(Manifest::of_json(&v))
    }

    /// The marks a manifest's JSON holds (what is missing or mistyped
    /// counts as nothing exported).
    fn of_json(v: &Value) -> Manifest {
        let mut m = Manifest {
            runs: v["runs"].as_u64().unwrap_or(0),
            ..Manifest::default()
        };
        if let Some(s) = v["sessions"].as_object() {
            for (k, n) in s {
                if let Some(n) = n.as_u64() {
                    m.sessions.insert(k.clone(), n);
                }
            }
        }
        if let Some(s) = v["writers"].as_object() {
            for (session, ws) in s {
                for (w, n) in ws.as_object().into_iter().flatten() {
                    if let Some(n) = n.as_u64() {
                        m.writers
                            .entry(session.clone())
                            .or_default()
                            .insert(w.clone(), n);
                    }
                }
            }
        }
        m.seqless_ts = v["seqless_ts"]
            .as_str()
            .and_then(|t| Timestamp::parse(t).ok());
        m.undated_seqless_done = v["undated_seqless_done"].as_bool().unwrap_or(false);
        m
    }

    /// Replaces the manifest in `dir` atomically (a temporary file, synced,
    /// renamed over a regular file only, the directory synced).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let sessions: BTreeMap<&String, &u64> = self.sessions.iter().collect();
        let writers: BTreeMap<&String, BTreeMap<&String, &u64>> = self
            .writers
            .iter()
            .map(|(s, ws)| (s, ws.iter().collect()))
            .collect();
        let v = json!({
            "version": MANIFEST_VERSION,
            "runs": self.runs,
            "sessions": sessions,
            "writers": writers,
            "seqless_ts": self.seqless_ts.map(|t| t.to_python_string()),
            "undated_seqless_done": self.undated_seqless_done,
        });
        let tmp = dir.join(manifest_tmp());
        remove_own_file(&tmp)?;
        let mut f = create_new(&tmp)?;
        f.write_all(v.to_string().as_bytes())?;
        f.sync_all()?;
        // Replaced only when it is a regular file (ours); never a link.
        let manifest = dir.join(MANIFEST);
        check_regular_or_absent(&manifest)?;
        fs::rename(&tmp, &manifest).map_err(Error::ReplaceManifest)?;
        File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// Whether an earlier run exported this record.
    pub fn done(&self, r: &Record) -> bool {
        self.done_parts(r.session_id(), r.writer(), r.seq(), r.ts())
    }

    /// Whether an earlier run exported the record with this session,
    /// `writer` stamp, seq and ts.
    pub fn done_parts(
        &self,
        session: Option<&str>,
        writer: Option<&str>,
        seq: Option<u64>,
        ts: Option<Timestamp>,
    ) -> bool {
        match (session, seq) {
            (Some(s), Some(q)) => match writer {
                Some(w) => self
                    .writers
                    .get(s)
                    .and_then(|ws| ws.get(w))
                    .is_some_and(|m| q <= *m),
                None => self.sessions.get(s).is_some_and(|m| q <= *m),
            },
            _ => match ts {
                Some(t) => self.seqless_ts.is_some_and(|m| t <= m),
                None => self.undated_seqless_done,
            },
        }
    }

    /// Takes the higher of each mark.
    pub fn absorb(&mut self, other: &Manifest) {
        for (k, n) in &other.sessions {
            let e = self.sessions.entry(k.clone()).or_insert(*n);
            *e = (*e).max(*n);
        }
        for (k, ws) in &other.writers {
            let mine = self.writers.entry(k.clone()).or_default();
            for (w, n) in ws {
                let e = mine.entry(w.clone()).or_insert(*n);
                *e = (*e).max(*n);
            }
        }
        if let Some(t) = other.seqless_ts {
            self.seqless_ts = Some(self.seqless_ts.map_or(t, |m| m.max(t)));
        }
        self.undated_seqless_done |= other.undated_seqless_done;
    }

    /// Marks `r` as exported.
    pub fn note(&mut self, r: &Record) {
        self.note_parts(r.session_id(), r.writer(), r.seq(), r.ts());
    }

    /// Marks the record with this session, `writer` stamp, seq and ts as
    /// exported (a session's key is copied only the first time).
    pub fn note_parts(
        &mut self,
        session: Option<&str>,
        writer: Option<&str>,
        seq: Option<u64>,
        ts: Option<Timestamp>,
    ) {
        match (session, seq) {
            (Some(s), Some(q)) => {
                let marks = match writer {
                    Some(_) => {
                        if !self.writers.contains_key(s) {
                            self.writers.insert(s.to_owned(), HashMap::new());
                        }
                        match self.writers.get_mut(s) {
                            Some(ws) => ws,
                            None => return,
                        }
                    }
                    None => &mut self.sessions,
                };
                let key = writer.unwrap_or(s);
                match marks.get_mut(key) {
                    Some(m) => *m = (*m).max(q),
                    None => {
                        marks.insert(key.to_owned(), q);
                    }
                }
            }
            _ => match ts {
                Some(t) => self.seqless_ts = Some(self.seqless_ts.map_or(t, |m| m.max(t))),
                None => self.undated_seqless_done = true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> Record {
        match scout_audit_core::decode_line(line.as_bytes()) {
            scout_audit_core::Decoded::Record(r) => r,
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn marks_are_per_writer_and_survive_a_save() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::default();
        m.note(&rec(r#"{"session_id":"s","writer":"w1","seq":5}"#));
        m.note(&rec(r#"{"session_id":"s","seq":2}"#));
        m.note(&rec(r#"{"ts":"2026-01-01T00:00:00Z"}"#));
        m.runs = 3;
        m.save(dir.path()).unwrap();
        let back = Manifest::load(dir.path()).unwrap();
        assert_eq!(back.runs, 3);
        assert!(back.done(&rec(r#"{"session_id":"s","writer":"w1","seq":5}"#)));
        // Another writer of the same session is not taken for the first.
        assert!(!back.done(&rec(r#"{"session_id":"s","writer":"w2","seq":1}"#)));
        assert!(back.done(&rec(r#"{"session_id":"s","seq":2}"#)));
        assert!(!back.done(&rec(r#"{"session_id":"s","seq":3}"#)));
        assert!(back.done(&rec(r#"{"ts":"2025-12-31T00:00:00Z"}"#)));
        assert!(!back.done(&rec(r#"{"ts":"2026-01-02T00:00:00Z"}"#)));
        assert!(!back.done(&rec(r#"{"event":"undated"}"#)));
    }

    #[test]
    fn an_unknown_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST), r#"{"version":7}"#).unwrap();
        let e = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.ends_with("_scout_audit_export.json: unknown manifest version 7"),
            "{e}"
        );
    }
}
