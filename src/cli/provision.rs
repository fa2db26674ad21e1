//! `fleet provision --out DIR [FILE]`: the install server's files (PROVISION.md); its
//! subcommands run the HTTP side (`serve`) and create a node's VM (`vm`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Args as ClapArgs, Subcommand};

use super::check::{default_manifest, main_file_name};
use super::output::{self, report_to_stderr};
use super::{ExitStatus, ManifestArgs};
use crate::program::Program;
use crate::provision::{self, Error, Options};

#[derive(Debug, ClapArgs)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub generate: GenerateArgs,
}

/// `fleet provision`'s subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Sub {
    /// Serve DIR/http over plain HTTP for installers; `POST /done/<node>` marks a node
    /// installed (its next `fleet provision` boots it from disk).
    Serve(ServeArgs),
    /// Reinstall a running node (koan --replace-self): rewrite the tree so that its installer
    /// is served, copy the profile's kernel and initrd to the node's /boot over SSH, add a
    /// one-time GRUB entry for the installer (grub-reboot) and reboot it.
    Reinstall(Box<ReinstallArgs>),
    /// Create NODE's VM on its `vm.host` (koan's --virt): a qcow2 volume, the domain from
    /// libvirt/<node>.xml, started. Refuses when a different domain of that name exists.
    Vm(VmArgs),
}

/// `fleet provision reinstall NODE [FILE] --out DIR …`.
#[derive(Debug, ClapArgs)]
#[command(after_help = "\
The tree is rewritten as `fleet provision` writes it (give the same --server-ip, --http and \
--proxy-dhcp), with NODE taken out of DIR/installed.json, so that its boot entries start the \
installer and its answer file is served. The node is reached at its provision ip, else its \
hostname, through ssh with BatchMode=yes, your ~/.ssh/config, --ssh-config and --ssh-option; \
the login must be allowed to write /boot and run grub-reboot (root). The GRUB entry goes into \
/boot/grub/custom.cfg between marker lines (Debian's and Ubuntu's grub.cfg read that file at \
boot), so nothing else there changes.")]
pub(crate) struct ReinstallArgs {
    /// The node to reinstall.
    #[arg(value_name = "NODE")]
    pub name: String,
    #[command(flatten)]
    pub generate: GenerateArgs,
    /// Only turn network boot on again for NODE (DIR/installed.json and its boot entries);
    /// nothing is done on the node.
    #[arg(long)]
    pub netboot: bool,
    /// Leave the reboot to the operator.
    #[arg(long)]
    pub no_reboot: bool,
    /// The node's boot directory.
    #[arg(long, value_name = "DIR", default_value = "/boot")]
    pub boot_dir: String,
    #[command(flatten)]
    pub connect: super::run::Connect,
}

/// Where the libvirt domains' disks and interfaces go (`fleet provision` and `provision
/// vm` take the same, so both render the same `libvirt/<node>.xml`).
#[derive(Debug, ClapArgs)]
pub(crate) struct VmLayoutArgs {
    /// The libvirt storage pool of the VMs' disks (volume `<node>.qcow2`).
    #[arg(long, value_name = "POOL", default_value = "default")]
    pub vm_pool: String,
    /// The VMs' network interface: `network:NAME` (a libvirt network), `bridge:NAME` (a
    /// host bridge) or `user` (QEMU user-mode networking).
    #[arg(long, value_name = "NET", default_value = "network:default")]
    pub vm_network: provision::domain::Network,
}

impl VmLayoutArgs {
    fn layout(self) -> provision::domain::Layout {
        provision::domain::Layout {
            pool: self.vm_pool,
            network: self.vm_network,
        }
    }
}

/// `fleet provision vm NODE [FILE] [--out DIR] [--replace] [--connect URI]`.
#[derive(Debug, ClapArgs)]
pub(crate) struct VmArgs {
    /// The node whose `provision { vm = { … } }` record describes the VM.
    #[arg(value_name = "NODE")]
    pub node: String,
    /// The main manifest. Default: `site.fleet`, else `manifests/site.fleet`.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Write the whole tree there first (as `fleet provision --out DIR`) and define the
    /// domain from DIR/libvirt/<node>.xml; without it nothing is written but the VM.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Destroy and undefine an existing domain of that name, delete its volume, create both
    /// again (a fresh disk).
    #[arg(long)]
    pub replace: bool,
    /// The libvirt URI (default: `qemu:///system` when `vm.host` is localhost or this
    /// machine, else `qemu+ssh://HOST/system`).
    #[arg(long, value_name = "URI")]
    pub connect: Option<String>,
    /// With --out: the install server's address (as `fleet provision`).
    #[arg(long, value_name = "IP")]
    pub server_ip: Option<IpAddr>,
    /// With --out: where `fleet provision serve` is reached (as `fleet provision`).
    #[arg(long, value_name = "URL")]
    pub http: Option<String>,
    #[command(flatten)]
    pub layout: VmLayoutArgs,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

/// `fleet provision serve --out DIR --listen ADDR`.
#[derive(Debug, ClapArgs)]
pub(crate) struct ServeArgs {
    /// The tree `fleet provision --out DIR` wrote.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Address and port to listen on (port 0: any free port, printed).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:80")]
    pub listen: std::net::SocketAddr,
}

/// `fleet provision --out DIR [FILE] …`.
#[derive(Debug, ClapArgs)]
pub(crate) struct GenerateArgs {
    /// The output tree (dnsmasq.conf, tftp/, http/, libvirt/, provision.json).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The main manifest. Default: `site.fleet`, else `manifests/site.fleet`.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The install server's address (TFTP next-server, default HTTP host).
    #[arg(long, value_name = "IP")]
    pub server_ip: Option<IpAddr>,
    /// Where `fleet provision serve` is reached by installers (default `http://<server-ip>`).
    #[arg(long, value_name = "URL")]
    pub http: Option<String>,
    /// Only these nodes (names or globs such as `web*`; repeatable).
    #[arg(long, value_name = "PATTERN", num_args = 1..)]
    pub node: Vec<String>,
    /// Answer PXE requests only; the network's own DHCP server hands out addresses.
    #[arg(long)]
    pub proxy_dhcp: bool,
    /// A catalog server the installed machines enrol with (repeatable): the answer files'
    /// `{{ server.enrol }}` installs this fleet binary, enrols with `fleet agent
    /// --bootstrap` and enables the agent's unit. Needs --ca-cert.
    #[arg(long, value_name = "URL", requires = "ca_cert")]
    pub catalog_server: Vec<String>,
    /// With --catalog-server: the fleet CA's certificate (served to the machines).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// With --catalog-server: `NODE TOKEN` lines (`fleet ca token NODE`), each node's
    /// one-time enrolment token.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// Where the boot loaders of Debian's packages are looked for (default `/`).
    #[arg(long, value_name = "DIR", hide = true, default_value = "/")]
    pub boot_files_root: PathBuf,
    #[command(flatten)]
    pub layout: VmLayoutArgs,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

pub(crate) fn run(args: Args) -> ExitStatus {
    match args.command {
        None => generate(args.generate),
        Some(Sub::Serve(a)) => serve(a),
        Some(Sub::Reinstall(a)) => reinstall(*a),
        Some(Sub::Vm(a)) => vm(a),
    }
}

fn reinstall(args: ReinstallArgs) -> ExitStatus {
    let (program, opts, main) = match load(args.generate) {
        Ok(x) => x,
        Err(status) => return status,
    };
    let out = opts.out.clone();
    let plan = match provision::netboot(&program, &opts, &args.name) {
        Ok((done, plan)) => {
            report_to_stderr(&done.warnings, &program.sources, &main);
            output::stderr(&format!(
                "{}: network boot on again ({} and its boot entries in {})\n",
                args.name,
                provision::state::FILE,
                out.display()
            ));
            plan
        }
        Err(e) => return failed(e, &program, &main, &out),
    };
    if args.netboot {
        return ExitStatus::Ok;
    }
    let opts = crate::remote::reinstall::Options {
        ssh: args.connect.options(1, std::time::Duration::from_secs(600)),
        boot_dir: args.boot_dir,
        reboot: !args.no_reboot,
    };
    let mut step = |s: String| output::stderr(&format!("{s}\n"));
    match crate::remote::reinstall::reinstall(&plan, &opts, &mut step) {
        Ok(()) => {
            if !opts.reboot {
                output::stderr(&format!(
                    "{}: its next boot starts the installer (--no-reboot: reboot it when ready)\n",
                    plan.node
                ));
            }
            ExitStatus::Ok
        }
        Err(m) => {
            output::command_error(&format!(
                "{m}\n(the install server already boots {} into its installer again; \
                 `fleet provision reinstall {}` again retries the node's part)",
                plan.node, plan.node
            ));
            ExitStatus::Errors
        }
    }
}

fn serve(args: ServeArgs) -> ExitStatus {
    let ready = |addr: std::net::SocketAddr| {
        output::stderr(&format!(
            "fleet provision serve: listening on http://{addr}\n"
        ));
    };
    let log = |line: String| output::stderr(&format!("{line}\n"));
    match provision::serve::serve(&args.out, args.listen, ready, log) {
        Ok(()) => ExitStatus::Ok,
        Err(m) => {
            output::command_error(&m);
            ExitStatus::Errors
        }
    }
}

/// The manifest to read: FILE, else the default one here.
fn manifest_file(file: Option<PathBuf>) -> Result<PathBuf, ExitStatus> {
    match file.or_else(|| default_manifest(Path::new("."))) {
        Some(f) => Ok(f),
        None => {
            output::command_error(
                "no manifest given, and neither site.fleet nor manifests/site.fleet is here",
            );
            Err(ExitStatus::Usage)
        }
    }
}

/// `--catalog-server`, `--ca-cert` and `--tokens` as the enrolment the answer files get.
fn enrol(args: &GenerateArgs) -> Result<Option<provision::Enrol>, String> {
    if args.catalog_server.is_empty() {
        return Ok(None);
    }
    for s in &args.catalog_server {
        if !s.starts_with("https://")
            || s.contains(['"', '\'', '\\', '$', '`', ' ', '%', ';', '&', '|'])
        {
            return Err(format!("--catalog-server {s}: not an https:// URL"));
        }
    }
    let ca_cert = args.ca_cert.clone().unwrap_or_default();
    let ca_cert = std::path::absolute(&ca_cert).map_err(|e| format!("--ca-cert: {e}"))?;
    if !ca_cert.is_file() {
        return Err(format!("--ca-cert {}: no such file", ca_cert.display()));
    }
    let tokens = match &args.tokens {
        Some(p) => provision::Enrol::read_tokens(p)?,
        None => Default::default(),
    };
    let binary = std::env::current_exe().map_err(|e| format!("this fleet binary: {e}"))?;
    Ok(Some(provision::Enrol {
        servers: args.catalog_server.clone(),
        ca_cert,
        tokens,
        binary,
    }))
}

/// The program and options of `fleet provision`'s arguments, and the main file's name.
fn load(args: GenerateArgs) -> Result<(Program, Options, String), ExitStatus> {
    let enrol = match enrol(&args) {
        Ok(e) => e,
        Err(m) => {
            output::command_error(&m);
            return Err(ExitStatus::Usage);
        }
    };
    let Some(out) = args.out else {
        output::command_error("fleet provision needs --out DIR");
        return Err(ExitStatus::Usage);
    };
    let files = [manifest_file(args.file)?];
    if let Err(msg) = args.manifest.validate(&files) {
        output::command_error(&msg);
        return Err(ExitStatus::Usage);
    }
    let program = Program::load(&files, args.manifest.options());
    let main = main_file_name(&program, &files);
    let opts = Options {
        enrol,
        out,
        server_ip: args.server_ip,
        http: args.http,
        nodes: args.node,
        proxy_dhcp: args.proxy_dhcp,
        boot_files_root: args.boot_files_root,
        vm: args.layout.layout(),
    };
    Ok((program, opts, main))
}

fn generate(args: GenerateArgs) -> ExitStatus {
    let (program, opts, main) = match load(args) {
        Ok(x) => x,
        Err(status) => return status,
    };
    match provision::run(&program, &opts) {
        Ok(done) => {
            report_to_stderr(&done.warnings, &program.sources, &main);
            output::stderr(&format!(
                "provisioned {} node(s): {} file(s) in {}\n",
                done.nodes.len(),
                done.files,
                opts.out.display()
            ));
            ExitStatus::Ok
        }
        Err(e) => failed(e, &program, &main, &opts.out),
    }
}

/// Shows why nothing was written.
fn failed(e: Error, program: &Program, main: &str, out: &Path) -> ExitStatus {
    match e {
        Error::Diagnostics(diags) => {
            report_to_stderr(&diags, &program.sources, main);
            output::command_error(&format!("nothing written: {} is as it was", out.display()));
            ExitStatus::Errors
        }
        Error::Usage(m) => {
            output::command_error(&format!("{m} (nothing written)"));
            ExitStatus::Usage
        }
        Error::Io(m) => {
            output::command_error(&format!(
                "{m} (nothing written: {} is as it was)",
                out.display()
            ));
            ExitStatus::Errors
        }
    }
}

fn vm(args: VmArgs) -> ExitStatus {
    use provision::vm::{Done, Request, VmError};
    let file = match manifest_file(args.file) {
        Ok(f) => f,
        Err(status) => return status,
    };
    let files = [file];
    if let Err(msg) = args.manifest.validate(&files) {
        output::command_error(&msg);
        return ExitStatus::Usage;
    }
    let program = Program::load(&files, args.manifest.options());
    let main = main_file_name(&program, &files);
    let opts = Options {
        out: args.out.clone().unwrap_or_default(),
        server_ip: args.server_ip,
        http: args.http,
        boot_files_root: PathBuf::from("/"),
        vm: args.layout.layout(),
        ..Options::default()
    };
    let req = Request {
        node: args.node,
        connect: args.connect,
        replace: args.replace,
        write_tree: args.out.is_some(),
    };
    match provision::vm::run(&program, &opts, &req) {
        Ok(done) => {
            report_to_stderr(&done.warnings, &program.sources, &main);
            let what = match done.done {
                Done::Created => "created and started",
                Done::Replaced => "replaced (old domain and disk removed) and started",
                Done::Unchanged => "unchanged (defined by fleet from this record, running)",
                Done::Started => "unchanged definition, started",
            };
            let vm = &done.vm;
            output::stdout(&format!(
                "{}: {what} on {} ({} MiB, {} vCPU, disk {}/{} {} GiB)\n",
                done.domain, done.uri, vm.ram_mb, vm.cpus, done.pool, done.volume, vm.disk_gb
            ));
            if let Some(xml) = &done.xml {
                output::stdout(&format!("domain XML: {}\n", xml.display()));
            }
            ExitStatus::Ok
        }
        Err(VmError::Provision(Error::Diagnostics(diags))) => {
            report_to_stderr(&diags, &program.sources, &main);
            output::command_error("no VM was created");
            ExitStatus::Errors
        }
        Err(VmError::Usage(m)) | Err(VmError::Provision(Error::Usage(m))) => {
            output::command_error(&m);
            ExitStatus::Usage
        }
        Err(e) => {
            output::command_error(&e.to_string());
            ExitStatus::Errors
        }
    }
}
