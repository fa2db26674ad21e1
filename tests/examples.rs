//! Every example is a test, so examples cannot rot: each `examples/*/site.fleet` (the
//! top-level manifest of an example; other `.fleet` files there are imported by it) must
//! pass `fleet check` with no diagnostic at all, and `fleet compile --all` must succeed and
//! give byte-identical output twice.

use std::path::Path;
use std::time::Duration;

mod support;
use support::{absolute, command, fail, run_within};

fn example(path: &Path) -> datatest_stable::Result<()> {
    let path = absolute(path);
    let dir = path.parent().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    let timeout = Duration::from_secs(120);

    let run = run_within(
        command()
            .current_dir(dir)
            .args(["check", "--format", "json", name]),
        timeout,
    )?;
    if run.status.code() != Some(0) || !run.stdout.is_empty() {
        return fail(format!(
            "`fleet check` must be clean (exit 0, no diagnostic):\n{}",
            run.describe()
        ));
    }

    let out = tempfile::tempdir()?;
    let mut trees = Vec::new();
    for round in ["first", "second"] {
        let target = out.path().join(round);
        let target_str = target.to_str().unwrap();
        let run = run_within(
            command()
                .current_dir(dir)
                .args(["compile", "--all", "--out", target_str, name]),
            timeout,
        )?;
        if run.status.code() != Some(0) {
            return fail(format!("`fleet compile --all` failed:\n{}", run.describe()));
        }
        trees.push(read_tree(&target)?);
    }
    if trees[0].is_empty() {
        return fail("`fleet compile --all` wrote nothing");
    }
    if trees[0] != trees[1] {
        return fail("two `fleet compile --all` runs wrote different output");
    }
    Ok(())
}

/// Every file under `dir` (relative path and bytes), sorted.
fn read_tree(dir: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path)?));
            }
        }
    }
    out.sort();
    Ok(out)
}

datatest_stable::harness! {
    { test = example, root = "examples", pattern = r"^[^/]+/site\.fleet$" },
}
