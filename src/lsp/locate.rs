//! What is under the cursor: a walk down the AST by byte offset that also tracks which
//! variables are bound there (for hover and go to definition of `$name`).

use crate::source::Span;
use crate::syntax::ast::*;

/// The innermost named thing at an offset.
#[derive(Debug)]
pub(crate) enum Target<'a> {
    /// A resource type name: in a declaration, a defaults block (`File {`) or a define's
    /// definition. `lower` is the type as declared (`file`, `nginx::vhost`).
    Type { lower: String },
    /// An attribute name in the body of a resource of type `kind` (`provision` for a
    /// provision block).
    Attr { kind: String, name: &'a Ident },
    /// A bare-word or string value of an attribute.
    Value {
        kind: String,
        attr: String,
        expr: &'a Expr,
    },
    /// A class name after `include`/`contain`, or in its definition.
    Class { name: &'a Ident },
    /// A parameter name in `include name(param = …)`.
    ClassArg { class: String, name: &'a Ident },
    /// `$name`, with the binding in scope when one was found in this file.
    Var {
        name: String,
        binding: Option<Binding<'a>>,
    },
    /// A function name in a call.
    Func { name: &'a Ident },
    /// `Type["title", …]`.
    Ref {
        type_name: &'a Ident,
        titles: &'a [Expr],
    },
    /// The string of `import "…"`, with the statement's index in its file.
    Import { index: usize, path: &'a str },
    /// A name in a type expression, or a `type` alias being defined.
    TypeName { name: &'a Ident },
}

/// Where a variable was bound.
#[derive(Clone, Debug)]
pub(crate) struct Binding<'a> {
    pub name: String,
    /// The `$name` that binds it.
    pub span: Span,
    pub kind: BindKind<'a>,
}

#[derive(Clone, Debug)]
pub(crate) enum BindKind<'a> {
    Let(&'a Expr),
    /// A parameter of the class or define `owner`.
    Param {
        owner: &'a str,
        param: &'a Param,
    },
    /// A `for` loop or comprehension variable.
    Loop,
}

struct Frame<'a> {
    /// Class and define bodies see only their own frames and the top level.
    barrier: bool,
    binds: Vec<Binding<'a>>,
}

struct Walker<'a> {
    off: u32,
    frames: Vec<Frame<'a>>,
}

/// The target at `offset` in `file`, if any.
pub(crate) fn locate(file: &File, offset: usize) -> Option<Target<'_>> {
    let mut w = Walker {
        off: offset as u32,
        frames: vec![Frame {
            barrier: false,
            binds: Vec::new(),
        }],
    };
    w.stmts(&file.items)
}

fn within(span: Span, off: u32) -> bool {
    span.start <= off && off <= span.end
}

fn bind<'a>(name: &Ident, kind: BindKind<'a>) -> Binding<'a> {
    Binding {
        name: name.name.clone(),
        span: name.span,
        kind,
    }
}

impl<'a> Walker<'a> {
    fn push(&mut self, barrier: bool, binds: Vec<Binding<'a>>) {
        self.frames.push(Frame { barrier, binds });
    }

    fn pop(&mut self) {
        self.frames.pop();
    }

    fn scoped<T>(
        &mut self,
        barrier: bool,
        binds: Vec<Binding<'a>>,
        f: impl FnOnce(&mut Self) -> T,
    ) -> T {
        self.push(barrier, binds);
        let r = f(self);
        self.pop();
        r
    }

    fn resolve(&self, name: &str) -> Option<Binding<'a>> {
        for (i, frame) in self.frames.iter().enumerate().rev() {
            if let Some(b) = frame.binds.iter().rev().find(|b| b.name == name) {
                return Some(b.clone());
            }
            if frame.barrier && i > 0 {
                return self.frames[0]
                    .binds
                    .iter()
                    .rev()
                    .find(|b| b.name == name)
                    .cloned();
            }
        }
        None
    }

    fn var(&self, name: &str, binding: Option<Binding<'a>>) -> Target<'a> {
        Target::Var {
            name: name.to_string(),
            binding: binding.or_else(|| self.resolve(name)),
        }
    }

    fn stmts(&mut self, stmts: &'a [Stmt]) -> Option<Target<'a>> {
        for (index, s) in stmts.iter().enumerate() {
            if within(s.span, self.off) {
                if let Some(t) = self.stmt(s, index) {
                    return Some(t);
                }
            }
            if s.span.end <= self.off {
                if let StmtKind::Let { var, value } = &s.kind {
                    let b = bind(var, BindKind::Let(value));
                    self.frames.last_mut().expect("a frame").binds.push(b);
                }
            }
        }
        None
    }

    fn stmt(&mut self, s: &'a Stmt, index: usize) -> Option<Target<'a>> {
        let off = self.off;
        match &s.kind {
            StmtKind::Import { path, path_span } => {
                within(*path_span, off).then_some(Target::Import { index, path })
            }
            StmtKind::Let { var, value } => {
                if within(var.span, off) {
                    let b = bind(var, BindKind::Let(value));
                    return Some(self.var(&var.name, Some(b)));
                }
                self.expr(value)
            }
            StmtKind::TypeAlias { name, ty } => {
                if within(name.span, off) {
                    return Some(Target::TypeName { name });
                }
                self.type_expr(ty)
            }
            StmtKind::Class(c) => {
                if within(c.name.span, off) {
                    return Some(Target::Class { name: &c.name });
                }
                self.definition(&c.name.name, &c.params, &c.body)
            }
            StmtKind::Define(d) => {
                if within(d.name.span, off) {
                    return Some(Target::Type {
                        lower: d.name.name.clone(),
                    });
                }
                self.definition(&d.name.name, &d.params, &d.body)
            }
            StmtKind::Node(n) => self.scoped(false, Vec::new(), |w| w.stmts(&n.body)),
            StmtKind::Include { classes, .. } => {
                for c in classes {
                    if within(c.name.span, off) {
                        return Some(Target::Class { name: &c.name });
                    }
                    for a in c.args.iter().flatten() {
                        if within(a.name.span, off) {
                            return Some(Target::ClassArg {
                                class: c.name.name.clone(),
                                name: &a.name,
                            });
                        }
                        if let Some(t) = self.expr(&a.value) {
                            return Some(t);
                        }
                    }
                }
                None
            }
            StmtKind::Resource(r) => self.resource(r),
            StmtKind::Defaults { type_name, body } => {
                let lower = type_name.name.to_lowercase();
                if within(type_name.span, off) {
                    return Some(Target::Type { lower });
                }
                self.body(body, &lower)
            }
            StmtKind::Chain(c) => c.operands.iter().find_map(|o| match o {
                ChainOperand::Expr(e) => self.expr(e),
                ChainOperand::Resource(r) => self.resource(r),
            }),
            StmtKind::If(i) => {
                for (cond, body) in &i.branches {
                    if let Some(t) = self.expr(cond) {
                        return Some(t);
                    }
                    if let Some(t) = self.scoped(false, Vec::new(), |w| w.stmts(body)) {
                        return Some(t);
                    }
                }
                let body = i.else_body.as_ref()?;
                self.scoped(false, Vec::new(), |w| w.stmts(body))
            }
            StmtKind::Case(c) => {
                if let Some(t) = self.expr(&c.subject) {
                    return Some(t);
                }
                for arm in &c.arms {
                    for l in &arm.labels {
                        if let Label::Value(e) = l {
                            if let Some(t) = self.expr(e) {
                                return Some(t);
                            }
                        }
                    }
                    if let Some(t) = self.scoped(false, Vec::new(), |w| w.stmts(&arm.body)) {
                        return Some(t);
                    }
                }
                None
            }
            StmtKind::For(f) => {
                let binds: Vec<Binding> = f
                    .key
                    .iter()
                    .chain([&f.var])
                    .map(|v| bind(v, BindKind::Loop))
                    .collect();
                if let Some(b) = binds.iter().find(|b| within(b.span, off)) {
                    return Some(self.var(&b.name, Some(b.clone())));
                }
                if let Some(t) = self.expr(&f.iter) {
                    return Some(t);
                }
                self.scoped(false, binds, |w| w.stmts(&f.body))
            }
            StmtKind::Call(c) => self.call(c),
            StmtKind::Provision { body, .. } => self.body(body, "provision"),
            StmtKind::Profile(p) => self.body(&p.body, "provision"),
        }
    }

    fn definition(
        &mut self,
        owner: &'a str,
        params: &'a [Param],
        body: &'a [Stmt],
    ) -> Option<Target<'a>> {
        let binds: Vec<Binding<'a>> = params
            .iter()
            .map(|p| bind(&p.var, BindKind::Param { owner, param: p }))
            .collect();
        for (p, b) in params.iter().zip(&binds) {
            if within(p.var.span, self.off) {
                return Some(self.var(&b.name, Some(b.clone())));
            }
            if let Some(t) = p.ty.as_ref().and_then(|t| self.type_expr(t)) {
                return Some(t);
            }
            if let Some(d) = &p.default {
                if let Some(t) = self.expr(d) {
                    return Some(t);
                }
            }
        }
        self.scoped(true, binds, |w| w.stmts(body))
    }

    fn resource(&mut self, r: &'a ResourceDecl) -> Option<Target<'a>> {
        if within(r.kind.span, self.off) {
            return Some(Target::Type {
                lower: r.kind.name.clone(),
            });
        }
        if let Some(t) = self.expr(&r.title) {
            return Some(t);
        }
        self.body(&r.body, &r.kind.name)
    }

    fn body(&mut self, items: &'a [BodyItem], kind: &str) -> Option<Target<'a>> {
        for item in items {
            match item {
                BodyItem::Attr { name, value } => {
                    if within(name.span, self.off) {
                        return Some(Target::Attr {
                            kind: kind.to_string(),
                            name,
                        });
                    }
                    if let Some(t) = self.expr(value) {
                        return Some(t);
                    }
                    if within(value.span, self.off) && matches!(value.kind, ExprKind::Str(_)) {
                        return Some(Target::Value {
                            kind: kind.to_string(),
                            attr: name.name.clone(),
                            expr: value,
                        });
                    }
                }
                BodyItem::Splat { value, .. } => {
                    if let Some(t) = self.expr(value) {
                        return Some(t);
                    }
                }
            }
        }
        None
    }

    fn call(&mut self, c: &'a Call) -> Option<Target<'a>> {
        if within(c.name.span, self.off) {
            return Some(Target::Func { name: &c.name });
        }
        c.args.iter().find_map(|a| self.expr(a))
    }

    fn type_expr(&mut self, t: &'a TypeExpr) -> Option<Target<'a>> {
        if !within(t.span, self.off) {
            return None;
        }
        match &t.kind {
            TypeKind::Named { name, args } => {
                if within(name.span, self.off) {
                    return Some(Target::TypeName { name });
                }
                args.iter().find_map(|a| match a {
                    TypeArg::Type(t) => self.type_expr(t),
                    TypeArg::Value(e) => self.expr(e),
                    TypeArg::Regex(..) => None,
                })
            }
            TypeKind::Union(ts) => ts.iter().find_map(|t| self.type_expr(t)),
        }
    }

    fn expr(&mut self, e: &'a Expr) -> Option<Target<'a>> {
        if !within(e.span, self.off) {
            return None;
        }
        match &e.kind {
            ExprKind::Var(name) => Some(self.var(name, None)),
            ExprKind::Interp(parts) => parts.iter().find_map(|p| match p {
                StrPart::Expr(x) => self.expr(x),
                StrPart::Lit(_) => None,
            }),
            ExprKind::Array(items) => items.iter().find_map(|i| self.expr(i)),
            ExprKind::Map(entries) => entries.iter().find_map(|(_, v)| self.expr(v)),
            ExprKind::Ref { type_name, titles } => {
                if let Some(t) = titles.iter().find_map(|t| self.expr(t)) {
                    return Some(t);
                }
                Some(Target::Ref { type_name, titles })
            }
            ExprKind::Call(c) => self.call(c),
            ExprKind::Field { base, .. } => self.expr(base),
            ExprKind::Index { base, index } => self.expr(base).or_else(|| self.expr(index)),
            ExprKind::Unary { expr, .. } => self.expr(expr),
            ExprKind::Binary { lhs, rhs, .. } => self.expr(lhs).or_else(|| self.expr(rhs)),
            ExprKind::Selector { subject, arms } => self.expr(subject).or_else(|| {
                arms.iter().find_map(|(l, v)| {
                    let label = match l {
                        Label::Value(x) => self.expr(x),
                        _ => None,
                    };
                    label.or_else(|| self.expr(v))
                })
            }),
            ExprKind::If {
                branches,
                else_value,
            } => branches
                .iter()
                .find_map(|(c, v)| self.expr(c).or_else(|| self.expr(v)))
                .or_else(|| self.expr(else_value)),
            ExprKind::ArrayComp(c) => self.comprehension(
                c.key.as_ref(),
                &c.var,
                &c.iter,
                c.cond.as_ref(),
                &[&c.value],
            ),
            ExprKind::MapComp(c) => self.comprehension(
                c.key.as_ref(),
                &c.var,
                &c.iter,
                c.cond.as_ref(),
                &[&c.out_key, &c.out_value],
            ),
            ExprKind::Str(_)
            | ExprKind::Int(_)
            | ExprKind::Bool(_)
            | ExprKind::None
            | ExprKind::Regex(_) => None,
        }
    }

    fn comprehension(
        &mut self,
        key: Option<&'a Ident>,
        var: &'a Ident,
        iter: &'a Expr,
        cond: Option<&'a Expr>,
        outs: &[&'a Expr],
    ) -> Option<Target<'a>> {
        let binds: Vec<Binding<'a>> = key
            .into_iter()
            .chain([var])
            .map(|v| bind(v, BindKind::Loop))
            .collect();
        if let Some(b) = binds.iter().find(|b| within(b.span, self.off)) {
            return Some(self.var(&b.name, Some(b.clone())));
        }
        if let Some(t) = self.expr(iter) {
            return Some(t);
        }
        self.scoped(false, binds, |w| {
            cond.and_then(|c| w.expr(c))
                .or_else(|| outs.iter().find_map(|o| w.expr(o)))
        })
    }
}
