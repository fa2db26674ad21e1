//! fleet: configuration management and code releases for server fleets.
//!
//! The pipeline, one module per stage:
//! `syntax` (text -> AST) -> `eval` (AST -> declared resources per node) -> `catalog`
//! (validation, identity, the wire format) -> `graph` (dependency graph, implicit edges,
//! cycles) -> `apply` (plan and change the machine) -> `cli` (the only code that prints).
//! `program` ties the front end together: load files and imports, check, compile. Below the
//! stages, `model` holds the data they share (schemas, names, attributes, values, declared
//! resources); `sys` holds the root handles and the command runner that `apply` and
//! `release` use. Which module may use which: README.md's Architecture table, checked by
//! `tests/suite/layering.rs`.

// pest is built without its `std` feature (which probes the native stack on every rule call,
// about 6 % of `fleet check`; syntax::depth bounds nesting before pest runs), and then the
// code pest_derive generates names `alloc`.
extern crate alloc;

pub mod apply;
pub mod catalog;
pub mod cli;
pub mod diag;
pub mod eval;
pub mod fmt;
pub mod graph;
pub mod limits;
pub mod lsp;
pub mod memory;
pub mod model;
pub mod par;
pub mod program;
pub mod provision;
pub mod release;
pub mod remote;
pub mod source;
pub mod syntax;
pub mod sys;
pub mod timing;
