//! Unpacking a release archive entry by entry, as a stream, refusing anything that would
//! land outside it and anything past its [`Limits`].

use std::cell::Cell;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use tar::EntryType;

use super::Error;

/// Caps on what one archive may unpack to (the defaults are generous; lower or raise them
/// with the environment variables [`Limits::BYTES_VAR`] and [`Limits::FILES_VAR`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The total size of the files' contents.
    pub max_bytes: u64,
    /// Entries of every kind (files, directories, links).
    pub max_files: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 16 << 30,
            max_files: 1_000_000,
        }
    }
}

impl Limits {
    pub const BYTES_VAR: &'static str = "FLEET_RELEASE_MAX_BYTES";
    pub const FILES_VAR: &'static str = "FLEET_RELEASE_MAX_FILES";

    /// The defaults, with each variable that is set instead: a count, or for bytes a size
    /// with an optional `K`, `M`, `G` or `T` suffix (powers of 1024).
    pub fn from_env() -> Result<Limits, Error> {
        let var = |name: &str| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::Spec(format!("{name} is not valid UTF-8")))
            }
        };
        Limits::from_values(
            var(Self::BYTES_VAR)?.as_deref(),
            var(Self::FILES_VAR)?.as_deref(),
        )
    }

    /// [`Limits::from_env`] for given values of the two variables.
    pub fn from_values(bytes: Option<&str>, files: Option<&str>) -> Result<Limits, Error> {
        let mut limits = Limits::default();
        if let Some(b) = bytes {
            limits.max_bytes = parse_size(b).ok_or_else(|| {
                Error::Spec(format!(
                    "{}={b:?} is not a size (bytes, or a number with K, M, G or T)",
                    Self::BYTES_VAR
                ))
            })?;
        }
        if let Some(f) = files {
            limits.max_files = f.trim().parse().map_err(|_| {
                Error::Spec(format!("{}={f:?} is not a count of files", Self::FILES_VAR))
            })?;
        }
        Ok(limits)
    }
}

/// A whole number of bytes with an optional `K`, `M`, `G` or `T` suffix (powers of 1024).
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last()? {
        (i, 'k' | 'K') => (&t[..i], 10),
        (i, 'm' | 'M') => (&t[..i], 20),
        (i, 'g' | 'G') => (&t[..i], 30),
        (i, 't' | 'T') => (&t[..i], 40),
        _ => (t, 0),
    };
    let n: u64 = digits.trim().parse().ok()?;
    n.checked_mul(1u64 << shift)
}

/// Unpacks a `.tar.gz`/`.tgz` (recognised by the gzip magic) or `.tar` read from `reader`
/// into `dest`, an existing directory, as a stream (nothing is held whole), and returns the
/// lower-case hex sha256 of every byte read from `reader` (all of it is read).
///
/// Refused (an [`Error::Unsafe`], and nothing written outside `dest`): entry paths that are
/// absolute or contain `..`; entries reached through a symlink the archive made; symlinks whose
/// target is absolute, leaves `dest`, or has `..` after a normal component (whose meaning would
/// depend on other links); hard links to anything but a regular file already unpacked;
/// devices, fifos and sparse files; an entry replacing a directory. Past `limits` (more
/// entries, or more bytes of file contents), or with an entry's headers (long name, pax
/// records) over 1 MiB: an [`Error::Limit`] before the entry over it is written. Modes are
/// kept (permission bits only); directory modes are set last so a read-only directory can
/// still be filled. An archive without entries is an [`Error::Corrupt`]. On an error `dest`
/// holds part of the archive: the caller removes it.
pub fn unpack(reader: impl Read, dest: &Path, limits: &Limits) -> Result<String, Error> {
    let corrupt = |e: io::Error| Error::Corrupt(e.to_string());
    let mut src = Hashing {
        inner: BufReader::with_capacity(1 << 16, reader),
        sha: Sha256::new(),
    };
    let gzip = src
        .inner
        .fill_buf()
        .map_err(corrupt)?
        .starts_with(&[0x1f, 0x8b]);
    // The tar reader reads an entry's metadata (a GNU long name, pax records) whole into
    // memory: between one entry's data and the next entry, at most HEADER_ROOM bytes of the
    // archive stream (after gzip) may be read.
    let room = Room {
        left: Cell::new(HEADER_ROOM),
        hit: Cell::new(false),
    };
    let result = if gzip {
        let stream = Capped {
            inner: flate2::read::MultiGzDecoder::new(&mut src),
            room: &room,
        };
        unpack_from(stream, dest, limits, &room)
    } else {
        let stream = Capped {
            inner: &mut src,
            room: &room,
        };
        unpack_from(stream, dest, limits, &room)
    };
    if room.hit.get() {
        return Err(Error::Limit(format!(
            "an entry's headers (long names, pax records) take more than {}",
            size_text(HEADER_ROOM)
        )));
    }
    result?;
    io::copy(&mut src, &mut io::sink()).map_err(corrupt)?;
    Ok(crate::model::digest::hex(&src.sha.finalize()))
}

/// `1 GiB`, `512 KiB`, `1000 bytes`.
fn size_text(n: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{} {unit}", n >> shift);
        }
    }
    format!("{n} bytes")
}

/// Hashes what is read through it.
struct Hashing<R> {
    inner: R,
    sha: Sha256,
}

impl<R: BufRead> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

/// What the archive stream may still give before the next entry: its data, then
/// [`HEADER_ROOM`] of headers.
const HEADER_ROOM: u64 = 1 << 20;

/// How much of the archive stream may still be read, and whether a read went past it.
struct Room {
    left: Cell<u64>,
    hit: Cell<bool>,
}

impl Room {
    /// Room for `entry`'s data (whole 512-byte blocks) and the next entry's headers.
    fn entry(&self, size: u64) {
        let blocks = size.div_ceil(512).saturating_mul(512);
        self.left.set(blocks.saturating_add(HEADER_ROOM));
    }
}

/// Fails a read past its [`Room`], and says so there.
struct Capped<'a, R> {
    inner: R,
    room: &'a Room,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.room.left.get();
        if left == 0 {
            // Only a stream with more to give is past its room.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.room.hit.set(true);
            return Err(io::Error::other("an entry's headers are too long"));
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.room.left.set(left - n as u64);
        Ok(n)
    }
}

/// What every tar entry goes through first, in an archive or a directory source: its header
/// room is reset, it is counted against `limits.max_files`, and its type is returned, `None`
/// for the metadata entries (pax and GNU long names) the tar crate applies to the next one.
fn admit<R: Read>(
    entry: &tar::Entry<'_, R>,
    room: &Room,
    seen: &mut u64,
    limits: &Limits,
    what: &str,
) -> Result<Option<EntryType>, Error> {
    room.entry(entry.size());
    *seen += 1;
    if *seen > limits.max_files {
        return Err(Error::Limit(format!(
            "the {what} has more than {} entries (raise {})",
            limits.max_files,
            Limits::FILES_VAR
        )));
    }
    let kind = entry.header().entry_type();
    Ok((!matches!(
        kind,
        EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink
    ))
    .then_some(kind))
}

fn unpack_from(reader: impl Read, dest: &Path, limits: &Limits, room: &Room) -> Result<(), Error> {
    let corrupt = |e: io::Error| Error::Corrupt(e.to_string());
    let mut archive = tar::Archive::new(reader);
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
    let mut seen: u64 = 0;
    let mut bytes: u64 = 0;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let Some(kind) = admit(&entry, room, &mut seen, limits, "archive")? else {
            continue;
        };
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
                bytes = bytes.saturating_add(entry.size());
                if bytes > limits.max_bytes {
                    return Err(Error::Limit(format!(
                        "the archive's files are bigger than {} in all, at {} (raise {})",
                        size_text(limits.max_bytes),
                        rel.display(),
                        Limits::BYTES_VAR
                    )));
                }
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

/// One entry of a tar read by [`read_tree`], its path already checked (relative, no `..`,
/// below a directory entry of the same archive).
pub(crate) enum TreeItem<'a> {
    Dir,
    /// A regular file: its permission bits and its content (read it before the next entry).
    File {
        mode: u32,
        data: &'a mut dyn Read,
    },
    Symlink(PathBuf),
}

/// Reads a plain tar (a directory source the compiler tarred) entry by entry with the checks
/// [`unpack`] makes, handing each to `each` with its relative path (UTF-8) instead of
/// writing it anywhere: entry paths that are absolute or have `..`, entries below anything
/// but a directory entry of the archive, hard links, devices, fifos and sparse files are
/// refused ([`Error::Unsafe`]); past `limits`, or with an entry's headers over 1 MiB, an
/// [`Error::Limit`]. Symlink targets are not checked: the caller makes links, it never
/// writes through them.
pub(crate) fn read_tree(
    reader: impl Read,
    limits: &Limits,
    mut each: impl FnMut(&str, TreeItem<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let corrupt = |e: io::Error| Error::Corrupt(e.to_string());
    let room = Room {
        left: Cell::new(HEADER_ROOM),
        hit: Cell::new(false),
    };
    let mut dirs = std::collections::HashSet::new();
    let result = (|| {
        let mut archive = tar::Archive::new(Capped {
            inner: reader,
            room: &room,
        });
        let (mut seen, mut bytes) = (0u64, 0u64);
        for entry in archive.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            let Some(kind) = admit(&entry, &room, &mut seen, limits, "source")? else {
                continue;
            };
            let raw = entry.path().map_err(corrupt)?.into_owned();
            let rel = inside(&raw)
                .and_then(|r| r.to_str().map(str::to_string))
                .ok_or_else(|| {
                    Error::Unsafe(format!("entry {} leaves the directory", raw.display()))
                })?;
            if rel.is_empty() {
                continue;
            }
            if let Some((parent, _)) = rel.rsplit_once('/') {
                if !dirs.contains(parent) {
                    return Err(Error::Unsafe(format!(
                        "entry {rel} is not below a directory of the source"
                    )));
                }
            }
            match kind {
                EntryType::Directory => {
                    dirs.insert(rel.clone());
                    each(&rel, TreeItem::Dir)?;
                }
                EntryType::Regular | EntryType::Continuous => {
                    bytes = bytes.saturating_add(entry.size());
                    if bytes > limits.max_bytes {
                        return Err(Error::Limit(format!(
                            "the source's files are bigger than {} in all, at {rel} (raise {})",
                            size_text(limits.max_bytes),
                            Limits::BYTES_VAR
                        )));
                    }
                    let mode = entry.header().mode().map_err(corrupt)? & 0o7777;
                    each(
                        &rel,
                        TreeItem::File {
                            mode,
                            data: &mut entry,
                        },
                    )?;
                }
                EntryType::Symlink => {
                    let link = entry
                        .link_name()
                        .map_err(corrupt)?
                        .ok_or_else(|| Error::Corrupt(format!("symlink {rel} has no target")))?;
                    each(&rel, TreeItem::Symlink(link.into_owned()))?;
                }
                other => {
                    return Err(Error::Unsafe(format!(
                        "entry {rel} is of a refused kind ({other:?})"
                    )))
                }
            }
        }
        Ok(())
    })();
    if room.hit.get() {
        return Err(Error::Limit(format!(
            "an entry's headers (long names, pax records) take more than {}",
            size_text(HEADER_ROOM)
        )));
    }
    result
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

    /// A tar of `(path, kind, data or link target)`, paths written as they are (`..` too).
    fn raw_tar(entries: &[(&str, EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            let body = if matches!(kind, EntryType::Symlink | EntryType::Link) {
                h.set_link_name(data).unwrap();
                ""
            } else {
                data
            };
            h.set_size(body.len() as u64);
            h.set_cksum();
            b.append(&h, body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn tree_of(tar: &[u8], limits: &Limits) -> Result<Vec<String>, Error> {
        let mut seen = Vec::new();
        read_tree(tar, limits, |rel, item| {
            seen.push(match item {
                TreeItem::Dir => format!("{rel}/"),
                TreeItem::File { data, .. } => {
                    let mut s = String::new();
                    data.read_to_string(&mut s).unwrap();
                    format!("{rel}={s}")
                }
                TreeItem::Symlink(t) => format!("{rel}->{}", t.display()),
            });
            Ok(())
        })?;
        Ok(seen)
    }

    #[test]
    fn a_source_tree_is_read_with_the_unpacking_checks() {
        use EntryType::{Directory as D, Link as H, Regular as F, Symlink as L};
        let limits = Limits::default();
        let ok = raw_tar(&[("d/", D, ""), ("d/f", F, "x"), ("d/l", L, "/etc/passwd")]);
        assert_eq!(
            tree_of(&ok, &limits).unwrap(),
            ["d/", "d/f=x", "d/l->/etc/passwd"]
        );
        let unsafe_ones: [&[(&str, EntryType, &str)]; 5] = [
            &[("../x", F, "x")],
            &[("/etc/x", F, "x")],
            &[("a", F, "x"), ("a/b", F, "y")],
            &[("l", L, "/"), ("l/x", F, "y")],
            &[("a", F, "x"), ("h", H, "a")],
        ];
        for entries in unsafe_ones {
            let got = tree_of(&raw_tar(entries), &limits);
            assert!(matches!(got, Err(Error::Unsafe(_))), "{entries:?}: {got:?}");
        }
        let few = Limits {
            max_files: 2,
            ..Limits::default()
        };
        assert!(matches!(tree_of(&ok, &few), Err(Error::Limit(_))));
        let small = Limits {
            max_bytes: 0,
            ..Limits::default()
        };
        assert!(matches!(tree_of(&ok, &small), Err(Error::Limit(_))));
    }

    #[test]
    fn entry_paths() {
        assert_eq!(inside(Path::new("./a/b/")), Some(PathBuf::from("a/b")));
        assert_eq!(inside(Path::new("../a")), None);
        assert_eq!(inside(Path::new("a/../../b")), None);
        assert_eq!(inside(Path::new("/etc/passwd")), None);
    }
}
