//! The `service` provider: `systemd` (systemctl: running/stopped, enable; under `--root`
//! only enable, through `systemctl --root`) and `command` (`start`, `stop`, `status`,
//! `restart` commands run by `/bin/sh -c`; status exit 0 means running). A refresh restarts
//! a running service (stop + start unless a `restart` command is given and `hasrestart`
//! is not false), unless this run just started it. Under `--root` the commands run only
//! with `--run-host-commands` or `--chroot` (else the service is not run, see `NOT_RUN`).

use std::process::Command;
use std::time::Duration;

use super::{Ctx, Params, Provider};
use crate::apply::error::{Error, ErrorKind};
use crate::apply::{Action, Change, Outcome};
use crate::catalog::json::ResourceDoc;
use crate::sys::command::{self, Cmd};

pub(crate) struct ServiceProvider;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Systemd,
    Command,
}

struct Svc {
    name: String,
    running: Option<bool>,
    enable: Option<bool>,
    kind: Kind,
    start: Option<String>,
    stop: Option<String>,
    status: Option<String>,
    restart: Option<String>,
    hasrestart: bool,
}

const TIMEOUT: Duration = Duration::from_secs(300);

impl Svc {
    fn from(r: &ResourceDoc) -> Result<Svc, Error> {
        let p = Params::new(r);
        let running = match p.str("ensure")?.as_deref() {
            None => None,
            Some("running") | Some("true") => Some(true),
            Some("stopped") | Some("false") => Some(false),
            Some(o) => {
                return Err(Error::bad_catalog(format!(
                    "ensure: unknown value {o:?} (running, stopped)"
                )))
            }
        };
        let (start, stop, status, restart) = (
            p.str("start")?,
            p.str("stop")?,
            p.str("status")?,
            p.str("restart")?,
        );
        let kind = match p.str("provider")?.as_deref() {
            Some("systemd") => Kind::Systemd,
            Some("command") => Kind::Command,
            None if start.is_some() || status.is_some() => Kind::Command,
            None => Kind::Systemd,
            Some(o) => {
                return Err(Error::bad_catalog(format!(
                    "provider: unknown service provider {o:?} (systemd, command)"
                )))
            }
        };
        let enable = if p.has("enable") {
            Some(p.bool("enable", true)?)
        } else {
            None
        };
        if kind == Kind::Command {
            if running.is_some() && status.is_none() {
                return Err("the command provider needs a status command".into());
            }
            if enable.is_some() {
                return Err(
                    "the command provider cannot enable services; drop `enable` or use systemd"
                        .into(),
                );
            }
        }
        Ok(Svc {
            name: p.name("name")?,
            running,
            enable,
            kind,
            hasrestart: p.bool("hasrestart", restart.is_some())?,
            start,
            stop,
            status,
            restart,
        })
    }

    fn shell(&self, cx: &Ctx, script: &str) -> Result<command::Finished, Error> {
        cx.may_run(&format!("service {:?} command {script:?}", self.name))?;
        let cmd = Cmd {
            timeout: Some(TIMEOUT),
            ..command::under_root(cx.root, cx.chroot, script)
        };
        Ok(command::run(&cmd)?)
    }

    fn shell_ok(&self, cx: &Ctx, what: &str, script: &Option<String>) -> Result<(), Error> {
        let Some(s) = script else {
            return Err(Error::bad_catalog(format!(
                "the command provider needs a {what} command"
            )));
        };
        let done = self.shell(cx, s)?;
        if done.success() {
            Ok(())
        } else {
            Err(Error::command(
                done.code,
                done.output.clone(),
                format!("{what} command failed: {}", done.describe()),
            ))
        }
    }

    fn systemctl(&self, cx: &Ctx, args: &[&str]) -> Result<std::process::Output, Error> {
        let mut c = Command::new("systemctl");
        if let Some(d) = cx.root.dir() {
            c.arg(format!("--root={}", d.display()));
        }
        c.args(args)
            .arg(&self.name)
            .stdin(std::process::Stdio::null());
        c.output()
            .map_err(|e| Error::command(None, "", "cannot run systemctl").with_source(e))
    }

    fn systemctl_ok(&self, cx: &Ctx, args: &[&str]) -> Result<(), Error> {
        let out = self.systemctl(cx, args)?;
        if out.status.success() {
            Ok(())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            let message = format!(
                "systemctl {} {} failed: {}",
                args.join(" "),
                self.name,
                err.trim()
            );
            Err(Error::command(out.status.code(), err, message))
        }
    }

    fn is_running(&self, cx: &Ctx) -> Result<bool, Error> {
        match self.kind {
            Kind::Command => {
                let s = self
                    .status
                    .as_deref()
                    .ok_or("the command provider needs a status command")?;
                Ok(self.shell(cx, s)?.success())
            }
            Kind::Systemd => {
                if cx.root.dir().is_some() {
                    return Err(
                        "cannot start or stop services under --root (manage `enable` only)".into(),
                    );
                }
                Ok(self
                    .systemctl(cx, &["is-active", "--quiet"])?
                    .status
                    .success())
            }
        }
    }

    fn set_running(&self, cx: &Ctx, run: bool) -> Result<(), Error> {
        match (self.kind, run) {
            (Kind::Command, true) => self.shell_ok(cx, "start", &self.start),
            (Kind::Command, false) => self.shell_ok(cx, "stop", &self.stop),
            (Kind::Systemd, true) => self.systemctl_ok(cx, &["start"]),
            (Kind::Systemd, false) => self.systemctl_ok(cx, &["stop"]),
        }
    }

    fn is_enabled(&self, cx: &Ctx) -> Result<bool, Error> {
        let out = self.systemctl(cx, &["is-enabled"])?;
        let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(matches!(
            state.as_str(),
            "enabled" | "enabled-runtime" | "alias" | "static" | "indirect" | "generated"
        ))
    }
}

impl Provider for ServiceProvider {
    fn sync(&self, r: &ResourceDoc, cx: &Ctx) -> Result<Outcome, Error> {
        let s = Svc::from(r)?;
        let mut changes = Vec::new();
        if let Some(want) = s.enable {
            let have = s.is_enabled(cx)?;
            if have != want {
                changes.push(Change::new(
                    "enable",
                    have.to_string(),
                    want.to_string(),
                    if want { "enabled" } else { "disabled" },
                ));
                if !cx.noop {
                    s.systemctl_ok(cx, &[if want { "enable" } else { "disable" }])?;
                }
            }
        }
        // Under --root the tree is an image or a container's root: nothing runs in it, so a
        // systemd service's `ensure` is not managed there (only `enable` is).
        let image_root = s.kind == Kind::Systemd && cx.root.dir().is_some();
        if let Some(want) = s.running.filter(|_| !image_root) {
            let have = s.is_running(cx)?;
            if have != want {
                let word = |b: bool| if b { "running" } else { "stopped" }.to_string();
                changes.push(Change::new(
                    "ensure",
                    word(have),
                    word(want),
                    if want { "started" } else { "stopped" },
                ));
                if !cx.noop {
                    s.set_running(cx, want)?;
                }
            }
        }
        Ok(Outcome::new(Action::Change, changes))
    }

    fn refresh(
        &self,
        r: &ResourceDoc,
        cx: &Ctx,
        synced: &Outcome,
    ) -> Result<Option<String>, Error> {
        let s = Svc::from(r)?;
        if s.running == Some(false) || synced.changes.iter().any(|c| c.property == "ensure") {
            // Stopped on purpose, or just (re)started by this run.
            return Ok(None);
        }
        if s.kind == Kind::Systemd && cx.root.dir().is_some() {
            // No systemd manages a root's services (not even with `--chroot`): the restart
            // is never run there, and the plan and report say so.
            return Err(Error::new(
                ErrorKind::NotRun,
                format!(
                    "{}: service {:?} restart (a systemd service is not restarted in a root)",
                    super::NOT_RUN,
                    s.name
                ),
            ));
        }
        cx.may_run(&format!("service {:?} restart", s.name))?;
        if cx.noop {
            return Ok(Some("would restart".into()));
        }
        match s.kind {
            Kind::Command if s.hasrestart && s.restart.is_some() => {
                s.shell_ok(cx, "restart", &s.restart)?
            }
            Kind::Command => {
                if s.status.is_none() || s.is_running(cx)? {
                    s.shell_ok(cx, "stop", &s.stop)?;
                }
                s.shell_ok(cx, "start", &s.start)?;
            }
            Kind::Systemd => s.systemctl_ok(cx, &["restart"])?,
        }
        Ok(Some("restarted".into()))
    }
}
