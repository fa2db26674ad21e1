//! `fleet fmt`: one canonical layout for `.fleet` files, printed from the AST and its comments.
//!
//! The layout: two-space indents; one statement per line; one blank line between top-level
//! items (consecutive one-line items of the same kind, such as a run of `let`s or `import`s,
//! keep the source's choice), at most one blank line anywhere; resource, default and
//! `provision` bodies stay on one line when they were written on one line and fit in
//! [`WIDTH`] columns, else one attribute per line with the `=` signs aligned; arrays and maps
//! likewise stay on one line or get one element per line with a trailing comma. Everything
//! else inside an expression is printed from its original source text, so escapes,
//! interpolations and triple-quoted strings cannot change. Comments stay where they were:
//! on their own line before the statement or attribute they preceded, or at the end of the
//! line they ended.
//!
//! Two guards keep it honest: a file with syntax errors is refused, and the output is parsed
//! again and must give the same syntax tree (spans aside) as the input, else it is refused too.

mod print;
pub(crate) mod scan;

use crate::diag::{Code, Diagnostic};
use crate::source::FileId;
use crate::syntax::ast;

/// Bodies, arrays and maps written on one line are kept on one line up to this width.
pub(crate) const WIDTH: usize = 100;

/// Why a file was not formatted.
#[derive(Debug)]
pub enum FmtError {
    /// The input does not parse; formatting it could only mangle it.
    Syntax(Vec<Diagnostic>),
    /// The formatter's output would not mean the same as its input (a bug in `fmt`): the
    /// file is left alone.
    Changed(String),
}

/// Formats one file's text. `file` is only used for the spans of the diagnostics returned.
pub fn format_text(file: FileId, text: &str) -> Result<String, FmtError> {
    let (ast, diags) = crate::syntax::parse(file, text);
    if diags.iter().any(|d| d.code == Code::Syntax) {
        return Err(FmtError::Syntax(diags));
    }
    let out = print::Printer::new(text, &ast.comments).file(&ast);
    let (again, diags2) = crate::syntax::parse(file, &out);
    if !diags2.is_empty() {
        return Err(FmtError::Changed(format!(
            "the formatted text does not parse: {}",
            diags2[0].message
        )));
    }
    if shape(&again) != shape(&ast) {
        return Err(FmtError::Changed(
            "the formatted text parses to a different syntax tree".into(),
        ));
    }
    let mut before: Vec<&str> = ast.comments.iter().map(|(_, c)| c.trim_end()).collect();
    let mut after: Vec<&str> = again.comments.iter().map(|(_, c)| c.trim_end()).collect();
    before.sort_unstable();
    after.sort_unstable();
    if before != after {
        return Err(FmtError::Changed("a comment would be lost".into()));
    }
    Ok(out)
}

/// The syntax tree without its spans: two files with the same shape mean the same.
fn shape(file: &ast::File) -> String {
    let text = format!("{:?}", file.items);
    let re = regex::Regex::new(r"Span \{ file: FileId\(\d+\), start: \d+, end: \d+ \}")
        .expect("valid regex");
    re.replace_all(&text, "_").into_owned()
}
