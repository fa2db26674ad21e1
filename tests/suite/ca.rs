//! `fleet ca` (REMOTE.md, "Certificate authority"), driven through the binary and checked
//! with the real `openssl`: what it issues verifies, says what was asked, has the right file
//! modes; refusals exit 1 with an `error:` line; revocation reaches the CRL.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::{fleet, Run};

/// `openssl ARGS`: (success, stdout + stderr).
fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `path` as a `&str` argument.
fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A temp dir with a new CA in `ca/`.
fn new_ca() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = tmp.path().join("ca");
    let r = fleet(["ca", "init", s(&ca), "--cn", "Test Fleet CA"]);
    assert_eq!(r.code, 0, "{}", r.describe());
    (tmp, ca)
}

/// Asserts `r` is a refusal: exit 1 and an `error:` line saying `what`.
fn refused(r: &Run, what: &str) {
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(
        r.stderr.starts_with("error: ") && r.stderr.contains(what),
        "expected an error about {what:?}: {}",
        r.describe()
    );
}

#[test]
fn init_makes_a_ca_with_an_empty_valid_crl() {
    let (_tmp, ca) = new_ca();
    for (file, want) in [
        ("ca.crt", 0o644),
        ("ca.key", 0o600),
        ("crl.pem", 0o644),
        ("index.json", 0o644),
    ] {
        assert_eq!(mode(&ca.join(file)), want, "{file}");
    }
    let (ok, text) = openssl(&["x509", "-in", s(&ca.join("ca.crt")), "-noout", "-text"]);
    assert!(ok, "{text}");
    assert!(text.contains("Subject: CN = Test Fleet CA"), "{text}");
    assert!(text.contains("CA:TRUE"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    let (ok, text) = openssl(&[
        "crl",
        "-in",
        s(&ca.join("crl.pem")),
        "-CAfile",
        s(&ca.join("ca.crt")),
        "-noout",
        "-text",
    ]);
    assert!(ok && text.contains("verify OK"), "{text}");
    assert!(text.contains("No Revoked Certificates"), "{text}");
    assert!(text.contains("Next Update"), "{text}");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ca.join("index.json")).expect("index"))
            .expect("json");
    assert_eq!(index["certificates"], serde_json::json!([]));
}

#[test]
fn init_refuses_a_directory_that_holds_a_ca() {
    let (_tmp, ca) = new_ca();
    let before = std::fs::read(ca.join("ca.key")).expect("key");
    refused(&fleet(["ca", "init", s(&ca)]), "already holds a CA");
    assert_eq!(
        std::fs::read(ca.join("ca.key")).expect("key"),
        before,
        "the key is untouched"
    );
}

#[test]
fn an_issued_certificate_verifies_and_says_what_was_asked() {
    let (_tmp, ca) = new_ca();
    let r = fleet([
        "ca",
        "issue",
        "web01.example.net",
        "--ca",
        s(&ca),
        "--server",
        "--dns",
        "localhost",
        "--dns",
        "web01",
        "--ip",
        "127.0.0.1",
        "--ip",
        "::1",
    ]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let crt = ca.join("issued/web01.example.net.crt");
    let key = ca.join("issued/web01.example.net.key");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&ca.join("issued")), 0o700);
    let (ok, text) = openssl(&["verify", "-CAfile", s(&ca.join("ca.crt")), s(&crt)]);
    assert!(ok && text.contains(": OK"), "{text}");
    let (ok, text) = openssl(&["x509", "-in", s(&crt), "-noout", "-text"]);
    assert!(ok, "{text}");
    for want in [
        "Subject: CN = web01.example.net",
        "DNS:web01.example.net, DNS:localhost, DNS:web01, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
        "TLS Web Client Authentication, TLS Web Server Authentication",
        "CA:FALSE",
        "ASN1 OID: prime256v1",
    ] {
        assert!(text.contains(want), "{want:?} in {text}");
    }
    // The key is the certificate's.
    let (ok, from_key) = openssl(&["pkey", "-in", s(&key), "-pubout"]);
    assert!(ok, "{from_key}");
    let (ok, from_crt) = openssl(&["x509", "-in", s(&crt), "-noout", "-pubkey"]);
    assert!(ok && from_key == from_crt, "{from_key}\n{from_crt}");
}

#[test]
fn a_client_certificate_is_not_for_servers() {
    let (tmp, ca) = new_ca();
    let out = tmp.path().join("out");
    let r = fleet([
        "ca",
        "issue",
        "db1",
        "--ca",
        s(&ca),
        "--out",
        s(&out),
        "--days",
        "30",
    ]);
    assert_eq!(r.code, 0, "{}", r.describe());
    assert_eq!(mode(&out.join("db1.key")), 0o600);
    let (ok, text) = openssl(&["x509", "-in", s(&out.join("db1.crt")), "-noout", "-text"]);
    assert!(ok, "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(!text.contains("Server Authentication"), "{text}");
    assert!(text.contains("DNS:db1"), "{text}");
    let (ok, text) = openssl(&[
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        s(&ca.join("ca.crt")),
        s(&out.join("db1.crt")),
    ]);
    assert!(!ok, "a client certificate passed as a server's: {text}");
    let (ok, text) = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        s(&ca.join("ca.crt")),
        s(&out.join("db1.crt")),
    ]);
    assert!(ok, "{text}");
}

#[test]
fn negative_days_make_an_expired_certificate() {
    let (_tmp, ca) = new_ca();
    let r = fleet(["ca", "issue", "old1", "--ca", s(&ca), "--days", "-2"]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let (ok, text) = openssl(&[
        "verify",
        "-CAfile",
        s(&ca.join("ca.crt")),
        s(&ca.join("issued/old1.crt")),
    ]);
    assert!(!ok && text.contains("certificate has expired"), "{text}");
    // An expired certificate does not block its renewal.
    let r = fleet(["ca", "issue", "old1", "--ca", s(&ca)]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let (ok, text) = openssl(&[
        "verify",
        "-CAfile",
        s(&ca.join("ca.crt")),
        s(&ca.join("issued/old1.crt")),
    ]);
    assert!(ok, "{text}");
}

#[test]
fn invalid_names_and_duplicates_are_refused_unless_forced() {
    let (_tmp, ca) = new_ca();
    for bad in ["Web01", "web_01", "../etc/passwd", "a..b", "-x", ""] {
        refused(
            &fleet(["ca", "issue", "--ca", s(&ca), "--", bad]),
            "invalid node name",
        );
    }
    refused(
        &fleet(["ca", "issue", "ok1", "--ca", s(&ca), "--dns", "bad name"]),
        "--dns bad name",
    );
    assert_eq!(fleet(["ca", "issue", "web01", "--ca", s(&ca)]).code, 0);
    let first = std::fs::read(ca.join("issued/web01.crt")).expect("crt");
    refused(
        &fleet(["ca", "issue", "web01", "--ca", s(&ca)]),
        "already has an unrevoked certificate",
    );
    assert_eq!(
        std::fs::read(ca.join("issued/web01.crt")).expect("crt"),
        first,
        "refusal changed nothing"
    );
    let r = fleet(["ca", "issue", "web01", "--ca", s(&ca), "--force"]);
    assert_eq!(r.code, 0, "{}", r.describe());
    assert_ne!(
        std::fs::read(ca.join("issued/web01.crt")).expect("crt"),
        first
    );
    let index = std::fs::read_to_string(ca.join("index.json")).expect("index");
    assert_eq!(index.matches("\"name\": \"web01\"").count(), 2, "{index}");
}

#[test]
fn commands_on_a_directory_without_a_ca_fail_clearly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = s(tmp.path());
    refused(
        &fleet(["ca", "issue", "web01", "--ca", dir]),
        "is not a CA directory",
    );
    refused(&fleet(["ca", "list", "--ca", dir]), "is not a CA directory");
    refused(
        &fleet(["ca", "revoke", "web01", "--ca", dir]),
        "is not a CA directory",
    );
    assert_eq!(fleet(["ca", "issue", "web01"]).code, 2, "--ca is required");
    assert_eq!(
        fleet(["ca", "issue", "web01", "--ca", dir, "--ip", "300.1.1.1"]).code,
        2
    );
}

#[test]
fn a_revoked_certificate_is_in_the_crl_and_fails_crl_checks() {
    let (_tmp, ca) = new_ca();
    assert_eq!(fleet(["ca", "issue", "web01", "--ca", s(&ca)]).code, 0);
    assert_eq!(fleet(["ca", "issue", "web02", "--ca", s(&ca)]).code, 0);
    let crt = |n: &str| ca.join(format!("issued/{n}.crt"));
    let cafile = ca.join("ca.crt");
    let crl = ca.join("crl.pem");
    let check = |n: &str| {
        openssl(&[
            "verify",
            "-crl_check",
            "-CRLfile",
            s(&crl),
            "-CAfile",
            s(&cafile),
            s(&crt(n)),
        ])
    };
    assert!(check("web01").0, "{}", check("web01").1);

    let r = fleet(["ca", "revoke", "web01", "--ca", s(&ca)]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let (ok, serial) = openssl(&["x509", "-in", s(&crt("web01")), "-noout", "-serial"]);
    assert!(ok, "{serial}");
    let serial = serial.trim().trim_start_matches("serial=").to_uppercase();
    let (ok, text) = openssl(&[
        "crl",
        "-in",
        s(&crl),
        "-CAfile",
        s(&cafile),
        "-noout",
        "-text",
    ]);
    assert!(ok && text.contains("verify OK"), "{text}");
    assert!(
        text.contains(&format!("Serial Number: {serial}")),
        "{serial} in {text}"
    );
    assert!(text.contains("Next Update"), "{text}");
    let (ok, text) = check("web01");
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    assert!(check("web02").0, "{}", check("web02").1);

    let index = std::fs::read_to_string(ca.join("index.json")).expect("index");
    assert!(index.contains("\"status\": \"revoked\""), "{index}");
    refused(
        &fleet(["ca", "revoke", "web01", "--ca", s(&ca)]),
        "no unrevoked certificate",
    );
    refused(
        &fleet(["ca", "revoke", "nobody", "--ca", s(&ca)]),
        "no unrevoked certificate",
    );
    // Revoked: the name may have a new certificate without --force.
    assert_eq!(fleet(["ca", "issue", "web01", "--ca", s(&ca)]).code, 0);
    assert!(check("web01").0, "{}", check("web01").1);
}

#[test]
fn list_shows_names_serials_expiry_and_status() {
    let (_tmp, ca) = new_ca();
    assert_eq!(
        fleet(["ca", "issue", "web01", "--ca", s(&ca), "--days", "400"]).code,
        0
    );
    assert_eq!(
        fleet([
            "ca",
            "issue",
            "db1",
            "--ca",
            s(&ca),
            "--days",
            "10",
            "--server"
        ])
        .code,
        0
    );
    assert_eq!(
        fleet(["ca", "issue", "gone1", "--ca", s(&ca), "--days", "5"]).code,
        0
    );
    assert_eq!(
        fleet(["ca", "issue", "old1", "--ca", s(&ca), "--days", "-1"]).code,
        0
    );
    assert_eq!(fleet(["ca", "revoke", "gone1", "--ca", s(&ca)]).code, 0);

    let r = fleet(["ca", "list", "--ca", s(&ca)]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME")
            && lines[0].contains("SERIAL")
            && lines[0].contains("EXPIRES")
            && lines[0].contains("STATUS"),
        "{}",
        r.stdout
    );
    assert_eq!(lines.len(), 5, "{}", r.stdout);
    let row = |n: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{n} ")))
            .copied()
            .unwrap_or_else(|| panic!("{n} in {}", r.stdout))
    };
    assert!(row("web01").contains(" valid"), "{}", r.stdout);
    assert!(row("db1").contains("server"), "{}", r.stdout);
    assert!(row("gone1").contains("revoked"), "{}", r.stdout);
    assert!(row("old1").contains("expired"), "{}", r.stdout);

    let r = fleet([
        "ca",
        "list",
        "--ca",
        s(&ca),
        "--expiring",
        "30",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let names: Vec<String> = r
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            assert!(v["serial"].as_str().is_some_and(|s| s.len() == 32), "{v}");
            assert!(v["not_after"].as_str().is_some(), "{v}");
            v["name"].as_str().expect("name").to_string()
        })
        .collect();
    assert_eq!(names, ["db1", "old1"], "{}", r.stdout);
}

#[test]
fn tokens_are_recorded_secretly_and_listed_as_autosign_lines() {
    let (_tmp, ca) = new_ca();
    let r = fleet(["ca", "token", "web07", "--ca", s(&ca)]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let secret = r.stdout.trim().to_string();
    assert!(
        secret.len() == 64 && secret.chars().all(|c| c.is_ascii_hexdigit()),
        "{secret}"
    );
    assert_eq!(mode(&ca.join("tokens.json")), 0o600);
    let second = fleet(["ca", "token", "db2", "--ca", s(&ca)])
        .stdout
        .trim()
        .to_string();
    assert_ne!(second, secret);
    refused(
        &fleet(["ca", "token", "Not_A_Name", "--ca", s(&ca)]),
        "invalid node name",
    );

    let r = fleet(["ca", "tokens", "--ca", s(&ca)]);
    assert_eq!(r.code, 0, "{}", r.describe());
    assert_eq!(
        r.stdout,
        format!("token:{secret} web07\ntoken:{second} db2\n")
    );
    // A certificate for web07 spends its token.
    assert_eq!(fleet(["ca", "issue", "web07", "--ca", s(&ca)]).code, 0);
    let r = fleet(["ca", "tokens", "--ca", s(&ca)]);
    assert_eq!(r.stdout, format!("token:{second} db2\n"));
}
