//! The front end as one call: load the files and their imports, evaluate nodes, build
//! catalogs and graphs, collect diagnostics.

use std::path::PathBuf;

use crate::catalog::store::ContentStore;
use crate::catalog::Catalog;
use crate::diag::Diagnostic;
use crate::source::SourceMap;

/// Options every manifest-reading command shares.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--modulepath DIR` (repeatable), searched after the main file's directory.
    pub modulepath: Vec<PathBuf>,
    /// `--facts FILE|DIR`: a facts JSON file, or a directory of `<node>.json`.
    pub facts: Option<PathBuf>,
}

/// A loaded program: every file on the command line and everything it imports.
pub struct Program {
    pub sources: SourceMap,
    pub options: Options,
}

impl Program {
    /// Reads and parses the files and their imports. Problems (unreadable files, syntax
    /// errors, missing imports) are kept for `check`/`compile` to report.
    pub fn load(files: &[PathBuf], options: Options) -> Program {
        let _ = (files, options);
        todo!("Program::load")
    }

    /// `fleet check`: every diagnostic of every node, deduplicated and sorted (§10.14).
    pub fn check(&self) -> Vec<Diagnostic> {
        todo!("Program::check")
    }

    /// `fleet compile --node NAME`: the linked catalog (None when errors stop it) and the
    /// diagnostics found on the way (sorted).
    pub fn compile(&self, node: &str, store: &ContentStore) -> (Option<Catalog>, Vec<Diagnostic>) {
        let _ = (node, store);
        todo!("Program::compile")
    }

    /// The nodes `compile --all` writes: every string-named node, plus `default` when there
    /// is a `default` block or no node block at all.
    pub fn all_nodes(&self) -> Vec<String> {
        todo!("Program::all_nodes")
    }
}
