//! `release`: code releases, through `crate::release` (unpack, shared links, hooks, atomic
//! switch of `current`, pruning).

use std::path::Path;

use super::{Ctx, Provider};
use crate::apply::{Action, Change, Outcome};
use crate::catalog::json::ResourceDoc;
use crate::release::{self, Ensure, Env, Plan};

pub struct ReleaseProvider;

impl Provider for ReleaseProvider {
    fn sync(&self, r: &ResourceDoc, cx: &Ctx) -> Result<Outcome, String> {
        let spec = release::Spec::from_params(&r.title, &r.params)?;
        let limits = release::Limits::from_env().map_err(|e| e.to_string())?;
        let env = Env::new(cx.root.dir().map(Path::to_path_buf), cx.store).with_limits(limits);
        let plan = if cx.noop {
            release::plan(&spec, &env).map_err(|e| e.to_string())?
        } else {
            release::apply(&spec, &env).map_err(|e| e.to_string())?.plan
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
        Ok(Outcome::new(action, changes(&plan)))
    }
}

/// One change per step of the plan; the switch of `current` as `old -> new`.
fn changes(plan: &Plan) -> Vec<Change> {
    let mut out = Vec::new();
    if let Some(s) = &plan.switch {
        out.push(Change::new(
            "current",
            s.from.clone(),
            Some(s.to.clone()),
            format!("current switched to {}", s.to),
        ));
    }
    for line in plan.lines() {
        out.push(Change::new("step", None, None, line));
    }
    out
}
