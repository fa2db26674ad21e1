//! Diagnostics as terminal text: the only user of ariadne.
//!
//! A report looks like rustc's: a header `error[code]: message`, the source lines with the
//! primary label and every secondary label, then `note:` and `help:` lines. ariadne is told
//! that spans are byte offsets (`IndexType::Byte`), so labels land under the right characters
//! on lines holding CJK text or emoji. Colour is the caller's decision (`RenderOptions`);
//! the header is written here, not by ariadne, so nothing escapes colour settings.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use ariadne::{CharSet, Color, Config, IndexType, Label, LabelAttach, Report, ReportKind, Source};

use super::{Diagnostic, Severity};
use crate::source::{FileId, SourceMap, Span};

/// How to draw reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// ANSI colours (only when stderr is a terminal and `NO_COLOR` is unset; the CLI decides).
    pub color: bool,
    /// ASCII box drawing instead of Unicode (portable golden files, piped output).
    pub ascii: bool,
}

impl RenderOptions {
    /// No colour, ASCII: what golden tests compare.
    pub const PLAIN: RenderOptions = RenderOptions {
        color: false,
        ascii: true,
    };
}

/// Renders one diagnostic. `main_file` names the file a span-less diagnostic (`no-node`)
/// is reported against. The result ends with a newline. For many diagnostics use a
/// [`Renderer`], which prepares each file once.
pub fn render(
    diag: &Diagnostic,
    sources: &SourceMap,
    main_file: &str,
    opts: RenderOptions,
) -> String {
    Renderer::new(sources, main_file, opts).render(diag)
}

/// Renders diagnostics against one source map. ariadne indexes a file's lines when it
/// fetches it; doing that once per diagnostic is quadratic in a file with thousands of
/// problems, so the indexed files are kept here.
pub(crate) struct Renderer<'a> {
    main_file: &'a str,
    opts: RenderOptions,
    files: Files<'a>,
}

impl<'a> Renderer<'a> {
    pub(crate) fn new(
        sources: &'a SourceMap,
        main_file: &'a str,
        opts: RenderOptions,
    ) -> Renderer<'a> {
        Renderer {
            main_file,
            opts,
            files: Files {
                sources,
                prepared: HashMap::new(),
            },
        }
    }

    /// One diagnostic as text, ending with a newline.
    pub(crate) fn render(&mut self, diag: &Diagnostic) -> String {
        let mut out = header(diag, self.opts);
        match diag.span.filter(|s| in_bounds(self.files.sources, *s)) {
            Some(span) => out.push_str(&body(diag, span, &mut self.files, self.opts)),
            None => {
                let _ = writeln!(out, "  --> {}", self.main_file);
            }
        }
        footer(&mut out, diag, self.opts);
        out
    }
}

/// `error[code]: message` (coloured when asked).
fn header(diag: &Diagnostic, opts: RenderOptions) -> String {
    let kind = diag.severity.as_str();
    let (on, off) = if opts.color {
        let code = match diag.severity {
            Severity::Error => "\x1b[1;31m",
            Severity::Warning => "\x1b[1;33m",
        };
        (code, "\x1b[0m")
    } else {
        ("", "")
    };
    let bold = if opts.color { "\x1b[1m" } else { "" };
    format!(
        "{on}{kind}[{code}]{off}{bold}: {msg}{off}\n",
        code = diag.code.as_str(),
        msg = diag.message
    )
}

/// `note:` and `help:` lines, after the source snippet.
fn footer(out: &mut String, diag: &Diagnostic, opts: RenderOptions) {
    let (on, off) = if opts.color {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("", "")
    };
    if let Some(node) = &diag.node {
        let _ = writeln!(
            out,
            "  = {on}note{off}: found while evaluating node `{node}`"
        );
    }
    for note in &diag.notes {
        let _ = writeln!(out, "  = {on}note{off}: {note}");
    }
    if let Some(help) = &diag.help {
        let _ = writeln!(out, "  = {on}help{off}: {help}");
    }
}

/// A span that ariadne can draw: a known file and a byte range on char boundaries.
fn in_bounds(sources: &SourceMap, span: Span) -> bool {
    if span.file.0 as usize >= sources.len() {
        return false;
    }
    let text = &sources.get(span.file).text;
    let (s, e) = (span.start as usize, span.end as usize);
    s <= e && e <= text.len() && text.is_char_boundary(s) && text.is_char_boundary(e)
}

/// The source snippet drawn by ariadne (its own header line dropped).
fn body(diag: &Diagnostic, span: Span, files: &mut Files, opts: RenderOptions) -> String {
    let sources = files.sources;
    let drawn: Vec<Span> = std::iter::once(span)
        .chain(diag.labels.iter().map(|l| l.span))
        .filter(|s| in_bounds(sources, *s))
        .collect();
    // A span at the very end of a file gets a space to stand on (see `widen`).
    let name = |id: FileId| {
        let len = sources.get(id).text.len();
        FileName {
            id,
            name: sources.get(id).name.clone(),
            padded: drawn
                .iter()
                .any(|s| s.file == id && s.start as usize == len),
        }
    };
    let config = Config::default()
        .with_index_type(IndexType::Byte)
        .with_color(opts.color)
        .with_char_set(if opts.ascii {
            CharSet::Ascii
        } else {
            CharSet::Unicode
        })
        .with_label_attach(LabelAttach::Start);
    let (kind, colour) = match diag.severity {
        Severity::Error => (ReportKind::Error, Color::Red),
        Severity::Warning => (ReportKind::Warning, Color::Yellow),
    };
    // Labels in source order, the primary's file first: ariadne starts a new snippet (and
    // repeats the file header) whenever a label sits above the one before it.
    let mut labels: Vec<(Span, &str, bool)> = vec![(span, diag.primary_label.as_str(), true)];
    labels.extend(
        diag.labels
            .iter()
            .filter(|l| in_bounds(sources, l.span))
            .map(|l| (l.span, l.message.as_str(), false)),
    );
    labels.sort_by_key(|(s, _, primary)| (s.file != span.file, s.file, s.start, !primary));
    let primary = (name(span.file), widen(sources, span));
    let mut report = Report::build(kind, primary).with_config(config);
    for (order, (s, message, is_primary)) in labels.into_iter().enumerate() {
        // ariadne draws no marker for a label without a message, and a dangling arrow for an
        // empty one.
        let message = if message.is_empty() { "here" } else { message };
        let mut label = Label::new((name(s.file), widen(sources, s)))
            .with_message(message)
            .with_order(order as i32);
        if opts.color {
            label = label.with_color(if is_primary { colour } else { Color::Blue });
        }
        report = report.with_label(label);
    }
    let mut buf = Vec::new();
    if report.finish().write(files, &mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    // ariadne's first line is its own header ("Error: "); ours is already written.
    match text.split_once('\n') {
        Some((_, rest)) => rest.to_string(),
        None => String::new(),
    }
}

/// ariadne's source id: a file (shown by its name), with or without the trailing space an
/// end-of-input span stands on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FileName {
    id: FileId,
    name: String,
    padded: bool,
}

impl std::fmt::Display for FileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// The files ariadne has asked for, indexed once.
struct Files<'a> {
    sources: &'a SourceMap,
    prepared: HashMap<FileName, Source<Cow<'a, str>>>,
}

impl<'a> ariadne::Cache<FileName> for Files<'a> {
    type Storage = Cow<'a, str>;

    fn fetch(&mut self, id: &FileName) -> Result<&Source<Cow<'a, str>>, impl std::fmt::Debug> {
        let sources = self.sources;
        Ok::<_, ()>(self.prepared.entry(id.clone()).or_insert_with(|| {
            let text = sources.get(id.id).text.as_str();
            Source::from(if id.padded {
                Cow::Owned(format!("{text} "))
            } else {
                Cow::Borrowed(text)
            })
        }))
    }

    fn display<'b>(&self, id: &'b FileName) -> Option<impl std::fmt::Display + 'b> {
        Some(&id.name)
    }
}

/// An empty span (a missing token, the end of input) still gets a one-character marker:
/// ariadne draws nothing for empty ranges. At the very end of the text the marker stands on
/// the space `body` appends, so the reported line and column match the JSON format's.
fn widen(sources: &SourceMap, span: Span) -> std::ops::Range<usize> {
    let text = &sources.get(span.file).text;
    let (start, end) = (span.start as usize, span.end as usize);
    if start < end {
        return start..end;
    }
    match text[start..].chars().next() {
        Some(c) => start..start + c.len_utf8(),
        None => start..start + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Code, Diagnostic};

    fn map(text: &str) -> (SourceMap, FileId) {
        let mut sources = SourceMap::new();
        let id = sources.add("site.fleet", "site.fleet", text.to_string());
        (sources, id)
    }

    #[test]
    fn header_code_labels_notes_and_help() {
        let text =
            "file \"/etc/motd\" { content = \"a\" }\nfile \"/etc/motd\" { content = \"b\" }\n";
        let (sources, f) = map(text);
        let second = text.rfind("file").unwrap();
        let d = Diagnostic::error(
            Code::DuplicateResource,
            Span::new(f, second, second + 4),
            "File[\"/etc/motd\"] is already declared",
        )
        .with_primary("declared again here")
        .with_label(Span::new(f, 0, 4), "first declared here")
        .with_note("two declarations are one resource only when their attributes are equal")
        .with_help("remove one of them");
        let out = render(&d, &sources, "site.fleet", RenderOptions::PLAIN);
        assert!(
            out.starts_with("error[duplicate-resource]: File[\"/etc/motd\"] is already declared\n"),
            "{out}"
        );
        assert!(out.contains("site.fleet:2:1"), "{out}");
        // One snippet, lines in source order, though the label sits above the primary span.
        assert_eq!(out.matches("site.fleet:").count(), 1, "{out}");
        assert!(
            out.find(" 1 | ").unwrap() < out.find(" 2 | ").unwrap(),
            "{out}"
        );
        assert!(out.contains("declared again here"), "{out}");
        assert!(out.contains("first declared here"), "{out}");
        assert!(out.contains("  = note: two declarations"), "{out}");
        assert!(out.ends_with("  = help: remove one of them\n"), "{out}");
        assert!(!out.contains('\x1b'), "no colour asked for: {out}");
        assert!(out.is_ascii(), "ASCII charset: {out}");
    }

    #[test]
    fn colour_only_when_asked() {
        let (sources, f) = map("packge \"nginx\" {}\n");
        let d = Diagnostic::error(
            Code::UnknownResourceType,
            Span::new(f, 0, 6),
            "unknown type",
        );
        let plain = render(&d, &sources, "site.fleet", RenderOptions::PLAIN);
        let colour = render(
            &d,
            &sources,
            "site.fleet",
            RenderOptions {
                color: true,
                ascii: false,
            },
        );
        assert!(!plain.contains('\x1b'));
        assert!(colour.contains('\x1b'));
    }

    /// The column (in terminal cells) at which `needle` is drawn on the source line of `out`
    /// holding it, and the column of the first `^` on the following underline.
    fn columns(out: &str, needle: &str) -> (usize, usize) {
        let lines: Vec<&str> = out.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.contains(needle) && l.contains("| "))
            .unwrap();
        let width = |s: &str| {
            s.chars()
                .map(|c| if (c as u32) < 0x1100 { 1 } else { 2 })
                .sum::<usize>()
        };
        let at = width(&lines[i][..lines[i].find(needle).unwrap()]);
        let margin = lines[i].find("| ").unwrap() + 2;
        let under = lines[i + 1];
        let mark = margin + under[margin..].find(['^', '|']).expect(out);
        let caret = width(&under[..mark]);
        (at, caret)
    }

    #[test]
    fn labels_sit_under_the_right_text_on_non_ascii_lines() {
        for prefix in [
            "file \"/srv/中文/页面\" { ",
            "file \"/srv/😀🎉\" { ",
            "file \"/srv/ä\" { ",
        ] {
            let text = format!("{prefix}contentz = \"x\" }}\n");
            let (sources, f) = map(&text);
            let start = text.find("contentz").unwrap();
            let d = Diagnostic::error(
                Code::UnknownAttribute,
                Span::new(f, start, start + "contentz".len()),
                "unknown attribute `contentz`",
            )
            .with_primary("not an attribute of file")
            .with_suggestion("contentz", ["content", "mode"]);
            let out = render(&d, &sources, "site.fleet", RenderOptions::PLAIN);
            let (at, caret) = columns(&out, "contentz");
            assert_eq!(at, caret, "label misplaced for {prefix:?}:\n{out}");
            // The location line counts Unicode scalar values.
            let (line, col) = sources.get(f).line_col(start);
            assert!(out.contains(&format!("site.fleet:{line}:{col}")), "{out}");
            assert!(out.contains("did you mean `content`?"), "{out}");
        }
    }

    #[test]
    fn the_node_is_named() {
        let (sources, f) = map("let $x = $y\n");
        let mut d = Diagnostic::error(Code::UndefinedVariable, Span::new(f, 9, 11), "no `$y`");
        d.node = Some("web01".into());
        let out = render(&d, &sources, "site.fleet", RenderOptions::PLAIN);
        assert!(
            out.ends_with("  = note: found while evaluating node `web01`\n"),
            "{out}"
        );
    }

    #[test]
    fn span_less_diagnostics_name_the_file() {
        let (sources, _) = map("node \"web01\" {}\n");
        let d = Diagnostic::new(
            Severity::Error,
            Code::NoNode,
            None,
            "no node block matches `db01`",
        );
        let out = render(&d, &sources, "site.fleet", RenderOptions::PLAIN);
        assert_eq!(
            out,
            "error[no-node]: no node block matches `db01`\n  --> site.fleet\n"
        );
    }

    #[test]
    fn empty_spans_and_end_of_input_render() {
        let text = "file \"/etc/motd\" {\n  mode = }";
        let (sources, f) = map(text);
        let with_newline = format!("{text}\n");
        let (sources2, g) = map(&with_newline);
        let cases = [
            (&sources, f, text.find('}').unwrap(), "site.fleet:2:10"),
            (&sources, f, text.len(), "site.fleet:2:11"),
            (&sources2, g, with_newline.len(), "site.fleet:3:1"),
        ];
        for (sources, file, at, place) in cases {
            let d = Diagnostic::error(Code::Syntax, Span::new(file, at, at), "expected a value")
                .with_primary("expected a value here");
            let out = render(&d, sources, "site.fleet", RenderOptions::PLAIN);
            // The header agrees with the JSON format's line and column.
            let (line, col) = sources.get(file).line_col(at);
            assert_eq!(place, format!("site.fleet:{line}:{col}"));
            assert!(out.contains(place), "{place}: {out}");
            assert!(out.contains("expected a value here"), "{out}");
        }
    }

    #[test]
    fn out_of_bounds_spans_do_not_panic() {
        let (sources, f) = map("ä\n");
        for (s, e) in [(0, 99), (1, 2), (5, 1)] {
            let d = Diagnostic::error(Code::Syntax, Span::new(f, s, e), "bad span")
                .with_label(Span::new(FileId(7), 0, 1), "unknown file");
            let out = render(&d, &sources, "site.fleet", RenderOptions::PLAIN);
            assert!(out.starts_with("error[syntax]: bad span\n"), "{out}");
        }
    }
}
