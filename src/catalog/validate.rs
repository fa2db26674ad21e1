//! Checks one declared resource against its type's schema: attributes, values, required and
//! exclusive attributes, and the lints `world-writable`, `plaintext-password`,
//! `exec-without-guard`; and a catalog document read from outside ([`check_doc`]).

use crate::model::attrs::AttrMap;

use super::identity::identity_of;
use super::json::CatalogDoc;
use crate::diag::suggest;
use crate::diag::{Code, Diagnostic};
use crate::model::attrs::Attr;
use crate::model::declared::Declared;
use crate::model::fxhash::FxHashMap;
use crate::model::schema::{self, AttrKind, AttrSchema, TypeSchema, RELATION_METAPARAMS};
use crate::model::value::Value;
use crate::source::SourceMap;

/// The attribute or metaparameter `name` of type `ty`.
fn attribute(ty: &TypeSchema, name: &str) -> Option<&'static AttrSchema> {
    ty.attr(name).or_else(|| schema::metaparam(name))
}

/// Whether `name` may be in a catalog document's `params` for type `ty`: what
/// [`check`] keeps (an attribute or a metaparameter, but no relationship and no `tag`, which
/// become edges and tags), and what the build adds ([`schema::COMPILED_PARAMS`]).
fn wire_param(ty: &TypeSchema, name: &str) -> bool {
    schema::COMPILED_PARAMS.contains(&(ty.name, name))
        || (attribute(ty, name).is_some() && !RELATION_METAPARAMS.contains(&name) && name != "tag")
}

/// The problems of a catalog document read from outside (`apply --catalog`), with the rules
/// the build applies to a manifest: the params of each resource of a known type must be
/// attributes of it, and no two resources may have one identity ([`identity_of`]: by
/// namevar, so two titles managing one path are refused). Each message names the
/// resources and the param.
pub(crate) fn check_doc(doc: &CatalogDoc) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: FxHashMap<(&str, &str), usize> = FxHashMap::default();
    seen.reserve(doc.resources.len());
    for (i, r) in doc.resources.iter().enumerate() {
        // An unknown type fails at apply, that resource alone (its dependents skipped).
        let Some(ty) = schema::get(&r.kind) else {
            continue;
        };
        for name in r.params.keys() {
            if !wire_param(ty, name) {
                let candidates = ty.attrs.iter().map(|a| a.name).chain(
                    schema::COMPILED_PARAMS
                        .iter()
                        .filter(|c| c.0 == ty.name)
                        .map(|c| c.1),
                );
                let hint = suggest::closest(name, candidates)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                problems.push(format!(
                    "{}: `{}` has no attribute `{name}`{hint}",
                    r.reference(),
                    ty.name
                ));
            }
        }
        let namevar = r.params.get(ty.namevar).and_then(|v| v.as_str());
        let id = identity_of(ty, namevar, &r.title);
        if let Some(&first) = seen.get(&(ty.name, id)) {
            let other = &doc.resources[first];
            problems.push(format!(
                "{} and {} are one resource: both manage {} `{id}`",
                other.reference(),
                r.reference(),
                ty.name
            ));
        } else {
            seen.insert((ty.name, id), i);
        }
    }
    problems
}

/// The attributes of `decl` that pass the schema, `none` values and relationship
/// metaparameters left out, Int modes rendered as `"0644"`. Every problem goes to `diags`.
pub(crate) fn check(
    decl: &Declared,
    ty: &TypeSchema,
    sources: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> AttrMap {
    let mut params = AttrMap::with_capacity(decl.params.len());
    for (name, attr) in &decl.params {
        if attr.value.is_none() || RELATION_METAPARAMS.contains(&name.as_str()) || name == "tag" {
            continue;
        }
        let Some(spec) = attribute(ty, name) else {
            let candidates = ty.attrs.iter().chain(schema::METAPARAMS).map(|a| a.name);
            diags.push(
                Diagnostic::error(
                    Code::UnknownAttribute,
                    attr.name_span(),
                    format!("`{}` has no attribute `{name}`", ty.name),
                )
                .with_primary("unknown attribute")
                .with_suggestion(name, candidates),
            );
            continue;
        };
        // A Sensitive value is checked as what it wraps, and stays wrapped; only the data
        // attributes that plans, reports and messages never show may hold one (names, paths,
        // modes, commands and relationships are shown).
        let secret = attr.value.holds_sensitive();
        if secret && !may_be_sensitive(ty.name, name) {
            diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    attr.value_span(),
                    format!("`{name}` of `{}` cannot be Sensitive", ty.name),
                )
                .with_primary("a Sensitive value")
                .with_help("only a file's `content`, a user's `password` and an exec's `environment` may be Sensitive; `unwrap()` it"),
            );
            continue;
        }
        // A Map or Array holding one (`environment = { TOKEN: $pw }`) is Sensitive as a whole.
        let plain;
        let checked = if secret {
            plain = Attr::new(attr.value.plain(), attr.name_span(), attr.value_span());
            &plain
        } else {
            attr
        };
        if let Err(d) = check_value(ty.name, name, spec.kind, checked, sources) {
            diags.push(*d);
            continue;
        }
        let mut attr = attr.clone();
        if secret {
            attr.value = Value::sensitive(checked.value.clone());
        }
        if spec.kind == AttrKind::Mode {
            let mode = mode_bits(&attr.value).expect("checked mode");
            if mode & 0o002 != 0 {
                diags.push(
                    Diagnostic::warning(
                        Code::WorldWritable,
                        attr.value_span(),
                        format!("mode {mode:04o} lets every user write this file"),
                    )
                    .with_primary("world-writable")
                    .with_help("drop the o+w bit, e.g. \"0644\" or \"0664\""),
                );
            }
            // Written as four octal digits already (the usual case), the value is kept.
            let canonical = attr
                .value
                .as_str()
                .is_some_and(|s| s.len() == 4 && s.bytes().all(|b| (b'0'..=b'7').contains(&b)));
            if !canonical {
                attr.value = Value::str(format!("{mode:04o}"));
            }
        }
        if ty.name == "user" && name == "password" {
            let pw = checked.value.as_str().unwrap_or_default();
            if !pw.starts_with(['$', '!', '*']) {
                diags.push(
                    Diagnostic::warning(
                        Code::PlaintextPassword,
                        attr.value_span(),
                        "this password looks like plain text, not a crypt hash",
                    )
                    .with_primary("plain text")
                    .with_help(
                        "give a crypt hash (`mkpasswd -m sha-512`), or `!` to lock the account",
                    ),
                );
            }
        }
        // A user's password is always sensitive (LANGUAGE.md §6).
        if ty.name == "user" && name == "password" {
            attr.value = Value::sensitive(attr.value);
        }
        if let Err(d) = check_release(ty.name, name, &attr) {
            diags.push(*d);
            continue;
        }
        if let Err(d) = check_bounds(ty.name, name, &attr) {
            diags.push(*d);
            continue;
        }
        if let (AttrKind::EnumOrVersion(keywords), Some(s)) = (spec.kind, attr.value.as_str()) {
            if !keywords.contains(&s) && !s.bytes().any(|b| b.is_ascii_digit()) {
                diags.push(version_without_digit(name, s, keywords, &attr));
            }
        }
        // Metaparameters (`noop`, `alias`) are checked but, as CLI.md says, not params.
        if !schema::is_metaparam(name) {
            params.insert(*name, attr);
        }
    }

    if ty.name == "file"
        && decl.params.get("path").is_none_or(|a| a.value.is_none())
        && !decl.title.starts_with('/')
    {
        diags.push(
            Diagnostic::error(
                Code::InvalidValue,
                decl.title_span,
                format!("file path `{}` is not absolute", decl.title),
            )
            .with_primary("a relative path")
            .with_help(format!("write it from the root: \"/{}\"", decl.title)),
        );
    }

    match ty.name {
        "file" => {
            exclusive(decl, &mut params, "content", "source", diags);
            root_file(decl, diags);
            let ensure = decl.params.get("ensure").and_then(|a| a.value.as_str());
            if let (Some("directory"), Some(c)) = (ensure, decl.params.get("content")) {
                if !c.value.is_none() {
                    diags.push(
                        Diagnostic::error(
                            Code::InvalidValue,
                            c.value_span(),
                            format!("directory `{}` cannot have a `content`", decl.title),
                        )
                        .with_primary("a directory has no content")
                        .with_help(
                            "use `source` with `recurse = true` to fill it, or `ensure = file`",
                        ),
                    );
                }
            }
            let link = ensure == Some("link");
            if link && !is_set(decl, "target") {
                diags.push(
                    Diagnostic::error(
                        Code::MissingAttribute,
                        decl.kind_span,
                        format!("file `{}` is a link without a `target`", decl.title),
                    )
                    .with_primary("missing `target`")
                    .with_help("add `target = \"/path/it/points/to\"`"),
                );
            }
        }
        "file_line" => {
            let missing: Vec<&str> = ["`path`", "`line`"]
                .into_iter()
                .filter(|a| !is_set(decl, a.trim_matches('`')))
                .collect();
            if !missing.is_empty() {
                diags.push(
                    Diagnostic::error(
                        Code::MissingAttribute,
                        decl.kind_span,
                        format!("file_line `{}` needs {}", decl.title, missing.join(" and ")),
                    )
                    .with_primary(format!("missing {}", missing.join(" and "))),
                );
            }
            for attr in ["match", "after"] {
                if let Some(a) = decl.params.get(attr) {
                    if let Some(Err(e)) = a.value.as_str().map(regex::Regex::new) {
                        diags.push(
                            Diagnostic::error(
                                Code::InvalidValue,
                                a.value_span(),
                                format!("`{attr}` is not a valid regex: {e}"),
                            )
                            .with_primary("not a regex"),
                        );
                    }
                }
            }
        }
        "release" => {
            exclusive(decl, &mut params, "source", "repo", diags);
            let mut missing = Vec::new();
            if !is_set(decl, "path") {
                missing.push("`path`");
            }
            if !is_set(decl, "source") && !is_set(decl, "repo") {
                missing.push("one of `source` and `repo`");
            }
            if !missing.is_empty() {
                diags.push(
                    Diagnostic::error(
                        Code::MissingAttribute,
                        decl.kind_span,
                        format!("release `{}` needs {}", decl.title, missing.join(" and ")),
                    )
                    .with_primary(format!("missing {}", missing.join(" and "))),
                );
            }
        }
        "package" => {
            let dpkg = decl
                .params
                .get("provider")
                .filter(|a| a.value.as_str() == Some("dpkg"));
            let ensure = decl.params.get("ensure").and_then(|a| a.value.as_str());
            let removes = matches!(ensure, Some("absent" | "purged"));
            if let (Some(provider), false, false) = (dpkg, removes, is_set(decl, "source")) {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        provider.value_span(),
                        format!(
                            "package `{}` uses `provider = dpkg` without a `source`",
                            decl.title
                        ),
                    )
                    .with_primary("dpkg installs from a .deb file")
                    .with_help("add `source = \"/path/to/package.deb\"`, or use `provider = apt`"),
                );
            }
        }
        "exec" => {
            if let Some(c) = decl.params.get("creates") {
                if let Some(path) = c.value.as_str().filter(|p| !p.starts_with('/')) {
                    diags.push(
                        Diagnostic::error(
                            Code::InvalidValue,
                            c.value_span(),
                            format!("`creates` must be an absolute path, not `{path}`"),
                        )
                        .with_primary("a relative path")
                        .with_help(format!(
                            "write it from the root: \"/{}\" (the command's `cwd` does not apply to `creates`)",
                            path.trim_start_matches("./")
                        )),
                    );
                }
            }
            let guarded = ["creates", "onlyif", "unless"]
                .iter()
                .any(|g| is_set(decl, g))
                || decl
                    .params
                    .get("refreshonly")
                    .is_some_and(|a| a.value.as_bool() == Some(true));
            if !guarded {
                diags.push(
                    Diagnostic::warning(
                        Code::ExecWithoutGuard,
                        decl.kind_span,
                        format!("exec `{}` runs on every apply", decl.title),
                    )
                    .with_primary("no guard")
                    .with_help(
                        "add `creates`, `onlyif`, `unless` or `refreshonly = true` so it runs only when needed",
                    ),
                );
            }
        }
        _ => {}
    }
    params
}

/// A `file` whose path is the root directory itself (`/`, `/..`, `//.`) may only be a
/// directory: removing or replacing it would remove everything under the root (on a
/// machine, `rm -rf /`). The provider refuses it as well.
fn root_file(decl: &Declared, diags: &mut Vec<Diagnostic>) {
    let (path, span) = match decl
        .params
        .get("path")
        .filter(|a| a.value.as_str().is_some())
    {
        Some(a) => (a.value.as_str().unwrap_or_default(), a.value_span()),
        None => (decl.title.as_str(), decl.title_span),
    };
    // Normalised as the provider does (`..` stops at the root): nothing left is `/`.
    let depth = path.split('/').fold(0usize, |depth, c| match c {
        "" | "." => depth,
        ".." => depth.saturating_sub(1),
        _ => depth + 1,
    });
    let is_root = path.starts_with('/') && depth == 0;
    if !is_root {
        return;
    }
    let ensure = decl.params.get("ensure").and_then(|a| a.value.as_str());
    let replaces = match ensure {
        Some(e) => matches!(e, "absent" | "file" | "link"),
        None => is_set(decl, "content") || is_set(decl, "source") || is_set(decl, "target"),
    };
    if replaces {
        diags.push(
            Diagnostic::error(
                Code::InvalidValue,
                span,
                format!("file `{path}` is the root directory: it cannot be removed or replaced"),
            )
            .with_primary("the root directory")
            .with_help("manage the files and directories under it instead"),
        );
    }
}

/// Whether the declaration sets `name` to something other than `none`.
fn is_set(decl: &Declared, name: &str) -> bool {
    decl.params.get(name).is_some_and(|a| !a.value.is_none())
}

/// Reports `a` and `b` set together at the second one's value, and drops the second.
fn exclusive(decl: &Declared, params: &mut AttrMap, a: &str, b: &str, diags: &mut Vec<Diagnostic>) {
    let (Some(ia), Some(ib)) = (decl.params.get_index_of(a), decl.params.get_index_of(b)) else {
        return;
    };
    if !is_set(decl, a) || !is_set(decl, b) {
        return;
    }
    let (first, second) = if ia < ib { (a, b) } else { (b, a) };
    let first_attr = decl.params.get(first).expect("indexed above");
    let second_attr = decl.params.get(second).expect("indexed above");
    diags.push(
        Diagnostic::error(
            Code::InvalidValue,
            second_attr.value_span(),
            format!("`{second}` cannot be set together with `{first}`"),
        )
        .with_primary(format!("`{first}` is already set"))
        .with_label(first_attr.name_span(), format!("`{first}` set here"))
        .with_help(format!("keep either `{a}` or `{b}`")),
    );
    params.shift_remove(second);
}

/// What a release deploy needs beyond the value's kind: `keep` at least 1, `shared` paths
/// relative and plain (no `.` or `..`).
fn check_release(ty: &str, name: &str, attr: &Attr) -> Result<(), Box<Diagnostic>> {
    let bad = |message: String, label: &str| {
        Err(Box::new(
            Diagnostic::error(Code::InvalidValue, attr.value_span(), message).with_primary(label),
        ))
    };
    match (ty, name, &attr.value) {
        ("release", "keep", Value::Int(k)) if *k < 1 => bad(
            format!("`keep` must be at least 1, not {k}"),
            "keeps no release",
        ),
        ("release", "shared", Value::Array(items)) => {
            for s in items.iter().filter_map(Value::as_str) {
                let p = std::path::Path::new(s);
                let plain = !s.is_empty()
                    && p.components()
                        .all(|c| matches!(c, std::path::Component::Normal(_)));
                if !plain {
                    return bad(
                        format!("shared path {s:?} must be relative to the release, without `.` or `..`"),
                        "not a plain relative path",
                    );
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Ints that cannot be negative: a `uid` or `gid` (`useradd` refuses them) and an exec's
/// `timeout` (seconds; 0 means no limit).
fn check_bounds(ty: &str, name: &str, attr: &Attr) -> Result<(), Box<Diagnostic>> {
    let Value::Int(n) = attr.value else {
        return Ok(());
    };
    let (what, help) = match (ty, name) {
        ("user" | "group", "uid" | "gid") => (
            format!("`{name}` must not be negative, not {n}"),
            "ids are 0 or more; leave it out to let the system pick one",
        ),
        ("exec", "timeout") => (
            format!("`timeout` must not be negative, not {n}"),
            "give seconds (300 by default), or 0 for no limit",
        ),
        _ => return Ok(()),
    };
    if n >= 0 {
        return Ok(());
    }
    Err(Box::new(
        Diagnostic::error(Code::InvalidValue, attr.value_span(), what)
            .with_primary("a negative number")
            .with_help(help),
    ))
}

/// The lint for an `ensure` that is neither a keyword nor a version: a version has a digit,
/// so `ensure = lastest` is a typo for a keyword rather than the version "lastest".
fn version_without_digit(name: &str, s: &str, keywords: &[&str], attr: &Attr) -> Diagnostic {
    let d = Diagnostic::warning(
        Code::VersionWithoutDigit,
        attr.value_span(),
        format!("`{name} = {s}` is taken as a version, but a version has a digit"),
    )
    .with_primary("not a keyword, and no digit");
    match suggest::closest(s, keywords.iter().copied()) {
        Some(k) => d.with_help(format!("did you mean `{k}`?")),
        None => d.with_help(format!(
            "use one of {}, or a version such as \"1.2.3-1\"",
            keywords.join(", ")
        )),
    }
}

/// Whether an attribute may hold a Sensitive value.
fn may_be_sensitive(ty: &str, name: &str) -> bool {
    matches!(
        (ty, name),
        ("file", "content") | ("user", "password") | ("exec", "environment")
    )
}

/// Mode bits of a checked mode value.
fn mode_bits(v: &Value) -> Option<u32> {
    match v {
        Value::Int(i) if (0..=0o7777).contains(i) => Some(*i as u32),
        Value::Str(s)
            if (3..=4).contains(&s.len()) && s.bytes().all(|b| (b'0'..=b'7').contains(&b)) =>
        {
            u32::from_str_radix(s, 8).ok()
        }
        _ => None,
    }
}

fn is_strings(v: &Value) -> bool {
    matches!(v, Value::Array(a) if a.iter().all(|x| matches!(x, Value::Str(_))))
}

/// Checks a value against its attribute's kind; the error is an `invalid-value` at the value.
fn check_value(
    ty: &str,
    name: &str,
    kind: AttrKind,
    attr: &Attr,
    sources: &SourceMap,
) -> Result<(), Box<Diagnostic>> {
    let v = &attr.value;
    let ok = match kind {
        AttrKind::String | AttrKind::Command => matches!(v, Value::Str(_)),
        AttrKind::Int => matches!(v, Value::Int(_)),
        AttrKind::Bool => matches!(v, Value::Bool(_)),
        AttrKind::Enum(values) => match v {
            Value::Str(s) if values.contains(&&**s) => true,
            Value::Str(s) => {
                return Err(Box::new(
                    Diagnostic::error(
                        Code::InvalidValue,
                        attr.value_span(),
                        format!("`{s}` is not a valid `{name}` for `{ty}`"),
                    )
                    .with_primary(format!("expected {}", kind.describe()))
                    .with_suggestion(s, values.iter().copied()),
                ));
            }
            _ => false,
        },
        AttrKind::EnumOrVersion(_) => matches!(v, Value::Str(s) if !s.is_empty()),
        AttrKind::Path => match v {
            Value::Str(s) if s.starts_with('/') && !s.split('/').any(|c| c == "..") => true,
            Value::Str(s) if s.starts_with('/') => {
                return Err(Box::new(
                    Diagnostic::error(
                        Code::InvalidValue,
                        attr.value_span(),
                        format!("`{name}` must not contain `..`: `{s}`"),
                    )
                    .with_primary("`..` in a path"),
                ));
            }
            Value::Str(s) => {
                return Err(Box::new(
                    Diagnostic::error(
                        Code::InvalidValue,
                        attr.value_span(),
                        format!("`{name}` must be an absolute path, not `{s}`"),
                    )
                    .with_primary("a relative path")
                    .with_help(format!("write it from the root: \"/{s}\"")),
                ));
            }
            _ => false,
        },
        AttrKind::Mode => {
            // `mode = 644` is the decimal Int 644 (0o1204, `--w----r-T`): an Int mode is
            // written in octal (Puppet refuses numeric modes outright).
            let literal = sources.slice(attr.value_span());
            let decimal = literal.len() > 1 && literal.bytes().all(|b| b.is_ascii_digit());
            if let (Value::Int(i), true) = (v, decimal) {
                let digits = literal.trim_start_matches('0');
                let octal = digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) && digits.len() <= 4;
                let mut d = Diagnostic::error(
                    Code::InvalidValue,
                    attr.value_span(),
                    format!("an Int mode must be written in octal: `{literal}` is decimal (mode 0o{i:o})"),
                )
                .with_primary("a decimal Int");
                d = if octal {
                    d.with_help(format!("did you mean `0o{digits}` or \"{digits:0>4}\"?"))
                } else {
                    d.with_help("write the mode in octal (`0o644`) or as a String (\"0644\")")
                };
                return Err(Box::new(d));
            }
            if mode_bits(v).is_some() {
                true
            } else if matches!(v, Value::Str(_) | Value::Int(_)) {
                return Err(Box::new(Diagnostic::error(
                    Code::InvalidValue,
                    attr.value_span(),
                    format!("{v} is not a file mode"),
                )
                .with_primary("not a mode")
                .with_help("a mode is 3 or 4 octal digits in a String (\"0644\") or an Int up to 0o7777 (0o644)")));
            } else {
                false
            }
        }
        AttrKind::NameOrId => match v {
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) => *i >= 0,
            _ => false,
        },
        AttrKind::Strings => is_strings(v),
        AttrKind::StringOrStrings => matches!(v, Value::Str(_)) || is_strings(v),
        AttrKind::Map => matches!(v, Value::Map(_)),
        AttrKind::IntOrInts => {
            matches!(v, Value::Int(_))
                || matches!(v, Value::Array(a) if a.iter().all(|x| matches!(x, Value::Int(_))))
        }
        AttrKind::Refs => {
            matches!(v, Value::Ref(_))
                || matches!(v, Value::Array(a) if a.iter().all(|x| matches!(x, Value::Ref(_))))
        }
    };
    if ok {
        return Ok(());
    }
    Err(Box::new(
        Diagnostic::error(
            Code::InvalidValue,
            attr.value_span(),
            format!(
                "`{name}` of `{ty}` expects {}, found {} {v}",
                kind.describe(),
                v.type_name()
            ),
        )
        .with_primary(format!("expected {}", kind.describe())),
    ))
}
