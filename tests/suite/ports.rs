//! Puppet modules ported to fleet (`tests/ports/<module>/`, docs/ports.md), checked against
//! upstream:
//!
//! - every port's `site.fleet` checks clean under `--deny warnings`, and every port file is
//!   in `fleet fmt`'s layout;
//! - puppetlabs-ntp, saz/puppet-ssh, duritong-sysctl and rodjek-logrotate, whose upstream
//!   modules Debian packages (`/usr/share/puppet/modules`): each node of the port's site
//!   compiles, and the files it manages (path, ensure, owner, group, mode, content byte for
//!   byte, `source`d bytes), its packages and its services (and sysctl's lines and runtime
//!   values) are those of the
//!   catalog real Puppet compiles from the upstream module for the same parameters
//!   (`tests/ports/<module>/puppet/site.pp`) and the same facts;
//! - puppetlabs-motd and puppetlabs-accounts, not packaged: the examples of their
//!   spec/classes/motd_spec.rb and spec/defines/accounts_user_spec.rb, as assertions on
//!   fleet's catalogs; and the motd port applied into a sandbox root, twice.
//!
//! Puppet runs offline: `puppet catalog compile` with its confdir, vardir and codedir in a
//! temporary directory, the facts from the `json` facts terminus there (Facter never runs),
//! and the upstream modules as the module path. Nothing is written outside the temporary
//! directories.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support;

const UPSTREAM: &str = "/usr/share/puppet/modules";

fn port(name: &str) -> PathBuf {
    support::root().join("tests/ports").join(name)
}

fn fleet_catalog(manifest: &Path, node: &str) -> Value {
    let run = support::fleet([
        "compile".as_ref(),
        "--node".as_ref(),
        node.as_ref(),
        manifest.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{node}: {}", run.describe());
    serde_json::from_str(&run.stdout).unwrap()
}

/// The fleet facts file of a node, as Facter would report the same machine: Facter's
/// spelling of the OS (`Debian`, `RedHat`, where fleet says `debian`, `redhat`), its legacy
/// top-level facts that the upstream modules still read (`osfamily`, `operatingsystem`,
/// `operatingsystemmajrelease`), `is_virtual` (fleet's `virtual` other than `physical`), and
/// `clientversion`, which an agent sends and puppetlabs-concat reads.
fn puppet_facts(fleet: &Value) -> Value {
    let spell = |s: &str| match s {
        "debian" => "Debian".to_string(),
        "redhat" => "RedHat".to_string(),
        "ubuntu" => "Ubuntu".to_string(),
        "rocky" => "Rocky".to_string(),
        other => other.to_string(),
    };
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let os = &fleet["os"];
    let (family, name) = (spell(&s(&os["family"])), spell(&s(&os["name"])));
    json!({
        "kernel": fleet["kernel"],
        "hostname": fleet["hostname"],
        "fqdn": fleet["fqdn"],
        "ipaddress": fleet["ip"],
        "virtual": fleet["virtual"],
        "is_virtual": fleet["virtual"] != "physical",
        "os": {
            "family": family,
            "name": name,
            "release": {"full": os["release"], "major": os["major"]},
            "architecture": fleet["arch"],
        },
        "osfamily": family,
        "operatingsystem": name,
        "operatingsystemmajrelease": os["major"],
        "networking": {"hostname": fleet["hostname"], "fqdn": fleet["fqdn"], "ip": fleet["ip"]},
        "clientversion": "7.23.0",
    })
}

/// `puppet catalog compile NODE` of `tests/ports/<module>/puppet/site.pp`, offline.
fn puppet_catalog(module: &str, node: &str, facts: &Value) -> Value {
    let state = tempfile::tempdir().unwrap();
    let d = state.path();
    let facts_dir = d.join("var/server_data/facts");
    std::fs::create_dir_all(&facts_dir).unwrap();
    std::fs::write(
        facts_dir.join(format!("{node}.json")),
        json!({"name": node, "values": facts}).to_string(),
    )
    .unwrap();
    let mut cmd = Command::new("puppet");
    cmd.args(["catalog", "compile", node]);
    for (flag, sub) in [
        ("--confdir", "conf"),
        ("--vardir", "var"),
        ("--codedir", "code"),
        ("--logdir", "log"),
        ("--rundir", "run"),
    ] {
        cmd.arg(flag).arg(d.join(sub));
    }
    cmd.args([
        "--color",
        "false",
        "--facts_terminus",
        "json",
        "--render-as",
        "json",
    ])
    .args(["--modulepath", UPSTREAM, "--manifest"])
    .arg(port(module).join("puppet/site.pp"))
    .env("HOME", d);
    let run = support::run_within(&mut cmd, Duration::from_secs(120)).unwrap();
    assert_eq!(
        run.code,
        0,
        "puppet catalog compile {node}: {}",
        run.describe()
    );
    // A `Notice: Compiled catalog …` line comes first on stdout.
    let start = run.stdout.find('{').expect("a catalog on stdout");
    serde_json::from_str(&run.stdout[start..]).unwrap()
}

/// What a managed file comes to on the machine.
#[derive(Debug, PartialEq)]
struct Managed {
    ensure: String,
    owner: String,
    group: String,
    mode: String,
    content: Option<String>,
    /// The sha256 of a `source`d file's bytes.
    source_sha256: Option<String>,
}

/// A removed file's content does not matter (upstream logrotate renders its template for
/// an absent rule anyway).
fn removed_has_no_content(mut m: Managed) -> Managed {
    if m.ensure == "absent" {
        m.content = None;
    }
    m
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `ensure = present` and `file` are the same for a file with content.
fn ensure(v: &Value) -> String {
    match text(v).as_str() {
        "present" => "file".to_string(),
        other => other.to_string(),
    }
}

/// The files of a Puppet catalog. A `concat` target (saz-ssh's sshd_config) is the file its
/// `Concat` resource describes, with the content of its fragments in their order.
fn puppet_files(catalog: &Value) -> BTreeMap<String, Managed> {
    let resources = catalog["resources"].as_array().unwrap();
    let mut out = BTreeMap::new();
    for r in resources {
        let p = &r["parameters"];
        let path = p["path"]
            .as_str()
            .or(r["title"].as_str())
            .unwrap()
            .to_string();
        // `puppet:///modules/M/P` is M's files/P.
        let source_sha256 = p["source"].as_str().map(|source| {
            let rest = source
                .strip_prefix("puppet:///modules/")
                .unwrap_or_else(|| panic!("{path}: source {source}"));
            let (module, file) = rest.split_once('/').unwrap();
            let bytes = std::fs::read(Path::new(UPSTREAM).join(module).join("files").join(file))
                .unwrap_or_else(|e| panic!("{path}: {source}: {e}"));
            support::sha256_hex(&bytes)
        });
        let managed = |content: Option<String>| {
            removed_has_no_content(Managed {
                ensure: ensure(&p["ensure"]),
                owner: text(&p["owner"]),
                group: text(&p["group"]),
                mode: text(&p["mode"]),
                content,
                source_sha256: source_sha256.clone(),
            })
        };
        match r["type"].as_str().unwrap() {
            "File" => {
                out.insert(path, managed(p["content"].as_str().map(String::from)));
            }
            "Concat" => {
                let mut fragments: Vec<(String, String)> = resources
                    .iter()
                    .filter(|f| f["type"] == "Concat_fragment" && f["parameters"]["target"] == path)
                    .map(|f| {
                        let fp = &f["parameters"];
                        (text(&fp["order"]), text(&fp["content"]))
                    })
                    .collect();
                fragments.sort();
                let content = fragments.into_iter().map(|(_, c)| c).collect::<String>();
                out.insert(path, managed(Some(content)));
            }
            _ => {}
        }
    }
    out
}

fn fleet_files(catalog: &Value) -> BTreeMap<String, Managed> {
    let mut out = BTreeMap::new();
    for r in catalog["resources"].as_array().unwrap() {
        if r["type"] != "file" {
            continue;
        }
        let p = &r["params"];
        let path = p["path"]
            .as_str()
            .or(r["title"].as_str())
            .unwrap()
            .to_string();
        let content = match &p["content"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => panic!("{path}: content is not a plain String: {other}"),
        };
        let source_sha256 = if content.is_none() {
            p["content_sha256"].as_str().map(String::from)
        } else {
            None
        };
        out.insert(
            path,
            removed_has_no_content(Managed {
                ensure: ensure(&p["ensure"]),
                owner: text(&p["owner"]),
                group: text(&p["group"]),
                mode: text(&p["mode"]),
                content,
                source_sha256,
            }),
        );
    }
    out
}

/// Packages and services by the name the machine knows them by (a Puppet service titled
/// `ntp` with `name => 'ntpd'` is fleet's service `ntpd`): `ensure`, and `enable` for a
/// service.
fn puppet_others(catalog: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in catalog["resources"].as_array().unwrap() {
        let p = &r["parameters"];
        let name = p["name"].as_str().or(r["title"].as_str()).unwrap();
        match r["type"].as_str().unwrap() {
            "Package" => {
                out.insert(format!("package {name}"), text(&p["ensure"]));
            }
            "Service" => {
                out.insert(
                    format!("service {name}"),
                    format!("{} enable={}", text(&p["ensure"]), text(&p["enable"])),
                );
            }
            // duritong-sysctl's types: the `name=val` line of the target file, and the
            // running kernel's value.
            "Sysctl" => {
                let target = p["target"].as_str().unwrap_or("/etc/sysctl.conf");
                out.insert(
                    format!("sysctl {name}"),
                    format!("{target}: {name}={}", text(&p["val"])),
                );
            }
            "Sysctl_runtime" => {
                out.insert(format!("sysctl_runtime {name}"), text(&p["val"]));
            }
            _ => {}
        }
    }
    out
}

fn fleet_others(catalog: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in catalog["resources"].as_array().unwrap() {
        let p = &r["params"];
        let name = p["name"].as_str().or(r["title"].as_str()).unwrap();
        match r["type"].as_str().unwrap() {
            "package" => {
                out.insert(format!("package {name}"), text(&p["ensure"]));
            }
            "service" => {
                out.insert(
                    format!("service {name}"),
                    format!("{} enable={}", text(&p["ensure"]), text(&p["enable"])),
                );
            }
            // The sysctl port's stand-ins for those types (tests/ports/sysctl).
            "file_line" if name.starts_with("sysctl ") => {
                out.insert(
                    name.to_string(),
                    format!("{}: {}", text(&p["path"]), text(&p["line"])),
                );
            }
            "exec" => {
                let command = p["command"].as_str().unwrap_or(name);
                if let Some((key, val)) = command
                    .strip_prefix("sysctl -w ")
                    .and_then(|rest| rest.split_once('='))
                {
                    out.insert(
                        format!("sysctl_runtime {key}"),
                        val.trim_matches('\'').to_string(),
                    );
                }
            }
            _ => {}
        }
    }
    out
}

/// Every node of `module`'s site, compiled by fleet and by Puppet from the upstream
/// module, has the same files, packages and services. The Puppet compiles run side by side.
/// `fleet_only` names the files the port manages beyond upstream's, each for a reason its
/// caller gives.
fn matches_upstream(module: &str, upstream: &str, nodes: &[&str], fleet_only: fn(&str) -> bool) {
    support::require_tool("puppet");
    assert!(
        Path::new(UPSTREAM)
            .join(upstream)
            .join("manifests")
            .is_dir(),
        "{UPSTREAM}/{upstream} is missing: scripts/install-test-deps.sh installs it"
    );
    let dir = port(module);
    let site = dir.join("site.fleet");
    std::thread::scope(|s| {
        let runs: Vec<_> = nodes
            .iter()
            .map(|node| {
                let (dir, site) = (&dir, &site);
                s.spawn(move || {
                    let facts_file = dir.join(format!("facts/{node}.json"));
                    let facts: Value =
                        serde_json::from_str(&std::fs::read_to_string(&facts_file).unwrap())
                            .unwrap();
                    let theirs = puppet_catalog(module, node, &puppet_facts(&facts));
                    let ours = fleet_catalog(site, node);
                    (node, theirs, ours)
                })
            })
            .collect();
        for run in runs {
            let (node, theirs, ours) = run.join().unwrap();
            let (want, mut got) = (puppet_files(&theirs), fleet_files(&ours));
            got.retain(|path, _| !fleet_only(path));
            assert_eq!(
                want.keys().collect::<Vec<_>>(),
                got.keys().collect::<Vec<_>>(),
                "{module} {node}: the managed files"
            );
            assert!(!want.is_empty(), "{module} {node}: no files at all");
            for (path, w) in &want {
                assert_eq!(w, &got[path], "{module} {node}: {path}");
            }
            assert_eq!(
                puppet_others(&theirs),
                fleet_others(&ours),
                "{module} {node}: packages and services"
            );
        }
    });
}

#[test]
fn every_port_checks_clean_under_deny_warnings() {
    for module in ["ntp", "ssh", "motd", "accounts", "sysctl", "logrotate"] {
        let site = port(module).join("site.fleet");
        let run = support::fleet([
            "check".as_ref(),
            "--deny".as_ref(),
            "warnings".as_ref(),
            site.as_os_str(),
        ]);
        assert_eq!(run.code, 0, "{module}: {}", run.describe());
        assert!(
            run.stderr.starts_with("ok:"),
            "{module}: {}",
            run.describe()
        );
    }
    // And they are in fleet fmt's layout.
    let mut files = Vec::new();
    let mut dirs = vec![port("")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "fleet") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20, "{files:?}");
    let run = support::run(support::command().args(["fmt", "--check"]).args(&files));
    assert_eq!(run.code, 0, "fleet fmt would change: {}", run.describe());
}

#[test]
fn the_ntp_port_compiles_what_upstream_puppetlabs_ntp_compiles() {
    matches_upstream("ntp", "ntp", &["ntp01", "ntp02", "ntp03", "ntp04"], |_| {
        false
    });
}

#[test]
fn the_ssh_port_compiles_what_upstream_saz_ssh_compiles() {
    matches_upstream("ssh", "ssh", &["ssh01", "ssh02", "ssh03"], |_| false);
}

/// The logrotate port: the rule files byte for byte, the static files (`source`) by their
/// bytes' sha256, the hourly rules' directory and cron script.
#[test]
fn the_logrotate_port_compiles_what_upstream_rodjek_logrotate_compiles() {
    matches_upstream("logrotate", "logrotate", &["lr01", "lr02"], |_| false);
}

/// The sysctl port's `file_line`s and `exec`s against upstream's `sysctl` and
/// `sysctl_runtime` resources (the same line in the same file, the same running value).
/// Beyond upstream, the port declares a `target` other than /etc/sysctl.conf as a file
/// (`ensure = present`): a file_line edits an existing file, where the parsed-file provider
/// creates it.
#[test]
fn the_sysctl_port_compiles_what_upstream_duritong_sysctl_compiles() {
    matches_upstream("sysctl", "sysctl", &["sysctl01", "sysctl02"], |path| {
        path.starts_with("/etc/sysctl.d/")
    });
}

fn motd_files(manifest: &str, node: &str) -> BTreeMap<String, Managed> {
    fleet_files(&fleet_catalog(&port("motd").join(manifest), node))
}

fn assert_file(files: &BTreeMap<String, Managed>, path: &str, content: &str, owner: &str) {
    let f = files
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not managed: {files:?}"));
    assert_eq!(f.ensure, "file", "{path}");
    assert_eq!(f.content.as_deref(), Some(content), "{path}");
    assert_eq!(
        (f.owner.as_str(), f.group.as_str()),
        (owner, owner),
        "{path}"
    );
    assert_eq!(f.mode, "0644", "{path}");
}

/// puppetlabs-motd's spec/classes/motd_spec.rb, example by example. Where it expects
/// `RedHat 9.3 x86_64`, fleet's facts spell the OS `redhat` (LANGUAGE.md §7), so the
/// expected first lines here are lower-case; the rest is the spec's text.
#[test]
fn the_motd_port_passes_the_modules_rspec_examples() {
    const SPEC: &str = "Test Template for Rspec\n";
    let backup_false = |manifest: &str, node: &str| {
        let cat = fleet_catalog(&port("motd").join(manifest), node);
        for r in cat["resources"].as_array().unwrap() {
            if r["type"] == "file" {
                assert_eq!(r["params"]["backup"], false, "{node} {}", r["title"]);
            }
        }
    };

    // On a non-linux system: no file at all.
    assert!(motd_files("site.fleet", "motd-unknown").is_empty());

    // On Linux, neither template nor content: the module's template from the facts.
    let files = motd_files("site.fleet", "motd-redhat");
    assert_file(
        &files,
        "/etc/motd",
        "redhat 9.3 x86_64\n\nFQDN:         foo.example.com (172.16.254.254)\n\
         Processor:    Intel(R) Xeon(R) CPU E5-2667 v3 @ 3.20GHz\nKernel:       Linux\n\
         Memory Size:  1.44 GiB\n",
        "root",
    );
    assert_eq!(files.len(), 1, "no /etc/issue without a content: {files:?}");
    backup_false("site.fleet", "motd-redhat");

    // A content, a template, and both (the template wins, with a warning).
    assert_file(
        &motd_files("site.fleet", "motd-content"),
        "/etc/motd",
        "Hello!",
        "root",
    );
    assert_file(
        &motd_files("site.fleet", "motd-template"),
        "/etc/motd",
        SPEC,
        "root",
    );
    assert_file(
        &motd_files("rspec.fleet", "motd-both"),
        "/etc/motd",
        SPEC,
        "root",
    );

    // /etc/issue and /etc/issue.net, from a template, a content, or both.
    for (node, path, content) in [
        ("motd-issue-template", "/etc/issue", SPEC),
        ("motd-issue-content", "/etc/issue", "Hello!"),
        ("motd-issue-net-template", "/etc/issue.net", SPEC),
        ("motd-issue-net-content", "/etc/issue.net", "Hello!"),
    ] {
        let files = motd_files("site.fleet", node);
        assert_file(&files, path, content, "root");
        backup_false("site.fleet", node);
    }
    assert_file(
        &motd_files("rspec.fleet", "motd-issue-both"),
        "/etc/issue",
        SPEC,
        "root",
    );
    assert_file(
        &motd_files("rspec.fleet", "motd-issue-net-both"),
        "/etc/issue.net",
        SPEC,
        "root",
    );

    // On Debian, dynamic motd off removes pam_motd's line from /etc/pam.d/sshd.
    let lines = |node: &str| -> Vec<Value> {
        let cat = fleet_catalog(&port("motd").join("site.fleet"), node);
        cat["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "file_line")
            .cloned()
            .collect()
    };
    let off = lines("motd-debian");
    assert_eq!(off.len(), 1, "{off:?}");
    assert_eq!(off[0]["title"], "dynamic_motd");
    assert_eq!(off[0]["params"]["ensure"], "absent");
    assert_eq!(off[0]["params"]["path"], "/etc/pam.d/sshd");
    assert_eq!(
        off[0]["params"]["line"],
        "session    optional     pam_motd.so  motd=/run/motd.dynamic"
    );
    assert!(lines("motd-debian-dynamic").is_empty());

    // On FreeBSD (group wheel) and AIX (owner and group bin).
    let files = motd_files("site.fleet", "motd-freebsd");
    let motd = &files["/etc/motd"];
    assert_eq!(
        motd.content.as_deref(),
        Some(
            "freebsd 11 amd64\n\nFQDN:         test.example.com (123.23.243.1)\n\
             Processor:    intel\nKernel:       FreeBSD\nMemory Size:  16.00 GB\n"
        )
    );
    assert_eq!(
        (motd.owner.as_str(), motd.group.as_str()),
        ("root", "wheel")
    );
    let files = motd_files("site.fleet", "motd-aix");
    assert_file(
        &files,
        "/etc/motd",
        "aix 7100-04-02-1614 PowerPC_POWER8\n\nFQDN:         test.example.com (123.23.243.1)\n\
         Processor:    PowerPC_POWER8\nKernel:       AIX\nMemory Size:  16.00 GB\n",
        "bin",
    );
    assert_file(&files, "/etc/issue", SPEC, "bin");
    assert_file(&files, "/etc/issue.net", SPEC, "bin");

    // The contradicting parameters warn, as upstream's warning() does, once per context.
    let run = support::fleet([
        "check".as_ref(),
        port("motd").join("rspec.fleet").as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}", run.describe());
    assert_eq!(
        run.stderr.matches("warning[user-warning]: Both $").count(),
        3,
        "{}",
        run.describe()
    );
    assert!(
        run.stderr.contains("ignoring issue_net_content"),
        "{}",
        run.stderr
    );
}

/// The motd port applied into an empty sandbox root: /etc/motd and /etc/issue as the
/// catalog says, and a second run changes nothing.
#[test]
fn the_motd_port_applies_into_a_sandbox_root_and_then_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
    let site = port("motd").join("site.fleet");
    let apply = || {
        support::run(
            support::command()
                .args([
                    "apply",
                    "--detailed-exitcodes",
                    "--no-fsync",
                    "--node",
                    "motd01",
                ])
                .arg("--root")
                .arg(r)
                // The node's facts, not this machine's (an apply gathers its own).
                .arg("--facts")
                .arg(port("motd").join("facts/motd01.json"))
                .arg(&site),
        )
    };
    let first = apply();
    assert_eq!(first.code, 2, "{}", first.describe());
    let motd = std::fs::read_to_string(r.join("etc/motd")).unwrap();
    assert_eq!(
        motd,
        "debian 12 x86_64\n\nFQDN:         motd01.example.net (192.0.2.41)\n\
         Processor:    2 processors\nKernel:       Linux\nMemory Size:  2048 MiB\n"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("etc/issue")).unwrap(),
        "Authorised access only.\n"
    );
    for f in ["etc/motd", "etc/issue"] {
        let meta = std::fs::metadata(r.join(f)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o644, "{f}");
    }
    let second = apply();
    assert_eq!(second.code, 0, "{}", second.describe());
}

fn resource<'a>(catalog: &'a Value, kind: &str, title: &str) -> Option<&'a Value> {
    catalog["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == kind && r["title"] == title)
}

/// A resource's params, or a failure naming what the catalog holds.
fn params<'a>(catalog: &'a Value, kind: &str, title: &str) -> &'a Value {
    match resource(catalog, kind, title) {
        Some(r) => &r["params"],
        None => panic!("{} has no {kind} {title}", catalog["node"]),
    }
}

fn edge(catalog: &Value, from: &str, to: &str) -> bool {
    catalog["edges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["from"] == from && e["to"] == to)
}

/// puppetlabs-accounts' spec/defines/accounts_user_spec.rb, context by context, on the
/// port's catalogs. Where upstream declares `accounts::home_dir`, `accounts::key_management`
/// and `ssh_authorized_key` resources, the port's catalog holds the files they stand for:
/// the spec's `contain_accounts__home_dir('/var/home/dan').with('mode' => '0755')` is the
/// directory's mode here. Not translated: `membership` (no fleet attribute) and the invalid
/// parameter contexts (fleet's types reject them at check time: `invalid-value`).
#[test]
fn the_accounts_port_passes_the_modules_rspec_examples() {
    let site = port("accounts").join("site.fleet");
    let cat = |node: &str| fleet_catalog(&site, node);

    // Expected defaults, and the homes on Linux.
    let c = cat("acc-defaults");
    let dan = params(&c, "user", "dan");
    assert_eq!(dan["ensure"], "present");
    assert_eq!(dan["shell"], "/bin/bash");
    assert_eq!(dan["home"], "/home/dan");
    assert_eq!(dan["comment"], "dan");
    assert_eq!(dan["gid"], "dan");
    assert_eq!(dan["groups"], json!([]));
    assert_eq!(dan["managehome"], true);
    let group = params(&c, "group", "dan");
    assert_eq!(group["ensure"], "present");
    assert!(group.get("gid").is_none(), "{group}");
    assert_eq!(params(&c, "user", "root")["home"], "/root");
    assert_eq!(params(&c, "file", "/home/dan/.vim")["mode"], "0700");
    assert_eq!(params(&c, "file", "/home/dan/.ssh")["mode"], "0700");

    // The homes on Solaris, from the module's data/solaris.toml.
    let c = cat("acc-solaris");
    assert_eq!(params(&c, "user", "dan")["home"], "/export/home/dan");
    assert_eq!(params(&c, "user", "root")["home"], "/");

    // When setting user parameters.
    let c = cat("acc-params");
    let dan = params(&c, "user", "dan");
    assert_eq!(dan["shell"], "/bin/csh");
    assert_eq!(dan["comment"], "comment");
    assert_eq!(dan["home"], "/var/home/dan");
    assert_eq!(dan["uid"], 123);
    assert_eq!(dan["gid"], "dan");
    assert_eq!(dan["groups"], json!(["admin"]));
    assert_eq!(params(&c, "group", "dan")["gid"], 456);
    assert!(edge(&c, "Group[dan]", "User[dan]"));
    let home = params(&c, "file", "/var/home/dan");
    assert_eq!(
        (&home["ensure"], &home["owner"], &home["mode"]),
        (&json!("directory"), &json!("dan"), &json!("0755"))
    );
    assert_eq!(
        params(&c, "file", "/var/home/dan/.ssh")["ensure"],
        "directory"
    );
    let keys = params(&c, "file", "/var/home/dan/.ssh/authorized_keys");
    assert_eq!(keys["mode"], "0600");
    let content = keys["content"].as_str().unwrap();
    assert_eq!(content.lines().count(), 2, "{content}");
    assert!(content.starts_with("ssh-ed25519 AAAA"), "{content}");
    assert!(
        content.contains("\nfrom=\"192.0.2.0/24\" ssh-rsa "),
        "{content}"
    );
    assert!(edge(
        &c,
        "File[/var/home/dan/.ssh]",
        "File[/var/home/dan/.ssh/authorized_keys]"
    ));
    assert_eq!(
        params(&c, "file", "/var/home/dan/.bashrc")["content"],
        "export EDITOR=vi\n"
    );

    // When setting the user to absent: the user before its group; no home directory.
    let c = cat("acc-absent");
    assert_eq!(params(&c, "user", "dan")["ensure"], "absent");
    assert_eq!(params(&c, "group", "dan")["ensure"], "absent");
    assert!(edge(&c, "User[dan]", "Group[dan]"));
    assert!(resource(&c, "file", "/var/home/dan").is_none());
    let c = cat("acc-absent-nohome");
    assert!(resource(&c, "file", "/var/home/dan").is_none());
    assert!(resource(&c, "file", "/var/home/dan/.ssh").is_none());

    // create_group.
    assert!(resource(&cat("acc-group-false"), "group", "foo").is_none());
    assert!(resource(&cat("acc-group-true"), "group", "foo").is_some());

    // Locked users get the platform's locked shell.
    for (node, shell) in [
        ("acc-locked", "/usr/sbin/nologin"),
        ("acc-locked-solaris", "/usr/bin/false"),
        ("acc-locked-other", "/sbin/nologin"),
    ] {
        assert_eq!(params(&cat(node), "user", "dan")["shell"], shell, "{node}");
    }

    // Resource defaults: taken, overridden, and locked over both.
    let c = cat("acc-resource-defaults");
    assert_eq!(params(&c, "user", "dan")["shell"], "/bin/zsh");
    assert_eq!(params(&c, "user", "eve")["shell"], "/bin/csh");
    assert_eq!(params(&c, "user", "mallory")["shell"], "/usr/sbin/nologin");

    // The class from data: groups, then users with the defaults under their own values.
    let c = cat("acc-class");
    assert_eq!(params(&c, "group", "admins")["gid"], 3000);
    assert_eq!(params(&c, "user", "alice")["shell"], "/bin/zsh");
    assert_eq!(params(&c, "user", "alice")["groups"], json!(["admins"]));
    assert_eq!(params(&c, "user", "bob")["shell"], "/usr/sbin/nologin");
    assert!(resource(&c, "file", "/home/bob/.vim").is_none());

    // The passwords (rspec.fleet): given, empty kept, empty ignored.
    let rspec = port("accounts").join("rspec.fleet");
    let password =
        |node: &str| params(&fleet_catalog(&rspec, node), "user", "dan")["password"].clone();
    assert_eq!(password("acc-password"), json!({"sensitive": "foo"}));
    assert_eq!(
        password("acc-empty-password-kept"),
        json!({"sensitive": ""})
    );
    assert_eq!(password("acc-empty-password-ignored"), Value::Null);
}
