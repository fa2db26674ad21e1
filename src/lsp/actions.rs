//! `textDocument/codeAction`: quick fixes for the diagnostics the client sends back. A
//! diagnostic whose help reads ``did you mean `X`?`` (an unknown type, attribute, value,
//! class, variable or function with a close name) gets "Replace with `X`", which
//! replaces the diagnostic's range when that range is one word of the buffer. A
//! `missing-attribute` for a class's or define's required parameter ("… needs a value for
//! `$port`") gets "Add `port = `": the parameter written into the declaration's body or
//! the `include`'s argument list, for the value to be typed after it.

use std::collections::HashMap;

use lsp_types::{CodeAction, CodeActionKind, Diagnostic, TextEdit, Uri, WorkspaceEdit};

use crate::source::SourceFile;

/// The quick fixes for `diagnostics` in the buffer `text` at `uri`.
pub(crate) fn quick_fixes(uri: &Uri, text: &str, diagnostics: &[Diagnostic]) -> Vec<CodeAction> {
    let file = SourceFile::new(String::new(), std::path::PathBuf::new(), text.to_string());
    let mut out = Vec::new();
    for d in diagnostics {
        if let Some(fix) = missing_parameter(uri, text, &file, d) {
            out.push(fix);
            continue;
        }
        let Some(suggestion) = suggestion(&d.message) else {
            continue;
        };
        let start = file.offset_of_lsp(d.range.start.line, d.range.start.character);
        let end = file.offset_of_lsp(d.range.end.line, d.range.end.character);
        let Some(current) = text.get(start..end) else {
            continue;
        };
        let word = current.trim_matches('"');
        if word.is_empty()
            || !word
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '$' | '-' | '.'))
        {
            continue;
        }
        // A quoted value keeps its quotes; `$x` keeps its `$`.
        let replacement = if current.starts_with('"') && current.ends_with('"') {
            format!("\"{suggestion}\"")
        } else if current.starts_with('$') && !suggestion.starts_with('$') {
            format!("${suggestion}")
        } else {
            suggestion.to_string()
        };
        let edit = TextEdit::new(d.range, replacement);
        out.push(CodeAction {
            title: format!("Replace with `{suggestion}`"),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![d.clone()]),
            edit: Some(WorkspaceEdit::new(HashMap::from([(
                uri.clone(),
                vec![edit],
            )]))),
            is_preferred: Some(true),
            ..Default::default()
        });
    }
    out
}

/// "Add `NAME = `" for a required parameter without a value: at the diagnostic's name (a
/// define's type in a declaration, a class after `include`), into the `{ … }` body or the
/// `( … )` arguments after it, or as new arguments.
fn missing_parameter(
    uri: &Uri,
    text: &str,
    file: &SourceFile,
    d: &Diagnostic,
) -> Option<CodeAction> {
    let is_missing = matches!(
        &d.code,
        Some(lsp_types::NumberOrString::String(c)) if c == "missing-attribute"
    );
    let name = d
        .message
        .split("needs a value for `$")
        .nth(1)?
        .split('`')
        .next()?;
    if !is_missing || name.is_empty() {
        return None;
    }
    let end = file.offset_of_lsp(d.range.end.line, d.range.end.character);
    let rest = text.get(end..)?;
    let class = d.message.starts_with("class ");
    // The opener that holds the values: `{` of a declaration (after its title), `(` of an
    // include's arguments (right after the name).
    let (insert_at, insert) = if class && !rest.trim_start().starts_with('(') {
        (end, format!("({name} = )"))
    } else {
        let opener = if class { '(' } else { '{' };
        let closer = if class { ')' } else { '}' };
        let open = end + rest.find(opener)?;
        let close = open + matching(text.get(open..)?, opener, closer)?;
        let inside = text.get(open + 1..close)?;
        let body = inside.trim_end();
        if body.trim().is_empty() {
            (open + 1, format!(" {name} = "))
        } else {
            let sep = if body.ends_with(',') { " " } else { ", " };
            (open + 1 + body.len(), format!("{sep}{name} = "))
        }
    };
    let insert = if text[insert_at..].starts_with([' ', '\n']) {
        insert.trim_end().to_string()
    } else {
        insert
    };
    let (line, character) = file.lsp_position(insert_at);
    let at = lsp_types::Position::new(line, character);
    let edit = TextEdit::new(lsp_types::Range::new(at, at), insert);
    Some(CodeAction {
        title: format!("Add `{name} = `"),
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![d.clone()]),
        edit: Some(WorkspaceEdit::new(HashMap::from([(
            uri.clone(),
            vec![edit],
        )]))),
        ..Default::default()
    })
}

/// The offset in `text` (which starts with `open`) of the `close` that matches it, strings
/// skipped.
fn matching(text: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            c if c == open => depth += 1,
            c if c == close => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `X` of a message's ``help: did you mean `X`?``.
fn suggestion(message: &str) -> Option<&str> {
    let rest = message.split("did you mean `").nth(1)?;
    let (name, tail) = rest.split_once('`')?;
    (tail.starts_with('?') && !name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::suggestion;

    #[test]
    fn the_suggestion_is_read_from_the_help() {
        assert_eq!(
            suggestion("unknown attribute `colour`\nhelp: did you mean `content`?"),
            Some("content")
        );
        assert_eq!(suggestion("help: did you mean Package[\"x\"]?"), None);
        assert_eq!(suggestion("no help"), None);
    }
}
