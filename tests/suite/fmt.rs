//! `fleet fmt` over every conformance case (shared and the project's) and every example: idempotent, and meaning-
//! preserving (same diagnostics, same catalog for every node, source positions aside). The
//! deliberate syntax-error cases must be refused and left untouched.

use crate::support;

use std::path::{Path, PathBuf};

use fleet::internals::catalog::store::ContentStore;
use fleet::internals::program::{Options, Program};
use support::command;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn fleet_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            fleet_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "fleet") {
            out.push(p);
        }
    }
}

/// What a manifest means: its diagnostics (severity and code) and every node's catalog
/// without source positions and version hash.
fn meaning(path: &Path) -> String {
    let program = Program::load(&[path.to_path_buf()], Options::default());
    let mut out = String::new();
    let mut diags: Vec<String> = program
        .check()
        .iter()
        .map(|d| format!("{} {} {:?}", d.severity.as_str(), d.code, d.node))
        .collect();
    diags.sort();
    out.push_str(&diags.join("\n"));
    for node in program.all_nodes() {
        let store = ContentStore::new();
        let (catalog, _) = program.compile(&node, &store);
        out.push_str(&format!("\n== {node}\n"));
        if let Some(c) = catalog {
            let mut doc =
                serde_json::to_value(fleet::internals::catalog::to_doc(&c, &program.sources))
                    .unwrap();
            doc["version"] = serde_json::Value::Null;
            for r in doc["resources"].as_array_mut().unwrap() {
                r.as_object_mut().unwrap().remove("source");
            }
            out.push_str(&serde_json::to_string_pretty(&doc).unwrap());
        }
    }
    out
}

fn expects_syntax_error(path: &Path) -> bool {
    // Lossily: a case may be deliberately not UTF-8 (a syntax error, LANGUAGE.md §1).
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .any(|l| l.starts_with("# expect: error syntax"))
}

#[test]
fn fmt_is_idempotent_and_keeps_every_catalog() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let before = tmp.path().join("before");
    let after = tmp.path().join("after");
    for (src, name) in [
        (root.join("../shared/conformance"), "conformance"),
        (root.join("tests/cases"), "cases"),
        (root.join("examples"), "examples"),
        (root.join("tests/ports"), "ports"),
    ] {
        if src.is_dir() {
            copy_tree(&src, &before.join(name));
            copy_tree(&src, &after.join(name));
        }
    }
    // `next/` holds the cases of features still being built (the cases' README): their
    // syntax may not parse yet. They join this walk when they move to check/ and compile/.
    for dir in [&before, &after] {
        let _ = std::fs::remove_dir_all(dir.join("conformance/next"));
    }
    let mut files = Vec::new();
    fleet_files(&after, &mut files);
    assert!(
        files.len() > 30,
        "the conformance cases are missing: {files:?}"
    );

    let mut refused = 0;
    let mut formatted = 0;
    for file in &files {
        let rel = file.strip_prefix(&after).unwrap();
        let original = before.join(rel);
        let text = std::fs::read(file).unwrap();
        let run = support::run(command().arg("fmt").arg(file));
        if expects_syntax_error(file) {
            assert_eq!(
                run.status.code(),
                Some(1),
                "{}: fmt must refuse a file with syntax errors",
                rel.display()
            );
            let stderr = &run.stderr;
            assert!(stderr.contains("syntax"), "{}: {stderr}", rel.display());
            assert_eq!(
                std::fs::read(file).unwrap(),
                text,
                "{} was modified",
                rel.display()
            );
            refused += 1;
            continue;
        }
        assert!(
            run.status.success(),
            "{}: fmt failed: {}",
            rel.display(),
            run.stderr
        );
        let once = std::fs::read_to_string(file).unwrap();
        // Idempotent: a second run changes nothing and --check agrees.
        let check = support::run(command().args(["fmt", "--check"]).arg(file));
        assert!(
            check.status.success(),
            "{}: not idempotent; --check says: {}",
            rel.display(),
            check.stdout
        );
        let run2 = support::run(command().arg("fmt").arg(file));
        assert!(run2.status.success());
        assert_eq!(
            std::fs::read_to_string(file).unwrap(),
            once,
            "{}: second run changed it",
            rel.display()
        );
        // Comments survive.
        let comments = |t: &str| {
            t.lines()
                .filter(|l| l.trim_start().starts_with('#'))
                .count()
        };
        assert!(
            comments(&once) >= comments(&String::from_utf8_lossy(&text)),
            "{}: comment lines lost",
            rel.display()
        );
        // Meaning-preserving.
        assert_eq!(
            meaning(&original),
            meaning(file),
            "{}: meaning changed",
            rel.display()
        );
        formatted += 1;
    }
    assert_eq!(refused, 3, "the three syntax-error cases");
    assert!(formatted >= 41, "{formatted}");
}

#[test]
fn check_flag_reports_files_that_would_change() {
    let tmp = tempfile::tempdir().unwrap();
    let messy = tmp.path().join("messy.fleet");
    let tidy = tmp.path().join("tidy.fleet");
    let messy_text = "package   \"ntp\"{ensure=latest}\nservice \"ntp\" {\nensure = running\n    enable = true }\n";
    std::fs::write(&messy, messy_text).unwrap();
    std::fs::write(&tidy, "package \"ntp\" { ensure = latest }\n").unwrap();
    let out = support::run(command().args(["fmt", "--check"]).arg(&messy).arg(&tidy));
    assert_eq!(out.status.code(), Some(1));
    let stdout = &out.stdout;
    assert!(
        stdout.contains("messy.fleet") && !stdout.contains("tidy.fleet"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        messy_text,
        "--check changes nothing"
    );

    let out = support::run(command().arg("fmt").arg(&messy));
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        "package \"ntp\" { ensure = latest }\n\nservice \"ntp\" {\n  ensure = running\n  enable = true\n}\n"
    );
}

/// Class arguments written on lines of their own keep one per line (with a trailing comma
/// and their comments), as array and map literals do; written on one line, or hugging a
/// multi-line value, they stay as they are.
#[test]
fn include_arguments_written_over_lines_stay_one_per_line() {
    let input = r#"node "ntp01" {
  include ntp(servers = ["a", "b"],   # two
     iburst_enable = false, pool = {
       a: 1 })
  include motd(content = "hi")
  include users(groups = ["ops"], accounts = {
    "alice": { "uid": 2001 },
  })
}
"#;
    let expected = r#"node "ntp01" {
  include ntp(
    servers = ["a", "b"], # two
    iburst_enable = false,
    pool = {
      a: 1,
    },
  )
  include motd(content = "hi")
  include users(groups = ["ops"], accounts = {
    "alice": { "uid": 2001 },
  })
}
"#;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("site.fleet");
    std::fs::write(&file, input).unwrap();
    let run = support::run(command().arg("fmt").arg(&file));
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), expected);
    let again = support::run(command().args(["fmt", "--check"]).arg(&file));
    assert!(again.status.success(), "not idempotent: {}", again.stdout);
}

#[test]
fn layout_aligns_attributes_and_keeps_comments_in_place() {
    let input = r#"# header comment
import "ntp"
import "./roles/web.fleet"
let $a = 1
let $b = [1,2,
  3]   # trailing
class web($port: Int = 80, $docroot: Path) {
# inside
    file "/etc/motd" {
        content = """
          Hello ${facts.hostname}
          """
        mode="0644" # world-readable
        owner = root


        notify = Service["x"]
    }
  if $port == 80 { notice("default") } else { warning("custom") }
}
node "web01" { include web(docroot = "/srv") }
"#;
    let expected = r#"# header comment
import "ntp"
import "./roles/web.fleet"

let $a = 1

let $b = [
  1,
  2,
  3,
] # trailing

class web($port: Int = 80, $docroot: Path) {
  # inside
  file "/etc/motd" {
    content = """
          Hello ${facts.hostname}
          """
    mode    = "0644" # world-readable
    owner   = root

    notify  = Service["x"]
  }
  if $port == 80 {
    notice("default")
  } else {
    warning("custom")
  }
}

node "web01" {
  include web(docroot = "/srv")
}
"#;
    let out =
        fleet::internals::fmt::format_text(fleet::internals::source::FileId(0), input).unwrap();
    assert_eq!(out, expected);
    let again =
        fleet::internals::fmt::format_text(fleet::internals::source::FileId(0), &out).unwrap();
    assert_eq!(again, out);
}

/// The manifests the project ships (the examples, the stdlib) are in `fleet fmt`'s layout,
/// so a newcomer who runs it on a copy sees no change but their own.
#[test]
fn shipped_manifests_are_in_fmt_layout() {
    let root = support::root();
    let mut files = Vec::new();
    for dir in ["examples", "stdlib"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "fleet") {
                    files.push(p);
                }
            }
        }
    }
    assert!(files.len() > 20, "{files:?}");
    let out = support::run(command().args(["fmt", "--check"]).args(&files));
    assert_eq!(out.status.code(), Some(0), "{}", out.stdout);
}
