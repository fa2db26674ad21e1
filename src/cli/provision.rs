//! `fleet provision --out DIR [FILE]`: the install server's files (PROVISION.md); its
//! subcommands (`serve`) run the HTTP side.

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
    /// Where the boot loaders of Debian's packages are looked for (default `/`).
    #[arg(long, value_name = "DIR", hide = true, default_value = "/")]
    pub boot_files_root: PathBuf,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

pub(crate) fn run(args: Args) -> ExitStatus {
    match args.command {
        None => generate(args.generate),
        Some(Sub::Serve(a)) => serve(a),
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

fn generate(args: GenerateArgs) -> ExitStatus {
    let Some(out) = args.out else {
        output::command_error("fleet provision needs --out DIR");
        return ExitStatus::Usage;
    };
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
        out: out.clone(),
        server_ip: args.server_ip,
        http: args.http,
        nodes: args.node,
        proxy_dhcp: args.proxy_dhcp,
        boot_files_root: args.boot_files_root,
    };
    match provision::run(&program, &opts) {
        Ok(done) => {
            report_to_stderr(&done.warnings, &program.sources, &main);
            output::stderr(&format!(
                "provisioned {} node(s): {} file(s) in {}\n",
                done.nodes.len(),
                done.files,
                out.display()
            ));
            ExitStatus::Ok
        }
        Err(Error::Diagnostics(diags)) => {
            report_to_stderr(&diags, &program.sources, &main);
            output::command_error(&format!("nothing written: {} is as it was", out.display()));
            ExitStatus::Errors
        }
        Err(Error::Usage(m)) => {
            output::command_error(&m);
            ExitStatus::Usage
        }
        Err(Error::Io(m)) => {
            output::command_error(&format!(
                "{m} (nothing written: {} is as it was)",
                out.display()
            ));
            ExitStatus::Errors
        }
    }
}
