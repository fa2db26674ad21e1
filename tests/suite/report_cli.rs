//! `fleet report list|show` over the reports `fleet apply` saves, and their rotation
//! (`--keep-reports`), run as the real binary in scratch roots.

use crate::support;

use std::fs;
use std::path::Path;

use support::fleet_in;

const SITE: &str = r#"
node "n1" {
  file "/etc/motd" { content = "hello\n", mode = "0644" }
  file "/etc/issue" { content = "welcome\n", mode = "0644", require = File["/etc/motd"] }
}
"#;

/// A site in `dir` and a root `dir/root` with `/etc`.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("site.fleet"), SITE).unwrap();
    fs::create_dir_all(dir.path().join("root/etc")).unwrap();
    dir
}

fn apply(dir: &Path, extra: &[&str]) {
    let mut args = vec!["apply", "--root", "root", "--node", "n1", "site.fleet"];
    args.extend_from_slice(extra);
    let o = fleet_in(dir, &args);
    assert!(o.status.success(), "{}", o.stderr);
}

fn reports(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join("root/var/lib/fleet/reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn list_shows_one_line_per_run_newest_last() {
    let d = site();
    apply(d.path(), &[]);
    fs::write(d.path().join("root/etc/motd"), "drifted\n").unwrap();
    apply(d.path(), &[]);
    let o = fleet_in(d.path(), ["report", "list", "--root", "root"]);
    assert!(o.status.success(), "{}", o.stderr);
    let text = o.stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let names = reports(d.path());
    for (line, (name, changed)) in lines.iter().zip(names.iter().zip([2, 1])) {
        let id = name.strip_suffix(".json").unwrap();
        assert!(line.ends_with(id), "{line} ends with {id}");
        assert!(line.contains("  n1  run "), "{line}");
        assert!(
            line.contains(&format!(
                "{changed} changed, 0 failed, 0 skipped (2 resources)"
            )),
            "{line}"
        );
    }
    assert!(lines[0] < lines[1], "oldest first: {text}");

    let o = fleet_in(
        d.path(),
        ["report", "list", "--root", "root", "--format", "json"],
    );
    let v: Vec<serde_json::Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v.len(), 2);
    assert_eq!(v[1]["summary"]["changed"], 1);
    assert_eq!(v[1]["node"], "n1");
    assert_eq!(v[1]["noop"], false);
}

#[test]
fn show_prints_the_latest_or_a_named_report_as_text_or_its_json() {
    let d = site();
    apply(d.path(), &[]);
    fs::write(d.path().join("root/etc/motd"), "drifted\n").unwrap();
    apply(d.path(), &[]);
    let names = reports(d.path());

    let o = fleet_in(d.path(), ["report", "show", "--root", "root"]);
    assert!(o.status.success(), "{}", o.stderr);
    let text = o.stdout;
    let latest = names[1].strip_suffix(".json").unwrap();
    assert!(
        text.starts_with(&format!("report {latest}: node n1, run started ")),
        "{text}"
    );
    assert!(text.contains("~ File[/etc/motd]\n"), "{text}");
    assert!(
        !text.contains("File[/etc/issue]"),
        "unchanged: only with --verbose: {text}"
    );
    assert!(text.ends_with("1 changed, 0 failed, 0 skipped, 1 unchanged (2 resources)\n"));
    let o = fleet_in(d.path(), ["report", "show", "--root", "root", "--verbose"]);
    assert!(o.stdout.contains("  File[/etc/issue] unchanged\n"));

    // By id (with or without .json), as its stored JSON, byte for byte.
    let first = names[0].strip_suffix(".json").unwrap();
    for id in [first.to_string(), names[0].clone()] {
        let o = fleet_in(
            d.path(),
            ["report", "show", &id, "--root", "root", "--format", "json"],
        );
        assert!(o.status.success(), "{}", o.stderr);
        let stored = fs::read(d.path().join("root/var/lib/fleet/reports").join(&names[0]));
        assert_eq!(o.stdout.as_bytes(), stored.unwrap());
        let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
        assert_eq!(v["summary"]["changed"], 2);
    }

    let o = fleet_in(d.path(), ["report", "show", "nope", "--root", "root"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        o.stderr.starts_with("error: no report \"nope\" in "),
        "{}",
        o.stderr
    );
}

#[test]
fn reports_are_read_under_the_root_only_and_none_is_an_error() {
    let d = site();
    // Decoys: what a wrong path would read.
    fs::create_dir_all(d.path().join("reports")).unwrap();
    fs::write(d.path().join("reports/x.json"), "{}").unwrap();
    fs::create_dir_all(d.path().join("var/lib/fleet/reports")).unwrap();
    fs::write(d.path().join("var/lib/fleet/reports/y.json"), "{}").unwrap();
    for cmd in ["list", "show"] {
        let o = fleet_in(d.path(), ["report", cmd, "--root", "root"]);
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        assert!(o.stdout.is_empty());
        let want = format!(
            "error: no reports in {}\n",
            fs::canonicalize(d.path())
                .unwrap()
                .join("root/var/lib/fleet/reports")
                .display()
        );
        assert_eq!(o.stderr, want, "{cmd}");
    }
    apply(d.path(), &[]);
    let o = fleet_in(d.path(), ["report", "list", "--root", "root"]);
    assert_eq!(o.stdout.lines().count(), 1);
    assert!(!o.stdout.contains(" x") && !o.stdout.contains(" y"));

    // --state-dir overrides.
    let state = d.path().join("state");
    apply(d.path(), &["--state-dir", state.to_str().unwrap()]);
    let o = fleet_in(
        d.path(),
        ["report", "list", "--state-dir", state.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", o.stderr);
    assert_eq!(o.stdout.lines().count(), 1);
}

#[test]
fn apply_keeps_the_newest_reports() {
    let d = site();
    for _ in 0..4 {
        apply(d.path(), &["--keep-reports", "2"]);
    }
    let after_four = reports(d.path());
    assert_eq!(after_four.len(), 2, "{after_four:?}");
    apply(d.path(), &["--keep-reports", "2"]);
    let now = reports(d.path());
    assert_eq!(now.len(), 2);
    assert_eq!(now[0], after_four[1], "the oldest went, the newer stayed");
    assert!(now[1] > after_four[1]);
    // The default keeps 100: a run without the flag removes nothing here.
    apply(d.path(), &[]);
    assert_eq!(reports(d.path()).len(), 3);
    let o = fleet_in(d.path(), ["apply", "--keep-reports", "0", "site.fleet"]);
    assert_eq!(o.status.code(), Some(2));
}
