//! `textDocument/codeAction`: quick fixes for the diagnostics the client sends back. A
//! diagnostic whose help reads ``did you mean `X`?`` (an unknown type, attribute, value,
//! class, variable or function with a close name) gets "Replace with `X`", which
//! replaces the diagnostic's range when that range is one word of the buffer.

use std::collections::HashMap;

use lsp_types::{CodeAction, CodeActionKind, Diagnostic, TextEdit, Uri, WorkspaceEdit};

use crate::source::SourceFile;

/// The quick fixes for `diagnostics` in the buffer `text` at `uri`.
pub(crate) fn quick_fixes(uri: &Uri, text: &str, diagnostics: &[Diagnostic]) -> Vec<CodeAction> {
    let file = SourceFile::new(String::new(), std::path::PathBuf::new(), text.to_string());
    let mut out = Vec::new();
    for d in diagnostics {
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
