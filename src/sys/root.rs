//! The sandbox root: maps catalog paths under `--root DIR` without ever leaving it.
//!
//! One mechanism for every path fleet changes in-process (files, the state directory,
//! releases, `backup restore`): a path's *parent* is opened as a directory handle with
//! `openat2(root_fd, parent, O_PATH|O_DIRECTORY, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)`,
//! the way a `chroot` would resolve it (a symlink's absolute target starts again at the
//! root, `..` stops at the root), and everything after that goes through the handle
//! ([`Real`]): `*at` calls, or the `/proc/self/fd/N/name` path of the pinned handle, which
//! the kernel resolves through the open directory (a directory swapped for a link after
//! the resolution cannot redirect it). The last component is never followed: providers
//! manage links themselves. The host root (`/`) takes the same path with `/` as the root.
//!
//! [`DirCache`] keeps, for one run, the handle each directory resolved to, so that 10,000
//! files in 1,000 directories cost one `openat2` per new directory. The engine empties it
//! whenever something may have changed what a directory resolves to (see
//! [`DirCache::invalidate`]). It is bounded (see [`fd_budget`]).
//!
//! [`Root::resolve`] is the older text walk, kept for paths handed to other programs
//! (`useradd --root`, `dpkg --root`, a command's working directory), which open them by
//! name themselves.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::ops::Bound;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

use crate::model::fxhash::FxHashMap;

/// Where the catalog's absolute paths live: `/` for the machine itself, or a directory.
/// Holds an `O_PATH` handle of it: every resolution starts there.
#[derive(Clone, Debug)]
pub struct Root {
    dir: Option<PathBuf>,
    fd: Arc<OwnedFd>,
}

const MAX_LINKS: usize = 40;

/// A position of the text walk: a real path under the root, how many components below the
/// root it is, and how many links were followed to get there.
#[derive(Clone, Debug)]
struct At {
    real: PathBuf,
    depth: usize,
    links: usize,
}

fn open_path_dir(p: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        p,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

impl Root {
    /// The machine's own root (`/`).
    pub fn host() -> Root {
        // Opening `/` with O_PATH needs no permission; only a full descriptor table fails.
        let fd = open_path_dir(Path::new("/")).expect("cannot open / (no file descriptor left)");
        Root {
            dir: None,
            fd: Arc::new(fd),
        }
    }

    /// A sandbox root directory (made absolute; `/` means the host).
    pub fn new(dir: &Path) -> io::Result<Root> {
        let dir = std::fs::canonicalize(dir)?;
        let fd = Arc::new(open_path_dir(&dir)?);
        if dir == Path::new("/") {
            return Ok(Root { dir: None, fd });
        }
        Ok(Root { dir: Some(dir), fd })
    }

    /// The root directory, `None` for the host.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The root as a path (`/` for the host).
    pub fn path(&self) -> &Path {
        self.dir.as_deref().unwrap_or(Path::new("/"))
    }

    /// The root's own handle.
    pub fn fd(&self) -> &Arc<OwnedFd> {
        &self.fd
    }

    /// A normalised catalog path as a path under the root, for messages.
    fn shown(&self, path: &str) -> PathBuf {
        match &self.dir {
            Some(d) => d.join(path.trim_start_matches('/')),
            None => PathBuf::from(path),
        }
    }

    /// The root itself as a [`Real`] (name `.`).
    fn real_root(&self) -> Real {
        Real::new(
            Some(self.fd.clone()),
            OsStr::new("."),
            self.path().to_path_buf(),
        )
    }

    /// Opens the catalog directory `rel` (normalised, without its leading `/`) under the
    /// root as a handle, chroot-like; and whether a link was followed on the way.
    fn open_dir(&self, rel: &str) -> io::Result<(OwnedFd, bool)> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        // Most directories have no link on the way: say so, so that invalidations keep them.
        match openat2_retrying(
            &self.fd,
            rel,
            flags,
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
        ) {
            Ok(fd) => return Ok((fd, false)),
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::XDEV) => {}
            Err(rustix::io::Errno::NOSYS) => return self.open_dir_walk(rel),
            Err(e) => return Err(e.into()),
        }
        match openat2_retrying(
            &self.fd,
            rel,
            flags,
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => Ok((fd, true)),
            Err(e) => Err(e.into()),
        }
    }

    /// Without `openat2` (Linux before 5.6): the text walk, then the directory opened.
    fn open_dir_walk(&self, rel: &str) -> io::Result<(OwnedFd, bool)> {
        let root = self.path().to_path_buf();
        let start = At {
            real: root.clone(),
            depth: 0,
            links: 0,
        };
        let at = walk(&root, rel, start, components_rev(Path::new(rel)), true)?;
        Ok((open_path_dir(&at.real)?, at.links > 0))
    }

    /// Resolves an absolute catalog path to a pinned handle of its parent and its final
    /// name (see the module docs). Fails on relative paths and on symlink loops; a missing
    /// parent gives a [`Real`] without a handle.
    pub fn open(&self, path: &str) -> io::Result<Real> {
        DirCache::new().resolve(self, path)
    }

    /// Makes the directory `path` and its missing parents under the root (`mode` before the
    /// umask), each through the handle of its parent.
    pub fn create_dir_all(&self, path: &str, mode: u32) -> io::Result<()> {
        absolute(path)?;
        let path = normalize(path);
        let mut at = 0;
        while at < path.len() {
            let end = path[at + 1..].find('/').map_or(path.len(), |i| at + 1 + i);
            let real = self.open(&path[..end])?;
            match real.mkdir(mode) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(with_path(e, &path[..end])),
            }
            at = end;
        }
        Ok(())
    }

    /// Opens the directory `path` under the root (every component followed inside it) as a
    /// handle of its own.
    pub fn open_dir_handle(&self, path: &str) -> io::Result<OwnedFd> {
        absolute(path)?;
        let path = normalize(path);
        if path == "/" {
            return self.fd.try_clone();
        }
        self.open_dir(&path[1..])
            .map(|(fd, _)| fd)
            .map_err(|e| with_path(e, &path))
    }

    /// Maps an absolute catalog path to a real path under the root as text, following
    /// symlinks in every component but the last one inside the root, for paths handed to
    /// other programs (see the module docs). Fails on relative paths and on symlink loops.
    pub fn resolve(&self, path: &str) -> io::Result<PathBuf> {
        let p = absolute(path)?;
        let Some(root) = &self.dir else {
            return Ok(normalize_lexically(p));
        };
        let start = At {
            real: root.clone(),
            depth: 0,
            links: 0,
        };
        Ok(walk(root, path, start, components_rev(p), false)?.real)
    }

    /// The catalog path for a real path under the root (inverse of `resolve` for paths
    /// without links), for messages and backups.
    pub fn display(&self, real: &Path) -> String {
        match &self.dir {
            Some(root) => match real.strip_prefix(root) {
                Ok(rest) => format!("/{}", rest.display()),
                Err(_) => real.display().to_string(),
            },
            None => real.display().to_string(),
        }
    }
}

/// `openat2`, tried again when the kernel could not rule out a race with a rename elsewhere
/// on the filesystem while resolving `..` (`EAGAIN`, openat2(2)): any rename on the mount can
/// cause it, so a busy machine sees it now and then. Bounded: a steady attack still fails.
fn openat2_retrying(
    dir: &OwnedFd,
    rel: &str,
    flags: OFlags,
    resolve: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dir, rel, flags, Mode::empty(), resolve) {
            Err(rustix::io::Errno::AGAIN) if tries < 64 => {
                tries += 1;
                std::thread::yield_now();
            }
            r => return r,
        }
    }
}

fn absolute(path: &str) -> io::Result<&Path> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path} is not an absolute path"),
        ));
    }
    Ok(p)
}

/// Walks `todo` (components, reversed) from `at` inside `root`, following every symlink met
/// with its target read inside the root; the last component too when `follow_last`.
fn walk(
    root: &Path,
    path: &str,
    mut at: At,
    mut todo: Vec<OsString>,
    follow_last: bool,
) -> io::Result<At> {
    while let Some(comp) = todo.pop() {
        if comp == ".." {
            if at.depth > 0 {
                at.real.pop();
                at.depth -= 1;
            }
            continue;
        }
        if comp == "." {
            continue;
        }
        at.real.push(&comp);
        at.depth += 1;
        if todo.is_empty() && !follow_last {
            break;
        }
        match std::fs::symlink_metadata(&at.real) {
            Ok(md) if md.file_type().is_symlink() => {
                at.links += 1;
                if at.links > MAX_LINKS {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{path}: too many levels of symbolic links under the root"),
                    ));
                }
                let target = std::fs::read_link(&at.real)?;
                at.real.pop();
                at.depth -= 1;
                if target.is_absolute() {
                    at.real = root.to_path_buf();
                    at.depth = 0;
                }
                todo.extend(components_rev(&target));
            }
            _ => {}
        }
    }
    Ok(at)
}

/// A catalog path resolved to a pinned directory handle and a final name (see the module
/// docs). Derefs to the `/proc/self/fd/N/name` path of the handle, for calls that take a
/// path; [`Real::display`] shows the path under the root for messages. A path whose parent
/// does not exist (or is not a directory) has no handle: every operation on it fails as
/// "not found" and never falls back to a path by name.
#[derive(Clone, Debug)]
pub struct Real {
    dir: Option<Arc<OwnedFd>>,
    name: OsString,
    path: PathBuf,
    shown: PathBuf,
}

impl Real {
    fn new(dir: Option<Arc<OwnedFd>>, name: &OsStr, shown: PathBuf) -> Real {
        let path = match &dir {
            Some(d) => {
                let mut p = PathBuf::from(format!("/proc/self/fd/{}", d.as_raw_fd()));
                if name != "." {
                    p.push(name);
                }
                p
            }
            None => PathBuf::new(),
        };
        Real {
            dir,
            name: name.to_os_string(),
            path,
            shown,
        }
    }

    /// The entry `name` of the directory handle `dir` (`None`: a directory that does not
    /// exist, whose entries all read as missing); `shown` is its path under the root.
    pub fn in_dir(dir: Option<Arc<OwnedFd>>, name: &OsStr, shown: PathBuf) -> Real {
        Real::new(dir, name, shown)
    }

    /// The pinned parent directory (`None`: it does not exist).
    pub fn dir(&self) -> Option<&Arc<OwnedFd>> {
        self.dir.as_ref()
    }

    /// The final component (`.` for the root itself).
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// The path through the pinned handle.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path under the root, for messages.
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    pub fn display(&self) -> std::path::Display<'_> {
        self.shown.display()
    }

    /// Another name in the same pinned directory.
    pub fn sibling(&self, name: &OsStr) -> Real {
        Real::new(self.dir.clone(), name, self.shown.with_file_name(name))
    }

    fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        match &self.dir {
            Some(d) => Ok(d.as_fd()),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    /// `lstat`, through the handle.
    pub fn lstat(&self) -> io::Result<rustix::fs::Stat> {
        Ok(rustix::fs::statat(
            self.fd()?,
            &self.name,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// The target of the link at this name.
    pub fn read_link(&self) -> io::Result<PathBuf> {
        let t = rustix::fs::readlinkat(self.fd()?, &self.name, Vec::new())?;
        Ok(PathBuf::from(OsStr::from_bytes(t.as_bytes())))
    }

    /// Opens the entry for reading, never through a link (`O_NOFOLLOW`; `O_NONBLOCK` so a
    /// FIFO swapped in cannot block).
    pub fn open_read(&self) -> io::Result<File> {
        let fd = rustix::fs::openat(
            self.fd()?,
            &self.name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// The whole content of the regular file at this name (never through a link).
    pub fn read(&self) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let mut f = self.open_read()?;
        let mut v = Vec::new();
        f.read_to_end(&mut v)?;
        Ok(v)
    }

    /// `chmod` of the entry itself (a link swapped in is refused, never followed): the
    /// entry is pinned with `O_PATH|O_NOFOLLOW` and changed through that handle.
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        let fd = rustix::fs::openat(
            self.fd()?,
            &self.name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rustix::fs::fstat(&fd)?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink {
            return Err(io::Error::other("a symbolic link appeared there"));
        }
        std::fs::set_permissions(
            format!("/proc/self/fd/{}", fd.as_raw_fd()),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
    }

    /// Makes a directory at this name (mode before the umask).
    pub fn mkdir(&self, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::mkdirat(
            self.fd()?,
            &self.name,
            Mode::from_raw_mode(mode),
        )?)
    }

    /// Opens the directory at this name (never through a link) as a handle of its own.
    pub fn open_dir(&self) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat(
            self.fd()?,
            &self.name,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }
}

impl std::ops::Deref for Real {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Real {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// A directory handle as a path (`/proc/self/fd/N`) for calls that take one; the handle
/// must stay open while the path is used.
pub(crate) fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Keeps a directory handle open for the rest of the process and returns its path (the
/// state directory and a release's deploy root: a handful per process). `shown` is what
/// messages about paths under it show (see [`shown`]).
pub(crate) fn pin_for_process(fd: OwnedFd, shown: &Path) -> PathBuf {
    let p = fd_path(&fd);
    PINNED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((p.clone(), shown.to_path_buf()));
    std::mem::forget(fd);
    p
}

static PINNED: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

/// Registers how paths under a handle are shown in messages (see [`shown`]) while the
/// returned guard lives; the handle must outlive the guard.
pub(crate) fn show_as(fd: &impl AsRawFd, shown: &Path) -> ShownAs {
    let key = fd_path(fd);
    PINNED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((key.clone(), shown.to_path_buf()));
    ShownAs { key }
}

/// See [`show_as`].
#[derive(Debug)]
pub(crate) struct ShownAs {
    key: PathBuf,
}

impl Drop for ShownAs {
    fn drop(&mut self) {
        let mut pinned = PINNED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = pinned.iter().rposition(|(p, _)| *p == self.key) {
            pinned.remove(i);
        }
    }
}

/// A path for messages: a path under a handle registered by [`pin_for_process`] or
/// [`show_as`] is shown as the path under the root it stands for.
pub(crate) fn shown(path: &Path) -> PathBuf {
    let pinned = PINNED.lock().unwrap_or_else(|e| e.into_inner());
    for (p, s) in pinned.iter().rev() {
        if let Ok(rest) = path.strip_prefix(p) {
            return if rest.as_os_str().is_empty() {
                s.clone()
            } else {
                s.join(rest)
            };
        }
    }
    path.to_path_buf()
}

/// [`shown`] for every registered handle path in a message.
pub(crate) fn shown_text(text: &str) -> String {
    if !text.contains("/proc/self/fd/") {
        return text.to_string();
    }
    let pinned = PINNED.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for (p, s) in pinned.iter().rev() {
        let (key, with) = (p.to_string_lossy(), s.to_string_lossy());
        let mut at = 0;
        while let Some(i) = out[at..].find(key.as_ref()) {
            let start = at + i;
            let end = start + key.len();
            if out[end..].starts_with(|c: char| c.is_ascii_digit()) {
                at = end;
                continue;
            }
            out.replace_range(start..end, &with);
            at = start + with.len();
        }
    }
    out
}

/// How many directory handles a [`DirCache`] may hold: a quarter of the soft
/// `RLIMIT_NOFILE` (at least 64, at most 16,384), leaving the rest for files, pipes and the
/// engine's workers. The limit itself is left alone: commands inherit it.
pub(crate) fn fd_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(1 << 16);
        usize::try_from(soft / 4)
            .unwrap_or(16_384)
            .clamp(64, 16_384)
    })
}

/// The directory handles of one run (see the module docs). Keys are normalised catalog
/// directories.
#[derive(Debug)]
pub struct DirCache {
    entries: Mutex<Entries>,
    /// How many handles it may hold (see [`fd_budget`]).
    cap: usize,
}

#[derive(Debug)]
struct Entry {
    fd: Arc<OwnedFd>,
    /// Its resolution followed a link.
    linked: bool,
}

#[derive(Debug, Default)]
struct Entries {
    /// Bumped by every invalidation: a resolution computed across one is not kept.
    generation: u64,
    map: FxHashMap<Box<str>, Entry>,
    /// The same keys, in order (to find those under a path).
    keys: BTreeSet<Box<str>>,
    /// How many entries followed a link.
    linked: usize,
}

impl Entries {
    fn clear(&mut self) {
        self.map.clear();
        self.keys.clear();
        self.linked = 0;
    }

    fn insert(&mut self, generation: u64, key: &str, e: Entry, cap: usize) {
        if self.generation != generation {
            return;
        }
        if self.map.len() >= cap {
            self.clear();
        }
        let linked = usize::from(e.linked);
        match self.map.insert(key.into(), e) {
            Some(old) => self.linked -= usize::from(old.linked),
            None => {
                self.keys.insert(key.into());
            }
        }
        self.linked += linked;
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.map.remove(key) {
            self.linked -= usize::from(old.linked);
            self.keys.remove(key);
        }
    }
}

impl Default for DirCache {
    fn default() -> DirCache {
        DirCache::new()
    }
}

impl DirCache {
    pub fn new() -> DirCache {
        DirCache::with_cap(fd_budget())
    }

    fn with_cap(cap: usize) -> DirCache {
        DirCache {
            entries: Mutex::default(),
            cap: cap.max(1),
        }
    }

    /// Forgets every directory: after anything that can change the tree behind the
    /// engine's back (a command, a package).
    pub fn invalidate(&self) {
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        m.generation += 1;
        m.clear();
    }

    /// Forgets what a change at the catalog path `path` (a link made or removed there, a
    /// directory removed) can have changed: the directories at or below it, and every
    /// directory whose resolution followed a link (its target may have passed there).
    pub fn invalidate_under(&self, path: &str) {
        let norm = normalize(path);
        let key = norm.trim_start_matches('/');
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        m.generation += 1;
        if key.is_empty() {
            m.clear();
            return;
        }
        if m.linked > 0 {
            let linked: Vec<Box<str>> = m
                .map
                .iter()
                .filter(|(_, e)| e.linked)
                .map(|(k, _)| k.clone())
                .collect();
            for k in linked {
                m.remove(&k);
            }
        }
        m.remove(key);
        // Exactly the keys under `key/`: from "key/" up to "key0" ('0' follows '/').
        let (lo, hi) = (format!("{key}/"), format!("{key}0"));
        let below: Vec<Box<str>> = m
            .keys
            .range::<str, _>((Bound::Included(lo.as_str()), Bound::Excluded(hi.as_str())))
            .cloned()
            .collect();
        for k in below {
            m.remove(&k);
        }
    }

    /// [`Root::open`], with the parent's handle looked up in (and added to) the cache.
    pub fn resolve(&self, root: &Root, path: &str) -> io::Result<Real> {
        absolute(path)?;
        let path = normalize(path);
        let Some((parent, name)) = split(&path) else {
            return Ok(root.real_root());
        };
        if parent.is_empty() {
            return Ok(Real::new(
                Some(root.fd.clone()),
                OsStr::new(name),
                root.shown(&path),
            ));
        }
        let generation = {
            let m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = m.map.get(parent) {
                return Ok(Real::new(
                    Some(e.fd.clone()),
                    OsStr::new(name),
                    root.shown(&path),
                ));
            }
            m.generation
        };
        let dir = match root.open_dir(parent) {
            Ok((fd, linked)) => {
                let fd = Arc::new(fd);
                let e = Entry {
                    fd: fd.clone(),
                    linked,
                };
                let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
                m.insert(generation, parent, e, self.cap);
                Some(fd)
            }
            Err(e) if missing(&e) => None,
            Err(e) => return Err(with_path(e, &path)),
        };
        Ok(Real::new(dir, OsStr::new(name), root.shown(&path)))
    }
}

/// The parent does not exist (or is not a directory): the path is simply absent.
fn missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

fn with_path(e: io::Error, path: &str) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path}: too many levels of symbolic links under the root"),
        );
    }
    io::Error::new(e.kind(), format!("{path}: {e}"))
}

/// `(parent, name)` of a normalised path, the parent without its leading `/` (`""` for the
/// root); `None` for `/` itself.
fn split(path: &str) -> Option<(&str, &str)> {
    let cut = path.rfind('/')?;
    if path.len() == 1 {
        return None;
    }
    Some((&path[1..cut.max(1)], &path[cut + 1..]))
}

/// Removes `.`, empty components and trailing `/`, and resolves `..` textually (it stops
/// at `/`): `/a/../b` is `/b` whatever `/a` is.
pub(crate) fn normalize(path: &str) -> std::borrow::Cow<'_, str> {
    if is_clean(path) {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(path.len());
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    std::borrow::Cow::Owned(out)
}

/// Whether a catalog path names the root itself (`/`, `/..`, `//.`, ...).
pub(crate) fn is_root(path: &str) -> bool {
    path.starts_with('/') && normalize(path) == "/"
}

/// Absolute, and no empty, `.` or `..` component (so not `/` itself).
pub(crate) fn is_clean(path: &str) -> bool {
    let b = path.as_bytes();
    if b.len() < 2 || b[0] != b'/' {
        return false;
    }
    let mut start = 1;
    for i in 1..=b.len() {
        if i == b.len() || b[i] == b'/' {
            if matches!(&b[start..i], b"" | b"." | b"..") {
                return false;
            }
            start = i + 1;
        }
    }
    true
}

/// The normal components of a path, reversed (so `pop` yields them in order).
fn components_rev(p: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    v.reverse();
    v
}

/// Removes `.` and resolves `..` textually (for the host root, where the kernel follows
/// links itself).
fn normalize_lexically(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Where a resolved path really is (through its handle).
    fn real_dir(r: &Real) -> PathBuf {
        std::fs::read_link(fd_path(&**r.dir().expect("a handle"))).unwrap()
    }

    #[test]
    fn planted_links_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path()).unwrap();
        let base = root.dir().unwrap().to_path_buf();
        std::fs::create_dir_all(base.join("real/sub")).unwrap();
        std::fs::create_dir_all(base.join("tmp")).unwrap();
        symlink("/etc", base.join("etc")).unwrap();
        symlink("../../../../real", base.join("up")).unwrap();
        symlink("/tmp", base.join("abs")).unwrap();
        // DIR/etc -> /etc means DIR/etc again: a loop, refused.
        assert!(root.open("/etc/passwd").is_err());
        // The last component is not followed: the link itself is what is managed.
        let r = root.open("/etc").unwrap();
        assert_eq!((real_dir(&r), r.name()), (base.clone(), OsStr::new("etc")));
        assert_eq!(real_dir(&root.open("/up/f").unwrap()), base.join("real"));
        assert_eq!(
            real_dir(&root.open("/up/sub/f").unwrap()),
            base.join("real/sub")
        );
        assert_eq!(real_dir(&root.open("/abs/f").unwrap()), base.join("tmp"));
        let r = root.open("/a/../../b").unwrap();
        assert_eq!((real_dir(&r), r.name()), (base.clone(), OsStr::new("b")));
        assert_eq!(
            r.display().to_string(),
            base.join("b").display().to_string()
        );
        // A missing parent: no handle, nothing by name.
        let r = root.open("/missing/a/b").unwrap();
        assert!(r.dir().is_none() && r.lstat().is_err() && r.as_os_str().is_empty());
        assert!(root.open("relative").is_err());
        assert!(is_root("/") && is_root("/..") && is_root("//./a/..") && !is_root("/a"));
    }

    #[test]
    fn the_dir_cache_keeps_handles_and_forgets_on_invalidate() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path()).unwrap();
        let base = root.dir().unwrap().to_path_buf();
        std::fs::create_dir_all(base.join("real/sub")).unwrap();
        symlink("../../../../real", base.join("up")).unwrap();
        symlink("up/sub", base.join("chain")).unwrap();
        let cache = DirCache::new();
        for (p, dir) in [
            ("/up/f", "real"),
            ("/chain/f", "real/sub"),
            ("/real/sub/f", "real/sub"),
        ] {
            for _ in 0..2 {
                assert_eq!(
                    real_dir(&cache.resolve(&root, p).unwrap()),
                    base.join(dir),
                    "{p}"
                );
            }
        }
        // A directory that becomes a link: its handle stays on the directory until
        // invalidated, then the link is followed inside the root.
        std::fs::create_dir(base.join("d")).unwrap();
        assert_eq!(
            real_dir(&cache.resolve(&root, "/d/f").unwrap()),
            base.join("d")
        );
        std::fs::rename(base.join("d"), base.join("d-old")).unwrap();
        symlink("/real", base.join("d")).unwrap();
        assert_eq!(
            real_dir(&cache.resolve(&root, "/d/f").unwrap()),
            base.join("d-old")
        );
        cache.invalidate_under("/d");
        assert_eq!(
            real_dir(&cache.resolve(&root, "/d/f").unwrap()),
            base.join("real")
        );
        symlink("/loop2", base.join("loop1")).unwrap();
        symlink("/loop1", base.join("loop2")).unwrap();
        assert!(cache.resolve(&root, "/loop1/f").is_err());
    }

    #[test]
    fn invalidate_under_forgets_what_a_change_there_can_reach() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path()).unwrap();
        let base = root.dir().unwrap().to_path_buf();
        for d in ["d/sub", "d-x", "e", "real1", "real2"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        symlink("/real1", base.join("up")).unwrap();
        let cache = DirCache::new();
        for p in ["/d/sub/f", "/d-x/f", "/e/f", "/up/f"] {
            cache.resolve(&root, p).unwrap();
        }
        cache.invalidate_under("/d");
        let m = cache.entries.lock().unwrap();
        assert!(m.map.contains_key("d-x") && m.map.contains_key("e"));
        assert!(!m.map.contains_key("d/sub") && !m.map.contains_key("up"));
        assert_eq!(m.keys.len(), m.map.len());
    }

    #[test]
    fn the_dir_cache_holds_at_most_its_budget_of_handles() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path()).unwrap();
        let cache = DirCache::with_cap(8);
        for d in 0..20 {
            root.create_dir_all(&format!("/d{d}"), 0o755).unwrap();
            let r = cache.resolve(&root, &format!("/d{d}/f")).unwrap();
            assert!(r.dir().is_some());
            let m = cache.entries.lock().unwrap();
            assert!(m.map.len() <= 8 && m.keys.len() == m.map.len());
        }
        assert!((64..=16_384).contains(&fd_budget()));
    }

    #[test]
    fn create_dir_all_makes_each_directory_inside() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("root")).unwrap();
        std::fs::create_dir(tmp.path().join("outside")).unwrap();
        let root = Root::new(&tmp.path().join("root")).unwrap();
        let base = root.dir().unwrap().to_path_buf();
        symlink(tmp.path().join("outside"), base.join("var")).unwrap();
        // The link's target is taken inside the root, where it does not exist.
        assert!(root.create_dir_all("/var/lib/fleet", 0o755).is_err());
        assert_eq!(
            std::fs::read_dir(tmp.path().join("outside"))
                .unwrap()
                .count(),
            0
        );
        std::fs::remove_file(base.join("var")).unwrap();
        symlink("../../../outside", base.join("var")).unwrap();
        std::fs::create_dir(base.join("outside")).unwrap();
        root.create_dir_all("/var/lib/fleet", 0o755).unwrap();
        assert!(base.join("outside/lib/fleet").is_dir());
        assert_eq!(
            std::fs::read_dir(tmp.path().join("outside"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn clean_paths() {
        for p in ["/a", "/a/b", "/a.b/..c/d..", "/a/.b"] {
            assert!(is_clean(p), "{p}");
        }
        for p in [
            "/", "", "a/b", "/a/", "//a", "/a//b", "/./a", "/a/.", "/a/../b", "/a/..",
        ] {
            assert!(!is_clean(p), "{p}");
        }
        assert_eq!(normalize("/a//b/./c/../"), "/a/b");
        assert_eq!(normalize("/.."), "/");
    }
}
