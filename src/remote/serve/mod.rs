//! `fleet serve`, the catalog server (REMOTE.md "The catalog server"): HTTPS on one
//! listener (hyper, one connection task per TLS stream), the program from [`manifest`], the
//! shared [`Store`](super::store::Store), client certificates checked by [`super::tls`].
//!
//! Authorisation: `/v1/health`, `POST /v1/csr/<node>` and `GET /v1/cert/<node>` need no
//! certificate; every other endpoint answers 401 without one, and 403 when the
//! certificate's common name is not the node asked for (admins, `--admin`, may read every
//! node's catalog, the inventory and the reports). Nothing here prints: the access log and
//! the server's notices go to the caller's callback.

pub(crate) mod manifest;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use self::manifest::{CompileError, Manifest, Reload, Source};
use super::ca::autosign::{Grant, Policy};
use super::ca::{x509, CaKeys};
use super::store::{ReportFilter, ReportRow, Store};
use super::tls::{common_name, TlsFiles, TlsState};

/// Everything `fleet serve` is started with.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub source: Source,
    pub tls: TlsFiles,
    pub listen: SocketAddr,
    /// `sqlite:PATH` or `postgres://…`.
    pub store: String,
    /// Certificate names that may read every node's data.
    pub admins: Vec<String>,
    /// Requests in flight beyond which the server answers 503 + `Retry-After`.
    pub max_inflight: usize,
    /// The largest request body accepted (413 beyond).
    pub max_body: usize,
    /// How often the manifest's files and the CRL are looked at.
    pub poll: Duration,
    /// Signing certificate requests at once (`--ca-key` and `--autosign`).
    pub autosign: Option<AutosignFiles>,
}

/// The files a server that signs requests itself is given.
#[derive(Clone, Debug)]
pub(crate) struct AutosignFiles {
    /// The CA's private key (its certificate is `--ca-cert`).
    pub ca_key: std::path::PathBuf,
    /// The autosign policy ([`crate::remote::ca::autosign`]), re-read when it changes.
    pub policy: std::path::PathBuf,
}

/// The CA keys and the current autosign policy.
struct Signer {
    keys: CaKeys,
    files: AutosignFiles,
    policy: std::sync::RwLock<Policy>,
    seen: Mutex<Option<(std::time::SystemTime, u64)>>,
}

impl Signer {
    fn load(files: AutosignFiles, ca_cert: &std::path::Path) -> Result<Signer, Error> {
        let read = |p: &std::path::Path, what: &str| {
            std::fs::read_to_string(p).map_err(|e| Error(format!("{what} {}: {e}", p.display())))
        };
        let keys = CaKeys::from_pem(
            &read(ca_cert, "--ca-cert")?,
            &read(&files.ca_key, "--ca-key")?,
        )
        .map_err(|e| Error(format!("--ca-key {}: {e}", files.ca_key.display())))?;
        let policy = Policy::parse(&read(&files.policy, "--autosign")?)
            .map_err(|e| Error(format!("--autosign {}: {e}", files.policy.display())))?;
        let seen = stamp(&files.policy);
        Ok(Signer {
            keys,
            files,
            policy: std::sync::RwLock::new(policy),
            seen: Mutex::new(seen),
        })
    }

    /// Re-reads the policy when its file changed; `Err` (for the log) keeps the old one.
    fn reload_if_changed(&self) -> Result<bool, String> {
        let now = stamp(&self.files.policy);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if now == *seen {
            return Ok(false);
        }
        *seen = now;
        let text = std::fs::read_to_string(&self.files.policy)
            .map_err(|e| format!("{}: {e}", self.files.policy.display()))?;
        let policy =
            Policy::parse(&text).map_err(|e| format!("{}: {e}", self.files.policy.display()))?;
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = policy;
        Ok(true)
    }
}

/// A file's modification time and length.
fn stamp(path: &std::path::Path) -> Option<(std::time::SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// One access-log line's fields.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    /// RFC 3339, UTC.
    pub time: String,
    /// The client certificate's common name (`-` without one).
    pub client: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub ms: f64,
}

/// What the server tells its caller: access-log lines and notices.
#[derive(Clone, Debug)]
pub(crate) enum Notice {
    Listening(SocketAddr),
    Access(Access),
    /// A program was loaded (its version).
    Loaded(String),
    /// A change was refused; the diagnostics (JSON lines).
    Refused(String),
    /// The revocation list was re-read.
    CrlReloaded,
    /// Something went wrong that the server survives (the message).
    Problem(String),
    /// A certificate request was signed at once, by this rule of the autosign file.
    Signed {
        node: String,
        rule: String,
    },
    /// The autosign file was re-read.
    AutosignReloaded,
    Stopping,
}

/// The callback notices go to.
pub(crate) type Notify = Arc<dyn Fn(Notice) + Send + Sync>;

/// A start-up failure (bad TLS files, unreachable store, unusable listen address).
#[derive(Debug)]
pub(crate) struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// A node's last catalog on this server: which program and facts it was compiled from, its
/// version, its content hashes (so `GET /v1/content` needs no compile when it is fresh) and,
/// while the cache's byte budget lasts, its JSON (so an agent whose facts did not change gets
/// its catalog without a compile: the same checkout and the same facts give the same catalog).
struct Cached {
    program: String,
    facts: Option<String>,
    catalog: Fresh,
}

/// A node's catalog as the handlers use it.
#[derive(Clone)]
struct Fresh {
    version: String,
    /// The catalog JSON; `None` in the cache when it did not fit in [`CACHE_BYTES`].
    body: Option<Bytes>,
    shas: Arc<std::collections::HashSet<String>>,
}

/// The most catalog JSON one server keeps in memory (every node's last catalog, the newest
/// first in; beyond it, a node's catalog is compiled on each request as before). At about
/// 30 KB for 100 resources, 256 MiB holds the catalogs of some 8,000 such nodes.
const CACHE_BYTES: usize = 256 << 20;

/// Every node's last catalog, and how many bytes of JSON they keep.
#[derive(Default)]
struct Cache {
    nodes: HashMap<String, Cached>,
    bytes: usize,
}

impl Cache {
    /// The node's catalog when it was compiled from this program and these facts.
    fn get(&self, node: &str, program: &str, facts: Option<&str>) -> Option<&Fresh> {
        self.nodes
            .get(node)
            .filter(|c| c.program == program && c.facts.as_deref() == facts)
            .map(|c| &c.catalog)
    }

    /// Keeps a node's catalog in place of its last one; its JSON only while the budget lasts.
    fn put(&mut self, node: &str, program: &str, facts: Option<&str>, mut catalog: Fresh) {
        if let Some(old) = self.nodes.remove(node) {
            self.bytes -= old.catalog.body.map_or(0, |b| b.len());
        }
        let len = catalog.body.as_ref().map_or(0, Bytes::len);
        if self.bytes + len > CACHE_BYTES {
            catalog.body = None;
        } else {
            self.bytes += len;
        }
        self.nodes.insert(
            node.to_string(),
            Cached {
                program: program.to_string(),
                facts: facts.map(str::to_string),
                catalog,
            },
        );
    }
}

/// What every connection task shares.
struct Shared {
    config: Config,
    tls: TlsState,
    manifest: Manifest,
    store: Store,
    inflight: AtomicUsize,
    cache: Mutex<Cache>,
    notify: Notify,
    signer: Option<Signer>,
}

/// Runs the server until SIGTERM or SIGINT, then stops gracefully (no new connections; the
/// open ones finish their requests, for up to 10 seconds).
pub(crate) async fn run(config: Config, notify: Notify) -> Result<(), Error> {
    let tls = TlsState::load(config.tls.clone()).map_err(|e| Error(e.to_string()))?;
    let signer = match &config.autosign {
        Some(files) => Some(Signer::load(files.clone(), &config.tls.ca_cert)?),
        None => None,
    };
    let store = Store::open(&config.store)
        .await
        .map_err(|e| Error(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error(format!("--listen {}: {e}", config.listen)))?;
    let shared = Arc::new(Shared {
        manifest: Manifest::new(config.source.clone(), manifest::store_files(&config.store)),
        config,
        tls,
        store,
        inflight: AtomicUsize::new(0),
        cache: Mutex::new(Cache::default()),
        notify,
        signer,
    });
    reload(&shared, true).await;
    let local = listener
        .local_addr()
        .map_err(|e| Error(format!("listener: {e}")))?;
    (shared.notify)(Notice::Listening(local));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(watch(shared.clone(), stop_rx.clone()));
    let mut term = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = signal(tokio::signal::unix::SignalKind::interrupt())?;
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let task = Connection { shared: shared.clone(), open: open.clone() };
                    open.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(task.serve(stream, peer, stop_rx.clone()));
                }
                Err(e) => {
                    (shared.notify)(Notice::Problem(format!("accept: {e}")));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    (shared.notify)(Notice::Stopping);
    drop(listener);
    let _ = stop_tx.send(true);
    watcher.abort();
    let deadline = Instant::now() + Duration::from_secs(10);
    while open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// A Unix signal stream, or a start-up error.
fn signal(kind: tokio::signal::unix::SignalKind) -> Result<tokio::signal::unix::Signal, Error> {
    tokio::signal::unix::signal(kind).map_err(|e| Error(format!("signal handler: {e}")))
}

/// Looks at the manifest's files and the CRL every `poll` (and reloads the manifest on
/// SIGHUP), until stopped.
async fn watch(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(shared.config.poll);
    loop {
        let forced = tokio::select! {
            _ = tick.tick() => false,
            _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => true,
            _ = stop.changed() => return,
        };
        match shared.tls.reload_if_changed() {
            Ok(true) => (shared.notify)(Notice::CrlReloaded),
            Ok(false) => {}
            Err(e) => (shared.notify)(Notice::Problem(format!("CRL not reloaded: {e}"))),
        }
        if let Some(signer) = &shared.signer {
            match signer.reload_if_changed() {
                Ok(true) => (shared.notify)(Notice::AutosignReloaded),
                Ok(false) => {}
                Err(e) => (shared.notify)(Notice::Problem(format!(
                    "autosign file not reloaded, the old policy stays: {e}"
                ))),
            }
        }
        reload(&shared, forced).await;
    }
}

/// Reloads the manifest on a blocking thread and tells the log what happened.
async fn reload(shared: &Arc<Shared>, force: bool) {
    let s = shared.clone();
    match tokio::task::spawn_blocking(move || s.manifest.reload(force)).await {
        Ok(Reload::Unchanged) => {}
        Ok(Reload::Loaded { version }) => (shared.notify)(Notice::Loaded(version)),
        Ok(Reload::Refused { diagnostics }) => (shared.notify)(Notice::Refused(diagnostics)),
        Err(e) => (shared.notify)(Notice::Problem(format!("manifest load failed: {e}"))),
    }
}

/// One accepted TCP connection; counts itself open until dropped.
struct Connection {
    shared: Arc<Shared>,
    open: Arc<AtomicUsize>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Who is asking: the verified client certificate's common name, if one was presented.
#[derive(Clone, Debug)]
struct Peer {
    name: Option<String>,
    /// The verified chain and the TLS generation it was verified under.
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    generation: u64,
}

impl Connection {
    /// The TLS handshake (10 s at most), then HTTP/1.1 requests until the client closes or
    /// the server stops.
    async fn serve(
        self,
        stream: tokio::net::TcpStream,
        _addr: SocketAddr,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let generation = self.shared.tls.generation();
        let acceptor = tokio_rustls::TlsAcceptor::from(self.shared.tls.current());
        let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
        {
            Ok(Ok(tls)) => tls,
            // A failed handshake (an expired, revoked or foreign certificate) ends here:
            // the client got the TLS alert.
            _ => return,
        };
        let chain: Vec<_> = tls
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
            .unwrap_or_default();
        let name = chain.first().and_then(|c| common_name(c.as_ref()));
        let peer = Peer {
            name,
            chain,
            generation,
        };
        let shared = self.shared.clone();
        let service = hyper::service::service_fn(move |req| {
            let shared = shared.clone();
            let peer = peer.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(&shared, &peer, req).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .serve_connection(TokioIo::new(tls), service);
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stop.changed() => conn.as_mut().graceful_shutdown(),
        }
        let _ = conn.await;
    }
}

/// A response body.
type Body = Full<Bytes>;

/// Answers one request and writes its access-log line.
async fn handle(shared: &Shared, peer: &Peer, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let response = route(shared, peer, req).await;
    (shared.notify)(Notice::Access(Access {
        time: jiff::Timestamp::now()
            .round(jiff::Unit::Millisecond)
            .map_or_else(|_| String::new(), |t| t.to_string()),
        client: peer.name.clone().unwrap_or_else(|| "-".into()),
        method,
        path,
        status: response.status().as_u16(),
        ms: started.elapsed().as_secs_f64() * 1000.0,
    }));
    response
}

/// Decrements the in-flight count when the request is done.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Dispatches by method and path; applies the in-flight limit (health is exempt).
async fn route(shared: &Shared, peer: &Peer, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if req.method() == Method::GET && segments == ["v1", "health"] {
        return health(shared);
    }
    // A keep-alive connection that outlived a CRL change: its certificate is checked again.
    if !shared.tls.still_valid(peer.generation, &peer.chain) {
        let mut r = text(
            StatusCode::UNAUTHORIZED,
            "the client certificate is no longer valid (revoked or expired)\n",
        );
        r.headers_mut().insert(
            "connection",
            hyper::header::HeaderValue::from_static("close"),
        );
        return r;
    }
    let n = shared.inflight.fetch_add(1, Ordering::SeqCst);
    let _guard = InFlight(&shared.inflight);
    if n >= shared.config.max_inflight {
        let mut r = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy: too many requests in flight\n",
        );
        r.headers_mut()
            .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
        return r;
    }
    let method = req.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::POST, ["v1", "csr", node]) => {
            let node = node.to_string();
            csr(shared, &node, req).await
        }
        (&Method::GET, ["v1", "cert", node]) => cert(shared, node).await,
        _ if peer.name.is_none() => text(
            StatusCode::UNAUTHORIZED,
            "a client certificate from the fleet CA is required\n",
        ),
        (&Method::POST, ["v1", "catalog", node]) => {
            let node = node.to_string();
            catalog(shared, peer, &node, req).await
        }
        (&Method::GET, ["v1", "content", sha]) => content(shared, peer, sha).await,
        (&Method::POST, ["v1", "report", node]) => {
            let node = node.to_string();
            report(shared, peer, &node, req).await
        }
        (&Method::GET, ["v1", "nodes"]) => nodes(shared, peer).await,
        (&Method::GET, ["v1", "reports"]) => {
            let query = req.uri().query().unwrap_or("").to_string();
            reports(shared, peer, &query).await
        }
        _ => text(StatusCode::NOT_FOUND, "no such endpoint\n"),
    }
}

/// A plain-text response.
fn text(status: StatusCode, body: &str) -> Response<Body> {
    respond(
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

/// A response with a content type.
fn respond(status: StatusCode, kind: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(kind),
    );
    r
}

/// A JSON response.
fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    respond(status, "application/json", body)
}

/// The answer when the store cannot be reached.
fn store_down(shared: &Shared, e: &super::store::StoreError) -> Response<Body> {
    (shared.notify)(Notice::Problem(e.to_string()));
    let mut r = text(
        StatusCode::SERVICE_UNAVAILABLE,
        "the store is unavailable\n",
    );
    r.headers_mut()
        .insert("retry-after", hyper::header::HeaderValue::from_static("5"));
    r
}

/// `GET /v1/health`: ok with the program's version, or degraded with the diagnostics.
fn health(shared: &Shared) -> Response<Body> {
    let version = shared.manifest.current().map(|g| g.version.clone());
    let mut doc = serde_json::Map::new();
    let problem = shared.manifest.problem();
    doc.insert(
        "status".into(),
        (if problem.is_some() || version.is_none() {
            "degraded"
        } else {
            "ok"
        })
        .into(),
    );
    doc.insert("manifest".into(), version.unwrap_or_default().into());
    doc.insert(
        "in_flight".into(),
        shared.inflight.load(Ordering::SeqCst).into(),
    );
    if let Some(lines) = problem {
        let diags: Vec<serde_json::Value> = lines
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        doc.insert("diagnostics".into(), diags.into());
    }
    json_response(StatusCode::OK, &serde_json::Value::Object(doc))
}

/// True for a name that can be a node's (and so a path segment): 1–253 characters of
/// letters, digits, `.`, `-` and `_`.
fn valid_node(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Whether `peer` may act for `node` (itself), or read it (an admin, with `read`).
fn authorised(shared: &Shared, peer: &Peer, node: &str, read: bool) -> bool {
    match &peer.name {
        Some(n) if n == node => true,
        Some(n) => read && shared.config.admins.iter().any(|a| a == n),
        None => false,
    }
}

/// Whether `peer` is an admin.
fn is_admin(shared: &Shared, peer: &Peer) -> bool {
    peer.name
        .as_ref()
        .is_some_and(|n| shared.config.admins.iter().any(|a| a == n))
}

/// Reads a request body up to the cap: `Err` is the 413 (too big) or 400 (truncated, or
/// broken off) answer.
async fn read_body(shared: &Shared, req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    let max = shared.config.max_body;
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_big(max));
    }
    match Limited::new(req.into_body(), max).collect().await {
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_big(max)),
        Err(e) => Err(text(
            StatusCode::BAD_REQUEST,
            &format!("the request body could not be read: {e}\n"),
        )),
    }
}

/// The 413 answer.
fn too_big(max: usize) -> Response<Body> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body is larger than {max} bytes\n"),
    )
}

/// The current Unix time in seconds.
fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// `POST /v1/catalog/<node>`: the node's catalog for the facts it posted (recorded in the
/// store); 304 when `If-None-Match` is its version.
async fn catalog(
    shared: &Shared,
    peer: &Peer,
    node: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    if !valid_node(node) {
        return text(StatusCode::BAD_REQUEST, "not a node name\n");
    }
    if !authorised(shared, peer, node, true) {
        return text(
            StatusCode::FORBIDDEN,
            "this certificate is not the node's\n",
        );
    }
    let etag = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_matches('"').to_string());
    let body = match read_body(shared, req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let facts_json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => return text(StatusCode::BAD_REQUEST, "the facts are not a JSON object\n"),
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("the facts are not JSON: {e}\n"),
            )
        }
    };
    let facts_text = facts_json.to_string();
    let compiled = match compile(shared, node, Some(&facts_text)).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    // Only the node's own request is its facts (an admin reads with facts of its own).
    if peer.name.as_deref() == Some(node) {
        if let Err(e) = shared
            .store
            .put_facts(node, &facts_text, &compiled.version, now())
            .await
        {
            return store_down(shared, &e);
        }
    }
    let tag = format!("\"{}\"", compiled.version);
    if etag.as_deref() == Some(compiled.version.as_str()) {
        let mut r = respond(StatusCode::NOT_MODIFIED, "application/json", Vec::new());
        if let Ok(v) = hyper::header::HeaderValue::from_str(&tag) {
            r.headers_mut().insert("etag", v);
        }
        return r;
    }
    let mut r = Response::new(Full::new(compiled.body.unwrap_or_default()));
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&tag) {
        r.headers_mut().insert("etag", v);
    }
    r
}

/// The node's catalog for the current program and the given facts JSON (already checked to
/// be an object): the cached one when both are unchanged, else compiled on a blocking thread
/// and cached. The JSON is always there. `Err` is the answer: 404 no node block, 422
/// errors, 503 no program at all.
async fn compile(
    shared: &Shared,
    node: &str,
    facts: Option<&str>,
) -> Result<Fresh, Response<Body>> {
    let Some(generation) = shared.manifest.current() else {
        let lines = shared.manifest.problem().unwrap_or_default();
        return Err(respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            "application/x-ndjson",
            lines.into_bytes(),
        ));
    };
    let cached = shared.cache.lock().ok().and_then(|c| {
        c.get(node, &generation.version, facts)
            .filter(|f| f.body.is_some())
            .cloned()
    });
    if let Some(fresh) = cached {
        return Ok(fresh);
    }
    let value = facts
        .and_then(|f| serde_json::from_str::<serde_json::Value>(f).ok())
        .map(|v| crate::model::value::Value::from_json(&v));
    let g = generation.clone();
    let name = node.to_string();
    let result = tokio::task::spawn_blocking(move || g.compile(&name, value)).await;
    match result {
        Ok(Ok(compiled)) => {
            let fresh = Fresh {
                version: compiled.version,
                body: Some(Bytes::from(compiled.body)),
                shas: Arc::new(compiled.shas),
            };
            if let Ok(mut cache) = shared.cache.lock() {
                cache.put(node, &generation.version, facts, fresh.clone());
            }
            Ok(fresh)
        }
        Ok(Err(CompileError::NoNode(lines))) => Err(respond(
            StatusCode::NOT_FOUND,
            "application/x-ndjson",
            lines.into_bytes(),
        )),
        Ok(Err(CompileError::Errors(lines))) => Err(respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            "application/x-ndjson",
            lines.into_bytes(),
        )),
        Err(e) => Err(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the compile failed: {e}\n"),
        )),
    }
}

/// `GET /v1/content/<sha256>`: the bytes, when the requester's current catalog (its last
/// posted facts, the program serving now) names the hash; 404 otherwise.
async fn content(shared: &Shared, peer: &Peer, sha: &str) -> Response<Body> {
    let Some(node) = peer.name.clone() else {
        return text(
            StatusCode::UNAUTHORIZED,
            "a client certificate is required\n",
        );
    };
    let not_found = || text(StatusCode::NOT_FOUND, "no such content for this node\n");
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return not_found();
    }
    let Some(generation) = shared.manifest.current() else {
        return not_found();
    };
    let facts = match shared.store.facts(&node).await {
        Ok(f) => f,
        Err(e) => return store_down(shared, &e),
    };
    let fresh = shared.cache.lock().ok().and_then(|c| {
        c.get(&node, &generation.version, facts.as_deref())
            .map(|f| f.shas.clone())
    });
    let shas = match fresh {
        Some(s) => s,
        None => match compile(shared, &node, facts.as_deref()).await {
            Ok(c) => c.shas,
            Err(_) => return not_found(),
        },
    };
    if !shas.contains(sha) {
        return not_found();
    }
    let g = generation.clone();
    let key = sha.to_string();
    let bytes = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut out = Vec::new();
        g.store.open(&key)?.ok()?.read_to_end(&mut out).ok()?;
        Some(out)
    })
    .await
    .ok()
    .flatten();
    match bytes {
        Some(b) => respond(StatusCode::OK, "application/octet-stream", b),
        None => not_found(),
    }
}

/// `POST /v1/report/<node>`: stores the node's Report JSON (204).
async fn report(
    shared: &Shared,
    peer: &Peer,
    node: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    if !valid_node(node) {
        return text(StatusCode::BAD_REQUEST, "not a node name\n");
    }
    if !authorised(shared, peer, node, false) {
        return text(
            StatusCode::FORBIDDEN,
            "this certificate is not the node's\n",
        );
    }
    let body = match read_body(shared, req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let doc: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => return text(StatusCode::BAD_REQUEST, "the report is not a JSON object\n"),
    };
    let count = |k: &str| doc["summary"][k].as_u64().unwrap_or(0);
    let status = if count("failed") > 0 {
        "failed"
    } else if count("changed") > 0 {
        "changed"
    } else {
        "unchanged"
    };
    let row = ReportRow {
        node: node.to_string(),
        time: now(),
        status: status.to_string(),
        body: doc.to_string(),
    };
    match shared.store.put_report(&row).await {
        Ok(()) => respond(StatusCode::NO_CONTENT, "text/plain", Vec::new()),
        Err(e) => store_down(shared, &e),
    }
}

/// `GET /v1/nodes` (admins): the inventory.
async fn nodes(shared: &Shared, peer: &Peer) -> Response<Body> {
    if !is_admin(shared, peer) {
        return text(StatusCode::FORBIDDEN, "admins only\n");
    }
    let rows = match shared.store.nodes().await {
        Ok(r) => r,
        Err(e) => return store_down(shared, &e),
    };
    let list: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|n| {
            let facts: serde_json::Value = serde_json::from_str(&n.facts).unwrap_or_default();
            serde_json::json!({
                "name": n.name,
                "facts": facts,
                "catalog_version": n.catalog_version,
                "seen": n.seen,
                "last_report": n.last_report.map(|(status, time)| serde_json::json!({"status": status, "time": time})),
            })
        })
        .collect();
    json_response(StatusCode::OK, &serde_json::Value::Array(list))
}

/// `GET /v1/reports?node=N&status=S&since=T` (admins): `since` is Unix seconds or RFC 3339.
async fn reports(shared: &Shared, peer: &Peer, query: &str) -> Response<Body> {
    if !is_admin(shared, peer) {
        return text(StatusCode::FORBIDDEN, "admins only\n");
    }
    let mut filter = ReportFilter::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "node" => filter.node = Some(v.to_string()),
            "status" => filter.status = Some(v.to_string()),
            "since" => {
                let t = v
                    .parse::<i64>()
                    .ok()
                    .or_else(|| v.parse::<jiff::Timestamp>().ok().map(|t| t.as_second()));
                match t {
                    Some(t) => filter.since = Some(t),
                    None => {
                        return text(StatusCode::BAD_REQUEST, "since: Unix seconds or RFC 3339\n")
                    }
                }
            }
            _ => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("unknown parameter `{k}`\n"),
                )
            }
        }
    }
    let rows = match shared.store.reports(&filter).await {
        Ok(r) => r,
        Err(e) => return store_down(shared, &e),
    };
    let list: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
            serde_json::json!({"node": r.node, "time": r.time, "status": r.status, "report": body})
        })
        .collect();
    json_response(StatusCode::OK, &serde_json::Value::Array(list))
}

/// `POST /v1/csr/<node>`: a PEM certificate request (`X-Fleet-Token` may carry an enrolment
/// token). 400 when it is not a request for `node` whose signature verifies; 409 when the
/// store already holds a certificate for `node` (never a second one for an enrolled name:
/// `fleet ca revoke NODE --store …` first); with the CA key and a matching autosign rule, 200
/// and the certificate (403 when the token was spent); else 202, queued for `fleet ca sign`.
async fn csr(shared: &Shared, node: &str, req: Request<Incoming>) -> Response<Body> {
    if !valid_node(node) {
        return text(StatusCode::BAD_REQUEST, "not a node name\n");
    }
    let token = req
        .headers()
        .get("x-fleet-token")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.trim().to_string());
    let body = match read_body(shared, req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(pem) = std::str::from_utf8(&body) else {
        return text(StatusCode::BAD_REQUEST, "not a PEM certificate request\n");
    };
    match x509::request_name(pem) {
        Ok(cn) if cn == node => {}
        Ok(cn) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("the certificate request is for {cn:?}, not {node:?}\n"),
            )
        }
        Err(e) => return text(StatusCode::BAD_REQUEST, &format!("{}\n", e.message())),
    }
    match shared.store.cert(node).await {
        Ok(Some(_)) => {
            return text(
                StatusCode::CONFLICT,
                &format!(
                    "{node} already has a signed certificate; revoke it with `fleet ca revoke {node} --ca DIR --store URL` before it enrols again\n"
                ),
            )
        }
        Ok(None) => {}
        Err(e) => return store_down(shared, &e),
    }
    if let Some(signer) = &shared.signer {
        let grant = signer
            .policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .matches(node, token.as_deref());
        let rule = match grant {
            Some(Grant::Name { line }) => Some(format!("line {line}")),
            Some(Grant::Token { line, secret }) => {
                match shared.store.use_token(&secret, now()).await {
                    Ok(true) => Some(format!("token, line {line}")),
                    Ok(false) => {
                        return text(
                            StatusCode::FORBIDDEN,
                            "the enrolment token has been used already\n",
                        )
                    }
                    Err(e) => return store_down(shared, &e),
                }
            }
            None => None,
        };
        if let Some(rule) = rule {
            return autosign(shared, signer, node, pem, rule).await;
        }
    }
    match shared.store.put_csr(node, pem, now()).await {
        Ok(()) => text(StatusCode::ACCEPTED, "queued for signing\n"),
        Err(e) => store_down(shared, &e),
    }
}

/// Signs `node`'s request with the CA key (a client certificate for `ca::NODE_DAYS`), keeps
/// it in the store for `GET /v1/cert` and `fleet ca list --store`, answers it.
async fn autosign(
    shared: &Shared,
    signer: &Signer,
    node: &str,
    pem: &str,
    rule: String,
) -> Response<Body> {
    let validity = match x509::Validity::days(x509::now(), super::ca::NODE_DAYS) {
        Ok(v) => v,
        Err(e) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("{}\n", e.message()),
            )
        }
    };
    let spec = x509::LeafSpec {
        name: node,
        server: false,
        dns: &[],
        ips: &[],
        validity,
    };
    let signed = match x509::sign_request(&signer.keys, &spec, pem) {
        Ok(s) => s,
        Err(e) => return text(StatusCode::BAD_REQUEST, &format!("{}\n", e.message())),
    };
    if let Err(e) = shared.store.put_cert(node, &signed.cert_pem, now()).await {
        return store_down(shared, &e);
    }
    (shared.notify)(Notice::Signed {
        node: node.to_string(),
        rule,
    });
    respond(
        StatusCode::OK,
        "application/x-pem-file",
        signed.cert_pem.into_bytes(),
    )
}

/// `GET /v1/cert/<node>`: the signed certificate, 404 while pending.
async fn cert(shared: &Shared, node: &str) -> Response<Body> {
    if !valid_node(node) {
        return text(StatusCode::BAD_REQUEST, "not a node name\n");
    }
    match shared.store.cert(node).await {
        Ok(Some(pem)) => respond(StatusCode::OK, "application/x-pem-file", pem.into_bytes()),
        Ok(None) => text(StatusCode::NOT_FOUND, "not signed yet\n"),
        Err(e) => store_down(shared, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_in_paths() {
        for ok in ["web01", "web01.example.net", "db_1-a"] {
            assert!(valid_node(ok), "{ok}");
        }
        for bad in ["", "..x/", "a b", "a%2F", &"x".repeat(254)] {
            assert!(!valid_node(bad), "{bad}");
        }
    }

    fn catalog(len: usize) -> Fresh {
        Fresh {
            version: format!("v{len}"),
            body: Some(Bytes::from(vec![b'x'; len])),
            shas: Arc::default(),
        }
    }

    #[test]
    fn the_cache_answers_only_for_the_same_program_and_facts() {
        let mut c = Cache::default();
        c.put("web01", "p1", Some("{}"), catalog(10));
        assert!(c.get("web01", "p1", Some("{}")).is_some());
        assert!(c.get("web01", "p2", Some("{}")).is_none());
        assert!(c.get("web01", "p1", Some("{\"a\":1}")).is_none());
        assert!(c.get("web01", "p1", None).is_none());
        assert!(c.get("db01", "p1", Some("{}")).is_none());
        c.put("web01", "p2", None, catalog(20));
        assert!(c.get("web01", "p1", Some("{}")).is_none());
        assert_eq!(c.get("web01", "p2", None).unwrap().version, "v20");
        assert_eq!(c.bytes, 20);
    }

    #[test]
    fn beyond_the_byte_budget_only_the_hashes_are_kept() {
        let mut c = Cache::default();
        c.put("big", "p", None, catalog(CACHE_BYTES - 5));
        c.put("web01", "p", None, catalog(10));
        assert!(c.get("web01", "p", None).unwrap().body.is_none());
        assert_eq!(c.bytes, CACHE_BYTES - 5);
        // Replacing the big one gives its bytes back.
        c.put("big", "p", None, catalog(1));
        c.put("web01", "p", None, catalog(10));
        assert!(c.get("web01", "p", None).unwrap().body.is_some());
        assert_eq!(c.bytes, 11);
    }
}
