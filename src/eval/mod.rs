//! AST -> values, scopes, classes, defines, nodes and built-in functions -> declared resources.
//!
//! One `Evaluator` runs one node: the top-level statements of every file in load order (an
//! imported file's at its `import`), then the node's body. Class bodies run where the class is
//! first declared, define bodies where an instance is declared. Every problem becomes a
//! diagnostic; a failed expression yields `Err(Failed)` and what depends on it stays quiet.

mod budget;
pub(crate) mod builtins;
pub(crate) mod data;
mod expr;
pub(crate) mod facts;
pub(crate) mod fleet;
pub(crate) mod index;
pub(crate) mod input;
pub(crate) mod lints;
pub(crate) mod profile;
pub(crate) mod profile_decl;
pub(crate) mod provision;
mod resources;
mod scope;
mod template;
pub(crate) mod types;

use crate::model::attrs::AttrMap;
use std::collections::{HashMap, HashSet};

use crate::diag::{Code, Diagnostic};
use crate::model::declared::NodeEval;
use crate::model::name::Name;
use crate::model::value::Value;
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, NodeDef, Stmt, StmtKind};
use index::Index;
use input::{Loaded, LoadedFile};
use scope::{Binding, Frame, Scopes};

/// An expression failed; its diagnostic (if any) has been reported.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failed;

pub(crate) type R<T> = Result<T, Failed>;

/// Nesting of class/define bodies and blocks beyond this is refused with a diagnostic.
const MAX_DEPTH: usize = 200;

/// Evaluates one node: top level, then `block`'s body (`None`: top level only). `fleet` is
/// what `nodes()` and `collect()` see of the rest of the fleet.
pub(crate) fn evaluate(
    program: Loaded<'_>,
    index: &Index<'_>,
    node: &str,
    block: Option<&NodeDef>,
    facts: Value,
    fleet: fleet::Context<'_>,
) -> (NodeEval, Vec<Diagnostic>) {
    let mut ev = Evaluator::new(program, index, node, facts, fleet);
    ev.run(block);
    ev.finish()
}

/// The `provision { … }` record of a string-named node block, evaluated alone: for `nodes()`,
/// which needs no evaluation of other nodes. Its values see `$node`, `$facts`, the built-ins
/// and the program's top-level `let`s, run for this with no fleet (`nodes()` and `collect()`
/// answer `[]` there, so that no record depends on another); a record that does not
/// evaluate cleanly alone, or is missing, is `None` (its node's own evaluation reports its
/// problems).
pub(crate) fn provision_alone(
    program: Loaded<'_>,
    index: &Index<'_>,
    node: &str,
    block: &NodeDef,
    facts: Value,
) -> Option<indexmap::IndexMap<String, Value>> {
    if !matches!(&block.names[..], [ast::NodeName::Name(..)]) {
        return None;
    }
    let (keyword, body) = block.body.iter().find_map(|s| match &s.kind {
        StmtKind::Provision { keyword_span, body } => Some((*keyword_span, body)),
        _ => None,
    })?;
    let mut ev = Evaluator::new(program, index, node, facts, fleet::Context::default());
    ev.bind_top_level();
    let attrs = ev.body_attrs(body, 0);
    let (values, _, diags) = provision::validate(keyword, attrs);
    let clean = !ev.diags.iter().chain(&diags).any(Diagnostic::is_error);
    clean.then_some(values)
}

/// Resource defaults of one block and the resources declared in it.
#[derive(Default)]
struct DefaultsBlock {
    resources: Vec<usize>,
    defaults: Vec<(String, AttrMap)>,
}

/// A declared class: its container, or None when it could not be evaluated.
struct DeclaredClass {
    container: Option<usize>,
}

pub(crate) struct Evaluator<'p> {
    program: Loaded<'p>,
    index: &'p Index<'p>,
    node: String,
    fleet: fleet::Context<'p>,
    /// The call being evaluated stands as a statement (its value is not used): `export`.
    call_is_statement: bool,
    scopes: Scopes,
    out: NodeEval,
    diags: Vec<Diagnostic>,
    /// Which classes were declared, by name.
    classes: HashMap<String, DeclaredClass>,
    /// Variables of evaluated classes, for `$class::name`.
    class_vars: HashMap<String, Frame>,
    /// The scope stacks of the bodies interrupted by a nested class or define body, outermost
    /// first: a running class's frame stays readable from the bodies it declares.
    suspended: Vec<Vec<Frame>>,
    /// Classes whose body is running, with the `suspended` depth at which their frames are
    /// the live ones (`$class::param` is readable from the moment it is bound, LANGUAGE.md §1).
    running: Vec<(String, usize)>,
    /// (kind, title) and (kind, namevar value) of declared resources and define instances,
    /// for `defined()`: built on its first call and brought up to date on each, so that a
    /// node that never calls it does not hash every resource.
    declared: std::cell::RefCell<resources::DefinedIndex>,
    blocks: Vec<DefaultsBlock>,
    global_defaults: Vec<(String, AttrMap)>,
    /// True while running statements directly at a file's top level.
    top_level: bool,
    /// The container (class or define instance) whose body is running.
    container: Option<usize>,
    /// Tags contributed by the enclosing class and defines.
    tags: Vec<Name>,
    depth: usize,
    /// `fail()` was called: the node stops.
    stopped: bool,
    /// Files whose top level has run.
    ran_files: HashSet<FileId>,
    templates: template::Cache,
    budget: budget::Budget,
}

impl<'p> Evaluator<'p> {
    fn new(
        program: Loaded<'p>,
        index: &'p Index<'p>,
        node: &str,
        facts: Value,
        fleet: fleet::Context<'p>,
    ) -> Evaluator<'p> {
        let fact_groups = match &facts {
            Value::Map(m) => match m.get("groups") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|g| Some(g.as_str()?.to_string()))
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let mut scopes = Scopes::default();
        scopes.top.insert(
            "facts".into(),
            Binding {
                value: Some(facts),
                span: None,
            },
        );
        scopes.top.insert(
            "node".into(),
            Binding {
                value: Some(Value::str(node)),
                span: None,
            },
        );
        Evaluator {
            program,
            index,
            node: node.to_string(),
            fleet,
            call_is_statement: false,
            scopes,
            out: NodeEval {
                node: node.to_string(),
                fact_groups,
                ..Default::default()
            },
            diags: Vec::new(),
            classes: HashMap::new(),
            class_vars: HashMap::new(),
            suspended: Vec::new(),
            running: Vec::new(),
            declared: Default::default(),
            blocks: vec![DefaultsBlock::default()],
            global_defaults: Vec::new(),
            top_level: true,
            container: None,
            tags: Vec::new(),
            depth: 0,
            stopped: false,
            ran_files: HashSet::new(),
            templates: template::Cache::default(),
            budget: budget::Budget::new(),
        }
    }

    fn run(&mut self, block: Option<&NodeDef>) {
        self.run_mains();
        if let Some(node) = block {
            if !self.stopped {
                self.run_node_body(node);
            }
        }
        // Top-level defaults reach every resource of their type.
        let all: Vec<usize> = (0..self.out.resources.len()).collect();
        let remaining = std::mem::take(&mut self.blocks);
        for b in remaining {
            self.apply_defaults(&b.defaults, &b.resources);
        }
        let globals = std::mem::take(&mut self.global_defaults);
        self.apply_defaults(&globals, &all);
    }

    /// Runs the top level of every file given on the command line (imports at their
    /// `import`).
    fn run_mains(&mut self) {
        let mains: Vec<FileId> = self
            .program
            .files
            .iter()
            .filter(|f| f.main)
            .map(|f| f.id)
            .collect();
        for f in mains {
            self.run_file(f);
        }
    }

    /// Runs the main files' top level for its variables only, before evaluating something
    /// written outside any node (an install profile, a record alone): what it declares and
    /// reports is the node evaluations' business, so it is dropped here.
    fn bind_top_level(&mut self) {
        self.run_mains();
        self.diags.clear();
        self.stopped = false;
        self.out = NodeEval::default();
        self.blocks.clear();
        self.global_defaults.clear();
        self.top_level = false;
    }

    fn finish(self) -> (NodeEval, Vec<Diagnostic>) {
        let Evaluator { mut out, diags, .. } = self;
        // The rest of the evaluator is gone; the catalog is built while this is alive, so
        // the vectors give back what doubling left unused (a quarter of them on average).
        out.resources.shrink_to_fit();
        out.relations.shrink_to_fit();
        out.containers.shrink_to_fit();
        (out, diags)
    }

    /// Runs a file's top-level statements once (imports run at their `import`). Iterative:
    /// a chain of thousands of imports costs no call stack.
    fn run_file(&mut self, file: FileId) {
        let program = self.program;
        let find = |id: FileId| program.files.get(id.0 as usize).filter(|f| f.id == id);
        if self.stopped || !self.ran_files.insert(file) {
            return;
        }
        let mut stack: Vec<(&LoadedFile, usize)> = find(file).map(|f| (f, 0)).into_iter().collect();
        'files: while let Some((loaded, next)) = stack.pop() {
            for (i, stmt) in loaded.ast.items.iter().enumerate().skip(next) {
                if self.stopped {
                    break 'files;
                }
                if let StmtKind::Import { .. } = stmt.kind {
                    let target = program.imports.get(&(loaded.id, i)).copied();
                    if let Some(imported) =
                        target.filter(|&t| self.ran_files.insert(t)).and_then(find)
                    {
                        stack.push((loaded, i + 1));
                        stack.push((imported, 0));
                        continue 'files;
                    }
                    continue;
                }
                self.top_level = true;
                self.stmt(stmt);
            }
        }
    }

    fn run_node_body(&mut self, node: &NodeDef) {
        let provision_ok =
            node.names.len() == 1 && matches!(node.names[0], ast::NodeName::Name(..));
        self.top_level = false;
        self.scopes.frames.push(Frame::default());
        self.blocks.push(DefaultsBlock::default());
        for stmt in &node.body {
            if self.stopped {
                break;
            }
            if let StmtKind::Provision { keyword_span, body } = &stmt.kind {
                if provision_ok {
                    self.provision(*keyword_span, body);
                    continue;
                }
            }
            self.stmt(stmt);
        }
        self.close_block();
        self.scopes.frames.pop();
    }

    /// Runs statements in a new scope and defaults block (if/case/for bodies).
    fn block(&mut self, stmts: &[Stmt]) {
        if !self.enter(stmts.first().map(|s| s.span)) {
            return;
        }
        let saved_top = std::mem::replace(&mut self.top_level, false);
        self.scopes.frames.push(Frame::default());
        self.blocks.push(DefaultsBlock::default());
        self.stmts(stmts);
        self.close_block();
        self.scopes.frames.pop();
        self.top_level = saved_top;
        self.depth -= 1;
    }

    /// Applies the innermost block's defaults to its resources and hands them to the
    /// enclosing block (whose defaults also reach them).
    fn close_block(&mut self) {
        let b = self.blocks.pop().unwrap_or_default();
        self.apply_defaults(&b.defaults, &b.resources);
        if let Some(parent) = self.blocks.last_mut() {
            parent.resources.extend(b.resources);
        }
    }

    /// Depth guard for nested bodies; reports once and refuses when too deep.
    fn enter(&mut self, at: Option<Span>) -> bool {
        if self.depth >= MAX_DEPTH {
            if let Some(span) = at {
                self.diags.push(Diagnostic::error(
                    Code::InvalidValue,
                    span,
                    format!("classes, defines and blocks nest deeper than {MAX_DEPTH} levels"),
                ));
            }
            self.stopped = true;
            return false;
        }
        self.depth += 1;
        true
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            if self.stopped {
                break;
            }
            self.stmt(s);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Import { .. } => {}
            StmtKind::Class(_)
            | StmtKind::Define(_)
            | StmtKind::TypeAlias { .. }
            | StmtKind::Node(_) => {}
            StmtKind::Let { var, value } => {
                let v = self.eval(value).ok();
                self.bind_let(var, v);
            }
            StmtKind::Include {
                contain, classes, ..
            } => {
                for c in classes {
                    if self.stopped {
                        break;
                    }
                    self.declare_class(c, *contain);
                }
            }
            StmtKind::Resource(decl) => {
                self.declare(decl);
            }
            StmtKind::Defaults { type_name, body } => {
                let attrs = self.body_attrs(body, 0);
                let kind = type_name.name.to_lowercase();
                if self.top_level {
                    self.global_defaults.push((kind, attrs));
                } else if let Some(b) = self.blocks.last_mut() {
                    b.defaults.push((kind, attrs));
                }
            }
            StmtKind::Chain(chain) => self.chain(chain),
            StmtKind::If(s) => {
                for (cond, body) in &s.branches {
                    match self.eval_bool(cond) {
                        Ok(true) => {
                            self.block(body);
                            return;
                        }
                        Ok(false) => {}
                        Err(Failed) => return,
                    }
                }
                if let Some(body) = &s.else_body {
                    self.block(body);
                }
            }
            StmtKind::Case(c) => {
                let Ok(subject) = self.eval(&c.subject) else {
                    return;
                };
                let mut default = None;
                for arm in &c.arms {
                    for label in &arm.labels {
                        match self.label_matches(label, &subject) {
                            Ok(Some(true)) => {
                                self.block(&arm.body);
                                return;
                            }
                            Ok(Some(false)) => {}
                            Ok(None) => {
                                if default.is_none() {
                                    default = Some(&arm.body);
                                }
                            }
                            Err(Failed) => return,
                        }
                    }
                }
                if let Some(body) = default {
                    self.block(body);
                }
            }
            StmtKind::For(f) => self.for_loop(f),
            StmtKind::Call(call) => {
                self.call_is_statement = true;
                let _ = self.call(call);
            }
            StmtKind::Profile(p) => {
                if !self.top_level {
                    self.diags.push(Diagnostic::error(
                        Code::InvalidValue,
                        p.keyword_span,
                        "an install profile (`provision \"NAME\" { … }`) is declared at the top level of a file",
                    ));
                }
            }
            StmtKind::Provision { keyword_span, .. } => {
                self.diags.push(Diagnostic::error(
                    Code::InvalidValue,
                    *keyword_span,
                    "`provision` belongs directly in the body of a node block with exactly one name",
                ));
            }
        }
    }

    fn for_loop(&mut self, f: &ast::ForStmt) {
        // The same walk as a comprehension's: Array elements with indices, Map entries.
        let Ok(items) = self.comp_items(&f.iter) else {
            return;
        };
        for (k, v) in items {
            if self.stopped || self.step(1, f.iter.span).is_err() {
                break;
            }
            let frame = expr::comp_frame(&f.key, &f.var, k, v);
            if !self.enter(f.body.first().map(|s| s.span)) {
                return;
            }
            let saved_top = std::mem::replace(&mut self.top_level, false);
            self.scopes.frames.push(frame);
            self.blocks.push(DefaultsBlock::default());
            self.stmts(&f.body);
            self.close_block();
            self.scopes.frames.pop();
            self.top_level = saved_top;
            self.depth -= 1;
        }
    }

    /// Binds a `let` in the innermost scope (`duplicate-variable` when already bound there).
    fn bind_let(&mut self, var: &ast::Ident, value: Option<Value>) {
        if matches!(var.name.as_str(), "facts" | "node" | "title") {
            self.diags.push(
                Diagnostic::error(
                    Code::DuplicateVariable,
                    var.span,
                    format!("`${}` is built in and cannot be bound", var.name),
                )
                .with_primary("built-in variable"),
            );
            return;
        }
        let frame = self.scopes.current();
        if let Some(first) = frame.get(&var.name) {
            let mut d = Diagnostic::error(
                Code::DuplicateVariable,
                var.span,
                format!("`${}` is already bound in this scope", var.name),
            )
            .with_primary("bound again here");
            if let Some(s) = first.span {
                d = d.with_label(s, "first bound here");
            }
            self.diags.push(d);
            return;
        }
        frame.insert(
            var.name.clone(),
            Binding {
                value,
                span: Some(var.span),
            },
        );
    }

    /// Evaluates a condition that must be a Bool.
    fn eval_bool(&mut self, e: &ast::Expr) -> R<bool> {
        match self.eval(e)? {
            Value::Bool(b) => Ok(b),
            other => {
                self.diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        e.span,
                        format!("a condition must be a Bool, not a {}", other.type_name()),
                    )
                    .with_primary(format!("this is {other}"))
                    .with_help("fleet has no truthiness: compare explicitly, e.g. `$x != 0`"),
                );
                Err(Failed)
            }
        }
    }

    fn error(&mut self, code: Code, span: Span, message: impl Into<String>) -> Failed {
        self.diags.push(Diagnostic::error(code, span, message));
        Failed
    }
}
