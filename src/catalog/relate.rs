//! Relationships onto native resources: references resolved (namevar, title, alias, classes,
//! define instances), containers expanded, self-edges dropped, pairs deduplicated and sorted.

use crate::model::fxhash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::rc::Rc;

use super::identity::{normalize_path, reference_text, Declarations};
use super::{Catalog, Edge};
use crate::diag::{Code, Diagnostic};
use crate::model::declared::{ContainerKind, Endpoint, NodeEval, Relation};
use crate::model::schema;
use crate::model::value::ResRef;
use crate::source::Span;

/// The explicit edges of `relations` (taken out of `eval`), each (from, to) pair once with `refresh` OR-ed,
/// sorted by (from, to). Unresolved references are reported once per reference. A resource
/// related to itself through a class or define is no edge; related to itself directly
/// (`file "/a" { require = File["/a"] }`) it keeps the self-edge, which `graph::link` reports
/// as a cycle.
pub(crate) fn relations(
    eval: &NodeEval,
    mut relations: Vec<Relation>,
    catalog: &Catalog,
    decls: &Declarations,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Edge> {
    let mut r = Resolver::new(eval, catalog, decls);
    // Every pair as it comes (12 bytes each), then sorted and merged: a map of pairs would
    // hold twice the memory at the peak of a big node's catalog.
    let mut edges: Vec<Edge> = Vec::with_capacity(relations.len());
    let mut unresolved = Unresolved::default();
    // Reversed, then taken from the back (in evaluation order), the vector shrinking as it
    // empties: the relations' memory goes as the edges' comes.
    relations.reverse();
    let mut at = 0;
    while let Some(rel) = relations.pop() {
        if relations.len() < relations.capacity() / 2 && relations.capacity() > 4096 {
            relations.shrink_to_fit();
        }
        let (from, from_container) = r.endpoint(&rel.from, (at, 0), &mut unresolved);
        let (to, to_container) = r.endpoint(&rel.to, (at, 1), &mut unresolved);
        at += 1;
        let direct = !from_container && !to_container;
        for &f in from.iter() {
            for &t in to.iter() {
                if f != t || direct {
                    edges.push(Edge {
                        from: f as u32,
                        to: t as u32,
                        refresh: rel.refresh,
                        implicit: false,
                    });
                }
            }
        }
    }
    let mut edges = sort_edges(edges, catalog.resources.len());
    edges.dedup_by(|later, kept| {
        let same = (later.from, later.to) == (kept.from, kept.to);
        kept.refresh |= same && later.refresh;
        same
    });
    unresolved.found.sort_by_key(|(at, _)| *at);
    diags.extend(unresolved.found.into_iter().filter_map(|(_, d)| d));
    edges
}

/// Edges (between resources `0..n`) sorted by (from, to): counted into place by `from`, in
/// linear time, keeping their order, then each source's run sorted by `to` where it is not
/// already (a container's resources come in order, so it usually is).
fn sort_edges(edges: Vec<Edge>, n: usize) -> Vec<Edge> {
    let mut next = vec![0u32; n + 1];
    for e in &edges {
        next[e.from as usize + 1] += 1;
    }
    for i in 0..n {
        next[i + 1] += next[i];
    }
    let blank = Edge {
        from: 0,
        to: 0,
        refresh: false,
        implicit: false,
    };
    let mut out = vec![blank; edges.len()];
    for e in &edges {
        let slot = &mut next[e.from as usize];
        out[*slot as usize] = *e;
        *slot += 1;
    }
    drop(edges);
    // `next[i]` is now where source i's run ends.
    let mut start = 0;
    for &end in &next[..n] {
        let run = &mut out[start..end as usize];
        if !run.is_sorted_by_key(|e| e.to) {
            run.sort_unstable_by_key(|e| e.to);
        }
        start = end as usize;
    }
    out
}

/// References that resolve to nothing, each reported once at its first use in evaluation
/// order: (relation, end) -> its diagnostic (None for a quiet one).
#[derive(Default)]
struct Unresolved {
    by_span: HashMap<Span, usize>,
    found: Vec<((usize, u8), Option<Diagnostic>)>,
}

struct Resolver<'a> {
    eval: &'a NodeEval,
    catalog: &'a Catalog,
    decls: &'a Declarations,
    /// Lower-case class name -> container.
    classes: HashMap<String, usize>,
    /// (define type, title) -> container.
    instances: HashMap<(&'a str, &'a str), usize>,
    /// Native resources each container holds, transitively (memoised).
    contents: Vec<Option<Rc<Vec<usize>>>>,
}

impl<'a> Resolver<'a> {
    fn new(eval: &'a NodeEval, catalog: &'a Catalog, decls: &'a Declarations) -> Self {
        let mut classes = HashMap::default();
        let mut instances = HashMap::default();
        for (i, c) in eval.containers.iter().enumerate() {
            match &c.kind {
                ContainerKind::Class => {
                    classes
                        .entry(c.title.trim_start_matches("::").to_lowercase())
                        .or_insert(i);
                }
                ContainerKind::Define(ty) => {
                    instances
                        .entry((ty.as_str(), c.title.as_str()))
                        .or_insert(i);
                }
            }
        }
        Resolver {
            eval,
            catalog,
            decls,
            classes,
            instances,
            contents: vec![None; eval.containers.len()],
        }
    }

    /// The resources at one end of a relationship, and whether it is a container; `at` is
    /// where the end is used (relation, 0 for `from` or 1 for `to`).
    fn endpoint(
        &mut self,
        e: &Endpoint,
        at: (usize, u8),
        unresolved: &mut Unresolved,
    ) -> (Rc<Vec<usize>>, bool) {
        match e {
            Endpoint::Resource(i) => {
                let r = self.decls.of_decl.get(*i).copied().flatten();
                (Rc::new(r.into_iter().collect()), false)
            }
            Endpoint::Container(c) if *c < self.eval.containers.len() => (self.contained(*c), true),
            Endpoint::Container(_) => (Default::default(), true),
            Endpoint::Ref(r) => match self.resolve(r) {
                Some(Target::Resource(i)) => (Rc::new(vec![i]), false),
                Some(Target::Container(c)) => (self.contained(c), true),
                None => {
                    match unresolved.by_span.get(&r.span) {
                        Some(&k) => {
                            let first = &mut unresolved.found[k].0;
                            *first = (*first).min(at);
                        }
                        None => {
                            let d = (!self.quiet(r)).then(|| self.unresolved(r));
                            unresolved.by_span.insert(r.span, unresolved.found.len());
                            unresolved.found.push((at, d));
                        }
                    }
                    (Default::default(), false)
                }
            },
        }
    }

    fn resolve(&self, r: &ResRef) -> Option<Target> {
        let kind = r.kind();
        if kind == "class" {
            let name = r.title.trim_start_matches("::").to_lowercase();
            return self.classes.get(&name).map(|&c| Target::Container(c));
        }
        if let Some(ty) = schema::get(&kind) {
            let title = if ty.name == "file" {
                normalize_path(&r.title)
            } else {
                &r.title
            };
            return self
                .decls
                .by_identity
                .get(self.catalog, ty.name, title)
                .or_else(|| {
                    self.decls
                        .by_title
                        .get(&(ty.name, r.title.clone()))
                        .copied()
                })
                .or_else(|| {
                    self.decls
                        .by_alias
                        .get(&(ty.name, r.title.clone()))
                        .copied()
                })
                .map(Target::Resource);
        }
        self.instances
            .get(&(kind.as_str(), r.title.as_str()))
            .map(|&c| Target::Container(c))
    }

    /// A reference to a declaration whose type was unknown was already reported.
    fn quiet(&self, r: &ResRef) -> bool {
        self.decls.unknown.contains(&(r.kind(), r.title.clone()))
    }

    fn unresolved(&self, r: &ResRef) -> Diagnostic {
        let kind = r.kind();
        let titles: Vec<&str> = if kind == "class" {
            self.eval
                .containers
                .iter()
                .filter(|c| c.kind == ContainerKind::Class)
                .map(|c| c.title.as_str())
                .collect()
        } else if schema::is_native(&kind) {
            self.catalog
                .resources
                .iter()
                .filter(|res| *res.kind == *kind)
                .map(|res| res.title.as_str())
                .collect()
        } else {
            self.eval
                .containers
                .iter()
                .filter(|c| matches!(&c.kind, ContainerKind::Define(t) if *t == kind))
                .map(|c| c.title.as_str())
                .collect()
        };
        let what = reference_text(&kind, &r.title);
        let d = Diagnostic::error(
            Code::UnresolvedReference,
            r.span,
            format!("{what} does not match any declared resource"),
        )
        .with_primary("not declared for this node");
        match crate::diag::suggest::closest(&r.title, titles.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean {}?", reference_text(&kind, s))),
            None if titles.is_empty() => {
                let d = d.with_note(format!(
                    "nothing of type `{}` is declared for node `{}`",
                    r.type_name, self.eval.node
                ));
                if schema::is_native(&kind) || kind == "class" {
                    d
                } else {
                    d.with_suggestion(&kind, schema::type_names().chain(std::iter::once("class")))
                }
            }
            None => d,
        }
    }

    /// Every native resource in container `c`, through its children, in declaration order.
    fn contained(&mut self, c: usize) -> Rc<Vec<usize>> {
        if let Some(v) = &self.contents[c] {
            return v.clone();
        }
        let mut out = Vec::new();
        let mut seen_res = HashSet::default();
        let mut seen_con = HashSet::default();
        let mut stack = vec![c];
        while let Some(k) = stack.pop() {
            if !seen_con.insert(k) {
                continue;
            }
            let Some(con) = self.eval.containers.get(k) else {
                continue;
            };
            for &d in &con.resources {
                if let Some(r) = self.decls.of_decl.get(d).copied().flatten() {
                    if seen_res.insert(r) {
                        out.push(r);
                    }
                }
            }
            stack.extend(con.children.iter().rev());
        }
        let v = Rc::new(out);
        self.contents[c] = Some(v.clone());
        v
    }
}

enum Target {
    Resource(usize),
    Container(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counting edges into place gives what a comparison sort gives.
    #[test]
    fn counted_edges_are_sorted_like_a_sort() {
        let mut rng = crate::catalog::testutil::xorshift(0x853c_49e6_748f_ea9b);
        let mut next = move |m: u32| rng(u64::from(m)) as u32;
        for round in 0..200u32 {
            let n = 1 + round % 13;
            let edges: Vec<Edge> = (0..next(4 * n + 1))
                .map(|_| Edge {
                    from: next(n),
                    to: next(n),
                    refresh: next(2) == 0,
                    implicit: false,
                })
                .collect();
            let keys = |es: &[Edge]| es.iter().map(Edge::key).collect::<Vec<_>>();
            let mut expected = keys(&edges);
            expected.sort_unstable();
            let sorted = sort_edges(edges.clone(), n as usize);
            assert_eq!(keys(&sorted), expected);
            // The same edges: refresh flags travel with their pairs.
            let count = |es: &[Edge]| es.iter().filter(|e| e.refresh).count();
            assert_eq!(count(&sorted), count(&edges));
        }
    }
}
