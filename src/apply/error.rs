//! The apply side's errors: what went wrong (a [`ErrorKind`]), for which resource, and the
//! `io::Error` under it when there is one ([`std::error::Error::source`]).
//!
//! An error carries data, not a finished sentence for the terminal: only `cli/` prints one.
//! Its [`Display`](fmt::Display) is the text users have always seen (the tests compare it):
//! the context (`cannot remove /etc/motd`), then `": "` and the source's text when there is a
//! source. The resource is kept beside it, not in the text (reports name it already).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The catalog cannot be applied as written: a bad parameter value, an unknown type, a
    /// broken edge, a cycle.
    BadCatalog,
    /// A read or change of the system failed at `path` (the path as shown to users).
    Io { path: PathBuf },
    /// A command failed: its exit status (`None`: killed by a signal, or it could not be
    /// started or waited for, the `io::Error` then being the source) and what it printed.
    Command { status: Option<i32>, output: String },
    /// fleet declines to do it (it would be unsafe or cannot be done from here).
    Refused,
    /// Another fleet apply holds the state directory's lock (its pid when it wrote one).
    Busy { pid: Option<u32> },
    /// Something named (a user, a group, a content blob, a backup) does not exist.
    NotFound,
    /// A command that this run does not run under `--root` ([`super::providers::NOT_RUN`]).
    NotRun,
    /// Not tried: a dependency failed or was skipped.
    Skipped,
    /// A provider panicked.
    Internal,
    /// Not classified yet (text from a helper outside `apply/`).
    Other,
}

/// An apply-side failure. Cheap to clone (a resource result is cloned into reports).
#[derive(Clone, Debug)]
pub struct Error {
    repr: Box<Repr>,
}

#[derive(Clone, Debug)]
struct Repr {
    kind: ErrorKind,
    /// `Type[title]`, once the engine knows it.
    resource: Option<String>,
    /// The text before the source's (may be empty: then the source's text alone).
    context: String,
    source: Option<Arc<std::io::Error>>,
}

impl Error {
    /// An error of `kind` whose whole text is `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            repr: Box::new(Repr {
                kind,
                resource: None,
                context: message.into(),
                source: None,
            }),
        }
    }

    /// A bad value in the catalog (a parameter, an edge, a type).
    pub fn bad_catalog(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::BadCatalog, message)
    }

    /// Something named is missing.
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, message)
    }

    /// fleet will not do it.
    pub fn refused(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Refused, message)
    }

    /// A command that failed with `status` after printing `output`; `message` is the text.
    pub fn command(
        status: Option<i32>,
        output: impl Into<String>,
        message: impl Into<String>,
    ) -> Error {
        Error::new(
            ErrorKind::Command {
                status,
                output: output.into(),
            },
            message,
        )
    }

    /// An I/O failure at `path`: shown as `context: source` (or the source alone when
    /// `context` is empty).
    pub fn io(context: impl Into<String>, path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error {
            repr: Box::new(Repr {
                kind: ErrorKind::Io {
                    path: path.as_ref().to_path_buf(),
                },
                resource: None,
                context: context.into(),
                source: Some(Arc::new(source)),
            }),
        }
    }

    /// Keeps `source` under an error of another kind (e.g. a command that could not start).
    pub fn with_source(mut self, source: std::io::Error) -> Error {
        self.repr.source = Some(Arc::new(source));
        self
    }

    /// Names the resource it happened to.
    pub fn for_resource(mut self, reference: impl Into<String>) -> Error {
        self.repr.resource = Some(reference.into());
        self
    }

    /// Puts `prefix` before the context (`refresh failed: ...`), keeping kind and source.
    pub fn prefixed(mut self, prefix: &str) -> Error {
        self.repr.context = if self.repr.context.is_empty() && self.repr.source.is_some() {
            // `prefix: source`, as `format!("{prefix}: {e}")` reads.
            prefix.trim_end_matches([':', ' ']).to_string()
        } else {
            format!("{prefix}{}", self.repr.context)
        };
        self
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.repr.kind
    }

    pub fn resource(&self) -> Option<&str> {
        self.repr.resource.as_deref()
    }

    /// The `io::Error` under it, if any.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        self.repr.source.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.repr;
        match (&r.source, r.context.is_empty()) {
            (Some(e), true) => write!(f, "{e}"),
            (Some(e), false) => write!(f, "{}: {e}", r.context),
            (None, _) => f.write_str(&r.context),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.repr
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Text from a helper that still returns `String` (outside `apply/`, or not converted yet).
/// "Not run" is never read from text: `providers::not_run` gives that kind.
impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::new(ErrorKind::Other, message)
    }
}

/// An I/O failure whose path the caller had no better name for: its text is the source's.
impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Error {
        Error::io("", "", source)
    }
}

/// A release's failure (the `release` provider and `file`'s tree sources use its code).
impl From<crate::release::Error> for Error {
    fn from(e: crate::release::Error) -> Error {
        Error::new(ErrorKind::Other, e.to_string())
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Error {
        Error::from(message.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn io_error_keeps_its_kind_path_and_source() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let io = std::fs::read(&missing).unwrap_err();
        let text = format!("cannot read {}: {io}", missing.display());
        let e = Error::io(format!("cannot read {}", missing.display()), &missing, io)
            .for_resource("File[/missing]");
        assert_eq!(
            e.kind(),
            &ErrorKind::Io {
                path: missing.clone()
            }
        );
        assert_eq!(e.resource(), Some("File[/missing]"));
        assert_eq!(e.to_string(), text);
        let source = e.source().expect("an io::Error source");
        let source = source.downcast_ref::<std::io::Error>().expect("io::Error");
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        // Prefixing (the engine's "refresh failed: ") keeps both.
        let e = e.prefixed("refresh failed: ");
        assert!(matches!(e.kind(), ErrorKind::Io { .. }));
        assert_eq!(e.to_string(), format!("refresh failed: {text}"));
        assert!(e.io_error().is_some());
    }

    #[test]
    fn an_empty_context_shows_the_source_alone() {
        let e = Error::io("", "/x", std::io::Error::other("boom"));
        assert_eq!(e.to_string(), "boom");
        assert_eq!(e.prefixed("creates: ").to_string(), "creates: boom");
    }
}
