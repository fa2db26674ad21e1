//! Writing to stdout and stderr without panicking: a closed pipe (`fleet check | head`) ends
//! the output quietly, and diagnostics are rendered once here for every command.

use std::io::{self, IsTerminal, Write};

use crate::diag::render::{RenderOptions, Renderer};
use crate::diag::{Diagnostic, Severity};
use crate::source::SourceMap;

/// Writes to stdout through a locked handle. False means the reader went away (broken pipe)
/// or stdout failed: the caller stops writing and exits with the status already decided.
pub(crate) fn stdout(text: &str) -> bool {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}

/// Writes to stderr; failures (a closed stderr) are ignored: there is nowhere to report them.
pub(crate) fn stderr(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// `error: …` for problems of the command itself (bad invocation, unwritable output),
/// not of the manifests.
pub(crate) fn command_error(message: &str) {
    stderr(&format!("error: {message}\n"));
}

/// Prints the `notice(msg)` calls the program's evaluations made, one line each on stderr:
/// `notice: MSG (FILE:LINE:COLUMN)` (LANGUAGE.md §9: no diagnostic).
pub(crate) fn notices(program: &crate::program::Program) {
    let mut text = String::new();
    for n in program.take_notices() {
        let file = program.sources.get(n.span.file);
        let (line, col) = file.line_col(n.span.start as usize);
        text.push_str(&format!(
            "notice: {} ({}:{line}:{col})\n",
            n.message, file.name
        ));
    }
    if !text.is_empty() {
        stderr(&text);
    }
}

/// How reports look on this stderr: colour only on a terminal with `NO_COLOR` unset (and
/// `TERM` not `dumb`); Unicode box drawing on a terminal, ASCII when piped or redirected (so
/// logs and golden files are plain).
pub(crate) fn stderr_style() -> RenderOptions {
    let tty = io::stderr().is_terminal();
    RenderOptions {
        color: tty && colour_allowed(),
        ascii: !tty,
    }
}

/// Whether stdout takes colour: a terminal, `NO_COLOR` unset (any value turns colour off)
/// and `TERM` not `dumb` (CLI.md: colour only on a terminal, never with `NO_COLOR` or a pipe).
pub(crate) fn stdout_color() -> bool {
    io::stdout().is_terminal() && colour_allowed()
}

/// Whether stderr takes a progress line (drawn over itself with `\r` and `ESC[K`): a
/// terminal, never a pipe or a file, and not one with `TERM=dumb`.
pub(crate) fn stderr_takes_progress() -> bool {
    io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// `NO_COLOR` unset and `TERM` not `dumb`.
fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Counts of errors and warnings.
pub(crate) fn counts(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    (errors, diags.len() - errors)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The closing line of a text report: `error: 3 errors, 1 warning`, `warning: 2 warnings`,
/// or None when there is nothing to report. `denied` turns warnings into a failure.
pub(crate) fn summary(diags: &[Diagnostic], denied: bool) -> Option<String> {
    let (errors, warnings) = counts(diags);
    match (errors, warnings) {
        (0, 0) => None,
        (0, w) if denied => Some(format!(
            "error: {} (denied by --deny warnings)",
            plural(w, "warning")
        )),
        (0, w) => Some(format!("warning: {}", plural(w, "warning"))),
        (e, 0) => Some(format!("error: {}", plural(e, "error"))),
        (e, w) => Some(format!(
            "error: {}, {}",
            plural(e, "error"),
            plural(w, "warning")
        )),
    }
}

/// Every diagnostic as a text report, each followed by a blank line, then the summary line.
pub(crate) fn text_report(
    diags: &[Diagnostic],
    sources: &SourceMap,
    main_file: &str,
    style: RenderOptions,
    denied: bool,
) -> String {
    let mut out = String::new();
    let mut renderer = Renderer::new(sources, main_file, style);
    for d in diags {
        out.push_str(&renderer.render(d));
        out.push('\n');
    }
    if let Some(line) = summary(diags, denied) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Renders diagnostics to stderr (the text format every command but `check --format json`
/// uses).
pub(crate) fn report_to_stderr(diags: &[Diagnostic], sources: &SourceMap, main_file: &str) {
    if diags.is_empty() {
        return;
    }
    stderr(&text_report(
        diags,
        sources,
        main_file,
        stderr_style(),
        false,
    ));
}

/// True when the diagnostics make the command fail.
pub(crate) fn failed(diags: &[Diagnostic], deny_warnings: bool) -> bool {
    diags
        .iter()
        .any(|d| d.severity == Severity::Error || deny_warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Code;

    fn diags(errors: usize, warnings: usize) -> Vec<Diagnostic> {
        let mk = |sev| Diagnostic::new(sev, Code::InvalidValue, None, "m");
        let mut v: Vec<_> = (0..errors).map(|_| mk(Severity::Error)).collect();
        v.extend((0..warnings).map(|_| mk(Severity::Warning)));
        v
    }

    #[test]
    fn summary_lines() {
        assert_eq!(summary(&diags(0, 0), false), None);
        assert_eq!(
            summary(&diags(3, 1), false).unwrap(),
            "error: 3 errors, 1 warning"
        );
        assert_eq!(summary(&diags(1, 0), false).unwrap(), "error: 1 error");
        assert_eq!(summary(&diags(0, 2), false).unwrap(), "warning: 2 warnings");
        assert_eq!(
            summary(&diags(0, 1), true).unwrap(),
            "error: 1 warning (denied by --deny warnings)"
        );
    }

    #[test]
    fn failure_rules() {
        assert!(!failed(&diags(0, 0), true));
        assert!(!failed(&diags(0, 2), false));
        assert!(failed(&diags(0, 2), true));
        assert!(failed(&diags(1, 0), false));
    }
}
