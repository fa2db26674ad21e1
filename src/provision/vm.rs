//! `fleet provision vm NODE` (koan's `--virt`): the node's VM on its `vm.host`, made with
//! `virsh` — the disk as a qcow2 volume of a libvirt storage pool (`vol-create-as`, which
//! works the same on a remote host), the domain defined from the XML `render` writes as
//! `libvirt/<node>.xml`, then started. A domain that fleet defined from the same XML is
//! left alone (started if it is not running); any other domain of that name is refused
//! unless `--replace`, which destroys it, deletes the node's volume and creates both anew.
//!
//! Every `virsh` runs through [`crate::sys::command`] with its arguments as an argv (no
//! shell); a failure names the command.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::domain::{recorded_digest, volume_name, METADATA_NS};
use super::{collect, domain, Error, Options, Server};
use crate::diag::Diagnostic;
use crate::program::Program;
use crate::sys::command::{self, Cmd};

/// How long one `virsh` may take (a remote host over ssh included).
const TIMEOUT: Duration = Duration::from_secs(120);

/// What `fleet provision vm` was asked for beyond the tree's options.
#[derive(Clone, Debug, Default)]
pub(crate) struct Request {
    pub node: String,
    /// `--connect URI`: the libvirt URI, instead of the one `vm.host` gives.
    pub connect: Option<String>,
    /// `--replace`: an existing domain of the node's name is destroyed and made again.
    pub replace: bool,
    /// `--out DIR` was given: the whole tree is written there first (as `fleet provision
    /// --out DIR`), and the domain is defined from `DIR/libvirt/<node>.xml`.
    pub write_tree: bool,
}

/// What the run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Done {
    /// No domain of that name existed: disk made, domain defined and started.
    Created,
    /// `--replace`: the old domain and disk were removed and new ones made and started.
    Replaced,
    /// fleet's domain with this definition exists and runs: nothing changed.
    Unchanged,
    /// fleet's domain with this definition existed but did not run: started.
    Started,
}

/// The outcome of one run.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub done: Done,
    /// The libvirt URI used.
    pub uri: String,
    pub domain: String,
    pub pool: String,
    pub volume: String,
    pub vm: super::Vm,
    /// With `--out DIR`: `DIR/libvirt/<node>.xml`, the XML defined (without it the XML went
    /// through a temporary file, since removed).
    pub xml: Option<PathBuf>,
    /// Warnings from the manifests.
    pub warnings: Vec<Diagnostic>,
}

/// Why nothing (or not everything) was done.
#[derive(Debug)]
pub(crate) enum VmError {
    /// Compiling the records (or writing the tree) failed.
    Provision(Error),
    /// The invocation cannot work (no such node, no `vm`, no such pool).
    Usage(String),
    /// A domain or volume exists that this run may not remove without `--replace`;
    /// nothing was changed.
    Refused(String),
    /// A command failed: the command line and how it ended (and what was undone).
    Command { command: String, why: String },
}

impl std::fmt::Display for VmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VmError::Provision(e) => e.fmt(f),
            VmError::Usage(m) | VmError::Refused(m) => f.write_str(m),
            VmError::Command { command, why } => write!(f, "`{command}` failed: {why}"),
        }
    }
}

impl std::error::Error for VmError {}

/// The libvirt URI for a VM host: the local system libvirt when the host is `localhost` or
/// this machine's name, else `qemu+ssh://HOST/system`.
pub(crate) fn host_uri(host: &str) -> String {
    let uname = rustix::system::uname();
    let me = uname.nodename().to_string_lossy().into_owned();
    let short = me.split('.').next().unwrap_or(&me).to_string();
    if ["localhost", "127.0.0.1", "::1", me.as_str(), short.as_str()].contains(&host) {
        "qemu:///system".to_string()
    } else {
        format!("qemu+ssh://{host}/system")
    }
}

/// `virsh -c URI …`.
struct Virsh {
    uri: String,
}

impl Virsh {
    fn cmd(&self, args: &[&str]) -> Cmd {
        let mut argv = vec!["virsh", "-q", "-c", &self.uri];
        argv.extend_from_slice(args);
        Cmd {
            timeout: Some(TIMEOUT),
            ..Cmd::argv(argv)
        }
    }

    /// Runs it to the end (a failure to run at all is an error naming the command).
    fn finish(&self, args: &[&str]) -> Result<(Cmd, command::Finished), VmError> {
        let cmd = self.cmd(args);
        match command::run(&cmd) {
            Ok(done) => Ok((cmd, done)),
            Err(why) => Err(VmError::Command {
                command: cmd.display(),
                why,
            }),
        }
    }

    /// Runs it; its output when it succeeded, else the error naming the command.
    fn try_run(&self, args: &[&str]) -> Result<Result<String, VmError>, VmError> {
        let (cmd, done) = self.finish(args)?;
        Ok(if done.success() {
            Ok(done.output)
        } else {
            Err(VmError::Command {
                command: cmd.display(),
                why: done.describe(),
            })
        })
    }

    /// Runs it; a failure is an error naming the command.
    fn run(&self, args: &[&str]) -> Result<String, VmError> {
        self.try_run(args)?
    }

    /// Whether the object a lookup command (`domuuid`, `pool-info`, `vol-info`) names
    /// exists: it succeeds, or fails with virsh's `failed to get <what> '<name>'` (any other
    /// failure, such as no connection, is an error). One object asked for by name, not a
    /// listing to search (the runner keeps only the last 4 KiB of output).
    fn exists(&self, args: &[&str], what: &str) -> Result<bool, VmError> {
        let (cmd, done) = self.finish(args)?;
        if done.success() {
            Ok(true)
        } else if done.output.contains(&format!("failed to get {what} '")) {
            Ok(false)
        } else {
            Err(VmError::Command {
                command: cmd.display(),
                why: done.describe(),
            })
        }
    }
}

/// `, it has N MiB, M vCPU` from `virsh dominfo` (empty when it says neither).
fn sizes(dominfo: &str) -> String {
    let field = |key: &str| {
        dominfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    let ram = field("Max memory")
        .and_then(|m| m.strip_suffix(" KiB")?.parse::<u64>().ok())
        .map(|kib| format!("{} MiB", kib / 1024));
    match (ram, field("CPU(s)")) {
        (Some(r), Some(c)) => format!(", it has {r}, {c} vCPU"),
        _ => String::new(),
    }
}

/// `fleet provision vm NODE`: compiles the records as `fleet provision` does, renders the
/// node's domain, and makes it exist and run on its host.
pub(crate) fn run(program: &Program, opts: &Options, req: &Request) -> Result<Outcome, VmError> {
    let server = Server::new(opts.server_ip, opts.http.as_deref()).map_err(VmError::Usage)?;
    let only = Options {
        nodes: vec![req.node.clone()],
        ..opts.clone()
    };
    let (nodes, warnings) = collect::collect(program, &only, &server);
    if crate::diag::has_errors(&warnings) {
        return Err(VmError::Provision(Error::Diagnostics(warnings)));
    }
    let Some(node) = nodes.into_iter().find(|n| n.name == req.node) else {
        return Err(VmError::Usage(format!(
            "no node `{}` with a provision record in the manifests",
            req.node
        )));
    };
    let Some(vm) = node.vm.clone() else {
        return Err(VmError::Usage(format!(
            "node `{}` has no `vm = {{ host: …, ram_mb: …, cpus: …, disk_gb: … }}` in its provision record",
            node.name
        )));
    };
    let xml = domain::xml(&node, &vm, &opts.vm);
    let digest = recorded_digest(&xml).unwrap_or_default().to_string();
    // `--out DIR`: the tree first, as `fleet provision --out DIR` writes it (its own
    // business, whatever the host turns out to need).
    let tree_xml = if req.write_tree {
        super::run(program, opts).map_err(VmError::Provision)?;
        let out = std::path::absolute(&opts.out).unwrap_or_else(|_| opts.out.clone());
        Some(out.join("libvirt").join(format!("{}.xml", node.name)))
    } else {
        None
    };
    let uri = req.connect.clone().unwrap_or_else(|| host_uri(&vm.host));
    let virsh = Virsh { uri: uri.clone() };
    let domain = node.name.clone();
    let pool = opts.vm.pool.clone();
    let volume = volume_name(&domain);
    let outcome = |done| Outcome {
        done,
        uri: uri.clone(),
        domain: domain.clone(),
        pool: pool.clone(),
        volume: volume.clone(),
        vm: vm.clone(),
        xml: tree_xml.clone(),
        warnings: warnings.clone(),
    };

    // Look before changing anything.
    virsh.run(&["uri"])?;
    let existing = virsh.exists(&["domuuid", &domain], "domain")?;
    let recorded = if existing {
        // No fleet metadata: `virsh metadata` fails ("metadata not found").
        virsh
            .try_run(&["metadata", &domain, METADATA_NS])?
            .ok()
            .and_then(|m| recorded_digest(&m).map(str::to_string))
    } else {
        None
    };
    let same = recorded.as_deref() == Some(digest.as_str());
    if existing && !req.replace {
        if !same {
            let why = if recorded.is_some() {
                "fleet defined it from a different record or options"
            } else {
                "fleet did not define it"
            };
            let has = virsh
                .try_run(&["dominfo", &domain])?
                .map(|info| sizes(&info))
                .unwrap_or_default();
            return Err(VmError::Refused(format!(
                "domain `{domain}` already exists on {uri} ({why}{has}; the record: {} MiB, {} \
                 vCPU); nothing was changed. --replace destroys it, deletes the volume \
                 {pool}/{volume} and creates both again",
                vm.ram_mb, vm.cpus
            )));
        }
        if domain_state(&virsh, &domain)? == "running" {
            return Ok(outcome(Done::Unchanged));
        }
        virsh.run(&["start", &domain])?;
        return Ok(outcome(Done::Started));
    }
    if !virsh.exists(&["pool-info", &pool], "pool")? {
        return Err(VmError::Usage(format!(
            "{uri} has no storage pool `{pool}` for the disk: name one with --vm-pool, or make it \
             (virsh pool-define-as {pool} dir --target /var/lib/libvirt/images; \
             virsh pool-build {pool}; virsh pool-start {pool}; virsh pool-autostart {pool})"
        )));
    }
    // Files put into the pool's directory by hand are volumes too once refreshed.
    virsh.run(&["pool-refresh", &pool])?;
    let had_volume = virsh.exists(&["vol-info", "--pool", &pool, &volume], "vol")?;
    if had_volume && !req.replace {
        return Err(VmError::Refused(format!(
            "the volume {pool}/{volume} exists on {uri}, and no domain `{domain}` uses it; \
             nothing was changed. --replace deletes it and creates a fresh disk"
        )));
    }

    // The XML as a file for `virsh define`: the tree's, or a temporary one.
    let (xml_path, temporary) = match &tree_xml {
        Some(path) => (path.clone(), false),
        None => (temp_xml(&domain, &xml)?, true),
    };
    let result = replace_and_create(
        &virsh, &domain, &pool, &volume, &vm, &xml_path, existing, had_volume,
    );
    if temporary {
        let _ = std::fs::remove_file(&xml_path);
    }
    result?;
    let done = if existing {
        Done::Replaced
    } else {
        Done::Created
    };
    Ok(outcome(done))
}

/// The state `virsh domstate` prints (`running`, `shut off`, …).
fn domain_state(virsh: &Virsh, domain: &str) -> Result<String, VmError> {
    Ok(virsh.run(&["domstate", domain])?.trim().to_string())
}

/// Removes the old domain and volume (when there are), makes the volume, defines and
/// starts the domain. A failed `define` deletes the volume it just made.
#[allow(clippy::too_many_arguments)]
fn replace_and_create(
    virsh: &Virsh,
    domain: &str,
    pool: &str,
    volume: &str,
    vm: &super::Vm,
    xml: &Path,
    existing: bool,
    had_volume: bool,
) -> Result<(), VmError> {
    if existing {
        if domain_state(virsh, domain)? != "shut off" {
            virsh.run(&["destroy", domain])?;
        }
        virsh.run(&["undefine", domain])?;
    }
    if had_volume {
        virsh.run(&["vol-delete", "--pool", pool, volume])?;
    }
    let capacity = format!("{}G", vm.disk_gb);
    virsh.run(&[
        "vol-create-as",
        "--pool",
        pool,
        "--name",
        volume,
        "--capacity",
        &capacity,
        "--format",
        "qcow2",
    ])?;
    let xml = xml.to_string_lossy();
    if let Err(e) = virsh.run(&["define", &xml]) {
        let undone = match virsh.try_run(&["vol-delete", "--pool", pool, volume])? {
            Ok(_) => format!("the new volume {pool}/{volume} was deleted again"),
            Err(d) => format!("deleting the new volume {pool}/{volume} failed too: {d}"),
        };
        return Err(match e {
            VmError::Command { command, why } => VmError::Command {
                command,
                why: format!("{why} ({undone})"),
            },
            other => other,
        });
    }
    virsh.run(&["start", domain]).map_err(|e| match e {
        VmError::Command { command, why } => VmError::Command {
            command,
            why: format!(
                "{why} (the domain is defined, with its disk, but not running: the next run starts it)"
            ),
        },
        other => other,
    })?;
    Ok(())
}

/// The XML in a new file under the temporary directory (only this process writes it).
fn temp_xml(domain: &str, xml: &str) -> Result<PathBuf, VmError> {
    let path = std::env::temp_dir().join(format!(
        ".fleet-vm-{}-{}.xml",
        std::process::id(),
        crate::model::digest::sha256_hex(domain.as_bytes())
            .get(..12)
            .unwrap_or_default()
    ));
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| VmError::Usage(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(xml.as_bytes())
        .map_err(|e| VmError::Usage(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominfo_sizes() {
        let info = "Id:             1\nCPU(s):         2\nMax memory:     131072 KiB\n";
        assert_eq!(sizes(info), ", it has 128 MiB, 2 vCPU");
        assert_eq!(sizes("Id: 1\n"), "");
    }

    #[test]
    fn local_hosts_use_the_system_libvirt() {
        assert_eq!(host_uri("localhost"), "qemu:///system");
        let me = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        assert_eq!(host_uri(&me), "qemu:///system");
        assert_eq!(
            host_uri("kvm01.example.net"),
            "qemu+ssh://kvm01.example.net/system"
        );
    }
}
