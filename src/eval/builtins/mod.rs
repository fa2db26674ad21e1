//! Built-in functions (LANGUAGE.md §6, signatures §10.9) as a table: each [`Builtin`] has
//! its name, signature, doc, arity and one small function in [`functions`]. Evaluation,
//! hover, completion, `fleet doc` and the `wrong-arguments` check all read [`BUILTINS`];
//! adding a built-in is one row and one function.

mod functions;
mod version;

use std::sync::Arc;

use indexmap::IndexMap;

use super::{Evaluator, Failed, R};
use crate::diag::{Code, Diagnostic};
use crate::model::value::Value;
use crate::source::Span;
use crate::syntax::ast::Call;

/// The `max` of a built-in that takes any number of trailing arguments.
pub(crate) const VARIADIC: usize = usize::MAX;

/// The implementation of a built-in: the evaluator and its checked arguments.
pub(crate) type BuiltinFn = fn(&mut Evaluator<'_>, &Args<'_>) -> R<Value>;

/// One built-in function.
pub(crate) struct Builtin {
    /// What a call writes: `join`.
    pub name: &'static str,
    /// The signature shown in hover, completion and `wrong-arguments` notes.
    pub signature: &'static str,
    /// One line of Markdown for hover and `fleet doc`.
    pub doc: &'static str,
    /// Fewest arguments.
    pub min: usize,
    /// Most arguments, or [`VARIADIC`].
    pub max: usize,
    /// Whether a Sensitive argument is accepted (LANGUAGE.md §10.9); any other built-in
    /// is given one as `wrong-arguments`.
    pub takes_sensitive: bool,
    /// The implementation.
    pub(crate) run: BuiltinFn,
}

/// Every built-in, in the order `fleet doc` lists them.
pub(crate) static BUILTINS: &[Builtin] = &[
    Builtin {
        name: "template",
        signature: "template(path: String[, vars: Map]) -> String",
        doc:
            "Renders a Jinja template (minijinja) with the caller's variables, `facts` and `node`.",
        min: 1,
        max: 2,
        takes_sensitive: true,
        run: functions::template,
    },
    Builtin {
        name: "file",
        signature: "file(path: String) -> String",
        doc: "The contents of a file, relative to the calling manifest.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::file,
    },
    Builtin {
        name: "sha256",
        signature: "sha256(s: String) -> String",
        doc: "The hex sha256 of a String.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::sha256,
    },
    Builtin {
        name: "join",
        signature: "join(a: Array, sep: String) -> String",
        doc: "Joins the elements, rendered as in interpolation.",
        min: 2,
        max: 2,
        takes_sensitive: true,
        run: functions::join,
    },
    Builtin {
        name: "split",
        signature: "split(s: String, sep: String) -> Array[String]",
        doc: "Splits on a literal separator.",
        min: 2,
        max: 2,
        takes_sensitive: false,
        run: functions::split,
    },
    Builtin {
        name: "upcase",
        signature: "upcase(s: String) -> String",
        doc: "Upper-cases a String.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::upcase,
    },
    Builtin {
        name: "downcase",
        signature: "downcase(s: String) -> String",
        doc: "Lower-cases a String.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::downcase,
    },
    Builtin {
        name: "length",
        signature: "length(x: String | Array | Map) -> Int",
        doc: "Characters of a String, elements of an Array, keys of a Map.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::length,
    },
    Builtin {
        name: "keys",
        signature: "keys(m: Map) -> Array[String]",
        doc: "The keys of a Map in order.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::keys,
    },
    Builtin {
        name: "values",
        signature: "values(m: Map) -> Array",
        doc: "The values of a Map in order.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::values,
    },
    Builtin {
        name: "get",
        signature: "get(m: Map, key: String, default: Any) -> Any",
        doc: "m[key], or default when the key is missing.",
        min: 3,
        max: 3,
        takes_sensitive: false,
        run: functions::get,
    },
    Builtin {
        name: "merge",
        signature: "merge(m1: Map, m2: Map) -> Map",
        doc: "m1 with m2's keys; overridden keys keep their position.",
        min: 2,
        max: 2,
        takes_sensitive: false,
        run: functions::merge,
    },
    Builtin {
        name: "concat",
        signature: "concat(a1: Array, a2: Array) -> Array",
        doc: "a1 followed by a2.",
        min: 2,
        max: 2,
        takes_sensitive: false,
        run: functions::concat,
    },
    Builtin {
        name: "range",
        signature: "range(a: Int, b: Int) -> Array[Int]",
        doc: "a..=b; empty when a > b.",
        min: 2,
        max: 2,
        takes_sensitive: false,
        run: functions::range,
    },
    Builtin {
        name: "format",
        signature: "format(fmt: String, args: Any...) -> String",
        doc: "Replaces each `{}` with the next argument.",
        min: 1,
        max: VARIADIC,
        takes_sensitive: true,
        run: functions::format,
    },
    Builtin {
        name: "regsubst",
        signature: "regsubst(s: String, re: String, repl: String) -> String",
        doc: "Replaces every match; `$1` is group 1.",
        min: 3,
        max: 3,
        takes_sensitive: false,
        run: functions::regsubst,
    },
    Builtin {
        name: "lookup",
        signature: "lookup(key: String, default: Any[, \"deep\"]) -> Any",
        doc: "Reads data levels (data/hierarchy.toml).",
        min: 2,
        max: 3,
        takes_sensitive: false,
        run: functions::lookup,
    },
    Builtin {
        name: "defined",
        signature: "defined(ref: Ref) -> Bool",
        doc: "Whether that resource or class has been declared so far.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::defined,
    },
    Builtin {
        name: "sort",
        signature: "sort(a: Array) -> Array",
        doc: "Sorts all-String or all-Int arrays.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::sort,
    },
    Builtin {
        name: "unique",
        signature: "unique(a: Array) -> Array",
        doc: "Drops repeated elements, keeping first occurrences.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::unique,
    },
    Builtin {
        name: "flatten",
        signature: "flatten(a: Array) -> Array",
        doc: "Flattens nested arrays fully.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::flatten,
    },
    Builtin {
        name: "delete",
        signature: "delete(x: Array | Map, item: Any) -> Array | Map",
        doc: "Removes every equal element, or that key.",
        min: 2,
        max: 2,
        takes_sensitive: false,
        run: functions::delete,
    },
    Builtin {
        name: "deep_merge",
        signature: "deep_merge(m1: Map, m2: Map) -> Map",
        doc: "Merges maps recursively; m2 wins.",
        min: 2,
        max: 2,
        takes_sensitive: false,
        run: functions::deep_merge,
    },
    Builtin {
        name: "versioncmp",
        signature: "versioncmp(a: String, b: String) -> Int",
        doc: "-1, 0 or 1 by Debian version order.",
        min: 2,
        max: 2,
        takes_sensitive: false,
        run: functions::versioncmp,
    },
    Builtin {
        name: "fail",
        signature: "fail(msg: String)",
        doc: "Stops this node with a `user-fail` error.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::fail,
    },
    Builtin {
        name: "warning",
        signature: "warning(msg: String)",
        doc: "Reports a `user-warning` diagnostic with this message at the call; evaluation goes on.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::warning,
    },
    Builtin {
        name: "notice",
        signature: "notice(msg: String)",
        doc: "Prints `notice: msg` with the call's position on stderr while compiling (no diagnostic).",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::notice,
    },
    Builtin {
        name: "nodes",
        signature: "nodes([pattern: Regex | String]) -> Array[Map]",
        doc: "The fleet's nodes matching `pattern` (a regex, or a name in any case), as `{name, provision}` sorted by name.",
        min: 0,
        max: 1,
        takes_sensitive: false,
        run: functions::nodes,
    },
    Builtin {
        name: "export",
        signature: "export(topic: String, value: Any)",
        doc: "A statement: publishes `value` under `topic` from this node, for the fleet's `collect(topic)`.",
        min: 2,
        max: 2,
        takes_sensitive: true,
        run: functions::export,
    },
    Builtin {
        name: "collect",
        signature: "collect(topic: String) -> Array[Map]",
        doc: "Every node's exports under `topic`, this node's included, as `{node, value}` sorted by node then export order.",
        min: 1,
        max: 1,
        takes_sensitive: false,
        run: functions::collect,
    },
    Builtin {
        name: "sensitive",
        signature: "sensitive(v: Any) -> Sensitive",
        doc:
            "Wraps a value so that it is never shown: `[sensitive]` in plans, reports and messages.",
        min: 1,
        max: 1,
        takes_sensitive: true,
        run: functions::sensitive,
    },
    Builtin {
        name: "unwrap",
        signature: "unwrap(s: Sensitive) -> Any",
        doc: "The value a Sensitive wraps.",
        min: 1,
        max: 1,
        takes_sensitive: true,
        run: functions::unwrap,
    },
];

/// The built-in called `name`.
pub(crate) fn get(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The names of every built-in, for "did you mean" and listings.
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name)
}

impl Builtin {
    /// Markdown for hover: the signature as code, then the doc.
    pub(crate) fn hover(&self) -> String {
        format!("```fleet\n{}\n```\n{}", self.signature, self.doc)
    }

    /// Why `n` arguments do not fit this built-in's arity, if they do not.
    pub(crate) fn arity_error(&self, n: usize) -> Option<String> {
        if n >= self.min && n <= self.max {
            return None;
        }
        let plural = |k: usize| if k == 1 { "" } else { "s" };
        Some(if self.max == VARIADIC {
            format!(
                "takes at least {} argument{}, got {n}",
                self.min,
                plural(self.min)
            )
        } else if self.min == self.max {
            format!("takes {} argument{}, got {n}", self.min, plural(self.max))
        } else {
            format!(
                "takes {} to {} argument{}, got {n}",
                self.min,
                self.max,
                plural(self.max)
            )
        })
    }
}

/// The evaluated arguments of one call, with the call for spans and messages.
pub(crate) struct Args<'c> {
    builtin: &'static Builtin,
    call: &'c Call,
    values: Vec<Value>,
    /// The call stands as a statement: its value is not used.
    statement: bool,
}

impl Args<'_> {
    /// The span of the function's name, where call errors point.
    pub(crate) fn span(&self) -> Span {
        self.call.name.span
    }

    /// The span of argument `i` (as written; it exists once arity was checked).
    pub(crate) fn arg_span(&self, i: usize) -> Span {
        self.call.args.get(i).map_or(self.span(), |a| a.span)
    }

    /// Whether the call stands as a statement (its value is not used).
    pub(crate) fn is_statement(&self) -> bool {
        self.statement
    }

    /// How many arguments were passed.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Every argument.
    pub(crate) fn values(&self) -> &[Value] {
        &self.values
    }

    /// Argument `i`; `None` past the end (arity is checked before a built-in runs).
    pub(crate) fn get(&self, i: usize) -> &Value {
        self.values.get(i).unwrap_or(&Value::None)
    }

    /// Reports `wrong-arguments` for this call: "`name` {why}", with the signature.
    pub(crate) fn wrong(&self, ev: &mut Evaluator<'_>, why: String) -> Failed {
        let b = self.builtin;
        ev.diags.push(
            Diagnostic::error(
                Code::WrongArguments,
                self.span(),
                format!("`{}` {why}", b.name),
            )
            .with_primary("called here")
            .with_note(format!("signature: {}", b.signature)),
        );
        Failed
    }

    /// Argument `i` through `pick`, or `wrong-arguments` naming the type `ty` it wants.
    pub(crate) fn want<T>(
        &self,
        ev: &mut Evaluator<'_>,
        i: usize,
        ty: &str,
        pick: impl FnOnce(&Value) -> Option<T>,
    ) -> R<T> {
        let v = self.get(i);
        match pick(v) {
            Some(t) => Ok(t),
            None => Err(self.wrong(
                ev,
                format!(
                    "takes a {ty} as argument {}, got a {}",
                    i + 1,
                    v.type_name()
                ),
            )),
        }
    }

    /// Argument `i` as a String.
    pub(crate) fn str(&self, ev: &mut Evaluator<'_>, i: usize) -> R<Arc<str>> {
        self.want(ev, i, "String", |v| match v {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        })
    }

    /// Argument `i` as an Int.
    pub(crate) fn int(&self, ev: &mut Evaluator<'_>, i: usize) -> R<i64> {
        self.want(ev, i, "Int", |v| match v {
            Value::Int(n) => Some(*n),
            _ => None,
        })
    }

    /// Argument `i` as an Array.
    pub(crate) fn array(&self, ev: &mut Evaluator<'_>, i: usize) -> R<Arc<Vec<Value>>> {
        self.want(ev, i, "Array", |v| match v {
            Value::Array(a) => Some(a.clone()),
            _ => None,
        })
    }

    /// Argument `i` as a Map.
    pub(crate) fn map(&self, ev: &mut Evaluator<'_>, i: usize) -> R<Arc<IndexMap<String, Value>>> {
        self.want(ev, i, "Map", |v| match v {
            Value::Map(m) => Some(m.clone()),
            _ => None,
        })
    }
}

impl Evaluator<'_> {
    /// Evaluates a call of a built-in: `unknown-function` for a name not in [`BUILTINS`];
    /// else the arguments (a failed one fails the call quietly), a step of the budget, the
    /// Sensitive and arity checks, and the built-in itself.
    pub(super) fn call(&mut self, call: &Call) -> R<Value> {
        // Set by the statement that is this call; its arguments are values.
        let statement = std::mem::take(&mut self.call_is_statement);
        let name = call.name.name.as_str();
        let Some(builtin) = get(name) else {
            for a in &call.args {
                let _ = self.eval(a);
            }
            self.diags.push(
                Diagnostic::error(
                    Code::UnknownFunction,
                    call.name.span,
                    format!("no function named `{name}`"),
                )
                .with_primary("unknown function")
                .with_suggestion(name, names()),
            );
            return Err(Failed);
        };
        let mut values = Vec::with_capacity(call.args.len());
        let mut failed = false;
        for a in &call.args {
            match self.eval(a) {
                Ok(v) => values.push(v),
                Err(Failed) => failed = true,
            }
        }
        if failed {
            return Err(Failed);
        }
        self.step(1, call.name.span)?;
        let args = Args {
            builtin,
            call,
            values,
            statement,
        };
        if builtin.name != "nodes" {
            if let Some(i) = call
                .args
                .iter()
                .position(|a| matches!(a.kind, crate::syntax::ast::ExprKind::Regex(_)))
            {
                let why = format!(
                    "takes no regex literal (argument {}); only `nodes()` does",
                    i + 1
                );
                return Err(args.wrong(self, why));
            }
        }
        if !builtin.takes_sensitive {
            if let Some(i) = args
                .values
                .iter()
                .position(|v| matches!(v, Value::Sensitive(_)))
            {
                let why = format!(
                    "cannot take a Sensitive value (argument {}); `unwrap()` it first",
                    i + 1
                );
                return Err(args.wrong(self, why));
            }
        }
        if let Some(why) = builtin.arity_error(args.len()) {
            return Err(args.wrong(self, why));
        }
        (builtin.run)(self, &args)
    }

    pub(super) fn read_source(&mut self, written: &str, span: Span) -> R<Vec<u8>> {
        use crate::limits::ReadError;
        let path = self.program.resolve_path(span.file, written);
        let err = match path.as_deref().map(crate::limits::read_file) {
            Some(Ok(b)) => return Ok(b),
            Some(Err(e)) => Some(e),
            None => None,
        };
        let shown = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| written.to_string());
        let d = match err {
            None => Diagnostic::error(
                Code::SourceNotFound,
                span,
                format!("`{written}` does not exist"),
            )
            .with_primary("no module by that name"),
            Some(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Diagnostic::error(
                    Code::SourceNotFound,
                    span,
                    format!("`{written}` does not exist"),
                )
                .with_primary("no such file")
            }
            Some(e @ ReadError::TooBig(_)) => Diagnostic::error(
                Code::ResourceLimit,
                span,
                format!("cannot read `{written}`: {e}"),
            )
            .with_primary("too big"),
            Some(e) => Diagnostic::error(
                Code::SourceNotFound,
                span,
                format!("cannot read `{written}`: {e}"),
            )
            .with_primary("unreadable"),
        };
        self.diags.push(d.with_note(format!("looked for {shown}; relative paths start at the directory of the manifest that names them")));
        Err(Failed)
    }
}

/// `v`, wrapped as Sensitive when `secret`.
pub(super) fn wrap_if(secret: bool, v: Value) -> Value {
    if secret {
        Value::sensitive(v)
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for b in BUILTINS {
            assert!(seen.insert(b.name), "{} listed twice", b.name);
            assert!(
                b.signature.starts_with(&format!("{}(", b.name)),
                "{}: {}",
                b.name,
                b.signature
            );
            assert!(b.min <= b.max, "{}", b.name);
            assert!(!b.doc.is_empty(), "{}", b.name);
            // The arity agrees with the signature's parameter count where it is fixed.
            if b.max != VARIADIC && !b.signature.contains('[') {
                let params = &b.signature[b.name.len() + 1..b.signature.find(')').unwrap()];
                let n = if params.is_empty() {
                    0
                } else {
                    params.split(", ").count()
                };
                assert_eq!((b.min, b.max), (n, n), "{}", b.name);
            }
        }
    }

    #[test]
    fn arity_messages() {
        let join = get("join").unwrap();
        assert_eq!(join.arity_error(2), None);
        assert_eq!(
            join.arity_error(1).as_deref(),
            Some("takes 2 arguments, got 1")
        );
        let lookup = get("lookup").unwrap();
        assert_eq!(
            lookup.arity_error(4).as_deref(),
            Some("takes 2 to 3 arguments, got 4")
        );
        let format = get("format").unwrap();
        assert_eq!(format.arity_error(9), None);
        assert_eq!(
            format.arity_error(0).as_deref(),
            Some("takes at least 1 argument, got 0")
        );
        assert!(get("nope").is_none());
    }
}
