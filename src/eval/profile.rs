//! Install profiles: `provision "NAME" { kernel = …, initrd = …, … }` at the top level
//! (PROVISION.md, "Install profiles").
//!
//! The static checks (unknown keys, a missing `kernel` or `initrd`, a profile declared twice,
//! a node naming a profile that is not declared) are `fleet check`'s and run here on the
//! AST. The values are evaluated per node by [`evaluate`], for `fleet provision`: the
//! profile's keys see `$node`, `$facts`, `$provision` (the node's record), `$server` (the
//! install server's URLs) and, for `answer` only, `$profile` (the other keys' values).

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

/// The keys a profile takes.
pub const KEYS: &[&str] = &["kernel", "initrd", "kind", "answer", "kernel_args", "arch"];

/// The values `kind` takes (bare words): the answer file's format.
pub const KINDS: &[&str] = &["preseed", "kickstart", "autoinstall", "none"];

/// The values `arch` takes.
pub const ARCHES: &[&str] = &["x86_64", "aarch64"];

/// The keys every profile must set.
const REQUIRED: &[&str] = &["kernel", "initrd"];

/// Static problems of one profile declaration: `unknown-attribute` for a key it does not
/// take (or a `*` splat), `missing-attribute` at the keyword for a missing `kernel`/`initrd`.
pub fn check_decl(def: &ProfileDef) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for item in &def.body {
        match item {
            BodyItem::Attr { name, .. } => {
                if KEYS.contains(&name.name.as_str()) {
                    seen.push(&name.name);
                } else {
                    diags.push(
                        Diagnostic::error(
                            Code::UnknownAttribute,
                            name.span,
                            format!("an install profile has no key `{}`", name.name),
                        )
                        .with_suggestion(&name.name, KEYS.iter().copied()),
                    );
                }
            }
            BodyItem::Splat { star, .. } => diags.push(
                Diagnostic::error(
                    Code::UnknownAttribute,
                    *star,
                    "an install profile takes its keys written out, not as `* = …`",
                )
                .with_note(format!("its keys are {}", KEYS.join(", "))),
            ),
        }
    }
    for key in REQUIRED {
        if !seen.contains(key) {
            diags.push(
                Diagnostic::error(
                    Code::MissingAttribute,
                    def.keyword_span,
                    format!(
                        "install profile `{}` needs `{key}` (a path on the install server or an http(s) URL)",
                        def.name.name
                    ),
                )
                .with_primary(format!("`{key}` is missing")),
            );
        }
    }
    diags
}

/// `duplicate-type` at the second name of a profile declared twice.
pub fn duplicate(def: &ProfileDef, first: &ProfileDef) -> Diagnostic {
    Diagnostic::error(
        Code::DuplicateType,
        def.name.span,
        format!("install profile `{}` is already declared", def.name.name),
    )
    .with_label(first.name.span, "first declared here")
}

/// `unresolved-reference` for every node record whose `profile` names no declared profile
/// (at the name's string, with a did-you-mean).
pub fn unknown_profiles(
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
pub struct Evaluated {
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
pub fn evaluate(
    program: Loaded<'_>,
    index: &Index<'_>,
    def: &ProfileDef,
    node: &str,
    facts: Value,
    bindings: Vec<(String, Value)>,
) -> (Option<Evaluated>, Vec<Diagnostic>) {
    let mut ev = Evaluator::new(program, index, node, facts);
    ev.top_level = false;
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
