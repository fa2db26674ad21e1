//! Diagnostics as data: one `Diagnostic` type, rendered as ariadne text, JSON lines or LSP.

pub(crate) mod code;
pub(crate) mod json;
pub(crate) mod render;
pub(crate) mod suggest;

pub(crate) use code::Code;

use crate::source::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A secondary labelled span.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem found in a program. `span` is `None` only for `no-node` (reported against the
/// main file without a position) and for problems with a file as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Its code (LANGUAGE.md §9, docs/diagnostics.md).
    pub code: Code,
    pub message: String,
    pub span: Option<Span>,
    /// The label text on the primary span (may be empty).
    pub primary_label: String,
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    /// The node whose evaluation found it, when it did not show up in every node.
    pub node: Option<String>,
}

impl Diagnostic {
    /// An error at `span`; `code` must be an error code.
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        debug_assert_eq!(code.severity(), Severity::Error, "{code} is a warning");
        Diagnostic::new(Severity::Error, code, Some(span), message)
    }

    /// A warning at `span`; `code` must be a warning code.
    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        debug_assert_eq!(code.severity(), Severity::Warning, "{code} is an error");
        Diagnostic::new(Severity::Warning, code, Some(span), message)
    }

    pub fn new(
        severity: Severity,
        code: Code,
        span: Option<Span>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            span,
            primary_label: String::new(),
            labels: Vec::new(),
            notes: Vec::new(),
            help: None,
            node: None,
        }
    }

    /// Text for the label on the primary span.
    pub fn with_primary(mut self, text: impl Into<String>) -> Diagnostic {
        self.primary_label = text.into();
        self
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds "did you mean `x`?" when `suggest` finds a close candidate.
    pub fn with_suggestion<'a>(
        self,
        wrong: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Diagnostic {
        match suggest::closest(wrong, candidates) {
            Some(s) => self.with_help(format!("did you mean `{s}`?")),
            None => self,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// True when any diagnostic is an error.
pub(crate) fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}
