//! How long `fleet lsp` takes to re-check a 10,000-line manifest after an edit: the work its
//! worker thread does per check (load the buffer, parse, evaluate every node, build catalogs
//! and graphs, lints, convert to LSP diagnostics). Also times `fleet fmt` on the same text.
//!
//! Run with `cargo bench --bench recheck`. Prints min / median / max over the runs.

// `lsp_types::Uri` map keys: hashed by their string (see src/lsp/mod.rs).
#![allow(clippy::mutable_key_type)]

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use fleet::internals::lsp::{convert, worker};
use fleet::internals::program::Options;

/// A manifest of about `lines` lines: classes with packages, files, services and a define
/// instance each, all included by one node.
fn manifest(lines: usize) -> String {
    let mut s = String::from(
        "let $domain = \"example.com\"\n\n\
         define vhost($port: Int = 80, $docroot: Path) {\n  \
           file \"/etc/nginx/sites/${title}.conf\" {\n    \
             content = \"listen ${port}; server_name ${title}.${domain}; root ${docroot};\\n\"\n    \
             mode    = \"0644\"\n  \
           }\n\
         }\n\n",
    );
    let mut n = 0;
    let mut includes = Vec::new();
    while s.lines().count() + 3 < lines {
        s.push_str(&format!(
            "class app_{n}($workers: Int = 4) {{\n  \
               package \"pkg-{n}\" {{ ensure = present }}\n  \
               file \"/etc/app-{n}.conf\" {{\n    \
                 content = \"workers ${{workers}}\\n\"\n    \
                 owner   = \"root\"\n    \
                 require = Package[\"pkg-{n}\"]\n  \
               }}\n  \
               service \"svc-{n}\" {{ ensure = running, enable = true, subscribe = File[\"/etc/app-{n}.conf\"] }}\n  \
               vhost \"site-{n}\" {{ docroot = \"/srv/site-{n}\" }}\n\
             }}\n\n"
        ));
        includes.push(format!("app_{n}"));
        n += 1;
    }
    s.push_str(&format!(
        "node \"web01\" {{\n  include {}\n}}\n",
        includes.join(", ")
    ));
    s
}

fn time(runs: usize, mut f: impl FnMut()) -> (Duration, Duration, Duration) {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    t.sort();
    (t[0], t[runs / 2], t[runs - 1])
}

fn main() {
    let text = manifest(10_000);
    let dir = std::env::temp_dir().join(format!("fleet-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("site.fleet");
    let uri = convert::path_to_uri(&path).unwrap();
    let lines = text.lines().count();
    let open = HashMap::new();
    let options = Options::default();
    let mut count = 0;
    let (min, med, max) = time(10, || {
        let mut program = worker::check(&path, &text, &open, &options);
        let diags = worker::diagnostics(&mut program);
        let grouped = worker::group(&program, &diags, &uri, &|p: &Path| convert::path_to_uri(p));
        count = grouped.values().map(Vec::len).sum::<usize>();
    });
    println!("re-check of a {lines}-line manifest ({count} diagnostics): min {min:?}, median {med:?}, max {max:?}");
    // A request right after an edit loads the buffer on the message loop (then it is cached
    // for that version): load + find what is under the cursor + render the hover.
    let at = text.rfind("vhost \"site-").unwrap() + 1;
    let (min, med, max) = time(10, || {
        let program = fleet::internals::program::Program::load_with(
            vec![(path.clone(), text.clone())],
            Options::default(),
        );
        assert!(fleet::internals::lsp::features::hover(
            &program,
            fleet::internals::source::FileId(0),
            at
        )
        .is_some());
    });
    println!("hover right after an edit (uncached): min {min:?}, median {med:?}, max {max:?}");
    let (min, med, max) = time(10, || {
        fleet::internals::fmt::format_text(fleet::internals::source::FileId(0), &text).unwrap();
    });
    println!("fmt of the same manifest: min {min:?}, median {med:?}, max {max:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
