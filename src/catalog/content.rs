//! `source` and `repo` at compile time: find the path (relative, absolute or `module:path`),
//! read a file or tar a directory deterministically, export a git revision, and put the bytes in
//! the content store.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::store::{ContentStore, HashingWriter, INLINE_MAX};
use super::BuildOptions;
use crate::source::{FileId, SourceMap, Span};

/// Where a `source` (or local `repo`) string points on the compiling machine.
pub(crate) enum Located {
    Found(PathBuf),
    /// Not there; the message says what was looked for.
    Missing(String),
}

/// Resolves `text`, written in the file of `span`: `mod:path` inside module `mod`, an absolute
/// path as is, a relative one against the directory of the `.fleet` file.
pub(crate) fn locate(text: &str, span: Span, sources: &SourceMap, opts: &BuildOptions) -> Located {
    let path = if let Some((module, rest)) = module_prefix(text) {
        match module_root(module, span.file, sources, opts) {
            Some(root) => root.join(rest),
            None => {
                return Located::Missing(format!("module `{module}` is not on the module path"))
            }
        }
    } else if Path::new(text).is_absolute() {
        PathBuf::from(text)
    } else if (span.file.0 as usize) < sources.len() {
        sources.get(span.file).dir().join(text)
    } else {
        PathBuf::from(text)
    };
    if path.exists() {
        Located::Found(path)
    } else {
        Located::Missing(format!("`{}` does not exist", path.display()))
    }
}

/// `("ntp", "templates/x")` for `"ntp:templates/x"`: only an identifier before the `:`.
fn module_prefix(text: &str) -> Option<(&str, &str)> {
    let (module, rest) = text.split_once(':')?;
    let mut chars = module.chars();
    let first = chars.next()?;
    let ident = (first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ident.then_some((module, rest))
}

/// The directory of module `module`, for a path written in `from`: the resolver in the
/// options when there is one (the program's module path); else `DIR/<module>/` beside the
/// file, beside the main (first) file, or the folder of a loaded `<module>/init.fleet`.
fn module_root(
    module: &str,
    from: FileId,
    sources: &SourceMap,
    opts: &BuildOptions,
) -> Option<PathBuf> {
    if let Some(find) = opts.module_dir {
        return find(from, module);
    }
    let beside = |id: FileId| {
        ((id.0 as usize) < sources.len())
            .then(|| sources.get(id).dir().join(module))
            .filter(|d| d.is_dir())
    };
    beside(from).or_else(|| beside(FileId(0))).or_else(|| {
        sources.files().find_map(|(_, f)| {
            let dir = f.path.parent()?;
            (f.path.file_name()? == "init.fleet" && dir.file_name()? == module)
                .then(|| dir.to_path_buf())
        })
    })
}

/// Puts a regular file's bytes, or a directory as a deterministic tar, in `store`; returns
/// the sha256. Neither is held in memory when big ([`INLINE_MAX`]): a big file stays where
/// it is (hashed here as a stream), a big tar is spilled to an unlinked temporary file. FIFOs,
/// sockets and devices are refused; a directory's files together may hold at most
/// `limits::file_bytes` (a regular file is streamed, so it has no such cap here: releases
/// have their own, at unpacking).
pub(crate) fn add_source(
    path: &Path,
    store: &ContentStore,
) -> Result<String, crate::limits::ReadError> {
    if path.is_dir() {
        let cap = crate::limits::get().file_bytes;
        if dir_bytes(path)? > cap {
            return Err(crate::limits::ReadError::TooBig(cap));
        }
        let mut out = HashingWriter::new(Spool::default());
        tar_dir_into(path, &mut out)?;
        let (sha, len) = (out.hex(), out.len());
        return Ok(match out.into_inner() {
            Spool { file: Some(f), .. } => store.add_spilled(f, sha, len),
            Spool { mem, .. } => store.add(mem),
        });
    }
    let mut file = crate::limits::open_regular(path)?;
    if file.metadata()?.len() <= INLINE_MAX {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        return Ok(store.add(bytes));
    }
    let mut out = HashingWriter::new(io::sink());
    io::copy(&mut file, &mut out)?;
    Ok(store.add_path(path.to_path_buf(), out.hex(), out.len()))
}

/// Bytes in memory up to [`INLINE_MAX`], then in an unlinked temporary file.
#[derive(Default)]
struct Spool {
    mem: Vec<u8>,
    file: Option<std::fs::File>,
}

impl io::Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_none() && (self.mem.len() + buf.len()) as u64 > INLINE_MAX {
            let mut f = unlinked_temp()?;
            f.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => f.write(buf),
            None => self.mem.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// A new 0600 file in the temporary directory, already unlinked (gone when closed).
fn unlinked_temp() -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir();
    loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(
            ".fleet-tar-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The bytes of the regular files under `dir` (symlinks not followed).
fn dir_bytes(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let t = entry.file_type()?;
        if t.is_dir() {
            total += dir_bytes(&entry.path())?;
        } else if t.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// A `source` must be a directory or a regular file (symlinks followed).
pub(crate) fn kind_ok(path: &Path) -> Result<(), crate::limits::ReadError> {
    if path.is_dir() {
        return Ok(());
    }
    crate::limits::regular(&std::fs::metadata(path)?)
}

/// A tar of a directory's contents: entries sorted by path, mtimes, uids and gids zeroed,
/// modes reduced to 0755/0644 (as git keeps them), symlinks kept as links. Tarring the same
/// tree twice gives the same bytes.
pub fn tar_dir(dir: &Path) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    tar_dir_into(dir, &mut out)?;
    Ok(out)
}

/// [`tar_dir`] written to `out` as it is made.
pub(crate) fn tar_dir_into(dir: &Path, out: impl io::Write) -> io::Result<()> {
    let mut entries = Vec::new();
    collect(dir, "", &mut entries)?;
    entries.sort();
    let mut builder = tar::Builder::new(out);
    for rel in entries {
        let full = dir.join(&rel);
        let meta = std::fs::symlink_metadata(&full)?;
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let ft = meta.file_type();
        if ft.is_symlink() {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            let target = std::fs::read_link(&full)?;
            builder.append_link(&mut header, &rel, target)?;
        } else if ft.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder.append_data(&mut header, format!("{rel}/"), io::empty())?;
        } else if ft.is_file() {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if is_executable(&meta) { 0o755 } else { 0o644 });
            header.set_size(meta.len());
            builder.append_data(&mut header, &rel, std::fs::File::open(&full)?)?;
        }
    }
    builder.into_inner()?.flush()
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

/// Relative paths (with `/`) of everything under `dir`.
fn collect(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir.join(prefix))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let is_dir = entry.file_type()?.is_dir();
        out.push(rel.clone());
        if is_dir {
            collect(dir, &rel, out)?;
        }
    }
    Ok(())
}

/// Why a git export failed.
pub(crate) enum GitError {
    /// The repository could not be read or cloned.
    Repo(String),
    /// The revision does not name a commit in it.
    Revision(String),
}

/// Resolves `revision` in `repo` to a commit and exports that commit's tree as a tar
/// (`git archive`, deterministic for a commit). `local` is the repository's directory when it
/// exists on this machine; otherwise `repo` must look like a URL (`scheme://…` or
/// `host:path`) and is cloned (bare, into a temporary directory) unless the commit was already
/// exported by this process. Returns (commit, tar bytes).
pub(crate) fn git_export(
    repo: &str,
    local: Option<&Path>,
    revision: &str,
) -> Result<(String, Arc<Vec<u8>>), GitError> {
    let commit = match local {
        Some(dir) => rev_parse(dir, repo, revision)?,
        None if !looks_like_url(repo) => {
            return Err(GitError::Repo(format!("`{repo}` does not exist")));
        }
        None => remote_commit(repo, revision)?,
    };
    let key = (repo.to_string(), commit.clone());
    if let Some(tar) = export_cache().lock().expect("cache lock").get(&key) {
        return Ok((commit, tar.clone()));
    }
    let (commit, tar) = match local {
        Some(dir) => {
            let tar = archive(dir, &commit)?;
            (commit, tar)
        }
        None => {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let tmp = std::env::temp_dir().join(format!(
                "fleet-git-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let result = git(
                None,
                &["clone", "--bare", "--quiet", repo, &tmp.to_string_lossy()],
            )
            .map_err(GitError::Repo)
            .and_then(|_| {
                // A commit named by ls-remote, or a revision only a full clone can resolve.
                let commit = rev_parse(&tmp, repo, &commit)?;
                let tar = archive(&tmp, &commit)?;
                Ok((commit, tar))
            });
            let _ = std::fs::remove_dir_all(&tmp);
            result?
        }
    };
    let key = (repo.to_string(), commit.clone());
    let tar = Arc::new(tar);
    export_cache()
        .lock()
        .expect("cache lock")
        .insert(key, tar.clone());
    Ok((commit, tar))
}

/// What `fleet check` can tell of `revision` without exporting it, with the `rev_parse` compile
/// uses: in the repository's directory when it is on this machine (`local`, or the path of a
/// `file://` URL). A repository that would need the network is not asked (Ok): check stays
/// offline. Lookups that succeeded are remembered for the process (one per repository and
/// revision, not one per node); failures are asked again, so a fixed repository is seen.
pub(crate) fn verify_revision(
    repo: &str,
    local: Option<&Path>,
    revision: &str,
) -> Result<(), GitError> {
    let url_path;
    let dir = match (local, repo.strip_prefix("file://")) {
        (Some(dir), _) => dir,
        (None, Some(p)) if Path::new(p).exists() => {
            url_path = PathBuf::from(p);
            &url_path
        }
        (None, _) if !looks_like_url(repo) => {
            return Err(GitError::Repo(format!("`{repo}` does not exist")));
        }
        (None, _) => return Ok(()),
    };
    type Verified = Mutex<std::collections::HashSet<(PathBuf, String)>>;
    static VERIFIED: OnceLock<Verified> = OnceLock::new();
    let key = (dir.to_path_buf(), revision.to_string());
    let verified = VERIFIED.get_or_init(Default::default);
    if verified.lock().expect("cache lock").contains(&key) {
        return Ok(());
    }
    rev_parse(dir, repo, revision)?;
    verified.lock().expect("cache lock").insert(key);
    Ok(())
}

/// Exports already made by this process, by (repo, commit): a commit's tree never changes, and
/// `compile --all` would otherwise export it once per node.
type ExportCache = Mutex<HashMap<(String, String), Arc<Vec<u8>>>>;

fn export_cache() -> &'static ExportCache {
    static CACHE: OnceLock<ExportCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// `scheme://…`, or scp-like `[user@]host:path`.
fn looks_like_url(repo: &str) -> bool {
    if repo.contains("://") {
        return true;
    }
    match repo.split_once(':') {
        Some((host, path)) => !host.is_empty() && !host.contains('/') && !path.is_empty(),
        None => false,
    }
}

/// The commit `revision` names in a local repository.
fn rev_parse(dir: &Path, repo: &str, revision: &str) -> Result<String, GitError> {
    let spec = format!("{revision}^{{commit}}");
    match git(Some(dir), &["rev-parse", "--verify", "--quiet", &spec]) {
        Ok(out) => Ok(String::from_utf8_lossy(&out).trim().to_string()),
        Err(_) if git(Some(dir), &["rev-parse", "--git-dir"]).is_err() => {
            Err(GitError::Repo(format!("`{repo}` is not a git repository")))
        }
        Err(_) => Err(GitError::Revision(format!(
            "`{revision}` is not a branch, tag or commit in `{repo}`"
        ))),
    }
}

/// The commit a remote's branch or tag names (`git ls-remote`, peeling annotated tags); a
/// full hex commit id is taken as is, anything else is left to the clone to resolve.
fn remote_commit(repo: &str, revision: &str) -> Result<String, GitError> {
    if revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(revision.to_ascii_lowercase());
    }
    let out = git(None, &["ls-remote", repo, revision]).map_err(GitError::Repo)?;
    let text = String::from_utf8_lossy(&out);
    let mut found = None;
    for line in text.lines() {
        let Some((sha, name)) = line.split_once('\t') else {
            continue;
        };
        let exact = name == revision
            || name == format!("refs/heads/{revision}")
            || name == format!("refs/tags/{revision}");
        if name.ends_with("^{}") && name.trim_end_matches("^{}") == format!("refs/tags/{revision}")
        {
            return Ok(sha.to_string());
        }
        if exact && found.is_none() {
            found = Some(sha.to_string());
        }
    }
    // Not a ref the remote advertises (an abbreviated commit, say): the clone resolves it.
    Ok(found.unwrap_or_else(|| revision.to_string()))
}

fn archive(dir: &Path, commit: &str) -> Result<Vec<u8>, GitError> {
    // git archive's default umask (002) would leave files group-writable: use 022.
    git(
        Some(dir),
        &["-c", "tar.umask=0022", "archive", "--format=tar", commit],
    )
    .map_err(GitError::Repo)
}

/// Runs git, returning stdout, or stderr's text on failure.
fn git(dir: Option<&Path>, args: &[&str]) -> Result<Vec<u8>, String> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    let out = cmd
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
