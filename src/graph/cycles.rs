//! `dependency-cycle`: one diagnostic per strongly connected component, spelled from the member
//! declared first.

use std::collections::VecDeque;

use super::Csr;
use crate::catalog::{json, Catalog};
use crate::diag::{Code, Diagnostic};
use crate::model::fxhash::FxHashMap;

/// The strongly connected component of every node, and whether any component has more than
/// one member or a self-loop.
pub(crate) fn components(g: &Csr) -> (Vec<usize>, bool) {
    let n = g.len();
    let mut cyclic = (0..n).any(|v| g.succ(v).contains(&(v as u32)));
    // Tarjan's algorithm, iterative (a chain of 100,000 `->` would overflow a recursive one),
    // over the compressed rows as they are: Kosaraju's (petgraph's `kosaraju_scc`) needs the
    // incoming edges too, i.e. a copy of the graph at 32 bytes an edge.
    let mut t = Tarjan {
        index: vec![NEW; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        path: Vec::new(),
        next_index: 0,
    };
    let mut comp = vec![0; n];
    let mut next_comp = 0;
    for root in 0..n {
        if t.index[root] != NEW {
            continue;
        }
        t.enter(root);
        while let Some(top) = t.path.last_mut() {
            let (v, pos) = *top;
            if let Some(&w) = g.succ(v).get(pos) {
                let w = w as usize;
                top.1 += 1;
                if t.index[w] == NEW {
                    t.enter(w);
                } else if t.on_stack[w] {
                    t.low[v] = t.low[v].min(t.index[w]);
                }
                continue;
            }
            t.path.pop();
            if let Some(&(parent, _)) = t.path.last() {
                t.low[parent] = t.low[parent].min(t.low[v]);
            }
            if t.low[v] == t.index[v] {
                let mut size = 0;
                loop {
                    let w = t.stack.pop().expect("v is on the stack");
                    t.on_stack[w] = false;
                    comp[w] = next_comp;
                    size += 1;
                    if w == v {
                        break;
                    }
                }
                cyclic |= size > 1;
                next_comp += 1;
            }
        }
    }
    (comp, cyclic)
}

const NEW: usize = usize::MAX;

/// The state of [`components`]' depth-first search.
struct Tarjan {
    /// Visit order (NEW: not visited yet).
    index: Vec<usize>,
    /// The lowest visit order reachable through the node's subtree and one back edge.
    low: Vec<usize>,
    on_stack: Vec<bool>,
    /// Visited nodes not yet in a component.
    stack: Vec<usize>,
    /// The depth-first path: (node, position of its next successor to visit).
    path: Vec<(usize, usize)>,
    next_index: usize,
}

impl Tarjan {
    fn enter(&mut self, v: usize) {
        self.index[v] = self.next_index;
        self.low[v] = self.next_index;
        self.next_index += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        self.path.push((v, 0));
    }
}

/// A `dependency-cycle` for every component of `g` with more than one member or a self-loop,
/// in the order of their first-declared members.
pub(crate) fn report(catalog: &Catalog, g: &Csr) -> Vec<Diagnostic> {
    let (id, _) = components(g);
    let mut size: FxHashMap<usize, usize> = FxHashMap::default();
    for &k in &id {
        *size.entry(k).or_default() += 1;
    }
    // Members of each cyclic component, in catalog order (so the first is declared first).
    let mut members: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
    let mut firsts = Vec::new();
    for (m, &k) in id.iter().enumerate() {
        if size[&k] > 1 || g.succ(m).contains(&(m as u32)) {
            let list = members.entry(k).or_default();
            if list.is_empty() {
                firsts.push(k);
            }
            list.push(m);
        }
    }
    let comps: Vec<&Vec<usize>> = firsts.iter().map(|k| &members[k]).collect();
    comps
        .iter()
        .map(|comp| {
            let k = id[comp[0]];
            diagnostic(catalog, &spell(comp, g, |m| id[m] == k))
        })
        .collect()
}

/// A closed walk from the first member through every member of the component and back,
/// always taking the nearest member not yet visited (a plain cycle when the component is one).
fn spell(comp: &[usize], adj: &Csr, inside: impl Fn(usize) -> bool) -> Vec<usize> {
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
    adj: &Csr,
    inside: &impl Fn(usize) -> bool,
    goal: impl Fn(usize) -> bool,
) -> Option<Vec<usize>> {
    let mut prev: std::collections::HashMap<usize, usize> = Default::default();
    let mut queue = VecDeque::from([from]);
    while let Some(x) = queue.pop_front() {
        for &y in adj.succ(x) {
            let y = y as usize;
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

/// The diagnostic for a closed walk `[first, …, first]`.
pub(crate) fn diagnostic(catalog: &Catalog, walk: &[usize]) -> Diagnostic {
    let name = |i: usize| json::reference(&catalog.resources[i].kind, &catalog.resources[i].title);
    let spelled: Vec<String> = walk.iter().map(|&i| name(i)).collect();
    let first = walk[0];
    let next_of = |k: usize| walk.get(k + 1).copied().unwrap_or(first);
    let d = Diagnostic::error(
        Code::DependencyCycle,
        catalog.resources[first].kind_span,
        format!("dependency cycle: {}", spelled.join(" -> ")),
    )
    .with_help("remove one of these relationships (`A -> B` means A is applied before B)");
    if walk.len() == 2 && walk[1] == first {
        return d
            .with_primary(format!("{} requires itself", name(first)))
            .with_help("remove the relationship of this resource to itself");
    }
    let mut d = d.with_primary(format!("{} comes before {}", name(first), name(next_of(0))));
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
