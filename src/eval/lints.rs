//! Whole-program checks over the syntax tree: unused and shadowed `let`s, unused classes,
//! unknown type names. Static, so code on untaken branches counts (LANGUAGE.md §10.13).

use std::collections::{HashMap, HashSet};

use super::index::Index;
use super::input::{Loaded, LoadedFile};
use super::types;
use crate::diag::{Code, Diagnostic};
use crate::source::Span;
use crate::syntax::ast::{
    BodyItem, ChainOperand, Expr, ExprKind, Ident, Label, Param, Stmt, StmtKind, StrPart, TypeArg,
    TypeExpr, TypeKind,
};

/// Runs every static lint and check of the program.
pub(crate) fn run(program: Loaded<'_>, index: &Index<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    unknown_types(program, index, &mut out);
    unused_classes(program, &mut out);
    variables(program, &mut out);
    out
}

fn user_files(program: Loaded<'_>) -> impl Iterator<Item = &LoadedFile> {
    program
        .files
        .iter()
        .filter(|f| !program.sources.get(f.id).path.starts_with("<stdlib>"))
}

fn unknown_types(program: Loaded<'_>, index: &Index<'_>, out: &mut Vec<Diagnostic>) {
    let check = |ty: &TypeExpr, out: &mut Vec<Diagnostic>| {
        each_ident(ty, &mut |id: &Ident| {
            if !types::is_builtin(&id.name) && !index.aliases.contains_key(id.name.as_str()) {
                let mut candidates: Vec<&str> = types::BUILTIN.to_vec();
                candidates.extend(index.aliases.keys().copied());
                out.push(
                    Diagnostic::error(
                        Code::UnknownType,
                        id.span,
                        format!("no type named `{}`", id.name),
                    )
                    .with_primary("unknown type")
                    .with_suggestion(&id.name, candidates),
                );
            }
        });
    };
    for f in user_files(program) {
        walk_stmts(&f.ast.items, &mut |s: &Stmt| match &s.kind {
            StmtKind::Class(c) => c
                .params
                .iter()
                .filter_map(|p| p.ty.as_ref())
                .for_each(|t| check(t, out)),
            StmtKind::Define(d) => d
                .params
                .iter()
                .filter_map(|p| p.ty.as_ref())
                .for_each(|t| check(t, out)),
            StmtKind::TypeAlias { ty, .. } => check(ty, out),
            _ => {}
        });
    }
}

fn each_ident(ty: &TypeExpr, f: &mut dyn FnMut(&Ident)) {
    match &ty.kind {
        TypeKind::Named { name, args } => {
            f(name);
            // `Enum[a, b]` takes bare words as values, not types.
            if name.name == "Enum" {
                return;
            }
            for a in args {
                if let TypeArg::Type(t) = a {
                    each_ident(t, f);
                }
            }
        }
        TypeKind::Union(ts) => ts.iter().for_each(|t| each_ident(t, f)),
    }
}

/// Calls `f` on every statement, nested ones included.
fn walk_stmts(stmts: &[Stmt], f: &mut dyn FnMut(&Stmt)) {
    for s in stmts {
        f(s);
        match &s.kind {
            StmtKind::Class(c) => walk_stmts(&c.body, f),
            StmtKind::Define(d) => walk_stmts(&d.body, f),
            StmtKind::Node(n) => walk_stmts(&n.body, f),
            StmtKind::If(i) => {
                for (_, b) in &i.branches {
                    walk_stmts(b, f);
                }
                if let Some(b) = &i.else_body {
                    walk_stmts(b, f);
                }
            }
            StmtKind::Case(c) => c.arms.iter().for_each(|a| walk_stmts(&a.body, f)),
            StmtKind::For(l) => walk_stmts(&l.body, f),
            _ => {}
        }
    }
}

fn unused_classes(program: Loaded<'_>, out: &mut Vec<Diagnostic>) {
    let mut used: HashSet<String> = HashSet::new();
    for f in program.files {
        walk_stmts(&f.ast.items, &mut |s: &Stmt| {
            if let StmtKind::Include { classes, .. } = &s.kind {
                for c in classes {
                    used.insert(c.name.name.trim_start_matches("::").to_string());
                }
            }
        });
    }
    for f in program.files.iter().filter(|f| f.main) {
        walk_stmts(&f.ast.items, &mut |s: &Stmt| {
            if let StmtKind::Class(c) = &s.kind {
                if !used.contains(&c.name.name) {
                    out.push(
                        Diagnostic::warning(
                            Code::UnusedClass,
                            c.name.span,
                            format!("class `{}` is defined but never declared", c.name.name),
                        )
                        .with_primary("never included or contained")
                        .with_help(format!(
                            "declare it with `include {}` or remove it",
                            c.name.name
                        )),
                    );
                }
            }
        });
    }
}

struct Let {
    name: String,
    span: Span,
    used: bool,
    /// `class::name` for a `let` at the top of a class body, readable from outside.
    qualified: Option<String>,
}

/// Lexical scopes of the static variable pass: name -> the `let` it is (None for
/// parameters, loop variables and built-ins, which capture reads but are not linted).
struct Vars<'a> {
    lets: Vec<Let>,
    scopes: Vec<HashMap<&'a str, Option<usize>>>,
    out: Vec<Diagnostic>,
    /// The class whose body scope opens next (its top-level `let`s get a qualified name).
    owner: Option<&'a str>,
    /// Every `$class::name` read anywhere.
    qualified_reads: HashSet<String>,
}

fn variables(program: Loaded<'_>, out: &mut Vec<Diagnostic>) {
    let mut v = Vars {
        lets: Vec::new(),
        scopes: Vec::new(),
        out: Vec::new(),
        owner: None,
        qualified_reads: HashSet::new(),
    };
    let files: Vec<_> = user_files(program).collect();
    // One top-level scope for the whole program.
    let mut top = HashMap::new();
    for b in ["facts", "node"] {
        top.insert(b, None);
    }
    v.scopes.push(top);
    for f in &files {
        v.declare_lets(&f.ast.items, true);
    }
    for f in &files {
        v.stmts(&f.ast.items, true);
    }
    for l in &v.lets {
        let read_outside = l
            .qualified
            .as_ref()
            .is_some_and(|q| v.qualified_reads.contains(q));
        if !l.used && !read_outside {
            v.out.push(
                Diagnostic::warning(
                    Code::UnusedVariable,
                    l.span,
                    format!("`${}` is never read", l.name),
                )
                .with_primary("bound here, never used")
                .with_help("remove the `let`, or use the variable"),
            );
        }
    }
    out.extend(v.out);
}

impl<'a> Vars<'a> {
    /// Records the `let`s written directly in a scope's statements (not nested ones).
    fn declare_lets(&mut self, stmts: &'a [Stmt], _top: bool) {
        let owner = self.owner.take();
        for s in stmts {
            if let StmtKind::Let { var, .. } = &s.kind {
                if matches!(var.name.as_str(), "facts" | "node" | "title") {
                    continue;
                }
                let scope = self.scopes.last_mut().expect("a scope is open");
                if scope.contains_key(var.name.as_str()) {
                    continue; // duplicate-variable is the evaluator's
                }
                // Shadowing an outer `let`?
                let outer = self.scopes[..self.scopes.len() - 1]
                    .iter()
                    .rev()
                    .find_map(|s| s.get(var.name.as_str()).copied().flatten());
                if let Some(o) = outer {
                    let first = self.lets[o].span;
                    self.out.push(
                        Diagnostic::warning(
                            Code::ShadowedVariable,
                            var.span,
                            format!("`${}` shadows a variable of an outer scope", var.name),
                        )
                        .with_primary("shadows the outer one")
                        .with_label(first, "outer variable bound here"),
                    );
                }
                let id = self.lets.len();
                self.lets.push(Let {
                    name: var.name.clone(),
                    span: var.span,
                    used: false,
                    qualified: owner
                        .map(|c| format!("{}::{}", c.trim_start_matches("::"), var.name)),
                });
                self.scopes
                    .last_mut()
                    .expect("a scope is open")
                    .insert(&var.name, Some(id));
            }
        }
    }

    fn open(&mut self, stmts: &'a [Stmt], bindings: &[&'a str]) {
        let mut scope = HashMap::new();
        for b in bindings {
            scope.insert(*b, None);
        }
        self.scopes.push(scope);
        self.declare_lets(stmts, false);
        self.stmts(stmts, false);
        self.scopes.pop();
    }

    /// Class and define bodies see the top level and their own scope only.
    /// `class`: the class's name, whose top-level `let`s are read from outside as `$class::x`.
    fn body(
        &mut self,
        params: &'a [Param],
        stmts: &'a [Stmt],
        title: bool,
        class: Option<&'a str>,
    ) {
        let saved = self.scopes.split_off(1);
        let mut names: Vec<&'a str> = params.iter().map(|p| p.var.name.as_str()).collect();
        if title {
            names.push("title");
        }
        // Parameter defaults see the top level and earlier parameters.
        let mut scope = HashMap::new();
        for p in params {
            if let Some(d) = &p.default {
                self.scopes.push(scope.clone());
                self.expr(d);
                self.scopes.pop();
            }
            scope.insert(p.var.name.as_str(), None);
        }
        self.owner = class;
        self.open(stmts, &names);
        self.scopes.extend(saved);
    }

    fn stmts(&mut self, stmts: &'a [Stmt], _top: bool) {
        for s in stmts {
            match &s.kind {
                StmtKind::Let { value, .. } => self.expr(value),
                StmtKind::Class(c) => {
                    self.body(&c.params, &c.body, false, Some(c.name.name.as_str()))
                }
                StmtKind::Define(d) => self.body(&d.params, &d.body, true, None),
                StmtKind::Node(n) => {
                    let saved = self.scopes.split_off(1);
                    self.open(&n.body, &[]);
                    self.scopes.extend(saved);
                }
                StmtKind::Include { classes, .. } => {
                    for c in classes {
                        for a in c.args.iter().flatten() {
                            self.expr(&a.value);
                        }
                    }
                }
                StmtKind::Resource(r) => {
                    self.expr(&r.title);
                    self.body_items(&r.body);
                }
                StmtKind::Defaults { body, .. } | StmtKind::Provision { body, .. } => {
                    self.body_items(body)
                }
                StmtKind::Profile(p) => self.body_items(&p.body),
                StmtKind::Chain(c) => {
                    for op in &c.operands {
                        match op {
                            ChainOperand::Expr(e) => self.expr(e),
                            ChainOperand::Resource(r) => {
                                self.expr(&r.title);
                                self.body_items(&r.body);
                            }
                        }
                    }
                }
                StmtKind::If(i) => {
                    for (c, b) in &i.branches {
                        self.expr(c);
                        self.open(b, &[]);
                    }
                    if let Some(b) = &i.else_body {
                        self.open(b, &[]);
                    }
                }
                StmtKind::Case(c) => {
                    self.expr(&c.subject);
                    for arm in &c.arms {
                        for l in &arm.labels {
                            if let Label::Value(e) = l {
                                self.expr(e);
                            }
                        }
                        self.open(&arm.body, &[]);
                    }
                }
                StmtKind::For(l) => {
                    self.expr(&l.iter);
                    let mut names = vec![l.var.name.as_str()];
                    if let Some(k) = &l.key {
                        names.push(k.name.as_str());
                    }
                    self.open(&l.body, &names);
                }
                StmtKind::Call(c) => self.call(&c.name.name, &c.args),
                StmtKind::Import { .. } | StmtKind::TypeAlias { .. } => {}
            }
        }
    }

    fn body_items(&mut self, items: &'a [BodyItem]) {
        for i in items {
            match i {
                BodyItem::Attr { value, .. } | BodyItem::Splat { value, .. } => self.expr(value),
            }
        }
    }

    fn call(&mut self, name: &str, args: &'a [Expr]) {
        if name == "template" {
            // A template sees every visible variable: all of them count as used.
            for s in &self.scopes {
                for id in s.values().flatten() {
                    self.lets[*id].used = true;
                }
            }
        }
        for a in args {
            self.expr(a);
        }
    }

    fn read(&mut self, name: &str) {
        if name.contains("::") {
            self.qualified_reads
                .insert(name.trim_start_matches("::").to_string());
            return;
        }
        for s in self.scopes.iter().rev() {
            if let Some(b) = s.get(name) {
                if let Some(id) = b {
                    self.lets[*id].used = true;
                }
                return;
            }
        }
    }

    fn expr(&mut self, e: &'a Expr) {
        match &e.kind {
            ExprKind::Var(name) => self.read(name),
            ExprKind::Interp(parts) => {
                for p in parts {
                    if let StrPart::Expr(x) = p {
                        self.expr(x);
                    }
                }
            }
            ExprKind::Array(items) => items.iter().for_each(|i| self.expr(i)),
            ExprKind::Map(entries) => entries.iter().for_each(|(_, v)| self.expr(v)),
            ExprKind::Ref { titles, .. } => titles.iter().for_each(|t| self.expr(t)),
            ExprKind::Call(c) => self.call(&c.name.name, &c.args),
            ExprKind::Field { base, .. } => self.expr(base),
            ExprKind::Index { base, index } => {
                self.expr(base);
                self.expr(index);
            }
            ExprKind::Unary { expr, .. } => self.expr(expr),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Selector { subject, arms } => {
                self.expr(subject);
                for (l, v) in arms {
                    if let Label::Value(x) = l {
                        self.expr(x);
                    }
                    self.expr(v);
                }
            }
            ExprKind::If {
                branches,
                else_value,
            } => {
                for (c, v) in branches {
                    self.expr(c);
                    self.expr(v);
                }
                self.expr(else_value);
            }
            ExprKind::ArrayComp(c) => {
                self.expr(&c.iter);
                self.comp(&c.key, &c.var, |s| {
                    if let Some(cond) = &c.cond {
                        s.expr(cond);
                    }
                    s.expr(&c.value);
                });
            }
            ExprKind::MapComp(c) => {
                self.expr(&c.iter);
                self.comp(&c.key, &c.var, |s| {
                    if let Some(cond) = &c.cond {
                        s.expr(cond);
                    }
                    s.expr(&c.out_key);
                    s.expr(&c.out_value);
                });
            }
            ExprKind::Str(_)
            | ExprKind::Int(_)
            | ExprKind::Bool(_)
            | ExprKind::None
            | ExprKind::Regex(_) => {}
        }
    }

    fn comp(&mut self, key: &'a Option<Ident>, var: &'a Ident, f: impl FnOnce(&mut Self)) {
        let mut scope = HashMap::new();
        scope.insert(var.name.as_str(), None);
        if let Some(k) = key {
            scope.insert(k.name.as_str(), None);
        }
        self.scopes.push(scope);
        f(self);
        self.scopes.pop();
    }
}
