//! The output tree of `fleet provision`, as bytes in memory: a pure function of the nodes,
//! the server's URLs and `installed.json`, so the same input gives byte-identical files.
//!
//! Layout (PROVISION.md's table, plus what the real tools need):
//! `dnsmasq.conf`, `dhcp-hosts/<node>` (its `dhcp-hostsdir`), `dhcp-opts/<node>` (its
//! `dhcp-optsdir`: gateway and DNS), `tftp/pxelinux.cfg/01-<mac>`, `tftp/grub/grub.cfg-01-<mac>`,
//! the default entries of both (boot from the local disk), `tftp/<profile>/{linux,initrd}`,
//! the boot loaders copied from Debian packages when present, `http/answers/<node>`,
//! `http/nocloud/<node>/{user-data,meta-data}` (autoinstall), `libvirt/<node>.xml`,
//! `provision.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::collect::{is_url, Node};
use super::{Options, Server};
use crate::eval::profile::Evaluated;
use crate::model::value::Value;

/// One file of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// These bytes.
    Bytes(Vec<u8>),
    /// A copy of (or hard link to) this file on this machine.
    Copy(PathBuf),
}

/// The tree: relative path (with `/`) to its file, sorted.
pub(crate) type Tree = BTreeMap<String, Entry>;

/// The boot loaders copied from Debian packages into the TFTP tree when present: (file in
/// the tree, path on the system, package).
pub(crate) const BOOT_FILES: &[(&str, &str, &str)] = &[
    ("pxelinux.0", "usr/lib/PXELINUX/pxelinux.0", "pxelinux"),
    (
        "ldlinux.c32",
        "usr/lib/syslinux/modules/bios/ldlinux.c32",
        "syslinux-common",
    ),
    (
        "libutil.c32",
        "usr/lib/syslinux/modules/bios/libutil.c32",
        "syslinux-common",
    ),
    (
        "menu.c32",
        "usr/lib/syslinux/modules/bios/menu.c32",
        "syslinux-common",
    ),
    (
        "grubx64.efi",
        "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
        "grub-efi-amd64-signed",
    ),
    ("ipxe/undionly.kpxe", "usr/lib/ipxe/undionly.kpxe", "ipxe"),
    ("ipxe/ipxe.efi", "usr/lib/ipxe/ipxe.efi", "ipxe"),
];

/// The whole tree for `nodes`. An error when a node needs something the invocation did not
/// give (an answer file's URL without `--http`/`--server-ip`).
pub(crate) fn tree(
    nodes: &[Node],
    out: &Path,
    server: &Server,
    opts: &Options,
    installed: &BTreeSet<String>,
) -> Result<Tree, String> {
    let mut t = Tree::new();
    let mut records = BTreeMap::new();
    let mut profiles: BTreeMap<&str, &Node> = BTreeMap::new();
    for n in nodes {
        let local = !n.netboot || installed.contains(&n.name);
        let mut files = Vec::new();
        let mut put = |t: &mut Tree, path: String, e: Entry| {
            files.push(path.clone());
            t.insert(path, e);
        };
        put(
            &mut t,
            format!("dhcp-hosts/{}", n.name),
            Entry::Bytes(dhcp_host(n, opts).into_bytes()),
        );
        if let Some(o) = dhcp_opts(n) {
            put(
                &mut t,
                format!("dhcp-opts/{}", n.name),
                Entry::Bytes(o.into_bytes()),
            );
        }
        let boot = match &n.profile {
            Some((pname, p)) if !local => {
                profiles.entry(pname).or_insert(n);
                let install = install(n, pname, p, server)?;
                let kind = install.kind;
                if let Some(Value::Str(a)) = p.values.get("answer") {
                    put(
                        &mut t,
                        format!("http/answers/{}", n.name),
                        Entry::Bytes(a.as_bytes().to_vec()),
                    );
                    if kind == "autoinstall" {
                        put(
                            &mut t,
                            format!("http/nocloud/{}/user-data", n.name),
                            Entry::Bytes(a.as_bytes().to_vec()),
                        );
                        put(
                            &mut t,
                            format!("http/nocloud/{}/meta-data", n.name),
                            Entry::Bytes(
                                format!(
                                    "instance-id: {}\nlocal-hostname: {}\n",
                                    n.name, n.hostname
                                )
                                .into_bytes(),
                            ),
                        );
                    }
                }
                Some(install)
            }
            _ => None,
        };
        let dashed = n.mac.replace(':', "-");
        put(
            &mut t,
            format!("tftp/pxelinux.cfg/01-{dashed}"),
            Entry::Bytes(pxelinux(n, boot.as_ref()).into_bytes()),
        );
        put(
            &mut t,
            format!("tftp/grub/grub.cfg-01-{dashed}"),
            Entry::Bytes(grub(n, boot.as_ref()).into_bytes()),
        );
        if let Some(vm) = &n.vm {
            put(
                &mut t,
                format!("libvirt/{}.xml", n.name),
                Entry::Bytes(super::domain::xml(n, vm, &opts.vm).into_bytes()),
            );
        }
        records.insert(
            n.name.clone(),
            super::wire::NodeRecord {
                mac: n.mac.clone(),
                ip: n.ip.map(|(a, p)| format!("{a}/{p}")),
                hostname: n.hostname.clone(),
                profile: n.profile.as_ref().map(|(p, _)| p.clone()),
                boot: if boot.is_some() { "install" } else { "local" }.to_string(),
                vm: n.vm.as_ref().map(|v| super::wire::VmRecord {
                    host: v.host.clone(),
                    ram_mb: v.ram_mb,
                    cpus: v.cpus,
                    disk_gb: v.disk_gb,
                }),
                files,
            },
        );
    }
    for (pname, n) in profiles {
        if let Some((_, p)) = &n.profile {
            for (key, file) in [("kernel", "linux"), ("initrd", "initrd")] {
                if let Some(Value::Str(src)) = p.values.get(key) {
                    if !is_url(src) {
                        t.insert(
                            format!("tftp/{pname}/{file}"),
                            Entry::Copy(PathBuf::from(&**src)),
                        );
                    }
                }
            }
        }
    }
    for (dest, src, _) in BOOT_FILES {
        let path = opts.boot_files_root.join(src);
        if path.is_file() {
            t.insert(format!("tftp/{dest}"), Entry::Copy(path));
        }
    }
    if let Some(e) = &opts.enrol {
        t.insert("http/fleet/fleet".into(), Entry::Copy(e.binary.clone()));
        t.insert("http/fleet/ca.crt".into(), Entry::Copy(e.ca_cert.clone()));
    }
    t.insert(
        "tftp/pxelinux.cfg/default".into(),
        Entry::Bytes(pxelinux_local("unregistered machine").into_bytes()),
    );
    t.insert(
        "tftp/grub/grub.cfg".into(),
        Entry::Bytes(grub_local("unregistered machine").into_bytes()),
    );
    t.insert(
        "dnsmasq.conf".into(),
        Entry::Bytes(dnsmasq_conf(nodes, out, server, opts).into_bytes()),
    );
    t.insert(
        "provision.json".into(),
        Entry::Bytes(super::wire::document(records)),
    );
    Ok(t)
}

/// A node's install boot entry: what the loader loads and passes.
/// How a node starts its installer: what the boot loader loads and with which arguments.
pub(crate) struct Install<'a> {
    pub node: &'a Node,
    pub profile: &'a str,
    /// The answer file's kind (`preseed`, `kickstart`, `autoinstall`, `none`).
    pub kind: &'a str,
    /// The kernel and initrd as the network boot loader fetches them (the copy in the TFTP
    /// tree, or the URL as written).
    pub kernel: String,
    pub initrd: String,
    /// The profile's: an absolute path on this machine, or an http(s) URL.
    pub kernel_source: String,
    pub initrd_source: String,
    /// The kernel command line: the profile's `kernel_args` and the answer file's URL in the
    /// installer's own parameter.
    pub args: String,
}

/// The installer start of node `n` with profile `pname` (its values `p`). An error when the
/// profile has an answer file and no URL can be made for it (no `--http`/`--server-ip`).
pub(crate) fn install<'a>(
    n: &'a Node,
    pname: &'a str,
    p: &'a Evaluated,
    server: &Server,
) -> Result<Install<'a>, String> {
    let kind = p
        .values
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("none");
    let answer_arg = match kind {
        "none" => String::new(),
        _ => {
            let url = server.answer_url(&n.name).ok_or_else(|| {
                format!(
                    "node {}: profile `{pname}` has a {kind} answer file, and its URL needs --http URL or --server-ip IP",
                    n.name
                )
            })?;
            match kind {
                "preseed" => format!("url={url}"),
                "kickstart" => format!("inst.ks={url}"),
                _ => format!(
                    "autoinstall ds=nocloud-net;s={}/nocloud/{}/",
                    server.http.as_deref().unwrap_or_default(),
                    n.name
                ),
            }
        }
    };
    let args = [
        p.values
            .get("kernel_args")
            .and_then(Value::as_str)
            .unwrap_or(""),
        &answer_arg,
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" ");
    let source = |key: &str| {
        p.values
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(Install {
        node: n,
        profile: pname,
        kind,
        kernel: boot_path(pname, p.values.get("kernel"), "linux"),
        initrd: boot_path(pname, p.values.get("initrd"), "initrd"),
        kernel_source: source("kernel"),
        initrd_source: source("initrd"),
        args,
    })
}

/// The kernel or initrd as the boot loader fetches it: the copy in the TFTP tree, or the
/// URL as written.
fn boot_path(profile: &str, v: Option<&Value>, file: &str) -> String {
    match v.and_then(Value::as_str) {
        Some(u) if is_url(u) => u.to_string(),
        _ => format!("{profile}/{file}"),
    }
}

/// The dnsmasq tag of a node's options: stable across runs and safe in any name.
fn tag(node: &str) -> String {
    format!(
        "fleet-{}",
        &crate::model::digest::sha256_hex(node.as_bytes())[..12]
    )
}

/// `dhcp-hosts/<node>`: `<mac>,set:<tag>,<ip>,<hostname>` (no address under `--proxy-dhcp`).
fn dhcp_host(n: &Node, opts: &Options) -> String {
    let mut line = format!("{},set:{}", n.mac, tag(&n.name));
    if let (Some((ip, _)), false) = (n.ip, opts.proxy_dhcp) {
        match ip {
            IpAddr::V4(a) => {
                let _ = write!(line, ",{a}");
            }
            IpAddr::V6(a) => {
                let _ = write!(line, ",[{a}]");
            }
        }
    }
    let _ = writeln!(line, ",{}", n.hostname);
    line
}

/// `dhcp-opts/<node>`: the node's gateway and DNS servers, when it has any.
fn dhcp_opts(n: &Node) -> Option<String> {
    let mut out = String::new();
    if let Some(g) = n.gateway {
        let _ = writeln!(out, "tag:{},option:router,{g}", tag(&n.name));
    }
    if !n.dns.is_empty() {
        let list: Vec<String> = n.dns.iter().map(IpAddr::to_string).collect();
        let _ = writeln!(
            out,
            "tag:{},option:dns-server,{}",
            tag(&n.name),
            list.join(",")
        );
    }
    (!out.is_empty()).then_some(out)
}

/// The networks the nodes' addresses are in (IPv4), as (network, netmask), sorted.
fn networks(nodes: &[Node]) -> BTreeSet<(std::net::Ipv4Addr, std::net::Ipv4Addr)> {
    nodes
        .iter()
        .filter_map(|n| match n.ip {
            Some((IpAddr::V4(a), p)) => {
                let mask = if p == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(p.min(32)))
                };
                Some((
                    std::net::Ipv4Addr::from(u32::from(a) & mask),
                    std::net::Ipv4Addr::from(mask),
                ))
            }
            _ => None,
        })
        .collect()
}

/// `dnsmasq.conf`: DHCP for the registered MACs only (static entries from the hosts
/// directory), TFTP from `tftp/`, BIOS clients get pxelinux, UEFI (client architecture 7 or
/// 9) GRUB; no DNS.
fn dnsmasq_conf(nodes: &[Node], out: &Path, server: &Server, opts: &Options) -> String {
    let dir = out.display();
    let mut c = String::new();
    c.push_str(
        "# Written by `fleet provision`; every run rewrites it (edit the manifests instead).\n",
    );
    c.push_str("# DNS is off: this dnsmasq is the DHCP and TFTP server of the install network.\n");
    c.push_str("port=0\n");
    let _ = writeln!(c, "dhcp-leasefile={dir}/dnsmasq.leases");
    c.push_str("# One file per node: a new node needs no restart (a removed one needs SIGHUP).\n");
    let _ = writeln!(c, "dhcp-hostsdir={dir}/dhcp-hosts");
    let _ = writeln!(c, "dhcp-optsdir={dir}/dhcp-opts");
    if opts.proxy_dhcp {
        c.push_str("# Proxy DHCP: the network's own DHCP server hands out the addresses.\n");
        let nets = networks(nodes);
        for (net, _) in &nets {
            let _ = writeln!(c, "dhcp-range={net},proxy");
        }
        if nets.is_empty() {
            if let Some(IpAddr::V4(ip)) = server.ip {
                let _ = writeln!(c, "dhcp-range={ip},proxy");
            }
        }
        c.push_str("pxe-prompt=\"fleet\",0\n");
        c.push_str("pxe-service=tag:known,x86PC,\"fleet install (BIOS)\",pxelinux\n");
        c.push_str("pxe-service=tag:known,X86-64_EFI,\"fleet install (UEFI)\",grubx64.efi\n");
        c.push_str("pxe-service=tag:known,BC_EFI,\"fleet install (UEFI)\",grubx64.efi\n");
    } else {
        c.push_str("# Static leases only: a MAC with no file in dhcp-hosts gets no address.\n");
        for (net, mask) in networks(nodes) {
            let _ = writeln!(c, "dhcp-range={net},static,{mask},12h");
        }
        c.push_str("dhcp-ignore=tag:!known\n");
        c.push_str("dhcp-match=set:efi-x86_64,option:client-arch,7\n");
        c.push_str("dhcp-match=set:efi-x86_64,option:client-arch,9\n");
        let next = server.ip.map(|ip| format!(",,{ip}")).unwrap_or_default();
        let _ = writeln!(c, "dhcp-boot=tag:!efi-x86_64,pxelinux.0{next}");
        let _ = writeln!(c, "dhcp-boot=tag:efi-x86_64,grubx64.efi{next}");
    }
    c.push_str("enable-tftp\n");
    let _ = writeln!(c, "tftp-root={dir}/tftp");
    c
}

/// `tftp/pxelinux.cfg/01-<mac>`.
fn pxelinux(n: &Node, install: Option<&Install<'_>>) -> String {
    let Some(i) = install else {
        return pxelinux_local(&format!("{} boots from its local disk", n.name));
    };
    format!(
        "# fleet: {} installs profile {}\nDEFAULT install\nPROMPT 0\nTIMEOUT 0\nLABEL install\n  KERNEL {}\n  INITRD {}\n  APPEND {}\n",
        i.node.name, i.profile, i.kernel, i.initrd, i.args
    )
}

/// A pxelinux entry that boots the local disk.
fn pxelinux_local(why: &str) -> String {
    format!("# fleet: {why}\nDEFAULT local\nPROMPT 0\nTIMEOUT 0\nLABEL local\n  LOCALBOOT 0\n")
}

/// `tftp/grub/grub.cfg-01-<mac>`.
fn grub(n: &Node, install: Option<&Install<'_>>) -> String {
    let Some(i) = install else {
        return grub_local(&format!("{} boots from its local disk", n.name));
    };
    let abs = |p: &str| {
        if is_url(p) {
            p.to_string()
        } else {
            format!("/{p}")
        }
    };
    format!(
        "# fleet: {} installs profile {}\nset timeout=0\nmenuentry 'fleet install {}' {{\n  linux {} {}\n  initrd {}\n}}\n",
        i.node.name,
        i.profile,
        i.profile,
        abs(&i.kernel),
        grub_quote_args(&i.args),
        abs(&i.initrd)
    )
}

/// Kernel arguments for GRUB: an argument with `;` (autoinstall's data source) is quoted.
pub(crate) fn grub_quote_args(args: &str) -> String {
    args.split(' ')
        .map(|a| {
            if a.contains(';') {
                format!("'{a}'")
            } else {
                a.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A GRUB config that hands the machine back to the firmware (next boot device: disk).
fn grub_local(why: &str) -> String {
    format!("# fleet: {why}\nset timeout=0\nexit\n")
}
