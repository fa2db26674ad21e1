//! Install profiles: `provision "NAME" { kernel = …, initrd = …, … }` at the top level
//! (PROVISION.md, "Install profiles").
//!
//! The static checks (unknown keys, a missing `kernel` or `initrd`, a profile declared twice,
//! a node naming a profile that is not declared) are `fleet check`'s and run here on the
//! AST. The values are evaluated per node by [`evaluate`], for `fleet provision`: the
//! profile's keys see `$node`, `$facts`, `$provision` (the node's record), `$server` (the
//! install server's URLs), for `answer` only `$profile` (the other keys' values), and the
//! program's top-level `let`s (run with no fleet: `nodes()` and `collect()` answer `[]`).

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;

use super::index::Index;
use super::input::Loaded;
use super::scope::Binding;
use super::Evaluator;
use crate::diag::{Code, Diagnostic};
use crate::model::value::Value;
use crate::source::Span;
use crate::syntax::ast::{BodyItem, ProfileDef};

pub(crate) use super::profile_decl::{ARCHES, KEYS, KINDS};

/// `unresolved-reference` for every node record whose `profile` names no declared profile
/// (at the name's string, with a did-you-mean).
pub(crate) fn unknown_profiles(
    index: &Index<'_>,
    nodes: &[super::provision::Provisioned],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (values, spans) in nodes {
        let Some(Value::Str(name)) = values.get("profile") else {
            continue;
        };
        if index.profiles.contains_key(&name[..]) {
            continue;
        }
        let Some(span) = spans.get("profile") else {
            continue;
        };
        let mut d = Diagnostic::error(
            Code::UnresolvedReference,
            *span,
            format!("no install profile `{name}` is declared"),
        )
        .with_primary("not a declared profile");
        let mut names: Vec<&str> = index.profiles.keys().copied().collect();
        names.sort_unstable();
        d = if names.is_empty() {
            d.with_help(format!(
                "declare it at the top level: `provision \"{name}\" {{ kernel = \"…\", initrd = \"…\" }}`"
            ))
        } else {
            d.with_suggestion(name, names)
        };
        out.push(d);
    }
    out
}

/// One profile's values for one node, with where each was written.
#[derive(Clone, Debug, Default)]
pub(crate) struct Evaluated {
    /// Keys in [`KEYS`] order, defaults filled in (`kind` `none`, `arch` `x86_64`).
    pub values: IndexMap<String, Value>,
    /// The span of each written value (for diagnostics about a value, such as a kernel
    /// file that does not exist).
    pub spans: IndexMap<String, Span>,
}

/// Evaluates profile `def` for `node`: every key but `answer` first, then `answer` with
/// `$profile` bound to those values. `bindings` are the extra variables (`provision`,
/// `server`); `facts` and `node` are bound as in a node body. Problems (a value of the wrong
/// type, a template error) are diagnostics; the result is `None` when there was one.
pub(crate) fn evaluate(
    program: Loaded<'_>,
    index: &Index<'_>,
    def: &ProfileDef,
    node: &str,
    facts: Value,
    bindings: Vec<(String, Value)>,
) -> (Option<Evaluated>, Vec<Diagnostic>) {
    let mut ev = Evaluator::new(program, index, node, facts, Default::default());
    ev.bind_top_level();
    for (name, value) in bindings {
        ev.scopes.top.insert(
            name,
            Binding {
                value: Some(value),
                span: None,
            },
        );
    }
    let mut out = Evaluated::default();
    let mut failed = false;
    let mut answer = None;
    for item in &def.body {
        let BodyItem::Attr { name, value } = item else {
            continue;
        };
        if !KEYS.contains(&name.name.as_str()) {
            failed = true;
            continue;
        }
        if name.name == "answer" {
            answer = Some(value);
            continue;
        }
        match ev.eval(value) {
            Ok(v) if valid(&name.name, &v) => {
                out.spans.insert(name.name.clone(), value.span);
                out.values.insert(name.name.clone(), v);
            }
            Ok(v) => {
                failed = true;
                ev.diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        value.span,
                        format!("profile key `{}` must be {}", name.name, wanted(&name.name)),
                    )
                    .with_primary(format!("this is {v}")),
                );
            }
            Err(_) => failed = true,
        }
    }
    defaults(&mut out.values);
    if let Some(value) = answer {
        let profile: IndexMap<String, Value> =
            std::iter::once(("name".to_string(), Value::str(def.name.name.as_str())))
                .chain(out.values.iter().map(|(k, v)| (k.clone(), v.clone())))
                .collect();
        ev.scopes.top.insert(
            "profile".into(),
            Binding {
                value: Some(Value::Map(Arc::new(profile))),
                span: None,
            },
        );
        match ev.eval(value) {
            Ok(v) if matches!(v.unwrapped().0, Value::Str(_)) => {
                // The answer file may hold secrets (a password hash): it is written to a
                // file, never printed, so the Sensitive wrapper is not needed past here.
                out.spans.insert("answer".into(), value.span);
                out.values.insert("answer".into(), v.plain());
            }
            Ok(v) => {
                failed = true;
                ev.diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        value.span,
                        "profile key `answer` must be a String (the answer file's text)",
                    )
                    .with_primary(format!("this is {v}")),
                );
            }
            Err(_) => failed = true,
        }
    }
    let order: HashMap<&str, usize> = KEYS.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    out.values
        .sort_by(|a, _, b, _| order.get(a.as_str()).cmp(&order.get(b.as_str())));
    let (_, diags) = ev.finish();
    let failed = failed || diags.iter().any(Diagnostic::is_error);
    (if failed { None } else { Some(out) }, diags)
}

/// Fills in the defaults of the optional keys.
fn defaults(values: &mut IndexMap<String, Value>) {
    values
        .entry("kind".into())
        .or_insert_with(|| Value::str("none"));
    values
        .entry("arch".into())
        .or_insert_with(|| Value::str("x86_64"));
}

/// True when `v` is a value key `key` takes.
fn valid(key: &str, v: &Value) -> bool {
    match (key, v) {
        ("kind", Value::Str(s)) => KINDS.contains(&&s[..]),
        ("arch", Value::Str(s)) => ARCHES.contains(&&s[..]),
        ("kernel" | "initrd", Value::Str(s)) => !s.is_empty(),
        ("kernel_args" | "answer", Value::Str(_)) => true,
        _ => false,
    }
}

/// What key `key` takes, for the message.
fn wanted(key: &str) -> String {
    match key {
        "kind" => format!("one of {}", KINDS.join(", ")),
        "arch" => format!("one of {}", ARCHES.join(", ")),
        "kernel" | "initrd" => "a non-empty String (a path or an http(s) URL)".into(),
        _ => "a String".into(),
    }
}
