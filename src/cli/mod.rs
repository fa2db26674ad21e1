//! The command line: clap commands; the only code that prints.

pub mod apply;
pub mod backup;
pub mod facts;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "fleet",
    version,
    about = "Configuration management and releases for server fleets"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Make this machine match its catalog (or, with --noop, show what would change).
    Apply(apply::ApplyArgs),
    /// Print this machine's facts as JSON.
    Facts(facts::FactsArgs),
    /// List or restore the file contents fleet replaced or removed.
    Backup(backup::BackupArgs),
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match cli.command {
        Command::Apply(a) => apply::run(a),
        Command::Facts(a) => facts::run(a),
        Command::Backup(a) => backup::run(a),
    }
}

/// Writes to stdout; a closed pipe (`fleet … | head`) is not an error.
pub(crate) fn out(text: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(text.as_bytes()).and_then(|_| o.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("fleet: cannot write output: {e}");
        }
    }
}
