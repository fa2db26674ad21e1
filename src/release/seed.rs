//! Seeding a new `shared/` entry from the release's own copy (a file or a directory tree).
//!
//! Everything goes through directory handles: the release's copy is read with `O_NOFOLLOW`
//! at every level (a link inside it is copied as a link, never followed), and the copy is
//! built under a temporary name in the pinned parent in `shared/`, then renamed into place
//! without replacing anything, so a failure leaves no half-seeded entry behind.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};

/// Directories deeper than this in a seeded tree are refused (a release's tree is bounded by
/// the unpack limits; this bounds the handles open at once).
const MAX_DEPTH: usize = 256;

fn kind(st: &rustix::fs::Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

fn open_dir(at: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        at,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Copies the regular file `name` of `src` to the new file `name` of `dst`, keeping its
/// permission bits.
fn copy_file(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, name: &OsStr, to: &OsStr) -> io::Result<()> {
    let from = rustix::fs::openat(
        src,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&from)?;
    if kind(&st) != FileType::RegularFile {
        return Err(io::Error::other("not a regular file"));
    }
    let into = rustix::fs::openat(
        dst,
        to,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let (mut from, mut into) = (File::from(from), File::from(into));
    io::copy(&mut from, &mut into)?;
    rustix::fs::fchmod(&into, Mode::from_raw_mode(st.st_mode & 0o777))?;
    Ok(())
}

/// Copies the entries of the directory `src` into the (empty, new) directory `dst`; the
/// directory's own mode is set last by the caller.
fn copy_tree(src: &OwnedFd, dst: &OwnedFd, depth: usize) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other(format!(
            "more than {MAX_DEPTH} nested directories"
        )));
    }
    let mut names: Vec<OsString> = Vec::new();
    for entry in rustix::fs::Dir::read_from(src)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    names.sort();
    for name in names {
        let st = rustix::fs::statat(src, &name, AtFlags::SYMLINK_NOFOLLOW)?;
        match kind(&st) {
            FileType::Directory => {
                rustix::fs::mkdirat(dst, &name, Mode::from_raw_mode(0o700))?;
                let (s, d) = (open_dir(src.as_fd(), &name)?, open_dir(dst.as_fd(), &name)?);
                copy_tree(&s, &d, depth + 1)?;
                rustix::fs::fchmod(&d, Mode::from_raw_mode(st.st_mode & 0o777))?;
            }
            FileType::RegularFile => copy_file(src.as_fd(), dst.as_fd(), &name, &name)?,
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(src, &name, Vec::new())?;
                rustix::fs::symlinkat(target.as_c_str(), dst, &name)?;
            }
            // Sockets, FIFOs and devices are not release content.
            _ => {}
        }
    }
    Ok(())
}

/// What the release has at a shared path.
pub(super) enum Copy {
    File,
    Dir,
    /// Nothing, a link, or something that is not release content: not seeded.
    None,
}

/// What is at `path` in the release (never following a link).
pub(super) fn what(path: &Path) -> Copy {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Copy::Dir,
        Ok(m) if m.is_file() => Copy::File,
        _ => Copy::None,
    }
}

/// Seeds the entry `name` of the pinned directory `parent` (in `shared/`, absent) from the
/// release's copy at `rel` inside the release directory `release`; every directory on the
/// way is opened without following a link.
pub(super) fn seed(
    release: &Path,
    rel: &Path,
    copy: Copy,
    parent: BorrowedFd<'_>,
    name: &OsStr,
) -> io::Result<()> {
    let src_name = rel.file_name().unwrap_or_default();
    let mut src_parent = rustix::fs::open(
        release,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for c in rel.parent().unwrap_or(Path::new("")).components() {
        let std::path::Component::Normal(c) = c else {
            return Err(io::Error::other("not a plain path inside the release"));
        };
        src_parent = rustix::fs::openat(
            &src_parent,
            c,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
    }
    // Short and fixed (a long name must still fit); seeds are made one after the other.
    let tmp = OsString::from(format!(".fleet-seed-{}", std::process::id()));
    let _ = rustix::fs::unlinkat(parent, &tmp, AtFlags::empty());
    let made = (|| -> io::Result<()> {
        match copy {
            Copy::File => {
                copy_file(src_parent.as_fd(), parent, src_name, &tmp)?;
                rustix::fs::renameat_with(parent, &tmp, parent, name, RenameFlags::NOREPLACE)?;
            }
            Copy::Dir => {
                let st = rustix::fs::statat(&src_parent, src_name, AtFlags::SYMLINK_NOFOLLOW)?;
                let src = open_dir(src_parent.as_fd(), src_name)?;
                rustix::fs::mkdirat(parent, &tmp, Mode::from_raw_mode(0o700))?;
                let dst = open_dir(parent, &tmp)?;
                copy_tree(&src, &dst, 0)?;
                rustix::fs::renameat_with(parent, &tmp, parent, name, RenameFlags::NOREPLACE)?;
                // Last: a directory without write permission could not be renamed.
                rustix::fs::fchmod(&dst, Mode::from_raw_mode(st.st_mode & 0o777))?;
            }
            Copy::None => return Err(io::Error::other("nothing to seed from")),
        }
        Ok(())
    })();
    if made.is_err() {
        let at = crate::sys::root::fd_path(&parent).join(&tmp);
        let _ = match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&at),
            Ok(_) => std::fs::remove_file(&at),
            Err(_) => Ok(()),
        };
    }
    made
}
