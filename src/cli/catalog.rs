//! `fleet catalog diff A.json B.json` and `fleet catalog diff --node NAME REV1 REV2 [FILE]`:
//! what would change on a node between two catalogs, resource by resource (see
//! `catalog::diff`). Exit like diff(1): 0 the same, 1 different, 2 trouble (an unreadable
//! catalog, a revision that does not compile, bad invocation).
//!
//! Revisions are of the git repository holding FILE (default `site.fleet`, else
//! `manifests/site.fleet`): each is exported with `git archive` into a temporary directory
//! and FILE is compiled there for NAME. `--modulepath` and `--facts` are taken as given,
//! from the working tree, for both revisions.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use super::check::default_manifest;
use super::compile::compile_node;
use super::{output, ExitStatus, ManifestArgs};
use crate::catalog::diff::{diff, CatalogDiff, Side};
use crate::catalog::json::CatalogDoc;

/// Exit status: the catalogs differ (1, as diff(1) says).
const DIFFERENT: ExitStatus = ExitStatus::Errors;
/// Exit status: could not compare (2, as diff(1) says).
const TROUBLE: ExitStatus = ExitStatus::Usage;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// `+`/`-`/`~` lines, `param: from -> to` under each change, then a summary line.
    #[default]
    Text,
    /// One JSON object: `added`, `removed`, `changed`, `edges_added`, `edges_removed`.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct CatalogArgs {
    #[command(subcommand)]
    pub command: CatalogCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CatalogCommand {
    /// What would change on a node from catalog A to catalog B (two catalog files, or with
    /// --node two git revisions of the manifests). Exit 0 same, 1 different, 2 trouble.
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The old catalog file, or with --node the old git revision.
    #[arg(value_name = "A")]
    pub a: String,
    /// The new catalog file, or with --node the new git revision.
    #[arg(value_name = "B")]
    pub b: String,
    /// With --node: the main manifest (default `site.fleet`, else `manifests/site.fleet`).
    #[arg(value_name = "FILE", requires = "node")]
    pub file: Option<PathBuf>,
    /// Compile this node's catalog at revisions A and B of the manifests' git repository.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

pub(crate) fn run(args: CatalogArgs) -> ExitStatus {
    match args.command {
        CatalogCommand::Diff(d) => run_diff(d),
    }
}

fn run_diff(args: DiffArgs) -> ExitStatus {
    let sides = match &args.node {
        None => read_file(Path::new(&args.a)).and_then(|a| Ok((a, read_file(Path::new(&args.b))?))),
        Some(node) => at_revisions(&args, node),
    };
    let (a, b) = match sides {
        Ok(sides) => sides,
        Err(code) => return code,
    };
    let d = diff(&a, &b);
    let text = match args.format {
        Format::Text => text(&d),
        Format::Json => {
            let mut s = serde_json::to_string(&to_json(&args, &b.node, &d)).expect("serialises");
            s.push('\n');
            s
        }
    };
    output::stdout(&text);
    if d.is_empty() {
        ExitStatus::Ok
    } else {
        DIFFERENT
    }
}

fn read_file(path: &Path) -> Result<CatalogDoc, ExitStatus> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        output::command_error(&format!("cannot read {}: {e}", path.display()));
        TROUBLE
    })?;
    CatalogDoc::from_json(&text).map_err(|e| {
        output::command_error(&format!("{}: not a catalog: {e}", path.display()));
        TROUBLE
    })
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> std::io::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!(
            "fleet-catalog-diff-{}-{tag}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output, String> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))
}

fn at_revisions(args: &DiffArgs, node: &str) -> Result<(CatalogDoc, CatalogDoc), ExitStatus> {
    let file = match &args.file {
        Some(f) => f.clone(),
        None => default_manifest(Path::new(".")).ok_or_else(|| {
            output::command_error(
                "no manifest given, and neither site.fleet nor manifests/site.fleet is here",
            );
            ExitStatus::Usage
        })?,
    };
    let trouble = |msg: String| {
        output::command_error(&msg);
        TROUBLE
    };
    let abs = std::fs::canonicalize(&file)
        .map_err(|e| trouble(format!("no such manifest: {}: {e}", file.display())))?;
    let dir = abs.parent().unwrap_or(Path::new("/"));
    let top = git(dir, &["rev-parse", "--show-toplevel"]).map_err(trouble)?;
    if !top.status.success() {
        return Err(trouble(format!(
            "{} is not in a git repository: {}",
            file.display(),
            String::from_utf8_lossy(&top.stderr).trim()
        )));
    }
    let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim_end_matches('\n'));
    let rel = abs
        .strip_prefix(&top)
        .map_err(|_| trouble(format!("{} is outside {}", abs.display(), top.display())))?
        .to_path_buf();
    // Each revision compiles with the export as working directory (diagnostics then name
    // `manifests/site.fleet:3:5`, not a temporary path): --modulepath and --facts are taken
    // from here, made absolute first.
    if let Err(msg) = args.manifest.validate(&[]) {
        output::command_error(&msg);
        return Err(ExitStatus::Usage);
    }
    let absolute = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    let manifest = ManifestArgs {
        modulepath: args.manifest.modulepath.iter().map(absolute).collect(),
        facts: args.manifest.facts.as_ref().map(absolute),
    };
    let a = compile_at(&top, &args.a, &rel, node, &manifest)?;
    let b = compile_at(&top, &args.b, &rel, node, &manifest)?;
    Ok((a, b))
}

/// Exports revision `rev` of the repository at `top` and compiles `rel` there for `node`.
fn compile_at(
    top: &Path,
    rev: &str,
    rel: &Path,
    node: &str,
    manifest: &ManifestArgs,
) -> Result<CatalogDoc, ExitStatus> {
    let trouble = |msg: String| {
        output::command_error(&msg);
        TROUBLE
    };
    // `--end-of-options`: a revision that looks like a flag is still a revision.
    let commit = git(
        top,
        &[
            "rev-parse",
            "--verify",
            "--end-of-options",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .map_err(&trouble)?;
    if !commit.status.success() {
        return Err(trouble(format!(
            "`{rev}` is not a revision of {}",
            top.display()
        )));
    }
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_string();
    let tmp = TempDir::new(&commit[..commit.len().min(12)])
        .map_err(|e| trouble(format!("cannot make a temporary directory: {e}")))?;
    let archive = git(top, &["archive", "--format=tar", &commit]).map_err(&trouble)?;
    if !archive.status.success() {
        return Err(trouble(format!(
            "git archive {rev}: {}",
            String::from_utf8_lossy(&archive.stderr).trim()
        )));
    }
    tar::Archive::new(&archive.stdout[..])
        .unpack(&tmp.0)
        .map_err(|e| trouble(format!("cannot unpack revision {rev}: {e}")))?;
    if !tmp.0.join(rel).is_file() {
        return Err(trouble(format!(
            "{} does not exist at revision {rev}",
            rel.display()
        )));
    }
    let here = std::env::current_dir()
        .map_err(|e| trouble(format!("cannot read the working directory: {e}")))?;
    std::env::set_current_dir(&tmp.0)
        .map_err(|e| trouble(format!("cannot enter {}: {e}", tmp.0.display())))?;
    let compiled = compile_node(rel, manifest, node);
    // Back before the export is removed (and before the next revision).
    let _ = std::env::set_current_dir(&here);
    let (program, catalog) = compiled.map_err(|code| {
        if code == ExitStatus::Errors {
            output::command_error(&format!(
                "revision {rev} does not compile for node `{node}`"
            ));
        }
        TROUBLE
    })?;
    Ok(crate::catalog::to_doc(&catalog, &program.sources))
}

fn show(v: &Side) -> String {
    match v {
        None => "(unset)".to_string(),
        Some(v) => v.to_string(),
    }
}

/// How many lines a text has (a last line without its newline counts).
fn lines(s: &str) -> usize {
    s.trim_end_matches('\n').split('\n').count()
}

fn text(d: &CatalogDiff) -> String {
    let mut out = String::new();
    for (id, changes) in &d.changed {
        out.push_str(&format!("~ {id}\n"));
        for (k, from, to) in changes {
            match (from, to) {
                // Text of several lines (a file's content): a unified diff reads better.
                (Some(Value::String(a)), Some(Value::String(b)))
                    if lines(a) > 1 || lines(b) > 1 =>
                {
                    out.push_str(&format!("    {k}:\n"));
                    let diff =
                        crate::apply::providers::file::unified_diff(a.as_bytes(), b.as_bytes(), k);
                    for line in diff.lines() {
                        out.push_str(&format!("      {line}\n"));
                    }
                }
                _ => out.push_str(&format!("    {k}: {} -> {}\n", show(from), show(to))),
            }
        }
    }
    for (id, params) in &d.added {
        out.push_str(&format!("+ {id}\n"));
        for (k, v) in params {
            out.push_str(&format!("    {k}: {v}\n"));
        }
    }
    for id in &d.removed {
        out.push_str(&format!("- {id}\n"));
    }
    for (sign, edges) in [("+", &d.edges_added), ("-", &d.edges_removed)] {
        for e in edges {
            let arrow = if e.refresh { "~>" } else { "->" };
            out.push_str(&format!("{sign} edge {} {arrow} {}\n", e.from, e.to));
        }
    }
    out.push_str(&if d.is_empty() {
        "no difference\n".to_string()
    } else {
        format!(
            "{} added, {} removed, {} changed; edges: {} added, {} removed\n",
            d.added.len(),
            d.removed.len(),
            d.changed.len(),
            d.edges_added.len(),
            d.edges_removed.len()
        )
    });
    out
}

fn to_json(args: &DiffArgs, node: &str, d: &CatalogDiff) -> Value {
    let side = |v: &Side| v.clone().unwrap_or(Value::Null);
    let edge = |e: &crate::catalog::json::EdgeDoc| json!({"from": e.from, "to": e.to, "refresh": e.refresh});
    json!({
        "from": args.a,
        "to": args.b,
        "node": node,
        "same": d.is_empty(),
        "added": d.added.iter().map(|(id, p)| json!({"resource": id, "params": p})).collect::<Vec<_>>(),
        "removed": d.removed.iter().map(|id| json!({"resource": id})).collect::<Vec<_>>(),
        "changed": d.changed.iter().map(|(id, changes)| json!({
            "resource": id,
            "params": changes.iter().map(|(k, f, t)| (k.clone(), json!({"from": side(f), "to": side(t)}))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "edges_added": d.edges_added.iter().map(edge).collect::<Vec<_>>(),
        "edges_removed": d.edges_removed.iter().map(edge).collect::<Vec<_>>(),
    })
}
