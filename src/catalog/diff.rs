//! What would change on a node between two catalogs (`fleet catalog diff`): resources added,
//! removed and changed (per parameter), and edges added and removed. Resources match by
//! identity (`Type[identity]`); parameters compare as JSON values; sources and tags are not
//! compared (they change nothing on the node). A Sensitive value (`{"sensitive": …}`) is
//! never carried into the diff: it is [`SENSITIVE`] on whichever side holds one.

use indexmap::IndexMap;
use serde_json::Value;

use super::json::{sensitive_inner, CatalogDoc, EdgeDoc, ResourceDoc};

/// How a Sensitive value is shown.
pub(crate) const SENSITIVE: &str = "[sensitive]";

/// One side of a parameter: unset, or a value (already masked when Sensitive).
pub(crate) type Side = Option<Value>;

/// One differing parameter: its name, from, to.
pub(crate) type ParamChange = (String, Side, Side);

#[derive(Debug, Default, PartialEq)]
pub(crate) struct CatalogDiff {
    /// `Type[title]` (the written title) and its parameters.
    pub added: Vec<(String, IndexMap<String, Value>)>,
    pub removed: Vec<String>,
    /// `Type[title]` and each differing parameter, from -> to.
    pub changed: Vec<(String, Vec<ParamChange>)>,
    pub edges_added: Vec<EdgeDoc>,
    pub edges_removed: Vec<EdgeDoc>,
}

impl CatalogDiff {
    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.edges_added.is_empty()
            && self.edges_removed.is_empty()
    }
}

/// A parameter's value as a diff may show it.
fn masked(v: &Value) -> Value {
    if sensitive_inner(v).is_some() {
        Value::String(SENSITIVE.to_string())
    } else {
        v.clone()
    }
}

fn params(r: &ResourceDoc) -> IndexMap<String, Value> {
    r.params
        .iter()
        .map(|(k, v)| (k.clone(), masked(v)))
        .collect()
}

fn param_changes(a: &ResourceDoc, b: &ResourceDoc) -> Vec<ParamChange> {
    let mut out = Vec::new();
    for (k, va) in &a.params {
        match b.params.get(k) {
            Some(vb) if vb == va => {}
            vb => out.push((k.clone(), Some(masked(va)), vb.map(masked))),
        }
    }
    for (k, vb) in &b.params {
        if !a.params.contains_key(k) {
            out.push((k.clone(), None, Some(masked(vb))));
        }
    }
    out
}

/// The changes from catalog `a` to catalog `b`: changed and added in `b`'s order, then
/// removed in `a`'s; edges in each catalog's order.
pub(crate) fn diff(a: &CatalogDoc, b: &CatalogDoc) -> CatalogDiff {
    let old: IndexMap<String, &ResourceDoc> =
        a.resources.iter().map(|r| (r.reference(), r)).collect();
    let new: IndexMap<String, &ResourceDoc> =
        b.resources.iter().map(|r| (r.reference(), r)).collect();
    let mut d = CatalogDiff::default();
    for (id, rb) in &new {
        match old.get(id) {
            None => d.added.push((rb.display_reference(), params(rb))),
            Some(ra) => {
                let changes = param_changes(ra, rb);
                if !changes.is_empty() {
                    d.changed.push((rb.display_reference(), changes));
                }
            }
        }
    }
    for (id, ra) in &old {
        if !new.contains_key(id) {
            d.removed.push(ra.display_reference());
        }
    }
    let key = |e: &EdgeDoc| (e.from.clone(), e.to.clone(), e.refresh);
    let old_edges: std::collections::HashSet<_> = a.edges.iter().map(key).collect();
    let new_edges: std::collections::HashSet<_> = b.edges.iter().map(key).collect();
    d.edges_added = b
        .edges
        .iter()
        .filter(|e| !old_edges.contains(&key(e)))
        .cloned()
        .collect();
    d.edges_removed = a
        .edges
        .iter()
        .filter(|e| !new_edges.contains(&key(e)))
        .cloned()
        .collect();
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::json::SourceDoc;

    fn res(kind: &str, title: &str, params: &[(&str, Value)]) -> ResourceDoc {
        ResourceDoc {
            kind: kind.into(),
            title: title.into(),
            label: None,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            tags: vec![kind.into()],
            source: SourceDoc {
                file: "site.fleet".into(),
                line: 1,
                column: 1,
            },
        }
    }

    fn cat(resources: Vec<ResourceDoc>, edges: &[(&str, &str)]) -> CatalogDoc {
        CatalogDoc {
            format: 1,
            node: "n".into(),
            version: String::new(),
            resources,
            edges: edges
                .iter()
                .map(|(f, t)| EdgeDoc {
                    from: f.to_string(),
                    to: t.to_string(),
                    refresh: false,
                })
                .collect(),
            provision: None,
        }
    }

    #[test]
    fn added_removed_changed_and_edges() {
        let secret = |s: &str| serde_json::json!({ "sensitive": s });
        let a = cat(
            vec![
                res(
                    "file",
                    "/a",
                    &[("mode", "0644".into()), ("content", secret("old"))],
                ),
                res("package", "gone", &[]),
                res("service", "same", &[("ensure", "running".into())]),
            ],
            &[("Package[gone]", "File[/a]")],
        );
        let b = cat(
            vec![
                res(
                    "file",
                    "/a",
                    &[("mode", "0600".into()), ("content", secret("new"))],
                ),
                res("service", "same", &[("ensure", "running".into())]),
                res("user", "alice", &[("password", secret("pw"))]),
            ],
            &[("User[alice]", "File[/a]")],
        );
        let d = diff(&a, &b);
        assert_eq!(d.removed, vec!["Package[gone]"]);
        assert_eq!(d.added.len(), 1);
        assert_eq!(d.added[0].1["password"], SENSITIVE);
        let (id, changes) = &d.changed[0];
        assert_eq!(id, "File[/a]");
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[1].1, Some(Value::from(SENSITIVE)));
        assert_eq!(changes[1].2, Some(Value::from(SENSITIVE)));
        assert_eq!(d.edges_added[0].from, "User[alice]");
        assert_eq!(d.edges_removed[0].from, "Package[gone]");
        assert!(!format!("{d:?}").contains("old") && !format!("{d:?}").contains("\"pw\""));
        assert!(diff(&a, &a).is_empty());
    }
}
