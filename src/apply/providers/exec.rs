//! The `exec` provider: runs a command unless `creates` exists, `onlyif` fails or `unless`
//! succeeds; `refreshonly` commands run only on refresh. Guards run under noop too (they
//! must only read); the command itself does not.

use std::time::Duration;

use serde_json::Value;

use super::{Ctx, Params, Provider};
use crate::apply::error::Error;
use crate::apply::{Action, Change, Outcome};
use crate::catalog::json::ResourceDoc;
use crate::sys::command::{self, Cmd};

pub(crate) struct ExecProvider;

struct Exec {
    command: String,
    creates: Option<String>,
    onlyif: Option<String>,
    unless: Option<String>,
    refreshonly: bool,
    base: Cmd,
    returns: Vec<i32>,
}

impl Exec {
    fn from(r: &ResourceDoc, cx: &Ctx) -> Result<Exec, Error> {
        let p = Params::new(r);
        let mut base = command::under_root(cx.root, cx.chroot, "");
        if let Some(cwd) = p.str("cwd")? {
            base.cwd = Some(command::map_cwd(cx.root, cx.chroot, &cwd)?);
        }
        match p.raw("environment") {
            None => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    base.env.push((k.clone(), v));
                }
            }
            Some(_) => {
                for kv in p.strings("environment")?.unwrap_or_default() {
                    let (k, v) = kv.split_once('=').ok_or_else(|| {
                        Error::bad_catalog(format!("environment: {kv:?} is not NAME=VALUE"))
                    })?;
                    base.env.push((k.to_string(), v.to_string()));
                }
            }
        }
        base.path = p.strings("path")?;
        if let Some(user) = p.str("user")?.filter(|_| cx.may_run("").is_ok()) {
            // Inside a chroot the user is the root's own.
            let host = crate::sys::root::Root::host();
            base.uid_gid = Some(host_user(&user, if cx.chroot { cx.root } else { &host })?);
        }
        let timeout = p.int("timeout")?.unwrap_or(300);
        if timeout > 0 {
            base.timeout = Some(Duration::from_secs(timeout as u64));
        }
        let returns = match p.raw("returns") {
            None => vec![0],
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_i64().map(|n| n as i32).ok_or_else(|| {
                        Error::bad_catalog(format!("returns: {v} is not an integer"))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => vec![p.int("returns")?.unwrap_or(0) as i32],
        };
        if returns.is_empty() {
            return Err("returns: an empty list accepts no exit code".into());
        }
        Ok(Exec {
            command: p.name("command")?,
            creates: p.str("creates")?,
            onlyif: p.str("onlyif")?,
            unless: p.str("unless")?,
            refreshonly: p.bool("refreshonly", false)?,
            base,
            returns,
        })
    }

    fn cmd(&self, script: &str) -> Cmd {
        Cmd {
            script: script.to_string(),
            ..self.base.clone()
        }
    }

    /// Whether the guards let the command run.
    fn wanted(&self, cx: &Ctx) -> Result<bool, Error> {
        if let Some(c) = &self.creates {
            let real = cx.root.open(c).map_err(|e| Error::io("creates", c, e))?;
            if real.lstat().is_ok() {
                return Ok(false);
            }
        }
        if let Some(c) = &self.onlyif {
            cx.may_run(&format!("onlyif {c:?}"))?;
            if !command::run(&self.cmd(c))?.success() {
                return Ok(false);
            }
        }
        if let Some(c) = &self.unless {
            cx.may_run(&format!("unless {c:?}"))?;
            if command::run(&self.cmd(c))?.success() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Runs the command (unless noop); the change to report.
    fn execute(&self, cx: &Ctx) -> Result<Change, Error> {
        cx.may_run(&format!("{:?}", self.command))?;
        if cx.noop {
            return Ok(Change::new(
                "returns",
                "notrun".to_string(),
                self.returns[0].to_string(),
                "would run",
            ));
        }
        let done = command::run(&self.cmd(&self.command))?;
        match done.code {
            Some(c) if !done.timed_out && self.returns.contains(&c) => Ok(Change::new(
                "returns",
                "notrun".to_string(),
                c.to_string(),
                "executed successfully",
            )),
            _ => Err(Error::command(
                done.code,
                done.output.clone(),
                format!("{:?} failed: {}", self.command, done.describe()),
            )),
        }
    }
}

/// uid and primary gid of a user of `root` (the host, or the root a chroot enters).
fn host_user(name: &str, root: &crate::sys::root::Root) -> Result<(u32, u32), Error> {
    let users = super::etc::passwd(root)?;
    let whose = if root.dir().is_some() {
        "in the root"
    } else {
        "on this host"
    };
    users
        .iter()
        .find(|u| u.name == name || u.uid.to_string() == name)
        .map(|u| (u.uid, u.gid))
        .ok_or_else(|| Error::not_found(format!("user: no such user {name:?} {whose}")))
}

impl Provider for ExecProvider {
    fn sync(&self, r: &ResourceDoc, cx: &Ctx) -> Result<Outcome, Error> {
        let e = Exec::from(r, cx)?;
        if e.refreshonly || !e.wanted(cx)? {
            return Ok(Outcome::unchanged());
        }
        Ok(Outcome::new(Action::Change, vec![e.execute(cx)?]))
    }

    fn refresh(
        &self,
        r: &ResourceDoc,
        cx: &Ctx,
        synced: &Outcome,
    ) -> Result<Option<String>, Error> {
        let e = Exec::from(r, cx)?;
        if !e.refreshonly || synced.changed() || !e.wanted(cx)? {
            return Ok(None);
        }
        e.execute(cx)?;
        Ok(Some(if cx.noop {
            "would run".into()
        } else {
            "ran".into()
        }))
    }
}
