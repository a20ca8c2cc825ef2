//! The fast path of an export: one stored line straight into a [`Row`]
//! of borrowed column values, without building a
//! [`scout_audit_core::Record`]. The reader is core's
//! [`scout_audit_core::compact`] (shared with `verify`), whose contract
//! is the one this path needs: it takes a line only when
//! [`scout_audit_core::decode_line`] reads it the same way, and what it
//! keeps as JSON text (`files`, `config`, the fields of `extra`) is byte
//! for byte what serde_json writes for the decoded value. The tests here
//! check the columns: `Columns::push_row` of the row against
//! `Columns::push` of the record.

pub(crate) use scout_audit_core::compact::{Row, parse};

#[cfg(test)]
mod tests {
    use scout_audit_core::{Decoded, decode_line};

    use super::*;
    use crate::columns::Columns;

    /// The fast path's row of `line`, when it takes the line, holds what
    /// the record path takes from `decode_line`'s record: the same
    /// columns and the same marks. Returns whether it took the line.
    fn check(line: &str) -> bool {
        let Some(row) = parse(line.as_bytes()) else {
            return false;
        };
        let Decoded::Record(r) = decode_line(line.as_bytes()) else {
            panic!("the fast path took a line decode_line refuses: {line}");
        };
        let (mut fast, mut slow) = (Columns::default(), Columns::default());
        fast.push_row(&row);
        slow.push(&r);
        assert_eq!(fast.dump(), slow.dump(), "{line}");
        assert_eq!(
            (row.session_id, row.writer, row.seq, row.ts),
            (r.session_id(), r.writer(), r.seq(), r.ts()),
            "{line}"
        );
        true
    }

    #[test]
    fn compact_lines_take_the_fast_path_with_the_record_paths_columns() {
        for line in scout_audit_core::compact::TAKEN {
            assert!(check(line), "not taken: {line}");
        }
    }

    #[test]
    fn what_serde_json_writes_otherwise_takes_the_slow_path() {
        for line in scout_audit_core::compact::REFUSED {
            assert!(!check(line), "taken: {line}");
        }
    }
}
