//! Resource types and their schemas, validation, identity, the catalog and its wire format.
//!
//! `build` turns one node's `NodeEval` into a `Catalog` (`graph::link` then adds implicit
//! edges); `wire` writes its catalog JSON straight from it (`fleet compile`), `to_doc` builds
//! the same wire document as a `json::CatalogDoc` value (the reference the writer and the
//! apply engine's catalog input are tested against; `resource_doc` is its per-resource part). Decisions where
//! LANGUAGE.md is silent:
//!
//! - Identity is the namevar's String value, else the title; `file` paths lose trailing
//!   slashes (`/etc/nginx/` is `File[/etc/nginx]`).
//! - Duplicates merge when their attributes are equal with metaparameters (`noop`, `alias`)
//!   and `none`s left out. A conflicting second declaration is reported (with its own
//!   problems) and dropped, with the relationships it declared.
//! - A reference matches by identity, then by title, then by `alias`; class names compare
//!   case-insensitively. A reference to a declaration of an unknown type stays quiet (its
//!   `unknown-resource-type` says it all).
//! - `params` hold no metaparameter (`noop` and `alias` are checked, then left out, as
//!   CLI.md says; per-resource `noop` needs a wire field first). A release keeps `repo` and
//!   `revision` and gains `commit` and `content_sha256`; a release without `version` gets one
//!   (12 hex digits of the content's sha256, or of the commit).
//! - A directory `source` is stored as a tar: entries sorted, directories with a trailing
//!   `/`, mtimes/uids/gids zero, modes 0755 (any x bit) or 0644, symlinks kept.

mod build;
pub(crate) mod content;
pub(crate) mod diff;
mod identity;
pub(crate) mod json;
mod relate;
pub(crate) mod store;
mod validate;
pub(crate) mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

use std::path::PathBuf;

use indexmap::IndexMap;

use crate::diag::Diagnostic;
use crate::model::declared::{NodeEval, Resource};
use crate::model::value::Value;
use crate::source::{FileId, SourceMap};
pub(crate) use identity::normalize_path;
use store::ContentStore;
pub(crate) use validate::check_doc;

/// One node's catalog: validated native resources (duplicates merged) and their edges.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub node: String,
    pub resources: Vec<Resource>,
    /// Explicit edges (from `catalog::build`) and implicit ones (added by `graph::link`),
    /// each pair once, sorted by (from, to) position.
    pub edges: Vec<Edge>,
    pub provision: Option<IndexMap<String, Value>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Indices into `Catalog::resources` (u32: a node has far fewer than 4 billion resources,
    /// and a 100,000-resource node has half a million edges).
    pub from: u32,
    pub to: u32,
    pub refresh: bool,
    pub implicit: bool,
}

impl Edge {
    /// (from, to) as one integer, in the same order: what edges are sorted by.
    #[inline]
    pub fn key(&self) -> u64 {
        pair_key(self.from, self.to)
    }
}

/// A (from, to) pair of positions as one integer ordered as the pair.
#[inline]
pub(crate) fn pair_key(from: u32, to: u32) -> u64 {
    (u64::from(from) << 32) | u64::from(to)
}

/// Finds the directory of a module by name, for a path written in the given file (e.g.
/// `|from, name| loaded.module_dir(from, name)`).
pub(crate) type ModuleResolver<'a> = &'a dyn Fn(FileId, &str) -> Option<PathBuf>;

/// How [`build_with`] finds things outside the manifest.
#[derive(Clone, Copy)]
pub(crate) struct BuildOptions<'a> {
    /// Finds a module's directory for `"module:path"` sources. Without it, `DIR/<module>/`
    /// beside the file the path is written in or beside the main (first) file is used, else the
    /// folder of a loaded `<module>/init.fleet`; `--modulepath` directories need the resolver.
    pub module_dir: Option<ModuleResolver<'a>>,
    /// Read `source` files and export `repo` revisions into the store (default true). When
    /// false (`fleet check`), a `source` is only checked to exist, and `params` keep `source`
    /// and `repo` as written.
    pub load_content: bool,
}

impl Default for BuildOptions<'_> {
    fn default() -> Self {
        BuildOptions {
            module_dir: None,
            load_content: true,
        }
    }
}

/// Validates one node's evaluation and builds its catalog: unknown types and attributes,
/// enum values, modes, paths, required attributes, identity by namevar, duplicate merging,
/// reference resolution, relationship expansion onto native resources, `source` reading
/// (into `store`). Reports every problem it finds.
#[cfg(test)]
pub(crate) fn build(
    eval: NodeEval,
    sources: &SourceMap,
    store: &ContentStore,
) -> (Catalog, Vec<Diagnostic>) {
    build_with(eval, sources, store, &BuildOptions::default())
}

/// [`build`] with options: a module resolver for `module:path` sources, and whether to load
/// content. A `file`'s or `release`'s `source` becomes `content_sha256` in `params` (same
/// position and spans); a release's `repo` adds `commit` and `content_sha256` (`repo` and
/// `revision` stay); a release without `version` gets the first 12 hex digits of the
/// content's sha256 (or of the commit). Metaparameters are not in `params` (`alias` names
/// the resource for references).
pub(crate) fn build_with(
    eval: NodeEval,
    sources: &SourceMap,
    store: &ContentStore,
    opts: &BuildOptions,
) -> (Catalog, Vec<Diagnostic>) {
    build::build(eval, sources, store, opts)
}

/// The wire document for a linked catalog (sealed: `version` set).
pub fn to_doc(catalog: &Catalog, sources: &SourceMap) -> json::CatalogDoc {
    let mut doc = unsealed_doc(catalog, sources);
    doc.version = wire::version(catalog, sources);
    doc
}

/// The wire document with `version` empty.
fn unsealed_doc(catalog: &Catalog, sources: &SourceMap) -> json::CatalogDoc {
    // Each resource's `Type[title]` once, not once per edge end (4–5 edges a resource).
    let refs: Vec<String> = catalog
        .resources
        .iter()
        .map(|r| json::reference(&r.kind, &r.title))
        .collect();
    let name = |i: usize| refs[i].clone();
    let edges = catalog
        .edges
        .iter()
        .map(|e| json::EdgeDoc {
            from: name(e.from as usize),
            to: name(e.to as usize),
            refresh: e.refresh,
        })
        .collect();
    json::CatalogDoc {
        format: json::FORMAT,
        node: catalog.node.clone(),
        version: String::new(),
        resources: catalog
            .resources
            .iter()
            .map(|r| resource_doc(r, sources))
            .collect(),
        edges,
        provision: catalog
            .provision
            .as_ref()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
    }
}

/// One resource of the wire document (what `fleet apply FILE` hands the providers, one at
/// a time).
pub(crate) fn resource_doc(r: &Resource, sources: &SourceMap) -> json::ResourceDoc {
    let (file, line, column) = if (r.kind_span.file.0 as usize) < sources.len() {
        let f = sources.get(r.kind_span.file);
        let (line, column) = f.line_col(r.kind_span.start as usize);
        (f.name.clone(), line, column)
    } else {
        (String::new(), 0, 0)
    };
    let mut params = IndexMap::with_capacity(r.params.len());
    for (k, a) in r.params.iter() {
        params.insert(k.as_str().to_owned(), a.value.to_json());
    }
    json::ResourceDoc {
        kind: r.kind.as_str().to_owned(),
        title: r.title.clone(),
        label: r.label.as_deref().map(str::to_owned),
        params,
        tags: r.tags.iter().map(|t| t.as_str().to_owned()).collect(),
        source: json::SourceDoc { file, line, column },
    }
}
