//! `fleet fmt [--check] FILES…`: rewrite manifests in the canonical layout.

use std::io::Write;
use std::path::PathBuf;

use crate::fmt::{format_text, FmtError};
use crate::source::SourceMap;

#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// Change nothing; list the files that would change and exit 1 if any would.
    #[arg(long)]
    pub check: bool,
    /// The `.fleet` files to format.
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
}

/// 0 when every file is (or now is) formatted; 1 when `--check` found one that is not, or a
/// file could not be read, parsed or written (it is then left untouched); 2 bad invocation.
pub fn run(args: FmtArgs) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let mut status = 0;
    for path in &args.files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(err, "error: cannot read {}: {e}", path.display());
                status = 1;
                continue;
            }
        };
        let mut sources = SourceMap::new();
        let id = sources.add(path.to_string_lossy(), path.clone(), text.clone());
        match format_text(id, &text) {
            Ok(formatted) if formatted == text => {}
            Ok(formatted) => {
                if args.check {
                    let _ = writeln!(out, "{}", path.display());
                    status = 1;
                } else if let Err(e) = std::fs::write(path, formatted) {
                    let _ = writeln!(err, "error: cannot write {}: {e}", path.display());
                    status = 1;
                }
            }
            Err(FmtError::Syntax(diags)) => {
                for d in &diags {
                    let (line, col) = d
                        .span
                        .map(|s| sources.get(s.file).line_col(s.start as usize))
                        .unwrap_or((1, 1));
                    let _ = writeln!(
                        err,
                        "{}[{}]: {}\n  --> {}:{line}:{col}",
                        d.severity.as_str(),
                        d.code,
                        d.message,
                        path.display()
                    );
                }
                let _ = writeln!(err, "{}: not formatted (syntax errors)", path.display());
                status = 1;
            }
            Err(FmtError::Changed(why)) => {
                let _ = writeln!(
                    err,
                    "error: {}: not formatted: {why} (please report this)",
                    path.display()
                );
                status = 1;
            }
        }
    }
    status
}
