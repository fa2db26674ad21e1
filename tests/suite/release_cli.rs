//! `fleet release list` and `fleet release rollback`, run as the real binary.

use crate::support;

use std::fs;
use std::path::{Path, PathBuf};

use fleet::internals::catalog::store::ContentStore;
use fleet::internals::release::{self, Env, Spec};
use indexmap::IndexMap;
use serde_json::{json, Value};
use support::Run;

fn tarball(version: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(version.len() as u64);
    b.append_data(&mut h, "VERSION", version.as_bytes())
        .unwrap();
    b.into_inner().unwrap()
}

/// Deploys `versions` in order under `root` at `/srv/app`.
fn deploy(root: &Path, versions: &[&str]) {
    let store = ContentStore::new();
    for v in versions {
        let sha = store.add(tarball(v));
        let params: IndexMap<String, Value> = serde_json::from_value(
            json!({"path": "/srv/app", "version": v, "content_sha256": sha}),
        )
        .unwrap();
        let spec = Spec::from_params("app", &params).unwrap();
        release::apply(&spec, &Env::new(Some(root.to_path_buf()), &store)).unwrap();
    }
}

/// `fleet release ARGS /srv/app --root ROOT`.
fn release(root: &Path, args: &[&str]) -> Run {
    let mut cmd = support::command();
    cmd.arg("release")
        .args(args)
        .arg("/srv/app")
        .arg("--root")
        .arg(root);
    support::run(&mut cmd)
}

fn current(root: &Path) -> PathBuf {
    fs::read_link(root.join("srv/app/current")).unwrap()
}

/// The id column of `fleet release list`, with the current marker.
fn listed(root: &Path) -> Vec<String> {
    let out = release(root, &["list"]);
    assert!(out.status.success());
    out.stdout
        .lines()
        .map(|l| {
            l.split_whitespace()
                .take(if l.starts_with('*') { 2 } else { 1 })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn list_shows_newest_first_and_marks_current() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path(), &["r10", "r9", "r1000"]);
    let out = release(dir.path(), &["list"]);
    assert!(out.status.success());
    let text = out.stdout.clone();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("* r1000  20"), "{text}");
    assert!(lines[1].starts_with("  r9     20"), "{text}");
    let sha = fleet::internals::model::digest::sha256_hex(&tarball("r1000"));
    assert!(lines[0].ends_with(&format!("Z  sha256 {sha}")), "{text}");
    assert_eq!(listed(dir.path()), ["* r1000", "r9", "r10"]);
}

#[test]
fn list_of_an_empty_root_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = release(dir.path(), &["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, "");
    let root = fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        out.stderr,
        format!(
            "error: no releases under {}\n",
            root.join("srv/app").display()
        )
    );
    // A deploy root whose releases were all removed by hand is the same.
    deploy(dir.path(), &["r1"]);
    fs::remove_dir_all(dir.path().join("srv/app/releases")).unwrap();
    fs::remove_file(dir.path().join("srv/app/current")).unwrap();
    let out = release(dir.path(), &["list", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, "");
}

#[test]
fn list_as_json_lines_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path(), &["r1", "r2"]);
    let out = release(dir.path(), &["list", "--format", "json"]);
    assert!(out.status.success());
    let v: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["id"], "r2");
    assert_eq!(v[0]["current"], true);
    assert_eq!(v[1]["id"], "r1");
    assert_eq!(v[1]["current"], false);
    assert_eq!(v[0]["seq"], 2);
    assert_eq!(
        v[0]["content_sha256"],
        fleet::internals::model::digest::sha256_hex(&tarball("r2"))
    );
    assert!(v[0]["deployed"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v[0]["commit"], Value::Null);
}

#[test]
fn rollback_twice_then_refuses() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path(), &["a", "b", "c"]);

    let out = release(dir.path(), &["rollback"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "/srv/app: current -> b (removed c)\n");
    assert_eq!(current(dir.path()), Path::new("releases/b"));
    assert_eq!(listed(dir.path()), ["* b", "a"]);

    let out = release(dir.path(), &["rollback"]);
    assert!(out.status.success());
    assert_eq!(current(dir.path()), Path::new("releases/a"));
    assert_eq!(listed(dir.path()), ["* a"]);
    assert!(!dir.path().join("srv/app/releases/b").exists());
    assert!(!dir.path().join("srv/app/releases/.b.json").exists());

    let out = release(dir.path(), &["rollback"]);
    assert_eq!(out.status.code(), Some(1));
    let err = out.stderr;
    assert!(
        err.starts_with("error: nothing to roll back to: a is the only"),
        "{err}"
    );
    assert_eq!(current(dir.path()), Path::new("releases/a"));
}

#[test]
fn rollback_with_a_single_release_refuses() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path(), &["only"]);
    let out = release(dir.path(), &["rollback"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("nothing to roll back to"));
    assert!(out.stdout.is_empty());
    assert_eq!(current(dir.path()), Path::new("releases/only"));
    assert_eq!(listed(dir.path()), ["* only"]);
}

#[test]
fn rollback_to_a_named_release() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path(), &["a", "b", "c"]);
    let out = release(dir.path(), &["rollback", "--to", "a"]);
    assert!(out.status.success());
    assert_eq!(current(dir.path()), Path::new("releases/a"));
    assert_eq!(listed(dir.path()), ["b", "* a"]);

    for (to, message) in [
        ("a", "a is already the current release"),
        ("zz", "no release \"zz\""),
    ] {
        let out = release(dir.path(), &["rollback", "--to", to]);
        assert_eq!(out.status.code(), Some(1));
        let err = out.stderr;
        assert!(err.contains(message), "{err}");
    }
    assert_eq!(current(dir.path()), Path::new("releases/a"));
}

#[test]
fn rollback_without_a_deploy_root_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let out = release(dir.path(), &["rollback"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("nothing to roll back"));
}

#[test]
fn rollback_through_a_planted_releases_link_deletes_nothing_outside() {
    // Issue 11 item 2: `releases` swapped for a link to a directory outside the root that
    // has a release of the same name. The rollback must not delete it.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    for (seq, id) in [(1, "b"), (2, "c")] {
        fs::create_dir_all(outside.join(id)).unwrap();
        fs::write(outside.join(id).join("VERSION"), "precious").unwrap();
        let meta = json!({"format": 1, "id": id, "seq": seq, "deployed": "2026-01-01T00:00:00Z"});
        fs::write(outside.join(format!(".{id}.json")), meta.to_string()).unwrap();
    }
    fs::create_dir_all(&root).unwrap();
    deploy(&root, &["a", "b", "c"]);
    let releases = root.join("srv/app/releases");
    for target in [outside.clone(), PathBuf::from("../../../../outside")] {
        if fs::symlink_metadata(&releases).is_ok_and(|m| m.is_dir()) {
            fs::rename(&releases, root.join("srv/app/releases.real")).unwrap();
        } else {
            fs::remove_file(&releases).unwrap();
        }
        std::os::unix::fs::symlink(&target, &releases).unwrap();
        let out = release(&root, &["rollback"]);
        assert_eq!(
            fs::read_to_string(outside.join("c/VERSION")).unwrap(),
            "precious"
        );
        assert!(outside.join(".c.json").exists(), "{out:?}");
        let _ = release(&root, &["list"]);
    }
}
