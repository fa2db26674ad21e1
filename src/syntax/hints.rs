//! Hints on a syntax error from the text around it: where an unclosed string or bracket was
//! opened (a label), and quoting a bare word that has a space (`content = hello world`).

use super::depth::{self, Open};
use crate::diag::Diagnostic;
use crate::source::{FileId, Span};

/// Adds what the text tells about a syntax error at `pos` (with `message`), scanning from
/// `from` (a statement start, outside any string or bracket).
pub(super) fn annotate(
    diag: Diagnostic,
    file: FileId,
    text: &str,
    from: usize,
    pos: usize,
) -> Diagnostic {
    let diag = opened_here(diag, file, text, from, pos);
    bare_words(diag, text, pos)
}

/// A label at the innermost string or bracket still open at the error: for a string, when
/// the error is at the end of input (the string ran to it); for a bracket, at the end of
/// input or when the parser wanted its closing one on a later line than it was opened.
fn opened_here(diag: Diagnostic, file: FileId, text: &str, from: usize, pos: usize) -> Diagnostic {
    if let Some(d) = string_ran_on(&diag, file, text, from, pos) {
        return d;
    }
    let Some(&(open, at)) = depth::open_at(text, from, pos).last() else {
        return diag;
    };
    let at_end = text[pos.min(text.len())..].trim().is_empty();
    let (what, close, len) = match open {
        Open::Double => ("string", "\"", 1),
        Open::Single => ("string", "'", 1),
        Open::Triple => ("string", "\"\"\"", 3),
        Open::Paren => ("`(`", ")", 1),
        Open::Bracket => ("`[`", "]", 1),
        Open::Brace => ("`{`", "}", 1),
        Open::Interp => ("`${`", "}", 2),
    };
    let is_string = matches!(open, Open::Double | Open::Single | Open::Triple);
    let wanted = diag
        .message
        .split(", found")
        .next()
        .is_some_and(|expected| expected.contains(&format!("`{close}`")));
    let other_line = text[at..pos.min(text.len())].contains('\n');
    if !(at_end || (!is_string && wanted && other_line)) {
        return diag;
    }
    let diag = diag.with_label(Span::new(file, at, at + len), format!("{what} opened here"));
    if is_string {
        diag.with_help(format!("close the string with `{close}`"))
    } else {
        diag
    }
}

/// A `"` string left open closes at the next `"` (an opening one, lines further on), and
/// the error comes right after it: when the text before the error ends with a `"…"` string
/// that spans lines, label where it was opened.
fn string_ran_on(
    diag: &Diagnostic,
    file: FileId,
    text: &str,
    from: usize,
    pos: usize,
) -> Option<Diagnostic> {
    let quote = text[..pos.min(text.len())]
        .trim_end()
        .len()
        .checked_sub(1)?;
    if text.as_bytes()[quote] != b'"' || quote < from {
        return None;
    }
    let &(open, at) = depth::open_at(text, from, quote).last()?;
    if open != Open::Double || !text[at..quote].contains('\n') {
        return None;
    }
    Some(
        diag.clone()
            .with_label(Span::new(file, at, at + 1), "string opened here")
            .with_label(Span::new(file, quote, quote + 1), "string closed here")
            .with_help("a string left open ends at the next `\"`: close it where its text ends"),
    )
}

/// `content = hello world`: a bare word is one word, so the parser stops somewhere after
/// `hello`. When the value written after `=` (up to the end of the line, a `,`, a `}` or a
/// comment) is plain words with a space, the help quotes it.
fn bare_words(diag: Diagnostic, text: &str, pos: usize) -> Diagnostic {
    let mut pos = pos.min(text.len());
    let word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | '@');
    let mut line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    // In a block written one attribute a line, the parser stops at the next line's first
    // token (`}` or the next name): look at the line before, the whole of it.
    if line_start > 0 && text[line_start..pos].trim().is_empty() {
        pos = line_start - 1;
        line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    }
    let before = &text[line_start..pos];
    let Some(eq) = before.rfind('=') else {
        return diag;
    };
    // `==`, `!=`, `<=`, `>=` compare; `=>` and `=~` are no assignment either.
    if before[..eq].ends_with(['=', '!', '<', '>']) || before[eq + 1..].starts_with(['>', '~']) {
        return diag;
    }
    let name = before[..eq].trim_end();
    let name_start = name
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(0, |i| {
            i + name[i..].chars().next().map_or(1, char::len_utf8)
        });
    let name = &name[name_start..];
    let rest = &text[pos..];
    let end = pos + rest.find(['\n', ',', '}', '#']).unwrap_or(rest.len());
    let value = text[line_start + eq + 1..end].trim();
    let plain = value.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && value.contains(' ')
        && value.chars().all(|c| word(c) || c == ' ');
    if name.is_empty() || !plain {
        return diag;
    }
    diag.with_help(format!(
        "text with spaces needs quotes: `{name} = \"{value}\"`"
    ))
}

#[cfg(test)]
mod tests {
    use crate::source::FileId;

    /// The help and labels the first syntax error of `text` gets.
    fn hints(text: &str) -> (Option<String>, Vec<String>) {
        let (_, diags) = super::super::parse(FileId(0), text);
        let d = diags.into_iter().next().expect("a syntax error");
        (d.help, d.labels.into_iter().map(|l| l.message).collect())
    }

    #[test]
    fn quotes_bare_words_with_a_space() {
        let (help, _) = hints("file \"/a\" { content = hello world }\n");
        assert_eq!(
            help.as_deref(),
            Some("text with spaces needs quotes: `content = \"hello world\"`")
        );
        // Only plain words are quoted: a string after the word is something else.
        let (help, _) = hints("file \"/a\" { content = hello \"world\" }\n");
        assert_eq!(help, None);
    }

    #[test]
    fn quotes_bare_words_on_the_line_before_the_error() {
        // One attribute a line: the parser stops at the `}` (or the next name) below.
        for text in [
            "file \"/a\" {\n  content = hello world\n}\n",
            "file \"/a\" {\n  content = hello world\n  mode = \"0644\"\n}\n",
        ] {
            let (help, _) = hints(text);
            assert_eq!(
                help.as_deref(),
                Some("text with spaces needs quotes: `content = \"hello world\"`"),
                "{text}"
            );
        }
        // A line before that holds a proper value gets no hint.
        let (help, _) = hints("file \"/a\" {\n  content = \"hello\"\n  mode = \n}\n");
        assert_eq!(help, None);
    }

    #[test]
    fn odd_text_around_an_error_is_no_trouble() {
        for text in [
            "é= a b c",
            "file \"/a\" { x€= a b }",
            "file \"/a\" { €x = a b }",
            "x = \"\n\"é",
            "\"\"\"\n",
            "{ \"${ ",
            "= =",
            "a = 'x\n' y",
        ] {
            let _ = super::super::parse(FileId(0), text);
        }
        let (_, labels) = hints("{ \"${ ");
        assert_eq!(labels, ["`${` opened here"]);
    }
}
