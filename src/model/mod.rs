//! The data model every stage shares: what a resource type is (`schema`), names (`name`: `Name`) and
//! attributes (`attrs`: `AttrMap`, `Attr`), values (`value`), what evaluating a node
//! declares and the catalog is made of (`declared`: `NodeEval`, `Resource`), and the small
//! helpers the model is built with (`fxhash`, `digest`).
//!
//! `eval` produces these types and `catalog` consumes them; neither knows the other. The
//! catalog is built in the evaluation's own vector of `Resource`s (for memory, at 100,000
//! resources a node), which is why both stages' resource is one type and lives here.

pub(crate) mod attrs;
pub(crate) mod declared;
pub(crate) mod digest;
pub(crate) mod facts;
pub(crate) mod fxhash;
pub(crate) mod name;
pub(crate) mod schema;
pub(crate) mod value;
