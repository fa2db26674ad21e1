//! The command line: clap commands; the only code that prints.
//!
//! One file per command (`check.rs`, `compile.rs`, `graph.rs`, …), each with a
//! `#[derive(clap::Args)]` struct and `pub fn run(args) -> ExitStatus`. Shared pieces: the
//! manifest options every manifest-reading command takes ([`ManifestArgs`]), `--root`
//! ([`root_arg`]) and the output helpers in `output.rs` (locked stdout that treats a closed
//! pipe as a normal end, diagnostics to stderr).
//!
//! Exit codes (CLI.md), as [`ExitStatus`]: 0 ok, 1 errors (or warnings under `--deny
//! warnings`), 2 bad invocation; `apply --detailed-exitcodes` adds 2 changes, 4 failures and
//! 6 both.

pub(crate) mod agent;
pub(crate) mod apply;
pub(crate) mod backup;
pub(crate) mod ca;
pub(crate) mod catalog;
pub(crate) mod check;
pub(crate) mod compile;
pub(crate) mod completions;
pub(crate) mod doc;
pub(crate) mod facts;
pub(crate) mod fmt;
pub(crate) mod graph;
pub(crate) mod init;
pub(crate) mod lsp;
pub(crate) mod output;
pub(crate) mod provision;
pub(crate) mod push;
pub(crate) mod release;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod serve;

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::program::Options;
use crate::sys::root::Root;

/// How a command ended, as the process exit status (CLI.md). Every command returns one;
/// only [`ExitStatus::code`] knows the numbers. `Usage` and `Changes` share 2, as CLI.md
/// has it: under `apply --detailed-exitcodes` a bad invocation also exits 2 (as it always
/// did; the message on stderr tells them apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: done (`apply --detailed-exitcodes`: done, nothing changed).
    Ok,
    /// 1: the manifests have errors (or denied warnings), or the command failed.
    Errors,
    /// 2: bad invocation (unknown flag, missing file, nothing to check).
    Usage,
    /// 2, `apply --detailed-exitcodes`: changes made, nothing failed.
    Changes,
    /// 4, `apply --detailed-exitcodes`: something failed (or apply could not run), nothing
    /// changed.
    Failures,
    /// 6, `apply --detailed-exitcodes`: changes made and something failed.
    ChangesAndFailures,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Ok => 0,
            ExitStatus::Errors => 1,
            ExitStatus::Usage | ExitStatus::Changes => 2,
            ExitStatus::Failures => 4,
            ExitStatus::ChangesAndFailures => 6,
        }
    }

    /// The status of an apply run under `--detailed-exitcodes`.
    pub fn detailed(changed: bool, failed: bool) -> ExitStatus {
        match (changed, failed) {
            (false, false) => ExitStatus::Ok,
            (true, false) => ExitStatus::Changes,
            (false, true) => ExitStatus::Failures,
            (true, true) => ExitStatus::ChangesAndFailures,
        }
    }

    /// Of two statuses, the one with the higher code (a command that goes on after a
    /// problem ends with its worst one).
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        if other.code() > self.code() {
            other
        } else {
            self
        }
    }

    /// [`Errors`](ExitStatus::Errors) when `failed`, else [`Ok`](ExitStatus::Ok).
    pub fn failed_if(failed: bool) -> ExitStatus {
        if failed {
            ExitStatus::Errors
        } else {
            ExitStatus::Ok
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> std::process::ExitCode {
        std::process::ExitCode::from(status.code())
    }
}

/// `--root DIR` of `apply` and `backup` (the host when not given). A root that cannot be
/// used is a bad invocation ([`ExitStatus::Usage`]); the message says why.
pub(crate) fn root_arg(dir: Option<&Path>) -> Result<Root, String> {
    match dir {
        Some(d) => Root::new(d).map_err(|e| format!("--root {}: {e}", d.display())),
        None => Ok(Root::host()),
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "fleet",
    version,
    about = "Configuration management and code releases for server fleets",
    propagate_version = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand. Commands owned elsewhere plug in here as one variant each:
/// `Apply(apply::ApplyArgs)`, `Facts(..)`, `Backup(..)`, `Release(release::Args)`,
/// `Provision(..)`, `Fmt(..)`, `Lsp`, `Serve(..)`, `Agent(..)`, `Ca(..)` — add the variant,
/// the `pub mod` line above and one arm in [`main`].
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Parse, evaluate every node, build catalogs and graphs, run the lints; report every problem.
    Check(check::CheckArgs),
    /// Print one node's catalog as JSON, or write every node's catalog and the content store.
    Compile(compile::CompileArgs),
    /// Print one node's dependency graph as Graphviz DOT.
    Graph(graph::GraphArgs),
    /// Inspect and roll back code releases.
    Release(release::Args),
    /// Rewrite manifests in the canonical layout (`--check`: only report).
    Fmt(fmt::FmtArgs),
    /// Run the language server on stdio (for editors).
    Lsp(lsp::LspArgs),
    /// Make this machine match its catalog (or, with --noop, show what would change).
    Apply(apply::ApplyArgs),
    /// Print this machine's facts as JSON.
    Facts(facts::FactsArgs),
    /// List or restore the file contents fleet replaced or removed.
    Backup(backup::BackupArgs),
    /// List and show the reports `fleet apply` saved in the state directory.
    Report(report::Args),
    /// The fleet's certificate authority: init, issue, list, revoke, enrolment tokens.
    Ca(ca::Args),
    /// Compare catalogs: `catalog diff A.json B.json`, or `--node NAME REV1 REV2` of git.
    Catalog(catalog::CatalogArgs),
    /// Create a site skeleton (or with --module, a module); never overwrites.
    Init(init::InitArgs),
    /// Show the documentation of a resource type, attribute, class, define or function.
    Doc(doc::DocArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// The install server: DHCP/TFTP, PXE and GRUB entries, answer files, libvirt domains.
    Provision(Box<provision::Args>),
    /// Run the catalog server (HTTPS; agents fetch their catalogs from it).
    Serve(serve::Args),
    /// Fetch this node's catalog from the catalog servers, apply it, send the report.
    Agent(agent::Args),
    /// Run a command on the chosen nodes over SSH, output prefixed by node, a table of exits.
    Run(run::Args),
    /// Compile the chosen nodes here and apply them there over SSH; --release: a coordinated
    /// release.
    Push(push::Args),
    /// Write man pages into DIR (scripts/man.sh).
    #[command(hide = true)]
    Man(completions::ManArgs),
}

/// Options shared by every command that reads manifests.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct ManifestArgs {
    /// A module directory, searched after the main file's directory (repeatable).
    #[arg(long = "modulepath", value_name = "DIR")]
    pub modulepath: Vec<PathBuf>,
    /// A facts JSON file, or a directory of `<node>.json` files.
    #[arg(long, value_name = "FILE|DIR")]
    pub facts: Option<PathBuf>,
}

impl ManifestArgs {
    /// The program options these flags stand for.
    pub(crate) fn options(&self) -> Options {
        Options {
            modulepath: self.modulepath.clone(),
            facts: self.facts.clone(),
        }
    }

    /// Bad-invocation checks: every manifest and `--modulepath` must exist.
    pub(crate) fn validate(&self, files: &[PathBuf]) -> Result<(), String> {
        for f in files {
            if !f.is_file() {
                return Err(format!("no such manifest: {}", f.display()));
            }
        }
        for d in &self.modulepath {
            if !d.is_dir() {
                return Err(format!("--modulepath {} is not a directory", d.display()));
            }
        }
        if let Some(f) = &self.facts {
            if !f.exists() {
                return Err(format!("--facts {} does not exist", f.display()));
            }
        }
        Ok(())
    }
}

/// Parses the command line and runs the command; returns the process exit status.
pub fn main() -> ExitStatus {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Usage errors exit 2; --help and --version print and exit 0.
            let _ = e.print();
            return usage_status(&e);
        }
    };
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Compile(args) => compile::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Release(args) => release::run(args),
        Command::Fmt(args) => fmt::run(args),
        Command::Lsp(args) => lsp::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Facts(args) => facts::run(args),
        Command::Backup(args) => backup::run(args),
        Command::Report(args) => report::run(args),
        Command::Ca(args) => ca::run(args),
        Command::Catalog(args) => catalog::run(args),
        Command::Init(args) => init::run(args),
        Command::Doc(args) => doc::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Run(args) => run::run(args),
        Command::Push(args) => push::run(args),
        Command::Man(args) => completions::man(args),
        Command::Provision(args) => provision::run(*args),
    }
}

/// clap's verdict on the command line: `--help` and `--version` are done, anything else is
/// a bad invocation.
fn usage_status(e: &clap::Error) -> ExitStatus {
    if e.exit_code() == 0 {
        ExitStatus::Ok
    } else {
        ExitStatus::Usage
    }
}

/// Writes to stdout; a closed pipe (`fleet … | head`) is not an error.
pub(crate) fn out(text: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(text.as_bytes()).and_then(|_| o.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write output: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_errors_exit_2() {
        for argv in [
            &["fleet", "chekc"][..],
            &["fleet", "check", "--format", "xml"],
            &["fleet", "check", "--deny", "everything"],
            &["fleet", "compile", "x.fleet"],
            &["fleet", "compile", "--all", "x.fleet"],
            &[
                "fleet", "compile", "--node", "a", "--all", "--out", "d", "x.fleet",
            ],
            &["fleet", "graph", "x.fleet"],
        ] {
            let e = Cli::try_parse_from(argv).expect_err(&format!("{argv:?} should not parse"));
            assert_eq!(usage_status(&e), ExitStatus::Usage, "{argv:?}");
            assert_eq!(e.exit_code(), 2, "{argv:?}");
        }
        for argv in [
            &["fleet", "--help"][..],
            &["fleet", "--version"],
            &["fleet", "check", "-h"],
        ] {
            let e = Cli::try_parse_from(argv).expect_err(&format!("{argv:?} prints and ends"));
            assert_eq!(usage_status(&e), ExitStatus::Ok, "{argv:?}");
        }
    }

    /// The numbers of CLI.md's exit-code column, and `apply --detailed-exitcodes`' table.
    #[test]
    fn exit_statuses_are_the_documented_codes() {
        use ExitStatus::*;
        let codes: Vec<u8> = [Ok, Errors, Usage, Changes, Failures, ChangesAndFailures]
            .iter()
            .map(|s| s.code())
            .collect();
        assert_eq!(codes, [0, 1, 2, 2, 4, 6]);
        assert_eq!(ExitStatus::detailed(false, false), Ok);
        assert_eq!(ExitStatus::detailed(true, false), Changes);
        assert_eq!(ExitStatus::detailed(false, true), Failures);
        assert_eq!(ExitStatus::detailed(true, true), ChangesAndFailures);
        assert_eq!(ExitStatus::failed_if(true), Errors);
        assert_eq!(ExitStatus::failed_if(false), Ok);
        assert_eq!(Ok.worst(Errors).worst(Usage).worst(Errors), Usage);
        assert_eq!(Errors.worst(Ok), Errors);
    }

    #[test]
    fn valid_invocations_parse() {
        for argv in [
            &["fleet", "check"][..],
            &["fleet", "check", "a.fleet", "b.fleet", "--format", "json"],
            &[
                "fleet",
                "check",
                "--deny",
                "warnings",
                "--modulepath",
                "m1",
                "--modulepath",
                "m2",
            ],
            &[
                "fleet",
                "compile",
                "--node",
                "web01",
                "site.fleet",
                "--facts",
                "f.json",
            ],
            &["fleet", "compile", "--all", "--out", "out", "site.fleet"],
            &["fleet", "graph", "--node", "web01", "site.fleet"],
        ] {
            Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        }
    }
}
