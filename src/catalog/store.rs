//! The content store: file and release bytes addressed by sha256, shipped beside catalogs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::json::sha256_hex;

/// Blobs by lower-case hex sha256. Cheap to clone and share between threads.
#[derive(Clone, Debug, Default)]
pub struct ContentStore {
    blobs: Arc<Mutex<BTreeMap<String, Arc<Vec<u8>>>>>,
    /// A directory `<sha256>` files are read from when not in memory (`DIR/content`).
    dir: Option<PathBuf>,
    /// Blobs that are the content of a private file: written mode 0600.
    private: Arc<Mutex<BTreeSet<String>>>,
}

impl ContentStore {
    pub fn new() -> ContentStore {
        ContentStore::default()
    }

    /// A store backed by a directory of `<sha256>` files (as `compile --all` writes them).
    pub fn from_dir(dir: impl Into<PathBuf>) -> ContentStore {
        ContentStore {
            blobs: Default::default(),
            dir: Some(dir.into()),
            private: Default::default(),
        }
    }

    /// Adds bytes, returning their sha256.
    pub fn add(&self, bytes: Vec<u8>) -> String {
        let sha = sha256_hex(&bytes);
        self.blobs
            .lock()
            .unwrap()
            .entry(sha.clone())
            .or_insert_with(|| Arc::new(bytes));
        sha
    }

    /// The bytes for a sha256, from memory or the backing directory (verified).
    pub fn get(&self, sha: &str) -> Option<Arc<Vec<u8>>> {
        if let Some(b) = self.blobs.lock().unwrap().get(sha) {
            return Some(b.clone());
        }
        let dir = self.dir.as_ref()?;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let bytes = std::fs::read(dir.join(sha)).ok()?;
        (sha256_hex(&bytes) == sha).then(|| Arc::new(bytes))
    }

    /// The size of a blob without reading it (from memory, or the backing file's length,
    /// unverified). Lets `apply` compare sizes first on files that did not change.
    pub fn len(&self, sha: &str) -> Option<u64> {
        if let Some(b) = self.blobs.lock().unwrap().get(sha) {
            return Some(b.len() as u64);
        }
        let dir = self.dir.as_ref()?;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        std::fs::metadata(dir.join(sha)).ok().map(|m| m.len())
    }

    /// Every sha256 held in memory.
    pub fn shas(&self) -> Vec<String> {
        self.blobs.lock().unwrap().keys().cloned().collect()
    }

    /// Notes that a blob is the content of a private file (see [`ContentStore::write_to`]).
    pub fn mark_private(&self, sha: &str) {
        self.private.lock().unwrap().insert(sha.to_string());
    }

    /// Writes every in-memory blob to `dir/<sha256>` (skipping ones already there), those
    /// marked private with mode 0600 (one already there is narrowed to 0600), the others
    /// 0644 (umask aside).
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::create_dir_all(dir)?;
        let private = self.private.lock().unwrap();
        for (sha, bytes) in self.blobs.lock().unwrap().iter() {
            let path = dir.join(sha);
            let mode = if private.contains(sha) { 0o600 } else { 0o644 };
            if path.exists() {
                if mode == 0o600 {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
                }
                continue;
            }
            let tmp = dir.join(format!(".{sha}.tmp"));
            let _ = std::fs::remove_file(&tmp);
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&tmp)?
                .write_all(bytes.as_slice())?;
            std::fs::rename(&tmp, &path)?;
        }
        Ok(())
    }
}
