//! Catalog -> petgraph dependency graph: explicit and implicit edges, cycles, order, DOT.

mod cycles;
mod implicit;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write;

use crate::catalog::{json, Catalog, Edge};
use crate::diag::Diagnostic;

/// Adds the implicit edges of LANGUAGE.md §5/§10.11 (dropping, with `implicit-edge-dropped`,
/// any that would close a cycle), reports `dependency-cycle` for each strongly connected
/// component of the explicit edges, and leaves `catalog.edges` deduplicated and sorted.
pub fn link(catalog: &mut Catalog) -> Vec<Diagnostic> {
    let n = catalog.resources.len();
    // Explicit edges, each pair once (refresh OR-ed), self-edges dropped.
    let mut pairs: HashMap<(usize, usize), usize> = HashMap::with_capacity(catalog.edges.len());
    let mut edges: Vec<Edge> = Vec::with_capacity(catalog.edges.len());
    for e in &catalog.edges {
        if e.from >= n || e.to >= n || e.from == e.to {
            continue;
        }
        match pairs.get(&(e.from, e.to)) {
            Some(&k) => {
                edges[k].refresh |= e.refresh;
                edges[k].implicit &= e.implicit;
            }
            None => {
                pairs.insert((e.from, e.to), edges.len());
                edges.push(*e);
            }
        }
    }
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in &edges {
        adj[e.from].push(e.to);
    }
    for succ in &mut adj {
        succ.sort_unstable();
    }
    let mut diags = cycles::report(catalog, &adj);

    // Implicit edges: those between different components of (explicit + every candidate)
    // can never close a cycle; the others are checked one by one, in catalog order.
    let cands: Vec<(usize, usize)> = implicit::candidates(catalog)
        .into_iter()
        .filter(|p| !pairs.contains_key(p))
        .collect();
    let (_, comp) = cycles::components(
        n,
        edges
            .iter()
            .map(|e| (e.from, e.to))
            .chain(cands.iter().copied()),
    );
    let mut stamp = vec![0u32; n];
    let mut round = 0u32;
    for (req, dep) in cands {
        if pairs.contains_key(&(req, dep)) {
            continue;
        }
        if comp[req] == comp[dep] {
            round += 1;
            if reaches(&adj, dep, req, |x| comp[x] == comp[req], &mut stamp, round) {
                diags.push(dropped(catalog, req, dep));
                continue;
            }
        }
        adj[req].push(dep);
        pairs.insert((req, dep), edges.len());
        edges.push(Edge {
            from: req,
            to: dep,
            refresh: false,
            implicit: true,
        });
    }
    edges.sort_unstable_by_key(|e| (e.from, e.to));
    catalog.edges = edges;
    diags
}

/// Whether `to` is reachable from `from`, through nodes satisfying `inside`.
fn reaches(
    adj: &[Vec<usize>],
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
        for &y in &adj[x] {
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
        "implicit-edge-dropped",
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
pub fn order(catalog: &Catalog) -> Vec<usize> {
    let n = catalog.resources.len();
    let mut indeg = vec![0usize; n];
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in &catalog.edges {
        if e.from < n && e.to < n {
            adj[e.from].push(e.to);
            indeg[e.to] += 1;
        }
    }
    let mut heap: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| indeg[i] == 0).map(Reverse).collect();
    let mut out = Vec::with_capacity(n);
    let mut placed = vec![false; n];
    while let Some(Reverse(i)) = heap.pop() {
        out.push(i);
        placed[i] = true;
        for &j in &adj[i] {
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
pub fn to_dot(catalog: &Catalog) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{}\" {{", escape(&catalog.node));
    s.push_str("  rankdir=LR;\n  node [shape=box];\n");
    for (i, r) in catalog.resources.iter().enumerate() {
        let _ = writeln!(
            s,
            "  n{i} [label=\"{}\"];",
            escape(&json::reference(&r.kind, &r.title))
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
