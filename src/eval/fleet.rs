//! The fleet as one node's evaluation sees it (LANGUAGE.md §6 "The fleet as data"): the
//! fleet's nodes, which `nodes()` lists, and the exports `collect()` answers with.
//!
//! Who is in the fleet and what it exported is found by `program` (it reads facts
//! directories and evaluates the other nodes); evaluation only reads it through a
//! [`Context`].

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::model::declared::Export;
use crate::model::value::Value;

/// One node of the fleet.
#[derive(Clone, Debug)]
pub struct FleetNode {
    pub name: String,
    /// Its `provision { … }` record, if it has one.
    pub provision: Option<IndexMap<String, Value>>,
}

/// The fleet's nodes, sorted by name, each once.
#[derive(Debug, Default)]
pub struct Fleet {
    nodes: Vec<FleetNode>,
    /// `{name, provision}` of each node, in the same order: what `nodes()` returns.
    entries: Vec<Value>,
}

/// The fleet of a program evaluated without one (the calling node sees no other node).
pub(crate) static NO_FLEET: Fleet = Fleet {
    nodes: Vec::new(),
    entries: Vec::new(),
};

impl Fleet {
    /// The fleet of these nodes: sorted by name; of two names that differ only in case
    /// (node names match case-insensitively) the first given is kept.
    pub fn new(mut nodes: Vec<FleetNode>) -> Fleet {
        let mut seen = std::collections::HashSet::new();
        nodes.retain(|n| seen.insert(n.name.to_lowercase()));
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let entries = nodes
            .iter()
            .map(|n| {
                let mut m = IndexMap::new();
                m.insert("name".to_string(), Value::str(n.name.as_str()));
                let provision = match &n.provision {
                    Some(p) => Value::Map(Arc::new(p.clone())),
                    None => Value::None,
                };
                m.insert("provision".to_string(), provision);
                Value::Map(Arc::new(m))
            })
            .collect();
        Fleet { nodes, entries }
    }

    /// The nodes, sorted by name.
    pub fn nodes(&self) -> &[FleetNode] {
        &self.nodes
    }

    /// Whether `name` is a node of the fleet (case-insensitively, as node blocks match).
    pub fn contains(&self, name: &str) -> bool {
        let lower = name.to_lowercase();
        self.nodes.iter().any(|n| n.name.to_lowercase() == lower)
    }

    /// `nodes()` / `nodes(pattern)`: the `{name, provision}` Maps of the nodes whose name
    /// `keep` accepts, sorted by name.
    pub fn entries(&self, keep: impl Fn(&str) -> bool) -> Value {
        let picked = self
            .nodes
            .iter()
            .zip(&self.entries)
            .filter(|(n, _)| keep(&n.name))
            .map(|(_, e)| e.clone())
            .collect();
        Value::Array(Arc::new(picked))
    }
}

/// Every export of the fleet by topic: what `collect(topic)` answers once the discovery pass
/// has run.
#[derive(Debug, Default)]
pub struct Collected {
    by_topic: HashMap<String, Value>,
}

impl Collected {
    /// From each node's exports, the nodes given in the order their exports are listed in
    /// (sorted by name): `{node, value}` Maps, by node and then in export order.
    pub fn new<'a>(nodes: impl IntoIterator<Item = (&'a str, &'a [Export])>) -> Collected {
        let mut by_topic: HashMap<String, Vec<Value>> = HashMap::new();
        for (node, exports) in nodes {
            let name = Value::str(node);
            for e in exports {
                let mut m = IndexMap::new();
                m.insert("node".to_string(), name.clone());
                m.insert("value".to_string(), e.value.clone());
                by_topic
                    .entry(e.topic.clone())
                    .or_default()
                    .push(Value::Map(Arc::new(m)));
            }
        }
        Collected {
            by_topic: by_topic
                .into_iter()
                .map(|(t, v)| (t, Value::Array(Arc::new(v))))
                .collect(),
        }
    }

    /// `collect(topic)`: an Array of `{node, value}` (empty for a topic nobody exported).
    pub fn get(&self, topic: &str) -> Value {
        self.by_topic
            .get(topic)
            .cloned()
            .unwrap_or_else(|| Value::Array(Arc::new(Vec::new())))
    }
}

/// What one evaluation knows of the fleet.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub fleet: &'a Fleet,
    /// `None` during the discovery pass: `collect` answers `[]`.
    pub collected: Option<&'a Collected>,
}

impl Default for Context<'_> {
    fn default() -> Self {
        Context {
            fleet: &NO_FLEET,
            collected: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{FileId, Span};

    fn node(name: &str) -> FleetNode {
        FleetNode {
            name: name.to_string(),
            provision: None,
        }
    }

    #[test]
    fn nodes_are_sorted_and_kept_once() {
        let fleet = Fleet::new(vec![node("web02"), node("db01"), node("WEB02"), node("a")]);
        let names: Vec<&str> = fleet.nodes().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "db01", "web02"]);
        assert!(fleet.contains("Web02"));
        let web = fleet.entries(|n| n.starts_with("web"));
        assert_eq!(web.to_string(), r#"[{"name": "web02", "provision": none}]"#);
    }

    #[test]
    fn collected_by_node_then_export_order() {
        let span = Span::new(FileId(0), 0, 1);
        let e = |topic: &str, v: i64| Export {
            topic: topic.to_string(),
            value: Value::Int(v),
            span,
        };
        let a = [e("t", 1), e("u", 9), e("t", 2)];
        let b = [e("t", 3)];
        let c = Collected::new([("a", &a[..]), ("b", &b[..])]);
        assert_eq!(
            c.get("t").to_string(),
            r#"[{"node": "a", "value": 1}, {"node": "a", "value": 2}, {"node": "b", "value": 3}]"#
        );
        assert_eq!(c.get("nobody").to_string(), "[]");
    }
}
