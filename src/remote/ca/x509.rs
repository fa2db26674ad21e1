//! The pure X.509 work of the CA, on values in memory (no file is read or written here): a
//! new CA, a key pair and certificate for a node, a certificate for a node's request (CSR),
//! a node's key and request (the agent's bootstrap), the revocation list, and what a
//! certificate says ([`CertInfo`]).
//!
//! Keys are ECDSA P-256 (rcgen with ring). Serial numbers are 16 random bytes (127 bits:
//! the top bit clear, so the number is positive, and the next one set, so it always has 16
//! bytes and 32 hex digits), written as lower-case hex without separators.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams,
    CertificateSigningRequestParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
    PKCS_ECDSA_P256_SHA256,
};
use ring::rand::SecureRandom;
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;

use super::error::Error;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// The largest `--days` either way (about 273 years; X.509 dates end in 9999).
pub(crate) const MAX_DAYS: i64 = 100_000;

/// The largest certificate request accepted, in bytes (a P-256 request is under 1 KiB).
pub(crate) const MAX_REQUEST: usize = 64 * 1024;

/// How far before "now" a new certificate starts, for clocks that lag a little.
const BACKDATE: i64 = 3_600;

/// A certificate's validity period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Validity {
    /// The first second it is valid.
    pub not_before: OffsetDateTime,
    /// The last second it is valid.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// `days` days from `now`. A positive count starts an hour before `now` (clock skew) and
    /// ends `days` days after it. Zero or a negative count makes a certificate that is
    /// already expired (for tests of refusals): it ends `|days|` days before `now` (0: at
    /// `now`) and starts a day before that. More than [`MAX_DAYS`] either way is refused.
    pub(crate) fn days(now: OffsetDateTime, days: i64) -> Result<Validity, Error> {
        if !(-MAX_DAYS..=MAX_DAYS).contains(&days) {
            return Err(Error::invalid(format!(
                "--days {days}: at most {MAX_DAYS} days either way"
            )));
        }
        let not_after = add_seconds(now, days * DAY)?;
        let not_before = if days > 0 {
            add_seconds(now, -BACKDATE)?
        } else {
            add_seconds(not_after, -DAY)?
        };
        Ok(Validity {
            not_before,
            not_after,
        })
    }
}

/// `t` moved by `seconds`, or an error when that leaves the calendar.
fn add_seconds(t: OffsetDateTime, seconds: i64) -> Result<OffsetDateTime, Error> {
    t.checked_add(time::Duration::seconds(seconds))
        .ok_or_else(|| Error::invalid("the validity period leaves the calendar"))
}

/// The current time, to the second.
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

/// `N` bytes from the system's secure random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::crypto("read random bytes", "the system random source failed"))?;
    Ok(bytes)
}

/// A new random serial number (see the module docs), as bytes.
fn new_serial() -> Result<[u8; 16], Error> {
    let mut serial = random_bytes::<16>()?;
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
}

/// Lower-case hex of `bytes`, without separators.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The bytes of a hex serial number (as [`hex`] writes it), or `None` when it is not hex.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The CA's certificate and signing key, loaded: what signs certificates and revocation lists.
pub(crate) struct CaKeys {
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaKeys").finish_non_exhaustive()
    }
}

impl CaKeys {
    /// The CA from its certificate and private key (PEM); refuses a key that is not the
    /// certificate's.
    pub(crate) fn from_pem(cert_pem: &str, key_pem: &str) -> Result<CaKeys, Error> {
        let key = KeyPair::from_pem(key_pem)
            .map_err(|e| Error::invalid(format!("the CA key is not a usable private key: {e}")))?;
        let info = cert_info(cert_pem)?;
        if info.public_key != key.public_key_raw() {
            return Err(Error::invalid(
                "the CA key does not belong to the CA certificate",
            ));
        }
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
            .map_err(|e| Error::invalid(format!("the CA certificate cannot sign: {e}")))?;
        Ok(CaKeys { issuer })
    }
}

/// A new CA: its self-signed certificate and key (PEM).
pub(crate) struct NewCa {
    /// `ca.crt`.
    pub cert_pem: String,
    /// `ca.key` (secret).
    pub key_pem: String,
}

/// A self-signed CA certificate with common name `cn`, valid for `validity`, on a new P-256
/// key; it may sign certificates (of end entities only: path length 0) and CRLs.
pub(crate) fn new_ca(cn: &str, validity: Validity) -> Result<NewCa, Error> {
    let cn = cn.trim();
    if cn.is_empty() || cn.len() > 64 || cn.chars().any(char::is_control) {
        return Err(Error::invalid(
            "--cn: the CA's common name must be 1 to 64 characters, without control characters",
        ));
    }
    let serial = new_serial()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    let key = new_key()?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| Error::crypto("sign the CA certificate", e))?;
    Ok(NewCa {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A new ECDSA P-256 key pair.
fn new_key() -> Result<KeyPair, Error> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| Error::crypto("make a key", e))
}

/// A distinguished name of only a common name.
fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// What a node's certificate is for: its name, server use, extra names, validity.
#[derive(Clone, Debug)]
pub(crate) struct LeafSpec<'a> {
    /// The node name: common name and first DNS subject alternative name (a valid node
    /// name; the caller checks it with [`super::check_node_name`]).
    pub name: &'a str,
    /// Server authentication as well as client authentication.
    pub server: bool,
    /// More DNS subject alternative names.
    pub dns: &'a [String],
    /// IP address subject alternative names.
    pub ips: &'a [IpAddr],
    /// When it is valid.
    pub validity: Validity,
}

/// A certificate the CA signed.
#[derive(Clone, Debug)]
pub(crate) struct Signed {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its serial number (hex).
    pub serial: String,
    /// Its last valid second.
    pub not_after: OffsetDateTime,
}

/// The parameters of a node certificate for `spec`, with serial number `serial`.
fn leaf_params(spec: &LeafSpec<'_>, serial: &[u8]) -> Result<CertificateParams, Error> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(spec.name);
    let mut sans = vec![dns_san(spec.name)?];
    for d in spec.dns {
        if d != spec.name {
            sans.push(dns_san(d)?);
        }
    }
    sans.extend(spec.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    if spec.server {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(SerialNumber::from_slice(serial));
    params.not_before = spec.validity.not_before;
    params.not_after = spec.validity.not_after;
    Ok(params)
}

/// A DNS subject alternative name; `name` must be a host name, or `*.` and one.
fn dns_san(name: &str) -> Result<SanType, Error> {
    let host = name.strip_prefix("*.").unwrap_or(name);
    super::check_node_name(host).map_err(|e| Error::invalid(format!("--dns {name}: {e}")))?;
    let ia5 = name
        .try_into()
        .map_err(|e| Error::invalid(format!("--dns {name}: {e}")))?;
    Ok(SanType::DnsName(ia5))
}

/// A new key pair and a certificate for it, signed by `ca`; returns the certificate and the
/// private key (PEM, secret).
pub(crate) fn issue(ca: &CaKeys, spec: &LeafSpec<'_>) -> Result<(Signed, String), Error> {
    let serial = new_serial()?;
    let params = leaf_params(spec, &serial)?;
    let key = new_key()?;
    let cert = params
        .signed_by(&key, &ca.issuer)
        .map_err(|e| Error::crypto(&format!("sign the certificate for {}", spec.name), e))?;
    let signed = Signed {
        cert_pem: cert.pem(),
        serial: hex(&serial),
        not_after: spec.validity.not_after,
    };
    Ok((signed, key.serialize_pem()))
}

/// A certificate for the public key of the request `csr_pem`, signed by `ca`. The request's
/// signature must verify and its common name must be `spec.name`; everything else in the
/// certificate comes from `spec`, never from the request (a request cannot ask for server
/// use, other names, or a CA certificate).
pub(crate) fn sign_request(
    ca: &CaKeys,
    spec: &LeafSpec<'_>,
    csr_pem: &str,
) -> Result<Signed, Error> {
    let cn = request_name(csr_pem)?;
    if cn != spec.name {
        return Err(Error::invalid(format!(
            "the certificate request is for '{}', not '{}'",
            cn.escape_debug(),
            spec.name
        )));
    }
    let mut request = CertificateSigningRequestParams::from_pem(csr_pem)
        .map_err(|e| Error::invalid(format!("unusable certificate request: {e}")))?;
    let serial = new_serial()?;
    request.params = leaf_params(spec, &serial)?;
    let cert = request
        .signed_by(&ca.issuer)
        .map_err(|e| Error::crypto(&format!("sign the request of {}", spec.name), e))?;
    Ok(Signed {
        cert_pem: cert.pem(),
        serial: hex(&serial),
        not_after: spec.validity.not_after,
    })
}

/// The common name of the certificate request `csr_pem`, after checking its signature.
/// Refuses a request over [`MAX_REQUEST`] bytes, one that is not a PEM `CERTIFICATE
/// REQUEST`, one whose signature fails, and one without exactly one common name.
pub(crate) fn request_name(csr_pem: &str) -> Result<String, Error> {
    if csr_pem.len() > MAX_REQUEST {
        return Err(Error::invalid(format!(
            "the certificate request is larger than {MAX_REQUEST} bytes"
        )));
    }
    let der = pem_block(csr_pem, "CERTIFICATE REQUEST")?;
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
        .map_err(|e| Error::invalid(format!("unreadable certificate request: {e}")))?;
    csr.verify_signature()
        .map_err(|_| Error::invalid("the certificate request's signature does not verify"))?;
    let names: Vec<_> = csr
        .certification_request_info
        .subject
        .iter_common_name()
        .collect();
    match names.as_slice() {
        [one] => one
            .as_str()
            .map(str::to_string)
            .map_err(|_| Error::invalid("the certificate request's common name is not text")),
        _ => Err(Error::invalid(
            "the certificate request must have exactly one common name",
        )),
    }
}

/// The DER bytes of the first PEM block of `text`, which must be labelled `label`.
fn pem_block(text: &str, label: &str) -> Result<Vec<u8>, Error> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes())
        .map_err(|_| Error::invalid(format!("not PEM (expected a {label})")))?;
    if pem.label != label {
        return Err(Error::invalid(format!(
            "a PEM {}, not a {label}",
            pem.label.escape_debug()
        )));
    }
    Ok(pem.contents)
}

/// A node's bootstrap: a new key pair and a certificate request for `node`, both PEM.
pub(crate) struct Request {
    /// The private key (secret: it never leaves the node).
    pub key_pem: String,
    /// The certificate request to send to `POST /v1/csr/<node>`.
    pub csr_pem: String,
    /// The sha256 of the request's DER (hex), for the admin to compare in `fleet ca list`.
    pub fingerprint: String,
    /// The key's public part (SubjectPublicKeyInfo DER), to check the signed certificate.
    pub public_key: Vec<u8>,
}

/// A request for a certificate with common name and DNS name `node` (a valid node name),
/// on `key_pem` or, when `None`, on a new P-256 key.
pub(crate) fn make_request(node: &str, key_pem: Option<&str>) -> Result<Request, Error> {
    super::check_node_name(node).map_err(Error::invalid)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(node);
    params.subject_alt_names = vec![dns_san(node)?];
    let key = match key_pem {
        Some(pem) => KeyPair::from_pem(pem).map_err(|e| Error::crypto("read the key", e))?,
        None => new_key()?,
    };
    let csr = params
        .serialize_request(&key)
        .map_err(|e| Error::crypto("make the certificate request", e))?;
    let csr_pem = csr
        .pem()
        .map_err(|e| Error::crypto("make the certificate request", e))?;
    Ok(Request {
        key_pem: key.serialize_pem(),
        csr_pem,
        fingerprint: crate::model::digest::sha256_hex(csr.der()),
        public_key: rcgen::PublicKeyData::subject_public_key_info(&key),
    })
}

impl Request {
    /// Checks that `cert_pem` is a certificate for `node` of this request's key.
    pub(crate) fn check(&self, node: &str, cert_pem: &str) -> Result<(), String> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
            .map_err(|e| format!("not a PEM certificate: {e}"))?;
        let cert = pem
            .parse_x509()
            .map_err(|e| format!("not a certificate: {e}"))?;
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok());
        if cn != Some(node) {
            return Err(format!("it is for {cn:?}, not {node:?}"));
        }
        if cert.public_key().raw != self.public_key.as_slice() {
            return Err("it is not for this node's key".into());
        }
        Ok(())
    }
}

/// A revoked certificate, for the revocation list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Revoked {
    /// Its serial number (hex).
    pub serial: String,
    /// When it was revoked.
    pub at: OffsetDateTime,
}

/// How long a revocation list is current: its `nextUpdate` is this many days after its
/// `thisUpdate` (rewritten by every `fleet ca revoke`).
pub(crate) const CRL_DAYS: i64 = 365;

/// The revocation list of `ca` (PEM) listing `revoked`, number `number`, made at `now` and
/// current for [`CRL_DAYS`].
pub(crate) fn crl(
    ca: &CaKeys,
    revoked: &[Revoked],
    number: u64,
    now: OffsetDateTime,
) -> Result<String, Error> {
    let revoked_certs = revoked
        .iter()
        .map(|r| {
            let serial = unhex(&r.serial)
                .ok_or_else(|| Error::invalid(format!("serial '{}' is not hex", r.serial)))?;
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial),
                revocation_time: r.at,
                reason_code: None,
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: add_seconds(now, CRL_DAYS * DAY)?,
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    params
        .signed_by(&ca.issuer)
        .and_then(|c| c.pem())
        .map_err(|e| Error::crypto("sign the revocation list", e))
}

/// Refuses the certificate `pem` unless the CA certificate `ca_pem`'s key signed it.
pub(crate) fn check_issued_by(pem: &str, ca_pem: &str) -> Result<(), Error> {
    let der = pem_block(pem, "CERTIFICATE")?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der)
        .map_err(|e| Error::invalid(format!("unreadable certificate: {e}")))?;
    let ca_der = pem_block(ca_pem, "CERTIFICATE")?;
    let (_, ca) = x509_parser::certificate::X509Certificate::from_der(&ca_der)
        .map_err(|e| Error::invalid(format!("unreadable CA certificate: {e}")))?;
    cert.verify_signature(Some(ca.public_key()))
        .map_err(|_| Error::invalid("the certificate was not signed by this CA"))
}

/// What a certificate says, as the CA and the server need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CertInfo {
    /// The (first) common name of the subject, if any is text.
    pub common_name: Option<String>,
    /// The serial number (hex, without leading zero bytes).
    pub serial: String,
    /// The first valid second (Unix time).
    pub not_before: i64,
    /// The last valid second (Unix time).
    pub not_after: i64,
    /// A CA certificate.
    pub is_ca: bool,
    /// Extended key usage includes client authentication.
    pub client_auth: bool,
    /// Extended key usage includes server authentication.
    pub server_auth: bool,
    /// The subject public key's bytes.
    pub public_key: Vec<u8>,
}

/// What the certificate `pem` (the first PEM block, a `CERTIFICATE`) says.
pub(crate) fn cert_info(pem: &str) -> Result<CertInfo, Error> {
    let der = pem_block(pem, "CERTIFICATE")?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der)
        .map_err(|e| Error::invalid(format!("unreadable certificate: {e}")))?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let raw = cert.raw_serial();
    let first = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    let (client_auth, server_auth) = match cert.extended_key_usage() {
        Ok(Some(eku)) => (eku.value.client_auth, eku.value.server_auth),
        _ => (false, false),
    };
    Ok(CertInfo {
        common_name,
        serial: hex(&raw[first..]),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        is_ca: cert.is_ca(),
        client_auth,
        server_auth,
        public_key: cert.public_key().subject_public_key.data.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> CaKeys {
        let v = Validity::days(now(), 10).expect("validity");
        let new = new_ca("test CA", v).expect("new CA");
        CaKeys::from_pem(&new.cert_pem, &new.key_pem).expect("load")
    }

    fn spec<'a>(name: &'a str, days: i64) -> LeafSpec<'a> {
        LeafSpec {
            name,
            server: false,
            dns: &[],
            ips: &[],
            validity: Validity::days(now(), days).expect("validity"),
        }
    }

    #[test]
    fn negative_days_are_already_expired() {
        let t = now();
        let v = Validity::days(t, -2).expect("validity");
        assert!(v.not_after < t && v.not_before < v.not_after);
        let v = Validity::days(t, 30).expect("validity");
        assert!(v.not_before < t && v.not_after > t);
        assert!(Validity::days(t, MAX_DAYS + 1).is_err());
    }

    #[test]
    fn serials_are_positive_16_bytes() {
        for _ in 0..50 {
            let s = new_serial().expect("serial");
            assert!(s[0] & 0x80 == 0 && s[0] & 0x40 != 0);
            assert_eq!(unhex(&hex(&s)).as_deref(), Some(&s[..]));
        }
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn an_issued_certificate_says_what_was_asked() {
        let ca = ca();
        let (signed, key) = issue(&ca, &spec("web01", 5)).expect("issue");
        assert!(key.contains("PRIVATE KEY"));
        let info = cert_info(&signed.cert_pem).expect("info");
        assert_eq!(info.common_name.as_deref(), Some("web01"));
        assert_eq!(info.serial, signed.serial);
        assert!(info.client_auth && !info.server_auth && !info.is_ca);
        assert_eq!(info.not_after, signed.not_after.unix_timestamp());
    }

    #[test]
    fn a_request_is_signed_only_for_its_own_name() {
        let ca = ca();
        let req = make_request("db1", None).expect("request");
        assert_eq!(request_name(&req.csr_pem).expect("name"), "db1");
        let signed = sign_request(&ca, &spec("db1", 5), &req.csr_pem).expect("sign");
        let info = cert_info(&signed.cert_pem).expect("info");
        assert_eq!(info.common_name.as_deref(), Some("db1"));
        let key = KeyPair::from_pem(&req.key_pem).expect("key");
        assert_eq!(info.public_key, key.public_key_raw());
        let e = sign_request(&ca, &spec("web01", 5), &req.csr_pem).expect_err("other name");
        assert!(e.message().contains("is for 'db1'"), "{e}");
    }

    /// Changes one base64 character of the last body line (the signature's
    /// tail), so the request still parses but no longer verifies.
    fn corrupt_signature(pem: &str) -> String {
        let mut lines: Vec<String> = pem.lines().map(str::to_string).collect();
        let last = lines.len() - 2;
        let mut chars: Vec<char> = lines[last].chars().collect();
        chars[5] = if chars[5] == 'A' { 'B' } else { 'A' };
        lines[last] = chars.into_iter().collect();
        assert_ne!(lines.join("\n"), pem.trim_end());
        lines.join("\n") + "\n"
    }

    #[test]
    fn bad_requests_are_refused() {
        let ca = ca();
        let req = make_request("db1", None).expect("request");
        let v = Validity::days(now(), 10).expect("validity");
        let ca_cert = new_ca("test CA", v).expect("new CA").cert_pem;
        for bad in [
            String::new(),
            "not pem".to_string(),
            ca_cert,
            corrupt_signature(&req.csr_pem),
            "x".repeat(MAX_REQUEST + 1),
        ] {
            assert!(sign_request(&ca, &spec("db1", 5), &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_key_of_another_ca_is_refused() {
        let v = Validity::days(now(), 10).expect("validity");
        let a = new_ca("a", v).expect("a");
        let b = new_ca("b", v).expect("b");
        let e = CaKeys::from_pem(&a.cert_pem, &b.key_pem).expect_err("mismatch");
        assert!(e.message().contains("does not belong"), "{e}");
    }

    #[test]
    fn the_crl_is_signed_pem() {
        let ca = ca();
        let pem = crl(
            &ca,
            &[Revoked {
                serial: "4a0b".into(),
                at: now(),
            }],
            3,
            now(),
        )
        .expect("crl");
        assert!(pem.starts_with("-----BEGIN X509 CRL-----"), "{pem}");
    }
}
