//! Text -> AST. The only module that knows pest (`Pair<Rule>` appears only in `lower.rs`).
//!
//! `parse` first bounds the nesting depth (`depth`), then runs pest over the file. After a
//! syntax error it keeps the statements before it, resynchronises at the next line that starts
//! a statement at column 1, and parses on, so that one run reports several errors.

pub mod ast;
mod depth;
mod expected;
mod lower;
mod strings;

use crate::diag::Diagnostic;
use crate::source::{FileId, Span};

/// At most this many syntax errors are reported per file.
const MAX_SYNTAX_ERRORS: usize = 50;

/// Parses one file. Returns the AST of everything that parsed (statements that failed are
/// left out) and the `syntax` diagnostics (with recovery: several per file where possible).
/// Never panics, whatever the input; deeply nested input yields a `syntax` diagnostic.
pub fn parse(file: FileId, text: &str) -> (ast::File, Vec<Diagnostic>) {
    let mut out = ast::File::default();
    let mut diags = Vec::new();
    if let Some(pos) = depth::too_deep(text) {
        let message = format!(
            "nesting too deep: more than {} levels of brackets, strings and interpolations",
            depth::MAX_DEPTH
        );
        diags.push(Diagnostic::error("syntax", point(file, text, pos), message));
        return (out, diags);
    }
    let mut offset = 0;
    let mut errors = 0;
    loop {
        let chunk = lower::parse_chunk(file, text, offset);
        out.items.extend(chunk.items);
        out.comments.extend(chunk.comments);
        diags.extend(chunk.diags);
        let Some(err) = chunk.error else { break };
        diags.push(Diagnostic::error(
            "syntax",
            point(file, text, err.pos),
            err.message,
        ));
        errors += 1;
        if errors >= MAX_SYNTAX_ERRORS {
            break;
        }
        match resync(text, err.pos) {
            Some(next) => offset = next,
            None => break,
        }
    }
    (out, diags)
}

/// The span of the character at `pos` (empty at the end of input).
fn point(file: FileId, text: &str, pos: usize) -> Span {
    let pos = pos.min(text.len());
    let len = text[pos..].chars().next().map_or(0, char::len_utf8);
    Span::new(file, pos, pos + len)
}

/// The start of the first line after `pos` that begins, at column 1, with something that can
/// start a statement (a letter, `_`, `$` or `[`).
fn resync(text: &str, pos: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = pos;
    while i < bytes.len() {
        let nl = i + text[i..].find('\n')?;
        let start = nl + 1;
        match bytes.get(start) {
            Some(b) if b.is_ascii_alphabetic() || matches!(b, b'_' | b'$' | b'[') => {
                return Some(start)
            }
            Some(_) => i = start,
            None => return None,
        }
    }
    None
}
