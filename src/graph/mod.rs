//! Catalog -> dependency graph: explicit and implicit edges, cycles, topological order, DOT.

mod cycles;
mod implicit;
#[cfg(test)]
mod tests;

#[cfg(test)]
use std::cmp::Reverse;
#[cfg(test)]
use std::collections::BinaryHeap;
use std::fmt::Write;

use crate::catalog::{json, pair_key, Catalog, Edge};
use crate::diag::{Code, Diagnostic};

/// Adds the implicit edges of LANGUAGE.md §5/§10.11 (dropping, with `implicit-edge-dropped`,
/// any that would close a cycle), reports `dependency-cycle` for each strongly connected
/// component of the explicit edges, and leaves `catalog.edges` deduplicated and sorted.
///
/// Linear in resources and edges: components are computed once over the explicit edges plus
/// every implicit candidate; only candidates inside a non-trivial component (none, in a
/// manifest without cycles) need a reachability check.
pub(crate) fn link(catalog: &mut Catalog) -> Vec<Diagnostic> {
    let n = catalog.resources.len();
    // Explicit edges, each pair once (refresh OR-ed), self-edges dropped.
    let mut edges = std::mem::take(&mut catalog.edges);
    // A resource required by itself is a cycle of one; the edge itself goes.
    let mut loops: Vec<usize> = edges
        .iter()
        .filter(|e| e.from == e.to && (e.from as usize) < n)
        .map(|e| e.from as usize)
        .collect();
    loops.sort_unstable();
    loops.dedup();
    edges.retain(|e| (e.from as usize) < n && (e.to as usize) < n && e.from != e.to);
    if !edges.is_sorted_by_key(Edge::key) {
        edges.sort_unstable_by_key(Edge::key);
    }
    edges.dedup_by(|later, kept| {
        let same = (later.from, later.to) == (kept.from, kept.to);
        if same {
            kept.refresh |= later.refresh;
            kept.implicit &= later.implicit;
        }
        same
    });
    let explicit = Csr::new(n, edges.iter().map(|e| (e.from, e.to)));

    let mut cands = implicit::candidates(catalog);
    cands.retain(|&(req, dep)| !explicit.has(req, dep));
    // The explicit edges are sorted already: the candidates are sorted on their own (a
    // copy: the loop below takes them in catalog order) and merged in.
    let full = {
        let mut more = cands.clone();
        more.sort_unstable_by_key(|&(a, b)| pair_key(a, b));
        let mut pairs = Vec::with_capacity(edges.len() + more.len());
        let mut more = more.into_iter().peekable();
        for e in &edges {
            while let Some(m) = more.next_if(|&(a, b)| pair_key(a, b) < e.key()) {
                pairs.push(m);
            }
            pairs.push((e.from, e.to));
        }
        pairs.extend(more);
        Csr::from_sorted(n, pairs)
    };
    let (comp, cyclic) = cycles::components(&full);
    drop(full);
    let mut diags: Vec<Diagnostic> = loops
        .iter()
        .map(|&m| cycles::diagnostic(catalog, &[m, m]))
        .collect();
    if cyclic {
        diags.extend(cycles::report(catalog, &explicit));
    }

    // Implicit edges in catalog order. One between two components of the full graph can never
    // close a cycle; one inside a component is checked against the edges so far.
    let mut inner: Vec<Vec<u32>> = if cyclic {
        vec![Vec::new(); n]
    } else {
        Vec::new()
    };
    let mut stamp = if cyclic { vec![0u32; n] } else { Vec::new() };
    let mut round = 0u32;
    let mut implicit: Vec<Edge> = Vec::with_capacity(cands.len());
    for (req, dep) in cands {
        let (r, d) = (req as usize, dep as usize);
        if comp[r] == comp[d] {
            round += 1;
            let inside = |x: usize| comp[x] == comp[r];
            if reaches(&explicit, &inner, d, r, inside, &mut stamp, round) {
                diags.push(dropped(catalog, r, d));
                continue;
            }
            inner[r].push(dep);
        }
        implicit.push(Edge {
            from: req,
            to: dep,
            refresh: false,
            implicit: true,
        });
    }
    implicit.sort_unstable_by_key(Edge::key);
    merge_sorted(&mut edges, &implicit);
    catalog.edges = edges;
    diags
}

/// Merges `more` into `edges`, both sorted by (from, to) with no pair in common, in linear time
/// and in place (from the back), so that no buffer the size of both is needed.
fn merge_sorted(edges: &mut Vec<Edge>, more: &[Edge]) {
    let key = Edge::key;
    let mut i = edges.len();
    edges.reserve_exact(more.len());
    edges.extend_from_slice(more);
    let mut k = edges.len();
    for (j, m) in more.iter().enumerate().rev() {
        // Everything after `more[j]` is placed; take the larger of the two next ones.
        while i > 0 && key(&edges[i - 1]) > key(m) {
            k -= 1;
            edges[k] = edges[i - 1];
            i -= 1;
        }
        k -= 1;
        edges[k] = *m;
        debug_assert_eq!(k, i + j);
    }
}

/// The dependency graph's adjacency: petgraph's compressed sparse rows, so the successors of
/// `i` are one ascending slice (of u32 indices, as in [`Edge`]).
pub(crate) struct Csr(petgraph::csr::Csr<(), (), petgraph::Directed, u32>);

impl Csr {
    pub(crate) fn new(n: usize, edges: impl Iterator<Item = (u32, u32)>) -> Csr {
        let mut pairs: Vec<(u32, u32)> = edges.collect();
        pairs.sort_unstable_by_key(|&(a, b)| pair_key(a, b));
        Csr::from_sorted(n, pairs)
    }

    /// From pairs sorted by (from, to).
    pub(crate) fn from_sorted(n: usize, mut pairs: Vec<(u32, u32)>) -> Csr {
        debug_assert!(pairs.is_sorted_by_key(|&(a, b)| pair_key(a, b)));
        pairs.dedup();
        let mut g = petgraph::csr::Csr::from_sorted_edges(&pairs).expect("edges are sorted");
        while g.node_count() < n {
            g.add_node(());
        }
        Csr(g)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.node_count()
    }

    pub(crate) fn succ(&self, i: usize) -> &[u32] {
        self.0.neighbors_slice(i as u32)
    }

    fn has(&self, a: u32, b: u32) -> bool {
        self.succ(a as usize).binary_search(&b).is_ok()
    }
}

/// Whether `to` is reachable from `from` over `base` and `extra` edges, through nodes
/// satisfying `inside`.
fn reaches(
    base: &Csr,
    extra: &[Vec<u32>],
    from: usize,
    to: usize,
    inside: impl Fn(usize) -> bool,
    stamp: &mut [u32],
    round: u32,
) -> bool {
    let mut stack = vec![from];
    stamp[from] = round;
    while let Some(x) = stack.pop() {
        if x == to {
            return true;
        }
        for &y in base.succ(x).iter().chain(&extra[x]) {
            let y = y as usize;
            if stamp[y] != round && inside(y) {
                stamp[y] = round;
                stack.push(y);
            }
        }
    }
    false
}

fn dropped(catalog: &Catalog, req: usize, dep: usize) -> Diagnostic {
    let name = |i: usize| json::reference(&catalog.resources[i].kind, &catalog.resources[i].title);
    Diagnostic::warning(
        Code::ImplicitEdgeDropped,
        catalog.resources[dep].kind_span,
        format!(
            "{} would implicitly require {}, but that would close a dependency cycle; the implicit edge is dropped",
            name(dep),
            name(req)
        ),
    )
    .with_primary(format!("would require {}", name(req)))
    .with_label(catalog.resources[req].kind_span, format!("{} declared here", name(req)))
    .with_help("explicit relationships win; write the order you want explicitly to silence this")
}

/// A topological order of the catalog's resources (edges `from` before `to`), ties broken by
/// catalog position. Members of cycles, which have no such order, come last, by position.
#[cfg(test)]
pub(crate) fn order(catalog: &Catalog) -> Vec<usize> {
    let n = catalog.resources.len();
    let g = Csr::new(
        n,
        catalog
            .edges
            .iter()
            .filter(|e| (e.from as usize) < n && (e.to as usize) < n)
            .map(|e| (e.from, e.to)),
    );
    let mut indeg = vec![0usize; n];
    for i in 0..n {
        for &j in g.succ(i) {
            indeg[j as usize] += 1;
        }
    }
    let mut heap: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| indeg[i] == 0).map(Reverse).collect();
    let mut out = Vec::with_capacity(n);
    let mut placed = vec![false; n];
    while let Some(Reverse(i)) = heap.pop() {
        out.push(i);
        placed[i] = true;
        for &j in g.succ(i) {
            let j = j as usize;
            indeg[j] -= 1;
            if indeg[j] == 0 {
                heap.push(Reverse(j));
            }
        }
    }
    out.extend((0..n).filter(|&i| !placed[i]));
    out
}

/// Graphviz DOT of the catalog's resources and edges (refresh edges dashed, implicit ones
/// grey).
pub(crate) fn to_dot(catalog: &Catalog) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{}\" {{", escape(&catalog.node));
    s.push_str("  rankdir=LR;\n  node [shape=box];\n");
    for (i, r) in catalog.resources.iter().enumerate() {
        let _ = writeln!(
            s,
            "  n{i} [label=\"{}\"];",
            escape(&json::reference(
                &r.kind,
                r.label.as_deref().unwrap_or(&r.title)
            ))
        );
    }
    for e in &catalog.edges {
        let mut attrs = Vec::new();
        if e.refresh {
            attrs.push("style=dashed");
        }
        if e.implicit {
            attrs.push("color=gray50");
        }
        if attrs.is_empty() {
            let _ = writeln!(s, "  n{} -> n{};", e.from, e.to);
        } else {
            let _ = writeln!(s, "  n{} -> n{} [{}];", e.from, e.to, attrs.join(", "));
        }
    }
    s.push_str("}\n");
    s
}

/// Escapes a string for a DOT double-quoted ID.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}
