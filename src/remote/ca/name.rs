//! The node-name rule of certificates: a node's name is its certificate's common name and its
//! DNS subject alternative name, so it must be a DNS host name (RFC 1123), in lower case.
//!
//! Nothing in the language restricts node names (a `node "…"` block may name any string), so
//! this rule is the CA's: a certificate is only made for a name that survives DNS, URLs
//! (`/v1/catalog/<node>`) and file names (`issued/<node>.crt`) unchanged.

/// The longest node name (a DNS name's limit).
pub(crate) const MAX_NAME: usize = 253;

/// The longest label between dots.
const MAX_LABEL: usize = 63;

/// `Ok` when `name` is a valid node name: dot-separated labels of 1 to 63 characters from
/// `a-z`, `0-9` and `-`, a label neither starting nor ending with `-`, 253 characters at
/// most. `Err` says what is wrong, for an `error:` line.
pub(crate) fn check_node_name(name: &str) -> Result<(), String> {
    let shown = shown(name);
    if name.is_empty() {
        return Err("invalid node name '': a node name cannot be empty".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "invalid node name '{shown}': longer than {MAX_NAME} characters"
        ));
    }
    for label in name.split('.') {
        if let Err(why) = check_label(label) {
            return Err(format!(
                "invalid node name '{shown}': {why} (a node name is a lower-case DNS host \
                 name: labels of a-z, 0-9 and '-', separated by dots)"
            ));
        }
    }
    Ok(())
}

/// One label between dots.
fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("empty label (two dots, or a dot at an end)".into());
    }
    if label.len() > MAX_LABEL {
        return Err(format!("a label is longer than {MAX_LABEL} characters"));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(if c.is_ascii_uppercase() {
            format!("upper-case '{c}' (node names are lower case)")
        } else {
            format!("character {c:?} is not allowed")
        });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label '{label}' starts or ends with '-'"));
    }
    Ok(())
}

/// `name` for a message: control characters escaped, clipped to a readable length.
fn shown(name: &str) -> String {
    let clipped: String = name.chars().take(80).collect();
    let escaped: String = clipped.escape_debug().collect();
    if name.chars().count() > 80 {
        format!("{escaped}…")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_node_names() {
        for ok in [
            "web01",
            "web01.example.net",
            "a",
            "db-1.dc2",
            "0",
            &"a".repeat(63),
        ] {
            assert!(check_node_name(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        for bad in [
            "",
            "Web01",
            "web_01",
            "web01.",
            ".web01",
            "a..b",
            "-web",
            "web-",
            "web 01",
            "web/01",
            "../etc",
            "wéb",
            "web\n01",
            &"a".repeat(64),
            &["a"; 128].join("."),
        ] {
            let e = check_node_name(bad).expect_err(bad);
            assert!(e.starts_with("invalid node name '"), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        assert!(check_node_name("Web01").unwrap_err().contains("lower case"));
    }
}
