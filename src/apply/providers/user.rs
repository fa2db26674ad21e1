//! The `user` and `group` providers: `useradd`/`usermod`/`userdel` and `groupadd`/
//! `groupmod`/`groupdel` (with `--prefix DIR` under a sandbox root); the current state is
//! read by parsing `etc/passwd`, `etc/group` and `etc/shadow`. The tools lock those files,
//! so calls are serialised in this process. Under a root, minimal `etc/{passwd,group,shadow,
//! gshadow}` (just `root`) are created when missing, on real runs only.
//!
//! Password hashes never go on a command line (any process can read another's argv in
//! `ps`): `useradd`/`usermod` run without `-p`, then `chpasswd -e` (with `--root DIR` under
//! a root; it has no `--prefix`) reads `name:hash` on standard input.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Mutex;

use super::etc::{self, GroupEntry, PasswdEntry};
use super::{Ctx, Params, Provider};
use crate::apply::error::Error;
use crate::apply::{Action, Change, Outcome};
use crate::catalog::json::ResourceDoc;
use crate::sys::root::Root;

static ACCOUNTS: Mutex<()> = Mutex::new(());

pub(crate) struct UserProvider;
pub(crate) struct GroupProvider;

/// Creates the account files a sandbox root lacks.
fn skeleton(root: &Root) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    if root.dir().is_none() {
        return Ok(());
    }
    let files = [
        ("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644),
        ("/etc/group", "root:x:0:\n", 0o644),
        ("/etc/shadow", "root:*::0:99999:7:::\n", 0o640),
        ("/etc/gshadow", "root:*::\n", 0o640),
    ];
    for (path, text, mode) in files {
        let p = root.resolve(path).map_err(Error::from)?;
        if p.exists() {
            continue;
        }
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("cannot create {}", dir.display()), dir, e))?;
        }
        std::fs::write(&p, text)
            .map_err(|e| Error::io(format!("cannot create {}", p.display()), &p, e))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).map_err(Error::from)?;
    }
    Ok(())
}

/// Creates or removes a user or group with `program` (unless noop), reporting the change of
/// `ensure`.
fn account_ensure(
    cx: &Ctx,
    kind: &str,
    name: &str,
    create: bool,
    program: &str,
    args: &[String],
) -> Result<Outcome, Error> {
    let (action, from, to, verb) = if create {
        (Action::Create, "absent", "present", "created")
    } else {
        (Action::Remove, "present", "absent", "removed")
    };
    let out = Outcome::new(
        action,
        vec![Change::new(
            "ensure",
            from.to_string(),
            to.to_string(),
            format!("{kind} {name} {verb}"),
        )],
    );
    if !cx.noop {
        tool(cx.root, program, args)?;
    }
    Ok(out)
}

/// Runs a shadow-utils tool (with `--prefix` under a root) with nothing on standard input.
fn tool(root: &Root, program: &str, args: &[String]) -> Result<(), Error> {
    let _g = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
    skeleton(root)?;
    let mut c = Command::new(program);
    if let Some(d) = root.dir() {
        c.arg("--prefix").arg(d);
    }
    c.args(args).stdin(std::process::Stdio::null());
    let out = c
        .output()
        .map_err(|e| Error::command(None, "", format!("cannot run {program}")).with_source(e))?;
    finished(program, &out)
}

/// Sets `user`'s password hash with `chpasswd -e`, the hash on standard input.
fn set_password(root: &Root, user: &str, hash: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::process::Stdio;
    let _g = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Command::new("chpasswd");
    c.arg("-e");
    if let Some(d) = root.dir() {
        c.arg("--root").arg(d);
    }
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| Error::command(None, "", "cannot run chpasswd").with_source(e))?;
    let line = format!("{user}:{hash}\n");
    let written = child
        .stdin
        .take()
        .map(|mut i| i.write_all(line.as_bytes()))
        .unwrap_or(Ok(()));
    let out = child
        .wait_with_output()
        .map_err(|e| Error::command(None, "", "chpasswd").with_source(e))?;
    finished("chpasswd", &out)?;
    written.map_err(|e| Error::command(None, "", "cannot write to chpasswd").with_source(e))
}

/// A password hash that `chpasswd` and `etc/shadow` can hold: one line, no `:`.
fn check_hash(hash: &str) -> Result<(), Error> {
    if hash.contains([':', '\n', '\r', '\0']) {
        return Err(Error::bad_catalog(
            "password: a crypt hash cannot contain ':' or a line break",
        ));
    }
    Ok(())
}

/// An error naming `program` and its standard error unless it succeeded.
fn finished(program: &str, out: &std::process::Output) -> Result<(), Error> {
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let message = format!(
            "{program} failed ({}): {}",
            out.status,
            err.trim().replace('\n', " / ")
        );
        return Err(Error::command(out.status.code(), err, message));
    }
    Ok(())
}

fn present(p: &Params) -> Result<bool, Error> {
    match p.str("ensure")?.as_deref() {
        None | Some("present") => Ok(true),
        Some("absent") => Ok(false),
        Some(o) => Err(Error::bad_catalog(format!(
            "ensure: unknown value {o:?} (present, absent)"
        ))),
    }
}

fn join(v: &BTreeSet<String>) -> String {
    v.iter().cloned().collect::<Vec<_>>().join(",")
}

impl Provider for UserProvider {
    fn sync(&self, r: &ResourceDoc, cx: &Ctx) -> Result<Outcome, Error> {
        let p = Params::new(r);
        let name = p.name("name")?;
        let want_present = present(&p)?;
        let users = etc::passwd(cx.root)?;
        let groups = etc::group(cx.root)?;
        let cur = users.iter().find(|u| u.name == name);
        let managehome = p.bool("managehome", false)?;
        match (want_present, cur) {
            (false, None) => Ok(Outcome::unchanged()),
            (false, Some(_)) => {
                let mut args = Vec::new();
                if managehome {
                    args.push("-r".to_string());
                }
                args.push(name.clone());
                account_ensure(cx, "user", &name, false, "userdel", &args)
            }
            (true, None) => {
                let mut args = Vec::new();
                if let Some(uid) = p.str("uid")? {
                    args.extend(["-u".into(), uid]);
                }
                if let Some(gid) = p.str("gid")? {
                    args.extend(["-g".into(), gid]);
                }
                if let Some(g) = p.strings("groups")? {
                    if !g.is_empty() {
                        args.extend(["-G".into(), g.join(",")]);
                    }
                }
                for (attr, flag) in [("home", "-d"), ("shell", "-s"), ("comment", "-c")] {
                    if let Some(v) = p.str(attr)? {
                        args.extend([flag.into(), v]);
                    }
                }
                let password = p.str("password")?;
                if let Some(pw) = &password {
                    check_hash(pw)?;
                }
                args.push(if managehome { "-m" } else { "-M" }.into());
                if p.bool("system", false)? {
                    args.push("-r".into());
                }
                args.push(name.clone());
                let out = account_ensure(cx, "user", &name, true, "useradd", &args)?;
                if let (Some(pw), false) = (&password, cx.noop) {
                    set_password(cx.root, &name, pw)?;
                }
                Ok(out)
            }
            (true, Some(u)) => modify_user(&p, u, &groups, cx, managehome),
        }
    }
}

fn modify_user(
    p: &Params,
    u: &PasswdEntry,
    groups: &[GroupEntry],
    cx: &Ctx,
    managehome: bool,
) -> Result<Outcome, Error> {
    let mut changes = Vec::new();
    let mut args: Vec<String> = Vec::new();
    if let Some(uid) = p.int("uid")? {
        if uid != u.uid as i64 {
            changes.push(Change::new(
                "uid",
                u.uid.to_string(),
                uid.to_string(),
                format!("uid changed {} to {uid}", u.uid),
            ));
            args.extend(["-u".into(), uid.to_string()]);
        }
    }
    if let Some(gid) = p.str("gid")? {
        let want = match gid.parse::<u32>() {
            Ok(n) => Some(n),
            // A group the run is about to create may not exist yet under noop.
            Err(_) => groups.iter().find(|g| g.name == gid).map(|g| g.gid),
        };
        if want != Some(u.gid) {
            let have = groups
                .iter()
                .find(|g| g.gid == u.gid)
                .map(|g| g.name.clone())
                .unwrap_or(u.gid.to_string());
            changes.push(Change::new(
                "gid",
                have.clone(),
                gid.clone(),
                format!("primary group changed {have} to {gid}"),
            ));
            args.extend(["-g".into(), gid]);
        }
    }
    if let Some(want) = p.strings("groups")? {
        let want: BTreeSet<String> = want.into_iter().collect();
        let have: BTreeSet<String> = groups
            .iter()
            .filter(|g| g.members.contains(&u.name))
            .map(|g| g.name.clone())
            .collect();
        if want != have {
            changes.push(Change::new(
                "groups",
                join(&have),
                join(&want),
                "supplementary groups changed",
            ));
            args.extend(["-G".into(), join(&want)]);
        }
    }
    for (attr, flag, have) in [
        ("home", "-d", &u.home),
        ("shell", "-s", &u.shell),
        ("comment", "-c", &u.comment),
    ] {
        if let Some(v) = p.str(attr)? {
            if v != *have {
                changes.push(Change::new(
                    attr,
                    have.clone(),
                    v.clone(),
                    format!("{attr} changed {have:?} to {v:?}"),
                ));
                args.extend([flag.into(), v]);
                if attr == "home" && managehome {
                    args.push("-m".into());
                }
            }
        }
    }
    let mut password = None;
    if let Some(pw) = p.str("password")? {
        check_hash(&pw)?;
        let shadow = etc::shadow(cx.root)?;
        if shadow.get(&u.name) != Some(&pw) {
            // Hashes are secrets too: never in reports.
            changes.push(Change::new(
                "password",
                "[redacted]".to_string(),
                "[redacted]".to_string(),
                "password changed",
            ));
            password = Some(pw);
        }
    }
    if !args.is_empty() && !cx.noop {
        args.push(u.name.clone());
        tool(cx.root, "usermod", &args)?;
    }
    if let (Some(pw), false) = (&password, cx.noop) {
        set_password(cx.root, &u.name, pw)?;
    }
    Ok(Outcome::new(Action::Change, changes))
}

impl Provider for GroupProvider {
    fn sync(&self, r: &ResourceDoc, cx: &Ctx) -> Result<Outcome, Error> {
        let p = Params::new(r);
        let name = p.name("name")?;
        let groups = etc::group(cx.root)?;
        let cur = groups.iter().find(|g| g.name == name);
        let members: Option<BTreeSet<String>> =
            p.strings("members")?.map(|m| m.into_iter().collect());
        match (present(&p)?, cur) {
            (false, None) => Ok(Outcome::unchanged()),
            (false, Some(_)) => account_ensure(
                cx,
                "group",
                &name,
                false,
                "groupdel",
                std::slice::from_ref(&name),
            ),
            (true, None) => {
                let mut args = Vec::new();
                if let Some(gid) = p.int("gid")? {
                    args.extend(["-g".into(), gid.to_string()]);
                }
                if p.bool("system", false)? {
                    args.push("-r".into());
                }
                if let Some(m) = members.as_ref().filter(|m| !m.is_empty()) {
                    args.extend(["-U".into(), join(m)]);
                }
                args.push(name.clone());
                account_ensure(cx, "group", &name, true, "groupadd", &args)
            }
            (true, Some(g)) => {
                let mut changes = Vec::new();
                let mut args: Vec<String> = Vec::new();
                if let Some(gid) = p.int("gid")? {
                    if gid != g.gid as i64 {
                        changes.push(Change::new(
                            "gid",
                            g.gid.to_string(),
                            gid.to_string(),
                            format!("gid changed {} to {gid}", g.gid),
                        ));
                        args.extend(["-g".into(), gid.to_string()]);
                    }
                }
                if let Some(want) = &members {
                    let have: BTreeSet<String> = g.members.iter().cloned().collect();
                    if *want != have {
                        changes.push(Change::new(
                            "members",
                            join(&have),
                            join(want),
                            "members changed",
                        ));
                        args.extend(["-U".into(), join(want)]);
                    }
                }
                if !changes.is_empty() && !cx.noop {
                    args.push(name);
                    tool(cx.root, "groupmod", &args)?;
                }
                Ok(Outcome::new(Action::Change, changes))
            }
        }
    }
}
