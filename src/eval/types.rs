//! Type expressions for class and define parameters: `Int[1, 65535]`, `Optional[Path]`, aliases.

use super::{Evaluator, R};
use crate::model::value::Value;
use crate::syntax::ast::{ExprKind, TypeArg, TypeExpr, TypeKind};

/// The built-in type names.
pub(crate) const BUILTIN: &[&str] = &[
    "String",
    "Int",
    "Bool",
    "Any",
    "Array",
    "Map",
    "Optional",
    "Enum",
    "Ref",
    "Path",
    "Pattern",
    "None",
    "Sensitive",
];

pub(crate) fn is_builtin(name: &str) -> bool {
    BUILTIN.contains(&name)
}

/// Calls `f` with every type name a type expression mentions.
pub(crate) fn each_name(ty: &TypeExpr, f: &mut dyn FnMut(&str)) {
    match &ty.kind {
        TypeKind::Named { name, args } => {
            f(&name.name);
            for a in args {
                if let TypeArg::Type(t) = a {
                    each_name(t, f);
                }
            }
        }
        TypeKind::Union(ts) => {
            for t in ts {
                each_name(t, f);
            }
        }
    }
}

impl Evaluator<'_> {
    /// Whether a value fits a type. Unknown names (reported statically as `unknown-type`)
    /// accept anything.
    pub(super) fn fits(&mut self, ty: &TypeExpr, v: &Value) -> R<bool> {
        Ok(self.fits_depth(ty, v, 0))
    }

    fn fits_depth(&self, ty: &TypeExpr, v: &Value, depth: usize) -> bool {
        if depth > 64 {
            return true;
        }
        match &ty.kind {
            TypeKind::Union(ts) => ts.iter().any(|t| self.fits_depth(t, v, depth + 1)),
            TypeKind::Named { name, args } => {
                let inner = |i: usize| -> Option<&TypeExpr> {
                    match args.get(i) {
                        Some(TypeArg::Type(t)) => Some(t),
                        _ => None,
                    }
                };
                match name.name.as_str() {
                    "Any" => true,
                    "None" => v.is_none(),
                    "String" => match v {
                        Value::Str(s) => {
                            let n = s.chars().count() as i64;
                            let (min, max) = int_args(args);
                            min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
                        }
                        _ => false,
                    },
                    "Int" => match v {
                        Value::Int(i) => {
                            let (min, max) = int_args(args);
                            min.is_none_or(|m| *i >= m) && max.is_none_or(|m| *i <= m)
                        }
                        _ => false,
                    },
                    // A Sensitive value wrapping a `T`, or a plain `T` (which binding wraps:
                    // [`Evaluator::wraps_sensitive`]).
                    "Sensitive" => {
                        let (v, _) = v.unwrapped();
                        inner(0).is_none_or(|t| self.fits_depth(t, v, depth + 1))
                    }
                    "Bool" => matches!(v, Value::Bool(_)),
                    "Ref" => matches!(v, Value::Ref(_)),
                    "Path" => matches!(v, Value::Str(s) if s.starts_with('/')),
                    "Array" => match v {
                        Value::Array(a) => match inner(0) {
                            Some(t) => a.iter().all(|x| self.fits_depth(t, x, depth + 1)),
                            None => true,
                        },
                        _ => false,
                    },
                    "Map" => match v {
                        Value::Map(m) => match inner(0) {
                            Some(t) => m.values().all(|x| self.fits_depth(t, x, depth + 1)),
                            None => true,
                        },
                        _ => false,
                    },
                    "Optional" => {
                        v.is_none() || inner(0).is_none_or(|t| self.fits_depth(t, v, depth + 1))
                    }
                    "Enum" => args.iter().any(|a| match a {
                        TypeArg::Value(e) => match (&e.kind, v) {
                            (ExprKind::Str(s), Value::Str(x)) => s.as_str() == &**x,
                            _ => false,
                        },
                        TypeArg::Type(t) => match (&t.kind, v) {
                            (TypeKind::Named { name, .. }, Value::Str(x)) => name.name == **x,
                            _ => false,
                        },
                        TypeArg::Regex(..) => false,
                    }),
                    "Pattern" => match v {
                        Value::Str(s) => args.iter().any(|a| match a {
                            TypeArg::Regex(r, _) => {
                                regex::Regex::new(r).is_ok_and(|re| re.is_match(s))
                            }
                            TypeArg::Value(e) => match &e.kind {
                                ExprKind::Str(r) | ExprKind::Regex(r) => {
                                    regex::Regex::new(r).is_ok_and(|re| re.is_match(s))
                                }
                                _ => false,
                            },
                            _ => false,
                        }),
                        _ => false,
                    },
                    other => match self.index.aliases.get(other) {
                        Some(t) => self.fits_depth(t, v, depth + 1),
                        None => true,
                    },
                }
            }
        }
    }

    /// Whether a value that fits `ty` is to be bound as Sensitive: `ty` is `Sensitive[T]`
    /// (through aliases, `Optional` and the first member of a union that fits it), and the
    /// value is not `none`.
    pub(super) fn wraps_sensitive(&self, ty: &TypeExpr, v: &Value) -> bool {
        self.wraps_depth(ty, v, 0)
    }

    fn wraps_depth(&self, ty: &TypeExpr, v: &Value, depth: usize) -> bool {
        if depth > 64 || v.is_none() {
            return false;
        }
        match &ty.kind {
            TypeKind::Union(ts) => ts
                .iter()
                .find(|t| self.fits_depth(t, v, depth + 1))
                .is_some_and(|t| self.wraps_depth(t, v, depth + 1)),
            TypeKind::Named { name, args } => match name.name.as_str() {
                "Sensitive" => true,
                "Optional" => match args.first() {
                    Some(TypeArg::Type(t)) => self.wraps_depth(t, v, depth + 1),
                    _ => false,
                },
                other => self
                    .index
                    .aliases
                    .get(other)
                    .is_some_and(|t| self.wraps_depth(t, v, depth + 1)),
            },
        }
    }

    /// Whether a type accepts `none` (so a parameter without default is `none`).
    pub(super) fn is_optional(&self, ty: &TypeExpr) -> bool {
        self.fits_depth(ty, &Value::None, 0)
            && !matches!(&ty.kind, TypeKind::Named { name, .. } if name.name == "Any")
    }
}

/// `Int[min, max]` / `String[min, max]` bounds.
fn int_args(args: &[TypeArg]) -> (Option<i64>, Option<i64>) {
    let get = |i: usize| match args.get(i) {
        Some(TypeArg::Value(e)) => match &e.kind {
            ExprKind::Int(n) => Some(*n),
            ExprKind::Unary {
                op: crate::syntax::ast::UnOp::Neg,
                expr,
            } => match expr.kind {
                ExprKind::Int(n) => n.checked_neg(),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    (get(0), get(1))
}
