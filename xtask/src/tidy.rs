//! `cargo xtask tidy`: the invariants docs/architecture.md states in prose,
//! checked on every `.rs` file of the workspace (as rust-analyzer's
//! `rust_files_are_tidy` and the Rust compiler's `tidy` do).
//!
//! [`check`] walks `crates/`, `xtask/` and `benches/` (never `fuzz/` or a
//! `target/`) under a root and returns what breaks a rule and is not on the
//! allow-list (`xtask/tidy-allow.txt`, one `RULE PATH[:ITEM] -- REASON` a
//! line). The rules, by the name the allow-list uses:
//!
//! - `cycle`: top-level modules of one crate that reach each other through
//!   `crate::` or `super::` paths (one violation per cycle found, outside
//!   test code).
//! - `suffix`: a segment or index file-name suffix in a string literal
//!   outside `crates/store-file/src/layout.rs` (test code exempt).
//! - `std-fs`: `std::fs` in `crates/store-file/src` outside `fs.rs` (test
//!   code exempt: tests set up files directly).
//! - `unsafe`: the keyword outside `crates/scan/src/mmap.rs`.
//! - `fn-length`: a function of more than [`MAX_FN_LINES`] lines outside
//!   test code.
//! - `trailing-ws`, `todo` (the three markers reviewers grep for), `doc` (a
//!   file that does not start with a `//!` comment).
//! - `allow`: an allow-list entry without a reason, with an unknown rule, or
//!   matching nothing (so the list only shrinks).
//!
//! The source is read as text: comments and string contents are blanked out
//! before the code is searched, so a rule's name in a comment or a string
//! is not a violation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// A function longer than this (from its `fn` line to its closing brace)
/// must be on the allow-list with a reason.
pub const MAX_FN_LINES: usize = 80;

/// The allow-list, relative to the root.
pub const ALLOW_LIST: &str = "xtask/tidy-allow.txt";

const RULES: [&str; 9] = [
    "cycle",
    "suffix",
    "std-fs",
    "unsafe",
    "fn-length",
    "trailing-ws",
    "todo",
    "doc",
    "allow",
];

/// One broken rule: printed as `path:line: rule: message`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// Relative to the root, with `/` separators.
    pub path: String,
    /// 1-based.
    pub line: usize,
    /// One of the rule names in the module docs.
    pub rule: &'static str,
    /// What an allow-list entry may name after `PATH:` (a function, a
    /// cycle); `None` where the path alone identifies it.
    pub item: Option<String>,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.path, self.line, self.rule, self.message
        )
    }
}

/// Every violation under `root` that the allow-list does not excuse, plus
/// the allow-list's own (entries without a reason, stale entries), sorted.
pub fn check(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let files = rust_files(root)?;
    let mut found = Vec::new();
    let mut sources = Vec::new();
    for rel in files {
        let text = std::fs::read_to_string(root.join(&rel))
            .with_context(|| format!("reading {}", rel.display()))?;
        let path = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let src = Source::new(path, text);
        check_file(&src, &mut found);
        sources.push(src);
    }
    check_cycles(&sources, &mut found);
    let allow_text = match std::fs::read_to_string(root.join(ALLOW_LIST)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).context(ALLOW_LIST),
    };
    let mut out = apply_allow_list(&allow_text, found);
    out.sort();
    Ok(out)
}

/// The `.rs` files under `crates/`, `xtask/` and `benches/`, relative to
/// the root, sorted.
fn rust_files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for top in ["crates", "xtask", "benches"] {
        walk(root, Path::new(top), &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let dir = root.join(rel);
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let child = rel.join(&name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if name != "target" && name != "fuzz" && !name.to_string_lossy().starts_with('.') {
                walk(root, &child, out)?;
            }
        } else if kind.is_file() && child.extension().is_some_and(|e| e == "rs") {
            out.push(child);
        }
    }
    Ok(())
}

/// A byte range of a file: start, end (exclusive).
type Span = (usize, usize);

/// One file, with its code (comments and literal contents blanked to
/// spaces, byte for byte, so offsets and lines agree with the text) and its
/// string literals.
struct Source {
    path: String,
    text: String,
    code: String,
    /// (offset of the opening quote, contents as written).
    strings: Vec<(usize, String)>,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
    /// Byte ranges of `#[cfg(test)]` modules.
    test_ranges: Vec<Span>,
    /// Byte ranges of inline `mod name { ... }` blocks (for `super::`).
    mod_ranges: Vec<Span>,
    /// The whole file is test code (a `tests.rs`, or under `tests/`).
    test_file: bool,
}

impl Source {
    fn new(path: String, text: String) -> Source {
        let (code, strings) = blank(&text);
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let (mod_ranges, test_ranges) = inline_mods(&code);
        let test_file = path.ends_with("/tests.rs")
            || path.split('/').any(|c| c == "tests")
            || path.ends_with("_tests.rs");
        Source {
            path,
            text,
            code,
            strings,
            line_starts,
            test_ranges,
            mod_ranges,
            test_file,
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    fn in_test(&self, offset: usize) -> bool {
        self.test_file
            || self
                .test_ranges
                .iter()
                .any(|&(a, b)| a <= offset && offset < b)
    }

    fn violation(&self, offset: usize, rule: &'static str, message: String) -> Violation {
        Violation {
            path: self.path.clone(),
            line: self.line_of(offset),
            rule,
            item: None,
            message,
        }
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Blanks comments and the contents of string and char literals; returns
/// the code and the string literals.
fn blank(text: &str) -> (String, Vec<(usize, String)>) {
    let b = text.as_bytes();
    let mut code = b.to_vec();
    let mut strings = Vec::new();
    let clear = |code: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut code[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let prev_ident = i > 0 && is_ident(b[i - 1]);
        if b[i..].starts_with(b"//") {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            clear(&mut code, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let end = block_comment_end(b, i);
            clear(&mut code, i, end);
            i = end;
        } else if !prev_ident && let Some((open, hashes)) = raw_string_start(b, i) {
            let close = [&[b'"'][..], &vec![b'#'; hashes]].concat();
            let end = find(b, open + 1, &close).unwrap_or(b.len());
            strings.push((i, text[open + 1..end].to_string()));
            clear(&mut code, open + 1, end);
            i = end + close.len();
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = j.min(b.len());
            strings.push((i, text[i + 1..end].to_string()));
            clear(&mut code, i + 1, end);
            i = end + 1;
        } else if b[i] == b'\'' {
            i = char_literal_end(text, i).map_or(i + 1, |end| {
                clear(&mut code, i + 1, end - 1);
                end
            });
        } else {
            i += 1;
        }
    }
    (String::from_utf8_lossy(&code).into_owned(), strings)
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn block_comment_end(b: &[u8], start: usize) -> usize {
    let (mut depth, mut i) = (0usize, start);
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if b[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// At `r"`, `r#"`, `br"`, `br#"`: the offset of the opening quote and the
/// number of hashes.
fn raw_string_start(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let r = if b[i] == b'b' { i + 1 } else { i };
    if b.get(r) != Some(&b'r') {
        return None;
    }
    let hashes = b[r + 1..].iter().take_while(|&&c| c == b'#').count();
    (b.get(r + 1 + hashes) == Some(&b'"')).then_some((r + 1 + hashes, hashes))
}

/// At a `'`: the offset just past a char literal, or `None` for a lifetime.
fn char_literal_end(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    if b.get(i + 1) == Some(&b'\\') {
        let close = b[i + 3..].iter().position(|&c| c == b'\'')?;
        return Some(i + 3 + close + 1);
    }
    let c = text.get(i + 1..)?.chars().next()?;
    let after = i + 1 + c.len_utf8();
    (b.get(after) == Some(&b'\'')).then_some(after + 1)
}

/// The ranges of inline `mod name { ... }` blocks, and those of them under
/// `#[cfg(test)]`.
fn inline_mods(code: &str) -> (Vec<Span>, Vec<Span>) {
    let (mut mods, mut tests) = (Vec::new(), Vec::new());
    for at in words(code, "mod") {
        let rest = &code[at + 3..];
        let name_len = rest
            .trim_start()
            .bytes()
            .take_while(|&c| is_ident(c))
            .count();
        let after = &rest.trim_start()[name_len..];
        if name_len == 0 || !after.trim_start().starts_with('{') {
            continue;
        }
        let open = code.len() - after.trim_start().len();
        let range = (at, matching_brace(code, open));
        mods.push(range);
        if preceded_by_cfg_test(&code[..at]) {
            tests.push(range);
        }
    }
    (mods, tests)
}

fn preceded_by_cfg_test(before: &str) -> bool {
    let mut s = before.trim_end();
    for vis in ["pub(crate)", "pub(super)", "pub"] {
        if let Some(t) = s.strip_suffix(vis) {
            s = t.trim_end();
            break;
        }
    }
    while s.ends_with(']') {
        let Some(open) = s.rfind("#[") else { break };
        let attr: String = s[open..].chars().filter(|c| !c.is_whitespace()).collect();
        if attr == "#[cfg(test)]" {
            return true;
        }
        s = s[..open].trim_end();
    }
    false
}

/// The offset just past the `}` matching the `{` at `open`.
fn matching_brace(code: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (i, c) in code.bytes().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// Offsets of `word` standing alone (not part of a longer identifier).
fn words<'a>(code: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    let b = code.as_bytes();
    code.match_indices(word).map(|(i, _)| i).filter(move |&i| {
        (i == 0 || !is_ident(b[i - 1])) && b.get(i + word.len()).is_none_or(|&c| !is_ident(c))
    })
}

/// The identifier at the start of `s` (after white space), if any.
fn ident_at(s: &str) -> Option<&str> {
    let s = s.trim_start();
    let n = s.bytes().take_while(|&c| is_ident(c)).count();
    (n > 0).then(|| &s[..n])
}

/// After a path prefix such as `crate::`: the names it reaches, one for
/// `crate::x::y`, each first name of a group for `crate::{a, b::c}`.
fn path_heads(rest: &str) -> Vec<String> {
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let group = &group[..matching_brace(rest, 0).saturating_sub(2)];
        let mut heads = Vec::new();
        let mut depth = 0;
        let mut start = true;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => start = true,
                c if start && !c.is_whitespace() => {
                    start = false;
                    heads.extend(ident_at(&group[i..]).map(str::to_string));
                }
                _ => {}
            }
        }
        heads
    } else {
        ident_at(rest).map(str::to_string).into_iter().collect()
    }
}

fn check_file(src: &Source, out: &mut Vec<Violation>) {
    check_text(src, out);
    check_suffixes(src, out);
    check_std_fs(src, out);
    for at in words(&src.code, "unsafe") {
        if src.path != "crates/scan/src/mmap.rs" {
            let message = "`unsafe` outside crates/scan/src/mmap.rs".to_string();
            out.push(src.violation(at, "unsafe", message));
        }
    }
    check_fn_lengths(src, out);
}

/// The house-style basics: trailing white space, the three markers, a
/// `//!` at the top.
fn check_text(src: &Source, out: &mut Vec<Violation>) {
    let markers = [["TO", "DO"].concat(), ["FIX", "ME"].concat(), "X".repeat(3)];
    for (n, line) in src.text.lines().enumerate() {
        let at = src.line_starts[n];
        if line.ends_with([' ', '\t']) {
            out.push(src.violation(at, "trailing-ws", "trailing white space".into()));
        }
        for m in &markers {
            if words(line, m).next().is_some() {
                let message = format!("`{m}` marker: do it, or file an issue and say so");
                out.push(src.violation(at, "todo", message));
            }
        }
    }
    let first = src.text.lines().find(|l| !l.trim().is_empty());
    if !first.is_some_and(|l| l.trim_start().starts_with("//!")) {
        out.push(src.violation(0, "doc", "no `//!` doc comment at the top".into()));
    }
}

/// The store's file-name suffixes belong to `layout.rs`.
fn check_suffixes(src: &Source, out: &mut Vec<Violation>) {
    if src.path == "crates/store-file/src/layout.rs" {
        return;
    }
    let gz = [".jsonl", ".gz"].concat();
    let needles = [gz.as_str(), ".gz.tmp", ".idx", ".torn-"];
    for (at, s) in &src.strings {
        if src.in_test(*at) {
            continue;
        }
        let hit = needles
            .iter()
            .find(|n| s.contains(**n))
            .copied()
            .or_else(|| (s == ".jsonl" || s.ends_with("}.jsonl")).then_some(".jsonl"));
        if let Some(n) = hit {
            let message = format!("file-name suffix `{n}` outside crates/store-file/src/layout.rs");
            out.push(src.violation(*at, "suffix", message));
        }
    }
}

/// store-file reaches the file system only through `fs.rs`.
fn check_std_fs(src: &Source, out: &mut Vec<Violation>) {
    if !src.path.starts_with("crates/store-file/src/") || src.path == "crates/store-file/src/fs.rs"
    {
        return;
    }
    for at in words(&src.code, "std") {
        let Some(rest) = src.code[at + 3..].strip_prefix("::") else {
            continue;
        };
        if !src.in_test(at) && path_heads(rest).iter().any(|h| h == "fs") {
            let message = "`std::fs` in store-file outside fs.rs (use `Fs`)".to_string();
            out.push(src.violation(at, "std-fs", message));
        }
    }
}

fn check_fn_lengths(src: &Source, out: &mut Vec<Violation>) {
    let code = &src.code;
    for at in words(code, "fn") {
        let Some(name) = ident_at(&code[at + 2..]) else {
            continue;
        };
        if src.in_test(at) || !code[at + 2..].starts_with(char::is_whitespace) {
            continue;
        }
        let Some(open) = code[at..].find(['{', ';']).map(|p| at + p) else {
            continue;
        };
        if code.as_bytes()[open] == b';' {
            continue;
        }
        let end = matching_brace(code, open);
        let lines = src.line_of(end.saturating_sub(1)) - src.line_of(at) + 1;
        if lines > MAX_FN_LINES {
            out.push(Violation {
                item: Some(name.to_string()),
                ..src.violation(
                    at,
                    "fn-length",
                    format!("fn `{name}` is {lines} lines (more than {MAX_FN_LINES})"),
                )
            });
        }
    }
}

/// A crate's `src/` directory and the top-level module of a file in it:
/// `("crates/x/src", Some("m"))` for `src/m.rs` and `src/m/y.rs`, `None`
/// for the crate root (`lib.rs`, `main.rs`, `bin/`).
fn module_of(path: &str) -> Option<(&str, Option<&str>, usize)> {
    let at = path.find("/src/")?;
    let (krate, rest) = (&path[..at + 4], &path[at + 5..]);
    let parts: Vec<&str> = rest.split('/').collect();
    let first = parts[0].strip_suffix(".rs").unwrap_or(parts[0]);
    if matches!(first, "lib" | "main" | "bin") {
        return Some((krate, None, 0));
    }
    // How many `super::` lead from this file to the module it is in.
    let depth = parts.len() - usize::from(parts.last() == Some(&"mod.rs"));
    Some((krate, Some(first), depth - 1))
}

/// Edges between a crate's top-level modules: (from, to) and where the
/// first reference is (path, offset).
type Graph<'a> = BTreeMap<&'a str, BTreeMap<String, (&'a Source, usize)>>;

fn check_cycles(sources: &[Source], out: &mut Vec<Violation>) {
    let mut crates: BTreeMap<&str, Graph<'_>> = BTreeMap::new();
    for src in sources {
        let Some((krate, Some(module), depth)) = module_of(&src.path) else {
            continue;
        };
        let graph = crates.entry(krate).or_default();
        let edges = graph.entry(module).or_default();
        for (at, target) in references(src, depth) {
            if target != module && !src.in_test(at) {
                edges.entry(target).or_insert((src, at));
            }
        }
    }
    for graph in crates.values() {
        let modules: BTreeSet<&str> = graph.keys().copied().collect();
        let next = |m: &str| -> Vec<&str> {
            graph.get(m).map_or(Vec::new(), |e| {
                e.keys()
                    .filter_map(|t| modules.get(t.as_str()).copied())
                    .collect()
            })
        };
        for cycle in cycles(&modules, &next) {
            let (src, at) = graph[cycle[0]][cycle[1]];
            out.push(Violation {
                item: Some(cycle.join("->")),
                ..src.violation(at, "cycle", format!("module cycle: {}", cycle.join(" -> ")))
            });
        }
    }
}

/// The top-level modules a file names through `crate::` and `super::`.
fn references(src: &Source, depth: usize) -> Vec<(usize, String)> {
    let code = &src.code;
    let mut refs = Vec::new();
    for at in words(code, "crate") {
        if let Some(rest) = code[at + 5..].strip_prefix("::") {
            refs.extend(path_heads(rest).into_iter().map(|h| (at, h)));
        }
    }
    for at in words(code, "super") {
        if at >= 2 && &code[at - 2..at] == "::" {
            continue; // counted from the first `super`
        }
        let (mut rest, mut supers) = (&code[at..], 0);
        while let Some(r) = rest.strip_prefix("super::") {
            rest = r;
            supers += 1;
        }
        let inline = src
            .mod_ranges
            .iter()
            .filter(|&&(a, b)| a < at && at < b)
            .count();
        if supers == depth + inline + 1 {
            refs.extend(path_heads(rest).into_iter().map(|h| (at, h)));
        }
    }
    refs
}

/// The cycles among a crate's modules: in each strongly connected component
/// of more than one module, the shortest cycle through each of its modules,
/// each written from its first module by name, without repeats.
fn cycles<'a>(
    modules: &BTreeSet<&'a str>,
    next: &dyn Fn(&str) -> Vec<&'a str>,
) -> Vec<Vec<&'a str>> {
    let reach = |from: &'a str| -> BTreeSet<&'a str> {
        let (mut seen, mut stack) = (BTreeSet::new(), vec![from]);
        while let Some(m) = stack.pop() {
            for n in next(m) {
                if seen.insert(n) {
                    stack.push(n);
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&str, BTreeSet<&str>> = modules.iter().map(|&m| (m, reach(m))).collect();
    let mut out: Vec<Vec<&str>> = Vec::new();
    for &m in modules {
        if !reaches[m].contains(m) {
            continue;
        }
        let component: BTreeSet<&str> = reaches[m]
            .iter()
            .copied()
            .filter(|n| reaches[n].contains(m))
            .collect();
        let Some(mut cycle) = shortest_cycle(m, &component, next) else {
            continue;
        };
        // Written from its first module by name, ending where it began.
        cycle.pop();
        let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
        cycle.rotate_left(first);
        cycle.push(cycle[0]);
        if !out.contains(&cycle) {
            out.push(cycle);
        }
    }
    out.sort();
    out
}

/// Breadth first from `m` back to `m` inside `component`: `[m, .., m]`.
fn shortest_cycle<'a>(
    m: &'a str,
    component: &BTreeSet<&'a str>,
    next: &dyn Fn(&str) -> Vec<&'a str>,
) -> Option<Vec<&'a str>> {
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([m]);
    while let Some(x) = queue.pop_front() {
        for n in next(x) {
            if n == m {
                let mut path = vec![m, x];
                while let Some(&p) = parent.get(path[path.len() - 1]) {
                    path.push(p);
                }
                path.reverse();
                if path[0] != m {
                    path.insert(0, m);
                }
                return Some(path);
            }
            if component.contains(n) && !parent.contains_key(n) {
                parent.insert(n, x);
                queue.push_back(n);
            }
        }
    }
    None
}

/// One line of the allow-list.
struct Entry {
    line: usize,
    rule: String,
    path: String,
    item: Option<String>,
    used: bool,
}

impl Entry {
    fn matches(&self, v: &Violation) -> bool {
        self.rule == v.rule
            && (v.path == self.path || v.path.starts_with(&format!("{}/", self.path)))
            && self
                .item
                .as_ref()
                .is_none_or(|i| v.item.as_ref() == Some(i))
    }
}

/// Drops what the allow-list excuses; adds the list's own violations.
fn apply_allow_list(text: &str, found: Vec<Violation>) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut entries = Vec::new();
    let bad = |line, message: String| Violation {
        path: ALLOW_LIST.to_string(),
        line,
        rule: "allow",
        item: None,
        message,
    };
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (what, reason) = line
            .split_once(" -- ")
            .or_else(|| line.strip_suffix(" --").map(|w| (w, "")))
            .unwrap_or((line, ""));
        if reason.trim().is_empty() {
            out.push(bad(n + 1, format!("entry without a reason: `{line}`")));
        }
        let mut parts = what.split_whitespace();
        let (rule, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if !RULES.contains(&rule) || target.is_empty() || parts.next().is_some() {
            out.push(bad(
                n + 1,
                format!("not `RULE PATH[:ITEM] -- REASON`: `{line}`"),
            ));
            continue;
        }
        let (path, item) = match target.split_once(':') {
            Some((p, i)) => (p, Some(i.to_string())),
            None => (target, None),
        };
        let path = path.trim_end_matches('/').to_string();
        entries.push(Entry {
            line: n + 1,
            rule: rule.to_string(),
            path,
            item,
            used: false,
        });
    }
    for v in found {
        match entries.iter_mut().find(|e| e.matches(&v)) {
            Some(e) => e.used = true,
            None => out.push(v),
        }
    }
    for e in entries.iter().filter(|e| !e.used) {
        out.push(bad(
            e.line,
            format!("stale entry, matches nothing: `{} {}`", e.rule, e.path),
        ));
    }
    out
}

#[cfg(test)]
mod tests;
