//! The autosign policy of a server given the CA key (`fleet serve --ca-key … --autosign
//! FILE`): which certificate requests it signs at once instead of queueing them.
//!
//! One rule per line; `#` starts a comment, blank lines are skipped:
//!
//! - `web01.example.net`: that node name;
//! - `web*.example.net`: a glob, where `*` stands for any run of characters within one
//!   label (never a dot) and `?` for one such character;
//! - `token:SECRET`: a request that carries the enrolment token SECRET (made by `fleet ca
//!   token NAME`); `token:SECRET NAME`, as `fleet ca tokens` writes it, also requires the
//!   request to be for NAME.
//!
//! [`Policy::matches`] is pure: a token's one-time use is the server's to enforce (its shared
//! store records spent tokens), and the CA directory spends a node's tokens when it records
//! a certificate for it.

use super::error::Error;
use super::name::check_node_name;

/// One rule of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    /// An exact node name.
    Name(String),
    /// A glob over node names.
    Glob(String),
    /// An enrolment token, for any node or for one.
    Token {
        secret: String,
        node: Option<String>,
    },
}

/// A parsed autosign file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    rules: Vec<(usize, Rule)>,
}

/// Why a request was signed: the rule that matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Grant {
    /// An exact name or a glob, on this line (1-based).
    Name {
        /// The line of the rule.
        line: usize,
    },
    /// The token on this line: the caller spends it.
    Token {
        /// The line of the rule.
        line: usize,
        /// The token's secret.
        secret: String,
    },
}

impl Policy {
    /// Parses an autosign file's text; every bad line is reported (`LINE: why`), none
    /// ignored.
    pub(crate) fn parse(text: &str) -> Result<Policy, Error> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            match parse_rule(line) {
                Ok(rule) => rules.push((i + 1, rule)),
                Err(why) => errors.push(format!("line {}: {why}", i + 1)),
            }
        }
        if errors.is_empty() {
            Ok(Policy { rules })
        } else {
            Err(Error::invalid(format!(
                "autosign file: {}",
                errors.join("; ")
            )))
        }
    }

    /// The first rule that lets the request of `node` (carrying enrolment token `token`, if
    /// any) be signed at once; `None`: queue it.
    pub(crate) fn matches(&self, node: &str, token: Option<&str>) -> Option<Grant> {
        if check_node_name(node).is_err() {
            return None;
        }
        self.rules.iter().find_map(|(line, rule)| {
            let line = *line;
            match rule {
                Rule::Name(n) => (n == node).then_some(Grant::Name { line }),
                Rule::Glob(g) => {
                    glob(g.as_bytes(), node.as_bytes()).then_some(Grant::Name { line })
                }
                Rule::Token {
                    secret,
                    node: for_node,
                } => {
                    let given = token?;
                    let same = same_secret(secret.as_bytes(), given.as_bytes());
                    let node_ok = for_node.as_deref().is_none_or(|n| n == node);
                    (same && node_ok).then(|| Grant::Token {
                        line,
                        secret: secret.clone(),
                    })
                }
            }
        })
    }

    /// `true` when the file has no rule (every request is queued).
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// One non-empty, comment-free line.
fn parse_rule(line: &str) -> Result<Rule, String> {
    if let Some(rest) = line.strip_prefix("token:") {
        let mut words = rest.split_whitespace();
        let secret = words.next().unwrap_or("");
        if secret.len() < 16
            || !secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err("a token is at least 16 letters, digits, '-' or '_'".into());
        }
        let node = match words.next() {
            Some(n) => {
                check_node_name(n)?;
                Some(n.to_string())
            }
            None => None,
        };
        if words.next().is_some() {
            return Err("a token line is `token:SECRET` or `token:SECRET NODE`".into());
        }
        return Ok(Rule::Token {
            secret: secret.to_string(),
            node,
        });
    }
    if line.split_whitespace().count() > 1 {
        return Err(format!(
            "one name or glob per line, not '{}'",
            line.escape_debug()
        ));
    }
    if line.contains(['*', '?']) {
        let probe = line.replace(['*', '?'], "a");
        check_node_name(&probe)
            .map_err(|_| format!("'{}' is not a glob of node names", line.escape_debug()))?;
        return Ok(Rule::Glob(line.to_string()));
    }
    check_node_name(line)?;
    Ok(Rule::Name(line.to_string()))
}

/// Does `pattern` (`*`: any run of non-dot bytes, `?`: one non-dot byte) match all of
/// `name`? Iterative, with one backtrack point, so linear in practice.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(b'?') if name[n] != b'.' => {
                p += 1;
                n += 1;
            }
            Some(c) if *c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                // Let the last star take one more byte, unless that byte is a dot.
                Some((sp, sn)) if name[sn] != b'.' => {
                    star = Some((sp, sn + 1));
                    p = sp + 1;
                    n = sn + 1;
                }
                _ => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn policy() -> Policy {
        Policy::parse(&format!(
            "# autosign\n\nweb01.example.net\nweb*.example.net   # the web tier\ndb?\n\
             token:{SECRET}\ntoken:{SECRET}ff mail1\n"
        ))
        .expect("parse")
    }

    #[test]
    fn names_and_globs_match() {
        let p = policy();
        assert_eq!(
            p.matches("web01.example.net", None),
            Some(Grant::Name { line: 3 })
        );
        assert_eq!(
            p.matches("web7.example.net", None),
            Some(Grant::Name { line: 4 })
        );
        assert_eq!(
            p.matches("web.example.net", None),
            Some(Grant::Name { line: 4 })
        );
        assert_eq!(p.matches("db1", None), Some(Grant::Name { line: 5 }));
        for no in [
            "web1.evil.example.net",
            "web1.example.net.evil",
            "db12",
            "db",
            "mail1",
            "Web01.example.net",
            "x.web1.example.net",
        ] {
            assert_eq!(p.matches(no, None), None, "{no}");
        }
    }

    #[test]
    fn tokens_match_their_secret_and_node() {
        let p = policy();
        let grant = p.matches("anything1", Some(SECRET)).expect("token");
        assert_eq!(
            grant,
            Grant::Token {
                line: 6,
                secret: SECRET.into()
            }
        );
        let bound = format!("{SECRET}ff");
        assert!(matches!(
            p.matches("mail1", Some(&bound)),
            Some(Grant::Token { line: 7, .. })
        ));
        assert_eq!(p.matches("mail2", Some(&bound)), None);
        assert_eq!(
            p.matches("mail1", Some("0123456789abcdef0123456789abcdee")),
            None
        );
        assert_eq!(p.matches("mail1", Some("")), None);
    }

    #[test]
    fn bad_lines_are_all_reported() {
        let e =
            Policy::parse("ok1\nBad_Name\ntoken:short\nweb* db*\ntoken:0123456789abcdef0123 a b\n")
                .expect_err("bad");
        let m = e.message();
        for line in ["line 2", "line 3", "line 4", "line 5"] {
            assert!(m.contains(line), "{line} in {m}");
        }
        assert!(!m.contains("line 1"), "{m}");
        assert!(Policy::parse("# nothing\n\n").expect("empty").is_empty());
    }

    #[test]
    fn glob_edge_cases() {
        assert!(glob(b"*", b"web"));
        assert!(!glob(b"*", b"a.b"));
        assert!(glob(b"*.*", b"a.b"));
        assert!(glob(b"a*b*c", b"aXbYbZc"));
        assert!(!glob(b"a*b", b"a.b"));
        assert!(glob(b"**x", b"ax"));
        assert!(!glob(b"?", b""));
    }
}
