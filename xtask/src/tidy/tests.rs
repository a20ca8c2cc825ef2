//! Each rule caught on a planted violation in a temp tree, and the clean
//! version of each passing.

use super::*;

/// Writes `files` (and the allow-list `allow`) under a temp root and
/// returns what [`check`] reports, one line per violation.
fn run(files: &[(&str, &str)], allow: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    if !allow.is_empty() {
        std::fs::create_dir_all(dir.path().join("xtask")).unwrap();
        std::fs::write(dir.path().join(ALLOW_LIST), allow).unwrap();
    }
    check(dir.path())
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn check_one(files: &[(&str, &str)], allow: &str, expected: &str) {
    assert_eq!(run(files, allow), [expected]);
}

fn clean(files: &[(&str, &str)], allow: &str) {
    assert_eq!(run(files, allow), Vec::<String>::new());
}

const LIB: (&str, &str) = ("crates/x/src/lib.rs", "//! x\nmod a;\nmod b;\n");

#[test]
fn a_module_cycle_is_caught() {
    let a = (
        "crates/x/src/a.rs",
        "//! a\nuse crate::b::B;\npub struct A;\n",
    );
    let b = (
        "crates/x/src/b.rs",
        "//! b\nuse super::{a::A, a};\npub struct B;\n",
    );
    check_one(
        &[LIB, a, b],
        "",
        "crates/x/src/a.rs:2: cycle: module cycle: a -> b -> a",
    );
    // Through a submodule file and a grouped `crate::` path as well.
    let b = ("crates/x/src/b/mod.rs", "//! b\nmod c;\n");
    let c = (
        "crates/x/src/b/c.rs",
        "//! c\nuse crate::{\n    a::{self, A},\n};\n",
    );
    check_one(
        &[LIB, a, b, c],
        "",
        "crates/x/src/a.rs:2: cycle: module cycle: a -> b -> a",
    );
    // Each cycle of a component, from its first module by name: a -> b -> a
    // and a -> c -> a (as store-file's compress, index and store), and a
    // longer one.
    let lib = ("crates/x/src/lib.rs", "//! x\nmod a;\nmod b;\nmod c;\n");
    let a = ("crates/x/src/a.rs", "//! a\nuse crate::{b, c};\n");
    let b = ("crates/x/src/b.rs", "//! b\nuse crate::a;\n");
    let c = (
        "crates/x/src/c.rs",
        "//! c\n\nfn f() {\n    super::a::f();\n}\n",
    );
    assert_eq!(
        run(&[lib, a, b, c], ""),
        [
            "crates/x/src/a.rs:2: cycle: module cycle: a -> b -> a",
            "crates/x/src/a.rs:2: cycle: module cycle: a -> c -> a",
        ]
    );
    let a = ("crates/x/src/a.rs", "//! a\nuse crate::b;\n");
    let b = ("crates/x/src/b.rs", "//! b\nuse crate::c;\n");
    check_one(
        &[lib, a, b, c],
        "",
        "crates/x/src/a.rs:2: cycle: module cycle: a -> b -> c -> a",
    );
    // One way only, `super::` of a test module and names in comments and
    // strings are not edges.
    let b = (
        "crates/x/src/b.rs",
        "//! b\n// crate::a::A\nconst S: &str = \"crate::a\";\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    );
    clean(&[LIB, a, b], "");
    // Nor does a test module's use of another module count.
    let b = (
        "crates/x/src/b.rs",
        "//! b\n#[cfg(test)]\nmod tests {\n    use crate::a::A;\n}\n",
    );
    clean(&[LIB, a, b], "");
}

#[test]
fn a_suffix_outside_layout_is_caught() {
    let a = (
        "crates/x/src/a.rs",
        "//! a\npub const S: &str = \".idx\";\n",
    );
    check_one(
        &[a],
        "",
        "crates/x/src/a.rs:2: suffix: file-name suffix `.idx` outside crates/store-file/src/layout.rs",
    );
    let a = (
        "crates/x/src/a.rs",
        "//! a\nfn f(s: &str) -> String {\n    format!(\"{s}.jsonl\")\n}\n",
    );
    check_one(
        &[a],
        "",
        "crates/x/src/a.rs:3: suffix: file-name suffix `.jsonl` outside crates/store-file/src/layout.rs",
    );
    let layout = (
        "crates/store-file/src/layout.rs",
        "//! l\npub const S: &str = \".jsonl.gz\";\n",
    );
    let test_mod = (
        "crates/x/src/a.rs",
        "//! a\n#[cfg(test)]\nmod tests {\n    const S: &str = \"x.idx.tmp\";\n}\n",
    );
    let test_dir = (
        "crates/x/tests/it/main.rs",
        "//! it\nconst S: &str = \".torn-1\";\n",
    );
    let name = (
        "crates/x/src/b.rs",
        "//! b\nconst LIVE: &str = \"audit.jsonl\";\n",
    );
    clean(&[layout, test_mod, test_dir, name], "");
}

#[test]
fn std_fs_in_store_file_is_caught() {
    let r = (
        "crates/store-file/src/reader.rs",
        "//! r\nuse std::{fs, io};\n",
    );
    check_one(
        &[r],
        "",
        "crates/store-file/src/reader.rs:2: std-fs: `std::fs` in store-file outside fs.rs (use `Fs`)",
    );
    let r = (
        "crates/store-file/src/reader.rs",
        "//! r\nfn f() {\n    let _ = std::fs::File::open(\"x\");\n}\n",
    );
    check_one(
        &[r],
        "",
        "crates/store-file/src/reader.rs:3: std-fs: `std::fs` in store-file outside fs.rs (use `Fs`)",
    );
    let fs = (
        "crates/store-file/src/fs.rs",
        "//! fs\nuse std::fs::File;\n",
    );
    let other = ("crates/scan/src/a.rs", "//! a\nuse std::fs::File;\n");
    let io = (
        "crates/store-file/src/reader.rs",
        "//! r\nuse std::io;\n// std::fs\n",
    );
    clean(&[fs, other, io], "");
}

#[test]
fn unsafe_outside_mmap_is_caught() {
    let a = (
        "crates/x/src/a.rs",
        "//! a\nfn f() {\n    unsafe { g() }\n}\n",
    );
    check_one(
        &[a],
        "",
        "crates/x/src/a.rs:3: unsafe: `unsafe` outside crates/scan/src/mmap.rs",
    );
    let mmap = (
        "crates/scan/src/mmap.rs",
        "//! m\nunsafe fn g() {}\nunsafe impl Send for M {}\n",
    );
    let a = (
        "crates/x/src/a.rs",
        "//! no `unsafe`\n#![deny(unsafe_code)]\n// unsafe\nconst S: &str = \"unsafe\";\nconst R: &str = r#\"unsafe\"#;\nfn f<'a>(c: char) -> bool {\n    c == '\"' // \"\n}\n",
    );
    clean(&[mmap, a], "");
}

fn long_fn(name: &str, lines: usize) -> String {
    let body: String = (0..lines - 2)
        .map(|i| format!("    let _x{i} = {i};\n"))
        .collect();
    format!("//! a\npub fn {name}() {{\n{body}}}\n")
}

#[test]
fn a_long_function_is_caught() {
    let text = long_fn("long", 90);
    check_one(
        &[("xtask/src/a.rs", &text)],
        "",
        "xtask/src/a.rs:2: fn-length: fn `long` is 90 lines (more than 80)",
    );
    let short = long_fn("short", 80);
    let test = format!(
        "//! t\n#[cfg(test)]\nmod tests {{\n{}}}\n",
        long_fn("t", 100).replace("//! a\n", "")
    );
    let allowed = long_fn("long", 90);
    clean(
        &[
            ("xtask/src/a.rs", &short),
            ("xtask/src/t.rs", &test),
            ("xtask/src/b.rs", &allowed),
        ],
        "fn-length xtask/src/b.rs:long -- better whole: one table, row by row\n",
    );
}

#[test]
fn the_house_style_basics_are_caught() {
    let ws = ("crates/x/src/a.rs", "//! a\nfn f() {}\x20\n");
    check_one(
        &[ws],
        "",
        "crates/x/src/a.rs:2: trailing-ws: trailing white space",
    );
    let marker = ["TO", "DO"].concat();
    let text = format!("//! a\n// {marker}: later\n");
    check_one(
        &[("crates/x/src/a.rs", &text)],
        "",
        &format!(
            "crates/x/src/a.rs:2: todo: `{marker}` marker: do it, or file an issue and say so"
        ),
    );
    let nodoc = ("crates/x/src/a.rs", "\n// a plain comment\nfn f() {}\n");
    check_one(
        &[nodoc],
        "",
        "crates/x/src/a.rs:1: doc: no `//!` doc comment at the top",
    );
    clean(
        &[(
            "crates/x/src/a.rs",
            "\n//! a\n//! todo: lower case is prose\nfn f() {}\n",
        )],
        "",
    );
}

#[test]
fn the_allow_list_needs_reasons_and_only_shrinks() {
    let nodoc = ("crates/x/src/a.rs", "fn f() {}\n");
    check_one(
        &[nodoc],
        "doc crates/x/src/a.rs\n",
        "xtask/tidy-allow.txt:1: allow: entry without a reason: `doc crates/x/src/a.rs`",
    );
    check_one(
        &[nodoc],
        "doc crates/x/src/a.rs --   \n",
        "xtask/tidy-allow.txt:1: allow: entry without a reason: `doc crates/x/src/a.rs --`",
    );
    let doc = ("crates/x/src/a.rs", "//! a\nfn f() {}\n");
    check_one(
        &[doc],
        "# comment\ndoc crates/x/src/a.rs -- was missing\n",
        "xtask/tidy-allow.txt:2: allow: stale entry, matches nothing: `doc crates/x/src/a.rs`",
    );
    check_one(
        &[doc],
        "nonsense crates/x -- why\n",
        "xtask/tidy-allow.txt:1: allow: not `RULE PATH[:ITEM] -- REASON`: `nonsense crates/x -- why`",
    );
    clean(&[nodoc], "# why each\n\ndoc crates/x -- generated, say\n");
}

#[test]
fn fuzz_and_target_are_not_walked() {
    let bad = "fn f() {}\x20\n";
    clean(
        &[
            ("fuzz/src/a.rs", bad),
            ("crates/x/target/a.rs", bad),
            ("xtask/target/b.rs", bad),
        ],
        "",
    );
}
