//! Properties: every honest note opens; any single changed byte of a note
//! or of its text makes opening fail; keys
//! round-trip through their texts; no hostile input panics; any changed
//! byte of an epoch certificate breaks the chain at that epoch.

use proptest::prelude::*;
use scout_audit_seal::Error;
use scout_audit_seal::note::{Checkpoint, EpochChain, Signer, Verifier, open, sign, verify_chain};

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .\n\u{e9}\u{2014}]{0,200}".prop_map(|s| format!("{s}\n"))
}

proptest! {
    #[test]
    fn honest_notes_open(seed in any::<[u8; 32]>(), text in text()) {
        let signer = Signer::from_seed("prop/key", &seed).unwrap();
        let note = sign(&text, &[&signer]).unwrap();
        let opened = open(note.as_bytes(), &[signer.verifier()]).unwrap();
        prop_assert_eq!(opened.text, text);
        prop_assert_eq!(Verifier::parse(&signer.verifier().to_text()).unwrap(), signer.verifier());
        prop_assert_eq!(Signer::parse(&signer.to_text()).unwrap().verifier(), signer.verifier());
    }

    #[test]
    fn a_changed_byte_is_caught(seed in any::<[u8; 32]>(), text in text(), at in any::<usize>(), x in 1u8..) {
        let signer = Signer::from_seed("prop/key", &seed).unwrap();
        let note = sign(&text, &[&signer]).unwrap();
        let mut bytes = note.into_bytes();
        let at = at % bytes.len();
        bytes[at] ^= x;
        // Any changed byte (text, signature, or the lines around them)
        // keeps the note from opening.
        prop_assert!(open(&bytes, &[signer.verifier()]).is_err(), "a changed byte at {} opened", at);
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let v = Verifier::parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").unwrap();
        let _ = open(&bytes, &[v]);
        let s = String::from_utf8_lossy(&bytes);
        let _ = Verifier::parse(&s);
        let _ = Signer::parse(&s);
        let _ = Checkpoint::parse(&s);
        let _ = scout_audit_seal::note::EpochChain::decode_state(&s);
    }

    #[test]
    fn checkpoints_round_trip(origin in "[a-z./]{1,30}", size in any::<u64>(), root in any::<[u8; 32]>(),
                              exts in proptest::collection::vec("[ -~]{1,20}", 0..4)) {
        let cp = Checkpoint { origin, size, root, extensions: exts };
        prop_assert_eq!(Checkpoint::parse(&cp.to_text()).unwrap(), cp);
    }
}

/// A chain of three epochs, built once: its verification key and
/// certificates.
fn chain() -> &'static (Verifier, Vec<String>) {
    static CHAIN: std::sync::OnceLock<(Verifier, Vec<String>)> = std::sync::OnceLock::new();
    CHAIN.get_or_init(|| {
        let (mut chain, vkey) = EpochChain::init("prop/chain").unwrap();
        let certs = (1..=3).map(|i| chain.evolve(i * 10).unwrap()).collect();
        (vkey, certs)
    })
}

proptest! {
    #[test]
    fn a_changed_certificate_byte_breaks_the_chain(cert in 0usize..3, at in any::<usize>(), x in 1u8..) {
        let (vkey, certs) = chain();
        let mut bytes: Vec<Vec<u8>> = certs.iter().map(|c| c.clone().into_bytes()).collect();
        let at = at % bytes[cert].len();
        bytes[cert][at] ^= x;
        let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        let err = verify_chain(vkey, &refs).unwrap_err();
        let is_chain_error = matches!(err, Error::Chain { epoch, .. } if epoch == cert as u64 + 1);
        prop_assert!(is_chain_error, "{:?}", err);
    }
}
