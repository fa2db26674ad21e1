//! Reads `/etc/passwd`, `/etc/group` and `/etc/shadow` under the root, and resolves owner and
//! group names to ids (cached, re-read when a name is missing: a run may have just made it).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::apply::error::Error;
use crate::model::fxhash::{FxHashMap, FxHashSet};
use crate::sys::root::Root;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub comment: String,
    pub home: String,
    pub shell: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

fn read_etc(root: &Root, file: &str) -> Result<String, Error> {
    let path = root.resolve(&format!("/etc/{file}")).map_err(Error::from)?;
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Error::io(
            format!("cannot read {}", path.display()),
            &path,
            e,
        )),
    }
}

/// Whether `useradd` makes a group of the user's name when it is given no group
/// (`USERGROUPS_ENAB yes` in the root's `/etc/login.defs`, as Debian ships it).
pub(crate) fn user_groups(root: &Root) -> bool {
    read_etc(root, "login.defs").is_ok_and(|t| {
        t.lines().any(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some("USERGROUPS_ENAB")
                && w.next().is_some_and(|v| v.eq_ignore_ascii_case("yes"))
        })
    })
}

pub(crate) fn passwd(root: &Root) -> Result<Vec<PasswdEntry>, Error> {
    Ok(read_etc(root, "passwd")?
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                comment: f[4].to_string(),
                home: f[5].to_string(),
                shell: f[6].to_string(),
            })
        })
        .collect())
}

pub(crate) fn group(root: &Root) -> Result<Vec<GroupEntry>, Error> {
    Ok(read_etc(root, "group")?
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })
        .collect())
}

/// The password hash field of `/etc/shadow` by user name.
pub(crate) fn shadow(root: &Root) -> Result<HashMap<String, String>, Error> {
    Ok(read_etc(root, "shadow")?
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect())
}

/// Name -> id lookups for file owners, cached per run.
#[derive(Debug, Default)]
pub struct Ids {
    users: Mutex<Option<FxHashMap<String, u32>>>,
    groups: Mutex<Option<FxHashMap<String, u32>>>,
    uid_names: Mutex<Option<FxHashMap<u32, String>>>,
    gid_names: Mutex<Option<FxHashMap<u32, String>>>,
    /// Users and groups the catalog creates (known by name to a noop run before they exist).
    planned_users: FxHashSet<String>,
    planned_groups: FxHashSet<String>,
}

impl Ids {
    pub fn new() -> Ids {
        Ids::default()
    }

    /// Lookups that also know the users and groups this run's catalog manages (present),
    /// for [`Ids::creates_user`] and [`Ids::creates_group`].
    pub fn planning(users: FxHashSet<String>, groups: FxHashSet<String>) -> Ids {
        Ids {
            planned_users: users,
            planned_groups: groups,
            ..Ids::default()
        }
    }

    /// Whether the catalog creates (manages as present) the user `name`.
    pub fn creates_user(&self, name: &str) -> bool {
        self.planned_users.contains(name)
    }

    /// Whether the catalog creates the group `name` (a managed group, or the group of the
    /// same name that `useradd` makes for a managed user without `gid`, see [`user_groups`]).
    pub fn creates_group(&self, name: &str) -> bool {
        self.planned_groups.contains(name)
    }

    /// A uid for a user name or a numeric string.
    pub fn uid(&self, root: &Root, name: &str) -> Result<u32, Error> {
        if let Ok(n) = name.parse() {
            return Ok(n);
        }
        lookup(&self.users, name, || {
            Ok(passwd(root)?.into_iter().map(|e| (e.name, e.uid)).collect())
        })
        .or(superuser(name))
        .ok_or_else(|| Error::not_found(format!("no such user: {name}")))
    }

    /// A gid for a group name or a numeric string.
    pub fn gid(&self, root: &Root, name: &str) -> Result<u32, Error> {
        if let Ok(n) = name.parse() {
            return Ok(n);
        }
        lookup(&self.groups, name, || {
            Ok(group(root)?.into_iter().map(|e| (e.name, e.gid)).collect())
        })
        .or(superuser(name))
        .ok_or_else(|| Error::not_found(format!("no such group: {name}")))
    }

    /// The user name for a uid (the number itself when unknown), for messages.
    pub fn user_name(&self, root: &Root, uid: u32) -> String {
        lookup(&self.uid_names, &uid, || {
            Ok(passwd(root)?.into_iter().map(|e| (e.uid, e.name)).collect())
        })
        .unwrap_or_else(|| uid.to_string())
    }

    pub fn group_name(&self, root: &Root, gid: u32) -> String {
        lookup(&self.gid_names, &gid, || {
            Ok(group(root)?.into_iter().map(|e| (e.gid, e.name)).collect())
        })
        .unwrap_or_else(|| gid.to_string())
    }
}

/// `root` is user and group 0 on every Linux system, also in a root whose passwd or group
/// does not list it yet (an empty image root, before base-passwd): a file owned by `root`
/// can be written there, and a dry run of a whole node into an empty root plans it.
fn superuser(name: &str) -> Option<u32> {
    (name == "root").then_some(0)
}

/// Looks `key` up in a lazily loaded map, reloading it once when the key is missing.
fn lookup<K, Q, V>(
    cache: &Mutex<Option<FxHashMap<K, V>>>,
    key: &Q,
    load: impl Fn() -> Result<FxHashMap<K, V>, Error>,
) -> Option<V>
where
    K: std::hash::Hash + Eq + std::borrow::Borrow<Q>,
    Q: std::hash::Hash + Eq + ?Sized,
    V: Clone,
{
    let mut guard = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = guard.as_ref().and_then(|m| m.get(key)) {
        return Some(v.clone());
    }
    let fresh = load().ok()?;
    let v = fresh.get(key).cloned();
    *guard = Some(fresh);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::error::ErrorKind;

    #[test]
    fn an_unreadable_passwd_is_an_io_error_at_its_path_with_its_source() {
        use std::error::Error as _;
        let tmp = tempfile::tempdir().unwrap();
        // `/etc/passwd` is a directory in this root: reading it fails (EISDIR).
        std::fs::create_dir_all(tmp.path().join("etc/passwd")).unwrap();
        let root = Root::new(tmp.path()).unwrap();
        let e = passwd(&root).map(drop).unwrap_err();
        let ErrorKind::Io { path } = e.kind() else {
            panic!("not an I/O error: {:?}", e.kind());
        };
        assert!(path.ends_with("etc/passwd"), "{}", path.display());
        let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        let io = io.expect("the io::Error is the source");
        assert_eq!(io.kind(), std::io::ErrorKind::IsADirectory);
        // The text users see is unchanged: `cannot read PATH: <the io::Error>`.
        assert_eq!(
            e.to_string(),
            format!("cannot read {}: {io}", path.display())
        );
    }

    #[test]
    fn root_is_user_and_group_0_in_a_root_without_passwd() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path()).unwrap();
        let ids = Ids::new();
        assert_eq!(ids.uid(&root, "root").unwrap(), 0);
        assert_eq!(ids.gid(&root, "root").unwrap(), 0);
        assert!(ids.uid(&root, "www-data").is_err());
        // A passwd that names root otherwise is believed.
        std::fs::create_dir_all(tmp.path().join("etc")).unwrap();
        std::fs::write(
            tmp.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n",
        )
        .unwrap();
        assert_eq!(Ids::new().uid(&root, "www-data").unwrap(), 33);
    }
}
