//! The walk: topological order (ties by catalog order), parallel workers over a ready
//! queue, skipping the dependents of failures, refresh events; results in a fixed order.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::AssertUnwindSafe;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use super::commit::{self, discard, Flusher, Pending, Staging, BATCH_BYTES, BATCH_FILES};
use super::error::{Error, ErrorKind};
use super::providers::etc::Ids;
use super::providers::{Ctx, Providers};
use super::state::{Backups, Unfinished};
use super::{Options, Outcome, ResourceResult, Run, Status};
use crate::catalog::json::{CatalogDoc, ResourceDoc};
use crate::catalog::store::ContentStore;
use crate::catalog::Catalog;
use crate::model::declared::Resource;
use crate::model::fxhash::{FxHashMap, FxHashSet};
use crate::source::SourceMap;
use crate::sys::root::DirCache;

/// What the engine walks: resources in catalog order and the edges between them, by
/// position. Made from a catalog document ([`Input::from_doc`]: `--catalog`, remote agents)
/// or straight from a compiled catalog ([`Input::from_catalog`]: a local `fleet apply`),
/// without the edges' `Type[title]` strings or the catalog `version`, which the walk never
/// reads.
#[derive(Debug)]
pub struct Input<'a> {
    pub node: &'a str,
    resources: Resources<'a>,
    /// `(from, to, refresh)`, positions in the resources.
    pub edges: Vec<(usize, usize, bool)>,
}

#[derive(Debug)]
enum Resources<'a> {
    /// A document's, with each one's `Type[title]` (its edges were resolved through them).
    Docs(&'a [ResourceDoc], Vec<String>),
    /// A compiled catalog's: each is converted to its `ResourceDoc` when the walk reaches it
    /// (and freed after), so no second copy of the catalog is ever held whole.
    Catalog(&'a [Resource], &'a SourceMap),
}

impl<'a> Input<'a> {
    /// Resolves the document's edges; fails on what a manifest could not compile to
    /// ([`crate::catalog::check_doc`]: an unknown type or param, two resources with one
    /// identity), a reference that is not in the catalog, a resource that appears twice or
    /// an edge from a resource to itself.
    pub fn from_doc(doc: &'a CatalogDoc) -> Result<Input<'a>, Error> {
        let problems = crate::catalog::check_doc(doc);
        if !problems.is_empty() {
            return Err(Error::bad_catalog(problems.join("\n")));
        }
        let n = doc.resources.len();
        let refs: Vec<String> = doc.resources.iter().map(|r| r.reference()).collect();
        let mut index: FxHashMap<&str, usize> = FxHashMap::default();
        index.reserve(n);
        for (i, r) in refs.iter().enumerate() {
            if index.insert(r, i).is_some() {
                return Err(Error::bad_catalog(format!(
                    "{r} appears twice in the catalog"
                )));
            }
        }
        let mut edges = Vec::with_capacity(doc.edges.len());
        // Edges come grouped by source (a class's resources each require every resource of
        // another): the last source found is compared before hashing.
        let mut last: Option<(&str, usize)> = None;
        for e in &doc.edges {
            let find = |r: &str| {
                index.get(r).copied().ok_or_else(|| {
                    Error::bad_catalog(format!(
                        "edge {} -> {}: {r} is not in the catalog",
                        e.from, e.to
                    ))
                })
            };
            let a = match last {
                Some((from, a)) if from == e.from => a,
                _ => find(&e.from)?,
            };
            last = Some((&e.from, a));
            let b = find(&e.to)?;
            if a == b {
                return Err(Error::bad_catalog(format!(
                    "edge {} -> {} points at itself",
                    e.from, e.to
                )));
            }
            edges.push((a, b, e.refresh));
        }
        drop(index);
        Ok(Input {
            node: &doc.node,
            resources: Resources::Docs(&doc.resources, refs),
            edges,
        })
    }

    /// A compiled (linked) catalog as the engine's input: each resource as
    /// [`crate::catalog::to_doc`] renders it, the edges as they are. Gives the same walk
    /// and results as `from_doc(&to_doc(catalog, sources))`.
    pub fn from_catalog(catalog: &'a Catalog, sources: &'a SourceMap) -> Input<'a> {
        Input {
            node: &catalog.node,
            resources: Resources::Catalog(&catalog.resources, sources),
            edges: catalog
                .edges
                .iter()
                .map(|e| (e.from as usize, e.to as usize, e.refresh))
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        match &self.resources {
            Resources::Docs(docs, _) => docs.len(),
            Resources::Catalog(resources, _) => resources.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resource `i` as the providers read it.
    pub fn resource(&self, i: usize) -> Cow<'a, ResourceDoc> {
        match &self.resources {
            Resources::Docs(docs, _) => Cow::Borrowed(&docs[i]),
            Resources::Catalog(resources, sources) => {
                Cow::Owned(crate::catalog::resource_doc(&resources[i], sources))
            }
        }
    }

    /// Resource `i`'s `Type[title]`.
    pub fn reference(&self, i: usize) -> String {
        match &self.resources {
            Resources::Docs(_, refs) => refs[i].clone(),
            Resources::Catalog(resources, _) => {
                crate::catalog::json::reference(&resources[i].kind, &resources[i].title)
            }
        }
    }

    /// Resource `i`'s `Type[title]` as people read it (an exec's written title, see
    /// [`ResourceDoc::label`]): what results carry.
    pub fn display(&self, i: usize) -> String {
        match &self.resources {
            Resources::Docs(docs, _) => docs[i].display_reference(),
            Resources::Catalog(resources, _) => {
                let r = &resources[i];
                crate::catalog::json::reference(&r.kind, r.label.as_deref().unwrap_or(&r.title))
            }
        }
    }

    /// Whether resource `i` carries tags that `filter` takes.
    fn taken(&self, i: usize, filter: &super::TagFilter) -> bool {
        match &self.resources {
            Resources::Docs(docs, _) => filter.takes(docs[i].tags.iter().map(String::as_str)),
            Resources::Catalog(resources, _) => {
                filter.takes(resources[i].tags.iter().map(|t| t.as_str()))
            }
        }
    }

    /// Resource `i`'s lower-case type name.
    pub fn kind(&self, i: usize) -> &'a str {
        match &self.resources {
            Resources::Docs(docs, _) => &docs[i].kind,
            Resources::Catalog(resources, _) => resources[i].kind.as_str(),
        }
    }

    /// The path of resource `i` when it is a file: its `path` when that is a String, else its
    /// title (as `Params::raw("path")` reads the document).
    fn file_path(&self, i: usize) -> Option<Cow<'a, str>> {
        match &self.resources {
            Resources::Docs(docs, _) => {
                let r = &docs[i];
                (r.kind == "file").then(|| {
                    let path = super::providers::Params::new(r)
                        .raw("path")
                        .and_then(|v| v.as_str());
                    Cow::Borrowed(path.unwrap_or(&r.title))
                })
            }
            Resources::Catalog(resources, _) => {
                let r = &resources[i];
                (r.kind.as_str() == "file").then(|| match r.params.get("path").map(|a| &a.value) {
                    Some(crate::model::value::Value::Str(s)) => Cow::Borrowed(&**s),
                    Some(v) => match v.to_json() {
                        serde_json::Value::String(s) => Cow::Owned(s),
                        _ => Cow::Borrowed(r.title.as_str()),
                    },
                    None => Cow::Borrowed(r.title.as_str()),
                })
            }
        }
    }
}

/// The dependency graph of the engine's input.
#[derive(Debug)]
pub(crate) struct Graph {
    /// Per resource: its predecessors and whether that edge refreshes.
    pub preds: Vec<Vec<(usize, bool)>>,
    pub succs: Vec<Vec<usize>>,
    /// Topological order, ties broken by catalog order.
    pub order: Vec<usize>,
}

impl Graph {
    /// Adds the parent-directory edges and orders the resources; fails on a cycle (or an
    /// edge out of range, or from a resource to itself).
    pub(crate) fn new(input: &Input) -> Result<Graph, Error> {
        let n = input.len();
        let (mut npreds, mut nsuccs) = (vec![0usize; n], vec![0usize; n]);
        for &(a, b, _) in &input.edges {
            if a >= n || b >= n || a == b {
                return Err(Error::bad_catalog(format!(
                    "edge {a} -> {b}: not between two resources"
                )));
            }
            npreds[b] += 1;
            nsuccs[a] += 1;
        }
        // Sized once (a parent edge may add one more each).
        let mut preds: Vec<Vec<(usize, bool)>> =
            npreds.iter().map(|&k| Vec::with_capacity(k + 1)).collect();
        let mut succs: Vec<Vec<usize>> =
            nsuccs.iter().map(|&k| Vec::with_capacity(k + 1)).collect();
        for &(a, b, refresh) in &input.edges {
            if let Some(p) = preds[b].iter_mut().find(|(p, _)| *p == a) {
                p.1 |= refresh;
                continue;
            }
            preds[b].push((a, refresh));
            succs[a].push(b);
        }
        add_parent_edges(input, &mut preds, &mut succs);
        let mut indeg: Vec<usize> = preds.iter().map(Vec::len).collect();
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| indeg[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for &s in &succs[i] {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    ready.push(Reverse(s));
                }
            }
        }
        if order.len() < n {
            let stuck: Vec<String> = (0..n)
                .filter(|&i| indeg[i] > 0)
                .map(|i| input.reference(i))
                .collect();
            return Err(Error::bad_catalog(format!(
                "dependency cycle among {}",
                stuck.join(", ")
            )));
        }
        Ok(Graph {
            preds,
            succs,
            order,
        })
    }
}

/// A file requires its nearest managed parent directory (LANGUAGE.md §5). Compiled
/// catalogs carry these edges already; hand-written ones may not, and parallel workers
/// must not race a file against its directory. An edge that would close a cycle is left out.
fn add_parent_edges(input: &Input, preds: &mut [Vec<(usize, bool)>], succs: &mut [Vec<usize>]) {
    let paths: Vec<Option<Cow<str>>> = (0..input.len()).map(|i| input.file_path(i)).collect();
    let mut files: FxHashMap<&str, usize> = FxHashMap::default();
    for (i, path) in paths.iter().enumerate() {
        if let Some(path) = path {
            files.insert(path, i);
        }
    }
    for (child, path) in paths.iter().enumerate() {
        let Some(path) = path else { continue };
        let mut p = parent_dir(path);
        while let Some(dir) = p {
            if let Some(&parent) = files.get(dir) {
                if parent != child
                    && !preds[child].iter().any(|(q, _)| *q == parent)
                    && !reaches(succs, child, parent)
                {
                    preds[child].push((parent, false));
                    succs[parent].push(child);
                }
                break;
            }
            p = parent_dir(dir);
        }
    }
}

/// `Path::parent` as a `&str` (by hand for the usual clean absolute paths).
fn parent_dir(path: &str) -> Option<&str> {
    if path.len() > 1 && crate::sys::root::is_clean(path) {
        let cut = path.rfind('/').expect("an absolute path");
        return Some(if cut == 0 { "/" } else { &path[..cut] });
    }
    std::path::Path::new(path).parent().and_then(|p| p.to_str())
}

/// Whether `to` is reachable from `from` along `succs`.
fn reaches(succs: &[Vec<usize>], from: usize, to: usize) -> bool {
    if succs[from].is_empty() {
        return false;
    }
    let mut seen = vec![false; succs.len()];
    let mut stack = vec![from];
    while let Some(i) = stack.pop() {
        if i == to {
            return true;
        }
        for &s in &succs[i] {
            if !std::mem::replace(&mut seen[s], true) {
                stack.push(s);
            }
        }
    }
    false
}

struct Sched<'o> {
    ready: BinaryHeap<Reverse<(usize, usize)>>,
    indeg: Vec<usize>,
    results: Vec<Option<ResourceResult>>,
    done: usize,
    /// Workers waiting for work.
    idle: usize,
    /// Resources waiting for the next group commit, and their files and bytes.
    staged: Vec<Staged>,
    staged_files: usize,
    staged_bytes: u64,
    /// A worker is committing a batch.
    committing: bool,
    /// Told of each resource started and, in topological order, of each result.
    observer: Option<Observer<'o>>,
    /// The next position in the topological order to report to the observer.
    next: usize,
    /// Results reported so far.
    reported: usize,
    /// Per resource, whether the run takes it (`--tags`); empty: every one is taken.
    taken: Vec<bool>,
    /// The resources taken.
    total: usize,
}

/// What [`run_observed`] calls as the run goes; it runs on the worker that made the event,
/// with the scheduler held, so it should be quick (print a line, not wait for input).
pub(crate) type Observer<'o> = &'o mut (dyn FnMut(Event<'_>) + Send);

/// What an observer is told. `done` counts the results reported so far, `total` the
/// resources the run takes (left-out ones, `--tags`, are not counted or reported).
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// A worker starts on a resource (its `Type[title]` as results show it).
    Started {
        reference: &'a str,
        done: usize,
        total: usize,
    },
    /// The next result in topological order (every result before it was reported first),
    /// as the run's results will hold it (secrets taken out).
    Finished {
        result: &'a ResourceResult,
        done: usize,
        total: usize,
    },
}

/// What a worker does next.
enum Job {
    Run(usize),
    Commit(Vec<Staged>),
}

impl Sched<'_> {
    /// Records a finished resource and makes its successors ready; wakes sleepers for
    /// work this worker does not take itself, or for the end.
    fn finish(
        &mut self,
        graph: &Graph,
        pos: &[usize],
        i: usize,
        result: ResourceResult,
        wake: &Condvar,
    ) {
        let n = self.results.len();
        self.results[i] = Some(result);
        self.done += 1;
        if let Some(observer) = self.observer.as_mut() {
            let total = self.total;
            while let Some(&j) = graph.order.get(self.next) {
                let Some(result) = self.results[j].as_ref() else {
                    break;
                };
                self.next += 1;
                if self.taken.get(j).copied().unwrap_or(true) {
                    self.reported += 1;
                    observer(Event::Finished {
                        result,
                        done: self.reported,
                        total,
                    });
                }
            }
        }
        let mut released = 0;
        for &succ in &graph.succs[i] {
            self.indeg[succ] -= 1;
            if self.indeg[succ] == 0 {
                self.ready.push(Reverse((pos[succ], succ)));
                released += 1;
            }
        }
        if self.done == n {
            wake.notify_all();
        } else {
            let extra = self
                .ready
                .len()
                .saturating_sub(1)
                .min(released)
                .min(self.idle);
            for _ in 0..extra {
                wake.notify_one();
            }
        }
    }

    /// Whether the staged batch is due even though other work is ready.
    fn batch_full(&self) -> bool {
        self.staged_files >= BATCH_FILES || self.staged_bytes >= BATCH_BYTES
    }
}

/// Applies (or, under `opts.noop`, plans) a catalog document. Content for `content_sha256`
/// comes from `store`; backups go to `opts.state_dir/backup`. Fails only when the catalog
/// itself is unusable (bad reference, cycle); resource failures are in the results.
pub fn run(
    doc: &CatalogDoc,
    store: &ContentStore,
    providers: &Providers,
    opts: &Options,
) -> Result<Run, Error> {
    walk(&Input::from_doc(doc)?, store, providers, opts, None)
}

/// [`run`], telling `observer` of each resource as it starts and of each result as soon as
/// it and every result before it in topological order are known (see [`Event`]).
pub(crate) fn run_observed(
    doc: &CatalogDoc,
    store: &ContentStore,
    providers: &Providers,
    opts: &Options,
    observer: Observer<'_>,
) -> Result<Run, Error> {
    walk(
        &Input::from_doc(doc)?,
        store,
        providers,
        opts,
        Some(observer),
    )
}

/// [`run`] for a compiled catalog ([`Input::from_catalog`]), without its document.
pub(crate) fn run_catalog(
    catalog: &Catalog,
    sources: &SourceMap,
    store: &ContentStore,
    providers: &Providers,
    opts: &Options,
) -> Result<Run, Error> {
    let input = Input::from_catalog(catalog, sources);
    walk(&input, store, providers, opts, None)
}

/// [`run_observed`] for a compiled catalog.
pub(crate) fn run_catalog_observed(
    catalog: &Catalog,
    sources: &SourceMap,
    store: &ContentStore,
    providers: &Providers,
    opts: &Options,
    observer: Observer<'_>,
) -> Result<Run, Error> {
    let input = Input::from_catalog(catalog, sources);
    walk(&input, store, providers, opts, Some(observer))
}

/// [`run`] over the engine's input.
fn walk(
    doc: &Input,
    store: &ContentStore,
    providers: &Providers,
    opts: &Options,
    observer: Option<Observer<'_>>,
) -> Result<Run, Error> {
    let started = super::time::now_rfc3339();
    let clock = Instant::now();
    let graph = Graph::new(doc)?;
    let n = doc.len();
    let backups = Backups::new(&opts.state_dir);
    // `--tags`: which resources the run takes (empty: all of them).
    let taken: Vec<bool> = if opts.tags.is_empty() {
        Vec::new()
    } else {
        (0..n).map(|i| doc.taken(i, &opts.tags)).collect()
    };
    let takes = |i: usize| taken.get(i).copied().unwrap_or(true);
    let total = if taken.is_empty() {
        n
    } else {
        taken.iter().filter(|&&t| t).count()
    };
    let ids = if opts.noop {
        planned_ids(doc, &opts.root, &takes)
    } else {
        Ids::new()
    };
    let dirty = Mutex::new(std::collections::BTreeSet::new());
    let dirs = DirCache::new();
    // Temp files can only be left by a run that did not end (see `state::Unfinished`).
    let (unfinished, sweep) = if opts.noop {
        (None, false)
    } else {
        match Unfinished::begin(&opts.state_dir, opts.fsync) {
            Ok((u, left)) => (Some(u), left),
            Err(_) => (None, true),
        }
    };
    let cx = Ctx {
        root: &opts.root,
        noop: opts.noop,
        show_diff: opts.show_diff,
        fsync: opts.fsync,
        chroot: opts.chroot,
        host_commands: opts.host_commands,
        store,
        backups: &backups,
        ids: &ids,
        dirty: &dirty,
        dirs: &dirs,
        staging: None,
        sweep,
    };
    let mut kinds: Vec<&str> = (0..n).filter(|&i| takes(i)).map(|i| doc.kind(i)).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        if let Some(p) = providers.get(kind) {
            if p.prepares(&cx) {
                let of_kind: Vec<_> = (0..n)
                    .filter(|&i| doc.kind(i) == kind && takes(i))
                    .map(|i| doc.resource(i))
                    .collect();
                let of_kind: Vec<&ResourceDoc> = of_kind.iter().map(|r| r.as_ref()).collect();
                p.prepare(&of_kind, &cx);
            }
            if !p.keeps_dirs() {
                dirs.invalidate();
            }
        }
    }
    let mut pos = vec![0; n];
    for (p, &i) in graph.order.iter().enumerate() {
        pos[i] = p;
    }
    let indeg: Vec<usize> = graph.preds.iter().map(Vec::len).collect();
    let sched = Mutex::new(Sched {
        ready: (0..n)
            .filter(|&i| indeg[i] == 0)
            .map(|i| Reverse((pos[i], i)))
            .collect(),
        indeg,
        results: vec![None; n],
        done: 0,
        idle: 0,
        staged: Vec::new(),
        staged_files: 0,
        staged_bytes: 0,
        committing: false,
        observer,
        next: 0,
        reported: 0,
        taken,
        total,
    });
    // What plans and reports must not show (`secret`): each changed result is redacted
    // as it is made, before anyone (the observer, the report) sees it.
    let key = super::secret::ReportKey::for_state(&opts.state_dir, !opts.noop);
    let wake = Condvar::new();
    let jobs = match opts.jobs {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        j => j,
    }
    .clamp(1, n.max(1));

    // Group commit (see `commit`): only real runs that flush stage their writes.
    let flusher = Flusher::new();
    let staging = (!opts.noop && opts.fsync).then_some(&flusher);
    let worker = || loop {
        let mut s = sched.lock().unwrap_or_else(|e| e.into_inner());
        let job = loop {
            if s.done == n {
                return;
            }
            let commit_due =
                !s.staged.is_empty() && !s.committing && (s.ready.is_empty() || s.batch_full());
            if commit_due {
                s.committing = true;
                s.staged_files = 0;
                s.staged_bytes = 0;
                break Job::Commit(std::mem::take(&mut s.staged));
            }
            if let Some(Reverse((_, i))) = s.ready.pop() {
                break Job::Run(i);
            }
            s.idle += 1;
            s = wake.wait(s).unwrap_or_else(|e| e.into_inner());
            s.idle -= 1;
        };
        let i = match job {
            Job::Run(i) => i,
            Job::Commit(batch) => {
                drop(s);
                let results = commit_batch(doc, providers, &cx, &flusher, batch, &key);
                let mut s = sched.lock().unwrap_or_else(|e| e.into_inner());
                s.committing = false;
                for (i, result) in results {
                    s.finish(&graph, &pos, i, result, &wake);
                }
                // Whoever waited for the commit to end may commit the next batch.
                wake.notify_all();
                continue;
            }
        };
        // Every predecessor is done: decide skip and refresh from their results.
        let mut blocked = None;
        let mut refresh_from = Vec::new();
        if !s.taken.get(i).copied().unwrap_or(true) {
            // Left out (`--tags`): not run and not reported. What it stands for in its
            // dependents' eyes is the first failure or skip before it, if any.
            let mut stand_in = ResourceResult {
                reference: String::new(),
                status: Status::Unchanged,
                outcome: Outcome::unchanged(),
                refreshed: None,
                message: None,
                noop: false,
            };
            if let Some(pr) = graph.preds[i]
                .iter()
                .filter_map(|&(p, _)| s.results[p].as_ref())
                .find(|pr| matches!(pr.status, Status::Failed | Status::Skipped))
            {
                stand_in.status = pr.status;
                stand_in.reference = pr.reference.clone();
            }
            s.finish(&graph, &pos, i, stand_in, &wake);
            continue;
        }
        for &(p, refresh) in &graph.preds[i] {
            let pr = s.results[p].as_ref().expect("predecessor done");
            match pr.status {
                Status::Failed | Status::Skipped if blocked.is_none() => {
                    // Said as it is: a dependency that was itself skipped did not fail.
                    let how = if pr.status == Status::Failed {
                        "failed"
                    } else {
                        "was skipped"
                    };
                    blocked = Some(format!("{} {how}", pr.reference))
                }
                Status::Changed if refresh => refresh_from.push(pr.reference.clone()),
                _ => {}
            }
        }
        let reference = doc.display(i);
        let sc = &mut *s;
        if let Some(observer) = sc.observer.as_mut() {
            observer(Event::Started {
                reference: &reference,
                done: sc.reported,
                total: sc.total,
            });
        }
        drop(s);
        let executed = execute(
            doc,
            i,
            reference,
            providers,
            &cx,
            staging,
            blocked,
            &refresh_from,
            &key,
        );
        let mut s = sched.lock().unwrap_or_else(|e| e.into_inner());
        match executed {
            Executed::Done(result) => s.finish(&graph, &pos, i, result, &wake),
            Executed::Staged(staged) => {
                s.staged_files += staged.pending.len();
                s.staged_bytes += staged.pending.iter().map(|p| p.bytes).sum::<u64>();
                s.staged.push(staged);
                // A sleeper may commit it (or this worker will, when it runs out of work).
                if s.idle > 0 && (s.ready.is_empty() || s.batch_full()) {
                    wake.notify_one();
                }
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..jobs {
            scope.spawn(worker);
        }
        worker();
    });

    // Renames and removals are durable once their directories are flushed: once per run
    // (one `syncfs` per filesystem where that is trusted).
    flusher.sync_dirs(dirty.into_inner().unwrap_or_else(|e| e.into_inner()));
    if let Some(u) = unfinished {
        u.end();
    }
    let Sched {
        mut results, taken, ..
    } = sched.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(Run {
        node: doc.node.to_string(),
        noop: opts.noop,
        started,
        seconds: clock.elapsed().as_secs_f64(),
        results: graph
            .order
            .iter()
            .filter(|&&i| taken.get(i).copied().unwrap_or(true))
            .map(|&i| results[i].take().expect("every resource ran"))
            .collect(),
    })
}

/// Owner lookups that know the users and groups the catalog creates: a noop run plans a
/// file owned by a user it would create before that user exists.
fn planned_ids(doc: &Input, root: &crate::sys::root::Root, takes: &dyn Fn(usize) -> bool) -> Ids {
    let (mut users, mut groups) = (FxHashSet::default(), FxHashSet::default());
    let mut user_groups = None;
    for i in 0..doc.len() {
        let kind = doc.kind(i);
        if (kind != "user" && kind != "group") || !takes(i) {
            continue;
        }
        let r = doc.resource(i);
        let p = super::providers::Params::new(&r);
        if p.str("ensure").ok().flatten().as_deref() == Some("absent") {
            continue;
        }
        let Ok(name) = p.name("name") else { continue };
        if kind == "user" {
            // useradd makes the user's own group when no `gid` is given (and login.defs
            // says so).
            if !p.has("gid")
                && *user_groups.get_or_insert_with(|| super::providers::etc::user_groups(root))
            {
                groups.insert(name.clone());
            }
            users.insert(name);
        } else {
            groups.insert(name);
        }
    }
    Ids::planning(users, groups)
}

/// Commits a batch of staged resources (see `commit`): their results, with a refresh run
/// after the renames where one was asked for.
fn commit_batch(
    doc: &Input,
    providers: &Providers,
    cx: &Ctx,
    flusher: &Flusher,
    batch: Vec<Staged>,
    key: &super::secret::ReportKey,
) -> Vec<(usize, ResourceResult)> {
    let items: Vec<&[Pending]> = batch.iter().map(|s| s.pending.as_slice()).collect();
    let committed = commit::commit(flusher, &items);
    batch
        .into_iter()
        .zip(committed)
        .map(|(staged, committed)| {
            let mut result = staged.result;
            match committed {
                Ok(()) if staged.refresh => {
                    let r = doc.resource(staged.i);
                    if let Some(provider) = providers.get(&r.kind) {
                        refresh(provider.as_ref(), &r, cx, &mut result);
                    }
                }
                Ok(()) => {}
                Err(e) => {
                    result.status = Status::Failed;
                    result.outcome = Outcome::unchanged();
                    result.message = Some(e.for_resource(result.reference.clone()));
                }
            }
            if result.outcome.changed() {
                super::secret::redact(&doc.resource(staged.i), &mut result.outcome, key);
            }
            (staged.i, result)
        })
        .collect()
}

/// A resource whose new file contents wait, in temp files, for their batch's flush.
struct Staged {
    i: usize,
    /// What `sync` reported.
    result: ResourceResult,
    pending: Vec<Pending>,
    /// A dependency that changed asks for a refresh (run after the commit).
    refresh: bool,
}

enum Executed {
    Done(ResourceResult),
    Staged(Staged),
}

#[allow(clippy::too_many_arguments)]
fn execute(
    doc: &Input,
    i: usize,
    reference: String,
    providers: &Providers,
    cx: &Ctx,
    flusher: Option<&Flusher>,
    blocked: Option<String>,
    refresh_from: &[String],
    key: &super::secret::ReportKey,
) -> Executed {
    let r = doc.resource(i);
    let r = r.as_ref();
    let mut result = ResourceResult {
        reference,
        status: Status::Unchanged,
        outcome: Outcome::unchanged(),
        refreshed: None,
        message: None,
        noop: false,
    };
    if let Some(dep) = blocked {
        result.status = Status::Skipped;
        result.message = Some(Error::new(
            ErrorKind::Skipped,
            format!("skipped: dependency {dep}"),
        ));
        return Executed::Done(result);
    }
    let Some(provider) = providers.get(&r.kind) else {
        result.status = Status::Failed;
        result.message = Some(Error::bad_catalog(format!(
            "unsupported resource type {:?}",
            r.kind
        )));
        return Executed::Done(result);
    };
    // The `noop` metaparameter, when a catalog carries it in `params`: plan this one only.
    let own = Ctx { noop: true, ..*cx };
    result.noop = !cx.noop
        && super::providers::Params::new(r).raw("noop") == Some(&serde_json::Value::Bool(true));
    let cx = if result.noop { &own } else { cx };
    let staging = flusher.filter(|_| !cx.noop && cx.fsync).map(Staging::new);
    let synced = {
        let cx = Ctx {
            staging: staging.as_ref(),
            ..*cx
        };
        caught(|| provider.sync(r, &cx))
    };
    if !provider.keeps_dirs() {
        // Whatever it did to the tree, paths resolved from now on are walked afresh (its
        // dependents run after this).
        cx.dirs.invalidate();
    }
    let pending = staging.map(Staging::into_pending).unwrap_or_default();
    match synced {
        Ok(outcome) => {
            result.status = if outcome.changed() {
                Status::Changed
            } else {
                Status::Unchanged
            };
            result.outcome = outcome;
            if !pending.is_empty() {
                return Executed::Staged(Staged {
                    i,
                    result,
                    pending,
                    refresh: !refresh_from.is_empty(),
                });
            }
            if !refresh_from.is_empty() {
                refresh(provider.as_ref(), r, cx, &mut result);
            }
        }
        Err(msg) => {
            discard(&pending);
            result.status = if *msg.kind() == ErrorKind::NotRun {
                Status::NotRun
            } else {
                Status::Failed
            };
            result.message = Some(msg.for_resource(result.reference.clone()));
        }
    }
    // What plans and reports must not show (`secret`): only changed resources say anything.
    if result.outcome.changed() {
        super::secret::redact(r, &mut result.outcome, key);
    }
    Executed::Done(result)
}

/// Runs the provider's `refresh` for a resource that `sync` left in `result`.
fn refresh(provider: &dyn super::Provider, r: &ResourceDoc, cx: &Ctx, result: &mut ResourceResult) {
    let done = match panics(|| provider.refresh(r, cx, &result.outcome)) {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) if *e.kind() == ErrorKind::NotRun => {
            // What sync changed stands; the refresh itself changed nothing.
            if result.status == Status::Unchanged {
                result.status = Status::NotRun;
            }
            result.message = Some(e.for_resource(result.reference.clone()));
            return;
        }
        Ok(Err(e)) => Err(e.prefixed("refresh failed: ")),
        Err(e) => Err(e),
    };
    match done {
        Ok(done) => {
            if done.is_some() {
                result.status = Status::Changed;
            }
            result.refreshed = done;
        }
        Err(e) => {
            result.status = Status::Failed;
            result.message = Some(e.for_resource(result.reference.clone()));
        }
    }
}

/// A provider call; a panic becomes an "internal error" message.
fn caught<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    panics(f).and_then(|r| r)
}

/// `f()`, or the "internal error" message of its panic.
fn panics<T>(f: impl FnOnce() -> T) -> Result<T, Error> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Error::new(ErrorKind::Internal, format!("internal error: {msg}"))
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::program::{Options, Program};

    /// The input made straight from a catalog against the one read from its document.
    fn assert_same_input(catalog: &Catalog, sources: &SourceMap, what: &str) {
        let doc = crate::catalog::to_doc(catalog, sources);
        let from_doc = Input::from_doc(&doc).unwrap();
        let direct = Input::from_catalog(catalog, sources);
        assert_eq!(direct.node, from_doc.node, "{what}: node");
        assert_eq!(direct.len(), from_doc.len(), "{what}: resources");
        for i in 0..direct.len() {
            assert_eq!(direct.reference(i), from_doc.reference(i), "{what}: {i}");
            assert_eq!(direct.kind(i), from_doc.kind(i), "{what}: {i}");
            assert_eq!(direct.file_path(i), from_doc.file_path(i), "{what}: {i}");
            assert!(
                direct.resource(i) == from_doc.resource(i),
                "{what}: resource {i} differs"
            );
        }
        assert_eq!(direct.edges, from_doc.edges, "{what}: edges");
        let (a, b) = (Graph::new(&direct).unwrap(), Graph::new(&from_doc).unwrap());
        assert_eq!(
            (a.order, a.preds, a.succs),
            (b.order, b.preds, b.succs),
            "{what}"
        );
    }

    fn compile_all(program: &Program) -> Vec<(String, Catalog)> {
        program
            .all_nodes()
            .into_iter()
            .filter_map(|node| {
                let (c, _) = program.compile(&node, &ContentStore::new());
                c.map(|c| (node, c))
            })
            .collect()
    }

    #[test]
    fn compiled_catalogs_give_the_input_their_documents_give() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut mains: Vec<PathBuf> = std::fs::read_dir(root.join("examples"))
            .unwrap()
            .map(|e| e.unwrap().path().join("site.fleet"))
            .filter(|p| p.is_file())
            .collect();
        for e in std::fs::read_dir(root.join("tests/cases/compile")).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "fleet") {
                mains.push(p);
            }
        }
        mains.sort();
        let mut compared = 0;
        for main in &mains {
            let program = Program::load(std::slice::from_ref(main), Options::default());
            for (node, c) in compile_all(&program) {
                assert_same_input(&c, &program.sources, &format!("{} {node}", main.display()));
                compared += 1;
            }
        }
        // The examples alone give more than this; fewer means the inputs went missing.
        assert!(compared >= 10, "only {compared} catalogs from {mains:?}");
    }

    #[test]
    fn a_large_catalog_gives_the_input_its_document_gives() {
        // Many resources, with edges far apart.
        let mut text = String::from("node default {\n  file \"/srv\" { ensure = directory }\n");
        for i in 0..3000 {
            text.push_str(&format!(
                "  file \"/srv/f{i}\" {{ content = \"{i}\\n\", mode = \"0640\", tag = [\"t{i}\"] }}\n"
            ));
            if i > 0 && i % 7 == 0 {
                text.push_str(&format!(
                    "  File[\"/srv/f{}\"] -> File[\"/srv/f{i}\"]\n",
                    i - 1500.min(i)
                ));
            }
        }
        text.push_str("}\n");
        let program =
            Program::load_with(vec![(PathBuf::from("big.fleet"), text)], Options::default());
        let catalogs = compile_all(&program);
        assert_eq!(catalogs.len(), 1);
        let (_, c) = &catalogs[0];
        assert_eq!(c.resources.len(), 3001);
        assert!(c.edges.len() > 3000, "{} edges", c.edges.len());
        assert_same_input(c, &program.sources, "big");
    }

    #[test]
    fn the_observer_hears_every_result_in_order_as_parallel_workers_finish() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("node default {\n  file \"/srv\" { ensure = directory }\n");
        for i in 0..200 {
            text.push_str(&format!(
                "  file \"/srv/f{i}\" {{ content = \"{i}\\n\", tag = \"{}\" }}\n",
                if i % 2 == 0 { "even" } else { "odd" }
            ));
        }
        text.push_str("}\n");
        let program =
            Program::load_with(vec![(PathBuf::from("t.fleet"), text)], Options::default());
        let store = ContentStore::new();
        let (c, _) = program.compile("default", &store);
        let c = c.unwrap();
        for tags in [
            super::super::TagFilter::default(),
            super::super::TagFilter {
                only: vec!["EVEN".into(), "directory-never".into()],
                skip: vec![],
            },
        ] {
            let opts = super::super::Options {
                root: crate::sys::root::Root::new(dir.path()).unwrap(),
                state_dir: PathBuf::new(),
                noop: true,
                jobs: 4,
                show_diff: false,
                fsync: false,
                chroot: false,
                host_commands: false,
                tags: tags.clone(),
            };
            let (mut started, mut finished, mut counts) = (0, Vec::new(), Vec::new());
            let mut observer = |e: Event| match e {
                Event::Started { .. } => started += 1,
                Event::Finished {
                    result,
                    done,
                    total,
                } => {
                    finished.push(result.reference.clone());
                    counts.push((done, total));
                }
            };
            let run = run_catalog_observed(
                &c,
                &program.sources,
                &store,
                &Providers::standard(),
                &opts,
                &mut observer,
            )
            .unwrap();
            let want: Vec<String> = run.results.iter().map(|r| r.reference.clone()).collect();
            let n = if tags.is_empty() { 201 } else { 100 };
            assert_eq!(want.len(), n, "{tags:?}");
            assert_eq!(finished, want, "{tags:?}: the order of the results");
            assert_eq!(started, n, "{tags:?}");
            assert_eq!(counts, (1..=n).map(|d| (d, n)).collect::<Vec<_>>());
            // Only the even files when tagged so (the directory, tagged `file`, is left out).
            let number = |r: &str| {
                r.trim_end_matches(']')
                    .rsplit('f')
                    .next()?
                    .parse::<u32>()
                    .ok()
            };
            assert!(
                tags.is_empty() || want.iter().all(|r| number(r).is_some_and(|k| k % 2 == 0)),
                "{want:?}"
            );
        }
    }
}
