//! `fleet init [DIR]`: a site skeleton (site.fleet, data/, templates/, .gitignore) that
//! passes `fleet check --deny warnings`; `fleet init --module NAME [DIR]`: a module
//! `DIR/NAME/` that `import "NAME"` finds. Existing files are never overwritten: when any of
//! them exists nothing is written.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{output, ExitStatus};

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Where to create it (made when missing).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Create a module `DIR/NAME/` (init.fleet, templates/, files/) instead of a site.
    #[arg(long, value_name = "NAME")]
    pub module: Option<String>,
}

const SITE: &str = r#"# The main manifest: which machines exist and what each one runs.
#
#   fleet check --deny warnings
#   mkdir -p /tmp/scratch/etc      # an empty image root; a real machine has its /etc
#   fleet apply --noop --root /tmp/scratch --node web01 site.fleet

# Values that differ per node or OS live in data/ (data/hierarchy.toml lists the levels).
class base($admin_email: String) {
  file "/etc/motd" {
    content = template("templates/motd.j2")
    mode    = "0644"
  }
  file "/etc/fleet-admin" {
    content = "${admin_email}\n"
    mode    = "0644"
  }
}

node "web01" {
  include base
}

node default {
  include base
}
"#;

const HIERARCHY: &str = r#"# Most specific first; a level whose file is missing is skipped.
levels = ["nodes/{node}", "os/{facts.os.family}", "common"]
"#;

const COMMON: &str = r#"# Defaults for every node; data/nodes/<node>.toml overrides them.
[base]
admin_email = "ops@example.net"
"#;

const MOTD: &str = "This is {{ node }}, managed by fleet: local changes are overwritten.\n";

const GITIGNORE: &str = "# fleet compile --all --out catalogs\n/catalogs/\n# scratch roots for fleet apply --root\n/root/\n";

fn module_files(name: &str) -> Vec<(String, String)> {
    vec![
        (
            format!("{name}/init.fleet"),
            format!(
                "# Module {name}: `import \"{name}\"` from a manifest in the directory above (or with\n\
                 # that directory on --modulepath), then `include {name}`.\n\n\
                 class {name}($ensure: String = \"present\") {{\n  \
                 file \"/etc/{name}.conf\" {{\n    \
                 ensure  = $ensure\n    \
                 content = template(\"{name}:templates/{name}.conf.j2\")\n    \
                 mode    = \"0644\"\n  }}\n}}\n"
            ),
        ),
        (
            format!("{name}/templates/{name}.conf.j2"),
            format!("# {name} on {{{{ node }}}}, managed by fleet\n"),
        ),
        (format!("{name}/files/.keep"), String::new()),
    ]
}

fn site_files() -> Vec<(String, String)> {
    [
        ("site.fleet", SITE),
        ("data/hierarchy.toml", HIERARCHY),
        ("data/common.toml", COMMON),
        ("templates/motd.j2", MOTD),
        (".gitignore", GITIGNORE),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_string(), t.to_string()))
    .collect()
}

/// A module name is an identifier (`import "NAME"` and `NAME:path` must accept it).
fn valid_module(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(crate) fn run(args: InitArgs) -> ExitStatus {
    let files = match &args.module {
        Some(name) if !valid_module(name) => {
            output::command_error(&format!(
                "`{name}` is not a module name: lowercase letters, digits and `_`, starting with a letter"
            ));
            return ExitStatus::Usage;
        }
        Some(name) => module_files(name),
        None => site_files(),
    };
    let existing: Vec<String> = files
        .iter()
        .map(|(p, _)| args.dir.join(p))
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        output::command_error(&format!(
            "not overwriting what is already there: {} (nothing was written)",
            existing.join(", ")
        ));
        return ExitStatus::Errors;
    }
    for (rel, text) in &files {
        if let Err(e) = write_new(&args.dir.join(rel), text) {
            output::command_error(&e);
            return ExitStatus::Errors;
        }
    }
    let what = match &args.module {
        Some(name) => format!("module {name} in {}", args.dir.join(name).display()),
        None => format!("site in {}", args.dir.display()),
    };
    let mut text = format!("created {what}:\n");
    for (rel, _) in &files {
        text.push_str(&format!("  {rel}\n"));
    }
    output::stdout(&text);
    ExitStatus::Ok
}

/// Creates `path` (and its directories); `create_new`, so a file that appeared since the
/// check is still not overwritten.
fn write_new(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
