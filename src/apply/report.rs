//! The Report JSON wire format (CLI.md "Report JSON"), built from a [`Run`].

use serde::{Deserialize, Serialize};

use super::{Run, Status};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReportDoc {
    pub node: String,
    pub noop: bool,
    pub started: String,
    pub seconds: f64,
    pub summary: SummaryDoc,
    pub events: Vec<EventDoc>,
    /// `fleet agent` (REMOTE.md "The agent"): the run applied the catalog cached from an
    /// earlier run, because no server gave a fresh one. Left out when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached_catalog: bool,
    /// `fleet agent`: the version of the catalog applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_version: Option<String>,
    /// What the run wants its reader to know that is not a resource's event (the agent: a
    /// certificate that expires within 30 days, why the cached catalog was used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SummaryDoc {
    pub resources: usize,
    pub changed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub unchanged: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventDoc {
    pub resource: String,
    /// `changed`, `failed`, `skipped` or `unchanged`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub message: String,
}

/// The report of a run; `verbose` also lists unchanged resources.
pub(crate) fn to_doc(run: &Run, verbose: bool) -> ReportDoc {
    let mut events = Vec::new();
    for r in &run.results {
        let status = r.status.as_str().to_string();
        let ev = |property: Option<String>,
                  from: Option<String>,
                  to: Option<String>,
                  message: String| EventDoc {
            resource: r.reference.clone(),
            status: status.clone(),
            property,
            from,
            to,
            message,
        };
        match r.status {
            Status::Unchanged if !verbose => {}
            Status::Unchanged => events.push(ev(None, None, None, "unchanged".into())),
            Status::Changed | Status::Failed => {
                for c in &r.outcome.changes {
                    let msg = if r.noop {
                        format!("{} (noop)", c.message)
                    } else {
                        c.message.clone()
                    };
                    let mut e = ev(Some(c.property.clone()), c.from.clone(), c.to.clone(), msg);
                    e.status = "changed".into();
                    events.push(e);
                }
                if let Some(done) = &r.refreshed {
                    let mut e = ev(Some("refresh".into()), None, None, done.clone());
                    e.status = "changed".into();
                    events.push(e);
                }
                if let Some(msg) = &r.message {
                    events.push(ev(None, None, None, msg.to_string()));
                }
            }
            Status::Skipped | Status::NotRun => events.push(ev(
                None,
                None,
                None,
                r.message
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            )),
        }
    }
    ReportDoc {
        node: run.node.clone(),
        noop: run.noop,
        started: run.started.clone(),
        seconds: (run.seconds * 1000.0).round() / 1000.0,
        summary: SummaryDoc {
            resources: run.results.len(),
            changed: run.count(Status::Changed),
            failed: run.count(Status::Failed),
            skipped: run.count(Status::Skipped) + run.count(Status::NotRun),
            unchanged: run.count(Status::Unchanged),
        },
        events,
        cached_catalog: false,
        catalog_version: None,
        warnings: Vec::new(),
    }
}

impl ReportDoc {
    pub(crate) fn to_json(&self) -> String {
        let mut s = serde_json::to_string(self).expect("report serialises");
        s.push('\n');
        s
    }
}
