//! The `file` provider: regular files (content or content-store source), directories,
//! links and absence; mode, owner, group. Writes are atomic (temp file in the same
//! directory, fsync, rename, fsync of the directory); replaced and removed contents go to
//! the backup store first.

use std::borrow::Cow;
use std::fs::{OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::{Ctx, Params, Provider};
use crate::apply::commit::Staging;
use crate::apply::error::Error;
use crate::apply::{Action, Change, Outcome};
use crate::catalog::json::ResourceDoc;
use crate::model::digest::{hex, sha256_hex};
use crate::sys::root::Real;

mod tree;

pub(crate) struct FileProvider;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ensure {
    File,
    Present,
    Directory,
    Link,
    Absent,
}

/// The wanted content (borrowed from the catalog where it can be: one resource at a time).
enum Content<'a> {
    Inline(Cow<'a, str>),
    Blob(Cow<'a, str>),
}

struct Want<'a> {
    path: Cow<'a, str>,
    ensure: Ensure,
    content: Option<Content<'a>>,
    target: Option<Cow<'a, str>>,
    mode: Option<u32>,
    owner: Option<Cow<'a, str>>,
    group: Option<Cow<'a, str>>,
    backup: bool,
    force: bool,
    /// A directory whose tree comes from `source` (the content is then a tar of it).
    recurse: bool,
    purge: bool,
    /// A command run on the new content (`%`: its temporary path) before it replaces the file.
    validate: Option<Cow<'a, str>>,
    /// `owner` and `group` as ids, once looked up.
    ids: std::cell::OnceCell<(Option<u32>, Option<u32>)>,
}

/// What `lstat` said of the path (through its pinned directory).
struct Metadata {
    mode: u32,
    uid: u32,
    gid: u32,
    len: u64,
}

impl Metadata {
    fn mode(&self) -> u32 {
        self.mode
    }
    fn uid(&self) -> u32 {
        self.uid
    }
    fn gid(&self) -> u32 {
        self.gid
    }
    fn len(&self) -> u64 {
        self.len
    }
}

/// What is at the path now.
enum Current {
    Missing,
    File(Metadata),
    Dir(Metadata),
    Link(Metadata, PathBuf),
    Other(Metadata),
}

impl Current {
    fn read(path: &Real) -> Result<Current, Error> {
        use rustix::fs::FileType;
        match path.lstat() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Current::Missing),
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => Ok(Current::Missing),
            Err(e) => Err(Error::io(
                format!("cannot read {}", path.display()),
                path.shown(),
                e,
            )),
            Ok(st) => {
                let md = Metadata {
                    mode: st.st_mode,
                    uid: st.st_uid,
                    gid: st.st_gid,
                    len: u64::try_from(st.st_size).unwrap_or(0),
                };
                Ok(match FileType::from_raw_mode(st.st_mode) {
                    FileType::Symlink => {
                        let t = path.read_link().map_err(|e| {
                            Error::io(format!("cannot read link {}", path.display()), path, e)
                        })?;
                        Current::Link(md, t)
                    }
                    FileType::Directory => Current::Dir(md),
                    FileType::RegularFile => Current::File(md),
                    _ => Current::Other(md),
                })
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Current::Missing => "absent",
            Current::File(_) => "file",
            Current::Dir(_) => "directory",
            Current::Link(..) => "link",
            Current::Other(_) => "special file",
        }
    }
}

/// Parses an octal mode given as `"0644"`, `"644"` or an Int (already the value).
pub(crate) fn parse_mode(p: &Params, name: &str) -> Result<Option<u32>, Error> {
    match p.raw(name) {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => {
            let v = n
                .as_u64()
                .filter(|v| *v <= 0o7777)
                .ok_or_else(|| Error::bad_catalog(format!("{name}: invalid mode {n}")))?;
            Ok(Some(v as u32))
        }
        Some(serde_json::Value::String(s)) => {
            let t = s.strip_prefix("0o").unwrap_or(s);
            if !(3..=4).contains(&t.len()) {
                return Err(Error::bad_catalog(format!("{name}: invalid mode {s:?}")));
            }
            u32::from_str_radix(t, 8)
                .map(Some)
                .map_err(|_| Error::bad_catalog(format!("{name}: invalid mode {s:?}")))
        }
        Some(v) => Err(Error::bad_catalog(format!("{name}: invalid mode {v}"))),
    }
}

fn fmt_mode(m: u32) -> String {
    format!("{:04o}", m & 0o7777)
}

impl<'a> Want<'a> {
    fn from(r: &'a ResourceDoc) -> Result<Want<'a>, Error> {
        let p = Params::new(r);
        let content = match (p.str_ref("content")?, p.str_ref("content_sha256")?) {
            (Some(_), Some(_)) => return Err("content and source are both set".into()),
            (Some(c), None) => Some(Content::Inline(c)),
            (None, Some(Cow::Borrowed(sha))) => Some(Content::Blob(Cow::Borrowed(
                sha.strip_prefix("sha256:").unwrap_or(sha),
            ))),
            (None, Some(Cow::Owned(sha))) => Some(Content::Blob(Cow::Owned(
                sha.strip_prefix("sha256:").unwrap_or(&sha).to_string(),
            ))),
            (None, None) => None,
        };
        let target = p.str_ref("target")?;
        let recurse = p.bool("recurse", false)?;
        let ensure = match p.str_ref("ensure")?.as_deref() {
            Some("file") => Ensure::File,
            Some("present") => Ensure::Present,
            Some("directory") => Ensure::Directory,
            Some("link") => Ensure::Link,
            Some("absent") => Ensure::Absent,
            Some(other) => {
                return Err(Error::bad_catalog(format!(
                    "ensure: unknown value {other:?}"
                )))
            }
            None if recurse && matches!(content, Some(Content::Blob(_))) => Ensure::Directory,
            None if content.is_some() => Ensure::File,
            None if target.is_some() => Ensure::Link,
            None => Ensure::Present,
        };
        if ensure == Ensure::Link && target.is_none() {
            return Err("ensure = link needs a target".into());
        }
        if ensure == Ensure::Directory && matches!(content, Some(Content::Inline(_))) {
            return Err(
                "a directory cannot have a content (use source with recurse = true)".into(),
            );
        }
        Ok(Want {
            path: p.str_ref("path")?.unwrap_or(Cow::Borrowed(&r.title)),
            ensure,
            content,
            target,
            mode: parse_mode(&p, "mode")?,
            owner: p.str_ref("owner")?,
            group: p.str_ref("group")?,
            backup: p.bool("backup", true)?,
            force: p.bool("force", false)?,
            recurse,
            purge: p.bool("purge", false)?,
            validate: p.str_ref("validate")?,
            ids: std::cell::OnceCell::new(),
        })
    }

    /// An entry of a recursed directory: the same owner, group, backup and force.
    fn child(
        &self,
        path: String,
        ensure: Ensure,
        content: Option<Content<'a>>,
        target: Option<Cow<'a, str>>,
        mode: Option<u32>,
    ) -> Want<'a> {
        Want {
            path: Cow::Owned(path),
            ensure,
            content,
            target,
            mode,
            owner: self.owner.clone(),
            group: self.group.clone(),
            backup: self.backup,
            force: self.force,
            recurse: false,
            purge: false,
            validate: None,
            ids: self.ids.clone(),
        }
    }
}

impl Provider for FileProvider {
    /// Only the paths it manages change; making or removing a link invalidates `cx.dirs`.
    fn keeps_dirs(&self) -> bool {
        true
    }

    /// Removes the temp files a killed run left beside the files this catalog manages
    /// (`.<name>.fleet-<pid>-<n>` whose process is gone), when an earlier run did not end.
    /// Only after a run that did not end, and not under noop.
    fn prepares(&self, cx: &Ctx) -> bool {
        !cx.noop && cx.sweep
    }

    fn prepare(&self, resources: &[&ResourceDoc], cx: &Ctx) {
        if !self.prepares(cx) {
            return;
        }
        // The pinned parents (kept open while their entries are read and removed).
        let mut dirs = std::collections::BTreeMap::new();
        for r in resources {
            let path = Params::new(r).name("path").unwrap_or_default();
            if let Ok(real) = cx.resolve(&path) {
                if let Some(d) = real.parent().filter(|d| !d.as_os_str().is_empty()) {
                    dirs.insert(d.to_path_buf(), real.clone());
                }
                // A recursed directory's writes are all through its tree.
                if Params::new(r).bool("recurse", false).unwrap_or(false) {
                    tree::sweep(&real);
                }
            }
        }
        for (d, _pinned) in dirs {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name();
                if left_by_a_gone_run(&name.to_string_lossy()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    fn sync(&self, r: &ResourceDoc, cx: &Ctx) -> Result<Outcome, Error> {
        let want = Want::from(r)?;
        if crate::sys::root::is_root(&want.path)
            && matches!(want.ensure, Ensure::Absent | Ensure::File | Ensure::Link)
        {
            return Err(Error::refused(format!(
                "{} is the root directory: it is never removed or replaced",
                want.path
            )));
        }
        let tree_source = match (&want.content, want.ensure) {
            (Some(Content::Blob(sha)), Ensure::Directory) if want.recurse => Some(sha.clone()),
            _ => None,
        };
        if want.purge && tree_source.is_some() && crate::sys::root::is_root(&want.path) {
            return Err(Error::refused(format!(
                "{} is the root directory: it is never purged",
                want.path
            )));
        }
        let real = cx.resolve(&want.path).map_err(Error::from)?;
        let cur = Current::read(&real)?;
        let mut out = match want.ensure {
            Ensure::Absent => remove(&want, &real, &cur, cx)?,
            Ensure::File | Ensure::Present => regular(&want, &real, &cur, cx)?,
            Ensure::Directory => match tree_source {
                Some(sha) => tree::sync(&want, &sha, &real, &cur, cx)?,
                None => directory(&want, &real, &cur, cx)?,
            },
            Ensure::Link => link(&want, &real, &cur, cx)?,
        };
        if out.changes.is_empty() {
            out.action = Action::None;
        }
        Ok(out)
    }
}

/// Desired ownership as ids (`None`: leave as is).
fn ids(want: &Want, cx: &Ctx) -> Result<(Option<u32>, Option<u32>), Error> {
    if let Some(ids) = want.ids.get() {
        return Ok(*ids);
    }
    // Under noop, a user or group the catalog creates has no id yet: `None` here, and
    // `metadata` reports the change by name.
    let uid = match want.owner.as_deref() {
        Some(o) => match cx.ids.uid(cx.root, o) {
            Err(_) if cx.noop && cx.ids.creates_user(o) => None,
            found => Some(found?),
        },
        None => None,
    };
    let gid = match want.group.as_deref() {
        Some(g) => match cx.ids.gid(cx.root, g) {
            Err(_) if cx.noop && cx.ids.creates_group(g) => None,
            found => Some(found?),
        },
        None => None,
    };
    Ok(*want.ids.get_or_init(|| (uid, gid)))
}

/// Compares and fixes mode (unless a link), owner and group of what is at `real`.
fn metadata(
    want: &Want,
    real: &Real,
    md: &Metadata,
    is_link: bool,
    cx: &Ctx,
    changes: &mut Vec<Change>,
) -> Result<(), Error> {
    let (uid, gid) = ids(want, cx)?;
    if let (Some(mode), false) = (want.mode, is_link) {
        let have = md.mode() & 0o7777;
        if have != mode {
            changes.push(Change::new(
                "mode",
                fmt_mode(have),
                fmt_mode(mode),
                format!("mode changed {} to {}", fmt_mode(have), fmt_mode(mode)),
            ));
            if !cx.noop {
                real.set_mode(mode)
                    .map_err(|e| Error::io(format!("chmod {}", real.display()), real.shown(), e))?;
            }
        }
    }
    let new_uid = uid.filter(|u| *u != md.uid());
    let new_gid = gid.filter(|g| *g != md.gid());
    if let Some(u) = new_uid {
        let (a, b) = (
            cx.ids.user_name(cx.root, md.uid()),
            cx.ids.user_name(cx.root, u),
        );
        changes.push(Change::new(
            "owner",
            a.clone(),
            b.clone(),
            format!("owner changed {a} to {b}"),
        ));
    }
    if let Some(g) = new_gid {
        let (a, b) = (
            cx.ids.group_name(cx.root, md.gid()),
            cx.ids.group_name(cx.root, g),
        );
        changes.push(Change::new(
            "group",
            a.clone(),
            b.clone(),
            format!("group changed {a} to {b}"),
        ));
    }
    if cx.noop {
        // Owners the catalog creates (see `ids`): known by name only.
        if let (None, Some(o)) = (uid, want.owner.as_deref()) {
            let a = cx.ids.user_name(cx.root, md.uid());
            let msg = format!("owner changed {a} to {o}");
            changes.push(Change::new("owner", a, o.to_string(), msg));
        }
        if let (None, Some(g)) = (gid, want.group.as_deref()) {
            let a = cx.ids.group_name(cx.root, md.gid());
            let msg = format!("group changed {a} to {g}");
            changes.push(Change::new("group", a, g.to_string(), msg));
        }
    }
    if (new_uid.is_some() || new_gid.is_some()) && !cx.noop {
        std::os::unix::fs::lchown(real, new_uid, new_gid)
            .map_err(|e| Error::io(format!("chown {}", real.display()), real.shown(), e))?;
        // chown clears set-id bits; put the mode back.
        if let (Some(mode), false) = (want.mode.or(Some(md.mode() & 0o7777)), is_link) {
            if mode & 0o6000 != 0 {
                real.set_mode(mode)
                    .map_err(|e| Error::io(format!("chmod {}", real.display()), real.shown(), e))?;
            }
        }
    }
    Ok(())
}

fn ensure_change(from: &Current, to: &str) -> Change {
    let f = from.kind();
    let msg = match (f, to) {
        ("absent", _) => format!("{to} created"),
        (_, "absent") => format!("{f} removed"),
        _ => format!("{f} replaced by {to}"),
    };
    Change::new("ensure", f.to_string(), to.to_string(), msg)
}

/// Backs up (when asked) and removes whatever is at `real`.
fn clear(want: &Want, real: &Real, cur: &Current, cx: &Ctx) -> Result<(), Error> {
    match cur {
        Current::Missing => Ok(()),
        Current::Dir(_) => {
            let empty = std::fs::read_dir(real)
                .map_err(Error::from)?
                .next()
                .is_none();
            if !empty && !want.force {
                return Err(Error::refused(format!(
                    "{} is a non-empty directory; set force = true to replace or remove it",
                    want.path
                )));
            }
            if cx.noop {
                return Ok(());
            }
            cx.dirs.invalidate_under(&want.path);
            std::fs::remove_dir_all(real).map_err(|e| {
                Error::io(format!("cannot remove {}", real.display()), real.shown(), e)
            })
        }
        Current::File(_) => {
            if cx.noop {
                return Ok(());
            }
            if want.backup {
                let old = real.read().map_err(|e| {
                    Error::io(format!("cannot read {}", real.display()), real.shown(), e)
                })?;
                cx.backups
                    .save_file(&want.path, &old, cur_meta(cur))
                    .map_err(|e| {
                        Error::io(format!("cannot back up {}", want.path), &*want.path, e)
                    })?;
            }
            cx.touched(real);
            std::fs::remove_file(real).map_err(|e| {
                Error::io(format!("cannot remove {}", real.display()), real.shown(), e)
            })
        }
        Current::Link(..) | Current::Other(_) => {
            if cx.noop {
                return Ok(());
            }
            // Paths through a removed link resolve differently from now on.
            cx.dirs.invalidate_under(&want.path);
            cx.touched(real);
            std::fs::remove_file(real).map_err(|e| {
                Error::io(format!("cannot remove {}", real.display()), real.shown(), e)
            })
        }
    }
}

fn remove(want: &Want, real: &Real, cur: &Current, cx: &Ctx) -> Result<Outcome, Error> {
    if let Current::Missing = cur {
        return Ok(Outcome::unchanged());
    }
    let change = ensure_change(cur, "absent");
    let mut out = Outcome::new(Action::Remove, vec![change]);
    if cx.show_diff {
        if let Current::File(_) = cur {
            let old = real.read().unwrap_or_default();
            out.diff = Some(unified_diff(&old, b"", &want.path));
        }
    }
    clear(want, real, cur, cx)?;
    Ok(out)
}

/// Reads the regular file at `path` in chunks (one chunk, so one `read`, for most files: the
/// first asks for `len + 1` bytes, and a short read of a regular file is its end), handing
/// each to `each`; returns how many bytes there were. The buffer is the worker's own, kept
/// for the run, so checking 10,000 small files allocates nothing. `O_NOFOLLOW`: a link
/// swapped in since the `lstat` is not read through.
fn read_chunks(path: &Real, len: u64, mut each: impl FnMut(&[u8]) -> bool) -> io::Result<u64> {
    const CHUNK: usize = 256 * 1024;
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut f = path.open_read()?;
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let want = usize::try_from(len).map_or(CHUNK, |l| l.saturating_add(1).min(CHUNK));
        if buf.len() < want {
            buf.resize(want, 0);
        }
        let mut total = 0u64;
        loop {
            let n = match f.read(&mut buf[..want]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            total += n as u64;
            if n == 0 || !each(&buf[..n]) || (n < want && total >= len) {
                return Ok(total);
            }
        }
    })
}

impl Content<'_> {
    fn len(&self, cx: &Ctx) -> Result<u64, Error> {
        match self {
            Content::Inline(b) => Ok(b.len() as u64),
            Content::Blob(sha) => cx.store.len(sha).ok_or_else(|| {
                Error::not_found(format!("content sha256:{sha} is not in the content store"))
            }),
        }
    }

    fn sha(&self) -> String {
        match self {
            Content::Inline(b) => sha256_hex(b.as_bytes()),
            Content::Blob(sha) => sha.to_string(),
        }
    }

    fn bytes(&self, cx: &Ctx) -> Result<std::sync::Arc<Vec<u8>>, Error> {
        match self {
            Content::Inline(b) => Ok(std::sync::Arc::new(b.as_bytes().to_vec())),
            Content::Blob(sha) => cx.store.get(sha).ok_or_else(|| {
                Error::not_found(format!(
                    "content sha256:{sha} is not in the content store (or does not match its hash)"
                ))
            }),
        }
    }

    /// Whether the regular file at `real` (of metadata `md`) already holds this content:
    /// sizes first, then the bytes (inline) or the sha256 (store).
    fn matches(&self, real: &Real, md: &Metadata, cx: &Ctx) -> Result<bool, Error> {
        if md.len() != self.len(cx)? {
            return Ok(false);
        }
        let err = |e: io::Error| format!("cannot read {}: {e}", real.display());
        match self {
            Content::Inline(want) => {
                let (mut rest, mut same) = (want.as_bytes(), true);
                let n = read_chunks(real, md.len(), |chunk| {
                    same = rest.starts_with(chunk);
                    rest = rest.get(chunk.len()..).unwrap_or_default();
                    same
                })
                .map_err(err)?;
                Ok(same && n == want.len() as u64)
            }
            Content::Blob(sha) => {
                let mut h = Sha256::new();
                let n = read_chunks(real, md.len(), |chunk| {
                    h.update(chunk);
                    true
                })
                .map_err(err)?;
                Ok(n == md.len() && hex(&h.finalize()) == *sha)
            }
        }
    }
}

fn regular(want: &Want, real: &Real, cur: &Current, cx: &Ctx) -> Result<Outcome, Error> {
    let (uid, gid) = ids(want, cx)?;
    // Whatever stands in the way of a regular file, unless `present` accepts it as it is.
    let accept_as_is = want.ensure == Ensure::Present && want.content.is_none();
    match cur {
        Current::File(md) => {
            let mut changes = Vec::new();
            let mut diff = None;
            if let Some(content) = &want.content {
                if !content.matches(real, md, cx)? {
                    let old = real.read().map_err(|e| {
                        Error::io(format!("cannot read {}", real.display()), real.shown(), e)
                    })?;
                    let new = content.bytes(cx)?;
                    let (from, to) = (
                        format!("sha256:{}", sha256_hex(&old)),
                        format!("sha256:{}", content.sha()),
                    );
                    changes.push(Change::new("content", from, to, "content changed"));
                    if cx.show_diff {
                        diff = Some(unified_diff(&old, &new, &want.path));
                    }
                    let mode = want.mode.unwrap_or(md.mode() & 0o7777);
                    let (u, g) = (uid.unwrap_or(md.uid()), gid.unwrap_or(md.gid()));
                    // The metadata changes the rewrite makes, reported as such.
                    let mut meta = Vec::new();
                    metadata(want, real, md, false, &Ctx { noop: true, ..*cx }, &mut meta)?;
                    changes.extend(meta);
                    if !cx.noop {
                        validate(want, real, &new, cx)?;
                        if want.backup {
                            cx.backups
                                .save_file(&want.path, &old, cur_meta(cur))
                                .map_err(|e| {
                                    Error::io(
                                        format!("cannot back up {}", want.path),
                                        &*want.path,
                                        e,
                                    )
                                })?;
                        }
                        write_for(real, &new, mode, Some(u), Some(g), cx).map_err(|e| {
                            Error::io(format!("cannot write {}", real.display()), real.shown(), e)
                        })?;
                        cx.touched(real);
                    }
                    let mut out = Outcome::new(Action::Change, changes);
                    out.diff = diff;
                    return Ok(out);
                }
            }
            metadata(want, real, md, false, cx, &mut changes)?;
            Ok(Outcome::new(Action::Change, changes))
        }
        Current::Dir(md) | Current::Link(md, _) | Current::Other(md) if accept_as_is => {
            let mut changes = Vec::new();
            metadata(
                want,
                real,
                md,
                matches!(cur, Current::Link(..)),
                cx,
                &mut changes,
            )?;
            Ok(Outcome::new(Action::Change, changes))
        }
        _ => {
            let new = match &want.content {
                Some(c) => c.bytes(cx)?,
                None => std::sync::Arc::new(Vec::new()),
            };
            let action = if let Current::Missing = cur {
                Action::Create
            } else {
                Action::Change
            };
            let mut changes = vec![ensure_change(cur, "file")];
            if let Some(c) = &want.content {
                changes.push(Change::new(
                    "content",
                    None,
                    format!("sha256:{}", c.sha()),
                    "content set",
                ));
            }
            if let (Some(m), Current::Missing) = (want.mode, cur) {
                changes.push(Change::new(
                    "mode",
                    None,
                    fmt_mode(m),
                    format!("mode set to {}", fmt_mode(m)),
                ));
            }
            let mut out = Outcome::new(action, changes);
            if cx.show_diff {
                out.diff = Some(unified_diff(b"", &new, &want.path));
            }
            if !cx.noop {
                validate(want, real, &new, cx)?;
            }
            clear(want, real, cur, cx)?;
            if !cx.noop {
                write_for(real, &new, want.mode.unwrap_or(0o644), uid, gid, cx)
                    .map_err(|e| write_error(&want.path, real, e))?;
                cx.touched(real);
            }
            Ok(out)
        }
    }
}

/// Runs the file's `validate` command on `new`, written to a temporary file beside `real`
/// (`%` in the command is that file's path as the command sees it: inside the root with
/// `--chroot`, else on the host), as `exec` runs commands (under `--root`, only with
/// `--chroot` or `--run-host-commands`). A failure is the resource's error, with the
/// command's output; the old file is not touched either way.
fn validate(want: &Want, real: &Real, new: &[u8], cx: &Ctx) -> Result<(), Error> {
    let Some(script) = &want.validate else {
        return Ok(());
    };
    cx.may_run(script)?;
    let tmp = temp_path(real);
    let seen = if cx.chroot && cx.root.dir().is_some() {
        let norm = crate::sys::root::normalize(&want.path);
        Path::new(norm.as_ref()).with_file_name(tmp.name())
    } else {
        tmp.shown().to_path_buf()
    };
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&*tmp)
        .and_then(|mut f| f.write_all(new));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&*tmp);
        return Err(write_error(&want.path, real, e).into());
    }
    let quoted = format!("'{}'", seen.to_string_lossy().replace('\'', "'\\''"));
    let cmd = crate::sys::command::under_root(cx.root, cx.chroot, &script.replace('%', &quoted));
    let done = crate::sys::command::run(&cmd);
    let _ = std::fs::remove_file(&*tmp);
    let done = done.map_err(|e| format!("validate: {e}"))?;
    if done.success() {
        return Ok(());
    }
    Err(format!(
        "validate `{script}` rejected the new content of {} ({}); the file is unchanged\n{}",
        want.path,
        done.describe(),
        done.output.trim_end()
    )
    .into())
}

fn write_error(path: &str, real: &Real, e: io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound && real.dir().is_none() {
        let norm = crate::sys::root::normalize(path);
        let parent = Path::new(norm.as_ref()).parent().unwrap_or(Path::new("/"));
        format!("parent directory {} does not exist", parent.display())
    } else {
        format!("cannot write {}: {e}", real.display())
    }
}

fn directory(want: &Want, real: &Real, cur: &Current, cx: &Ctx) -> Result<Outcome, Error> {
    if let Current::Dir(md) = cur {
        let mut changes = Vec::new();
        metadata(want, real, md, false, cx, &mut changes)?;
        return Ok(Outcome::new(Action::Change, changes));
    }
    let action = if let Current::Missing = cur {
        Action::Create
    } else {
        Action::Change
    };
    let out = Outcome::new(action, vec![ensure_change(cur, "directory")]);
    clear(want, real, cur, cx)?;
    if !cx.noop {
        let (uid, gid) = ids(want, cx)?;
        let mode = want.mode.unwrap_or(0o755);
        real.mkdir(0o700)
            .map_err(|e| write_error(&want.path, real, e))?;
        cx.touched(real);
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::lchown(real, uid, gid)
                .map_err(|e| Error::io(format!("chown {}", real.display()), real.shown(), e))?;
        }
        real.set_mode(mode)
            .map_err(|e| Error::io(format!("chmod {}", real.display()), real.shown(), e))?;
    }
    Ok(out)
}

fn link(want: &Want, real: &Real, cur: &Current, cx: &Ctx) -> Result<Outcome, Error> {
    let target = want.target.as_deref().unwrap_or_default();
    if let Current::Link(md, have) = cur {
        if have.as_os_str() == target {
            let mut changes = Vec::new();
            metadata(want, real, md, true, cx, &mut changes)?;
            return Ok(Outcome::new(Action::Change, changes));
        }
    }
    let (action, changes) = match cur {
        Current::Missing => (
            Action::Create,
            vec![
                ensure_change(cur, "link"),
                Change::new(
                    "target",
                    None,
                    target.to_string(),
                    format!("link to {target}"),
                ),
            ],
        ),
        Current::Link(_, have) => {
            let have = have.display().to_string();
            (
                Action::Change,
                vec![Change::new(
                    "target",
                    have.clone(),
                    target.to_string(),
                    format!("target changed {have} to {target}"),
                )],
            )
        }
        _ => (
            Action::Change,
            vec![
                ensure_change(cur, "link"),
                Change::new(
                    "target",
                    None,
                    target.to_string(),
                    format!("link to {target}"),
                ),
            ],
        ),
    };
    if !matches!(cur, Current::Link(..) | Current::Missing) {
        clear(want, real, cur, cx)?;
    }
    if !cx.noop {
        // A new link beside the old path, renamed over it: never a moment without one.
        let tmp = temp_path(real);
        std::os::unix::fs::symlink(target, &*tmp).map_err(|e| write_error(&want.path, real, e))?;
        let (uid, gid) = ids(want, cx)?;
        let done: io::Result<()> = (|| {
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::lchown(&*tmp, uid, gid)?;
            }
            std::fs::rename(&*tmp, &**real)?;
            cx.touched(real);
            Ok(())
        })();
        // Paths through this link (or through what it replaced) resolve afresh.
        cx.dirs.invalidate_under(&want.path);
        if let Err(e) = done {
            let _ = std::fs::remove_file(&*tmp);
            return Err(Error::io(
                format!("cannot link {}", real.display()),
                real.shown(),
                e,
            ));
        }
    }
    Ok(Outcome::new(action, changes))
}

/// Whether `name` is a temp file (`.<name>.fleet-<pid>-<n>`) of a process that is gone.
fn left_by_a_gone_run(name: &str) -> bool {
    let Some(pid) = stale_temp_pid(name) else {
        return false;
    };
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
}

/// The pid in a temp file name `.<name>.fleet-<pid>-<n>`.
fn stale_temp_pid(name: &str) -> Option<i32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, tail) = name.rsplit_once(".fleet-")?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `.<name>.fleet-<pid>-<n>` beside `path` (in the same pinned directory).
fn temp_path(path: &Real) -> Real {
    let name = path.name().to_string_lossy();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let pid = *PID.get_or_init(std::process::id);
    path.sibling(std::ffi::OsStr::new(&format!(".{name}.fleet-{pid}-{n}")))
}

/// Replaces `path` with `bytes` atomically: a temp file in the same directory gets the
/// bytes, owner and mode, is (with `fsync`) flushed to disk, and is renamed over `path`. A
/// reader, or a killed run, sees the old content or the new one, never a mix. Directory
/// entries are made durable once per run (the engine flushes them at the end), not per file.
pub(crate) fn write_atomic(
    path: &Real,
    bytes: &[u8],
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
    fsync: bool,
) -> io::Result<()> {
    write_file(path, bytes, mode, uid, gid, fsync, None)
}

/// [`write_atomic`] for a resource being synced: with `cx.staging` (a real run that
/// flushes), the temp file is written but neither flushed nor renamed; the engine flushes a
/// whole batch of them at once and then renames them (`apply::commit`).
fn write_for(
    path: &Real,
    bytes: &[u8],
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
    cx: &Ctx,
) -> io::Result<()> {
    write_file(path, bytes, mode, uid, gid, cx.fsync, cx.staging)
}

fn write_file(
    path: &Real,
    bytes: &[u8],
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
    fsync: bool,
    staging: Option<&Staging>,
) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&*tmp)?;
        // Asked before writing: the flusher's error cursor must predate this data.
        let staged_on = match staging {
            Some(st) if fsync => st.accepts(&f),
            _ => None,
        };
        f.write_all(bytes)?;
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::fchown(&f, uid, gid)?;
        }
        f.set_permissions(Permissions::from_mode(mode))?;
        if fsync && staged_on.is_none() {
            f.sync_data()?;
        }
        drop(f);
        match (staging, staged_on) {
            (Some(st), Some(dev)) => {
                st.stage(tmp.clone(), path.clone(), bytes.len() as u64, dev);
                Ok(())
            }
            _ => std::fs::rename(&*tmp, &**path),
        }
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&*tmp);
        return Err(e);
    }
    Ok(())
}

/// A unified diff of two contents (or a one-line note for binary ones).
pub(crate) fn unified_diff(old: &[u8], new: &[u8], path: &str) -> String {
    match (std::str::from_utf8(old), std::str::from_utf8(new)) {
        (Ok(a), Ok(b)) => similar::TextDiff::from_lines(a, b)
            .unified_diff()
            .context_radius(3)
            .header(path, path)
            .to_string(),
        _ => format!("Binary files {path} differ\n"),
    }
}

/// The mode, owner and group of a file being backed up.
fn cur_meta(cur: &Current) -> Option<(u32, u32, u32)> {
    match cur {
        Current::File(md) => Some((md.mode() & 0o7777, md.uid(), md.gid())),
        _ => None,
    }
}

/// Puts a backed-up version of `path` back (atomically, backing up what it replaces), with
/// the mode, owner and group it had when it was backed up (those of the file it replaces,
/// or 0644, for a backup older than these fields).
pub(crate) fn restore(
    root: &crate::sys::root::Root,
    backups: &crate::apply::state::Backups,
    path: &str,
    at: Option<&str>,
) -> Result<crate::apply::state::BackupEntry, Error> {
    let entry = backups
        .find(path, at)
        .map_err(|e| Error::io("cannot read backups", backups.dir(), e))?
        .ok_or_else(|| match at {
            Some(t) => format!("no backup of {path} at or before {t}"),
            None => format!("no backup of {path}"),
        })?;
    if crate::sys::root::is_root(path) {
        return Err(Error::refused(format!("{path} is the root directory")));
    }
    let bytes = backups.read(&entry.sha256).map_err(|e| {
        Error::io(
            format!("cannot read backup {}", entry.sha256),
            backups.dir(),
            e,
        )
    })?;
    if sha256_hex(&bytes) != entry.sha256 {
        return Err(Error::bad_catalog(format!(
            "backup {} is corrupt",
            entry.sha256
        )));
    }
    let real = root.open(path).map_err(Error::from)?;
    let (mut mode, mut uid, mut gid) = (0o644, None, None);
    match Current::read(&real)? {
        Current::File(md) => {
            let old = real.read().map_err(|e| {
                Error::io(format!("cannot read {}", real.display()), real.shown(), e)
            })?;
            let meta = (md.mode() & 0o7777, md.uid(), md.gid());
            if old != bytes {
                backups
                    .save_file(path, &old, Some(meta))
                    .map_err(|e| Error::io(format!("cannot back up {path}"), path, e))?;
            }
            (mode, uid, gid) = (meta.0, Some(meta.1), Some(meta.2));
        }
        Current::Dir(_) => return Err(Error::refused(format!("{path} is a directory"))),
        _ => {}
    }
    if let Some((m, u, g)) = entry.meta() {
        (mode, uid, gid) = (m, Some(u), Some(g));
    }
    let state = backups.dir().parent().unwrap_or(backups.dir());
    let unfinished = crate::apply::state::Unfinished::begin(state, true).ok();
    write_atomic(&real, &bytes, mode, uid, gid, true).map_err(|e| write_error(path, &real, e))?;
    // A marker an earlier run left stays for the next apply to sweep after it.
    if let Some((u, false)) = unfinished {
        u.end();
    }
    Ok(entry)
}
