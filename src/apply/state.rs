//! The state directory: the run lock, the content-addressed backup store and saved reports.
//!
//! Layout (CLI.md "State"): `lock`, `backup/<sha256>` (old bytes), `backup/index.jsonl` (one
//! `{"path","time","sha256","mode","uid","gid"}` line per backup, appended),
//! `reports/<time>.json`, `report-key` (`apply::secret`). Backups and reports may hold
//! secrets (old contents, sums of private files): they are written 0600.
//!
//! Nothing in it is opened through a link: the state directory itself (the last component of
//! the path given; the default `/var/lib` above it is resolved inside the root, see
//! `sys::root`), `backup/`, `reports/` and every file in them are opened with `O_NOFOLLOW`
//! relative to the handle of the directory above, so a link planted there is refused rather
//! than followed. The backup store is 0700 and its blobs 0600, whatever the files were: the
//! mode, owner and group of each backed-up file are in its index line.

use std::fs::{File, TryLockError};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rustix::fs::{Mode, OFlags};

use super::error::{Error, ErrorKind};
use crate::model::digest::sha256_hex;
use crate::sys::root::{fd_path, shown};

/// Opens the directory `path` without following its last component (`O_PATH`), making it
/// (and, with `create`, its parents) first with `mode` when `create`. An empty path is
/// "not found" (there is no state directory).
fn open_dir_nofollow(path: &Path, create: bool, mode: u32) -> io::Result<OwnedFd> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    if create {
        std::fs::create_dir_all(parent)?;
    }
    let pfd = rustix::fs::open(
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    sub_dir(pfd.as_fd(), name, create, mode)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", shown(path).display())))
}

/// The directory `name` in `dir`, never through a link (a link there is an error), made with
/// `mode` when `create` and missing.
fn sub_dir(
    dir: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    create: bool,
    mode: u32,
) -> io::Result<OwnedFd> {
    if create {
        match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(fd),
        Err(rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP) => Err(io::Error::other(
            "not a directory (a symbolic link is not followed here)",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Opens `name` in `dir` with `flags`, never through a link.
fn open_in(dir: BorrowedFd<'_>, name: &str, flags: OFlags, mode: u32) -> io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )?;
    Ok(File::from(fd))
}

/// Writes `bytes` to a new 0600 file `tmp` in `dir` (never through a link), synced when
/// `sync`, then renames it to `name`; on failure the temporary file is removed.
fn write_new_in(
    dir: BorrowedFd<'_>,
    tmp: &str,
    name: &str,
    bytes: &[u8],
    sync: bool,
) -> io::Result<()> {
    let written = (|| {
        let mut f = open_in(
            dir,
            tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
            0o600,
        )?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        drop(f);
        rustix::fs::renameat(dir, tmp, dir, name).map_err(io::Error::from)
    })();
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp, rustix::fs::AtFlags::empty());
    }
    written
}

/// `chmod` through a directory handle (`O_PATH` handles take no `fchmod`).
fn chmod_dir(fd: &OwnedFd, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(fd_path(fd), std::fs::Permissions::from_mode(mode))
}

/// The held run lock of a state directory; released when dropped. A run that writes
/// (`create`) puts its pid in the file while it holds it, and empties it when done.
#[derive(Debug)]
pub(crate) struct Lock {
    file: File,
    /// The file holds our pid.
    wrote_pid: bool,
}

impl Drop for Lock {
    fn drop(&mut self) {
        if self.wrote_pid {
            let _ = self.file.set_len(0);
        }
    }
}

/// Why the lock could not be taken: [`ErrorKind::Busy`] (another apply holds it and we
/// were asked not to wait; its pid when it wrote one) or [`ErrorKind::Io`] on the lock file.
fn lock_error(path: &Path, e: io::Error) -> Error {
    let shown = shown(path);
    Error::io(format!("cannot lock {}", shown.display()), &shown, e)
}

fn busy(path: &Path, pid: Option<u32>) -> Error {
    let shown = shown(path);
    let message = match pid {
        None => format!(
            "another fleet apply is running (it holds {})",
            shown.display()
        ),
        Some(pid) => format!(
            "another fleet apply is running (pid {pid} holds {}); --wait waits for it",
            shown.display()
        ),
    };
    Error::new(ErrorKind::Busy { pid }, message)
}

/// Takes `STATE/lock`, creating the state directory when `create`; `wait` blocks until the
/// other run ends instead of failing. With `create` false and no lock file, returns `None`
/// (a noop run on a machine fleet never changed creates nothing).
pub(crate) fn lock(state: &Path, create: bool, wait: bool) -> Result<Option<Lock>, Error> {
    lock_noting(state, create, wait, |_| {})
}

/// Who holds a lock another run waits for.
#[derive(Debug)]
pub(crate) struct Held {
    /// The lock file, as people read its path.
    pub path: PathBuf,
    /// The holder's process id, as it wrote it in the lock file (None if it has not yet, or
    /// the file holds something else).
    pub pid: Option<u32>,
}

/// [`lock`], calling `waiting` once before it blocks when `wait` is set and another run
/// holds the lock. The holder's pid is in the lock file (written by each run that takes
/// it), so a waiting run can say whom it waits for.
pub(crate) fn lock_noting(
    state: &Path,
    create: bool,
    wait: bool,
    waiting: impl FnOnce(&Held),
) -> Result<Option<Lock>, Error> {
    let path = state.join("lock");
    let dir = match open_dir_nofollow(state, create, 0o755) {
        Ok(d) => d,
        Err(e) if !create && e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(lock_error(&path, e)),
    };
    let flags = OFlags::RDWR
        | if create {
            OFlags::CREATE
        } else {
            OFlags::empty()
        };
    let file = match open_in(dir.as_fd(), "lock", flags, 0o644) {
        Ok(f) => f,
        Err(e) if !create && e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(lock_error(&path, e)),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) if wait => {
            waiting(&Held {
                path: shown(&path),
                pid: holder(&file),
            });
            file.lock().map_err(|e| lock_error(&path, e))?;
        }
        Err(TryLockError::WouldBlock) => {
            let pid = holder(&file);
            return Err(busy(&path, pid));
        }
        Err(TryLockError::Error(e)) => return Err(lock_error(&path, e)),
    }
    // Ours now: say who holds it (a run that writes; a noop run leaves the state directory
    // as it is). Best effort: the lock is the flock, not the text.
    let wrote_pid = create
        && file.set_len(0).is_ok()
        && std::os::unix::fs::FileExt::write_all_at(
            &file,
            format!("{}\n", std::process::id()).as_bytes(),
            0,
        )
        .is_ok();
    Ok(Some(Lock { file, wrote_pid }))
}

/// The pid a lock's holder wrote in it.
fn holder(mut file: &File) -> Option<u32> {
    let mut text = String::new();
    // A pid is a few digits: a bigger file is not one fleet wrote.
    (&mut file).take(32).read_to_string(&mut text).ok()?;
    // A pid a run wrote and did not take back (it was killed) names no live process.
    let pid: u32 = text.trim().parse().ok()?;
    Path::new("/proc")
        .join(pid.to_string())
        .exists()
        .then_some(pid)
}

/// `STATE/unfinished`: present while a run (or a restore) may have temp files beside the
/// files it writes. A run that finds it at the start knows the last one was killed (or the
/// machine went down) and sweeps their temp files; otherwise it need not read every
/// managed directory looking for them.
#[derive(Debug)]
pub(crate) struct Unfinished {
    dir: OwnedFd,
}

impl Unfinished {
    /// Marks the start of a run that writes; returns the marker and whether an earlier run
    /// left it behind. With `flush`, the marker is on disk before anything is written.
    pub(crate) fn begin(state: &Path, flush: bool) -> io::Result<(Unfinished, bool)> {
        let dir = open_dir_nofollow(state, true, 0o755)?;
        let left =
            rustix::fs::statat(&dir, "unfinished", rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok();
        let f = open_in(
            dir.as_fd(),
            "unfinished",
            OFlags::WRONLY | OFlags::CREATE,
            0o644,
        )?;
        if flush && !left {
            f.sync_all()?;
            File::open(fd_path(&dir))?.sync_all()?;
        }
        Ok((Unfinished { dir }, left))
    }

    /// The run ended (whatever its resources did): no temp file of it is left.
    pub(crate) fn end(self) {
        let _ = rustix::fs::unlinkat(&self.dir, "unfinished", rustix::fs::AtFlags::empty());
    }
}

/// Reads the small file `STATE/name`, never through a link.
pub(crate) fn read_state_file(state: &Path, name: &str) -> io::Result<Vec<u8>> {
    let sd = open_dir_nofollow(state, false, 0o755)?;
    let mut bytes = Vec::new();
    open_in(sd.as_fd(), name, OFlags::RDONLY, 0)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Creates `STATE/name` (0600) holding `bytes`, never through a link; fails when it exists.
pub(crate) fn create_state_file(state: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let sd = open_dir_nofollow(state, true, 0o755)?;
    let mut f = open_in(
        sd.as_fd(),
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
        0o600,
    )?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Saves a report as `STATE/reports/<started>.json` (atomically), returning its path.
pub(crate) fn save_report(state: &Path, started: &str, json: &str) -> io::Result<PathBuf> {
    let sd = open_dir_nofollow(state, true, 0o755)?;
    let dir = sub_dir(sd.as_fd(), "reports".as_ref(), true, 0o700)?;
    let name = started.replace(':', "");
    let (file, tmp) = (format!("{name}.json"), format!(".{name}.json.tmp"));
    let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), rustix::fs::AtFlags::empty());
    write_new_in(dir.as_fd(), &tmp, &file, json.as_bytes(), false)?;
    Ok(shown(&state.join("reports").join(file)))
}

/// How a report's file name sorts: its time, without the `Z` and `.json` (a time whose
/// microseconds are 0 is written without them, and must still sort before the same second's
/// later runs).
fn report_key(name: &str) -> &str {
    name.trim_end_matches(".json").trim_end_matches('Z')
}

/// Whether `name` is a saved report's file name (`<time>.json`; not a temporary file).
fn is_report_name(name: &str) -> bool {
    name.ends_with(".json") && !name.starts_with('.') && name.len() > ".json".len()
}

/// The saved reports' file names in `STATE/reports/`, oldest first; `None` when there is no
/// state directory or no `reports/` in it. Never through a link.
pub(crate) fn report_names(state: &Path) -> io::Result<Option<Vec<String>>> {
    let sd = match open_dir_nofollow(state, false, 0o755) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let dir = match sub_dir(sd.as_fd(), "reports".as_ref(), false, 0o700) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("{}: {e}", shown(&state.join("reports")).display()),
            ))
        }
    };
    // `O_PATH` handles cannot be read: the listing opens the directory itself, no link.
    let listing = rustix::fs::openat(
        &dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(&listing)? {
        let entry = entry?;
        if let Ok(name) = entry.file_name().to_str() {
            if is_report_name(name) {
                names.push(name.to_string());
            }
        }
    }
    names.sort_by(|a, b| report_key(a).cmp(report_key(b)).then(a.cmp(b)));
    Ok(Some(names))
}

/// The bytes of the saved report `STATE/reports/<name>` (a name from [`report_names`]),
/// never through a link, at most [`MAX_REPORT_BYTES`].
pub(crate) fn read_report(state: &Path, name: &str) -> io::Result<Vec<u8>> {
    if !is_report_name(name) || name.contains('/') {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    let sd = open_dir_nofollow(state, false, 0o755)?;
    let dir = sub_dir(sd.as_fd(), "reports".as_ref(), false, 0o700)?;
    let f = open_in(dir.as_fd(), name, OFlags::RDONLY | OFlags::NONBLOCK, 0)?;
    let mut bytes = Vec::new();
    f.take(MAX_REPORT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_REPORT_BYTES {
        return Err(io::Error::other(format!(
            "larger than {} MiB",
            MAX_REPORT_BYTES >> 20
        )));
    }
    Ok(bytes)
}

/// The largest saved report read back (a run of a million resources stays well below).
const MAX_REPORT_BYTES: u64 = 1 << 30;

/// Removes the oldest saved reports beyond the newest `keep`; returns how many it removed.
/// No state directory or no `reports/` is nothing to do.
pub(crate) fn prune_reports(state: &Path, keep: usize) -> io::Result<usize> {
    let Some(names) = report_names(state)? else {
        return Ok(0);
    };
    let excess = names.len().saturating_sub(keep);
    if excess == 0 {
        return Ok(0);
    }
    let sd = open_dir_nofollow(state, false, 0o755)?;
    let dir = sub_dir(sd.as_fd(), "reports".as_ref(), false, 0o700)?;
    for name in &names[..excess] {
        match rustix::fs::unlinkat(&dir, name.as_str(), rustix::fs::AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(excess)
}

/// A private directory in the state directory (`STATE/agent`, and directories in it): made
/// 0700, every file in it written atomically 0600, nothing opened through a link. The agent
/// keeps its cached catalog, content and queued reports here.
#[derive(Debug)]
pub(crate) struct PrivateDir {
    fd: OwnedFd,
    shown: PathBuf,
}

impl PrivateDir {
    /// `STATE/name`, made (with the state directory) when `create`.
    pub(crate) fn open(state: &Path, name: &str, create: bool) -> io::Result<PrivateDir> {
        let sd = open_dir_nofollow(state, create, 0o755)?;
        PrivateDir::sub_of(sd.as_fd(), &state.join(name), name, create)
    }

    /// The directory `name` in this one.
    pub(crate) fn sub(&self, name: &str, create: bool) -> io::Result<PrivateDir> {
        PrivateDir::sub_of(self.fd.as_fd(), &self.shown.join(name), name, create)
    }

    fn sub_of(
        dir: BorrowedFd<'_>,
        path: &Path,
        name: &str,
        create: bool,
    ) -> io::Result<PrivateDir> {
        let fd = sub_dir(dir, name.as_ref(), create, 0o700)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", shown(path).display())))?;
        if create {
            chmod_dir(&fd, 0o700)?;
        }
        Ok(PrivateDir {
            fd,
            shown: shown(path),
        })
    }

    /// A path that names this directory for as long as the value lives (through its
    /// handle: a link swapped in for the directory afterwards is not followed).
    pub(crate) fn handle_path(&self) -> PathBuf {
        fd_path(&self.fd)
    }

    /// The directory as messages show it.
    pub(crate) fn shown(&self) -> &Path {
        &self.shown
    }

    /// The bytes of `name`, at most `max`; `Ok(None)` when there is no such file.
    pub(crate) fn read(&self, name: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        let f = match open_in(self.fd.as_fd(), name, OFlags::RDONLY | OFlags::NONBLOCK, 0) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error(name, e)),
        };
        let mut bytes = Vec::new();
        f.take(max + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > max {
            return Err(self.error(name, io::Error::other(format!("larger than {max} bytes"))));
        }
        Ok(Some(bytes))
    }

    /// Opens `name` for reading, never through a link; `Ok(None)` when missing.
    pub(crate) fn open_file(&self, name: &str) -> io::Result<Option<File>> {
        match open_in(self.fd.as_fd(), name, OFlags::RDONLY | OFlags::NONBLOCK, 0) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(name, e)),
        }
    }

    /// Replaces `name` with `bytes` (0600) atomically, flushed first when `sync`.
    pub(crate) fn write(&self, name: &str, bytes: &[u8], sync: bool) -> io::Result<()> {
        let tmp = format!(".{name}.tmp");
        let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), rustix::fs::AtFlags::empty());
        write_new_in(self.fd.as_fd(), &tmp, name, bytes, sync).map_err(|e| self.error(name, e))
    }

    /// A new, empty 0600 file `tmp` to stream into, and then [`PrivateDir::rename`] into place.
    pub(crate) fn create_temp(&self, tmp: &str) -> io::Result<File> {
        let _ = rustix::fs::unlinkat(&self.fd, tmp, rustix::fs::AtFlags::empty());
        open_in(
            self.fd.as_fd(),
            tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
            0o600,
        )
        .map_err(|e| self.error(tmp, e))
    }

    /// Renames `from` to `to` within the directory.
    pub(crate) fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        rustix::fs::renameat(&self.fd, from, &self.fd, to).map_err(|e| self.error(to, e.into()))
    }

    /// Removes `name`; a missing one is no error.
    pub(crate) fn remove(&self, name: &str) -> io::Result<()> {
        match rustix::fs::unlinkat(&self.fd, name, rustix::fs::AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(self.error(name, e.into())),
        }
    }

    /// The names of the files in the directory that do not start with a dot, sorted.
    pub(crate) fn list(&self) -> io::Result<Vec<String>> {
        let listing = rustix::fs::openat(
            &self.fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&listing)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().to_str() {
                if !name.starts_with('.') {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn error(&self, name: &str, e: io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!("{}: {e}", self.shown.join(name).display()),
        )
    }
}

/// One backed-up version of a file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupEntry {
    /// The catalog path (as seen inside the root).
    pub path: String,
    /// RFC 3339 UTC.
    pub time: String,
    pub sha256: String,
    /// The file's mode (octal, `"0600"`), owner and group ids when it was backed up; absent
    /// in backups made before they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

impl BackupEntry {
    /// Mode, owner and group, when all were kept.
    pub fn meta(&self) -> Option<(u32, u32, u32)> {
        let mode = u32::from_str_radix(self.mode.as_deref()?, 8).ok()?;
        Some((mode & 0o7777, self.uid?, self.gid?))
    }
}

/// The content-addressed backup store `STATE/backup`.
#[derive(Debug)]
pub struct Backups {
    state: PathBuf,
    dir: PathBuf,
    /// The store's handle, once opened (made, on the first backup).
    pinned: OnceLock<Arc<OwnedFd>>,
    index: Mutex<()>,
}

impl Backups {
    pub fn new(state: &Path) -> Backups {
        Backups {
            state: state.to_path_buf(),
            dir: state.join("backup"),
            pinned: OnceLock::new(),
            index: Mutex::new(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store's handle; made (0700) when `create`. An existing store that is open to
    /// others is closed to them.
    fn handle(&self, create: bool) -> io::Result<Arc<OwnedFd>> {
        if let Some(h) = self.pinned.get() {
            return Ok(h.clone());
        }
        let _guard = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = self.pinned.get() {
            return Ok(h.clone());
        }
        let sd = open_dir_nofollow(&self.state, create, 0o755)?;
        let fd = sub_dir(sd.as_fd(), "backup".as_ref(), create, 0o700).map_err(|e| {
            io::Error::new(e.kind(), format!("{}: {e}", shown(&self.dir).display()))
        })?;
        let st = rustix::fs::fstat(&fd)?;
        if st.st_mode & 0o077 != 0 && create {
            chmod_dir(&fd, st.st_mode & 0o700)?;
        }
        Ok(self.pinned.get_or_init(|| Arc::new(fd)).clone())
    }

    /// Stores `bytes` as the old content of `path` (idempotent per content) and records it.
    pub fn save(&self, path: &str, bytes: &[u8]) -> io::Result<String> {
        self.save_file(path, bytes, None)
    }

    /// [`Backups::save`], recording the file's mode, owner and group (`meta`).
    pub fn save_file(
        &self,
        path: &str,
        bytes: &[u8],
        meta: Option<(u32, u32, u32)>,
    ) -> io::Result<String> {
        let sha = sha256_hex(bytes);
        let dir = self.handle(true)?;
        let present =
            rustix::fs::statat(&*dir, sha.as_str(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok();
        if !present {
            // A name of its own: two workers may back up the same content at once (with
            // one shared name, one truncated the other's file or lost its rename).
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let tmp = format!(".{sha}.{}-{n}.tmp", std::process::id());
            write_new_in(dir.as_fd(), &tmp, &sha, bytes, true)?;
        }
        let entry = BackupEntry {
            path: path.to_string(),
            time: super::time::now_rfc3339(),
            sha256: sha.clone(),
            mode: meta.map(|m| format!("{:04o}", m.0 & 0o7777)),
            uid: meta.map(|m| m.1),
            gid: meta.map(|m| m.2),
        };
        let mut line = serde_json::to_string(&entry).expect("entry serialises");
        line.push('\n');
        let _guard = self.index.lock().unwrap_or_else(|e| e.into_inner());
        let mut f = open_in(
            dir.as_fd(),
            "index.jsonl",
            OFlags::WRONLY | OFlags::CREATE | OFlags::APPEND,
            0o600,
        )?;
        f.write_all(line.as_bytes())?;
        Ok(sha)
    }

    /// Every backup, oldest first (unreadable lines are skipped).
    pub fn list(&self) -> io::Result<Vec<BackupEntry>> {
        let read = self.handle(false).and_then(|dir| {
            let mut text = String::new();
            open_in(dir.as_fd(), "index.jsonl", OFlags::RDONLY, 0)?.read_to_string(&mut text)?;
            Ok(text)
        });
        let text = match read {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// The newest backup of `path` taken at or before `at` (see [`super::time::parse_at`];
    /// a time that does not parse is an `InvalidInput` error; `None`: the newest of all).
    pub fn find(&self, path: &str, at: Option<&str>) -> io::Result<Option<BackupEntry>> {
        let at = at
            .map(super::time::parse_at)
            .transpose()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let all = self.list()?;
        Ok(all.into_iter().rfind(|e| {
            e.path == path
                && at.is_none_or(|at| e.time.parse::<jiff::Timestamp>().is_ok_and(|t| t <= at))
        }))
    }

    /// The bytes of a backup.
    pub fn read(&self, sha: &str) -> io::Result<Vec<u8>> {
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{sha:?} is not a sha256"),
            ));
        }
        let dir = self.handle(false)?;
        let mut v = Vec::new();
        open_in(dir.as_fd(), sha, OFlags::RDONLY, 0)?.read_to_end(&mut v)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_that_cannot_be_taken_is_an_io_error_with_its_source() {
        use std::error::Error as _;
        let tmp = tempfile::tempdir().unwrap();
        // The state directory is a file: opening it as a directory fails.
        let state = tmp.path().join("state");
        std::fs::write(&state, "not a directory").unwrap();
        let e = lock(&state, true, false).map(drop).unwrap_err();
        let lock_path = shown(&state.join("lock"));
        assert_eq!(
            e.kind(),
            &ErrorKind::Io {
                path: lock_path.clone()
            }
        );
        let io = e.source().and_then(|s| s.downcast_ref::<io::Error>());
        let io = io.expect("the io::Error is the source");
        assert_eq!(
            e.to_string(),
            format!("cannot lock {}: {io}", lock_path.display())
        );
    }

    #[test]
    fn a_held_lock_is_busy_with_the_holders_pid() {
        let tmp = tempfile::tempdir().unwrap();
        let _held = lock(tmp.path(), true, false).unwrap().unwrap();
        let e = lock(tmp.path(), true, false).map(drop).unwrap_err();
        let pid = std::process::id();
        assert_eq!(e.kind(), &ErrorKind::Busy { pid: Some(pid) });
        assert!(e.to_string().contains(&format!("(pid {pid} holds ")), "{e}");
    }

    #[test]
    fn backups_of_the_same_content_at_once_all_succeed() {
        let tmp = tempfile::tempdir().unwrap();
        for round in 0..20 {
            let backups = Backups::new(&tmp.path().join(format!("s{round}")));
            let bytes = vec![b'x'; 64 << 10];
            std::thread::scope(|s| {
                for t in 0..8 {
                    let (backups, bytes) = (&backups, &bytes);
                    s.spawn(move || backups.save(&format!("/f{t}"), bytes).unwrap());
                }
            });
            let names: Vec<String> = std::fs::read_dir(backups.dir())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names.len(), 2, "the blob and the index only: {names:?}");
            assert_eq!(backups.read(&sha256_hex(&bytes)).unwrap(), bytes);
            assert_eq!(backups.list().unwrap().len(), 8);
        }
    }

    #[test]
    fn reports_sort_by_time_and_prune_keeps_the_newest() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        assert_eq!(report_names(&state).unwrap(), None);
        // Saved out of order; a time whose microseconds are 0 has none written.
        for t in [
            "2026-01-01T00:00:01Z",
            "2026-01-01T00:00:00.500000Z",
            "2026-01-01T00:00:00Z",
        ] {
            save_report(&state, t, "{}").unwrap();
        }
        std::fs::write(state.join("reports/.x.json.tmp"), "").unwrap();
        let want = [
            "2026-01-01T000000Z.json",
            "2026-01-01T000000.500000Z.json",
            "2026-01-01T000001Z.json",
        ];
        assert_eq!(report_names(&state).unwrap().unwrap(), want);
        assert_eq!(read_report(&state, want[0]).unwrap(), b"{}");
        assert!(read_report(&state, "../x.json").is_err());
        assert_eq!(prune_reports(&state, 2).unwrap(), 1);
        assert_eq!(report_names(&state).unwrap().unwrap(), want[1..]);
        assert_eq!(prune_reports(&state, 2).unwrap(), 0);
    }
}
