//! The release unpacker (`fleet::internals::release::unpack`) on arbitrary bytes (tar, or gzip'd tar when
//! they start with the gzip magic), into a fresh directory `dest` inside a box that also
//! holds a canary file. Whether it succeeds or refuses, afterwards:
//! - the box holds exactly `dest` and the unchanged canary (nothing written beside `dest`);
//! - every symlink under `dest` resolves inside `dest` (or dangles inside it);
//! - every regular file's hard links are all under `dest` (its link count equals the names
//!   it has there), so no file outside was linked in.
#![no_main]

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const CANARY: &[u8] = b"outside the release directory\n";

fn sandbox() -> &'static Path {
    static BOX: OnceLock<tempfile::TempDir> = OnceLock::new();
    BOX.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a scratch directory");
        fs::write(dir.path().join("canary"), CANARY).unwrap();
        dir
    })
    .path()
}

/// Makes every directory under `dir` writable again (modes from the archive) and removes it.
fn clear(dir: &Path) {
    fn writable(dir: &Path) {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    writable(&e.path());
                }
            }
        }
    }
    if fs::symlink_metadata(dir).is_ok() {
        writable(dir);
        fs::remove_dir_all(dir).expect("remove the last run's release directory");
    }
}

/// `link`'s target joined to its folder, `..` applied by text; `None` once it climbs above
/// `dest` or is absolute.
fn lexical_target(dest: &Path, link: &Path, target: &Path) -> Option<PathBuf> {
    let mut out: Vec<Component> = link
        .parent()?
        .strip_prefix(dest)
        .ok()?
        .components()
        .collect();
    for c in target.components() {
        match c {
            Component::Normal(_) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}

fn walk(dest: &Path, real_dest: &Path, dir: &Path, names: &mut HashMap<(u64, u64), (u64, usize)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).unwrap();
            assert!(
                lexical_target(dest, &path, &target).is_some(),
                "symlink {} -> {} leaves the release directory",
                path.display(),
                target.display()
            );
            if let Ok(real) = fs::canonicalize(&path) {
                assert!(
                    real.starts_with(real_dest),
                    "symlink {} resolves to {} outside the release directory",
                    path.display(),
                    real.display()
                );
            }
        } else if meta.is_dir() {
            walk(dest, real_dest, &path, names);
        } else if meta.is_file() {
            names
                .entry((meta.dev(), meta.ino()))
                .or_insert((meta.nlink(), 0))
                .1 += 1;
        } else {
            panic!("{} is neither file, folder nor symlink", path.display());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let sandbox = sandbox();
    let dest = sandbox.join("dest");
    clear(&dest);
    fs::create_dir(&dest).unwrap();
    // Small caps, so that a bomb is refused quickly instead of filling the disk.
    let limits = fleet::internals::release::Limits {
        max_bytes: 64 << 20,
        max_files: 10_000,
    };
    let _ = fleet::internals::release::unpack(data, &dest, &limits);

    let mut beside: Vec<String> = fs::read_dir(sandbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(
        beside,
        ["canary", "dest"],
        "something was written beside the release"
    );
    assert_eq!(
        fs::read(sandbox.join("canary")).unwrap(),
        CANARY,
        "the canary changed"
    );
    assert!(
        fs::symlink_metadata(&dest).unwrap().is_dir(),
        "the release directory was replaced"
    );

    let real_dest = fs::canonicalize(&dest).unwrap();
    let mut names = HashMap::new();
    walk(&dest, &real_dest, &dest, &mut names);
    for ((_, ino), (nlink, seen)) in names {
        assert_eq!(
            nlink, seen as u64,
            "inode {ino} has {nlink} links but only {seen} names in the release"
        );
    }
});
