//! Plan (desired vs current), noop, execution and reports; `providers/` does the system IO.
//!
//! `apply::run` takes a catalog document (the wire format `fleet compile` prints;
//! `apply::run_catalog` takes a compiled `Catalog` as it is, for `fleet apply FILE`), walks
//! its dependency graph in topological order (independent resources in parallel) and asks
//! each resource's provider to read the current state, compare it with the desired one and,
//! unless `noop`, change exactly what differs. It returns data (a [`Run`]); the CLI renders it.

pub(crate) mod commit;
pub(crate) mod engine;
pub(crate) mod error;
pub(crate) mod facts;
pub(crate) mod providers;
pub(crate) mod report;
pub(crate) mod secret;
pub(crate) mod state;
pub(crate) mod time;

use std::path::PathBuf;

use crate::sys::root::Root;

pub use engine::run;
pub(crate) use engine::{run_catalog, run_catalog_observed, run_observed, Event};
pub(crate) use error::{Error, ErrorKind};
pub(crate) use providers::Provider;
pub use providers::Providers;

/// What a run is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    pub root: Root,
    /// The state directory as a path on this host: for the default, `/var/lib` resolved
    /// inside the root and pinned (`/proc/self/fd/N/fleet`, see `cli::apply::state_dir`).
    pub state_dir: PathBuf,
    pub noop: bool,
    /// Worker threads; 0 means the number of cores.
    pub jobs: usize,
    /// Compute unified diffs of changed file contents.
    pub show_diff: bool,
    /// Flush every written file before its rename (in groups, see [`commit`]) and the
    /// changed directories at the end; false (`--no-fsync`): flush nothing.
    pub fsync: bool,
    /// Run commands inside the root with chroot(2) (`--chroot`) instead of on the host.
    pub chroot: bool,
    /// Under a root, run commands on the host (`--run-host-commands`). Under a root with
    /// neither this nor `chroot`, no command runs (see [`providers::NOT_RUN`]).
    pub host_commands: bool,
    /// `--tags` / `--skip-tags`: which resources the run takes.
    pub tags: TagFilter,
}

/// Which resources a run takes, by the tags each carries in the catalog (LANGUAGE.md §10, rule 12:
/// its type name, its classes and defines, its `tag` values). A resource left out is not
/// run, not planned and not in the results; the order of those taken is kept (edges through
/// a left-out resource still order them), and a dependent of a failure is still skipped
/// when the path between them runs through resources left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagFilter {
    /// Only resources carrying one of these; empty: every resource.
    pub only: Vec<String>,
    /// No resource carrying one of these (wins over `only`).
    pub skip: Vec<String>,
}

impl TagFilter {
    /// Takes every resource.
    pub fn is_empty(&self) -> bool {
        self.only.is_empty() && self.skip.is_empty()
    }

    /// Whether a resource with these tags is taken (tags compare without regard to ASCII
    /// case, as class and type names are case-insensitive).
    pub fn takes<'t>(&self, tags: impl Iterator<Item = &'t str> + Clone) -> bool {
        let has = |wanted: &[String]| {
            tags.clone()
                .any(|t| wanted.iter().any(|w| w.eq_ignore_ascii_case(t)))
        };
        (self.only.is_empty() || has(&self.only)) && !has(&self.skip)
    }
}

/// What a resource needs (or needed): rendered `+`, `~`, `-`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    Create,
    Change,
    Remove,
}

/// One property that differs: `mode: 0600 -> 0644`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub property: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub message: String,
    /// The value is sensitive: a plan shows the message (`content changed (sensitive)`),
    /// never `from -> to` (set by [`secret::redact`]).
    pub sensitive: bool,
}

impl Change {
    pub fn new(
        property: &str,
        from: impl Into<Option<String>>,
        to: impl Into<Option<String>>,
        message: impl Into<String>,
    ) -> Change {
        Change {
            property: property.to_string(),
            from: from.into(),
            to: to.into(),
            message: message.into(),
            sensitive: false,
        }
    }
}

/// A provider's answer for one resource: what differed (and, unless noop, was changed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub action: Action,
    pub changes: Vec<Change>,
    /// A unified diff of a file's content (only with `show_diff`).
    pub diff: Option<String>,
}

impl Outcome {
    pub fn unchanged() -> Outcome {
        Outcome {
            action: Action::None,
            changes: Vec::new(),
            diff: None,
        }
    }

    pub fn new(action: Action, changes: Vec<Change>) -> Outcome {
        let action = if changes.is_empty() {
            Action::None
        } else {
            action
        };
        Outcome {
            action,
            changes,
            diff: None,
        }
    }

    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Unchanged,
    /// Changed, or would change under noop.
    Changed,
    Failed,
    /// A dependency failed (or was skipped).
    Skipped,
    /// A command not run under `--root` (neither `--run-host-commands` nor `--chroot`): it
    /// changed nothing and its dependents go on. Reported as `skipped`.
    NotRun,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unchanged => "unchanged",
            Status::Changed => "changed",
            Status::Failed => "failed",
            Status::Skipped | Status::NotRun => "skipped",
        }
    }
}

/// The result for one resource.
#[derive(Clone, Debug)]
pub struct ResourceResult {
    /// `Type[title]`.
    pub reference: String,
    pub status: Status,
    pub outcome: Outcome,
    /// Set when a refresh was (or would be) done: "restarted", "would restart", "ran", ...
    pub refreshed: Option<String>,
    /// Why it failed or was skipped (rendered by `cli/`; its `Display` is the text).
    pub message: Option<Error>,
    /// Only planned, in a real run (the resource's `noop` metaparameter).
    pub noop: bool,
}

/// A whole run: every resource's result in topological (then catalog) order.
#[derive(Clone, Debug)]
pub struct Run {
    pub node: String,
    pub noop: bool,
    /// RFC 3339 UTC.
    pub started: String,
    pub seconds: f64,
    pub results: Vec<ResourceResult>,
}

impl Run {
    pub fn count(&self, status: Status) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }

    pub fn changed(&self) -> bool {
        self.count(Status::Changed) > 0
    }

    pub fn failed(&self) -> bool {
        self.count(Status::Failed) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::TagFilter;

    #[test]
    fn a_tag_filter_takes_what_carries_a_tag_and_skip_wins() {
        let tags = ["file", "web", "monitoring::gmond", "monitoring", "gmond"];
        let f = |only: &[&str], skip: &[&str]| TagFilter {
            only: only.iter().map(|s| s.to_string()).collect(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
        };
        let takes = |f: TagFilter| f.takes(tags.iter().copied());
        assert!(takes(TagFilter::default()));
        assert!(takes(f(&["web"], &[])));
        assert!(takes(f(&["db", "Monitoring"], &[])));
        assert!(!takes(f(&["db"], &[])));
        assert!(!takes(f(&[], &["gmond"])));
        assert!(!takes(f(&["web"], &["FILE"])));
        assert!(takes(f(&[], &["exec"])));
    }
}
