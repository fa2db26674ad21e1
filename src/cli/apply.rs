//! `fleet apply`: compile (or read) the catalog, apply or plan it, render the plan or the
//! Report JSON, keep the report, choose the exit code.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::ExitStatus;
use crate::apply::report;
use crate::apply::root::Root;
use crate::apply::{state, Action, Options, Providers, Run, Status};
use crate::catalog::json::CatalogDoc;
use crate::catalog::store::ContentStore;
use crate::catalog::Catalog;
use crate::source::SourceMap;

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The manifest to compile for this node (or give --catalog).
    pub file: Option<PathBuf>,
    /// Apply a catalog JSON file made by `fleet compile` (content from `<its dir>/content/`).
    #[arg(long, conflicts_with = "file")]
    pub catalog: Option<PathBuf>,
    /// The node to compile (default: this host's name).
    #[arg(long)]
    pub node: Option<String>,
    /// Change nothing; show what would change.
    #[arg(long)]
    pub noop: bool,
    /// Show unified diffs of file contents.
    #[arg(long)]
    pub show_diff: bool,
    /// `text` (a plan a person reads) or `json` (the Report JSON).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// Exit 0 no change, 2 changes, 4 failures, 6 both.
    #[arg(long)]
    pub detailed_exitcodes: bool,
    /// Take every path under DIR (images, containers, tests).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// The state directory (default `/var/lib/fleet` under the root).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Resources applied at once (default: the number of cores).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// With --root: run commands (exec and its guards, service commands, release hooks)
    /// inside DIR with chroot(2), which needs a shell in DIR. Without it or
    /// --run-host-commands, no command runs under --root.
    #[arg(long, requires = "root", conflicts_with = "run_host_commands")]
    pub chroot: bool,
    /// With --root: run commands on this host, with FLEET_ROOT=DIR set and their working
    /// directory mapped under DIR.
    #[arg(long, requires = "root")]
    pub run_host_commands: bool,
    /// Flush nothing: rename each written file into place at once, with no flush of its data
    /// or of the directories (for images and tests; a power loss can lose what the run wrote,
    /// a killed run still leaves each file old or new).
    #[arg(long)]
    pub no_fsync: bool,
    /// Also list unchanged resources.
    #[arg(long)]
    pub verbose: bool,
    /// Wait for another apply on the same state directory instead of failing.
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub modulepath: Vec<PathBuf>,
    #[arg(long)]
    pub facts: Option<PathBuf>,
}

/// `/var/lib/fleet` under the root, or `--state-dir` as given. The default's `/var/lib` is
/// resolved inside the root and pinned for the process (`apply::root`); `fleet` itself is
/// never followed (`apply::state`). With `create`, `/var/lib` is made when missing; without,
/// a missing one gives an empty path: no state directory.
pub(crate) fn state_dir(
    root: &Root,
    given: Option<&Path>,
    create: bool,
) -> Result<PathBuf, String> {
    if let Some(p) = given {
        // The operator's own path: a link there is their choice, followed once here.
        return Ok(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()));
    }
    let err = |e: std::io::Error| format!("state directory: {e}");
    if create {
        root.create_dir_all("/var/lib", 0o755).map_err(err)?;
    }
    match root.open_dir_handle("/var/lib") {
        Ok(fd) => {
            let shown = root.path().join("var/lib");
            Ok(crate::apply::root::pin_for_process(fd, &shown).join("fleet"))
        }
        Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => Ok(PathBuf::new()),
        Err(e) => Err(err(e)),
    }
}

/// What `fleet apply` applies: a catalog document read from a file, or a catalog compiled
/// here (applied as it is, without its wire document: `apply::run_catalog`).
enum Loaded {
    Doc(CatalogDoc),
    Compiled(Catalog, SourceMap),
}

/// Compiles FILE for a node through the front end (`Program`), with this machine's facts.
fn compile(args: &ApplyArgs, file: &Path) -> Result<(Loaded, ContentStore), String> {
    use crate::program::{Options as ProgOptions, Program};
    let facts = crate::apply::facts::gather();
    let mut program = Program::load(
        &[file.to_path_buf()],
        ProgOptions {
            modulepath: args.modulepath.clone(),
            facts: args.facts.clone(),
        },
    );
    // This machine's facts, unless --facts names others.
    if args.facts.is_none() {
        program.local_facts = Some(crate::eval::value::Value::from_json(
            &serde_json::Value::Object(facts.clone()),
        ));
    }
    let node = match &args.node {
        Some(n) => n.clone(),
        None => program.node_for_host(
            facts
                .get("hostname")
                .and_then(|h| h.as_str())
                .unwrap_or("default"),
        ),
    };
    let store = ContentStore::new();
    let (catalog, diags) = program.compile(&node, &store);
    let errors = diags.iter().filter(|d| d.is_error()).count();
    super::output::report_to_stderr(&diags, &program.sources, &file.to_string_lossy());
    match catalog {
        Some(c) if errors == 0 => {
            let sources = std::mem::take(&mut program.sources);
            // A one-shot process: freeing the program (and later the catalog, ~5 ms at
            // 10,000 resources) is left to the exit.
            std::mem::forget(program);
            Ok((Loaded::Compiled(c, sources), store))
        }
        _ => Err(format!("{} has errors; nothing applied", file.display())),
    }
}

fn load_catalog(path: &Path) -> Result<(Loaded, ContentStore), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc = CatalogDoc::read(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((
        Loaded::Doc(doc),
        ContentStore::from_dir(dir.join("content")),
    ))
}

pub fn run(args: ApplyArgs) -> ExitStatus {
    // Apply could not run: a failure, as CLI.md's exit codes count it.
    let fail_code = if args.detailed_exitcodes {
        ExitStatus::Failures
    } else {
        ExitStatus::Errors
    };
    let root = match super::root_arg(args.root.as_deref()) {
        Ok(r) => r,
        Err(status) => return status,
    };
    if let Some(f) = args.facts.as_ref().filter(|f| !f.exists()) {
        eprintln!("fleet: --facts {} does not exist", f.display());
        return ExitStatus::Usage;
    }
    let loaded = match (&args.catalog, &args.file) {
        (Some(c), _) => load_catalog(c),
        (None, Some(f)) => compile(&args, f),
        (None, None) => {
            eprintln!("fleet: apply needs a manifest FILE or --catalog FILE.json");
            return ExitStatus::Usage;
        }
    };
    let (loaded, store) = match loaded {
        Ok(x) => x,
        Err(e) => {
            eprintln!("fleet: {e}");
            return fail_code;
        }
    };
    let state_dir = match state_dir(&root, args.state_dir.as_deref(), !args.noop) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fleet: {e}");
            return fail_code;
        }
    };
    let _lock = match state::lock(&state_dir, !args.noop, args.wait) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fleet: {e}");
            return fail_code;
        }
    };
    let opts = Options {
        root,
        state_dir: state_dir.clone(),
        noop: args.noop,
        jobs: args.jobs,
        show_diff: args.show_diff,
        fsync: !args.no_fsync,
        chroot: args.chroot,
        host_commands: args.run_host_commands,
    };
    let providers = Providers::standard();
    let run = crate::timing::stage(format_args!("apply"), || match &loaded {
        Loaded::Doc(doc) => crate::apply::run(doc, &store, &providers, &opts),
        Loaded::Compiled(catalog, sources) => {
            crate::apply::run_catalog(catalog, sources, &store, &providers, &opts)
        }
    });
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fleet: {e}");
            return fail_code;
        }
    };
    let report = report::to_doc(&run, args.verbose);
    if !args.noop {
        if let Err(e) = state::save_report(
            &state_dir,
            &run.started,
            &report::to_doc(&run, true).to_json(),
        ) {
            eprintln!("fleet: cannot save the report: {e}");
        }
    }
    if args.format == "json" {
        super::out(&report.to_json());
    } else {
        super::out(&render(&run, args.verbose));
    }
    let code = if args.detailed_exitcodes {
        ExitStatus::detailed(run.changed(), run.failed())
    } else {
        ExitStatus::failed_if(run.failed())
    };
    // The process exits next: the catalog and the results need not be freed one by one.
    std::mem::forget((loaded, run, report));
    code
}

/// Shortens `sha256:<64 hex>` (and `hmac-sha256:`) to 12 hex digits for people.
fn short(v: &Option<String>) -> String {
    match v {
        None => "(none)".into(),
        Some(s) => match s.split_once(':') {
            Some((kind @ ("sha256" | "hmac-sha256"), h)) if h.len() == 64 => {
                format!("{kind}:{}", &h[..12])
            }
            _ => s.clone(),
        },
    }
}

/// The plan (noop) or the account (real run) a person reads.
pub fn render(run: &Run, verbose: bool) -> String {
    let mut s = String::new();
    let (mut create, mut change, mut remove, mut refresh) = (0, 0, 0, 0);
    for r in &run.results {
        match r.status {
            Status::Unchanged => {
                if verbose {
                    let _ = writeln!(s, "  {} unchanged", r.reference);
                }
            }
            Status::Changed | Status::Failed => {
                let o = &r.outcome;
                if o.action != Action::None {
                    let (sym, past) = match o.action {
                        Action::Create => {
                            create += 1;
                            ("+", "created")
                        }
                        Action::Remove => {
                            remove += 1;
                            ("-", "removed")
                        }
                        _ => {
                            change += 1;
                            ("~", "changed")
                        }
                    };
                    if run.noop {
                        let _ = writeln!(s, "{sym} {}", r.reference);
                    } else if r.noop {
                        let _ = writeln!(s, "{sym} {} (noop: not {past})", r.reference);
                    } else {
                        let _ = writeln!(s, "{sym} {} {past}", r.reference);
                    }
                    // A creation or removal is one line (details: --verbose, or the JSON report).
                    let details = o.action == Action::Change || verbose;
                    // A sensitive change is always one line, its message: no values, no diff.
                    for c in o.changes.iter().filter(|c| details || c.sensitive) {
                        if c.property == "ensure" && o.action != Action::Change {
                            continue;
                        }
                        if c.sensitive {
                            let _ = writeln!(s, "    {}", c.message);
                            continue;
                        }
                        if c.from.is_none() && c.to.is_none() {
                            // No values to compare (a release's steps): what it says.
                            let _ = writeln!(s, "    {}: {}", c.property, c.message);
                            continue;
                        }
                        let _ = writeln!(
                            s,
                            "    {}: {} -> {}",
                            c.property,
                            short(&c.from),
                            short(&c.to)
                        );
                    }
                    if let Some(d) = &o.diff {
                        for line in d.lines() {
                            let _ = writeln!(s, "    {line}");
                        }
                    }
                }
                if let Some(done) = &r.refreshed {
                    refresh += 1;
                    let _ = writeln!(s, "↻ {} ({done})", r.reference);
                }
                if r.status == Status::Failed {
                    let _ = writeln!(
                        s,
                        "! {} failed: {}",
                        r.reference,
                        r.message.as_deref().unwrap_or("")
                    );
                }
            }
            Status::Skipped | Status::NotRun => {
                let _ = writeln!(
                    s,
                    "· {} {}",
                    r.reference,
                    r.message.as_deref().unwrap_or("skipped")
                );
            }
        }
    }
    let (failed, skipped, not_run) = (
        run.count(Status::Failed),
        run.count(Status::Skipped),
        run.count(Status::NotRun),
    );
    if run.noop {
        let _ = write!(
            s,
            "{create} to create, {change} to change, {remove} to remove"
        );
        if refresh > 0 {
            let _ = write!(s, ", {refresh} to refresh");
        }
    } else {
        let _ = write!(s, "{create} created, {change} changed, {remove} removed");
        if refresh > 0 {
            let _ = write!(s, ", {refresh} refreshed");
        }
    }
    if failed > 0 {
        let _ = write!(s, ", {failed} failed");
    }
    if skipped > 0 {
        let _ = write!(s, ", {skipped} skipped");
    }
    if not_run > 0 {
        let _ = write!(s, ", {not_run} not run under --root");
    }
    let _ = writeln!(s, " ({} resources, {:.2}s)", run.results.len(), run.seconds);
    s
}
