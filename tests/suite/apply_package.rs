//! The `package` provider with real `.deb` packages built here, a local `file:` apt
//! repository, and dpkg/apt confined to a sandbox root: the software-repository workflow.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use support::{require_tool, Sandbox};

fn tools() {
    for t in [
        "dpkg",
        "dpkg-deb",
        "dpkg-scanpackages",
        "apt-get",
        "apt-cache",
    ] {
        require_tool(t);
    }
}

/// Builds `name_version_all.deb` (one file, `/usr/share/<name>/version`) into `dir`.
fn build_deb(dir: &Path, name: &str, version: &str) -> PathBuf {
    let src = dir.join(format!("src-{name}-{version}"));
    std::fs::create_dir_all(src.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(src.join(format!("usr/share/{name}"))).unwrap();
    std::fs::write(
        src.join("DEBIAN/control"),
        format!("Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: fleet tests <t@example.org>\nDescription: fleet test package\n"),
    )
    .unwrap();
    std::fs::write(
        src.join(format!("usr/share/{name}/version")),
        format!("{version}\n"),
    )
    .unwrap();
    let deb = dir.join(format!("{name}_{version}_all.deb"));
    let out = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-b"])
        .arg(&src)
        .arg(&deb)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dpkg-deb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(src).unwrap();
    deb
}

/// A local repository: `.deb` files and the `Packages` index of every version in it.
struct Repo {
    dir: PathBuf,
}

impl Repo {
    fn new(sb: &Sandbox) -> Repo {
        let dir = sb.tmp.path().join("repo");
        std::fs::create_dir_all(&dir).unwrap();
        let repo = Repo { dir };
        repo.index();
        std::fs::create_dir_all(sb.p("/etc/apt")).unwrap();
        sb.write(
            "/etc/apt/sources.list",
            &format!("deb [trusted=yes] file:{} ./\n", repo.dir.display()),
        );
        repo
    }

    fn upload(&self, name: &str, version: &str) {
        build_deb(&self.dir, name, version);
        self.index();
    }

    fn index(&self) {
        let out = Command::new("dpkg-scanpackages")
            .args(["-m", ".", "/dev/null"])
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dpkg-scanpackages: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(self.dir.join("Packages"), &out.stdout).unwrap();
    }
}

/// dpkg on the sandbox root, logging there (`--root` alone logs on the host).
fn dpkg_in(sb: &Sandbox) -> Command {
    let mut c = Command::new("dpkg");
    c.arg(format!("--root={}", sb.root.display()))
        .arg(format!("--log={}", sb.p("/var/log/dpkg.log").display()));
    c
}

/// The installed version under the root, from dpkg itself (not our parser).
fn dpkg_version(sb: &Sandbox, name: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}", sb.p("/var/lib/dpkg").display()))
        .args(["-W", "-f", "${Status}|${Version}", name])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, version) = text.split_once('|')?;
    status.ends_with(" installed").then(|| version.to_string())
}

fn pkg(ensure: &str) -> serde_json::Value {
    json!({"ensure": ensure})
}

#[test]
fn latest_follows_the_repository_and_absent_removes() {
    tools();
    let sb = Sandbox::new();
    let repo = Repo::new(&sb);
    repo.upload("fleet-hello", "1.0");
    let cat = sb.catalog("c", &[("package", "fleet-hello", pkg("latest"))], &[]);

    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(dpkg_version(&sb, "fleet-hello").as_deref(), Some("1.0"));
    assert_eq!(sb.read("/usr/share/fleet-hello/version"), "1.0\n");
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 0, "idempotent: {r:?}");

    // A new version is uploaded: noop sees it and changes nothing, apply upgrades.
    repo.upload("fleet-hello", "2.0");
    let before = sb.snapshot();
    let r = sb.apply(&cat, &["--noop", "--format", "json"]);
    assert_eq!(r.code, 2, "{r:?}");
    let ev = &r.report()["events"][0];
    assert_eq!(
        (ev["from"].as_str(), ev["to"].as_str()),
        (Some("1.0"), Some("2.0")),
        "{r:?}"
    );
    assert_eq!(before, sb.snapshot(), "noop changed the root");
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("~ Package[fleet-hello] changed"), "{r:?}");
    assert_eq!(dpkg_version(&sb, "fleet-hello").as_deref(), Some("2.0"));
    assert_eq!(sb.read("/usr/share/fleet-hello/version"), "2.0\n");
    assert_eq!(sb.apply(&cat, &[]).code, 0);

    // Pinned back to 1.0 (a downgrade), then removed.
    let cat = sb.catalog("c", &[("package", "fleet-hello", pkg("1.0"))], &[]);
    assert_eq!(sb.apply(&cat, &[]).code, 2);
    assert_eq!(dpkg_version(&sb, "fleet-hello").as_deref(), Some("1.0"));
    assert_eq!(sb.apply(&cat, &[]).code, 0);
    // Drift from the pin: 2.0 installed by hand; noop reports exactly that.
    let out = dpkg_in(&sb)
        .arg("-i")
        .arg(repo.dir.join("fleet-hello_2.0_all.deb"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = sb.snapshot();
    let r = sb.apply(&cat, &["--noop", "--format", "json"]);
    assert_eq!(r.code, 2, "{r:?}");
    let ev = &r.report()["events"][0];
    assert_eq!(
        (ev["from"].as_str(), ev["to"].as_str()),
        (Some("2.0"), Some("1.0")),
        "{r:?}"
    );
    assert_eq!(before, sb.snapshot());
    assert_eq!(sb.apply(&cat, &[]).code, 2);
    assert_eq!(dpkg_version(&sb, "fleet-hello").as_deref(), Some("1.0"));

    let cat = sb.catalog("c", &[("package", "fleet-hello", pkg("absent"))], &[]);
    let before = sb.snapshot();
    let r = sb.apply(&cat, &["--noop"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("- Package[fleet-hello]\n"), "{r:?}");
    assert_eq!(before, sb.snapshot());
    assert_eq!(sb.apply(&cat, &[]).code, 2);
    assert_eq!(dpkg_version(&sb, "fleet-hello"), None);
    assert!(!sb.p("/usr/share/fleet-hello/version").exists());
    assert_eq!(sb.apply(&cat, &[]).code, 0);
}

#[test]
fn present_installs_and_noop_reports_a_removed_package() {
    tools();
    let sb = Sandbox::new();
    let repo = Repo::new(&sb);
    repo.upload("fleet-a", "0.1");
    repo.upload("fleet-b", "3.2-1");
    let cat = sb.catalog(
        "c",
        &[
            ("package", "fleet-a", pkg("present")),
            ("package", "fleet-b", pkg("installed")),
        ],
        &[],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(dpkg_version(&sb, "fleet-a").as_deref(), Some("0.1"));
    assert_eq!(dpkg_version(&sb, "fleet-b").as_deref(), Some("3.2-1"));
    assert_eq!(sb.apply(&cat, &[]).code, 0);

    // Drift: someone removed fleet-b behind fleet's back.
    let out = dpkg_in(&sb).args(["--remove", "fleet-b"]).output().unwrap();
    assert!(out.status.success());
    let before = sb.snapshot();
    let r = sb.apply(&cat, &["--noop", "--format", "json"]);
    assert_eq!(r.code, 2, "{r:?}");
    let report = r.report();
    assert_eq!(report["summary"]["changed"], 1, "{report}");
    assert_eq!(report["events"][0]["resource"], "Package[fleet-b]");
    assert_eq!(before, sb.snapshot());
    assert_eq!(sb.apply(&cat, &[]).code, 2);
    assert_eq!(dpkg_version(&sb, "fleet-b").as_deref(), Some("3.2-1"));
}

/// Found by the recovery drill: `dpkg --root` keeps logging to the host's
/// /var/log/dpkg.log. Installs through apt and through dpkg log into the root's own log,
/// and the host's is not written; a symlink planted as the root's log is refused.
#[test]
fn dpkg_logs_inside_the_root_and_never_on_the_host() {
    tools();
    let host_log = Path::new("/var/log/dpkg.log");
    let host_len = || std::fs::metadata(host_log).map(|m| m.len()).ok();
    let before = host_len();
    let sb = Sandbox::new();
    let repo = Repo::new(&sb);
    repo.upload("fleet-logged", "1.0");
    std::fs::create_dir_all(sb.p("/srv/debs")).unwrap();
    build_deb(&sb.p("/srv/debs"), "fleet-local-logged", "1.0");
    let cat = sb.catalog(
        "c",
        &[
            ("package", "fleet-logged", pkg("present")),
            ("package", "fleet-local-logged", json!({"ensure": "present", "provider": "dpkg", "source": "/srv/debs/fleet-local-logged_1.0_all.deb"})),
        ],
        &[],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    let log = sb.read("/var/log/dpkg.log");
    for name in ["fleet-logged", "fleet-local-logged"] {
        assert!(
            log.contains(&format!(" install {name}:all ")),
            "{name}: {log}"
        );
    }
    assert_eq!(host_len(), before, "the host's dpkg.log was written");

    // A symlink in the log's place: dpkg would append wherever it points.
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::remove_file(sb.p("/var/log/dpkg.log")).unwrap();
    std::os::unix::fs::symlink(outside.path(), sb.p("/var/log/dpkg.log")).unwrap();
    let cat = sb.catalog("c", &[("package", "fleet-logged", pkg("absent"))], &[]);
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stdout.contains("is a symlink"), "{r:?}");
    assert_eq!(std::fs::read(outside.path()).unwrap(), b"");
    assert_eq!(dpkg_version(&sb, "fleet-logged").as_deref(), Some("1.0"));
}

#[test]
fn purged_and_the_dpkg_provider() {
    tools();
    let sb = Sandbox::new();
    // No apt at all: a .deb inside the root, installed with dpkg.
    std::fs::create_dir_all(sb.p("/srv/debs")).unwrap();
    build_deb(&sb.p("/srv/debs"), "fleet-local", "5.0");
    let cat = sb.catalog(
        "c",
        &[("package", "fleet-local", json!({"ensure": "latest", "provider": "dpkg", "source": "/srv/debs/fleet-local_5.0_all.deb"}))],
        &[],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(dpkg_version(&sb, "fleet-local").as_deref(), Some("5.0"));
    assert_eq!(sb.apply(&cat, &[]).code, 0);

    let cat = sb.catalog(
        "c",
        &[(
            "package",
            "fleet-local",
            json!({"ensure": "purged", "provider": "dpkg"}),
        )],
        &[],
    );
    let before = sb.snapshot();
    assert_eq!(sb.apply(&cat, &["--noop"]).code, 2);
    assert_eq!(before, sb.snapshot());
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    let status = std::fs::read_to_string(sb.p("/var/lib/dpkg/status")).unwrap();
    assert!(
        !status.contains("Package: fleet-local\n"),
        "purged leaves no record: {status}"
    );
    assert_eq!(sb.apply(&cat, &[]).code, 0);
}

#[test]
fn an_unknown_package_fails_clearly() {
    tools();
    let sb = Sandbox::new();
    let _repo = Repo::new(&sb);
    let cat = sb.catalog("c", &[("package", "fleet-nowhere", pkg("latest"))], &[]);
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stdout.contains("not available"), "{r:?}");
}

/// The stdlib's `apt::source` end to end: the `.sources` file it writes (deb822) is what apt
/// reads when the package provider installs from the site's repository in the same run.
#[test]
fn a_package_from_a_source_the_stdlib_apt_module_declares() {
    tools();
    let sb = Sandbox::new();
    let dir = sb.tmp.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    let repo = Repo { dir };
    repo.upload("fleet-hello", "3.0");
    std::fs::create_dir_all(sb.p("/etc/apt/sources.list.d")).unwrap();
    let site = sb.tmp.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("site.fleet"),
        format!(
            "import \"apt\"\nnode \"ops01\" {{\n  apt::source \"site\" {{ uris = [\"file:{}\"], suites = [\"./\"], trusted = true }}\n  \
             package \"fleet-hello\" {{ ensure = latest, require = Apt::Source[\"site\"] }}\n}}\n",
            repo.dir.display()
        ),
    )
    .unwrap();
    let c = support::fleet_in(&site, ["compile", "--node", "ops01", "site.fleet"]);
    assert_eq!(c.code, 0, "{}", c.describe());
    let catalog = sb.cat.join("ops01.json");
    std::fs::write(&catalog, &c.stdout).unwrap();
    let r = sb.apply(&catalog, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(sb
        .read("/etc/apt/sources.list.d/site.sources")
        .contains("Trusted: yes\n"));
    assert_eq!(dpkg_version(&sb, "fleet-hello").as_deref(), Some("3.0"));
    let r = sb.apply(&catalog, &[]);
    assert_eq!(r.code, 0, "idempotent: {r:?}");
}
