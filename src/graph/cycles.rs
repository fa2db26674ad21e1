//! `dependency-cycle`: one diagnostic per strongly connected component, spelled from the member
//! declared first.

use std::collections::VecDeque;

use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::catalog::{json, Catalog};
use crate::diag::Diagnostic;

/// Strongly connected components of a graph on `n` nodes (each sorted ascending), with a
/// component id per node. Iterative (no recursion on long chains).
pub(crate) fn components(
    n: usize,
    edges: impl Iterator<Item = (usize, usize)>,
) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut g: DiGraph<(), (), u32> = DiGraph::with_capacity(n, 0);
    for _ in 0..n {
        g.add_node(());
    }
    for (a, b) in edges {
        g.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
    }
    let mut comps: Vec<Vec<usize>> = kosaraju_scc(&g)
        .into_iter()
        .map(|c| {
            let mut v: Vec<usize> = c.into_iter().map(NodeIndex::index).collect();
            v.sort_unstable();
            v
        })
        .collect();
    comps.sort_unstable_by_key(|c| c[0]);
    let mut id = vec![0; n];
    for (k, c) in comps.iter().enumerate() {
        for &m in c {
            id[m] = k;
        }
    }
    (comps, id)
}

/// A `dependency-cycle` for every component with more than one member or a self-loop, in the
/// order of their first-declared members. `adj` holds each node's successors, ascending.
pub(crate) fn report(catalog: &Catalog, adj: &[Vec<usize>]) -> Vec<Diagnostic> {
    let n = catalog.resources.len();
    let (comps, id) = components(
        n,
        adj.iter()
            .enumerate()
            .flat_map(|(a, succ)| succ.iter().map(move |&b| (a, b))),
    );
    let mut out = Vec::new();
    for (k, comp) in comps.iter().enumerate() {
        let self_loop = comp.len() == 1 && adj[comp[0]].contains(&comp[0]);
        if comp.len() < 2 && !self_loop {
            continue;
        }
        let walk = spell(comp, adj, |m| id[m] == k);
        out.push(diagnostic(catalog, &walk));
    }
    out
}

/// A closed walk from the first member through every member of the component and back,
/// always taking the nearest member not yet visited (a plain cycle when the component is one).
fn spell(comp: &[usize], adj: &[Vec<usize>], inside: impl Fn(usize) -> bool) -> Vec<usize> {
    let start = comp[0];
    let mut walk = vec![start];
    let mut visited = std::collections::HashSet::from([start]);
    let mut cur = start;
    while visited.len() < comp.len() {
        let Some(path) = bfs(cur, adj, &inside, |m| !visited.contains(&m)) else {
            break;
        };
        for &m in &path {
            visited.insert(m);
        }
        cur = *path.last().expect("non-empty path");
        walk.extend(path);
    }
    if let Some(path) = bfs(cur, adj, &inside, |m| m == start) {
        walk.extend(path);
    }
    walk
}

/// The shortest path (without `from`, successors tried in ascending order) from `from` to a
/// node satisfying `goal`, staying inside the component.
fn bfs(
    from: usize,
    adj: &[Vec<usize>],
    inside: &impl Fn(usize) -> bool,
    goal: impl Fn(usize) -> bool,
) -> Option<Vec<usize>> {
    let mut prev: std::collections::HashMap<usize, usize> = Default::default();
    let mut queue = VecDeque::from([from]);
    while let Some(x) = queue.pop_front() {
        for &y in &adj[x] {
            if !inside(y) || prev.contains_key(&y) {
                continue;
            }
            prev.insert(y, x);
            if goal(y) {
                let mut path = vec![y];
                let mut z = y;
                while let Some(&p) = prev.get(&z) {
                    if p == from {
                        break;
                    }
                    path.push(p);
                    z = p;
                }
                path.reverse();
                return Some(path);
            }
            queue.push_back(y);
        }
    }
    None
}

fn diagnostic(catalog: &Catalog, walk: &[usize]) -> Diagnostic {
    let name = |i: usize| json::reference(&catalog.resources[i].kind, &catalog.resources[i].title);
    let spelled: Vec<String> = walk.iter().map(|&i| name(i)).collect();
    let first = walk[0];
    let next_of = |k: usize| walk.get(k + 1).copied().unwrap_or(first);
    let mut d = Diagnostic::error(
        "dependency-cycle",
        catalog.resources[first].kind_span,
        format!("dependency cycle: {}", spelled.join(" -> ")),
    )
    .with_primary(format!("{} comes before {}", name(first), name(next_of(0))))
    .with_help("remove one of these relationships (`A -> B` means A is applied before B)");
    let mut labelled = std::collections::HashSet::from([first]);
    for (k, &m) in walk.iter().enumerate().skip(1) {
        if labelled.insert(m) {
            d = d.with_label(
                catalog.resources[m].kind_span,
                format!("{} comes before {}", name(m), name(next_of(k))),
            );
        }
    }
    d
}
