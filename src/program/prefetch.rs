//! Parsing the files of a program on every core before the import loop asks for them.
//!
//! `Program::load_texts` loads files one at a time, depth first along the imports, and gives
//! each the next `FileId` (spans carry it, so a file is parsed knowing its id). To parse in
//! parallel, [`predict`] first walks the same imports from a cheap scan of each file's
//! `import "…"` lines (no parse), reading the files and numbering them as the loop will; then
//! [`parse_all`] parses them all at once. The loop takes the text read ahead for the same id
//! and path instead of reading the file again, and a parse only when its id, path and
//! text are exactly those it would parse itself, and parses anything else on the spot: a
//! wrong prediction (an import inside a multi-line string, an escape in an import path, a
//! file that changed in between) costs time, never meaning.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::{canonical, resolve, Resolved};
use crate::diag::Diagnostic;
use crate::source::FileId;
use crate::syntax::ast;

/// A file parsed ahead, under the id the import loop is expected to give it.
pub(super) struct Prefetched {
    pub path: PathBuf,
    pub text: String,
    pub parsed: (ast::File, Vec<Diagnostic>),
}

/// A file the import loop is expected to parse: its id, path and text.
pub(super) struct Job {
    id: FileId,
    path: PathBuf,
    text: String,
}

/// A file in the walk: where its relative imports start, whether it is a stdlib file, its
/// import paths (from the scan), and how many of them the walk has followed.
struct Frame {
    dir: PathBuf,
    stdlib: bool,
    imports: Vec<String>,
    next: usize,
}

/// The files the import loop will parse, with the ids it will give them, for main files
/// `texts` (name, path, bytes or read error, as `load_texts` takes them) and `modulepath`.
/// Mirrors `load_texts`: a main file seen before is skipped, an unreadable one takes an id
/// and is not parsed; an import already loaded is skipped, one that cannot be read takes no
/// id, one that is not UTF-8 takes an id and is not parsed.
pub(super) fn predict(
    texts: &[(String, PathBuf, std::io::Result<Vec<u8>>)],
    modulepath: &[PathBuf],
) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut next_id = 0u32;
    let mut mains = Vec::new();
    for (_, path, bytes) in texts {
        let key = canonical(path);
        if seen.contains(&key) {
            continue;
        }
        let id = FileId(next_id);
        next_id += 1;
        let Ok(bytes) = bytes else { continue };
        seen.insert(key);
        if let Ok(text) = std::str::from_utf8(bytes) {
            mains.push(frame(path, false, text));
            jobs.push(Job {
                id,
                path: path.clone(),
                text: text.to_string(),
            });
        } else {
            mains.push(frame(path, false, ""));
        }
    }
    // Depth first from each main file in turn, as the loop's stack runs.
    let mut stack: Vec<Frame> = mains.into_iter().rev().collect();
    while let Some(mut top) = stack.pop() {
        let Some(import) = top.imports.get(top.next).cloned() else {
            continue;
        };
        top.next += 1;
        let (dir, stdlib) = (top.dir.clone(), top.stdlib);
        stack.push(top);
        match resolve(&dir, stdlib, modulepath, &import) {
            Some(Resolved::Disk { path, .. }) => {
                let key = canonical(&path);
                if seen.contains(&key) {
                    continue;
                }
                let Ok(bytes) = crate::limits::read_file(&path) else {
                    continue;
                };
                seen.insert(key);
                let id = FileId(next_id);
                next_id += 1;
                match String::from_utf8(bytes) {
                    Ok(text) => {
                        stack.push(frame(&path, false, &text));
                        jobs.push(Job { id, path, text });
                    }
                    Err(_) => stack.push(frame(&path, false, "")),
                }
            }
            Some(Resolved::Stdlib(name, text)) => {
                let path = PathBuf::from(format!("<stdlib>/{name}.fleet"));
                if !seen.insert(path.clone()) {
                    continue;
                }
                let id = FileId(next_id);
                next_id += 1;
                stack.push(frame(&path, true, text));
                jobs.push(Job {
                    id,
                    path,
                    text: text.to_string(),
                });
            }
            None => {}
        }
    }
    jobs
}

fn frame(path: &Path, stdlib: bool, text: &str) -> Frame {
    Frame {
        dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        stdlib,
        imports: scan_imports(text),
        next: 0,
    }
}

/// The paths of the lines `import "path"` (or `'path'`) of `text`, in order: a cheap guess
/// at its import statements (a path with an escape or an interpolation is left out).
fn scan_imports(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("import") else {
            continue;
        };
        let rest = rest.trim_start();
        if rest.len() == line.trim_start().len() - "import".len() {
            continue; // `importer …`: no space after the keyword
        }
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let body = &rest[1..];
        let Some(end) = body.find(quote) else {
            continue;
        };
        let path = &body[..end];
        if !path.contains(['\\', '$']) {
            out.push(path.to_string());
        }
    }
    out
}

/// Parses `jobs` on every core: id -> the file parsed ahead. Nothing when there is at most
/// one file (the loop parses it, big files in pieces on their own).
pub(super) fn parse_all(jobs: Vec<Job>) -> HashMap<FileId, Prefetched> {
    if jobs.len() < 2 || crate::par::cores() < 2 {
        return HashMap::new();
    }
    let threads = crate::par::cores().min(8);
    let parsed = crate::par::map(threads, 256 << 20, &jobs, |job| {
        Some(crate::syntax::parse(job.id, &job.text))
    });
    let Some(parsed) = parsed else {
        return HashMap::new();
    };
    jobs.into_iter()
        .zip(parsed)
        .map(|(job, parsed)| {
            let prefetched = Prefetched {
                path: job.path,
                text: job.text,
                parsed,
            };
            (job.id, prefetched)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Options, Program};
    use super::*;

    /// Everything `load` gives that parsing decides: each file's name and syntax tree, the
    /// imports, the load diagnostics.
    fn summary(p: &Program) -> String {
        let mut imports: Vec<_> = p.imports.iter().collect();
        imports.sort();
        let files: Vec<String> = p
            .files
            .iter()
            .map(|f| format!("{} {:?}", p.sources.get(f.id).name, f.ast))
            .collect();
        format!("{files:#?}\n{imports:?}\n{:#?}", p.load_diags)
    }

    /// A program whose imports the scan gets wrong in every way it can (an import line in a
    /// string, an import through an interpolation-free but escaped path, a missing file, a file
    /// that is not UTF-8, a file with a syntax error, a stdlib module, a module directory, a
    /// file imported twice): loading with the files parsed ahead gives exactly what loading
    /// one file at a time gives, and most files were parsed ahead.
    #[test]
    fn parsing_ahead_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let write = |name: &str, text: &[u8]| {
            let path = d.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "site.fleet",
            b"import \"./a.fleet\"\nimport \"mod\"\nimport \"apt\"\nlet $s = \"\"\"\nimport \"./ghost.fleet\"\n\"\"\"\n\
              import \"./b\\u{2e}fleet\"\nimport \"./missing.fleet\"\nimport \"./latin1.fleet\"\n\
              node default { include a }\n",
        );
        write("a.fleet", b"import \"./c.fleet\"\nclass a { include c }\n");
        write("b.fleet", b"# b\nclass b { }\n");
        write(
            "c.fleet",
            b"import \"./a.fleet\"\nclass c { file \"/c\" { mode = } }\n",
        );
        write("ghost.fleet", b"class ghost { }\n");
        write("latin1.fleet", b"# caf\xe9\n");
        write(
            "mod/init.fleet",
            b"import \"./part.fleet\"\nclass mod { }\n",
        );
        write("mod/part.fleet", b"define mod::part() { }\n");
        let main = d.join("site.fleet");
        let texts = || {
            vec![(
                main.display().to_string(),
                main.clone(),
                std::fs::read(&main),
            )]
        };
        let one_by_one = Program::load_texts_ahead(texts(), Options::default(), false);
        let ahead = Program::load_texts_ahead(texts(), Options::default(), true);
        assert_eq!(summary(&ahead), summary(&one_by_one));
        assert!(one_by_one.files.len() >= 7, "{}", summary(&one_by_one));
        assert!(one_by_one
            .load_diags
            .iter()
            .any(|d| d.code == crate::diag::Code::Syntax));
        let jobs = predict(&texts(), &[]);
        // site, a, c, mod/init, mod/part, apt; not b (an escape in its path).
        let names: Vec<_> = jobs.iter().map(|j| j.path.display().to_string()).collect();
        assert!(names.iter().any(|n| n.ends_with("part.fleet")), "{names:?}");
        assert!(names.iter().any(|n| n == "<stdlib>/apt.fleet"), "{names:?}");
        assert!(!names.iter().any(|n| n.ends_with("b.fleet")), "{names:?}");
        // The ghost (an import line inside a string) is predicted but never loaded.
        assert!(
            names.iter().any(|n| n.ends_with("ghost.fleet")),
            "{names:?}"
        );
        let loaded = |n: &str| {
            ahead
                .files
                .iter()
                .any(|f| ahead.sources.get(f.id).name.contains(n))
        };
        assert!(!loaded("ghost") && loaded("part.fleet"));
    }

    #[test]
    fn scan_finds_import_lines() {
        let text = "# x\nimport \"./a.fleet\"\n  import 'b'\nimporter \"c\"\nimport \"${d}\"\n\
                    let $x = \"import\"\nimport \"e\" # note\n";
        assert_eq!(scan_imports(text), ["./a.fleet", "b", "e"]);
    }
}
