//! Catalog -> petgraph dependency graph: explicit and implicit edges, cycles, order, DOT.

use crate::catalog::Catalog;
use crate::diag::Diagnostic;

/// Adds the implicit edges of LANGUAGE.md §5/§10.11 (dropping, with `implicit-edge-dropped`,
/// any that would close a cycle), reports `dependency-cycle` for each strongly connected
/// component of the explicit edges, and leaves `catalog.edges` deduplicated and sorted.
pub fn link(catalog: &mut Catalog) -> Vec<Diagnostic> {
    let _ = catalog;
    todo!("graph::link")
}

/// Graphviz DOT of the catalog's resources and edges (refresh edges dashed).
pub fn to_dot(catalog: &Catalog) -> String {
    let _ = catalog;
    todo!("graph::to_dot")
}
