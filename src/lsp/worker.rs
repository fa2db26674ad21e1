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
use crate::diag::{Code, Diagnostic};
use crate::program::{Options, Program};
use crate::source::FileId;

/// One open editor buffer.
#[derive(Clone, Debug)]
pub(crate) struct Doc {
    pub version: i32,
    pub text: Arc<str>,
    /// The buffer's file (a made-up path beside the working directory for unsaved buffers).
    pub path: PathBuf,
}

/// The open buffers, shared by the message loop (which edits them) and the worker.
pub(crate) type Docs = Arc<Mutex<HashMap<Uri, Doc>>>;

/// What the message loop asks of the worker.
pub(crate) enum Job {
    /// Re-check this buffer (after the debounce delay).
    Check(Uri),
    /// The buffer was closed: withdraw what was published because of it.
    Close(Uri),
}

/// Loads the program one buffer is checked as part of: the manifest that imports it (see
/// `roots.rs`) when there is one, with the buffer's text, else the buffer alone. `open`
/// holds the other open buffers by path: a loaded file that is open and edited is checked as
/// edited. The manifest `fleet check` would be run on is file 0.
pub fn check(
    path: &Path,
    text: &str,
    open: &HashMap<PathBuf, Arc<str>>,
    options: &Options,
) -> Program {
    let mut mains: Vec<(PathBuf, String)> = Vec::new();
    if let Some(root) = super::roots::importer_on_disk(path) {
        let root_text = match open.get(&normalize(&root)) {
            Some(t) => Some(t.to_string()),
            None => std::fs::read_to_string(&root).ok(),
        };
        if let Some(t) = root_text {
            mains.push((root, t));
        }
    }
    mains.push((path.to_path_buf(), text.to_string()));
    let mut program = Program::load_with(mains.clone(), options.clone());
    let given: Vec<PathBuf> = mains.iter().map(|(p, _)| normalize(p)).collect();
    let edited: Vec<(PathBuf, String)> = program
        .sources
        .files()
        .filter(|(_, f)| !given.contains(&normalize(&f.path)))
        .filter_map(|(_, f)| {
            let buf = open.get(&normalize(&f.path))?;
            (buf.as_ref() != f.text).then(|| (f.path.clone(), buf.to_string()))
        })
        .collect();
    if !edited.is_empty() {
        mains.extend(edited);
        program = Program::load_with(mains, options.clone());
    }
    program
}

/// `Program::check`, with two differences: files given besides file 0 only to pass their
/// editor text are not linted for `unused-class` (`fleet check` on file 0 would not), and
/// with syntax errors the statements that parsed are checked too (for the codes
/// `Code::shown_despite_syntax_errors` names).
pub fn diagnostics(program: &mut Program) -> Vec<Diagnostic> {
    let mut out = checked(program);
    out.retain(|d| d.code != Code::UnusedClass || d.span.is_none_or(|s| s.file == FileId(0)));
    out
}

fn checked(program: &mut Program) -> Vec<Diagnostic> {
    if !program.has_syntax_errors() {
        return program.check();
    }
    let (syntax, rest): (Vec<Diagnostic>, Vec<Diagnostic>) =
        std::mem::take(&mut program.load_diags)
            .into_iter()
            .partition(|d| d.code == Code::Syntax);
    program.load_diags = rest;
    let mut out: Vec<Diagnostic> = program
        .check()
        .into_iter()
        .filter(|d| d.code.shown_despite_syntax_errors())
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
pub(crate) type Grouped = HashMap<Uri, Vec<lsp_types::Diagnostic>>;

/// The outcome of checking one buffer.
pub(crate) struct Checked {
    pub diags: Grouped,
    /// Every file its program loaded (normalised paths): when one of them is edited in
    /// another buffer, this buffer is checked again.
    pub files: Vec<PathBuf>,
}

/// The open buffers at the start of one check: the buffer itself, the others by path (for
/// edited imports), and the URI of every open path.
pub(crate) struct Snapshot {
    pub doc: Doc,
    pub others: HashMap<PathBuf, Arc<str>>,
    pub uris: HashMap<PathBuf, Uri>,
}

/// The worker loop. Returns when the job channel closes.
pub(crate) fn run(
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
pub(crate) fn run_with(
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
            // A closed buffer no longer stands in for the buffers its program loaded.
            if let (Job::Close(_), Some(files)) = (job, deps.get(u)) {
                roots.extend(
                    paths
                        .iter()
                        .filter(|(r, p)| *r != u && files.contains(p))
                        .map(|(r, _)| r),
                );
            }
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
                    // A buffer that another open buffer's program loads is checked as part
                    // of that program, not on its own.
                    let own = paths.get(&uri).cloned();
                    let covered = own.as_ref().is_some_and(|p| {
                        deps.iter().any(|(r, files)| {
                            *r != uri && files.contains(p) && paths.contains_key(r)
                        })
                    });
                    let result = if covered {
                        Some(Checked {
                            diags: HashMap::from([(uri.clone(), Vec::new())]),
                            files: own.into_iter().collect(),
                        })
                    } else {
                        check_one(&uri, &docs, check)
                    };
                    let Some(result) = result else {
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
        // lib.fleet is loaded by site.fleet's program: it is checked as part of it.
        assert_eq!(
            *checked.lock().unwrap(),
            ["file:///w/site.fleet", "file:///w/site.fleet"]
        );
        // Once site.fleet is closed, lib.fleet is checked on its own.
        docs.lock().unwrap().remove(&site);
        jobs.send(Job::Close(site.clone())).unwrap();
        for _ in 0..2 {
            let _ = out_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert_eq!(
            *checked.lock().unwrap(),
            [
                "file:///w/site.fleet",
                "file:///w/site.fleet",
                "file:///w/lib.fleet"
            ]
        );
        drop(jobs);
        worker.join().unwrap();
    }

    #[test]
    fn an_imported_file_is_checked_as_its_importer_sees_it() {
        let tmp = tempfile::tempdir().unwrap();
        let site = tmp.path().join("site.fleet");
        let common = tmp.path().join("common.fleet");
        std::fs::write(
            &site,
            "import \"./common.fleet\"\nlet $motd = \"hi\"\ninclude base\n",
        )
        .unwrap();
        let text = "class base {\n  file \"/etc/motd\" { content = $motd }\n}\n";
        std::fs::write(&common, text).unwrap();
        let options = Options::default();
        // Alone, `base` would be unused and `$motd` undefined; as site.fleet sees it, clean.
        let mut program = check(&common, text, &HashMap::new(), &options);
        assert_eq!(program.sources.get(FileId(0)).path, site);
        assert_eq!(diagnostics(&mut program), Vec::new());
        // The buffer's text is what is checked, and its problems are its own.
        let edited = text.replace("content", "contnet");
        let mut program = check(&common, &edited, &HashMap::new(), &options);
        let diags = diagnostics(&mut program);
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].code, Code::UnknownAttribute);
        assert_eq!(
            program.sources.get(diags[0].span.unwrap().file).path,
            common
        );
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
