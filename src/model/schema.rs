//! The native resource types of LANGUAGE.md §5 as static data: namevars, attributes, kinds, docs.
//!
//! The evaluator asks it which types are native and what their namevars are; the catalog
//! validates against it; the LSP shows its doc strings on hover.

/// What values an attribute accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AttrKind {
    /// Any String.
    String,
    /// An Int.
    Int,
    /// A Bool.
    Bool,
    /// One of these Strings.
    Enum(&'static [&'static str]),
    /// One of these Strings, or any other String, which is a version (`package` `ensure`).
    EnumOrVersion(&'static [&'static str]),
    /// An absolute path (a String starting with `/`).
    Path,
    /// A file mode: 3 or 4 octal digits in a String, or an Int up to `0o7777`.
    Mode,
    /// A user or group: a name (String) or a numeric id (Int).
    NameOrId,
    /// An Array of Strings.
    Strings,
    /// A String or an Array of Strings.
    StringOrStrings,
    /// A Map.
    Map,
    /// An Int or an Array of Ints.
    IntOrInts,
    /// A reference or an Array of references (relationship metaparameters).
    Refs,
    /// A command line, run by `/bin/sh -c`.
    Command,
}

impl AttrKind {
    /// How the kind is spelled in messages and hovers.
    pub(crate) fn describe(self) -> String {
        match self {
            AttrKind::String => "String".into(),
            AttrKind::Int => "Int".into(),
            AttrKind::Bool => "Bool".into(),
            AttrKind::Enum(vs) => vs.join(" | "),
            AttrKind::EnumOrVersion(vs) => format!("{} | a version String", vs.join(" | ")),
            AttrKind::Path => "an absolute path".into(),
            AttrKind::Mode => "a mode (\"0644\" or 0o644)".into(),
            AttrKind::NameOrId => "a name (String) or an id (Int)".into(),
            AttrKind::Strings => "Array[String]".into(),
            AttrKind::StringOrStrings => "String or Array[String]".into(),
            AttrKind::Map => "Map".into(),
            AttrKind::IntOrInts => "Int or Array[Int]".into(),
            AttrKind::Refs => "Ref or Array[Ref]".into(),
            AttrKind::Command => "a command (String)".into(),
        }
    }

    /// The allowed keywords of an enum kind (empty for other kinds).
    pub(crate) fn values(self) -> &'static [&'static str] {
        match self {
            AttrKind::Enum(vs) | AttrKind::EnumOrVersion(vs) => vs,
            _ => &[],
        }
    }
}

/// One attribute of a type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttrSchema {
    pub name: &'static str,
    pub kind: AttrKind,
    /// The default as the language would write it, for docs (`None`: no default). LANGUAGE.md
    /// §5 lists an enum's default first. Never filled into `params`.
    pub default: Option<&'static str>,
    /// One line for hovers.
    pub doc: &'static str,
}

/// One native resource type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TypeSchema {
    pub name: &'static str,
    /// The attribute that identifies the resource (its title unless set).
    pub namevar: &'static str,
    pub doc: &'static str,
    /// Every attribute, the namevar included; metaparameters are in [`METAPARAMS`].
    pub attrs: &'static [AttrSchema],
}

impl TypeSchema {
    pub(crate) fn attr(&self, name: &str) -> Option<&'static AttrSchema> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// Markdown for an LSP hover on the type name: its doc, namevar and attributes.
    pub(crate) fn hover(&self) -> String {
        let attrs: Vec<String> = self.attrs.iter().map(|a| format!("`{}`", a.name)).collect();
        format!(
            "**{}** (resource type)\n\n{}\n\nNamevar: `{}`. Attributes: {}.",
            self.name,
            self.doc,
            self.namevar,
            attrs.join(", ")
        )
    }
}

impl AttrSchema {
    /// Markdown for an LSP hover on the attribute name: doc, accepted values, default.
    pub(crate) fn hover(&self, kind: &str) -> String {
        let mut s = format!(
            "**{}** ({kind})\n\n{}\n\nValues: {}.",
            self.name,
            self.doc,
            self.kind.describe()
        );
        if let Some(d) = self.default {
            s.push_str(&format!(" Default: `{d}`."));
        }
        s
    }
}

const fn a(
    name: &'static str,
    kind: AttrKind,
    default: Option<&'static str>,
    doc: &'static str,
) -> AttrSchema {
    AttrSchema {
        name,
        kind,
        default,
        doc,
    }
}

use AttrKind as K;

/// Metaparameters, accepted on every resource type.
pub(crate) static METAPARAMS: &[AttrSchema] = &[
    a(
        "require",
        K::Refs,
        None,
        "Resources applied before this one.",
    ),
    a("before", K::Refs, None, "Resources applied after this one."),
    a(
        "notify",
        K::Refs,
        None,
        "Resources applied after this one and refreshed when it changes.",
    ),
    a(
        "subscribe",
        K::Refs,
        None,
        "Resources applied before this one; a change in them refreshes this one.",
    ),
    a(
        "tag",
        K::StringOrStrings,
        None,
        "Extra tags for this resource.",
    ),
    a(
        "noop",
        K::Bool,
        Some("false"),
        "Report what would change without changing it.",
    ),
    a(
        "alias",
        K::StringOrStrings,
        None,
        "Other titles references may use for this resource.",
    ),
];

/// `(type, param)`s the build adds to a resource's `params` that no manifest writes: a
/// `source`'s or `repo`'s `content_sha256`, a `repo`'s `commit`.
pub(crate) const COMPILED_PARAMS: &[(&str, &str)] = &[
    ("file", "content_sha256"),
    ("release", "content_sha256"),
    ("release", "commit"),
];

/// The relationship metaparameters (turned into edges, never params).
pub(crate) const RELATION_METAPARAMS: &[&str] = &["require", "before", "notify", "subscribe"];

static FILE: &[AttrSchema] = &[
    a("path", K::Path, None, "The file's absolute path (namevar)."),
    a(
        "ensure",
        K::Enum(&["file", "present", "directory", "link", "absent"]),
        Some("file"),
        "What the path should be.",
    ),
    a("content", K::String, None, "The file's content (not with `source`)."),
    a(
        "source",
        K::String,
        None,
        "A file or directory to copy, relative to the manifest or `module:path` (not with `content`).",
    ),
    a("target", K::String, None, "The link target (`ensure = link`)."),
    a("mode", K::Mode, None, "Permissions: \"0644\" or 0o644."),
    a("owner", K::NameOrId, None, "The owning user, by name or uid."),
    a("group", K::NameOrId, None, "The owning group, by name or gid."),
    a(
        "backup",
        K::Bool,
        Some("true"),
        "Keep the replaced content in the backup store.",
    ),
    a(
        "recurse",
        K::Bool,
        Some("false"),
        "Manage a directory's contents from `source`.",
    ),
    a(
        "purge",
        K::Bool,
        Some("false"),
        "Remove what a recursed directory has and `source` does not (directories too with `force`).",
    ),
    a(
        "force",
        K::Bool,
        Some("false"),
        "Allow removing a non-empty directory (`ensure = absent`, or `purge`).",
    ),
    a(
        "validate",
        K::Command,
        None,
        "A command checking the new content before it replaces the file, `%` its temporary path (`visudo -cf %`).",
    ),
];

static PACKAGE: &[AttrSchema] = &[
    a("name", K::String, None, "The package name (namevar)."),
    a(
        "ensure",
        K::EnumOrVersion(&["present", "installed", "latest", "absent", "purged"]),
        Some("present"),
        "Whether it is installed; any other String is a version.",
    ),
    a(
        "provider",
        K::Enum(&["apt", "dpkg"]),
        Some("apt"),
        "The package tool.",
    ),
    a("source", K::String, None, "A `.deb` path (`dpkg` only)."),
];

static USER: &[AttrSchema] = &[
    a("name", K::String, None, "The login name (namevar)."),
    a(
        "ensure",
        K::Enum(&["present", "absent"]),
        Some("present"),
        "Whether the user exists.",
    ),
    a("uid", K::Int, None, "The user id."),
    a(
        "gid",
        K::NameOrId,
        None,
        "The primary group, by name or gid.",
    ),
    a("groups", K::StringOrStrings, None, "Supplementary groups."),
    a("home", K::String, None, "The home directory."),
    a("shell", K::String, None, "The login shell."),
    a("comment", K::String, None, "The GECOS comment."),
    a(
        "password",
        K::String,
        None,
        "A crypt hash (`$6$…`), or `!`/`*` to lock the account.",
    ),
    a(
        "managehome",
        K::Bool,
        Some("false"),
        "Create the home directory (and remove it with the user).",
    ),
    a("system", K::Bool, Some("false"), "A system account."),
];

static GROUP: &[AttrSchema] = &[
    a("name", K::String, None, "The group name (namevar)."),
    a(
        "ensure",
        K::Enum(&["present", "absent"]),
        Some("present"),
        "Whether the group exists.",
    ),
    a("gid", K::Int, None, "The group id."),
    a("members", K::StringOrStrings, None, "Member user names."),
    a("system", K::Bool, Some("false"), "A system group."),
];

static SERVICE: &[AttrSchema] = &[
    a("name", K::String, None, "The service name (namevar)."),
    a(
        "ensure",
        K::Enum(&["running", "stopped"]),
        Some("running"),
        "Whether it runs.",
    ),
    a("enable", K::Bool, None, "Whether it starts at boot."),
    a(
        "provider",
        K::Enum(&["systemd", "command"]),
        Some("systemd"),
        "How it is managed.",
    ),
    a(
        "start",
        K::Command,
        None,
        "Start command (`provider = command`).",
    ),
    a(
        "stop",
        K::Command,
        None,
        "Stop command (`provider = command`).",
    ),
    a(
        "status",
        K::Command,
        None,
        "Status command, exit 0 when running (`provider = command`).",
    ),
    a(
        "restart",
        K::Command,
        None,
        "Restart command (`provider = command`).",
    ),
    a(
        "hasrestart",
        K::Bool,
        None,
        "Restart with the restart command rather than stop and start.",
    ),
];

static EXEC: &[AttrSchema] = &[
    a(
        "command",
        K::Command,
        None,
        "The command, run by `/bin/sh -c` (namevar).",
    ),
    a(
        "creates",
        K::String,
        None,
        "Skip the command when this path exists.",
    ),
    a(
        "onlyif",
        K::Command,
        None,
        "Run only when this command succeeds.",
    ),
    a(
        "unless",
        K::Command,
        None,
        "Run only when this command fails.",
    ),
    a(
        "refreshonly",
        K::Bool,
        Some("false"),
        "Run only when refreshed.",
    ),
    a("cwd", K::String, None, "The working directory."),
    a("environment", K::Map, None, "Extra environment variables."),
    a("user", K::NameOrId, None, "The user to run as."),
    a(
        "timeout",
        K::Int,
        Some("300"),
        "Seconds before the command is killed.",
    ),
    a(
        "returns",
        K::IntOrInts,
        Some("0"),
        "The exit code(s) that mean success.",
    ),
    a(
        "path",
        K::StringOrStrings,
        None,
        "Directories searched for the command.",
    ),
];

static RELEASE: &[AttrSchema] = &[
    a("name", K::String, None, "The release's name (namevar)."),
    a(
        "path",
        K::Path,
        None,
        "The deploy root holding releases/, shared/ and current (required).",
    ),
    a(
        "source",
        K::String,
        None,
        "A .tar.gz/.tgz/.tar or a directory to release (not with `repo`).",
    ),
    a(
        "repo",
        K::String,
        None,
        "A git repository (URL or path) to release (not with `source`).",
    ),
    a(
        "revision",
        K::String,
        Some("HEAD"),
        "The branch, tag or commit of `repo`.",
    ),
    a(
        "version",
        K::String,
        None,
        "The release id (default: 12 hex digits of the content's sha256 or the commit).",
    ),
    a("keep", K::Int, Some("5"), "How many releases to keep."),
    a(
        "shared",
        K::Strings,
        None,
        "Paths inside the release linked into shared/.",
    ),
    a(
        "owner",
        K::NameOrId,
        None,
        "The owner of the release files.",
    ),
    a(
        "group",
        K::NameOrId,
        None,
        "The group of the release files.",
    ),
    a(
        "before_switch",
        K::Command,
        None,
        "Run in the new release dir before `current` switches.",
    ),
    a(
        "after_switch",
        K::Command,
        None,
        "Run in the new release dir after `current` switched.",
    ),
    a(
        "ensure",
        K::Enum(&["present", "absent"]),
        Some("present"),
        "Whether the release is deployed.",
    ),
];

static FILE_LINE: &[AttrSchema] = &[
    a("name", K::String, None, "The edit's name (namevar)."),
    a(
        "path",
        K::Path,
        None,
        "The file edited, which must exist (required).",
    ),
    a("line", K::String, None, "The whole line wanted (required)."),
    a(
        "match",
        K::String,
        None,
        "A regex: the first line it matches is replaced by `line` (every one with `multiple`).",
    ),
    a(
        "after",
        K::String,
        None,
        "A regex: a missing `line` goes after the first line it matches, else at the end.",
    ),
    a(
        "ensure",
        K::Enum(&["present", "absent"]),
        Some("present"),
        "Whether the line is there (absent with `match`: the matching lines are removed).",
    ),
    a(
        "multiple",
        K::Bool,
        Some("false"),
        "Whether `match` replaces (or removes) every matching line, not only the first.",
    ),
];

/// Every native type, in the order of LANGUAGE.md §5.
pub(crate) static TYPES: &[TypeSchema] = &[
    TypeSchema {
        name: "file",
        namevar: "path",
        doc: "A file, directory or symbolic link.",
        attrs: FILE,
    },
    TypeSchema {
        name: "package",
        namevar: "name",
        doc: "A Debian package, installed with apt or dpkg.",
        attrs: PACKAGE,
    },
    TypeSchema {
        name: "user",
        namevar: "name",
        doc: "A local user account.",
        attrs: USER,
    },
    TypeSchema {
        name: "group",
        namevar: "name",
        doc: "A local group.",
        attrs: GROUP,
    },
    TypeSchema {
        name: "service",
        namevar: "name",
        doc: "A system service (systemd, or start/stop commands).",
        attrs: SERVICE,
    },
    TypeSchema {
        name: "exec",
        namevar: "command",
        doc: "A command run by /bin/sh -c; guard it with creates, onlyif, unless or refreshonly.",
        attrs: EXEC,
    },
    TypeSchema {
        name: "file_line",
        namevar: "name",
        doc: "One line of an existing file: replaced, inserted or removed.",
        attrs: FILE_LINE,
    },
    TypeSchema {
        name: "release",
        namevar: "name",
        doc: "A code release: releases/<id>, shared/ and an atomically switched current link.",
        attrs: RELEASE,
    },
];

/// The schema of a native type (`file`), or None.
pub(crate) fn get(kind: &str) -> Option<&'static TypeSchema> {
    TYPES.iter().find(|t| t.name == kind)
}

/// The namevar of a native type: `file` -> `path`, `exec` -> `command`.
pub(crate) fn namevar(kind: &str) -> Option<&'static str> {
    get(kind).map(|t| t.namevar)
}

/// Whether `kind` (lower case) is a native resource type.
pub(crate) fn is_native(kind: &str) -> bool {
    get(kind).is_some()
}

/// The native type names, in §5 order.
pub(crate) fn type_names() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|t| t.name)
}

/// The attributes of a native type (metaparameters excluded), or None for an unknown type.
pub(crate) fn attribute_names(kind: &str) -> Option<impl Iterator<Item = &'static str>> {
    get(kind).map(|t| t.attrs.iter().map(|a| a.name))
}

/// An attribute of a native type, or a metaparameter.
pub(crate) fn attribute(kind: &str, name: &str) -> Option<&'static AttrSchema> {
    get(kind)
        .and_then(|t| t.attr(name))
        .or_else(|| metaparam(name))
}

/// A metaparameter by name.
pub(crate) fn metaparam(name: &str) -> Option<&'static AttrSchema> {
    METAPARAMS.iter().find(|a| a.name == name)
}

/// Whether `name` is a metaparameter (`require`, …, `noop`, `alias`).
pub(crate) fn is_metaparam(name: &str) -> bool {
    metaparam(name).is_some()
}

/// The keywords an enum attribute accepts (empty for other attributes and unknown names).
#[cfg(test)]
pub(crate) fn enum_values(kind: &str, attr: &str) -> &'static [&'static str] {
    attribute(kind, attr).map_or(&[], |a| a.kind.values())
}

/// Markdown for a hover on a native type's name.
#[cfg(test)]
pub(crate) fn type_hover(kind: &str) -> Option<String> {
    get(kind).map(TypeSchema::hover)
}

/// Markdown for a hover on an attribute of a native type, metaparameters included.
#[cfg(test)]
pub(crate) fn attr_hover(kind: &str, attr: &str) -> Option<String> {
    match get(kind)?.attr(attr) {
        Some(a) => Some(a.hover(kind)),
        None => metaparam(attr).map(|a| a.hover("metaparameter")),
    }
}

/// One line on what an attribute accepts and its default, for completion items:
/// `running | stopped (default running)`.
#[cfg(test)]
pub(crate) fn attr_detail(kind: &str, attr: &str) -> Option<String> {
    let a = attribute(kind, attr)?;
    Some(match a.default {
        Some(d) => format!("{} (default {d})", a.kind.describe()),
        None => a.kind.describe(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_lists_its_namevar_once_and_no_metaparameter() {
        for t in TYPES {
            assert_eq!(
                t.attrs.iter().filter(|a| a.name == t.namevar).count(),
                1,
                "{}",
                t.name
            );
            for at in t.attrs {
                assert!(!is_metaparam(at.name), "{}.{}", t.name, at.name);
                assert!(!at.doc.is_empty());
                assert_eq!(t.attrs.iter().filter(|b| b.name == at.name).count(), 1);
            }
        }
    }

    #[test]
    fn hovers() {
        let h = get("service")
            .unwrap()
            .attr("ensure")
            .unwrap()
            .hover("service");
        assert_eq!(
            h,
            "**ensure** (service)\n\nWhether it runs.\n\nValues: running | stopped. Default: `running`."
        );
        assert!(get("exec").unwrap().hover().contains("Namevar: `command`"));
        assert!(attribute("file", "backup")
            .unwrap()
            .hover("file")
            .ends_with("Default: `true`."));
    }

    #[test]
    fn lsp_helpers() {
        assert_eq!(enum_values("file", "ensure")[2], "directory");
        assert!(enum_values("file", "mode").is_empty());
        assert!(type_hover("nope").is_none());
        assert!(attr_hover("file", "require")
            .unwrap()
            .starts_with("**require** (metaparameter)"));
        assert_eq!(
            attr_detail("exec", "timeout").as_deref(),
            Some("Int (default 300)")
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(namevar("file"), Some("path"));
        assert_eq!(namevar("exec"), Some("command"));
        assert!(is_native("release"));
        assert!(!is_native("vhost"));
        assert_eq!(type_names().count(), 8);
        assert!(attribute_names("service")
            .unwrap()
            .any(|n| n == "hasrestart"));
        assert!(attribute("file", "noop").is_some());
        assert_eq!(attribute("file", "ensure").unwrap().default, Some("file"));
    }
}
