//! `fleet completions SHELL` (a completion script on stdout) and the hidden `fleet man DIR`
//! (one man page per command, for `scripts/man.sh`), both generated from the clap
//! definitions so they cannot drift from the real options.

use std::path::PathBuf;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{output, Cli, ExitStatus};

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The directory to write `fleet.1` and `fleet-COMMAND.1` into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

pub(crate) fn run(args: CompletionsArgs) -> ExitStatus {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "fleet", &mut buf);
    output::stdout(&String::from_utf8_lossy(&buf));
    ExitStatus::Ok
}

pub(crate) fn man(args: ManArgs) -> ExitStatus {
    let cmd = Cli::command();
    let written =
        std::fs::create_dir_all(&args.dir).and_then(|_| clap_mangen::generate_to(cmd, &args.dir));
    match written {
        Ok(()) => ExitStatus::Ok,
        Err(e) => {
            output::command_error(&format!(
                "cannot write man pages to {}: {e}",
                args.dir.display()
            ));
            ExitStatus::Errors
        }
    }
}
