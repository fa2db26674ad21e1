//! Code releases (Capistrano style): unpack, link shared paths, switch `current`, prune, roll back.
//!
//! A deploy root `PATH` holds
//!
//! ```text
//! PATH/releases/<id>/          one directory per release, complete once it has this name
//! PATH/releases/.<id>.json     its deploy metadata (sequence, time, source sha, commit)
//! PATH/shared/…                kept across releases, linked into each one
//! PATH/current -> releases/<id>
//! ```
//!
//! The invariants every operation keeps:
//! - a directory named `releases/<id>` is complete: it is built as `releases/.tmp-<id>-<pid>`
//!   (tarball unpacked, shared paths linked, `before_switch` run, owner set, metadata written)
//!   and renamed into place only then; a failure before that removes the temporary directory,
//!   and leftovers of a killed run (`.tmp-*`, `current.tmp-*`, metadata without a release) are
//!   removed by the next `apply`;
//! - `current` only ever changes by renaming a new relative symlink over it, so it always
//!   points at a complete release or at what it pointed at before;
//! - tarball entries never write outside the new release directory (see [`unpack`]), and an
//!   archive is streamed from its file, never held whole, within [`Limits`] of total file size
//!   and entry count (`FLEET_RELEASE_MAX_BYTES`, `FLEET_RELEASE_MAX_FILES`);
//! - "newest" means most recently deployed (the metadata's sequence number), not the name.
//!
//! Decisions:
//! - metadata lives beside, not inside, the release (`releases/.<id>.json`) so the release tree
//!   is exactly the source; a release without metadata (made by hand or by another tool) sorts
//!   as oldest, by its directory's modification time;
//! - the first time, a `shared` path's entry in `shared/` is seeded from the release's own
//!   copy when it ships one (a regular file, or a directory tree copied with its permission
//!   bits; links inside are copied as links, never followed; a link at the path itself is not
//!   seeded from); otherwise it is made empty: a directory when it is written with a trailing
//!   `/` or when its last component has no `.` (`log`, `tmp/cache`), else an empty file
//!   (`config/config.inc`). What already is in `shared/` wins: a later release's own copy is
//!   replaced by the link, never copied over. The release step says which it was;
//! - `ensure = absent` removes `current` and `releases/` (every release and its metadata) and
//!   keeps `shared/` (configuration and data outlive the code) and `PATH` itself;
//! - `before_switch` runs in the new release while it is still `releases/.tmp-<id>-<pid>`
//!   (`FLEET_RELEASE_PATH` names where it will live); `after_switch` runs in `releases/<id>`.
//!   Switching back to a release that still exists (not current) runs both hooks again, in it.
//!   Hooks run with `/bin/sh -c` on the host, with `FLEET_RELEASE_ID`, `FLEET_RELEASE_PATH` and,
//!   under a sandbox root only, `FLEET_ROOT`; their output is kept in the [`Outcome`];
//! - `owner`/`group` are applied (without following symlinks) to the new release after
//!   `before_switch`, so what the hook made is owned too, and to entries created in `shared/`;
//! - pruning keeps the `keep` newest releases, and always the current one, the one a rollback
//!   would return to, and the one that was current before this apply.

mod deploy;
mod meta;
mod owner;
mod seed;
mod spec;
mod unpack;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::store::{ContentStore, SharedBytes};

pub use deploy::{apply, list, plan, rollback, Outcome};
pub(crate) use deploy::{stage, unstage, Plan};
pub(crate) use meta::ReleaseInfo;
pub(crate) use spec::Ensure;
pub use spec::Spec;
pub(crate) use unpack::{read_tree, TreeItem};
pub use unpack::{unpack, Limits};

/// Where release bytes come from at apply time: by lower-case hex sha256.
pub trait ContentSource {
    fn get(&self, sha256: &str) -> Option<Arc<Vec<u8>>>;

    /// A reader of the bytes, unverified (the unpacker hashes what it reads); `None` when
    /// there are none. By default over [`ContentSource::get`]'s bytes.
    fn open(&self, sha256: &str) -> Option<std::io::Result<Box<dyn std::io::Read + Send>>> {
        let bytes = self.get(sha256)?;
        Some(Ok(Box::new(std::io::Cursor::new(SharedBytes(bytes)))))
    }
}

impl ContentSource for ContentStore {
    fn get(&self, sha256: &str) -> Option<Arc<Vec<u8>>> {
        ContentStore::get(self, sha256)
    }

    fn open(&self, sha256: &str) -> Option<std::io::Result<Box<dyn std::io::Read + Send>>> {
        ContentStore::open(self, sha256)
    }
}

impl<F: Fn(&str) -> Option<Arc<Vec<u8>>>> ContentSource for F {
    fn get(&self, sha256: &str) -> Option<Arc<Vec<u8>>> {
        self(sha256)
    }
}

/// The world an apply runs in.
pub struct Env<'a> {
    /// A sandbox root: every path the spec names is taken under it (`--root`). Hooks run as
    /// [`Env::hooks`] says.
    pub root: Option<PathBuf>,
    /// Release bytes by sha256.
    pub content: &'a dyn ContentSource,
    /// Where hooks run (`Env::new`: on the host).
    pub hooks: Hooks,
    /// What one archive may unpack to.
    pub limits: Limits,
}

/// Where a release's hooks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hooks {
    /// On this host, in the release's directory (under the root, with `FLEET_ROOT` set to it).
    Host,
    /// Inside the root with chroot(2); the directory and `FLEET_RELEASE_PATH` are paths in it.
    Chroot,
    /// Not at all (`fleet apply --root` without `--run-host-commands` or `--chroot`).
    NotRun,
}

impl<'a> Env<'a> {
    /// An environment with the default [`Limits`].
    pub fn new(root: Option<PathBuf>, content: &'a dyn ContentSource) -> Env<'a> {
        Env {
            root,
            content,
            hooks: Hooks::Host,
            limits: Limits::default(),
        }
    }

    pub fn with_limits(self, limits: Limits) -> Env<'a> {
        Env { limits, ..self }
    }
}

/// `path` (absolute) as seen on this host, as text: under `root` when there is one. For
/// messages only: operations reach the deploy root through the root's handles (`deploy.rs`).
pub(crate) fn host_path(root: Option<&Path>, path: &Path) -> PathBuf {
    match root {
        Some(root) => {
            let rel: PathBuf = path
                .components()
                .filter(|c| matches!(c, std::path::Component::Normal(_)))
                .collect();
            root.join(rel)
        }
        None => path.to_path_buf(),
    }
}

/// Why a release operation failed.
#[derive(Debug)]
pub enum Error {
    /// The resource's parameters are unusable.
    Spec(String),
    /// The content store has no bytes for the sha256 (or they do not match it).
    MissingContent(String),
    /// The archive could not be read.
    Corrupt(String),
    /// An archive entry would land outside the release, or is of a refused kind.
    Unsafe(String),
    /// The archive unpacks to more entries or bytes than its [`Limits`] allow.
    Limit(String),
    /// A hook exited unsuccessfully; `output` is its stdout and stderr, interleaved (tail).
    Hook {
        hook: &'static str,
        status: String,
        output: String,
    },
    /// `after_switch` failed: `current` was switched to the new release nonetheless.
    AfterSwitch(Box<Error>),
    /// Rollback has no release to go back to, or the named one does not exist.
    Rollback(String),
    /// A filesystem or process error, with what was being done.
    Io {
        context: String,
        error: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        // Paths through pinned handles (`/proc/self/fd/N/...`) as the paths under the root.
        let context = crate::sys::root::shown_text(&context.into());
        move |error| Error::Io { context, error }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spec(m) => write!(f, "{m}"),
            Error::MissingContent(sha) => {
                write!(f, "the content store has no bytes for sha256 {sha}")
            }
            Error::Corrupt(m) => write!(f, "corrupt release archive: {m}"),
            Error::Unsafe(m) | Error::Limit(m) => write!(f, "refused release archive: {m}"),
            Error::Hook {
                hook,
                status,
                output,
            } => {
                write!(f, "{hook} failed ({status})")?;
                if !output.is_empty() {
                    write!(f, ":\n{}", output.trim_end())?;
                }
                Ok(())
            }
            Error::AfterSwitch(e) => write!(f, "current was switched, but {e}"),
            Error::Rollback(m) => write!(f, "{m}"),
            Error::Io { context, error } => write!(f, "{context}: {error}"),
        }
    }
}

impl std::error::Error for Error {}
