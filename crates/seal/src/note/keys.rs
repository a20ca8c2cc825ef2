//! Ed25519 keys in the signed-note text forms: a verifier key
//! `<name>+<8 hex key ID>+<base64(0x01 || public key)>` and a signer key
//! `PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || 32-byte seed)>`.
//! The key ID is the first 4 bytes (big-endian) of
//! SHA-256(name || "\n" || 0x01 || public key).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::Error;

/// The signed-note algorithm byte of Ed25519.
pub const ALG_ED25519: u8 = 0x01;
/// The longest key name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// The longest key text accepted, in bytes (checked before decoding).
const MAX_KEY_TEXT: usize = 512;

/// Whether `name` can name a key: non-empty, at most [`MAX_NAME_BYTES`],
/// no white space, no '+', no control character.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && !name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || c.is_control())
}

/// The key ID of `name` and `key` (the algorithm byte and the key bytes).
fn raw_key_id(name: &str, key: &[u8]) -> u32 {
    let mut hash = Sha256::new();
    hash.update(name.as_bytes());
    hash.update(b"\n");
    hash.update(key);
    let digest = hash.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// The key ID of an Ed25519 public key under `name`.
pub fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut key = [0u8; 33];
    key[0] = ALG_ED25519;
    key[1..].copy_from_slice(public);
    raw_key_id(name, &key)
}

/// Parses exactly 8 lowercase hex digits.
fn parse_id(hex: &str) -> Result<u32, Error> {
    let lower = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if hex.len() != 8 || !hex.bytes().all(lower) {
        return Err(Error::MalformedKey("key id is not 8 lowercase hex digits"));
    }
    u32::from_str_radix(hex, 16).map_err(|_| Error::MalformedKey("key id is not hex"))
}

/// Decodes a key's base64, checks the key ID over the decoded bytes, then
/// the algorithm and length; returns the 32 key bytes.
fn decode_key(name: &str, hex: &str, b64: &str) -> Result<[u8; 32], Error> {
    if !valid_name(name) {
        return Err(Error::MalformedKey("bad key name"));
    }
    let id = parse_id(hex)?;
    let raw = STANDARD
        .decode(b64)
        .map_err(|_| Error::MalformedKey("key is not base64"))?;
    if raw.is_empty() {
        return Err(Error::MalformedKey("key is empty"));
    }
    let want = raw_key_id(name, &raw);
    if id != want {
        return Err(Error::KeyIdMismatch { got: id, want });
    }
    if raw[0] != ALG_ED25519 {
        return Err(Error::MalformedKey("unknown key algorithm"));
    }
    <[u8; 32]>::try_from(&raw[1..]).map_err(|_| Error::MalformedKey("ed25519 key is not 32 bytes"))
}

/// A key that checks signatures: a name, its key ID and an Ed25519
/// public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl Verifier {
    /// The verifier for `public` under `name`.
    pub fn from_public(name: &str, public: &[u8; 32]) -> Result<Self, Error> {
        if !valid_name(name) {
            return Err(Error::MalformedKey("bad key name"));
        }
        let key = VerifyingKey::from_bytes(public)
            .map_err(|_| Error::MalformedKey("not an ed25519 public key"))?;
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, public),
            key,
        })
    }

    /// Parses `<name>+<8 hex key ID>+<base64(0x01 || public key)>`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.len() > MAX_KEY_TEXT {
            return Err(Error::MalformedKey("key text too long"));
        }
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::MalformedKey("verifier key is not name+id+key"));
        };
        let public = decode_key(name, hex, b64)?;
        Self::from_public(name, &public)
    }

    /// The key's text, as [`Verifier::parse`] reads it.
    pub fn to_text(&self) -> String {
        let mut key = vec![ALG_ED25519];
        key.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, STANDARD.encode(key))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Whether `signature` is this key's over `msg` (strict Ed25519
    /// verification: no small-order keys, canonical encodings only).
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        self.key.verify_strict(msg, &signature).is_ok()
    }
}

/// A key that signs: a name, its key ID and an Ed25519 secret key. The
/// secret is erased when the signer is dropped (ed25519-dalek's
/// `SigningKey` zeroizes on drop, its default `zeroize` feature).
pub struct Signer {
    name: String,
    id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({}+{:08x})", self.name, self.id)
    }
}

impl Signer {
    /// A new random key under `name` (randomness from the operating system).
    pub fn generate(name: &str) -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::Random(e.to_string()))?;
        let signer = Self::from_seed(name, &seed);
        seed.fill(0);
        signer
    }

    /// The key of a 32-byte Ed25519 seed under `name`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, Error> {
        if !valid_name(name) {
            return Err(Error::MalformedKey("bad key name"));
        }
        let key = SigningKey::from_bytes(seed);
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || seed)>`;
    /// the key ID is checked against the seed's public key.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.len() > MAX_KEY_TEXT {
            return Err(Error::MalformedKey("key text too long"));
        }
        let mut parts = text.splitn(5, '+');
        let (Some("PRIVATE"), Some("KEY"), Some(name), Some(hex), Some(b64)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(Error::MalformedKey(
                "signer key is not PRIVATE+KEY+name+id+key",
            ));
        };
        let id = parse_id(hex)?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| Error::MalformedKey("key is not base64"))?;
        let (Some(&ALG_ED25519), Ok(seed)) = (
            raw.first(),
            <[u8; 32]>::try_from(raw.get(1..).unwrap_or_default()),
        ) else {
            return Err(Error::MalformedKey("not an ed25519 seed of 32 bytes"));
        };
        let signer = Self::from_seed(name, &seed)?;
        if signer.id != id {
            return Err(Error::KeyIdMismatch {
                got: id,
                want: signer.id,
            });
        }
        Ok(signer)
    }

    /// The secret key's text, as [`Signer::parse`] reads it.
    pub fn to_text(&self) -> String {
        let mut key = vec![ALG_ED25519];
        key.extend_from_slice(self.key.as_bytes());
        let text = format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            STANDARD.encode(&key)
        );
        key.fill(0);
        text
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The verifier of this key.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// The Ed25519 signature of `msg`.
    pub fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}
