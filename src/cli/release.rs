//! `fleet release list PATH` and `fleet release rollback PATH [--to ID]`.

use std::io::{self, Write};
use std::path::PathBuf;

use super::ExitStatus;
use crate::release;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Show the releases under a deploy root, newest first; `*` marks current.
    List {
        /// The deploy root (the release's `path`).
        path: PathBuf,
        /// Take PATH under this sandbox root.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// `text` (one line per release) or `json` (one object per release and line).
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Point `current` at the previous release (or `--to ID`) and delete the one that was current.
    Rollback {
        /// The deploy root (the release's `path`).
        path: PathBuf,
        /// The release to go back to (default: the one deployed before the current one).
        #[arg(long, value_name = "ID")]
        to: Option<String>,
        /// Take PATH under this sandbox root.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> ExitStatus {
    let result = match &args.command {
        Command::List { path, root, format } => match release::list(path, root.as_deref()) {
            Ok(infos) if infos.is_empty() => {
                let shown = release::host_path(root.as_deref(), path);
                Err(release::Error::Spec(format!(
                    "no releases under {}",
                    shown.display()
                )))
            }
            Ok(infos) if format == "json" => Ok(list_json(&infos)),
            Ok(infos) => Ok(list_text(&infos)),
            Err(e) => Err(e),
        },
        Command::Rollback { path, to, root } => {
            release::rollback(path, root.as_deref(), to.as_deref()).map(|r| {
                format!(
                    "{}: current -> {} (removed {})\n",
                    path.display(),
                    r.to,
                    r.from
                )
            })
        }
    };
    match result {
        Ok(text) => match io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                eprintln!("error: {e}");
                ExitStatus::Errors
            }
            _ => ExitStatus::Ok,
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitStatus::Errors
        }
    }
}

/// One JSON object per release and line, newest first (CLI.md's JSON-lines style).
fn list_json(infos: &[release::ReleaseInfo]) -> String {
    let mut text = String::new();
    for i in infos {
        let v = serde_json::json!({
            "id": i.id,
            "current": i.current,
            "seq": i.seq,
            "deployed": i.deployed,
            "content_sha256": i.content_sha256,
            "commit": i.commit,
        });
        text.push_str(&format!("{v}\n"));
    }
    text
}

fn list_text(infos: &[release::ReleaseInfo]) -> String {
    let mut text = String::new();
    let width = infos.iter().map(|i| i.id.len()).max().unwrap_or(0);
    for i in infos {
        let deployed = i
            .deployed
            .as_deref()
            .map(|d| format!("{}Z", d.get(..19).unwrap_or(d)))
            .unwrap_or_else(|| "-".into());
        let source = match (&i.commit, &i.content_sha256) {
            (Some(c), _) => format!("commit {c}"),
            (None, Some(s)) => format!("sha256 {s}"),
            (None, None) => "-".into(),
        };
        text.push_str(&format!(
            "{} {:width$}  {deployed}  {source}\n",
            if i.current { '*' } else { ' ' },
            i.id,
        ));
    }
    text
}
