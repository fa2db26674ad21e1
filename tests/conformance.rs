//! The shared conformance cases (`../shared/conformance`), one named test per case, each run
//! by the spec's own `verify` script against the `fleet` binary Cargo built for this test.
//!
//! The cases live beside the repository (`../shared/` next to the checkout, in CI too), found
//! from `CARGO_MANIFEST_DIR`, never from a path of one machine. Each case runs alone: its file
//! and its folder's shared fixtures (`data/`, `dist/`, `*.expect.json`) are linked into a
//! scratch folder and `verify` is pointed at that folder, so a failure names the case.

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;
use support::Failure;

fn shared_conformance() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance")
}

/// The cases' folder for datatest-stable, with a clear message when it is not there.
fn cases_root() -> String {
    let dir = shared_conformance();
    assert!(
        dir.join("verify").is_file(),
        "{} is missing: the conformance cases live in shared/ beside the checkout \
         (clone or copy shared/ next to this repository)",
        dir.display()
    );
    dir.display().to_string()
}

fn verify(dirs: &[&Path]) -> datatest_stable::Result<()> {
    let script = shared_conformance().join("verify");
    // Through python3, so the script need not be executable in the copy CI lays out.
    let out = Command::new("python3")
        .arg(&script)
        .arg("--fleet")
        .arg(support::bin())
        .args(dirs)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    if out.status.success() {
        Ok(())
    } else {
        Err(Failure(format!("verify failed ({}):\n{text}", out.status)).into())
    }
}

/// One case: `check/NN-name.fleet` or `compile/NN-name.fleet`.
fn case(path: &Path) -> datatest_stable::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let dir = path.parent().expect("a case has a folder");
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    let tmp = tempfile::tempdir()?;
    // Named like the case's folder, so verify's report reads `FAIL check/NN-name.fleet`.
    let scratch = tmp.path().join(dir.file_name().expect("a named folder"));
    std::fs::create_dir(&scratch)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        let other_case = name_str.ends_with(".fleet") && name_str != format!("{stem}.fleet");
        let other_expect =
            name_str.ends_with(".expect.json") && name_str != format!("{stem}.expect.json");
        if other_case || other_expect {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), scratch.as_path().join(&name))?;
    }
    verify(&[&scratch])
}

/// The whole suite in one run, as `verify` reports it (its summary is the score).
fn whole_suite(_verify_script: &Path) -> datatest_stable::Result<()> {
    verify(&[])
}

/// The project's own cases in the same format (`tests/cases/`), for behaviour the shared
/// cases leave open.
fn project_cases_root() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .display()
        .to_string()
}

datatest_stable::harness! {
    { test = case, root = cases_root(), pattern = r"^(check|compile)/[^/]+\.fleet$" },
    // The `next/` cases this project passes (README of the cases: each added in the commit
    // that makes it pass).
    { test = case, root = cases_root(), pattern = r"^next/check/(35-not-utf8)\.fleet$" },
    { test = case, root = cases_root(), pattern = r"^next/(compile/11-class-params-contained|check/39-user-warning)\.fleet$" },
    { test = case, root = project_cases_root(), pattern = r"^(check|compile)/[^/]+\.fleet$" },
    // The `next/` cases of the features this project has (see the cases' README).
    { test = case, root = cases_root(), pattern = r"^next/(check/38-sensitive-misuse|compile/13-sensitive|compile/14-template-values|compile/15-file-line|check/40-file-line-missing)\.fleet$" },
    // Install profiles (issue #16).
    { test = case, root = cases_root(), pattern = r"^next/(check/37-unknown-profile|compile/16-provision-profile)\.fleet$" },
    // The fleet as data (issue #17).
    { test = case, root = cases_root(), pattern = r"^next/(compile/12-fleet-data|check/36-unstable-export)\.fleet$" },
    { test = whole_suite, root = cases_root(), pattern = r"^verify$" },
}
