//! The forward-secure chain of epoch keys (decision 68). Epoch 0's key is
//! random and its public key is the store's verification key. Each
//! [`EpochChain::evolve`] makes the next epoch's key at random, has the
//! current key sign a certificate note for it, and drops the current
//! secret (zeroized). Whoever holds epoch k's secret can sign for epochs
//! k and later, never certify a key for epoch k or earlier.
//!
//! A certificate is the note, signed by epoch n-1's key, of the text
//! `scout-audit epoch <n>\n<verifier key of epoch n>\nnot-before <unix s>\n`.

use std::collections::HashSet;

use super::keys::{Signer, Verifier};
use super::signed::{open, sign};
use crate::Error;

/// The first line's words of a certificate, before the epoch number.
const CERT_HEAD: &str = "scout-audit epoch ";
/// The first line of an encoded state.
const STATE_HEAD: &str = "scout-audit epoch state v1";

/// An epoch's public side, as [`verify_chain`] proves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epoch {
    /// The epoch's number (0: the verification key).
    pub number: u64,
    /// The time its certificate says it starts (unix seconds; 0 for epoch 0).
    pub not_before: u64,
    /// Its key.
    pub verifier: Verifier,
}

/// The current epoch's secret side: its number, start and signing key.
#[derive(Debug)]
pub struct EpochChain {
    epoch: u64,
    not_before: u64,
    signer: Signer,
}

/// Parses decimal digits without a leading zero.
fn parse_decimal(text: &str) -> Option<u64> {
    let ok = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !ok || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// The certificate text of epoch `number`'s key.
fn certificate_text(number: u64, verifier: &Verifier, not_before: u64) -> String {
    format!(
        "{CERT_HEAD}{number}\n{}\nnot-before {not_before}\n",
        verifier.to_text()
    )
}

/// Parses a certificate text: the epoch number, key and not-before time.
fn parse_certificate(text: &str) -> Result<(u64, Verifier, u64), String> {
    let lines: Vec<&str> = text
        .strip_suffix('\n')
        .unwrap_or("")
        .splitn(4, '\n')
        .collect();
    let [head, key, time] = lines[..] else {
        return Err("not three lines".to_owned());
    };
    let number = head
        .strip_prefix(CERT_HEAD)
        .and_then(parse_decimal)
        .ok_or("bad first line")?;
    let verifier = Verifier::parse(key).map_err(|e| e.to_string())?;
    let not_before = time
        .strip_prefix("not-before ")
        .and_then(parse_decimal)
        .ok_or("bad not-before line")?;
    Ok((number, verifier, not_before))
}

impl EpochChain {
    /// A new chain under key name `name` (for a store, `scout-audit/<store
    /// id>`): epoch 0's random key and its verifier, the verification key.
    pub fn init(name: &str) -> Result<(Self, Verifier), Error> {
        let signer = Signer::generate(name)?;
        let verifier = signer.verifier();
        let chain = Self {
            epoch: 0,
            not_before: 0,
            signer,
        };
        Ok((chain, verifier))
    }

    /// The current epoch's number.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The current epoch's start (unix seconds, 0 for epoch 0).
    pub fn not_before(&self) -> u64 {
        self.not_before
    }

    /// The current epoch's signing key (for seals).
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Moves to the next epoch: a new random key, certified by the current
    /// one (the returned note), whose secret is then erased. `not_before`
    /// (unix seconds) may not be earlier than the current epoch's.
    pub fn evolve(&mut self, not_before: u64) -> Result<String, Error> {
        let number = self.epoch.checked_add(1).ok_or(Error::Chain {
            epoch: self.epoch,
            reason: "no epoch after the last u64".to_owned(),
        })?;
        if not_before < self.not_before {
            return Err(Error::Chain {
                epoch: number,
                reason: format!("not-before {not_before} is before epoch {}'s", self.epoch),
            });
        }
        let next = Signer::generate(self.signer.name())?;
        let text = certificate_text(number, &next.verifier(), not_before);
        let cert = sign(&text, &[&self.signer])?;
        // The old signer is dropped here; SigningKey zeroizes on drop.
        self.signer = next;
        self.epoch = number;
        self.not_before = not_before;
        Ok(cert)
    }

    /// The state a writer persists: epoch number, start and secret key.
    pub fn encode_state(&self) -> String {
        format!(
            "{STATE_HEAD}\nepoch {}\nnot-before {}\n{}\n",
            self.epoch,
            self.not_before,
            self.signer.to_text()
        )
    }

    /// Reads what [`EpochChain::encode_state`] wrote.
    pub fn decode_state(text: &str) -> Result<Self, Error> {
        if text.len() > 2048 {
            return Err(Error::MalformedState("too long"));
        }
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .unwrap_or("")
            .splitn(5, '\n')
            .collect();
        let [STATE_HEAD, epoch, time, key] = lines[..] else {
            return Err(Error::MalformedState("not the four lines of a v1 state"));
        };
        let epoch = epoch
            .strip_prefix("epoch ")
            .and_then(parse_decimal)
            .ok_or(Error::MalformedState("bad epoch line"))?;
        let not_before = time
            .strip_prefix("not-before ")
            .and_then(parse_decimal)
            .ok_or(Error::MalformedState("bad not-before line"))?;
        let signer = Signer::parse(key)?;
        Ok(Self {
            epoch,
            not_before,
            signer,
        })
    }
}

/// Checks one certificate against the epoch before it.
fn check_certificate(prev: &Epoch, cert: &[u8]) -> Result<Epoch, String> {
    let opened = open(cert, std::slice::from_ref(&prev.verifier)).map_err(|e| e.to_string())?;
    if !opened.unverified.is_empty() || opened.verified.len() != 1 {
        return Err("carries a signature other than the previous epoch's".to_owned());
    }
    let (number, verifier, not_before) = parse_certificate(&opened.text)?;
    let want = prev
        .number
        .checked_add(1)
        .ok_or("no epoch after the last u64")?;
    if number != want {
        return Err(format!("certifies epoch {number}"));
    }
    if verifier.name() != prev.verifier.name() {
        return Err(format!("key name {} is not the chain's", verifier.name()));
    }
    if not_before < prev.not_before {
        return Err(format!(
            "not-before {not_before} is before the previous epoch's"
        ));
    }
    Ok(Epoch {
        number,
        not_before,
        verifier,
    })
}

/// Checks `certs` in order (epoch 1's first) back to `verification_key`
/// and returns every epoch's key, epoch 0 first. Refuses a gap, a
/// reorder, a repeated epoch or key, a certificate not signed by the
/// previous epoch's key.
pub fn verify_chain(verification_key: &Verifier, certs: &[&[u8]]) -> Result<Vec<Epoch>, Error> {
    let mut epochs = vec![Epoch {
        number: 0,
        not_before: 0,
        verifier: verification_key.clone(),
    }];
    let mut keys = HashSet::from([verification_key.public_key()]);
    for cert in certs {
        let Some(prev) = epochs.last() else { break };
        let number = prev.number.saturating_add(1);
        let epoch = check_certificate(prev, cert).map_err(|reason| Error::Chain {
            epoch: number,
            reason,
        })?;
        if !keys.insert(epoch.verifier.public_key()) {
            return Err(Error::Chain {
                epoch: number,
                reason: "repeats an earlier epoch's key".to_owned(),
            });
        }
        epochs.push(epoch);
    }
    Ok(epochs)
}

/// The epoch a certificate note names (`scout-audit epoch <n>`, its first
/// line), read without checking anything: where a run of certificates
/// starts. `None` when its first line is not a certificate's.
pub fn certified_epoch(cert: &str) -> Option<u64> {
    cert.split('\n')
        .next()
        .and_then(|l| l.strip_prefix(CERT_HEAD))
        .and_then(parse_decimal)
}
