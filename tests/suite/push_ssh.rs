//! `fleet push` and the remote `fleet release` commands over real SSH (REMOTE.md "Push and
//! run"), against the Debian `sshd` of `run_ssh` (127.0.0.1, .2 and .4; .3 unreachable).
//! Every node applies under its own `--remote-root`; the push directory is shared by the
//! tests (one machine stands in for all nodes), so the fleet binary is copied once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::run_ssh::{column, sshd, status};
use crate::support;

const NODES: &str = r#"
node "web01" {
  provision { mac = "52:54:00:00:01:01", ip = "127.0.0.1/8" }
  include site
}
node "web02" {
  provision { mac = "52:54:00:00:01:02", ip = "127.0.0.2/8" }
  include site
}
node "down01" {
  provision { mac = "52:54:00:00:01:03", ip = "127.0.0.3/8" }
  include site
}
node "db01" {
  provision { mac = "52:54:00:00:01:04", ip = "127.0.0.4/8" }
  include site
  file "/missing/db.conf" { content = "db\n" }
}
"#;

/// A site of its own for one test: `site` is the body of class `site`.
struct Site {
    dir: tempfile::TempDir,
    manifest: PathBuf,
}

impl Site {
    fn new(site: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("site.fleet");
        let text =
            format!("class site {{\n  file \"/etc\" {{ ensure = directory }}\n{site}\n}}\n{NODES}");
        std::fs::write(&manifest, text).unwrap();
        Site { dir, manifest }
    }

    fn root(&self, node: &str) -> PathBuf {
        self.dir.path().join("roots").join(node)
    }

    fn push(&self, args: &[&str]) -> support::Run {
        let s = sshd();
        let mut cmd = support::command();
        cmd.arg("push")
            .arg(&self.manifest)
            .arg("--ssh-config")
            .arg(&s.config)
            .args(["--connect-timeout", "5"])
            .arg("--remote-dir")
            .arg(remote_dir())
            .arg("--remote-root")
            .arg(self.dir.path().join("roots/{node}"))
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(args);
        support::run_within(&mut cmd, Duration::from_secs(300)).unwrap()
    }

    fn release(&self, args: &[&str]) -> support::Run {
        let s = sshd();
        let mut cmd = support::command();
        cmd.arg("release")
            .args(args)
            .arg("--manifest")
            .arg(&self.manifest)
            .arg("--ssh-config")
            .arg(&s.config)
            .arg("--remote-dir")
            .arg(remote_dir())
            .arg("--remote-root")
            .arg(self.dir.path().join("roots/{node}"));
        support::run_within(&mut cmd, Duration::from_secs(120)).unwrap()
    }
}

/// The push directory every test shares.
fn remote_dir() -> PathBuf {
    sshd().dir.path().join("push")
}

/// The table's CHANGED column for `node`.
fn changed(r: &support::Run, node: &str) -> String {
    column(r, node, 2)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_push_converges_then_changes_nothing_and_noop_changes_nothing() {
    let site = Site::new(
        r#"  file "/etc/motd" { content = "managed by fleet\n" }
  file "/etc/app" { ensure = directory }
  file "/etc/app/app.conf" { source = "app.conf", mode = "0640" }"#,
    );
    std::fs::write(site.dir.path().join("app.conf"), "port = 8080\n").unwrap();
    let first = site.push(&["--node", "/^web/"]);
    assert_eq!(first.status.code(), Some(0), "{}", first.describe());
    for node in ["web01", "web02"] {
        assert_eq!(status(&first, node), "ok", "{}", first.stdout);
        assert_eq!(changed(&first, node), "4", "{}", first.stdout);
        assert_eq!(
            read(&site.root(node).join("etc/motd")),
            "managed by fleet\n"
        );
        assert_eq!(
            read(&site.root(node).join("etc/app/app.conf")),
            "port = 8080\n"
        );
        // The node's report is kept here.
        let reports = site
            .dir
            .path()
            .join("state/nodes")
            .join(node)
            .join("reports");
        let kept = std::fs::read_dir(&reports)
            .unwrap_or_else(|e| panic!("{}: {e}", reports.display()))
            .count();
        assert!(kept >= 1, "no report in {}", reports.display());
    }
    assert!(!first.stdout.contains("db01"), "{}", first.stdout);
    // Again: nothing changes.
    let second = site.push(&["--node", "/^web/"]);
    assert_eq!(second.status.code(), Some(0), "{}", second.describe());
    for node in ["web01", "web02"] {
        assert_eq!(status(&second, node), "ok", "{}", second.stdout);
        assert_eq!(changed(&second, node), "0", "{}", second.stdout);
    }
    // A drifted file: --noop names the change and makes none.
    std::fs::write(site.root("web01").join("etc/motd"), "drifted\n").unwrap();
    let noop = site.push(&["--node", "web01", "--noop"]);
    assert_eq!(noop.status.code(), Some(0), "{}", noop.describe());
    assert_eq!(changed(&noop, "web01"), "1", "{}", noop.stdout);
    assert_eq!(read(&site.root("web01").join("etc/motd")), "drifted\n");
    let fixed = site.push(&["--node", "web01", "--format", "json"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", fixed.describe());
    let row: serde_json::Value = serde_json::from_str(fixed.stdout.trim()).unwrap();
    assert_eq!(row["node"], "web01", "{row}");
    assert_eq!(row["status"], "ok", "{row}");
    // The node has this binary and every blob already: nothing is copied but the catalog.
    assert_eq!(row["copied"]["binary"], false, "{row}");
    assert_eq!(row["copied"]["blobs"], 0, "{row}");
    assert_eq!(
        read(&site.root("web01").join("etc/motd")),
        "managed by fleet\n"
    );
    // New content: only its blob goes over.
    std::fs::write(site.dir.path().join("app.conf"), "port = 9090\n").unwrap();
    let changed = site.push(&["--node", "web01", "--format", "json"]);
    let row: serde_json::Value = serde_json::from_str(changed.stdout.trim()).unwrap();
    assert_eq!(row["status"], "ok", "{row}");
    assert_eq!(row["changed"], 1, "{row}");
    assert_eq!(row["copied"]["blobs"], 1, "{row}");
    assert_eq!(
        read(&site.root("web01").join("etc/app/app.conf")),
        "port = 9090\n"
    );
}

#[test]
fn a_failing_node_and_an_unreachable_node_are_named_and_fail_the_push() {
    let site = Site::new(r#"  file "/etc/motd" { content = "all\n" }"#);
    let r = site.push(&["--node", "/./"]);
    assert_eq!(r.status.code(), Some(1), "{}", r.describe());
    assert_eq!(status(&r, "web01"), "ok", "{}", r.stdout);
    assert_eq!(status(&r, "web02"), "ok", "{}", r.stdout);
    assert_eq!(status(&r, "db01"), "failed", "{}", r.stdout);
    assert_eq!(status(&r, "down01"), "unreachable", "{}", r.stdout);
    assert!(
        r.stdout.contains("ssh: connect to host 127.0.0.3"),
        "ssh's own message: {}",
        r.stdout
    );
    assert!(r.stderr.contains("db01"), "{}", r.stderr);
    // The first failure is named under the table.
    let why = r
        .stdout
        .lines()
        .find(|l| l.starts_with("db01: "))
        .unwrap_or("");
    assert!(
        why.contains("1 of 3 resources failed, first File[/missing/db.conf]: parent directory"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("down01"), "{}", r.stderr);
    // The failing node still applied what it could.
    assert_eq!(read(&site.root("db01").join("etc/motd")), "all\n");
    assert!(!site.root("db01").join("missing").exists());
    assert!(!site.root("down01").exists());
}

/// The release `app` at version `v`, whose before_switch fails where `fail-here` exists in
/// the node's root.
fn release_site(v: &str) -> String {
    format!(
        r#"  file "/srv" {{ ensure = directory }}
  release "app" {{
    path = "/srv/app"
    source = "app"
    version = "{v}"
    before_switch = "test ! -e \"\$FLEET_ROOT/fail-here\""
  }}"#
    )
}

/// A site whose every node has the release `app` v1 (db01 without its failing file), the
/// release's source beside the manifest.
fn release_fixture() -> Site {
    let site = Site::new(&release_site("v1"));
    std::fs::write(
        &site.manifest,
        read(&site.manifest).replace(r#"  file "/missing/db.conf" { content = "db\n" }"#, ""),
    )
    .unwrap();
    std::fs::create_dir_all(site.dir.path().join("app")).unwrap();
    std::fs::write(site.dir.path().join("app/index.html"), "v1\n").unwrap();
    site
}

fn current(site: &Site, node: &str) -> Option<String> {
    std::fs::read_link(site.root(node).join("srv/app/current"))
        .ok()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
}

fn releases(site: &Site, node: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(site.root(node).join("srv/app/releases"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_coordinated_release_switches_every_node_or_none_and_rolls_back_on_all() {
    let three = ["web01", "web02", "db01"];
    let site = release_fixture();
    std::fs::create_dir_all(site.root("web02")).unwrap();
    std::fs::write(site.root("web02").join("fail-here"), "").unwrap();
    let args = [
        "--node",
        "/^(web|db)/",
        "--release",
        "app",
        "--run-host-commands",
    ];
    let failed = site.push(&args);
    assert_eq!(failed.status.code(), Some(1), "{}", failed.describe());
    assert_eq!(status(&failed, "web02"), "failed", "{}", failed.stdout);
    for node in three {
        assert_eq!(
            current(&site, node),
            None,
            "{node} switched: {}",
            failed.stdout
        );
        assert_eq!(
            releases(&site, node),
            Vec::<String>::new(),
            "{node} keeps a staged release: {}",
            failed.stdout
        );
    }
    for node in ["web01", "db01"] {
        assert_eq!(status(&failed, node), "not switched", "{}", failed.stdout);
    }
    // The cause gone: all three switch.
    std::fs::remove_file(site.root("web02").join("fail-here")).unwrap();
    let ok = site.push(&args);
    assert_eq!(ok.status.code(), Some(0), "{}", ok.describe());
    for node in three {
        assert_eq!(status(&ok, node), "ok", "{}", ok.stdout);
        assert_eq!(current(&site, node).as_deref(), Some("v1"), "{}", ok.stdout);
        assert_eq!(
            read(&site.root(node).join("srv/app/current/index.html")),
            "v1\n"
        );
    }
    // v2 everywhere, then back to v1 on all three.
    let text = read(&site.manifest).replace(r#"version = "v1""#, r#"version = "v2""#);
    std::fs::write(&site.manifest, text).unwrap();
    std::fs::write(site.dir.path().join("app/index.html"), "v2\n").unwrap();
    let v2 = site.push(&args);
    assert_eq!(v2.status.code(), Some(0), "{}", v2.describe());
    for node in three {
        assert_eq!(current(&site, node).as_deref(), Some("v2"), "{}", v2.stdout);
    }
    let list = site.release(&["list", "/srv/app", "--node", "/^(web|db)/"]);
    assert_eq!(list.status.code(), Some(0), "{}", list.describe());
    for node in three {
        assert!(
            list.stdout.contains(&format!("{node}: * v2"))
                || list.stdout.contains(&format!("{node}: *v2")),
            "{node}'s current release listed: {}",
            list.stdout
        );
    }
    let back = site.release(&["rollback", "/srv/app", "--node", "/^(web|db)/"]);
    assert_eq!(back.status.code(), Some(0), "{}", back.describe());
    for node in three {
        assert_eq!(status(&back, node), "ok", "{}", back.stdout);
        assert_eq!(
            current(&site, node).as_deref(),
            Some("v1"),
            "{}",
            back.stdout
        );
        let log = read(&site.root(node).join("srv/app/revisions.log"));
        let kinds: Vec<&str> = log
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
            .collect();
        assert_eq!(kinds, ["deploy", "deploy", "rollback"], "{log}");
        assert!(log.contains("release=v2"), "{log}");
    }
    // A local --root with --node is refused before anything runs.
    let r = site.release(&["list", "/srv/app", "--node", "web01", "--root", "/tmp"]);
    assert_eq!(r.status.code(), Some(2), "{}", r.describe());
}

#[test]
fn a_rolling_release_switches_batch_by_batch_and_stops_at_a_failed_batch() {
    let site = release_fixture();
    // One node at a time, by name: db01 switches, web01 fails, web02 is not started.
    std::fs::create_dir_all(site.root("web01")).unwrap();
    std::fs::write(site.root("web01").join("fail-here"), "").unwrap();
    let r = site.push(&[
        "--node",
        "/^(web|db)/",
        "--release",
        "app",
        "--batch",
        "1",
        "--run-host-commands",
    ]);
    assert_eq!(r.status.code(), Some(1), "{}", r.describe());
    assert_eq!(status(&r, "db01"), "ok", "{}", r.stdout);
    assert_eq!(
        current(&site, "db01").as_deref(),
        Some("v1"),
        "{}",
        r.stdout
    );
    assert_eq!(status(&r, "web01"), "failed", "{}", r.stdout);
    assert_eq!(status(&r, "web02"), "not run", "{}", r.stdout);
    for node in ["web01", "web02"] {
        assert_eq!(current(&site, node), None, "{}", r.stdout);
        assert_eq!(releases(&site, node), Vec::<String>::new(), "{}", r.stdout);
    }
}
