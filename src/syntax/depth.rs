//! A cheap pre-scan bounding bracket and string nesting before pest (which recurses) sees it.

/// The deepest nesting of brackets, strings and `${…}` accepted (a realistic manifest stays
/// well under 20).
pub(crate) const MAX_DEPTH: usize = 100;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Code: the top level, inside brackets, or inside `${…}`.
    Code,
    Double,
    Single,
    Triple,
}

/// The byte offset of the first opening bracket, quote or `${` that nests deeper than
/// [`MAX_DEPTH`], if any. Comments are skipped; strings are followed (with their escapes and
/// interpolations) so that brackets inside them do not count. Regex literals are not
/// recognised; a bracket inside one only makes the count conservative.
pub(crate) fn too_deep(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut stack: Vec<Mode> = Vec::with_capacity(16);
    let mut i = 0;
    while i < b.len() {
        let top = stack.last().copied().unwrap_or(Mode::Code);
        let opened = match top {
            Mode::Code => match b[i] {
                b'#' => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                    continue;
                }
                b'"' if b[i..].starts_with(b"\"\"\"") => {
                    stack.push(Mode::Triple);
                    i += 3;
                    true
                }
                b'"' => {
                    stack.push(Mode::Double);
                    i += 1;
                    true
                }
                b'\'' => {
                    stack.push(Mode::Single);
                    i += 1;
                    true
                }
                b'(' | b'[' | b'{' => {
                    stack.push(Mode::Code);
                    i += 1;
                    true
                }
                b')' | b']' | b'}' => {
                    if top == Mode::Code {
                        stack.pop();
                    }
                    i += 1;
                    false
                }
                _ => {
                    i += 1;
                    false
                }
            },
            Mode::Double | Mode::Triple | Mode::Single => {
                let close: &[u8] = match top {
                    Mode::Double => b"\"",
                    Mode::Triple => b"\"\"\"",
                    _ => b"'",
                };
                if b[i] == b'\\' {
                    i += 2;
                    false
                } else if b[i..].starts_with(close) {
                    stack.pop();
                    i += close.len();
                    false
                } else if top != Mode::Single && b[i..].starts_with(b"${") {
                    stack.push(Mode::Code);
                    i += 2;
                    true
                } else {
                    i += 1;
                    false
                }
            }
        };
        if opened && stack.len() > MAX_DEPTH {
            // The opener just consumed: back up to its first byte.
            let back = match stack.last() {
                Some(Mode::Triple) => 3,
                Some(Mode::Code) if i >= 2 && &b[i - 2..i] == b"${" => 2,
                _ => 1,
            };
            return Some(i - back);
        }
    }
    None
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
    fn follows_interpolation() {
        let nested = "\"${".repeat(MAX_DEPTH);
        assert_eq!(too_deep(&nested), Some(MAX_DEPTH / 2 * 3));
        assert_eq!(too_deep(r#""${ "${ "a" }" }""#), None);
    }
}
