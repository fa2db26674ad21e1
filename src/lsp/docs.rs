//! What the language server knows about resource types, attributes and built-ins, read
//! through a few accessors from `model::schema` and `eval::builtins::BUILTINS`.

use crate::eval::builtins;
use crate::model::schema;

/// The native resource types, in LANGUAGE.md §5 order.
pub(crate) fn type_names() -> Vec<&'static str> {
    schema::type_names().collect()
}

/// Markdown for a native type: its doc, namevar and attributes.
pub(crate) fn type_hover(kind: &str) -> Option<String> {
    schema::get(kind).map(|t| t.hover())
}

/// Attribute names of a native type, metaparameters last (only the metaparameters for a
/// type that is not native).
pub(crate) fn attr_names(kind: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = schema::attribute_names(kind)
        .map(|i| i.collect())
        .unwrap_or_default();
    out.extend(schema::METAPARAMS.iter().map(|m| m.name));
    out
}

/// Markdown for one attribute of a native type (metaparameters included).
pub(crate) fn attr_hover(kind: &str, attr: &str) -> Option<String> {
    if let Some(a) = schema::get(kind).and_then(|t| t.attr(attr)) {
        return Some(a.hover(kind));
    }
    schema::metaparam(attr).map(|a| a.hover("metaparameter"))
}

/// A one-line description of what an attribute accepts, for completion items.
pub(crate) fn attr_detail(kind: &str, attr: &str) -> Option<String> {
    let a = schema::attribute(kind, attr)?;
    Some(match a.default {
        Some(d) => format!("{} (default {d})", a.kind.describe()),
        None => a.kind.describe(),
    })
}

/// The keywords an enum attribute accepts (empty for other attributes).
pub(crate) fn enum_values(kind: &str, attr: &str) -> Vec<&'static str> {
    schema::attribute(kind, attr)
        .map(|a| a.kind.values().to_vec())
        .unwrap_or_default()
}
/// Markdown for a built-in function.
pub(crate) fn function_hover(name: &str) -> Option<String> {
    builtins::get(name).map(builtins::Builtin::hover)
}

/// Markdown for the built-in variables.
pub(crate) fn builtin_var_hover(name: &str) -> Option<String> {
    let doc = match name {
        "facts" => "The facts of the node being compiled (a Map): `hostname`, `fqdn`, `os`, `virtual`, `kernel`, `arch`, `processors`, `memory_mb`, `ip`, `interfaces`; and at Facter's paths, for modules ported from Puppet, `networking` (`hostname`, `domain`, `fqdn`, `ip`, `mac`, `interfaces`), `os.architecture`, `os.distro.codename`.",
        "node" => "The name of the node being compiled (a String).",
        "title" => "Inside a define: the title of the instance (a String).",
        _ => return None,
    };
    Some(format!("**${name}** (built-in)\n\n{doc}"))
}
