//! One small function per built-in (LANGUAGE.md §6, signatures §10.9). Each receives the
//! evaluator and its already evaluated, arity-checked arguments; the table in
//! [`super::BUILTINS`] names them.

use std::cmp::Ordering;
use std::sync::Arc;

use indexmap::IndexMap;

use super::version;
use super::{wrap_if, Args};
use crate::diag::{Code, Diagnostic};
use crate::eval::{Evaluator, Failed, R};
use crate::model::value::Value;

/// Largest array `range()` builds.
const MAX_RANGE: i64 = 1_000_000;

/// `fail(msg)`: a `user-fail` error that stops this node.
pub(super) fn fail(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let msg = a.str(ev, 0)?;
    ev.diags.push(
        Diagnostic::error(Code::UserFail, a.span(), msg.to_string())
            .with_primary("fail() called here"),
    );
    ev.stopped = true;
    Err(Failed)
}

/// `warning(msg)`: a `user-warning` diagnostic at the function name; evaluation goes on.
pub(super) fn warning(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let msg = a.str(ev, 0)?;
    ev.diags.push(
        Diagnostic::warning(Code::UserWarning, a.span(), msg.to_string())
            .with_primary("warning() called here"),
    );
    Ok(Value::None)
}

/// `notice(msg)`: recorded for the command to print (`notice: msg`); no diagnostic.
pub(super) fn notice(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let msg = a.str(ev, 0)?;
    ev.out.notices.push(crate::model::declared::Notice {
        span: a.span(),
        message: msg.to_string(),
    });
    Ok(Value::None)
}

/// `nodes()` / `nodes(pattern)`: the fleet's nodes (LANGUAGE.md §6), all of them, those a
/// regex matches (unanchored), or the one a String names (compared case-insensitively).
pub(super) fn nodes(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let fleet = ev.fleet.fleet;
    if a.len() == 0 {
        return Ok(fleet.entries(|_| true));
    }
    match a.get(0) {
        Value::Regex(re) => Ok(fleet.entries(|n| re.is_match(n))),
        Value::Str(s) => {
            let lower = s.to_lowercase();
            Ok(fleet.entries(|n| n.to_lowercase() == lower))
        }
        other => {
            let why = format!(
                "takes a Regex or a String as argument 1, got a {}",
                other.type_name()
            );
            Err(a.wrong(ev, why))
        }
    }
}

/// `export(topic, value)`: publishes `value` under `topic` from this node. A statement: a
/// call whose value would be used is `wrong-arguments` (it has none to give).
pub(super) fn export(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    if !a.is_statement() {
        let why = "is a statement: its call gives no value to use".to_string();
        return Err(a.wrong(ev, why));
    }
    let topic = a.str(ev, 0)?;
    ev.out.exports.push(crate::model::declared::Export {
        topic: topic.to_string(),
        value: a.get(1).clone(),
        span: a.span(),
    });
    Ok(Value::None)
}

/// `collect(topic)`: every export under `topic` in the fleet (`[]` during the discovery
/// pass, which finds them).
pub(super) fn collect(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let topic = a.str(ev, 0)?;
    if ev.out.collected_at.is_none() {
        ev.out.collected_at = Some(a.span());
    }
    Ok(match ev.fleet.collected {
        Some(c) => c.get(&topic),
        None => Value::Array(Arc::new(Vec::new())),
    })
}

/// `template(path[, vars])`: renders a Jinja template.
pub(super) fn template(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let path = a.str(ev, 0)?;
    let vars = if a.len() == 2 {
        Some(a.map(ev, 1)?)
    } else {
        None
    };
    ev.template(&path, a.arg_span(0), vars)
}

/// `file(path)`: the contents of a UTF-8 file beside the calling manifest.
pub(super) fn file(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let path = a.str(ev, 0)?;
    let bytes = ev.read_source(&path, a.arg_span(0))?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(Value::str(s)),
        Err(_) => Err(ev.error(
            Code::InvalidValue,
            a.arg_span(0),
            format!("`{path}` is not UTF-8 text; use `source` on a file resource"),
        )),
    }
}

/// `sha256(s)`: the hex digest of a String.
pub(super) fn sha256(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let s = a.str(ev, 0)?;
    Ok(Value::str(crate::model::digest::sha256_hex(s.as_bytes())))
}

/// `sensitive(v)`: wraps a value.
pub(super) fn sensitive(_: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    Ok(Value::sensitive(a.get(0).clone()))
}

/// `unwrap(s)`: the value a Sensitive wraps.
pub(super) fn unwrap(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    match a.get(0) {
        Value::Sensitive(inner) => Ok((**inner).clone()),
        other => Err(a.wrong(
            ev,
            format!("takes a Sensitive, got a {}", other.type_name()),
        )),
    }
}

/// `join(a, sep)`: a Sensitive array, separator or element gives a Sensitive result.
pub(super) fn join(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let span = a.span();
    let (arr, mut secret) = a.get(0).unwrapped();
    let (sep, s2) = a.get(1).unwrapped();
    secret |= s2;
    let Value::Array(arr) = arr.clone() else {
        return Err(a.wrong(
            ev,
            format!("takes a Array as argument 1, got a {}", arr.type_name()),
        ));
    };
    let Value::Str(sep) = sep.clone() else {
        return Err(a.wrong(
            ev,
            format!("takes a String as argument 2, got a {}", sep.type_name()),
        ));
    };
    let mut parts = Vec::with_capacity(arr.len());
    let mut size = 0;
    for v in arr.iter() {
        let (v, s) = v.unwrapped();
        secret |= s;
        let part = ev.render_secret(v, s, a.arg_span(0))?;
        size += part.len() + sep.len();
        if ev.budget.too_big(size) {
            return Err(ev.value_too_big(size, span));
        }
        parts.push(part);
    }
    ev.build(size, span)?;
    Ok(wrap_if(secret, Value::str(parts.join(&sep))))
}

/// `split(s, sep)`: on a literal separator; an empty one splits into characters.
pub(super) fn split(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let s = a.str(ev, 0)?;
    let sep = a.str(ev, 1)?;
    let n = if sep.is_empty() {
        s.chars().count()
    } else {
        s.matches(&*sep).count() + 1
    };
    ev.build_array(n, a.span())?;
    if sep.is_empty() {
        return Ok(Value::array(
            s.chars().map(|c| Value::str(c.to_string())).collect(),
        ));
    }
    Ok(Value::array(s.split(&*sep).map(Value::str).collect()))
}

/// `upcase(s)`.
pub(super) fn upcase(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    Ok(Value::str(a.str(ev, 0)?.to_uppercase()))
}

/// `downcase(s)`.
pub(super) fn downcase(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    Ok(Value::str(a.str(ev, 0)?.to_lowercase()))
}

/// `length(x)`: characters, elements or keys.
pub(super) fn length(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    Ok(Value::Int(match a.get(0) {
        Value::Str(s) => s.chars().count() as i64,
        Value::Array(v) => v.len() as i64,
        Value::Map(m) => m.len() as i64,
        other => {
            return Err(a.wrong(
                ev,
                format!(
                    "takes a String, an Array or a Map, got a {}",
                    other.type_name()
                ),
            ))
        }
    }))
}

/// `keys(m)`.
pub(super) fn keys(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let m = a.map(ev, 0)?;
    Ok(Value::array(
        m.keys().map(|k| Value::str(k.as_str())).collect(),
    ))
}

/// `values(m)`.
pub(super) fn values(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let m = a.map(ev, 0)?;
    Ok(Value::array(m.values().cloned().collect()))
}

/// `get(m, key, default)`.
pub(super) fn get(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let m = a.map(ev, 0)?;
    let k = a.str(ev, 1)?;
    Ok(m.get(&*k).cloned().unwrap_or_else(|| a.get(2).clone()))
}

/// `merge(m1, m2)`: keys of m2 override in place, new keys are appended.
pub(super) fn merge(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let x = a.map(ev, 0)?;
    let y = a.map(ev, 1)?;
    Ok(Value::Map(merge_maps(&x, &y, false)))
}

/// `deep_merge(m1, m2)`: like `merge`, recursing where both sides hold Maps.
pub(super) fn deep_merge(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let x = a.map(ev, 0)?;
    let y = a.map(ev, 1)?;
    Ok(Value::Map(merge_maps(&x, &y, true)))
}

/// `concat(a1, a2)`.
pub(super) fn concat(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let x = a.array(ev, 0)?;
    let y = a.array(ev, 1)?;
    ev.build_array(x.len() + y.len(), a.span())?;
    let mut v = (*x).clone();
    v.extend(y.iter().cloned());
    Ok(Value::array(v))
}

/// `range(a, b)`: a..=b, at most [`MAX_RANGE`] elements.
pub(super) fn range(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let lo = a.int(ev, 0)?;
    let hi = a.int(ev, 1)?;
    if lo > hi {
        return Ok(Value::array(Vec::new()));
    }
    if hi.saturating_sub(lo) >= MAX_RANGE {
        return Err(a.wrong(ev, format!("would build more than {MAX_RANGE} elements")));
    }
    ev.build_array((hi - lo + 1) as usize, a.span())?;
    Ok(Value::array((lo..=hi).map(Value::Int).collect()))
}

/// `format(fmt, args...)`: one argument per `{}`; Sensitive in, Sensitive out.
pub(super) fn format(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let span = a.span();
    let (f, mut secret) = a.get(0).unwrapped();
    let Value::Str(f) = f.clone() else {
        return Err(a.wrong(
            ev,
            format!("takes a String as argument 1, got a {}", f.type_name()),
        ));
    };
    let rest_args = &a.values()[1..];
    let holes = f.matches("{}").count();
    if holes != rest_args.len() {
        return Err(a.wrong(
            ev,
            format!(
                "has {holes} `{{}}` hole{} but {} argument{}",
                if holes == 1 { "" } else { "s" },
                rest_args.len(),
                if rest_args.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    let mut out = String::new();
    let mut rest: &str = &f;
    for v in rest_args {
        let (before, after) = rest.split_once("{}").unwrap_or((rest, ""));
        out.push_str(before);
        let (v, s) = v.unwrapped();
        secret |= s;
        out.push_str(&ev.render_secret(v, s, a.arg_span(0))?);
        if ev.budget.too_big(out.len()) {
            return Err(ev.value_too_big(out.len(), span));
        }
        rest = after;
    }
    out.push_str(rest);
    ev.build(out.len(), span)?;
    Ok(wrap_if(secret, Value::str(out)))
}

/// `regsubst(s, re, repl)`: replaces every match.
pub(super) fn regsubst(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let s = a.str(ev, 0)?;
    let re = a.str(ev, 1)?;
    let repl = a.str(ev, 2)?;
    let re = ev.regex(&re, a.arg_span(1))?;
    Ok(Value::str(re.replace_all(&s, &*repl).into_owned()))
}

/// `lookup(key, default[, "deep"])`: reads the data levels.
pub(super) fn lookup(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let key = a.str(ev, 0)?;
    let deep = match a.values().get(2) {
        None => false,
        Some(Value::Str(s)) if &**s == "deep" => true,
        Some(_) => return Err(a.wrong(ev, "takes \"deep\" as its optional third argument".into())),
    };
    let segments: Vec<&str> = key.split('.').collect();
    Ok(ev
        .lookup_data(&segments, deep)?
        .unwrap_or_else(|| a.get(1).clone()))
}

/// `defined(ref)`: whether every referenced resource or class is declared so far.
pub(super) fn defined(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let refs = a.want(ev, 0, "Ref", |v| match v {
        Value::Ref(r) => Some(r.clone()),
        _ => None,
    })?;
    Ok(Value::Bool(refs.iter().all(|r| ev.is_defined(r))))
}

/// `sort(a)`: all Strings or all Ints.
pub(super) fn sort(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let mut v = (*a.array(ev, 0)?).clone();
    if v.iter().all(|x| matches!(x, Value::Str(_))) {
        v.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
    } else if v.iter().all(|x| matches!(x, Value::Int(_))) {
        v.sort_by_key(|x| x.as_int());
    } else {
        return Err(a.wrong(ev, "sorts an Array of all Strings or all Ints".into()));
    }
    Ok(Value::array(v))
}

/// `unique(a)`: first occurrences, in order (quadratic, so it counts steps).
pub(super) fn unique(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let arr = a.array(ev, 0)?;
    let mut out: Vec<Value> = Vec::new();
    for v in arr.iter() {
        ev.step(out.len() as u64 / 64, a.span())?;
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    Ok(Value::array(out))
}

/// `flatten(a)`: nested arrays, fully.
pub(super) fn flatten(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let arr = a.array(ev, 0)?;
    // Arrays share their elements: `[$a, $a]` ten levels deep flattens to 1,024 copies.
    // Counted first, up to the limit.
    let cap = ev.budget.max_elements();
    let n = flat_len(&arr, cap);
    ev.build_array(n, a.span())?;
    let mut out = Vec::with_capacity(n);
    flatten_into(&arr, &mut out);
    Ok(Value::array(out))
}

/// `delete(x, item)`: every equal element of an Array, or that key of a Map.
pub(super) fn delete(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let item = a.get(1);
    match a.get(0) {
        Value::Array(arr) => Ok(Value::array(
            arr.iter().filter(|v| *v != item).cloned().collect(),
        )),
        Value::Map(m) => {
            let mut m = (**m).clone();
            if let Value::Str(k) = item {
                m.shift_remove(&**k);
            }
            Ok(Value::map(m))
        }
        other => Err(a.wrong(
            ev,
            format!("takes an Array or a Map, got a {}", other.type_name()),
        )),
    }
}

/// `versioncmp(a, b)`: -1, 0 or 1.
pub(super) fn versioncmp(ev: &mut Evaluator<'_>, a: &Args<'_>) -> R<Value> {
    let x = a.str(ev, 0)?;
    let y = a.str(ev, 1)?;
    Ok(Value::Int(match version::versioncmp(&x, &y) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }))
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

/// Appends the leaves of `a` to `out`, depth first.
fn flatten_into(a: &[Value], out: &mut Vec<Value>) {
    for v in a {
        match v {
            Value::Array(inner) => flatten_into(inner, out),
            other => out.push(other.clone()),
        }
    }
}

/// `b`'s keys over `a`'s: overridden keys keep their position, new ones are appended;
/// `deep` recurses where both sides hold Maps.
fn merge_maps(
    a: &IndexMap<String, Value>,
    b: &IndexMap<String, Value>,
    deep: bool,
) -> Arc<IndexMap<String, Value>> {
    let mut m = a.clone();
    for (k, v) in b {
        let merged = match (deep, m.get(k), v) {
            (true, Some(Value::Map(x)), Value::Map(y)) => Value::Map(merge_maps(x, y, true)),
            _ => v.clone(),
        };
        m.insert(k.clone(), merged);
    }
    Arc::new(m)
}
