//! The state directory: the run lock, the content-addressed backup store and saved reports.
//!
//! Layout (CLI.md "State"): `lock`, `backup/<sha256>` (old bytes), `backup/index.jsonl` (one
//! `{"path","time","sha256"}` line per backup, appended), `reports/<time>.json`,
//! `report-key` (`apply::secret`). Backups and reports may hold secrets (old contents,
//! sums of private files): they are written 0600 (umask aside, as `private_file` opens them).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::catalog::json::sha256_hex;

/// The held run lock of a state directory; released when dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another apply holds it (and we were asked not to wait).
    Busy(PathBuf),
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Busy(p) => write!(
                f,
                "another fleet apply is running (it holds {})",
                p.display()
            ),
            LockError::Io(p, e) => write!(f, "cannot lock {}: {e}", p.display()),
        }
    }
}

/// Takes `STATE/lock`, creating the state directory when `create`; `wait` blocks until the
/// other run ends instead of failing. With `create` false and no lock file, returns `None`
/// (a noop run on a machine fleet never changed creates nothing).
pub fn lock(state: &Path, create: bool, wait: bool) -> Result<Option<Lock>, LockError> {
    let path = state.join("lock");
    if !create && !path.exists() {
        return Ok(None);
    }
    if create {
        std::fs::create_dir_all(state).map_err(|e| LockError::Io(path.clone(), e))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(&path)
        .map_err(|e| LockError::Io(path.clone(), e))?;
    if wait {
        file.lock().map_err(|e| LockError::Io(path.clone(), e))?;
    } else {
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(LockError::Busy(path)),
            Err(TryLockError::Error(e)) => return Err(LockError::Io(path, e)),
        }
    }
    Ok(Some(Lock { _file: file }))
}

/// `STATE/unfinished`: present while a run (or a restore) may have temp files beside the
/// files it writes. A run that finds it at the start knows the last one was killed (or the
/// machine went down) and sweeps their temp files; otherwise it need not read every
/// managed directory looking for them.
#[derive(Debug)]
pub struct Unfinished {
    path: PathBuf,
}

impl Unfinished {
    /// Marks the start of a run that writes; returns the marker and whether an earlier run
    /// left it behind. With `flush`, the marker is on disk before anything is written.
    pub fn begin(state: &Path, flush: bool) -> io::Result<(Unfinished, bool)> {
        std::fs::create_dir_all(state)?;
        let path = state.join("unfinished");
        let left = path.exists();
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        if flush && !left {
            f.sync_all()?;
            File::open(state)?.sync_all()?;
        }
        Ok((Unfinished { path }, left))
    }

    /// The run ended (whatever its resources did): no temp file of it is left.
    pub fn end(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Saves a report as `STATE/reports/<started>.json` (atomically), returning its path.
pub fn save_report(state: &Path, started: &str, json: &str) -> io::Result<PathBuf> {
    let dir = state.join("reports");
    std::fs::create_dir_all(&dir)?;
    let name = started.replace(':', "");
    let path = dir.join(format!("{name}.json"));
    let tmp = dir.join(format!(".{name}.json.tmp"));
    private_file()
        .truncate(true)
        .open(&tmp)?
        .write_all(json.as_bytes())?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Options that create (or open) a file for writing, mode 0600 when created.
fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true).create(true).mode(0o600);
    o
}

/// One backed-up version of a file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupEntry {
    /// The catalog path (as seen inside the root).
    pub path: String,
    /// RFC 3339 UTC.
    pub time: String,
    pub sha256: String,
}

/// The content-addressed backup store `STATE/backup`.
#[derive(Debug)]
pub struct Backups {
    dir: PathBuf,
    index: Mutex<()>,
}

impl Backups {
    pub fn new(state: &Path) -> Backups {
        Backups {
            dir: state.join("backup"),
            index: Mutex::new(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `bytes` as the old content of `path` (idempotent per content) and records it.
    pub fn save(&self, path: &str, bytes: &[u8]) -> io::Result<String> {
        let sha = sha256_hex(bytes);
        std::fs::create_dir_all(&self.dir)?;
        let blob = self.dir.join(&sha);
        if !blob.exists() {
            // A name of its own: two workers may back up the same content at once (with
            // one shared name, one truncated the other's file or lost its rename).
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let tmp = self
                .dir
                .join(format!(".{sha}.{}-{n}.tmp", std::process::id()));
            let written = (|| {
                let mut f = private_file().create_new(true).open(&tmp)?;
                f.write_all(bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &blob)
            })();
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        }
        let entry = BackupEntry {
            path: path.to_string(),
            time: super::time::now_rfc3339(),
            sha256: sha.clone(),
        };
        let mut line = serde_json::to_string(&entry).expect("entry serialises");
        line.push('\n');
        let _guard = self.index.lock().unwrap_or_else(|e| e.into_inner());
        let mut f = private_file()
            .write(false)
            .append(true)
            .open(self.dir.join("index.jsonl"))?;
        f.write_all(line.as_bytes())?;
        Ok(sha)
    }

    /// Every backup, oldest first (unreadable lines are skipped).
    pub fn list(&self) -> io::Result<Vec<BackupEntry>> {
        let text = match std::fs::read_to_string(self.dir.join("index.jsonl")) {
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
        std::fs::read(self.dir.join(sha))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
