//! The tidy test for the crate's layering (rust-analyzer's `tidy.rs` does the same with
//! `cargo test`): every module path a file under `src/` names (`crate::…`, and `super::…`
//! that climbs out of its room) is an arrow from the file's room to another room, and each
//! arrow must be one the README's Architecture table allows.
//!
//! - A room is a top-level module: `src/eval/**` is `eval`, `src/par.rs` is `par`.
//!   `lib.rs` (it declares the rooms and lists what the library exports) and `main.rs` (it
//!   uses the library by name) have none.
//! - The table is the README's (`| `room` | `a`, `b` |`), so the rule and its check cannot
//!   drift apart; a room with no line in it fails too.
//! - Test code is exempt: `#[cfg(test)]` items, and the files of `#[cfg(test)] mod x;`
//!   (`tests.rs`, `testutil.rs`). A test may build a `Program` to get a catalog.
//! - Comments and string literals are skipped; `use` groups (`crate::{a::X, b::{Y, Z}}`) are
//!   expanded.
//!
//! `cargo test --test suite layering:: -- --nocapture` prints the arrows in use, room by room.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One arrow found in the source: `file:line` names `path` (from the crate root).
#[derive(Debug)]
struct Use {
    file: String,
    line: usize,
    from: Vec<String>,
    path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Punct(&'static str),
    Other,
}

/// Identifiers and the punctuation a path needs, with line numbers; comments, strings and
/// character literals dropped.
fn tokenize(text: &str) -> Vec<(Tok, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    // Skips a (possibly raw) string starting at `i` (at `r`, `#` or `"`); returns the index
    // after it.
    let skip_string = |mut i: usize, raw: bool, line: &mut usize| -> usize {
        let mut hashes = 0;
        if raw {
            while i < b.len() && b[i] == b'#' {
                hashes += 1;
                i += 1;
            }
        }
        i += 1; // the opening quote
        while i < b.len() {
            match b[i] {
                b'\n' => *line += 1,
                b'\\' if !raw => {
                    if b.get(i + 1) == Some(&b'\n') {
                        *line += 1;
                    }
                    i += 1;
                }
                b'"' => {
                    let closing = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                    if closing >= hashes {
                        return i + 1 + hashes;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            b'"' => i = skip_string(i, false, &mut line),
            b'\'' => {
                // A character literal ('x', '\n', '\u{..}') or a lifetime/label ('a).
                if b.get(i + 1) == Some(&b'\\') {
                    i += 2;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    let ch = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                    if b.get(i + 1 + ch) == Some(&b'\'') {
                        i += ch + 2;
                    } else {
                        i += 1;
                    }
                }
                out.push((Tok::Other, line));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = &text[start..i];
                let quote = b.get(i) == Some(&b'"');
                // `r"…"`, `r#"…"#`, `br"…"` (not `r#ident`, a raw identifier).
                let raw = matches!(word, "r" | "br")
                    && (quote || b[i..].iter().find(|&&c| c != b'#') == Some(&b'"'));
                if raw || (matches!(word, "b" | "c") && quote) {
                    i = skip_string(i, raw, &mut line);
                    out.push((Tok::Other, line));
                } else {
                    out.push((Tok::Ident(word.to_string()), line));
                }
            }
            b':' if b.get(i + 1) == Some(&b':') => {
                out.push((Tok::Punct("::"), line));
                i += 2;
            }
            _ => {
                let p = match c {
                    b'{' => "{",
                    b'}' => "}",
                    b'(' => "(",
                    b')' => ")",
                    b'[' => "[",
                    b']' => "]",
                    b'#' => "#",
                    b',' => ",",
                    b';' => ";",
                    b'*' => "*",
                    b'$' => "$",
                    _ => "",
                };
                if p.is_empty() {
                    if !c.is_ascii_whitespace() {
                        out.push((Tok::Other, line));
                    }
                } else {
                    out.push((Tok::Punct(p), line));
                }
                i += if c.is_ascii() {
                    1
                } else {
                    text[i..].chars().next().map_or(1, char::len_utf8)
                };
            }
        }
    }
    out
}

fn is(t: Option<&(Tok, usize)>, p: &str) -> bool {
    matches!(t, Some((Tok::Punct(q), _)) if *q == p)
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

/// Drops `#[cfg(test)]` items; returns the names of `#[cfg(test)] mod name;` declarations.
fn drop_test_items(toks: Vec<(Tok, usize)>) -> (Vec<(Tok, usize)>, Vec<String>) {
    let cfg_test = |t: &[(Tok, usize)], i: usize| -> bool {
        let want = ["#", "[", "cfg", "(", "test", ")", "]"];
        want.iter().enumerate().all(|(k, w)| match t.get(i + k) {
            Some((Tok::Punct(p), _)) => p == w,
            Some((Tok::Ident(s), _)) => s == w,
            _ => false,
        })
    };
    let mut out = Vec::new();
    let mut test_mods = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if !cfg_test(&toks, i) {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        i += 7;
        // Further attributes on the same item.
        while is(toks.get(i), "#") && is(toks.get(i + 1), "[") {
            let mut depth = 0;
            i += 1;
            while i < toks.len() {
                if is(toks.get(i), "[") {
                    depth += 1;
                } else if is(toks.get(i), "]") {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                i += 1;
            }
        }
        // `mod name;` names a test file.
        let mut k = i;
        if ident(toks.get(k)).is_some_and(|s| s == "pub") {
            k += 1;
            if is(toks.get(k), "(") {
                while k < toks.len() && !is(toks.get(k), ")") {
                    k += 1;
                }
                k += 1;
            }
        }
        if ident(toks.get(k)) == Some("mod") && is(toks.get(k + 2), ";") {
            if let Some(name) = ident(toks.get(k + 1)) {
                test_mods.push(name.to_string());
            }
        }
        // The item: up to a `;` outside brackets, or the end of its first `{…}` block.
        let mut depth = 0i32;
        while i < toks.len() {
            match &toks[i].0 {
                Tok::Punct("{" | "(" | "[") => depth += 1,
                Tok::Punct(")" | "]") => depth -= 1,
                Tok::Punct("}") => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                Tok::Punct(";") if depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    (out, test_mods)
}

/// The paths of a use tree starting at `toks[i]` (just after `prefix::`), each with its line.
fn expand(
    toks: &[(Tok, usize)],
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, usize)>,
) {
    let mut path = prefix;
    loop {
        match toks.get(i) {
            Some((Tok::Ident(s), line)) => {
                let line = *line;
                if s != "self" {
                    path.push(s.clone());
                }
                if is(toks.get(i + 1), "::") {
                    i += 2;
                    continue;
                }
                out.push((path, line));
                return;
            }
            Some((Tok::Punct("{"), _)) => {
                // Each item of the group, separated by commas at this depth.
                i += 1;
                loop {
                    match toks.get(i) {
                        None | Some((Tok::Punct("}"), _)) => return,
                        Some((Tok::Punct(","), _)) => i += 1,
                        _ => {
                            expand(toks, i, path.clone(), out);
                            let mut depth = 0;
                            while let Some((t, _)) = toks.get(i) {
                                match t {
                                    Tok::Punct("{") => depth += 1,
                                    Tok::Punct("}") if depth == 0 => break,
                                    Tok::Punct("}") => depth -= 1,
                                    Tok::Punct(",") if depth == 0 => break,
                                    _ => {}
                                }
                                i += 1;
                            }
                        }
                    }
                }
            }
            Some((_, line)) => {
                // `*`, or the end of an expression path.
                out.push((path, *line));
                return;
            }
            None => return,
        }
    }
}

/// Every module file under `src/` with its module path (`src/eval/expr.rs` → `eval::expr`).
fn module_files(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).expect("under src");
        let mut path: Vec<String> = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if path.last().is_some_and(|l| l == "mod" || l == "lib") {
            path.pop();
        }
        if path == ["main"] {
            continue;
        }
        out.insert(path, f);
    }
    out
}

/// Every cross-module path of the non-test code under `src/`.
fn uses(src: &Path) -> Vec<Use> {
    let files = module_files(src);
    let mut test_files: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut found = Vec::new();
    // Parents before children (BTreeMap order), so a test module's file is known as such
    // before it is read.
    for (module, file) in &files {
        if test_files.iter().any(|t| module.starts_with(t)) {
            continue;
        }
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (toks, test_mods) = drop_test_items(tokenize(&text));
        // `a.rs`'s children are `a/x.rs`: the module itself is the parent for `mod x;`.
        for m in test_mods {
            let mut child = module.clone();
            child.push(m);
            test_files.insert(child);
        }
        let shown = file
            .strip_prefix(src.parent().unwrap_or(src))
            .unwrap_or(file)
            .display()
            .to_string();
        let mut paths = Vec::new();
        for i in 0..toks.len() {
            let Some(word) = ident(toks.get(i)) else {
                continue;
            };
            if !is(toks.get(i + 1), "::") || (i > 0 && is(toks.get(i - 1), "$")) {
                continue;
            }
            if i > 0 && is(toks.get(i - 1), "::") {
                continue; // the middle of a path (`x::crate` does not occur; `a::super` neither)
            }
            match word {
                "crate" => expand(&toks, i + 2, Vec::new(), &mut paths),
                "super" => {
                    let mut base = module.clone();
                    let mut k = i;
                    while ident(toks.get(k)) == Some("super") && is(toks.get(k + 1), "::") {
                        base.pop();
                        k += 2;
                    }
                    expand(&toks, k, base, &mut paths);
                }
                _ => {}
            }
        }
        for (path, line) in paths {
            found.push(Use {
                file: shown.clone(),
                line,
                from: module.clone(),
                path,
            });
        }
    }
    found
}

/// The README's table: room → the rooms it may use.
fn allowed(readme: &str) -> BTreeMap<String, BTreeSet<String>> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Architecture"))
        .expect("README.md has an Architecture section");
    let names = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(|s| s.trim_end_matches('/').to_string())
            .collect()
    };
    let mut out = BTreeMap::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| `room` | may use | …`: cells[0] is empty (before the first bar).
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let rooms = names(cells[1]);
        let uses: BTreeSet<String> = names(cells[2]).into_iter().collect();
        for r in rooms {
            out.insert(r, uses.clone());
        }
    }
    assert!(
        !out.is_empty(),
        "README's Architecture section has no `| `room` | may use |` table"
    );
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_arrow_between_rooms_is_allowed() {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    let table = allowed(&readme);
    let src = root().join("src");
    let mut bad = Vec::new();
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for room in module_files(&src).keys().filter_map(|m| m.first()) {
        if !table.contains_key(room) {
            bad.push(format!(
                "src/{room}: a room with no line in README's Architecture table"
            ));
        }
        seen.entry(room.clone()).or_default();
    }
    for u in uses(&src) {
        let (Some(from), Some(to)) = (u.from.first(), u.path.first()) else {
            continue; // lib.rs, or the crate root itself
        };
        if from == to || !table.contains_key(to) {
            continue; // inside a room, or an item of lib.rs (`crate::alloc`)
        }
        seen.entry(from.clone()).or_default().insert(to.clone());
        if !table.get(from).is_some_and(|a| a.contains(to)) {
            bad.push(format!(
                "{}:{}: {from} -> {to} (`crate::{}`) is not an allowed arrow",
                u.file,
                u.line,
                u.path.join("::")
            ));
        }
    }
    for (from, tos) in &seen {
        println!(
            "{from} -> {}",
            tos.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let cycles: Vec<String> = seen
        .iter()
        .flat_map(|(a, tos)| tos.iter().map(move |b| (a, b)))
        .filter(|(a, b)| a < b && seen.get(*b).is_some_and(|t| t.contains(*a)))
        .map(|(a, b)| format!("{a} <-> {b}"))
        .collect();
    println!("2-cycles between rooms: {} {cycles:?}", cycles.len());
    assert!(
        bad.is_empty(),
        "arrows the README's Architecture table does not allow:\n{}",
        bad.join("\n")
    );
}

/// The module a path names: its longest prefix that is a module file (`eval::expr::f` →
/// `eval::expr`).
fn module_of(path: &[String], modules: &BTreeMap<Vec<String>, PathBuf>) -> Vec<String> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains_key(p))
        .unwrap_or_default()
}

#[test]
fn no_two_modules_use_each_other() {
    // Between any two modules, rooms or not, where neither contains the other (a parent and
    // its child share items both ways by design: `mod.rs` declares and re-exports, the child
    // uses the parent's types).
    let src = root().join("src");
    let modules = module_files(&src);
    let mut edges: BTreeMap<(Vec<String>, Vec<String>), (String, usize)> = BTreeMap::new();
    for u in uses(&src) {
        let to = module_of(&u.path, &modules);
        if to.starts_with(&u.from) || u.from.starts_with(&to) {
            continue;
        }
        edges
            .entry((u.from.clone(), to))
            .or_insert((u.file, u.line));
    }
    let mut bad = Vec::new();
    for ((a, b), (file, line)) in &edges {
        if a < b {
            if let Some((file2, line2)) = edges.get(&(b.clone(), a.clone())) {
                bad.push(format!(
                    "{} <-> {}: {file}:{line} and {file2}:{line2}",
                    a.join("::"),
                    b.join("::")
                ));
            }
        }
    }
    println!("2-cycles between modules: {}", bad.len());
    assert!(
        bad.is_empty(),
        "modules that use each other:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_reader_expands_groups_climbs_supers_and_skips_comments_strings_and_tests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("a/b")).expect("mkdir");
    fs::write(src.join("lib.rs"), "pub mod a;\npub mod c;\n").expect("write");
    fs::write(
        src.join("a/mod.rs"),
        "pub mod b;\n#[cfg(test)]\nmod tests;\n\
         use crate::{c::X, d::{e::Y, f}};\n\
         // use crate::g::Z;\n/* crate::h::Z */\nconst S: &str = \"crate::i::Z\";\n\
         const R: &str = r#\"crate::j::Z\"#;\nconst C: char = '\"';\n\
         fn f<'a>(x: &'a str) -> crate::k::T { crate::l::m(x) }\n\
         #[cfg(test)]\nmod inline { use crate::n::Z; }\n",
    )
    .expect("write");
    fs::write(
        src.join("a/b/mod.rs"),
        "use super::super::o::P;\nuse super::Q;\n",
    )
    .expect("write");
    fs::write(src.join("a/tests.rs"), "use crate::p::Z;\n").expect("write");
    let found: Vec<String> = uses(&src)
        .iter()
        .map(|u| format!("{}:{} {}", u.from.join("::"), u.line, u.path.join("::")))
        .collect();
    assert_eq!(
        found,
        [
            "a:4 c::X",
            "a:4 d::e::Y",
            "a:4 d::f",
            "a:10 k::T",
            "a:10 l::m",
            "a::b:1 o::P",
            "a::b:2 a::Q",
        ]
    );
}
