//! A forgiving token scanner for `fleet fmt` and the language server: finds braces, strings,
//! comments and words in text that need not parse (half-typed buffers).
//!
//! It is not the parser: it never fails, it only knows enough to skip strings (with nested
//! interpolations), comments and regex literals so that bracket matching and "what is left of
//! the cursor" questions get the right answer.

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An identifier or qualified name (`file`, `nginx::vhost`, `File`).
    Ident,
    /// `$name` (the span includes `$`).
    Var,
    /// A string literal of any form, interpolations included.
    Str,
    Num,
    Regex,
    Comment,
    /// Punctuation: one of `{ } ( ) [ ] , : = => -> ~> == != =~ !~ <= >= ?? * + - / % < > ? . |`.
    Punct,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub(crate) fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }
}

const PUNCT2: &[&str] = &[
    "=>", "->", "~>", "==", "!=", "=~", "!~", "<=", ">=", "??", "::",
];

/// Every token of `src[from..to]` (`from` must be a token boundary). Unterminated strings and
/// comments run to the end of the text.
pub(crate) fn tokens(src: &str, from: usize, to: usize) -> Vec<Token> {
    Lexer::new(src, from, to).collect()
}

/// The tokens of `src[from..to]`, one at a time (callers that stop early pay only for what
/// they read).
pub(crate) struct Lexer<'a> {
    src: &'a str,
    i: usize,
    to: usize,
    /// The last token that was not a comment (decides whether `/` starts a regex).
    prev: Option<Token>,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str, from: usize, to: usize) -> Lexer<'a> {
        Lexer {
            src,
            i: from,
            to: to.min(src.len()),
            prev: None,
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let src = self.src;
        let bytes = src.as_bytes();
        while self.i < self.to && matches!(bytes[self.i], b' ' | b'\t' | b'\r' | b'\n') {
            self.i += 1;
        }
        if self.i >= self.to {
            return None;
        }
        let mut i = self.i;
        let start = i;
        let kind = match bytes[i] {
            b'#' => {
                i = line_end(src, i);
                Kind::Comment
            }
            b'"' => {
                i = skip_double(src, i);
                Kind::Str
            }
            b'\'' => {
                i = skip_single(src, i);
                Kind::Str
            }
            b'$' => {
                i = skip_name(src, i + 1);
                Kind::Var
            }
            b'/' if regex_allowed(src, self.prev) => {
                i = skip_regex(src, i);
                Kind::Regex
            }
            b'0'..=b'9' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Kind::Num
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                i = skip_name(src, i);
                Kind::Ident
            }
            _ => {
                let two = src.get(i..i + 2).unwrap_or("");
                if PUNCT2.contains(&two) {
                    i += 2;
                } else {
                    i += src[i..].chars().next().map_or(1, char::len_utf8);
                }
                Kind::Punct
            }
        };
        self.i = i.min(src.len());
        let t = Token {
            kind,
            start,
            end: self.i,
        };
        if kind != Kind::Comment {
            self.prev = Some(t);
        }
        Some(t)
    }
}

/// The offset of the `}`, `]` or `)` matching the opener at `open`, if any.
pub(crate) fn matching_close(src: &str, open: usize) -> Option<usize> {
    let toks = Lexer::new(src, open, src.len());
    let mut depth = 0usize;
    for t in toks {
        if t.kind != Kind::Punct {
            continue;
        }
        match t.text(src) {
            "{" | "[" | "(" => depth += 1,
            "}" | "]" | ")" => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(t.start);
                }
            }
            _ => {}
        }
    }
    None
}

/// The first `{` at bracket depth 0 at or after `from`, and its matching `}`.
pub(crate) fn next_block(src: &str, from: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for t in Lexer::new(src, from, src.len()) {
        if t.kind != Kind::Punct {
            continue;
        }
        match t.text(src) {
            "{" if depth == 0 => return Some((t.start, matching_close(src, t.start)?)),
            "{" | "[" | "(" => depth += 1,
            // The end of the enclosing block: there is no block to find.
            "}" if depth == 0 => return None,
            // Closers of brackets opened before `from` (a parameter list's `)`).
            "}" | "]" | ")" => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn line_end(src: &str, i: usize) -> usize {
    src[i..].find('\n').map_or(src.len(), |n| i + n)
}

fn skip_name(src: &str, mut i: usize) -> usize {
    let b = src.as_bytes();
    loop {
        let s = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i > s
            && src[i..].starts_with("::")
            && src[i + 2..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        {
            i += 2;
            continue;
        }
        return i;
    }
}

/// A `/` starts a regex unless it follows something that ends a value.
fn regex_allowed(src: &str, prev: Option<Token>) -> bool {
    let Some(prev) = prev else {
        return true;
    };
    match prev.kind {
        Kind::Punct => !matches!(prev.text(src), ")" | "]"),
        Kind::Ident => prev.text(src) == "node",
        _ => false,
    }
}

fn skip_regex(src: &str, mut i: usize) -> usize {
    let b = src.as_bytes();
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'/' => return i + 1,
            b'\n' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

fn skip_single(src: &str, mut i: usize) -> usize {
    let b = src.as_bytes();
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\'' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Skips `"…"` or `"""…"""` starting at `i`, interpolations included.
fn skip_double(src: &str, mut i: usize) -> usize {
    let b = src.as_bytes();
    let triple = src[i..].starts_with("\"\"\"");
    i += if triple { 3 } else { 1 };
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' if !triple => return i + 1,
            b'"' if src[i..].starts_with("\"\"\"") => return i + 3,
            b'$' if src[i..].starts_with("${") => i = skip_interp(src, i + 2),
            _ => i += 1,
        }
    }
    b.len()
}

/// Skips the inside of `${ … }` (from just after `{`), returning the offset after its `}`.
fn skip_interp(src: &str, mut i: usize) -> usize {
    let b = src.as_bytes();
    let mut depth = 1usize;
    while i < b.len() {
        match b[i] {
            b'"' => i = skip_double(src, i),
            b'\'' => i = skip_single(src, i),
            b'{' => {
                depth += 1;
                i += 1;
            }
            b'}' => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, &str)> {
        tokens(src, 0, src.len())
            .into_iter()
            .map(|t| (t.kind, t.text(src)))
            .collect()
    }

    #[test]
    fn strings_with_interpolation_and_braces_are_one_token() {
        let src = r#"x = "a ${join(["}"], "{")} b" # c }"#;
        let k = kinds(src);
        assert_eq!(k[2], (Kind::Str, r#""a ${join(["}"], "{")} b""#));
        assert_eq!(k[3], (Kind::Comment, "# c }"));
    }

    #[test]
    fn regex_versus_division() {
        assert_eq!(kinds("node /^a{2}$/ {")[1], (Kind::Regex, "/^a{2}$/"));
        assert_eq!(kinds("$a / 2")[1], (Kind::Punct, "/"));
        assert_eq!(kinds("$x =~ /}/")[2], (Kind::Regex, "/}/"));
    }

    #[test]
    fn blocks_match_across_triple_quotes_and_regexes() {
        let src = "class a { x = \"\"\"\n  }\n  \"\"\" case $x { /}/: { } } }";
        let (open, close) = next_block(src, 0).unwrap();
        assert_eq!(open, 8);
        assert_eq!(close, src.len() - 1);
        assert_eq!(
            kinds("nginx::vhost $a::b")[0],
            (Kind::Ident, "nginx::vhost")
        );
        assert_eq!(kinds("nginx::vhost $a::b")[1], (Kind::Var, "$a::b"));
    }
}
