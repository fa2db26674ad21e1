//! The fleet's certificate authority (REMOTE.md, "Certificate authority"): a directory with
//! the CA's certificate and key, the revocation list and the record of every certificate
//! issued, and the operations of `fleet ca` on it ([`CaDir`]).
//!
//! The pieces a server or an agent use without a CA directory are pure functions in
//! [`x509`] (sign a request with a loaded [`CaKeys`], make a node's key and request, read a
//! certificate) and [`autosign`] (the `--autosign FILE` policy); the node-name rule is
//! [`check_node_name`]. Decisions (key type, serials, `nextUpdate`, tokens): docs/remote.md.
//!
//! A CA directory holds:
//!
//! | file | what |
//! |---|---|
//! | `ca.crt` | the CA certificate (PEM) |
//! | `ca.key` | its private key (PEM, 0600) |
//! | `crl.pem` | the revocation list, rewritten by every revocation |
//! | `index.json` | every certificate issued ([`index::Index`]) |
//! | `tokens.json` | enrolment tokens ([`index::Tokens`], 0600) |
//! | `issued/` | default place of `fleet ca issue`'s `NAME.key` and `NAME.crt` (0700) |
//! | `.lock` | taken by every change, so that concurrent runs take turns |

pub(crate) mod autosign;
mod error;
mod files;
pub(crate) mod index;
mod name;
pub(crate) mod x509;

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub(crate) use error::{Error, ErrorKind};
pub(crate) use name::check_node_name;
pub(crate) use x509::{CaKeys, Signed};

use index::{Entry, Index, Kind, Status, Token, Tokens};
use x509::{LeafSpec, Revoked, Validity};

/// The CA certificate's file name.
pub(crate) const CA_CERT: &str = "ca.crt";
/// The CA key's file name.
pub(crate) const CA_KEY: &str = "ca.key";
/// The revocation list's file name.
pub(crate) const CRL: &str = "crl.pem";
/// The index's file name.
pub(crate) const INDEX: &str = "index.json";
/// The token list's file name.
pub(crate) const TOKENS: &str = "tokens.json";
/// The default output directory of `issue`, under the CA directory.
pub(crate) const ISSUED: &str = "issued";
/// The lock file's name.
const LOCK: &str = ".lock";

/// The default lifetime of the CA certificate, in days.
pub(crate) const CA_DAYS: i64 = 3650;
/// The default lifetime of a node certificate, in days.
pub(crate) const NODE_DAYS: i64 = 365;
/// The default common name of a new CA.
pub(crate) const CA_CN: &str = "fleet CA";

/// A CA directory that holds a CA (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct CaDir {
    dir: PathBuf,
}

/// What `issue` makes: a node certificate with a new key.
#[derive(Clone, Debug)]
pub(crate) struct IssueRequest<'a> {
    /// The node name.
    pub name: &'a str,
    /// Server authentication too (`--server`).
    pub server: bool,
    /// More DNS names (`--dns`).
    pub dns: &'a [String],
    /// IP addresses (`--ip`).
    pub ips: &'a [IpAddr],
    /// Lifetime in days (negative: already expired, see [`Validity::days`]).
    pub days: i64,
    /// Issue even when the name has a current certificate (`--force`).
    pub force: bool,
    /// Where `NAME.key` and `NAME.crt` go (default: `DIR/issued`).
    pub out: Option<&'a Path>,
}

/// What `issue` wrote.
#[derive(Clone, Debug)]
pub(crate) struct Issued {
    /// `OUT/NAME.crt`.
    pub cert: PathBuf,
    /// `OUT/NAME.key` (0600).
    pub key: PathBuf,
    /// The record added to the index.
    pub entry: Entry,
}

impl CaDir {
    /// Makes a new CA in `dir` (created 0700 if missing): a P-256 key, a self-signed
    /// certificate with common name `cn` valid for `days`, an empty revocation list, an
    /// empty index. Refuses a directory that already holds any of `ca.crt`, `ca.key`,
    /// `index.json`.
    pub(crate) fn init(dir: &Path, cn: &str, days: i64) -> Result<CaDir, Error> {
        files::private_dir(dir)?;
        let ca = CaDir {
            dir: dir.to_path_buf(),
        };
        let _lock = ca.lock()?;
        for name in [CA_CERT, CA_KEY, INDEX] {
            if ca.dir.join(name).exists() {
                return Err(Error::refused(format!(
                    "{} already holds a CA ({name} exists); not overwriting it",
                    dir.display()
                )));
            }
        }
        let now = x509::now();
        let new = x509::new_ca(cn, Validity::days(now, days)?)?;
        let keys = CaKeys::from_pem(&new.cert_pem, &new.key_pem)?;
        files::replace(&ca.dir.join(CA_KEY), new.key_pem.as_bytes(), files::SECRET)?;
        files::replace(
            &ca.dir.join(CA_CERT),
            new.cert_pem.as_bytes(),
            files::PUBLIC,
        )?;
        let index = Index {
            version: index::VERSION,
            crl_number: 1,
            certificates: Vec::new(),
        };
        files::replace(
            &ca.dir.join(CRL),
            x509::crl(&keys, &[], index.crl_number, now)?.as_bytes(),
            files::PUBLIC,
        )?;
        ca.save_index(&index)?;
        Ok(ca)
    }

    /// The CA in `dir`; refuses a directory without `ca.crt`, `ca.key` and `index.json`.
    pub(crate) fn open(dir: &Path) -> Result<CaDir, Error> {
        for name in [CA_CERT, CA_KEY, INDEX] {
            if !dir.join(name).is_file() {
                return Err(Error::new(
                    ErrorKind::NotACa,
                    format!(
                        "{} is not a CA directory (no {name}; make one with `fleet ca init`)",
                        dir.display()
                    ),
                ));
            }
        }
        Ok(CaDir {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// `DIR/ca.crt`.
    pub(crate) fn cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// `DIR/crl.pem`.
    pub(crate) fn crl_path(&self) -> PathBuf {
        self.dir.join(CRL)
    }

    /// The CA's certificate and key, loaded.
    pub(crate) fn keys(&self) -> Result<CaKeys, Error> {
        let cert = files::read(&self.cert_path())?;
        let key = files::read(&self.dir.join(CA_KEY))?;
        CaKeys::from_pem(&cert, &key).map_err(|e| {
            Error::new(
                ErrorKind::NotACa,
                format!("{}: {}", self.dir.display(), e.message()),
            )
        })
    }

    /// Every certificate issued, oldest first.
    pub(crate) fn entries(&self) -> Result<Vec<Entry>, Error> {
        Ok(self.load_index()?.certificates)
    }

    /// A new key pair and certificate for `req.name`, written to `OUT/NAME.key` (0600) and
    /// `OUT/NAME.crt`, and recorded. Refuses an invalid node name and, unless `force`, a name
    /// with a current (unrevoked, unexpired) certificate.
    pub(crate) fn issue(&self, req: &IssueRequest<'_>) -> Result<Issued, Error> {
        check_node_name(req.name).map_err(Error::invalid)?;
        let _lock = self.lock()?;
        let mut index = self.load_index()?;
        let now = x509::now();
        refuse_duplicate(&index, req.name, now.unix_timestamp(), req.force)?;
        let keys = self.keys()?;
        let spec = LeafSpec {
            name: req.name,
            server: req.server,
            dns: req.dns,
            ips: req.ips,
            validity: Validity::days(now, req.days)?,
        };
        let (signed, key_pem) = x509::issue(&keys, &spec)?;
        let out = req
            .out
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.dir.join(ISSUED));
        files::private_dir(&out)?;
        let key = out.join(format!("{}.key", req.name));
        let cert = out.join(format!("{}.crt", req.name));
        files::replace(&key, key_pem.as_bytes(), files::SECRET)?;
        files::replace(&cert, signed.cert_pem.as_bytes(), files::PUBLIC)?;
        let kind = if req.server {
            Kind::Server
        } else {
            Kind::Client
        };
        let entry = record(&mut index, req.name, kind, &signed, now);
        self.save_index(&index)?;
        self.spend_tokens(req.name, now)?;
        Ok(Issued { cert, key, entry })
    }

    /// Signs the certificate request `csr_pem` of `node` for `days` (a client certificate,
    /// whatever the request asks for) and records it; returns the certificate. Refuses an
    /// invalid node name, a request whose common name is not `node` or whose signature fails,
    /// and, unless `force`, a node with a current certificate. Spends the node's tokens.
    pub(crate) fn sign_csr(
        &self,
        node: &str,
        csr_pem: &str,
        days: i64,
        force: bool,
    ) -> Result<Signed, Error> {
        check_node_name(node).map_err(Error::invalid)?;
        let _lock = self.lock()?;
        let mut index = self.load_index()?;
        let now = x509::now();
        refuse_duplicate(&index, node, now.unix_timestamp(), force)?;
        let spec = LeafSpec {
            name: node,
            server: false,
            dns: &[],
            ips: &[],
            validity: Validity::days(now, days)?,
        };
        let signed = x509::sign_request(&self.keys()?, &spec, csr_pem)?;
        record(&mut index, node, Kind::Client, &signed, now);
        self.save_index(&index)?;
        self.spend_tokens(node, now)?;
        Ok(signed)
    }

    /// Revokes every unrevoked certificate of `name` and rewrites `crl.pem` (a new number,
    /// every revoked serial); returns the entries revoked. Refuses a name with nothing to
    /// revoke.
    pub(crate) fn revoke(&self, name: &str) -> Result<Vec<Entry>, Error> {
        let _lock = self.lock()?;
        let mut index = self.load_index()?;
        let now = x509::now();
        let mut revoked = Vec::new();
        for e in index.certificates.iter_mut() {
            if e.name == name && e.status == Status::Valid {
                e.status = Status::Revoked;
                e.revoked = Some(index::format_time(now));
                revoked.push(e.clone());
            }
        }
        if revoked.is_empty() {
            return Err(Error::refused(format!(
                "{name} has no unrevoked certificate in {}",
                self.dir.display()
            )));
        }
        index.crl_number += 1;
        self.write_crl(&index, now)?;
        self.save_index(&index)?;
        Ok(revoked)
    }

    /// Records certificates of this CA that were signed elsewhere (by a catalog server
    /// given the CA key, autosigning): each PEM that this CA's key signed and whose serial is
    /// not in the index yet is added (a client certificate). Returns the entries added; a
    /// certificate of another CA is refused.
    pub(crate) fn import(&self, certs: &[String]) -> Result<Vec<Entry>, Error> {
        let _lock = self.lock()?;
        let mut index = self.load_index()?;
        let ca_pem = std::fs::read_to_string(self.cert_path())
            .map_err(|e| Error::io("read", &self.cert_path(), e))?;
        let mut added = Vec::new();
        for pem in certs {
            x509::check_issued_by(pem, &ca_pem)?;
            let info = x509::cert_info(pem)?;
            if index.certificates.iter().any(|e| e.serial == info.serial) {
                continue;
            }
            let name = info.common_name.clone().unwrap_or_default();
            let at = |t: i64| {
                time::OffsetDateTime::from_unix_timestamp(t)
                    .map(index::format_time)
                    .unwrap_or_default()
            };
            let entry = Entry {
                name,
                serial: info.serial.clone(),
                kind: if info.server_auth {
                    Kind::Server
                } else {
                    Kind::Client
                },
                issued: at(info.not_before),
                not_after: at(info.not_after),
                status: Status::Valid,
                revoked: None,
            };
            index.certificates.push(entry.clone());
            added.push(entry);
        }
        if !added.is_empty() {
            self.save_index(&index)?;
        }
        Ok(added)
    }

    /// Writes `crl.pem` for `index` (every revoked certificate).
    fn write_crl(&self, index: &Index, now: time::OffsetDateTime) -> Result<(), Error> {
        let revoked: Vec<Revoked> = index
            .certificates
            .iter()
            .filter(|e| e.status == Status::Revoked)
            .map(|e| Revoked {
                serial: e.serial.clone(),
                at: e
                    .revoked
                    .as_deref()
                    .and_then(index::parse_time)
                    .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                    .unwrap_or(now),
            })
            .collect();
        let pem = x509::crl(&self.keys()?, &revoked, index.crl_number, now)?;
        files::replace(&self.crl_path(), pem.as_bytes(), files::PUBLIC)
    }

    /// A new one-time enrolment token for `name` (64 hex digits), recorded in `tokens.json`.
    pub(crate) fn new_token(&self, name: &str) -> Result<String, Error> {
        check_node_name(name).map_err(Error::invalid)?;
        let _lock = self.lock()?;
        let mut tokens = self.load_tokens()?;
        let secret = x509::hex(&x509::random_bytes::<32>()?);
        tokens.tokens.push(Token {
            name: name.to_string(),
            secret: secret.clone(),
            created: index::format_time(x509::now()),
            used: None,
        });
        self.save_tokens(&tokens)?;
        Ok(secret)
    }

    /// The tokens not yet spent, oldest first.
    pub(crate) fn unused_tokens(&self) -> Result<Vec<Token>, Error> {
        Ok(self
            .load_tokens()?
            .tokens
            .into_iter()
            .filter(|t| t.used.is_none())
            .collect())
    }

    /// Marks the unspent tokens of `name` spent (a certificate was just made for it).
    fn spend_tokens(&self, name: &str, now: time::OffsetDateTime) -> Result<(), Error> {
        let mut tokens = self.load_tokens()?;
        let mut changed = false;
        for t in tokens
            .tokens
            .iter_mut()
            .filter(|t| t.name == name && t.used.is_none())
        {
            t.used = Some(index::format_time(now));
            changed = true;
        }
        if changed {
            self.save_tokens(&tokens)?;
        }
        Ok(())
    }

    /// Takes the directory lock.
    fn lock(&self) -> Result<File, Error> {
        files::lock(&self.dir.join(LOCK))
    }

    /// Reads `index.json`.
    fn load_index(&self) -> Result<Index, Error> {
        let path = self.dir.join(INDEX);
        index::parse(
            &path.display().to_string(),
            &files::read(&path)?,
            |i: &Index| i.version,
        )
    }

    /// Writes `index.json`.
    fn save_index(&self, index: &Index) -> Result<(), Error> {
        files::replace(
            &self.dir.join(INDEX),
            index::to_text(index).as_bytes(),
            files::PUBLIC,
        )
    }

    /// Reads `tokens.json` (none yet: an empty list).
    fn load_tokens(&self) -> Result<Tokens, Error> {
        let path = self.dir.join(TOKENS);
        match files::read_optional(&path)? {
            Some(text) => index::parse(&path.display().to_string(), &text, |t: &Tokens| t.version),
            None => Ok(Tokens {
                version: index::VERSION,
                tokens: Vec::new(),
            }),
        }
    }

    /// Writes `tokens.json` (0600).
    fn save_tokens(&self, tokens: &Tokens) -> Result<(), Error> {
        files::replace(
            &self.dir.join(TOKENS),
            index::to_text(tokens).as_bytes(),
            files::SECRET,
        )
    }
}

/// Refuses a new certificate for `name` when it has a current one at `now`, unless `force`.
fn refuse_duplicate(index: &Index, name: &str, now: i64, force: bool) -> Result<(), Error> {
    if force {
        return Ok(());
    }
    match index.certificates.iter().find(|e| e.name == name && e.is_current(now)) {
        Some(e) => Err(Error::refused(format!(
            "{name} already has an unrevoked certificate (serial {}, until {}); revoke it or use --force",
            e.serial, e.not_after
        ))),
        None => Ok(()),
    }
}

/// Adds `signed` for `name` to `index`; returns the new entry.
fn record(
    index: &mut Index,
    name: &str,
    kind: Kind,
    signed: &Signed,
    now: time::OffsetDateTime,
) -> Entry {
    let entry = Entry {
        name: name.to_string(),
        serial: signed.serial.clone(),
        kind,
        issued: index::format_time(now),
        not_after: index::format_time(signed.not_after),
        status: Status::Valid,
        revoked: None,
    };
    index.certificates.push(entry.clone());
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str) -> IssueRequest<'_> {
        IssueRequest {
            name,
            server: false,
            dns: &[],
            ips: &[],
            days: 30,
            force: false,
            out: None,
        }
    }

    #[test]
    fn issue_revoke_and_reissue() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = CaDir::init(dir.path(), CA_CN, 10).expect("init");
        let e = CaDir::init(dir.path(), CA_CN, 10).expect_err("second init");
        assert_eq!(e.kind(), ErrorKind::Refused);
        let first = ca.issue(&request("web01")).expect("issue");
        assert!(first.key.ends_with("issued/web01.key"));
        let e = ca.issue(&request("web01")).expect_err("duplicate");
        assert_eq!(e.kind(), ErrorKind::Refused);
        ca.issue(&IssueRequest {
            force: true,
            ..request("web01")
        })
        .expect("forced");
        assert_eq!(ca.revoke("web01").expect("revoke").len(), 2);
        assert_eq!(
            ca.revoke("web01").expect_err("again").kind(),
            ErrorKind::Refused
        );
        ca.issue(&request("web01")).expect("after revocation");
        let states: Vec<_> = ca
            .entries()
            .expect("entries")
            .iter()
            .map(|e| e.state(0))
            .collect();
        assert_eq!(states, ["revoked", "revoked", "valid"]);
        assert_eq!(ca.load_index().expect("index").crl_number, 2);
    }

    #[test]
    fn an_expired_certificate_does_not_block_a_new_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = CaDir::init(dir.path(), CA_CN, 10).expect("init");
        ca.issue(&IssueRequest {
            days: -1,
            ..request("db1")
        })
        .expect("expired");
        ca.issue(&request("db1")).expect("renewal");
    }

    #[test]
    fn tokens_are_spent_by_the_next_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = CaDir::init(dir.path(), CA_CN, 10).expect("init");
        let a = ca.new_token("a1").expect("token");
        let b = ca.new_token("b1").expect("token");
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let req = x509::make_request("a1", None).expect("request");
        ca.sign_csr("a1", &req.csr_pem, 5, false).expect("sign");
        let unused: Vec<_> = ca
            .unused_tokens()
            .expect("tokens")
            .into_iter()
            .map(|t| t.secret)
            .collect();
        assert_eq!(unused, [b]);
        assert!(
            ca.sign_csr("a1", &req.csr_pem, 5, false).is_err(),
            "second unrevoked"
        );
        assert!(ca.new_token("Bad_Name").is_err());
    }

    #[test]
    fn open_refuses_a_directory_without_a_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = CaDir::open(dir.path()).expect_err("empty");
        assert_eq!(e.kind(), ErrorKind::NotACa);
        assert!(e.message().contains("fleet ca init"), "{e}");
    }
}
