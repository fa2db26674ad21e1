//! `fleet compile --node NAME FILE` prints one catalog; `fleet compile --all --out DIR FILE`
//! writes every node's catalog and the content store, compiling nodes in parallel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::{ArgGroup, Args};

use super::output::{self, report_to_stderr};
use super::{ManifestArgs, EXIT_ERRORS, EXIT_OK, EXIT_USAGE};
use crate::catalog::store::ContentStore;
use crate::catalog::{self, Catalog};
use crate::diag::{has_errors, Diagnostic};
use crate::program::Program;
use crate::source::Span;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["node", "all"])))]
pub struct CompileArgs {
    /// The node whose catalog to print on stdout.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// Compile every node named in a node block (and `default`) into `--out`.
    #[arg(long, requires = "out")]
    pub all: bool,
    /// With `--all`: where `<node>.json` files and `content/<sha256>` blobs go.
    #[arg(long, value_name = "DIR", requires = "all")]
    pub out: Option<PathBuf>,
    /// The main manifest.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

pub fn run(args: CompileArgs) -> i32 {
    match (&args.node, &args.out) {
        (Some(node), _) => match compile_node(&args.file, &args.manifest, node) {
            Ok((program, catalog)) => {
                let doc = catalog::to_doc(&catalog, &program.sources);
                let _ = output::stdout(&doc.to_pretty());
                EXIT_OK
            }
            Err(code) => code,
        },
        (None, Some(out)) => compile_all(&args.file, &args.manifest, out),
        (None, None) => EXIT_USAGE, // clap's argument group rules this out
    }
}

/// Loads the program of one main manifest, and the name span-less diagnostics are reported
/// against; `Err` is the exit status of a bad invocation.
fn load(file: &Path, manifest: &ManifestArgs) -> Result<(Program, String), i32> {
    let files = [file.to_path_buf()];
    if let Err(msg) = manifest.validate(&files) {
        output::command_error(&msg);
        return Err(EXIT_USAGE);
    }
    let program = Program::load(&files, manifest.options());
    let main_file = super::check::main_file_name(&program, &files);
    Ok((program, main_file))
}

/// Loads `file` and compiles `node`, reporting diagnostics on stderr. Shared with `graph`.
/// `Err` holds the exit status when there is no catalog to show.
pub(super) fn compile_node(
    file: &Path,
    manifest: &ManifestArgs,
    node: &str,
) -> Result<(Program, Catalog), i32> {
    let (program, main_file) = load(file, manifest)?;
    let (catalog, diags) = program.compile(node, &ContentStore::new());
    report_to_stderr(&diags, &program.sources, &main_file);
    match catalog {
        Some(catalog) if !has_errors(&diags) => Ok((program, catalog)),
        Some(_) => Err(EXIT_ERRORS),
        None => {
            if !has_errors(&diags) {
                output::command_error(&format!("no catalog for node `{node}`"));
            }
            Err(EXIT_ERRORS)
        }
    }
}

/// `compile --all`: nothing is written unless every node compiles without errors, so a
/// half-written output directory never looks like a good one.
fn compile_all(file: &Path, manifest: &ManifestArgs, out: &Path) -> i32 {
    let (program, main_file) = match load(file, manifest) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let nodes = program.all_nodes();
    if let Some(bad) = nodes.iter().find(|n| !safe_file_stem(n)) {
        output::command_error(&format!(
            "node name `{bad}` cannot be a file name in {}",
            out.display()
        ));
        return EXIT_ERRORS;
    }
    let store = ContentStore::new();
    let results = compile_parallel(&program, &nodes, &store);

    let mut found = Vec::with_capacity(nodes.len());
    let mut catalogs = Vec::with_capacity(nodes.len());
    for (node, (catalog, diags)) in nodes.iter().zip(results) {
        found.push((node.as_str(), diags));
        catalogs.push((node, catalog));
    }
    let diags = merge_diagnostics(found);
    report_to_stderr(&diags, &program.sources, &main_file);
    if has_errors(&diags) || catalogs.iter().any(|(_, c)| c.is_none()) {
        return EXIT_ERRORS;
    }

    let written = std::fs::create_dir_all(out).and_then(|()| {
        for (node, catalog) in &catalogs {
            let catalog = catalog.as_ref().expect("checked above");
            let doc = catalog::to_doc(catalog, &program.sources);
            doc.write_pretty(std::fs::File::create(out.join(format!("{node}.json")))?)?;
        }
        store.write_to(&out.join("content"))
    });
    match written {
        Ok(()) => EXIT_OK,
        Err(e) => {
            output::command_error(&format!("cannot write to {}: {e}", out.display()));
            EXIT_ERRORS
        }
    }
}

/// A node name that is safe as `<name>.json` inside the output directory.
fn safe_file_stem(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

// `compile --all` shares one `Program` between threads: it must stay `Sync` (no `Rc` or
// `RefCell` inside; use `Arc` and `OnceLock`/`Mutex` for caches).
const _: () = {
    const fn assert_sync<T: Sync>() {}
    assert_sync::<Program>();
    assert_sync::<ContentStore>();
};

/// One node's catalog (None when errors stopped it) and what was found on the way.
pub type Compiled = (Option<Catalog>, Vec<Diagnostic>);

/// Compiles every node on the available cores. Workers take the next node from a shared
/// counter; results come back in `nodes` order, so the output does not depend on timing.
/// The content store is shared: blobs are keyed by their sha256, so insertion order is moot.
pub fn compile_parallel(
    program: &Program,
    nodes: &[String],
    store: &ContentStore,
) -> Vec<Compiled> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(nodes.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, Compiled)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                std::thread::Builder::new()
                    // The same stack the main thread has, so `--all` and `--node` agree
                    // on how deep a manifest may nest.
                    .stack_size(8 << 20)
                    .spawn_scoped(scope, || {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(node) = nodes.get(i) else { break };
                            done.push((i, program.compile(node, store)));
                        }
                        done
                    })
                    .expect("spawn a compile thread")
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// One report per problem across nodes (LANGUAGE.md §10.14: the same code, file and
/// primary span), ordered by file, position and code. A problem that did not show up in
/// every node names the first node it appeared in.
fn merge_diagnostics(per_node: Vec<(&str, Vec<Diagnostic>)>) -> Vec<Diagnostic> {
    let nodes = per_node.len();
    let mut seen: HashMap<(&'static str, Option<Span>), (usize, usize)> = HashMap::new();
    let mut out: Vec<(Diagnostic, &str)> = Vec::new();
    for (node, diags) in per_node {
        for d in diags {
            match seen.get_mut(&(d.code, d.span)) {
                Some((_, count)) => *count += 1,
                None => {
                    seen.insert((d.code, d.span), (out.len(), 1));
                    out.push((d, node));
                }
            }
        }
    }
    let mut out: Vec<Diagnostic> = out
        .into_iter()
        .map(|(mut d, node)| {
            let (_, count) = seen[&(d.code, d.span)];
            if count < nodes && d.node.is_none() {
                d.node = Some(node.to_string());
            }
            d
        })
        .collect();
    out.sort_by_key(|d| (d.span.map(|s| (s.file, s.start)), d.code));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    #[test]
    fn node_names_that_escape_the_directory_are_refused() {
        for ok in ["web01", "web01.example.com", "default"] {
            assert!(safe_file_stem(ok), "{ok}");
        }
        for bad in ["", ".", "..", "../etc/passwd", "a/b", "a\\b"] {
            assert!(!safe_file_stem(bad), "{bad}");
        }
    }

    #[test]
    fn diagnostics_merge_across_nodes() {
        let at = |s| Span::new(FileId(0), s, s + 1);
        let everywhere = || Diagnostic::error("syntax", at(5), "a");
        let per_node = vec![
            (
                "web01",
                vec![
                    everywhere(),
                    Diagnostic::warning("unused-variable", at(1), "b"),
                ],
            ),
            (
                "web02",
                vec![
                    Diagnostic::error("undefined-variable", at(9), "m"),
                    everywhere(),
                ],
            ),
        ];
        let merged = merge_diagnostics(per_node);
        let got: Vec<_> = merged.iter().map(|d| (d.code, d.node.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("unused-variable", Some("web01")),
                ("syntax", None),
                ("undefined-variable", Some("web02")),
            ]
        );
    }
}
