//! `fleet check [FILES…]`: every problem of every node, as text on stderr or JSON lines on
//! stdout.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::output::{self, failed, stderr_style, text_report};
use super::{ExitStatus, ManifestArgs};
use crate::diag::json::to_line;
use crate::program::Program;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Rendered reports on stderr and a summary line.
    #[default]
    Text,
    /// One JSON object per diagnostic on stdout (CLI.md "Diagnostic JSON"), nothing else.
    Json,
}

/// What `--deny` can turn into errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Deny {
    /// Any warning (lint) makes the check fail with exit status 1.
    Warnings,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Manifests to check (one program). Default: `site.fleet`, else `manifests/site.fleet`.
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Output format for diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Treat warnings as errors for the exit status.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub deny: Vec<Deny>,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

/// The default manifest in `dir`: `site.fleet`, else `manifests/site.fleet`.
pub(crate) fn default_manifest(dir: &Path) -> Option<PathBuf> {
    ["site.fleet", "manifests/site.fleet"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| dir.join(p).is_file())
}

pub(crate) fn run(args: CheckArgs) -> ExitStatus {
    let files = if args.files.is_empty() {
        match default_manifest(Path::new(".")) {
            Some(f) => vec![f],
            None => {
                output::command_error(
                    "no manifest given, and neither site.fleet nor manifests/site.fleet is here",
                );
                return ExitStatus::Usage;
            }
        }
    } else {
        args.files
    };
    if let Err(msg) = args.manifest.validate(&files) {
        output::command_error(&msg);
        return ExitStatus::Usage;
    }
    let deny_warnings = args.deny.contains(&Deny::Warnings);

    let program = Program::load(&files, args.manifest.options());
    let diags = program.check();
    output::notices(&program);
    let main_file = main_file_name(&program, &files);

    match args.format {
        Format::Json => {
            let mut text = String::new();
            for d in &diags {
                text.push_str(&to_line(d, &program.sources, &main_file));
                text.push('\n');
            }
            // A closed pipe ends the output; the status stays what the check found.
            let _ = output::stdout(&text);
        }
        Format::Text => {
            if diags.is_empty() {
                // The source map also holds data files and templates; count manifests.
                let manifests = program
                    .sources
                    .files()
                    .filter(|(_, f)| f.name.ends_with(".fleet"))
                    .count();
                output::stderr(&format!(
                    "ok: {} checked, no problems\n",
                    plural_manifests(manifests.max(1))
                ));
            } else {
                output::stderr(&text_report(
                    &diags,
                    &program.sources,
                    &main_file,
                    stderr_style(),
                    deny_warnings,
                ));
            }
        }
    }
    let status = if failed(&diags, deny_warnings) {
        ExitStatus::Errors
    } else {
        ExitStatus::Ok
    };
    // The process ends right after: freeing the program's ASTs and sources (a tenth of a
    // check of 10,000 resources) would be work nobody waits for.
    std::mem::forget(program);
    status
}

fn plural_manifests(n: usize) -> String {
    if n == 1 {
        "1 manifest".into()
    } else {
        format!("{n} manifests")
    }
}

/// The name span-less diagnostics are reported against: the first file as loaded.
pub(crate) fn main_file_name(program: &Program, files: &[PathBuf]) -> String {
    if program.sources.is_empty() {
        files
            .first()
            .map(|f| f.display().to_string())
            .unwrap_or_default()
    } else {
        program.sources.get(crate::source::FileId(0)).name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_manifests_and_module_dirs_are_bad_invocations() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("site.fleet");
        std::fs::write(&present, "").unwrap();
        let args = |files: Vec<PathBuf>, modulepath: Vec<PathBuf>| CheckArgs {
            files,
            format: Format::Json,
            deny: vec![],
            manifest: ManifestArgs {
                modulepath,
                facts: None,
            },
        };
        assert_eq!(
            run(args(vec![dir.path().join("nope.fleet")], vec![])),
            ExitStatus::Usage
        );
        assert_eq!(
            run(args(vec![present], vec![dir.path().join("no-such-dir")])),
            ExitStatus::Usage
        );
    }

    #[test]
    fn default_manifest_prefers_site_fleet() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(default_manifest(dir.path()), None);
        std::fs::create_dir(dir.path().join("manifests")).unwrap();
        std::fs::write(dir.path().join("manifests/site.fleet"), "").unwrap();
        assert_eq!(
            default_manifest(dir.path()),
            Some(PathBuf::from("manifests/site.fleet"))
        );
        std::fs::write(dir.path().join("site.fleet"), "").unwrap();
        assert_eq!(
            default_manifest(dir.path()),
            Some(PathBuf::from("site.fleet"))
        );
    }
}
