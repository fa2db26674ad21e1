//! `release`: code releases, through `crate::release` (unpack, shared links, hooks, atomic
//! switch of `current`, pruning). Hooks run where the run's commands run (not at all under
//! `--root` without `--run-host-commands` or `--chroot`).

use std::path::Path;

use super::{Ctx, Provider};
use crate::apply::error::Error;
use crate::apply::{Action, Change, Outcome};
use crate::catalog::json::ResourceDoc;
use crate::release::{self, Ensure, Env, Hooks, Plan};

pub(crate) struct ReleaseProvider;

impl Provider for ReleaseProvider {
    fn sync(&self, r: &ResourceDoc, cx: &Ctx) -> Result<Outcome, Error> {
        let spec = release::Spec::from_params(&r.title, &r.params)?;
        let limits = release::Limits::from_env().map_err(Error::from)?;
        let mut env = Env::new(cx.root.dir().map(Path::to_path_buf), cx.store).with_limits(limits);
        env.hooks = if cx.may_run("").is_err() {
            Hooks::NotRun
        } else if cx.chroot {
            Hooks::Chroot
        } else {
            Hooks::Host
        };
        let plan = if cx.noop {
            release::plan(&spec, &env).map_err(Error::from)?
        } else {
            release::apply(&spec, &env).map_err(Error::from)?.plan
        };
        if !plan.is_change() {
            return Ok(Outcome::unchanged());
        }
        let action = if spec.ensure == Ensure::Absent {
            Action::Remove
        } else if plan.switch.as_ref().is_some_and(|s| s.from.is_none()) {
            Action::Create
        } else {
            Action::Change
        };
        Ok(Outcome::new(action, changes(&plan, env.hooks)))
    }
}

/// One change per step of the plan; the switch of `current` as `old -> new`.
/// A hook that does not run says so in its step.
fn changes(plan: &Plan, hooks: Hooks) -> Vec<Change> {
    let mut out = Vec::new();
    if let Some(s) = &plan.switch {
        out.push(Change::new(
            "current",
            s.from.clone(),
            Some(s.to.clone()),
            format!("current switched to {}", s.to),
        ));
    }
    for mut line in plan.lines() {
        let hook = line.starts_with("run before_switch:") || line.starts_with("run after_switch:");
        if hook && hooks == Hooks::NotRun {
            line.push_str(&format!(" ({})", super::NOT_RUN));
        }
        out.push(Change::new("step", None, None, line));
    }
    out
}
