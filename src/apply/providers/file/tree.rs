//! `ensure = directory` with `source` and `recurse = true`: the directory's tree is made to
//! match the source's (a tar the compiler made, in the content store), and with
//! `purge = true` whatever the source does not have is removed.
//!
//! - The tar is read whole first, with the checks of release unpacking
//!   ([`crate::release::read_tree`]: no absolute or `..` paths, nothing below a link, no
//!   devices or hard links, the same limits) and its sha256 verified, before anything
//!   changes. Its files go to the content store, so each entry is synced like a `file` with
//!   `content_sha256`: atomic writes (staged for the engine's group commit), backups of what
//!   is replaced, the resource's `owner` and `group`.
//! - Modes: `mode` applies to files; directories get it with `x` added wherever `r` is set
//!   (`0640` gives directories `0750`), the top directory too. Without `mode`, new files take
//!   the source's (`0644`, or `0755` when executable) and existing ones are left alone.
//! - Links in the source are made as links (to whatever target they have); a link (or a
//!   file) in the tree where the source has a directory is replaced by a directory, and
//!   nothing is ever written or read through a link: every entry is reached through the
//!   handle of its parent, opened without following links.
//! - `purge`: extra files and links are removed (files backed up); an extra directory is
//!   removed, each file in it backed up, only with `force = true`; without it the resource
//!   fails before anything is changed.
//! - One change per entry, named by its path, so that a plan lists each file.
//! - After a run that did not end, the temp files it left in the tree are swept
//!   ([`sweep`]).

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};
use sha2::{Digest, Sha256};

use super::{directory, hex, link, regular, remove, Content, Ctx, Current, Ensure, Want};
use crate::apply::error::Error;
use crate::apply::{Action, Change, Outcome};
use crate::release::{Error as TarError, TreeItem};
use crate::sys::root::Real;

/// An entry of the source tree.
enum Src {
    Dir,
    File { sha: String, mode: u32 },
    Link(String),
}

/// `mode` for a directory: `x` wherever `r` is set.
fn dir_mode(mode: u32) -> u32 {
    mode | ((mode & 0o444) >> 2)
}

pub(super) fn sync(
    want: &Want,
    sha: &str,
    real: &Real,
    cur: &Current,
    cx: &Ctx,
) -> Result<Outcome, Error> {
    let entries = source_tree(sha, cx)?;
    let norm = crate::sys::root::normalize(&want.path);
    let base = norm.trim_end_matches('/');
    let top = want.child(
        want.path.to_string(),
        Ensure::Directory,
        None,
        None,
        want.mode.map(dir_mode),
    );
    let mut out = directory(&top, real, cur, cx)?;
    let own = out.changes.len();
    let top_fd = if cx.noop && !matches!(cur, Current::Dir(_)) {
        None
    } else {
        Some(open_dir(real)?)
    };

    // What purge removes, found (and refused without force) before anything changes.
    let mut extras = Vec::new();
    if let (true, Some(fd)) = (want.purge, &top_fd) {
        scan(fd, "", real.shown(), &entries, &mut extras)?;
        if let Some((rel, _, _)) = extras
            .iter()
            .find(|(_, _, c)| matches!(c, Current::Dir(_)))
            .filter(|_| !want.force)
        {
            return Err(Error::refused(format!(
                "{base}/{rel} is a directory the source does not have; set force = true to purge directories"
            )));
        }
    }

    let mut fds: HashMap<String, Option<Arc<OwnedFd>>> = HashMap::new();
    fds.insert(String::new(), top_fd);
    for (rel, src) in &entries {
        let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let pfd = fds.get(parent).cloned().flatten();
        let creal = Real::in_dir(pfd, OsStr::new(name), real.shown().join(rel));
        let ccur = Current::read(&creal)?;
        let path = format!("{base}/{rel}");
        let o = match src {
            Src::Dir => {
                let w = want.child(
                    path.clone(),
                    Ensure::Directory,
                    None,
                    None,
                    want.mode.map(dir_mode),
                );
                let o = directory(&w, &creal, &ccur, cx)?;
                let fd = if cx.noop && !matches!(ccur, Current::Dir(_)) {
                    None
                } else {
                    Some(open_dir(&creal)?)
                };
                fds.insert(rel.clone(), fd);
                o
            }
            Src::File { sha, mode } => {
                // Without `mode`, a new file takes the source's; an existing one keeps its own.
                let mode = want
                    .mode
                    .or((!matches!(ccur, Current::File(_))).then_some(*mode));
                let content = Some(Content::Blob(sha.as_str().into()));
                let w = want.child(path.clone(), Ensure::File, content, None, mode);
                regular(&w, &creal, &ccur, cx)?
            }
            Src::Link(target) => {
                let w = want.child(
                    path.clone(),
                    Ensure::Link,
                    None,
                    Some(target.as_str().into()),
                    None,
                );
                link(&w, &creal, &ccur, cx)?
            }
        };
        note(&mut out, &path, o);
    }

    for (rel, creal, ccur) in extras {
        purge(want, &format!("{base}/{rel}"), &creal, &ccur, cx, &mut out)?;
    }
    if out.changes.len() > own {
        // Listed entry by entry (a plan shows a change's details, not a creation's).
        out.action = Action::Change;
    }
    Ok(out)
}

/// One change for an entry, named by its path: what happened to it.
fn note(out: &mut Outcome, path: &str, o: Outcome) {
    if o.changes.is_empty() {
        return;
    }
    let msg = match o.action {
        Action::Create | Action::Remove => o.changes[0].message.clone(),
        _ => o
            .changes
            .iter()
            .map(|c| c.message.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    };
    out.changes
        .push(Change::new(path, None::<String>, None::<String>, msg));
    if let Some(d) = o.diff {
        out.diff.get_or_insert_with(String::new).push_str(&d);
    }
}

/// Removes an entry the source does not have (a directory with everything in it, each file
/// backed up), through its parent's handle.
fn purge(
    want: &Want,
    path: &str,
    real: &Real,
    cur: &Current,
    cx: &Ctx,
    out: &mut Outcome,
) -> Result<(), Error> {
    if let Current::Dir(_) = cur {
        let fd = open_dir(real)?;
        for name in list(&fd, real.shown())? {
            let creal = Real::in_dir(Some(fd.clone()), &name, real.shown().join(&name));
            let ccur = Current::read(&creal)?;
            let cpath = format!("{path}/{}", name.to_string_lossy());
            purge(want, &cpath, &creal, &ccur, cx, out)?;
        }
        out.changes.push(Change::new(
            path,
            None::<String>,
            None::<String>,
            "directory removed",
        ));
        if !cx.noop {
            cx.dirs.invalidate_under(path);
            cx.touched(real);
            std::fs::remove_dir(&**real).map_err(|e| {
                Error::io(format!("cannot remove {}", real.display()), real.shown(), e)
            })?;
        }
        return Ok(());
    }
    let w = want.child(path.to_string(), Ensure::Absent, None, None, None);
    let o = remove(&w, real, cur, cx)?;
    note(out, path, o);
    Ok(())
}

/// The entries under `dir` (at `rel` in the tree) that `entries` does not have; directories
/// both have are searched further.
fn scan(
    dir: &Arc<OwnedFd>,
    rel: &str,
    shown: &Path,
    entries: &BTreeMap<String, Src>,
    extras: &mut Vec<(String, Real, Current)>,
) -> Result<(), Error> {
    for name in list(dir, shown)? {
        let n = name.to_string_lossy();
        if super::stale_temp_pid(&n).is_some() {
            // A killed run's temp file: the sweep's business.
            continue;
        }
        let r = if rel.is_empty() {
            n.to_string()
        } else {
            format!("{rel}/{n}")
        };
        let creal = Real::in_dir(Some(dir.clone()), &name, shown.join(&name));
        let cur = Current::read(&creal)?;
        match (entries.get(&r), &cur) {
            (None, _) => extras.push((r, creal, cur)),
            (Some(Src::Dir), Current::Dir(_)) => {
                let fd = open_dir(&creal)?;
                scan(&fd, &r, &shown.join(&name), entries, extras)?;
            }
            // Replaced by what the source has.
            _ => {}
        }
    }
    Ok(())
}

/// Removes the temp files a killed run left anywhere in the tree of the directory `real`
/// (through handles, never following a link; errors are ignored: it is only tidying).
pub(super) fn sweep(real: &Real) {
    if let (Ok(Current::Dir(_)), Ok(fd)) = (Current::read(real), open_dir(real)) {
        sweep_in(&fd, real.shown());
    }
}

fn sweep_in(dir: &Arc<OwnedFd>, shown: &Path) {
    let Ok(names) = list(dir, shown) else {
        return;
    };
    for name in names {
        let e = Real::in_dir(Some(dir.clone()), &name, shown.join(&name));
        match Current::read(&e) {
            Ok(Current::File(_)) if super::left_by_a_gone_run(&name.to_string_lossy()) => {
                let _ = std::fs::remove_file(&*e);
            }
            Ok(Current::Dir(_)) => {
                if let Ok(fd) = open_dir(&e) {
                    sweep_in(&fd, e.shown());
                }
            }
            _ => {}
        }
    }
}

/// The directory at `real` as a handle of its own (never through a link).
fn open_dir(real: &Real) -> Result<Arc<OwnedFd>, Error> {
    real.open_dir().map(Arc::new).map_err(|e| {
        Error::io(
            format!("cannot open the directory {}", real.display()),
            real,
            e,
        )
    })
}

/// The names in the directory `dir` (sorted; without `.` and `..`).
fn list(dir: &OwnedFd, shown: &Path) -> Result<Vec<OsString>, Error> {
    let err = |e: rustix::io::Errno| format!("cannot read the directory {}: {e}", shown.display());
    let fd = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(err)?;
    let mut names = Vec::new();
    for e in rustix::fs::Dir::read_from(&fd).map_err(err)? {
        let e = e.map_err(err)?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Hashes what is read through it.
struct Hashing<R> {
    inner: R,
    sha: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

/// The source tree of the tar `sha` in the content store, checked and verified; its files'
/// contents are put in the store.
fn source_tree(sha: &str, cx: &Ctx) -> Result<BTreeMap<String, Src>, Error> {
    let reader = cx
        .store
        .open(sha)
        .ok_or_else(|| {
            Error::not_found(format!("source sha256:{sha} is not in the content store"))
        })?
        .map_err(|e| Error::io(format!("cannot read the source sha256:{sha}"), "", e))?;
    let limits = crate::release::Limits::from_env().map_err(Error::from)?;
    let mut src = Hashing {
        inner: reader,
        sha: Sha256::new(),
    };
    let mut tree = BTreeMap::new();
    crate::release::read_tree(&mut src, &limits, |rel, item| {
        let entry = match item {
            TreeItem::Dir => Src::Dir,
            TreeItem::File { mode, data } => {
                let mut bytes = Vec::new();
                data.read_to_end(&mut bytes)
                    .map_err(|e| TarError::Corrupt(e.to_string()))?;
                let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                Src::File {
                    sha: cx.store.add(bytes),
                    mode,
                }
            }
            TreeItem::Symlink(t) => Src::Link(
                t.to_str()
                    .ok_or_else(|| {
                        TarError::Unsafe(format!("symlink {rel} has a target that is not UTF-8"))
                    })?
                    .to_string(),
            ),
        };
        if tree.insert(rel.to_string(), entry).is_some() {
            return Err(TarError::Unsafe(format!(
                "entry {rel} is in the source twice"
            )));
        }
        Ok(())
    })
    .map_err(|e| match e {
        TarError::Corrupt(m) => format!("the source sha256:{sha} is not a readable tar: {m}"),
        TarError::Unsafe(m) | TarError::Limit(m) => format!("refused source sha256:{sha}: {m}"),
        other => format!("source sha256:{sha}: {other}"),
    })?;
    io::copy(&mut src, &mut io::sink())
        .map_err(|e| Error::io(format!("cannot read the source sha256:{sha}"), "", e))?;
    if hex(&src.sha.finalize()) != sha {
        return Err(Error::bad_catalog(format!(
            "source sha256:{sha} does not match its hash in the content store"
        )));
    }
    Ok(tree)
}
