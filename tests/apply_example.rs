//! End to end from an `examples/` manifest to a sandbox root: the rendered noop plan of node
//! `web01` of `examples/fleet` into an empty root is a golden file (`FLEET_BLESS=1` rewrites
//! it), and the dry run leaves the root empty.

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
