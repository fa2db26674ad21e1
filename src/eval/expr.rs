//! Expressions: operators, variables, access, selectors, comprehensions, interpolation.

use std::sync::Arc;

use indexmap::IndexMap;

use super::scope::{Binding, Frame};
use super::{Evaluator, Failed, R};
use crate::diag::{Code, Diagnostic};
use crate::model::name::Name;
use crate::model::value::{ResRef, Value};
use crate::source::Span;
use crate::syntax::ast::{ArrayComp, BinOp, Expr, ExprKind, Ident, Label, MapComp, StrPart, UnOp};

impl Evaluator<'_> {
    pub(super) fn eval(&mut self, e: &Expr) -> R<Value> {
        match &e.kind {
            ExprKind::Str(s) => Ok(Value::str(s.as_str())),
            ExprKind::Interp(parts) => {
                // Sized for the literal parts and a little more for each value.
                let size = parts
                    .iter()
                    .map(|p| match p {
                        StrPart::Lit(s) => s.len(),
                        StrPart::Expr(_) => 16,
                    })
                    .sum();
                let mut out = String::with_capacity(size);
                let mut failed = false;
                // Interpolating a Sensitive value makes the whole string Sensitive.
                let mut secret = false;
                for p in parts {
                    match p {
                        StrPart::Lit(s) => out.push_str(s),
                        StrPart::Expr(x) => match self.eval(x) {
                            Ok(Value::Sensitive(inner)) => {
                                secret = true;
                                match self.render_secret(&inner, true, x.span) {
                                    Ok(text) => out.push_str(&text),
                                    Err(Failed) => failed = true,
                                }
                                if self.budget.too_big(out.len()) {
                                    return Err(self.value_too_big(out.len(), e.span));
                                }
                            }
                            Ok(v) => {
                                failed |= self.render_into(&mut out, &v, x.span).is_err();
                                if self.budget.too_big(out.len()) {
                                    return Err(self.value_too_big(out.len(), e.span));
                                }
                            }
                            Err(Failed) => failed = true,
                        },
                    }
                }
                if failed {
                    Err(Failed)
                } else {
                    self.build(out.len(), e.span)?;
                    Ok(super::builtins::wrap_if(secret, Value::str(out)))
                }
            }
            ExprKind::Int(i) => Ok(Value::Int(*i)),
            ExprKind::Bool(b) => Ok(Value::Bool(*b)),
            ExprKind::None => Ok(Value::None),
            ExprKind::Regex(r) => self.regex(r, e.span).map(Value::Regex),
            ExprKind::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut failed = false;
                for i in items {
                    match self.eval(i) {
                        Ok(v) => out.push(v),
                        Err(Failed) => failed = true,
                    }
                }
                if failed {
                    Err(Failed)
                } else {
                    Ok(Value::array(out))
                }
            }
            ExprKind::Map(entries) => {
                let mut out = IndexMap::with_capacity(entries.len());
                let mut failed = false;
                for (k, v) in entries {
                    match self.eval(v) {
                        Ok(v) => {
                            out.insert(k.name.clone(), v);
                        }
                        Err(Failed) => failed = true,
                    }
                }
                if failed {
                    Err(Failed)
                } else {
                    Ok(Value::map(out))
                }
            }
            ExprKind::Var(name) => self.var(name, e.span),
            ExprKind::Ref { type_name, titles } => {
                let mut out = Vec::new();
                for t in titles {
                    match self.eval(t)? {
                        Value::Str(s) => out.push(ResRef {
                            type_name: Name::new(&type_name.name),
                            title: s.to_string(),
                            span: e.span,
                        }),
                        Value::Array(a) if a.iter().all(|v| matches!(v, Value::Str(_))) => {
                            for v in a.iter() {
                                out.push(ResRef {
                                    type_name: Name::new(&type_name.name),
                                    title: v.as_str().unwrap_or_default().to_string(),
                                    span: e.span,
                                });
                            }
                        }
                        other => {
                            return Err(self.invalid(
                                t.span,
                                format!(
                                    "a reference's title must be a String, not a {}",
                                    other.type_name()
                                ),
                                &other,
                            ))
                        }
                    }
                }
                Ok(Value::Ref(Arc::new(out)))
            }
            ExprKind::Call(call) => self.call(call),
            ExprKind::Field { base, key } => {
                let b = self.eval(base)?;
                self.field(&b, base.span, key)
            }
            ExprKind::Index { base, index } => {
                let b = self.eval(base)?;
                let i = self.eval(index)?;
                self.index_value(&b, base.span, &i, index.span)
            }
            ExprKind::Unary { op, expr } => {
                let v = self.eval(expr)?;
                match (op, v) {
                    (UnOp::Neg, Value::Int(i)) => match i.checked_neg() {
                        Some(n) => Ok(Value::Int(n)),
                        None => Err(self.error(Code::InvalidValue, expr.span, "Int overflow")),
                    },
                    (UnOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
                    (UnOp::Neg, other) => Err(self.invalid(
                        expr.span,
                        format!("`-` needs an Int, not a {}", other.type_name()),
                        &other,
                    )),
                    (UnOp::Not, other) => Err(self.invalid(
                        expr.span,
                        format!("`not` needs a Bool, not a {}", other.type_name()),
                        &other,
                    )),
                }
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs),
            ExprKind::Selector { subject, arms } => {
                let v = self.eval(subject)?;
                let mut default = None;
                for (label, value) in arms {
                    match self.label_matches(label, &v)? {
                        Some(true) => return self.eval(value),
                        Some(false) => {}
                        None => {
                            if default.is_none() {
                                default = Some(value);
                            }
                        }
                    }
                }
                match default {
                    Some(value) => self.eval(value),
                    None => Err(self.invalid(
                        subject.span,
                        format!("no selector arm matches {v} and there is no `default`"),
                        &v,
                    )),
                }
            }
            ExprKind::If {
                branches,
                else_value,
            } => {
                for (cond, value) in branches {
                    if self.eval_bool(cond)? {
                        return self.eval(value);
                    }
                }
                self.eval(else_value)
            }
            ExprKind::ArrayComp(comp) => {
                let ArrayComp {
                    key,
                    var,
                    iter,
                    cond,
                    value,
                } = &**comp;
                let items = self.comp_items(iter)?;
                let mut out = Vec::new();
                for (k, v) in items {
                    self.step(1, e.span)?;
                    self.scopes.frames.push(comp_frame(key, var, k, v));
                    let r = self.comp_one(cond.as_ref(), |ev| ev.eval(value));
                    self.scopes.frames.pop();
                    if let Some(v) = r? {
                        out.push(v);
                    }
                }
                self.build_array(out.len(), e.span)?;
                Ok(Value::array(out))
            }
            ExprKind::MapComp(comp) => {
                let MapComp {
                    key,
                    var,
                    iter,
                    cond,
                    out_key,
                    out_value,
                } = &**comp;
                let items = self.comp_items(iter)?;
                let mut out: IndexMap<String, Value> = IndexMap::new();
                for (k, v) in items {
                    self.step(1, e.span)?;
                    self.scopes.frames.push(comp_frame(key, var, k, v));
                    let r = self.comp_one(cond.as_ref(), |ev| {
                        let k = ev.eval(out_key)?;
                        let v = ev.eval(out_value)?;
                        match k {
                            Value::Str(s) => Ok((s.to_string(), v)),
                            other => Err(ev.invalid(
                                out_key.span,
                                format!("Map keys must be Strings, not {}", other.type_name()),
                                &other,
                            )),
                        }
                    });
                    self.scopes.frames.pop();
                    if let Some((k, v)) = r? {
                        out.insert(k, v);
                    }
                }
                self.build_array(out.len(), e.span)?;
                Ok(Value::map(out))
            }
        }
    }

    pub(super) fn comp_items(&mut self, iter: &Expr) -> R<Vec<(Value, Value)>> {
        let v = self.eval(iter)?;
        if let Value::Array(a) = &v {
            self.build_array(a.len() * 2, iter.span)?;
        } else if let Value::Map(m) = &v {
            self.build_array(m.len() * 2, iter.span)?;
        }
        match v {
            Value::Array(a) => Ok(a
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect()),
            Value::Map(m) => Ok(m
                .iter()
                .map(|(k, v)| (Value::str(k.as_str()), v.clone()))
                .collect()),
            other => Err(self.invalid(
                iter.span,
                format!("`for` walks an Array or a Map, not a {}", other.type_name()),
                &other,
            )),
        }
    }

    fn comp_one<T>(
        &mut self,
        cond: Option<&Expr>,
        f: impl FnOnce(&mut Self) -> R<T>,
    ) -> R<Option<T>> {
        if let Some(c) = cond {
            if !self.eval_bool(c)? {
                return Ok(None);
            }
        }
        f(self).map(Some)
    }

    /// Whether a `case`/selector label matches: `Some(bool)`, or `None` for `default`.
    pub(super) fn label_matches(&mut self, label: &Label, v: &Value) -> R<Option<bool>> {
        match label {
            Label::Default(_) => Ok(None),
            Label::Regex(r, span) => {
                let re = self.regex(r, *span)?;
                Ok(Some(matches!(v, Value::Str(s) if re.is_match(s))))
            }
            Label::Value(e) => {
                let l = self.eval(e)?;
                Ok(Some(match &l {
                    Value::Regex(re) => matches!(v, Value::Str(s) if re.is_match(s)),
                    // Labels match by `==`, which compares what Sensitive values wrap.
                    _ => l.unwrapped().0 == v.unwrapped().0,
                }))
            }
        }
    }

    pub(super) fn regex(&mut self, pattern: &str, span: Span) -> R<Arc<regex::Regex>> {
        match regex::Regex::new(pattern) {
            Ok(re) => Ok(Arc::new(re)),
            Err(e) => Err(self.error(
                Code::InvalidValue,
                span,
                format!(
                    "invalid regex: {}",
                    e.to_string().lines().last().unwrap_or("").trim()
                ),
            )),
        }
    }

    /// Reads `$name` or `$class::name`.
    fn var(&mut self, name: &str, span: Span) -> R<Value> {
        // Most names have no namespace: byte tests first, substring searches only then.
        let name = if name.starts_with(':') {
            name.trim_start_matches("::")
        } else {
            name
        };
        let namespaced = if name.contains(':') {
            name.rsplit_once("::")
        } else {
            None
        };
        let found: Option<Binding> = match namespaced {
            Some((class, var)) => self.class_var(class, var).cloned().or_else(|| {
                // `$::name` style or a top-level let read with a namespace that is not a class.
                None
            }),
            None => self.scopes.lookup(name).cloned(),
        };
        match found {
            Some(Binding { value: Some(v), .. }) => Ok(v),
            Some(Binding { value: None, .. }) => Err(Failed),
            None => {
                let candidates: Vec<String> = self
                    .scopes
                    .names()
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                let mut d = Diagnostic::error(
                    Code::UndefinedVariable,
                    span,
                    format!("`${name}` is not defined here"),
                )
                .with_primary("undefined variable")
                .with_suggestion(name, candidates.iter().map(String::as_str));
                if let Some((class, var)) = name.rsplit_once("::") {
                    if self.running_frame(class).is_some() {
                        d = d.with_note(format!(
                            "class `{class}` is still being evaluated and `${var}` is not bound yet: its parameters are readable from the start, a top-level `let` once it has run"
                        ));
                    } else if !self.classes.contains_key(class) {
                        d = d.with_note(format!(
                            "class `{class}` has not been declared (yet) on this node"
                        ));
                    } else if self.class_vars.contains_key(class) {
                        d = d.with_note(format!(
                            "class `{class}` has no parameter or top-level `let` named `{var}`"
                        ));
                    }
                } else if d.help.is_none() {
                    d = d
                        .with_note("`let` is not hoisted: a variable is defined from its `let` on");
                }
                self.diags.push(d);
                Err(Failed)
            }
        }
    }

    fn field(&mut self, base: &Value, base_span: Span, key: &Ident) -> R<Value> {
        match base {
            Value::Map(m) => {
                match m.get(&key.name) {
                    Some(v) => Ok(v.clone()),
                    None => {
                        self.diags.push(
                        Diagnostic::error(
                            Code::UndefinedKey,
                            key.span,
                            format!("the Map has no key `{}`", key.name),
                        )
                        .with_primary("no such key")
                        .with_suggestion(&key.name, m.keys().map(String::as_str))
                        .with_note("use `get($map, \"key\", default)` to read a key that may be missing"),
                    );
                        Err(Failed)
                    }
                }
            }
            other => Err(self.invalid(
                base_span,
                format!(
                    "`.{}` reads a Map, but this is a {}",
                    key.name,
                    other.type_name()
                ),
                other,
            )),
        }
    }

    fn index_value(&mut self, base: &Value, base_span: Span, i: &Value, span: Span) -> R<Value> {
        match (base, i) {
            (Value::Array(a), Value::Int(n)) => {
                let len = a.len() as i64;
                let at = if *n < 0 { len + n } else { *n };
                if at < 0 || at >= len {
                    self.diags.push(
                        Diagnostic::error(
                            Code::UndefinedKey,
                            span,
                            format!("index {n} is out of range for an Array of {len}"),
                        )
                        .with_primary("no such index"),
                    );
                    return Err(Failed);
                }
                Ok(a[at as usize].clone())
            }
            (Value::Map(m), Value::Str(k)) => match m.get(&**k) {
                Some(v) => Ok(v.clone()),
                None => {
                    self.diags.push(
                        Diagnostic::error(
                            Code::UndefinedKey,
                            span,
                            format!("the Map has no key {k:?}"),
                        )
                        .with_primary("no such key")
                        .with_suggestion(k, m.keys().map(String::as_str)),
                    );
                    Err(Failed)
                }
            },
            (Value::Array(_), other) | (Value::Map(_), other) => Err(self.invalid(
                span,
                format!(
                    "cannot index a {} with a {}",
                    base.type_name(),
                    other.type_name()
                ),
                other,
            )),
            (other, _) => Err(self.invalid(
                base_span,
                format!("`[…]` reads an Array or a Map, not a {}", other.type_name()),
                other,
            )),
        }
    }

    fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr) -> R<Value> {
        match op {
            BinOp::Coalesce => {
                let l = self.eval(lhs)?;
                return if l.is_none() { self.eval(rhs) } else { Ok(l) };
            }
            BinOp::And | BinOp::Or => {
                let l = self.bool_operand(lhs, op)?;
                if (op == BinOp::And && !l) || (op == BinOp::Or && l) {
                    return Ok(Value::Bool(l));
                }
                return self.bool_operand(rhs, op).map(Value::Bool);
            }
            _ => {}
        }
        let l = self.eval(lhs)?;
        let r = self.eval(rhs)?;
        let both = lhs.span.to(rhs.span);
        // Sensitive operands: `==`/`!=` compare what they wrap, `+` gives a Sensitive
        // result, any other operator is an error (LANGUAGE.md §6, §10.9); messages about
        // them show `[sensitive]`.
        let hidden = (
            matches!(l, Value::Sensitive(_)),
            matches!(r, Value::Sensitive(_)),
        );
        let secret = hidden.0 || hidden.1;
        if secret && !matches!(op, BinOp::Eq | BinOp::Ne | BinOp::Add) {
            let (span, v) = if hidden.0 {
                (lhs.span, &l)
            } else {
                (rhs.span, &r)
            };
            return Err(self.invalid(
                span,
                format!(
                    "`{}` cannot take a Sensitive value; `unwrap()` it first",
                    op.as_str()
                ),
                v,
            ));
        }
        let (l, r) = if secret {
            (l.unwrapped().0.clone(), r.unwrapped().0.clone())
        } else {
            (l, r)
        };
        let mismatch = |ev: &mut Self, l: &Value, r: &Value| {
            let (span, v, hide) = if matches!(l, Value::Int(_) | Value::Str(_)) {
                (rhs.span, r, hidden.1)
            } else {
                (lhs.span, l, hidden.0)
            };
            let shown = if hide {
                Value::sensitive(v.clone())
            } else {
                v.clone()
            };
            let v = &shown;
            ev.invalid(
                span,
                format!(
                    "`{}` cannot combine a {} with a {}",
                    op.as_str(),
                    l.type_name(),
                    r.type_name()
                ),
                v,
            )
        };
        let out = match op {
            BinOp::Eq => return Ok(Value::Bool(l == r)),
            BinOp::Ne => return Ok(Value::Bool(l != r)),
            BinOp::Match | BinOp::NotMatch => {
                let re = match &r {
                    Value::Regex(re) => re.clone(),
                    Value::Str(s) => self.regex(s, rhs.span)?,
                    other => {
                        return Err(self.invalid(
                            rhs.span,
                            format!(
                                "`{}` needs a regex on the right, not a {}",
                                op.as_str(),
                                other.type_name()
                            ),
                            other,
                        ))
                    }
                };
                let m = matches!(&l, Value::Str(s) if re.is_match(s));
                Ok(Value::Bool(if op == BinOp::Match { m } else { !m }))
            }
            BinOp::In => match (&l, &r) {
                (_, Value::Array(a)) => {
                    self.step(a.len() as u64 / 64, both)?;
                    Ok(Value::Bool(a.contains(&l)))
                }
                (Value::Str(s), Value::Str(h)) => Ok(Value::Bool(h.contains(&**s))),
                (Value::Str(s), Value::Map(m)) => Ok(Value::Bool(m.contains_key(&**s))),
                (_, Value::Map(_)) => Ok(Value::Bool(false)),
                (_, Value::Str(_)) => Err(self.invalid(
                    lhs.span,
                    format!("`in` a String needs a String, not a {}", l.type_name()),
                    &l,
                )),
                (_, other) => Err(self.invalid(
                    rhs.span,
                    format!(
                        "`in` needs an Array, a Map or a String, not a {}",
                        other.type_name()
                    ),
                    other,
                )),
            },
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let ord = match (&l, &r) {
                    (Value::Int(a), Value::Int(b)) => a.cmp(b),
                    (Value::Str(a), Value::Str(b)) => a.cmp(b),
                    _ => return Err(mismatch(self, &l, &r)),
                };
                Ok(Value::Bool(match op {
                    BinOp::Lt => ord.is_lt(),
                    BinOp::Le => ord.is_le(),
                    BinOp::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                }))
            }
            BinOp::Add => match (&l, &r) {
                (Value::Int(a), Value::Int(b)) => {
                    a.checked_add(*b).map(Value::Int).ok_or_else(|| {
                        self.error(
                            Code::InvalidValue,
                            rhs.span,
                            if secret {
                                "`+` overflows a 64-bit Int".to_string()
                            } else {
                                format!("{a} + {b} overflows a 64-bit Int")
                            },
                        )
                    })
                }
                (Value::Str(a), Value::Str(b)) => {
                    self.build(a.len() + b.len(), both)?;
                    Ok(Value::str(format!("{a}{b}")))
                }
                (Value::Array(a), Value::Array(b)) => {
                    self.build_array(a.len() + b.len(), both)?;
                    let mut v = (**a).clone();
                    v.extend(b.iter().cloned());
                    Ok(Value::array(v))
                }
                (Value::Map(a), Value::Map(b)) => {
                    self.build_array(a.len() + b.len(), both)?;
                    let mut m = (**a).clone();
                    for (k, v) in b.iter() {
                        m.insert(k.clone(), v.clone());
                    }
                    Ok(Value::map(m))
                }
                _ => Err(mismatch(self, &l, &r)),
            },
            BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                let (Value::Int(a), Value::Int(b)) = (&l, &r) else {
                    return Err(mismatch(self, &l, &r));
                };
                if matches!(op, BinOp::Div | BinOp::Rem) && *b == 0 {
                    return Err(self.error(Code::InvalidValue, rhs.span, "division by zero"));
                }
                let v = match op {
                    BinOp::Sub => a.checked_sub(*b),
                    BinOp::Mul => a.checked_mul(*b),
                    BinOp::Div => a.checked_div(*b),
                    _ => a.checked_rem(*b),
                };
                v.map(Value::Int).ok_or_else(|| {
                    self.error(
                        Code::InvalidValue,
                        rhs.span,
                        format!("{a} {} {b} overflows a 64-bit Int", op.as_str()),
                    )
                })
            }
            BinOp::Coalesce | BinOp::And | BinOp::Or => unreachable!("handled above"),
        };
        if secret {
            out.map(Value::sensitive)
        } else {
            out
        }
    }

    fn bool_operand(&mut self, e: &Expr, op: BinOp) -> R<bool> {
        match self.eval(e)? {
            Value::Bool(b) => Ok(b),
            other => Err(self.invalid(
                e.span,
                format!("`{}` needs Bools, not a {}", op.as_str(), other.type_name()),
                &other,
            )),
        }
    }

    /// Renders a value inside a string (§10.8).
    /// Appends `v` as [`Evaluator::render`] gives it, without a String of its own for the
    /// common values.
    fn render_into(&mut self, out: &mut String, v: &Value, span: Span) -> R<()> {
        match v {
            Value::Str(s) => out.push_str(s),
            Value::Int(i) => {
                use std::fmt::Write as _;
                let _ = write!(out, "{i}");
            }
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::None => {}
            other => out.push_str(&self.render(other, span)?),
        }
        Ok(())
    }

    pub(super) fn render(&mut self, v: &Value, span: Span) -> R<String> {
        match v {
            Value::Str(s) => Ok(s.to_string()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::None => Ok(String::new()),
            Value::Ref(r) => Ok(r
                .iter()
                .map(|r| format!("{}[{}]", r.type_name, r.title))
                .collect::<Vec<_>>()
                .join(", ")),
            Value::Regex(r) => Ok(r.as_str().to_string()),
            other => Err(self
                .invalid(
                    span,
                    format!("an {} cannot be put into a string", other.type_name()),
                    other,
                )
                .note_join(self)),
        }
    }

    /// [`Evaluator::render`] of what a Sensitive value wraps (`secret`): an Array or Map
    /// in it is reported without showing it.
    pub(super) fn render_secret(&mut self, v: &Value, secret: bool, span: Span) -> R<String> {
        if secret && matches!(v, Value::Array(_) | Value::Map(_)) {
            let shown = Value::sensitive(v.clone());
            return Err(self
                .invalid(
                    span,
                    format!("a Sensitive {} cannot be put into a string", v.type_name()),
                    &shown,
                )
                .note_join(self));
        }
        self.render(v, span)
    }

    /// Reports `invalid-value` at `span`, labelling the value.
    pub(super) fn invalid(&mut self, span: Span, message: impl Into<String>, v: &Value) -> Failed {
        let mut shown = shown_prefix(v, 64);
        if shown.chars().count() > 60 {
            shown = shown.chars().take(57).collect::<String>() + "...";
        }
        self.diags.push(
            Diagnostic::error(Code::InvalidValue, span, message)
                .with_primary(format!("this is {shown}")),
        );
        Failed
    }
}

/// The start of `v` as `Display` writes it, at most about `max` bytes: a value that shares
/// its elements may be huge written out in full.
fn shown_prefix(v: &Value, max: usize) -> String {
    struct Prefix {
        out: String,
        max: usize,
    }
    impl std::fmt::Write for Prefix {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.out.push_str(s);
            if self.out.len() > self.max {
                Err(std::fmt::Error)
            } else {
                Ok(())
            }
        }
    }
    let mut p = Prefix {
        out: String::new(),
        max,
    };
    let _ = std::fmt::write(&mut p, format_args!("{v}"));
    p.out
}

trait NoteJoin {
    fn note_join(self, ev: &mut Evaluator<'_>) -> Failed;
}

impl NoteJoin for Failed {
    /// Adds the `join()` hint to the diagnostic just reported.
    fn note_join(self, ev: &mut Evaluator<'_>) -> Failed {
        if let Some(d) = ev.diags.last_mut() {
            d.help = Some("use `join($array, \", \")` to render an Array".into());
        }
        self
    }
}

/// The loop variables of one step of a `for` loop or a comprehension: `$k, $v` bind index
/// (or key) and value; a lone `$x` over a Map binds `[key, value]`.
pub(super) fn comp_frame(key: &Option<Ident>, var: &Ident, k: Value, v: Value) -> Frame {
    let mut f = Frame::default();
    match key {
        Some(key) => {
            f.insert(
                key.name.clone(),
                Binding {
                    value: Some(k),
                    span: None,
                },
            );
            f.insert(
                var.name.clone(),
                Binding {
                    value: Some(v),
                    span: None,
                },
            );
        }
        None => {
            let v = match k {
                Value::Str(_) => Value::array(vec![k, v]),
                _ => v,
            };
            f.insert(
                var.name.clone(),
                Binding {
                    value: Some(v),
                    span: None,
                },
            );
        }
    }
    f
}
