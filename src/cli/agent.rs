//! `fleet agent` (REMOTE.md "The agent"): gather facts, fetch this node's catalog from the
//! catalog servers ([`crate::remote::agent`]), apply it exactly as `fleet apply --catalog`
//! does (this crate's `cli::apply::execute`: noop, `--root`, the lock, saved reports, exit
//! codes), send the report. `--once` (the default) runs once and exits with `fleet apply
//! --detailed-exitcodes`' codes; `--interval` runs until SIGTERM or SIGINT.
//!
//! Notices (which server answered, a cached catalog, a queued report, an expiring
//! certificate) go to stderr as `fleet agent: …`; the plan or the Report JSON to stdout, as
//! `fleet apply` prints them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args as ClapArgs;

use super::apply::{execute, ApplyArgs};
use super::{output, ExitStatus};
use crate::catalog::store::ContentStore;
use crate::remote::agent::{self, AgentError, Cache, Enrol, Origin, Run};
use crate::remote::client::{Client, ServerUrl};

#[derive(Debug, ClapArgs)]
#[command(after_help = "\
Each run: gather facts; POST /v1/catalog/<node> to the first server that answers (the \
--server list rotated by a random amount; a 10 s connect timeout each; a busy server's \
503 is retried after its Retry-After plus a random part); fetch the content the catalog \
names into STATE/agent/content, checking every sha256; apply; POST /v1/report/<node>. \
No server answers, or the manifest is broken for this node (422): the cached catalog \
(STATE/agent/catalog.json, 0600) is applied and the report says \"cached_catalog\": true. \
Reports no server takes wait in STATE/agent/reports/ for the next run.

Exit codes (one run): 0 nothing changed, 2 changes, 4 failures, 6 both; 1 nothing could be \
applied (no catalog, a refused certificate, a catalog or content that fails its hash).")]
pub(crate) struct Args {
    /// A catalog server, https://HOST[:PORT] (port 8140 by default); repeat for failover.
    #[arg(long = "server", value_name = "URL", required = true)]
    pub servers: Vec<ServerUrl>,
    /// This node's name (default: the certificate's common name, else the host name).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// This node's certificate (PEM). With --bootstrap, where the signed one is written
    /// (default STATE/agent/ssl/<node>.crt).
    #[arg(long, value_name = "CRT")]
    pub cert: Option<PathBuf>,
    /// This node's private key (PEM). With --bootstrap, made there when missing (default
    /// STATE/agent/ssl/<node>.key, 0600); it never leaves the node.
    #[arg(long, value_name = "KEY")]
    pub key: Option<PathBuf>,
    /// The fleet CA's certificate: the servers' certificates must chain to it.
    #[arg(long, value_name = "CA.crt")]
    pub ca_cert: PathBuf,
    /// Change nothing; show what would change (the catalog is still fetched and cached).
    #[arg(long)]
    pub noop: bool,
    /// Run once and exit (the default).
    #[arg(long, conflicts_with = "interval")]
    pub once: bool,
    /// Run for ever, this long between runs (e.g. 30m, 1h, 90s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// With --interval: wait up to this much longer, at random, before each run.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "interval")]
    pub splay: Option<Duration>,
    /// Take every path under DIR (images, containers, tests).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The state directory (default `/var/lib/fleet` under the root).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Without a certificate yet: make a key, send a certificate request to the server and
    /// wait for it to be signed (`fleet ca sign`, or the server's autosign policy).
    #[arg(long)]
    pub bootstrap: bool,
    /// The one-time enrolment token (`fleet ca token NAME`) sent with the request.
    #[arg(long, value_name = "T", requires = "bootstrap")]
    pub token: Option<String>,
    /// With --bootstrap: how long to wait for the request to be signed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub wait_for_cert: Duration,
    /// Seconds to wait for a server's connection and handshake.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub connect_timeout: u64,
    /// Seconds to wait for a server's answer to one request.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// `text` (the plan) or `json` (the Report JSON).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// Show unified diffs of file contents.
    #[arg(long)]
    pub show_diff: bool,
    /// Also list unchanged resources.
    #[arg(long)]
    pub verbose: bool,
    /// Resources applied at once (default: the number of cores).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// As `fleet apply --chroot`.
    #[arg(long, requires = "root", conflicts_with = "run_host_commands")]
    pub chroot: bool,
    /// As `fleet apply --run-host-commands`.
    #[arg(long, requires = "root")]
    pub run_host_commands: bool,
    /// As `fleet apply --no-fsync`.
    #[arg(long)]
    pub no_fsync: bool,
}

/// `30m`, `1h30m`, `90s`, `2d`, or a number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => {
                return Err(format!(
                    "{text:?}: a duration is like 30m, 1h30m, 90s or 2d"
                ))
            }
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{text:?}: a duration is like 30m, 1h30m, 90s or 2d"))?;
        total = total.saturating_add(n.saturating_mul(unit));
        num.clear();
    }
    if !num.is_empty() || total == 0 && !t.starts_with('0') {
        return Err(format!(
            "{text:?}: a duration is like 30m, 1h30m, 90s or 2d"
        ));
    }
    Ok(Duration::from_secs(total))
}

fn note(msg: &str) {
    output::stderr(&format!("fleet agent: {msg}\n"));
}

pub(crate) fn run(args: Args) -> ExitStatus {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            output::command_error(&format!("cannot start the runtime: {e}"));
            return ExitStatus::Errors;
        }
    };
    let Some(interval) = args.interval else {
        return runtime.block_on(once(&args));
    };
    runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            output::command_error("cannot watch for SIGTERM");
            return ExitStatus::Errors;
        };
        loop {
            let code = once(&args).await;
            let splay = args.splay.map_or(0, |s| s.as_millis() as u64);
            let wait = interval + Duration::from_millis(agent::random_below(splay + 1));
            note(&format!(
                "run done (exit {}); next in {:.0} s",
                code.code(),
                wait.as_secs_f64()
            ));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        note("stopping");
        ExitStatus::Ok
    })
}

/// The certificate and key the run uses, and the directory holding them open when they are
/// the cache's own.
struct Identity {
    cert: PathBuf,
    key: PathBuf,
    _dir: Option<crate::apply::state::PrivateDir>,
}

/// One run. Everything that stops it before the apply is an `error:` line and exit 1.
async fn once(args: &Args) -> ExitStatus {
    match prepare_and_run(args).await {
        Ok(code) => code,
        Err(e) => {
            output::command_error(&e.0);
            ExitStatus::Errors
        }
    }
}

async fn prepare_and_run(args: &Args) -> Result<ExitStatus, AgentError> {
    let root = super::root_arg(args.root.as_deref()).map_err(AgentError)?;
    let state =
        super::apply::state_dir(&root, args.state_dir.as_deref(), true).map_err(AgentError)?;
    let cache = Cache::open(&state)?;
    let facts = crate::apply::facts::gather();
    let node = node_name(args, &facts)?;
    let servers = agent::rotated(&args.servers);
    let connect = Duration::from_secs(args.connect_timeout.max(1));
    let timeout = Duration::from_secs(args.timeout.max(1));
    let identity = identity(args, &cache, &node, &servers, connect, timeout).await?;
    let client = Client::new(
        &args.ca_cert,
        Some((&identity.cert, &identity.key)),
        connect,
        timeout,
    )
    .map_err(|e| AgentError(e.to_string()))?;
    let note_fn = |m: &str| note(m);
    let run = Run {
        client: &client,
        servers: &servers,
        node: &node,
        note: &note_fn,
    };
    let mut warnings = Vec::new();
    if let Ok(pem) = std::fs::read(&identity.cert) {
        let now = crate::remote::ca::x509::now().unix_timestamp();
        match agent::days_left(&pem, now) {
            Some(d) if d < 0 => warnings.push(format!("the certificate of {node} has expired")),
            Some(d) if d < 30 => warnings.push(format!(
                "the certificate of {node} expires in {d} days: issue a new one"
            )),
            _ => {}
        }
    }
    for w in &warnings {
        note(&format!("warning: {w}"));
    }
    let facts_json = serde_json::Value::Object(facts);
    let fetched = run.fetch(&cache, &facts_json).await?;
    let cached = match &fetched.origin {
        Origin::Fresh(s) => {
            note(&format!("catalog {} from {s}", fetched.doc.version));
            false
        }
        Origin::Unchanged(s) => {
            note(&format!("catalog {} unchanged ({s})", fetched.doc.version));
            false
        }
        Origin::Cached(why) => {
            note(&format!(
                "{why}: applying the cached catalog {}",
                fetched.doc.version
            ));
            warnings.push(format!("{why}: the cached catalog was applied"));
            true
        }
    };
    let server = fetched.server().cloned();
    let version = fetched.doc.version.clone();
    let store = ContentStore::from_dir(fetched.content.handle_path());
    let apply_args = apply_args(args, &node);
    let decorate = |r: &mut crate::apply::report::ReportDoc| {
        r.cached_catalog = cached;
        r.catalog_version = Some(version.clone());
        r.warnings.extend(warnings.iter().cloned());
    };
    let applied = execute(&apply_args, Some((fetched.doc, store)), &decorate);
    drop(fetched.content);
    if let Some(report) = &applied.report {
        let (sent, queued) = run
            .deliver(&cache, server.as_ref(), &report.started, &report.to_json())
            .await?;
        if queued {
            note(&format!(
                "no server took the report: queued in {}/reports",
                cache.shown().display()
            ));
        } else if sent > 1 {
            note(&format!("sent {} queued reports", sent - 1));
        }
    }
    Ok(applied.code)
}

/// `--node`, else the certificate's common name, else the host name.
fn node_name(
    args: &Args,
    facts: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, AgentError> {
    let name = if let Some(n) = &args.node {
        n.clone()
    } else if let Some(cn) = args.cert.as_deref().and_then(cert_common_name) {
        cn
    } else {
        facts
            .get("hostname")
            .and_then(|h| h.as_str())
            .unwrap_or_default()
            .to_string()
    };
    crate::remote::ca::check_node_name(&name)
        .map_err(|why| AgentError(format!("node name {name:?}: {why}")))?;
    Ok(name)
}

fn cert_common_name(path: &Path) -> Option<String> {
    let pem = std::fs::read(path).ok()?;
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    crate::remote::tls::common_name(&p.contents)
}

/// The certificate and key to use; with `--bootstrap` and no certificate yet, enrols first.
async fn identity(
    args: &Args,
    cache: &Cache,
    node: &str,
    servers: &[ServerUrl],
    connect: Duration,
    timeout: Duration,
) -> Result<Identity, AgentError> {
    if !args.bootstrap {
        let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
            return Err(AgentError(
                "give --cert and --key (or --bootstrap to enrol this node)".into(),
            ));
        };
        return Ok(Identity {
            cert: cert.clone(),
            key: key.clone(),
            _dir: None,
        });
    }
    let (dir, cert, key) = match (&args.cert, &args.key) {
        (Some(c), Some(k)) => (None, c.clone(), k.clone()),
        (None, None) => {
            let dir = cache.ssl()?;
            let base = dir.handle_path();
            (
                Some(dir),
                base.join(format!("{node}.crt")),
                base.join(format!("{node}.key")),
            )
        }
        _ => {
            return Err(AgentError(
                "with --bootstrap give both --cert and --key, or neither".into(),
            ))
        }
    };
    if cert.exists() {
        return Ok(Identity {
            cert,
            key,
            _dir: dir,
        });
    }
    let existing = match std::fs::read_to_string(&key) {
        Ok(k) => Some(k),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(AgentError(format!("{}: {e}", key.display()))),
    };
    let request = agent::make_request(node, existing.as_deref())?;
    if existing.is_none() {
        write_private(&key, request.key_pem.as_bytes())?;
        note(&format!("made a key for {node}"));
    }
    let client = Client::new(&args.ca_cert, None, connect, timeout)
        .map_err(|e| AgentError(e.to_string()))?;
    let note_fn = |m: &str| note(m);
    let run = Run {
        client: &client,
        servers,
        node,
        note: &note_fn,
    };
    let signed = run
        .enrol(&Enrol {
            request: &request,
            token: args.token.as_deref(),
            wait: args.wait_for_cert,
            poll: Duration::from_secs(2).min(args.wait_for_cert.max(Duration::from_millis(200))),
        })
        .await?;
    write_atomic(&cert, signed.as_bytes(), 0o644)?;
    note(&format!(
        "certificate for {node} signed: {}",
        cert_shown(&cert, &dir)
    ));
    Ok(Identity {
        cert,
        key,
        _dir: dir,
    })
}

fn cert_shown(path: &Path, dir: &Option<crate::apply::state::PrivateDir>) -> String {
    match (dir, path.file_name()) {
        (Some(d), Some(name)) => d.shown().join(name).display().to_string(),
        _ => path.display().to_string(),
    }
}

/// Creates `path` (0600) holding `bytes`; refuses to overwrite.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AgentError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e: std::io::Error| AgentError(format!("{}: {e}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

/// Replaces `path` with `bytes` (mode `mode`) through a temporary file beside it.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AgentError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e: std::io::Error| AgentError(format!("{}: {e}", path.display()));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(err)
}

/// The `fleet apply --catalog` flags of this run.
fn apply_args(args: &Args, node: &str) -> ApplyArgs {
    ApplyArgs {
        file: None,
        catalog: None,
        node: Some(node.to_string()),
        noop: args.noop,
        show_diff: args.show_diff,
        format: args.format.clone(),
        detailed_exitcodes: true,
        root: args.root.clone(),
        state_dir: args.state_dir.clone(),
        jobs: args.jobs,
        chroot: args.chroot,
        run_host_commands: args.run_host_commands,
        no_fsync: args.no_fsync,
        verbose: args.verbose,
        wait: false,
        tags: Vec::new(),
        skip_tags: Vec::new(),
        keep_reports: 100,
        modulepath: Vec::new(),
        facts: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "m", "30x", "1h30", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
