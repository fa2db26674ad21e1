//! Where a template's `{% include %}`, `{% import %}` and `{% extends %}` find other templates:
//! relative to the including template, or `module:path` on the module path; confined to the
//! site's and the modules' directories, each file bounded by `FLEET_MAX_FILE_BYTES`.
//!
//! The confinement is on the path as written: no `..` and no absolute path leads out of
//! those directories. Symlinks inside them are followed, as `import` and `source` follow
//! them: they are the site's own layout (a linked `templates/` or module checkout), and a
//! template cannot make one.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use minijinja::{Error, ErrorKind};

/// The directories templates come from, shared by the environment's callbacks.
#[derive(Default)]
pub(super) struct Roots {
    /// Directories (absolute, normalized, symlinks not resolved) a nested template must lie
    /// in: the main manifest's, each `--modulepath` directory, each loaded module's folder,
    /// each module folder a `module:path` name found, and the folder of every template a
    /// `template()` call named.
    allowed: Mutex<Vec<PathBuf>>,
    /// Where `module:path` looks for `module/`, in order: the directory of the file whose
    /// `template()` call is rendering, the main manifest's directory, the `--modulepath`
    /// directories (as `Loaded::module_dir` does). Set before each render.
    search: Mutex<Vec<PathBuf>>,
}

impl Roots {
    /// Lets nested templates come from `dir` (and below); a directory that does not
    /// resolve adds nothing.
    pub(super) fn allow(&self, dir: &Path) {
        let Some(dir) = lexical(dir) else {
            return;
        };
        let mut allowed = self.allowed.lock().unwrap_or_else(PoisonError::into_inner);
        if !allowed.contains(&dir) {
            allowed.push(dir);
        }
    }

    /// The directories `module:path` searches during the next render.
    pub(super) fn set_search(&self, dirs: Vec<PathBuf>) {
        *self.search.lock().unwrap_or_else(PoisonError::into_inner) = dirs;
    }

    /// The folder of module `name` on the search path (from then on an allowed directory).
    fn module_dir(&self, name: &str) -> Option<PathBuf> {
        let found = {
            let search = self.search.lock().unwrap_or_else(PoisonError::into_inner);
            search
                .iter()
                .map(|d| d.join(name))
                .find(|d| dir_or_dot(d).is_dir())
        }?;
        self.allow(&found);
        Some(found)
    }

    /// True when `path` (as written, made absolute) lies inside an allowed directory.
    fn contains(&self, path: &Path) -> bool {
        let Some(path) = lexical(path) else {
            return false;
        };
        let allowed = self.allowed.lock().unwrap_or_else(PoisonError::into_inner);
        allowed.iter().any(|root| path.starts_with(root))
    }
}

/// `path` made absolute against the working directory and normalized, symlinks left as
/// they are.
fn lexical(path: &Path) -> Option<PathBuf> {
    std::path::absolute(dir_or_dot(path))
        .ok()
        .map(|p| normalize(&p))
}

/// `""` (the parent of a bare file name) as `"."`.
fn dir_or_dot(dir: &Path) -> &Path {
    if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }
}

/// `written`'s module prefix and the rest, when it is `module:path` (an identifier before
/// the `:`, as `Loaded::resolve_path` reads it).
pub(super) fn module_prefix(written: &str) -> Option<(&str, &str)> {
    let (prefix, rest) = written.split_once(':')?;
    let ident = !prefix.is_empty()
        && !prefix.starts_with(|c: char| c.is_ascii_digit())
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ident.then_some((prefix, rest))
}

/// `path` with `.` dropped and `..` applied lexically (a leading `..` of a relative path
/// stays), so one template has one name however it is reached.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last = out.components().next_back();
                match last {
                    Some(Component::Normal(_)) => {
                        out.pop();
                    }
                    Some(Component::RootDir) => {}
                    _ => out.push(".."),
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The name of the template `name` written in template `parent`: `module:path` inside the
/// module, an absolute path as itself, else relative to `parent`'s folder.
pub(super) fn join(roots: &Roots, name: &str, parent: &str) -> String {
    if let Some((module, rest)) = module_prefix(name) {
        return match roots.module_dir(module) {
            Some(dir) => normalize(&dir.join(rest)).to_string_lossy().into_owned(),
            // Left as written: the loader says that no module has that name.
            None => name.to_string(),
        };
    }
    let p = Path::new(name);
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        Path::new(parent).parent().unwrap_or(Path::new("")).join(p)
    };
    normalize(&joined).to_string_lossy().into_owned()
}

/// The source of the template named `name` (a path [`join`] gave): an error when it lies
/// outside the allowed directories, else `Ok(None)` when no file is there, an error when it
/// is too big, not a regular file or not UTF-8.
pub(super) fn load(roots: &Roots, name: &str) -> Result<Option<String>, Error> {
    if let Some((module, _)) = module_prefix(name) {
        // Not `TemplateNotFound`, which minijinja answers with its own message.
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("no module `{module}` on the module path (for `{name}`)"),
        ));
    }
    let path = Path::new(name);
    if !roots.contains(path) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("template `{name}` is outside the site's and the modules' directories"),
        ));
    }
    if !path.exists() {
        return Ok(None);
    }
    let bytes = crate::limits::read_file(path).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot read template `{name}`: {e}"),
        )
    })?;
    String::from_utf8(bytes).map(Some).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("template `{name}` is not UTF-8 text"),
        )
    })
}

/// Installs the loader and the path-join callback on `env`.
pub(super) fn install(env: &mut minijinja::Environment<'static>, roots: &Arc<Roots>) {
    let r = Arc::clone(roots);
    env.set_path_join_callback(move |name, parent| Cow::Owned(join(&r, name, parent)));
    let r = Arc::clone(roots);
    env.set_loader(move |name| load(&r, name));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_applies_dots_lexically() {
        assert_eq!(normalize(Path::new("a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(normalize(Path::new("a/../../c")), PathBuf::from("../c"));
        assert_eq!(normalize(Path::new("/../etc")), PathBuf::from("/etc"));
        assert_eq!(normalize(Path::new("b.j2")), PathBuf::from("b.j2"));
    }

    #[test]
    fn join_is_relative_to_the_parent_template() {
        let roots = Roots::default();
        assert_eq!(join(&roots, "part.j2", "t/main.j2"), "t/part.j2");
        assert_eq!(join(&roots, "../x.j2", "t/sub/main.j2"), "t/x.j2");
        assert_eq!(join(&roots, "part.j2", "main.j2"), "part.j2");
        assert_eq!(join(&roots, "/abs/x.j2", "t/main.j2"), "/abs/x.j2");
        // An unknown module is left as written, for the loader to name.
        assert_eq!(join(&roots, "nomod:x.j2", "t/main.j2"), "nomod:x.j2");
    }

    #[test]
    fn module_names_resolve_on_the_search_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ntp/templates")).unwrap();
        let roots = Roots::default();
        roots.set_search(vec![dir.path().join("nowhere"), dir.path().to_path_buf()]);
        assert_eq!(
            join(&roots, "ntp:templates/a.j2", "x.j2"),
            dir.path().join("ntp/templates/a.j2").to_string_lossy()
        );
    }

    #[test]
    fn the_loader_refuses_paths_outside_the_roots() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        std::fs::create_dir_all(site.join("linked")).unwrap();
        std::fs::write(site.join("in.j2"), "in").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::write(shared.join("common.j2"), "common").unwrap();
        std::os::unix::fs::symlink(&shared, site.join("shared")).unwrap();
        let roots = Roots::default();
        roots.allow(&site);
        let load_str = |p: PathBuf| load(&roots, &p.to_string_lossy());
        assert_eq!(load_str(site.join("in.j2")).unwrap().as_deref(), Some("in"));
        assert!(load_str(site.join("missing.j2")).unwrap().is_none());
        // The site's own symlinks are followed.
        let common = load_str(site.join("shared/common.j2")).unwrap();
        assert_eq!(common.as_deref(), Some("common"));
        // `..` and absolute paths out of the site are refused, found or not.
        for out in [
            site.join("../secret"),
            site.join("linked/../../secret"),
            shared.join("common.j2"),
        ] {
            let e = load_str(out.clone()).unwrap_err();
            assert!(e.to_string().contains("outside"), "{}: {e}", out.display());
        }
        let e = load(&roots, "/etc/passwd").unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        let module = load(&roots, "nomod:x.j2").unwrap_err();
        assert!(module.to_string().contains("no module `nomod`"), "{module}");
    }

    #[test]
    fn a_found_module_folder_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("mods/ntp/templates")).unwrap();
        std::fs::write(dir.path().join("mods/ntp/templates/a.j2"), "a").unwrap();
        let roots = Roots::default();
        roots.set_search(vec![dir.path().join("mods")]);
        let name = join(&roots, "ntp:templates/a.j2", "x.j2");
        assert_eq!(load(&roots, &name).unwrap().as_deref(), Some("a"));
        let up = join(&roots, "ntp:../../secret", "x.j2");
        assert!(load(&roots, &up).is_err());
    }
}
