//! `textDocument/references` and `textDocument/rename`: every place whose definition (as
//! go-to-definition finds it) is the same as the one under the cursor. Variables (their
//! `let`, parameter or loop binding, by scope), classes (`include`, `contain`,
//! `Class["…"]`), defines (declarations, defaults blocks, `Type["…"]` references) and
//! parameters (`$param` in the body, `include c(param = …)`, a define's attribute).
//!
//! The candidates are the whole-word occurrences of the name (any case, so `Vhost[…]`
//! counts for `vhost`) in every loaded file; each is kept only when
//! [`features::definition`] at it leads to the same place, so the scoping rules are those
//! of go-to-definition, in one place.

use super::features;
use crate::program::Program;
use crate::source::{FileId, Span};

/// The name's occurrences that mean the same thing as the one at `offset` of `file`, the
/// definition included, sorted by file and position. Empty when nothing there has a
/// definition.
pub(crate) fn references(program: &Program, file: FileId, offset: usize) -> Vec<Span> {
    let index = program.index();
    let Some(def) = features::definition_in(program, &index, file, offset) else {
        return Vec::new();
    };
    let text = &program.sources.get(file).text;
    let Some(word) = word_at(text, offset) else {
        return Vec::new();
    };
    let name = text[word.0..word.1].to_string();
    // A define: `Type["title"]` references name it too, though their definition is the
    // declaration of that title.
    let define = index
        .defines
        .iter()
        .find(|(_, d)| d.def.name.span == def)
        .map(|(k, _)| k.to_string());
    let names_define = |file: FileId, at: usize| {
        let Some(define) = &define else { return false };
        let Some(f) = program.files.iter().find(|f| f.id == file) else {
            return false;
        };
        matches!(
            super::locate::locate(&f.ast, at),
            Some(super::locate::Target::Ref { type_name, .. })
                if type_name.name.to_lowercase() == *define
        )
    };
    let mut out = Vec::new();
    for f in &program.files {
        let src = program.sources.get(f.id);
        if src.path.starts_with("<stdlib>") {
            continue;
        }
        for (start, end) in occurrences(&src.text, &name) {
            let inside_def =
                f.id == def.file && def.start as usize <= start && end <= def.end as usize;
            if inside_def
                || features::definition_in(program, &index, f.id, start) == Some(def)
                || names_define(f.id, start)
            {
                out.push(Span::new(f.id, start, end));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The edits of a rename to `new` (a `$` in front is dropped): each occurrence's name, with
/// a capitalised reference (`Vhost["x"]`) written capitalised. `Err` when `new` is not a
/// name or nothing at `offset` can be renamed.
pub(crate) fn rename(
    program: &Program,
    file: FileId,
    offset: usize,
    new: &str,
) -> Result<Vec<(Span, String)>, String> {
    let new = new.trim().trim_start_matches('$');
    let ok = !new.is_empty()
        && new.split("::").all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if !ok {
        return Err(format!(
            "`{new}` is not a name (lower-case letters, digits and `_`, parts joined by `::`)"
        ));
    }
    let spans = references(program, file, offset);
    if spans.is_empty() {
        return Err("nothing here can be renamed (no variable, class, define or parameter)".into());
    }
    Ok(spans
        .into_iter()
        .map(|s| {
            let text = &program.sources.get(s.file).text[s.start as usize..s.end as usize];
            let capital = text.starts_with(|c: char| c.is_ascii_uppercase());
            let replacement = if capital {
                new.split("::")
                    .map(capitalise)
                    .collect::<Vec<_>>()
                    .join("::")
            } else {
                new.to_string()
            };
            (s, replacement)
        })
        .collect())
}

fn capitalise(part: &str) -> String {
    let mut c = part.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Letters, digits, `_` and `::` make up a name.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// The byte range of the name around `offset` (without a leading `$`).
fn word_at(text: &str, offset: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let offset = offset.min(bytes.len());
    let mut start = offset;
    while start > 0 && is_name_byte(bytes[start - 1]) {
        start -= 1;
    }
    let mut end = offset;
    while end < bytes.len() && is_name_byte(bytes[end]) {
        end += 1;
    }
    // `::` at an edge is not part of the name (`$a::` …).
    while text[start..end].starts_with(':') {
        start += 1;
    }
    while text[start..end].ends_with(':') {
        end -= 1;
    }
    (start < end).then_some((start, end))
}

/// Every whole-word occurrence of `name` in `text`, any case.
fn occurrences(text: &str, name: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let lower = text.to_ascii_lowercase();
    let want = name.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&want) {
        let start = from + i;
        let end = start + want.len();
        let before = start == 0 || !is_name_byte(bytes[start - 1]) || bytes[start - 1] == b':';
        // `$port: Int` ends the name at its single `:`; `web::db` goes on.
        let after = end == bytes.len()
            || !is_name_byte(bytes[end])
            || (bytes[end] == b':' && bytes.get(end + 1) != Some(&b':'));
        // `a::b` is one name: an occurrence of `b` after `::` is not `b`.
        let qualified_before = start >= 2 && &text[start - 2..start] == "::";
        if before && after && !qualified_before {
            out.push((start, end));
        }
        from = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        let text = "$port $portal ${port} web::port Port[\"x\"] port port::x ($port: Int)";
        let found: Vec<&str> = occurrences(text, "port")
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect();
        assert_eq!(found, ["port", "port", "Port", "port", "port"]);
        assert_eq!(word_at("include web::db\n", 10), Some((8, 15)));
        assert_eq!(word_at("$domain;", 3), Some((1, 7)));
    }
}
