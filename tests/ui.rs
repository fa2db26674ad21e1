//! Golden tests of the rendered terminal report: `tests/ui/**/CASE.fleet` is checked with
//! `fleet check CASE.fleet` (run in the case's folder, stderr piped: ASCII, no colour) and
//! stderr must equal `CASE.stderr` byte for byte. `FLEET_BLESS=1` writes the `.stderr` files
//! instead (review the diff before committing). A case without its `.stderr` fails.
//!
//! Conventions: files whose name starts with `_` are helpers (imported by a case), not
//! cases. A first line `# args: …` adds arguments to `fleet check`; a first line
//! `# compile: …` runs `fleet compile …` instead (for what only compile reports, `no-node`).
//! The exit status must be 1 exactly when the report's last line starts with `error:`, and
//! stdout must stay empty.

use std::path::Path;
use std::time::Duration;

mod support;
use support::{absolute, command, fail, run_within};

fn ui_case(path: &Path, text: String) -> datatest_stable::Result<()> {
    let path = absolute(path);
    let dir = path.parent().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    let first = text.lines().next().unwrap_or_default();
    let mut args = vec!["check"];
    if let Some(extra) = first.strip_prefix("# args:") {
        args.extend(extra.split_whitespace());
    } else if let Some(extra) = first.strip_prefix("# compile:") {
        args = vec!["compile"];
        args.extend(extra.split_whitespace());
    }
    args.push(name);
    let run = run_within(
        command().current_dir(dir).args(&args),
        Duration::from_secs(60),
    )?;
    let golden = path.with_extension("stderr");
    // A crash is never an expectation: refuse to compare or bless it.
    if !matches!(run.status.code(), Some(0 | 1)) || run.stderr.contains("panicked at") {
        return fail(format!("fleet crashed:\n{}", run.describe()));
    }

    let bless = std::env::var_os("FLEET_BLESS").is_some_and(|v| v == "1");
    if bless && std::fs::read_to_string(&golden).ok().as_deref() != Some(run.stderr.as_str()) {
        std::fs::write(&golden, &run.stderr)?;
        eprintln!("blessed {}", golden.display());
    }
    let Ok(expected) = std::fs::read_to_string(&golden) else {
        return fail(format!(
            "{} is missing; create it with `FLEET_BLESS=1 cargo test --test ui` and review it.\n\
             What fleet printed:\n{}",
            golden.display(),
            run.describe()
        ));
    };
    if run.stderr != expected {
        let diff = similar::TextDiff::from_lines(&expected, &run.stderr);
        return fail(format!(
            "{} differs (- expected, + actual); `FLEET_BLESS=1` rewrites it:\n{}",
            golden.display(),
            diff.unified_diff().context_radius(3)
        ));
    }
    if !run.stdout.is_empty() {
        return fail(format!("stdout should be empty:\n{}", run.describe()));
    }
    let erred = run
        .stderr
        .lines()
        .last()
        .is_some_and(|l| l.starts_with("error:"));
    let want = if erred { 1 } else { 0 };
    if run.status.code() != Some(want) {
        return fail(format!("exit status should be {want}:\n{}", run.describe()));
    }
    Ok(())
}

datatest_stable::harness! {
    { test = ui_case, root = "tests/ui", pattern = r"(^|/)[^_/][^/]*\.fleet$" },
}
