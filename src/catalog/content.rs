//! `source` and `repo` at compile time: find the path (relative, absolute or `module:path`),
//! read a file or tar a directory deterministically, export a git revision, and put the bytes in
//! the content store.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::BuildOptions;
use crate::source::{SourceMap, Span};

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
        match module_root(module, sources, opts) {
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

/// The module's root (the folder holding its `init.fleet` or `<module>.fleet`, LANGUAGE.md §8):
/// from the resolver in the options, else from a loaded `<module>/init.fleet` or
/// `<module>.fleet`.
fn module_root(module: &str, sources: &SourceMap, opts: &BuildOptions) -> Option<PathBuf> {
    if let Some(find) = opts.module_dir {
        return find(module);
    }
    for (_, f) in sources.files() {
        let p = &f.path;
        if p.file_name().is_some_and(|n| n == "init.fleet")
            && p.parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == module)
        {
            return p.parent().map(Path::to_path_buf);
        }
        if p.file_stem().is_some_and(|n| n == module) && p.extension().is_some_and(|e| e == "fleet")
        {
            return p.parent().map(Path::to_path_buf);
        }
    }
    None
}

/// A file's bytes, or a directory as a deterministic tar.
pub(crate) fn read(path: &Path) -> io::Result<Vec<u8>> {
    if path.is_dir() {
        tar_dir(path)
    } else {
        std::fs::read(path)
    }
}

/// A tar of a directory's contents: entries sorted by path, mtimes, uids and gids zeroed,
/// modes reduced to 0755/0644 (as git keeps them), symlinks kept as links. Tarring the same
/// tree twice gives the same bytes.
pub fn tar_dir(dir: &Path) -> io::Result<Vec<u8>> {
    let mut entries = Vec::new();
    collect(dir, "", &mut entries)?;
    entries.sort();
    let mut builder = tar::Builder::new(Vec::new());
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
    builder.into_inner()
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

/// Resolves `revision` in `repo` (a local path or a URL) to a commit and exports its tree as
/// a tar (`git archive`, deterministic for a commit). Returns (commit, tar bytes).
pub(crate) fn git_export(
    repo: &str,
    local: Option<&Path>,
    revision: &str,
) -> Result<(String, Vec<u8>), GitError> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut cleanup = None;
    let git_dir = match local {
        Some(p) => p.to_path_buf(),
        None => {
            let tmp = std::env::temp_dir().join(format!(
                "fleet-git-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let out = git(
                None,
                &["clone", "--bare", "--quiet", repo, &tmp.to_string_lossy()],
            )
            .map_err(GitError::Repo)?;
            let _ = out;
            cleanup = Some(tmp.clone());
            tmp
        }
    };
    let result = (|| {
        let spec = format!("{revision}^{{commit}}");
        let commit =
            git(Some(&git_dir), &["rev-parse", "--verify", "--quiet", &spec]).map_err(|e| {
                if git(Some(&git_dir), &["rev-parse", "--git-dir"]).is_err() {
                    GitError::Repo(format!("`{repo}` is not a git repository"))
                } else if e.is_empty() {
                    GitError::Revision(format!("`{revision}` is not a commit in `{repo}`"))
                } else {
                    GitError::Revision(e)
                }
            })?;
        let commit = String::from_utf8_lossy(&commit).trim().to_string();
        let tar =
            git(Some(&git_dir), &["archive", "--format=tar", &commit]).map_err(GitError::Repo)?;
        Ok((commit, tar))
    })();
    if let Some(tmp) = cleanup {
        let _ = std::fs::remove_dir_all(tmp);
    }
    result
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
