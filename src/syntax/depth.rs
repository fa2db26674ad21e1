//! A cheap pre-scan bounding bracket and string nesting before pest (which recurses) sees it;
//! the same scan tells a syntax error what was left open (`hints.rs`).

/// The deepest nesting of brackets, strings and `${…}` accepted (a realistic manifest stays
/// well under 20).
pub(crate) const MAX_DEPTH: usize = 100;

/// Something open at a point of the text: a bracket, a `${` or a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Open {
    Paren,
    Bracket,
    Brace,
    /// `${` inside a string.
    Interp,
    Double,
    Single,
    Triple,
}

impl Open {
    /// Whether code (not string text) follows it.
    fn is_code(self) -> bool {
        matches!(
            self,
            Open::Paren | Open::Bracket | Open::Brace | Open::Interp
        )
    }
}

/// The byte offset of the first opening bracket, quote or `${` that nests deeper than
/// [`MAX_DEPTH`], if any. Comments are skipped; strings are followed (with their escapes and
/// interpolations) so that brackets inside them do not count. Regex literals are not
/// recognised; a bracket inside one only makes the count conservative.
pub(crate) fn too_deep(text: &str) -> Option<usize> {
    let mut at = None;
    walk(text, 0, text.len(), |stack| {
        if stack.len() > MAX_DEPTH {
            at = stack.last().map(|&(_, pos)| pos);
        }
        at.is_some()
    });
    at
}

/// What is still open at `to`, scanning from `from` (a point outside any string or
/// bracket): each opener with the offset of its first byte, outermost first.
pub(crate) fn open_at(text: &str, from: usize, to: usize) -> Vec<(Open, usize)> {
    walk(text, from, to, |_| false)
}

/// Walks `text[from..to]` keeping the stack of what is open (as [`too_deep`] describes), and
/// calls `opened` with the stack after each opening; stops early when it returns true.
/// Returns the stack where it stopped.
fn walk(
    text: &str,
    from: usize,
    to: usize,
    mut opened: impl FnMut(&[(Open, usize)]) -> bool,
) -> Vec<(Open, usize)> {
    let b = &text.as_bytes()[..to.min(text.len())];
    let mut stack: Vec<(Open, usize)> = Vec::with_capacity(16);
    let mut i = from;
    while i < b.len() {
        let top = stack.last().map_or(Open::Brace, |&(o, _)| o);
        let start = i;
        let open = if top.is_code() {
            match b[i] {
                b'#' => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                    continue;
                }
                b'"' if b[i..].starts_with(b"\"\"\"") => {
                    i += 3;
                    Some(Open::Triple)
                }
                b'"' => {
                    i += 1;
                    Some(Open::Double)
                }
                b'\'' => {
                    i += 1;
                    Some(Open::Single)
                }
                b'(' | b'[' | b'{' => {
                    i += 1;
                    Some(match b[start] {
                        b'(' => Open::Paren,
                        b'[' => Open::Bracket,
                        _ => Open::Brace,
                    })
                }
                b')' | b']' | b'}' => {
                    stack.pop();
                    i += 1;
                    None
                }
                _ => {
                    i += 1;
                    None
                }
            }
        } else {
            let close: &[u8] = match top {
                Open::Double => b"\"",
                Open::Triple => b"\"\"\"",
                _ => b"'",
            };
            if b[i] == b'\\' {
                i += 2;
                None
            } else if b[i..].starts_with(close) {
                stack.pop();
                i += close.len();
                None
            } else if top != Open::Single && b[i..].starts_with(b"${") {
                i += 2;
                Some(Open::Interp)
            } else {
                i += 1;
                None
            }
        };
        if let Some(o) = open {
            stack.push((o, start));
            if opened(&stack) {
                break;
            }
        }
    }
    stack
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_brackets_outside_strings_and_comments() {
        assert_eq!(too_deep("[[[ ]]]"), None);
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(too_deep(&deep), Some(MAX_DEPTH));
        let quoted = format!("\"{}\" # {}", "[".repeat(500), "(".repeat(500));
        assert_eq!(too_deep(&quoted), None);
    }

    #[test]
    fn tells_what_is_open_and_where() {
        let text = "f { a = [\"x\", \"${ (y";
        assert_eq!(
            open_at(text, 0, text.len()),
            [
                (Open::Brace, 2),
                (Open::Bracket, 8),
                (Open::Double, 14),
                (Open::Interp, 15),
                (Open::Paren, 18)
            ]
        );
        // Closed again, and inside a comment: nothing open.
        assert_eq!(open_at("{ [ ] } # {", 0, 11), []);
    }

    #[test]
    fn follows_interpolation() {
        let nested = "\"${".repeat(MAX_DEPTH);
        assert_eq!(too_deep(&nested), Some(MAX_DEPTH / 2 * 3));
        assert_eq!(too_deep(r#""${ "${ "a" }" }""#), None);
    }
}
