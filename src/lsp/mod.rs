//! The language server (`fleet lsp`).

pub mod convert;
