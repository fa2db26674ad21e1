//! Remote nodes (REMOTE.md): the fleet's certificate authority (`ca`), the catalog server
//! (`serve`, with its shared `store`), the agent (`agent`), and the TLS set-up both ends
//! share (`tls`). Push and run over SSH come next, beside the agent.
//!
//! The room may use everything below `cli/` except `lsp/` (README.md's Architecture table);
//! like every room but `cli/`, it returns values and errors and prints nothing of its own
//! except the server's access log and the agent's run notices, which go through the
//! callbacks its callers give it.

pub(crate) mod agent;
pub(crate) mod ca;
pub(crate) mod client;
pub(crate) mod push;
pub(crate) mod reinstall;
pub(crate) mod run;
pub(crate) mod select;
pub(crate) mod serve;
pub(crate) mod store;
pub(crate) mod tls;
