//! The command line: clap commands; the only code that prints.

pub mod fmt;
pub mod lsp;
pub mod release;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "fleet",
    version,
    about = "Configuration management and releases for server fleets"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Inspect and roll back code releases.
    Release(release::Args),
    /// Rewrite manifests in the canonical layout (`--check`: only report).
    Fmt(fmt::FmtArgs),
    /// Run the language server on stdio (for editors).
    Lsp(lsp::LspArgs),
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Release(args) => release::run(args),
        Command::Fmt(args) => fmt::run(args),
        Command::Lsp(args) => lsp::run(args),
    }
}
