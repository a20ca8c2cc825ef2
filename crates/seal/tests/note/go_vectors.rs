//! The vectors of Go's `golang.org/x/mod/sumdb/note` tests
//! (`note_test.go`: TestNewVerifier, TestNewSigner, TestSign, TestOpen),
//! so that Go's package verifies what this crate signs and the reverse.

use scout_audit_seal::Error;
use scout_audit_seal::note::{Signature, Signer, Verifier, open, sign};

// note_test.go, TestNewVerifier / TestNewSigner / TestSign.
pub const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
pub const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
// note_test.go, TestVerifierList / TestOpen.
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
pub const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
const PETER_B64: &str =
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
const ENOCH_B64: &str =
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=";

fn peter_sig() -> String {
    format!("\u{2014} PeterNeumann {PETER_B64}\n")
}

fn enoch_sig() -> String {
    format!("\u{2014} EnochRoot {ENOCH_B64}\n")
}

fn sig(name: &str, key_id: u32, base64: &str) -> Signature {
    Signature {
        name: name.to_owned(),
        key_id,
        base64: base64.to_owned(),
    }
}

#[test]
fn the_peter_neumann_keys_parse_and_agree() {
    let verifier = Verifier::parse(PETER_VKEY).unwrap();
    let signer = Signer::parse(PETER_SKEY).unwrap();
    assert_eq!(verifier.name(), "PeterNeumann");
    assert_eq!(verifier.key_id(), 0xc74f20a3);
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.verifier(), verifier);
    assert_eq!(verifier.to_text(), PETER_VKEY);
    assert_eq!(signer.to_text(), PETER_SKEY);
}

/// TestNewVerifier / TestNewSigner: every proper substring and every
/// single-byte increment of a key text is refused.
fn every_mangling_is_refused(key: &str, parse: impl Fn(&str) -> bool) {
    let b = key.as_bytes().to_vec();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if (i, j) != (0, b.len()) {
                if let Ok(s) = std::str::from_utf8(&b[i..j]) {
                    assert!(!parse(s), "{s:?} was accepted");
                }
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.clone();
        m[i] += 1;
        if let Ok(s) = std::str::from_utf8(&m) {
            assert!(!parse(s), "{s:?} was accepted");
        }
    }
}

#[test]
fn mangled_keys_are_refused() {
    every_mangling_is_refused(PETER_VKEY, |s| Verifier::parse(s).is_ok());
    every_mangling_is_refused(PETER_SKEY, |s| Signer::parse(s).is_ok());
    // Wrong length key and unknown algorithm, each with an adjusted key ID.
    let wrong_length = "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==";
    let unknown_alg = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    assert!(matches!(
        Verifier::parse(wrong_length),
        Err(Error::MalformedKey(_))
    ));
    assert!(matches!(
        Verifier::parse(unknown_alg),
        Err(Error::MalformedKey(_))
    ));
    let wrong_id = "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    assert!(matches!(
        Verifier::parse(wrong_id),
        Err(Error::KeyIdMismatch {
            got: 0xc74f20a4,
            want: 0xc74f20a3
        })
    ));
}

#[test]
fn signing_gives_go_s_note_byte_for_byte() {
    let signer = Signer::parse(PETER_SKEY).unwrap();
    let note = sign(TEXT, &[&signer]).unwrap();
    assert_eq!(note, format!("{TEXT}\n{}", peter_sig()));
    assert!(matches!(
        sign("abc", &[&signer]),
        Err(Error::MalformedNote(_))
    ));
    assert!(matches!(sign(TEXT, &[]), Err(Error::MalformedNote(_))));
}

#[test]
fn open_keeps_unknown_signatures_and_checks_known_ones() {
    let peter = Verifier::parse(PETER_VKEY).unwrap();
    let enoch = Verifier::parse(ENOCH_VKEY).unwrap();
    let note = format!("{TEXT}\n{}{}", peter_sig(), enoch_sig());
    let peter_s = sig("PeterNeumann", 0xc74f20a3, PETER_B64);
    let enoch_s = sig("EnochRoot", 0xaf0cfe78, ENOCH_B64);

    let one = open(note.as_bytes(), std::slice::from_ref(&peter)).unwrap();
    assert_eq!(one.text, TEXT);
    assert_eq!(one.verified, vec![peter_s.clone()]);
    assert_eq!(one.unverified, vec![enoch_s.clone()]);

    let both = open(note.as_bytes(), &[peter.clone(), enoch.clone()]).unwrap();
    assert_eq!(both.verified, vec![peter_s.clone(), enoch_s.clone()]);
    assert!(both.unverified.is_empty());

    assert!(matches!(
        open(note.as_bytes(), &[]),
        Err(Error::UnverifiedNote)
    ));

    let dup = [enoch.clone(), peter.clone(), enoch.clone()];
    let enoch_only = format!("{TEXT}\n{}", enoch_sig());
    assert!(matches!(
        open(enoch_only.as_bytes(), &dup),
        Err(Error::AmbiguousKey {
            key_id: 0xaf0cfe78,
            ..
        })
    ));
    let peter_only = format!("{TEXT}\n{}", peter_sig());
    assert!(open(peter_only.as_bytes(), &dup).is_ok());
}

#[test]
fn open_refuses_what_go_refuses() {
    let peter = Verifier::parse(PETER_VKEY).unwrap();
    let vs = std::slice::from_ref(&peter);
    let too_many = format!("{TEXT}\n{}", peter_sig().repeat(101));
    assert!(matches!(
        open(too_many.as_bytes(), vs),
        Err(Error::MalformedNote(_))
    ));
    assert!(matches!(
        open(too_many.as_bytes(), &[]),
        Err(Error::MalformedNote(_))
    ));

    let ps = peter_sig();
    let bad_sig = format!("{TEXT}\n{}ABCD{}", &ps[..60], &ps[60..]);
    assert!(matches!(
        open(bad_sig.as_bytes(), vs),
        Err(Error::InvalidSignature {
            key_id: 0xc74f20a3,
            ..
        })
    ));

    let es = enoch_sig();
    let repeated = format!("{TEXT}\n{ps}{ps}{es}{es}{}ABCD{}", &es[..60], &es[60..]);
    let opened = open(repeated.as_bytes(), vs).unwrap();
    assert_eq!(
        opened.verified,
        vec![sig("PeterNeumann", 0xc74f20a3, PETER_B64)]
    );
    let enoch_abcd = format!("{}ABCD{}", &ENOCH_B64[..46], &ENOCH_B64[46..]);
    assert_eq!(
        opened.unverified,
        vec![
            sig("EnochRoot", 0xaf0cfe78, ENOCH_B64),
            sig("EnochRoot", 0xaf0cfe78, &enoch_abcd)
        ]
    );

    let bad: Vec<Vec<u8>> = vec![
        TEXT.into(),
        format!("{TEXT}\n").into(),
        format!("{TEXT}\n{}", &ps[..ps.len() - 1]).into(),
        format!("\x01{TEXT}\n{ps}").into(),
        [b"\xff".as_slice(), format!("{TEXT}\n{ps}").as_bytes()].concat(),
        format!("{TEXT}\n\u{2014} Bad Name {PETER_B64}").into(),
        format!("{TEXT}\n{ps}Unexpected line.\n").into(),
    ];
    for msg in bad {
        assert!(
            matches!(open(&msg, vs), Err(Error::MalformedNote(_))),
            "{:?}",
            String::from_utf8_lossy(&msg)
        );
    }
}
