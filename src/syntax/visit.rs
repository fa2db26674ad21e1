//! Walks a file's statements and expressions for the function calls in them (whether a
//! program calls `collect` at all decides whether `check` evaluates the fleet twice).

use super::ast::{BodyItem, Call, ChainOperand, Expr, ExprKind, Label, Stmt, StmtKind, StrPart};

/// Whether any statement (nested ones, class and define bodies, parameter defaults and node
/// bodies included) calls a function named `name`.
#[cfg(test)]
pub(crate) fn calls(stmts: &[Stmt], name: &str) -> bool {
    let mut found = false;
    each_call(stmts, &mut |c| found |= c.name.name == name);
    found
}

/// Calls `f` on every call in `stmts`, in source order, outer calls before their arguments'.
pub(crate) fn each_call(stmts: &[Stmt], f: &mut dyn FnMut(&Call)) {
    for s in stmts {
        stmt(s, f);
    }
}

fn stmt(s: &Stmt, f: &mut dyn FnMut(&Call)) {
    match &s.kind {
        StmtKind::Import { .. } | StmtKind::TypeAlias { .. } => {}
        StmtKind::Let { value, .. } => expr(value, f),
        StmtKind::Class(c) => {
            c.params
                .iter()
                .filter_map(|p| p.default.as_ref())
                .for_each(|e| expr(e, f));
            each_call(&c.body, f);
        }
        StmtKind::Define(d) => {
            d.params
                .iter()
                .filter_map(|p| p.default.as_ref())
                .for_each(|e| expr(e, f));
            each_call(&d.body, f);
        }
        StmtKind::Node(n) => each_call(&n.body, f),
        StmtKind::Include { classes, .. } => {
            for c in classes {
                c.args.iter().flatten().for_each(|a| expr(&a.value, f));
            }
        }
        StmtKind::Resource(r) => {
            expr(&r.title, f);
            body(&r.body, f);
        }
        StmtKind::Defaults { body: b, .. } | StmtKind::Provision { body: b, .. } => body(b, f),
        StmtKind::Profile(p) => body(&p.body, f),
        StmtKind::Chain(c) => {
            for op in &c.operands {
                match op {
                    ChainOperand::Expr(e) => expr(e, f),
                    ChainOperand::Resource(r) => {
                        expr(&r.title, f);
                        body(&r.body, f);
                    }
                }
            }
        }
        StmtKind::If(i) => {
            for (cond, b) in &i.branches {
                expr(cond, f);
                each_call(b, f);
            }
            if let Some(b) = &i.else_body {
                each_call(b, f);
            }
        }
        StmtKind::Case(c) => {
            expr(&c.subject, f);
            for arm in &c.arms {
                for l in &arm.labels {
                    if let Label::Value(e) = l {
                        expr(e, f);
                    }
                }
                each_call(&arm.body, f);
            }
        }
        StmtKind::For(l) => {
            expr(&l.iter, f);
            each_call(&l.body, f);
        }
        StmtKind::Call(c) => call(c, f),
    }
}

fn body(items: &[BodyItem], f: &mut dyn FnMut(&Call)) {
    for i in items {
        match i {
            BodyItem::Attr { value, .. } | BodyItem::Splat { value, .. } => expr(value, f),
        }
    }
}

fn call(c: &Call, f: &mut dyn FnMut(&Call)) {
    f(c);
    c.args.iter().for_each(|a| expr(a, f));
}

fn expr(e: &Expr, f: &mut dyn FnMut(&Call)) {
    match &e.kind {
        ExprKind::Str(_)
        | ExprKind::Int(_)
        | ExprKind::Bool(_)
        | ExprKind::None
        | ExprKind::Regex(_)
        | ExprKind::Var(_) => {}
        ExprKind::Interp(parts) => {
            for p in parts {
                if let StrPart::Expr(x) = p {
                    expr(x, f);
                }
            }
        }
        ExprKind::Array(items) => items.iter().for_each(|i| expr(i, f)),
        ExprKind::Map(entries) => entries.iter().for_each(|(_, v)| expr(v, f)),
        ExprKind::Ref { titles, .. } => titles.iter().for_each(|t| expr(t, f)),
        ExprKind::Call(c) => call(c, f),
        ExprKind::Field { base, .. } => expr(base, f),
        ExprKind::Index { base, index } => {
            expr(base, f);
            expr(index, f);
        }
        ExprKind::Unary { expr: x, .. } => expr(x, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr(lhs, f);
            expr(rhs, f);
        }
        ExprKind::Selector { subject, arms } => {
            expr(subject, f);
            for (l, v) in arms.iter() {
                if let Label::Value(x) = l {
                    expr(x, f);
                }
                expr(v, f);
            }
        }
        ExprKind::If {
            branches,
            else_value,
        } => {
            for (c, v) in branches.iter() {
                expr(c, f);
                expr(v, f);
            }
            expr(else_value, f);
        }
        ExprKind::ArrayComp(c) => {
            expr(&c.iter, f);
            c.cond.iter().for_each(|x| expr(x, f));
            expr(&c.value, f);
        }
        ExprKind::MapComp(c) => {
            expr(&c.iter, f);
            c.cond.iter().for_each(|x| expr(x, f));
            expr(&c.out_key, f);
            expr(&c.out_value, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn calls_in(text: &str, name: &str) -> bool {
        let (file, diags) = crate::syntax::parse(FileId(0), text);
        assert!(diags.is_empty(), "{diags:?}");
        calls(&file.items, name)
    }

    #[test]
    fn finds_calls_wherever_they_are_nested() {
        assert!(calls_in("class a($x = collect(\"t\")) {}", "collect"));
        assert!(calls_in(
            "node \"n\" { file \"/x\" { content = \"${join([for $h in collect(\"t\"): $h.node], \",\")}\" } }",
            "collect"
        ));
        assert!(calls_in("if true { export(\"t\", 1) }", "export"));
        assert!(calls_in("let $n = nodes(/^web/)", "nodes"));
        assert!(!calls_in(
            "let $collect = \"collect\"\nfile \"/c\" { content = $collect }",
            "collect"
        ));
    }
}
