//! The front end as one call: load the files and their imports, evaluate nodes, build
//! catalogs and graphs, collect diagnostics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::catalog::store::ContentStore;
use crate::catalog::{BuildOptions, Catalog};
use crate::diag::{Code, Diagnostic, Severity};
use crate::eval::data::Data;
use crate::eval::facts;
use crate::eval::index::Index;
use crate::eval::input::{Loaded, LoadedFile};
use crate::eval::{self, lints};
use crate::model::declared::Notice;
use crate::model::value::Value;
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::ast::{self, StmtKind};
use crate::timing;

mod fleet;
mod prefetch;
pub(crate) use fleet::Discovery;

/// Options every manifest-reading command shares.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--modulepath DIR` (repeatable), searched after the main file's directory.
    pub modulepath: Vec<PathBuf>,
    /// `--facts FILE|DIR`: a facts JSON file, or a directory of `<node>.json`.
    pub facts: Option<PathBuf>,
}

/// Modules written in fleet and shipped inside the binary (`stdlib/`).
pub(crate) const STDLIB: &[(&str, &str)] = &[
    ("apt", include_str!("../stdlib/apt.fleet")),
    ("cron", include_str!("../stdlib/cron.fleet")),
    ("ganglia", include_str!("../stdlib/ganglia.fleet")),
    ("logrotate", include_str!("../stdlib/logrotate.fleet")),
    ("motd", include_str!("../stdlib/motd.fleet")),
    ("mysql", include_str!("../stdlib/mysql.fleet")),
    ("nagios", include_str!("../stdlib/nagios.fleet")),
    ("nginx", include_str!("../stdlib/nginx.fleet")),
    ("ntp", include_str!("../stdlib/ntp.fleet")),
    ("php_fpm", include_str!("../stdlib/php_fpm.fleet")),
    ("ssh", include_str!("../stdlib/ssh.fleet")),
    ("sudo", include_str!("../stdlib/sudo.fleet")),
    ("sysctl", include_str!("../stdlib/sysctl.fleet")),
    ("users", include_str!("../stdlib/users.fleet")),
];

/// Import chains deeper than this are refused (a clear error instead of a stack overflow).
const MAX_IMPORT_DEPTH: usize = 256;

/// A loaded program: every file on the command line and everything it imports.
pub struct Program {
    pub sources: SourceMap,
    pub options: Options,
    pub files: Vec<LoadedFile>,
    /// Resolved imports: (importing file, statement index) -> imported file.
    pub imports: HashMap<(FileId, usize), FileId>,
    /// Problems found while loading (unreadable files, syntax errors, missing imports).
    pub load_diags: Vec<Diagnostic>,
    /// The directory of the main (first) file: data levels and facts live beside it.
    pub main_dir: PathBuf,
    pub data: Data,
    /// This machine's facts, for `fleet apply FILE`: they win over facts files for every node.
    pub local_facts: Option<Value>,
    /// The `notice(msg)` calls of the evaluations so far, for the command to print.
    notices: std::sync::Mutex<Vec<Notice>>,
    /// Which of the fleet's built-ins the program calls, the fleet, and the discovery pass
    /// (LANGUAGE.md §6; `program/fleet.rs`), each found once when first needed.
    uses: std::sync::OnceLock<fleet::Uses>,
    fleet: std::sync::OnceLock<eval::fleet::Fleet>,
    discovery: std::sync::OnceLock<Discovery>,
    /// Files parsed ahead of the import loop, by the id it is expected to give them (taken
    /// by `add_file`; empty once loading is done).
    prefetched: HashMap<FileId, prefetch::Prefetched>,
}

impl Program {
    /// Reads and parses the files and their imports. Problems (unreadable files, syntax
    /// errors, missing imports) are kept for `check`/`compile` to report.
    pub fn load(files: &[PathBuf], options: Options) -> Program {
        let mut texts = Vec::new();
        for path in files {
            let name = path.to_string_lossy().into_owned();
            let bytes = crate::limits::read_file(path).map_err(|e| match e {
                crate::limits::ReadError::Io(e) => e,
                other => std::io::Error::other(other.to_string()),
            });
            texts.push((name, path.clone(), bytes));
        }
        Program::load_texts(texts, options)
    }

    /// Like `load`, with the main files' contents given (the language server passes unsaved
    /// editor buffers this way); imports are still read from disk.
    pub fn load_with(files: Vec<(PathBuf, String)>, options: Options) -> Program {
        let texts = files
            .into_iter()
            .map(|(p, t)| (p.to_string_lossy().into_owned(), p, Ok(t.into_bytes())))
            .collect();
        Program::load_texts(texts, options)
    }

    fn load_texts(
        texts: Vec<(String, PathBuf, std::io::Result<Vec<u8>>)>,
        options: Options,
    ) -> Program {
        Program::load_texts_ahead(texts, options, true)
    }

    /// [`Program::load_texts`], parsing the files ahead on every core when `ahead` (the
    /// result is the same either way; `prefetch` tests compare them).
    fn load_texts_ahead(
        texts: Vec<(String, PathBuf, std::io::Result<Vec<u8>>)>,
        options: Options,
        ahead: bool,
    ) -> Program {
        let main_dir = texts
            .first()
            .map(|(_, p, _)| p.parent().unwrap_or(Path::new("")).to_path_buf())
            .unwrap_or_default();
        let bytes: usize = texts
            .iter()
            .map(|(_, _, t)| t.as_ref().map_or(0, Vec::len))
            .sum();
        let big = bytes >= crate::memory::BIG_PROGRAM_BYTES;
        if big {
            crate::memory::set(crate::memory::Freed::Return);
        }
        let mut program = Program {
            sources: SourceMap::new(),
            options,
            files: Vec::new(),
            imports: HashMap::new(),
            load_diags: Vec::new(),
            main_dir,
            data: Data::default(),
            local_facts: None,
            notices: Default::default(),
            uses: Default::default(),
            fleet: Default::default(),
            discovery: Default::default(),
            prefetched: HashMap::new(),
        };
        if ahead {
            program.prefetched = timing::stage(format_args!("parse ahead"), || {
                prefetch::parse_all(prefetch::predict(&texts, &program.options.modulepath))
            });
        }
        let mut by_path: HashMap<PathBuf, FileId> = HashMap::new();
        let mut pending = Vec::new();
        for (name, path, text) in texts {
            let key = canonical(&path);
            if by_path.contains_key(&key) {
                continue;
            }
            let id = match text {
                Ok(bytes) => program.add_bytes(name, path, bytes, true, None),
                Err(e) => {
                    // Kept as an empty file, so file ids and `files` stay in step.
                    let id = program.add_unparsed(name.clone(), path, String::new(), true);
                    program.load_diags.push(Diagnostic::new(
                        Severity::Error,
                        Code::ImportNotFound,
                        Some(Span::new(id, 0, 0)),
                        format!("cannot read {name}: {e}"),
                    ));
                    continue;
                }
            };
            by_path.insert(key, id);
            pending.push(id);
        }
        // Imports, depth first from each main file, each file loaded once. The loop keeps
        // its own stack, so a long chain costs no call stack; the depth limit is checked
        // afterwards, on the shortest chain to each file.
        let mut stack: Vec<(FileId, usize)> = pending.iter().rev().map(|&f| (f, 0)).collect();
        while let Some((file, next_stmt)) = stack.pop() {
            let found = program.files[file.0 as usize]
                .ast
                .items
                .iter()
                .enumerate()
                .skip(next_stmt)
                .find_map(|(i, s)| match &s.kind {
                    StmtKind::Import { path, path_span } => Some((i, path.clone(), *path_span)),
                    _ => None,
                });
            let Some((i, import, span)) = found else {
                continue;
            };
            stack.push((file, i + 1));
            match program.resolve_import(file, &import) {
                Some(Resolved::Disk { path, module_root }) => {
                    let key = canonical(&path);
                    if let Some(&id) = by_path.get(&key) {
                        program.imports.insert((file, i), id);
                        continue;
                    }
                    // A file read (and parsed) ahead for this id and path is not read again.
                    let next = FileId(program.sources.len() as u32);
                    let read = match program.prefetched.get(&next) {
                        Some(p) if p.path == path => Ok(p.text.clone().into_bytes()),
                        _ => crate::limits::read_file(&path),
                    };
                    let bytes = match read {
                        Ok(b) => b,
                        Err(e) => {
                            let code = match e {
                                crate::limits::ReadError::TooBig(_) => Code::ResourceLimit,
                                _ => Code::ImportNotFound,
                            };
                            program.load_diags.push(Diagnostic::error(
                                code,
                                span,
                                format!("cannot read {}: {e}", path.display()),
                            ));
                            continue;
                        }
                    };
                    let name = display_name(&path);
                    let id = program.add_bytes(name, path, bytes, false, module_root);
                    by_path.insert(key, id);
                    program.imports.insert((file, i), id);
                    stack.push((id, 0));
                }
                Some(Resolved::Stdlib(name, text)) => {
                    let key = PathBuf::from(format!("<stdlib>/{name}.fleet"));
                    if let Some(&id) = by_path.get(&key) {
                        program.imports.insert((file, i), id);
                        continue;
                    }
                    let id = program.add_file(
                        format!("stdlib/{name}.fleet"),
                        key.clone(),
                        text.to_string(),
                        false,
                        None,
                    );
                    by_path.insert(key, id);
                    program.imports.insert((file, i), id);
                    stack.push((id, 0));
                }
                None => {
                    let mut d = Diagnostic::error(
                        Code::ImportNotFound,
                        span,
                        format!("cannot find `{import}` to import"),
                    )
                    .with_primary("not found in the module path");
                    d = d.with_note(format!(
                        "looked for `{import}.fleet` and `{import}/init.fleet` beside the importing file, in {} --modulepath director{}, and in the bundled stdlib",
                        program.options.modulepath.len(),
                        if program.options.modulepath.len() == 1 { "y" } else { "ies" }
                    ));
                    program.load_diags.push(d);
                }
            }
        }
        program.limit_import_depth(&pending);
        let main_dir = program.main_dir.clone();
        program.data = Data::load(&main_dir, &mut program.sources);
        let roots: Vec<PathBuf> = program
            .files
            .iter()
            .filter_map(|f| f.module_root.clone())
            .collect();
        for root in roots {
            program.data.load_module(&root, &mut program.sources);
        }
        let data_diags = std::mem::take(&mut program.data.diags);
        program.load_diags.extend(data_diags);
        if big {
            crate::memory::set(crate::memory::Freed::Keep);
        }
        program.prefetched = HashMap::new();
        program
    }

    /// Refuses imports reached only through a chain deeper than [`MAX_IMPORT_DEPTH`] from
    /// the main files: one error per file beyond the limit (at the import that first reaches
    /// it), and that import is cut, so nothing past the limit is evaluated. A file imported
    /// both directly and at the end of a long chain is fine: its shortest chain counts.
    fn limit_import_depth(&mut self, mains: &[FileId]) {
        let mut depth: HashMap<FileId, usize> = mains.iter().map(|&f| (f, 0)).collect();
        let mut queue: std::collections::VecDeque<FileId> = mains.iter().copied().collect();
        let mut cut = Vec::new();
        while let Some(file) = queue.pop_front() {
            let d = depth[&file];
            for (i, stmt) in self.files[file.0 as usize].ast.items.iter().enumerate() {
                let StmtKind::Import { path_span, .. } = &stmt.kind else {
                    continue;
                };
                let Some(&target) = self.imports.get(&(file, i)) else {
                    continue;
                };
                if depth.contains_key(&target) {
                    continue;
                }
                // Breadth first: every file within the limit is found before a file at the
                // limit is scanned, so `target` is first reached here, one past the limit.
                if d >= MAX_IMPORT_DEPTH {
                    cut.push(((file, i), target, *path_span));
                } else {
                    depth.insert(target, d + 1);
                    queue.push_back(target);
                }
            }
        }
        let mut reported = std::collections::HashSet::new();
        for (key, target, span) in cut {
            self.imports.remove(&key);
            if reported.insert(target) {
                self.load_diags.push(
                    Diagnostic::error(
                        Code::ImportNotFound,
                        span,
                        format!("imports nest deeper than {MAX_IMPORT_DEPTH} files"),
                    )
                    .with_primary("this import is one too many")
                    .with_note(format!(
                        "the shortest chain of imports from a main file to `{}` is {} files long",
                        self.sources.get(target).name,
                        MAX_IMPORT_DEPTH + 1
                    )),
                );
            }
        }
    }

    /// Adds a file read from disk: parsed when it is UTF-8, else kept (lossily decoded, so
    /// positions before the bad byte are right) with a `syntax` error at its first invalid
    /// byte and no statements (LANGUAGE.md §1).
    fn add_bytes(
        &mut self,
        name: String,
        path: PathBuf,
        bytes: Vec<u8>,
        main: bool,
        module_root: Option<PathBuf>,
    ) -> FileId {
        match String::from_utf8(bytes) {
            Ok(text) => self.add_file(name, path, text, main, module_root),
            Err(e) => {
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let id = self.add_unparsed(name.clone(), path, text, main);
                self.files.last_mut().expect("just added").module_root = module_root;
                self.load_diags.push(not_utf8(id, &name, &e));
                id
            }
        }
    }

    /// Adds a file without parsing it (unreadable or not UTF-8): no statements.
    fn add_unparsed(&mut self, name: String, path: PathBuf, text: String, main: bool) -> FileId {
        let id = self.sources.add(name, path, text);
        self.files.push(LoadedFile {
            id,
            ast: ast::File {
                items: Vec::new(),
                comments: Vec::new(),
            },
            main,
            module_root: None,
        });
        id
    }

    fn add_file(
        &mut self,
        name: String,
        path: PathBuf,
        text: String,
        main: bool,
        module_root: Option<PathBuf>,
    ) -> FileId {
        // The parse made ahead, when it is of this very file under this id.
        let ahead = match self.prefetched.remove(&FileId(self.sources.len() as u32)) {
            Some(p) if p.path == path && p.text == text => Some(p.parsed),
            _ => None,
        };
        let id = self.sources.add(name, path, text);
        let (ast, diags) = match ahead {
            Some(parsed) => parsed,
            None => timing::stage(format_args!("parse"), || {
                crate::syntax::parse(id, &self.sources.get(id).text)
            }),
        };
        self.load_diags.extend(diags);
        self.files.push(LoadedFile {
            id,
            ast,
            main,
            module_root,
        });
        id
    }

    fn resolve_import(&self, from: FileId, import: &str) -> Option<Resolved> {
        let file = self.sources.get(from);
        let stdlib_file = file.path.starts_with("<stdlib>");
        resolve(file.dir(), stdlib_file, &self.options.modulepath, import)
    }

    /// What evaluation reads of the program (eval takes this, not the `Program`).
    pub fn loaded(&self) -> Loaded<'_> {
        Loaded {
            sources: &self.sources,
            files: &self.files,
            imports: &self.imports,
            data: &self.data,
            main_dir: &self.main_dir,
            modulepath: &self.options.modulepath,
        }
    }

    /// Where module `name` lives (see [`Loaded::module_dir`]).
    fn module_dir(&self, from: FileId, name: &str) -> Option<PathBuf> {
        self.loaded().module_dir(from, name)
    }

    /// True when any file has a syntax error (then nothing is evaluated, §10.6).
    pub fn has_syntax_errors(&self) -> bool {
        self.load_diags.iter().any(|d| d.code == Code::Syntax)
    }

    /// The facts for a node: `--facts`, else `facts/<node>.json` beside the main manifest,
    /// else the stand-in facts. A facts file that is there but unusable (not JSON, not an
    /// object) is a `data-error` naming it (the stand-in facts are evaluated meanwhile).
    pub fn facts_for(&self, node: &str) -> (Value, Option<Diagnostic>) {
        if let Some(v) = &self.local_facts {
            return (v.clone(), None);
        }
        self.file_facts_for(node)
    }

    /// A node's facts from its facts file (or the stand-in facts), never this machine's:
    /// what the other nodes of the fleet are evaluated with (LANGUAGE.md §6).
    fn file_facts_for(&self, node: &str) -> (Value, Option<Diagnostic>) {
        let mut files = Vec::with_capacity(2);
        if let Some(f) = &self.options.facts {
            files.push(if f.is_dir() {
                f.join(format!("{node}.json"))
            } else {
                f.clone()
            });
        }
        files.push(self.main_dir.join("facts").join(format!("{node}.json")));
        for file in files {
            match facts::read_file(&file) {
                Ok(Some(v)) => return (v, None),
                Ok(None) => {}
                Err(e) => {
                    let mut d = Diagnostic::new(Severity::Error, Code::DataError, None, e);
                    d.node = Some(node.to_string());
                    return (facts::stand_in(node), Some(d));
                }
            }
        }
        (facts::stand_in(node), None)
    }

    /// `fleet check`: every diagnostic of every node, deduplicated and sorted (§10.14).
    pub fn check(&self) -> Vec<Diagnostic> {
        on_big_stack(|| self.check_inner())
    }

    fn check_inner(&self) -> Vec<Diagnostic> {
        let mut all = self.load_diags.clone();
        if self.has_syntax_errors() {
            return finish(all, &self.sources);
        }
        let index = timing::stage(format_args!("index"), || Index::build(self.loaded()));
        all.extend(index.diags.iter().cloned());
        let runs = index.check_runs();
        // With `collect` in the program, the discovery pass runs first (LANGUAGE.md §6) and
        // every run sees its data.
        let ctx = self.evaluation_context(&index);
        // Nodes are independent: evaluate them on every core, keeping their order.
        let results = parallel_map(&runs, |(name, node)| {
            let named = node.is_none_or(|run| run.named);
            let (facts, bad_facts) = if named {
                self.facts_for(name)
            } else {
                (facts::stand_in("default"), None)
            };
            let (mut eval, mut diags) = timing::stage(format_args!("evaluate {name}"), || {
                eval::evaluate(self.loaded(), &index, name, node.map(|n| n.def), facts, ctx)
            });
            self.keep_notices(&mut eval.notices);
            diags.extend(bad_facts);
            if named {
                diags.extend(self.check_stable(&index, name, &eval));
            }
            let provision = match (eval.provision.clone(), eval.provision_spans.take()) {
                (Some(values), Some(spans)) => Some((values, spans)),
                _ => None,
            };
            let store = ContentStore::new();
            let resolver = |f: FileId, m: &str| self.module_dir(f, m);
            let opts = BuildOptions {
                module_dir: Some(&resolver),
                load_content: false,
            };
            let (mut catalog, cdiags) = timing::stage(format_args!("catalog {name}"), || {
                crate::catalog::build_with(eval, &self.sources, &store, &opts)
            });
            diags.extend(cdiags);
            diags.extend(timing::stage(format_args!("graph {name}"), || {
                crate::graph::link(&mut catalog)
            }));
            // Freeing 100,000 resources takes tens of milliseconds that nobody waits for:
            // a thread of its own does it (a one-shot `fleet check` exits before it ends).
            let _ = std::thread::Builder::new()
                .name("fleet-free".into())
                .spawn(move || drop(catalog));
            (name.clone(), diags, provision)
        });
        let mut per_node: Vec<(String, Vec<Diagnostic>)> = Vec::with_capacity(results.len());
        let mut provisions = Vec::new();
        for (name, diags, provision) in results {
            provisions.extend(provision);
            per_node.push((name, diags));
        }
        let checked: Vec<String> = per_node.iter().map(|(n, _)| n.clone()).collect();
        per_node.extend(self.check_rest_of_fleet(&index, &checked));
        all.extend(merge_nodes(per_node));
        all.extend(eval::provision::duplicate_addresses(&provisions));
        all.extend(eval::profile::unknown_profiles(&index, &provisions));
        all.extend(timing::stage(format_args!("lints"), || {
            lints::run(self.loaded(), &index)
        }));
        finish(all, &self.sources)
    }

    /// `fleet compile --node NAME`: the linked catalog (None when errors stop it) and the
    /// diagnostics found on the way (sorted).
    pub fn compile(&self, node: &str, store: &ContentStore) -> (Option<Catalog>, Vec<Diagnostic>) {
        self.compile_with(&self.index(), node, store)
    }

    /// The hoisted classes, defines, aliases and node blocks, for [`Program::compile_with`].
    pub fn index(&self) -> Index<'_> {
        Index::build(self.loaded())
    }

    /// Like [`Program::compile`], with the index built once by the caller: `compile --all`
    /// shares one between all nodes instead of hoisting the whole program (and compiling its
    /// node regexes) again for every node, which made it quadratic in the number of nodes.
    pub fn compile_with(
        &self,
        index: &Index<'_>,
        node: &str,
        store: &ContentStore,
    ) -> (Option<Catalog>, Vec<Diagnostic>) {
        on_big_stack(|| self.compile_inner(index, node, store, None))
    }

    /// Like [`Program::compile_with`], with the node's facts given in memory (the catalog
    /// server compiles with the facts an agent posted); they win over facts files.
    pub fn compile_with_facts(
        &self,
        index: &Index<'_>,
        node: &str,
        store: &ContentStore,
        facts: Value,
    ) -> (Option<Catalog>, Vec<Diagnostic>) {
        on_big_stack(|| self.compile_inner(index, node, store, Some(facts)))
    }

    fn compile_inner(
        &self,
        index: &Index<'_>,
        node: &str,
        store: &ContentStore,
        facts: Option<Value>,
    ) -> (Option<Catalog>, Vec<Diagnostic>) {
        let mut all = self.load_diags.clone();
        if self.has_syntax_errors() {
            return (None, finish(all, &self.sources));
        }
        all.extend(index.diags.iter().cloned());
        let Some(block) = index.match_node(node) else {
            let mut d = Diagnostic::new(
                Severity::Error,
                Code::NoNode,
                None,
                format!("no node block matches `{node}` and there is no `node default`"),
            );
            d = d
                .with_note(format!("tried the names `{node}`, then `default`"))
                .with_help("name the node to compile with `--node NAME`, or add a `node default`");
            d.node = Some(node.to_string());
            all.push(d);
            return (None, finish(all, &self.sources));
        };
        // Facts that are not the node's facts file's (an agent's, or this machine's for
        // `fleet apply`): its discovery evaluation, made with the files, is not its own.
        let given_facts = facts.is_some() || self.local_facts.is_some();
        let (facts, bad_facts) = match facts {
            Some(given) => (given, None),
            None => self.facts_for(node),
        };
        all.extend(bad_facts);
        let (mut eval, diags) = timing::stage(format_args!("evaluate {node}"), || {
            self.evaluate_in_fleet(index, node, block, facts, given_facts)
        });
        self.keep_notices(&mut eval.notices);
        all.extend(diags);
        if let (Some(values), Some(spans)) = (&eval.provision, &eval.provision_spans) {
            let record = [(values.clone(), spans.clone())];
            all.extend(eval::profile::unknown_profiles(index, &record));
        }
        let resolver = |f: FileId, m: &str| self.module_dir(f, m);
        let opts = BuildOptions {
            module_dir: Some(&resolver),
            load_content: true,
        };
        let (mut catalog, cdiags) = timing::stage(format_args!("catalog {node}"), || {
            crate::catalog::build_with(eval, &self.sources, store, &opts)
        });
        all.extend(cdiags);
        all.extend(timing::stage(format_args!("graph {node}"), || {
            crate::graph::link(&mut catalog)
        }));
        let all = finish(all, &self.sources);
        if crate::diag::has_errors(&all) {
            (None, all)
        } else {
            (Some(catalog), all)
        }
    }

    /// Keeps a node's `notice()` calls for [`Program::take_notices`].
    fn keep_notices(&self, notices: &mut Vec<Notice>) {
        if notices.is_empty() {
            return;
        }
        if let Ok(mut kept) = self.notices.lock() {
            kept.append(notices);
        }
    }

    /// The `notice(msg)` calls evaluated since the last call, in source order, each once
    /// (`check` evaluates every node: a notice of shared code is printed once).
    pub fn take_notices(&self) -> Vec<Notice> {
        let mut out = match self.notices.lock() {
            Ok(mut kept) => std::mem::take(&mut *kept),
            Err(_) => Vec::new(),
        };
        out.sort();
        out.dedup();
        out
    }

    /// The nodes `compile --all` writes: every string-named node, plus `default` when there
    /// is a `default` block or no node block at all.
    pub fn all_nodes(&self) -> Vec<String> {
        if self.has_syntax_errors() {
            return Vec::new();
        }
        Index::build(self.loaded()).all_nodes()
    }

    /// The node name a machine called `host` compiles as: `host` itself, matched by its own
    /// block or else by `node default` (with neither, the `no-node` error names `host` as
    /// the name tried first, not `default`).
    pub fn node_for_host(&self, host: &str) -> String {
        host.to_string()
    }

    /// The main file (first on the command line), for span-less diagnostics.
    pub fn main_file(&self) -> Option<FileId> {
        self.files.iter().find(|f| f.main).map(|f| f.id)
    }
}

/// The `syntax` error of a file that is not UTF-8, at its first invalid byte (LANGUAGE.md §1),
/// for the file's text decoded lossily (which holds U+FFFD, 3 bytes, where the bad bytes
/// were; positions before it are those of the original).
pub(crate) fn not_utf8(id: FileId, name: &str, e: &std::string::FromUtf8Error) -> Diagnostic {
    let at = e.utf8_error().valid_up_to();
    let bad = e.as_bytes()[at];
    Diagnostic::error(
        Code::Syntax,
        Span::new(id, at, at + '\u{fffd}'.len_utf8()),
        format!("{name} is not valid UTF-8: byte 0x{bad:02x} at offset {at}"),
    )
    .with_primary("invalid UTF-8")
    .with_note("fleet manifests are UTF-8 text")
}

/// `f` over `items` on one large-stack worker per core, results in the order of `items`.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = crate::par::cores().min(items.len());
    if workers >= 2 {
        if let Some(out) = crate::par::map(workers, 256 << 20, items, |x| Some(f(x))) {
            return out;
        }
    }
    items.iter().map(f).collect()
}

/// Runs `f` on a thread with a large stack: evaluation recurses along the nesting of the
/// manifest (bounded by the parser's and evaluator's depth limits, not by the caller's stack).
fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("fleet-eval".into())
            .stack_size(256 << 20)
            .spawn_scoped(s, f)
            .expect("spawning the evaluation thread");
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

enum Resolved {
    Disk {
        path: PathBuf,
        module_root: Option<PathBuf>,
    },
    Stdlib(&'static str, &'static str),
}

/// Where `import` (written in a file in `here`, a stdlib file when `stdlib_file`) leads.
fn resolve(
    here: &Path,
    stdlib_file: bool,
    modulepath: &[PathBuf],
    import: &str,
) -> Option<Resolved> {
    if import.starts_with("./") || import.starts_with("../") || import.starts_with('/') {
        if stdlib_file {
            return None;
        }
        return candidates(&here.join(import)).map(|path| Resolved::Disk {
            path,
            module_root: None,
        });
    }
    if import.is_empty() || import.split('/').any(|s| s.is_empty() || s == "..") {
        return None;
    }
    let mut dirs = Vec::new();
    if !stdlib_file {
        dirs.push(here.to_path_buf());
    }
    dirs.extend(modulepath.iter().cloned());
    for dir in dirs {
        if let Some(path) = candidates(&dir.join(import)) {
            let module_root = path.parent().map(Path::to_path_buf);
            return Some(Resolved::Disk { path, module_root });
        }
    }
    STDLIB
        .iter()
        .find(|(n, _)| *n == import)
        .map(|(n, t)| Resolved::Stdlib(n, t))
}

/// `x.fleet` (or `x` itself when it ends in `.fleet`), else `x/init.fleet`.
fn candidates(base: &Path) -> Option<PathBuf> {
    let s = base.to_string_lossy();
    if s.ends_with(".fleet") {
        return base.is_file().then(|| base.to_path_buf());
    }
    let file = PathBuf::from(format!("{s}.fleet"));
    if file.is_file() {
        return Some(file);
    }
    let init = base.join("init.fleet");
    init.is_file().then_some(init)
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A path as users see it: relative to the working directory when below it.
fn display_name(path: &Path) -> String {
    let path = path.strip_prefix("./").unwrap_or(path);
    path.to_string_lossy().into_owned()
}

/// Same problem (code, file, primary span) found while evaluating several nodes: report it
/// once, naming the first node when it did not appear in all of them.
fn merge_nodes(per_node: Vec<(String, Vec<Diagnostic>)>) -> Vec<Diagnostic> {
    let total = per_node.len();
    let mut seen: HashMap<(Code, Option<Span>, String), (usize, usize)> = HashMap::new();
    let mut out: Vec<Diagnostic> = Vec::new();
    let mut firsts: Vec<String> = Vec::new();
    for (node, diags) in per_node {
        let mut this_node = std::collections::HashSet::new();
        for d in diags {
            let key = (
                d.code,
                d.span,
                if d.span.is_none() {
                    d.message.clone()
                } else {
                    String::new()
                },
            );
            if !this_node.insert(key.clone()) {
                continue;
            }
            match seen.get_mut(&key) {
                Some((_, count)) => *count += 1,
                None => {
                    seen.insert(key, (out.len(), 1));
                    out.push(d);
                    firsts.push(node.clone());
                }
            }
        }
    }
    let counts: HashMap<usize, usize> = seen.values().map(|&(i, c)| (i, c)).collect();
    for (i, d) in out.iter_mut().enumerate() {
        if d.node.is_none() && counts.get(&i).copied().unwrap_or(0) < total {
            d.node = Some(firsts[i].clone());
        }
    }
    out
}

/// Deduplicates and sorts by file, line, column, code (§10.14).
pub(crate) fn finish(mut diags: Vec<Diagnostic>, _sources: &SourceMap) -> Vec<Diagnostic> {
    let mut seen = std::collections::HashSet::new();
    diags.retain(|d| {
        let message = if d.span.is_none() {
            d.message.clone()
        } else {
            String::new()
        };
        seen.insert((d.code, d.span, message))
    });
    diags.sort_by(|a, b| {
        let ka = a.span.map(|s| (s.file, s.start)).unwrap_or_default();
        let kb = b.span.map(|s| (s.file, s.start)).unwrap_or_default();
        (a.span.is_some(), ka, a.code.as_str()).cmp(&(b.span.is_some(), kb, b.code.as_str()))
    });
    diags
}
