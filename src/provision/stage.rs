//! Writing the tree: everything is written into a staging directory beside the output
//! directory first; only when every file is there does it move into place, so an error
//! leaves the previous output as it was.
//!
//! Moving in: a new output directory is the staging directory renamed. An existing one
//! keeps its own inode and those of `dhcp-hosts/` and `dhcp-opts/` (dnsmasq watches them
//! with inotify: a node added there needs no restart), whose files are replaced one by one
//! (each a rename) and whose stale files are removed; `tftp/`, `http/`, `libvirt/`,
//! `dnsmasq.conf` and `provision.json` are each swapped in with one `renameat2`
//! `RENAME_EXCHANGE`. Other files in the directory (`installed.json`, dnsmasq's leases)
//! are not fleet's output and stay.

use std::path::{Path, PathBuf};

use super::render::{Entry, Tree};

/// The directories dnsmasq watches: synced file by file.
const SYNCED: &[&str] = &["dhcp-hosts", "dhcp-opts"];

/// The entries swapped in whole.
const SWAPPED: &[&str] = &["tftp", "http", "libvirt", "dnsmasq.conf", "provision.json"];

/// Writes `tree` as the output directory `out` (see the module documentation).
pub(crate) fn commit(out: &Path, tree: Tree) -> Result<(), String> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let leaf = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let staging = Staging::create(parent, &leaf)?;
    write_tree(staging.path(), &tree)?;
    if !out.exists() {
        std::fs::rename(staging.path(), out).map_err(|e| io(out, e))?;
        staging.forget();
        return Ok(());
    }
    if !out.is_dir() {
        return Err(format!("{}: exists and is not a directory", out.display()));
    }
    for d in SYNCED {
        sync_dir(&staging.path().join(d), &out.join(d))?;
    }
    for name in SWAPPED {
        swap(&staging.path().join(name), &out.join(name))?;
    }
    Ok(())
}

/// Writes every entry of the tree under `root` (the directories every tree has included).
fn write_tree(root: &Path, tree: &Tree) -> Result<(), String> {
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    for d in SYNCED.iter().chain(&["tftp", "http", "libvirt"]) {
        let p = root.join(d);
        std::fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
    }
    for (rel, entry) in tree {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        match entry {
            Entry::Bytes(b) => std::fs::write(&path, b).map_err(|e| io(&path, e))?,
            Entry::Copy(src) => {
                if std::fs::hard_link(src, &path).is_err() {
                    std::fs::copy(src, &path).map_err(|e| io(src, e))?;
                }
            }
        }
    }
    Ok(())
}

/// Makes directory `live` hold exactly the files of `staged`, file by file.
fn sync_dir(staged: &Path, live: &Path) -> Result<(), String> {
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    std::fs::create_dir_all(live).map_err(|e| io(live, e))?;
    let names = |d: &Path| -> Result<Vec<std::ffi::OsString>, String> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(d).map_err(|e| io(d, e))? {
            v.push(e.map_err(|e| io(d, e))?.file_name());
        }
        v.sort();
        Ok(v)
    };
    let wanted = names(staged)?;
    for name in &wanted {
        let (from, to) = (staged.join(name), live.join(name));
        let same = match (std::fs::read(&from), std::fs::read(&to)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same {
            std::fs::rename(&from, &to).map_err(|e| io(&to, e))?;
        }
    }
    for name in names(live)? {
        if !wanted.contains(&name) {
            let p = live.join(&name);
            std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
        }
    }
    Ok(())
}

/// Puts `staged` at `live` in one step; what was at `live` ends up at `staged` (and goes
/// with the staging directory).
fn swap(staged: &Path, live: &Path) -> Result<(), String> {
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    if !staged.exists() {
        return Ok(());
    }
    if live.symlink_metadata().is_err() {
        return std::fs::rename(staged, live).map_err(|e| io(live, e));
    }
    let exchanged = rustix::fs::renameat_with(
        rustix::fs::CWD,
        staged,
        rustix::fs::CWD,
        live,
        rustix::fs::RenameFlags::EXCHANGE,
    );
    if exchanged.is_ok() {
        return Ok(());
    }
    // A file system without RENAME_EXCHANGE: two renames.
    let old: PathBuf = staged.with_extension("old");
    std::fs::rename(live, &old).map_err(|e| io(live, e))?;
    std::fs::rename(staged, live).map_err(|e| io(live, e))
}

/// The staging directory beside the output; removed (with whatever it holds) when dropped,
/// on every path.
struct Staging {
    path: PathBuf,
    keep: bool,
}

impl Staging {
    /// Creates `.<leaf>.staging-<pid>-<n>` in `parent` (a name no other run uses).
    fn create(parent: &Path, leaf: &str) -> Result<Staging, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for n in 0..100u32 {
            let path = parent.join(format!(
                ".{leaf}.staging-{}-{nanos}-{n}",
                std::process::id()
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Staging { path, keep: false }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Err(format!(
            "{}: cannot make a staging directory",
            parent.display()
        ))
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// The directory was moved into place: nothing to remove.
    fn forget(mut self) {
        self.keep = true;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
