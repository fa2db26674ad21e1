//! `fleet agent`'s work (REMOTE.md "The agent"), without the apply itself (that is
//! `cli/agent.rs`'s, through `fleet apply --catalog`'s code): fetch the node's catalog from
//! the first server that answers, check it, fetch the content it lacks, keep both in the
//! agent's private cache, deliver reports (queued when no server takes them), and enrol a
//! node that has no certificate yet.
//!
//! The cache is `STATE/agent/` ([`PrivateDir`]: 0700, files 0600, never through a link):
//! `catalog.json`, `content/<sha256>`, `reports/<time>.json`, and while bootstrapping
//! `ssl/<node>.key` and `ssl/<node>.crt`. A catalog is cached only once every content blob
//! it names is cached and has its hash, so the cache always holds an applicable catalog.
//!
//! Which failure does what: a server that does not answer, or answers 5xx, is skipped for
//! the next; a 503 is retried on the same server after its `Retry-After` plus a random part
//! (up to [`BUSY_RETRIES`] times); no server at all, or a 422 (the manifest is broken for this
//! node), falls back to the cached catalog; a refusal (401, 403, a TLS alert about this
//! node's certificate), an unknown node (404) and a bad catalog or content (their hashes do
//! not match) stop the run before anything is applied.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use hyper::{Method, StatusCode};
use sha2::{Digest, Sha256};

use super::client::{Answer, Client, ClientError, ServerUrl};
use crate::apply::state::PrivateDir;
use crate::catalog::json::CatalogDoc;

/// Times a busy server (503) is asked again before the next one is tried.
pub(crate) const BUSY_RETRIES: u32 = 5;
/// The longest `Retry-After` honoured, in seconds (a larger one counts as this).
pub(crate) const MAX_RETRY_AFTER: u64 = 300;
/// The largest catalog accepted from a server.
pub(crate) const MAX_CATALOG: usize = 512 << 20;
/// The largest content blob accepted (a release tarball fits; an endless answer does not
/// fill the disk).
pub(crate) const MAX_BLOB: u64 = 16 << 30;
/// Reports kept in the queue when no server takes them (the oldest go first).
pub(crate) const MAX_QUEUED_REPORTS: usize = 200;

/// What an agent run is about.
pub(crate) struct Run<'a> {
    pub client: &'a Client,
    /// The servers, already in the order to try them.
    pub servers: &'a [ServerUrl],
    pub node: &'a str,
    /// Told what the run does that the user should know (one line each, no newline).
    pub note: &'a (dyn Fn(&str) + Sync),
}

/// Why an agent run applied nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentError(pub String);

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AgentError {}

fn io_error(doing: &str) -> impl Fn(std::io::Error) -> AgentError + '_ {
    move |e| AgentError(format!("{doing}: {e}"))
}

/// Where the catalog about to be applied came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A new catalog from this server.
    Fresh(ServerUrl),
    /// The server answered 304: the cached catalog is current.
    Unchanged(ServerUrl),
    /// No fresh catalog; the cached one, for this reason.
    Cached(String),
}

/// A checked catalog whose content is all in the cache.
pub(crate) struct Fetched {
    pub doc: CatalogDoc,
    pub origin: Origin,
    /// `STATE/agent/content`, held open: its handle path is what the apply reads.
    pub content: PrivateDir,
}

impl Fetched {
    /// The server that answered, if one did.
    pub(crate) fn server(&self) -> Option<&ServerUrl> {
        match &self.origin {
            Origin::Fresh(s) | Origin::Unchanged(s) => Some(s),
            Origin::Cached(_) => None,
        }
    }
}

/// The agent's cache directory, `STATE/agent`.
pub(crate) struct Cache {
    dir: PrivateDir,
}

impl Cache {
    /// Opens (making when missing) `STATE/agent`.
    pub(crate) fn open(state: &std::path::Path) -> Result<Cache, AgentError> {
        let dir = PrivateDir::open(state, "agent", true)
            .map_err(io_error("the agent's cache directory"))?;
        Ok(Cache { dir })
    }

    /// `STATE/agent` as messages show it.
    pub(crate) fn shown(&self) -> PathBuf {
        self.dir.shown().to_path_buf()
    }

    fn content(&self) -> Result<PrivateDir, AgentError> {
        self.dir
            .sub("content", true)
            .map_err(io_error("the content cache"))
    }

    fn reports(&self) -> Result<PrivateDir, AgentError> {
        self.dir
            .sub("reports", true)
            .map_err(io_error("the report queue"))
    }

    /// The directory the bootstrap keeps the node's key and certificate in.
    pub(crate) fn ssl(&self) -> Result<PrivateDir, AgentError> {
        self.dir
            .sub("ssl", true)
            .map_err(io_error("the key directory"))
    }

    /// The cached catalog, when there is one that still passes its checks (a damaged one is
    /// noted and ignored).
    pub(crate) fn catalog(&self, node: &str, note: &dyn Fn(&str)) -> Option<CatalogDoc> {
        let bytes = match self.dir.read("catalog.json", MAX_CATALOG as u64) {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                note(&format!("the cached catalog cannot be read: {e}"));
                return None;
            }
        };
        match checked_catalog(&bytes, node) {
            Ok(doc) => Some(doc),
            Err(why) => {
                note(&format!("the cached catalog is not usable: {why}"));
                None
            }
        }
    }
}

/// Parses a catalog and checks it: its format, that it is `node`'s, and that its version is
/// the sha256 of what it says (CLI.md's Catalog JSON `version`).
pub(crate) fn checked_catalog(bytes: &[u8], node: &str) -> Result<CatalogDoc, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let doc = CatalogDoc::read(text)?;
    if doc.node != node {
        return Err(format!(
            "it is the catalog of {:?}, not of {node:?}",
            doc.node
        ));
    }
    let mut sealed = doc.clone();
    sealed.seal();
    if sealed.version != doc.version {
        return Err(format!(
            "its version {} is not the sha256 of its resources ({}): it was changed on the way",
            doc.version, sealed.version
        ));
    }
    Ok(doc)
}

/// Every content hash a catalog names (`content_sha256` of its files and releases).
pub(crate) fn content_hashes(doc: &CatalogDoc) -> Vec<String> {
    let mut shas: Vec<String> = doc
        .resources
        .iter()
        .filter_map(|r| r.params.get("content_sha256"))
        .filter_map(|v| v.as_str())
        .map(str::to_string)
        .collect();
    shas.sort();
    shas.dedup();
    shas
}

fn is_sha(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A random number below `n` (0 when `n` is 0), from the system's random source.
pub(crate) fn random_below(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let bytes = super::ca::x509::random_bytes::<8>().unwrap_or_default();
    u64::from_le_bytes(bytes) % n
}

/// The servers in the order one run tries them: the given order, rotated by a random
/// amount, so that a fleet's agents spread over the servers.
pub(crate) fn rotated(servers: &[ServerUrl]) -> Vec<ServerUrl> {
    let mut v = servers.to_vec();
    if !v.is_empty() {
        let k = random_below(v.len() as u64) as usize;
        v.rotate_left(k);
    }
    v
}

/// How long to wait before asking a busy server again: its `Retry-After` (seconds; 1 when
/// missing or not a number, at most [`MAX_RETRY_AFTER`]) plus a random part of up to as much
/// again, so that agents told the same thing do not come back together.
pub(crate) fn busy_wait(answer: &Answer) -> Duration {
    let secs = answer
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .clamp(1, MAX_RETRY_AFTER);
    let jitter_ms = random_below(secs * 1000 + 1);
    Duration::from_secs(secs) + Duration::from_millis(jitter_ms)
}

/// The first line of an error answer's body, for messages.
async fn reason(answer: Answer) -> String {
    let status = answer.status;
    let body = answer.bytes(64 << 10).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {line}")
    }
}

/// The diagnostics of a 404 or 422 answer (JSON lines), one message each.
async fn diagnostics(answer: Answer) -> Vec<String> {
    let body = answer.bytes(4 << 20).await.unwrap_or_default();
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(v) => {
                let msg = v["message"].as_str().unwrap_or(l);
                match (v["file"].as_str(), v["line"].as_u64()) {
                    (Some(f), Some(n)) => format!("{f}:{n}: {msg}"),
                    _ => msg.to_string(),
                }
            }
            Err(_) => l.to_string(),
        })
        .collect()
}

impl Run<'_> {
    /// Gets the catalog to apply: a fresh one (checked, its content fetched and checked,
    /// then cached), the cached one when the server says it is current, or the cached one
    /// when no server gives one. Nothing is cached from a catalog that fails a check.
    pub(crate) async fn fetch(
        &self,
        cache: &Cache,
        facts: &serde_json::Value,
    ) -> Result<Fetched, AgentError> {
        let note = |m: &str| (self.note)(m);
        let cached = cache.catalog(self.node, &note);
        let content = cache.content()?;
        let body = serde_json::to_vec(facts).map_err(|e| AgentError(e.to_string()))?;
        let path = format!("/v1/catalog/{}", self.node);
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(c) = &cached {
            headers.push(("if-none-match", format!("\"{}\"", c.version)));
        }
        let mut why_cached = "no server answered".to_string();
        'servers: for server in self.servers {
            let mut busy = 0;
            loop {
                let answer = match self
                    .client
                    .send(server, Method::POST, &path, &headers, body.clone())
                    .await
                {
                    Ok(a) => a,
                    Err(ClientError::CertificateRefused(m)) => return Err(AgentError(m)),
                    Err(ClientError::Unreachable(m)) => {
                        note(&m);
                        continue 'servers;
                    }
                };
                match answer.status {
                    StatusCode::OK => {
                        let bytes = match answer.bytes(MAX_CATALOG).await {
                            Ok(b) => b,
                            Err(e) => {
                                note(&format!("the catalog did not arrive: {e}"));
                                continue 'servers;
                            }
                        };
                        let doc = checked_catalog(&bytes, self.node).map_err(|why| {
                            AgentError(format!(
                                "the catalog from {server} is refused, nothing applied: {why}"
                            ))
                        })?;
                        self.fetch_content(server, &doc, &content).await?;
                        cache
                            .dir
                            .write("catalog.json", &bytes, true)
                            .map_err(io_error("caching the catalog"))?;
                        prune_content(&content, &doc);
                        return Ok(Fetched {
                            doc,
                            origin: Origin::Fresh(server.clone()),
                            content,
                        });
                    }
                    StatusCode::NOT_MODIFIED => {
                        let Some(doc) = cached else {
                            return Err(AgentError(format!(
                                "{server} answered 304 but there is no cached catalog"
                            )));
                        };
                        self.fetch_content(server, &doc, &content).await?;
                        return Ok(Fetched {
                            doc,
                            origin: Origin::Unchanged(server.clone()),
                            content,
                        });
                    }
                    StatusCode::UNPROCESSABLE_ENTITY => {
                        note(&format!(
                            "{server}: the manifest has errors for {}:",
                            self.node
                        ));
                        for d in diagnostics(answer).await {
                            note(&format!("  {d}"));
                        }
                        // Every server serves the same checkout: the next would say the same.
                        why_cached = format!("the manifest has errors for {}", self.node);
                        break 'servers;
                    }
                    StatusCode::SERVICE_UNAVAILABLE if busy < BUSY_RETRIES => {
                        busy += 1;
                        let wait = busy_wait(&answer);
                        note(&format!(
                            "{server} is busy (503); asking again in {:.1} s",
                            wait.as_secs_f64()
                        ));
                        drop(answer);
                        tokio::time::sleep(wait).await;
                    }
                    StatusCode::NOT_FOUND => {
                        let lines = diagnostics(answer).await.join("; ");
                        return Err(AgentError(format!(
                            "{server} has no catalog for {}: {lines}",
                            self.node
                        )));
                    }
                    s if s.is_server_error() => {
                        note(&format!("{server}: {}", reason(answer).await));
                        continue 'servers;
                    }
                    _ => {
                        return Err(AgentError(format!(
                            "{server} refused the catalog request: {}",
                            reason(answer).await
                        )))
                    }
                }
            }
        }
        match cached {
            Some(doc) => {
                self.check_cached_content(&doc, &content)?;
                Ok(Fetched {
                    doc,
                    origin: Origin::Cached(why_cached),
                    content,
                })
            }
            None => Err(AgentError(format!(
                "{why_cached} and there is no cached catalog; nothing applied"
            ))),
        }
    }

    /// Fetches every content blob `doc` names that the cache lacks, each checked against its
    /// hash as it streams into a temporary file, renamed into place only when it matches.
    async fn fetch_content(
        &self,
        server: &ServerUrl,
        doc: &CatalogDoc,
        content: &PrivateDir,
    ) -> Result<(), AgentError> {
        for sha in content_hashes(doc) {
            if !is_sha(&sha) {
                return Err(AgentError(format!(
                    "the catalog names content {sha:?}, which is not a sha256; nothing applied"
                )));
            }
            if has_blob(content, &sha) {
                continue;
            }
            let path = format!("/v1/content/{sha}");
            let mut answer = self
                .client
                .send(server, Method::GET, &path, &[], Vec::new())
                .await
                .map_err(|e| AgentError(format!("content {sha}: {e}; nothing applied")))?;
            if answer.status != StatusCode::OK {
                return Err(AgentError(format!(
                    "{server} did not give content {sha} ({}); nothing applied",
                    reason(answer).await
                )));
            }
            let tmp = format!(".{sha}.part");
            let mut file = content
                .create_temp(&tmp)
                .map_err(io_error("the content cache"))?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let streamed: Result<(), AgentError> = async {
                while let Some(chunk) = answer
                    .chunk()
                    .await
                    .map_err(|e| AgentError(format!("content {sha}: {e}")))?
                {
                    size += chunk.len() as u64;
                    if size > MAX_BLOB {
                        return Err(AgentError(format!(
                            "content {sha} from {server} is larger than {} GiB: refused, nothing applied",
                            MAX_BLOB >> 30
                        )));
                    }
                    hasher.update(&chunk);
                    file.write_all(&chunk)
                        .map_err(io_error("writing the content cache"))?;
                }
                file.sync_all()
                    .map_err(io_error("writing the content cache"))?;
                let got = crate::remote::ca::x509::hex(&hasher.finalize());
                if got != sha {
                    return Err(AgentError(format!(
                        "content {sha} from {server} has the sha256 {got}: refused, nothing applied"
                    )));
                }
                content
                    .rename(&tmp, &sha)
                    .map_err(io_error("the content cache"))
            }
            .await;
            if streamed.is_err() {
                let _ = content.remove(&tmp);
            }
            streamed?;
        }
        Ok(())
    }

    /// A cached catalog is applied only when all its content is cached intact.
    fn check_cached_content(
        &self,
        doc: &CatalogDoc,
        content: &PrivateDir,
    ) -> Result<(), AgentError> {
        for sha in content_hashes(doc) {
            if !is_sha(&sha) || !has_blob(content, &sha) {
                return Err(AgentError(format!(
                    "the cached catalog names content {sha} that is not in the cache; nothing applied"
                )));
            }
        }
        Ok(())
    }

    /// Sends the queued reports (oldest first), then `report`, to the servers in turn; what
    /// no server takes is queued for the next run. Returns how many were delivered and
    /// whether `report` was queued.
    pub(crate) async fn deliver(
        &self,
        cache: &Cache,
        first: Option<&ServerUrl>,
        started: &str,
        report: &str,
    ) -> Result<(usize, bool), AgentError> {
        let queue = cache.reports()?;
        let mut servers: Vec<&ServerUrl> = first.into_iter().collect();
        servers.extend(self.servers.iter().filter(|s| Some(*s) != first));
        let path = format!("/v1/report/{}", self.node);
        let mut sent = 0;
        let queued_names = queue.list().map_err(io_error("the report queue"))?;
        let mut pending: Vec<(Option<String>, Vec<u8>)> = Vec::new();
        for name in queued_names.iter().filter(|n| n.ends_with(".json")) {
            if let Ok(Some(bytes)) = queue.read(name, 64 << 20) {
                pending.push((Some(name.clone()), bytes));
            }
        }
        pending.push((None, report.as_bytes().to_vec()));
        let mut reachable = servers.into_iter();
        let mut server = reachable.next();
        let mut this_queued = false;
        for (name, bytes) in pending {
            let mut delivered = false;
            while let Some(s) = server {
                let headers = [("content-type", "application/json".to_string())];
                match self
                    .client
                    .send(s, Method::POST, &path, &headers, bytes.clone())
                    .await
                {
                    Ok(a) if a.status.is_success() => {
                        delivered = true;
                        break;
                    }
                    Ok(a) if a.status.is_client_error() => {
                        // The server will never take it: keeping it would block the queue.
                        (self.note)(&format!(
                            "{s} refused a report ({}); it is dropped",
                            reason(a).await
                        ));
                        delivered = true;
                        break;
                    }
                    Ok(a) => (self.note)(&format!("{s}: report not taken: {}", reason(a).await)),
                    Err(e) => (self.note)(&format!("report not sent: {e}")),
                }
                server = reachable.next();
            }
            match (delivered, name) {
                (true, Some(n)) => {
                    sent += 1;
                    let _ = queue.remove(&n);
                }
                (true, None) => sent += 1,
                (false, Some(_)) => {}
                (false, None) => {
                    let file = format!("{}.json", started.replace(':', ""));
                    queue
                        .write(&file, report.as_bytes(), true)
                        .map_err(io_error("queueing the report"))?;
                    this_queued = true;
                }
            }
        }
        let names = queue.list().unwrap_or_default();
        if names.len() > MAX_QUEUED_REPORTS {
            for n in &names[..names.len() - MAX_QUEUED_REPORTS] {
                let _ = queue.remove(n);
            }
        }
        Ok((sent, this_queued))
    }
}

/// Whether the cache holds blob `sha` with that hash (a damaged one is removed).
fn has_blob(content: &PrivateDir, sha: &str) -> bool {
    let Ok(Some(mut f)) = content.open_file(sha) else {
        return false;
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(_) => return false,
        }
    }
    let ok = crate::remote::ca::x509::hex(&hasher.finalize()) == sha;
    if !ok {
        let _ = content.remove(sha);
    }
    ok
}

/// Removes cached blobs the current catalog no longer names.
fn prune_content(content: &PrivateDir, doc: &CatalogDoc) {
    let keep = content_hashes(doc);
    for name in content.list().unwrap_or_default() {
        if is_sha(&name) && keep.binary_search(&name).is_err() {
            let _ = content.remove(&name);
        }
    }
}

/// A node's key and certificate request, made for `--bootstrap` (the key never leaves
/// the node): [`x509::make_request`](crate::remote::ca::x509::make_request).
pub(crate) use crate::remote::ca::x509::Request;

/// A request for `node` on `key_pem`, or on a new key when `None`.
pub(crate) fn make_request(node: &str, key_pem: Option<&str>) -> Result<Request, AgentError> {
    crate::remote::ca::x509::make_request(node, key_pem)
        .map_err(|e| AgentError(format!("the certificate request: {e}")))
}

/// How a bootstrap waits for its certificate.
pub(crate) struct Enrol<'a> {
    pub request: &'a Request,
    /// The enrolment token (`fleet ca token`), sent as `X-Fleet-Token`.
    pub token: Option<&'a str>,
    /// How long to wait for an admin to sign (`fleet ca sign`).
    pub wait: Duration,
    /// Between two looks at `GET /v1/cert/<node>`.
    pub poll: Duration,
}

impl Run<'_> {
    /// Sends the request to the first server that answers and returns the signed
    /// certificate (PEM): at once when the server autosigns it, else after polling for it
    /// until `wait` is over.
    pub(crate) async fn enrol(&self, e: &Enrol<'_>) -> Result<String, AgentError> {
        let path = format!("/v1/csr/{}", self.node);
        let mut headers = vec![("content-type", "application/pkcs10".to_string())];
        if let Some(t) = e.token {
            headers.push(("x-fleet-token", t.to_string()));
        }
        let mut problems = Vec::new();
        for server in self.servers {
            let answer = match self
                .client
                .send(
                    server,
                    Method::POST,
                    &path,
                    &headers,
                    e.request.csr_pem.clone().into_bytes(),
                )
                .await
            {
                Ok(a) => a,
                Err(err) => {
                    (self.note)(&err.to_string());
                    problems.push(err.to_string());
                    continue;
                }
            };
            let cert = match answer.status {
                StatusCode::OK => String::from_utf8_lossy(
                    &answer
                        .bytes(1 << 20)
                        .await
                        .map_err(|err| AgentError(err.to_string()))?,
                )
                .into_owned(),
                StatusCode::ACCEPTED => {
                    (self.note)(&format!(
                        "certificate request for {} queued on {server} (sha256 {}); waiting for `fleet ca sign {}`",
                        self.node, e.request.fingerprint, self.node
                    ));
                    self.poll_cert(server, e).await?
                }
                s if s.is_server_error() => {
                    let why = format!("{server}: {}", reason(answer).await);
                    (self.note)(&why);
                    problems.push(why);
                    continue;
                }
                _ => {
                    return Err(AgentError(format!(
                        "{server} refused the certificate request: {}",
                        reason(answer).await
                    )))
                }
            };
            e.request.check(self.node, &cert).map_err(|why| {
                AgentError(format!("the certificate {server} gave is refused: {why}"))
            })?;
            return Ok(cert);
        }
        Err(AgentError(format!(
            "no server took the certificate request: {}",
            problems.join("; ")
        )))
    }

    async fn poll_cert(&self, server: &ServerUrl, e: &Enrol<'_>) -> Result<String, AgentError> {
        let path = format!("/v1/cert/{}", self.node);
        let until = tokio::time::Instant::now() + e.wait;
        loop {
            match self
                .client
                .send(server, Method::GET, &path, &[], Vec::new())
                .await
            {
                Ok(a) if a.status == StatusCode::OK => {
                    let bytes = a
                        .bytes(1 << 20)
                        .await
                        .map_err(|err| AgentError(err.to_string()))?;
                    return Ok(String::from_utf8_lossy(&bytes).into_owned());
                }
                Ok(a) if a.status == StatusCode::NOT_FOUND => drop(a),
                Ok(a) if a.status.is_server_error() => {
                    (self.note)(&format!("{server}: {}", reason(a).await));
                }
                Ok(a) => {
                    return Err(AgentError(format!(
                        "{server} refused to give the certificate: {}",
                        reason(a).await
                    )))
                }
                Err(err) => (self.note)(&err.to_string()),
            }
            if tokio::time::Instant::now() + e.poll > until {
                return Err(AgentError(format!(
                    "the certificate of {} was not signed within {} s (sign it with `fleet ca sign {}` and run again)",
                    self.node,
                    e.wait.as_secs(),
                    self.node
                )));
            }
            tokio::time::sleep(e.poll).await;
        }
    }
}

/// The days left before the certificate in `pem` expires (negative: expired), if it parses.
pub(crate) fn days_left(pem: &[u8], now: i64) -> Option<i64> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let cert = p.parse_x509().ok()?;
    Some((cert.validity().not_after.timestamp() - now).div_euclid(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_whose_version_does_not_match_is_refused() {
        let mut doc = CatalogDoc {
            format: 1,
            node: "web01".into(),
            version: String::new(),
            resources: Vec::new(),
            edges: Vec::new(),
            provision: None,
        };
        doc.seal();
        let good = serde_json::to_vec(&doc).unwrap();
        assert!(checked_catalog(&good, "web01").is_ok());
        let err = checked_catalog(&good, "db01").unwrap_err();
        assert!(err.contains("not of"), "{err}");
        doc.node = "db01".into();
        let forged = serde_json::to_vec(&doc).unwrap();
        let err = checked_catalog(&forged, "db01").unwrap_err();
        assert!(err.contains("not the sha256"), "{err}");
    }

    #[test]
    fn a_request_checks_the_certificate_it_gets() {
        let req = make_request("web01", None).unwrap();
        assert!(req
            .csr_pem
            .starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        assert_eq!(req.fingerprint.len(), 64);
        // The same key again gives the same public key.
        let again = make_request("web01", Some(&req.key_pem)).unwrap();
        assert_eq!(again.public_key, req.public_key);
        // A certificate of another key is refused.
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["web01".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "web01");
        let cert = params.self_signed(&other).unwrap();
        let err = req.check("web01", &cert.pem()).unwrap_err();
        assert!(err.contains("key"), "{err}");
        let key = rcgen::KeyPair::from_pem(&req.key_pem).unwrap();
        let own = params.self_signed(&key).unwrap();
        assert_eq!(req.check("web01", &own.pem()), Ok(()));
        assert!(req
            .check("db01", &own.pem())
            .unwrap_err()
            .contains("not \"db01\""));
    }

    #[test]
    fn servers_are_rotated_not_shuffled() {
        let servers: Vec<ServerUrl> = ["https://a:1", "https://b:1", "https://c:1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        for _ in 0..20 {
            let r = rotated(&servers);
            let start = servers.iter().position(|s| *s == r[0]).unwrap();
            for (i, s) in r.iter().enumerate() {
                assert_eq!(*s, servers[(start + i) % 3]);
            }
        }
        assert!(random_below(0) == 0 && random_below(1) == 0);
    }
}
