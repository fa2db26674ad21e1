//! The small commands around the pipeline, run as the real binary: `catalog diff` (files and
//! git revisions), `init` (then `check --deny warnings`), `completions`, the hidden `man`,
//! and `doc`.

use std::path::Path;
use std::process::{Command, Output};

fn fleet(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fleet"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

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

fn expect_diff(out: &Output) {
    let text = stdout(out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(out));
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
        let out = fleet(d, &["compile", "--node", "web01", &format!("{name}.fleet")]);
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::write(d.join(format!("{name}.json")), &out.stdout).unwrap();
    }
    expect_diff(&fleet(d, &["catalog", "diff", "old.json", "new.json"]));

    let same = fleet(d, &["catalog", "diff", "new.json", "new.json"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert_eq!(stdout(&same), "no difference\n");

    let json = fleet(
        d,
        &[
            "catalog", "diff", "--format", "json", "old.json", "new.json",
        ],
    );
    assert_eq!(json.status.code(), Some(1));
    assert!(!stdout(&json).contains("secret-pw"));
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
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
        let out = fleet(d, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.net"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
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
    expect_diff(&fleet(
        d,
        &["catalog", "diff", "--node", "web01", "HEAD~1", "HEAD"],
    ));
    let sub = d.join("manifests");
    expect_diff(&fleet(
        &sub,
        &[
            "catalog",
            "diff",
            "--node",
            "web01",
            "HEAD~1",
            "HEAD",
            "site.fleet",
        ],
    ));
    let same = fleet(d, &["catalog", "diff", "--node", "web01", "HEAD", "HEAD"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));

    let bad = fleet(
        d,
        &["catalog", "diff", "--node", "web01", "HEAD", "nosuchrev"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("`nosuchrev` is not a revision"),
        "{}",
        stderr(&bad)
    );
    // A revision that does not compile: its diagnostics name the file as in the repository.
    std::fs::write(
        &site,
        "node \"web01\" {\n  file \"/x\" { contnt = \"x\" }\n}\n",
    )
    .unwrap();
    git(d, &["commit", "-q", "-am", "broken"]);
    let broken = fleet(d, &["catalog", "diff", "--node", "web01", "HEAD~1", "HEAD"]);
    assert_eq!(broken.status.code(), Some(2));
    let err = stderr(&broken);
    assert!(err.contains("manifests/site.fleet:2:"), "{err}");
    assert!(!err.contains("fleet-catalog-diff-"), "{err}");
    assert!(
        err.contains("revision HEAD does not compile for node `web01`"),
        "{err}"
    );
    git(d, &["reset", "-q", "--hard", "HEAD~1"]);
    let no_node = fleet(d, &["catalog", "diff", "--node", "db01", "HEAD~1", "HEAD"]);
    assert_eq!(no_node.status.code(), Some(2), "{}", stderr(&no_node));
    // No temporary export is left behind.
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fleet"))
        .current_dir(d)
        .args(["catalog", "diff", "--node", "web01", "HEAD~1", "HEAD"])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn init_makes_a_site_that_checks_clean_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let out = fleet(dir.path(), &["init", "site"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for f in [
        "site.fleet",
        "data/hierarchy.toml",
        "data/common.toml",
        "templates/motd.j2",
        ".gitignore",
    ] {
        assert!(site.join(f).is_file(), "{f} missing");
    }
    let check = fleet(&site, &["check", "--deny", "warnings"]);
    assert!(check.status.success(), "{}", stderr(&check));

    // A second init refuses and writes nothing, not even the files that are missing.
    std::fs::write(site.join("site.fleet"), "# mine\n").unwrap();
    std::fs::remove_file(site.join(".gitignore")).unwrap();
    let again = fleet(&site, &["init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("not overwriting"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read_to_string(site.join("site.fleet")).unwrap(),
        "# mine\n"
    );
    assert!(!site.join(".gitignore").exists());

    // A module beside the site, imported and included, still checks clean and compiles.
    let site = dir.path().join("site2");
    assert!(fleet(dir.path(), &["init", "site2"]).status.success());
    let m = fleet(&site, &["init", "--module", "ntp"]);
    assert!(m.status.success(), "{}", stderr(&m));
    assert!(site.join("ntp/init.fleet").is_file());
    let text = std::fs::read_to_string(site.join("site.fleet")).unwrap();
    let text = format!(
        "import \"ntp\"\n{}",
        text.replace("  include base\n", "  include base\n  include ntp\n")
    );
    std::fs::write(site.join("site.fleet"), text).unwrap();
    let check = fleet(&site, &["check", "--deny", "warnings"]);
    assert!(check.status.success(), "{}", stderr(&check));
    let c = fleet(&site, &["compile", "--node", "web01", "site.fleet"]);
    assert!(stdout(&c).contains("/etc/ntp.conf"), "{}", stderr(&c));
    assert_eq!(
        fleet(&site, &["init", "--module", "ntp"]).status.code(),
        Some(1)
    );
    assert_eq!(
        fleet(&site, &["init", "--module", "Bad-Name"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn completions_for_each_shell_and_man_pages() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = fleet(dir.path(), &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let text = stdout(&out);
        for sub in ["check", "apply", "catalog", "init", "doc", "completions"] {
            assert!(
                text.contains(sub),
                "{shell} completion does not mention {sub}"
            );
        }
    }
    assert_eq!(
        fleet(dir.path(), &["completions", "tcsh"]).status.code(),
        Some(2)
    );

    let out = fleet(dir.path(), &["man", "man"]);
    assert!(out.status.success(), "{}", stderr(&out));
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
    let type_doc = stdout(&fleet(d, &["doc", "service"]));
    assert!(
        type_doc.starts_with("service (resource type)\n"),
        "{type_doc}"
    );
    assert!(type_doc.contains("Namevar: `name`"), "{type_doc}");
    let attr = stdout(&fleet(d, &["doc", "service.ensure"]));
    assert_eq!(
        attr,
        "ensure (service)\n\nWhether it runs.\n\nValues: running | stopped. Default: `running`.\n"
    );
    let func = stdout(&fleet(d, &["doc", "lookup"]));
    assert!(func.starts_with("    lookup("), "{func}");

    // Classes and defines come from site.fleet here (or the FILE given).
    std::fs::write(
        d.join("site.fleet"),
        "class web($port: Int = 80, $key: Sensitive[String] = sensitive(\"k\")) { }\n\
         define vhost($root: String) { }\nnode default { include web }\n",
    )
    .unwrap();
    let class = fleet(d, &["doc", "web"]);
    assert_eq!(
        stdout(&class),
        "    class web($port: Int = 80, $key: Sensitive[String] = [sensitive])\ndefined at site.fleet:1:7\n"
    );
    let define = stdout(&fleet(d, &["doc", "vhost"]));
    assert!(
        define.starts_with("    define vhost($root: String)\n"),
        "{define}"
    );
    let list = stdout(&fleet(d, &["doc"]));
    for l in [
        "type      file\n",
        "define    vhost\n",
        "class     web\n",
        "function  template\n",
    ] {
        assert!(list.contains(l), "{l:?} not in {list}");
    }
    let none = fleet(d, &["doc", "nosuch"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).starts_with("error: no documentation for `nosuch`"));
}

/// The catalog `version` hashes what the node will do: a comment line inserted at the top
/// moves every resource's `source` but leaves the version; changing an attribute changes it.
#[test]
fn catalog_version_ignores_where_resources_were_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let compile = |text: &str| {
        std::fs::write(d.join("site.fleet"), text).unwrap();
        let out = fleet(d, &["compile", "--node", "web01", "site.fleet"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
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
    let out = fleet(d, &["check", "--format", "json", "site.fleet"]);
    let found: Vec<(String, u64, u64)> = stdout(&out)
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
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(1));
    // Compile rejects the same revision, with the same diagnostic.
    let compile = fleet(d, &["compile", "--node", "web01", "site.fleet"]);
    assert!(
        stderr(&compile).contains("revision `v2` not found"),
        "{}",
        stderr(&compile)
    );
}
