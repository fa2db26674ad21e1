//! `textDocument/documentSymbol` and `workspace/symbol`: the outline of a file (profiles,
//! classes, defines, nodes, type aliases, top-level `let`s, and the resources inside each)
//! and the fleet's classes, defines, nodes and profiles by name across every loaded file.

#![allow(deprecated)] // lsp-types' symbol structs carry the deprecated `deprecated` field.

use lsp_types::{DocumentSymbol, Location, SymbolInformation, SymbolKind, Uri};

use super::convert;
use crate::program::Program;
use crate::source::{FileId, Span};
use crate::syntax::ast::*;

/// The outline of `file`: its statements' symbols, resources nested in their class, define
/// or node.
pub(crate) fn document(program: &Program, file: FileId) -> Vec<DocumentSymbol> {
    let Some(f) = program.files.iter().find(|f| f.id == file) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in &f.ast.items {
        statement(program, s, true, &mut out);
    }
    out
}

/// The classes, defines, nodes and install profiles of every loaded file whose name
/// contains `query` (any case; an empty query matches all), each with its file's URI as
/// `uri_of` gives it (files without one are left out).
pub(crate) fn workspace(
    program: &Program,
    query: &str,
    uri_of: &dyn Fn(FileId) -> Option<Uri>,
) -> Vec<SymbolInformation> {
    let query = query.to_lowercase();
    let mut out = Vec::new();
    for f in &program.files {
        let Some(uri) = uri_of(f.id) else { continue };
        let mut symbols = Vec::new();
        for s in &f.ast.items {
            statement(program, s, false, &mut symbols);
        }
        for d in symbols {
            if !query.is_empty() && !d.name.to_lowercase().contains(&query) {
                continue;
            }
            out.push(SymbolInformation {
                name: d.name,
                kind: d.kind,
                tags: None,
                deprecated: None,
                location: Location::new(uri.clone(), d.selection_range),
                container_name: None,
            });
        }
    }
    out
}

/// The symbols of one statement; `inner`: also the resources and variables inside.
fn statement(program: &Program, s: &Stmt, inner: bool, out: &mut Vec<DocumentSymbol>) {
    let sym = |name: String, detail: Option<String>, kind: SymbolKind, at: Span, children| {
        symbol(program, name, detail, kind, s.span, at, children)
    };
    let nested = |body: &[Stmt]| {
        let mut children = Vec::new();
        if inner {
            for b in body {
                statement(program, b, true, &mut children);
            }
        }
        Some(children)
    };
    match &s.kind {
        StmtKind::Class(c) => out.push(sym(
            c.name.name.clone(),
            Some("class".into()),
            SymbolKind::CLASS,
            c.name.span,
            nested(&c.body),
        )),
        StmtKind::Define(d) => out.push(sym(
            d.name.name.clone(),
            Some("define".into()),
            SymbolKind::STRUCT,
            d.name.span,
            nested(&d.body),
        )),
        StmtKind::Node(n) => {
            let (name, at) = node_name(n, s.span);
            out.push(sym(
                name,
                Some("node".into()),
                SymbolKind::MODULE,
                at,
                nested(&n.body),
            ));
        }
        StmtKind::Profile(p) => out.push(sym(
            p.name.name.clone(),
            Some("install profile".into()),
            SymbolKind::PACKAGE,
            p.name.span,
            None,
        )),
        StmtKind::TypeAlias { name, .. } => out.push(sym(
            name.name.clone(),
            Some("type".into()),
            SymbolKind::TYPE_PARAMETER,
            name.span,
            None,
        )),
        StmtKind::Let { var, .. } if inner => out.push(sym(
            format!("${}", var.name),
            None,
            SymbolKind::VARIABLE,
            var.span,
            None,
        )),
        StmtKind::Resource(r) if inner => {
            let title = match &r.title.kind {
                ExprKind::Str(t) => format!("\"{t}\""),
                _ => program
                    .sources
                    .get(r.title.span.file)
                    .text
                    .get(r.title.span.start as usize..r.title.span.end as usize)
                    .unwrap_or("…")
                    .to_string(),
            };
            out.push(sym(
                format!("{} {title}", r.kind.name),
                None,
                SymbolKind::OBJECT,
                r.kind.span,
                None,
            ));
        }
        _ => {}
    }
}

/// A node block's name as written (`"web01"`, `/^db\d+$/`, `default`, joined by `, `) and
/// the span of its first name.
fn node_name(n: &NodeDef, whole: Span) -> (String, Span) {
    let names: Vec<String> = n
        .names
        .iter()
        .map(|name| match name {
            NodeName::Name(s, _) => format!("\"{s}\""),
            NodeName::Regex(r, _) => format!("/{r}/"),
            NodeName::Default(_) => "default".into(),
        })
        .collect();
    let at = match n.names.first() {
        Some(NodeName::Name(_, s) | NodeName::Regex(_, s) | NodeName::Default(s)) => *s,
        None => whole,
    };
    (format!("node {}", names.join(", ")), at)
}

fn symbol(
    program: &Program,
    name: String,
    detail: Option<String>,
    kind: SymbolKind,
    whole: Span,
    at: Span,
    children: Option<Vec<DocumentSymbol>>,
) -> DocumentSymbol {
    DocumentSymbol {
        name,
        detail,
        kind,
        tags: None,
        deprecated: None,
        range: convert::range(&program.sources, whole),
        selection_range: convert::range(&program.sources, at),
        children: children.filter(|c| !c.is_empty()),
    }
}
