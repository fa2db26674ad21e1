//! `fleet agent` for real (REMOTE.md "The agent"): agents applying into sandbox roots from
//! real `fleet serve` processes on 127.0.0.1, certificates from `fleet ca`. What a real
//! server cannot be made to do (lie about a catalog or a blob, answer 503 on cue) is done by
//! a small TLS server in Python with the fleet CA's server certificate: the agent must refuse
//! a server that lies, whoever runs it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::serve::{curl, Pki, Server};
use crate::support;

/// The site every agent test serves (each test its own copy, so it can change it): web01
/// with a `source` file (content fetched by hash) and an inline one, db01, app nodes by
/// regex.
const SITE: &str = r#"
node "web01" {
  file "/etc/motd" { source = "motd" }
  file "/etc/hello" { content = "hi\n" }
}
node "db01" {
  file "/etc/db.conf" { source = "db.conf" }
}
node "revoked01" {
  file "/etc/r.conf" { content = "r\n" }
}
node /^app\d+$/ {
  file "/etc/app.conf" { content = "app\n" }
}
"#;

/// The certificates of the agent tests, from a CA of their own (revocations here do not
/// disturb the serve tests' shared server).
struct Certs {
    _tmp: tempfile::TempDir,
    pki: Pki,
    other: Pki,
    server: (PathBuf, PathBuf),
}

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let pki = Pki::init(&tmp.path().join("ca"));
        let other = Pki::init(&tmp.path().join("other-ca"));
        let server = pki.issue(
            "localhost",
            &["--server", "--ip", "127.0.0.1", "--dns", "localhost"],
        );
        for node in ["web01", "db01", "app07", "web02", "revoked01", "admin01"] {
            pki.issue(node, &[]);
        }
        pki.issue("expired01", &["--days", "-1"]);
        pki.issue("app50", &["--days", "10"]);
        other.issue("web01", &[]);
        Certs {
            _tmp: tmp,
            pki,
            other,
            server,
        }
    })
}

fn cert_of(pki: &Pki, name: &str) -> (PathBuf, PathBuf) {
    let issued = pki.dir.join("issued");
    (
        issued.join(format!("{name}.crt")),
        issued.join(format!("{name}.key")),
    )
}

/// A manifest checkout and a `fleet serve` on it with a SQLite store beside it.
struct Site {
    dir: tempfile::TempDir,
    server: Option<Server>,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let checkout = dir.path().join("site");
        std::fs::create_dir(&checkout).unwrap();
        std::fs::write(checkout.join("motd"), "welcome\n").unwrap();
        std::fs::write(checkout.join("db.conf"), "max_connections = 100\n").unwrap();
        std::fs::write(checkout.join("site.fleet"), SITE).unwrap();
        let mut site = Site { dir, server: None };
        site.start();
        site
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join("site").join(rel)
    }

    /// (Re)starts the server on the same checkout and store (a new port).
    fn start(&mut self) {
        self.start_with(&[]);
    }

    /// The store's URL (for `fleet ca sign` and `list`).
    fn store(&self) -> String {
        format!("sqlite:{}", self.dir.path().join("server.db").display())
    }

    /// (Re)starts the server with `extra` arguments.
    fn start_with(&mut self, extra: &[String]) {
        let c = certs();
        let s = |p: &Path| p.display().to_string();
        let mut args = vec![
            "--manifest".into(),
            s(&self.path("site.fleet")),
            "--tls-cert".into(),
            s(&c.server.0),
            "--tls-key".into(),
            s(&c.server.1),
            "--ca-cert".into(),
            s(&c.pki.ca_cert()),
            "--crl".into(),
            s(&c.pki.crl()),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--store".into(),
            format!("sqlite:{}", self.dir.path().join("server.db").display()),
            "--admin".into(),
            "admin01".into(),
            "--poll".into(),
            "1".into(),
        ];
        args.extend_from_slice(extra);
        self.server = Some(Server::start(args));
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("the server is running")
    }

    fn url(&self) -> String {
        format!("https://{}", self.server().addr)
    }

    /// The reports the store holds for `node`, newest first (read as admin01).
    fn reports(&self, node: &str) -> Vec<serde_json::Value> {
        let c = certs();
        let a = curl(
            &c.pki.ca_cert(),
            Some(&cert_of(&c.pki, "admin01")),
            &[],
            &self.server().url(&format!("/v1/reports?node={node}")),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        // The store lists them as they arrived.
        let mut rows: Vec<serde_json::Value> = serde_json::from_slice(&a.body).unwrap();
        rows.reverse();
        rows
    }
}

/// A sandbox root for one agent, with `/etc` in it.
fn new_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    root
}

/// `fleet agent --once` as `who` (a certificate of `pki`) into `root` against `servers`.
fn agent(pki: &Pki, who: &str, root: &Path, servers: &[String], extra: &[&str]) -> support::Run {
    let (crt, key) = cert_of(pki, who);
    let mut cmd = support::command();
    cmd.arg("agent");
    for s in servers {
        cmd.arg("--server").arg(s);
    }
    cmd.arg("--cert")
        .arg(crt)
        .arg("--key")
        .arg(key)
        .arg("--ca-cert")
        .arg(certs().pki.ca_cert())
        .arg("--root")
        .arg(root)
        .args(["--once", "--no-fsync", "--connect-timeout", "5"])
        .args(extra);
    support::run_within(&mut cmd, Duration::from_secs(120)).unwrap()
}

fn code(r: &support::Run) -> i32 {
    r.status.code().unwrap_or(-1)
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path.trim_start_matches('/'))).unwrap_or_default()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

const CACHE: &str = "var/lib/fleet/agent";

/// Polls `check` until it holds (the server reloads on its own schedule).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn three_agents_converge_from_one_server() {
    let site = Site::new();
    let c = certs();
    let servers = [site.url()];
    for node in ["web01", "db01", "app07"] {
        let root = new_root();
        let first = agent(&c.pki, node, root.path(), &servers, &[]);
        assert_eq!(code(&first), 2, "{node} first run: {}", first.describe());
        let second = agent(&c.pki, node, root.path(), &servers, &[]);
        assert_eq!(code(&second), 0, "{node} second run: {}", second.describe());
        assert!(
            second.stderr.contains("unchanged"),
            "{node}: the second fetch is a 304: {}",
            second.stderr
        );
        match node {
            "web01" => {
                assert_eq!(read(root.path(), "/etc/motd"), "welcome\n");
                assert_eq!(read(root.path(), "/etc/hello"), "hi\n");
            }
            "db01" => assert_eq!(read(root.path(), "/etc/db.conf"), "max_connections = 100\n"),
            _ => assert_eq!(read(root.path(), "/etc/app.conf"), "app\n"),
        }
        // The cache is private: the directory 0700, the catalog and the blobs 0600.
        let cache = root.path().join(CACHE);
        assert_eq!(mode(&cache), 0o700);
        assert_eq!(mode(&cache.join("catalog.json")), 0o600);
        for blob in std::fs::read_dir(cache.join("content")).unwrap() {
            assert_eq!(mode(&blob.unwrap().path()), 0o600);
        }
        // Both runs' reports reached the store; the first changed, the second did not.
        let reports = site.reports(node);
        assert_eq!(reports.len(), 2, "{reports:?}");
        assert_eq!(reports[0]["report"]["summary"]["changed"], 0, "{reports:?}");
        assert!(reports[1]["report"]["summary"]["changed"].as_u64().unwrap() > 0);
        assert!(reports[0]["report"]["catalog_version"].is_string());
        assert!(reports[0]["report"].get("cached_catalog").is_none());
    }
}

#[test]
fn a_manifest_change_reaches_the_next_run_and_a_broken_one_keeps_the_cached_catalog() {
    let mut site = Site::new();
    let c = certs();
    let servers = [site.url()];
    let root = new_root();
    let first = agent(&c.pki, "web01", root.path(), &servers, &[]);
    assert_eq!(code(&first), 2, "{}", first.describe());
    // A new motd: the server reloads within its poll; the next run fetches the new blob.
    std::fs::write(site.path("motd"), "welcome, again\n").unwrap();
    eventually("the new motd", || {
        let r = agent(&c.pki, "web01", root.path(), &servers, &[]);
        code(&r) == 2 && read(root.path(), "/etc/motd") == "welcome, again\n"
    });
    // The old blob left the cache with the old catalog.
    let blobs = std::fs::read_dir(root.path().join(CACHE).join("content"))
        .unwrap()
        .count();
    assert_eq!(blobs, 1, "only the current catalog's content is kept");
    // A broken manifest: the server keeps serving the last good program (health says
    // degraded), so the agent still gets its catalog, which puts back a file changed behind
    // its back.
    std::fs::write(
        site.path("site.fleet"),
        "node \"web01\" { file \"/etc/x\" { ensure = \n",
    )
    .unwrap();
    eventually("the degraded health", || {
        let h = curl(
            &c.pki.ca_cert(),
            None,
            &[],
            &site.server().url("/v1/health"),
        );
        h.text().contains("degraded")
    });
    std::fs::write(root.path().join("etc/motd"), "tampered\n").unwrap();
    let r = agent(&c.pki, "web01", root.path(), &servers, &[]);
    assert_eq!(code(&r), 2, "{}", r.describe());
    assert!(r.stderr.contains("unchanged"), "{}", r.stderr);
    assert_eq!(read(root.path(), "/etc/motd"), "welcome, again\n");
    // A server started on the broken checkout has no good program: 422 with the
    // diagnostics, and the agent applies its cached catalog; the report says so.
    site.start();
    std::fs::write(root.path().join("etc/motd"), "tampered\n").unwrap();
    let r = agent(&c.pki, "web01", root.path(), &[site.url()], &[]);
    assert_eq!(code(&r), 2, "{}", r.describe());
    assert!(r.stderr.contains("manifest has errors"), "{}", r.stderr);
    assert!(
        r.stderr.contains("site.fleet:"),
        "the diagnostics: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("applying the cached catalog"),
        "{}",
        r.stderr
    );
    assert_eq!(read(root.path(), "/etc/motd"), "welcome, again\n");
    let last = &site.reports("web01")[0]["report"];
    assert_eq!(last["cached_catalog"], true, "{last}");
}

#[test]
fn with_every_server_down_the_cached_catalog_applies_and_reports_wait() {
    let mut site = Site::new();
    let c = certs();
    let root = new_root();
    // No catalog yet and no server: exit 1, nothing changed.
    let dead = format!("https://127.0.0.1:{}", closed_port());
    let none = agent(
        &c.pki,
        "web01",
        root.path(),
        std::slice::from_ref(&dead),
        &[],
    );
    assert_eq!(code(&none), 1, "{}", none.describe());
    assert!(none.stderr.contains("no cached catalog"), "{}", none.stderr);
    assert!(!root.path().join("etc/motd").exists());
    let first = agent(&c.pki, "web01", root.path(), &[site.url()], &[]);
    assert_eq!(code(&first), 2, "{}", first.describe());
    let before = site.reports("web01").len();
    // Every server down: the cached catalog repairs the file; the report is queued.
    let old = site.url();
    site.server = None;
    std::fs::write(root.path().join("etc/motd"), "drift\n").unwrap();
    let down = agent(
        &c.pki,
        "web01",
        root.path(),
        &[old.clone(), dead.clone()],
        &[],
    );
    assert_eq!(code(&down), 2, "{}", down.describe());
    assert!(
        down.stderr.contains("no server answered"),
        "{}",
        down.stderr
    );
    assert_eq!(read(root.path(), "/etc/motd"), "welcome\n");
    let queue = root.path().join(CACHE).join("reports");
    let queued: Vec<_> = std::fs::read_dir(&queue).unwrap().collect();
    assert_eq!(queued.len(), 1, "one report waits");
    let path = queued[0].as_ref().unwrap().path();
    assert_eq!(mode(&path), 0o600);
    let waiting: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(waiting["cached_catalog"], true, "{waiting}");
    // The server is back (another port, the same store): the next run delivers both.
    site.start();
    let back = agent(&c.pki, "web01", root.path(), &[site.url()], &[]);
    assert_eq!(code(&back), 0, "{}", back.describe());
    assert!(
        back.stderr.contains("sent 1 queued report"),
        "{}",
        back.stderr
    );
    assert_eq!(std::fs::read_dir(&queue).unwrap().count(), 0);
    let reports = site.reports("web01");
    assert_eq!(reports.len(), before + 2, "{reports:?}");
    assert!(reports
        .iter()
        .any(|r| r["report"]["cached_catalog"] == true));
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_dead_server_fails_over_to_the_next() {
    let site = Site::new();
    let c = certs();
    let dead = format!("https://127.0.0.1:{}", closed_port());
    // The list is rotated at random: whichever comes first, the run succeeds.
    for _ in 0..4 {
        let root = new_root();
        let r = agent(
            &c.pki,
            "app07",
            root.path(),
            &[dead.clone(), site.url()],
            &[],
        );
        assert_eq!(code(&r), 2, "{}", r.describe());
        assert_eq!(read(root.path(), "/etc/app.conf"), "app\n");
    }
}

#[test]
fn refused_certificates_stop_the_run_before_anything_is_applied() {
    let site = Site::new();
    let c = certs();
    let servers = [site.url()];
    // Another node's certificate: 403, nothing applied, nothing cached.
    let root = new_root();
    let r = agent(&c.pki, "web02", root.path(), &servers, &["--node", "web01"]);
    assert_eq!(code(&r), 1, "{}", r.describe());
    assert!(r.stderr.contains("403"), "{}", r.stderr);
    assert!(!root.path().join(CACHE).join("catalog.json").exists());
    // An expired certificate and one from another CA: the handshake refuses them.
    for (pki, who) in [(&c.pki, "expired01"), (&c.other, "web01")] {
        let root = new_root();
        let r = agent(pki, who, root.path(), &servers, &["--node", "web01"]);
        assert_eq!(code(&r), 1, "{who}: {}", r.describe());
        assert!(
            r.stderr.contains("refused this node's certificate"),
            "{who}: {}",
            r.stderr
        );
        assert!(!root.path().join("etc/motd").exists());
    }
    // No node block for the certificate's own name: 404, with the server's diagnostic.
    let root = new_root();
    let r = agent(&c.pki, "web02", root.path(), &servers, &[]);
    assert_eq!(code(&r), 1, "{}", r.describe());
    assert!(
        r.stderr.contains("has no catalog for web02"),
        "{}",
        r.stderr
    );
    // Revoked: a run works, then `fleet ca revoke`; from the server's next look at the CRL
    // (every second here, at most 5 s) the agent is refused, and its cached catalog is not
    // applied either.
    let root = new_root();
    let before = agent(&c.pki, "revoked01", root.path(), &servers, &[]);
    assert_eq!(code(&before), 2, "{}", before.describe());
    c.pki.revoke("revoked01");
    let revoked_at = Instant::now();
    eventually("the revocation", || {
        let r = agent(&c.pki, "revoked01", root.path(), &servers, &[]);
        code(&r) == 1 && r.stderr.contains("refused this node's certificate")
    });
    assert!(
        revoked_at.elapsed() < Duration::from_secs(30),
        "the revocation took {:?}",
        revoked_at.elapsed()
    );
    std::fs::write(root.path().join("etc/r.conf"), "drift\n").unwrap();
    let r = agent(&c.pki, "revoked01", root.path(), &servers, &[]);
    assert_eq!(code(&r), 1, "{}", r.describe());
    assert_eq!(
        read(root.path(), "/etc/r.conf"),
        "drift\n",
        "nothing applied"
    );
}

/// The lying server (Python's `ssl` and `http.server`): `forged` serves a catalog changed
/// after it was sealed, `badcontent` the right catalog with wrong bytes for its blob,
/// `busy` a 503 with `Retry-After: 1` for the first catalog request and then the truth,
/// `stall` the head of a catalog and then nothing.
const LIAR: &str = r#"
import http.server, json, os, ssl, sys, time
mode, cert, key, catalog, content = sys.argv[1:6]
state = {"busy": 1}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def answer(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/v1/report/"):
            return self.answer(204)
        if mode == "stall":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"{")
            self.wfile.flush()
            time.sleep(60)
            return
        if mode == "busy" and state["busy"] > 0:
            state["busy"] -= 1
            return self.answer(503, b"busy\n", [("Retry-After", "1")])
        doc = json.load(open(catalog))
        if mode == "forged":
            for r in doc["resources"]:
                if r["title"] == "/etc/hello":
                    r["params"]["content"] = "owned\n"
        self.answer(200, json.dumps(doc).encode())
    def do_GET(self):
        sha = self.path.rsplit("/", 1)[-1]
        if mode == "badcontent":
            return self.answer(200, b"not what the hash says\n")
        p = os.path.join(content, sha)
        if os.path.exists(p):
            return self.answer(200, open(p, "rb").read())
        self.answer(404)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

struct Liar(Child, u16);

impl Drop for Liar {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the lying server in `mode`, serving web01's real catalog compiled from SITE.
fn liar(dir: &Path, mode: &str) -> Liar {
    let c = certs();
    let site = dir.join("site.fleet");
    std::fs::write(&site, SITE).unwrap();
    std::fs::write(dir.join("motd"), "welcome\n").unwrap();
    std::fs::write(dir.join("db.conf"), "x\n").unwrap();
    std::fs::create_dir_all(dir.join("facts")).unwrap();
    std::fs::write(dir.join("facts/web01.json"), r#"{"hostname":"web01"}"#).unwrap();
    let out = dir.join("out");
    let r = support::fleet([
        "compile".as_ref(),
        "--all".as_ref(),
        "--facts".as_ref(),
        dir.join("facts").as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        site.as_os_str(),
    ]);
    assert!(r.status.success(), "{}", r.describe());
    let script = dir.join("liar.py");
    std::fs::write(&script, LIAR).unwrap();
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(mode)
        .arg(&c.server.0)
        .arg(&c.server.1)
        .arg(out.join("web01.json"))
        .arg(out.join("content"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the liar's port");
    Liar(child, port)
}

#[test]
fn a_catalog_or_content_that_fails_its_hash_is_refused_and_nothing_changes() {
    let c = certs();
    for mode in ["forged", "badcontent"] {
        let tmp = tempfile::tempdir().unwrap();
        let l = liar(tmp.path(), mode);
        let root = new_root();
        let url = format!("https://127.0.0.1:{}", l.1);
        let r = agent(&c.pki, "web01", root.path(), &[url], &[]);
        assert_eq!(code(&r), 1, "{mode}: {}", r.describe());
        let why = if mode == "forged" {
            "not the sha256 of its resources"
        } else {
            "has the sha256"
        };
        assert!(r.stderr.contains(why), "{mode}: {}", r.stderr);
        assert!(r.stderr.contains("nothing applied"), "{mode}: {}", r.stderr);
        assert!(!root.path().join("etc/hello").exists(), "{mode}: applied");
        assert!(!root.path().join("etc/motd").exists(), "{mode}: applied");
        let cache = root.path().join(CACHE);
        assert!(!cache.join("catalog.json").exists(), "{mode}: cached");
        let blobs = std::fs::read_dir(cache.join("content")).map_or(0, |d| d.count());
        assert_eq!(blobs, 0, "{mode}: a bad blob was kept");
    }
}

#[test]
fn a_busy_server_is_asked_again_after_its_retry_after() {
    let c = certs();
    let tmp = tempfile::tempdir().unwrap();
    let l = liar(tmp.path(), "busy");
    let root = new_root();
    let started = Instant::now();
    let r = agent(
        &c.pki,
        "web01",
        root.path(),
        &[format!("https://127.0.0.1:{}", l.1)],
        &[],
    );
    assert_eq!(code(&r), 2, "{}", r.describe());
    assert!(r.stderr.contains("is busy (503)"), "{}", r.stderr);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After not honoured"
    );
    assert_eq!(read(root.path(), "/etc/motd"), "welcome\n");
}

#[test]
fn interval_runs_again_until_sigterm() {
    let site = Site::new();
    let c = certs();
    let root = new_root();
    let (crt, key) = cert_of(&c.pki, "app07");
    let mut child = support::command()
        .arg("agent")
        .arg("--server")
        .arg(site.url())
        .arg("--cert")
        .arg(crt)
        .arg("--key")
        .arg(key)
        .arg("--ca-cert")
        .arg(c.pki.ca_cert())
        .arg("--root")
        .arg(root.path())
        .args(["--no-fsync", "--interval", "1s", "--splay", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("three runs", || site.reports("app07").len() >= 3);
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let reports = site.reports("app07");
    // Only the first run changed anything.
    let changed: Vec<u64> = reports
        .iter()
        .map(|r| r["report"]["summary"]["changed"].as_u64().unwrap())
        .collect();
    assert_eq!(changed.iter().filter(|&&n| n > 0).count(), 1, "{changed:?}");
}

#[test]
fn bad_invocations_are_exit_2() {
    let c = certs();
    let ca = c.pki.ca_cert();
    let ca = ca.to_str().unwrap();
    for args in [
        vec!["agent", "--ca-cert", ca],
        vec!["agent", "--server", "http://x:1", "--ca-cert", ca],
        vec![
            "agent",
            "--server",
            "https://x:1",
            "--ca-cert",
            ca,
            "--interval",
            "soon",
        ],
        vec![
            "agent",
            "--server",
            "https://x:1",
            "--ca-cert",
            ca,
            "--token",
            "t",
        ],
    ] {
        let r = support::fleet(&args);
        assert_eq!(code(&r), 2, "{args:?}: {}", r.describe());
    }
    // No certificate and no --bootstrap: a clear error.
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap();
    let r = support::fleet([
        "agent",
        "--server",
        "https://127.0.0.1:1",
        "--ca-cert",
        ca,
        "--node",
        "web01",
        "--state-dir",
        state,
    ]);
    assert_eq!(code(&r), 1, "{}", r.describe());
    assert!(r.stderr.contains("give --cert and --key"), "{}", r.stderr);
}

#[test]
fn a_server_that_stalls_mid_answer_is_given_up_on() {
    let c = certs();
    let tmp = tempfile::tempdir().unwrap();
    let l = liar(tmp.path(), "stall");
    let root = new_root();
    let started = Instant::now();
    let url = format!("https://127.0.0.1:{}", l.1);
    let r = agent(&c.pki, "web01", root.path(), &[url], &["--timeout", "2"]);
    assert_eq!(code(&r), 1, "{}", r.describe());
    assert!(r.stderr.contains("stalled for 2 s"), "{}", r.stderr);
    assert!(r.stderr.contains("no cached catalog"), "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A site whose server signs requests: `--ca-key` and an autosign file with `rules`.
fn signing_site(rules: &str) -> (Site, PathBuf) {
    let c = certs();
    let mut site = Site::new();
    let policy = site.dir.path().join("autosign.conf");
    std::fs::write(&policy, rules).unwrap();
    site.start_with(&[
        "--ca-key".into(),
        c.pki.dir.join("ca.key").display().to_string(),
        "--autosign".into(),
        policy.display().to_string(),
    ]);
    (site, policy)
}

/// `fleet agent --bootstrap --node NODE` (no certificate given: the cache's own) into `root`.
fn bootstrap_command(site: &Site, node: &str, root: &Path, extra: &[&str]) -> Command {
    let mut cmd = support::command();
    cmd.arg("agent")
        .arg("--server")
        .arg(site.url())
        .arg("--ca-cert")
        .arg(certs().pki.ca_cert())
        .arg("--root")
        .arg(root)
        .args(["--bootstrap", "--node", node, "--once", "--no-fsync"])
        .args(extra);
    cmd
}

fn bootstrap(site: &Site, node: &str, root: &Path, extra: &[&str]) -> support::Run {
    let mut cmd = bootstrap_command(site, node, root, extra);
    support::run_within(&mut cmd, Duration::from_secs(120)).unwrap()
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn ca_cmd(args: &[&str]) -> support::Run {
    let dir = certs().pki.dir.display().to_string();
    let mut all: Vec<&str> = vec!["ca"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--ca", &dir]);
    support::fleet(&all)
}

#[test]
fn bootstrap_autosigned_by_a_glob_and_enrolled_once() {
    let (site, _) = signing_site("# nodes that enrol themselves\napp1*\n");
    let c = certs();
    let root = new_root();
    let r = bootstrap(&site, "app11", root.path(), &[]);
    assert_eq!(code(&r), 2, "{}", r.describe());
    assert!(site
        .server()
        .log()
        .contains("signed the certificate request of app11"));
    let ssl = root.path().join(CACHE).join("ssl");
    let (crt, key) = (ssl.join("app11.crt"), ssl.join("app11.key"));
    assert_eq!(mode(&key), 0o600, "the key is private");
    assert_eq!(mode(&ssl), 0o700);
    let ca = c.pki.ca_cert();
    let (ok, text) = openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        crt.to_str().unwrap(),
    ]);
    assert!(ok, "openssl verify: {text}");
    // The certificate is for the key made on the node (which never left it).
    let (_, cert_key) = openssl(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-pubkey"]);
    let (_, own_key) = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
    assert_eq!(cert_key, own_key);
    assert_eq!(read(root.path(), "/etc/app.conf"), "app\n");
    // The next run uses it: nothing to change.
    let again = bootstrap(&site, "app11", root.path(), &[]);
    assert_eq!(code(&again), 0, "{}", again.describe());
    // Another machine asking for app11's certificate is refused: one certificate a name.
    let other = new_root();
    let r = bootstrap(&site, "app11", other.path(), &[]);
    assert_eq!(code(&r), 1, "{}", r.describe());
    assert!(
        r.stderr.contains("already has a signed certificate"),
        "{}",
        r.stderr
    );
    // `fleet ca list --store` records the server's signature in the index; `ca revoke
    // --store` revokes it and lets the name enrol again (with a new key and serial).
    let store = site.store();
    let list = ca_cmd(&["list", "--store", &store]);
    assert!(list.status.success(), "{}", list.describe());
    assert!(
        list.stdout.lines().any(|l| l.starts_with("app11 ")),
        "{}",
        list.stdout
    );
    let rev = ca_cmd(&["revoke", "app11", "--store", &store]);
    assert!(rev.status.success(), "{}", rev.describe());
    let r = bootstrap(&site, "app11", other.path(), &[]);
    assert_eq!(
        code(&r),
        2,
        "re-enrolment after the revocation: {}",
        r.describe()
    );
}

#[test]
fn bootstrap_queued_until_fleet_ca_sign() {
    let (site, _) = signing_site("app1*\n");
    let root = new_root();
    // app20 matches no rule: the request waits in the store for an admin.
    let child = bootstrap_command(&site, "app20", root.path(), &["--wait-for-cert", "2m"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let store = site.store();
    let mut listed = String::new();
    eventually("the pending request", || {
        let l = ca_cmd(&["list", "--store", &store, "--format", "json"]);
        listed = l.stdout.clone();
        l.stdout.contains("\"pending\"") && l.stdout.contains("app20")
    });
    let pending: serde_json::Value = listed
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["status"] == "pending" && v["name"] == "app20")
        .unwrap();
    let fingerprint = pending["sha256"].as_str().unwrap().to_string();
    // Nothing pending for another name: an error, exit 1.
    let none = ca_cmd(&["sign", "nobody42", "--store", &store]);
    assert_eq!(code(&none), 1, "{}", none.describe());
    assert!(
        none.stderr.contains("no pending certificate request"),
        "{}",
        none.stderr
    );
    let signed = ca_cmd(&["sign", "app20", "--store", &store]);
    assert!(signed.status.success(), "{}", signed.describe());
    assert!(signed.stdout.contains(&fingerprint), "{}", signed.stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // The agent showed the same fingerprint the admin signed.
    assert!(stderr.contains(&fingerprint), "{stderr}");
    assert_eq!(read(root.path(), "/etc/app.conf"), "app\n");
    let list = ca_cmd(&["list", "--store", &store]);
    assert!(
        list.stdout.lines().any(|l| l.starts_with("app20 ")),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout.contains("no pending certificate requests"),
        "{}",
        list.stdout
    );
}

#[test]
fn enrolment_tokens_are_one_time_and_the_policy_is_reread() {
    let (site, policy) = signing_site("");
    // `fleet ca token`, then `fleet ca tokens` into the running server's autosign file.
    let t = ca_cmd(&["token", "app30"]);
    assert!(t.status.success(), "{}", t.describe());
    let secret = t.stdout.trim().to_string();
    let lines = ca_cmd(&["tokens"]);
    std::fs::write(
        &policy,
        format!("{}token:shared-enrolment-secret\n", lines.stdout),
    )
    .unwrap();
    eventually("the reloaded policy", || {
        site.server().log().contains("autosign file reloaded")
    });
    let root = new_root();
    let r = bootstrap(&site, "app30", root.path(), &["--token", &secret]);
    assert_eq!(code(&r), 2, "{}", r.describe());
    // The token is for app30 only: another node with it is queued, not signed.
    let other = new_root();
    let r = bootstrap(
        &site,
        "app31",
        other.path(),
        &["--token", &secret, "--wait-for-cert", "1s"],
    );
    assert_eq!(code(&r), 1, "{}", r.describe());
    assert!(r.stderr.contains("was not signed within"), "{}", r.stderr);
    // A token for any node signs once; the second request with it is refused (403).
    let tmp = tempfile::tempdir().unwrap();
    let csr = |name: &str| {
        let (k, c) = (
            tmp.path().join(format!("{name}.key")),
            tmp.path().join(format!("{name}.csr")),
        );
        let (ok, text) = openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            k.to_str().unwrap(),
            "-out",
            c.to_str().unwrap(),
        ]);
        assert!(ok, "{text}");
        format!("@{}", c.display())
    };
    let ca = certs().pki.ca_cert();
    let post = |name: &str, body: &str, extra: &[&str]| {
        let mut args = vec!["-X", "POST", "--data-binary", body];
        args.extend_from_slice(extra);
        curl(
            &ca,
            None,
            &args,
            &site.server().url(&format!("/v1/csr/{name}")),
        )
    };
    let first = post(
        "app40",
        &csr("app40"),
        &["-H", "X-Fleet-Token: shared-enrolment-secret"],
    );
    assert_eq!(first.status, 200, "{}", first.text());
    assert!(first.text().starts_with("-----BEGIN CERTIFICATE-----"));
    let second = post(
        "app41",
        &csr("app41"),
        &["-H", "X-Fleet-Token: shared-enrolment-secret"],
    );
    assert_eq!(second.status, 403, "{}", second.text());
    assert!(second.text().contains("used already"), "{}", second.text());
    // Bad requests: the request's name is not the path's, not a request at all.
    let mismatch = post("app42", &csr("app43"), &[]);
    assert_eq!(mismatch.status, 400, "{}", mismatch.text());
    assert!(
        mismatch.text().contains("not \"app42\""),
        "{}",
        mismatch.text()
    );
    let garbage = post("app42", "hello", &[]);
    assert_eq!(garbage.status, 400, "{}", garbage.text());
    // A broken policy file keeps the old policy and says so.
    std::fs::write(&policy, "token:\n").unwrap();
    eventually("the refused policy", || {
        site.server().log().contains("autosign file not reloaded")
    });
}

#[test]
fn autosign_needs_the_ca_key() {
    let c = certs();
    let s = |p: &Path| p.display().to_string();
    let r = support::fleet([
        "serve",
        "--manifest",
        "x.fleet",
        "--tls-cert",
        &s(&c.server.0),
        "--tls-key",
        &s(&c.server.1),
        "--ca-cert",
        &s(&c.pki.ca_cert()),
        "--listen",
        "127.0.0.1:0",
        "--autosign",
        "policy",
    ]);
    assert_eq!(code(&r), 2, "{}", r.describe());
    assert!(r.stderr.contains("--ca-key"), "{}", r.stderr);
}

#[test]
fn a_certificate_expiring_within_30_days_is_said_in_the_report() {
    let site = Site::new();
    let root = new_root();
    let r = agent(&certs().pki, "app50", root.path(), &[site.url()], &[]);
    assert_eq!(code(&r), 2, "{}", r.describe());
    assert!(r.stderr.contains("expires in"), "{}", r.stderr);
    let report = &site.reports("app50")[0]["report"];
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("app50 expires in 9 days")
                || w.as_str().unwrap().contains("app50 expires in 10 days")),
        "{report}"
    );
}

/// A TCP proxy to `to` that closes every other connection at once (the first one included),
/// as a balancer does whose upstream died during the handshake.
fn dropping_proxy(to: std::net::SocketAddr) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (i, conn) in l.incoming().enumerate() {
            let Ok(client) = conn else { continue };
            if i % 2 == 0 {
                drop(client);
                continue;
            }
            let Ok(server) = std::net::TcpStream::connect(to) else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c, mut s) = (client, server);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
                let _ = s2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s, &mut c);
                let _ = c.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

#[test]
fn a_handshake_broken_off_by_a_balancer_is_tried_once_more() {
    let site = Site::new();
    let c = certs();
    let to: std::net::SocketAddr = site.url().trim_start_matches("https://").parse().unwrap();
    let proxy = dropping_proxy(to);
    let root = new_root();
    let r = agent(&c.pki, "app07", root.path(), &[proxy], &[]);
    assert_eq!(code(&r), 2, "{}", r.describe());
    assert!(!r.stderr.contains("cached"), "{}", r.stderr);
    assert_eq!(read(root.path(), "/etc/app.conf"), "app\n");
}

/// The last step of an answer file, end to end: `fleet provision --catalog-server` renders
/// `{{ server.enrol }}`, `fleet provision serve` serves the binary and the CA certificate,
/// and the script, run against a sandbox as the installed system, installs fleet, enrols
/// with the node's one-time token (the server autosigns it) and enables the agent's unit.
#[test]
fn an_installed_machine_enrols_with_its_token_from_the_answer_file() {
    let c = certs();
    let t = ca_cmd(&["token", "app41"]);
    assert!(t.status.success(), "{}", t.describe());
    let secret = t.stdout.trim().to_string();
    let (site, _) = signing_site(&ca_cmd(&["tokens"]).stdout);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("nb")).unwrap();
    std::fs::write(d.join("nb/linux"), "k\n").unwrap();
    std::fs::write(d.join("nb/initrd"), "i\n").unwrap();
    std::fs::write(d.join("enrol.j2"), "{{ server.enrol }}\n").unwrap();
    std::fs::write(
        d.join("site.fleet"),
        "provision \"deb\" { kernel = \"nb/linux\", initrd = \"nb/initrd\", kind = preseed, \
         answer = template(\"enrol.j2\") }\n\
         node \"app41\" { provision { mac = \"52:54:00:aa:41:01\", ip = \"10.9.0.41/24\", profile = \"deb\" } }\n",
    )
    .unwrap();
    std::fs::write(d.join("tokens"), format!("app41 {secret}\n")).unwrap();
    let port = closed_port();
    let http = format!("http://127.0.0.1:{port}");
    let ca = c.pki.ca_cert().display().to_string();
    let r = support::fleet_in(
        d,
        [
            "provision",
            "--out",
            "out",
            "--server-ip",
            "127.0.0.1",
            "--http",
            &http,
            "--catalog-server",
            &site.url(),
            "--ca-cert",
            &ca,
            "--tokens",
            "tokens",
            "site.fleet",
        ],
    );
    assert_eq!(code(&r), 0, "{}", r.describe());
    let script = std::fs::read_to_string(d.join("out/http/answers/app41")).unwrap();
    assert!(!script.contains('\''), "{script}");
    assert!(
        script.contains(&format!("--token \"{secret}\"")),
        "{script}"
    );
    let mut serve = Command::new(support::bin())
        .args(["provision", "serve", "--out"])
        .arg(d.join("out"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("provision serve listens", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let target = new_root();
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(&script).env("FLEET_TARGET", target.path());
    let run = support::run_within(&mut sh, Duration::from_secs(180)).unwrap();
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(run.status.success(), "{}", run.describe());
    let t = target.path();
    let installed = std::fs::metadata(t.join("usr/local/bin/fleet")).unwrap();
    assert_eq!(
        installed.len(),
        std::fs::metadata(support::bin()).unwrap().len()
    );
    assert_eq!(mode(&t.join("usr/local/bin/fleet")), 0o755);
    assert!(site
        .server()
        .log()
        .contains("signed the certificate request of app41"));
    let crt = t.join(CACHE).join("ssl/app41.crt");
    let (ok, text) = openssl(&["verify", "-CAfile", &ca, crt.to_str().unwrap()]);
    assert!(ok, "openssl verify: {text}");
    // --noop at install time: the catalog is fetched, nothing applied before the first boot.
    assert!(t.join(CACHE).join("catalog.json").is_file());
    assert!(!t.join("etc/app.conf").exists());
    let unit = read(t, "/etc/systemd/system/fleet-agent.service");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/fleet agent --node app41 --server https://"),
        "{unit}"
    );
    assert!(
        unit.contains("--cert /var/lib/fleet/agent/ssl/app41.crt"),
        "{unit}"
    );
    let wants = t.join("etc/systemd/system/multi-user.target.wants/fleet-agent.service");
    assert_eq!(
        std::fs::read_link(&wants).unwrap(),
        Path::new("../fleet-agent.service")
    );
}
