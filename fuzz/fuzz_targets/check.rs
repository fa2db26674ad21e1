//! `fleet check` on raw bytes, one or several files at once.
//!
//! The input is split on the byte `0xFF` (never part of valid UTF-8) into up to 8 files,
//! written into a fresh temporary directory. A file whose first line is `#file NAME` is
//! named NAME (a relative path of plain components: `b.fleet`, `ntp/init.fleet`,
//! `data/hierarchy.toml`, `templates/motd.tmpl`), else `f<N>.fleet`; so imports, module
//! folders, data levels and templates between the pieces are all reachable. The first and
//! the last `.fleet` file are given on the command line; the others load only through
//! imports (the two ways a file gets read). Every diagnostic must have a JSON line with
//! 1-based positions and render as text, as `fleet check --format json` and the text
//! report do.
#![no_main]

use std::path::{Component, Path, PathBuf};

use fleet::internals::diag::json::to_line;
use fleet::internals::diag::render::{render, RenderOptions};
use fleet::internals::program::{Options, Program};
use libfuzzer_sys::fuzz_target;

const SEPARATOR: u8 = 0xFF;
const MAX_FILES: usize = 8;

/// The name a piece asks for, if it is a safe relative path.
fn wanted_name(piece: &[u8]) -> Option<(PathBuf, &[u8])> {
    let rest = piece.strip_prefix(b"#file ")?;
    let end = rest.iter().position(|&b| b == b'\n')?;
    let name = std::str::from_utf8(&rest[..end]).ok()?.trim();
    let path = Path::new(name);
    let plain = !name.is_empty()
        && name.len() < 100
        && path.components().count() <= 4
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    plain.then(|| (path.to_path_buf(), &rest[end + 1..]))
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let mut mains: Vec<PathBuf> = Vec::new();
    for (i, piece) in data.split(|&b| b == SEPARATOR).take(MAX_FILES).enumerate() {
        let (name, text) =
            wanted_name(piece).unwrap_or_else(|| (PathBuf::from(format!("f{i}.fleet")), piece));
        let path = dir.path().join(&name);
        if let Some(parent) = path.parent() {
            if std::fs::create_dir_all(parent).is_err() {
                continue; // a piece named like a file another piece made a folder of
            }
        }
        if path.is_dir() || std::fs::write(&path, text).is_err() {
            continue;
        }
        if name.extension().is_some_and(|e| e == "fleet") && !mains.contains(&path) {
            mains.push(path);
        }
    }
    if mains.len() > 2 {
        mains.drain(1..mains.len() - 1);
    }
    if mains.is_empty() {
        return;
    }
    let program = Program::load(&mains, Options::default());
    let diags = program.check();
    let main = program
        .sources
        .files()
        .next()
        .map(|(_, f)| f.name.clone())
        .unwrap_or_default();
    for d in &diags {
        let line = to_line(d, &program.sources, &main);
        let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON diagnostic");
        for key in ["line", "column", "end_line", "end_column"] {
            assert_ne!(
                v.get(key).and_then(|n| n.as_u64()),
                Some(0),
                "{key} is 0: {line}"
            );
        }
        let text = render(d, &program.sources, &main, RenderOptions::PLAIN);
        assert!(
            text.starts_with(d.severity.as_str()),
            "odd rendering: {text}"
        );
    }
});
