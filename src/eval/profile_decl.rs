//! The static checks of an install profile's declaration (PROVISION.md): which keys it
//! takes and must have, and a second declaration of one name. The index runs them once.

use crate::diag::{Code, Diagnostic};
use crate::syntax::ast::{BodyItem, ProfileDef};

/// The keys a profile takes.
pub(crate) const KEYS: &[&str] = &["kernel", "initrd", "kind", "answer", "kernel_args", "arch"];

/// The values `kind` takes (bare words): the answer file's format.
pub(crate) const KINDS: &[&str] = &["preseed", "kickstart", "autoinstall", "none"];

/// The values `arch` takes.
pub(crate) const ARCHES: &[&str] = &["x86_64", "aarch64"];

/// The keys every profile must set.
const REQUIRED: &[&str] = &["kernel", "initrd"];

/// Static problems of one profile declaration: `unknown-attribute` for a key it does not
/// take (or a `*` splat), `missing-attribute` at the keyword for a missing `kernel`/`initrd`.
pub(crate) fn check_decl(def: &ProfileDef) -> Vec<Diagnostic> {
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
pub(crate) fn duplicate(def: &ProfileDef, first: &ProfileDef) -> Diagnostic {
    Diagnostic::error(
        Code::DuplicateType,
        def.name.span,
        format!("install profile `{}` is already declared", def.name.name),
    )
    .with_label(first.name.span, "first declared here")
}
