//! What evaluation reads of a loaded program, and nothing more: the sources, the parsed files
//! in load order, how their imports resolved, the data levels, and where modules are looked
//! up (for `module:path` in `source`, `template()`, `file()`).
//!
//! `program::Program` loads all of this and hands it over as a [`Loaded`] view
//! (`Program::loaded`); eval never sees the program's options, load diagnostics or facts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::data::Data;
use crate::source::{FileId, SourceMap};
use crate::syntax::ast;

/// One loaded file.
pub struct LoadedFile {
    pub id: FileId,
    pub ast: ast::File,
    /// True for files named on the command line.
    pub main: bool,
    /// For a file loaded as a module (`import "ntp"`): the folder holding it.
    pub module_root: Option<PathBuf>,
}

/// A loaded program as evaluation sees it (borrowed from the `Program` that owns it).
#[derive(Clone, Copy)]
pub struct Loaded<'a> {
    pub sources: &'a SourceMap,
    /// In load order; `files[i].id == FileId(i)` for every parsed file.
    pub files: &'a [LoadedFile],
    /// Resolved imports: (importing file, statement index) -> imported file.
    pub imports: &'a HashMap<(FileId, usize), FileId>,
    pub data: &'a Data,
    /// The directory of the main (first) file.
    pub main_dir: &'a Path,
    /// `--modulepath` directories, searched after the file's and the main file's directory.
    pub modulepath: &'a [PathBuf],
}

impl<'a> Loaded<'a> {
    /// Where module `name` lives (for `"name:path"` references): `DIR/name/` in the main
    /// file's directory or a `--modulepath` directory.
    pub fn module_dir(&self, from: FileId, name: &str) -> Option<PathBuf> {
        let here = self.sources.get(from).dir().to_path_buf();
        std::iter::once(here)
            .chain(std::iter::once(self.main_dir.to_path_buf()))
            .chain(self.modulepath.iter().cloned())
            .map(|d| d.join(name))
            .find(|d| d.is_dir())
    }

    /// Resolves a path written in `from` (`source`, `template()`, `file()`): relative to the
    /// file's directory, or `module:path` inside a module. `None` when the module is unknown.
    pub fn resolve_path(&self, from: FileId, written: &str) -> Option<PathBuf> {
        if let Some((prefix, rest)) = written.split_once(':') {
            let is_ident = !prefix.is_empty()
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && !prefix.starts_with(|c: char| c.is_ascii_digit());
            if is_ident {
                return self.module_dir(from, prefix).map(|d| d.join(rest));
            }
        }
        let p = Path::new(written);
        if p.is_absolute() {
            Some(p.to_path_buf())
        } else {
            Some(self.sources.get(from).dir().join(p))
        }
    }
}
