//! `fleet release list PATH` and `fleet release rollback PATH [--to ID]`.

use std::io::{self, Write};
use std::path::PathBuf;

use super::run::On;
use super::{output, ExitStatus};
use crate::release;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Show the releases under a deploy root, newest first; `*` marks current.
    List {
        /// The deploy root (the release's `path`).
        path: PathBuf,
        /// Take PATH under this sandbox root.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// `text` (one line per release) or `json` (one object per release and line).
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Point `current` at the previous release (or `--to ID`) and delete the one that was current.
    Rollback {
        /// The deploy root (the release's `path`).
        path: PathBuf,
        /// The release to go back to (default: the one deployed before the current one).
        #[arg(long, value_name = "ID")]
        to: Option<String>,
        /// Take PATH under this sandbox root.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Stage a catalog's release NAME without switching `current` (what `fleet push --release`
    /// runs on each node before it switches them all).
    Stage(StageArgs),
    /// Undo `stage` while the release is not current: remove a release that staging made.
    Unstage(StageArgs),
}

/// `list` and `rollback` on the chosen nodes over ssh (with `--node` or `--class`), with
/// the fleet binary `fleet push` left in the push directory, else the node's own `fleet`.
#[derive(clap::Args, Debug)]
pub(crate) struct Remote {
    #[command(flatten)]
    pub on: On,
    /// With --node/--class: the manifest that names the nodes (default: site.fleet).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// With --node/--class: take PATH under this root on each node (`{node}`: its name).
    #[arg(long, value_name = "DIR")]
    pub remote_root: Option<String>,
    /// With --node/--class: the push directory on the nodes (as for `fleet push`).
    #[arg(long, value_name = "DIR", default_value = ".cache/fleet")]
    pub remote_dir: String,
}

#[derive(clap::Args, Debug)]
pub(crate) struct StageArgs {
    /// The release's title in the catalog.
    pub name: String,
    /// The catalog (as `fleet compile` writes it; content in `content/` beside it).
    #[arg(long, value_name = "FILE.json")]
    pub catalog: PathBuf,
    /// Take the release's path under this sandbox root.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Under --root: run `before_switch` on this host anyway.
    #[arg(long, requires = "root", conflicts_with = "chroot")]
    pub run_host_commands: bool,
    /// Under --root: run `before_switch` chrooted into it.
    #[arg(long, requires = "root")]
    pub chroot: bool,
}

pub(crate) fn run(args: Args) -> ExitStatus {
    let result = match &args.command {
        Command::List {
            path,
            format,
            remote,
            root,
        } if remote.on.chosen() => {
            let mut words = vec!["list".to_string(), path.display().to_string()];
            words.extend(["--format".to_string(), format.clone()]);
            return on_nodes(remote, root.is_some(), words);
        }
        Command::Rollback {
            path,
            to,
            remote,
            root,
        } if remote.on.chosen() => {
            let mut words = vec!["rollback".to_string(), path.display().to_string()];
            if let Some(to) = to {
                words.extend(["--to".to_string(), to.clone()]);
            }
            return on_nodes(remote, root.is_some(), words);
        }
        Command::List {
            path, root, format, ..
        } => match release::list(path, root.as_deref()) {
            Ok(infos) if infos.is_empty() => {
                let shown = release::host_path(root.as_deref(), path);
                Err(release::Error::Spec(format!(
                    "no releases under {}",
                    shown.display()
                )))
            }
            Ok(infos) if format == "json" => Ok(list_json(&infos)),
            Ok(infos) => Ok(list_text(&infos)),
            Err(e) => Err(e),
        },
        Command::Rollback { path, to, root, .. } => {
            release::rollback(path, root.as_deref(), to.as_deref()).map(|r| {
                format!(
                    "{}: current -> {} (removed {})\n",
                    path.display(),
                    r.to,
                    r.from
                )
            })
        }
        Command::Stage(a) => stage(a, false),
        Command::Unstage(a) => stage(a, true),
    };
    match result {
        Ok(text) => match io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                eprintln!("error: {e}");
                ExitStatus::Errors
            }
            _ => ExitStatus::Ok,
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitStatus::Errors
        }
    }
}

/// `fleet release WORDS…` on every chosen node over ssh, a table of the nodes' exits.
fn on_nodes(remote: &Remote, local_root: bool, mut words: Vec<String>) -> ExitStatus {
    if local_root {
        output::command_error("with --node or --class, take PATH under a root with --remote-root");
        return ExitStatus::Usage;
    }
    let selection = match remote.on.select(remote.manifest.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let binary = match crate::remote::push::Binary::this() {
        Ok(b) => b,
        Err(e) => {
            output::command_error(&format!("cannot read this fleet binary: {e}"));
            return ExitStatus::Errors;
        }
    };
    if let Some(root) = &remote.remote_root {
        words.extend(["--root".to_string(), root.clone()]);
    }
    let quoted: Vec<String> = words
        .iter()
        .map(|w| crate::remote::push::quote(w))
        .collect();
    let pushed = format!("{}/bin/{}", remote.remote_dir, binary.name);
    let line = format!(
        "b={}; [ -x \"$b\" ] || b=fleet; \"$b\" release {}",
        crate::remote::push::quote(&pushed),
        quoted.join(" ")
    );
    super::run::execute(
        &selection.targets,
        &[line],
        &remote.on.ssh(),
        false,
        "text",
        "fleet release",
    )
}

/// One JSON object per release and line, newest first (CLI.md's JSON-lines style).
fn list_json(infos: &[release::ReleaseInfo]) -> String {
    let mut text = String::new();
    for i in infos {
        let v = serde_json::json!({
            "id": i.id,
            "current": i.current,
            "seq": i.seq,
            "deployed": i.deployed,
            "content_sha256": i.content_sha256,
            "commit": i.commit,
        });
        text.push_str(&format!("{v}\n"));
    }
    text
}

fn list_text(infos: &[release::ReleaseInfo]) -> String {
    let mut text = String::new();
    let width = infos.iter().map(|i| i.id.len()).max().unwrap_or(0);
    for i in infos {
        let deployed = i
            .deployed
            .as_deref()
            .map(|d| format!("{}Z", d.get(..19).unwrap_or(d)))
            .unwrap_or_else(|| "-".into());
        let source = match (&i.commit, &i.content_sha256) {
            (Some(c), _) => format!("commit {c}"),
            (None, Some(s)) => format!("sha256 {s}"),
            (None, None) => "-".into(),
        };
        text.push_str(&format!(
            "{} {:width$}  {deployed}  {source}\n",
            if i.current { '*' } else { ' ' },
            i.id,
        ));
    }
    text
}

/// `release stage` / `unstage`: every release titled NAME in the catalog.
fn stage(a: &StageArgs, undo: bool) -> Result<String, release::Error> {
    let text = std::fs::read_to_string(&a.catalog)
        .map_err(release::Error::io(format!("read {}", a.catalog.display())))?;
    let doc = crate::catalog::json::CatalogDoc::read(&text)
        .map_err(|e| release::Error::Spec(format!("{}: {e}", a.catalog.display())))?;
    let dir = a
        .catalog
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let store = crate::catalog::store::ContentStore::from_dir(dir.join("content"));
    let mut env =
        release::Env::new(a.root.clone(), &store).with_limits(release::Limits::from_env()?);
    env.hooks = match (&a.root, a.chroot, a.run_host_commands) {
        (None, _, _) | (Some(_), false, true) => release::Hooks::Host,
        (Some(_), true, _) => release::Hooks::Chroot,
        (Some(_), false, false) => release::Hooks::NotRun,
    };
    let releases: Vec<_> = doc
        .resources
        .iter()
        .filter(|r| r.kind == "release")
        .collect();
    let chosen: Vec<_> = releases.iter().filter(|r| r.title == a.name).collect();
    if chosen.is_empty() {
        let names: Vec<&str> = releases.iter().map(|r| r.title.as_str()).collect();
        return Err(release::Error::Spec(format!(
            "the catalog of {} has no release {:?} (it has: {})",
            doc.node,
            a.name,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
    }
    let mut out = String::new();
    for r in chosen {
        let spec = release::Spec::from_params(&r.title, &r.params).map_err(release::Error::Spec)?;
        if undo {
            let removed = release::unstage(&spec, &env)?;
            out.push_str(&format!(
                "{}: {} {}\n",
                spec.path.display(),
                if removed { "removed staged" } else { "kept" },
                spec.id
            ));
        } else {
            let s = release::stage(&spec, &env)?;
            for (hook, text) in &s.hook_output {
                eprint!("{hook}: {text}");
            }
            let what = match (s.current, s.created) {
                (true, _) => "is already current",
                (false, true) => "staged",
                (false, false) => "staged (it existed)",
            };
            out.push_str(&format!("{}: {} {what}\n", s.deploy_root.display(), s.id));
        }
    }
    Ok(out)
}
