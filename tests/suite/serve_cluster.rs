//! Two `fleet serve` processes on one PostgreSQL store behind a real nginx (the `stream`
//! module, TLS passed through so the client certificate reaches fleet): curl through nginx
//! gets the same answers from either, and requests keep succeeding when one server is
//! killed, and agents pointed at nginx carry on through the kill. Needs the private PostgreSQL cluster `.ci/run` starts (`FLEET_TEST_PG`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::serve::{curl, fixture, Server};

/// An nginx process, stopped when dropped: SIGTERM to the master, which stops its workers
/// (SIGKILL would leave them running, still listening).
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// Writes nginx.conf into `dir` (TLS passthrough to `upstreams` on `port`) and starts
/// `nginx -c … -g 'daemon off;'`; waits until it accepts connections.
fn start_nginx(dir: &Path, port: u16, upstreams: &[&str]) -> Nginx {
    let servers: String = upstreams
        .iter()
        .map(|u| format!("    server {u} max_fails=1 fail_timeout=30s;\n"))
        .collect();
    let conf = format!(
        "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n\
         pid {dir}/nginx.pid;\nerror_log {dir}/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         stream {{\n  upstream fleet {{\n{servers}  }}\n  server {{\n    listen 127.0.0.1:{port};\n    \
         proxy_pass fleet;\n    proxy_connect_timeout 2s;\n    proxy_next_upstream on;\n  }}\n}}\n",
        dir = dir.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx (scripts/install-test-deps.sh installs it)");
    let nginx = Nginx(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nginx does not listen: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nginx
}

#[test]
fn two_servers_on_postgres_behind_nginx() {
    let Ok(pg) = std::env::var("FLEET_TEST_PG") else {
        panic!(
            "FLEET_TEST_PG is not set: run this test through .ci/run, which starts a private \
             PostgreSQL cluster (scripts/test-services.sh start) and exports it"
        );
    };
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let start = || {
        Server::start(vec![
            "--manifest".into(),
            f.site.display().to_string(),
            "--tls-cert".into(),
            f.server_cert.0.display().to_string(),
            "--tls-key".into(),
            f.server_cert.1.display().to_string(),
            "--ca-cert".into(),
            f.pki.ca_cert().display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--store".into(),
            pg.clone(),
            "--admin".into(),
            "admin01".into(),
        ])
    };
    let a = start();
    let b = start();
    let port = crate::support::free_port();
    let _nginx = start_nginx(tmp.path(), port, &[&a.addr, &b.addr]);
    let via = |path: &str| format!("https://127.0.0.1:{port}{path}");
    let ca = f.pki.ca_cert();
    let web = f.cert("web01");
    let admin = f.cert("admin01");
    let facts = r#"{"hostname":"web01","cluster":"pg"}"#;
    let catalog = |url: String| {
        curl(
            &ca,
            Some(&web),
            &["-X", "POST", "--data-binary", facts],
            &url,
        )
    };
    // Each server directly, and nginx, give the same catalog.
    let direct_a = catalog(a.url("/v1/catalog/web01"));
    let direct_b = catalog(b.url("/v1/catalog/web01"));
    assert_eq!(direct_a.status, 200, "{}", direct_a.text());
    assert_eq!(direct_a.body, direct_b.body);
    for _ in 0..4 {
        let through = catalog(via("/v1/catalog/web01"));
        assert_eq!(through.status, 200, "{}", through.text());
        assert_eq!(through.body, direct_a.body);
    }
    // A report sent to one server is in the shared store, read through the other.
    let report = r#"{"node":"web01","summary":{"changed":0,"failed":0},"events":[]}"#;
    let r = curl(
        &ca,
        Some(&web),
        &["-X", "POST", "--data-binary", report],
        &a.url("/v1/report/web01"),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let nodes = curl(&ca, Some(&admin), &[], &b.url("/v1/nodes"));
    assert_eq!(nodes.status, 200, "{}", nodes.text());
    let doc: serde_json::Value = serde_json::from_slice(&nodes.body).unwrap();
    let row = doc
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "web01")
        .unwrap();
    assert_eq!(row["facts"]["cluster"], "pg", "{doc}");
    assert_eq!(row["last_report"]["status"], "unchanged", "{doc}");
    // Agents through nginx: each applies into its own root, then keeps running while one
    // server is killed under it; every run succeeds, none needs its cached catalog.
    let agent = |who: &str, root: &Path| {
        let (crt, key) = f.cert(who);
        let mut cmd = crate::support::command();
        cmd.arg("agent")
            .arg("--server")
            .arg(via(""))
            .arg("--cert")
            .arg(crt)
            .arg("--key")
            .arg(key)
            .arg("--ca-cert")
            .arg(&ca)
            .arg("--root")
            .arg(root)
            .args(["--once", "--no-fsync"]);
        crate::support::run_within(&mut cmd, Duration::from_secs(120)).unwrap()
    };
    let roots: Vec<(&str, tempfile::TempDir)> = ["db01", "admin01"]
        .into_iter()
        .map(|who| {
            let root = tempfile::tempdir().unwrap();
            std::fs::create_dir(root.path().join("etc")).unwrap();
            (who, root)
        })
        .collect();
    for (who, root) in &roots {
        let r = agent(who, root.path());
        assert_eq!(r.status.code(), Some(2), "{who}: {}", r.describe());
    }
    let killed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for (who, root) in &roots {
            let (agent, killed) = (&agent, &killed);
            scope.spawn(move || {
                let mut after = 0;
                while after < 3 {
                    if killed.load(std::sync::atomic::Ordering::SeqCst) {
                        after += 1;
                    }
                    let r = agent(who, root.path());
                    assert_eq!(r.status.code(), Some(0), "{who}: {}", r.describe());
                    assert!(!r.stderr.contains("cached"), "{who}: {}", r.stderr);
                }
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        drop(a);
        killed.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    assert_eq!(
        std::fs::read_to_string(roots[0].1.path().join("etc/db.conf")).unwrap(),
        "max_connections = 100\n"
    );
    // Every request through nginx still succeeds.
    for i in 0..10 {
        let through = catalog(via("/v1/catalog/web01"));
        assert_eq!(
            through.status,
            200,
            "request {i} after the kill: {}",
            through.text()
        );
        assert_eq!(through.body, direct_a.body);
    }
    // The store goes down: the catalog (which records the facts) is 503 with Retry-After,
    // the server stays up (health answers); when the store is back, so are the catalogs.
    let services = |what: &str| {
        let st = Command::new("sh")
            .arg(crate::support::root().join("scripts/test-services.sh"))
            .arg(what)
            .status()
            .unwrap();
        assert!(st.success(), "test-services.sh {what}");
    };
    services("down");
    let down = catalog(b.url("/v1/catalog/web01"));
    services("up");
    assert_eq!(down.status, 503, "{}", down.text());
    assert!(
        down.headers.to_ascii_lowercase().contains("retry-after"),
        "{}",
        down.headers
    );
    let started = Instant::now();
    loop {
        let again = catalog(b.url("/v1/catalog/web01"));
        if again.status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the store came back, the server did not: {} {}",
            again.status,
            again.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
