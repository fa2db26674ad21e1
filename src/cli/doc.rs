//! `fleet doc [NAME] [FILE]`: the text the language server's hover shows for a resource
//! type, an attribute (`file.mode`), a class or define of the site, a built-in function or
//! variable, printed for the terminal; without NAME, the list of names it knows.

use std::path::{Path, PathBuf};

use clap::Args;

use super::check::default_manifest;
use super::{output, ExitStatus, ManifestArgs};
use crate::lsp::features;
use crate::program::Program;

#[derive(Debug, Args)]
pub(crate) struct DocArgs {
    /// A resource type, `type.attribute`, class, define, function or `$variable`.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// The manifest whose classes and defines to know. Default: `site.fleet`, else
    /// `manifests/site.fleet`, when there is one here.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

pub(crate) fn run(args: DocArgs) -> ExitStatus {
    let files: Vec<PathBuf> = match args.file {
        Some(f) => vec![f],
        None => default_manifest(Path::new(".")).into_iter().collect(),
    };
    if let Err(msg) = args.manifest.validate(&files) {
        output::command_error(&msg);
        return ExitStatus::Usage;
    }
    let program = Program::load(&files, args.manifest.options());
    let Some(name) = args.name else {
        let mut text = String::new();
        for (kind, name) in features::names(&program) {
            text.push_str(&format!("{kind:<9} {name}\n"));
        }
        output::stdout(&text);
        return ExitStatus::Ok;
    };
    match features::describe(&program, &name) {
        Some(md) => {
            output::stdout(&terminal(&md));
            ExitStatus::Ok
        }
        None => {
            output::command_error(&format!(
                "no documentation for `{name}` (not a resource type, attribute, class, define or function{}); `fleet doc` lists the names",
                if files.is_empty() { "; no site.fleet here for classes" } else { "" }
            ));
            ExitStatus::Errors
        }
    }
}

/// Hover markdown as terminal text: code fences dropped (their lines indented), bold marks
/// removed; inline `code` is kept as written.
fn terminal(md: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for line in md.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push_str("    ");
            out.push_str(line);
        } else {
            out.push_str(&line.replace("**", ""));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markdown_becomes_terminal_text() {
        assert_eq!(
            super::terminal("```fleet\nclass a($x = 1)\n```\n**ensure** (service)\n\nIt `runs`."),
            "    class a($x = 1)\nensure (service)\n\nIt `runs`.\n"
        );
    }
}
