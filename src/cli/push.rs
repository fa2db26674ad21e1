//! `fleet push` (REMOTE.md "Push and run"): each chosen node's catalog compiled here and
//! applied there over SSH ([`crate::remote::push`]); with `--release NAME`, a coordinated
//! release (staged on every node, switched only when all staged). One row per chosen node:
//! status, changed, failed, seconds; the reports kept in `STATE/nodes/<node>/reports/`
//! (`fleet report --state-dir STATE/nodes/<node>` reads them). Exit 0 when every node is ok,
//! 1 when any is not (each named with why), 2 for a bad invocation or a selection that
//! matches nothing (nothing runs then).

use std::path::PathBuf;

use clap::Args as ClapArgs;

use super::run::Reach;
use super::{output, ExitStatus};
use crate::remote::push::{self, Binary, Options, Outcome};

#[derive(Debug, ClapArgs)]
#[command(after_help = "\
Nodes as for `fleet run`. On each node fleet keeps its push directory (--remote-dir, relative \
to the login's home): its own binary by version, content blobs by sha256 and the node's \
catalog; only what the node lacks is copied. {node} in --remote-root and --remote-dir \
stands for the node's name.")]
pub(crate) struct Args {
    #[command(flatten)]
    pub reach: Reach,
    /// Apply with --noop on the nodes: report what would change, change nothing.
    #[arg(long)]
    pub noop: bool,
    /// Apply under this root on the node (fleet apply --root); `{node}`: the node's name.
    #[arg(long, value_name = "DIR")]
    pub remote_root: Option<String>,
    /// The push directory on the node.
    #[arg(long, value_name = "DIR", default_value = ".cache/fleet")]
    pub remote_dir: String,
    /// Under --remote-root: run commands on the node's host anyway.
    #[arg(long, requires = "remote_root", conflicts_with = "chroot")]
    pub run_host_commands: bool,
    /// Under --remote-root: run commands chrooted into it.
    #[arg(long, requires = "remote_root")]
    pub chroot: bool,
    /// A coordinated release: stage the catalog's release NAME on every node, then switch
    /// them all; one failure switches none.
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,
    /// With --release: a rolling deploy, N nodes at a time (each batch all or nothing; a
    /// failed batch stops the rest).
    #[arg(long, value_name = "N", requires = "release")]
    pub batch: Option<usize>,
    /// Where the nodes' reports are kept (STATE/nodes/<node>/reports/).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/fleet")]
    pub state_dir: PathBuf,
    /// `text` (a table) or `json` (one object per node).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

pub(crate) fn run(args: Args) -> ExitStatus {
    let selection = match args.reach.select() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let binary = match Binary::this() {
        Ok(b) => b,
        Err(e) => {
            output::command_error(&format!("cannot read this fleet binary: {e}"));
            return ExitStatus::Errors;
        }
    };
    let mut apply_flags = Vec::new();
    if args.run_host_commands {
        apply_flags.push("--run-host-commands".to_string());
    }
    if args.chroot {
        apply_flags.push("--chroot".to_string());
    }
    let opts = Options {
        ssh: args.reach.ssh(),
        noop: args.noop,
        remote_root: args.remote_root.clone(),
        remote_dir: args.remote_dir.clone(),
        apply_flags,
        binary,
        user: user(),
        release: args.release.clone(),
        batch: args.batch,
    };
    let outcomes = push::push(&selection, &opts);
    if !args.noop {
        for o in &outcomes {
            keep_report(&args.state_dir, o);
        }
    }
    super::out(&if args.format == "json" {
        json(&outcomes)
    } else {
        table(&outcomes)
    });
    let bad = outcomes.iter().filter(|o| !o.status.is_ok()).count();
    if bad > 0 {
        let names: Vec<&str> = outcomes
            .iter()
            .filter(|o| !o.status.is_ok())
            .map(|o| o.node.as_str())
            .collect();
        eprintln!(
            "fleet push: {bad} of {} nodes not ok: {}",
            outcomes.len(),
            names.join(", ")
        );
        ExitStatus::Errors
    } else {
        ExitStatus::Ok
    }
}

/// Who pushes (the nodes' `revisions.log`).
fn user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()))
}

/// Saves the node's report under `STATE/nodes/<node>/`.
fn keep_report(state: &std::path::Path, o: &Outcome) {
    let (Some(json), Some(report)) = (&o.report_json, &o.report) else {
        return;
    };
    let dir = state.join("nodes").join(&o.node);
    if let Err(e) = std::fs::create_dir_all(state.join("nodes"))
        .and_then(|_| crate::apply::state::save_report(&dir, &report.started, json))
    {
        eprintln!(
            "warning: cannot keep {}'s report in {}: {e}",
            o.node,
            dir.display()
        );
    }
}

fn counts(o: &Outcome) -> (String, String) {
    match &o.report {
        Some(r) => (r.summary.changed.to_string(), r.summary.failed.to_string()),
        None => ("-".into(), "-".into()),
    }
}

fn table(outcomes: &[Outcome]) -> String {
    let width = super::run::node_width(outcomes.iter().map(|o| o.node.as_str()));
    let mut out = format!(
        "{:<width$}  {:<12}  {:>7}  {:>6}  {:>7}\n",
        "NODE", "STATUS", "CHANGED", "FAILED", "SECONDS"
    );
    for o in outcomes {
        let (changed, failed) = counts(o);
        out.push_str(&format!(
            "{:<width$}  {:<12}  {changed:>7}  {failed:>6}  {:>7.2}\n",
            o.node,
            o.status.word(),
            o.seconds
        ));
    }
    for o in outcomes {
        if let Some(why) = o.status.why() {
            out.push_str(&format!("{}: {why}\n", o.node));
        }
    }
    out
}

fn json(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        let v = serde_json::json!({
            "node": o.node,
            "status": o.status.word(),
            "error": o.status.why(),
            "changed": o.report.as_ref().map(|r| r.summary.changed),
            "failed": o.report.as_ref().map(|r| r.summary.failed),
            "seconds": o.seconds,
            "copied": {"blobs": o.blobs, "bytes": o.bytes, "binary": o.binary},
        });
        out.push_str(&format!("{v}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::push::Status;

    #[test]
    fn the_table_names_why_a_node_is_not_ok() {
        let o = |node: &str, status| Outcome {
            node: node.into(),
            status,
            report_json: None,
            report: None,
            seconds: 1.5,
            blobs: 0,
            bytes: 0,
            binary: false,
        };
        let t = table(&[
            o("web01", Status::Ok),
            o("down01", Status::Unreachable("Connection refused".into())),
        ]);
        assert!(t.contains("down01  unreachable"), "{t}");
        assert!(t.contains("down01: Connection refused"), "{t}");
        assert!(!t.contains("web01:"), "{t}");
    }
}
