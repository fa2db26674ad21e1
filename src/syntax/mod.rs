//! Text -> AST. The only module that knows pest (`Pair<Rule>` appears only in `lower.rs`).
//!
//! `parse` first bounds the nesting depth (`depth`), then parses the file: with the
//! hand-written parser (`fast`) where it is sure, else with pest (`lower`). After a
//! syntax error it keeps the statements before it, resynchronises at the next line that starts
//! a statement at column 1, and parses on, so that one run reports several errors.

pub mod ast;
mod depth;
mod expected;
mod fast;
mod grammar;
mod hints;
mod lower;
mod strings;
pub(crate) mod visit;

use crate::diag::{Code, Diagnostic};
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
        let diag = Diagnostic::error(Code::Syntax, point(file, text, pos), message);
        return (ast::File::default(), vec![diag]);
    }
    if let Some(parsed) = parse_parallel(file, text) {
        return parsed;
    }
    parse_sequential(file, text, ast::File::default(), Vec::new())
}

/// The statements of `text[offset..]` (inside a top-level block when `in_block`): from the
/// hand-written parser when it is sure of them, else from pest and lowering, which also find
/// the diagnostics.
fn chunk(file: FileId, text: &str, offset: usize, in_block: bool) -> lower::Chunk {
    fast::parse(file, text, offset, in_block)
        .unwrap_or_else(|| lower::pest_statements(file, text, offset, in_block))
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
        let chunk = chunk(file, text, offset, false);
        out.items.extend(chunk.items);
        out.comments.extend(chunk.comments);
        diags.extend(chunk.diags);
        let Some(err) = chunk.error else { break };
        let diag = Diagnostic::error(Code::Syntax, point(file, text, err.pos), err.message);
        diags.push(hints::annotate(diag, file, text, offset, err.pos));
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

/// Files at least this large are parsed in pieces on several threads (pest takes about a
/// millisecond per 3 KiB here; a thread costs tens of microseconds).
const PARALLEL_MIN_BYTES: usize = 32 * 1024;

/// The stack of a thread that parses a piece.
const PIECE_STACK: usize = 64 << 20;

/// The size of one piece of a large file.
const PIECE_BYTES: usize = 64 * 1024;

/// Parses a large file as several pieces at once, split at lines that look like the start of
/// a top-level statement (column 1, a letter or `_`, right after a line ending in `}`). Every
/// piece must parse to its end without error, or the result is discarded and the caller parses
/// the whole file in one piece: a split inside a construct leaves the piece before it
/// unfinished, which is a syntax error, so a wrong guess costs time, never meaning.
///
/// When one `node`, `class` or `define` holds most of the file (a site's big node block), the
/// statements inside its braces are split the same way instead (see [`parse_big_block`]).
fn parse_parallel(file: FileId, text: &str) -> Option<(ast::File, Vec<Diagnostic>)> {
    let threads = crate::par::cores().min(8);
    if threads < 2 || text.len() < PARALLEL_MIN_BYTES {
        return None;
    }
    if let Some(parsed) = parse_big_block(file, text, threads) {
        return Some(parsed);
    }
    // Pieces of about PIECE_BYTES (at least one per thread): pest holds every token of a
    // piece until it is lowered, so small pieces keep that transient memory small.
    let ranges = pieces(text, 0, text.len(), threads, split_point)?;
    let chunks = crate::par::map(threads, PIECE_STACK, &ranges, |&(start, end)| {
        let chunk = chunk(file, &text[..end], start, false);
        chunk.error.is_none().then_some(chunk)
    })?;
    let mut out = ast::File::default();
    // The statements are kept for the whole run: a vector of exactly their number.
    out.items
        .reserve_exact(chunks.iter().map(|chunk| chunk.items.len()).sum());
    let mut diags = Vec::new();
    for chunk in chunks {
        out.items.extend(chunk.items);
        out.comments.extend(chunk.comments);
        diags.extend(chunk.diags);
    }
    Some((out, diags))
}

/// `[from, to)` cut into about `PIECE_BYTES` pieces (at least `threads`, a multiple of them)
/// at the split points `split` finds; None when there is no cut.
fn pieces(
    text: &str,
    from: usize,
    to: usize,
    threads: usize,
    split: impl Fn(&str, usize) -> Option<usize>,
) -> Option<Vec<(usize, usize)>> {
    let len = to - from;
    // A multiple of the threads, so that they finish together (3 pieces on 2 threads left
    // one thread two thirds of the work).
    let count = (len / PIECE_BYTES).max(threads).div_ceil(threads) * threads;
    let mut bounds = vec![from];
    for k in 1..count {
        let at_least = (from + len * k / count).max(*bounds.last().unwrap_or(&from));
        if let Some(at) = split(&text[..to], at_least) {
            if at > *bounds.last().unwrap_or(&from) && at < to {
                bounds.push(at);
            }
        }
    }
    if bounds.len() < 2 {
        return None;
    }
    bounds.push(to);
    Some(bounds.windows(2).map(|w| (w[0], w[1])).collect())
}

/// When one top-level `node`, `class` or `define` written as `… {` / statements / `}` holds
/// more than half of the file, parses its statements in pieces (split like top-level ones, at
/// the indentation of its first statement) beside the rest of the file (with the block's
/// inside blanked out, so every offset stays), and puts them in as the block's body. Any
/// syntax error anywhere: None, and the caller parses the file in one piece.
fn parse_big_block(
    file: FileId,
    text: &str,
    threads: usize,
) -> Option<(ast::File, Vec<Diagnostic>)> {
    // The largest top-level statement, by the split points.
    let mut starts = vec![0];
    while let Some(next) = split_point(text, *starts.last().unwrap_or(&0)) {
        starts.push(next);
    }
    starts.push(text.len());
    let (s, e) = starts
        .windows(2)
        .map(|w| (w[0], w[1]))
        .max_by_key(|(a, b)| b - a)?;
    if (e - s) * 2 < text.len() {
        return None;
    }
    // Its block: the header line ends in `{`, the last non-blank line is `}`.
    let stmt = &text[s..e];
    // Past the comment lines that go with it.
    let mut lead = stmt.len() - stmt.trim_start().len();
    while stmt[lead..].starts_with('#') {
        lead += stmt[lead..].find('\n')? + 1;
        lead += stmt[lead..].len() - stmt[lead..].trim_start().len();
    }
    let header_end = s + lead + stmt[lead..].find('\n')?;
    let header = text[s + lead..header_end].trim_end();
    let keyword = header.split([' ', '\t']).next().unwrap_or("");
    if !header.ends_with('{') || !matches!(keyword, "node" | "class" | "define") {
        return None;
    }
    let body_end = s + stmt.trim_end().len();
    let close = text[..body_end].rfind('\n')? + 1;
    if text[close..body_end].trim() != "}" || close <= header_end + 1 {
        return None;
    }
    let (inner_from, inner_to) = (header_end + 1, close);
    // The indentation of the first statement inside.
    let first = text[inner_from..inner_to]
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))?;
    lead = first.len() - first.trim_start().len();
    let indent = &first[..lead];
    let ranges = pieces(text, inner_from, inner_to, threads, |t, from| {
        split_point_indented(t, from, indent)
    })?;
    // The file with the block's inside blanked (newlines kept): offsets and lines stay.
    // Every byte of the inside becomes a space (each byte of a multi-byte character too), so
    // the text stays UTF-8 and the same length.
    let mut bytes = text.as_bytes().to_vec();
    for b in &mut bytes[inner_from..inner_to] {
        if *b != b'\n' {
            *b = b' ';
        }
    }
    let outer = String::from_utf8(bytes).ok()?;
    enum Job {
        Outer,
        Inner(usize, usize),
    }
    let mut jobs = vec![Job::Outer];
    jobs.extend(ranges.iter().map(|&(a, b)| Job::Inner(a, b)));
    let results = crate::par::map(threads, PIECE_STACK, &jobs, |job| match job {
        Job::Outer => {
            let (ast, diags) = parse_sequential(file, &outer, ast::File::default(), Vec::new());
            (!diags.iter().any(|d| d.code == Code::Syntax)).then_some((ast, diags))
        }
        Job::Inner(a, b) => {
            let chunk = chunk(file, &text[..*b], *a, true);
            let ast = ast::File {
                items: chunk.items,
                comments: chunk.comments,
            };
            chunk.error.is_none().then_some((ast, chunk.diags))
        }
    })?;
    let mut results = results.into_iter();
    let (mut out, mut diags) = results.next()?;
    // The block's statements are kept for the whole run: a vector of exactly their number.
    let pieces_len = results.as_slice().iter().map(|(p, _)| p.items.len()).sum();
    let mut body = Vec::with_capacity(pieces_len);
    for (piece, piece_diags) in results {
        body.extend(piece.items);
        out.comments.extend(piece.comments);
        diags.extend(piece_diags);
    }
    out.comments.sort_by_key(|(span, _)| span.start);
    // The block whose inside was blanked parsed with an empty body: this is its body.
    let holder = out
        .items
        .iter_mut()
        .find(|st| (st.span.start as usize) <= inner_from && inner_to <= st.span.end as usize)?;
    let slot = match &mut holder.kind {
        ast::StmtKind::Node(n) => &mut n.body,
        ast::StmtKind::Class(c) => &mut c.body,
        ast::StmtKind::Define(d) => &mut d.body,
        _ => return None,
    };
    if !slot.is_empty() {
        return None;
    }
    *slot = body;
    Some((out, diags))
}

/// Like [`split_point`], for statements inside a block: lines that start with `indent` and
/// then a letter or `_`, after a line ending in `}`.
fn split_point_indented(text: &str, from: usize, indent: &str) -> Option<usize> {
    let mut i = from;
    loop {
        let start = i + text[i..].find('\n')? + 1;
        let line = &text[start..];
        if let Some(rest) = line.strip_prefix(indent) {
            let starts_word = rest
                .as_bytes()
                .first()
                .is_some_and(|b| b.is_ascii_lowercase() || *b == b'_');
            if starts_word && text[..start - 1].trim_end().ends_with('}') {
                let word: &str = rest
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("");
                if !matches!(word, "else" | "and" | "or" | "in" | "not") {
                    return Some(start);
                }
            }
        }
        i = start;
    }
}

/// The first line start at or after `from` where a top-level statement plausibly begins: a
/// line starting (column 1) with a letter or `_` right after a line ending in `}`, or the
/// first of the comment lines (`#` at column 1, blank lines between them) that lead to such a
/// line, so that a statement's comment goes with it.
fn split_point(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        let nl = i + memchr_newline(&bytes[i..])?;
        let start = nl + 1;
        i = start;
        let &first = bytes.get(start)?;
        if !(first.is_ascii_lowercase() || first == b'_' || first == b'#') {
            continue;
        }
        if !text[..nl].trim_end().ends_with('}') {
            continue;
        }
        // Past the comment and blank lines, to the line that must start the statement.
        let mut line = start;
        while bytes.get(line) == Some(&b'#') || bytes.get(line) == Some(&b'\n') {
            match memchr_newline(&bytes[line..]) {
                Some(n) => line += n + 1,
                None => return None,
            }
        }
        if starts_statement(&text[line..]) {
            return Some(start);
        }
    }
    None
}

/// Whether `rest` starts with a word that can begin a top-level statement: a letter or `_`,
/// and not a word that continues the statement before (`else`, an operator).
fn starts_statement(rest: &str) -> bool {
    let bytes = rest.as_bytes();
    if !bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || *b == b'_')
    {
        return false;
    }
    let len = bytes
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
        .unwrap_or(bytes.len());
    !matches!(&rest[..len], "else" | "and" | "or" | "in" | "not")
}

/// The offset of the first `\n` in `bytes`.
fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
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

    /// Statements with comment lines (and blank lines) between them and the `}` before: the
    /// file is cut at the first comment line, the comment goes with the statement after it,
    /// and the result equals the sequential parse. A `#` line inside a string right after a
    /// `}` line is not a cut that holds: that piece fails, and the whole file is parsed in one.
    #[test]
    fn a_file_of_commented_classes_is_split_before_the_comments() {
        let mut text = String::from("# header\nlet $root = \"/srv\"\n");
        let mut i = 0;
        while text.len() < 2 * PARALLEL_MIN_BYTES {
            text.push_str(&format!(
                "\n# svc{i}: one class\n#\n\n# more about it\nclass svc{i}($p: Int = {i}) {{\n  \
                 file \"/srv/{i}\" {{ mode = \"0644\" }}\n}}\n"
            ));
            i += 1;
        }
        let first_class = text.find("class svc0").expect("class");
        let cut = split_point(&text, first_class).expect("a cut");
        assert_eq!(
            &text[cut..cut + 6],
            "# svc1",
            "cut at the first comment line"
        );
        let file = FileId(0);
        let parallel = parse_parallel(file, &text).expect("splits and parses");
        let sequential = parse_sequential(file, &text, ast::File::default(), Vec::new());
        assert!(sequential.1.is_empty(), "{:?}", sequential.1.first());
        assert_eq!(format!("{:?}", parallel.0), format!("{:?}", sequential.0));
        assert_eq!(parallel.0.items.len(), 1 + i);
        assert_eq!(parallel.0.comments.len(), 1 + 3 * i);

        // The same with, once in the middle, a string whose lines look like a comment and a
        // statement after a `}` line.
        let middle = text[text.len() / 2..].find("  file").expect("a file") + text.len() / 2;
        let mut trap = text.clone();
        trap.insert_str(
            middle,
            "  let $s = \"\"\"\n}\n# not a comment\nfile \"/x\" { }\n\"\"\"\n",
        );
        let cut = split_point(&trap, middle).expect("a cut");
        assert!(
            trap[cut..].starts_with("# not a comment"),
            "the cut is in the string"
        );
        assert!(lower::pest_statements(file, &trap[..cut], 0, false)
            .error
            .is_some());
        let (ast, diags) = parse(file, &trap);
        let sequential = parse_sequential(file, &trap, ast::File::default(), Vec::new());
        assert!(diags.is_empty(), "{:?}", diags.first());
        assert_eq!(format!("{:?}", ast), format!("{:?}", sequential.0));
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
        let sequential = parse_sequential(FileId(0), &text, ast::File::default(), Vec::new());
        assert_eq!(format!("{:?}", ast), format!("{:?}", sequential.0));
    }

    /// A site whose node block is most of the file: its statements are parsed in pieces, and
    /// the result (statements, comments, spans) equals the sequential parse. Strings inside
    /// hold lines that look like statements at the block's indentation after a `}` line.
    #[test]
    fn a_big_node_block_is_parsed_in_pieces() {
        let mut text = String::from("# site\nlet $root = \"/srv\"\n\nclass base {\n  file \"/a\" { }\n}\n\nnode \"web01\", \"web02\" {\n  include base\n");
        let mut i = 0;
        while text.len() < 2 * PARALLEL_MIN_BYTES {
            // Once, near the start (far from where the pieces are cut), a string whose lines
            // look like a statement after a `}` line.
            let trap = if i == 3 {
                "  x }\n  file \"/not/a/statement\" { }\n"
            } else {
                "text\n"
            };
            text.push_str(&format!(
                "  # app {i}\n  file \"${{root}}/{i}\" {{\n    content = \"\"\"\n{trap}\"\"\"\n    mode = \"0644\"\n  }}\n{}{}",
                format_args!("  if $root == \"/srv\" {{\n    package \"p{i}\" {{ ensure = present }}\n  }} else {{\n    package \"q{i}\" {{ }}\n  }}\n"),
                format_args!("  File[\"${{root}}/{i}\"] -> Package[\"p{i}\"]\n"),
            ));
            i += 1;
        }
        text.push_str("}\n\nnode default {\n}\n");
        let file = FileId(0);
        let threads = 2;
        let parallel = parse_big_block(file, &text, threads).expect("splits and parses");
        let sequential = parse_sequential(file, &text, ast::File::default(), Vec::new());
        assert!(sequential.1.is_empty(), "{:?}", sequential.1.first());
        assert_eq!(format!("{:?}", parallel.0), format!("{:?}", sequential.0));
        let ast::StmtKind::Node(node) = &parallel.0.items[2].kind else {
            panic!("the node block is the third statement");
        };
        assert_eq!(node.body.len(), 1 + 3 * i);
        assert_eq!(parallel.0.comments.len(), 1 + i);
    }

    /// A syntax error inside the big block: the parallel parse gives up, and `parse` reports
    /// it as the sequential parse does.
    #[test]
    fn a_syntax_error_in_a_big_block_falls_back() {
        let mut text = String::from("node \"web01\" {\n");
        let mut i = 0;
        while text.len() < 2 * PARALLEL_MIN_BYTES {
            text.push_str(&format!("  file \"/srv/{i}\" {{ mode = \"0644\" }}\n"));
            i += 1;
            if i == 1000 {
                text.push_str("  file \"/broken\" { mode = }\n");
            }
        }
        text.push_str("}\n");
        assert!(parse_big_block(FileId(0), &text, 2).is_none());
        let (_, diags) = parse(FileId(0), &text);
        let sequential = parse_sequential(FileId(0), &text, ast::File::default(), Vec::new());
        assert_eq!(format!("{:?}", diags), format!("{:?}", sequential.1));
        assert!(diags.iter().any(|d| d.code == Code::Syntax));
    }
}
