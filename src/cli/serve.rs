//! `fleet serve`: the catalog server (REMOTE.md "The catalog server"). Parses the flags,
//! runs [`crate::remote::serve::run`] on a tokio runtime and prints what it reports: the
//! access log (one line per request) on stdout, notices (listening, reloads, refused
//! changes, problems) on stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args as ClapArgs;

use super::{output, ExitStatus};
use crate::remote::serve::{self, Notice};
use crate::remote::tls::TlsFiles;

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The main manifest (its directory is the checkout that is watched).
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,
    /// The server's certificate (PEM).
    #[arg(long, value_name = "CRT")]
    pub tls_cert: PathBuf,
    /// The server's private key (PEM).
    #[arg(long, value_name = "KEY")]
    pub tls_key: PathBuf,
    /// The fleet CA's certificate: client certificates must chain to it.
    #[arg(long, value_name = "CA.crt")]
    pub ca_cert: PathBuf,
    /// The CA's revocation list, re-read when it changes.
    #[arg(long, value_name = "crl.pem")]
    pub crl: Option<PathBuf>,
    /// Where to listen (port 0: any free port, printed on stderr).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// The shared store: sqlite:PATH or postgres://…
    #[arg(
        long,
        value_name = "URL",
        default_value = "sqlite:/var/lib/fleet/server.db"
    )]
    pub store: String,
    /// A module directory (repeatable).
    #[arg(long = "modulepath", value_name = "DIR")]
    pub modulepath: Vec<PathBuf>,
    /// Facts for nodes that have not posted theirs yet (a directory of <node>.json).
    #[arg(long, value_name = "DIR")]
    pub facts: Option<PathBuf>,
    /// A certificate name that may read every node's data (repeatable).
    #[arg(long, value_name = "NAME", num_args = 1..)]
    pub admin: Vec<String>,
    /// Requests in flight beyond which the answer is 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_inflight: usize,
    /// The largest request body accepted, in bytes (413 beyond).
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    pub max_body: usize,
    /// How often (seconds) the manifest's files and the CRL are looked at (at most 5).
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub poll: f64,
    /// The CA's private key, to sign certificate requests at once (with --autosign).
    #[arg(long, value_name = "CA.key", requires = "autosign")]
    pub ca_key: Option<PathBuf>,
    /// The autosign policy: node names, globs (web*.example.net), token:SECRET lines
    /// (`fleet ca tokens`); re-read when it changes. Needs --ca-key.
    #[arg(long, value_name = "FILE", requires = "ca_key")]
    pub autosign: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> ExitStatus {
    if !args.manifest.is_file() {
        output::command_error(&format!("no such manifest: {}", args.manifest.display()));
        return ExitStatus::Usage;
    }
    if !(args.poll > 0.0 && args.poll <= 5.0) {
        output::command_error("--poll must be more than 0 and at most 5 seconds");
        return ExitStatus::Usage;
    }
    let config = serve::Config {
        source: serve::manifest::Source {
            file: args.manifest,
            modulepath: args.modulepath,
            facts: args.facts,
        },
        tls: TlsFiles {
            cert: args.tls_cert,
            key: args.tls_key,
            ca_cert: args.ca_cert,
            crl: args.crl,
        },
        listen: args.listen,
        store: args.store,
        admins: args.admin,
        max_inflight: args.max_inflight.max(1),
        max_body: args.max_body,
        poll: Duration::from_secs_f64(args.poll),
        autosign: match (args.ca_key, args.autosign) {
            (Some(ca_key), Some(policy)) => Some(serve::AutosignFiles { ca_key, policy }),
            _ => None,
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            output::command_error(&format!("cannot start the runtime: {e}"));
            return ExitStatus::Errors;
        }
    };
    match runtime.block_on(serve::run(config, Arc::new(print))) {
        Ok(()) => ExitStatus::Ok,
        Err(e) => {
            output::command_error(&e.to_string());
            ExitStatus::Errors
        }
    }
}

/// Prints one notice: access-log lines on stdout, the rest on stderr.
fn print(notice: Notice) {
    match notice {
        Notice::Access(a) => super::out(&format!(
            "{} {} {} {} {} {:.1}ms\n",
            a.time, a.client, a.method, a.path, a.status, a.ms
        )),
        Notice::Listening(addr) => eprintln!("fleet serve: listening on {addr}"),
        Notice::Loaded(version) => eprintln!("fleet serve: manifest loaded ({version})"),
        Notice::Refused(diags) => {
            eprintln!("fleet serve: manifest change refused, serving the last good program:");
            eprint!("{diags}");
        }
        Notice::CrlReloaded => eprintln!("fleet serve: revocation list reloaded"),
        Notice::Problem(msg) => eprintln!("fleet serve: {msg}"),
        Notice::Signed { node, rule } => {
            eprintln!("fleet serve: signed the certificate request of {node} (autosign {rule})")
        }
        Notice::AutosignReloaded => eprintln!("fleet serve: autosign file reloaded"),
        Notice::Stopping => eprintln!("fleet serve: stopping"),
    }
}
