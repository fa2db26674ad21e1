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
//!
//! The library exists for the `fleet` binary: its public API is [`main`] and the allocator
//! hook [`on_memory_change`]. Every module is private; what the benchmarks, the integration
//! tests and the fuzz targets reach into is listed, item by item, in [`internals`], which is
//! not a stable API. `unreachable_pub` (Cargo.toml's `[lints]`) keeps everything else
//! `pub(crate)` at most, so that `dead_code` sees what nothing uses.

// pest is built without its `std` feature (which probes the native stack on every rule call,
// about 6 % of `fleet check`; syntax::depth bounds nesting before pest runs), and then the
// code pest_derive generates names `alloc`.
extern crate alloc;

mod apply;
mod catalog;
mod cli;
mod diag;
mod eval;
mod fmt;
mod graph;
mod limits;
mod lsp;
mod memory;
mod model;
mod par;
mod program;
mod provision;
mod release;
mod remote;
mod source;
mod syntax;
mod sys;
mod timing;

pub use cli::main;
pub use memory::{on_change as on_memory_change, Freed};

/// The stages' entry points that the benchmarks (`benches/`), the integration tests
/// (`tests/`) and the fuzz targets (`fuzz/`) call, each listed by name. Not a stable API:
/// it changes with the code it exposes.
#[doc(hidden)]
pub mod internals {
    /// Source files and their ids.
    pub mod source {
        pub use crate::source::{FileId, SourceFile};
    }
    /// The parser and its tree.
    pub mod syntax {
        pub use crate::syntax::{ast, parse};
    }
    /// Diagnostics and their two renderings.
    pub mod diag {
        pub use crate::diag::Diagnostic;
        /// Text for a terminal.
        pub mod render {
            pub use crate::diag::render::{render, RenderOptions};
        }
        /// The JSON-lines wire format.
        pub mod json {
            pub use crate::diag::json::to_line;
        }
    }
    /// Load, check, compile.
    pub mod program {
        pub use crate::program::{Options, Program};
    }
    /// Catalogs, the content store and the wire format.
    pub mod catalog {
        pub use crate::catalog::{to_doc, Catalog};
        /// The content store.
        pub mod store {
            pub use crate::catalog::store::ContentStore;
        }
        /// `source` trees as tarballs.
        pub mod content {
            pub use crate::catalog::content::tar_dir;
        }
        /// The catalog document.
        pub mod json {
            pub use crate::catalog::json::CatalogDoc;
        }
        /// The catalog JSON writer.
        pub mod wire {
            pub use crate::catalog::wire::{version, write_pretty, write_pretty_seekable};
        }
    }
    /// Planning and applying a catalog.
    pub mod apply {
        pub use crate::apply::{run, Options, Providers};
        /// The engine's input.
        pub mod engine {
            pub use crate::apply::engine::Input;
        }
    }
    /// Code releases.
    pub mod release {
        pub use crate::release::{
            apply, list, plan, rollback, unpack, Env, Error, Limits, Outcome, Spec,
        };
    }
    /// Hashes.
    pub mod model {
        /// sha256 in hex.
        pub mod digest {
            pub use crate::model::digest::sha256_hex;
        }
    }
    /// The root handle.
    pub mod sys {
        /// `--root`.
        pub mod root {
            pub use crate::sys::root::Root;
        }
    }
    /// The formatter.
    pub mod fmt {
        pub use crate::fmt::{format_text, FmtError};
    }
    /// The language server.
    pub mod lsp {
        pub use crate::lsp::serve_with;
        /// URIs.
        pub mod convert {
            pub use crate::lsp::convert::path_to_uri;
        }
        /// The checking worker.
        pub mod worker {
            pub use crate::lsp::worker::{check, diagnostics, group};
        }
        /// Message framing.
        pub mod framing {
            pub use crate::lsp::framing::{Frame, Reader};
        }
        /// Hover and the other requests.
        pub mod features {
            pub use crate::lsp::features::hover;
        }
    }
}
