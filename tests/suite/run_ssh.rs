//! `fleet run` over real SSH (REMOTE.md "Push and run"): Debian's `sshd`, started here on a
//! free port of 127.0.0.1, .2 and .4 with a generated host key and an `AuthorizedKeysFile` of
//! its own, and the system's `ssh` client with a config file naming a generated key and
//! known-hosts file. 127.0.0.3 has no server (an unreachable node). One server for the
//! test binary, killed when the tests end (PR_SET_PDEATHSIG).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support;

const SITE: &str = r#"
class database {
  file "/etc/db.conf" { content = "x\n" }
}
node "web01" { provision { mac = "52:54:00:00:01:01", ip = "127.0.0.1/8" } }
node "web02" { provision { mac = "52:54:00:00:01:02", ip = "127.0.0.2/8" } }
node "down01" { provision { mac = "52:54:00:00:01:03", ip = "127.0.0.3/8" } }
node "db01" {
  provision { mac = "52:54:00:00:01:04", ip = "127.0.0.4/8" }
  include database
}
"#;

pub(crate) struct Sshd {
    pub(crate) dir: tempfile::TempDir,
    site: PathBuf,
    pub(crate) config: PathBuf,
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (scripts/install-test-deps.sh installs openssh-client)");
    assert!(st.success());
}

pub(crate) fn sshd() -> &'static Sshd {
    static SSHD: OnceLock<Sshd> = OnceLock::new();
    SSHD.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("id"));
        std::fs::copy(d.join("id.pub"), d.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let known: String = ["127.0.0.1", "127.0.0.2", "127.0.0.4"]
            .iter()
            .map(|a| format!("[{a}]:{port} {host_pub}"))
            .collect();
        std::fs::write(d.join("known_hosts"), known).unwrap();
        let conf = format!(
            "Port {port}\nListenAddress 127.0.0.1\nListenAddress 127.0.0.2\nListenAddress 127.0.0.4\n\
             HostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {d}/sshd.pid\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), conf).unwrap();
        let client = format!(
            "Host *\n  Port {port}\n  User root\n  IdentityFile {d}/id\n  IdentitiesOnly yes\n  \
             UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n",
            d = d.display()
        );
        let config = d.join("ssh_config");
        std::fs::write(&config, client).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let conf_path = d.join("sshd_config");
        std::thread::spawn(move || {
            let mut cmd = Command::new("/usr/sbin/sshd");
            cmd.args(["-D", "-e", "-f"])
                .arg(&conf_path)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let mut child = cmd.spawn().expect("start sshd");
            // The death signal is tied to this thread: it stays until the process ends.
            let _ = child.wait();
            loop {
                std::thread::park();
            }
        });
        let started = Instant::now();
        for addr in ["127.0.0.1", "127.0.0.2", "127.0.0.4"] {
            while std::net::TcpStream::connect((addr, port)).is_err() {
                assert!(started.elapsed() < Duration::from_secs(30), "sshd does not listen");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let site = d.join("site.fleet");
        std::fs::write(&site, SITE).unwrap();
        Sshd { dir, site, config }
    })
}

fn run(args: &[&str]) -> support::Run {
    let s = sshd();
    let mut cmd = support::command();
    cmd.arg("run")
        .arg(&s.site)
        .arg("--ssh-config")
        .arg(&s.config)
        .args(["--connect-timeout", "5"])
        .args(args);
    support::run_within(&mut cmd, Duration::from_secs(120)).unwrap()
}

/// The status column of `node` in the table.
pub(crate) fn status(r: &support::Run, node: &str) -> String {
    column(r, node, 1)
}

/// Column `n` (0: the node) of `node`'s row in the table, whose columns are two spaces apart.
pub(crate) fn column(r: &support::Run, node: &str, n: usize) -> String {
    r.stdout
        .lines()
        .find(|l| l.starts_with(&format!("{node} ")))
        .and_then(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .nth(n)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

#[test]
fn a_command_on_chosen_nodes_prefixes_each_line_and_tables_the_exits() {
    let r = run(&["--node", "/^web/", "--", "echo", "hello;", "echo", "second"]);
    assert_eq!(r.status.code(), Some(0), "{}", r.describe());
    for node in ["web01", "web02"] {
        assert!(
            r.stdout.contains(&format!("{node}: hello\n")),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains(&format!("{node}: second\n")),
            "{}",
            r.stdout
        );
        assert_eq!(status(&r, node), "ok", "{}", r.stdout);
    }
    assert!(!r.stdout.contains("db01"), "{}", r.stdout);
    // --fold: one block for the identical output of both.
    let f = run(&["--node", "/^web/", "--fold", "--", "echo", "same"]);
    assert_eq!(f.status.code(), Some(0), "{}", f.describe());
    assert!(
        f.stdout.starts_with("---- web01,web02 (2)\nsame\n"),
        "{}",
        f.stdout
    );
    // --class: the nodes whose catalog has the class.
    let c = run(&["--class", "database", "--", "true"]);
    assert_eq!(c.status.code(), Some(0), "{}", c.describe());
    assert_eq!(status(&c, "db01"), "ok", "{}", c.stdout);
    assert!(!c.stdout.contains("web01"), "{}", c.stdout);
}

#[test]
fn unreachable_and_failing_nodes_are_named_and_fail_the_run() {
    let started = Instant::now();
    let r = run(&["--node", "/./", "--", "sh", "-c", "'exit 3'"]);
    assert_eq!(r.status.code(), Some(1), "{}", r.describe());
    assert_eq!(status(&r, "down01"), "unreachable", "{}", r.stdout);
    assert!(
        r.stdout.contains("down01: ssh: connect to host 127.0.0.3"),
        "ssh's own message: {}",
        r.stdout
    );
    for node in ["web01", "web02", "db01"] {
        assert_eq!(status(&r, node), "failed", "{}", r.stdout);
        let row = r.stdout.lines().find(|l| l.starts_with(node)).unwrap();
        assert!(row.contains("  3  "), "exit 3: {row}");
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    // A host key that is not the one known: that node fails with ssh's message.
    let s = sshd();
    let bad = s.dir.path().join("bad_config");
    let text = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("known_hosts", "other_known_hosts");
    std::fs::write(&bad, text).unwrap();
    let other = s.dir.path().join("other_host_key");
    if !other.exists() {
        keygen(&other);
    }
    let port = text_port(&std::fs::read_to_string(&s.config).unwrap());
    let pubkey = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    std::fs::write(
        s.dir.path().join("other_known_hosts"),
        format!("[127.0.0.1]:{port} {pubkey}"),
    )
    .unwrap();
    let mut cmd = support::command();
    cmd.arg("run")
        .arg(&s.site)
        .arg("--ssh-config")
        .arg(&bad)
        .args(["--node", "web01", "--", "true"]);
    let r = support::run_within(&mut cmd, Duration::from_secs(60)).unwrap();
    assert_eq!(r.status.code(), Some(1), "{}", r.describe());
    assert_eq!(status(&r, "web01"), "unreachable", "{}", r.stdout);
    assert!(
        r.stdout.contains("Host key verification failed")
            || r.stdout.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        r.stdout
    );
}

fn text_port(config: &str) -> u16 {
    config
        .lines()
        .find_map(|l| l.trim().strip_prefix("Port "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn canary_max_fail_and_timeout_stop_what_they_should() {
    // --canary 1: db01 (first by name) fails, nothing else starts.
    let r = run(&["--node", "/./", "--canary", "1", "--", "false"]);
    assert_eq!(r.status.code(), Some(1), "{}", r.describe());
    assert_eq!(status(&r, "db01"), "failed", "{}", r.stdout);
    for node in ["down01", "web01", "web02"] {
        assert_eq!(status(&r, node), "not run", "{}", r.stdout);
    }
    // --max-fail 1 one at a time: the first failure stops the rest.
    let r = run(&[
        "--node",
        "/^web/",
        "--parallel",
        "1",
        "--max-fail",
        "1",
        "--",
        "false",
    ]);
    assert_eq!(status(&r, "web01"), "failed", "{}", r.stdout);
    assert_eq!(status(&r, "web02"), "not run", "{}", r.stdout);
    // --timeout: a node that takes too long is killed.
    let started = Instant::now();
    let r = run(&["--node", "web01", "--timeout", "1", "--", "sleep", "30"]);
    assert_eq!(r.status.code(), Some(1), "{}", r.describe());
    assert_eq!(status(&r, "web01"), "timed out", "{}", r.stdout);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_selection_that_matches_nothing_runs_nothing() {
    for args in [
        vec!["--node", "web99", "--", "true"],
        vec!["--node", "/^nope/", "--", "true"],
        vec!["--", "true"],
    ] {
        let r = run(&args);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {}", r.describe());
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
    let r = run(&["--node", "web99", "--", "true"]);
    assert!(
        r.stderr.contains("no node of the fleet matches web99"),
        "{}",
        r.stderr
    );
}
