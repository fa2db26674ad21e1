//! The fleet as data (LANGUAGE.md §6) on the program's side: who is in the fleet (for
//! `nodes()`), the discovery pass that finds every node's exports (for `collect()`), and
//! `unstable-export`. docs/fleet-data.md has the decisions the spec leaves open.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{parallel_map, Program};
use crate::diag::{Code, Diagnostic};
use crate::eval::fleet::{Collected, Context, Fleet, FleetNode, NO_FLEET};
use crate::eval::index::Index;
use crate::model::declared::{Export, NodeEval};
use crate::syntax::ast::{NodeName, StmtKind};

/// Which of the fleet's built-ins the program calls anywhere (a look at its text, so that
/// a program that calls neither costs nothing more).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Uses {
    /// `nodes()` or `collect()`: the fleet's node list is needed.
    pub fleet: bool,
    /// `collect()`: the discovery pass may be needed.
    pub collect: bool,
}

/// What the discovery pass found: every node of the fleet evaluated once, `collect`
/// answering `[]`.
pub struct Discovery {
    /// One per fleet node, sorted by name.
    nodes: Vec<Discovered>,
    /// Everything they exported: what `collect` answers.
    collected: Collected,
    /// Lower-cased name to index in `nodes` (`compile --all` looks up every node).
    by_name: HashMap<String, usize>,
}

/// One node's discovery evaluation.
struct Discovered {
    name: String,
    exports: Vec<Export>,
    /// It called `collect` (its errors may come from `collect`'s `[]`, so they are not
    /// held against it here: its own evaluation with the data reports what is real).
    collects: bool,
    /// Its errors (facts-file problems included), when it does not collect.
    errors: Vec<Diagnostic>,
}

impl Discovery {
    fn find(&self, node: &str) -> Option<&Discovered> {
        self.by_name
            .get(&node.to_lowercase())
            .map(|&i| &self.nodes[i])
    }

    /// What `collect` answers `node` when its own exports are `own` (its evaluation with
    /// facts an agent sent, or a node outside the fleet): the fleet's exports with `node`'s
    /// replaced, or added at its place by name.
    fn collected_with(&self, node: &str, own: &[Export]) -> Collected {
        let lower = node.to_lowercase();
        let mut list: Vec<(&str, &[Export])> = self
            .nodes
            .iter()
            .filter(|d| d.name.to_lowercase() != lower)
            .map(|d| (d.name.as_str(), &d.exports[..]))
            .collect();
        let at = list.partition_point(|(n, _)| *n < node);
        list.insert(at, (node, own));
        Collected::new(list)
    }

    /// The errors of the other nodes a collecting node depends on: each node that failed
    /// during discovery (and does not itself collect) contributes no exports, and its errors
    /// are the collector's too, so that a host never silently drops out of a collector.
    fn errors_for<'a>(&'a self, node: &'a str) -> impl Iterator<Item = Diagnostic> + 'a {
        let lower = node.to_lowercase();
        self.nodes
            .iter()
            .filter(move |d| d.name.to_lowercase() != lower)
            .flat_map(move |d| {
                d.errors.iter().map(move |e| {
                    let mut e = e.clone().with_note(format!(
                        "`{node}` collects the fleet's exports; a node that fails to evaluate contributes none, so every node that collects fails with it"
                    ));
                    e.node = Some(d.name.clone());
                    e
                })
            })
    }
}

impl Program {
    /// Which of `nodes()` and `collect()` the program calls (cached).
    pub(super) fn uses(&self) -> Uses {
        *self.uses.get_or_init(|| {
            let mut uses = Uses::default();
            for f in &self.files {
                crate::syntax::visit::each_call(
                    &f.ast.items,
                    &mut |c| match c.name.name.as_str() {
                        "collect" => {
                            uses.collect = true;
                            uses.fleet = true;
                        }
                        "nodes" => uses.fleet = true,
                        _ => {}
                    },
                );
            }
            uses
        })
    }

    /// The fleet (LANGUAGE.md §6): the nodes named by a string in a node block, plus each
    /// node with a facts file (`--facts DIR/<node>.json`, `facts/<node>.json` beside the main
    /// manifest) that a regex or `default` block matches. Built once, and only for a program
    /// that calls `nodes()` or `collect()` (others see no fleet).
    pub fn fleet(&self, index: &Index<'_>) -> &Fleet {
        if !self.uses().fleet {
            return &NO_FLEET;
        }
        self.fleet.get_or_init(|| self.build_fleet(index))
    }

    fn build_fleet(&self, index: &Index<'_>) -> Fleet {
        let mut nodes = Vec::new();
        for block in &index.nodes {
            for name in &block.def.names {
                let NodeName::Name(name, _) = name else {
                    continue;
                };
                let has_record = block
                    .def
                    .body
                    .iter()
                    .any(|s| matches!(s.kind, StmtKind::Provision { .. }));
                let provision = has_record
                    .then(|| {
                        let (facts, _) = self.file_facts_for(name);
                        crate::eval::provision_alone(self.loaded(), index, name, block.def, facts)
                    })
                    .flatten();
                nodes.push(FleetNode {
                    name: name.clone(),
                    provision,
                });
            }
        }
        let named = Fleet::new(nodes.clone());
        for name in self.facts_file_nodes() {
            // A name with its own block is in already; the others are in when a regex or
            // `default` block (or, without node blocks, the implicit default) matches them.
            if !named.contains(&name) && index.match_node(&name).is_some() {
                nodes.push(FleetNode {
                    name,
                    provision: None,
                });
            }
        }
        Fleet::new(nodes)
    }

    /// The node names of the facts files: `--facts DIR`'s `*.json`, then `facts/*.json`
    /// beside the main manifest.
    fn facts_file_nodes(&self) -> Vec<String> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(dir) = self.options.facts.as_ref().filter(|f| f.is_dir()) {
            dirs.push(dir.clone());
        }
        dirs.push(self.main_dir.join("facts"));
        let mut names = Vec::new();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "json") && path.is_file() {
                    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                        names.push(stem.to_string());
                    }
                }
            }
        }
        names.sort();
        names
    }

    /// The discovery pass (built once per program, shared by every node that collects, in
    /// `compile --all`, `check` and the catalog server alike): every fleet node evaluated on
    /// every core with `collect` answering `[]`.
    pub fn discovery(&self, index: &Index<'_>) -> &Discovery {
        self.discovery.get_or_init(|| {
            let fleet = self.fleet(index);
            let ctx = Context {
                fleet,
                collected: None,
            };
            let nodes = crate::timing::stage(format_args!("discovery"), || {
                parallel_map(fleet.nodes(), |n| {
                    let block = index.match_node(&n.name).flatten();
                    let (facts, bad_facts) = self.file_facts_for(&n.name);
                    let (eval, diags) =
                        crate::eval::evaluate(self.loaded(), index, &n.name, block, facts, ctx);
                    let collects = eval.collected_at.is_some();
                    let errors = if collects {
                        Vec::new()
                    } else {
                        diags
                            .into_iter()
                            .chain(bad_facts)
                            .filter(Diagnostic::is_error)
                            .collect()
                    };
                    let exports = if errors.is_empty() {
                        eval.exports
                    } else {
                        Vec::new()
                    };
                    Discovered {
                        name: n.name.clone(),
                        exports,
                        collects,
                        errors,
                    }
                })
            });
            let collected = Collected::new(nodes.iter().map(|d| (d.name.as_str(), &d.exports[..])));
            let by_name = (nodes.iter().enumerate())
                .map(|(i, d)| (d.name.to_lowercase(), i))
                .collect();
            Discovery {
                nodes,
                collected,
                by_name,
            }
        })
    }

    /// Evaluates `node` with what it may know of the fleet. The node is evaluated first
    /// with `collect` answering `[]`; only when it called `collect` is the rest of the fleet
    /// evaluated (the discovery pass, once per program) and the node evaluated again with
    /// the data, its exports compared (`unstable-export`) and the errors of the nodes it
    /// collects from added. `given_facts`: the facts are not the node's facts file's (the
    /// catalog server's), so its discovery evaluation is not its own.
    pub(super) fn evaluate_in_fleet(
        &self,
        index: &Index<'_>,
        node: &str,
        block: Option<&crate::syntax::ast::NodeDef>,
        facts: crate::model::value::Value,
        given_facts: bool,
    ) -> (NodeEval, Vec<Diagnostic>) {
        let uses = self.uses();
        let fleet = self.fleet(index);
        let evaluate = |facts, collected| {
            crate::eval::evaluate(
                self.loaded(),
                index,
                node,
                block,
                facts,
                Context { fleet, collected },
            )
        };
        if !uses.collect {
            return evaluate(facts, None);
        }
        // Its discovery evaluation is known already (`compile --all`, after the first
        // node that collects): no need to find its exports again.
        if !given_facts {
            if let Some(disc) = self.discovery.get() {
                if let Some(own) = disc.find(node) {
                    let (eval, mut diags) = evaluate(facts, Some(&disc.collected));
                    if eval.collected_at.is_some() {
                        diags.extend(unstable(&own.exports, &eval));
                        diags.extend(disc.errors_for(node));
                    }
                    return (eval, diags);
                }
            }
        }
        let (first, first_diags) = evaluate(facts.clone(), None);
        if first.collected_at.is_none() {
            return (first, first_diags);
        }
        let disc = self.discovery(index);
        let own_is_known = !given_facts && disc.find(node).is_some();
        let custom;
        let collected = if own_is_known {
            &disc.collected
        } else {
            custom = disc.collected_with(node, &first.exports);
            &custom
        };
        let (eval, mut diags) = evaluate(facts, Some(collected));
        diags.extend(unstable(&first.exports, &eval));
        diags.extend(disc.errors_for(node));
        (eval, diags)
    }

    /// For `check`: the fleet nodes its own runs do not evaluate as themselves (those of
    /// facts files; `check` evaluates regex and `default` blocks as `default`), with what
    /// they report: their discovery errors, or, for one that collects, its evaluation with
    /// the data (and `unstable-export`).
    pub(super) fn check_rest_of_fleet(
        &self,
        index: &Index<'_>,
        checked: &[String],
    ) -> Vec<(String, Vec<Diagnostic>)> {
        if !self.uses().collect {
            return Vec::new();
        }
        let fleet = self.fleet(index);
        let disc = self.discovery(index);
        let rest: Vec<&Discovered> = disc
            .nodes
            .iter()
            .filter(|d| !checked.iter().any(|c| c.eq_ignore_ascii_case(&d.name)))
            .collect();
        parallel_map(&rest, |d| {
            if !d.collects {
                return (d.name.clone(), d.errors.clone());
            }
            let block = index.match_node(&d.name).flatten();
            let (facts, bad_facts) = self.file_facts_for(&d.name);
            let ctx = Context {
                fleet,
                collected: Some(&disc.collected),
            };
            let (eval, mut diags) =
                crate::eval::evaluate(self.loaded(), index, &d.name, block, facts, ctx);
            diags.extend(bad_facts);
            diags.extend(unstable(&d.exports, &eval));
            (d.name.clone(), diags)
        })
    }

    /// For `check`'s own run of a named node, evaluated with the data: `unstable-export`
    /// when its exports are not those of its discovery evaluation.
    pub(super) fn check_stable(
        &self,
        index: &Index<'_>,
        node: &str,
        eval: &NodeEval,
    ) -> Option<Diagnostic> {
        eval.collected_at?;
        let own = self.discovery(index).find(node)?;
        unstable(&own.exports, eval)
    }

    /// What a whole-fleet evaluation (`check`'s runs, `fleet provision`) gives every node:
    /// the fleet, and the exports when the program collects.
    pub fn evaluation_context<'a>(&'a self, index: &Index<'_>) -> Context<'a> {
        let fleet = self.fleet(index);
        let collected = self
            .uses()
            .collect
            .then(|| &self.discovery(index).collected);
        Context { fleet, collected }
    }
}

/// `unstable-export` when a node's exports evaluated with the collected data (`after`) are
/// not those it made with `collect` answering `[]` (`before`): at the first export call
/// that differs.
fn unstable(before: &[Export], after: &NodeEval) -> Option<Diagnostic> {
    let now = &after.exports;
    let i = (0..before.len().max(now.len())).find(|&i| before.get(i) != now.get(i))?;
    let at = now.get(i).or(before.get(i))?;
    let mut d = Diagnostic::error(
        Code::UnstableExport,
        at.span,
        "what this node exports depends on what it collected",
    )
    .with_primary(match (before.get(i), now.get(i)) {
        (Some(_), Some(_)) => {
            "exports another value once `collect` answers with the fleet's exports"
        }
        (None, _) => "runs only once `collect` answers with the fleet's exports",
        (_, None) => "runs only while `collect` answers `[]`",
    });
    if let Some(c) = after.collected_at {
        d = d.with_label(c, "collected here");
    }
    Some(d.with_note(
        "exports are found by evaluating every node with `collect` answering `[]`; an export may not depend on collected data (LANGUAGE.md §6)",
    ))
}

#[cfg(test)]
mod tests {
    use crate::catalog::store::ContentStore;
    use crate::model::value::Value;
    use crate::program::{Options, Program};

    const SITE: &str = r#"
node "a" { export("ip", $facts.ip) }
node "b" { export("ip", $facts.ip) }
node "mon" {
  export("ip", $facts.ip)
  file "/ips" { content = join([for $e in collect("ip"): "${e.node}=${e.value}"], ",") }
}
"#;

    fn program() -> Program {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("site.fleet");
        Program::load_with(vec![(main, SITE.to_string())], Options::default())
    }

    fn ips(program: &Program, facts: Option<Value>) -> String {
        let index = program.index();
        let store = ContentStore::new();
        let (catalog, diags) = match facts {
            Some(f) => program.compile_with_facts(&index, "mon", &store, f),
            None => program.compile_with(&index, "mon", &store),
        };
        let catalog = catalog.unwrap_or_else(|| panic!("{diags:?}"));
        let file = catalog
            .resources
            .iter()
            .find(|r| r.title == "/ips")
            .unwrap();
        file.params.get("content").unwrap().value.to_string()
    }

    fn facts(ip: &str) -> Value {
        Value::from_json(&serde_json::json!({ "ip": ip }))
    }

    #[test]
    fn the_catalog_server_collects_with_the_posted_facts_for_the_node_itself() {
        let p = program();
        assert_eq!(ips(&p, None), r#""a=127.0.0.1,b=127.0.0.1,mon=127.0.0.1""#);
        // One program serves many requests: the discovery pass is shared, and each request's
        // own exports are its facts'.
        assert_eq!(
            ips(&p, Some(facts("10.9.9.9"))),
            r#""a=127.0.0.1,b=127.0.0.1,mon=10.9.9.9""#
        );
        assert_eq!(
            ips(&p, Some(facts("10.1.1.1"))),
            r#""a=127.0.0.1,b=127.0.0.1,mon=10.1.1.1""#
        );
    }

    #[test]
    fn fleet_apply_evaluates_the_other_nodes_with_their_own_facts() {
        let mut p = program();
        p.local_facts = Some(facts("192.0.2.7"));
        assert_eq!(ips(&p, None), r#""a=127.0.0.1,b=127.0.0.1,mon=192.0.2.7""#);
    }
}
