//! What evaluating one node hands to the catalog: declared native resources, the classes and
//! define instances containing them, and relationships still named by reference.

use indexmap::IndexMap;

use super::attrs::AttrMap;
use super::name::Name;
use super::value::{ResRef, Value};
use crate::source::Span;

/// The evaluation of one node.
#[derive(Clone, Debug, Default)]
pub(crate) struct NodeEval {
    pub node: String,
    /// Native resource declarations in evaluation order. Duplicates are not merged yet: two
    /// identical declarations both appear (the catalog merges or reports them).
    pub resources: Vec<Declared>,
    /// Classes and define instances, in declaration order.
    pub containers: Vec<Container>,
    /// Relationships from metaparameters (`require`, `before`, `notify`, `subscribe`) and
    /// chains (`->`, `~>`), in the order they were evaluated.
    pub relations: Vec<Relation>,
    /// The node's `provision` block, if any (keys in source order).
    pub provision: Option<IndexMap<String, Value>>,
    /// Where each `provision` value was written (for `duplicate-address`).
    pub provision_spans: Option<IndexMap<String, Span>>,
    /// The group names the node's facts list (`$facts.groups`, an Array of Strings, when a
    /// facts file has one): groups a user may join without the catalog managing them.
    pub fact_groups: Vec<String>,
    /// The `notice(msg)` calls evaluated, in order: printed, never diagnostics (§9).
    pub notices: Vec<Notice>,
    /// The `export(topic, value)` calls evaluated, in order (LANGUAGE.md §6).
    pub exports: Vec<Export>,
    /// The function name of the first `collect(topic)` call evaluated: the node's catalog
    /// depends on the rest of the fleet.
    pub collected_at: Option<Span>,
}

/// One `export(topic, value)` call: what it published, and where (its function name).
#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    pub topic: String,
    pub value: Value,
    pub span: Span,
}

/// One `notice(msg)` call: where it was and its message.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Notice {
    pub span: Span,
    pub message: String,
}

/// A catalog resource; also what evaluation declares ([`Declared`], where the
/// fields hold what was written).
#[derive(Clone, Debug, Default)]
pub struct Resource {
    /// Lower-case native type name.
    pub kind: Name,
    /// Identity: the namevar's value (the title unless the namevar attribute is set).
    pub title: String,
    /// The title as written, for display, when an `exec`'s differs from its identity (its
    /// `command`): `exec "create-db" { command = "…" }` shows as `Exec[create-db]`.
    pub label: Option<Box<str>>,
    /// Validated attributes, metaparameters excluded: the wire format's `params`. `source` is already replaced by `content_sha256`
    /// when content was loaded (see `catalog::build_with`).
    pub params: AttrMap,
    /// Type name first, then enclosing classes/defines, then `tag` values; no repeats.
    pub tags: Vec<Name>,
    pub kind_span: Span,
    pub title_span: Span,
}

impl Resource {
    /// Whether the resource holds something private (`compile --all` writes its catalog,
    /// and its content blob, mode 0600): a Sensitive parameter, or a file whose `mode` gives
    /// others no read bit (`0600`, `0640`).
    pub fn is_private(&self) -> bool {
        if self
            .params
            .iter()
            .any(|(_, a)| matches!(a.value, Value::Sensitive(_)))
        {
            return true;
        }
        self.kind.as_str() == "file"
            && self
                .params
                .get("mode")
                .and_then(|a| a.value.as_str())
                .and_then(|m| u32::from_str_radix(m, 8).ok())
                .is_some_and(|m| m & 0o004 == 0)
    }

    /// The content store blob a private file names (`content_sha256`), if any.
    pub fn private_blob(&self) -> Option<&str> {
        if self.kind.as_str() != "file" || !self.is_private() {
            return None;
        }
        self.params.get("content_sha256")?.value.as_str()
    }
}

/// A declared native resource (`file`, `package`, …, or an unknown type name: the catalog
/// reports `unknown-resource-type`). It is the catalog's [`Resource`] type, so that the catalog
/// is built in the evaluation's own vector (see `catalog::build`), but holds what was written:
///
/// - `kind`: the lower-case type name as written: `file`.
/// - `title`: the title (one element of an array title), not yet the identity.
/// - `params`: attributes after resource defaults and splats, in the order: written in the
///   body, then from the splat, then from defaults. Relationship metaparameters (`require`,
///   `before`, `notify`, `subscribe`) and `tag` are not here; `noop` and `alias` are.
/// - `tags`: every enclosing class and define type (with namespace segments) and the `tag`
///   metaparameter's values. The catalog adds the type name first.
pub(crate) use self::Resource as Declared;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ContainerKind {
    Class,
    /// An instance of the named define type (`nginx::vhost`).
    Define(String),
}

/// A class or define instance and what it contains.
#[derive(Clone, Debug)]
pub(crate) struct Container {
    pub kind: ContainerKind,
    /// Class name, or the define instance's title.
    pub title: String,
    /// Native resources it contains directly (indices into `NodeEval::resources`).
    pub resources: Vec<usize>,
    /// Classes (via `contain`) and define instances it contains (indices into
    /// `NodeEval::containers`).
    pub children: Vec<usize>,
}

/// One end of a relationship.
#[derive(Clone, Debug)]
pub(crate) enum Endpoint {
    Resource(usize),
    Container(usize),
    /// A reference, resolved by the catalog after evaluation (it may point forward).
    Ref(ResRef),
}

/// `from` before `to`; `refresh` when a change in `from` refreshes `to`.
#[derive(Clone, Debug)]
pub(crate) struct Relation {
    pub from: Endpoint,
    pub to: Endpoint,
    pub refresh: bool,
}
