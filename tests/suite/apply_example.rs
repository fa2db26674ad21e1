//! End to end from an `examples/` manifest to a sandbox root: the rendered noop plan of node
//! `web01` of `examples/fleet` into an empty root is a golden file (`FLEET_BLESS=1` rewrites
//! it), and the dry run leaves the root empty. The same node applies for real into a
//! scratch root made by `scripts/scratch-root.sh` (a local repository of stand-in packages),
//! as the README's first command shows: no resource fails, and a second run changes nothing.

use crate::support;

use std::process::Command;

const GOLDEN: &str = "tests/golden/fleet-web01.noop.txt";

/// The plan with its one run-dependent part, the elapsed time, replaced.
fn normalise(plan: &str) -> String {
    plan.lines()
        .map(|l| match l.rfind(", ") {
            Some(i) if l.ends_with("s)") && l[i..].contains('.') => format!("{}, <time>)", &l[..i]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn noop_plan_of_an_example_node_is_golden() {
    let root = tempfile::tempdir().unwrap();
    let out = support::run(
        support::command()
            .args(["apply", "--noop", "--root"])
            .arg(root.path())
            .args([
                "--node",
                "web01",
                "--detailed-exitcodes",
                "examples/fleet/site.fleet",
            ]),
    );
    let stderr = &out.stderr;
    // An honest noop that finds changes exits 2 under --detailed-exitcodes.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let plan = normalise(&out.stdout);
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("FLEET_BLESS").is_some() {
        std::fs::write(&golden, &plan).unwrap();
    }
    let want = std::fs::read_to_string(&golden)
        .unwrap_or_else(|_| panic!("{GOLDEN} is missing; FLEET_BLESS=1 writes it"));
    assert_eq!(
        plan, want,
        "the plan differs from {GOLDEN} (FLEET_BLESS=1 rewrites it)"
    );
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        0,
        "a dry run writes nothing"
    );
}

fn apply(root: &std::path::Path, node: &str, manifest: &str) -> support::Run {
    support::run(
        support::command()
            .args(["apply", "--detailed-exitcodes", "--root"])
            .arg(root)
            .args(["--node", node, manifest]),
    )
}

/// A fresh root from `scripts/scratch-root.sh` (a local repository of stand-in packages).
fn scratch_root(dir: &std::path::Path) -> std::path::PathBuf {
    let out = Command::new("sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("scripts/scratch-root.sh")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/scratch-root.sh (needs dpkg-dev: scripts/install-test-deps.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("root")
}

/// Applies `node` of `manifest` into a fresh scratch root: changes and no failure (exit 2),
/// then a second run with nothing to do (exit 0). Returns the root and the first run's plan.
fn applies_for_real(node: &str, manifest: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = scratch_root(dir.path());
    let first = apply(&root, node, manifest);
    let text = first.stdout.clone();
    assert_eq!(
        first.status.code(),
        Some(2),
        "{manifest}: {text}{}",
        first.stderr
    );
    // No failure line (the table's `failed` column is there either way).
    assert!(
        !text.lines().any(|l| l.starts_with("! ")),
        "{manifest}: {text}"
    );
    assert!(text.contains("\ntotal "), "{manifest}: {text}");
    let second = apply(&root, node, manifest);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{manifest}, second run: {}",
        second.stdout
    );
    (dir, text)
}

#[test]
fn the_example_node_applies_for_real_into_a_scratch_root() {
    let (dir, text) = applies_for_real("web01", "examples/fleet/site.fleet");
    let root = dir.path().join("root");
    for f in [
        "etc/motd",
        "etc/chrony/chrony.conf",
        "etc/sudoers.d/admins",
        "etc/nginx/sites-enabled/shop.conf",
        "usr/share/doc/nginx/README",
        "etc/systemd/system/multi-user.target.wants/nginx.service",
    ] {
        assert!(
            root.join(f).symlink_metadata().is_ok(),
            "{f} missing after:\n{text}"
        );
    }
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("alice:x:2001:2000:"), "{passwd}");
}

#[test]
fn the_web_and_db_examples_apply_for_real_into_scratch_roots() {
    let (dir, _) = applies_for_real("web01", "examples/web/site.fleet");
    let link = dir.path().join("root/etc/nginx/sites-enabled/shop.conf");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    let (_, text) = applies_for_real("pg01", "examples/db/site.fleet");
    // initdb is a command: under --root it is shown as not run, which is not a failure.
    assert!(text.contains("not run under --root"), "{text}");
}
