//! The agent's HTTPS client (REMOTE.md "The agent"): hyper's HTTP/1.1 client over
//! tokio-rustls, the fleet CA as the only root, the node's certificate as the client's, a
//! connect timeout (TCP and handshake) and a time limit per request. One kept-alive
//! connection per server, made again when the server closed it; rustls resumes the TLS
//! session of the last one (what the server's session cache is sized for).
//!
//! Failures are sorted by what the caller does next ([`ClientError`]): a server that does not
//! answer (try the next one, then the cached catalog) is not a server that refused this
//! node's certificate (stop: the node is revoked, expired or not the fleet's).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use super::tls::{read_certs, TlsError};

/// A catalog server's address, `https://HOST[:PORT]` (port 8140 when left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerUrl {
    host: String,
    port: u16,
}

/// The port of a server URL without one (the catalog server's customary port).
pub(crate) const DEFAULT_PORT: u16 = 8140;

impl std::str::FromStr for ServerUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<ServerUrl, String> {
        let uri: hyper::Uri = text
            .parse()
            .map_err(|e| format!("{text}: not a URL ({e})"))?;
        if uri.scheme_str() != Some("https") {
            return Err(format!(
                "{text}: a catalog server's URL is https://HOST[:PORT]"
            ));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!("{text}: give the server's address without a path"));
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{text}: no host"))?;
        Ok(ServerUrl {
            host: host.trim_start_matches('[').trim_end_matches(']').into(),
            port: uri.port_u16().unwrap_or(DEFAULT_PORT),
        })
    }
}

impl std::fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "https://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "https://{}:{}", self.host, self.port)
        }
    }
}

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientError {
    /// No answer: the connection was refused or timed out, the server's certificate is not
    /// the fleet CA's, the connection broke. The next server may answer.
    Unreachable(String),
    /// The server's TLS refused this node's certificate (revoked, expired, another CA's).
    CertificateRefused(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unreachable(m) | ClientError::CertificateRefused(m) => f.write_str(m),
        }
    }
}

/// An HTTP answer whose body is still to be read.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Incoming,
    server: String,
    /// The longest wait for the next piece of the body.
    idle: Duration,
}

impl Answer {
    /// The whole body, refused beyond `max` bytes.
    pub(crate) async fn bytes(mut self, max: usize) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        while let Some(data) = self.chunk().await? {
            if out.len() + data.len() > max {
                return Err(ClientError::Unreachable(format!(
                    "{}: the answer is larger than {max} bytes",
                    self.server
                )));
            }
            out.extend_from_slice(&data);
        }
        Ok(out)
    }

    /// The next piece of the body (`None` at its end), for answers streamed to a file. A
    /// server that sends nothing for the request time limit has stopped answering.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            let next = tokio::time::timeout(self.idle, self.body.frame())
                .await
                .map_err(|_| {
                    ClientError::Unreachable(format!(
                        "{}: the answer stalled for {} s",
                        self.server,
                        self.idle.as_secs()
                    ))
                })?;
            match next {
                None => return Ok(None),
                Some(Err(e)) => return Err(classify(&self.server, &e)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// A header's value as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTPS client for one node: its certificate (none while bootstrapping) and the CA.
pub(crate) struct Client {
    tls: tokio_rustls::TlsConnector,
    connect_timeout: Duration,
    request_timeout: Duration,
    /// The open connection to each server (`host:port`).
    conns: tokio::sync::Mutex<HashMap<String, SendRequest<Full<Bytes>>>>,
}

impl Client {
    /// A client trusting only `ca_cert`, presenting `identity` (certificate, key) when given.
    pub(crate) fn new(
        ca_cert: &Path,
        identity: Option<(&Path, &Path)>,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Client, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for cert in read_certs(ca_cert)? {
            roots
                .add(cert)
                .map_err(|e| TlsError(format!("--ca-cert {}: {e}", ca_cert.display())))?;
        }
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError(format!("TLS versions: {e}")))?
            .with_root_certificates(roots);
        let mut config = match identity {
            Some((cert, key)) => {
                let chain: Vec<CertificateDer<'static>> = read_certs(cert)?;
                let key = read_key(key)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| TlsError(format!("--cert {}: {e}", cert.display())))?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Client {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            connect_timeout,
            request_timeout,
            conns: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Sends one request to `server` and waits for the answer's head (the body is read by
    /// the caller, within the same time limit's spirit: [`Answer::bytes`]).
    pub(crate) async fn send(
        &self,
        server: &ServerUrl,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Answer, ClientError> {
        let name = server.to_string();
        let key = format!("{}:{}", server.host, server.port);
        let body = Bytes::from(body);
        let request = || {
            let mut request = Request::builder()
                .method(method.clone())
                .uri(path)
                .header("host", key.as_str())
                .header(
                    "user-agent",
                    concat!("fleet-agent/", env!("CARGO_PKG_VERSION")),
                );
            for (k, v) in headers {
                request = request.header(*k, v.as_str());
            }
            request
                .body(Full::new(body.clone()))
                .map_err(|e| ClientError::Unreachable(format!("{name}: {e}")))
        };
        let no_answer = || {
            ClientError::Unreachable(format!(
                "{name}: no answer within {} s",
                self.request_timeout.as_secs()
            ))
        };
        let mut conns = self.conns.lock().await;
        let reused = conns.remove(&key).filter(|s| !s.is_closed());
        let mut sender = match reused {
            Some(s) => s,
            None => self.connect(server, &name).await?,
        };
        if sender.ready().await.is_err() {
            sender = self.connect(server, &name).await?;
        }
        let sent = tokio::time::timeout(self.request_timeout, sender.send_request(request()?))
            .await
            .map_err(|_| no_answer())?;
        let answer = match sent.map_err(|e| classify(&name, &e)) {
            Ok(a) => a,
            // The connection broke before an answer's head (a kept-alive connection the
            // server closed, a balancer whose upstream went away mid-request): once more, on
            // a new connection. A refused certificate or a time limit is not asked again.
            Err(ClientError::Unreachable(_)) => {
                sender = self.connect(server, &name).await?;
                tokio::time::timeout(self.request_timeout, sender.send_request(request()?))
                    .await
                    .map_err(|_| no_answer())?
                    .map_err(|e| classify(&name, &e))?
            }
            Err(refused) => return Err(refused),
        };
        conns.insert(key, sender);
        let (head, body) = answer.into_parts();
        Ok(Answer {
            status: head.status,
            headers: head.headers,
            body,
            server: name,
            idle: self.request_timeout,
        })
    }

    /// A new connection: TCP, the TLS handshake (both within the connect timeout), HTTP/1.1.
    /// A handshake the other end breaks off (end of stream, reset: a balancer whose upstream
    /// died mid-handshake) is tried once more; a TLS alert or a certificate is not.
    async fn connect(
        &self,
        server: &ServerUrl,
        name: &str,
    ) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        match self.connect_once(server, name).await {
            Err(Broken::Handshake(_)) => self
                .connect_once(server, name)
                .await
                .map_err(Broken::into_error),
            other => other.map_err(Broken::into_error),
        }
    }

    /// [`Client::connect`], once.
    async fn connect_once(
        &self,
        server: &ServerUrl,
        name: &str,
    ) -> Result<SendRequest<Full<Bytes>>, Broken> {
        let unreachable =
            |why: String| Broken::Other(ClientError::Unreachable(format!("{name}: {why}")));
        let server_name = ServerName::try_from(server.host.clone())
            .map_err(|e| unreachable(format!("not a host name: {e}")))?;
        let limit = self.connect_timeout;
        let timed_out = || unreachable(format!("no connection within {} s", limit.as_secs()));
        let tcp = tokio::time::timeout(
            limit,
            tokio::net::TcpStream::connect((server.host.as_str(), server.port)),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio::time::timeout(limit, self.tls.connect(server_name, tcp))
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| {
                use std::io::ErrorKind as K;
                let broken = matches!(
                    e.kind(),
                    K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe
                );
                let error = classify(name, &e);
                if broken {
                    Broken::Handshake(error)
                } else {
                    Broken::Other(error)
                }
            })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| Broken::Other(classify(name, &e)))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }
}

/// Why one connection attempt failed: the handshake broken off by the other end (worth a
/// second attempt), or anything else.
enum Broken {
    Handshake(ClientError),
    Other(ClientError),
}

impl Broken {
    fn into_error(self) -> ClientError {
        match self {
            Broken::Handshake(e) | Broken::Other(e) => e,
        }
    }
}

/// A private key in PEM (PKCS#8, SEC1 or PKCS#1).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| TlsError(format!("--key {}: {e}", path.display())))
}

/// Sorts a transport error: a TLS alert about our certificate is a refusal; anything else
/// (including a server certificate that fails our checks) is an unreachable server.
fn classify(server: &str, e: &(dyn std::error::Error + 'static)) -> ClientError {
    use rustls::AlertDescription as A;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        match tls {
            Some(rustls::Error::AlertReceived(
                alert @ (A::BadCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::AccessDenied
                | A::UnsupportedCertificate
                | A::CertificateRequired
                | A::DecryptError),
            )) => {
                return ClientError::CertificateRefused(format!(
                    "{server} refused this node's certificate ({alert:?}): it may be revoked, \
                     expired or not from the fleet CA"
                ))
            }
            Some(other) => return ClientError::Unreachable(format!("{server}: TLS: {other}")),
            None => cur = err.source(),
        }
    }
    ClientError::Unreachable(format!("{server}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let u: ServerUrl = "https://fleet.example.net".parse().unwrap();
        assert_eq!(u.to_string(), "https://fleet.example.net:8140");
        let u: ServerUrl = "https://127.0.0.1:9000/".parse().unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 9000));
        let u: ServerUrl = "https://[::1]:9000".parse().unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.to_string(), "https://[::1]:9000");
        for bad in ["http://x:1", "x:1", "https://x:1/v1/catalog", "https://"] {
            assert!(bad.parse::<ServerUrl>().is_err(), "{bad}");
        }
    }
}
