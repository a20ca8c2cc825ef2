//! The forward-secure epoch chain: a long chain verifies, every tampering
//! with it fails, and a key of epoch k cannot certify an epoch <= k.

use scout_audit_seal::Error;
use scout_audit_seal::note::{EpochChain, Signer, Verifier, certified_epoch, sign, verify_chain};

const NAME: &str = "scout-audit/0123456789abcdef";

/// A chain of `n` evolutions: the verification key, the certificates, and
/// the secret state of every epoch (as an attacker copying it would hold).
fn chain(n: u64) -> (Verifier, Vec<String>, Vec<String>) {
    let (mut chain, vkey) = EpochChain::init(NAME).unwrap();
    let mut certs = Vec::new();
    let mut states = vec![chain.encode_state()];
    for i in 1..=n {
        certs.push(chain.evolve(1_000 + i * 60).unwrap());
        states.push(chain.encode_state());
    }
    (vkey, certs, states)
}

fn verify(vkey: &Verifier, certs: &[String]) -> Result<u64, Error> {
    let refs: Vec<&[u8]> = certs.iter().map(|c| c.as_bytes()).collect();
    let epochs = verify_chain(vkey, &refs)?;
    Ok(epochs.len() as u64 - 1)
}

fn refused_at(result: Result<u64, Error>) -> u64 {
    match result {
        Err(Error::Chain { epoch, .. }) => epoch,
        other => panic!("expected a chain error, got {other:?}"),
    }
}

#[test]
fn a_chain_of_100_epochs_verifies_and_each_key_is_its_state_s() {
    let (vkey, certs, states) = chain(100);
    let refs: Vec<&[u8]> = certs.iter().map(|c| c.as_bytes()).collect();
    let epochs = verify_chain(&vkey, &refs).unwrap();
    assert_eq!(epochs.len(), 101);
    for (i, epoch) in epochs.iter().enumerate() {
        let state = EpochChain::decode_state(&states[i]).unwrap();
        assert_eq!(epoch.number, i as u64);
        assert_eq!(state.epoch(), i as u64);
        assert_eq!(state.signer().verifier(), epoch.verifier);
        assert_eq!(epoch.verifier.name(), NAME);
        assert_eq!(
            epoch.not_before,
            if i == 0 { 0 } else { 1_000 + i as u64 * 60 }
        );
    }
    assert!(vkey.to_text().starts_with("scout-audit/0123456789abcdef+"));
}

#[test]
fn a_removed_swapped_or_repeated_certificate_is_refused() {
    let (vkey, certs, _) = chain(10);
    let mut removed = certs.clone();
    removed.remove(4);
    assert_eq!(refused_at(verify(&vkey, &removed)), 5);
    let mut swapped = certs.clone();
    swapped.swap(3, 4);
    assert_eq!(refused_at(verify(&vkey, &swapped)), 4);
    let mut repeated = certs.clone();
    repeated.insert(5, certs[4].clone());
    assert_eq!(refused_at(verify(&vkey, &repeated)), 6);
    let (other, _, _) = chain(1);
    assert_eq!(refused_at(verify(&other, &certs)), 1);
}

#[test]
fn an_edited_certificate_is_refused() {
    let (vkey, certs, _) = chain(3);
    let mut edited = certs.clone();
    edited[1] = certs[1].replacen("scout-audit epoch 2", "scout-audit epoch 3", 1);
    assert_eq!(refused_at(verify(&vkey, &edited)), 2);
    edited[1] = certs[1].replacen("not-before 1120", "not-before 1121", 1);
    assert_eq!(refused_at(verify(&vkey, &edited)), 2);
}

/// The certificate text of `epoch` for `key`, as decision 68 fixes it.
fn cert_text(epoch: u64, key: &Verifier, not_before: u64) -> String {
    format!(
        "scout-audit epoch {epoch}\n{}\nnot-before {not_before}\n",
        key.to_text()
    )
}

#[test]
fn a_key_of_epoch_k_cannot_certify_an_epoch_at_or_before_k() {
    let (vkey, certs, states) = chain(20);
    for k in 1..=20u64 {
        let thief = EpochChain::decode_state(&states[k as usize]).unwrap();
        let forged = Signer::generate(NAME).unwrap();
        for j in 1..=k {
            let text = cert_text(j, &forged.verifier(), 1_000 + j * 60);
            let mut tampered = certs.clone();
            tampered[j as usize - 1] = sign(&text, &[thief.signer()]).unwrap();
            assert_eq!(refused_at(verify(&vkey, &tampered[..k as usize])), j);
        }
    }
    assert_eq!(verify(&vkey, &certs).unwrap(), 20);
}

#[test]
fn malformed_certificates_are_refused() {
    let (mut chain, vkey) = EpochChain::init(NAME).unwrap();
    let other = Signer::generate("someone-else").unwrap();
    let texts = [
        cert_text(1, &other.verifier(), 5),
        cert_text(1, &vkey, 5),
        cert_text(0, &Signer::generate(NAME).unwrap().verifier(), 5),
        "scout-audit epoch 1\n".to_owned(),
        format!("scout-audit epoch 01\n{}\nnot-before 5\n", vkey.to_text()),
    ];
    let signer = EpochChain::decode_state(&chain.encode_state()).unwrap();
    for text in texts {
        let cert = sign(&text, &[signer.signer()]).unwrap();
        assert_eq!(refused_at(verify(&vkey, &[cert])), 1, "{text:?}");
    }
    let good = chain.evolve(10).unwrap();
    let cosigned = sign(
        &scout_audit_seal::note::open(good.as_bytes(), std::slice::from_ref(&vkey))
            .unwrap()
            .text,
        &[signer.signer(), &other],
    )
    .unwrap();
    assert_eq!(refused_at(verify(&vkey, &[cosigned])), 1);
    assert!(matches!(
        chain.evolve(9),
        Err(Error::Chain { epoch: 2, .. })
    ));
}

#[test]
fn state_decoding_refuses_what_it_did_not_write() {
    let (chain, _) = EpochChain::init(NAME).unwrap();
    let state = chain.encode_state();
    assert!(EpochChain::decode_state(&state).is_ok());
    let bad = [
        state.replace("v1", "v2"),
        state.replace("epoch 0\n", "epoch 00\n"),
        state.replace("not-before 0", "not-before x"),
        state.trim_end().to_owned(),
        format!("{state}extra\n"),
        state.replace("PRIVATE+KEY", "PUBLIC+KEY"),
        "x".repeat(5000),
    ];
    for text in bad {
        assert!(EpochChain::decode_state(&text).is_err(), "{text:?}");
    }
}

#[test]
fn a_not_before_going_backwards_is_refused() {
    let (mut chain, vkey) = EpochChain::init(NAME).unwrap();
    let first = chain.evolve(100).unwrap();
    let forged = Signer::generate(NAME).unwrap();
    let text = cert_text(2, &forged.verifier(), 99);
    let second = sign(&text, &[chain.signer()]).unwrap();
    assert_eq!(refused_at(verify(&vkey, &[first.clone(), second])), 2);
    let text = cert_text(2, &forged.verifier(), 100);
    let second = sign(&text, &[chain.signer()]).unwrap();
    assert_eq!(verify(&vkey, &[first, second]).unwrap(), 2);
}

#[test]
fn a_certificate_names_its_epoch_before_anything_is_checked() {
    let (_, certs, _) = chain(3);
    let named: Vec<_> = certs.iter().map(|c| certified_epoch(c)).collect();
    assert_eq!(named, [Some(1), Some(2), Some(3)]);
    for bad in [
        "scout-audit epoch 05\n",
        "scout-audit epoch \n",
        "other\n",
        "",
    ] {
        assert_eq!(certified_epoch(bad), None, "{bad:?}");
    }
}
