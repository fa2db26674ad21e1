//! Built-in functions (LANGUAGE.md §6, signatures §10.9).

use std::cmp::Ordering;
use std::sync::Arc;

use indexmap::IndexMap;

use super::{Evaluator, Failed, R};
use crate::diag::{Code, Diagnostic};
use crate::model::value::Value;
use crate::source::Span;
use crate::syntax::ast::Call;

/// Every built-in with its signature, for messages, hover and "did you mean".
pub const FUNCTIONS: &[(&str, &str, &str)] = &[
    (
        "template",
        "template(path: String[, vars: Map]) -> String",
        "Renders a Jinja template (minijinja) with the caller's variables, `facts` and `node`.",
    ),
    (
        "file",
        "file(path: String) -> String",
        "The contents of a file, relative to the calling manifest.",
    ),
    (
        "sha256",
        "sha256(s: String) -> String",
        "The hex sha256 of a String.",
    ),
    (
        "join",
        "join(a: Array, sep: String) -> String",
        "Joins the elements, rendered as in interpolation.",
    ),
    (
        "split",
        "split(s: String, sep: String) -> Array[String]",
        "Splits on a literal separator.",
    ),
    (
        "upcase",
        "upcase(s: String) -> String",
        "Upper-cases a String.",
    ),
    (
        "downcase",
        "downcase(s: String) -> String",
        "Lower-cases a String.",
    ),
    (
        "length",
        "length(x: String | Array | Map) -> Int",
        "Characters of a String, elements of an Array, keys of a Map.",
    ),
    (
        "keys",
        "keys(m: Map) -> Array[String]",
        "The keys of a Map in order.",
    ),
    (
        "values",
        "values(m: Map) -> Array",
        "The values of a Map in order.",
    ),
    (
        "get",
        "get(m: Map, key: String, default: Any) -> Any",
        "m[key], or default when the key is missing.",
    ),
    (
        "merge",
        "merge(m1: Map, m2: Map) -> Map",
        "m1 with m2's keys; overridden keys keep their position.",
    ),
    (
        "concat",
        "concat(a1: Array, a2: Array) -> Array",
        "a1 followed by a2.",
    ),
    (
        "range",
        "range(a: Int, b: Int) -> Array[Int]",
        "a..=b; empty when a > b.",
    ),
    (
        "format",
        "format(fmt: String, args: Any...) -> String",
        "Replaces each `{}` with the next argument.",
    ),
    (
        "regsubst",
        "regsubst(s: String, re: String, repl: String) -> String",
        "Replaces every match; `$1` is group 1.",
    ),
    (
        "lookup",
        "lookup(key: String, default: Any[, \"deep\"]) -> Any",
        "Reads data levels (data/hierarchy.toml).",
    ),
    (
        "defined",
        "defined(ref: Ref) -> Bool",
        "Whether that resource or class has been declared so far.",
    ),
    (
        "sort",
        "sort(a: Array) -> Array",
        "Sorts all-String or all-Int arrays.",
    ),
    (
        "unique",
        "unique(a: Array) -> Array",
        "Drops repeated elements, keeping first occurrences.",
    ),
    (
        "flatten",
        "flatten(a: Array) -> Array",
        "Flattens nested arrays fully.",
    ),
    (
        "delete",
        "delete(x: Array | Map, item: Any) -> Array | Map",
        "Removes every equal element, or that key.",
    ),
    (
        "deep_merge",
        "deep_merge(m1: Map, m2: Map) -> Map",
        "Merges maps recursively; m2 wins.",
    ),
    (
        "versioncmp",
        "versioncmp(a: String, b: String) -> Int",
        "-1, 0 or 1 by Debian version order.",
    ),
    (
        "fail",
        "fail(msg: String)",
        "Stops this node with a `user-fail` error.",
    ),
    (
        "warning",
        "warning(msg: String)",
        "Logs a warning while compiling.",
    ),
    (
        "notice",
        "notice(msg: String)",
        "Logs a notice while compiling.",
    ),
    (
        "sensitive",
        "sensitive(v: Any) -> Sensitive",
        "Wraps a value so that it is never shown: `[sensitive]` in plans, reports and messages.",
    ),
    (
        "unwrap",
        "unwrap(s: Sensitive) -> Any",
        "The value a Sensitive wraps.",
    ),
];

/// The functions that take Sensitive arguments (LANGUAGE.md §10.9); any other is given one
/// as `wrong-arguments`.
const TAKE_SENSITIVE: &[&str] = &[
    "join",
    "format",
    "template",
    "unwrap",
    "sensitive",
    "export",
];

/// Largest array `range()` builds.
const MAX_RANGE: i64 = 1_000_000;

impl Evaluator<'_> {
    pub(super) fn call(&mut self, call: &Call, statement: bool) -> R<Value> {
        let name = call.name.name.as_str();
        let Some(&(_, signature, _)) = FUNCTIONS.iter().find(|f| f.0 == name) else {
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
                .with_suggestion(name, FUNCTIONS.iter().map(|f| f.0)),
            );
            return Err(Failed);
        };
        let _ = statement;
        // Arguments are evaluated first; a failed one fails the call quietly.
        let mut args = Vec::with_capacity(call.args.len());
        let mut failed = false;
        for a in &call.args {
            match self.eval(a) {
                Ok(v) => args.push(v),
                Err(Failed) => failed = true,
            }
        }
        if failed {
            return Err(Failed);
        }
        let span = call.name.span;
        self.step(1, span)?;
        let wrong = |ev: &mut Self, why: String| -> Failed {
            ev.diags.push(
                Diagnostic::error(Code::WrongArguments, span, format!("`{name}` {why}"))
                    .with_primary("called here")
                    .with_note(format!("signature: {signature}")),
            );
            Failed
        };
        let arity = |ev: &mut Self, args: &[Value], min: usize, max: usize| -> R<()> {
            if args.len() < min || args.len() > max {
                let want = if min == max {
                    format!("{min}")
                } else {
                    format!("{min} to {max}")
                };
                return Err(wrong(
                    ev,
                    format!(
                        "takes {want} argument{}, got {}",
                        if max == 1 { "" } else { "s" },
                        args.len()
                    ),
                ));
            }
            Ok(())
        };
        if !TAKE_SENSITIVE.contains(&name) {
            if let Some(i) = args.iter().position(|v| matches!(v, Value::Sensitive(_))) {
                return Err(wrong(
                    self,
                    format!(
                        "cannot take a Sensitive value (argument {}); `unwrap()` it first",
                        i + 1
                    ),
                ));
            }
        }
        macro_rules! want {
            ($i:expr, $pat:pat => $out:expr, $ty:literal) => {
                match &args[$i] {
                    $pat => $out,
                    other => {
                        return Err(wrong(
                            self,
                            format!(
                                "takes a {} as argument {}, got a {}",
                                $ty,
                                $i + 1,
                                other.type_name()
                            ),
                        ))
                    }
                }
            };
        }
        match name {
            "fail" => {
                arity(self, &args, 1, 1)?;
                let msg = want!(0, Value::Str(s) => s.to_string(), "String");
                self.diags.push(
                    Diagnostic::error(Code::UserFail, span, msg).with_primary("fail() called here"),
                );
                self.stopped = true;
                Err(Failed)
            }
            "warning" | "notice" => {
                arity(self, &args, 1, 1)?;
                let _ = want!(0, Value::Str(s) => s.clone(), "String");
                Ok(Value::None)
            }
            "template" => {
                arity(self, &args, 1, 2)?;
                let path = want!(0, Value::Str(s) => s.to_string(), "String");
                let vars = if args.len() == 2 {
                    want!(1, Value::Map(m) => Some(m.clone()), "Map")
                } else {
                    None
                };
                self.template(&path, call.args[0].span, vars)
            }
            "file" => {
                arity(self, &args, 1, 1)?;
                let path = want!(0, Value::Str(s) => s.to_string(), "String");
                let bytes = self.read_source(&path, call.args[0].span)?;
                match String::from_utf8(bytes) {
                    Ok(s) => Ok(Value::str(s)),
                    Err(_) => Err(self.error(
                        Code::InvalidValue,
                        call.args[0].span,
                        format!("`{path}` is not UTF-8 text; use `source` on a file resource"),
                    )),
                }
            }
            "sha256" => {
                arity(self, &args, 1, 1)?;
                let s = want!(0, Value::Str(s) => s.clone(), "String");
                Ok(Value::str(crate::model::digest::sha256_hex(s.as_bytes())))
            }
            "sensitive" => {
                arity(self, &args, 1, 1)?;
                Ok(Value::sensitive(args[0].clone()))
            }
            "unwrap" => {
                arity(self, &args, 1, 1)?;
                match &args[0] {
                    Value::Sensitive(inner) => Ok((**inner).clone()),
                    other => Err(wrong(
                        self,
                        format!("takes a Sensitive, got a {}", other.type_name()),
                    )),
                }
            }
            "join" => {
                arity(self, &args, 2, 2)?;
                // A Sensitive array, separator or element gives a Sensitive result.
                let (a, mut secret) = args[0].unwrapped();
                let (sep, s2) = args[1].unwrapped();
                secret |= s2;
                let Value::Array(a) = a.clone() else {
                    return Err(wrong(
                        self,
                        format!("takes a Array as argument 1, got a {}", a.type_name()),
                    ));
                };
                let Value::Str(sep) = sep.clone() else {
                    return Err(wrong(
                        self,
                        format!("takes a String as argument 2, got a {}", sep.type_name()),
                    ));
                };
                let mut parts = Vec::with_capacity(a.len());
                let mut size = 0;
                for v in a.iter() {
                    let (v, s) = v.unwrapped();
                    secret |= s;
                    let part = self.render_secret(v, s, call.args[0].span)?;
                    size += part.len() + sep.len();
                    if self.budget.too_big(size) {
                        return Err(self.value_too_big(size, span));
                    }
                    parts.push(part);
                }
                self.build(size, span)?;
                Ok(wrap_if(secret, Value::str(parts.join(&sep))))
            }
            "split" => {
                arity(self, &args, 2, 2)?;
                let s = want!(0, Value::Str(s) => s.clone(), "String");
                let sep = want!(1, Value::Str(s) => s.clone(), "String");
                let n = if sep.is_empty() {
                    s.chars().count()
                } else {
                    s.matches(&*sep).count() + 1
                };
                self.build_array(n, span)?;
                if sep.is_empty() {
                    return Ok(Value::array(
                        s.chars().map(|c| Value::str(c.to_string())).collect(),
                    ));
                }
                Ok(Value::array(s.split(&*sep).map(Value::str).collect()))
            }
            "upcase" | "downcase" => {
                arity(self, &args, 1, 1)?;
                let s = want!(0, Value::Str(s) => s.clone(), "String");
                Ok(Value::str(if name == "upcase" {
                    s.to_uppercase()
                } else {
                    s.to_lowercase()
                }))
            }
            "length" => {
                arity(self, &args, 1, 1)?;
                Ok(Value::Int(match &args[0] {
                    Value::Str(s) => s.chars().count() as i64,
                    Value::Array(a) => a.len() as i64,
                    Value::Map(m) => m.len() as i64,
                    other => {
                        return Err(wrong(
                            self,
                            format!(
                                "takes a String, an Array or a Map, got a {}",
                                other.type_name()
                            ),
                        ))
                    }
                }))
            }
            "keys" | "values" => {
                arity(self, &args, 1, 1)?;
                let m = want!(0, Value::Map(m) => m.clone(), "Map");
                Ok(Value::array(if name == "keys" {
                    m.keys().map(|k| Value::str(k.as_str())).collect()
                } else {
                    m.values().cloned().collect()
                }))
            }
            "get" => {
                arity(self, &args, 3, 3)?;
                let m = want!(0, Value::Map(m) => m.clone(), "Map");
                let k = want!(1, Value::Str(s) => s.clone(), "String");
                Ok(m.get(&*k).cloned().unwrap_or_else(|| args[2].clone()))
            }
            "merge" | "deep_merge" => {
                arity(self, &args, 2, 2)?;
                let a = want!(0, Value::Map(m) => m.clone(), "Map");
                let b = want!(1, Value::Map(m) => m.clone(), "Map");
                Ok(Value::Map(if name == "merge" {
                    shallow_merge(&a, &b)
                } else {
                    deep_merge(&a, &b)
                }))
            }
            "concat" => {
                arity(self, &args, 2, 2)?;
                let a = want!(0, Value::Array(a) => a.clone(), "Array");
                let b = want!(1, Value::Array(a) => a.clone(), "Array");
                self.build_array(a.len() + b.len(), span)?;
                let mut v = (*a).clone();
                v.extend(b.iter().cloned());
                Ok(Value::array(v))
            }
            "range" => {
                arity(self, &args, 2, 2)?;
                let a = want!(0, Value::Int(i) => *i, "Int");
                let b = want!(1, Value::Int(i) => *i, "Int");
                if a > b {
                    return Ok(Value::array(Vec::new()));
                }
                if b.saturating_sub(a) >= MAX_RANGE {
                    return Err(wrong(
                        self,
                        format!("would build more than {MAX_RANGE} elements"),
                    ));
                }
                self.build_array((b - a + 1) as usize, span)?;
                Ok(Value::array((a..=b).map(Value::Int).collect()))
            }
            "format" => {
                if args.is_empty() {
                    return Err(wrong(
                        self,
                        "takes a format String and its arguments".into(),
                    ));
                }
                let (f, mut secret) = args[0].unwrapped();
                let Value::Str(f) = f.clone() else {
                    return Err(wrong(
                        self,
                        format!("takes a String as argument 1, got a {}", f.type_name()),
                    ));
                };
                let holes = f.matches("{}").count();
                if holes != args.len() - 1 {
                    return Err(wrong(
                        self,
                        format!(
                            "has {holes} `{{}}` hole{} but {} argument{}",
                            if holes == 1 { "" } else { "s" },
                            args.len() - 1,
                            if args.len() == 2 { "" } else { "s" }
                        ),
                    ));
                }
                let mut out = String::new();
                let mut rest: &str = &f;
                for v in &args[1..] {
                    let (before, after) = rest.split_once("{}").unwrap_or((rest, ""));
                    out.push_str(before);
                    let (v, s) = v.unwrapped();
                    secret |= s;
                    out.push_str(&self.render_secret(v, s, call.args[0].span)?);
                    if self.budget.too_big(out.len()) {
                        return Err(self.value_too_big(out.len(), span));
                    }
                    rest = after;
                }
                out.push_str(rest);
                self.build(out.len(), span)?;
                Ok(wrap_if(secret, Value::str(out)))
            }
            "regsubst" => {
                arity(self, &args, 3, 3)?;
                let s = want!(0, Value::Str(s) => s.clone(), "String");
                let re = want!(1, Value::Str(s) => s.clone(), "String");
                let repl = want!(2, Value::Str(s) => s.clone(), "String");
                let re = self.regex(&re, call.args[1].span)?;
                Ok(Value::str(re.replace_all(&s, &*repl).into_owned()))
            }
            "lookup" => {
                arity(self, &args, 2, 3)?;
                let key = want!(0, Value::Str(s) => s.to_string(), "String");
                let deep = if args.len() == 3 {
                    match &args[2] {
                        Value::Str(s) if &**s == "deep" => true,
                        _ => {
                            return Err(wrong(
                                self,
                                "takes \"deep\" as its optional third argument".into(),
                            ))
                        }
                    }
                } else {
                    false
                };
                let segments: Vec<&str> = key.split('.').collect();
                Ok(self
                    .lookup_data(&segments, deep)?
                    .unwrap_or_else(|| args[1].clone()))
            }
            "defined" => {
                arity(self, &args, 1, 1)?;
                let refs = want!(0, Value::Ref(r) => r.clone(), "Ref");
                Ok(Value::Bool(refs.iter().all(|r| self.is_defined(r))))
            }
            "sort" => {
                arity(self, &args, 1, 1)?;
                let a = want!(0, Value::Array(a) => a.clone(), "Array");
                let mut v = (*a).clone();
                if v.iter().all(|x| matches!(x, Value::Str(_))) {
                    v.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
                } else if v.iter().all(|x| matches!(x, Value::Int(_))) {
                    v.sort_by_key(|x| x.as_int());
                } else {
                    return Err(wrong(
                        self,
                        "sorts an Array of all Strings or all Ints".into(),
                    ));
                }
                Ok(Value::array(v))
            }
            "unique" => {
                arity(self, &args, 1, 1)?;
                let a = want!(0, Value::Array(a) => a.clone(), "Array");
                let mut out: Vec<Value> = Vec::new();
                for v in a.iter() {
                    self.step(out.len() as u64 / 64, span)?;
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
                Ok(Value::array(out))
            }
            "flatten" => {
                arity(self, &args, 1, 1)?;
                let a = want!(0, Value::Array(a) => a.clone(), "Array");
                // Arrays share their elements: `[$a, $a]` ten levels deep flattens to 1,024
                // copies. Counted first, up to the limit.
                let cap = self.budget.max_elements();
                let n = flat_len(&a, cap);
                self.build_array(n, span)?;
                let mut out = Vec::with_capacity(n);
                flatten_into(&a, &mut out);
                Ok(Value::array(out))
            }
            "delete" => {
                arity(self, &args, 2, 2)?;
                match &args[0] {
                    Value::Array(a) => Ok(Value::array(
                        a.iter().filter(|v| **v != args[1]).cloned().collect(),
                    )),
                    Value::Map(m) => {
                        let mut m = (**m).clone();
                        if let Value::Str(k) = &args[1] {
                            m.shift_remove(&**k);
                        }
                        Ok(Value::map(m))
                    }
                    other => Err(wrong(
                        self,
                        format!("takes an Array or a Map, got a {}", other.type_name()),
                    )),
                }
            }
            "versioncmp" => {
                arity(self, &args, 2, 2)?;
                let a = want!(0, Value::Str(s) => s.clone(), "String");
                let b = want!(1, Value::Str(s) => s.clone(), "String");
                Ok(Value::Int(match versioncmp(&a, &b) {
                    Ordering::Less => -1,
                    Ordering::Equal => 0,
                    Ordering::Greater => 1,
                }))
            }
            _ => unreachable!("every listed function is handled"),
        }
    }

    /// Reads a file named by `template()`/`file()`, reporting `source-not-found` at `span`
    /// (missing, unreadable, or not a regular file) or `resource-limit` (too big).
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

/// The length of `a` flattened, or more than `cap` when it is longer (counting stops there).
fn flat_len(a: &[Value], cap: usize) -> usize {
    let mut n = 0;
    for v in a {
        n += match v {
            Value::Array(inner) => flat_len(inner, cap - n.min(cap)),
            _ => 1,
        };
        if n > cap {
            return n;
        }
    }
    n
}

/// `v`, wrapped as Sensitive when `secret`.
pub(super) fn wrap_if(secret: bool, v: Value) -> Value {
    if secret {
        Value::sensitive(v)
    } else {
        v
    }
}

fn flatten_into(a: &[Value], out: &mut Vec<Value>) {
    for v in a {
        match v {
            Value::Array(inner) => flatten_into(inner, out),
            other => out.push(other.clone()),
        }
    }
}

/// `merge`: keys of `b` override in place, new keys are appended.
pub fn shallow_merge(
    a: &IndexMap<String, Value>,
    b: &IndexMap<String, Value>,
) -> Arc<IndexMap<String, Value>> {
    let mut m = a.clone();
    for (k, v) in b {
        m.insert(k.clone(), v.clone());
    }
    Arc::new(m)
}

/// `deep_merge`: like `merge`, recursing where both sides hold Maps.
pub fn deep_merge(
    a: &IndexMap<String, Value>,
    b: &IndexMap<String, Value>,
) -> Arc<IndexMap<String, Value>> {
    let mut m = a.clone();
    for (k, v) in b {
        let merged = match (m.get(k), v) {
            (Some(Value::Map(x)), Value::Map(y)) => Value::Map(deep_merge(x, y)),
            _ => v.clone(),
        };
        m.insert(k.clone(), merged);
    }
    Arc::new(m)
}

/// Debian version order (epoch, upstream version, revision; `~` sorts before everything).
pub fn versioncmp(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) && !e.is_empty() => {
                (e.parse().unwrap_or(0), r)
            }
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((u, r)) => (epoch, u, r),
            None => (epoch, rest, ""),
        }
    }
    fn order(c: Option<char>) -> i32 {
        match c {
            None => 0,
            Some('~') => -1,
            Some(c) if c.is_ascii_alphabetic() => c as i32,
            Some(c) => c as i32 + 256,
        }
    }
    fn part(a: &str, b: &str) -> Ordering {
        let (mut a, mut b) = (a, b);
        while !a.is_empty() || !b.is_empty() {
            // Non-digit prefix.
            let na = a.find(|c: char| c.is_ascii_digit()).unwrap_or(a.len());
            let nb = b.find(|c: char| c.is_ascii_digit()).unwrap_or(b.len());
            let (pa, pb) = (&a[..na], &b[..nb]);
            let mut ia = pa.chars();
            let mut ib = pb.chars();
            loop {
                let (ca, cb) = (ia.next(), ib.next());
                if ca.is_none() && cb.is_none() {
                    break;
                }
                let o = order(ca).cmp(&order(cb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            a = &a[na..];
            b = &b[nb..];
            // Digit prefix.
            let da = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
            let db = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
            let xa = a[..da].trim_start_matches('0');
            let xb = b[..db].trim_start_matches('0');
            let o = xa.len().cmp(&xb.len()).then_with(|| xa.cmp(xb));
            if o != Ordering::Equal {
                return o;
            }
            a = &a[da..];
            b = &b[db..];
        }
        Ordering::Equal
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| part(ua, ub))
        .then_with(|| part(ra, rb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_version_order() {
        assert_eq!(versioncmp("1.0", "1.0"), Ordering::Equal);
        assert_eq!(versioncmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(versioncmp("1.10", "1.9"), Ordering::Greater);
        assert_eq!(versioncmp("1:0.1", "2.0"), Ordering::Greater);
        assert_eq!(versioncmp("8.2.7-1", "8.2.7-2"), Ordering::Less);
        assert_eq!(versioncmp("1.0a", "1.0"), Ordering::Greater);
        assert_eq!(versioncmp("1.0+b1", "1.0a"), Ordering::Greater);
    }
}
