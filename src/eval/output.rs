//! What evaluating one node hands to the catalog: declared native resources, the classes and
//! define instances containing them, and relationships still named by reference.

use indexmap::IndexMap;

use super::attrs::{AttrMap, Name};
use super::value::{ResRef, Value};
use crate::source::Span;

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
}

/// One attribute value with where it was written.
#[derive(Clone, Debug)]
pub struct Attr {
    pub value: Value,
    /// The attribute's name (or the `*` of a splat that set it, or the name in a resource
    /// default).
    pub name_span: Span,
    /// The value expression.
    pub value_span: Span,
}

/// A declared native resource (`file`, `package`, …, or an unknown type name: the catalog
/// reports `unknown-resource-type`).
#[derive(Clone, Debug)]
pub struct Declared {
    /// Lower-case type name as written: `file`.
    pub kind: Name,
    pub kind_span: Span,
    /// The title (one element of an array title).
    pub title: String,
    pub title_span: Span,
    /// Attributes after resource defaults and splats, in the order: written in the body, then
    /// from the splat, then from defaults. Relationship metaparameters (`require`, `before`,
    /// `notify`, `subscribe`) and `tag` are not here; `noop` and `alias` are.
    pub attrs: AttrMap,
    /// Tags from the evaluator: every enclosing class and define type (with namespace
    /// segments) and the `tag` metaparameter's values. The catalog adds the type name first.
    pub tags: Vec<Name>,
}

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
