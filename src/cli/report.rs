//! `fleet report list` and `fleet report show [ID|latest]`: the reports `fleet apply` saved in
//! the state directory (`/var/lib/fleet/reports/`, inside DIR under `--root DIR`;
//! `--state-dir` overrides).
//!
//! Decisions: with no state directory, no `reports/` or no report in it, both commands say so
//! (`error: no reports in …`) and exit 1, as `release list` does for a path without
//! releases, so that a script can tell "nothing saved yet" from a listing. A report's id is
//! its file name without `.json`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::ExitStatus;
use crate::apply::report::ReportDoc;
use crate::apply::state;
use crate::sys::root::Root;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the reports are.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Where {
    /// Take the state directory under this sandbox root (`DIR/var/lib/fleet`).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The state directory (default `/var/lib/fleet` under the root).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// One line per saved report, oldest first: time, node, run or noop, counts, id.
    List {
        #[command(flatten)]
        at: Where,
        /// `text` (one line per report) or `json` (one summary object per line).
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Show a saved report (default: the latest) as text, or as its stored JSON.
    Show {
        /// A report id from `report list` (its file name, with or without `.json`), or `latest`.
        #[arg(default_value = "latest")]
        id: String,
        #[command(flatten)]
        at: Where,
        /// `text` (as `fleet apply` prints a run) or `json` (the stored Report JSON).
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
        /// Also list unchanged resources.
        #[arg(long)]
        verbose: bool,
    },
}

/// The state directory and its `reports/` as shown in messages.
fn locate(at: &Where) -> Result<(PathBuf, PathBuf), String> {
    let root = match &at.root {
        Some(d) => Root::new(d).map_err(|e| format!("--root {}: {e}", d.display()))?,
        None => Root::host(),
    };
    let dir = super::apply::state_dir(&root, at.state_dir.as_deref(), false)?;
    let shown = match &at.state_dir {
        Some(p) => p.join("reports"),
        None => root.path().join("var/lib/fleet/reports"),
    };
    Ok((dir, shown))
}

fn names(dir: &Path, shown: &Path) -> Result<Vec<String>, String> {
    let names = state::report_names(dir)
        .map_err(|e| format!("cannot read {}: {e}", shown.display()))?
        .unwrap_or_default();
    if names.is_empty() {
        return Err(format!("no reports in {}", shown.display()));
    }
    Ok(names)
}

fn read(dir: &Path, shown: &Path, name: &str) -> Result<(Vec<u8>, ReportDoc), String> {
    let at = shown.join(name);
    let bytes =
        state::read_report(dir, name).map_err(|e| format!("cannot read {}: {e}", at.display()))?;
    let doc: ReportDoc = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a report: {e}", at.display()))?;
    Ok((bytes, doc))
}

fn id_of(name: &str) -> &str {
    name.strip_suffix(".json").unwrap_or(name)
}

pub(crate) fn run(args: Args) -> ExitStatus {
    let result = match &args.command {
        Command::List { at, format } => list(at, format == "json"),
        Command::Show {
            id,
            at,
            format,
            verbose,
        } => show(at, id, format == "json", *verbose),
    };
    match result {
        Ok(text) => {
            super::out(&text);
            ExitStatus::Ok
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitStatus::Errors
        }
    }
}

fn list(at: &Where, json: bool) -> Result<String, String> {
    let (dir, shown) = locate(at)?;
    let mut text = String::new();
    for name in names(&dir, &shown)? {
        // One unreadable report does not hide the others: it is listed as such.
        let doc = match read(&dir, &shown, &name) {
            Ok((_, doc)) => doc,
            Err(e) => {
                if json {
                    let v = serde_json::json!({"id": id_of(&name), "error": e});
                    let _ = writeln!(text, "{v}");
                } else {
                    let _ = writeln!(text, "{:27}  (unreadable: {e})  {}", "-", id_of(&name));
                }
                continue;
            }
        };
        let s = &doc.summary;
        if json {
            let v = serde_json::json!({
                "id": id_of(&name),
                "started": doc.started,
                "node": doc.node,
                "noop": doc.noop,
                "seconds": doc.seconds,
                "summary": {
                    "resources": s.resources,
                    "changed": s.changed,
                    "failed": s.failed,
                    "skipped": s.skipped,
                    "unchanged": s.unchanged,
                },
            });
            let _ = writeln!(text, "{v}");
        } else {
            let _ = writeln!(
                text,
                "{:27}  {}  {}  {} changed, {} failed, {} skipped ({} resources)  {}",
                doc.started,
                doc.node,
                if doc.noop { "noop" } else { "run " },
                s.changed,
                s.failed,
                s.skipped,
                s.resources,
                id_of(&name)
            );
        }
    }
    Ok(text)
}

fn show(at: &Where, id: &str, json: bool, verbose: bool) -> Result<String, String> {
    let (dir, shown) = locate(at)?;
    let names = names(&dir, &shown)?;
    let name = if id == "latest" {
        names.last().cloned()
    } else {
        let want = id_of(id);
        names.iter().find(|n| id_of(n) == want).cloned()
    };
    let Some(name) = name else {
        return Err(format!(
            "no report {id:?} in {} (there are {}: `fleet report list` shows them)",
            shown.display(),
            names.len()
        ));
    };
    let (bytes, doc) = read(&dir, &shown, &name)?;
    if json {
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        return Ok(text);
    }
    Ok(render(&doc, id_of(&name), verbose))
}

/// A saved report as text, in the manner of `fleet apply`'s output: a header, then each
/// resource that did something with its changes, then the counts.
pub(crate) fn render(doc: &ReportDoc, id: &str, verbose: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "report {id}: node {}, {} started {}, {:.2}s",
        doc.node,
        if doc.noop { "noop run" } else { "run" },
        doc.started,
        doc.seconds
    );
    let mut last: Option<(&str, &str)> = None;
    for e in &doc.events {
        let head = (e.resource.as_str(), e.status.as_str());
        let new = last != Some(head);
        last = Some(head);
        match e.status.as_str() {
            "unchanged" => {
                if verbose {
                    let _ = writeln!(s, "  {} unchanged", e.resource);
                }
            }
            "changed" => {
                if new {
                    let _ = writeln!(s, "~ {}", e.resource);
                }
                match (&e.property, &e.from, &e.to) {
                    (Some(p), None, None) => {
                        let _ = writeln!(s, "    {p}: {}", e.message);
                    }
                    (Some(p), from, to) => {
                        let show = |v: &Option<String>| v.clone().unwrap_or("(none)".into());
                        let _ = writeln!(s, "    {p}: {} -> {}", show(from), show(to));
                    }
                    (None, _, _) => {
                        let _ = writeln!(s, "    {}", e.message);
                    }
                }
            }
            "failed" => {
                let _ = writeln!(s, "! {} failed: {}", e.resource, e.message);
            }
            _ => {
                let _ = writeln!(s, "· {} {}", e.resource, e.message);
            }
        }
    }
    let m = &doc.summary;
    let _ = writeln!(
        s,
        "{} changed, {} failed, {} skipped, {} unchanged ({} resources)",
        m.changed, m.failed, m.skipped, m.unchanged, m.resources
    );
    s
}
