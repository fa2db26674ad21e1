//! Diagnostics as JSON lines (CLI.md "Diagnostic JSON"): an explicit wire struct, version 1.
//!
//! Lines and columns are 1-based, counted in Unicode scalar values; ends are exclusive. A
//! diagnostic without a span (`no-node`) names the main file and carries no position fields
//! at all (`line`, `column`, `end_line`, `end_column` are omitted, never zero). Beyond CLI.md's
//! fields, `help` (a string) and `notes` (an array of strings) carry the `help:` and `note:`
//! lines the text rendering shows; each is omitted when there is none, so a diagnostic
//! without them is exactly CLI.md's example.

use serde::Serialize;

use super::Diagnostic;
use crate::source::{SourceMap, Span};

/// One diagnostic on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct DiagnosticJson {
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub file: String,
    #[serde(flatten)]
    pub position: Option<Position>,
    pub labels: Vec<LabelJson>,
    /// The `help:` line text shows, when there is one (omitted otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The `note:` lines text shows, in order (omitted when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// A 1-based start and exclusive end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Position {
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct LabelJson {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub message: String,
}

/// The file name and position of a span; None for a span outside the map.
fn locate(sources: &SourceMap, span: Span) -> Option<(String, Position)> {
    if span.file.0 as usize >= sources.len() {
        return None;
    }
    let file = sources.get(span.file);
    let (line, column) = file.line_col(span.start as usize);
    let (end_line, end_column) = file.line_col(span.end.max(span.start) as usize);
    Some((
        file.name.clone(),
        Position {
            line,
            column,
            end_line,
            end_column,
        },
    ))
}

impl DiagnosticJson {
    /// `main_file` is the name reported for a diagnostic without a span.
    pub(crate) fn new(diag: &Diagnostic, sources: &SourceMap, main_file: &str) -> DiagnosticJson {
        let (file, position) = match diag.span.and_then(|s| locate(sources, s)) {
            Some((file, pos)) => (file, Some(pos)),
            None => (main_file.to_string(), None),
        };
        let labels = diag
            .labels
            .iter()
            .filter_map(|l| {
                let (file, p) = locate(sources, l.span)?;
                Some(LabelJson {
                    file,
                    line: p.line,
                    column: p.column,
                    end_line: p.end_line,
                    end_column: p.end_column,
                    message: l.message.clone(),
                })
            })
            .collect();
        DiagnosticJson {
            severity: diag.severity.as_str(),
            code: diag.code.as_str(),
            message: diag.message.clone(),
            file,
            position,
            labels,
            help: diag.help.clone(),
            notes: diag.notes.clone(),
            node: diag.node.clone(),
        }
    }
}

/// One JSON line, without the newline.
pub fn to_line(diag: &Diagnostic, sources: &SourceMap, main_file: &str) -> String {
    serde_json::to_string(&DiagnosticJson::new(diag, sources, main_file))
        .expect("diagnostic serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Code, Severity};

    #[test]
    fn matches_the_cli_md_example() {
        let text = "\nfile \"/etc/motd\" { content = \"a\" }\n\n\n\n\nfile \"/etc/motd\" { content = \"b\" }\n";
        let mut sources = SourceMap::new();
        let f = sources.add("site.fleet", "site.fleet", text.to_string());
        let second = text.rfind("file").unwrap();
        let mut d = Diagnostic::error(
            Code::DuplicateResource,
            Span::new(f, second, second + 4),
            "File[\"/etc/motd\"] is already declared",
        )
        .with_label(Span::new(f, 1, 5), "first declared here");
        d.node = Some("web01".into());
        let line = to_line(&d, &sources, "site.fleet");
        assert_eq!(
            line,
            r#"{"severity":"error","code":"duplicate-resource","message":"File[\"/etc/motd\"] is already declared","file":"site.fleet","line":7,"column":1,"end_line":7,"end_column":5,"labels":[{"file":"site.fleet","line":2,"column":1,"end_line":2,"end_column":5,"message":"first declared here"}],"node":"web01"}"#
        );
    }

    #[test]
    fn help_and_notes_are_carried_and_omitted_when_absent() {
        let text = "file \"/etc/motd\" { contnet = \"a\" }\n";
        let mut sources = SourceMap::new();
        let f = sources.add("a.fleet", "a.fleet", text.to_string());
        let mut d = Diagnostic::error(Code::UnknownAttribute, Span::new(f, 19, 26), "no `contnet`");
        d.help = Some("did you mean `content`?".into());
        d.notes = vec!["file takes: content, ensure".into(), "second".into()];
        let v: serde_json::Value = serde_json::from_str(&to_line(&d, &sources, "a.fleet")).unwrap();
        assert_eq!(v["help"], "did you mean `content`?");
        assert_eq!(
            v["notes"],
            serde_json::json!(["file takes: content, ensure", "second"])
        );
        d.help = None;
        d.notes.clear();
        let v: serde_json::Value = serde_json::from_str(&to_line(&d, &sources, "a.fleet")).unwrap();
        assert!(v.get("help").is_none() && v.get("notes").is_none());
    }

    #[test]
    fn columns_count_scalar_values() {
        let text = "file \"/中😀\" { x = 1 }";
        let mut sources = SourceMap::new();
        let f = sources.add("a.fleet", "a.fleet", text.to_string());
        let x = text.find('x').unwrap();
        let d = Diagnostic::error(Code::UnknownAttribute, Span::new(f, x, x + 1), "m");
        let j = DiagnosticJson::new(&d, &sources, "a.fleet");
        assert_eq!(
            j.position,
            Some(Position {
                line: 1,
                column: 14,
                end_line: 1,
                end_column: 15
            })
        );
    }

    #[test]
    fn span_less_names_the_main_file_without_positions() {
        let sources = SourceMap::new();
        let d = Diagnostic::new(Severity::Error, Code::NoNode, None, "no node matches `x`");
        let v: serde_json::Value =
            serde_json::from_str(&to_line(&d, &sources, "site.fleet")).unwrap();
        assert_eq!(v["file"], "site.fleet");
        assert!(v.get("line").is_none() && v.get("node").is_none());
        assert_eq!(v["labels"], serde_json::json!([]));
    }
}
