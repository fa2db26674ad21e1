//! What evaluating one node hands to the catalog: declared native resources, the classes and
//! define instances containing them, and relationships still named by reference.

use indexmap::IndexMap;

use super::attrs::Name;
use super::value::{ResRef, Value};
use crate::source::{FileId, Span};

/// The evaluation of one node.
#[derive(Clone, Debug, Default)]
pub struct NodeEval {
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
}

/// One attribute value with where it was written, and its name once in an [`AttrMap`]:
/// 48 bytes (a node of 100,000 resources holds half a million of these, twice).
#[derive(Clone, Debug)]
pub struct Attr {
    pub value: Value,
    /// Set by the [`AttrMap`] holding it; [`Name::EMPTY`] outside one.
    pub(crate) name: Name,
    /// The file of both spans (an attribute's name and value are written in one body).
    file: FileId,
    name_at: (u32, u32),
    value_at: (u32, u32),
}

impl Attr {
    /// `name_span`: the attribute's name (or the `*` of a splat that set it, or the name in a
    /// resource default); `value_span`: the value expression, in the same file.
    pub fn new(value: Value, name_span: Span, value_span: Span) -> Attr {
        debug_assert_eq!(name_span.file, value_span.file, "one body, one file");
        Attr {
            value,
            name: Name::EMPTY,
            file: value_span.file,
            name_at: (name_span.start, name_span.end),
            value_at: (value_span.start, value_span.end),
        }
    }

    pub fn name_span(&self) -> Span {
        Span {
            file: self.file,
            start: self.name_at.0,
            end: self.name_at.1,
        }
    }

    pub fn value_span(&self) -> Span {
        Span {
            file: self.file,
            start: self.value_at.0,
            end: self.value_at.1,
        }
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
pub use crate::catalog::Resource as Declared;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    Class,
    /// An instance of the named define type (`nginx::vhost`).
    Define(String),
}

/// A class or define instance and what it contains.
#[derive(Clone, Debug)]
pub struct Container {
    pub kind: ContainerKind,
    /// Class name, or the define instance's title.
    pub title: String,
    /// Where it was declared (class name after `include`, or the instance's type name).
    pub span: Span,
    /// Native resources it contains directly (indices into `NodeEval::resources`).
    pub resources: Vec<usize>,
    /// Classes (via `contain`) and define instances it contains (indices into
    /// `NodeEval::containers`).
    pub children: Vec<usize>,
}

/// One end of a relationship.
#[derive(Clone, Debug)]
pub enum Endpoint {
    Resource(usize),
    Container(usize),
    /// A reference, resolved by the catalog after evaluation (it may point forward).
    Ref(ResRef),
}

/// `from` before `to`; `refresh` when a change in `from` refreshes `to`.
#[derive(Clone, Debug)]
pub struct Relation {
    pub from: Endpoint,
    pub to: Endpoint,
    pub refresh: bool,
}

// The layout the comment on `Attr` promises (value, name, file, two spans' offsets).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Attr>() == 48);
