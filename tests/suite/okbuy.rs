//! examples/okbuy, the reference fleet (README "The okbuy fleet"): it checks clean with
//! `--deny warnings`, compiles every node, dry-runs every node into an empty root (changes
//! planned, nothing failed, nothing written), and `fleet provision` turns its records into a
//! tree dnsmasq accepts; the monitoring node's Nagios configuration passes the real
//! `nagios4 -v` and names every other node as a host, each gmond.conf passes `gmond -b`,
//! every nginx file passes `nginx -t` through its own `validate`, and every node's
//! sshd_config and sudoers files pass the real `sshd -t` and `visudo -c`.

use std::path::{Path, PathBuf};

use crate::support;

const SITE: &str = "examples/okbuy/site.fleet";

/// The nodes of the example, from the catalogs `compile --all` writes.
fn compile_all(out: &Path) -> Vec<String> {
    let r = support::fleet(
        ["compile", "--all", "--out"]
            .iter()
            .copied()
            .chain([out.to_str().unwrap(), SITE]),
    );
    assert_eq!(r.code, 0, "{}", r.describe());
    let mut nodes: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    nodes.sort();
    nodes
}

fn example() -> PathBuf {
    support::root().join(SITE)
}

#[test]
fn okbuy_checks_clean_and_every_node_dry_runs_into_an_empty_root() {
    let r = support::fleet(["check", "--deny", "warnings", example().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let out = tempfile::tempdir().unwrap();
    let nodes = compile_all(out.path());
    let expected = [
        "cat01",
        "cat02",
        "db01",
        "db02",
        "install01",
        "mc01",
        "mon01",
        "repo01",
        "web01",
        "web02",
        "web03",
        "web04",
    ];
    assert_eq!(nodes, expected);
    for node in &nodes {
        let root = tempfile::tempdir().unwrap();
        let r = support::fleet([
            "apply",
            "--noop",
            "--detailed-exitcodes",
            "--root",
            root.path().to_str().unwrap(),
            "--node",
            node,
            example().to_str().unwrap(),
        ]);
        assert_eq!(r.code, 2, "{node}: {}", r.describe());
        assert!(
            !r.stdout.lines().any(|l| l.starts_with("! ")),
            "{node}: {}",
            r.stdout
        );
        assert_eq!(
            std::fs::read_dir(root.path()).unwrap().count(),
            0,
            "{node}: a dry run writes nothing"
        );
    }
}

#[test]
fn okbuy_provisions_every_installed_node() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("install");
    let r = support::fleet([
        "provision",
        "--server-ip",
        "10.20.0.2",
        "--out",
        tree.to_str().unwrap(),
        example().to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.describe());
    // install01 installs the others and is not network-booted itself.
    let mut answers: Vec<String> = std::fs::read_dir(tree.join("http/answers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    answers.sort();
    assert_eq!(answers.len(), 11, "{answers:?}");
    assert!(!answers.contains(&"install01".to_string()));
    let web01 = std::fs::read_to_string(tree.join("http/answers/web01")).unwrap();
    assert!(
        web01.contains("netcfg/get_hostname string web01\n"),
        "{web01}"
    );
    let db01 = std::fs::read_to_string(tree.join("http/answers/db01")).unwrap();
    assert!(db01.contains("partman-auto/method string raid\n"), "{db01}");
    let host = std::fs::read_to_string(tree.join("dhcp-hosts/web01")).unwrap();
    assert!(
        host.starts_with("00:25:90:14:00:11,") && host.contains(",10.20.0.11,web01"),
        "{host}"
    );
    let test = std::process::Command::new("dnsmasq")
        .args(["--test", "-C"])
        .arg(tree.join("dnsmasq.conf"))
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stderr)
    );
}

/// A copy of examples/okbuy in `dir` with more data for some nodes (the test's state and log
/// directories, so that `nagios4 -v` and `nginx -t` touch nothing of this machine's).
fn copy_example(dir: &Path, data: &[(&str, &str)]) -> PathBuf {
    let to = dir.join("okbuy");
    let st = std::process::Command::new("cp")
        .arg("-r")
        .arg(support::root().join("examples/okbuy"))
        .arg(&to)
        .status()
        .unwrap();
    assert!(st.success());
    for (node, text) in data {
        let path = to.join(format!("data/nodes/{node}.toml"));
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, format!("{text}\n{old}")).unwrap();
    }
    to
}

fn compile(dir: &Path, node: &str) -> serde_json::Value {
    let r = support::fleet_in(dir, ["compile", "--node", node, "site.fleet"]);
    assert_eq!(r.code, 0, "{node}: {}", r.describe());
    serde_json::from_str(&r.stdout).unwrap()
}

#[test]
fn okbuy_monitoring_node_gets_a_nagios_config_naming_every_other_node() {
    use crate::stdlib_monitoring::{checked_hosts, defined_hosts, nagios_tree_passes, nagios_var};
    support::require_tool("nagios4");
    let var = tempfile::tempdir().unwrap();
    nagios_var(var.path());
    let dir = tempfile::tempdir().unwrap();
    let v = var.path().display();
    let data = format!("[\"nagios::server\"]\nstate_dir = \"{v}/lib\"\nlog_dir = \"{v}/log\"\n");
    let site = copy_example(dir.path(), &[("mon01", &data)]);
    let doc = compile(&site, "mon01");
    let tree = tempfile::tempdir().unwrap();
    let (objects, out) = nagios_tree_passes(&doc, tree.path());
    // Every node of the fleet is a host, mon01 itself included (it is monitored too).
    let nodes = compile_all(&dir.path().join("catalogs"));
    let hosts = defined_hosts(&objects);
    assert_eq!(hosts, nodes.iter().cloned().collect(), "{objects}");
    assert_eq!(checked_hosts(&out), nodes.len(), "{out}");
    assert!(objects.contains("address   10.20.0.21\n"), "{objects}");
    assert!(
        objects.contains("check_command       check_tcp!3306\n"),
        "{objects}"
    );
}

#[test]
fn okbuy_gmond_and_nginx_files_pass_their_daemons_checks() {
    use crate::stdlib_monitoring::{content, params, run_validate};
    let dir = tempfile::tempdir().unwrap();
    let checked = tempfile::tempdir().unwrap();
    let logs = checked.path().display();
    let nginx = format!("[nginx]\nerror_log = \"{logs}/error.log\"\naccess_log = \"{logs}/access.log\"\npid = \"{logs}/nginx.pid\"\n");
    let nodes = ["install01", "repo01", "web01", "db01", "mon01"];
    let data: Vec<(&str, &str)> = nodes.iter().map(|n| (*n, nginx.as_str())).collect();
    let site = copy_example(dir.path(), &data);
    let mut seen = Vec::new();
    for node in nodes {
        let doc = compile(&site, node);
        for r in doc["resources"].as_array().unwrap() {
            let title = r["title"].as_str().unwrap_or_default();
            let wanted = title == "/etc/ganglia/gmond.conf" || title.starts_with("/etc/nginx/");
            let Some(validate) = r["params"]["validate"].as_str() else {
                continue;
            };
            if !wanted {
                continue;
            }
            // Each file in a directory of its own, as beside its target: nginx.conf's
            // relative includes find what the packages install there (the stream module's
            // `load_module`, as libnginx-mod-stream puts it into modules-enabled) and no
            // site (those are checked one by one here).
            let own = checked
                .path()
                .join(format!("{node}{}", title.replace('/', "_")));
            std::fs::create_dir_all(own.join("modules-enabled")).unwrap();
            std::fs::write(
                own.join("modules-enabled/50-mod-stream.conf"),
                "load_module modules/ngx_stream_module.so;\n",
            )
            .unwrap();
            for f in ["mime.types", "fastcgi_params"] {
                std::fs::copy(Path::new("/etc/nginx").join(f), own.join(f)).unwrap();
            }
            let file = own.join("checked");
            std::fs::write(&file, content(&doc, title)).unwrap();
            let (ok, out) = run_validate(validate, &file);
            assert!(ok, "{node} {title}: {out}\n{}", params(&doc, title));
            seen.push(format!("{node}:{title}"));
        }
    }
    for want in [
        "web01:/etc/ganglia/gmond.conf",
        "web01:/etc/nginx/nginx.conf",
        "web01:/etc/nginx/sites-available/www.okbuy.com",
        "repo01:/etc/nginx/sites-available/repo01.okbuy.com",
        "install01:/etc/nginx/nginx.conf",
    ] {
        assert!(
            seen.iter().any(|s| s == want),
            "{want} not checked: {seen:?}"
        );
    }
}

/// Every node's sshd_config passes the real `sshd -t` and each of its sudoers.d files the
/// real `visudo -c` (as their `validate`s would on the node; here the validators run
/// directly on a copy, so that nothing of this machine's is written).
#[test]
fn okbuy_every_sshd_config_and_sudoers_file_passes_its_validator() {
    for tool in ["/usr/sbin/sshd", "/usr/sbin/visudo"] {
        support::require_tool(tool);
    }
    let out = tempfile::tempdir().unwrap();
    let checked = tempfile::tempdir().unwrap();
    let nodes = compile_all(out.path());
    assert!(nodes.len() >= 12, "{nodes:?}");
    for node in &nodes {
        let text = std::fs::read_to_string(out.path().join(format!("{node}.json"))).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let (mut sshd, mut sudoers) = (0, 0);
        for r in doc["resources"].as_array().unwrap() {
            let title = r["title"].as_str().unwrap_or_default();
            let command: &[&str] = if title == "/etc/ssh/sshd_config" {
                sshd += 1;
                &["/usr/sbin/sshd", "-t", "-f"]
            } else if title.starts_with("/etc/sudoers.d/") && r["params"]["content"].is_string() {
                sudoers += 1;
                &["/usr/sbin/visudo", "-c", "-f"]
            } else {
                continue;
            };
            assert!(
                r["params"]["validate"].is_string(),
                "{node} {title} has no validate"
            );
            let file = checked
                .path()
                .join(format!("{node}{}", title.replace('/', "_")));
            std::fs::write(&file, r["params"]["content"].as_str().unwrap()).unwrap();
            let run = std::process::Command::new(command[0])
                .args(&command[1..])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                run.status.success(),
                "{node} {title}: {}{}",
                String::from_utf8_lossy(&run.stdout),
                String::from_utf8_lossy(&run.stderr)
            );
        }
        assert_eq!(sshd, 1, "{node}: one sshd_config");
        assert!(sudoers >= 1, "{node}: no sudoers file");
    }
}
