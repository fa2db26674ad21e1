//! Compile-time release sources: a directory or tarball, or a git repository at a revision,
//! turned into the bytes the catalog ships by sha256.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tar::{EntryType, Header};

use super::Error;
use crate::catalog::json::sha256_hex;

/// Release bytes ready for the content store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub bytes: Vec<u8>,
    pub content_sha256: String,
    /// The full commit id, when the bytes are an export of a git repository.
    pub commit: Option<String>,
}

impl Source {
    fn new(bytes: Vec<u8>, commit: Option<String>) -> Source {
        Source {
            content_sha256: sha256_hex(&bytes),
            bytes,
            commit,
        }
    }
}

/// A release `source`: a directory becomes a deterministic tar ([`tar_dir`]); a file (a
/// `.tar.gz`, `.tgz` or `.tar`) is taken byte for byte.
pub fn source_to_bytes(path: &Path) -> Result<Source, Error> {
    let meta = fs::metadata(path).map_err(Error::io(format!("read {}", path.display())))?;
    let bytes = if meta.is_dir() {
        tar_dir(path).map_err(Error::io(format!("tar {}", path.display())))?
    } else {
        fs::read(path).map_err(Error::io(format!("read {}", path.display())))?
    };
    Ok(Source::new(bytes, None))
}

/// A tar of the tree under `dir` that depends only on names, contents, modes and symlink
/// targets: entries sorted by name (depth first), mtime, uid and gid zero, no user names,
/// permission bits kept. `dir` itself is not an entry. Sockets and devices are an error.
pub fn tar_dir(dir: &Path) -> io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    add_dir(&mut builder, dir, Path::new(""))?;
    builder.into_inner()
}

fn add_dir(builder: &mut tar::Builder<Vec<u8>>, dir: &Path, rel: &Path) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    for name in names {
        let path = dir.join(&name);
        let rel = rel.join(&name);
        let meta = fs::symlink_metadata(&path)?;
        let mode = meta.permissions().mode() & 0o7777;
        let ft = meta.file_type();
        if ft.is_dir() {
            let mut h = header(EntryType::Directory, mode, 0);
            builder.append_data(&mut h, &rel, io::empty())?;
            add_dir(builder, &path, &rel)?;
        } else if ft.is_file() {
            let mut h = header(EntryType::Regular, mode, meta.len());
            builder.append_data(&mut h, &rel, fs::File::open(&path)?)?;
        } else if ft.is_symlink() {
            let mut h = header(EntryType::Symlink, 0o777, 0);
            builder.append_link(&mut h, &rel, fs::read_link(&path)?)?;
        } else {
            return Err(io::Error::other(format!(
                "{} is neither a file, a directory nor a symlink",
                path.display()
            )));
        }
    }
    Ok(())
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Rewrites a tar (or `.tar.gz`) with the headers [`tar_dir`] would write, in the same entry
/// order, dropping pax headers: the same tree gives the same bytes whoever archived it.
pub fn normalize_tar(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        normalize_from(flate2::read::MultiGzDecoder::new(bytes))
    } else {
        normalize_from(bytes)
    }
}

fn normalize_from(reader: impl Read) -> Result<Vec<u8>, Error> {
    let corrupt = |e: io::Error| Error::Corrupt(e.to_string());
    let mut archive = tar::Archive::new(reader);
    let mut builder = tar::Builder::new(Vec::new());
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let kind = entry.header().entry_type();
        let path = entry.path().map_err(corrupt)?.into_owned();
        let mode = entry.header().mode().map_err(corrupt)? & 0o7777;
        match kind {
            EntryType::Directory | EntryType::Regular | EntryType::Continuous => {
                let kind = if kind == EntryType::Directory {
                    kind
                } else {
                    EntryType::Regular
                };
                let mut h = header(kind, mode, entry.size());
                builder
                    .append_data(&mut h, &path, &mut entry)
                    .map_err(corrupt)?;
            }
            EntryType::Symlink | EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(corrupt)?
                    .ok_or_else(|| Error::Corrupt(format!("{} has no target", path.display())))?
                    .into_owned();
                let mut h = header(
                    kind,
                    if kind == EntryType::Symlink {
                        0o777
                    } else {
                        mode
                    },
                    0,
                );
                builder
                    .append_link(&mut h, &path, target)
                    .map_err(corrupt)?;
            }
            _ => {}
        }
    }
    builder.into_inner().map_err(corrupt)
}

/// Exports `repo` (a local path or a URL `git clone` understands) at `revision` (branch, tag
/// or commit): the full commit id and a normalized tar of its tree, without `.git`.
pub fn git_export(repo: &str, revision: &str) -> Result<Source, Error> {
    if revision.is_empty() || revision.starts_with('-') {
        return Err(Error::Spec(format!("bad git revision {revision:?}")));
    }
    let local = Path::new(repo).is_dir();
    let clone_dir;
    let git_dir: PathBuf = if local {
        PathBuf::from(repo)
    } else {
        clone_dir = TempDir::new()?;
        git(
            Path::new("."),
            &[
                "clone",
                "--bare",
                "--quiet",
                "--",
                repo,
                &clone_dir.0.to_string_lossy(),
            ],
        )?;
        clone_dir.0.clone()
    };
    let spec = format!("{revision}^{{commit}}");
    let commit = String::from_utf8_lossy(&git(
        &git_dir,
        &["rev-parse", "--verify", "--quiet", &spec],
    )?)
    .trim()
    .to_string();
    if commit.is_empty() {
        return Err(Error::Spec(format!("{repo} has no revision {revision:?}")));
    }
    let tar = git(
        &git_dir,
        &["-c", "tar.umask=0022", "archive", "--format=tar", &commit],
    )?;
    Ok(Source::new(normalize_tar(&tar)?, Some(commit)))
}

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, Error> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(Error::io("run git"))?;
    if !out.status.success() {
        return Err(Error::Spec(format!(
            "git {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

/// A scratch directory removed on drop (for a bare clone of a remote repository).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, Error> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!("fleet-git-{}-{nanos}", std::process::id()));
        fs::create_dir(&path).map_err(Error::io(format!("create {}", path.display())))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
