//! The body of a C2SP tlog-checkpoint: `<origin>\n<size>\n<base64 root>\n`
//! then optional extension lines, each ending in "\n". Signed as a note.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::signed::MAX_NOTE_BYTES;
use crate::Error;

/// A tree's origin, size and root hash, with extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity (non-empty, one line).
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The Merkle tree hash of the first `size` leaves.
    pub root: [u8; 32],
    /// Extension lines (each non-empty, without its newline).
    pub extensions: Vec<String>,
}

/// Whether `line` can be a checkpoint line: non-empty, no control character.
fn valid_line(line: &str) -> bool {
    !line.is_empty() && !line.chars().any(char::is_control)
}

/// Parses a tree size: decimal digits, no sign, no leading zero.
fn parse_size(text: &str) -> Result<u64, Error> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return Err(Error::MalformedCheckpoint(
            "size is not a decimal number without leading zeros",
        ));
    }
    text.parse()
        .map_err(|_| Error::MalformedCheckpoint("size does not fit in 64 bits"))
}

impl Checkpoint {
    /// The checkpoint's text, every line ending in "\n". Fields that
    /// [`Checkpoint::parse`] would refuse give text it refuses.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint's text (a note's text, after [`super::open`]).
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(Error::MalformedCheckpoint("text too long"));
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(Error::MalformedCheckpoint("text does not end in a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(Error::MalformedCheckpoint("fewer than three lines"));
        };
        if !valid_line(origin) {
            return Err(Error::MalformedCheckpoint(
                "origin is empty or has a control character",
            ));
        }
        let size = parse_size(size)?;
        if root.len() != 44 {
            return Err(Error::MalformedCheckpoint(
                "root is not the base64 of 32 bytes",
            ));
        }
        let root = STANDARD
            .decode(root)
            .ok()
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .ok_or(Error::MalformedCheckpoint(
                "root is not the base64 of 32 bytes",
            ))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if !extensions.iter().all(|l| valid_line(l)) {
            return Err(Error::MalformedCheckpoint(
                "empty extension line or control character",
            ));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}
