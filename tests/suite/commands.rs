//! The small commands around the pipeline, run as the real binary: `catalog diff` (files and
//! git revisions), `init` (then `check --deny warnings`), `completions`, the hidden `man`,
//! and `doc`.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::{fleet_in, Run};

const OLD: &str = r#"
node "web01" {
  package "nginx" { ensure = present }
  package "telnet" { ensure = present }
  file "/etc/motd" { content = "keep\nold\n", mode = "0644", require = Package["nginx"] }
  user "alice" { password = sensitive("old-secret-pw") }
}
"#;

const NEW: &str = r#"
node "web01" {
  package "nginx" { ensure = latest }
  file "/etc/motd" { content = "keep\nnew\n", mode = "0644" }
  user "alice" { password = sensitive("new-secret-pw") }
  service "nginx" { ensure = running, require = Package["nginx"] }
}
"#;

fn expect_diff(out: &Run) {
    let text = out.stdout.clone();
    assert_eq!(out.status.code(), Some(1), "{text}{}", out.stderr);
    for line in [
        "~ Package[nginx]\n    ensure: \"present\" -> \"latest\"\n",
        "~ File[/etc/motd]\n    content:\n      --- content\n      +++ content\n      @@ -1,2 +1,2 @@\n       keep\n      -old\n      +new\n",
        "~ User[alice]\n    password: \"[sensitive]\" -> \"[sensitive]\"\n",
        "+ Service[nginx]\n    ensure: \"running\"\n",
        "- Package[telnet]\n",
        "+ edge Package[nginx] -> Service[nginx]\n",
        "- edge Package[nginx] -> File[/etc/motd]\n",
        "1 added, 1 removed, 3 changed; edges: 1 added, 1 removed\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(
        !text.contains("secret-pw"),
        "a Sensitive value leaked:\n{text}"
    );
}

#[test]
fn catalog_diff_of_two_catalog_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, text) in [("old", OLD), ("new", NEW)] {
        std::fs::write(d.join(format!("{name}.fleet")), text).unwrap();
        let out = fleet_in(d, ["compile", "--node", "web01", &format!("{name}.fleet")]);
        assert!(out.status.success(), "{}", out.stderr);
        std::fs::write(d.join(format!("{name}.json")), &out.stdout).unwrap();
    }
    expect_diff(&fleet_in(d, ["catalog", "diff", "old.json", "new.json"]));

    let same = fleet_in(d, ["catalog", "diff", "new.json", "new.json"]);
    assert_eq!(same.status.code(), Some(0), "{}", same.stderr);
    assert_eq!(same.stdout, "no difference\n");

    let json = fleet_in(
        d,
        [
            "catalog", "diff", "--format", "json", "old.json", "new.json",
        ],
    );
    assert_eq!(json.status.code(), Some(1));
    assert!(!json.stdout.contains("secret-pw"));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["same"], false);
    assert_eq!(v["removed"][0]["resource"], "Package[telnet]");
    assert_eq!(v["added"][0]["resource"], "Service[nginx]");
    assert_eq!(v["changed"][0]["params"]["ensure"]["to"], "latest");
    assert_eq!(v["changed"][2]["params"]["password"]["from"], "[sensitive]");
    assert_eq!(v["edges_removed"][0]["to"], "File[/etc/motd]");

    // Trouble is 2, as with diff(1): a missing file, a file that is not a catalog.
    std::fs::write(d.join("junk.json"), "{}").unwrap();
    for args in [
        &["catalog", "diff", "old.json", "missing.json"][..],
        &["catalog", "diff", "old.json", "junk.json"],
    ] {
        let out = fleet_in(d, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.net"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn catalog_diff_of_two_git_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    std::fs::create_dir(d.join("manifests")).unwrap();
    let site = d.join("manifests/site.fleet");
    std::fs::write(&site, OLD).unwrap();
    git(d, &["add", "."]);
    git(d, &["commit", "-q", "-m", "old"]);
    std::fs::write(&site, NEW).unwrap();
    git(d, &["commit", "-q", "-am", "new"]);
    // Uncommitted edits are not either revision.
    std::fs::write(&site, "this does not parse {").unwrap();

    // FILE defaults to manifests/site.fleet; from a subdirectory, FILE is found in the
    // repository all the same.
    expect_diff(&fleet_in(
        d,
        ["catalog", "diff", "--node", "web01", "HEAD~1", "HEAD"],
    ));
    let sub = d.join("manifests");
    expect_diff(&fleet_in(
        &sub,
        [
            "catalog",
            "diff",
            "--node",
            "web01",
            "HEAD~1",
            "HEAD",
            "site.fleet",
        ],
    ));
    let same = fleet_in(d, ["catalog", "diff", "--node", "web01", "HEAD", "HEAD"]);
    assert_eq!(same.status.code(), Some(0), "{}", same.stderr);

    let bad = fleet_in(
        d,
        ["catalog", "diff", "--node", "web01", "HEAD", "nosuchrev"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        bad.stderr.contains("`nosuchrev` is not a revision"),
        "{}",
        bad.stderr
    );
    // A revision that does not compile: its diagnostics name the file as in the repository.
    std::fs::write(
        &site,
        "node \"web01\" {\n  file \"/x\" { contnt = \"x\" }\n}\n",
    )
    .unwrap();
    git(d, &["commit", "-q", "-am", "broken"]);
    let broken = fleet_in(d, ["catalog", "diff", "--node", "web01", "HEAD~1", "HEAD"]);
    assert_eq!(broken.status.code(), Some(2));
    let err = broken.stderr;
    assert!(err.contains("manifests/site.fleet:2:"), "{err}");
    assert!(!err.contains("fleet-catalog-diff-"), "{err}");
    assert!(
        err.contains("revision HEAD does not compile for node `web01`"),
        "{err}"
    );
    git(d, &["reset", "-q", "--hard", "HEAD~1"]);
    let no_node = fleet_in(d, ["catalog", "diff", "--node", "db01", "HEAD~1", "HEAD"]);
    assert_eq!(no_node.status.code(), Some(2), "{}", no_node.stderr);
    // No temporary export is left behind.
    let tmp = tempfile::tempdir().unwrap();
    let out = support::run(
        support::command()
            .current_dir(d)
            .args(["catalog", "diff", "--node", "web01", "HEAD~1", "HEAD"])
            .env("TMPDIR", tmp.path()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn init_makes_a_site_that_checks_clean_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let out = fleet_in(dir.path(), ["init", "site"]);
    assert!(out.status.success(), "{}", out.stderr);
    for f in [
        "site.fleet",
        "data/hierarchy.toml",
        "data/common.toml",
        "templates/motd.j2",
        ".gitignore",
    ] {
        assert!(site.join(f).is_file(), "{f} missing");
    }
    let check = fleet_in(&site, ["check", "--deny", "warnings"]);
    assert!(check.status.success(), "{}", check.stderr);

    // A second init refuses and writes nothing, not even the files that are missing.
    std::fs::write(site.join("site.fleet"), "# mine\n").unwrap();
    std::fs::remove_file(site.join(".gitignore")).unwrap();
    let again = fleet_in(&site, ["init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(again.stderr.contains("not overwriting"), "{}", again.stderr);
    assert_eq!(
        std::fs::read_to_string(site.join("site.fleet")).unwrap(),
        "# mine\n"
    );
    assert!(!site.join(".gitignore").exists());

    // A module beside the site, imported and included, still checks clean and compiles.
    let site = dir.path().join("site2");
    assert!(fleet_in(dir.path(), ["init", "site2"]).status.success());
    let m = fleet_in(&site, ["init", "--module", "ntp"]);
    assert!(m.status.success(), "{}", m.stderr);
    assert!(site.join("ntp/init.fleet").is_file());
    let text = std::fs::read_to_string(site.join("site.fleet")).unwrap();
    let text = format!(
        "import \"ntp\"\n{}",
        text.replace("  include base\n", "  include base\n  include ntp\n")
    );
    std::fs::write(site.join("site.fleet"), text).unwrap();
    let check = fleet_in(&site, ["check", "--deny", "warnings"]);
    assert!(check.status.success(), "{}", check.stderr);
    let c = fleet_in(&site, ["compile", "--node", "web01", "site.fleet"]);
    assert!(c.stdout.contains("/etc/ntp.conf"), "{}", c.stderr);
    assert_eq!(
        fleet_in(&site, ["init", "--module", "ntp"]).status.code(),
        Some(1)
    );
    assert_eq!(
        fleet_in(&site, ["init", "--module", "Bad-Name"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn completions_for_each_shell_and_man_pages() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = fleet_in(dir.path(), ["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", out.stderr);
        let text = out.stdout;
        for sub in ["check", "apply", "catalog", "init", "doc", "completions"] {
            assert!(
                text.contains(sub),
                "{shell} completion does not mention {sub}"
            );
        }
    }
    assert_eq!(
        fleet_in(dir.path(), ["completions", "tcsh"]).status.code(),
        Some(2)
    );

    let out = fleet_in(dir.path(), ["man", "man"]);
    assert!(out.status.success(), "{}", out.stderr);
    let page = std::fs::read_to_string(dir.path().join("man/fleet.1")).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH fleet"),
        "{page}"
    );
    let diff = std::fs::read_to_string(dir.path().join("man/fleet-catalog-diff.1")).unwrap();
    assert!(diff.contains("\\-\\-node"), "{diff}");
}

#[test]
fn doc_prints_what_hover_shows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let type_doc = fleet_in(d, ["doc", "service"]).stdout;
    assert!(
        type_doc.starts_with("service (resource type)\n"),
        "{type_doc}"
    );
    assert!(type_doc.contains("Namevar: `name`"), "{type_doc}");
    let attr = fleet_in(d, ["doc", "service.ensure"]).stdout;
    assert_eq!(
        attr,
        "ensure (service)\n\nWhether it runs.\n\nValues: running | stopped. Default: `running`.\n"
    );
    let func = fleet_in(d, ["doc", "lookup"]).stdout;
    assert!(func.starts_with("    lookup("), "{func}");

    // Classes and defines come from site.fleet here (or the FILE given).
    std::fs::write(
        d.join("site.fleet"),
        "class web($port: Int = 80, $key: Sensitive[String] = sensitive(\"k\")) { }\n\
         define vhost($root: String) { }\nnode default { include web }\n",
    )
    .unwrap();
    let class = fleet_in(d, ["doc", "web"]);
    assert_eq!(
        class.stdout,
        "    class web($port: Int = 80, $key: Sensitive[String] = [sensitive])\ndefined at site.fleet:1:7\n"
    );
    let define = fleet_in(d, ["doc", "vhost"]).stdout;
    assert!(
        define.starts_with("    define vhost($root: String)\n"),
        "{define}"
    );
    let list = fleet_in(d, ["doc"]).stdout;
    for l in [
        "type      file\n",
        "define    vhost\n",
        "class     web\n",
        "function  template\n",
    ] {
        assert!(list.contains(l), "{l:?} not in {list}");
    }
    let none = fleet_in(d, ["doc", "nosuch"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(none
        .stderr
        .starts_with("error: no documentation for `nosuch`"));
}

/// The catalog `version` hashes what the node will do: a comment line inserted at the top
/// moves every resource's `source` but leaves the version; changing an attribute changes it.
#[test]
fn catalog_version_ignores_where_resources_were_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let compile = |text: &str| {
        std::fs::write(d.join("site.fleet"), text).unwrap();
        let out = fleet_in(d, ["compile", "--node", "web01", "site.fleet"]);
        assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let version = doc["version"].as_str().unwrap().to_string();
        let sources: Vec<_> = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["source"].clone())
            .collect();
        (version, sources)
    };
    let (v1, s1) = compile(NEW);
    let (v2, s2) = compile(&format!("# a comment\n\n{NEW}"));
    assert_eq!(v1, v2, "a comment and a blank line changed the version");
    assert_ne!(
        s1, s2,
        "the catalog still carries where each resource was written"
    );
    assert_eq!(s2[0]["line"], s1[0]["line"].as_u64().unwrap() + 2);
    let (v3, _) = compile(&NEW.replace("ensure = running", "ensure = stopped"));
    assert_ne!(v1, v3, "an attribute's change must change the version");
}

/// `check` resolves a release's `revision` where it can offline (a local path or a
/// `file://` repository), as compile does, and leaves a remote it would need the network for
/// to compile.
#[test]
fn check_finds_a_revision_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let app = d.join("app");
    std::fs::create_dir(&app).unwrap();
    git(&app, &["init", "--quiet", "-b", "main"]);
    std::fs::write(app.join("VERSION"), "1\n").unwrap();
    git(&app, &["add", "VERSION"]);
    git(&app, &["commit", "--quiet", "-m", "one"]);
    git(&app, &["tag", "v1"]);
    let url = format!("file://{}", app.display());
    let site = format!(
        r#"node "web01" {{
  release "a" {{ path = "/srv/a", repo = "./app", revision = "v1" }}
  release "b" {{ path = "/srv/b", repo = "./app", revision = "v2" }}
  release "c" {{ path = "/srv/c", repo = "{url}", revision = "nosuchbranch" }}
  release "d" {{ path = "/srv/d", repo = "{url}", revision = "main" }}
  release "e" {{ path = "/srv/e", repo = "https://git.invalid/x.git", revision = "nope" }}
}}
"#
    );
    std::fs::write(d.join("site.fleet"), &site).unwrap();
    let out = fleet_in(d, ["check", "--format", "json", "site.fleet"]);
    let found: Vec<(String, u64, u64)> = out
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let n = |k: &str| v[k].as_u64().unwrap();
            (
                v["code"].as_str().unwrap().to_string(),
                n("line"),
                n("column"),
            )
        })
        .collect();
    // At the revision's value, on lines 3 and 4.
    let at = |line: usize, rev: &str| {
        let text = site.lines().nth(line - 1).unwrap();
        let column = text.find(&format!("\"{rev}\"")).unwrap() as u64 + 1;
        ("invalid-value".to_string(), line as u64, column)
    };
    assert_eq!(
        found,
        [at(3, "v2"), at(4, "nosuchbranch")],
        "{}{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(out.status.code(), Some(1));
    // Compile rejects the same revision, with the same diagnostic.
    let compile = fleet_in(d, ["compile", "--node", "web01", "site.fleet"]);
    assert!(
        compile.stderr.contains("revision `v2` not found"),
        "{}",
        compile.stderr
    );
}
