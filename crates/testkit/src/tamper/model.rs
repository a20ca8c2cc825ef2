//! The campaign's model of a store: its segments' bytes in layout order,
//! and the location rule of decision 72 computed on it, independently of
//! `verify --key` (`tamper::keyed`).

use std::path::Path;

use scout_audit_store_file::Layout;

/// One segment as the model holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    /// Its segment number (the live file: one more than the highest).
    pub number: u64,
    /// Its file name.
    pub name: String,
    /// Its seal second (0 for the live file), the first key of the
    /// layout's order.
    pub seal_secs: i64,
    /// Whether it is a gzip archive (its bytes here are decompressed).
    pub gz: bool,
    /// Its bytes, decompressed.
    pub bytes: Vec<u8>,
}

impl Seg {
    /// Its complete lines (without `\n`); a torn tail is no line.
    pub fn lines(&self) -> Vec<&[u8]> {
        let mut out: Vec<&[u8]> = self.bytes.split(|&b| b == b'\n').collect();
        out.pop();
        out
    }

    /// Its bytes from its lines (each followed by `\n`).
    pub fn set_lines(&mut self, lines: &[Vec<u8>]) {
        self.bytes = lines
            .iter()
            .flat_map(|l| l.iter().chain(b"\n"))
            .copied()
            .collect();
    }
}

/// Where a leaf is: its segment's name and number, its 1-based line, and
/// the byte offset just after its `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The segment file's name.
    pub name: String,
    /// The segment's number.
    pub number: u64,
    /// The 1-based line in the segment.
    pub line: u64,
    /// The offset after the line's `\n`.
    pub end: u64,
}

/// A seal as the model knows it: its size and where it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealPoint {
    /// Leaves sealed.
    pub size: u64,
    /// The segment number of its last leaf.
    pub segment: u64,
    /// The offset after its last leaf.
    pub offset: u64,
}

/// The store: archives in layout order, then the live file (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// The segments in layout order.
    pub segs: Vec<Seg>,
}

impl Model {
    /// Puts the archives in the layout's order (stamp, then number) and
    /// numbers the live file one above the highest archive.
    pub fn normalise(&mut self) {
        let (mut archives, live): (Vec<Seg>, Vec<Seg>) = self.segs.drain(..).partition(|s| s.gz);
        archives.sort_by_key(|a| (a.seal_secs, a.number));
        let next = archives.iter().map(|s| s.number).max().unwrap_or(0) + 1;
        self.segs = archives;
        for mut l in live {
            l.number = next;
            self.segs.push(l);
        }
    }

    /// Every leaf's place, in order.
    pub fn places(&self) -> Vec<Place> {
        let mut out = Vec::new();
        for s in &self.segs {
            let mut end = 0u64;
            for (i, l) in s.lines().iter().enumerate() {
                end += l.len() as u64 + 1;
                out.push(Place {
                    name: s.name.clone(),
                    number: s.number,
                    line: i as u64 + 1,
                    end,
                });
            }
        }
        out
    }

    /// Every leaf's bytes, in order.
    pub fn leaves(&self) -> Vec<&[u8]> {
        self.segs.iter().flat_map(|s| s.lines()).collect()
    }

    /// Where the seal of `size` leaves ends in this store.
    pub fn seal_point(&self, size: u64) -> Option<SealPoint> {
        let places = self.places();
        let last = places.get(usize::try_from(size.checked_sub(1)?).ok()?)?;
        Some(SealPoint {
            size,
            segment: last.number,
            offset: last.end,
        })
    }

    /// Index of the segment named `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.segs.iter().position(|s| s.name == name)
    }
}

/// Decision 72's location of a departure, computed on the models: the
/// first seal whose prefix (leaves and end) the tampered store does not
/// hold fails; the place named is the tampered store's leaf at the size of
/// the seal before it (0 for the first), or its last leaf when it has no
/// leaf there. `None` when every seal holds (nothing to locate) or the
/// tampered store has no leaf at all.
pub fn expected_location(
    original: &Model,
    tampered: &Model,
    seals: &[SealPoint],
) -> Option<Option<(String, u64)>> {
    let (old, new) = (original.leaves(), tampered.leaves());
    let places = tampered.places();
    let mut before = 0u64;
    for s in seals {
        let n = usize::try_from(s.size).unwrap_or(usize::MAX);
        let holds = new.len() >= n
            && old.get(..n) == new.get(..n)
            && tampered.seal_point(s.size) == Some(*s);
        if !holds {
            let at = usize::try_from(before).unwrap_or(usize::MAX);
            let place = places.get(at).or(places.last());
            return Some(place.map(|p| (p.name.clone(), p.line)));
        }
        before = s.size;
    }
    None
}

/// Where verify must locate a departure when the seal-nodes file lets it
/// name a block of lines (decision 92): the tampered store's leaves in
/// order (segment name, line), decision 72's place (the first leaf after
/// the last seal that holds) and the first leaf that departs from the
/// failing seal (the first differing leaf, or its last leaf when the
/// store only ends early or ends elsewhere). The named block must start
/// at or after the first and contain the second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Departure {
    /// Every leaf's segment name and line, in order.
    pub places: Vec<(String, u64)>,
    /// Decision 72's leaf index.
    pub from: usize,
    /// The first departing leaf's index.
    pub first: usize,
}

/// The [`Departure`] of `tampered` from the seals, computed on the
/// models; `None` when every seal holds or the store has no leaf.
pub fn expected_departure(
    original: &Model,
    tampered: &Model,
    seals: &[SealPoint],
) -> Option<Departure> {
    let (old, new) = (original.leaves(), tampered.leaves());
    let places: Vec<(String, u64)> = tampered
        .places()
        .into_iter()
        .map(|p| (p.name, p.line))
        .collect();
    let last = places.len().checked_sub(1)?;
    let mut before = 0usize;
    for s in seals {
        let n = usize::try_from(s.size).unwrap_or(usize::MAX);
        let holds = new.len() >= n
            && old.get(..n) == new.get(..n)
            && tampered.seal_point(s.size) == Some(*s);
        if !holds {
            let differs = (0..n.min(new.len())).find(|&i| old.get(i) != new.get(i));
            let first = differs.unwrap_or(n.min(new.len()).saturating_sub(1));
            return Some(Departure {
                places,
                from: before.min(last),
                first: first.min(last),
            });
        }
        before = n;
    }
    None
}

/// The seal second and number of an archive of `layout`'s store.
pub fn parse_archive_name(layout: &Layout, name: &str) -> Option<(i64, u64)> {
    let seg = layout.parse_segment(name).filter(|s| s.is_gzip())?;
    Some((seg.key.seal_secs, seg.number?))
}

/// The name of the archive sealed at `seal_secs` with `number`.
pub fn archive_name(layout: &Layout, seal_secs: i64, number: u64) -> Option<String> {
    let sealed = layout.parse_segment(&layout.sealed_name(seal_secs, number))?;
    Some(file_name(&layout.archive_path(&sealed)))
}

/// The file name of a path, as text.
pub fn file_name(p: &Path) -> String {
    p.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_owned()
}
