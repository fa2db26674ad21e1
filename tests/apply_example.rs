//! End to end from an `examples/` manifest to a sandbox root: the rendered noop plan of node
//! `web01` of `examples/fleet` into an empty root is a golden file (`FLEET_BLESS=1` rewrites
//! it), and the dry run leaves the root empty. The same node applies for real into a
//! scratch root made by `scripts/scratch-root.sh` (a local repository of stand-in packages),
//! as the README's first command shows: no resource fails, and a second run changes nothing.

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
    let out = Command::new(env!("CARGO_BIN_EXE_fleet"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["apply", "--noop", "--root"])
        .arg(root.path())
        .args([
            "--node",
            "web01",
            "--detailed-exitcodes",
            "examples/fleet/site.fleet",
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // An honest noop that finds changes exits 2 under --detailed-exitcodes.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let plan = normalise(&String::from_utf8_lossy(&out.stdout));
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

fn apply_web01(root: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fleet"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["apply", "--detailed-exitcodes", "--root"])
        .arg(root)
        .args(["--node", "web01", "examples/fleet/site.fleet"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn the_example_node_applies_for_real_into_a_scratch_root() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("scripts/scratch-root.sh")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/scratch-root.sh (needs dpkg-dev: scripts/install-test-deps.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = dir.path().join("root");
    let first = apply_web01(&root);
    let text = String::from_utf8_lossy(&first.stdout);
    // 2: changes and no failure.
    assert_eq!(
        first.status.code(),
        Some(2),
        "{text}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(!text.contains(" failed"), "{text}");
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
    let second = apply_web01(&root);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
}
