//! Which nodes a command over SSH reaches, and at which address (REMOTE.md "Push and run"):
//! `--node` names or `/regex/`es, `--class NAME` (nodes whose catalog contains the class),
//! and each node's address from its `provision` record: `ip` (without its prefix length)
//! when there is one, else `hostname`, else the node's name.
//!
//! Every name and pattern must match a node of the fleet, and every chosen node must
//! compile, or nothing runs: a typo must not quietly shrink a deploy, and half a fleet pushed
//! from a broken manifest is worse than none. The chosen nodes compile in parallel, with one
//! content store shared between them (blobs are keyed by their sha256).

use crate::catalog::json::CatalogDoc;
use crate::catalog::store::ContentStore;
use crate::program::Program;

/// A chosen node and where to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub node: String,
    pub address: String,
}

/// The chosen nodes, sorted by name, with their catalogs (as `fleet compile` writes them, in
/// the same order) and the content those catalogs name.
pub(crate) struct Selection {
    pub targets: Vec<Target>,
    pub catalogs: Vec<Compiled>,
    pub store: ContentStore,
}

/// One chosen node's catalog.
pub(crate) struct Compiled {
    /// What `fleet compile --node` prints: what the node applies.
    pub json: String,
    pub doc: CatalogDoc,
}

/// The names of the fleet's nodes that `patterns` (all, when empty) choose, sorted.
fn names(program: &Program, patterns: &[String]) -> Result<Vec<String>, String> {
    let all = program.all_nodes();
    let mut chosen: Vec<String> = Vec::new();
    let mut unmatched = Vec::new();
    if patterns.is_empty() {
        chosen = all.clone();
    }
    for p in patterns {
        let hits: Vec<&String> = match p.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
            Some(re) => {
                let re = regex::Regex::new(re).map_err(|e| format!("--node {p}: {e}"))?;
                all.iter().filter(|n| re.is_match(n)).collect()
            }
            None => all.iter().filter(|n| n.eq_ignore_ascii_case(p)).collect(),
        };
        if hits.is_empty() {
            unmatched.push(p.clone());
        }
        chosen.extend(hits.into_iter().cloned());
    }
    if !unmatched.is_empty() {
        return Err(format!(
            "no node of the fleet matches {} (the fleet: {})",
            unmatched.join(", "),
            all.join(", ")
        ));
    }
    chosen.sort();
    chosen.dedup();
    Ok(chosen)
}

/// The nodes of `program` that `patterns` (all, when empty) and `class` choose, sorted by
/// name, compiled. `Err` names every pattern that matches nothing, or the first node that
/// does not compile.
pub(crate) fn select(
    program: &Program,
    patterns: &[String],
    class: Option<&str>,
) -> Result<Selection, String> {
    let chosen = names(program, patterns)?;
    let store = ContentStore::new();
    let index = program.index();
    let compiled = crate::par::map(crate::par::cores(), 8 << 20, &chosen, |node| {
        let (catalog, diags) = program.compile_with(&index, node, &store);
        Some(
            match catalog.filter(|_| !diags.iter().any(|d| d.is_error())) {
                Some(c) => Ok(Compiled {
                    json: crate::catalog::wire::to_pretty(&c, &program.sources),
                    doc: crate::catalog::to_doc(&c, &program.sources),
                }),
                None => Err(diags
                    .iter()
                    .find(|d| d.is_error())
                    .map(|d| d.message.clone())
                    .unwrap_or_default()),
            },
        )
    })
    .ok_or("cannot start the compile threads")?;
    let class = class.map(str::to_lowercase);
    let mut selection = Selection {
        targets: Vec::new(),
        catalogs: Vec::new(),
        store,
    };
    for (node, compiled) in chosen.into_iter().zip(compiled) {
        let compiled = compiled.map_err(|e| format!("{node} does not compile: {e}"))?;
        if let Some(class) = &class {
            if !compiled
                .doc
                .resources
                .iter()
                .any(|r| r.tags.contains(class))
            {
                continue;
            }
        }
        let address = address(&compiled.doc).unwrap_or_else(|| node.clone());
        selection.targets.push(Target { node, address });
        selection.catalogs.push(compiled);
    }
    if selection.targets.is_empty() {
        return Err(format!(
            "no chosen node's catalog contains the class {}",
            class.unwrap_or_default()
        ));
    }
    Ok(selection)
}

/// The provision record's `ip` (without its prefix length), else its `hostname`.
fn address(doc: &CatalogDoc) -> Option<String> {
    let record = doc.provision.as_ref()?;
    let field = |k: &str| {
        record
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    field("ip")
        .map(|ip| ip.split('/').next().unwrap_or_default().to_string())
        .or_else(|| field("hostname"))
}
