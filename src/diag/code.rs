//! The diagnostic codes fleet emits, as one type: each code's stable string (LANGUAGE.md §9,
//! docs/diagnostics.md), its severity, a one-line description, and the per-code flags other
//! modules used to keep in lists of their own. A code is added here, in docs/diagnostics.md
//! (the table the `codes_are_documented` test checks) and with a UI golden in `tests/ui/`
//! (`every_code_has_a_golden`); released codes never change their string, since tools match on
//! it.

use super::Severity;

/// Declares `Code` from one row per code: `/// doc` `Variant = "string", Severity, flags`.
macro_rules! codes {
    ($(
        #[doc = $doc:literal]
        $variant:ident = $text:literal, $severity:ident,
            despite_syntax_errors: $despite:literal,
            in_spec: $in_spec:literal;
    )*) => {
        /// A diagnostic code (LANGUAGE.md §9 and docs/diagnostics.md).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $(#[doc = $doc] $variant,)*
        }

        impl Code {
            /// Every code, in the order of LANGUAGE.md §9 (errors, then lints), then fleet's own.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable kebab-case string shown as `error[CODE]` and in JSON `"code"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }

            /// The severity every diagnostic of this code has.
            pub fn severity(self) -> Severity {
                match self {
                    $(Code::$variant => Severity::$severity,)*
                }
            }

            /// One line saying what the code reports.
            pub fn doc(self) -> &'static str {
                match self {
                    $(Code::$variant => $doc.trim(),)*
                }
            }

            /// Whether `fleet lsp` shows it while the file has syntax errors (the program is then
            /// checked from the statements that did parse). Problems about a missing name are
            /// left out: the statement the parser had to drop may be the one defining it.
            pub fn shown_despite_syntax_errors(self) -> bool {
                match self {
                    $(Code::$variant => $despite,)*
                }
            }

            /// Whether LANGUAGE.md §9 lists it (else fleet added it: docs/diagnostics.md).
            pub fn in_spec(self) -> bool {
                match self {
                    $(Code::$variant => $in_spec,)*
                }
            }
        }
    };
}

codes! {
    /// The text does not parse, or a file is not UTF-8.
    Syntax = "syntax", Error,
        despite_syntax_errors: false, in_spec: true;
    /// A resource is declared with a type that is neither built in nor a `define`.
    UnknownResourceType = "unknown-resource-type", Error,
        despite_syntax_errors: true, in_spec: true;
    /// An attribute or parameter that the type, class, define or `provision` block does not take.
    UnknownAttribute = "unknown-attribute", Error,
        despite_syntax_errors: true, in_spec: true;
    /// A value of the wrong type, or out of range, for the attribute, operator or argument.
    InvalidValue = "invalid-value", Error,
        despite_syntax_errors: true, in_spec: true;
    /// A required attribute or parameter is not given.
    MissingAttribute = "missing-attribute", Error,
        despite_syntax_errors: false, in_spec: true;
    /// An attribute set twice in one body, or a second `* =` splat in it.
    DuplicateAttribute = "duplicate-attribute", Error,
        despite_syntax_errors: true, in_spec: true;
    /// A variable is bound twice in the same scope.
    DuplicateVariable = "duplicate-variable", Error,
        despite_syntax_errors: true, in_spec: true;
    /// The same resource (type and title, or alias) is declared twice in one node.
    DuplicateResource = "duplicate-resource", Error,
        despite_syntax_errors: true, in_spec: true;
    /// A reference `Type["title"]` to a resource the node's catalog does not declare.
    UnresolvedReference = "unresolved-reference", Error,
        despite_syntax_errors: false, in_spec: true;
    /// The ordering edges between resources form a cycle.
    DependencyCycle = "dependency-cycle", Error,
        despite_syntax_errors: false, in_spec: true;
    /// A `$name` that nothing binds at that point.
    UndefinedVariable = "undefined-variable", Error,
        despite_syntax_errors: false, in_spec: true;
    /// A `.key` or `[index]` that the Map or Array does not have.
    UndefinedKey = "undefined-key", Error,
        despite_syntax_errors: false, in_spec: true;
    /// An `include` or `contain` of a class that is not defined.
    UnknownClass = "unknown-class", Error,
        despite_syntax_errors: false, in_spec: true;
    /// A class or define defined twice, or a class given parameters after it was declared.
    DuplicateClass = "duplicate-class", Error,
        despite_syntax_errors: true, in_spec: true;
    /// A call to a function that is not built in.
    UnknownFunction = "unknown-function", Error,
        despite_syntax_errors: true, in_spec: true;
    /// A function called with the wrong number or types of arguments.
    WrongArguments = "wrong-arguments", Error,
        despite_syntax_errors: true, in_spec: true;
    /// An `import` whose module is not found (or cannot be read).
    ImportNotFound = "import-not-found", Error,
        despite_syntax_errors: true, in_spec: true;
    /// Two `node` blocks with the same name.
    DuplicateNode = "duplicate-node", Error,
        despite_syntax_errors: true, in_spec: true;
    /// No node block matches the node to compile, and there is no `node default`.
    NoNode = "no-node", Error,
        despite_syntax_errors: false, in_spec: true;
    /// Two nodes are provisioned with the same `mac` or `ip`.
    DuplicateAddress = "duplicate-address", Error,
        despite_syntax_errors: true, in_spec: true;
    /// A path given to `source`, `template()` or `file()` that is missing or not a regular file.
    SourceNotFound = "source-not-found", Error,
        despite_syntax_errors: true, in_spec: true;
    /// A type expression names a type that is neither built in nor a `type` alias.
    UnknownType = "unknown-type", Error,
        despite_syntax_errors: false, in_spec: true;
    /// A `type` alias bound twice (or named like a built-in type), or a cycle of aliases.
    DuplicateType = "duplicate-type", Error,
        despite_syntax_errors: true, in_spec: true;
    /// A data or facts file that does not parse, or a looked-up value of the wrong type.
    DataError = "data-error", Error,
        despite_syntax_errors: true, in_spec: true;
    /// A `fail(msg)` call was evaluated.
    UserFail = "user-fail", Error,
        despite_syntax_errors: false, in_spec: true;
    /// What a node exports depends on what it collected (LANGUAGE.md §6): its exports differ once `collect` answers.
    UnstableExport = "unstable-export", Error,
        despite_syntax_errors: false, in_spec: true;
    /// A `warning(msg)` call was evaluated.
    UserWarning = "user-warning", Warning,
        despite_syntax_errors: false, in_spec: true;
    /// A variable is bound and never used.
    UnusedVariable = "unused-variable", Warning,
        despite_syntax_errors: false, in_spec: true;
    /// A variable hides one of the same name bound in an outer scope.
    ShadowedVariable = "shadowed-variable", Warning,
        despite_syntax_errors: false, in_spec: true;
    /// An `exec` with none of `creates`, `onlyif`, `unless`, `refreshonly`: it runs every time.
    ExecWithoutGuard = "exec-without-guard", Warning,
        despite_syntax_errors: true, in_spec: true;
    /// A user's password is given as plain text, not as a crypt hash.
    PlaintextPassword = "plaintext-password", Warning,
        despite_syntax_errors: true, in_spec: true;
    /// A file mode with the o+w bit set.
    WorldWritable = "world-writable", Warning,
        despite_syntax_errors: true, in_spec: true;
    /// A class is defined and never declared anywhere.
    UnusedClass = "unused-class", Warning,
        despite_syntax_errors: false, in_spec: true;
    /// An implicit dependency is dropped because it would close a dependency cycle.
    ImplicitEdgeDropped = "implicit-edge-dropped", Warning,
        despite_syntax_errors: false, in_spec: true;
    /// A bound on hostile input was passed (docs/limits.md).
    ResourceLimit = "resource-limit", Error,
        despite_syntax_errors: false, in_spec: false;
    /// A user joins a group that is not managed, not in the node's facts, not a known system group.
    UnknownGroup = "unknown-group", Warning,
        despite_syntax_errors: false, in_spec: false;
    /// A package `ensure` that is no keyword and has no digit: no archive has that version.
    VersionWithoutDigit = "version-without-digit", Warning,
        despite_syntax_errors: true, in_spec: false;
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for &code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                !s.is_empty()
                    && !s.starts_with('-')
                    && !s.ends_with('-')
                    && !s.contains("--")
                    && s.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{s} is not kebab-case"
            );
            assert!(!code.doc().is_empty() && !code.doc().contains('\n'));
        }
    }
}

/// Checks that every code is shown and documented: a rendered golden in `tests/ui/`, LANGUAGE.md
/// §9 for the language's codes, and the table in docs/diagnostics.md (generated from `Code`:
/// `FLEET_BLESS=1` rewrites it).
#[cfg(test)]
mod documented {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    const TABLE_START: &str = "<!-- codes: generated from src/diag/code.rs; \
                               FLEET_BLESS=1 cargo test --lib diag::code rewrites it -->\n";
    const TABLE_END: &str = "<!-- end of codes -->\n";

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// `tests/ui/**/*.stderr` that have their `.fleet` case.
    fn goldens(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                goldens(&path, out);
            } else if path.extension().is_some_and(|x| x == "stderr")
                && path.with_extension("fleet").is_file()
            {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_code_has_a_golden() {
        // code -> (severity word, first golden that shows it)
        let mut shown: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
        let mut files = Vec::new();
        goldens(&root().join("tests/ui"), &mut files);
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            for line in text.lines() {
                let Some((severity, rest)) = line.split_once('[') else {
                    continue;
                };
                let Some((code, _)) = rest.split_once("]: ") else {
                    continue;
                };
                if severity == "error" || severity == "warning" {
                    shown
                        .entry(code.to_string())
                        .or_insert_with(|| (severity.to_string(), path.clone()));
                }
            }
        }
        let missing: Vec<&str> = Code::ALL
            .iter()
            .map(|c| c.as_str())
            .filter(|c| !shown.contains_key(*c))
            .collect();
        assert!(
            missing.is_empty(),
            "no rendered golden in tests/ui/ shows {missing:?}: add a case that reports each"
        );
        for &code in Code::ALL {
            let (severity, path) = &shown[code.as_str()];
            assert_eq!(
                severity,
                code.severity().as_str(),
                "{} shows {code} as {severity}",
                path.display()
            );
        }
        let unknown: Vec<&String> = shown
            .keys()
            .filter(|s| !Code::ALL.iter().any(|c| c.as_str() == s.as_str()))
            .collect();
        assert!(
            unknown.is_empty(),
            "goldens show codes Code lacks: {unknown:?}"
        );
    }

    #[test]
    fn language_codes_are_in_language_md() {
        let path = root().join("../shared/spec/LANGUAGE.md");
        let spec = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (shared/ lives beside the checkout)",
                path.display()
            )
        });
        let start = spec
            .find("\n## 9. Diagnostics")
            .expect("LANGUAGE.md has §9");
        let section = &spec[start..];
        let section = &section[..section[1..].find("\n## ").map_or(section.len(), |e| e + 1)];
        for &code in Code::ALL {
            let listed = section.contains(&format!("`{code}`"));
            assert_eq!(
                listed,
                code.in_spec(),
                "{code}: listed in LANGUAGE.md §9 is {listed}, but Code::in_spec() says {}",
                code.in_spec()
            );
        }
    }

    /// The table of docs/diagnostics.md, from `Code`.
    fn table() -> String {
        let mut out = String::from(
            "| code | severity | listed in | `fleet lsp` shows it despite syntax errors | what |\n\
             |---|---|---|---|---|\n",
        );
        for &code in Code::ALL {
            out.push_str(&format!(
                "| `{code}` | {} | {} | {} | {} |\n",
                code.severity().as_str(),
                if code.in_spec() {
                    "LANGUAGE.md §9"
                } else {
                    "[below](#beyond-languagemd-9)"
                },
                if code.shown_despite_syntax_errors() {
                    "yes"
                } else {
                    "no"
                },
                code.doc()
            ));
        }
        out
    }

    #[test]
    fn codes_are_documented() {
        let path = root().join("docs/diagnostics.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let want = table();
        let (before, after) = match (doc.find(TABLE_START), doc.find(TABLE_END)) {
            (Some(s), Some(e)) if s < e => (&doc[..s + TABLE_START.len()], &doc[e..]),
            _ => panic!(
                "{} has no generated table: put these lines where it goes, \
                 then run with FLEET_BLESS=1\n{TABLE_START}{TABLE_END}",
                path.display()
            ),
        };
        // Fleet's own codes also have a row, with their primary span, in the hand-written table
        // after the generated one.
        for &code in Code::ALL.iter().filter(|c| !c.in_spec()) {
            assert!(
                after.contains(&format!("\n| `{code}` |")),
                "{code} has no row in {}'s table of fleet's own codes",
                path.display()
            );
        }
        let fresh = format!("{before}{want}{after}");
        if fresh == doc {
            return;
        }
        if std::env::var_os("FLEET_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&path, fresh).unwrap();
            eprintln!("blessed {}", path.display());
        } else {
            panic!(
                "{}'s table of codes is out of date (FLEET_BLESS=1 rewrites it); \
                 it should be:\n{want}",
                path.display()
            );
        }
    }
}
