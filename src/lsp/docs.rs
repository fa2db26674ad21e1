//! What the language server knows about resource types, attributes and built-ins, read
//! through a few accessors from `catalog::schema` and `eval::builtins::FUNCTIONS`.

use crate::catalog::schema;
use crate::eval::builtins::FUNCTIONS;

/// The native resource types.
pub fn type_names() -> Vec<&'static str> {
    [
        "file", "package", "user", "group", "service", "exec", "release",
    ]
    .into_iter()
    .filter(|t| schema::namevar(t).is_some())
    .collect()
}

/// Markdown for a native type: its doc, namevar and attributes.
pub fn type_hover(kind: &str) -> Option<String> {
    let namevar = schema::namevar(kind)?;
    Some(format!(
        "**{kind}** (resource type)\n\nnamevar: `{namevar}`"
    ))
}

/// Attribute names of a native type, metaparameters last.
pub fn attr_names(kind: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    if let Some(n) = schema::namevar(kind) {
        out.push(n);
    }
    out.extend(METAPARAMS);
    out
}

const METAPARAMS: [&str; 7] = [
    "require",
    "before",
    "notify",
    "subscribe",
    "tag",
    "noop",
    "alias",
];

/// Markdown for one attribute of a native type (metaparameters included).
pub fn attr_hover(kind: &str, attr: &str) -> Option<String> {
    if METAPARAMS.contains(&attr) {
        return Some(format!("**{attr}** (metaparameter)"));
    }
    (schema::namevar(kind)? == attr).then(|| format!("**{kind}.{attr}** (namevar)"))
}

/// A one-line description of what an attribute accepts, for completion items.
pub fn attr_detail(kind: &str, attr: &str) -> Option<String> {
    let _ = (kind, attr);
    None
}

/// The keywords an enum attribute accepts (empty for other attributes).
pub fn enum_values(kind: &str, attr: &str) -> Vec<&'static str> {
    let _ = (kind, attr);
    Vec::new()
}

/// Markdown for a built-in function.
pub fn function_hover(name: &str) -> Option<String> {
    let (_, sig, doc) = FUNCTIONS.iter().find(|f| f.0 == name)?;
    Some(format!("```fleet\n{sig}\n```\n{doc}"))
}

/// Markdown for the built-in variables.
pub fn builtin_var_hover(name: &str) -> Option<String> {
    let doc = match name {
        "facts" => "The facts of the node being compiled (a Map): `hostname`, `fqdn`, `os`, `virtual`, `kernel`, `arch`, `processors`, `memory_mb`, `ip`, `interfaces`.",
        "node" => "The name of the node being compiled (a String).",
        "title" => "Inside a define: the title of the instance (a String).",
        _ => return None,
    };
    Some(format!("**${name}** (built-in)\n\n{doc}"))
}
