//! The catalog servers' load generator (bench/serve.py runs it; not a test): agents with
//! their own certificates asking one server for their catalogs, and the figures as JSON.
//!
//! Every node of `--nodes` (a file, one name a line) has its own certificate and key
//! (`--cert`/`--key`: paths with `{node}` in them) and so its own rustls `ClientConfig`:
//! one whose in-memory session cache is kept across requests (resume), one with resumption
//! disabled (full). A warm-up asks for every node's catalog once (sessions, first compiles,
//! a JIT), then each mode of `--modes` runs `--concurrency` requesters for `--seconds`:
//!
//! - `resume`: a new TCP connection per request that resumes the node's TLS session, node
//!   after node (what an agent does on its next run);
//! - `full`: a new TCP connection per request and a full handshake (new agents, or a server
//!   whose session cache was emptied);
//! - `keepalive`: one connection per requester, request after request on it (the ceiling of
//!   the HTTP and compile path alone).
//!
//! `--kind fleet` asks `POST /v1/catalog/<node>` with the node's facts JSON (REMOTE.md);
//! `--kind puppet` asks `POST /puppet/v3/catalog/<node>` with the same facts form-encoded,
//! as `puppet agent` sends them. One JSON line per mode on stdout: requests, errors (not
//! 200, or no answer), rps, p50 and p99 in ms, TLS sessions resumed, the client's CPU
//! seconds (getrusage) beside the wall time.
//!
//! ```text
//! cargo build --release --bench serve_load
//! target/release/deps/serve_load-* --addr 127.0.0.1:8140 --ca ca.crt \
//!     --cert 'certs/{node}.crt' --key 'certs/{node}.key' --nodes nodes.txt
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, HandshakeKind, RootCertStore};
use tokio_rustls::TlsConnector;

#[derive(Parser, Debug)]
#[command(about = "Catalog requests per second and latency of one server")]
struct Args {
    /// The server's address.
    #[arg(long)]
    addr: SocketAddr,
    /// The name the server's certificate is checked against.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// The CA certificate (PEM) the server's certificate chains to.
    #[arg(long)]
    ca: PathBuf,
    /// Each node's certificate: a path with `{node}` in it.
    #[arg(long)]
    cert: String,
    /// Each node's private key: a path with `{node}` in it.
    #[arg(long)]
    key: String,
    /// The nodes, one name a line.
    #[arg(long)]
    nodes: PathBuf,
    /// The modes to run, in order: resume, full, keepalive.
    #[arg(long, value_delimiter = ',', default_value = "resume,full,keepalive")]
    modes: Vec<Mode>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long each mode runs.
    #[arg(long, default_value_t = 15.0)]
    seconds: f64,
    /// fleet (`/v1/catalog`) or puppet (`/puppet/v3/catalog`).
    #[arg(long, value_enum, default_value = "fleet")]
    kind: Kind,
    /// Client runtime threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The server's process id: its CPU seconds per mode are reported too (/proc).
    #[arg(long)]
    server_pid: Option<u32>,
    /// No warm-up pass.
    #[arg(long)]
    no_warmup: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    Resume,
    Full,
    Keepalive,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Resume => "resume",
            Mode::Full => "full",
            Mode::Keepalive => "keepalive",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    Fleet,
    Puppet,
}

/// One node: its name, its two TLS configurations and its request body.
struct Node {
    name: String,
    resume: TlsConnector,
    full: TlsConnector,
    body: Bytes,
    path: String,
}

/// Everything the requesters share.
struct Bench {
    addr: SocketAddr,
    server_name: ServerName<'static>,
    kind: Kind,
    nodes: Vec<Node>,
}

/// What one requester saw.
#[derive(Default)]
struct Tally {
    /// Microseconds per answered request (any status).
    latencies: Vec<u32>,
    statuses: BTreeMap<String, u64>,
    resumed: u64,
    body_bytes: u64,
}

impl Tally {
    fn count(&mut self, what: String) {
        *self.statuses.entry(what).or_default() += 1;
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.resumed += other.resumed;
        self.body_bytes += other.body_bytes;
    }
}

/// An answered request.
struct Answer {
    status: u16,
    resumed: bool,
    bytes: usize,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("tokio: {e}")));
    runtime.block_on(run(args));
}

fn fail(msg: &str) -> ! {
    eprintln!("serve_load: {msg}");
    std::process::exit(2)
}

async fn run(args: Args) {
    let bench = Arc::new(load(&args));
    if !args.no_warmup {
        let started = Instant::now();
        let tally = warm_up(&bench, args.concurrency).await;
        let bad: u64 = tally
            .statuses
            .iter()
            .filter(|(k, _)| k.as_str() != "200")
            .map(|(_, v)| v)
            .sum();
        let line = serde_json::json!({
            "mode": "warm-up",
            "requests": bench.nodes.len(),
            "statuses": tally.statuses,
            "wall_s": (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        });
        println!("{line}");
        if bad > 0 {
            fail("the warm-up had failures");
        }
    }
    for &mode in &args.modes {
        let server0 = args.server_pid.and_then(process_cpu_seconds);
        let mut line = measure(&bench, mode, args.concurrency, args.seconds).await;
        if let (Some(a), Some(b)) = (server0, args.server_pid.and_then(process_cpu_seconds)) {
            line["server_cpu_s"] = (((b - a) * 100.0).round() / 100.0).into();
        }
        println!("{line}");
    }
}

/// Reads the CA, the node list and every node's certificate and key.
fn load(args: &Args) -> Bench {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::pem_file_iter(&args.ca)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .unwrap_or_else(|e| fail(&format!("{}: {e}", args.ca.display())));
    for c in ca {
        roots
            .add(c)
            .unwrap_or_else(|e| fail(&format!("{}: {e}", args.ca.display())));
    }
    let roots = Arc::new(roots);
    let names = std::fs::read_to_string(&args.nodes)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", args.nodes.display())));
    let mut nodes = Vec::new();
    for name in names.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let cert = PathBuf::from(args.cert.replace("{node}", name));
        let key = PathBuf::from(args.key.replace("{node}", name));
        let connector = |resumption: Resumption| {
            let chain = CertificateDer::pem_file_iter(&cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .unwrap_or_else(|e| fail(&format!("{}: {e}", cert.display())));
            let key = PrivateKeyDer::from_pem_file(&key)
                .unwrap_or_else(|e| fail(&format!("{}: {e}", key.display())));
            let mut config = ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .unwrap_or_else(|e| fail(&format!("TLS versions: {e}")))
                .with_root_certificates(roots.clone())
                .with_client_auth_cert(chain, key)
                .unwrap_or_else(|e| fail(&format!("{}: {e}", cert.display())));
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config.resumption = resumption;
            TlsConnector::from(Arc::new(config))
        };
        nodes.push(Node {
            name: name.to_string(),
            // A few sessions: TLS 1.3 tickets are used once, and requests for the same node
            // may overlap.
            resume: connector(Resumption::in_memory_sessions(8)),
            full: connector(Resumption::disabled()),
            body: Bytes::from(request_body(args.kind, name)),
            path: match args.kind {
                Kind::Fleet => format!("/v1/catalog/{name}"),
                Kind::Puppet => format!("/puppet/v3/catalog/{name}?environment=production"),
            },
        });
    }
    if nodes.is_empty() {
        fail(&format!("{}: no nodes", args.nodes.display()));
    }
    let server_name = ServerName::try_from(args.server_name.clone())
        .unwrap_or_else(|e| fail(&format!("--server-name: {e}")));
    Bench {
        addr: args.addr,
        server_name,
        kind: args.kind,
        nodes,
    }
}

/// The facts an agent posts (bench/serve.py's `facts_for`: the same shape for both servers).
fn facts(node: &str) -> serde_json::Value {
    serde_json::json!({
        "hostname": node,
        "fqdn": format!("{node}.bench.example"),
        "os": {"family": "Debian", "name": "Debian", "release": "12"},
        "kernel": "Linux",
        "architecture": "x86_64",
    })
}

/// The catalog request's body: fleet's facts JSON, or Puppet's form.
fn request_body(kind: Kind, node: &str) -> Vec<u8> {
    match kind {
        Kind::Fleet => facts(node).to_string().into_bytes(),
        Kind::Puppet => {
            let facts = serde_json::json!({"name": node, "values": facts(node)}).to_string();
            let pairs = [
                ("environment", "production"),
                ("facts_format", "application/json"),
                ("facts", facts.as_str()),
                ("transaction_uuid", "00000000-0000-0000-0000-000000000000"),
            ];
            pairs
                .iter()
                .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes()
        }
    }
}

/// application/x-www-form-urlencoded, as Python's `urllib.parse.urlencode` writes it.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Bench {
    /// A new connection for `node`: TCP, the TLS handshake (resuming or not), HTTP/1.1.
    async fn connect(
        &self,
        node: &Node,
        resume: bool,
    ) -> Result<(SendRequest<Full<Bytes>>, bool), String> {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let connector = if resume { &node.resume } else { &node.full };
        let tls = connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("tls: {e}"))?;
        let resumed = tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("http: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok((sender, resumed))
    }

    /// One request on an open connection; the whole body is read.
    async fn ask(
        &self,
        sender: &mut SendRequest<Full<Bytes>>,
        node: &Node,
        close: bool,
    ) -> Result<(u16, usize), String> {
        sender.ready().await.map_err(|e| format!("http: {e}"))?;
        let mut req = Request::post(node.path.as_str())
            .header("host", self.server_name.to_str().as_ref())
            .header("accept", "application/json");
        req = match self.kind {
            Kind::Fleet => req.header("content-type", "application/json"),
            Kind::Puppet => req.header("content-type", "application/x-www-form-urlencoded"),
        };
        if close {
            req = req.header("connection", "close");
        }
        let req = req
            .body(Full::new(node.body.clone()))
            .map_err(|e| format!("request: {e}"))?;
        let answer = sender
            .send_request(req)
            .await
            .map_err(|e| format!("http: {e}"))?;
        let status = answer.status().as_u16();
        let body = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok((status, body.len()))
    }

    /// One request on a connection of its own.
    async fn once(&self, node: &Node, resume: bool) -> Result<Answer, String> {
        let (mut sender, resumed) = self.connect(node, resume).await?;
        let (status, bytes) = self.ask(&mut sender, node, true).await?;
        Ok(Answer {
            status,
            resumed,
            bytes,
        })
    }
}

/// Asks for every node once, keeping each node's TLS session for `resume`.
async fn warm_up(bench: &Arc<Bench>, concurrency: usize) -> Tally {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (bench, next) = (bench.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(node) = bench.nodes.get(i) else {
                    return tally;
                };
                match bench.once(node, true).await {
                    Ok(a) => tally.count(a.status.to_string()),
                    Err(e) => {
                        eprintln!("serve_load: warm-up {}: {e}", node.name);
                        tally.count(e.split(':').next().unwrap_or("error").to_string());
                    }
                }
            }
        }));
    }
    let mut all = Tally::default();
    for t in tasks {
        all.merge(t.await.unwrap_or_default());
    }
    all
}

/// Runs one mode for `seconds`; returns its figures.
async fn measure(
    bench: &Arc<Bench>,
    mode: Mode,
    concurrency: usize,
    seconds: f64,
) -> serde_json::Value {
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..concurrency {
        let (bench, stop, next) = (bench.clone(), stop.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut open: Option<SendRequest<Full<Bytes>>> = None;
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let result = match mode {
                    Mode::Resume | Mode::Full => {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let node = &bench.nodes[i % bench.nodes.len()];
                        bench.once(node, mode == Mode::Resume).await
                    }
                    Mode::Keepalive => {
                        let node = &bench.nodes[k % bench.nodes.len()];
                        keepalive(&bench, node, &mut open).await
                    }
                };
                let micros = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
                match result {
                    Ok(a) => {
                        tally.latencies.push(micros);
                        tally.count(a.status.to_string());
                        tally.resumed += u64::from(a.resumed);
                        tally.body_bytes += a.bytes as u64;
                    }
                    Err(e) => {
                        open = None;
                        tally.count(e.split(':').next().unwrap_or("error").to_string());
                    }
                }
            }
            tally
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Tally::default();
    for t in tasks {
        all.merge(t.await.unwrap_or_default());
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    summary(mode, &mut all, wall, cpu, concurrency)
}

/// A request on the requester's kept-alive connection (made when there is none).
async fn keepalive(
    bench: &Bench,
    node: &Node,
    open: &mut Option<SendRequest<Full<Bytes>>>,
) -> Result<Answer, String> {
    let mut resumed = false;
    if open.as_ref().is_none_or(|s| s.is_closed()) {
        let (sender, r) = bench.connect(node, true).await?;
        *open = Some(sender);
        resumed = r;
    }
    let Some(sender) = open.as_mut() else {
        return Err("http: no connection".into());
    };
    let (status, bytes) = bench.ask(sender, node, false).await?;
    Ok(Answer {
        status,
        resumed,
        bytes,
    })
}

/// One mode's figures.
fn summary(
    mode: Mode,
    tally: &mut Tally,
    wall: f64,
    cpu: f64,
    concurrency: usize,
) -> serde_json::Value {
    tally.latencies.sort_unstable();
    let n = tally.latencies.len();
    let pct = |p: f64| -> Option<f64> {
        (n > 0).then(|| {
            let i = ((n as f64 * p) as usize).min(n - 1);
            f64::from(tally.latencies[i]) / 1000.0
        })
    };
    let ok = tally.statuses.get("200").copied().unwrap_or(0);
    let requests: u64 = tally.statuses.values().sum();
    let round = |x: f64| (x * 100.0).round() / 100.0;
    serde_json::json!({
        "mode": mode.name(),
        "requests": requests,
        "ok": ok,
        "errors": requests - ok,
        "statuses": tally.statuses,
        "rps": round(ok as f64 / wall),
        "p50_ms": pct(0.50).map(round),
        "p99_ms": pct(0.99).map(round),
        "resumed": tally.resumed,
        "mean_body": tally.body_bytes / (n.max(1) as u64),
        "client_cpu_s": round(cpu),
        "wall_s": round(wall),
        "concurrency": concurrency,
    })
}

/// User plus system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `struct rusage` into the pointer it is given, which
    // points at one we own; RUSAGE_SELF is a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0.0;
    }
    // SAFETY: zeroed is a valid rusage (plain integers), and getrusage filled it in.
    let usage = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// User plus system CPU seconds of another process so far (/proc/PID/stat), if readable.
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces:
    // state is field 3, utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value; _SC_CLK_TCK is a valid name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) / ticks as f64)
}
