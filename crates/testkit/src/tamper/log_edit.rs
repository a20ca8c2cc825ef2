//! Tamperings of the seal log and the sealing state, and seals written by
//! an attacker (with the current key, or with a key of its own).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scout_audit_seal::merkle::{Tree, leaf_hash};
use scout_audit_seal::note::{Checkpoint, EpochChain, Signer, sign};
use scout_audit_store_file::Layout;
use serde_json::Value;

use super::base::io;
use super::model::{Model, SealPoint};
use crate::rng::Rng;

/// The seal log's lines, each parsed.
pub struct LogLines {
    /// The lines' text, in order.
    pub text: Vec<String>,
    /// The lines parsed.
    pub json: Vec<Value>,
}

impl LogLines {
    /// Reads the seal log of `layout`.
    pub fn read(layout: &Layout) -> Result<LogLines, String> {
        let path = layout.seal_log();
        let all = std::fs::read_to_string(&path).map_err(io("read", &path))?;
        let text: Vec<String> = all.lines().map(str::to_owned).collect();
        let json = text
            .iter()
            .map(|l| serde_json::from_str(l).map_err(|e| format!("seal log line: {e}")))
            .collect::<Result<Vec<Value>, String>>()?;
        Ok(LogLines { text, json })
    }

    /// Writes the lines back, each followed by `\n`.
    pub fn write(&self, layout: &Layout) -> Result<(), String> {
        let path = layout.seal_log();
        let body: String = self.text.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, body).map_err(io("write", &path))
    }

    /// Indexes of the lines of `kind` (`init`, `cert`, `seal`).
    pub fn of_kind(&self, kind: &str) -> Vec<usize> {
        (0..self.json.len())
            .filter(|&i| self.json[i]["kind"] == kind)
            .collect()
    }

    /// The store id of the `init` line.
    pub fn store(&self) -> String {
        self.json
            .first()
            .and_then(|v| v["store"].as_str())
            .unwrap_or("")
            .to_owned()
    }
}

/// The current epoch's signing state, as the attacker finds it on disk.
pub fn current_chain(layout: &Layout) -> Result<EpochChain, String> {
    let path = layout.seal_key();
    let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
    let head: Vec<&str> = text.lines().take(4).collect();
    EpochChain::decode_state(&format!("{}\n", head.join("\n"))).map_err(|e| e.to_string())
}

/// A `seal` line over the first `point.size` leaves of `model`, signed by
/// `signer` as epoch `epoch` at time `time`.
pub fn seal_line(
    store: &str,
    signer: &Signer,
    epoch: u64,
    model: &Model,
    point: SealPoint,
    time: u64,
    number: u64,
) -> Result<String, String> {
    let mut tree = Tree::new();
    for l in model
        .leaves()
        .iter()
        .take(usize::try_from(point.size).unwrap_or(0))
    {
        tree.push(leaf_hash(l)).map_err(|e| e.to_string())?;
    }
    let cp = Checkpoint {
        origin: format!("scout-audit/{store}"),
        size: tree.size(),
        root: tree.root(),
        extensions: vec![
            format!("epoch {epoch}"),
            format!("end {} {}", point.segment, point.offset),
            format!("time {time}"),
            format!("seal {number}"),
        ],
    };
    let note = sign(&cp.to_text(), &[signer]).map_err(|e| e.to_string())?;
    let line = serde_json::json!({
        "v": 1, "kind": "seal", "epoch": epoch, "note": note,
        "tree": STANDARD.encode(tree.encode()), "segment": point.segment, "offset": point.offset,
    });
    Ok(line.to_string())
}

/// A `retire` line for the archives through `segment` (`archives`
/// retired in all), whose leaves make `tree`, signed by `signer` as
/// epoch `epoch` at time `time`, numbered `place` among the log's retires.
pub fn retire_line(
    store: &str,
    signer: &Signer,
    epoch: u64,
    tree: &Tree,
    (segment, archives): (u64, u64),
    time: u64,
    place: u64,
) -> Result<String, String> {
    let cp = Checkpoint {
        origin: format!("scout-audit/{store}"),
        size: tree.size(),
        root: tree.root(),
        extensions: vec![
            format!("epoch {epoch}"),
            format!("retire {segment} {archives}"),
            format!("time {time}"),
            format!("place {place}"),
        ],
    };
    let note = sign(&cp.to_text(), &[signer]).map_err(|e| e.to_string())?;
    let line = serde_json::json!({
        "v": 1, "kind": "retire", "epoch": epoch, "note": note, "segment": segment,
        "leaves": tree.size(), "tree": STANDARD.encode(tree.encode()),
    });
    Ok(line.to_string())
}

/// The tree over the first `n` leaves of `model`.
pub fn tree_of(model: &Model, n: u64) -> Result<Tree, String> {
    let mut tree = Tree::new();
    for l in model.leaves().iter().take(usize::try_from(n).unwrap_or(0)) {
        tree.push(leaf_hash(l)).map_err(|e| e.to_string())?;
    }
    Ok(tree)
}

/// The signed time of a seal line (its note's `time` extension).
pub fn seal_time(v: &Value) -> u64 {
    v["note"]
        .as_str()
        .and_then(|n| n.lines().find_map(|l| l.strip_prefix("time ")))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

/// Changes one ASCII letter or digit of `s` (chosen at random among them,
/// from `from` on) into another of the same class; `None` if it has none.
pub fn edit_char(s: &str, from: usize, rng: &mut Rng) -> Option<String> {
    let spots: Vec<usize> = s
        .bytes()
        .enumerate()
        .skip(from)
        .filter(|(_, b)| b.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .collect();
    if spots.is_empty() {
        return None;
    }
    let at = spots[rng.below(spots.len() as u64) as usize];
    let mut bytes = s.as_bytes().to_vec();
    bytes[at] = other_of_class(bytes[at], rng);
    String::from_utf8(bytes).ok()
}

fn other_of_class(b: u8, rng: &mut Rng) -> u8 {
    let class: &[u8] = if b.is_ascii_digit() {
        b"0123456789"
    } else if b.is_ascii_lowercase() {
        b"abcdefghijklmnopqrstuvwxyz"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    };
    let i = class.iter().position(|&c| c == b).unwrap_or(0) as u64;
    let step = rng.range(1, class.len() as u64 - 1);
    class[((i + step) % class.len() as u64) as usize]
}

/// Edits one field that verify checks, of seal-log line `i`: the key or
/// store of `init`; the note or epoch of `cert`; the note, tree, epoch,
/// segment or offset of `seal`. Returns the field's name.
pub fn edit_line(log: &mut LogLines, i: usize, rng: &mut Rng) -> Result<&'static str, String> {
    let v = &mut log.json[i];
    let fields: &[&'static str] = match v["kind"].as_str() {
        Some("init") => &["key", "store"],
        Some("cert" | "vouch") => &["note", "epoch"],
        Some("retire") => &["note", "tree", "epoch", "segment", "leaves"],
        _ => &["note", "tree", "epoch", "segment", "offset"],
    };
    let field = rng.pick(fields);
    let new = match &v[field] {
        Value::String(s) => edit_char(s, 0, rng).map(Value::from),
        Value::Number(n) => n.as_u64().map(|n| {
            let d = rng.range(1, 3);
            Value::from(if rng.chance(0.5) || n < d {
                n + d
            } else {
                n - d
            })
        }),
        _ => None,
    };
    let new = new.ok_or_else(|| format!("field {field} of seal-log line {i} cannot be edited"))?;
    v[field] = new;
    log.text[i] = v.to_string();
    Ok(field)
}
