//! The one error type of the CA: what went wrong ([`ErrorKind`], for a server choosing its HTTP
//! status) and a message that names the file or the name involved.

use std::fmt;
use std::path::Path;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The input is wrong: a node name, a certificate request, an autosign line, `--days`.
    Invalid,
    /// The CA refuses: the directory already holds a CA, the name already has an unrevoked
    /// certificate, there is nothing to revoke.
    Refused,
    /// The CA directory is missing or damaged (no `ca.crt`, an `index.json` that is not ours).
    NotACa,
    /// Reading or writing a file failed.
    Io,
    /// Key generation or signing failed.
    Crypto,
}

/// A CA failure: its kind and a one-line message (no secret in it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` saying `message`.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// An [`ErrorKind::Invalid`] error.
    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Invalid, message)
    }

    /// An [`ErrorKind::Refused`] error.
    pub(crate) fn refused(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Refused, message)
    }

    /// An [`ErrorKind::Io`] error about `path`: "cannot DOING PATH: ERROR".
    pub(crate) fn io(doing: &str, path: &Path, e: impl fmt::Display) -> Error {
        Error::new(
            ErrorKind::Io,
            format!("cannot {doing} {}: {e}", path.display()),
        )
    }

    /// An [`ErrorKind::Crypto`] error: what failed, and rcgen's reason.
    pub(crate) fn crypto(doing: &str, e: impl fmt::Display) -> Error {
        Error::new(ErrorKind::Crypto, format!("cannot {doing}: {e}"))
    }

    /// The kind of failure.
    #[cfg(test)]
    pub(crate) fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
