//! `fleet fmt [--check] FILES…`: rewrite manifests in the canonical layout.

use std::path::PathBuf;

use super::{output, ExitStatus};
use crate::fmt::{format_text, FmtError};
use crate::source::SourceMap;

#[derive(Debug, clap::Args)]
pub(crate) struct FmtArgs {
    /// Change nothing; list the files that would change and exit 1 if any would.
    #[arg(long)]
    pub check: bool,
    /// The `.fleet` files to format.
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
}

/// 0 when every file is (or now is) formatted; 1 when `--check` found one that is not, or a
/// file could not be read, parsed or written (it is then left untouched).
pub(crate) fn run(args: FmtArgs) -> ExitStatus {
    let mut status = ExitStatus::Ok;
    for path in &args.files {
        let name = path.to_string_lossy().into_owned();
        let text = match std::fs::read(path).map(String::from_utf8) {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                let mut sources = SourceMap::new();
                let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let id = sources.add(name.clone(), path.clone(), lossy);
                let diags = vec![crate::program::not_utf8(id, &name, &e)];
                output::report_to_stderr(&diags, &sources, &name);
                output::command_error(&format!("{name} not formatted: it has syntax errors"));
                status = status.worst(ExitStatus::Errors);
                continue;
            }
            Err(e) => {
                output::command_error(&format!("cannot read {name}: {e}"));
                // A file that is not there is a bad invocation (2), as for `check`; an
                // unreadable one is an error (1). The highest status wins.
                let code = if e.kind() == std::io::ErrorKind::NotFound {
                    ExitStatus::Usage
                } else {
                    ExitStatus::Errors
                };
                status = status.worst(code);
                continue;
            }
        };
        let mut sources = SourceMap::new();
        let id = sources.add(name.clone(), path.clone(), text.clone());
        match format_text(id, &text) {
            Ok(formatted) if formatted == text => {}
            Ok(formatted) => {
                if args.check {
                    if !output::stdout(&format!("{name}\n")) {
                        return ExitStatus::Errors;
                    }
                    status = status.worst(ExitStatus::Errors);
                } else if let Err(e) = std::fs::write(path, formatted) {
                    output::command_error(&format!("cannot write {name}: {e}"));
                    status = status.worst(ExitStatus::Errors);
                }
            }
            Err(FmtError::Syntax(diags)) => {
                output::report_to_stderr(&diags, &sources, &name);
                output::command_error(&format!("{name} not formatted: it has syntax errors"));
                status = status.worst(ExitStatus::Errors);
            }
            Err(FmtError::Changed(why)) => {
                output::command_error(&format!(
                    "{name} not formatted: {why} (a bug in fleet fmt; the file is unchanged)"
                ));
                status = status.worst(ExitStatus::Errors);
            }
        }
    }
    status
}
