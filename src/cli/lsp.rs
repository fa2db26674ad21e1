//! `fleet lsp`: the language server on stdio.

/// `fleet lsp` takes no arguments: an editor starts it and speaks LSP on stdin/stdout.
#[derive(Debug, clap::Args)]
pub(crate) struct LspArgs {
    /// Accepted for editors that pass it by habit; stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

pub(crate) fn run(args: LspArgs) -> super::ExitStatus {
    let _ = args.stdio;
    // 1 when stdin or stdout failed.
    super::ExitStatus::failed_if(crate::lsp::run_stdio() != 0)
}
