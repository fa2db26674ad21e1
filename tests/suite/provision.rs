//! `fleet provision --out DIR`: the generated tree is accepted by the real tools (dnsmasq,
//! virt-xml-validate), is byte-identical on a second run, follows the manifest when a node
//! is removed, and is left untouched when a run fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{fleet_in, run};

pub(crate) const PROFILE: &str = r#"
provision "debian12" {
  kernel      = "nb/linux"
  initrd      = "nb/initrd.gz"
  kind        = preseed
  answer      = template("templates/d.preseed.j2")
  kernel_args = "auto=true priority=critical"
}
"#;

const WEB01: &str = r#"
node "web01" {
  provision {
    mac = "52:54:00:AA:00:01", ip = "10.99.0.11/24", gateway = "10.99.0.1", dns = ["10.99.0.1"]
    profile = "debian12"
    vm = { host: "localhost", ram_mb: 512, cpus: 1, disk_gb: 2 }
  }
}
"#;

pub(crate) const WEB02: &str = r#"
node "web02" {
  provision { mac = "52:54:00:aa:00:02", ip = "10.99.0.12/24", profile = "debian12", netboot = false }
}
"#;

/// A site directory with boot files, a template and `site.fleet` made of `parts`.
pub(crate) fn site(parts: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("nb")).unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("nb/linux"), "kernel\n").unwrap();
    std::fs::write(dir.path().join("nb/initrd.gz"), "initrd\n").unwrap();
    std::fs::write(
        dir.path().join("templates/d.preseed.j2"),
        "d-i netcfg/get_hostname string {{ provision.hostname }}\nd-i preseed/late_command string wget --post-data= -O- {{ server.done }}\n",
    )
    .unwrap();
    write_site(dir.path(), parts);
    dir
}

fn write_site(dir: &Path, parts: &[&str]) {
    std::fs::write(dir.join("site.fleet"), parts.concat()).unwrap();
}

/// `fleet provision --out out --server-ip 10.99.0.1 site.fleet` in `dir`.
pub(crate) fn provision(dir: &Path) -> crate::support::Run {
    fleet_in(
        dir,
        [
            "provision",
            "--out",
            "out",
            "--server-ip",
            "10.99.0.1",
            "site.fleet",
        ],
    )
}

/// Every file under `dir` with its bytes.
pub(crate) fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

#[test]
fn tree_has_every_file_and_dnsmasq_accepts_it() {
    let s = site(&[PROFILE, WEB01, WEB02]);
    let r = provision(s.path());
    assert_eq!(r.code, 0, "{}", r.describe());
    let out = s.path().join("out");
    let read =
        |p: &str| std::fs::read_to_string(out.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(
        read("dhcp-hosts/web01").split(',').nth(2),
        Some("10.99.0.11")
    );
    assert!(read("dhcp-hosts/web01").starts_with("52:54:00:aa:00:01,"));
    assert!(read("dhcp-opts/web01").contains("option:router,10.99.0.1"));
    let pxe = read("tftp/pxelinux.cfg/01-52-54-00-aa-00-01");
    assert!(pxe.contains("KERNEL debian12/linux"), "{pxe}");
    assert!(pxe.contains("url=http://10.99.0.1/answers/web01"), "{pxe}");
    assert!(read("tftp/grub/grub.cfg-01-52-54-00-aa-00-01").contains("linux /debian12/linux"));
    // netboot = false: the local disk.
    assert!(read("tftp/pxelinux.cfg/01-52-54-00-aa-00-02").contains("LOCALBOOT 0"));
    assert!(read("tftp/grub/grub.cfg-01-52-54-00-aa-00-02").contains("exit"));
    assert!(!out.join("http/answers/web02").exists());
    assert_eq!(read("tftp/debian12/linux"), "kernel\n");
    assert_eq!(
        read("http/answers/web01"),
        "d-i netcfg/get_hostname string web01\nd-i preseed/late_command string wget --post-data= -O- http://10.99.0.1/done/web01\n"
    );
    let doc: serde_json::Value = serde_json::from_str(&read("provision.json")).unwrap();
    assert_eq!(doc["nodes"]["web01"]["boot"], "install");
    assert_eq!(doc["nodes"]["web02"]["boot"], "local");
    assert_eq!(doc["nodes"]["web01"]["vm"]["disk_gb"], 2);
    let conf = read("dnsmasq.conf");
    assert!(
        conf.contains(&format!("dhcp-hostsdir={}", out.display())),
        "{conf}"
    );
    let Some(dnsmasq) = tool("dnsmasq") else {
        panic!("dnsmasq is not installed (scripts/install-test-deps.sh)");
    };
    let t = run(Command::new(dnsmasq)
        .arg("--test")
        .arg("-C")
        .arg(out.join("dnsmasq.conf")));
    assert_eq!(t.code, 0, "dnsmasq --test: {}", t.describe());
    assert!(t.stderr.contains("syntax check OK"), "{}", t.describe());
}

#[test]
fn libvirt_domains_validate() {
    let s = site(&[PROFILE, WEB01, WEB02]);
    let r = provision(s.path());
    assert_eq!(r.code, 0, "{}", r.describe());
    let xml = s.path().join("out/libvirt/web01.xml");
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(text.contains("<memory unit='MiB'>512</memory>"), "{text}");
    assert!(
        text.contains("<mac address='52:54:00:aa:00:01'/>"),
        "{text}"
    );
    assert!(!s.path().join("out/libvirt/web02.xml").exists());
    let Some(validate) = tool("virt-xml-validate") else {
        panic!("virt-xml-validate is not installed (scripts/install-test-deps.sh)");
    };
    let v = run(Command::new(&validate).arg(&xml).arg("domain"));
    assert_eq!(v.code, 0, "virt-xml-validate: {}", v.describe());
    // The disk is a volume of the pool, the interface on the network chosen.
    assert!(
        text.contains("<source pool='default' volume='web01.qcow2'/>"),
        "{text}"
    );
    assert!(text.contains("<source network='default'/>"), "{text}");
    for (network, want) in [
        ("bridge:br-fleet0", "<source bridge='br-fleet0'/>"),
        ("user", "<interface type='user'>"),
    ] {
        let r = fleet_in(
            s.path(),
            [
                "provision",
                "--out",
                "out",
                "--server-ip",
                "10.99.0.1",
                "--vm-pool",
                "vms",
                "--vm-network",
                network,
                "site.fleet",
            ],
        );
        assert_eq!(r.code, 0, "{}", r.describe());
        let text = std::fs::read_to_string(&xml).unwrap();
        assert!(text.contains(want), "{network}: {text}");
        assert!(
            text.contains("<source pool='vms' volume='web01.qcow2'/>"),
            "{text}"
        );
        let v = run(Command::new(&validate).arg(&xml).arg("domain"));
        assert_eq!(v.code, 0, "virt-xml-validate ({network}): {}", v.describe());
    }
    let bad = fleet_in(
        s.path(),
        [
            "provision",
            "--out",
            "out",
            "--vm-network",
            "tap0",
            "site.fleet",
        ],
    );
    assert_eq!(bad.code, 2, "{}", bad.describe());
    assert!(
        bad.stderr
            .contains("expected network:NAME, bridge:NAME or user"),
        "{}",
        bad.stderr
    );
}

#[test]
fn second_run_is_byte_identical() {
    let s = site(&[PROFILE, WEB01, WEB02]);
    assert_eq!(provision(s.path()).code, 0);
    let first = snapshot(&s.path().join("out"));
    let r = provision(s.path());
    assert_eq!(r.code, 0, "{}", r.describe());
    assert_eq!(snapshot(&s.path().join("out")), first);
    // Nothing is left beside the output.
    let names: Vec<String> = std::fs::read_dir(s.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("staging"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn a_removed_node_disappears() {
    let s = site(&[PROFILE, WEB01, WEB02]);
    assert_eq!(provision(s.path()).code, 0);
    let out = s.path().join("out");
    let hosts_inode = std::fs::metadata(out.join("dhcp-hosts")).unwrap();
    write_site(s.path(), &[PROFILE, WEB02]);
    let r = provision(s.path());
    assert_eq!(r.code, 0, "{}", r.describe());
    for gone in [
        "dhcp-hosts/web01",
        "dhcp-opts/web01",
        "tftp/pxelinux.cfg/01-52-54-00-aa-00-01",
        "tftp/grub/grub.cfg-01-52-54-00-aa-00-01",
        "http/answers/web01",
        "libvirt/web01.xml",
    ] {
        assert!(!out.join(gone).exists(), "{gone} is still there");
    }
    assert!(out.join("dhcp-hosts/web02").exists());
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("provision.json")).unwrap()).unwrap();
    assert!(doc["nodes"].get("web01").is_none());
    // dnsmasq watches the hosts directory: it is the same directory, not a new one.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(out.join("dhcp-hosts")).unwrap().ino(),
        hosts_inode.ino()
    );
}

/// Each bad input is a diagnostic at its place, and the previous tree stays as it was.
#[test]
fn bad_input_is_a_diagnostic_and_writes_nothing() {
    let s = site(&[PROFILE, WEB01, WEB02]);
    assert_eq!(provision(s.path()).code, 0);
    let before = snapshot(&s.path().join("out"));
    let dup_mac =
        r#"node "web03" { provision { mac = "52:54:00:aa:00:01", ip = "10.99.0.13/24" } }"#;
    let dup_ip =
        r#"node "web03" { provision { mac = "52:54:00:aa:00:03", ip = "10.99.0.11/24" } }"#;
    let bad_mac = r#"node "web03" { provision { mac = "52:54:00:aa:00", ip = "10.99.0.13/24" } }"#;
    let bad_template = r#"
provision "broken" { kernel = "nb/linux", initrd = "nb/initrd.gz", kind = preseed, answer = template("templates/bad.j2") }
node "web03" { provision { mac = "52:54:00:aa:00:03", profile = "broken" } }"#;
    let no_kernel = r#"
provision "gone" { kernel = "nb/missing-linux", initrd = "nb/initrd.gz" }
node "web03" { provision { mac = "52:54:00:aa:00:03", profile = "gone" } }"#;
    std::fs::write(s.path().join("templates/bad.j2"), "{% if %}\n").unwrap();
    for (extra, code, at) in [
        (dup_mac, "duplicate-address", "site.fleet:"),
        (dup_ip, "duplicate-address", "site.fleet:"),
        (bad_mac, "invalid-value", "site.fleet:"),
        (bad_template, "invalid-value", "site.fleet:"),
        (no_kernel, "source-not-found", "site.fleet:"),
    ] {
        write_site(s.path(), &[PROFILE, WEB01, WEB02, extra]);
        let r = provision(s.path());
        assert_eq!(r.code, 1, "{extra}: {}", r.describe());
        assert!(
            r.stderr.contains(&format!("error[{code}]")),
            "{extra}: {}",
            r.stderr
        );
        assert!(r.stderr.contains(at), "no span: {}", r.stderr);
        assert_eq!(
            snapshot(&s.path().join("out")),
            before,
            "{extra} changed the tree"
        );
    }
}

/// `fleet provision serve` in the background; killed on drop.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_answers_and_done_flips_a_node_to_local_boot() {
    use std::io::{BufRead, BufReader};
    let s = site(&[PROFILE, WEB01, WEB02]);
    assert_eq!(provision(s.path()).code, 0);
    let mut child = crate::support::command()
        .current_dir(s.path())
        .args([
            "provision",
            "serve",
            "--out",
            "out",
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let guard = Serve(child);
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let curl = |args: &[&str]| {
        run(Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
            .args(args))
    };
    let got = curl(&[&format!("{url}/answers/web01")]);
    assert!(
        got.stdout
            .starts_with("d-i netcfg/get_hostname string web01\n"),
        "{}",
        got.describe()
    );
    assert!(got.stdout.ends_with("\n200"), "{}", got.describe());
    assert!(curl(&[&format!("{url}/answers/nobody")])
        .stdout
        .ends_with("404"));
    assert!(curl(&["--path-as-is", &format!("{url}/../provision.json")])
        .stdout
        .ends_with("404"));
    assert!(curl(&["-X", "POST", &format!("{url}/done/nobody")])
        .stdout
        .ends_with("404"));
    let done = curl(&["-X", "POST", &format!("{url}/done/web01")]);
    assert!(done.stdout.ends_with("200"), "{}", done.describe());
    // Each request is in the access log.
    let mut log = String::new();
    while !log.contains("POST /done/web01 200") {
        let mut l = String::new();
        assert!(err.read_line(&mut l).unwrap() > 0, "log ended: {log}");
        log.push_str(&l);
    }
    assert!(log.contains("GET /answers/web01 200"), "{log}");
    drop(guard);
    let installed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path().join("out/installed.json")).unwrap())
            .unwrap();
    assert_eq!(installed["installed"], serde_json::json!(["web01"]));
    // The next run boots web01 from its disk, and keeps installed.json.
    assert_eq!(provision(s.path()).code, 0);
    let pxe = std::fs::read_to_string(s.path().join("out/tftp/pxelinux.cfg/01-52-54-00-aa-00-01"))
        .unwrap();
    assert!(pxe.contains("LOCALBOOT 0"), "{pxe}");
    assert!(s.path().join("out/installed.json").exists());
}
