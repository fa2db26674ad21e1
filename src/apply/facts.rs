//! Facts about this machine (LANGUAGE.md §7): hostname, fqdn, os, virtual, kernel, arch,
//! processors, memory_mb, ip, interfaces, and `ssh` (the host's public keys, at Facter's
//! path). Read from /etc, /proc, /sys, uname(2) and
//! getifaddrs(3); no process is spawned except `systemd-detect-virt` when present.

use serde_json::{json, Map, Value};
use std::path::Path;

/// Every fact, as the Map `$facts` sees.
pub(crate) fn gather() -> Map<String, Value> {
    let uts = rustix::system::uname();
    let hostname = hostname(&uts);
    let fqdn = fqdn(&hostname);
    let interfaces = interfaces();
    let ip = primary_ip(&interfaces);
    let mut m = Map::new();
    m.insert("hostname".into(), json!(hostname));
    m.insert("fqdn".into(), json!(fqdn));
    m.insert(
        "os".into(),
        os(&std::fs::read_to_string("/etc/os-release").unwrap_or_default()),
    );
    m.insert("virtual".into(), json!(virtual_kind()));
    m.insert("kernel".into(), json!(uts.sysname().to_string_lossy()));
    m.insert("arch".into(), json!(uts.machine().to_string_lossy()));
    m.insert(
        "processors".into(),
        json!(std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)),
    );
    m.insert("memory_mb".into(), json!(memory_mb()));
    m.insert("ip".into(), json!(ip));
    let ifs: Map<String, Value> = interfaces
        .into_iter()
        .map(|(name, mac, ip)| (name, json!({"mac": mac, "ip": ip})))
        .collect();
    m.insert("interfaces".into(), Value::Object(ifs));
    m.insert("ssh".into(), ssh_host_keys(Path::new("/etc/ssh")));
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    crate::model::facts::add_facter_paths(&mut m, &codename(&os_release));
    m
}

/// The public host keys in `dir` (`ssh_host_{rsa,ecdsa,ed25519}_key.pub`) as Facter's `ssh`
/// fact: `{ed25519: {type: "ssh-ed25519", key: "AAAA…"}, …}`, the key being the base64 blob
/// of the `.pub` file. The stdlib's `ssh::server` exports them, so that every node's
/// `ssh::known_hosts` lists the fleet's host keys. A missing or malformed file is left out.
pub(crate) fn ssh_host_keys(dir: &Path) -> Value {
    let mut keys = Map::new();
    for name in ["rsa", "ecdsa", "ed25519"] {
        let Ok(text) = std::fs::read_to_string(dir.join(format!("ssh_host_{name}_key.pub"))) else {
            continue;
        };
        let mut words = text.split_whitespace();
        if let (Some(kind), Some(key)) = (words.next(), words.next()) {
            let plausible = kind.starts_with("ssh-") || kind.starts_with("ecdsa-");
            if plausible
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
            {
                keys.insert(name.into(), json!({"type": kind, "key": key}));
            }
        }
    }
    Value::Object(keys)
}

/// The release's code name from the text of `/etc/os-release` (`VERSION_CODENAME`, else
/// `UBUNTU_CODENAME`, else the word in parentheses of `VERSION`, as in `12 (bookworm)`).
pub(crate) fn codename(text: &str) -> String {
    let get = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().trim_matches('"').trim_matches('\'').to_string())
            .filter(|v| !v.is_empty())
    };
    get("VERSION_CODENAME")
        .or_else(|| get("UBUNTU_CODENAME"))
        .or_else(|| {
            let v = get("VERSION")?;
            let inner = v.split_once('(')?.1.split_once(')')?.0;
            Some(inner.split_whitespace().next()?.to_lowercase())
        })
        .unwrap_or_default()
}

/// The host name up to its first dot (uname's nodename, which is what gethostname(2)
/// returns on Linux).
fn hostname(uts: &rustix::system::Uname) -> String {
    let name = uts.nodename().to_string_lossy();
    name.split('.').next().unwrap_or("localhost").to_string()
}

/// The canonical name of the host from the resolver (`/etc/hosts` first), else the hostname
/// with `/etc/resolv.conf`'s `domain` or `search`, else the hostname.
fn fqdn(host: &str) -> String {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let names: Vec<&str> = line.split_whitespace().skip(1).collect();
        if names.contains(&host) {
            if let Some(f) = names.iter().find(|n| n.starts_with(&format!("{host}."))) {
                return f.to_string();
            }
        }
    }
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    for line in resolv.lines() {
        let mut w = line.split_whitespace();
        if let (Some("domain" | "search"), Some(d)) = (w.next(), w.next()) {
            return format!("{host}.{d}");
        }
    }
    host.to_string()
}

/// `os` from the text of `/etc/os-release`.
pub(crate) fn os(text: &str) -> Value {
    let mut id = String::new();
    let mut like = String::new();
    let mut version = String::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "ID" => id = v.to_lowercase(),
            "ID_LIKE" => like = v.to_lowercase(),
            "VERSION_ID" => version = v,
            _ => {}
        }
    }
    let words: Vec<&str> = std::iter::once(id.as_str())
        .chain(like.split_whitespace())
        .collect();
    let family = if words.iter().any(|w| *w == "debian" || *w == "ubuntu") {
        "debian"
    } else if words
        .iter()
        .any(|w| matches!(*w, "rhel" | "fedora" | "centos" | "redhat"))
    {
        "redhat"
    } else if words.iter().any(|w| w.contains("suse")) {
        "suse"
    } else if id.is_empty() {
        "unknown"
    } else {
        id.as_str()
    };
    let name = if id == "rhel" {
        "redhat".to_string()
    } else {
        id.clone()
    };
    let major = version.split('.').next().unwrap_or("").to_string();
    json!({"family": family, "name": if name.is_empty() { "unknown".into() } else { name }, "release": version, "major": major})
}

fn virtual_kind() -> String {
    if std::path::Path::new("/.dockerenv").exists() {
        return "docker".into();
    }
    if let Ok(out) = std::process::Command::new("systemd-detect-virt")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
    {
        let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !v.is_empty() && v != "none" {
            return v;
        }
        if v == "none" {
            return "physical".into();
        }
    }
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    if cgroup.contains("docker") {
        return "docker".into();
    }
    if cgroup.contains("lxc") {
        return "lxc".into();
    }
    let product = std::fs::read_to_string("/sys/class/dmi/id/product_name")
        .unwrap_or_default()
        .to_lowercase();
    let vendor = std::fs::read_to_string("/sys/class/dmi/id/sys_vendor")
        .unwrap_or_default()
        .to_lowercase();
    for (needle, kind) in [
        ("kvm", "kvm"),
        ("qemu", "kvm"),
        ("vmware", "vmware"),
        ("virtualbox", "virtualbox"),
        ("xen", "xen"),
        ("hyper-v", "hyperv"),
        ("microsoft", "hyperv"),
    ] {
        if product.contains(needle) || vendor.contains(needle) {
            return kind.into();
        }
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if cpuinfo.contains(" hypervisor") {
        return "kvm".into();
    }
    "physical".into()
}

fn memory_mb() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

/// (name, mac, first IPv4) of every interface but loopback, sorted by name.
fn interfaces() -> Vec<(String, String, String)> {
    // The first IPv4 address of each interface, in getifaddrs' order.
    let mut v4: Vec<(String, String)> = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs().into_iter().flatten() {
        let Some(sin) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) else {
            continue;
        };
        if !v4.iter().any(|(n, _)| *n == ifa.interface_name) {
            v4.push((ifa.interface_name, sin.ip().to_string()));
        }
    }
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for (n, _) in &v4 {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names.sort();
    names
        .into_iter()
        .filter(|n| n != "lo")
        .map(|n| {
            let mac = std::fs::read_to_string(format!("/sys/class/net/{n}/address"))
                .unwrap_or_default()
                .trim()
                .to_string();
            let ip = v4
                .iter()
                .find(|(m, _)| *m == n)
                .map(|(_, ip)| ip.clone())
                .unwrap_or_default();
            (n, mac, ip)
        })
        .collect()
}

/// The IPv4 of the default route's interface, else the first one, else 127.0.0.1.
fn primary_ip(ifs: &[(String, String, String)]) -> String {
    let route = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let default_if = route.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[1] == "00000000").then(|| f[0].to_string())
    });
    if let Some(d) = default_if {
        if let Some((_, _, ip)) = ifs.iter().find(|(n, _, ip)| *n == d && !ip.is_empty()) {
            return ip.clone();
        }
    }
    ifs.iter()
        .map(|(_, _, ip)| ip)
        .find(|ip| !ip.is_empty())
        .cloned()
        .unwrap_or_else(|| "127.0.0.1".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_parses() {
        let v = os("ID=debian\nVERSION_ID=\"12\"\n");
        assert_eq!(
            v,
            json!({"family": "debian", "name": "debian", "release": "12", "major": "12"})
        );
        let v = os("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n");
        assert_eq!(v["family"], "debian");
        assert_eq!(v["major"], "24");
        let v = os("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n");
        assert_eq!(v["family"], "redhat");
        assert_eq!(v["name"], "rocky");
    }

    #[test]
    fn codenames() {
        assert_eq!(
            codename("ID=debian\nVERSION_CODENAME=bookworm\n"),
            "bookworm"
        );
        assert_eq!(codename("UBUNTU_CODENAME=noble\n"), "noble");
        assert_eq!(codename("VERSION=\"11 (bullseye)\"\n"), "bullseye");
        assert_eq!(codename("ID=rocky\n"), "");
    }

    #[test]
    fn facter_paths_repeat_fleets_own_facts() {
        let f = gather();
        let n = &f["networking"];
        for k in ["hostname", "fqdn", "ip", "interfaces"] {
            assert_eq!(n[k], f[k], "networking.{k}");
        }
        let fqdn = f["fqdn"].as_str().unwrap();
        let domain = n["domain"].as_str().unwrap();
        assert!(
            domain.is_empty() || fqdn.ends_with(&format!(".{domain}")),
            "{fqdn} {domain}"
        );
        assert_eq!(f["os"]["architecture"], f["arch"]);
        let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        assert_eq!(f["os"]["distro"]["codename"], codename(&release).as_str());
        if let Some(i) = f["interfaces"]
            .as_object()
            .unwrap()
            .values()
            .find(|i| i["ip"] == f["ip"])
        {
            assert_eq!(n["mac"], i["mac"]);
        }
    }

    #[test]
    fn host_keys_are_read_from_their_pub_files() {
        let dir = tempfile::tempdir().unwrap();
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "root@h", "-f"])
            .arg(dir.path().join("ssh_host_ed25519_key"))
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::write(
            dir.path().join("ssh_host_rsa_key.pub"),
            "ssh-rsa not;base64\n",
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join("ssh_host_ed25519_key.pub")).unwrap();
        let blob = text.split_whitespace().nth(1).unwrap();
        assert_eq!(
            ssh_host_keys(dir.path()),
            json!({"ed25519": {"type": "ssh-ed25519", "key": blob}})
        );
    }

    #[test]
    fn gathers_every_fact() {
        let f = gather();
        for k in [
            "hostname",
            "fqdn",
            "os",
            "virtual",
            "kernel",
            "arch",
            "processors",
            "memory_mb",
            "ip",
            "interfaces",
            "ssh",
        ] {
            assert!(f.contains_key(k), "missing {k}");
        }
        assert!(f["processors"].as_u64().unwrap() >= 1);
    }

    /// The facts read from uname and getifaddrs agree with what /proc and /sys say.
    #[test]
    fn host_facts_match_the_kernel() {
        let f = gather();
        let proc = |p: &str| std::fs::read_to_string(p).unwrap().trim().to_string();
        let host = proc("/proc/sys/kernel/hostname");
        assert_eq!(f["hostname"], host.split('.').next().unwrap());
        assert_eq!(f["kernel"], proc("/proc/sys/kernel/ostype"));
        assert_eq!(f["arch"], std::env::consts::ARCH);
        let ifs = f["interfaces"].as_object().unwrap();
        assert!(!ifs.contains_key("lo"));
        for (name, i) in ifs {
            let mac = std::fs::read_to_string(format!("/sys/class/net/{name}/address"));
            assert_eq!(i["mac"], mac.unwrap_or_default().trim(), "{name}");
            let ip = i["ip"].as_str().unwrap();
            assert!(
                ip.is_empty() || ip.parse::<std::net::Ipv4Addr>().is_ok(),
                "{ip}"
            );
        }
        let ips: Vec<&str> = ifs.values().filter_map(|i| i["ip"].as_str()).collect();
        let ip = f["ip"].as_str().unwrap();
        assert!(ip == "127.0.0.1" || ips.contains(&ip), "{ip} in {ips:?}");
    }
}
