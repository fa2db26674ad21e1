//! Unpacking a release archive entry by entry, refusing anything that would land outside it.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

use super::Error;

/// Unpacks a `.tar.gz`/`.tgz` (recognised by the gzip magic) or `.tar` into `dest`, an
/// existing directory.
///
/// Refused (an [`Error::Unsafe`], and nothing written outside `dest`): entry paths that are
/// absolute or contain `..`; entries reached through a symlink the archive made; symlinks whose
/// target is absolute, leaves `dest`, or has `..` after a normal component (whose meaning would
/// depend on other links); hard links to anything but a regular file already unpacked;
/// devices and fifos; an entry replacing a directory. Modes are kept (permission bits only);
/// directory modes are set last so a read-only directory can still be filled. An archive
/// without entries is an [`Error::Corrupt`].
pub fn unpack(bytes: &[u8], dest: &Path) -> Result<(), Error> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        unpack_from(flate2::read::MultiGzDecoder::new(bytes), dest)
    } else {
        unpack_from(bytes, dest)
    }
}

fn unpack_from(reader: impl Read, dest: &Path) -> Result<(), Error> {
    let corrupt = |e: io::Error| Error::Corrupt(e.to_string());
    let mut archive = tar::Archive::new(reader);
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
    let mut seen = 0;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        seen += 1;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            continue;
        }
        let raw = entry.path().map_err(corrupt)?.into_owned();
        let Some(rel) = inside(&raw) else {
            return Err(Error::Unsafe(format!(
                "entry {} leaves the release directory",
                raw.display()
            )));
        };
        if rel.as_os_str().is_empty() {
            // The archive's own top directory (`./`).
            continue;
        }
        no_symlink_parents(dest, &rel)?;
        let target = dest.join(&rel);
        let mode = entry.header().mode().map_err(corrupt)? & 0o7777;
        let existing = fs::symlink_metadata(&target).ok();
        if let Some(meta) = &existing {
            if meta.is_dir() && kind != EntryType::Directory {
                return Err(Error::Unsafe(format!(
                    "entry {} replaces a directory",
                    rel.display()
                )));
            }
        }
        match kind {
            EntryType::Directory => {
                if existing.as_ref().is_some_and(|m| !m.is_dir()) {
                    fs::remove_file(&target)
                        .map_err(Error::io(format!("replace {}", rel.display())))?;
                }
                fs::create_dir_all(&target)
                    .map_err(Error::io(format!("create {}", target.display())))?;
                dir_modes.push((target, mode));
            }
            EntryType::Regular | EntryType::Continuous => {
                make_parent(&target)?;
                if existing.is_some() {
                    // Never write through a symlink; replace whatever file was there.
                    fs::remove_file(&target)
                        .map_err(Error::io(format!("replace {}", rel.display())))?;
                }
                let mut file = fs::File::create(&target)
                    .map_err(Error::io(format!("create {}", target.display())))?;
                io::copy(&mut entry, &mut file).map_err(corrupt)?;
                file.set_permissions(fs::Permissions::from_mode(mode & 0o777))
                    .map_err(Error::io(format!("chmod {}", target.display())))?;
            }
            EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(corrupt)?
                    .ok_or_else(|| {
                        Error::Corrupt(format!("symlink {} has no target", rel.display()))
                    })?
                    .into_owned();
                if !link_stays_inside(&rel, &link) {
                    return Err(Error::Unsafe(format!(
                        "symlink {} -> {} points outside the release directory",
                        rel.display(),
                        link.display()
                    )));
                }
                make_parent(&target)?;
                if existing.is_some() {
                    fs::remove_file(&target)
                        .map_err(Error::io(format!("replace {}", rel.display())))?;
                }
                symlink(&link, &target)
                    .map_err(Error::io(format!("symlink {}", target.display())))?;
            }
            EntryType::Link => {
                let link = entry
                    .link_name()
                    .map_err(corrupt)?
                    .ok_or_else(|| {
                        Error::Corrupt(format!("hard link {} has no target", rel.display()))
                    })?
                    .into_owned();
                let source = inside(&link)
                    .filter(|s| !s.as_os_str().is_empty())
                    .ok_or_else(|| {
                        Error::Unsafe(format!(
                            "hard link {} -> {} points outside the release directory",
                            rel.display(),
                            link.display()
                        ))
                    })?;
                no_symlink_parents(dest, &source)?;
                let source = dest.join(source);
                if !fs::symlink_metadata(&source).is_ok_and(|m| m.is_file()) {
                    return Err(Error::Unsafe(format!(
                        "hard link {} -> {} does not name a file in the release",
                        rel.display(),
                        link.display()
                    )));
                }
                make_parent(&target)?;
                if existing.is_some() {
                    fs::remove_file(&target)
                        .map_err(Error::io(format!("replace {}", rel.display())))?;
                }
                fs::hard_link(&source, &target)
                    .map_err(Error::io(format!("link {}", target.display())))?;
            }
            other => {
                return Err(Error::Unsafe(format!(
                    "entry {} is of a refused kind ({other:?})",
                    rel.display()
                )))
            }
        }
    }
    if seen == 0 {
        return Err(Error::Corrupt("the archive has no entries".into()));
    }
    for (dir, mode) in dir_modes.into_iter().rev() {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode & 0o777))
            .map_err(Error::io(format!("chmod {}", dir.display())))?;
    }
    Ok(())
}

/// The entry path with `./` and trailing `/` dropped, or `None` if it is absolute or has `..`.
fn inside(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Every directory between `dest` and the entry must be a real directory, not a symlink the
/// archive made: otherwise the entry could be written wherever that link points.
pub(crate) fn no_symlink_parents(dest: &Path, rel: &Path) -> Result<(), Error> {
    let mut at = dest.to_path_buf();
    let mut comps = rel.components().peekable();
    while let Some(c) = comps.next() {
        if comps.peek().is_none() {
            break;
        }
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Unsafe(format!(
                    "entry {} goes through the symlink {}",
                    rel.display(),
                    at.strip_prefix(dest).unwrap_or(&at).display()
                )))
            }
            Ok(m) if !m.is_dir() => {
                return Err(Error::Unsafe(format!(
                    "entry {} goes through the file {}",
                    rel.display(),
                    at.strip_prefix(dest).unwrap_or(&at).display()
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// A relative symlink at `rel` (inside the release) whose target stays inside: `..` only
/// before any normal component, never climbing above the release directory.
fn link_stays_inside(rel: &Path, target: &Path) -> bool {
    let mut depth = rel.components().count() as isize - 1;
    let mut descended = false;
    for c in target.components() {
        match c {
            Component::ParentDir if !descended => depth -= 1,
            Component::ParentDir => return false,
            Component::Normal(_) => descended = true,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

fn make_parent(target: &Path) -> Result<(), Error> {
    match target.parent() {
        Some(parent) => {
            fs::create_dir_all(parent).map_err(Error::io(format!("create {}", parent.display())))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_targets() {
        let ok = |rel: &str, t: &str| link_stays_inside(Path::new(rel), Path::new(t));
        assert!(ok("a", "b"));
        assert!(ok("a/b", "../c"));
        assert!(ok("a/b/c", "../../d/e"));
        assert!(!ok("a", "../x"));
        assert!(!ok("a/b", "../../x"));
        assert!(!ok("a", "/etc"));
        assert!(!ok("a/b", "c/../../.."));
        assert!(!ok("a/b", "c/.."));
    }

    #[test]
    fn entry_paths() {
        assert_eq!(inside(Path::new("./a/b/")), Some(PathBuf::from("a/b")));
        assert_eq!(inside(Path::new("../a")), None);
        assert_eq!(inside(Path::new("a/../../b")), None);
        assert_eq!(inside(Path::new("/etc/passwd")), None);
    }
}
