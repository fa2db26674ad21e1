//! `fleet apply`: compile (or read) the catalog, apply or plan it, render the plan or the
//! Report JSON, keep the report, choose the exit code.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::ExitStatus;
use crate::apply::report;
use crate::apply::{
    state, Action, Change, Event, Options, Providers, ResourceResult, Run, Status, TagFilter,
};
use crate::catalog::json::CatalogDoc;
use crate::catalog::store::ContentStore;
use crate::catalog::Catalog;
use crate::source::SourceMap;
use crate::sys::root::Root;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Output (text): each resource's lines as soon as it and every resource before it in the
topological order are done; on a terminal, a progress line on stderr ([12/120] File[/etc/motd])
that is cleared at the end; then a table by type and status (changed, failed, skipped,
unchanged, and a total) and the summary line. Plans are coloured (+ green, ~ yellow, - red,
! bold red) only when stdout is a terminal and NO_COLOR is unset. --format json prints one
Report JSON document at the end.

Tags: a resource carries its type name, the classes and defines it was declared in, and its
`tag` values. --tags web,ntp takes only resources with one of them, --skip-tags leaves those
with one of them out (it wins); left-out resources are not run or shown, and the order
between the others is kept.")]
pub(crate) struct ApplyArgs {
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
    /// Wait for another apply on the same state directory instead of failing (stderr says
    /// so: "waiting for the lock held by pid N at PATH").
    #[arg(long)]
    pub wait: bool,
    /// Only the resources carrying one of these tags (their type name, their classes and
    /// defines, their `tag` values), in their dependency order; the rest are left out of the
    /// run, the plan and the report.
    #[arg(long, value_delimiter = ',', value_name = "TAG,…")]
    pub tags: Vec<String>,
    /// Leave out the resources carrying one of these tags (wins over --tags).
    #[arg(long, value_delimiter = ',', value_name = "TAG,…")]
    pub skip_tags: Vec<String>,
    /// Saved reports to keep in the state directory; older ones are removed after a run.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_reports: u32,
    #[arg(long)]
    pub modulepath: Vec<PathBuf>,
    #[arg(long)]
    pub facts: Option<PathBuf>,
}

/// `/var/lib/fleet` under the root, or `--state-dir` as given. The default's `/var/lib` is
/// resolved inside the root and pinned for the process (`sys::root`); `fleet` itself is
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
            Ok(crate::sys::root::pin_for_process(fd, &shown).join("fleet"))
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

/// Why nothing was applied: the message, and the manifest's diagnostics when that is why.
struct Failure {
    message: String,
    diagnostics: Vec<crate::diag::json::DiagnosticJson>,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            diagnostics: Vec::new(),
        }
    }
}

/// Prints a fatal error: `error: …` on stderr and, under `--format json`, the error object
/// `{"error": …, "diagnostics": […]}` (check's diagnostic objects) on stdout.
fn fail(args: &ApplyArgs, f: Failure, code: ExitStatus) -> ExitStatus {
    eprintln!("error: {}", f.message);
    if args.format == "json" {
        let v = serde_json::json!({"error": f.message, "diagnostics": f.diagnostics});
        super::out(&format!("{v}\n"));
    }
    code
}

/// Compiles FILE for a node through the front end (`Program`), with this machine's facts.
fn compile(args: &ApplyArgs, file: &Path) -> Result<(Loaded, ContentStore), Failure> {
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
        program.local_facts = Some(crate::model::value::Value::from_json(
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
    super::output::notices(&program);
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let main_file = file.to_string_lossy();
    if errors > 0 && args.format == "json" {
        // The diagnostics go in the error object on stdout.
        return Err(Failure {
            message: format!("{} has errors; nothing applied", file.display()),
            diagnostics: diags
                .iter()
                .map(|d| crate::diag::json::DiagnosticJson::new(d, &program.sources, &main_file))
                .collect(),
        });
    }
    super::output::report_to_stderr(&diags, &program.sources, &main_file);
    match catalog {
        Some(c) if errors == 0 => {
            let sources = std::mem::take(&mut program.sources);
            // A one-shot process: freeing the program (and later the catalog, ~5 ms at
            // 10,000 resources) is left to the exit.
            std::mem::forget(program);
            Ok((Loaded::Compiled(c, sources), store))
        }
        _ => Err(format!("{} has errors; nothing applied", file.display()).into()),
    }
}

fn load_catalog(path: &Path) -> Result<(Loaded, ContentStore), Failure> {
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

pub(crate) fn run(args: ApplyArgs) -> ExitStatus {
    execute(&args, None, &|_| {}).code
}

/// What an apply left: its exit status and, when the catalog was applied, its report
/// (changed and failed events; what `POST /v1/report` carries).
pub(crate) struct Applied {
    pub(crate) code: ExitStatus,
    pub(crate) report: Option<report::ReportDoc>,
}

/// `fleet apply` with `args`; `given` is a catalog document and its content already in hand
/// (`fleet agent`'s, instead of `--catalog` or FILE); `decorate` adds to the report before it
/// is saved, printed and returned (the agent's `cached_catalog`, its warnings). A one-shot
/// `fleet apply` leaves freeing the catalog and the run to the process's exit; a `given`
/// catalog (an agent runs for ever) is freed.
pub(crate) fn execute(
    args: &ApplyArgs,
    given: Option<(CatalogDoc, ContentStore)>,
    decorate: &dyn Fn(&mut report::ReportDoc),
) -> Applied {
    let one_shot = given.is_none();
    let failed = |code| Applied { code, report: None };
    // Apply could not run: a failure, as CLI.md's exit codes count it.
    let fail_code = if args.detailed_exitcodes {
        ExitStatus::Failures
    } else {
        ExitStatus::Errors
    };
    let root = match super::root_arg(args.root.as_deref()) {
        Ok(r) => r,
        Err(msg) => return failed(fail(args, msg.into(), ExitStatus::Usage)),
    };
    if let Some(f) = args.facts.as_ref().filter(|f| !f.exists()) {
        let msg = format!("--facts {} does not exist", f.display());
        return failed(fail(args, msg.into(), ExitStatus::Usage));
    }
    let loaded = match (given, &args.catalog, &args.file) {
        (Some((doc, store)), _, _) => Ok((Loaded::Doc(doc), store)),
        (None, Some(c), _) => load_catalog(c),
        (None, None, Some(f)) => compile(args, f),
        (None, None, None) => {
            let msg = "apply needs a manifest FILE or --catalog FILE.json".to_string();
            return failed(fail(args, msg.into(), ExitStatus::Usage));
        }
    };
    let (loaded, store) = match loaded {
        Ok(x) => x,
        Err(e) => return failed(fail(args, e, fail_code)),
    };
    let state_dir = match state_dir(&root, args.state_dir.as_deref(), !args.noop) {
        Ok(s) => s,
        Err(e) => return failed(fail(args, e.into(), fail_code)),
    };
    let waiting = |held: &state::Held| {
        let by = held
            .pid
            .map_or_else(|| "another run".to_string(), |p| format!("pid {p}"));
        super::output::stderr(&format!(
            "fleet: waiting for the lock held by {by} at {}…\n",
            held.path.display()
        ));
    };
    let _lock = match state::lock_noting(&state_dir, !args.noop, args.wait, waiting) {
        Ok(l) => l,
        Err(e) => return failed(fail(args, e.to_string().into(), fail_code)),
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
        tags: TagFilter {
            only: tags(&args.tags),
            skip: tags(&args.skip_tags),
        },
    };
    let providers = Providers::standard();
    // The text output goes out as the run goes: each result once it and those before it in
    // the order are known (JSON is one document at the end).
    let text = args.format != "json";
    let mut live = Live::new(
        Plan::new(
            args.noop,
            args.verbose,
            text && super::output::stdout_color(),
        ),
        text && super::output::stderr_takes_progress(),
    );
    let mut observer = |e: Event| live.event(e);
    let observer: crate::apply::engine::Observer = &mut observer;
    let run = crate::timing::stage(format_args!("apply"), || match &loaded {
        Loaded::Doc(doc) if text => {
            crate::apply::run_observed(doc, &store, &providers, &opts, observer)
        }
        Loaded::Doc(doc) => crate::apply::run(doc, &store, &providers, &opts),
        Loaded::Compiled(catalog, sources) if text => crate::apply::run_catalog_observed(
            catalog, sources, &store, &providers, &opts, observer,
        ),
        Loaded::Compiled(catalog, sources) => {
            crate::apply::run_catalog(catalog, sources, &store, &providers, &opts)
        }
    });
    live.clear_progress();
    let run = match run {
        Ok(r) => r,
        Err(e) => return failed(fail(args, e.to_string().into(), fail_code)),
    };
    let decorated = |verbose| {
        let mut doc = report::to_doc(&run, verbose);
        decorate(&mut doc);
        doc
    };
    let report = decorated(args.verbose);
    if !args.noop {
        if let Err(e) = state::save_report(&state_dir, &run.started, &decorated(true).to_json()) {
            eprintln!("warning: cannot save the report: {e}");
        } else if let Err(e) = state::prune_reports(&state_dir, args.keep_reports as usize) {
            eprintln!("warning: cannot remove old reports: {e}");
        }
    }
    if text {
        if live.open {
            super::out(&live.plan.end(&run));
        }
    } else {
        super::out(&report.to_json());
    }
    let code = if args.detailed_exitcodes {
        ExitStatus::detailed(run.changed(), run.failed())
    } else {
        ExitStatus::failed_if(run.failed())
    };
    let sent = if args.verbose {
        decorated(false)
    } else {
        report.clone()
    };
    if one_shot {
        // The process exits next: the catalog and the results need not be freed one by one.
        std::mem::forget((loaded, run, report));
    }
    Applied {
        code,
        report: Some(sent),
    }
}

/// `--tags a,b --tags c`: each non-empty tag, trimmed.
fn tags(given: &[String]) -> Vec<String> {
    given
        .iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The text output as the run goes: each result printed as the engine reports it, and on a
/// terminal a progress line on stderr (`[12/120] File[/etc/motd]`), rewritten in place and
/// cleared before each result and at the end.
struct Live {
    plan: Plan,
    /// Whether to draw the progress line (stderr is a terminal).
    progress: bool,
    /// The progress line drawn now, if any.
    drawn: bool,
    /// The last progress line: drawn again after a result is printed.
    line: String,
    /// Stdout still takes output (false once the reader went away).
    open: bool,
}

impl Live {
    fn new(plan: Plan, progress: bool) -> Live {
        Live {
            plan,
            progress,
            drawn: false,
            line: String::new(),
            open: true,
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::Started {
                reference,
                done,
                total,
            } => {
                if self.progress {
                    self.line.clear();
                    let _ = write!(self.line, "[{}/{total}] {reference}", done + 1);
                    self.draw();
                }
            }
            Event::Finished {
                result,
                done,
                total,
            } => {
                let text = self.plan.result(result);
                if !text.is_empty() && self.open {
                    self.clear_progress();
                    self.open = super::output::stdout(&text);
                }
                if done == total {
                    self.clear_progress();
                } else if !self.drawn {
                    // Cleared for the result's lines: drawn again below them.
                    self.draw();
                }
            }
        }
    }

    /// Draws the progress line (cut to the terminal's usual width) over the last one.
    fn draw(&mut self) {
        if self.progress && !self.line.is_empty() {
            let shown: String = self.line.chars().take(79).collect();
            super::output::stderr(&format!("\r\x1b[K{shown}"));
            self.drawn = true;
        }
    }

    fn clear_progress(&mut self) {
        if self.drawn {
            super::output::stderr("\r\x1b[K");
            self.drawn = false;
        }
    }
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

/// ANSI SGR sequences for the plan's signs (`+` green, `~` yellow, `-` red, `!` bold red).
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const BOLD_RED: &str = "\x1b[1;31m";
const RESET: &str = "\x1b[0m";

/// Renders a run one result at a time (so `fleet apply` prints each as it is known), then
/// its end: the table by type and status and the summary line.
pub(crate) struct Plan {
    noop: bool,
    verbose: bool,
    color: bool,
    create: usize,
    change: usize,
    remove: usize,
    refresh: usize,
}

impl Plan {
    /// `noop`: the run only plans; `color`: ANSI colours on the signs' lines.
    pub(crate) fn new(noop: bool, verbose: bool, color: bool) -> Plan {
        Plan {
            noop,
            verbose,
            color,
            create: 0,
            change: 0,
            remove: 0,
            refresh: 0,
        }
    }

    /// `line` in `color` when colours are on.
    fn paint(&self, s: &mut String, color: &str, line: std::fmt::Arguments) {
        if self.color {
            let _ = writeln!(s, "{color}{line}{RESET}");
        } else {
            let _ = writeln!(s, "{line}");
        }
    }

    /// The lines of one result (empty for an unchanged one unless verbose).
    pub(crate) fn result(&mut self, r: &ResourceResult) -> String {
        let mut s = String::new();
        let verbose = self.verbose;
        match r.status {
            Status::Unchanged => {
                if verbose {
                    let _ = writeln!(s, "  {} unchanged", r.reference);
                }
            }
            Status::Changed | Status::Failed => {
                let o = &r.outcome;
                if o.action != Action::None {
                    let (sym, past, color) = match o.action {
                        Action::Create => {
                            self.create += 1;
                            ("+", "created", GREEN)
                        }
                        Action::Remove => {
                            self.remove += 1;
                            ("-", "removed", RED)
                        }
                        _ => {
                            self.change += 1;
                            ("~", "changed", YELLOW)
                        }
                    };
                    if self.noop {
                        self.paint(&mut s, color, format_args!("{sym} {}", r.reference));
                    } else if r.noop {
                        self.paint(
                            &mut s,
                            color,
                            format_args!("{sym} {} (noop: not {past})", r.reference),
                        );
                    } else {
                        self.paint(&mut s, color, format_args!("{sym} {} {past}", r.reference));
                    }
                    // A creation or removal is one line (details: --verbose, or the JSON report),
                    // except for the steps it took (a release's: what became of `shared/`).
                    let details = o.action == Action::Change || verbose;
                    let step = |c: &&Change| c.from.is_none() && c.to.is_none();
                    // A sensitive change is always one line, its message: no values, no diff.
                    for c in o
                        .changes
                        .iter()
                        .filter(|c| details || c.sensitive || step(c))
                    {
                        if c.property == "ensure" && o.action != Action::Change {
                            continue;
                        }
                        if c.sensitive {
                            let _ = writeln!(s, "    {}", c.message);
                            continue;
                        }
                        if step(&c) {
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
                    self.refresh += 1;
                    let _ = writeln!(s, "↻ {} ({done})", r.reference);
                }
                if r.status == Status::Failed {
                    self.paint(
                        &mut s,
                        BOLD_RED,
                        format_args!(
                            "! {} failed: {}",
                            r.reference,
                            r.message
                                .as_ref()
                                .map(ToString::to_string)
                                .unwrap_or_default()
                        ),
                    );
                }
            }
            Status::Skipped | Status::NotRun => {
                let _ = writeln!(
                    s,
                    "· {} {}",
                    r.reference,
                    r.message
                        .as_ref()
                        .map_or_else(|| "skipped".to_string(), ToString::to_string)
                );
            }
        }
        s
    }

    /// The end of the text output: the table by type and status, then the summary line.
    pub(crate) fn end(&self, run: &Run) -> String {
        let mut s = summary_table(run);
        let (failed, skipped, not_run) = (
            run.count(Status::Failed),
            run.count(Status::Skipped),
            run.count(Status::NotRun),
        );
        let (create, change, remove, refresh) =
            (self.create, self.change, self.remove, self.refresh);
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
}

/// The per-run table: a row per resource type (in name order) with its count of each
/// status (`skipped` includes commands not run under `--root`, as the Report JSON does),
/// then a `total` row; a blank line before it. Empty for a run of no resources.
pub(crate) fn summary_table(run: &Run) -> String {
    const COLUMNS: [&str; 4] = ["changed", "failed", "skipped", "unchanged"];
    let mut rows: std::collections::BTreeMap<&str, [usize; 4]> = Default::default();
    let mut total = [0usize; 4];
    for r in &run.results {
        let kind = r
            .reference
            .split_once('[')
            .map_or(&*r.reference, |(k, _)| k);
        let col = match r.status {
            Status::Changed => 0,
            Status::Failed => 1,
            Status::Skipped | Status::NotRun => 2,
            Status::Unchanged => 3,
        };
        rows.entry(kind).or_default()[col] += 1;
        total[col] += 1;
    }
    let mut s = String::new();
    if rows.is_empty() {
        return s;
    }
    let width = rows
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let _ = write!(s, "\n{:width$}", "type");
    for c in COLUMNS {
        let _ = write!(s, "  {c}");
    }
    s.push('\n');
    for (kind, counts) in rows.iter().map(|(k, c)| (*k, c)).chain([("total", &total)]) {
        let _ = write!(s, "{kind:width$}");
        for (c, n) in COLUMNS.iter().zip(counts) {
            let _ = write!(s, "  {n:>w$}", w = c.len());
        }
        s.push('\n');
    }
    s
}
