//! The background checker: debounces edits, runs `Program::check` off the message loop,
//! drops results for versions that are already stale, and publishes diagnostics per file.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lsp_server::{Message, Notification};
use lsp_types::notification::{Notification as _, PublishDiagnostics};
use lsp_types::{PublishDiagnosticsParams, Uri};

use super::convert::{self, normalize, path_to_uri};
use crate::diag::Diagnostic;
use crate::program::{Options, Program};

/// One open editor buffer.
#[derive(Clone, Debug)]
pub struct Doc {
    pub version: i32,
    pub text: Arc<str>,
    /// The buffer's file (a made-up path beside the working directory for unsaved buffers).
    pub path: PathBuf,
}

/// The open buffers, shared by the message loop (which edits them) and the worker.
pub type Docs = Arc<Mutex<HashMap<Uri, Doc>>>;

/// What the message loop asks of the worker.
pub enum Job {
    /// Re-check this buffer (after the debounce delay).
    Check(Uri),
    /// The buffer was closed: withdraw what was published because of it.
    Close(Uri),
}

/// Codes that stay meaningful when a file has syntax errors and is evaluated from the
/// statements that did parse (anything about a missing name could be caused by a
/// statement the parser had to drop, so those are left out until the syntax is fixed).
const CODES_DESPITE_SYNTAX_ERRORS: &[&str] = &[
    "unknown-resource-type",
    "unknown-attribute",
    "invalid-value",
    "duplicate-attribute",
    "duplicate-variable",
    "duplicate-resource",
    "duplicate-class",
    "duplicate-node",
    "duplicate-type",
    "duplicate-address",
    "unknown-function",
    "wrong-arguments",
    "import-not-found",
    "source-not-found",
    "data-error",
    "plaintext-password",
    "world-writable",
    "exec-without-guard",
];

/// The diagnostics of one buffer's program, as `fleet check` finds them, plus (when the
/// buffer has syntax errors) those of the statements that parsed. `open` holds the other
/// open buffers by path: an imported file that is open and edited is checked as edited.
pub fn check(
    path: &Path,
    text: &str,
    open: &HashMap<PathBuf, Arc<str>>,
    options: &Options,
) -> Program {
    let mut program = Program::load_with(
        vec![(path.to_path_buf(), text.to_string())],
        options.clone(),
    );
    let edited: Vec<(PathBuf, String)> = program
        .sources
        .files()
        .skip(1)
        .filter_map(|(_, f)| {
            let buf = open.get(&normalize(&f.path))?;
            (buf.as_ref() != f.text).then(|| (f.path.clone(), buf.to_string()))
        })
        .collect();
    if !edited.is_empty() {
        let mut files = vec![(path.to_path_buf(), text.to_string())];
        files.extend(edited);
        program = Program::load_with(files, options.clone());
    }
    program
}

/// Runs `check` and the syntax-error fallback described at [`check`].
pub fn diagnostics(program: &mut Program) -> Vec<Diagnostic> {
    if !program.has_syntax_errors() {
        return program.check();
    }
    let (syntax, rest): (Vec<Diagnostic>, Vec<Diagnostic>) =
        std::mem::take(&mut program.load_diags)
            .into_iter()
            .partition(|d| d.code == "syntax");
    program.load_diags = rest;
    let mut out: Vec<Diagnostic> = program
        .check()
        .into_iter()
        .filter(|d| CODES_DESPITE_SYNTAX_ERRORS.contains(&d.code))
        .collect();
    out.extend(syntax.iter().cloned());
    program.load_diags.extend(syntax);
    crate::program::finish(out, &program.sources)
}

/// Per-file LSP diagnostics of one checked buffer, keyed by the URI to publish them under.
pub fn group(
    program: &Program,
    diags: &[Diagnostic],
    root: &Uri,
    uri_of: &dyn Fn(&Path) -> Option<Uri>,
) -> HashMap<Uri, Vec<lsp_types::Diagnostic>> {
    let mut out: HashMap<Uri, Vec<lsp_types::Diagnostic>> = HashMap::new();
    out.insert(root.clone(), Vec::new());
    for d in diags {
        let uri = match d.span {
            Some(s) => match uri_of(&program.sources.get(s.file).path) {
                Some(u) => u,
                None => continue,
            },
            None => root.clone(),
        };
        out.entry(uri)
            .or_default()
            .push(convert::diagnostic(&program.sources, d, uri_of));
    }
    out
}

/// Diagnostics per URI, as one check of one buffer found them.
pub type Grouped = HashMap<Uri, Vec<lsp_types::Diagnostic>>;

/// The outcome of checking one buffer.
pub struct Checked {
    pub diags: Grouped,
    /// Every file its program loaded (normalised paths): when one of them is edited in
    /// another buffer, this buffer is checked again.
    pub files: Vec<PathBuf>,
}

/// The open buffers at the start of one check: the buffer itself, the others by path (for
/// edited imports), and the URI of every open path.
pub struct Snapshot {
    pub doc: Doc,
    pub others: HashMap<PathBuf, Arc<str>>,
    pub uris: HashMap<PathBuf, Uri>,
}

/// The worker loop. Returns when the job channel closes.
pub fn run(
    jobs: Receiver<Job>,
    docs: Docs,
    out: crossbeam_channel::Sender<Message>,
    options: Options,
    debounce: Duration,
) {
    run_with(jobs, docs, out, debounce, &mut |uri, snap| {
        check_snapshot(uri, snap, &options)
    });
}

/// The worker loop with the checking step given (tests use a stand-in).
pub fn run_with(
    jobs: Receiver<Job>,
    docs: Docs,
    out: crossbeam_channel::Sender<Message>,
    debounce: Duration,
    check: &mut dyn FnMut(&Uri, &Snapshot) -> Option<Checked>,
) {
    let mut by_root: HashMap<Uri, Grouped> = HashMap::new();
    let mut deps: HashMap<Uri, Vec<PathBuf>> = HashMap::new();
    let mut paths: HashMap<Uri, PathBuf> = HashMap::new();
    loop {
        let mut pending: Vec<Job> = match jobs.recv() {
            Ok(j) => vec![j],
            Err(_) => return,
        };
        loop {
            match jobs.recv_timeout(debounce) {
                Ok(j) => pending.push(j),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let mut seen = HashSet::new();
        let mut work: Vec<Job> = Vec::new();
        for job in pending.into_iter().rev() {
            let uri = match &job {
                Job::Check(u) | Job::Close(u) => u.clone(),
            };
            if seen.insert(uri) {
                work.push(job);
            }
        }
        work.reverse();
        // Buffers whose programs load an edited (or closed) buffer are checked again.
        let mut dependents: Vec<Job> = Vec::new();
        for job in &work {
            let (Job::Check(u) | Job::Close(u)) = job;
            if let Ok(d) = docs.lock() {
                if let Some(doc) = d.get(u) {
                    paths.insert(u.clone(), normalize(&doc.path));
                }
            }
            let Some(path) = paths.get(u) else {
                continue;
            };
            let mut roots: Vec<&Uri> = deps
                .iter()
                .filter(|(r, files)| *r != u && files.contains(path))
                .map(|(r, _)| r)
                .collect();
            roots.sort();
            for r in roots {
                if seen.insert(r.clone()) {
                    dependents.push(Job::Check(r.clone()));
                }
            }
        }
        work.extend(dependents);
        for job in work {
            let (root, fresh) = match job {
                Job::Close(uri) => {
                    deps.remove(&uri);
                    paths.remove(&uri);
                    (uri, HashMap::new())
                }
                Job::Check(uri) => {
                    let Some(result) = check_one(&uri, &docs, check) else {
                        continue;
                    };
                    deps.insert(uri.clone(), result.files);
                    (uri, result.diags)
                }
            };
            let old = by_root.insert(root.clone(), fresh).unwrap_or_default();
            let mut touched: Vec<Uri> = old.into_keys().collect();
            touched.extend(by_root[&root].keys().cloned());
            touched.sort();
            touched.dedup();
            if by_root[&root].is_empty() {
                by_root.remove(&root);
            }
            publish(&touched, &by_root, &docs, &out);
        }
    }
}

/// Checks one open buffer; `None` when it was closed or edited meanwhile (a newer job is
/// queued then: this result is stale) or when checking failed.
fn check_one(
    uri: &Uri,
    docs: &Docs,
    check: &mut dyn FnMut(&Uri, &Snapshot) -> Option<Checked>,
) -> Option<Checked> {
    let snap = {
        let docs = docs.lock().ok()?;
        let doc = docs.get(uri)?.clone();
        let others = docs
            .iter()
            .filter(|(u, _)| *u != uri)
            .map(|(_, d)| (normalize(&d.path), d.text.clone()))
            .collect();
        let uris = docs
            .iter()
            .map(|(u, d)| (normalize(&d.path), u.clone()))
            .collect();
        Snapshot { doc, others, uris }
    };
    let grouped = check(uri, &snap)?;
    let still = docs.lock().ok()?.get(uri).map(|d| d.version) == Some(snap.doc.version);
    still.then_some(grouped)
}

/// The real check of a snapshot (a panic in checking publishes nothing).
fn check_snapshot(uri: &Uri, snap: &Snapshot, options: &Options) -> Option<Checked> {
    let uri_of = |p: &Path| -> Option<Uri> {
        if p.starts_with("<stdlib>") {
            return None;
        }
        snap.uris
            .get(&normalize(p))
            .cloned()
            .or_else(|| path_to_uri(p))
    };
    catch_unwind(AssertUnwindSafe(|| {
        let mut program = check(&snap.doc.path, &snap.doc.text, &snap.others, options);
        let diags = diagnostics(&mut program);
        Checked {
            diags: group(&program, &diags, uri, &uri_of),
            files: program
                .sources
                .files()
                .map(|(_, f)| normalize(&f.path))
                .collect(),
        }
    }))
    .ok()
}

fn publish(
    uris: &[Uri],
    by_root: &HashMap<Uri, HashMap<Uri, Vec<lsp_types::Diagnostic>>>,
    docs: &Docs,
    out: &crossbeam_channel::Sender<Message>,
) {
    for uri in uris {
        let mut diags: Vec<lsp_types::Diagnostic> = Vec::new();
        let mut roots: Vec<&Uri> = by_root.keys().collect();
        roots.sort();
        for root in roots {
            for d in by_root[root].get(uri).into_iter().flatten() {
                if !diags.contains(d) {
                    diags.push(d.clone());
                }
            }
        }
        let version = docs.lock().ok().and_then(|d| d.get(uri).map(|d| d.version));
        let params = PublishDiagnosticsParams::new(uri.clone(), diags, version);
        let _ = out.send(Message::Notification(Notification::new(
            PublishDiagnostics::METHOD.to_string(),
            params,
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn doc(version: i32) -> Doc {
        Doc {
            version,
            text: "".into(),
            path: PathBuf::from("/w/a.fleet"),
        }
    }

    #[test]
    fn buffers_that_load_an_edited_buffer_are_checked_again() {
        let site = Uri::from_str("file:///w/site.fleet").unwrap();
        let lib = Uri::from_str("file:///w/lib.fleet").unwrap();
        let docs: Docs = Arc::new(Mutex::new(HashMap::new()));
        let mk = |path: &str| Doc {
            version: 1,
            text: "".into(),
            path: PathBuf::from(path),
        };
        docs.lock()
            .unwrap()
            .insert(site.clone(), mk("/w/site.fleet"));
        docs.lock().unwrap().insert(lib.clone(), mk("/w/lib.fleet"));
        let (jobs, job_rx) = std::sync::mpsc::channel();
        let (out, out_rx) = crossbeam_channel::unbounded();
        let checked = Arc::new(Mutex::new(Vec::new()));
        let worker = {
            let docs = docs.clone();
            let checked = checked.clone();
            std::thread::spawn(move || {
                run_with(
                    job_rx,
                    docs,
                    out,
                    Duration::from_millis(10),
                    &mut |u, snap| {
                        checked.lock().unwrap().push(u.as_str().to_string());
                        let mut files = vec![snap.doc.path.clone()];
                        if u.as_str().ends_with("site.fleet") {
                            files.push(PathBuf::from("/w/lib.fleet"));
                        }
                        Some(Checked {
                            diags: HashMap::from([(u.clone(), Vec::new())]),
                            files,
                        })
                    },
                )
            })
        };
        jobs.send(Job::Check(site.clone())).unwrap();
        let _ = out_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        jobs.send(Job::Check(lib.clone())).unwrap();
        for _ in 0..2 {
            let _ = out_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert_eq!(
            *checked.lock().unwrap(),
            [
                "file:///w/site.fleet",
                "file:///w/lib.fleet",
                "file:///w/site.fleet"
            ]
        );
        drop(jobs);
        worker.join().unwrap();
    }

    fn versions_published(rx: &crossbeam_channel::Receiver<Message>) -> i64 {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Message::Notification(n)) => n.params["version"].as_i64().unwrap(),
            other => panic!("expected a publish, got {other:?}"),
        }
    }

    #[test]
    fn edits_are_debounced_and_stale_results_dropped() {
        let uri = Uri::from_str("file:///w/a.fleet").unwrap();
        let docs: Docs = Arc::new(Mutex::new(HashMap::new()));
        docs.lock().unwrap().insert(uri.clone(), doc(1));
        let (jobs, job_rx) = std::sync::mpsc::channel();
        let (out, out_rx) = crossbeam_channel::unbounded();
        let checked = Arc::new(Mutex::new(Vec::new()));
        let worker = {
            let docs = docs.clone();
            let checked = checked.clone();
            std::thread::spawn(move || {
                run_with(
                    job_rx,
                    docs.clone(),
                    out,
                    Duration::from_millis(150),
                    &mut |u, snap| {
                        checked.lock().unwrap().push(snap.doc.version);
                        if snap.doc.version == 3 {
                            // An edit lands while version 3 is being checked.
                            docs.lock().unwrap().insert(u.clone(), doc(4));
                        }
                        Some(Checked {
                            diags: HashMap::from([(u.clone(), Vec::new())]),
                            files: vec![snap.doc.path.clone()],
                        })
                    },
                )
            })
        };
        // Two edits in quick succession: one check, of the last version.
        jobs.send(Job::Check(uri.clone())).unwrap();
        docs.lock().unwrap().insert(uri.clone(), doc(2));
        jobs.send(Job::Check(uri.clone())).unwrap();
        assert_eq!(versions_published(&out_rx), 2);
        assert_eq!(*checked.lock().unwrap(), vec![2]);
        // A result overtaken by an edit is not published; the next check's is.
        docs.lock().unwrap().insert(uri.clone(), doc(3));
        jobs.send(Job::Check(uri.clone())).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while checked.lock().unwrap().len() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "version 3 never checked"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        jobs.send(Job::Check(uri.clone())).unwrap();
        assert_eq!(versions_published(&out_rx), 4);
        assert_eq!(*checked.lock().unwrap(), vec![2, 3, 4]);
        drop(jobs);
        worker.join().unwrap();
    }
}
