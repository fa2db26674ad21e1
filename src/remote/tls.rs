//! The catalog server's TLS (REMOTE.md "The catalog server"): rustls with the ring provider,
//! TLS 1.2 and 1.3, a client-certificate verifier over the fleet CA and its revocation list.
//!
//! Clients without a certificate are let through the handshake (so that `/v1/health` and the
//! bootstrap endpoints work); the server then refuses them on every other endpoint (401). A
//! client that *presents* a certificate which does not chain to the CA, is expired or is
//! revoked fails the handshake itself. The revocation list is re-read when its file changes
//! ([`TlsState::reload_if_changed`]); the new verifier is swapped in for new handshakes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::UnixTime;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// The files the server's TLS is made of.
#[derive(Clone, Debug)]
pub(crate) struct TlsFiles {
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// The fleet CA's certificate (PEM): client certificates must chain to it.
    pub ca_cert: PathBuf,
    /// The CA's revocation list (PEM), if any.
    pub crl: Option<PathBuf>,
}

/// A TLS set-up problem, naming the file.
#[derive(Debug)]
pub(crate) struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// TLS sessions kept for resumption (a few hundred bytes each, with the client's chain).
const SESSION_CACHE: usize = 16_384;

/// A server configuration and the client verifier inside it.
#[derive(Clone)]
struct Verified {
    config: Arc<ServerConfig>,
    verifier: Arc<dyn ClientCertVerifier>,
}

/// The current server configuration, swapped when the revocation list changes.
pub(crate) struct TlsState {
    files: TlsFiles,
    config: RwLock<Verified>,
    /// Bumped on every swap: a connection made under an older one re-checks its peer.
    generation: AtomicU64,
    /// The CRL file's modification time and length when it was last read.
    crl_seen: RwLock<Option<(SystemTime, u64)>>,
}

impl TlsState {
    /// Reads every file and builds the first configuration.
    pub(crate) fn load(files: TlsFiles) -> Result<TlsState, TlsError> {
        let config = build_config(&files)?;
        let seen = files.crl.as_deref().and_then(stamp);
        Ok(TlsState {
            files,
            config: RwLock::new(config),
            generation: AtomicU64::new(0),
            crl_seen: RwLock::new(seen),
        })
    }

    /// The configuration new handshakes use.
    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        self.verified().config
    }

    /// The configuration and its verifier.
    fn verified(&self) -> Verified {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The number of swaps so far (a connection remembers the one it was made under).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether a peer chain verified at `generation` still passes the current verifier
    /// (a keep-alive connection after a CRL change: revoked or expired since is `false`).
    pub(crate) fn still_valid(&self, generation: u64, chain: &[CertificateDer<'static>]) -> bool {
        if generation == self.generation() {
            return true;
        }
        let Some((end, rest)) = chain.split_first() else {
            return true;
        };
        self.verified()
            .verifier
            .verify_client_cert(end, rest, UnixTime::now())
            .is_ok()
    }

    /// Re-reads the revocation list when its file's modification time or length changed.
    /// `Ok(true)` when a new configuration was swapped in; an unreadable or bad list keeps
    /// the old configuration and is an error (for the log).
    pub(crate) fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let Some(crl) = self.files.crl.as_deref() else {
            return Ok(false);
        };
        let now = stamp(crl);
        let before = self.crl_seen.read().map(|s| *s).unwrap_or(None);
        if now == before {
            return Ok(false);
        }
        if let Ok(mut s) = self.crl_seen.write() {
            *s = now;
        }
        let config = build_config(&self.files)?;
        if let Ok(mut c) = self.config.write() {
            *c = config;
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(true)
    }
}

/// A file's modification time and length (`None` when it cannot be read).
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The server configuration of `files`: the CA as the only root, the CRL (when given)
/// checked for the end-entity certificate, unauthenticated clients allowed, HTTP/1.1.
fn build_config(files: &TlsFiles) -> Result<Verified, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in read_certs(&files.ca_cert)? {
        roots
            .add(cert)
            .map_err(|e| TlsError(format!("--ca-cert {}: {e}", files.ca_cert.display())))?;
    }
    let mut builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .allow_unauthenticated();
    if let Some(crl) = &files.crl {
        builder = builder
            .with_crls(read_crls(crl)?)
            .only_check_end_entity_revocation();
    }
    let verifier = builder
        .build()
        .map_err(|e| TlsError(format!("client verifier: {e}")))?;
    let chain = read_certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| TlsError(format!("--tls-key {}: {e}", files.key.display())))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError(format!("TLS versions: {e}")))?
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(chain, key)
        .map_err(|e| TlsError(format!("--tls-cert {}: {e}", files.cert.display())))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Agents reconnect for every run and resume their TLS session: room for a fleet's worth
    // (rustls keeps 256 by default). A CRL swap builds a new configuration and so a new, empty
    // cache: a session made before a revocation cannot be resumed after it.
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    Ok(Verified {
        config: Arc::new(config),
        verifier,
    })
}

/// Every certificate in a PEM file (at least one).
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "{}: no certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

/// Every revocation list in a PEM file.
fn read_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    CertificateRevocationListDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError(format!("--crl {}: {e}", path.display())))
}

/// The common name of a DER certificate's subject (the node's name), if it has one.
pub(crate) fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}
