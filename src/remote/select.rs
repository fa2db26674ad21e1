//! Which nodes a command over SSH reaches, and at which address (REMOTE.md "Push and run"):
//! `--node` names or `/regex/`es, `--class NAME` (nodes whose catalog contains the class),
//! and each node's address from its `provision` record: `ip` (without its prefix length)
//! when there is one, else `hostname`, else the node's name.
//!
//! Every name and pattern must match a node of the fleet, or nothing runs: a typo must not
//! quietly shrink a deploy.

use crate::catalog::store::ContentStore;
use crate::program::Program;

/// A chosen node and where to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub node: String,
    pub address: String,
}

/// The nodes of `program` that `patterns` (all, when empty) and `class` choose, sorted by
/// name. `Err` names every pattern that matches nothing, or the node that does not compile.
pub fn select(
    program: &Program,
    patterns: &[String],
    class: Option<&str>,
) -> Result<Vec<Target>, String> {
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
    let mut targets = Vec::new();
    for node in chosen {
        let store = ContentStore::new();
        let (catalog, diags) = program.compile(&node, &store);
        let Some(catalog) = catalog.filter(|_| !diags.iter().any(|d| d.is_error())) else {
            let first = diags
                .iter()
                .find(|d| d.is_error())
                .map(|d| d.message.clone())
                .unwrap_or_default();
            return Err(format!("{node} does not compile: {first}"));
        };
        let doc = crate::catalog::to_doc(&catalog, &program.sources);
        if let Some(class) = class {
            let class = class.to_lowercase();
            if !doc.resources.iter().any(|r| r.tags.contains(&class)) {
                continue;
            }
        }
        let record = doc.provision.as_ref();
        let field = |k: &str| {
            record
                .and_then(|p| p.get(k))
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let address = field("ip")
            .map(|ip| ip.split('/').next().unwrap_or_default().to_string())
            .or_else(|| field("hostname"))
            .unwrap_or_else(|| node.clone());
        targets.push(Target { node, address });
    }
    if targets.is_empty() {
        return Err(format!(
            "no chosen node's catalog contains the class {}",
            class.unwrap_or_default()
        ));
    }
    Ok(targets)
}
