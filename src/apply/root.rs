//! The sandbox root: maps catalog paths under `--root DIR` without ever leaving it.
//!
//! Paths are resolved one component at a time, the way a `chroot` would: a symlink met on
//! the way is followed with its target read *inside* the root (an absolute target starts
//! again at the root, `..` stops at the root), so no planted link can lead outside. The last
//! component is never followed: providers manage links themselves.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Where the catalog's absolute paths live: `/` for the machine itself, or a directory.
#[derive(Clone, Debug)]
pub struct Root {
    dir: Option<PathBuf>,
}

const MAX_LINKS: usize = 40;

impl Root {
    /// The machine's own root (`/`): paths are used as they are.
    pub fn host() -> Root {
        Root { dir: None }
    }

    /// A sandbox root directory (made absolute; `/` means the host).
    pub fn new(dir: &Path) -> io::Result<Root> {
        let dir = std::fs::canonicalize(dir)?;
        if dir == Path::new("/") {
            return Ok(Root::host());
        }
        Ok(Root { dir: Some(dir) })
    }

    /// The root directory, `None` for the host.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The root as a path (`/` for the host).
    pub fn path(&self) -> &Path {
        self.dir.as_deref().unwrap_or(Path::new("/"))
    }

    /// Maps an absolute catalog path to the real path under the root, following symlinks in
    /// every component but the last one inside the root. Fails on relative paths and on
    /// symlink loops.
    pub fn resolve(&self, path: &str) -> io::Result<PathBuf> {
        let p = Path::new(path);
        if !p.is_absolute() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{path} is not an absolute path"),
            ));
        }
        let Some(root) = &self.dir else {
            return Ok(normalize_lexically(p));
        };
        // `done` holds the components resolved so far, relative to the root.
        let mut done: Vec<std::ffi::OsString> = Vec::new();
        let mut todo: Vec<std::ffi::OsString> = components_rev(p);
        let mut links = 0;
        while let Some(comp) = todo.pop() {
            if comp == ".." {
                done.pop();
                continue;
            }
            if comp == "." {
                continue;
            }
            if todo.is_empty() {
                done.push(comp);
                break;
            }
            let mut candidate = root.clone();
            candidate.extend(done.iter());
            candidate.push(&comp);
            match std::fs::symlink_metadata(&candidate) {
                Ok(md) if md.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("{path}: too many levels of symbolic links under the root"),
                        ));
                    }
                    let target = std::fs::read_link(&candidate)?;
                    if target.is_absolute() {
                        done.clear();
                    }
                    todo.extend(components_rev(&target));
                }
                _ => done.push(comp),
            }
        }
        let mut out = root.clone();
        out.extend(done.iter());
        Ok(out)
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

/// The normal components of a path, reversed (so `pop` yields them in order).
fn components_rev(p: &Path) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = p
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

    #[test]
    fn planted_links_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path()).unwrap();
        let base = root.dir().unwrap().to_path_buf();
        std::fs::create_dir(base.join("real")).unwrap();
        symlink("/etc", base.join("etc")).unwrap();
        symlink("../../../../real", base.join("up")).unwrap();
        symlink("/tmp", base.join("abs")).unwrap();
        // DIR/etc -> /etc means DIR/etc again: a loop, refused.
        assert!(root.resolve("/etc/passwd").is_err());
        // The last component is not followed: the link itself is what is managed.
        assert_eq!(root.resolve("/etc").unwrap(), base.join("etc"));
        assert_eq!(root.resolve("/up/f").unwrap(), base.join("real/f"));
        assert_eq!(root.resolve("/abs/f").unwrap(), base.join("tmp/f"));
        assert_eq!(root.resolve("/a/../../b").unwrap(), base.join("b"));
        assert!(root.resolve("relative").is_err());
    }
}
