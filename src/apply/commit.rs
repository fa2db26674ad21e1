//! Group commit of file writes: many temp files, one flush, then the renames.
//!
//! Flushing each written file before its rename (`fdatasync`) costs one disk cache flush
//! per file, milliseconds each on a virtual disk. Instead, during a real run with flushes
//! on, the file provider writes a new content to its temp file and *stages* it
//! ([`Staging::stage`]) instead of renaming it; the engine holds the resource (and so its
//! dependents) back, and when it runs out of other work (or has staged enough) it commits
//! the batch: one `syncfs(2)` per filesystem the batch wrote to, and only when that
//! succeeded, the renames, in order. As with a flush per file, a killed or failed run
//! leaves every file its old content or its new one: a rename never comes before the new
//! data is on disk, and a failed flush renames nothing (the temp files are removed; a
//! killed run's are swept by the next run). Dependents of a file run after its rename.
//!
//! `syncfs` is only trusted on local filesystems known to implement it (ext2/3/4, XFS,
//! Btrfs, F2FS, ZFS, tmpfs); elsewhere a write is flushed and renamed at once, as before.
//! `--no-fsync` stages nothing and flushes nothing.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::error::Error;
use crate::sys::root::Real;

/// A batch is committed once it holds this many files or bytes, even with other work ready.
pub(crate) const BATCH_FILES: usize = 2048;
pub(crate) const BATCH_BYTES: u64 = 256 << 20;

/// A written temp file waiting for its rename.
#[derive(Debug)]
pub struct Pending {
    /// Both in the same pinned directory (kept open until the rename).
    pub tmp: Real,
    pub dst: Real,
    pub bytes: u64,
    /// The filesystem (`st_dev`) it is on.
    pub dev: u64,
}

/// Per filesystem: an open file on it for `syncfs`, opened before anything staged on it was
/// written (so its error cursor sees every writeback error since), or `None` where
/// `syncfs` is not trusted.
#[derive(Debug, Default)]
pub struct Flusher {
    filesystems: Mutex<HashMap<u64, Option<Arc<File>>>>,
    /// A flush failed: nothing is renamed from then on (a writeback error may have hit a
    /// file staged for a later batch).
    failed: Mutex<Option<Error>>,
}

impl Flusher {
    pub fn new() -> Flusher {
        Flusher::default()
    }

    /// Whether a temp file may wait for a group flush; `f` is the temp file, open and not
    /// yet written. Returns its filesystem (`st_dev`) when it may; when anything here
    /// fails, the file is flushed on its own instead.
    fn accepts(&self, f: &File) -> Option<u64> {
        let dev = f.metadata().ok()?.dev();
        let mut fss = self.filesystems.lock().unwrap_or_else(|e| e.into_inner());
        let entry = fss.entry(dev).or_insert_with(|| {
            trusts_syncfs(f)
                .unwrap_or(false)
                .then(|| f.try_clone().ok().map(Arc::new))
                .flatten()
        });
        entry.as_ref().map(|_| dev)
    }

    /// Flushes the filesystems `devs` (once each).
    fn flush(&self, devs: impl Iterator<Item = u64>) -> Result<(), Error> {
        if let Some(e) = &*self.failed.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(e.clone());
        }
        let mut devs: Vec<u64> = devs.collect();
        devs.sort_unstable();
        devs.dedup();
        // The map is not held during the flush (other workers stage files meanwhile).
        let files: Vec<Arc<File>> = {
            let fss = self.filesystems.lock().unwrap_or_else(|e| e.into_inner());
            devs.iter()
                .filter_map(|d| fss.get(d).and_then(Option::clone))
                .collect()
        };
        for f in files {
            if let Err(e) = rustix::fs::syncfs(&*f) {
                let err = Error::io("cannot flush the filesystem", Path::new(""), e.into());
                *self.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(err.clone());
                return Err(err);
            }
        }
        Ok(())
    }

    /// Makes directory changes durable: one `syncfs` per filesystem where it is trusted,
    /// else an `fsync` of each directory. Errors are ignored (there is nothing left to
    /// undo), as with the directory fsyncs before.
    pub fn sync_dirs(&self, dirs: impl IntoIterator<Item = PathBuf>) {
        let mut by_dev: HashMap<u64, Vec<PathBuf>> = HashMap::new();
        for d in dirs {
            if let Ok(md) = std::fs::symlink_metadata(&d) {
                by_dev.entry(md.dev()).or_default().push(d);
            }
        }
        let fss = self.filesystems.lock().unwrap_or_else(|e| e.into_inner());
        for (dev, dirs) in by_dev {
            let known = fss.get(&dev).and_then(Option::as_deref);
            let opened = match known {
                Some(_) => None,
                None => File::open(&dirs[0])
                    .ok()
                    .filter(|f| trusts_syncfs(f).unwrap_or(false)),
            };
            if let Some(f) = known.or(opened.as_ref()) {
                let _ = rustix::fs::syncfs(f);
                continue;
            }
            for d in dirs {
                if let Ok(f) = File::open(&d) {
                    let _ = f.sync_all();
                }
            }
        }
    }
}

/// Where one resource's staged writes go while it runs (see [`crate::apply::Ctx::staging`]).
#[derive(Debug)]
pub struct Staging<'a> {
    flusher: &'a Flusher,
    pending: Mutex<Vec<Pending>>,
}

impl<'a> Staging<'a> {
    pub fn new(flusher: &'a Flusher) -> Staging<'a> {
        Staging {
            flusher,
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Whether the temp file `f` (open, nothing written yet) may be staged instead of
    /// flushed now; `Some(dev)` to pass to [`Staging::stage`].
    pub fn accepts(&self, f: &File) -> Option<u64> {
        self.flusher.accepts(f)
    }

    /// Hands a written and closed temp file over, to be renamed to `dst` after the flush.
    pub fn stage(&self, tmp: Real, dst: Real, bytes: u64, dev: u64) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Pending {
                tmp,
                dst,
                bytes,
                dev,
            });
    }

    pub fn into_pending(self) -> Vec<Pending> {
        self.pending.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes staged temp files that will not be renamed.
pub(crate) fn discard(pending: &[Pending]) {
    for p in pending {
        let _ = std::fs::remove_file(&*p.tmp);
    }
}

/// Commits a batch: flushes its filesystems, then renames each temp file over its target,
/// in order. Per item (a resource's writes, in the order given), `Ok` or why it failed
/// (its temp files are then removed).
pub(crate) fn commit(flusher: &Flusher, items: &[&[Pending]]) -> Vec<Result<(), Error>> {
    let flushed = flusher.flush(items.iter().flat_map(|p| p.iter()).map(|p| p.dev));
    items
        .iter()
        .map(|pending| {
            if let Err(e) = &flushed {
                discard(pending);
                return Err(e.clone());
            }
            for (k, p) in pending.iter().enumerate() {
                if let Err(e) = std::fs::rename(&*p.tmp, &*p.dst) {
                    discard(&pending[k..]);
                    return Err(Error::io(
                        format!("cannot write {}", p.dst.display()),
                        p.dst.shown(),
                        e,
                    ));
                }
            }
            Ok(())
        })
        .collect()
}

/// Filesystems whose `syncfs` writes back and flushes every file's data (statfs magic).
fn trusts_syncfs(f: &File) -> io::Result<bool> {
    let st = rustix::fs::fstatfs(f)?;
    const EXT: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    const BTRFS: i64 = 0x9123_683E;
    const F2FS: i64 = 0xF2F5_2010;
    const ZFS: i64 = 0x2FC1_2FC1;
    const TMPFS: i64 = 0x0102_1994;
    // f_type's width and signedness differ between targets; the magics are 32-bit.
    #[allow(clippy::unnecessary_cast)]
    let magic = (st.f_type as i64) & 0xFFFF_FFFF;
    Ok(matches!(magic, EXT | XFS | BTRFS | F2FS | ZFS | TMPFS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Writes `name`'s temp file in `dir` and stages it, as the file provider does.
    fn stage(staging: &Staging, dir: &std::path::Path, name: &str, text: &str) {
        let root = crate::sys::root::Root::new(dir).unwrap();
        let tmp = root.open(&format!("/.{name}.tmp")).unwrap();
        let mut f = File::create(&*tmp).unwrap();
        let dev = staging.accepts(&f).expect("a local filesystem is trusted");
        f.write_all(text.as_bytes()).unwrap();
        drop(f);
        let dst = root.open(&format!("/{name}")).unwrap();
        staging.stage(tmp, dst, text.len() as u64, dev);
    }

    #[test]
    fn a_batch_is_flushed_then_renamed_and_a_failed_rename_fails_its_item_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("busy/sub")).unwrap();
        let flusher = Flusher::new();
        let (a, b) = (Staging::new(&flusher), Staging::new(&flusher));
        stage(&a, dir, "one", "1");
        stage(&a, dir, "two", "2");
        // Its target is a non-empty directory by commit time: the rename fails.
        stage(&b, dir, "busy", "x");
        let (a, b) = (a.into_pending(), b.into_pending());
        let results = commit(&flusher, &[&a, &b]);
        assert!(results[0].is_ok(), "{results:?}");
        assert!(
            results[1]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("busy"),
            "{results:?}"
        );
        assert_eq!(std::fs::read_to_string(dir.join("one")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(dir.join("two")).unwrap(), "2");
        assert!(dir.join("busy/sub").is_dir());
        let left: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn after_a_failed_flush_nothing_more_is_renamed() {
        let tmp = tempfile::tempdir().unwrap();
        let flusher = Flusher::new();
        *flusher.failed.lock().unwrap() = Some(Error::io(
            "cannot flush the filesystem",
            Path::new(""),
            std::io::Error::from_raw_os_error(5),
        ));
        let a = Staging::new(&flusher);
        stage(&a, tmp.path(), "one", "1");
        let a = a.into_pending();
        let results = commit(&flusher, &[&a]);
        assert!(results[0].is_err());
        assert!(!tmp.path().join("one").exists());
        assert!(!tmp.path().join(".one.tmp").exists());
    }
}
