//! `fleet compile --node NAME FILE` prints one catalog; `fleet compile --all --out DIR FILE`
//! writes every node's catalog and the content store, compiling nodes in parallel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clap::{ArgGroup, Args};

use super::output::{self, report_to_stderr};
use super::{ExitStatus, ManifestArgs};
use crate::catalog::store::ContentStore;
use crate::catalog::{wire, Catalog};
use crate::diag::{has_errors, Code, Diagnostic};
use crate::program::Program;
use crate::source::{SourceMap, Span};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["node", "all"])))]
pub(crate) struct CompileArgs {
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

pub(crate) fn run(args: CompileArgs) -> ExitStatus {
    match (&args.node, &args.out) {
        (Some(node), _) => match compile_node(&args.file, &args.manifest, node) {
            Ok((program, catalog)) => {
                // Streamed; a reader that went away (`| head`) ends the output quietly, as
                // `output::stdout` does.
                let _ = wire::write_pretty(&catalog, &program.sources, std::io::stdout().lock());
                ExitStatus::Ok
            }
            Err(code) => code,
        },
        (None, Some(out)) => compile_all(&args.file, &args.manifest, out),
        (None, None) => ExitStatus::Usage, // clap's argument group rules this out
    }
}

/// Loads the program of one main manifest, and the name span-less diagnostics are reported
/// against; `Err` is the exit status of a bad invocation.
fn load(file: &Path, manifest: &ManifestArgs) -> Result<(Program, String), ExitStatus> {
    let files = [file.to_path_buf()];
    if let Err(msg) = manifest.validate(&files) {
        output::command_error(&msg);
        return Err(ExitStatus::Usage);
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
) -> Result<(Program, Catalog), ExitStatus> {
    let (program, main_file) = load(file, manifest)?;
    let (catalog, diags) = program.compile(node, &ContentStore::new());
    output::notices(&program);
    report_to_stderr(&diags, &program.sources, &main_file);
    match catalog {
        Some(catalog) if !has_errors(&diags) => Ok((program, catalog)),
        Some(_) => Err(ExitStatus::Errors),
        None => {
            if !has_errors(&diags) {
                output::command_error(&format!("no catalog for node `{node}`"));
            }
            Err(ExitStatus::Errors)
        }
    }
}

/// `compile --all`: nothing is written to `--out` unless every node compiles without errors,
/// so a half-written output directory never looks like a good one. Each worker streams its
/// catalogs into a staging directory inside `--out` and drops them; when every node is done
/// and clean, the content store is written and then the catalogs are renamed into place.
fn compile_all(file: &Path, manifest: &ManifestArgs, out: &Path) -> ExitStatus {
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
        return ExitStatus::Errors;
    }
    let store = ContentStore::new();
    // An unwritable `--out` is reported after the manifest's own problems, as before.
    let staging = Staging::create(out);
    // Once a node has errors (or a write failed) nothing will be kept: later nodes are only
    // compiled for their diagnostics.
    let failed = AtomicBool::new(false);
    let results = compile_parallel(&program, &nodes, &store, |node, catalog, diags| {
        let Ok(staging) = &staging else { return None };
        if has_errors(diags) || failed.load(Ordering::Relaxed) {
            failed.store(true, Ordering::Relaxed);
            return None;
        }
        for sha in catalog.resources.iter().filter_map(|r| r.private_blob()) {
            store.mark_private(sha);
        }
        let written = staging.write(node, &catalog, &program.sources);
        if written.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        Some(written)
    });

    let mut found = Vec::with_capacity(nodes.len());
    let mut writes = Vec::with_capacity(nodes.len());
    let mut no_catalog = false;
    for (node, (written, diags)) in nodes.iter().zip(results) {
        found.push((node.as_str(), diags));
        match written {
            Some(w) => writes.extend(w),
            None => no_catalog = true,
        }
    }
    let diags = merge_diagnostics(found);
    output::notices(&program);
    report_to_stderr(&diags, &program.sources, &main_file);
    if has_errors(&diags) || no_catalog {
        return ExitStatus::Errors; // dropping `staging` removes what it wrote
    }
    let written = staging.and_then(|staging| {
        writes.into_iter().try_for_each(|w| w)?;
        staging.commit(&nodes, &store)
    });
    match written {
        Ok(()) => ExitStatus::Ok,
        Err(e) => {
            output::command_error(&format!("cannot write to {}: {e}", out.display()));
            ExitStatus::Errors
        }
    }
}

/// `compile --all`'s output on its way: catalogs go into `OUT/.fleet-compile-<pid>/` (same
/// filesystem, so they can be renamed into place) until [`Staging::commit`]. Dropped without
/// a commit (errors, a failed write, a panic), it removes the staging directory and the
/// directories it created for `OUT`, so a failed run leaves `OUT` as it found it.
struct Staging {
    out: PathBuf,
    dir: PathBuf,
    /// `OUT` and its ancestors that did not exist, deepest first.
    made: Vec<PathBuf>,
    committed: bool,
}

impl Staging {
    fn create(out: &Path) -> std::io::Result<Staging> {
        let made = out
            .ancestors()
            .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
            .map(Path::to_path_buf)
            .collect();
        let staging = Staging {
            out: out.to_path_buf(),
            dir: out.join(format!(".fleet-compile-{}", std::process::id())),
            made,
            committed: false,
        };
        std::fs::create_dir_all(out)?;
        // Left by an earlier run killed under this same pid: nothing else can be using it.
        let _ = std::fs::remove_dir_all(&staging.dir);
        std::fs::create_dir(&staging.dir)?;
        Ok(staging)
    }

    /// Streams one node's catalog into the staging directory (one pass: a file can seek back
    /// to put the version in); mode 0600 when it holds a private resource
    /// ([`Resource::is_private`](crate::model::declared::Resource::is_private)), else 0644.
    fn write(&self, node: &str, catalog: &Catalog, sources: &SourceMap) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let private = catalog.resources.iter().any(|r| r.is_private());
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(if private { 0o600 } else { 0o644 })
            .open(self.dir.join(format!("{node}.json")))?;
        wire::write_pretty_seekable(catalog, sources, file).map(drop)
    }

    /// Writes the content store into `OUT/content`, then moves every node's catalog into
    /// `OUT` (content first, so a catalog in `OUT` never names a blob that is not there).
    fn commit(mut self, nodes: &[String], store: &ContentStore) -> std::io::Result<()> {
        store.write_to(&self.out.join("content"))?;
        for node in nodes {
            let name = format!("{node}.json");
            std::fs::rename(self.dir.join(&name), self.out.join(&name))?;
        }
        std::fs::remove_dir(&self.dir)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        for dir in &self.made {
            // Only while empty: a content store already written stays.
            let _ = std::fs::remove_dir(dir);
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

/// What `render` made of one node's catalog (None when there was no catalog) and what was
/// found on the way.
pub(crate) type Compiled<T> = (Option<T>, Vec<Diagnostic>);

/// Compiles every node on the available cores and passes each catalog (with the node's name
/// and diagnostics) to `render` on the same worker, which drops it. Workers take the next node from a shared counter; results come back in
/// `nodes` order, so the output does not depend on timing. The program's index is built
/// once and shared. The content store is shared: blobs are keyed by their sha256, so
/// insertion order is moot.
pub(crate) fn compile_parallel<T: Send>(
    program: &Program,
    nodes: &[String],
    store: &ContentStore,
    render: impl Fn(&str, Catalog, &[Diagnostic]) -> T + Sync,
) -> Vec<Compiled<T>> {
    let index = program.index();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(nodes.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, Compiled<T>)> = std::thread::scope(|scope| {
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
                            let (catalog, diags) = program.compile_with(&index, node, store);
                            let rendered = catalog.map(|c| render(node, c, &diags));
                            done.push((i, (rendered, diags)));
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
    let mut seen: HashMap<(Code, Option<Span>), (usize, usize)> = HashMap::new();
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
    out.sort_by_key(|d| (d.span.map(|s| (s.file, s.start)), d.code.as_str()));
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

    /// Every entry under `dir` (relative path, and bytes for files), sorted.
    fn tree(dir: &Path) -> Vec<(String, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                if path.is_dir() {
                    out.push((rel, None));
                    stack.push(path);
                } else {
                    out.push((rel, Some(std::fs::read(&path).unwrap())));
                }
            }
        }
        out.sort();
        out
    }

    /// A site of two nodes, one of them with a `source` file (a content store blob); `bad`
    /// gives `db01` an error.
    fn site(dir: &Path, bad: bool) -> PathBuf {
        std::fs::write(dir.join("motd"), "hello\n").unwrap();
        let db = if bad { "$nowhere" } else { "\"db\\n\"" };
        let text = format!(
            "node \"web01\" {{\n  file \"/etc/motd\" {{ source = \"motd\" }}\n  \
             package \"nginx\" {{ ensure = latest, before = File[\"/etc/motd\"] }}\n}}\n\
             node \"db01\" {{ file \"/etc/role\" {{ content = {db} }} }}\n"
        );
        let file = dir.join("site.fleet");
        std::fs::write(&file, text).unwrap();
        file
    }

    #[test]
    fn compile_all_writes_every_catalog_and_the_content_store() {
        let tmp = tempfile::tempdir().unwrap();
        let file = site(tmp.path(), false);
        let out = tmp.path().join("a/b/out");
        assert_eq!(
            compile_all(&file, &ManifestArgs::default(), &out),
            ExitStatus::Ok
        );
        let got = tree(&out);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        let sha = crate::model::digest::sha256_hex(b"hello\n");
        let blob = format!("content/{sha}");
        assert_eq!(
            names,
            ["content", blob.as_str(), "db01.json", "web01.json"],
            "no staging directory is left"
        );
        // The same bytes `--node` prints.
        let program = Program::load(std::slice::from_ref(&file), Default::default());
        for (node, (_, bytes)) in [("db01", &got[2]), ("web01", &got[3])] {
            let (catalog, _) = program.compile(node, &ContentStore::new());
            let expected = wire::to_pretty(&catalog.unwrap(), &program.sources);
            assert_eq!(
                std::str::from_utf8(bytes.as_ref().unwrap()).unwrap(),
                expected
            );
        }
        // A second run over the same directory gives the same tree.
        assert_eq!(
            compile_all(&file, &ManifestArgs::default(), &out),
            ExitStatus::Ok
        );
        assert_eq!(tree(&out), got);
    }

    #[test]
    fn compile_all_writes_private_catalogs_and_blobs_0600() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("key"), "private key\n").unwrap();
        std::fs::write(tmp.path().join("motd"), "hello\n").unwrap();
        let file = tmp.path().join("site.fleet");
        std::fs::write(
            &file,
            "node \"web01\" { file \"/etc/motd\" { source = \"motd\" } }\n\
             node \"tls01\" { file \"/etc/key\" { source = \"key\", mode = \"0640\" } }\n\
             node \"db01\" { file \"/etc/db\" { content = sensitive(\"pw\") } }\n",
        )
        .unwrap();
        let out = tmp.path().join("out");
        assert_eq!(
            compile_all(&file, &ManifestArgs::default(), &out),
            ExitStatus::Ok
        );
        let mode = |rel: &str| {
            std::fs::metadata(out.join(rel))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        let sha = |b: &[u8]| format!("content/{}", crate::model::digest::sha256_hex(b));
        assert_eq!(mode("db01.json"), 0o600, "a Sensitive content");
        assert_eq!(mode("tls01.json"), 0o600, "a file others cannot read");
        assert_eq!(mode(&sha(b"private key\n")), 0o600);
        assert_eq!(mode("web01.json") & 0o600, 0o600);
        assert_eq!(mode(&sha(b"hello\n")) & 0o004, 0o004 & !umask());
        // A blob left 0644 by an older run is narrowed.
        let key = out.join(sha(b"private key\n"));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            compile_all(&file, &ManifestArgs::default(), &out),
            ExitStatus::Ok
        );
        assert_eq!(mode(&sha(b"private key\n")), 0o600);
    }

    /// The process's umask (read by setting it and putting it back).
    fn umask() -> u32 {
        use rustix::fs::Mode;
        let m = rustix::process::umask(Mode::from_raw_mode(0o022));
        rustix::process::umask(m);
        m.as_raw_mode()
    }

    #[test]
    fn compile_all_with_errors_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let file = site(tmp.path(), true);
        // A new directory is not left behind, nor the parents made for it.
        let out = tmp.path().join("a/b/out");
        assert_eq!(
            compile_all(&file, &ManifestArgs::default(), &out),
            ExitStatus::Errors
        );
        assert!(!tmp.path().join("a").exists());
        // An existing one is left as it was: old catalogs stay, no new ones, no staging.
        let out = tmp.path().join("old");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("web01.json"), "old").unwrap();
        let before = tree(&out);
        assert_eq!(
            compile_all(&file, &ManifestArgs::default(), &out),
            ExitStatus::Errors
        );
        assert_eq!(tree(&out), before);
    }

    #[test]
    fn compile_all_into_an_unwritable_place_fails_cleanly() {
        let tmp = tempfile::tempdir().unwrap();
        let file = site(tmp.path(), false);
        let out = tmp.path().join("taken");
        std::fs::write(&out, "a file").unwrap();
        assert_eq!(
            compile_all(&file, &ManifestArgs::default(), &out),
            ExitStatus::Errors
        );
        assert_eq!(std::fs::read(&out).unwrap(), b"a file");
    }

    #[test]
    fn diagnostics_merge_across_nodes() {
        let at = |s| Span::new(FileId(0), s, s + 1);
        let everywhere = || Diagnostic::error(Code::Syntax, at(5), "a");
        let per_node = vec![
            (
                "web01",
                vec![
                    everywhere(),
                    Diagnostic::warning(Code::UnusedVariable, at(1), "b"),
                ],
            ),
            (
                "web02",
                vec![
                    Diagnostic::error(Code::UndefinedVariable, at(9), "m"),
                    everywhere(),
                ],
            ),
        ];
        let merged = merge_diagnostics(per_node);
        let got: Vec<_> = merged.iter().map(|d| (d.code, d.node.as_deref())).collect();
        assert_eq!(
            got,
            [
                (Code::UnusedVariable, Some("web01")),
                (Code::Syntax, None),
                (Code::UndefinedVariable, Some("web02")),
            ]
        );
    }
}
