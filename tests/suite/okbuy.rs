//! examples/okbuy, the reference fleet (README "The okbuy fleet"): it checks clean with
//! `--deny warnings`, compiles every node, dry-runs every node into an empty root (changes
//! planned, nothing failed, nothing written), and `fleet provision` turns its records into a
//! tree dnsmasq accepts.

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
