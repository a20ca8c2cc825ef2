//! Checkpoint bodies: real sum.golang.org signed tree heads, and the
//! strictness of `Checkpoint::parse`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scout_audit_seal::Error;
use scout_audit_seal::note::{Checkpoint, Signer, Verifier, open, sign};

// The sum.golang.org verifier key, as compiled into the go command
// (cmd/go/internal/modfetch/key.go, knownGOSUMDB).
const SUMDB_VKEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

// A signed tree head served by sum.golang.org, as in the Go test
// TestSumDBNoteParsing (opened there with golang.org/x/mod/sumdb/note).
const SUMDB_NOTE: &str = "go.sum database tree\n6476701\n\
    mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n\
    \u{2014} sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";

// A sum.golang.org checkpoint cosigned by a witness (test.example.com), as
// shown in the README of a witness: its second signature is unknown here.
const WITNESSED: &str = "go.sum database tree\n15067302\n\
    gJyioq6dwR9n+NjEWORfYmH+ubeYm3kH42BBQ0bTpYI=\n\n\
    \u{2014} sum.golang.org Az3grp1rvWOs5NKlr/xR4GLN/CDyzzakmt1o61uSxYKpK1SerqOP2ClbX/peKUZjYnyomH5Xz7GZG3TpB7OeKn4E2ww=\n\
    \u{2014} test.example.com qTGhC/xIPQ0AXKHK6Y+9ypRfuvMZWPjRXM8NiOg5M1WREn07VQXyuIXM3NRNav3ieVFLUqDRK77PWDmL6w8w84UqeAw=\n";

#[test]
fn a_sum_golang_org_tree_head_opens_and_parses() {
    let sumdb = Verifier::parse(SUMDB_VKEY).unwrap();
    assert_eq!(sumdb.key_id(), 0x033de0ae);
    let opened = open(SUMDB_NOTE.as_bytes(), std::slice::from_ref(&sumdb)).unwrap();
    let cp = Checkpoint::parse(&opened.text).unwrap();
    assert_eq!(cp.origin, "go.sum database tree");
    assert_eq!(cp.size, 6476701);
    assert_eq!(
        STANDARD.encode(cp.root),
        "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk="
    );
    assert!(cp.extensions.is_empty());
    assert_eq!(cp.to_text(), opened.text);

    let changed = SUMDB_NOTE.replace("6476701", "6476702");
    assert!(matches!(
        open(changed.as_bytes(), std::slice::from_ref(&sumdb)),
        Err(Error::InvalidSignature { .. })
    ));
}

#[test]
fn a_witnessed_tree_head_keeps_the_cosignature_unverified() {
    let sumdb = Verifier::parse(SUMDB_VKEY).unwrap();
    let opened = open(WITNESSED.as_bytes(), std::slice::from_ref(&sumdb)).unwrap();
    assert_eq!(opened.verified.len(), 1);
    assert_eq!(opened.unverified.len(), 1);
    assert_eq!(opened.unverified[0].name, "test.example.com");
    assert_eq!(Checkpoint::parse(&opened.text).unwrap().size, 15067302);
}

#[test]
fn our_checkpoints_round_trip_through_a_note() {
    let signer = Signer::from_seed("scout-audit/test", &[7; 32]).unwrap();
    let cp = Checkpoint {
        origin: "scout-audit/test".to_owned(),
        size: u64::MAX,
        root: [0xab; 32],
        extensions: vec!["epoch 3".to_owned()],
    };
    let note = sign(&cp.to_text(), &[&signer]).unwrap();
    let opened = open(note.as_bytes(), &[signer.verifier()]).unwrap();
    assert_eq!(Checkpoint::parse(&opened.text).unwrap(), cp);
}

#[test]
fn parse_refuses_malformed_bodies() {
    let root = STANDARD.encode([1u8; 32]);
    let short = STANDARD.encode([1u8; 31]);
    let long = STANDARD.encode([1u8; 33]);
    let bad = [
        format!("o\n1\n{root}"),
        format!("\n1\n{root}\n"),
        format!("o\n01\n{root}\n"),
        format!("o\n+1\n{root}\n"),
        format!("o\n-1\n{root}\n"),
        format!("o\n1 \n{root}\n"),
        format!("o\n\n{root}\n"),
        format!("o\n18446744073709551616\n{root}\n"),
        format!("o\n1\n{short}\n"),
        format!("o\n1\n{long}\n"),
        "o\n1\nnot base64 at all, not at all, not at all!\n".to_owned(),
        format!("o\n1\n{root}\n\n"),
        format!("o\n1\n{root}\next\n\nmore\n"),
        format!("o\u{7}\n1\n{root}\n"),
        "o\n1\n".to_owned(),
    ];
    for text in bad {
        assert!(
            matches!(Checkpoint::parse(&text), Err(Error::MalformedCheckpoint(_))),
            "{text:?}"
        );
    }
    let zero = Checkpoint::parse(&format!("o\n0\n{root}\n")).unwrap();
    assert_eq!(zero.size, 0);
}
