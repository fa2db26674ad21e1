//! Providers: the only code that reads and changes the system, one per resource type.

pub(crate) mod etc;
pub(crate) mod exec;
pub(crate) mod file;
pub(crate) mod file_line;
pub(crate) mod package;
pub(crate) mod release;
pub(crate) mod service;
pub(crate) mod user;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::commit::Staging;
use super::state::Backups;
use super::{Error, ErrorKind, Outcome};
use crate::catalog::json::ResourceDoc;
use crate::catalog::store::ContentStore;
use crate::sys::root::{DirCache, Root};

/// What every provider call sees.
pub struct Ctx<'a> {
    pub root: &'a Root,
    pub noop: bool,
    pub show_diff: bool,
    /// Flush each written file's data before renaming it into place.
    pub fsync: bool,
    /// Run commands inside the root with chroot(2) instead of on the host.
    pub chroot: bool,
    /// Under a root: run commands on the host (`--run-host-commands`).
    pub host_commands: bool,
    pub store: &'a ContentStore,
    pub backups: &'a Backups,
    pub ids: &'a etc::Ids,
    /// Directories whose entries this run changed; flushed once at the end (with `fsync`).
    pub dirty: &'a std::sync::Mutex<std::collections::BTreeSet<std::path::PathBuf>>,
    /// Where directories resolved under the root, for this run.
    pub dirs: &'a DirCache,
    /// Where a file write may leave its temp file for the engine's group commit (flush,
    /// then rename) instead of flushing and renaming it at once: set for the resource being
    /// synced in a real run with flushes on (see `apply::commit`).
    pub staging: Option<&'a Staging<'a>>,
    /// An earlier run did not end (`state::Unfinished`): `prepare` hooks clean up after it.
    pub sweep: bool,
}

/// How a command that this run does not run is reported: the text [`not_run`]'s errors
/// start with (the engine gives the resource [`crate::apply::Status::NotRun`] by their kind,
/// [`ErrorKind::NotRun`]).
pub(crate) const NOT_RUN: &str = "not run under --root";

impl Ctx<'_> {
    /// `Ok` when commands may run: not under a root, or under one with `--chroot` or
    /// `--run-host-commands`; otherwise the [`NOT_RUN`] message for `what` (a command).
    pub fn may_run(&self, what: &str) -> Result<(), Error> {
        if self.root.dir().is_some() && !self.chroot && !self.host_commands {
            return Err(not_run(what));
        }
        Ok(())
    }

    /// Maps a catalog path under the root ([`Root::resolve`]), through the run's cache of
    /// resolved directories.
    pub fn resolve(&self, path: &str) -> std::io::Result<crate::sys::root::Real> {
        self.dirs.resolve(self.root, path)
    }

    /// Notes that an entry of `path`'s parent directory was created, replaced or removed
    /// (kept as the path under the root: the handle may be closed by the end of the run).
    pub fn touched(&self, path: &crate::sys::root::Real) {
        if let (true, Some(dir)) = (self.fsync && !self.noop, path.shown().parent()) {
            self.dirty
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(dir.to_path_buf());
        }
    }
}

/// The [`NOT_RUN`] error for a command.
pub(crate) fn not_run(what: &str) -> Error {
    Error::new(
        ErrorKind::NotRun,
        format!("{NOT_RUN} (--run-host-commands or --chroot runs it): {what}"),
    )
}

/// Makes one resource type's state match: read, compare, change (unless `cx.noop`).
///
/// A provider must be idempotent (a second `sync` after a successful one reports no
/// change) and, under noop, must not change anything.
pub trait Provider: Send + Sync {
    /// Reads the current state, reports what differs and, unless noop, changes it.
    fn sync(&self, r: &ResourceDoc, cx: &Ctx) -> Result<Outcome, Error>;

    /// Called once per run before the walk with every resource of this provider's type
    /// (e.g. to clean up after an interrupted run). Must not change anything under noop.
    fn prepare(&self, resources: &[&ResourceDoc], cx: &Ctx) {
        let _ = (resources, cx);
    }

    /// Whether [`Provider::prepare`] has anything to do in this run (when false, the engine
    /// need not gather the resources for it). The default, true, always calls it.
    fn prepares(&self, cx: &Ctx) -> bool {
        let _ = cx;
        true
    }

    /// Whether this provider changes nothing but the paths it resolves, and calls
    /// [`DirCache::invalidate_under`] itself whenever it makes or removes a symlink or
    /// removes a directory. When false (the default: commands, packages and the like can
    /// change anything), the engine forgets the run's resolved directories after each of
    /// its resources and after its `prepare`.
    fn keeps_dirs(&self) -> bool {
        false
    }

    /// Reacts to a refresh event from a dependency that changed; `synced` is what `sync`
    /// just did. Returns what was (or, under noop, would be) done, `None` for nothing.
    fn refresh(
        &self,
        r: &ResourceDoc,
        cx: &Ctx,
        synced: &Outcome,
    ) -> Result<Option<String>, Error> {
        let _ = (r, cx, synced);
        Ok(None)
    }
}

/// Providers by resource type. `release` is plugged in by `src/release/` through
/// [`Providers::register`].
#[derive(Clone)]
pub struct Providers {
    map: HashMap<String, Arc<dyn Provider>>,
}

impl Providers {
    /// An empty registry.
    pub fn empty() -> Providers {
        Providers {
            map: HashMap::new(),
        }
    }

    /// file, file_line, package, user, group, service, exec, release.
    pub fn standard() -> Providers {
        let mut p = Providers::empty();
        p.register("file", Arc::new(file::FileProvider));
        p.register("file_line", Arc::new(file_line::FileLineProvider));
        p.register("package", Arc::new(package::PackageProvider::new()));
        p.register("user", Arc::new(user::UserProvider));
        p.register("group", Arc::new(user::GroupProvider));
        p.register("service", Arc::new(service::ServiceProvider));
        p.register("exec", Arc::new(exec::ExecProvider));
        p.register("release", Arc::new(release::ReleaseProvider));
        p
    }

    pub fn register(&mut self, kind: &str, provider: Arc<dyn Provider>) {
        self.map.insert(kind.to_string(), provider);
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn Provider>> {
        self.map.get(kind)
    }
}

/// Typed reads of a resource's `params` (the compiler validated them; hand-written catalogs
/// may not be, so every read can fail with a message).
pub(crate) struct Params<'a> {
    r: &'a ResourceDoc,
}

impl<'a> Params<'a> {
    pub(crate) fn new(r: &'a ResourceDoc) -> Params<'a> {
        Params { r }
    }

    pub(crate) fn raw(&self, name: &str) -> Option<&'a Value> {
        let params = &self.r.params;
        // A resource has a handful of parameters: comparing a few short keys is cheaper
        // than hashing the name (this runs about ten times per resource).
        let v = if params.len() <= 16 {
            params.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
        } else {
            params.get(name)
        };
        // A Sensitive value (`{"sensitive": v}`) is read as what it wraps; the engine keeps
        // it out of plans and reports.
        v.map(|v| crate::catalog::json::sensitive_inner(v).unwrap_or(v))
            .filter(|v| !v.is_null())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    /// [`Params::str`], borrowed from the catalog when it is a String there.
    pub(crate) fn str_ref(&self, name: &str) -> Result<Option<std::borrow::Cow<'a, str>>, Error> {
        match self.raw(name) {
            Some(Value::String(s)) => Ok(Some(std::borrow::Cow::Borrowed(s))),
            _ => Ok(self.str(name)?.map(std::borrow::Cow::Owned)),
        }
    }

    /// A String (Ints are rendered in decimal).
    pub(crate) fn str(&self, name: &str) -> Result<Option<String>, Error> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(v) => Err(Error::bad_catalog(format!(
                "{name}: expected a string, got {v}"
            ))),
        }
    }

    pub(crate) fn bool(&self, name: &str, default: bool) -> Result<bool, Error> {
        match self.raw(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
            Some(v) => Err(Error::bad_catalog(format!(
                "{name}: expected true or false, got {v}"
            ))),
        }
    }

    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, Error> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| Error::bad_catalog(format!("{name}: expected an integer, got {n}"))),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| Error::bad_catalog(format!("{name}: expected an integer, got {s:?}"))),
            Some(v) => Err(Error::bad_catalog(format!(
                "{name}: expected an integer, got {v}"
            ))),
        }
    }

    /// An Array of Strings (a single String counts as one element).
    pub(crate) fn strings(&self, name: &str) -> Result<Option<Vec<String>>, Error> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    v => Err(Error::bad_catalog(format!(
                        "{name}: expected strings, got {v}"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(Error::bad_catalog(format!(
                "{name}: expected an array of strings, got {v}"
            ))),
        }
    }

    /// The resource's namevar: `attr` when set, else the title.
    pub(crate) fn name(&self, attr: &str) -> Result<String, Error> {
        Ok(self.str(attr)?.unwrap_or_else(|| self.r.title.clone()))
    }
}
