//! AST -> values, scopes, classes, defines, nodes and built-in functions -> declared resources.

pub mod output;
pub mod value;
