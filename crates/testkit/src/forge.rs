//! Index forgeries, for the tests that prove an index never changes an
//! answer: an index's text (docs/format.md, "Archive indexes") edited as a
//! careless user or a forger would, with or without its seal recomputed.
//! Text in, text out; a text that is not an index comes back unchanged.

use scout_audit_core::agg::ExactSum;
use sha2::{Digest, Sha256};

/// Where an index's last line (its seal) begins: the end of its body.
fn body_end(text: &str) -> usize {
    let without_newline = text.strip_suffix('\n').unwrap_or(text);
    without_newline.rfind('\n').map_or(0, |i| i + 1)
}

/// `text` with its last line replaced by the SHA-256 of the rest: what a
/// forger who knows the format writes.
pub fn reseal(text: &str) -> String {
    let body = &text[..body_end(text)];
    let digest: String = Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{body}{{\"index_sha256\":\"{digest}\"}}\n")
}

/// The exact-sum text of one cost, as an index stores it.
fn cost_text(cost: f64) -> String {
    let mut exact = ExactSum::new();
    exact.add(cost);
    exact.to_string()
}

/// `line` with the text of its `"cost":"…"` replaced by `cost`, if it has one.
fn replace_cost(line: &str, cost: &str) -> Option<String> {
    const KEY: &str = "\"cost\":\"";
    let from = line.find(KEY)? + KEY.len();
    let to = from + line[from..].find('"')?;
    Some(format!("{}{cost}{}", &line[..from], &line[to..]))
}

/// `text` with the cost of every (hour, event) group replaced by `cost`'s
/// exact sum; its seal left as it was (so the edit shows).
pub fn with_costs(text: &str, cost: f64) -> String {
    let cost = cost_text(cost);
    text.split_inclusive('\n')
        .map(|l| match l.contains("\"hour\"") {
            true => replace_cost(l, &cost).unwrap_or_else(|| l.to_owned()),
            false => l.to_owned(),
        })
        .collect()
}

/// `text` with the cost of its first (hour, event) group only replaced by
/// `cost`'s exact sum; its seal left as it was.
pub fn with_first_group_cost(text: &str, cost: f64) -> String {
    let cost = cost_text(cost);
    let mut done = false;
    text.split_inclusive('\n')
        .map(|l| match (done, l.contains("\"hour\"")) {
            (false, true) => {
                done = true;
                replace_cost(l, &cost).unwrap_or_else(|| l.to_owned())
            }
            _ => l.to_owned(),
        })
        .collect()
}

/// An index's text without the archive identity it recorded (which says
/// when it was hashed) and without its seal (which covers that): what two
/// indexes of the same archive written at different times share.
pub fn without_identity(text: &str) -> String {
    let body = &text[..body_end(text)];
    const KEY: &str = ",\"archive_identity\":{";
    match body
        .find(KEY)
        .and_then(|at| Some((at, at + body[at..].find('}')? + 1)))
    {
        Some((at, end)) => format!("{}{}", &body[..at], &body[end..]),
        None => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDX: &str = "{\"scout_audit_index\":4,\"archive_identity\":{\"dev\":1},\"records\":2}\n\
        {\"hour\":0,\"event\":\"a\",\"cost\":\"0x1p+0\"}\n\
        {\"hour\":0,\"event\":\"b\",\"cost\":\"0x1p+1\"}\n\
        {\"model\":null,\"cost\":\"0x3p+0\"}\n\
        {\"index_sha256\":\"00\"}\n";

    #[test]
    fn forgeries_edit_what_they_say() {
        let half = cost_text(0.5);
        let all = with_costs(IDX, 0.5);
        assert_eq!(all.matches(&half).count(), 2, "{all}");
        assert!(all.contains("\"model\":null,\"cost\":\"0x3p+0\""), "{all}");
        let first = with_first_group_cost(IDX, 0.5);
        assert_eq!(first.matches(&half).count(), 1, "{first}");
        assert!(
            first.contains("\"event\":\"b\",\"cost\":\"0x1p+1\""),
            "{first}"
        );
        let sealed = reseal(&all);
        assert!(!sealed.contains("\"index_sha256\":\"00\""));
        assert_eq!(sealed.lines().count(), IDX.lines().count());
        assert_eq!(
            without_identity(IDX),
            "{\"scout_audit_index\":4,\"records\":2}\n\
             {\"hour\":0,\"event\":\"a\",\"cost\":\"0x1p+0\"}\n\
             {\"hour\":0,\"event\":\"b\",\"cost\":\"0x1p+1\"}\n\
             {\"model\":null,\"cost\":\"0x3p+0\"}\n"
        );
    }
}
