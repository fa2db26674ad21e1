//! The content store: file and release bytes addressed by sha256, shipped beside catalogs.
//!
//! Small blobs are held in memory. A big one (a release tarball, a tarred directory) never is:
//! it stays in its file (a `source` on the compiling machine, a spilled temporary file, or
//! `DIR/<sha256>` of a store read from a directory) and is streamed through [`ContentStore::open`];
//! whoever reads a stream checks its sha256 as it goes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::model::digest::sha256_hex;

/// Blobs up to this size are read into memory at compile time; bigger ones stay in files.
pub(crate) const INLINE_MAX: u64 = 4 << 20;

/// Blobs by lower-case hex sha256. Cheap to clone and share between threads.
#[derive(Clone, Debug, Default)]
pub struct ContentStore {
    blobs: Arc<Mutex<BTreeMap<String, Blob>>>,
    /// A directory `<sha256>` files are read from when not in memory (`DIR/content`).
    dir: Option<PathBuf>,
    /// Blobs that are the content of a private file: written mode 0600.
    private: Arc<Mutex<BTreeSet<String>>>,
}

#[derive(Clone, Debug)]
enum Blob {
    Bytes(Arc<Vec<u8>>),
    /// A file named by path (a `source` on the compiling machine), hashed when added.
    Path {
        path: PathBuf,
        len: u64,
    },
    /// An unlinked temporary file (a directory tarred at compile time), read by offset.
    Spill {
        file: Arc<File>,
        len: u64,
    },
}

/// Shared bytes as a slice, for an [`io::Cursor`].
pub(crate) struct SharedBytes(pub Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// Reads a shared file from `pos` to `len` by offset, so readers never share a position.
struct SpillReader {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl Read for SpillReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

fn is_sha(sha: &str) -> bool {
    sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())
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
            .or_insert_with(|| Blob::Bytes(Arc::new(bytes)));
        sha
    }

    /// Adds shared bytes (no copy), returning their sha256.
    pub fn add_shared(&self, bytes: Arc<Vec<u8>>) -> String {
        let sha = sha256_hex(&bytes);
        self.blobs
            .lock()
            .unwrap()
            .entry(sha.clone())
            .or_insert(Blob::Bytes(bytes));
        sha
    }

    /// Adds the file at `path` without holding its bytes: `sha` and `len` are what the
    /// caller measured while reading it; readers check the sha256 again.
    pub fn add_path(&self, path: PathBuf, sha: String, len: u64) -> String {
        self.blobs
            .lock()
            .unwrap()
            .entry(sha.clone())
            .or_insert(Blob::Path { path, len });
        sha
    }

    /// Adds the first `len` bytes of an (unlinked, temporary) file whose sha256 is `sha`.
    pub fn add_spilled(&self, file: File, sha: String, len: u64) -> String {
        self.blobs
            .lock()
            .unwrap()
            .entry(sha.clone())
            .or_insert(Blob::Spill {
                file: Arc::new(file),
                len,
            });
        sha
    }

    /// The bytes for a sha256, from memory or a file (verified), read whole: for file
    /// contents. Releases stream theirs with [`ContentStore::open`].
    pub fn get(&self, sha: &str) -> Option<Arc<Vec<u8>>> {
        let blob = self.blobs.lock().unwrap().get(sha).cloned();
        if let Some(Blob::Bytes(b)) = blob {
            return Some(b);
        }
        let mut bytes = Vec::new();
        self.open(sha)?.ok()?.read_to_end(&mut bytes).ok()?;
        (sha256_hex(&bytes) == sha).then(|| Arc::new(bytes))
    }

    /// A reader of the bytes for a sha256, without reading them into memory; `None` when the
    /// store has no such blob. Not verified: the reader hashes what it reads.
    pub fn open(&self, sha: &str) -> Option<io::Result<Box<dyn Read + Send>>> {
        let blob = self.blobs.lock().unwrap().get(sha).cloned();
        let boxed = |r: Box<dyn Read + Send>| Some(Ok(r));
        match blob {
            Some(Blob::Bytes(b)) => boxed(Box::new(io::Cursor::new(SharedBytes(b)))),
            Some(Blob::Path { path, len }) => match File::open(&path) {
                // One byte more than hashed, so a file that grew since fails the check.
                Ok(f) => boxed(Box::new(f.take(len + 1))),
                Err(e) => Some(Err(e)),
            },
            Some(Blob::Spill { file, len }) => boxed(Box::new(SpillReader { file, pos: 0, len })),
            None => {
                let dir = self.dir.as_ref()?;
                if !is_sha(sha) {
                    return None;
                }
                match File::open(dir.join(sha)) {
                    Ok(f) => boxed(Box::new(f)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                    Err(e) => Some(Err(e)),
                }
            }
        }
    }

    /// The size of a blob without reading it (from memory, or the backing file's length,
    /// unverified). Lets `apply` compare sizes first on files that did not change.
    pub fn len(&self, sha: &str) -> Option<u64> {
        match self.blobs.lock().unwrap().get(sha) {
            Some(Blob::Bytes(b)) => return Some(b.len() as u64),
            Some(Blob::Path { len, .. } | Blob::Spill { len, .. }) => return Some(*len),
            None => {}
        }
        let dir = self.dir.as_ref()?;
        if !is_sha(sha) {
            return None;
        }
        std::fs::metadata(dir.join(sha)).ok().map(|m| m.len())
    }

    /// Every sha256 held (in memory or in the files it was given).
    pub fn shas(&self) -> Vec<String> {
        self.blobs.lock().unwrap().keys().cloned().collect()
    }

    /// Notes that a blob is the content of a private file (see [`ContentStore::write_to`]).
    pub fn mark_private(&self, sha: &str) {
        self.private.lock().unwrap().insert(sha.to_string());
    }

    /// Writes every blob it holds to `dir/<sha256>` (skipping ones already there); blobs in
    /// files are copied as streams and checked against their sha256. Those marked private are
    /// written mode 0600 (one already there is narrowed to 0600), the others 0644 (umask aside).
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::create_dir_all(dir)?;
        let private = self.private.lock().unwrap().clone();
        for sha in self.shas() {
            let path = dir.join(&sha);
            let mode = if private.contains(&sha) { 0o600 } else { 0o644 };
            if path.exists() {
                if mode == 0o600 {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
                }
                continue;
            }
            let tmp = dir.join(format!(".{sha}.tmp"));
            let _ = std::fs::remove_file(&tmp);
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&tmp)?;
            let blob = self.blobs.lock().unwrap().get(&sha).cloned();
            if let Some(Blob::Bytes(bytes)) = blob {
                io::Write::write_all(&mut &file, bytes.as_slice())?;
            } else {
                let mut reader = match self.open(&sha) {
                    Some(r) => r?,
                    None => {
                        let _ = std::fs::remove_file(&tmp);
                        continue;
                    }
                };
                let mut out = HashingWriter::new(file);
                io::copy(&mut reader, &mut out)?;
                if out.hex() != sha {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(io::Error::other(format!(
                        "the content for sha256 {sha} changed since it was read"
                    )));
                }
            }
            std::fs::rename(&tmp, &path)?;
        }
        Ok(())
    }
}

/// A writer that hashes what goes through it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    sha: sha2::Sha256,
    len: u64,
}

impl<W: io::Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> HashingWriter<W> {
        use sha2::Digest;
        HashingWriter {
            inner,
            sha: sha2::Sha256::new(),
            len: 0,
        }
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The lower-case hex sha256 of what was written.
    pub(crate) fn hex(&self) -> String {
        use sha2::Digest;
        crate::model::digest::hex(&self.sha.clone().finalize())
    }

    pub(crate) fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: io::Write> io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
