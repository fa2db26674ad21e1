//! JSON on every command that has a machine format, and one error style everywhere: a
//! command's fatal error is `error: …` on stderr with the documented exit code.

use crate::support;

use std::fs;

use support::fleet_in;

use serde_json::Value;

const BAD: &str = "node \"n1\" {\n  file \"/etc/motd\" { contnet = \"hi\\n\" }\n}\n";
const GOOD: &str = "node \"n1\" {\n  file \"/etc/motd\" { content = \"hi\\n\" }\n}\n";

fn site() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("bad.fleet"), BAD).unwrap();
    fs::write(d.path().join("site.fleet"), GOOD).unwrap();
    fs::create_dir_all(d.path().join("root/etc")).unwrap();
    d
}

#[test]
fn check_json_carries_help_and_notes() {
    let d = site();
    let o = fleet_in(d.path(), ["check", "--format", "json", "bad.fleet"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(o.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(v["code"], "unknown-attribute");
    assert_eq!(v["help"], "did you mean `content`?");
    assert!(v.get("notes").is_none(), "no notes: omitted, {v}");
}

#[test]
fn apply_json_prints_an_error_object_with_the_diagnostics() {
    let d = site();
    let args = [
        "apply",
        "--format",
        "json",
        "--root",
        "root",
        "--node",
        "n1",
        "bad.fleet",
    ];
    let o = fleet_in(d.path(), args);
    assert_eq!(o.status.code(), Some(1));
    let out = o.stdout;
    assert_eq!(out.lines().count(), 1, "one object: {out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"], "bad.fleet has errors; nothing applied");
    let diags = v["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 1);
    // The same objects as check's JSON.
    let check = fleet_in(d.path(), ["check", "--format", "json", "bad.fleet"]);
    let from_check: Value = serde_json::from_str(check.stdout.trim()).unwrap();
    assert_eq!(diags[0], from_check);
    assert_eq!(
        o.stderr, "error: bad.fleet has errors; nothing applied\n",
        "the diagnostics are in the JSON, not repeated as text"
    );
    assert!(!d.path().join("root/etc/motd").exists());

    // Other fatal errors are error objects too (no diagnostics).
    let o = fleet_in(
        d.path(),
        ["apply", "--format", "json", "--catalog", "nope.json"],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(v["error"]
        .as_str()
        .unwrap()
        .starts_with("cannot read nope.json"));
    assert_eq!(v["diagnostics"], serde_json::json!([]));

    // A good manifest still prints the Report JSON.
    let args = [
        "apply",
        "--format",
        "json",
        "--root",
        "root",
        "--node",
        "n1",
        "site.fleet",
    ];
    let o = fleet_in(d.path(), args);
    assert!(o.status.success(), "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["summary"]["changed"], 1);
}

#[test]
fn failing_commands_say_error_and_exit_with_their_code() {
    let d = site();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["apply"], 2, "error: apply needs a manifest FILE"),
        (
            &["apply", "--root", "nowhere", "site.fleet"],
            2,
            "error: --root nowhere: ",
        ),
        (
            &["apply", "--root", "root", "--node", "n1", "bad.fleet"],
            1,
            "error: bad.fleet has errors; nothing applied",
        ),
        (
            &["apply", "--catalog", "nope.json"],
            1,
            "error: cannot read nope.json",
        ),
        (
            &["backup", "list", "--root", "nowhere"],
            2,
            "error: --root nowhere: ",
        ),
        (
            &[
                "backup",
                "restore",
                "/etc/motd",
                "--root",
                "root",
                "--at",
                "garbage",
            ],
            2,
            "error: --at: ",
        ),
        (
            &["backup", "restore", "/etc/motd", "--root", "root"],
            1,
            "error: no backup of /etc/motd",
        ),
        (
            &["release", "list", "/srv/app", "--root", "root"],
            1,
            "error: no releases under ",
        ),
        (
            &["release", "rollback", "/srv/app", "--root", "root"],
            1,
            "error: ",
        ),
        (
            &["report", "list", "--root", "root"],
            1,
            "error: no reports in ",
        ),
        (
            &["report", "show", "--root", "root"],
            1,
            "error: no reports in ",
        ),
        (
            &["check", "missing.fleet"],
            2,
            "error: no such manifest: missing.fleet",
        ),
        (
            &["compile", "--node", "n1", "missing.fleet"],
            2,
            "error: no such manifest: missing.fleet",
        ),
        (
            &["fmt", "missing.fleet"],
            2,
            "error: cannot read missing.fleet: ",
        ),
        (
            &["catalog", "diff", "a.json", "b.json"],
            2,
            "error: cannot read a.json",
        ),
        (
            &["doc", "nosuch"],
            1,
            "error: no documentation for `nosuch`",
        ),
        (
            &["init", "site.fleet"],
            1,
            "error: cannot create site.fleet",
        ),
    ];
    for (args, code, prefix) in cases {
        let o = fleet_in(d.path(), *args);
        let err = o.stderr;
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {err}");
        assert!(
            err.lines().any(|l| l.starts_with(prefix)),
            "{args:?}: a line starting {prefix:?} in {err:?}"
        );
        assert!(
            !err.lines().any(|l| l.starts_with("fleet:")),
            "{args:?}: no `fleet:` prefix: {err:?}"
        );
    }
}
