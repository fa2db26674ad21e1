//! The program a catalog server serves: loaded and checked once per change of the manifest
//! checkout's files (polled, or on SIGHUP), never per request. A change that does not pass
//! `check` is not loaded: the last good program keeps serving and the server is degraded,
//! with the diagnostics.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::catalog::store::ContentStore;
use crate::catalog::{wire, Catalog};
use crate::diag::{has_errors, json, Code, Diagnostic};
use crate::model::value::Value;
use crate::program::{Options, Program};

/// Files a checkout may hold before the watcher stops listing (a clear bound, not a hang).
const MAX_FILES: usize = 100_000;

/// What the server was given to load.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// The main manifest.
    pub file: PathBuf,
    pub modulepath: Vec<PathBuf>,
    /// `--facts DIR`: facts for nodes that have not posted any yet.
    pub facts: Option<PathBuf>,
}

impl Source {
    /// The directories whose files make up the program: the main manifest's directory (its
    /// imports, data levels, `source` files), every `--modulepath` and `--facts`.
    fn roots(&self) -> Vec<PathBuf> {
        let mut roots = vec![self
            .file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()];
        roots.extend(self.modulepath.iter().cloned());
        roots.extend(self.facts.iter().cloned());
        roots
    }

    /// Every regular file under the roots (`.git` skipped, and `skip`), sorted, with its
    /// length and modification time: what the watcher compares.
    pub(crate) fn listing(&self, skip: &[PathBuf]) -> Vec<(PathBuf, u64, i128)> {
        let mut out = Vec::new();
        for root in self.roots() {
            walk(&root, &mut out);
        }
        if !skip.is_empty() {
            let skip: Vec<PathBuf> = skip.iter().map(|p| absolute(p)).collect();
            out.retain(|(p, _, _)| !skip.contains(&absolute(p)));
        }
        out.sort();
        out.dedup();
        out
    }
}

/// `p` made absolute (as given when that fails), for comparing paths.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The files of a SQLite store (`sqlite:PATH`: the database, its WAL, shared memory and
/// journal), which the watcher must not take for manifest files when the store lives in
/// the checkout: every request writes them.
pub(crate) fn store_files(store: &str) -> Vec<PathBuf> {
    let Some(path) = store.strip_prefix("sqlite:") else {
        return Vec::new();
    };
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{path}{suffix}")))
        .collect()
}

/// Adds the files under `path` to `out` (at most [`MAX_FILES`]).
fn walk(path: &Path, out: &mut Vec<(PathBuf, u64, i128)>) {
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if let Ok(entries) = std::fs::read_dir(&p) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if meta.is_file() && out.len() < MAX_FILES {
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            out.push((p, meta.len(), mtime));
        }
    }
}

/// One loaded, checked program and what requests share of it.
pub(crate) struct Generation {
    pub program: Program,
    /// `sha256:<hex>` of every file of the checkout (path and bytes): the same checkout
    /// gives the same version on every server.
    pub version: String,
    /// Blobs the compiled catalogs named (`content_sha256`), filled as nodes compile.
    pub store: ContentStore,
    main_file: String,
}

/// A node's compiled catalog.
pub(crate) struct Compiled {
    /// The catalog JSON (CLI.md's Catalog JSON, as `fleet compile --node` prints it).
    pub body: Vec<u8>,
    /// Its `version`.
    pub version: String,
    /// Every `content_sha256` it names.
    pub shas: HashSet<String>,
}

/// Why a node has no catalog.
pub(crate) enum CompileError {
    /// No node block matches (404), with the diagnostic as a JSON line.
    NoNode(String),
    /// The manifest has errors for this node (422): JSON lines.
    Errors(String),
}

impl Generation {
    /// Compiles one node with the given facts (or, without, its facts files / stand-ins).
    /// CPU-bound: call it on a blocking thread.
    pub(crate) fn compile(
        &self,
        node: &str,
        facts: Option<Value>,
    ) -> Result<Compiled, CompileError> {
        let index = self.program.index();
        let (catalog, diags) = match facts {
            Some(f) => self
                .program
                .compile_with_facts(&index, node, &self.store, f),
            None => self.program.compile_with(&index, node, &self.store),
        };
        match catalog {
            Some(catalog) if !has_errors(&diags) => Ok(self.render(&catalog)),
            _ => {
                let lines = self.lines(&diags);
                if diags.iter().any(|d| d.code == Code::NoNode) {
                    Err(CompileError::NoNode(lines))
                } else {
                    Err(CompileError::Errors(lines))
                }
            }
        }
    }

    /// The catalog's JSON, version and content hashes.
    fn render(&self, catalog: &Catalog) -> Compiled {
        let mut body = Vec::new();
        let version =
            wire::write_pretty(catalog, &self.program.sources, &mut body).unwrap_or_default();
        let shas = catalog
            .resources
            .iter()
            .filter_map(|r| r.params.get("content_sha256"))
            .filter_map(|a| a.value.as_str().map(str::to_string))
            .collect();
        Compiled {
            body,
            version,
            shas,
        }
    }

    /// Diagnostics as JSON lines (CLI.md's diagnostic wire format), errors only.
    fn lines(&self, diags: &[Diagnostic]) -> String {
        diag_lines(diags, &self.program, &self.main_file)
    }
}

/// Diagnostics as JSON lines, the errors only (warnings do not stop a catalog).
fn diag_lines(diags: &[Diagnostic], program: &Program, main_file: &str) -> String {
    let mut out = String::new();
    for d in diags.iter().filter(|d| d.is_error()) {
        out.push_str(&json::to_line(d, &program.sources, main_file));
        out.push('\n');
    }
    out
}

/// The current program (if a good one was ever loaded) and, when the latest change was
/// refused, its diagnostics.
pub(crate) struct Manifest {
    source: Source,
    /// Files under the roots that are not the manifest's ([`store_files`]).
    skip: Vec<PathBuf>,
    current: RwLock<Option<Arc<Generation>>>,
    /// The diagnostics (JSON lines) of the last refused load; `None` when healthy.
    problem: RwLock<Option<String>>,
    /// The listing the current state was loaded from.
    seen: Mutex<Vec<(PathBuf, u64, i128)>>,
}

/// What a (re)load did, for the log.
pub(crate) enum Reload {
    /// Nothing changed on disk.
    Unchanged,
    /// A new program is serving.
    Loaded { version: String },
    /// The change does not check; the last good program (if any) keeps serving.
    Refused { diagnostics: String },
}

impl Manifest {
    /// A manifest with nothing loaded yet (`skip`: files under its roots that are not
    /// its own); call [`Manifest::reload`].
    pub(crate) fn new(source: Source, skip: Vec<PathBuf>) -> Manifest {
        Manifest {
            source,
            skip,
            current: RwLock::new(None),
            problem: RwLock::new(None),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// The program serving now.
    pub(crate) fn current(&self) -> Option<Arc<Generation>> {
        self.current.read().ok().and_then(|g| g.clone())
    }

    /// The diagnostics of a refused change, when the server is degraded.
    pub(crate) fn problem(&self) -> Option<String> {
        self.problem.read().ok().and_then(|p| p.clone())
    }

    /// Loads and checks the checkout when its files changed (or always, with `force`).
    /// CPU-bound: call it on a blocking thread.
    pub(crate) fn reload(&self, force: bool) -> Reload {
        let listing = self.source.listing(&self.skip);
        {
            let Ok(mut seen) = self.seen.lock() else {
                return Reload::Unchanged;
            };
            if !force && *seen == listing {
                return Reload::Unchanged;
            }
            *seen = listing.clone();
        }
        let files = [self.source.file.clone()];
        let program = Program::load(
            &files,
            Options {
                modulepath: self.source.modulepath.clone(),
                facts: self.source.facts.clone(),
            },
        );
        let main_file = self.source.file.to_string_lossy().into_owned();
        let diags = program.check();
        if has_errors(&diags) {
            let diagnostics = diag_lines(&diags, &program, &main_file);
            if let Ok(mut p) = self.problem.write() {
                *p = Some(diagnostics.clone());
            }
            return Reload::Refused { diagnostics };
        }
        let version = version_of(&listing);
        let generation = Generation {
            program,
            version: version.clone(),
            store: ContentStore::new(),
            main_file,
        };
        if let Ok(mut c) = self.current.write() {
            *c = Some(Arc::new(generation));
        }
        if let Ok(mut p) = self.problem.write() {
            *p = None;
        }
        Reload::Loaded { version }
    }
}

/// `sha256:<hex>` of the files' names (relative to nothing: as listed) and bytes.
fn version_of(listing: &[(PathBuf, u64, i128)]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (path, _, _) in listing {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        h.update(name.unwrap_or_default().as_bytes());
        h.update([0]);
        let bytes = std::fs::read(path).unwrap_or_default();
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let digest = h.finalize();
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256:");
    for b in digest.iter() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}
