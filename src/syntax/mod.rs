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
    if let Some(pos) = depth::too_deep(text) {
        let message = format!(
            "nesting too deep: more than {} levels of brackets, strings and interpolations",
            depth::MAX_DEPTH
        );
        let diag = Diagnostic::error("syntax", point(file, text, pos), message);
        return (ast::File::default(), vec![diag]);
    }
    if let Some(parsed) = parse_parallel(file, text) {
        return parsed;
    }
    parse_sequential(file, text, ast::File::default(), Vec::new())
}

/// Parses the whole file in one piece, resynchronising after each syntax error.
fn parse_sequential(
    file: FileId,
    text: &str,
    mut out: ast::File,
    mut diags: Vec<Diagnostic>,
) -> (ast::File, Vec<Diagnostic>) {
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

/// Files at least this large are parsed in pieces on several threads.
const PARALLEL_MIN_BYTES: usize = 256 * 1024;

/// The size of one piece of a large file.
const PIECE_BYTES: usize = 256 * 1024;

/// Parses a large file as several pieces at once, split at lines that look like the start of
/// a top-level statement (column 1, a letter or `_`, right after a line ending in `}`). Every
/// piece must parse to its end without error, or the result is discarded and the caller parses
/// the whole file in one piece: a split inside a construct leaves the piece before it
/// unfinished, which is a syntax error, so a wrong guess costs time, never meaning.
fn parse_parallel(file: FileId, text: &str) -> Option<(ast::File, Vec<Diagnostic>)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || text.len() < PARALLEL_MIN_BYTES {
        return None;
    }
    // Pieces of about PIECE_BYTES (at least one per thread): pest holds every token of a
    // piece until it is lowered, so small pieces keep that transient memory small.
    let pieces = (text.len() / PIECE_BYTES).max(threads);
    let mut bounds = vec![0];
    for k in 1..pieces {
        let from = (text.len() * k / pieces).max(*bounds.last().unwrap_or(&0));
        if let Some(at) = split_point(text, from) {
            if at > *bounds.last().unwrap_or(&0) {
                bounds.push(at);
            }
        }
    }
    if bounds.len() < 2 {
        return None;
    }
    bounds.push(text.len());
    let ranges: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    // Workers take pieces in order; each result lands in its piece's slot.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<lower::Chunk>>> =
        ranges.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..threads.min(ranges.len()) {
            let work = || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(start, end)) = ranges.get(i) else {
                    break;
                };
                if failed.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let chunk = lower::parse_chunk(file, &text[..end], start);
                if chunk.error.is_some() {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(chunk);
            };
            let spawned = std::thread::Builder::new()
                .stack_size(64 << 20)
                .spawn_scoped(s, work);
            if spawned.is_err() {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    if failed.into_inner() {
        return None;
    }
    let mut out = ast::File::default();
    let mut diags = Vec::new();
    for slot in slots {
        let chunk = slot.into_inner().unwrap_or_else(|e| e.into_inner())?;
        out.items.extend(chunk.items);
        out.comments.extend(chunk.comments);
        diags.extend(chunk.diags);
    }
    Some((out, diags))
}

/// The first line start at or after `from` where a top-level statement plausibly begins.
fn split_point(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        let nl = i + text[i..].find('\n')?;
        let start = nl + 1;
        let starts_word = bytes
            .get(start)
            .is_some_and(|b| b.is_ascii_lowercase() || *b == b'_');
        let before = text[..nl].trim_end();
        if starts_word && before.ends_with('}') {
            let word: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !matches!(word.as_str(), "else" | "and" | "or" | "in" | "not") {
                return Some(start);
            }
        }
        i = start;
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A large file with multi-line statements, strings whose lines end in `}` and start at
    /// column 1, comments and nested blocks: the parallel parse must equal the sequential one.
    #[test]
    fn parallel_parse_equals_sequential() {
        let mut text = String::new();
        let mut i = 0;
        while text.len() < 2 * PARALLEL_MIN_BYTES {
            text.push_str(&format!(
                "# resource {i}\nfile \"/srv/{i}\" {{\n  content = \"\"\"\n{{ x }}\nfile \"/not/a/statement\" {{ }}\n\"\"\"\n  mode = \"0644\"\n}}\n\
                 class c{i}($p: Int = {i}) {{\n  if $p > 1 {{ package \"p{i}\" {{ ensure = present }} }}\n}}\n\
                 else_like_{i} \"t\" {{ a = 1 }}\n"
            ));
            i += 1;
        }
        let file = FileId(0);
        let parallel = parse_parallel(file, &text).expect("splits and parses");
        let sequential = parse_sequential(file, &text, ast::File::default(), Vec::new());
        assert!(sequential.1.is_empty(), "{:?}", sequential.1.first());
        assert_eq!(format!("{:?}", parallel.0), format!("{:?}", sequential.0));
        assert_eq!(parallel.0.items.len(), 3 * i);
    }

    #[test]
    fn a_split_inside_a_construct_falls_back() {
        // One class spanning the whole file; its strings hold lines that look like top-level
        // statements after a line ending in `}`, so the split points are all inside it.
        let mut text = String::from("class big {\n");
        let mut i = 0;
        while text.len() < 2 * PARALLEL_MIN_BYTES {
            text.push_str(&format!(
                "  file \"/a{i}\" {{\n    content = \"\"\"\nx }}\nfile \"/not\" {{ }}\n\"\"\"\n  }}\n"
            ));
            i += 1;
        }
        text.push_str("}\n");
        assert!(split_point(&text, text.len() / 2).is_some());
        let (ast, diags) = parse(FileId(0), &text);
        assert!(diags.is_empty(), "{:?}", diags.first());
        assert_eq!(ast.items.len(), 1);
    }
}
