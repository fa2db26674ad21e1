//! `fleet graph --node NAME FILE`: one node's dependency graph as Graphviz DOT on stdout.

use std::path::PathBuf;

use clap::Args;

use super::compile::compile_node;
use super::{output, ExitStatus, ManifestArgs};

#[derive(Debug, Args)]
pub(crate) struct GraphArgs {
    /// The node whose graph to print.
    #[arg(long, value_name = "NAME", required = true)]
    pub node: String,
    /// The main manifest.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

pub(crate) fn run(args: GraphArgs) -> ExitStatus {
    match compile_node(&args.file, &args.manifest, &args.node) {
        Ok((_, catalog)) => {
            let _ = output::stdout(&crate::graph::to_dot(&catalog));
            ExitStatus::Ok
        }
        Err(code) => code,
    }
}
