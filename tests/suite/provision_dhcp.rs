//! A real DHCP exchange with the generated tree: two network namespaces joined by a veth
//! pair; dnsmasq with the generated `dnsmasq.conf` on one side, busybox `udhcpc` on the
//! other. A registered MAC gets its node's address and can fetch its PXE entry over TFTP;
//! an unregistered MAC gets no address. Skipped (with a printed reason) only where network
//! namespaces cannot be made.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{fleet_in, run};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Two namespaces and the veth pair between them; deleted (with dnsmasq stopped) on drop.
struct Net {
    server_ns: String,
    client_ns: String,
    client_if: String,
    dnsmasq: Option<Child>,
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(mut c) = self.dnsmasq.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let r = run(Command::new("ip").args(args));
    if r.code == 0 {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), r.stderr.trim()))
    }
}

/// Makes the namespaces: server side 10.99.0.1/24.
fn net() -> Result<Net, String> {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let id = format!("{}{n}", std::process::id() % 100_000);
    let net = Net {
        server_ns: format!("fleet-s{id}"),
        client_ns: format!("fleet-c{id}"),
        client_if: format!("fc{id}"),
        dnsmasq: None,
    };
    let server_if = format!("fs{id}");
    ip(&["netns", "add", &net.server_ns])?;
    ip(&["netns", "add", &net.client_ns])?;
    ip(&[
        "link",
        "add",
        &server_if,
        "type",
        "veth",
        "peer",
        "name",
        &net.client_if,
    ])?;
    ip(&["link", "set", &server_if, "netns", &net.server_ns])?;
    ip(&["link", "set", &net.client_if, "netns", &net.client_ns])?;
    let s = &net.server_ns;
    ip(&["-n", s, "addr", "add", "10.99.0.1/24", "dev", &server_if])?;
    ip(&["-n", s, "link", "set", &server_if, "up"])?;
    ip(&["-n", s, "link", "set", "lo", "up"])?;
    ip(&["-n", &net.client_ns, "link", "set", "lo", "up"])?;
    Ok(net)
}

/// `udhcpc` in the client namespace with `mac`: the address it was given, if any.
fn dhcp(net: &Net, mac: &str, dir: &Path, tries: u32) -> Option<String> {
    let c = &net.client_ns;
    ip(&["-n", c, "link", "set", &net.client_if, "down"]).ok()?;
    ip(&["-n", c, "link", "set", &net.client_if, "address", mac]).ok()?;
    ip(&["-n", c, "link", "set", &net.client_if, "up"]).ok()?;
    let lease = dir.join(format!("lease-{}", mac.replace(':', "")));
    let script = dir.join("udhcpc.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip\" > {}\nexit 0\n",
            lease.display()
        ),
    )
    .ok()?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).ok()?;
    let tries = tries.to_string();
    let _ = run(Command::new("ip")
        .args(["netns", "exec", c, "busybox", "udhcpc", "-f", "-q", "-n"])
        .args(["-t", &tries, "-T", "1", "-i", &net.client_if, "-s"])
        .arg(&script));
    std::fs::read_to_string(&lease)
        .ok()
        .map(|s| s.trim().to_string())
}

#[test]
fn registered_mac_gets_its_address_and_pxe_entry() {
    if Command::new("busybox").arg("true").status().is_err() {
        panic!("busybox is not installed (scripts/install-test-deps.sh)");
    }
    let net = match net() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("skipped: network namespaces are not available here: {e}");
            return;
        }
    };
    let mut net = net;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("nb")).unwrap();
    std::fs::write(dir.path().join("nb/linux"), "k").unwrap();
    std::fs::write(dir.path().join("nb/initrd.gz"), "i").unwrap();
    std::fs::write(
        dir.path().join("site.fleet"),
        r#"provision "deb" { kernel = "nb/linux", initrd = "nb/initrd.gz" }
node "web01" { provision { mac = "52:54:00:aa:00:01", ip = "10.99.0.11/24", gateway = "10.99.0.1", profile = "deb" } }
"#,
    )
    .unwrap();
    let r = fleet_in(
        dir.path(),
        [
            "provision",
            "--out",
            "out",
            "--server-ip",
            "10.99.0.1",
            "site.fleet",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.describe());
    let out = dir.path().join("out");
    let log = dir.path().join("dnsmasq.log");
    net.dnsmasq = Some(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &net.server_ns,
                "/usr/sbin/dnsmasq",
                "-k",
                "--user=root",
                "--log-dhcp",
            ])
            .arg(format!("--log-facility={}", log.display()))
            .arg(format!(
                "--pid-file={}",
                dir.path().join("dnsmasq.pid").display()
            ))
            .arg("-C")
            .arg(out.join("dnsmasq.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq starts"),
    );
    // dnsmasq is up when it has logged that it started.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("TFTP root")) {
        assert!(
            Instant::now() < deadline,
            "dnsmasq did not start: {:?}",
            std::fs::read_to_string(&log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = dhcp(&net, "52:54:00:aa:00:01", dir.path(), 10);
    assert_eq!(
        got.as_deref(),
        Some("10.99.0.11"),
        "log: {:?}",
        std::fs::read_to_string(&log)
    );
    // The client has its address now; fetch its PXE entry from the TFTP tree.
    ip(&[
        "-n",
        &net.client_ns,
        "addr",
        "add",
        "10.99.0.11/24",
        "dev",
        &net.client_if,
    ])
    .unwrap();
    let fetched = dir.path().join("fetched");
    let t = run(Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.client_ns,
            "busybox",
            "tftp",
            "-g",
            "-r",
            "pxelinux.cfg/01-52-54-00-aa-00-01",
            "-l",
        ])
        .arg(&fetched)
        .arg("10.99.0.1"));
    assert_eq!(t.code, 0, "tftp: {}", t.describe());
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        std::fs::read(out.join("tftp/pxelinux.cfg/01-52-54-00-aa-00-01")).unwrap()
    );
    ip(&["-n", &net.client_ns, "addr", "flush", "dev", &net.client_if]).unwrap();
    // An unregistered MAC gets nothing.
    assert_eq!(dhcp(&net, "52:54:00:bb:00:09", dir.path(), 3), None);
}
