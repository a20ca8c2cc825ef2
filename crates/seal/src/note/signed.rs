//! Signing and opening notes (C2SP signed-note): a text ending in "\n",
//! a blank line, then one line per signature,
//! `— <name> <base64(key ID (4 bytes, big-endian) || signature)>\n`.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::keys::{Signer, Verifier, valid_name};
use crate::Error;

/// The longest note [`open`] reads and [`sign`] writes, in bytes.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// The most signature lines a note may carry (as Go's package).
pub const MAX_SIGNATURES: usize = 100;
/// What starts a signature line: an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The key's name.
    pub name: String,
    /// The key ID.
    pub key_id: u32,
    /// The line's base64 (key ID and signature).
    pub base64: String,
}

/// A note whose signatures were checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The signed text (ending in "\n").
    pub text: String,
    /// The signatures by known keys, all verified, in note order.
    pub verified: Vec<Signature>,
    /// The signatures by keys not given, kept unchecked, in note order.
    pub unverified: Vec<Signature>,
}

/// Refuses a text that cannot be a note's: empty, no final newline, a
/// control character other than "\n".
fn check_text(text: &str) -> Result<(), Error> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(Error::MalformedNote("text does not end in a newline"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::MalformedNote("control character in the text"));
    }
    Ok(())
}

/// Signs `text` with every signer: the text, a blank line, one signature
/// line per signer.
pub fn sign(text: &str, signers: &[&Signer]) -> Result<String, Error> {
    check_text(text)?;
    if signers.is_empty() {
        return Err(Error::MalformedNote("no signer"));
    }
    if signers.len() > MAX_SIGNATURES {
        return Err(Error::MalformedNote("too many signatures"));
    }
    let mut note = format!("{text}\n");
    for signer in signers {
        let mut blob = signer.key_id().to_be_bytes().to_vec();
        blob.extend_from_slice(&signer.sign_bytes(text.as_bytes()));
        note.push_str(&format!(
            "{SIG_PREFIX}{} {}\n",
            signer.name(),
            STANDARD.encode(blob)
        ));
    }
    if note.len() > MAX_NOTE_BYTES {
        return Err(Error::NoteTooLarge {
            len: note.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    Ok(note)
}

/// Parses one signature line (without its newline): the signature and the
/// signature bytes after the key ID.
fn parse_line(line: &str) -> Result<(Signature, Vec<u8>), Error> {
    let bad = || Error::MalformedNote("bad signature line");
    let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(bad)?;
    let (name, b64) = rest.split_once(' ').ok_or_else(bad)?;
    if !valid_name(name) || b64.is_empty() {
        return Err(bad());
    }
    let blob = STANDARD.decode(b64).map_err(|_| bad())?;
    if blob.len() < 5 {
        return Err(bad());
    }
    let key_id = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]);
    let signature = Signature {
        name: name.to_owned(),
        key_id,
        base64: b64.to_owned(),
    };
    Ok((signature, blob[4..].to_vec()))
}

/// Splits a note into its text and signature block, refusing what is
/// too long, not UTF-8, has a control character or no signature block.
fn split(note: &[u8]) -> Result<(&str, &str), Error> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(Error::NoteTooLarge {
            len: note.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    let note = std::str::from_utf8(note).map_err(|_| Error::MalformedNote("not utf-8"))?;
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::MalformedNote("control character in the note"));
    }
    let at = note
        .rfind("\n\n")
        .ok_or(Error::MalformedNote("no blank line before the signatures"))?;
    let (text, sigs) = (&note[..at + 1], &note[at + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(Error::MalformedNote("signatures do not end in a newline"));
    }
    Ok((text, &sigs[..sigs.len() - 1]))
}

/// Opens a note: every signature by a key in `verifiers` must verify (a
/// repeated one is checked once), the others are kept unverified
/// (identical repeats once); at least one must be verified.
pub fn open(note: &[u8], verifiers: &[Verifier]) -> Result<Opened, Error> {
    let (text, sigs) = split(note)?;
    let mut opened = Opened {
        text: text.to_owned(),
        verified: Vec::new(),
        unverified: Vec::new(),
    };
    let mut seen = HashSet::new();
    let mut seen_unverified = HashSet::new();
    for (count, line) in sigs.split('\n').enumerate() {
        if count >= MAX_SIGNATURES {
            return Err(Error::MalformedNote("too many signatures"));
        }
        let (signature, bytes) = parse_line(line)?;
        let mut known = verifiers
            .iter()
            .filter(|v| v.name() == signature.name && v.key_id() == signature.key_id);
        let (Some(verifier), None) = (known.next(), known.next()) else {
            if verifiers
                .iter()
                .any(|v| v.name() == signature.name && v.key_id() == signature.key_id)
            {
                return Err(Error::AmbiguousKey {
                    name: signature.name,
                    key_id: signature.key_id,
                });
            }
            if seen_unverified.insert(line) {
                opened.unverified.push(signature);
            }
            continue;
        };
        if !seen.insert((signature.name.clone(), signature.key_id)) {
            continue;
        }
        if !verifier.verify(text.as_bytes(), &bytes) {
            return Err(Error::InvalidSignature {
                name: signature.name,
                key_id: signature.key_id,
            });
        }
        opened.verified.push(signature);
    }
    if opened.verified.is_empty() {
        return Err(Error::UnverifiedNote);
    }
    Ok(opened)
}
