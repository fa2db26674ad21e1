//! The sandbox root: maps catalog paths under `--root DIR` without ever leaving it.
//!
//! Paths are resolved one component at a time, the way a `chroot` would: a symlink met on
//! the way is followed with its target read *inside* the root (an absolute target starts
//! again at the root, `..` stops at the root), so no planted link can lead outside. The last
//! component is never followed: providers manage links themselves.
//!
//! [`DirCache`] remembers, for one run, where each directory resolved to, so that 10,000 files
//! in 1,000 directories cost one `lstat` per new directory instead of one per component of
//! every path. The engine empties it whenever something may have changed what a directory
//! resolves to (see [`DirCache::invalidate`]).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io;
use std::ops::Bound;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::catalog::fxhash::FxHashMap;

/// Where the catalog's absolute paths live: `/` for the machine itself, or a directory.
#[derive(Clone, Debug)]
pub struct Root {
    dir: Option<PathBuf>,
}

const MAX_LINKS: usize = 40;

/// A position of the walk: a real path under the root, how many components below the root it
/// is, and how many links were followed to get there.
#[derive(Clone, Debug)]
struct At {
    real: PathBuf,
    depth: usize,
    links: usize,
}

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
        let p = absolute(path)?;
        let Some(root) = &self.dir else {
            return Ok(normalize_lexically(p));
        };
        let start = At {
            real: root.clone(),
            depth: 0,
            links: 0,
        };
        Ok(walk(root, path, start, components_rev(p), false)?.real)
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

fn absolute(path: &str) -> io::Result<&Path> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path} is not an absolute path"),
        ));
    }
    Ok(p)
}

/// Walks `todo` (components, reversed) from `at` inside `root`, following every symlink met
/// with its target read inside the root; the last component too when `follow_last`.
fn walk(
    root: &Path,
    path: &str,
    mut at: At,
    mut todo: Vec<OsString>,
    follow_last: bool,
) -> io::Result<At> {
    while let Some(comp) = todo.pop() {
        if comp == ".." {
            if at.depth > 0 {
                at.real.pop();
                at.depth -= 1;
            }
            continue;
        }
        if comp == "." {
            continue;
        }
        at.real.push(&comp);
        at.depth += 1;
        if todo.is_empty() && !follow_last {
            break;
        }
        match std::fs::symlink_metadata(&at.real) {
            Ok(md) if md.file_type().is_symlink() => {
                at.links += 1;
                if at.links > MAX_LINKS {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{path}: too many levels of symbolic links under the root"),
                    ));
                }
                let target = std::fs::read_link(&at.real)?;
                at.real.pop();
                at.depth -= 1;
                if target.is_absolute() {
                    at.real = root.to_path_buf();
                    at.depth = 0;
                }
                todo.extend(components_rev(&target));
            }
            _ => {}
        }
    }
    Ok(at)
}

/// Where the directories of one run resolved to (see the module docs). Only paths without
/// `.`, `..`, `//` or a trailing `/` use it; the others take [`Root::resolve`].
#[derive(Debug, Default)]
pub struct DirCache {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Bumped by every invalidation: a resolution computed across one is not kept.
    generation: u64,
    /// Catalog directory -> where it resolved. An entry reached without following a link
    /// (`links == 0`) resolved to the root joined with its key.
    map: FxHashMap<Box<str>, At>,
    /// The same keys, in order (to find those under a path).
    keys: BTreeSet<Box<str>>,
    /// How many entries followed a link.
    linked: usize,
}

impl Entries {
    fn clear(&mut self) {
        self.map.clear();
        self.keys.clear();
        self.linked = 0;
    }

    fn insert(&mut self, generation: u64, key: &str, at: At) {
        if self.generation != generation {
            return;
        }
        let linked = usize::from(at.links > 0);
        match self.map.insert(key.into(), at) {
            Some(old) => self.linked -= usize::from(old.links > 0),
            None => {
                self.keys.insert(key.into());
            }
        }
        self.linked += linked;
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.map.remove(key) {
            self.linked -= usize::from(old.links > 0);
            self.keys.remove(key);
        }
    }
}

/// A path resolved through a [`DirCache`], with what [`DirCache::learn_dir`] needs.
#[derive(Debug)]
pub struct Resolved {
    pub real: PathBuf,
    /// The generation and the parent directory's walk (for clean paths under a root).
    parent: Option<(u64, usize, usize)>,
}

impl DirCache {
    pub fn new() -> DirCache {
        DirCache::default()
    }

    /// Forgets every directory: after anything that can change the tree behind the
    /// engine's back (a command, a package).
    pub fn invalidate(&self) {
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        m.generation += 1;
        m.clear();
    }

    /// Forgets what a change at the real path `real` (a link made or removed there, a
    /// directory removed) can have changed: the directories at or below it, and every
    /// directory whose resolution followed a link (its target may have passed there).
    pub fn invalidate_under(&self, root: &Root, real: &Path) {
        let rel = root
            .dir()
            .and_then(|d| real.strip_prefix(d).ok())
            .and_then(Path::to_str)
            .filter(|r| !r.is_empty());
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        m.generation += 1;
        let Some(rel) = rel else {
            m.clear();
            return;
        };
        if m.linked > 0 {
            let linked: Vec<Box<str>> = m
                .map
                .iter()
                .filter(|(_, at)| at.links > 0)
                .map(|(k, _)| k.clone())
                .collect();
            for k in linked {
                m.remove(&k);
            }
        }
        let key = format!("/{rel}");
        m.remove(&key);
        // Exactly the keys under `key/`: from "key/" up to "key0" ('0' follows '/').
        let (lo, hi) = (format!("{key}/"), format!("{key}0"));
        let below: Vec<Box<str>> = m
            .keys
            .range::<str, _>((Bound::Included(lo.as_str()), Bound::Excluded(hi.as_str())))
            .cloned()
            .collect();
        for k in below {
            m.remove(&k);
        }
    }

    /// Like [`DirCache::resolve`], keeping what [`DirCache::learn_dir`] needs.
    pub fn resolve_entry(&self, root: &Root, path: &str) -> io::Result<Resolved> {
        let (Some(dir), true) = (root.dir(), is_clean(path)) else {
            return Ok(Resolved {
                real: root.resolve(path)?,
                parent: None,
            });
        };
        let generation = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .generation;
        let cut = path.rfind('/').expect("an absolute path");
        let (parent, name) = (&path[..cut], &path[cut + 1..]);
        let mut at = self.dir(dir, path, parent)?;
        at.real.push(name);
        Ok(Resolved {
            real: at.real,
            parent: Some((generation, at.depth, at.links)),
        })
    }

    /// Records that `path`, resolved as `r`, was just seen (`lstat`) to be a directory:
    /// what walking it as a component would find, so that paths under it need no `lstat`
    /// of it again.
    pub fn learn_dir(&self, path: &str, r: &Resolved) {
        if let Some((generation, depth, links)) = r.parent {
            let at = At {
                real: r.real.clone(),
                depth: depth + 1,
                links,
            };
            let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            m.insert(generation, path, at);
        }
    }

    /// [`Root::resolve`], with the directories looked up in (and added to) the cache.
    pub fn resolve(&self, root: &Root, path: &str) -> io::Result<PathBuf> {
        let (Some(dir), true) = (root.dir(), is_clean(path)) else {
            return root.resolve(path);
        };
        let cut = path.rfind('/').expect("an absolute path");
        let (parent, name) = (&path[..cut], &path[cut + 1..]);
        let mut at = self.dir(dir, path, parent)?;
        at.real.push(name);
        Ok(at.real)
    }

    /// Where the catalog directory `d` (clean; `""` for the root) resolves, every component
    /// followed.
    fn dir(&self, root: &Path, path: &str, d: &str) -> io::Result<At> {
        if d.is_empty() {
            return Ok(At {
                real: root.to_path_buf(),
                depth: 0,
                links: 0,
            });
        }
        let generation = {
            let m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(at) = m.map.get(d) {
                return Ok(at.clone());
            }
            m.generation
        };
        let cut = d.rfind('/').expect("an absolute path");
        let parent = self.dir(root, path, &d[..cut])?;
        let at = walk(root, path, parent, vec![d[cut + 1..].into()], true)?;
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        m.insert(generation, d, at.clone());
        Ok(at)
    }
}

/// Absolute, and no empty, `.` or `..` component (so not `/` itself).
pub(crate) fn is_clean(path: &str) -> bool {
    let b = path.as_bytes();
    if b.len() < 2 || b[0] != b'/' {
        return false;
    }
    let mut start = 1;
    for i in 1..=b.len() {
        if i == b.len() || b[i] == b'/' {
            if matches!(&b[start..i], b"" | b"." | b"..") {
                return false;
            }
            start = i + 1;
        }
    }
    true
}

/// The normal components of a path, reversed (so `pop` yields them in order).
fn components_rev(p: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = p
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

    #[test]
    fn the_dir_cache_resolves_like_resolve_and_forgets_on_invalidate() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path()).unwrap();
        let base = root.dir().unwrap().to_path_buf();
        std::fs::create_dir_all(base.join("real/sub")).unwrap();
        symlink("/etc", base.join("etc")).unwrap();
        symlink("../../../../real", base.join("up")).unwrap();
        symlink("/real/sub", base.join("abs")).unwrap();
        symlink("up/sub", base.join("chain")).unwrap();
        let cache = DirCache::new();
        for p in [
            "/etc",
            "/up/f",
            "/up/sub/f",
            "/abs/f",
            "/chain/f",
            "/chain/x/y/f",
            "/missing/a/b",
            "/a/../../b",
            "/up/./f",
            "/",
        ] {
            // Twice: the second answer comes from the cache.
            for _ in 0..2 {
                assert_eq!(
                    cache.resolve(&root, p).unwrap(),
                    root.resolve(p).unwrap(),
                    "{p}"
                );
            }
        }
        assert!(cache.resolve(&root, "/etc/passwd").is_err());
        assert!(cache.resolve(&root, "relative").is_err());
        // A directory that becomes a link: stale until invalidated, then followed inside.
        std::fs::create_dir(base.join("d")).unwrap();
        assert_eq!(cache.resolve(&root, "/d/f").unwrap(), base.join("d/f"));
        std::fs::remove_dir(base.join("d")).unwrap();
        symlink("/real", base.join("d")).unwrap();
        cache.invalidate();
        assert_eq!(cache.resolve(&root, "/d/f").unwrap(), base.join("real/f"));
        // A link loop through cached directories is still refused.
        symlink("/loop2", base.join("loop1")).unwrap();
        symlink("/loop1", base.join("loop2")).unwrap();
        assert!(cache.resolve(&root, "/loop1/f").is_err());
    }

    #[test]
    fn invalidate_under_forgets_what_a_change_there_can_reach() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path()).unwrap();
        let base = root.dir().unwrap().to_path_buf();
        for d in ["d/sub", "d-x", "e", "real1", "real2"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        symlink("/real1", base.join("up")).unwrap();
        let cache = DirCache::new();
        for p in ["/d/sub/f", "/d-x/f", "/e/f", "/up/f"] {
            cache.resolve(&root, p).unwrap();
        }
        // /d becomes a link: /d and below are forgotten, /d-x (a sibling that sorts
        // between "/d" and "/d/") and /e are kept.
        std::fs::remove_dir_all(base.join("d")).unwrap();
        symlink("/real2", base.join("d")).unwrap();
        // /up is retargeted: entries that followed a link go with any invalidation.
        std::fs::remove_file(base.join("up")).unwrap();
        symlink("/real2", base.join("up")).unwrap();
        cache.invalidate_under(&root, &base.join("d"));
        assert_eq!(
            cache.resolve(&root, "/d/sub/f").unwrap(),
            base.join("real2/sub/f")
        );
        assert_eq!(cache.resolve(&root, "/up/f").unwrap(), base.join("real2/f"));
        let m = cache.entries.lock().unwrap();
        assert!(m.map.contains_key("/d-x") && m.map.contains_key("/e"));
        assert_eq!(m.keys.len(), m.map.len());
    }

    #[test]
    fn clean_paths() {
        for p in ["/a", "/a/b", "/a.b/..c/d..", "/a/.b"] {
            assert!(is_clean(p), "{p}");
        }
        for p in [
            "/", "", "a/b", "/a/", "//a", "/a//b", "/./a", "/a/.", "/a/../b", "/a/..",
        ] {
            assert!(!is_clean(p), "{p}");
        }
    }
}
