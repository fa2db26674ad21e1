//! Hoisting: every class, define, type alias and node block of a program, found once.

use std::collections::HashMap;

use super::input::Loaded;
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};
use crate::syntax::ast::{
    ClassDef, DefineDef, NodeDef, NodeName, ProfileDef, Stmt, StmtKind, TypeExpr,
};

/// A class or define definition with the file it came from.
pub struct Def<'p, T> {
    pub def: &'p T,
    pub file: FileId,
}

/// One node block that survived duplicate detection.
pub struct NodeBlock<'p> {
    pub def: &'p NodeDef,
    pub regexes: Vec<Option<regex::Regex>>,
}

/// The hoisted definitions of a program.
pub struct Index<'p> {
    pub classes: HashMap<&'p str, Def<'p, ClassDef>>,
    pub defines: HashMap<&'p str, Def<'p, DefineDef>>,
    pub aliases: HashMap<&'p str, &'p TypeExpr>,
    /// Where each alias's name is written in its `type` statement.
    pub alias_names: HashMap<&'p str, Span>,
    pub nodes: Vec<NodeBlock<'p>>,
    /// Install profiles (`provision "NAME" { … }` at a file's top level), by name.
    pub profiles: HashMap<&'p str, Def<'p, ProfileDef>>,
    /// True when the program has at least one node block (even an ignored duplicate).
    pub has_node_blocks: bool,
    /// `duplicate-class` / `duplicate-node` / `duplicate-type` / invalid node regexes.
    pub diags: Vec<Diagnostic>,
}

impl<'p> Index<'p> {
    pub fn build(program: Loaded<'p>) -> Index<'p> {
        let mut index = Index {
            classes: HashMap::new(),
            defines: HashMap::new(),
            aliases: HashMap::new(),
            alias_names: HashMap::new(),
            nodes: Vec::new(),
            profiles: HashMap::new(),
            has_node_blocks: false,
            diags: Vec::new(),
        };
        let mut names: HashMap<String, Span> = HashMap::new();
        let mut regexes: HashMap<String, Span> = HashMap::new();
        let mut default: Option<Span> = None;
        for file in program.files {
            index.hoist(
                &file.ast.items,
                file.id,
                &mut names,
                &mut regexes,
                &mut default,
            );
            index.hoist_profiles(&file.ast.items, file.id);
        }
        index.check_alias_cycles();
        index
    }

    fn hoist(
        &mut self,
        items: &'p [Stmt],
        file: FileId,
        names: &mut HashMap<String, Span>,
        regexes: &mut HashMap<String, Span>,
        default: &mut Option<Span>,
    ) {
        for stmt in items {
            match &stmt.kind {
                StmtKind::Class(c) => {
                    if let Some(first) = self.classes.get(c.name.name.as_str()) {
                        self.diags.push(
                            Diagnostic::error(
                                Code::DuplicateClass,
                                c.name.span,
                                format!("class `{}` is defined twice", c.name.name),
                            )
                            .with_label(first.def.name.span, "first defined here"),
                        );
                    } else if let Some(first) = self.defines.get(c.name.name.as_str()) {
                        self.diags.push(
                            Diagnostic::error(
                                Code::DuplicateClass,
                                c.name.span,
                                format!("`{}` is already defined as a define", c.name.name),
                            )
                            .with_label(first.def.name.span, "defined here"),
                        );
                    } else {
                        self.classes.insert(&c.name.name, Def { def: c, file });
                    }
                    self.hoist(&c.body, file, names, regexes, default);
                }
                StmtKind::Define(d) => {
                    let clash = self
                        .defines
                        .get(d.name.name.as_str())
                        .map(|f| f.def.name.span)
                        .or_else(|| {
                            self.classes
                                .get(d.name.name.as_str())
                                .map(|f| f.def.name.span)
                        });
                    if let Some(first) = clash {
                        self.diags.push(
                            Diagnostic::error(
                                Code::DuplicateClass,
                                d.name.span,
                                format!("`{}` is defined twice", d.name.name),
                            )
                            .with_label(first, "first defined here"),
                        );
                    } else {
                        self.defines.insert(&d.name.name, Def { def: d, file });
                    }
                    self.hoist(&d.body, file, names, regexes, default);
                }
                StmtKind::TypeAlias { name, ty } => {
                    if let Some(first) = self.aliases.get(name.name.as_str()) {
                        self.diags.push(
                            Diagnostic::error(
                                Code::DuplicateType,
                                name.span,
                                format!("type `{}` is already defined", name.name),
                            )
                            .with_label(first.span, "first defined here"),
                        );
                    } else if crate::eval::types::is_builtin(&name.name) {
                        self.diags.push(Diagnostic::error(
                            Code::DuplicateType,
                            name.span,
                            format!("`{}` is a built-in type", name.name),
                        ));
                    } else {
                        self.aliases.insert(&name.name, ty);
                        self.alias_names.insert(&name.name, name.span);
                    }
                }
                StmtKind::Node(n) => {
                    self.has_node_blocks = true;
                    self.add_node(n, names, regexes, default);
                }
                _ => {}
            }
        }
    }

    /// Install profiles are declared only at a file's top level (elsewhere the evaluator
    /// reports them); each is checked here once.
    fn hoist_profiles(&mut self, items: &'p [Stmt], file: FileId) {
        for stmt in items {
            let StmtKind::Profile(p) = &stmt.kind else {
                continue;
            };
            self.diags.extend(super::profile_decl::check_decl(p));
            if let Some(first) = self.profiles.get(p.name.name.as_str()) {
                self.diags
                    .push(super::profile_decl::duplicate(p, first.def));
            } else {
                self.profiles.insert(&p.name.name, Def { def: p, file });
            }
        }
    }

    fn add_node(
        &mut self,
        n: &'p NodeDef,
        names: &mut HashMap<String, Span>,
        regexes: &mut HashMap<String, Span>,
        default: &mut Option<Span>,
    ) {
        let mut dup = None;
        for name in &n.names {
            let (first, span, what) = match name {
                NodeName::Name(s, span) => (
                    names.get(&s.to_lowercase()).copied(),
                    *span,
                    format!("node `{s}`"),
                ),
                NodeName::Regex(r, span) => (regexes.get(r).copied(), *span, format!("node /{r}/")),
                NodeName::Default(span) => (*default, *span, "node default".to_string()),
            };
            if let Some(first) = first {
                dup = Some(
                    Diagnostic::error(
                        Code::DuplicateNode,
                        span,
                        format!("{what} is already defined"),
                    )
                    .with_label(first, "first defined here")
                    .with_note("the second block is ignored"),
                );
                break;
            }
        }
        if let Some(d) = dup {
            self.diags.push(d);
            return;
        }
        let mut compiled = Vec::new();
        for name in &n.names {
            match name {
                NodeName::Name(s, span) => {
                    names.insert(s.to_lowercase(), *span);
                    compiled.push(None);
                }
                NodeName::Regex(r, span) => {
                    regexes.insert(r.clone(), *span);
                    match regex::Regex::new(r) {
                        Ok(re) => compiled.push(Some(re)),
                        Err(e) => {
                            self.diags.push(Diagnostic::error(
                                Code::InvalidValue,
                                *span,
                                format!("invalid regex: {}", first_line(&e.to_string())),
                            ));
                            compiled.push(None);
                        }
                    }
                }
                NodeName::Default(span) => {
                    *default = Some(*span);
                    compiled.push(None);
                }
            }
        }
        self.nodes.push(NodeBlock {
            def: n,
            regexes: compiled,
        });
    }

    /// `duplicate-type` for aliases that refer to themselves through other aliases: one per
    /// cycle, at the name in the cycle's last `type` statement.
    fn check_alias_cycles(&mut self) {
        let mut names: Vec<&str> = self.aliases.keys().copied().collect();
        names.sort();
        let mut reported: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for start in names {
            if reported.contains(start) {
                continue;
            }
            let mut path = vec![start];
            if !self.alias_reaches(start, start, &mut path, 0) {
                continue;
            }
            reported.extend(path.iter().copied());
            let last = path
                .iter()
                .copied()
                .max_by_key(|n| self.alias_names.get(n).map(|s| (s.file, s.start)))
                .unwrap_or(start);
            let mut d = Diagnostic::error(
                Code::DuplicateType,
                self.alias_names[last],
                format!("type aliases refer to themselves: {}", path.join(" -> ")),
            )
            .with_primary("closes the cycle");
            let mut members: Vec<&str> = Vec::new();
            for n in path.iter().copied().filter(|n| *n != last) {
                if !members.contains(&n) {
                    members.push(n);
                }
            }
            for n in members {
                if let Some(span) = self.alias_names.get(n) {
                    d = d.with_label(*span, format!("`{n}` is part of the cycle"));
                }
            }
            self.diags.push(d);
        }
    }

    fn alias_reaches(&self, target: &str, at: &str, path: &mut Vec<&'p str>, depth: usize) -> bool {
        if depth > 64 {
            return false;
        }
        let Some(ty) = self.aliases.get(at) else {
            return false;
        };
        let mut found = false;
        crate::eval::types::each_name(ty, &mut |n| {
            if found {
                return;
            }
            if n == target {
                path.push(target_static(target, &self.aliases));
                found = true;
            } else if let Some((k, _)) = self.aliases.get_key_value(n) {
                if !path.contains(k) {
                    path.push(k);
                    if self.alias_reaches(target, k, path, depth + 1) {
                        found = true;
                    } else {
                        path.pop();
                    }
                }
            }
        });
        found
    }

    /// The node block for a node name: exact (case-insensitive) name, then the first regex
    /// that matches, then `default`; with no node blocks at all, the implicit default.
    /// `None` is `no-node`; `Some(None)` evaluates only the top level.
    pub fn match_node(&self, node: &str) -> Option<Option<&'p NodeDef>> {
        if !self.has_node_blocks {
            return Some(None);
        }
        let lower = node.to_lowercase();
        for b in &self.nodes {
            if b.def
                .names
                .iter()
                .any(|n| matches!(n, NodeName::Name(s, _) if s.to_lowercase() == lower))
            {
                return Some(Some(b.def));
            }
        }
        for b in &self.nodes {
            if b.regexes.iter().flatten().any(|re| re.is_match(node)) {
                return Some(Some(b.def));
            }
        }
        for b in &self.nodes {
            if b.def
                .names
                .iter()
                .any(|n| matches!(n, NodeName::Default(_)))
            {
                return Some(Some(b.def));
            }
        }
        None
    }

    /// What `check` evaluates: each string-named node (by its first matching name), and
    /// every regex or default block once as `default`; the implicit default without blocks.
    pub fn check_runs(&self) -> Vec<(String, Option<CheckRun<'p>>)> {
        if !self.has_node_blocks {
            return vec![("default".to_string(), None)];
        }
        let mut runs = Vec::new();
        for b in &self.nodes {
            let before = runs.len();
            for n in &b.def.names {
                if let NodeName::Name(s, _) = n {
                    runs.push((
                        s.clone(),
                        Some(CheckRun {
                            def: b.def,
                            named: true,
                        }),
                    ));
                }
            }
            if runs.len() == before {
                runs.push((
                    "default".to_string(),
                    Some(CheckRun {
                        def: b.def,
                        named: false,
                    }),
                ));
            }
        }
        if runs.is_empty() {
            runs.push(("default".to_string(), None));
        }
        runs
    }

    /// Node names `compile --all` writes.
    pub fn all_nodes(&self) -> Vec<String> {
        if !self.has_node_blocks {
            return vec!["default".to_string()];
        }
        let mut out: Vec<String> = Vec::new();
        let mut has_default = false;
        for b in &self.nodes {
            for n in &b.def.names {
                match n {
                    NodeName::Name(s, _) => {
                        if !out.iter().any(|o| o.eq_ignore_ascii_case(s)) {
                            out.push(s.clone());
                        }
                    }
                    NodeName::Default(_) => has_default = true,
                    NodeName::Regex(..) => {}
                }
            }
        }
        if has_default && !out.iter().any(|o| o == "default") {
            out.push("default".to_string());
        }
        out
    }
}

/// A node body `check` evaluates.
#[derive(Clone, Copy)]
pub struct CheckRun<'p> {
    pub def: &'p NodeDef,
    /// False for a regex or `default` block, evaluated as `default` with stand-in facts.
    pub named: bool,
}

fn target_static<'p>(target: &str, aliases: &HashMap<&'p str, &'p TypeExpr>) -> &'p str {
    aliases
        .get_key_value(target)
        .map(|(k, _)| *k)
        .unwrap_or("?")
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}
