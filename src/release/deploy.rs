//! Plan and apply one release resource; list and roll back a deploy root.

use std::fmt;
use std::fs;
use std::io::{self, Read, Seek};
use std::os::fd::AsFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use super::meta::{self, MetaDoc, ReleaseInfo};
use super::owner;
use super::seed;
use super::spec::{check_id, Ensure, Spec};
use super::unpack::{no_symlink_parents, unpack};
use super::{Env, Error, Hooks};
use crate::sys::root::{fd_path, show_as, Root, ShownAs};

/// A deploy root reached through the sandbox root, the way every path under `--root` is
/// (`sys::root`): the deploy root and its `releases/` are resolved inside the root (a
/// planted link is followed chroot-like, never out of it) and pinned as directory handles;
/// the code below works through their `/proc/self/fd/N` paths, so a directory swapped for a
/// link afterwards cannot redirect it. `shared/` paths are resolved inside the root each.
struct Layout {
    root: Root,
    /// The deploy root's catalog path (normalised).
    at: String,
    /// The pinned deploy root and `releases/` (when it exists).
    deploy: PathBuf,
    releases: Option<PathBuf>,
    _pins: Vec<(std::os::fd::OwnedFd, ShownAs)>,
}

impl Layout {
    /// `path` under `env.root`; `None` when it does not exist and `create` is false. With
    /// `create`, the deploy root (and with `releases`, `releases/`) is made first.
    fn open(env: &Env, path: &Path, create: bool, releases: bool) -> Result<Option<Layout>, Error> {
        let root = match &env.root {
            Some(d) => Root::new(d).map_err(Error::io(format!("open {}", d.display())))?,
            None => Root::host(),
        };
        let at = crate::sys::root::normalize(&path.to_string_lossy()).into_owned();
        let shown = |rel: &str| -> PathBuf {
            let mut p = root.path().to_path_buf();
            p.push(at.trim_start_matches('/'));
            if !rel.is_empty() {
                p.push(rel);
            }
            p
        };
        let mut pins = Vec::new();
        let mut pin =
            |catalog: &str, shown: PathBuf, make: bool| -> Result<Option<PathBuf>, Error> {
                if make {
                    root.create_dir_all(catalog, 0o755)
                        .map_err(Error::io(format!("create {}", shown.display())))?;
                }
                match root.open_dir_handle(catalog) {
                    Ok(fd) => {
                        let p = fd_path(&fd);
                        let guard = show_as(&fd, &shown);
                        pins.push((fd, guard));
                        Ok(Some(p))
                    }
                    Err(e) if !make && e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io(format!("open {}", shown.display()))(e)),
                }
            };
        let Some(deploy) = pin(&at, shown(""), create)? else {
            return Ok(None);
        };
        let releases = pin(
            &format!("{at}/releases"),
            shown("releases"),
            create && releases,
        )?;
        Ok(Some(Layout {
            root,
            at,
            deploy,
            releases,
            _pins: pins,
        }))
    }

    /// `releases/`, which must exist by now.
    fn releases(&self) -> Result<&Path, Error> {
        self.releases.as_deref().ok_or_else(|| {
            Error::io(format!("open {}/releases", self.shown().display()))(io::Error::from(
                io::ErrorKind::NotFound,
            ))
        })
    }

    /// Whether `shared/<path>` exists (resolved inside the root; a link there counts).
    fn shared_exists(&self, path: &str) -> bool {
        let rel = path.trim_end_matches('/');
        self.root
            .open(&format!("{}/shared/{rel}", self.at))
            .is_ok_and(|r| r.lstat().is_ok())
    }

    /// The deploy root as a path under the root, for messages and hooks.
    fn shown(&self) -> PathBuf {
        self.root.path().join(self.at.trim_start_matches('/'))
    }
}

/// What applying a spec would do (and, in an [`Outcome`], what it did), in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The deploy root on this host (under the sandbox root, if any), as text: the run
    /// itself reaches it through a pinned handle.
    pub deploy_root: PathBuf,
    pub id: String,
    /// Leftovers of an interrupted run, removed first.
    pub leftovers: Vec<PathBuf>,
    /// The content sha256 unpacked into a new `releases/<id>`; `None` when it exists already.
    pub unpack: Option<String>,
    /// Shared paths linked into the new release (after an apply: with what happened in
    /// `shared/`).
    pub link_shared: Vec<SharedLink>,
    pub before_switch: Option<String>,
    /// `current` moves to `releases/<id>`.
    pub switch: Option<Switch>,
    pub after_switch: Option<String>,
    /// Releases deleted beyond `keep`, oldest last.
    pub prune: Vec<String>,
    /// `ensure = absent`.
    pub remove: Option<Removal>,
}

/// A shared path linked into a new release, and what its `shared/` entry was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedLink {
    /// As written in the spec (a trailing `/` kept).
    pub path: String,
    pub shared: Shared,
}

/// What became of a shared path's entry in `shared/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shared {
    /// Planned only (a noop): whether the entry exists in `shared/` already (then it is
    /// kept), else it is seeded from the release's copy or made empty, which is known only
    /// once the release is unpacked.
    Planned { exists: bool },
    /// It did not exist: copied from the release's own copy (file or directory).
    Seeded,
    /// It did not exist and the release has none: created empty (a directory when `dir`).
    CreatedEmpty { dir: bool },
    /// It existed and is kept; `replaced`: the release's own copy was replaced by the link.
    Kept { replaced: bool },
}

/// `current` moving from a release (if it points at one) to `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Switch {
    pub from: Option<String>,
    pub to: String,
}

/// What `ensure = absent` removes: the `current` link (if there is one) and `releases/` with
/// these releases in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    pub current: bool,
    pub releases: Vec<String>,
}

impl Plan {
    /// Whether applying changes anything on disk.
    pub fn is_change(&self) -> bool {
        !self.leftovers.is_empty()
            || self.unpack.is_some()
            || self.switch.is_some()
            || !self.prune.is_empty()
            || self.remove.is_some()
    }

    /// One line per step, relative to the deploy root; `["no change"]` when there is none.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for l in &self.leftovers {
            let rel = l.strip_prefix(&self.deploy_root).unwrap_or(l);
            out.push(format!("remove leftover {}", rel.display()));
        }
        if let Some(removal) = &self.remove {
            if removal.current {
                out.push("remove current".to_string());
            }
            out.push(format!(
                "remove releases/ ({}), keeping shared/",
                if removal.releases.is_empty() {
                    "no releases".to_string()
                } else {
                    removal.releases.join(", ")
                }
            ));
        }
        if let Some(sha) = &self.unpack {
            out.push(format!("unpack sha256:{sha} into releases/{}", self.id));
        }
        for l in &self.link_shared {
            let s = l.path.trim_end_matches('/');
            let what = match l.shared {
                Shared::Planned { exists: true } => {
                    format!(" (shared/{s} exists and is kept)")
                }
                Shared::Planned { exists: false } => format!(
                    " (new shared/{s}: seeded from the release's copy, or made empty without one)"
                ),
                Shared::Seeded => format!(" (seeded shared/{s} from the release)"),
                Shared::CreatedEmpty { dir: true } => {
                    format!(" (created shared/{s}/ empty: the release has none)")
                }
                Shared::CreatedEmpty { dir: false } => {
                    format!(" (created shared/{s} empty: the release has none)")
                }
                Shared::Kept { replaced: true } => format!(
                    " (kept the existing shared/{s}; the release's copy was replaced by the link)"
                ),
                Shared::Kept { replaced: false } => format!(" (kept the existing shared/{s})"),
            };
            out.push(format!("link {s} -> shared/{s}{what}"));
        }
        if let Some(cmd) = &self.before_switch {
            out.push(format!("run before_switch: {cmd}"));
        }
        if let Some(Switch { from, to }) = &self.switch {
            match from {
                Some(from) => out.push(format!("switch current from {from} to {to}")),
                None => out.push(format!("point current at {to}")),
            }
        }
        if let Some(cmd) = &self.after_switch {
            out.push(format!("run after_switch: {cmd}"));
        }
        for id in &self.prune {
            out.push(format!("prune releases/{id}"));
        }
        if out.is_empty() {
            out.push("no change".to_string());
        }
        out
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// What an apply did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The steps taken; `plan.is_change()` tells whether anything changed.
    pub plan: Plan,
    /// Output (stdout then stderr) of each hook that ran, by hook name.
    pub hook_output: Vec<(&'static str, String)>,
}

impl Outcome {
    pub fn changed(&self) -> bool {
        self.plan.is_change()
    }
}

/// What a rollback did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollback {
    /// The release that was current, now deleted.
    pub from: String,
    /// The release `current` points at now.
    pub to: String,
}

/// What [`apply`] would do, without changing anything.
pub fn plan(spec: &Spec, env: &Env) -> Result<Plan, Error> {
    let layout = Layout::open(env, &spec.path, false, false)?;
    compute(spec, layout.as_ref())
}

/// Brings the deploy root to the spec: see the module docs for the steps and guarantees.
pub fn apply(spec: &Spec, env: &Env) -> Result<Outcome, Error> {
    if spec.ensure == Ensure::Absent {
        let Some(layout) = Layout::open(env, &spec.path, false, false)? else {
            return Ok(Outcome {
                plan: compute(spec, None)?,
                hook_output: Vec::new(),
            });
        };
        let _lock = lock(&layout.deploy)?;
        let mut plan = compute(spec, Some(&layout))?;
        let hook_output = execute(spec, env, &mut plan, &layout)?;
        return Ok(Outcome { plan, hook_output });
    }
    let layout = Layout::open(env, &spec.path, true, true)?
        .ok_or_else(|| Error::Spec(format!("cannot create {}", spec.path.display())))?;
    let _lock = lock(&layout.deploy)?;
    let mut plan = compute(spec, Some(&layout))?;
    let hook_output = execute(spec, env, &mut plan, &layout)?;
    Ok(Outcome { plan, hook_output })
}

/// The releases under the deploy root `path`, newest first.
pub fn list(path: &Path, root: Option<&Path>) -> Result<Vec<ReleaseInfo>, Error> {
    let env = Env::new(root.map(Path::to_path_buf), &|_: &str| None);
    let Some(l) = Layout::open(&env, path, false, false)? else {
        return Ok(Vec::new());
    };
    meta::read_all(&l.deploy, l.releases.as_deref())
        .map_err(Error::io(format!("read {}", l.shown().display())))
}

/// Points `current` at the previous release (the next older one by deploy order) or at `to`,
/// then deletes the release that was current.
pub fn rollback(path: &Path, root: Option<&Path>, to: Option<&str>) -> Result<Rollback, Error> {
    let env = Env::new(root.map(Path::to_path_buf), &|_: &str| None);
    let not_root = |shown: &Path| {
        Error::Rollback(format!(
            "{} is not a deploy root: nothing to roll back",
            shown.display()
        ))
    };
    let layout = match Layout::open(&env, path, false, false) {
        Ok(Some(l)) => l,
        Ok(None) => {
            let shown = super::host_path(root, path);
            return Err(not_root(&shown));
        }
        Err(e) => return Err(e),
    };
    let shown = layout.shown();
    let dir = layout.deploy.clone();
    let _lock = lock(&dir)?;
    let infos = meta::read_all(&dir, layout.releases.as_deref())
        .map_err(Error::io(format!("read {}", shown.display())))?;
    let Some(from) = meta::read_current(&dir) else {
        return Err(Error::Rollback(format!(
            "{} has no current release: nothing to roll back",
            shown.display()
        )));
    };
    let target = match to {
        Some(to) if to == from => {
            return Err(Error::Rollback(format!(
                "{to} is already the current release"
            )))
        }
        Some(to) => infos
            .iter()
            .find(|i| i.id == to)
            .ok_or_else(|| {
                Error::Rollback(format!(
                    "no release {to:?} under {}; there are: {}",
                    shown.display(),
                    infos
                        .iter()
                        .map(|i| i.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?
            .id
            .clone(),
        None => {
            let pos = infos.iter().position(|i| i.id == from);
            let older = pos.map_or(&infos[..], |p| &infos[p + 1..]);
            older
                .first()
                .ok_or_else(|| {
                    Error::Rollback(format!(
                        "nothing to roll back to: {from} is the only (or oldest) release under {}",
                        shown.display()
                    ))
                })?
                .id
                .clone()
        }
    };
    switch_current(&dir, &target)?;
    append_revision(&dir, layout.releases()?, "rollback", &target, Some(&from))?;
    remove_release(layout.releases()?, &from)?;
    Ok(Rollback { from, to: target })
}

/// The plan, from the deploy root as it is (`None`: it does not exist).
fn compute(spec: &Spec, layout: Option<&Layout>) -> Result<Plan, Error> {
    let (root, releases) = match layout {
        Some(l) => (Some(l.deploy.as_path()), l.releases.as_deref()),
        None => (None, None),
    };
    let shown = layout.map_or_else(|| spec.path.clone(), Layout::shown);
    let read = || Error::io(format!("read {}", shown.display()));
    // Shown as paths under the root (what `plan.deploy_root` is); `execute` maps them back.
    let leftovers = match root {
        Some(r) => leftovers(r, releases)
            .map_err(read())?
            .into_iter()
            .map(
                |l| match (l.strip_prefix(r), releases.map(|d| l.strip_prefix(d))) {
                    (Ok(rest), _) => shown.join(rest),
                    (_, Some(Ok(rest))) => shown.join("releases").join(rest),
                    _ => l,
                },
            )
            .collect(),
        None => Vec::new(),
    };
    let infos = match root {
        Some(r) => meta::read_all(r, releases).map_err(read())?,
        None => Vec::new(),
    };
    let current = root.and_then(meta::read_current);
    let mut plan = Plan {
        deploy_root: shown.clone(),
        id: spec.id.clone(),
        leftovers,
        unpack: None,
        link_shared: Vec::new(),
        before_switch: None,
        switch: None,
        after_switch: None,
        prune: Vec::new(),
        remove: None,
    };
    if spec.ensure == Ensure::Absent {
        let has_current = root.is_some_and(|r| fs::symlink_metadata(r.join("current")).is_ok());
        let has_releases =
            root.is_some_and(|r| fs::symlink_metadata(meta::releases_dir(r)).is_ok());
        if has_current || has_releases {
            plan.remove = Some(Removal {
                current: has_current,
                releases: infos.into_iter().map(|i| i.id).collect(),
            });
        }
        return Ok(plan);
    }
    let mut order: Vec<String> = infos.into_iter().map(|i| i.id).collect();
    let exists = releases.is_some_and(|r| r.join(&spec.id).is_dir());
    // A `current` left pointing at a release deleted by hand is repaired, not trusted.
    if current.as_deref() != Some(spec.id.as_str()) || !exists {
        if !exists {
            plan.unpack = spec.content_sha256.clone();
            plan.link_shared = spec
                .shared
                .iter()
                .map(|p| SharedLink {
                    path: p.clone(),
                    shared: Shared::Planned {
                        exists: layout.is_some_and(|l| l.shared_exists(p)),
                    },
                })
                .collect();
        }
        // A staged release passed `before_switch` when it was staged.
        let staged = releases.is_some_and(|r| staged_path(r, &spec.id).exists());
        if !staged || !exists {
            plan.before_switch = spec.before_switch.clone();
        }
        plan.switch = Some(Switch {
            from: current.clone(),
            to: spec.id.clone(),
        });
        plan.after_switch = spec.after_switch.clone();
        order.retain(|id| id != &spec.id);
        order.insert(0, spec.id.clone());
    }
    plan.prune = prune_list(&order, &spec.id, current.as_deref(), spec.keep);
    Ok(plan)
}

/// Releases beyond the `keep` newest, sparing `current`, the release a rollback would return
/// to, and the release that was current before.
fn prune_list(
    newest_first: &[String],
    current: &str,
    before: Option<&str>,
    keep: usize,
) -> Vec<String> {
    let pos = newest_first.iter().position(|id| id == current);
    let rollback_target = pos
        .and_then(|p| newest_first.get(p + 1))
        .map(String::as_str);
    newest_first
        .iter()
        .skip(keep)
        .filter(|id| {
            let id = id.as_str();
            id != current && Some(id) != rollback_target && Some(id) != before
        })
        .cloned()
        .collect()
}

/// `releases/.tmp-*` (unfinished releases and metadata), `current.tmp-*`, and metadata whose
/// release is gone.
fn leftovers(root: &Path, releases: Option<&Path>) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let releases = releases.map_or_else(PathBuf::new, Path::to_path_buf);
    for (dir, prefix) in [(root, "current.tmp-"), (releases.as_path(), ".tmp-")] {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(prefix) {
                out.push(entry.path());
            } else if dir == releases {
                let orphan_meta = name
                    .strip_prefix('.')
                    .and_then(|n| {
                        n.strip_suffix(".json")
                            .or_else(|| n.strip_suffix(".staged"))
                    })
                    .filter(|id| check_id(id).is_ok() && !releases.join(id).is_dir());
                if orphan_meta.is_some() {
                    out.push(entry.path());
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Carries the plan out; the shared links' entries say what became of them.
fn execute(
    spec: &Spec,
    env: &Env,
    plan: &mut Plan,
    layout: &Layout,
) -> Result<Vec<(&'static str, String)>, Error> {
    let root = &layout.deploy;
    remove_leftovers(plan, layout)?;
    if let Some(removal) = &plan.remove {
        if removal.current {
            let link = root.join("current");
            fs::remove_file(&link).map_err(Error::io(format!("remove {}", link.display())))?;
        }
        // The entry itself, never what a link there points at.
        remove_any(&meta::releases_dir(root))?;
        return Ok(Vec::new());
    }
    let mut hooks = Vec::new();
    if let Some(Switch { to: id, .. }) = &plan.switch {
        let releases = layout.releases()?.to_path_buf();
        let dir = releases.join(id);
        let shown_dir = layout.shown().join("releases").join(id);
        let seq = next_seq(root, &releases)?;
        if let Some(sha) = &plan.unpack {
            let (out, links) = build_release(spec, env, layout, sha, seq)?;
            hooks.extend(out.map(|out| ("before_switch", out)));
            plan.link_shared = links;
        } else {
            if let Some(cmd) = &plan.before_switch {
                if let Some(out) = run_hook("before_switch", cmd, &dir, &shown_dir, id, env)? {
                    hooks.push(("before_switch", out));
                }
            }
            let old = meta::read_all(root, Some(&releases))
                .ok()
                .and_then(|all| all.into_iter().find(|i| &i.id == id));
            let doc = MetaDoc {
                format: 1,
                id: id.clone(),
                seq,
                deployed: meta::rfc3339(SystemTime::now()),
                content_sha256: old.as_ref().and_then(|o| o.content_sha256.clone()),
                commit: old.and_then(|o| o.commit),
            };
            meta::write_meta(&releases, &doc)
                .map_err(Error::io(format!("write metadata of {id}")))?;
        }
        if let Err(e) = switch_current(root, id) {
            if plan.unpack.is_some() {
                let _ = remove_release(&releases, id);
            }
            return Err(e);
        }
        let _ = fs::remove_file(staged_path(&releases, id));
        let from = plan.switch.as_ref().and_then(|s| s.from.as_deref());
        append_revision(root, &releases, "deploy", id, from)?;
        if let Some(cmd) = &plan.after_switch {
            let out = run_hook("after_switch", cmd, &dir, &shown_dir, id, env)
                .map_err(|e| Error::AfterSwitch(Box::new(e)))?;
            hooks.extend(out.map(|out| ("after_switch", out)));
        }
    }
    for id in &plan.prune {
        remove_release(layout.releases()?, id)?;
    }
    Ok(hooks)
}

/// Removes what an interrupted run left (the plan's `leftovers`).
fn remove_leftovers(plan: &Plan, layout: &Layout) -> Result<(), Error> {
    for path in &plan.leftovers {
        let rel = path.strip_prefix(&plan.deploy_root).unwrap_or(path);
        let real = match rel.strip_prefix("releases") {
            Ok(rest) => layout.releases()?.join(rest),
            Err(_) => layout.deploy.join(rel),
        };
        remove_any(&real)?;
    }
    Ok(())
}

/// `releases/.<id>.staged`: the release was staged (`fleet push --release`) and has not been
/// switched to. It holds `created` when staging made the release (unstaging removes it), or
/// `existing` when the release was there already (unstaging keeps it).
fn staged_path(releases: &Path, id: &str) -> PathBuf {
    releases.join(format!(".{id}.staged"))
}

/// What [`stage`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Staged {
    pub deploy_root: PathBuf,
    pub id: String,
    /// `releases/<id>` was made now (else it existed, or `current` is it already).
    pub created: bool,
    /// `current` already points at it: nothing to stage, nothing will switch.
    pub current: bool,
    pub hook_output: Vec<(&'static str, String)>,
}

/// Stages the release for a coordinated switch: `releases/<id>` made complete as an apply
/// would (unpacked, shared paths linked, `before_switch` run, owner set, metadata), or, when
/// it exists and is not current, `before_switch` run in it; `current` is left alone. A later
/// apply switches to it without running `before_switch` again; [`unstage`] undoes it.
pub(crate) fn stage(spec: &Spec, env: &Env) -> Result<Staged, Error> {
    if spec.ensure == Ensure::Absent {
        return Err(Error::Spec(format!(
            "{} has ensure = absent: there is nothing to stage",
            spec.path.display()
        )));
    }
    let layout = Layout::open(env, &spec.path, true, true)?
        .ok_or_else(|| Error::Spec(format!("cannot create {}", spec.path.display())))?;
    let _lock = lock(&layout.deploy)?;
    let plan = compute(spec, Some(&layout))?;
    let id = &spec.id;
    let mut staged = Staged {
        deploy_root: plan.deploy_root.clone(),
        id: id.clone(),
        created: false,
        current: plan.switch.is_none(),
        hook_output: Vec::new(),
    };
    if staged.current {
        return Ok(staged);
    }
    remove_leftovers(&plan, &layout)?;
    let releases = layout.releases()?.to_path_buf();
    let marker = staged_path(&releases, id);
    if let Ok(kind) = fs::read_to_string(&marker) {
        if releases.join(id).is_dir() {
            staged.created = kind.trim() == "created";
            return Ok(staged);
        }
    }
    let kind = match &plan.unpack {
        Some(sha) => {
            let seq = next_seq(&layout.deploy, &releases)?;
            let (out, _) = build_release(spec, env, &layout, sha, seq)?;
            staged.hook_output.extend(out.map(|o| ("before_switch", o)));
            staged.created = true;
            "created"
        }
        None => {
            if let Some(cmd) = &spec.before_switch {
                let shown_dir = layout.shown().join("releases").join(id);
                let out = run_hook(
                    "before_switch",
                    cmd,
                    &releases.join(id),
                    &shown_dir,
                    id,
                    env,
                )?;
                staged.hook_output.extend(out.map(|o| ("before_switch", o)));
            }
            "existing"
        }
    };
    if let Err(e) = fs::write(&marker, format!("{kind}\n")) {
        if staged.created {
            let _ = remove_release(&releases, id);
        }
        return Err(Error::io(format!("write {}", marker.display()))(e));
    }
    Ok(staged)
}

/// Undoes [`stage`] while the release is not current: a release staging made is removed, one
/// that existed is kept. Whether anything was removed.
pub(crate) fn unstage(spec: &Spec, env: &Env) -> Result<bool, Error> {
    let Some(layout) = Layout::open(env, &spec.path, false, false)? else {
        return Ok(false);
    };
    let Some(releases) = layout.releases.clone() else {
        return Ok(false);
    };
    let _lock = lock(&layout.deploy)?;
    let marker = staged_path(&releases, &spec.id);
    let kind = match fs::read_to_string(&marker) {
        Ok(k) => k,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(format!("read {}", marker.display()))(e)),
    };
    let current = meta::read_current(&layout.deploy);
    let remove = kind.trim() == "created" && current.as_deref() != Some(spec.id.as_str());
    if remove {
        remove_release(&releases, &spec.id)?;
    }
    fs::remove_file(&marker).map_err(Error::io(format!("remove {}", marker.display())))?;
    Ok(remove)
}

/// Who deploys, for `revisions.log`: `FLEET_DEPLOY_USER` (`fleet push` sets it to the user
/// who pushed), else `SUDO_USER`, `USER`, `LOGNAME`, else the uid.
fn deploy_user() -> String {
    let name = ["FLEET_DEPLOY_USER", "SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()));
    name.chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Appends one line to the deploy root's `revisions.log` (created 0644; never through a
/// link): `<time> <deploy|rollback> release=<id> sha256=<hex|-> commit=<id|-> from=<id|->
/// user=<name>`.
fn append_revision(
    root: &Path,
    releases: &Path,
    what: &str,
    id: &str,
    from: Option<&str>,
) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let info = meta::read_all(root, Some(releases))
        .ok()
        .and_then(|all| all.into_iter().find(|i| i.id == id));
    let line = format!(
        "{} {what} release={id} sha256={} commit={} from={} user={}\n",
        meta::rfc3339(SystemTime::now()),
        info.as_ref()
            .and_then(|i| i.content_sha256.as_deref())
            .unwrap_or("-"),
        info.as_ref()
            .and_then(|i| i.commit.as_deref())
            .unwrap_or("-"),
        from.unwrap_or("-"),
        deploy_user(),
    );
    let path = root.join("revisions.log");
    let mut f = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(Error::io(format!("open {}", path.display())))?;
    io::Write::write_all(&mut f, line.as_bytes())
        .map_err(Error::io(format!("write {}", path.display())))
}

/// Builds `releases/<id>` through a temporary directory; on any failure the temporary
/// directory (and metadata) is removed and nothing else has changed but new `shared/` entries.
/// Returns `before_switch`'s output and what became of each shared path.
fn build_release(
    spec: &Spec,
    env: &Env,
    layout: &Layout,
    sha: &str,
    seq: u64,
) -> Result<(Option<String>, Vec<SharedLink>), Error> {
    let releases = layout.releases()?.to_path_buf();
    let id = &spec.id;
    let shown_dir = layout.shown().join("releases").join(id);
    let tmp = releases.join(format!(".tmp-{id}-{}", std::process::id()));
    let dir = releases.join(id);
    fs::create_dir(&tmp).map_err(Error::io(format!("create {}", tmp.display())))?;
    let built = (|| {
        // The new release is built through a handle of its own: a directory swapped in
        // for it by a process inside the root is not written through.
        let tmp_name = tmp.file_name().unwrap_or_default();
        let tmp_fd = rustix::fs::open(
            tmp.parent().unwrap_or(Path::new("/")),
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .and_then(|dir| {
            rustix::fs::openat(
                &dir,
                tmp_name,
                rustix::fs::OFlags::PATH
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::NOFOLLOW
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
        })
        .map_err(|e| Error::io(format!("open {}", tmp.display()))(e.into()))?;
        let _shown = show_as(&tmp_fd, &layout.shown().join("releases").join(tmp_name));
        let pinned = &fd_path(&tmp_fd).join(".");
        let (uid, gid) = owner::resolve(
            spec.owner.as_ref(),
            spec.group.as_ref(),
            env.root.as_deref(),
        )?;
        let reader = env
            .content
            .open(sha)
            .ok_or_else(|| Error::MissingContent(sha.to_string()))?
            .map_err(Error::io(format!("read the content for sha256 {sha}")))?;
        if unpack(reader, pinned, &env.limits)? != sha {
            return Err(Error::MissingContent(sha.to_string()));
        }
        let (created, links) = link_shared(layout, pinned, &spec.shared)?;
        let out = match &spec.before_switch {
            Some(cmd) => run_hook("before_switch", cmd, pinned, &shown_dir, id, env)?,
            None => None,
        };
        owner::chown_tree(pinned, uid, gid)?;
        for path in created {
            owner::chown_tree(&path, uid, gid)?;
        }
        let doc = MetaDoc {
            format: 1,
            id: id.clone(),
            seq,
            deployed: meta::rfc3339(SystemTime::now()),
            content_sha256: Some(sha.to_string()),
            commit: spec.commit.clone(),
        };
        meta::write_meta(&releases, &doc).map_err(Error::io(format!("write metadata of {id}")))?;
        fs::rename(&tmp, &dir).map_err(Error::io(format!("rename into {}", dir.display())))?;
        Ok((out, links))
    })();
    if built.is_err() {
        let _ = remove_any(&tmp);
        if !dir.exists() {
            let _ = fs::remove_file(meta::meta_path(&releases, id));
        }
    }
    built
}

/// Replaces each shared path in the release with a relative symlink into `root/shared/`,
/// making the shared entry the first time: a copy of the release's own file or directory
/// when it has one, else empty (see the module docs for dir versus file). Returns the
/// topmost paths it created under `shared/` (pinned: they are used by path) and what became
/// of each shared path. Each `shared/` path is resolved inside the root (`sys::root`), so
/// a link planted in `shared/` cannot make fleet create anything outside it.
fn link_shared(
    layout: &Layout,
    release: &Path,
    shared: &[String],
) -> Result<(Vec<crate::sys::root::Real>, Vec<SharedLink>), Error> {
    let root = &layout.root;
    let mut created = Vec::new();
    let mut links = Vec::new();
    for s in shared {
        let rel = Path::new(s.trim_end_matches('/'));
        no_symlink_parents(release, rel)?;
        let in_release = release.join(rel);
        let catalog = format!("{}/shared/{}", layout.at, rel.display());
        let shown = layout.shown().join("shared").join(rel);
        let create_err = || Error::io(format!("create {}", shown.display()));
        let in_shared = root.open(&catalog).map_err(create_err())?;
        let release_meta = fs::symlink_metadata(&in_release).ok();
        let copy = seed::what(&in_release);
        let mut state = Shared::Kept {
            replaced: release_meta.is_some(),
        };
        if in_shared.lstat().is_err() {
            let as_dir = release_meta.as_ref().is_some_and(|m| m.is_dir())
                || s.ends_with('/')
                || !rel
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().contains('.'));
            let shared_top = format!("{}/shared", layout.at);
            let mut topmost = None;
            for a in Path::new(&catalog).ancestors() {
                let a = a.to_string_lossy();
                if a.len() < shared_top.len() {
                    break;
                }
                match root.open(&a) {
                    Ok(r) if r.lstat().is_err() => topmost = Some(a.into_owned()),
                    _ => break,
                }
            }
            let parent = Path::new(&catalog)
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into());
            let made = if !matches!(copy, seed::Copy::None) {
                state = Shared::Seeded;
                root.create_dir_all(&parent, 0o755).and_then(|_| {
                    let at = root.open(&catalog)?;
                    let dir = at
                        .dir()
                        .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
                    seed::seed(release, rel, copy, dir.as_fd(), at.name())
                })
            } else if as_dir {
                state = Shared::CreatedEmpty { dir: true };
                root.create_dir_all(&catalog, 0o755)
            } else {
                state = Shared::CreatedEmpty { dir: false };
                root.create_dir_all(&parent, 0o755).and_then(|_| {
                    let f = root.open(&catalog)?;
                    fs::File::create_new(&*f).map(drop)
                })
            };
            made.map_err(create_err())?;
            if let Some(t) = topmost {
                created.push(root.open(&t).map_err(create_err())?);
            }
        }
        if let Some(m) = release_meta {
            let removed = if m.is_dir() {
                fs::remove_dir_all(&in_release)
            } else {
                fs::remove_file(&in_release)
            };
            removed.map_err(Error::io(format!("replace {}", in_release.display())))?;
        }
        if let Some(parent) = in_release.parent() {
            fs::create_dir_all(parent)
                .map_err(Error::io(format!("create {}", parent.display())))?;
        }
        // From releases/<id>/a/b: up past a/, <id>/ and releases/.
        let mut target = PathBuf::new();
        for _ in 0..rel.components().count() + 1 {
            target.push("..");
        }
        target.push("shared");
        target.push(rel);
        symlink(&target, &in_release)
            .map_err(Error::io(format!("link {}", in_release.display())))?;
        links.push(SharedLink {
            path: s.clone(),
            shared: state,
        });
    }
    Ok((created, links))
}

/// Runs a hook with `/bin/sh -c` in `cwd`; `release` is where the release lives once switched.
/// Its stdout and stderr go, interleaved, to an unlinked scratch file rather than a pipe, so a
/// daemon the hook starts in the background cannot keep fleet waiting. `None` when hooks do
/// not run ([`Hooks::NotRun`]); with [`Hooks::Chroot`] it runs inside the root, where `cwd`
/// and `release` are the paths under it.
fn run_hook(
    hook: &'static str,
    cmd: &str,
    cwd: &Path,
    release: &Path,
    id: &str,
    env: &Env,
) -> Result<Option<String>, Error> {
    let chroot = match (env.hooks, &env.root) {
        (Hooks::NotRun, _) => return Ok(None),
        (Hooks::Chroot, Some(root)) => Some(root),
        _ => None,
    };
    let failed = || Error::io(format!("run {hook}"));
    let scratch = std::env::temp_dir().join(format!(
        "fleet-hook-{}-{}",
        std::process::id(),
        meta::rfc3339(SystemTime::now())
    ));
    let mut log = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&scratch)
        .map_err(failed())?;
    let _ = fs::remove_file(&scratch);
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(cmd)
        .env("FLEET_RELEASE_ID", id)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(failed())?)
        .stderr(log.try_clone().map_err(failed())?);
    if let Some(root) = chroot {
        let inside = |p: &Path| Path::new("/").join(p.strip_prefix(root).unwrap_or(p));
        // A pinned handle's path (`/proc/self/fd/N`) names the directory it was opened as.
        let real = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let (cwd, real_root) = (real(cwd), real(root));
        let cwd = Path::new("/").join(cwd.strip_prefix(&real_root).unwrap_or(&cwd));
        command.env("FLEET_RELEASE_PATH", inside(release));
        crate::sys::command::enter(&mut command, root, &cwd, None)
            .map_err(|e| Error::io(format!("run {hook}"))(io::Error::other(e)))?;
    } else {
        command.current_dir(cwd).env("FLEET_RELEASE_PATH", release);
        if let Some(root) = &env.root {
            command.env("FLEET_ROOT", root);
        }
    }
    let status = command.status().map_err(failed())?;
    let mut bytes = Vec::new();
    log.seek(io::SeekFrom::Start(0))
        .and_then(|_| log.read_to_end(&mut bytes))
        .map_err(failed())?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if status.success() {
        Ok(Some(text))
    } else {
        const TAIL: usize = 4000;
        if text.len() > TAIL {
            let mut cut = text.len() - TAIL;
            while !text.is_char_boundary(cut) {
                cut += 1;
            }
            text = format!("…{}", &text[cut..]);
        }
        Err(Error::Hook {
            hook,
            status: status.to_string(),
            output: text,
        })
    }
}

/// Points `root/current` at `releases/<id>` by renaming a new symlink over it.
fn switch_current(root: &Path, id: &str) -> Result<(), Error> {
    let tmp = root.join(format!("current.tmp-{}", std::process::id()));
    let current = root.join("current");
    let _ = fs::remove_file(&tmp);
    symlink(Path::new("releases").join(id), &tmp)
        .map_err(Error::io(format!("create {}", tmp.display())))?;
    if let Err(e) = fs::rename(&tmp, &current) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(format!("switch {}", current.display()))(e));
    }
    // Make the switch durable; a failure here does not undo it.
    let _ = fs::File::open(root).and_then(|d| d.sync_all());
    Ok(())
}

fn next_seq(root: &Path, releases: &Path) -> Result<u64, Error> {
    let infos = meta::read_all(root, Some(releases))
        .map_err(Error::io(format!("read {}", root.display())))?;
    Ok(infos.iter().map(|i| i.seq).max().unwrap_or(0) + 1)
}

fn remove_release(releases: &Path, id: &str) -> Result<(), Error> {
    remove_any(&releases.join(id))?;
    match fs::remove_file(meta::meta_path(releases, id)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(Error::io(format!("remove metadata of {id}"))(e))
        }
        _ => Ok(()),
    }
}

/// Removes a file, symlink or directory tree (never following a symlink).
fn remove_any(path: &Path) -> Result<(), Error> {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(Error::io(format!("remove {}", path.display())))
}

/// An exclusive lock on the deploy root directory, released when the file is dropped.
fn lock(root: &Path) -> Result<fs::File, Error> {
    let dir = fs::File::open(root).map_err(Error::io(format!("open {}", root.display())))?;
    dir.lock()
        .map_err(Error::io(format!("lock {}", root.display())))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pruning_spares_current_and_its_neighbours() {
        let order = ids(&["e", "d", "c", "b", "a"]);
        assert_eq!(prune_list(&order, "e", Some("d"), 3), ids(&["b", "a"]));
        assert_eq!(prune_list(&order, "e", Some("d"), 1), ids(&["c", "b", "a"]));
        // After `rollback --to a`, deploying f keeps a (was current) and e (rollback target).
        let order = ids(&["f", "e", "d", "a"]);
        assert_eq!(prune_list(&order, "f", Some("a"), 1), ids(&["d"]));
    }
}
