//! The `package` provider for Debian-family systems: `apt` (default) and `dpkg` (a `.deb`
//! `source`). `ensure`: present/installed, latest, absent, purged, or a version.
//!
//! The current state is read by parsing `var/lib/dpkg/status` directly. Every dpkg and apt
//! call holds one process-wide mutex (dpkg allows one writer per database). Under
//! `--root DIR`: dpkg runs with `--root=DIR --log=DIR/var/log/dpkg.log`, apt with
//! `-o Dir=DIR` (its sources, lists, caches and logs under DIR) and the same two for dpkg
//! through `DPkg::Options`; the provider creates the skeleton
//! dpkg and apt need there when it is missing (`var/lib/dpkg/{status,available,info,
//! updates,triggers}`, `etc/apt/…`, `var/lib/apt/lists`, `var/cache/apt/archives`,
//! `var/log/apt`), but only on a real run. `latest` refreshes the package index once per run
//! (`apt-get update`); under noop that update goes to a temporary lists directory so the
//! machine's own lists stay untouched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use super::{Ctx, Params, Provider};
use crate::apply::error::Error;
use crate::apply::{Action, Change, Outcome};
use crate::catalog::json::ResourceDoc;
use crate::sys::root::Root;

/// dpkg and apt calls, one at a time in this process.
static DPKG: Mutex<()> = Mutex::new(());

#[derive(Default)]
pub(crate) struct PackageProvider {
    /// The lists directory refreshed by `apt-get update` in this run (None: not yet).
    updated: Mutex<Option<Result<Option<PathBuf>, Error>>>,
    /// A temporary directory for noop index refreshes, removed on drop.
    scratch: Mutex<Option<tempdir::Scratch>>,
}

impl PackageProvider {
    pub(crate) fn new() -> PackageProvider {
        PackageProvider::default()
    }
}

mod tempdir {
    //! A directory removed on drop (std only).
    use std::path::PathBuf;

    pub(super) struct Scratch(pub PathBuf);

    impl Scratch {
        pub(super) fn new() -> std::io::Result<Scratch> {
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("fleet-apt-{}-{n}", std::process::id()));
            std::fs::create_dir_all(p.join("lists/partial"))?;
            std::fs::create_dir_all(p.join("cache/archives/partial"))?;
            Ok(Scratch(p))
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ensure {
    Present,
    Latest,
    Absent,
    Purged,
    Version(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Apt,
    Dpkg,
}

/// What dpkg's database says about a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Installed {
    /// Not known, or removed with nothing left.
    No,
    /// Removed, configuration files kept.
    ConfigFiles,
    /// Installed at this version.
    Yes(String),
    /// Half installed/configured, or unpacked: needs to be installed again.
    Broken(String),
}

/// Parses dpkg's `status` file for one package.
pub(crate) fn installed(status: &str, name: &str) -> Installed {
    for para in status.split("\n\n") {
        let mut pkg = None;
        let mut st = None;
        let mut ver = None;
        for line in para.lines() {
            if let Some(v) = line.strip_prefix("Package: ") {
                pkg = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status: ") {
                st = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version: ") {
                ver = Some(v.trim());
            }
        }
        if pkg != Some(name) {
            continue;
        }
        let state = st
            .and_then(|s| s.split_whitespace().nth(2))
            .unwrap_or("not-installed");
        let ver = ver.unwrap_or("").to_string();
        return match state {
            "installed" => Installed::Yes(ver),
            "config-files" => Installed::ConfigFiles,
            "not-installed" => Installed::No,
            _ => Installed::Broken(ver),
        };
    }
    Installed::No
}

fn admin_dir(root: &Root) -> Result<PathBuf, Error> {
    root.resolve("/var/lib/dpkg").map_err(Error::from)
}

fn read_installed(root: &Root, name: &str) -> Result<Installed, Error> {
    let status = admin_dir(root)?.join("status");
    match std::fs::read_to_string(&status) {
        Ok(t) => Ok(installed(&t, name)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Installed::No),
        Err(e) => Err(Error::io(
            format!("cannot read {}", status.display()),
            &status,
            e,
        )),
    }
}

/// Creates what dpkg and apt need under a sandbox root (real runs only).
fn skeleton(root: &Root) -> Result<(), Error> {
    let Some(dir) = root.dir() else { return Ok(()) };
    let io = |e: std::io::Error| {
        format!(
            "cannot prepare the package database under {}: {e}",
            dir.display()
        )
    };
    for d in [
        "/var/lib/dpkg/info",
        "/var/lib/dpkg/updates",
        "/var/lib/dpkg/triggers",
        "/etc/apt/sources.list.d",
        "/etc/apt/apt.conf.d",
        "/etc/apt/preferences.d",
        "/var/lib/apt/lists/partial",
        "/var/cache/apt/archives/partial",
        "/var/log/apt",
    ] {
        std::fs::create_dir_all(root.resolve(d).map_err(Error::from)?).map_err(io)?;
    }
    for f in ["/var/lib/dpkg/status", "/var/lib/dpkg/available"] {
        let p = root.resolve(f).map_err(Error::from)?;
        if !p.exists() {
            std::fs::write(&p, "").map_err(io)?;
        }
    }
    Ok(())
}

/// Runs a program (not through a shell), returning stdout or an error with its output.
fn run(cmd: &mut Command) -> Result<String, Error> {
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(std::process::Stdio::null());
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| Error::command(None, "", format!("cannot run {shown}")).with_source(e))?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        if text.trim().is_empty() {
            text = String::from_utf8_lossy(&out.stdout).into_owned();
        }
        let last: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = last[last.len().saturating_sub(3)..].join(" / ");
        let message = format!(
            "{} failed ({}): {tail}",
            cmd.get_program().to_string_lossy(),
            out.status
        );
        return Err(Error::command(out.status.code(), text, message));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn dpkg(root: &Root) -> Result<Command, Error> {
    let mut c = Command::new("dpkg");
    if let Some(d) = root.dir() {
        c.arg(format!("--root={}", d.display()));
        c.arg(format!("--log={}", dpkg_log(root)?.display()));
    }
    Ok(c)
}

/// dpkg's log under the root. `--root` moves dpkg's database and installation directory
/// but not its log, which stays the host's /var/log/dpkg.log unless given (found by the
/// recovery drill: every package installed into a root was logged on the host). The log is
/// opened for appending, following a symlink: one in its place is refused.
fn dpkg_log(root: &Root) -> Result<PathBuf, Error> {
    let log = root.resolve("/var/log/dpkg.log").map_err(Error::from)?;
    if std::fs::symlink_metadata(&log).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(format!(
            "{} is a symlink: dpkg would append its log wherever it points",
            log.display()
        )
        .into());
    }
    Ok(log)
}

/// An apt program with the options that keep it inside the root; `lists` overrides the
/// lists (and cache) directory for noop refreshes.
fn apt(program: &str, root: &Root, lists: Option<&Path>) -> Result<Command, Error> {
    let mut c = Command::new(program);
    c.arg("-q");
    if let Some(dir) = root.dir() {
        let d = dir.display();
        for o in [
            format!("Dir={d}"),
            format!("Dir::State::status={d}/var/lib/dpkg/status"),
            format!("DPkg::Options::=--root={d}"),
            format!("DPkg::Options::=--log={}", dpkg_log(root)?.display()),
            "Debug::NoLocking=1".into(),
            "APT::Sandbox::User=root".into(),
        ] {
            c.arg("-o").arg(o);
        }
    }
    if let Some(l) = lists {
        let base = l.parent().unwrap_or(l).display().to_string();
        for o in [
            format!("Dir::State::Lists={}", l.display()),
            format!("Dir::Cache={base}/cache"),
            "Dir::Cache::pkgcache=".into(),
            "Dir::Cache::srcpkgcache=".into(),
        ] {
            c.arg("-o").arg(o);
        }
    }
    Ok(c)
}

struct Pkg {
    name: String,
    ensure: Ensure,
    kind: Kind,
    source: Option<PathBuf>,
}

impl Pkg {
    fn from(r: &ResourceDoc, cx: &Ctx) -> Result<Pkg, Error> {
        let p = Params::new(r);
        let ensure = match p.str("ensure")?.as_deref() {
            None | Some("present") | Some("installed") => Ensure::Present,
            Some("latest") => Ensure::Latest,
            Some("absent") => Ensure::Absent,
            Some("purged") => Ensure::Purged,
            Some(v) => Ensure::Version(v.to_string()),
        };
        let kind = match p.str("provider")?.as_deref() {
            None | Some("apt") => Kind::Apt,
            Some("dpkg") => Kind::Dpkg,
            Some(o) => {
                return Err(Error::bad_catalog(format!(
                    "provider: unknown package provider {o:?} (apt, dpkg)"
                )))
            }
        };
        let source = p
            .str("source")?
            .map(|s| cx.root.resolve(&s).map_err(|e| Error::io("source", "", e)))
            .transpose()?;
        if kind == Kind::Dpkg
            && source.is_none()
            && matches!(
                ensure,
                Ensure::Present | Ensure::Latest | Ensure::Version(_)
            )
        {
            return Err("the dpkg provider needs a source (.deb path) to install from".into());
        }
        Ok(Pkg {
            name: p.name("name")?,
            ensure,
            kind,
            source,
        })
    }
}

impl PackageProvider {
    /// Refreshes the apt index once per run; returns the lists directory to read (None: the
    /// root's own).
    fn update(&self, cx: &Ctx) -> Result<Option<PathBuf>, Error> {
        let mut done = self.updated.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = done.as_ref() {
            return r.clone();
        }
        let result = (|| {
            let _dpkg = DPKG.lock().unwrap_or_else(|e| e.into_inner());
            if cx.noop {
                let s = tempdir::Scratch::new()
                    .map_err(|e| Error::io("cannot make a scratch directory", "", e))?;
                let lists = s.0.join("lists");
                run(apt("apt-get", cx.root, Some(&lists))?.arg("update"))?;
                *self.scratch.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
                Ok(Some(lists))
            } else {
                skeleton(cx.root)?;
                run(apt("apt-get", cx.root, None)?.arg("update"))?;
                Ok(None)
            }
        })();
        *done = Some(result.clone());
        result
    }

    /// The version `latest` means: apt's candidate, or the `.deb`'s own version.
    fn candidate(&self, pkg: &Pkg, cx: &Ctx) -> Result<String, Error> {
        if let (Kind::Dpkg, Some(src)) = (pkg.kind, &pkg.source) {
            let out = run(Command::new("dpkg-deb").arg("-f").arg(src).arg("Version"))?;
            return Ok(out.trim().to_string());
        }
        let lists = self.update(cx)?;
        let _dpkg = DPKG.lock().unwrap_or_else(|e| e.into_inner());
        let out = run(apt("apt-cache", cx.root, lists.as_deref())?
            .arg("policy")
            .arg(&pkg.name))?;
        let cand = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("Candidate:"))
            .map(|v| v.trim().to_string());
        match cand {
            Some(v) if v != "(none)" && !v.is_empty() => Ok(v),
            _ => Err(Error::not_found(format!(
                "package {} is not available from any configured source",
                pkg.name
            ))),
        }
    }

    fn install(&self, pkg: &Pkg, version: Option<&str>, cx: &Ctx) -> Result<(), Error> {
        if let (Kind::Dpkg, Some(src)) = (pkg.kind, &pkg.source) {
            let _dpkg = DPKG.lock().unwrap_or_else(|e| e.into_inner());
            skeleton(cx.root)?;
            if let Some(v) = version {
                let have = run(Command::new("dpkg-deb").arg("-f").arg(src).arg("Version"))?;
                if have.trim() != v {
                    return Err(Error::refused(format!(
                        "{} holds version {}, not {v}",
                        src.display(),
                        have.trim()
                    )));
                }
            }
            return run(dpkg(cx.root)?.arg("-i").arg(src)).map(drop);
        }
        let spec = match version {
            Some(v) => format!("{}={v}", pkg.name),
            None => pkg.name.clone(),
        };
        let attempt = || {
            let _dpkg = DPKG.lock().unwrap_or_else(|e| e.into_inner());
            skeleton(cx.root)?;
            let mut c = apt("apt-get", cx.root, None)?;
            c.args([
                "-y",
                "--allow-downgrades",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
                "install",
            ])
            .arg(&spec);
            run(&mut c).map(drop)
        };
        match attempt() {
            // The index may be stale or never fetched (a fresh root): refresh (once per run,
            // whichever resource gets there first) and retry once.
            Err(e)
                if e.to_string().contains("Unable to locate")
                    || e.to_string().contains("was not found") =>
            {
                self.update(cx)?;
                attempt()
            }
            other => other,
        }
    }

    fn remove(&self, pkg: &Pkg, purge: bool, cx: &Ctx) -> Result<(), Error> {
        let _dpkg = DPKG.lock().unwrap_or_else(|e| e.into_inner());
        match pkg.kind {
            Kind::Dpkg => run(dpkg(cx.root)?
                .arg(if purge { "--purge" } else { "--remove" })
                .arg(&pkg.name))
            .map(drop),
            Kind::Apt => {
                skeleton(cx.root)?;
                run(apt("apt-get", cx.root, None)?
                    .arg("-y")
                    .arg(if purge { "purge" } else { "remove" })
                    .arg(&pkg.name))
                .map(drop)
            }
        }
    }
}

impl Provider for PackageProvider {
    fn sync(&self, r: &ResourceDoc, cx: &Ctx) -> Result<Outcome, Error> {
        let pkg = Pkg::from(r, cx)?;
        let have = read_installed(cx.root, &pkg.name)?;
        let have_str = match &have {
            Installed::No => "absent".to_string(),
            Installed::ConfigFiles => "config-files".to_string(),
            Installed::Yes(v) => v.clone(),
            Installed::Broken(v) => format!("{v} (half-installed)"),
        };
        // The version to install (Some(None): any), or removal.
        let (action, install, remove): (Action, Option<Option<String>>, Option<bool>) =
            match (&pkg.ensure, &have) {
                (Ensure::Present, Installed::Yes(_)) => return Ok(Outcome::unchanged()),
                (Ensure::Present, _) => (Action::Create, Some(None), None),
                (Ensure::Version(v), Installed::Yes(h)) if h == v => {
                    return Ok(Outcome::unchanged())
                }
                (Ensure::Version(v), _) => (Action::Create, Some(Some(v.clone())), None),
                (Ensure::Latest, _) => match self.candidate(&pkg, cx) {
                    Ok(cand) if have == Installed::Yes(cand.clone()) => {
                        return Ok(Outcome::unchanged())
                    }
                    Ok(cand) => (Action::Create, Some(Some(cand)), None),
                    // A dry run into a fresh root, whose apt knows no source yet: it would
                    // install whatever version the sources offer when it really runs.
                    Err(_) if cx.noop && have == Installed::No => {
                        (Action::Create, Some(None), None)
                    }
                    Err(e) => return Err(e),
                },
                (Ensure::Absent, Installed::No | Installed::ConfigFiles) => {
                    return Ok(Outcome::unchanged())
                }
                (Ensure::Absent, _) => (Action::Remove, None, Some(false)),
                (Ensure::Purged, Installed::No) => return Ok(Outcome::unchanged()),
                (Ensure::Purged, _) => (Action::Remove, None, Some(true)),
            };
        let action = match (action, &have) {
            (Action::Create, Installed::Yes(_)) => Action::Change,
            (a, _) => a,
        };
        let (to, msg) = match (&install, remove) {
            (Some(Some(v)), _) => (v.clone(), format!("{} installed at {v}", pkg.name)),
            (Some(None), _) => ("present".to_string(), format!("{} installed", pkg.name)),
            (None, Some(true)) => ("purged".to_string(), format!("{} purged", pkg.name)),
            _ => ("absent".to_string(), format!("{} removed", pkg.name)),
        };
        let out = Outcome::new(action, vec![Change::new("ensure", have_str, to, msg)]);
        if !cx.noop {
            if let Some(v) = install {
                self.install(&pkg, v.as_deref(), cx)?;
            }
            if let Some(purge) = remove {
                self.remove(&pkg, purge, cx)?;
            }
            // Trust, but verify: the database must now say what was asked.
            let now = read_installed(cx.root, &pkg.name)?;
            let ok = match (&pkg.ensure, &now) {
                (Ensure::Present, Installed::Yes(_)) => true,
                (Ensure::Version(v), Installed::Yes(h)) => h == v,
                (Ensure::Latest, Installed::Yes(_)) => true,
                (Ensure::Absent, Installed::No | Installed::ConfigFiles) => true,
                (Ensure::Purged, Installed::No) => true,
                _ => false,
            };
            if !ok {
                return Err(Error::from(format!(
                    "{} is {now:?} after the change",
                    pkg.name
                )));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parsing() {
        let s = "Package: a\nStatus: install ok installed\nVersion: 1.2-3\n\nPackage: b\nStatus: deinstall ok config-files\nVersion: 2\n\nPackage: c\nStatus: install reinstreq half-installed\nVersion: 3\n";
        assert_eq!(installed(s, "a"), Installed::Yes("1.2-3".into()));
        assert_eq!(installed(s, "b"), Installed::ConfigFiles);
        assert_eq!(installed(s, "c"), Installed::Broken("3".into()));
        assert_eq!(installed(s, "d"), Installed::No);
    }
}
