//! `fleet run` (REMOTE.md "Push and run"): a command on the chosen nodes over SSH
//! ([`crate::remote::run`]). Output lines are printed as they arrive, `NODE: line` (stderr's
//! on stderr), or with `--fold` one block per distinct output after the run; then a table of
//! each node's outcome. Exit 0 when every node ran the command with exit 0, else 1; 2 for a
//! bad invocation or a selection that matches nothing (nothing runs then).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args as ClapArgs;

use super::{output, ExitStatus};
use crate::remote::run::{self, Line, Options, Status};

/// What `run` and `push` share: the manifest and [`On`].
#[derive(Debug, ClapArgs)]
pub(crate) struct Reach {
    /// The main manifest (default: site.fleet).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub on: On,
}

impl Reach {
    /// Loads the manifest and chooses the nodes (compiled); `Err` after printing why.
    pub(crate) fn select(&self) -> Result<crate::remote::select::Selection, ExitStatus> {
        self.on.select(self.file.as_deref())
    }

    /// ssh's options, with `--max-fail` and `--canary` unset.
    pub(crate) fn ssh(&self) -> Options {
        self.on.ssh()
    }
}

/// Which nodes and how ssh reaches them (also the remote `release list` and `rollback`,
/// whose manifest is `--manifest`).
#[derive(Debug, ClapArgs)]
pub(crate) struct On {
    /// A node name or /regex/ (repeatable).
    #[arg(long = "node", value_name = "PATTERN")]
    pub nodes: Vec<String>,
    /// Only the nodes whose catalog contains this class.
    #[arg(long, value_name = "NAME")]
    pub class: Option<String>,
    /// Nodes at once.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub parallel: usize,
    /// Seconds each node may take (then it is killed and counts as failed).
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout: u64,
    #[command(flatten)]
    pub connect: Connect,
    #[arg(long)]
    pub modulepath: Vec<PathBuf>,
    #[arg(long)]
    pub facts: Option<PathBuf>,
}

/// How ssh connects (`run`, `push`, the remote `release` commands, `provision
/// reinstall`).
#[derive(Debug, ClapArgs)]
pub(crate) struct Connect {
    /// Seconds for ssh to connect (its ConnectTimeout).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub connect_timeout: u64,
    /// An ssh configuration file (ssh -F).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// An ssh option K=V (ssh -o; repeatable).
    #[arg(long, value_name = "K=V")]
    pub ssh_option: Vec<String>,
}

impl Connect {
    /// ssh's options for `parallel` nodes at once, each with this time limit; `--max-fail`
    /// and `--canary` unset.
    pub(crate) fn options(&self, parallel: usize, timeout: Duration) -> Options {
        Options {
            parallel: parallel.max(1),
            max_fail: None,
            canary: None,
            timeout,
            connect_timeout: self.connect_timeout.max(1),
            ssh_config: self.ssh_config.clone(),
            ssh_options: self.ssh_option.clone(),
        }
    }
}

impl On {
    /// Whether any node was chosen (`--node` or `--class`).
    pub(crate) fn chosen(&self) -> bool {
        !self.nodes.is_empty() || self.class.is_some()
    }

    /// Loads `file` (default site.fleet) and chooses the nodes (compiled); `Err` after
    /// printing why.
    pub(crate) fn select(
        &self,
        file: Option<&std::path::Path>,
    ) -> Result<crate::remote::select::Selection, ExitStatus> {
        if !self.chosen() {
            output::command_error(
                "choose nodes with --node PATTERN or --class NAME (--node '/./' is every node)",
            );
            return Err(ExitStatus::Usage);
        }
        let file = file.map_or_else(|| PathBuf::from("site.fleet"), PathBuf::from);
        if !file.is_file() {
            output::command_error(&format!("no such manifest: {}", file.display()));
            return Err(ExitStatus::Usage);
        }
        let program = crate::program::Program::load(
            &[file],
            crate::program::Options {
                modulepath: self.modulepath.clone(),
                facts: self.facts.clone(),
            },
        );
        crate::remote::select::select(&program, &self.nodes, self.class.as_deref()).map_err(|e| {
            output::command_error(&e);
            ExitStatus::Usage
        })
    }

    /// ssh's options, with `--max-fail` and `--canary` unset.
    pub(crate) fn ssh(&self) -> Options {
        self.connect
            .options(self.parallel, Duration::from_secs(self.timeout.max(1)))
    }
}

#[derive(Debug, ClapArgs)]
#[command(after_help = "\
Nodes: --node takes names or /regexes/ (repeatable; every one must match a node of the \
fleet), --class the nodes whose catalog contains that class; at least one is needed \
(--node '/./' is every node). A node is reached at its provision ip, else its provision \
hostname, else its name, through ssh with BatchMode=yes (no password prompts), your \
~/.ssh/config, --ssh-config and --ssh-option.")]
pub(crate) struct Args {
    #[command(flatten)]
    pub reach: Reach,
    /// One block per distinct output, with the nodes that printed it (after the run).
    #[arg(long)]
    pub fold: bool,
    /// Start no more nodes after N failures.
    #[arg(long, value_name = "N")]
    pub max_fail: Option<usize>,
    /// Run K nodes first; stop when any of them fails.
    #[arg(long, value_name = "K")]
    pub canary: Option<usize>,
    /// `text` or `json` (one object per node at the end).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// The command (after `--`).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub(crate) fn run(args: Args) -> ExitStatus {
    let targets = match args.reach.select() {
        Ok(s) => s.targets,
        Err(code) => return code,
    };
    let opts = Options {
        max_fail: args.max_fail,
        canary: args.canary,
        ..args.reach.ssh()
    };
    execute(
        &targets,
        &args.command,
        &opts,
        args.fold,
        &args.format,
        "fleet run",
    )
}

/// Runs `command` on `targets` and prints the lines, folded or live, and the table (or
/// JSON); exit 0 when every node ran it with exit 0. `who` names the command in the last
/// line.
pub(crate) fn execute(
    targets: &[crate::remote::select::Target],
    command: &[String],
    opts: &Options,
    fold: bool,
    format: &str,
    who: &str,
) -> ExitStatus {
    let text = format == "text";
    let live = text && !fold;
    let print = |l: Line<'_>| {
        if !live {
            return;
        }
        let s = format!("{}: {}\n", l.node, l.text);
        if l.stderr {
            let _ = std::io::stderr().lock().write_all(s.as_bytes());
        } else {
            super::out(&s);
        }
    };
    let outcomes = run::run(targets, command, opts, &print);
    let mut shown = String::new();
    if text && fold {
        for (nodes, out) in run::fold(&outcomes) {
            shown.push_str(&format!(
                "---- {} ({})\n{out}",
                nodes.join(","),
                nodes.len()
            ));
        }
    }
    let status_text = |s: &Status| match s {
        Status::Ok => ("ok".to_string(), "0".to_string()),
        Status::Failed(n) => ("failed".into(), n.to_string()),
        Status::Unreachable(_) => ("unreachable".into(), "-".into()),
        Status::TimedOut => ("timed out".into(), "-".into()),
        Status::NotRun => ("not run".into(), "-".into()),
    };
    if text {
        let width = node_width(outcomes.iter().map(|o| o.node.as_str()));
        shown.push_str(&format!(
            "\n{:<width$}  {:<11}  {:>4}  {:>7}\n",
            "NODE", "STATUS", "EXIT", "SECONDS"
        ));
        for o in &outcomes {
            let (st, code) = status_text(&o.status);
            shown.push_str(&format!(
                "{:<width$}  {st:<11}  {code:>4}  {:>7.2}\n",
                o.node, o.seconds
            ));
        }
        for o in &outcomes {
            if let Status::Unreachable(why) = &o.status {
                shown.push_str(&format!("{}: {why}\n", o.node));
            }
        }
    } else {
        for o in &outcomes {
            let (st, _) = status_text(&o.status);
            let exit = match o.status {
                Status::Ok => Some(0),
                Status::Failed(n) => Some(n),
                _ => None,
            };
            let why = match &o.status {
                Status::Unreachable(w) => Some(w.clone()),
                _ => None,
            };
            let v = serde_json::json!({
                "node": o.node, "status": st, "exit": exit, "seconds": o.seconds,
                "output": o.output, "error": why,
            });
            shown.push_str(&format!("{v}\n"));
        }
    }
    super::out(&shown);
    let failed = outcomes.iter().filter(|o| !o.status.is_ok()).count();
    if failed > 0 {
        eprintln!("{who}: {failed} of {} nodes not ok", outcomes.len());
        ExitStatus::Errors
    } else {
        ExitStatus::Ok
    }
}

/// The width of a table's NODE column: the longest name, at least the header's.
pub(super) fn node_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.map(str::len).max().unwrap_or(4).max(4)
}
