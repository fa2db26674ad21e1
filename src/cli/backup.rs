//! `fleet backup list|restore PATH [--at TIME]`: the backup store of the state directory.

use std::path::PathBuf;

use super::ExitStatus;
use crate::apply::state::{self, Backups};

#[derive(Debug, clap::Args)]
pub(crate) struct BackupArgs {
    #[command(subcommand)]
    pub action: BackupAction,
    /// Take every path under this directory (as `apply --root` did).
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// The state directory (default `/var/lib/fleet` under the root).
    #[arg(long, global = true)]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum BackupAction {
    /// Show every backed-up version: time, sha256, path.
    List {
        /// Only this path.
        path: Option<String>,
        #[arg(long, default_value = "text")]
        format: String,
    },
    /// Put a backed-up version back (the newest, or the newest at or before --at).
    Restore {
        path: String,
        /// An RFC 3339 time (any offset), or a prefix of a UTC one (`2026-11-27T10`: up to
        /// the end of that hour); anything else is refused.
        #[arg(long)]
        at: Option<String>,
    },
}

pub(crate) fn run(args: BackupArgs) -> ExitStatus {
    let root = match super::root_arg(args.root.as_deref()) {
        Ok(r) => r,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitStatus::Usage;
        }
    };
    let create = matches!(args.action, BackupAction::Restore { .. });
    let state_dir = match super::apply::state_dir(&root, args.state_dir.as_deref(), create) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::Errors;
        }
    };
    let backups = Backups::new(&state_dir);
    match args.action {
        BackupAction::List { path, format } => {
            let entries = match backups.list() {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("error: cannot read backups: {e}");
                    return ExitStatus::Errors;
                }
            };
            let entries: Vec<_> = entries
                .into_iter()
                .filter(|e| path.as_ref().is_none_or(|p| *p == e.path))
                .collect();
            let mut s = String::new();
            for e in &entries {
                if format == "json" {
                    s.push_str(&serde_json::to_string(e).expect("entry serialises"));
                    s.push('\n');
                } else {
                    s.push_str(&format!("{}  {}  {}\n", e.time, e.sha256, e.path));
                }
            }
            super::out(&s);
            ExitStatus::Ok
        }
        BackupAction::Restore { path, at } => {
            if let Some(Err(e)) = at.as_deref().map(crate::apply::time::parse_at) {
                eprintln!("error: --at: {e}");
                return ExitStatus::Usage;
            }
            let _lock = match state::lock(&state_dir, true, true) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitStatus::Errors;
                }
            };
            match crate::apply::providers::file::restore(&root, &backups, &path, at.as_deref()) {
                Ok(entry) => {
                    super::out(&format!(
                        "restored {} from the backup of {} (sha256:{})\n",
                        entry.path, entry.time, entry.sha256
                    ));
                    ExitStatus::Ok
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitStatus::Errors
                }
            }
        }
    }
}
