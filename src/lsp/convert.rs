//! Conversions between fleet's data and LSP's: URIs and paths, byte offsets and UTF-16
//! positions, `Diagnostic` and `lsp_types::Diagnostic`.

use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use lsp_types::{
    DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Position, Range,
    Uri,
};

use crate::diag::{Diagnostic, Severity};
use crate::source::{SourceMap, Span};

/// The local path of a `file:` URI (percent-decoded), else `None`.
pub(crate) fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    let s = uri.as_str();
    let rest = s.strip_prefix("file://")?;
    // `file:///p` (empty authority) or `file://localhost/p`.
    let path = match rest.strip_prefix("localhost") {
        Some(p) if p.starts_with('/') => p,
        _ => rest,
    };
    if !path.starts_with('/') {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or(path);
    Some(PathBuf::from(percent_decode(path)?))
}

/// A `file://` URI for an absolute path (made absolute against the working directory).
pub fn path_to_uri(path: &Path) -> Option<Uri> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let abs = normalize(&abs);
    let mut s = String::from("file://");
    for b in abs.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&s).ok()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Removes `.` and resolves `..` components without touching the file system.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The LSP range of a span.
pub(crate) fn range(sources: &SourceMap, span: Span) -> Range {
    let file = sources.get(span.file);
    let (l1, c1) = file.lsp_position(span.start as usize);
    let (l2, c2) = file.lsp_position(span.end as usize);
    Range::new(Position::new(l1, c1), Position::new(l2, c2))
}

/// One fleet diagnostic as LSP sees it. `uri_of` maps a file's path to the URI to report
/// it under (`None`: a file the client cannot open, such as a bundled stdlib module).
pub(crate) fn diagnostic(
    sources: &SourceMap,
    d: &Diagnostic,
    uri_of: &dyn Fn(&Path) -> Option<Uri>,
) -> lsp_types::Diagnostic {
    let primary = d.span.map(|s| range(sources, s)).unwrap_or_default();
    let mut message = d.message.clone();
    if let Some(node) = &d.node {
        message.push_str(&format!(" (while evaluating node {node})"));
    }
    for n in &d.notes {
        message.push_str(&format!("\nnote: {n}"));
    }
    if let Some(h) = &d.help {
        message.push_str(&format!("\nhelp: {h}"));
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .labels
        .iter()
        .filter_map(|l| {
            let uri = uri_of(&sources.get(l.span.file).path)?;
            Some(DiagnosticRelatedInformation {
                location: Location::new(uri, range(sources, l.span)),
                message: l.message.clone(),
            })
        })
        .collect();
    lsp_types::Diagnostic {
        range: primary,
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_string())),
        source: Some("fleet".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Code;
    use crate::source::FileId;

    #[test]
    fn uris_round_trip_with_spaces_and_non_ascii() {
        let p = PathBuf::from("/tmp/my site/中.fleet");
        let uri = path_to_uri(&p).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/my%20site/%E4%B8%AD.fleet");
        assert_eq!(uri_to_path(&uri).unwrap(), p);
        let odd = Uri::from_str("file:///a/./b/../c.fleet").unwrap();
        assert_eq!(
            normalize(&uri_to_path(&odd).unwrap()),
            PathBuf::from("/a/c.fleet")
        );
        assert!(uri_to_path(&Uri::from_str("untitled:Untitled-1").unwrap()).is_none());
    }

    #[test]
    fn ranges_count_utf16_units_after_chinese_and_emoji() {
        let mut sources = SourceMap::new();
        let text = "# 中文 😀\nfile \"x\" { 模式 = 1 }\n".to_string();
        let id = sources.add("t.fleet", "/t.fleet", text.clone());
        let start = text.find("模式").unwrap();
        let r = range(&sources, Span::new(id, start, start + "模式".len()));
        assert_eq!(r, Range::new(Position::new(1, 11), Position::new(1, 13)));
        let e = text.find('😀').unwrap();
        let r = range(&sources, Span::new(FileId(0), e, e + 4));
        assert_eq!(r, Range::new(Position::new(0, 5), Position::new(0, 7)));
    }

    #[test]
    fn diagnostics_keep_code_labels_and_help() {
        let mut sources = SourceMap::new();
        let id = sources.add("a.fleet", "/w/a.fleet", "let $a = 1\nlet $a = 2\n".into());
        let d = Diagnostic::error(
            Code::DuplicateVariable,
            Span::new(id, 15, 17),
            "`$a` is already bound",
        )
        .with_label(Span::new(id, 4, 6), "first bound here")
        .with_help("rename one");
        let l = diagnostic(&sources, &d, &|p| path_to_uri(p));
        assert_eq!(
            l.code,
            Some(NumberOrString::String("duplicate-variable".into()))
        );
        assert_eq!(
            l.range,
            Range::new(Position::new(1, 4), Position::new(1, 6))
        );
        assert!(l.message.ends_with("help: rename one"));
        let rel = l.related_information.unwrap();
        assert_eq!(rel[0].location.uri.as_str(), "file:///w/a.fleet");
        assert_eq!(rel[0].message, "first bound here");
    }
}
