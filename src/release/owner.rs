//! `owner`/`group`: names resolved through `etc/passwd` and `etc/group` (under the root when
//! there is one), applied to a tree without following symlinks.

use std::fs;
use std::os::unix::fs::lchown;
use std::path::Path;

use super::spec::Id;
use super::Error;

/// The uid and gid to give new release files, `None` where the spec leaves them alone.
pub(crate) fn resolve(
    owner: Option<&Id>,
    group: Option<&Id>,
    root: Option<&Path>,
) -> Result<(Option<u32>, Option<u32>), Error> {
    let etc = root.unwrap_or(Path::new("/")).join("etc");
    let uid = owner
        .map(|id| lookup(id, &etc.join("passwd"), "user"))
        .transpose()?;
    let gid = group
        .map(|id| lookup(id, &etc.join("group"), "group"))
        .transpose()?;
    Ok((uid, gid))
}

fn lookup(id: &Id, file: &Path, what: &str) -> Result<u32, Error> {
    let name = match id {
        Id::Num(n) => return Ok(*n),
        Id::Name(name) => name,
    };
    let text = fs::read_to_string(file).map_err(Error::io(format!("read {}", file.display())))?;
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let n = fields.next()?;
            let num = fields.nth(1)?.parse::<u32>().ok()?;
            (n == name).then_some(num)
        })
        .next()
        .ok_or_else(|| Error::Spec(format!("no {what} {name:?} in {}", file.display())))
}

/// Sets owner and group of `path` and, if it is a real directory, everything under it.
pub(crate) fn chown_tree(path: &Path, uid: Option<u32>, gid: Option<u32>) -> Result<(), Error> {
    if uid.is_none() && gid.is_none() {
        return Ok(());
    }
    lchown(path, uid, gid).map_err(Error::io(format!("chown {}", path.display())))?;
    let meta = fs::symlink_metadata(path).map_err(Error::io(format!("stat {}", path.display())))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(Error::io(format!("read {}", path.display())))? {
            let entry = entry.map_err(Error::io(format!("read {}", path.display())))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("etc")).unwrap();
        fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\ndeploy:x:1500:1500::/home/deploy:/bin/sh\n",
        )
        .unwrap();
        fs::write(dir.path().join("etc/group"), "root:x:0:\nwww:x:33:\n").unwrap();
        let got = resolve(
            Some(&Id::Name("deploy".into())),
            Some(&Id::Name("www".into())),
            Some(dir.path()),
        );
        assert_eq!(got.unwrap(), (Some(1500), Some(33)));
        assert_eq!(
            resolve(Some(&Id::Num(7)), None, Some(dir.path())).unwrap(),
            (Some(7), None)
        );
        assert!(resolve(Some(&Id::Name("nobody9".into())), None, Some(dir.path())).is_err());
    }
}
