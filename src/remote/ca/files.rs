//! The CA directory's file handling: whole-file replacement (a reader never sees half a
//! file), modes fixed at creation (a key is 0600 from its first byte), and the directory
//! lock that makes concurrent `fleet ca` runs take turns.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use super::error::Error;

/// Mode of private keys, token lists and the lock file.
pub(super) const SECRET: u32 = 0o600;

/// Mode of certificates, the revocation list and the index.
pub(super) const PUBLIC: u32 = 0o644;

/// Writes `bytes` to `path` with mode `mode`: into a new temporary file beside it (created
/// with that mode), synced, then renamed over `path`.
pub(super) fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = write_new(&tmp, bytes, mode)
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| Error::io("replace", path, e)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` (which must not exist) with mode `mode` and writes `bytes` to it, synced.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let _ = fs::remove_file(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io("write", path, e))
}

/// Creates the directory `dir` (and its parents) with mode 0700 when it is missing.
pub(super) fn private_dir(dir: &Path) -> Result<(), Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))
}

/// Reads `path` as text; a missing file is `Ok(None)`.
pub(super) fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Reads `path` as text.
pub(super) fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|e| Error::io("read", path, e))
}

/// Takes the exclusive lock on `path` (created 0600 if missing), waiting for another holder;
/// it is released when the returned file is dropped.
pub(super) fn lock(path: &Path) -> Result<File, Error> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(SECRET)
        .open(path)
        .map_err(|e| Error::io("open the lock", path, e))?;
    f.lock().map_err(|e| Error::io("lock", path, e))?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaced_files_have_their_mode_and_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k.key");
        replace(&p, b"one", PUBLIC).expect("first");
        replace(&p, b"two", SECRET).expect("second");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        let mode = fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, SECRET);
        assert_eq!(
            fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "no temp file left"
        );
        assert!(replace(&dir.path().join("no/such/x"), b"", PUBLIC).is_err());
    }
}
