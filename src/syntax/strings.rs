//! String literal helpers: escape decoding and the dedent of triple-quoted strings.

/// Which quoting a literal piece came from; decides which escapes exist.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quote {
    /// `"…"` and `"""…"""`: `\\ \" \n \t \r \$ \u{…}`.
    Double,
    /// `'…'`: only `\\` and `\'`; any other backslash is literal.
    Single,
}

/// A bad escape: absolute byte offset of the backslash, its length and a message.
pub(crate) struct EscapeError {
    pub start: usize,
    pub end: usize,
    pub message: String,
}

/// Absolute byte ranges of a triple-quoted string's raw content that the dedent removes: the
/// first newline after the opening quotes, and the common leading indentation of every line
/// (the closing quotes' line included; blank lines do not count toward it).
/// `content` is the text between the quotes, starting at absolute offset `base`.
pub(crate) fn dedent_drops(content: &str, base: usize) -> Vec<(usize, usize)> {
    let mut drops = Vec::new();
    let mut start = 0;
    if content.starts_with("\r\n") {
        start = 2;
    } else if content.starts_with('\n') {
        start = 1;
    }
    if start > 0 {
        drops.push((base, base + start));
    }
    // (absolute line start, indentation length, counts toward the common indent)
    let mut lines: Vec<(usize, usize, bool)> = Vec::new();
    let body = &content[start..];
    let mut off = 0;
    loop {
        let end = body[off..].find('\n').map(|i| off + i);
        let line = &body[off..end.unwrap_or(body.len())];
        let indent = line
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t')
            .count();
        let blank = line[indent..].trim_end_matches('\r').is_empty();
        let last = end.is_none();
        lines.push((base + start + off, indent, last || !blank));
        match end {
            Some(e) => off = e + 1,
            None => break,
        }
    }
    let common = lines.iter().filter(|l| l.2).map(|l| l.1).min().unwrap_or(0);
    for (line_start, indent, _) in lines {
        let n = indent.min(common);
        if n > 0 {
            drops.push((line_start, line_start + n));
        }
    }
    drops
}

/// Decodes the escapes of a literal piece `raw` starting at absolute offset `base`, skipping the
/// bytes inside `drops` (sorted, absolute). Bad escapes are reported in `errors` and left out.
pub(crate) fn decode(
    raw: &str,
    base: usize,
    drops: &[(usize, usize)],
    quote: Quote,
    errors: &mut Vec<EscapeError>,
) -> String {
    let mut drop_i = drops.partition_point(|d| d.1 <= base);
    let no_drops = drops.get(drop_i).is_none_or(|d| d.0 >= base + raw.len());
    if no_drops && !raw.contains('\\') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let abs = base + i;
        while drop_i < drops.len() && drops[drop_i].1 <= abs {
            drop_i += 1;
        }
        if drop_i < drops.len() && drops[drop_i].0 <= abs {
            continue;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&(j, e)) = chars.peek() else {
            // A trailing backslash cannot happen in a well-formed literal; keep it.
            out.push('\\');
            continue;
        };
        match (quote, e) {
            (_, '\\') => out.push('\\'),
            (Quote::Single, '\'') => out.push('\''),
            (Quote::Single, _) => {
                out.push('\\');
                continue;
            }
            (Quote::Double, '"') => out.push('"'),
            (Quote::Double, 'n') => out.push('\n'),
            (Quote::Double, 't') => out.push('\t'),
            (Quote::Double, 'r') => out.push('\r'),
            (Quote::Double, '$') => out.push('$'),
            (Quote::Double, 'u') => {
                chars.next();
                let rest = &raw[j + 1..];
                match unicode_escape(rest) {
                    Some((ch, len)) => {
                        out.push(ch);
                        // Skip the `{…}` part.
                        while chars.peek().is_some_and(|&(k, _)| k < j + 1 + len) {
                            chars.next();
                        }
                    }
                    None => errors.push(EscapeError {
                        start: abs,
                        end: base + j + 1,
                        message: "invalid unicode escape: expected `\\u{` with 1 to 6 hex digits \
                                  naming a Unicode scalar value, then `}`"
                            .to_string(),
                    }),
                }
                continue;
            }
            (Quote::Double, other) => {
                errors.push(EscapeError {
                    start: abs,
                    end: base + j + other.len_utf8(),
                    message: format!("unknown escape `\\{}`", other.escape_debug()),
                });
            }
        }
        chars.next();
    }
    out
}

/// Parses `{1F600}` at the start of `s`: the char and the length consumed.
fn unicode_escape(s: &str) -> Option<(char, usize)> {
    let rest = s.strip_prefix('{')?;
    let close = rest.find('}')?;
    let hex = &rest[..close];
    if hex.is_empty() || hex.len() > 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let ch = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
    Some((ch, close + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(raw: &str, quote: Quote) -> (String, Vec<usize>) {
        let mut errors = Vec::new();
        let s = decode(raw, 0, &[], quote, &mut errors);
        (s, errors.iter().map(|e| e.start).collect())
    }

    #[test]
    fn double_quote_escapes() {
        assert_eq!(
            dec(r#"a\\b\"c\nd\te\rf\$g\u{1F600}h"#, Quote::Double),
            ("a\\b\"c\nd\te\rf$g😀h".to_string(), vec![])
        );
    }

    #[test]
    fn unknown_and_bad_unicode_escapes_are_reported_at_the_backslash() {
        assert_eq!(dec(r"ab\qc", Quote::Double).1, vec![2]);
        assert_eq!(dec(r"\u{110000}", Quote::Double).1, vec![0]);
        assert_eq!(dec(r"x\u{}", Quote::Double).1, vec![1]);
        assert_eq!(dec(r"x\u12", Quote::Double).1, vec![1]);
    }

    #[test]
    fn single_quote_escapes() {
        assert_eq!(
            dec(r"a\\b\'c\d", Quote::Single),
            ("a\\b'c\\d".to_string(), vec![])
        );
    }

    #[test]
    fn dedent_removes_first_newline_and_common_indent() {
        let content = "\n      Welcome\n        x\n\n      end\n      ";
        let drops = dedent_drops(content, 0);
        let mut errors = Vec::new();
        let s = decode(content, 0, &drops, Quote::Double, &mut errors);
        assert_eq!(s, "Welcome\n  x\n\nend\n");
    }

    #[test]
    fn dedent_counts_closing_line() {
        let content = "\n    a\n  ";
        let drops = dedent_drops(content, 0);
        let mut errors = Vec::new();
        assert_eq!(
            decode(content, 0, &drops, Quote::Double, &mut errors),
            "  a\n"
        );
    }
}
