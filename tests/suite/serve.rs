//! `fleet serve` for real (REMOTE.md "The catalog server"): `fleet serve` processes on
//! 127.0.0.1 (port 0), certificates from `fleet ca`, clients `curl --cert/--key/--cacert` and
//! `openssl s_client`. One shared server for the read-only tests (started once per test
//! binary); the tests that change a manifest start their own.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::support;

/// How long a poll for something the server does on its own (reload, CRL) may take before
/// the test fails: generous, for a loaded machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// A `fleet serve` process, killed when dropped. Its stderr is collected (the listening
/// address is read from it).
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `fleet serve ARGS --listen 127.0.0.1:0` and waits for its listening line. The
    /// child is killed if the test process dies (PR_SET_PDEATHSIG, from a thread that lives
    /// as long as the process, so a shared server outlives the test that started it).
    pub(crate) fn start(args: Vec<String>) -> Server {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut cmd = support::command();
            cmd.arg("serve")
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let spawned = cmd.spawn();
            let _ = tx.send(spawned);
            // The death signal is tied to this thread: it stays until the process ends.
            loop {
                std::thread::park();
            }
        });
        let mut child = rx.recv().unwrap().expect("start fleet serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let started = Instant::now();
        let addr = loop {
            let text = stderr.lock().unwrap().clone();
            if let Some(rest) = text.split("listening on ").nth(1) {
                break rest.lines().next().unwrap().trim().to_string();
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("fleet serve exited ({status}): {text}");
            }
            assert!(started.elapsed() < DEADLINE, "no listening line: {text}");
            std::thread::sleep(Duration::from_millis(20));
        };
        Server {
            child,
            addr,
            stderr,
        }
    }

    /// `https://ADDR` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// What the server wrote on stderr so far.
    pub(crate) fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// A CA made by `fleet ca init` and the certificates `fleet ca issue` made from it.
pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
}

impl Pki {
    /// `fleet ca init DIR`.
    pub(crate) fn init(dir: &Path) -> Pki {
        let r = support::fleet(["ca".as_ref(), "init".as_ref(), dir.as_os_str()]);
        assert!(r.status.success(), "ca init: {}", r.describe());
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    /// `fleet ca issue NAME --ca DIR EXTRA…`: (cert, key).
    pub(crate) fn issue(&self, name: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
        let dir = self.dir.display().to_string();
        let mut args = vec!["ca", "issue", name, "--ca", &dir];
        args.extend_from_slice(extra);
        let r = support::fleet(&args);
        assert!(r.status.success(), "ca issue {name}: {}", r.describe());
        let issued = self.dir.join("issued");
        (
            issued.join(format!("{name}.crt")),
            issued.join(format!("{name}.key")),
        )
    }

    /// `fleet ca revoke NAME --ca DIR`.
    pub(crate) fn revoke(&self, name: &str) {
        let dir = self.dir.display().to_string();
        let r = support::fleet(["ca", "revoke", name, "--ca", &dir]);
        assert!(r.status.success(), "ca revoke {name}: {}", r.describe());
    }

    pub(crate) fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    pub(crate) fn crl(&self) -> PathBuf {
        self.dir.join("crl.pem")
    }
}

/// A curl answer: the HTTP status (0 when there was none: the handshake or connection
/// failed), the body and response headers, and curl's exit code.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) headers: String,
    pub(crate) exit: i32,
}

impl Answer {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `curl` with the CA, optionally a client certificate, `extra` arguments, then `url`.
pub(crate) fn curl(
    ca: &Path,
    client: Option<&(PathBuf, PathBuf)>,
    extra: &[&str],
    url: &str,
) -> Answer {
    let tmp = tempfile::tempdir().unwrap();
    let body = tmp.path().join("body");
    let headers = tmp.path().join("headers");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "60", "--cacert"])
        .arg(ca)
        .arg("-o")
        .arg(&body)
        .arg("-D")
        .arg(&headers)
        .args(["-w", "%{http_code}"]);
    if let Some((crt, key)) = client {
        cmd.arg("--cert").arg(crt).arg("--key").arg(key);
    }
    cmd.args(extra).arg(url);
    let out = cmd.output().expect("run curl");
    let status = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    Answer {
        status,
        body: std::fs::read(&body).unwrap_or_default(),
        headers: std::fs::read_to_string(&headers).unwrap_or_default(),
        exit: out.status.code().unwrap_or(-1),
    }
}

/// The manifest the shared server serves: web01 with a `source` file (content), db01 with
/// another, app nodes by regex.
const SITE: &str = r#"
node "web01" {
  file "/etc/motd" { source = "motd" }
  package "nginx" { ensure = latest }
}
node "db01" {
  file "/etc/db.conf" { source = "db.conf" }
}
node "gone01" {
  file "/etc/gone" { content = "x\n" }
}
node "admin01" {
  file "/etc/admin" { content = "x\n" }
}
node "roles01" {
  file "/etc/role" { source = "role-${facts.role}" }
}
"#;

/// The facts web01 posts (also its facts file, so `fleet compile --node web01` sees them).
const WEB_FACTS: &str = r#"{"hostname":"web01","fqdn":"web01.example.net","os":{"family":"debian","name":"debian","release":"12","major":"12"},"role":"web"}"#;

/// The shared fixture: a CA, a second CA, certificates, one server.
pub(crate) struct Fixture {
    _tmp: tempfile::TempDir,
    pub(crate) pki: Pki,
    pub(crate) other: Pki,
    pub(crate) site: PathBuf,
    pub(crate) server: Server,
    pub(crate) server_cert: (PathBuf, PathBuf),
}

impl Fixture {
    /// The client certificate of `name` from the fleet CA.
    pub(crate) fn cert(&self, name: &str) -> (PathBuf, PathBuf) {
        let issued = self.pki.dir.join("issued");
        (
            issued.join(format!("{name}.crt")),
            issued.join(format!("{name}.key")),
        )
    }

    /// curl against the shared server as `who` (None: no certificate).
    pub(crate) fn curl(&self, who: Option<&str>, extra: &[&str], path: &str) -> Answer {
        let cert = who.map(|w| self.cert(w));
        curl(
            &self.pki.ca_cert(),
            cert.as_ref(),
            extra,
            &self.server.url(path),
        )
    }
}

/// Writes the manifest checkout into `dir`: site.fleet, the `source` files, facts.
fn write_site(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("motd"), "welcome to web01\n").unwrap();
    std::fs::write(dir.join("db.conf"), "max_connections = 100\n").unwrap();
    std::fs::create_dir_all(dir.join("facts")).unwrap();
    std::fs::write(dir.join("facts/web01.json"), WEB_FACTS).unwrap();
    std::fs::write(dir.join("facts/roles01.json"), r#"{"role":"a"}"#).unwrap();
    std::fs::write(dir.join("role-a"), "role a\n").unwrap();
    std::fs::write(dir.join("role-b"), "role b\n").unwrap();
    let site = dir.join("site.fleet");
    std::fs::write(&site, SITE).unwrap();
    site
}

/// The arguments every test server shares: TLS files, CRL, a store in `dir`.
fn server_args(pki: &Pki, server: &(PathBuf, PathBuf), site: &Path, dir: &Path) -> Vec<String> {
    let s = |p: &Path| p.display().to_string();
    vec![
        "--manifest".into(),
        s(site),
        "--tls-cert".into(),
        s(&server.0),
        "--tls-key".into(),
        s(&server.1),
        "--ca-cert".into(),
        s(&pki.ca_cert()),
        "--crl".into(),
        s(&pki.crl()),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--store".into(),
        format!("sqlite:{}", dir.join("server.db").display()),
        "--poll".into(),
        "1".into(),
    ]
}

/// The one shared fixture of this test binary.
pub(crate) fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let pki = Pki::init(&tmp.path().join("ca"));
        let other = Pki::init(&tmp.path().join("other-ca"));
        let server_cert = pki.issue(
            "localhost",
            &["--server", "--ip", "127.0.0.1", "--dns", "localhost"],
        );
        for node in [
            "web01", "db01", "gone01", "gone02", "admin01", "nobody01", "roles01",
        ] {
            pki.issue(node, &[]);
        }
        pki.issue("expired01", &["--days", "-1"]);
        other.issue("web01", &[]);
        let checkout = tmp.path().join("site");
        std::fs::create_dir(&checkout).unwrap();
        let site = write_site(&checkout);
        let mut args = server_args(&pki, &server_cert, &site, tmp.path());
        args.extend(["--admin", "admin01", "--max-body", "65536"].map(String::from));
        let server = Server::start(args);
        Fixture {
            _tmp: tmp,
            pki,
            other,
            site,
            server,
            server_cert,
        }
    })
}

/// POST /v1/catalog/web01 with web01's facts.
fn web_catalog(f: &Fixture, extra: &[&str]) -> Answer {
    let mut args = vec!["-X", "POST", "--data-binary", WEB_FACTS];
    args.extend_from_slice(extra);
    f.curl(Some("web01"), &args, "/v1/catalog/web01")
}

#[test]
fn health_needs_no_certificate() {
    let f = fixture();
    let a = f.curl(None, &[], "/v1/health");
    assert_eq!(a.status, 200, "{}", a.text());
    let doc: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(doc["status"], "ok", "{doc}");
    assert!(
        doc["manifest"].as_str().unwrap().starts_with("sha256:"),
        "{doc}"
    );
}

#[test]
fn a_nodes_catalog_is_what_fleet_compile_prints() {
    let f = fixture();
    let a = web_catalog(f, &[]);
    assert_eq!(a.status, 200, "{}", a.text());
    let compiled = support::fleet([
        "compile".as_ref(),
        "--node".as_ref(),
        "web01".as_ref(),
        f.site.as_os_str(),
    ]);
    assert!(compiled.status.success(), "{}", compiled.describe());
    assert_eq!(a.text(), compiled.stdout);
    let doc: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    let version = doc["version"].as_str().unwrap();
    assert!(
        a.headers
            .to_lowercase()
            .contains(&format!("etag: \"{version}\"")),
        "{}",
        a.headers
    );
}

#[test]
fn if_none_match_with_the_version_is_304() {
    let f = fixture();
    let first = web_catalog(f, &[]);
    assert_eq!(first.status, 200, "{}", first.text());
    let doc: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    let version = doc["version"].as_str().unwrap();
    let header = format!("If-None-Match: \"{version}\"");
    let again = web_catalog(f, &["-H", &header]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let stale = web_catalog(f, &["-H", "If-None-Match: \"sha256:0000\""]);
    assert_eq!(stale.status, 200);
}

#[test]
fn no_certificate_is_401() {
    let f = fixture();
    for (method, path) in [
        ("POST", "/v1/catalog/web01"),
        ("POST", "/v1/report/web01"),
        ("GET", "/v1/nodes"),
        (
            "GET",
            &format!("/v1/content/{}", support::sha256_hex(b"welcome to web01\n")),
        ),
    ] {
        let a = f.curl(None, &["-X", method, "--data-binary", "{}"], path);
        assert_eq!(a.status, 401, "{method} {path}: {}", a.text());
    }
}

#[test]
fn another_nodes_certificate_is_403() {
    let f = fixture();
    let a = f.curl(
        Some("db01"),
        &["-X", "POST", "--data-binary", WEB_FACTS],
        "/v1/catalog/web01",
    );
    assert_eq!(a.status, 403, "{}", a.text());
    let a = f.curl(
        Some("db01"),
        &["-X", "POST", "--data-binary", r#"{"summary":{}}"#],
        "/v1/report/web01",
    );
    assert_eq!(a.status, 403, "{}", a.text());
    let a = f.curl(Some("web01"), &[], "/v1/nodes");
    assert_eq!(a.status, 403, "not an admin: {}", a.text());
}

#[test]
fn expired_and_foreign_certificates_fail_the_handshake() {
    let f = fixture();
    let expired = f.cert("expired01");
    let a = curl(
        &f.pki.ca_cert(),
        Some(&expired),
        &["-X", "POST", "--data-binary", "{}"],
        &f.server.url("/v1/catalog/expired01"),
    );
    assert_eq!(a.status, 0, "expired: {} {}", a.status, a.text());
    assert_ne!(a.exit, 0);
    let foreign = (
        f.other.dir.join("issued/web01.crt"),
        f.other.dir.join("issued/web01.key"),
    );
    let a = curl(
        &f.pki.ca_cert(),
        Some(&foreign),
        &["-X", "POST", "--data-binary", WEB_FACTS],
        &f.server.url("/v1/catalog/web01"),
    );
    assert_eq!(a.status, 0, "another CA: {} {}", a.status, a.text());
    // openssl s_client sees the server refuse the handshake too.
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &f.server.addr, "-CAfile"])
        .arg(f.pki.ca_cert())
        .arg("-cert")
        .arg(&foreign.0)
        .arg("-key")
        .arg(&foreign.1)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            let mut stdin = c.stdin.take().unwrap();
            let _ =
                stdin.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            drop(stdin);
            c.wait_with_output()
        })
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("HTTP/1.1 200"), "{text}");
}

#[test]
fn an_unknown_node_is_404_with_a_diagnostic() {
    let f = fixture();
    let a = f.curl(
        Some("nobody01"),
        &["-X", "POST", "--data-binary", "{}"],
        "/v1/catalog/nobody01",
    );
    assert_eq!(a.status, 404, "{}", a.text());
    let line: serde_json::Value = serde_json::from_str(a.text().lines().next().unwrap()).unwrap();
    assert_eq!(line["code"], "no-node", "{line}");
}

#[test]
fn content_only_for_hashes_the_requesters_catalog_names() {
    let f = fixture();
    let motd = support::sha256_hex(b"welcome to web01\n");
    let db = support::sha256_hex(b"max_connections = 100\n");
    assert_eq!(web_catalog(f, &[]).status, 200);
    let a = f.curl(Some("web01"), &[], &format!("/v1/content/{motd}"));
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.body, b"welcome to web01\n");
    // db01's hash is not in web01's catalog, and web01's not in db01's.
    let a = f.curl(Some("web01"), &[], &format!("/v1/content/{db}"));
    assert_eq!(a.status, 404, "{}", a.text());
    let a = f.curl(Some("db01"), &[], &format!("/v1/content/{motd}"));
    assert_eq!(a.status, 404, "{}", a.text());
    let a = f.curl(Some("db01"), &[], &format!("/v1/content/{db}"));
    assert_eq!(a.status, 200, "db01 without posted facts: {}", a.text());
    let a = f.curl(Some("web01"), &[], "/v1/content/not-a-hash");
    assert_eq!(a.status, 404);
}

/// The server keeps each node's last catalog: the same facts again get the same catalog
/// (from the cache), other facts another one, and content follows the facts posted last.
#[test]
fn a_catalog_follows_the_facts_posted_last() {
    let f = fixture();
    let post = |role: &str| {
        let facts = format!(r#"{{"role":"{role}"}}"#);
        let a = f.curl(
            Some("roles01"),
            &["-X", "POST", "--data-binary", &facts],
            "/v1/catalog/roles01",
        );
        assert_eq!(a.status, 200, "{}", a.text());
        a
    };
    let content = |sha: &str| {
        f.curl(Some("roles01"), &[], &format!("/v1/content/{sha}"))
            .status
    };
    let a = support::sha256_hex(b"role a\n");
    let b = support::sha256_hex(b"role b\n");
    let first = post("a");
    assert!(first.text().contains(&a), "{}", first.text());
    assert_eq!((content(&a), content(&b)), (200, 404));
    let other = post("b");
    assert!(other.text().contains(&b), "{}", other.text());
    assert_ne!(other.body, first.body);
    assert_eq!((content(&a), content(&b)), (404, 200));
    for _ in 0..2 {
        let again = post("a");
        assert_eq!(again.body, first.body);
        assert_eq!((content(&a), content(&b)), (200, 404));
    }
}

#[test]
fn bad_bodies_are_400_and_413() {
    let f = fixture();
    let a = f.curl(
        Some("web01"),
        &["-X", "POST", "--data-binary", "this is not json"],
        "/v1/catalog/web01",
    );
    assert_eq!(a.status, 400, "{}", a.text());
    let a = f.curl(
        Some("web01"),
        &["-X", "POST", "--data-binary", "[1,2]"],
        "/v1/catalog/web01",
    );
    assert_eq!(a.status, 400, "{}", a.text());
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("big.json");
    std::fs::write(&big, format!("{{\"x\":\"{}\"}}", "a".repeat(100_000))).unwrap();
    let at = format!("@{}", big.display());
    let a = f.curl(
        Some("web01"),
        &["-X", "POST", "--data-binary", &at],
        "/v1/catalog/web01",
    );
    assert_eq!(a.status, 413, "{}", a.text());
}

#[test]
fn reports_are_stored_and_admins_read_the_inventory() {
    let f = fixture();
    assert_eq!(web_catalog(f, &[]).status, 200);
    let report = r#"{"node":"web01","noop":false,"started":"2026-12-03T10:00:00Z","seconds":0.1,"summary":{"resources":2,"changed":0,"failed":1,"skipped":0,"unchanged":1},"events":[]}"#;
    let a = f.curl(
        Some("web01"),
        &["-X", "POST", "--data-binary", report],
        "/v1/report/web01",
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let a = f.curl(Some("admin01"), &[], "/v1/nodes");
    assert_eq!(a.status, 200, "{}", a.text());
    let nodes: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    let web = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "web01")
        .unwrap_or_else(|| panic!("{nodes}"));
    assert_eq!(web["facts"]["role"], "web");
    assert!(web["catalog_version"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(web["last_report"]["status"], "failed");
    let a = f.curl(
        Some("admin01"),
        &[],
        "/v1/reports?node=web01&status=failed&since=0",
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let reports: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert!(!reports.as_array().unwrap().is_empty(), "{reports}");
    assert_eq!(reports[0]["report"]["summary"]["failed"], 1);
    let a = f.curl(Some("admin01"), &[], "/v1/reports?status=changed");
    let reports: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert!(reports
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "changed"));
}

#[test]
fn a_revoked_certificate_is_refused_once_the_crl_changes() {
    let f = fixture();
    let ask = || {
        f.curl(
            Some("gone01"),
            &["-X", "POST", "--data-binary", "{}"],
            "/v1/catalog/gone01",
        )
    };
    assert_eq!(ask().status, 200);
    f.pki.revoke("gone01");
    let started = Instant::now();
    loop {
        let a = ask();
        // Refused: in the handshake (curl's 000) once the verifier has the new list, or
        // with 401 by the per-request check when that sees the new list first.
        if a.status == 0 || a.status == 401 {
            break;
        }
        assert_eq!(a.status, 200);
        assert!(
            started.elapsed() < DEADLINE,
            "still served after the revocation: {}",
            f.server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Others are still served.
    assert_eq!(web_catalog(f, &[]).status, 200);
}

#[test]
fn a_keep_alive_connection_is_checked_again_after_a_crl_change() {
    let f = fixture();
    let me = f.cert("gone02");
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &f.server.addr, "-CAfile"])
        .arg(f.pki.ca_cert())
        .arg("-cert")
        .arg(&me.0)
        .arg("-key")
        .arg(&me.1)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    let request = b"GET /v1/nodes HTTP/1.1\r\nHost: x\r\n\r\n";
    stdin.write_all(request).unwrap();
    stdin.flush().unwrap();
    let reloads = || f.server.log().matches("revocation list reloaded").count();
    // The first answer (403: not an admin) has come back once the server logged it.
    eventually("the first request is answered", &f.server, || {
        f.server.log().contains("manifest loaded")
    });
    std::thread::sleep(Duration::from_millis(500));
    let before = reloads();
    f.pki.revoke("gone02");
    eventually("the CRL is reloaded", &f.server, || reloads() > before);
    stdin.write_all(request).unwrap();
    drop(stdin);
    let out = client.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("HTTP/1.1 403"), "{text}");
    assert!(
        text.contains("HTTP/1.1 401"),
        "the second request on the connection: {text}"
    );
}

/// Polls `check` every 200 ms until it is true, failing after [`DEADLINE`].
fn eventually(what: &str, server: &Server, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < DEADLINE, "{what}: {}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn manifest_changes_are_picked_up_and_broken_ones_keep_the_last_good_program() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site.fleet");
    // Broken from the start: no program yet, catalogs are 422, health degraded.
    std::fs::write(
        &site,
        "node \"web01\" { file \"/etc/a\" { content = $nowhere } }\n",
    )
    .unwrap();
    let args = server_args(&f.pki, &f.server_cert, &site, tmp.path());
    let server = Server::start(args);
    let ca = f.pki.ca_cert();
    let web = f.cert("web01");
    let ask = || {
        curl(
            &ca,
            Some(&web),
            &["-X", "POST", "--data-binary", "{}"],
            &server.url("/v1/catalog/web01"),
        )
    };
    let health = || {
        let a = curl(&ca, None, &[], &server.url("/v1/health"));
        serde_json::from_slice::<serde_json::Value>(&a.body).unwrap()
    };
    let a = ask();
    assert_eq!(a.status, 422, "{}", a.text());
    assert!(a.text().contains("undefined-variable"), "{}", a.text());
    let h = health();
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(!h["diagnostics"].as_array().unwrap().is_empty(), "{h}");

    // Fixed: served.
    std::fs::write(
        &site,
        "node \"web01\" { file \"/etc/a\" { content = \"one\\n\" } }\n",
    )
    .unwrap();
    eventually("the fixed manifest is loaded", &server, || {
        ask().status == 200
    });
    assert_eq!(health()["status"], "ok");
    let first = ask().text();
    assert!(first.contains("one\\n"), "{first}");

    // A change reaches the next request.
    std::fs::write(
        &site,
        "node \"web01\" { file \"/etc/a\" { content = \"two\\n\" } }\n",
    )
    .unwrap();
    eventually("the change is served", &server, || {
        ask().text().contains("two\\n")
    });
    let good = ask().text();

    // Broken again: degraded, and the last good program is still served.
    std::fs::write(&site, "node \"web01\" { file \"/etc/a\" { content = } }\n").unwrap();
    eventually("health turns degraded", &server, || {
        health()["status"] == "degraded"
    });
    let h = health();
    assert!(h["diagnostics"][0]["code"].as_str().is_some(), "{h}");
    let a = ask();
    assert_eq!(a.status, 200);
    assert_eq!(a.text(), good);
}

#[test]
fn sighup_reloads_at_once() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site.fleet");
    std::fs::write(
        &site,
        "node \"web01\" { file \"/etc/a\" { content = \"one\\n\" } }\n",
    )
    .unwrap();
    let mut args = server_args(&f.pki, &f.server_cert, &site, tmp.path());
    // A slow poll: the change below is seen through the signal.
    let at = args.iter().position(|a| a == "--poll").unwrap();
    args[at + 1] = "5".into();
    let server = Server::start(args);
    let before = server.log().matches("manifest loaded").count();
    std::fs::write(
        &site,
        "node \"web01\" { file \"/etc/a\" { content = \"two\\n\" } }\n",
    )
    .unwrap();
    let pid = server.child.id() as i32;
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    eventually("the signal reloads", &server, || {
        server.log().matches("manifest loaded").count() > before
    });
}

#[test]
fn over_max_inflight_is_503_with_retry_after() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site.fleet");
    std::fs::write(
        &site,
        "node \"web01\" { file \"/etc/a\" { content = \"one\\n\" } }\n",
    )
    .unwrap();
    let mut args = server_args(&f.pki, &f.server_cert, &site, tmp.path());
    args.extend(["--max-inflight", "1"].map(String::from));
    let server = Server::start(args);
    // One request that never finishes its body holds the only slot.
    let web = f.cert("web01");
    let logs = tempfile::tempdir().unwrap();
    let slow_log = logs.path().join("s_client.log");
    let mut slow = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &server.addr, "-CAfile"])
        .arg(f.pki.ca_cert())
        .arg("-cert")
        .arg(&web.0)
        .arg("-key")
        .arg(&web.1)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&slow_log).unwrap())
        .spawn()
        .unwrap();
    let mut stdin = slow.stdin.take().unwrap();
    stdin
        .write_all(b"POST /v1/catalog/web01 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    stdin.flush().unwrap();
    let ask = || {
        curl(
            &f.pki.ca_cert(),
            Some(&web),
            &["-X", "POST", "--data-binary", "{}"],
            &server.url("/v1/catalog/web01"),
        )
    };
    // The slow request holds the slot once health counts it (asked before that, a request
    // of ours could take the slot and the slow one get the 503).
    let in_flight = || {
        let a = curl(&f.pki.ca_cert(), None, &[], &server.url("/v1/health"));
        serde_json::from_slice::<serde_json::Value>(&a.body).unwrap_or_default()["in_flight"]
            .as_u64()
    };
    eventually("the slow request is in flight", &server, || {
        assert!(
            slow.try_wait().unwrap().is_none(),
            "s_client ended: {}",
            std::fs::read_to_string(&slow_log).unwrap_or_default()
        );
        in_flight() == Some(1)
    });
    assert_eq!(ask().status, 503);
    let a = ask();
    assert!(
        a.headers.to_lowercase().contains("retry-after:"),
        "{}",
        a.headers
    );
    // Health stays up for load balancers.
    assert_eq!(
        curl(&f.pki.ca_cert(), None, &[], &server.url("/v1/health")).status,
        200
    );
    drop(stdin);
    let _ = slow.kill();
    let _ = slow.wait();
    eventually("the slot is free again", &server, || ask().status == 200);
    assert_eq!(in_flight(), Some(0));
    // The SQLite store lives in the checkout here: its writes are not manifest changes.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        server.log().matches("manifest loaded").count(),
        1,
        "{}",
        server.log()
    );
}

#[test]
fn sigterm_stops_gracefully() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site.fleet");
    std::fs::write(&site, "node \"web01\" { }\n").unwrap();
    let mut server = Server::start(server_args(&f.pki, &f.server_cert, &site, tmp.path()));
    let pid = server.child.id() as i32;
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}: {}", server.log());
    assert!(server.log().contains("stopping"));
}

#[test]
fn a_store_that_cannot_be_opened_is_a_clear_error() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let mut args = server_args(&f.pki, &f.server_cert, &f.site, tmp.path());
    let at = args.iter().position(|a| a == "--store").unwrap();
    args[at + 1] = "sqlite:/nonexistent-dir/x.db".into();
    let r = support::fleet(std::iter::once("serve".to_string()).chain(args));
    assert_eq!(r.status.code(), Some(1), "{}", r.describe());
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
}
