//! The `file` provider for real under a sandbox root: every `ensure`, mode, owner, group;
//! idempotency, honest noop, backups, and no escape from the root.

use crate::support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use serde_json::{json, Value};
use support::{fleet, Sandbox};

/// Apply, verify, apply again (no change), drift, noop (reports exactly the drift, changes
/// nothing), apply (fixes it).
fn full_cycle(
    sb: &Sandbox,
    resources: &[(&str, &str, Value)],
    verify: impl Fn(&Sandbox),
    drift: impl Fn(&Sandbox),
    drift_props: &[&str],
) {
    let cat = sb.catalog("c", resources, &[]);
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "first run changes: {r:?}");
    verify(sb);
    let r = sb.apply(&cat, &["--format", "json"]);
    assert_eq!(r.code, 0, "second run changes nothing: {r:?}");
    assert_eq!(r.report()["summary"]["changed"], 0);
    drift(sb);
    let before = sb.snapshot();
    let r = sb.apply(&cat, &["--noop", "--format", "json"]);
    assert_eq!(r.code, 2, "noop sees the drift: {r:?}");
    let report = r.report();
    let props: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["property"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        props, drift_props,
        "noop reports exactly the drift: {report}"
    );
    assert_eq!(before, sb.snapshot(), "noop changed nothing");
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    verify(sb);
    assert_eq!(sb.apply(&cat, &[]).code, 0);
}

fn mode(sb: &Sandbox, p: &str) -> u32 {
    std::fs::symlink_metadata(sb.p(p)).unwrap().mode() & 0o7777
}

#[test]
fn ensure_file_with_content_and_mode() {
    let sb = Sandbox::new();
    full_cycle(
        &sb,
        &[(
            "file",
            "/etc/motd",
            json!({"ensure": "file", "content": "hello\n", "mode": "0640"}),
        )],
        |sb| {
            assert_eq!(sb.read("/etc/motd"), "hello\n");
            assert_eq!(mode(sb, "/etc/motd"), 0o640);
        },
        |sb| {
            sb.write("/etc/motd", "tampered\n");
            std::fs::set_permissions(sb.p("/etc/motd"), std::fs::Permissions::from_mode(0o600))
                .unwrap();
        },
        &["content", "mode"],
    );
}

#[test]
fn ensure_file_from_the_content_store() {
    let sb = Sandbox::new();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let sha = sb.blob(&big);
    full_cycle(
        &sb,
        &[("file", "/etc/blob.bin", json!({"content_sha256": sha}))],
        |sb| {
            assert_eq!(std::fs::read(sb.p("/etc/blob.bin")).unwrap(), big);
            assert_eq!(mode(sb, "/etc/blob.bin"), 0o644);
        },
        // Same size, one byte different: the hash must catch it.
        |sb| {
            let mut b = std::fs::read(sb.p("/etc/blob.bin")).unwrap();
            b[1000] ^= 1;
            std::fs::write(sb.p("/etc/blob.bin"), b).unwrap();
        },
        &["content"],
    );
}

#[test]
fn missing_content_blob_fails_clearly() {
    let sb = Sandbox::new();
    let cat = sb.catalog(
        "c",
        &[("file", "/etc/x", json!({"content_sha256": "ab".repeat(32)}))],
        &[],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stdout.contains("not in the content store"), "{r:?}");
    assert!(!sb.p("/etc/x").exists());
}

#[test]
fn ensure_present_creates_empty_and_keeps_content() {
    let sb = Sandbox::new();
    full_cycle(
        &sb,
        &[(
            "file",
            "/etc/present",
            json!({"ensure": "present", "mode": "0600"}),
        )],
        |sb| assert_eq!(mode(sb, "/etc/present"), 0o600),
        |sb| {
            // Content is not managed: only the mode drift shows.
            sb.write("/etc/present", "anything");
            std::fs::set_permissions(sb.p("/etc/present"), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        },
        &["mode"],
    );
    assert_eq!(sb.read("/etc/present"), "anything");
}

#[test]
fn ensure_directory() {
    let sb = Sandbox::new();
    full_cycle(
        &sb,
        &[
            (
                "file",
                "/srv/app",
                json!({"ensure": "directory", "mode": "0750"}),
            ),
            ("file", "/srv", json!({"ensure": "directory"})),
        ],
        |sb| {
            assert!(sb.p("/srv/app").is_dir());
            assert_eq!(mode(sb, "/srv/app"), 0o750);
        },
        |sb| {
            std::fs::remove_dir(sb.p("/srv/app")).unwrap();
            std::fs::write(sb.p("/srv/app"), "a file in the way").unwrap();
        },
        &["ensure"],
    );
}

#[test]
fn ensure_link() {
    let sb = Sandbox::new();
    full_cycle(
        &sb,
        &[(
            "file",
            "/etc/current",
            json!({"ensure": "link", "target": "releases/2"}),
        )],
        |sb| {
            assert_eq!(
                std::fs::read_link(sb.p("/etc/current"))
                    .unwrap()
                    .to_str()
                    .unwrap(),
                "releases/2"
            )
        },
        |sb| {
            std::fs::remove_file(sb.p("/etc/current")).unwrap();
            std::os::unix::fs::symlink("releases/1", sb.p("/etc/current")).unwrap();
        },
        &["target"],
    );
}

#[test]
fn ensure_absent_backs_up_and_restores() {
    let sb = Sandbox::new();
    sb.write("/etc/old.conf", "precious\n");
    full_cycle(
        &sb,
        &[("file", "/etc/old.conf", json!({"ensure": "absent"}))],
        |sb| assert!(!sb.p("/etc/old.conf").exists()),
        |sb| sb.write("/etc/old.conf", "again\n"),
        &["ensure"],
    );
    let root = sb.root.to_str().unwrap();
    let list = fleet(["backup", "list", "--root", root]);
    assert_eq!(list.code, 0, "{list:?}");
    assert_eq!(list.stdout.lines().count(), 2, "{list:?}");
    assert!(list.stdout.contains("/etc/old.conf"));
    let first_time = list
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let r = fleet(["backup", "restore", "/etc/old.conf", "--root", root]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.read("/etc/old.conf"), "again\n");
    let r = fleet([
        "backup",
        "restore",
        "/etc/old.conf",
        "--at",
        &first_time,
        "--root",
        root,
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.read("/etc/old.conf"), "precious\n");
    // A time that does not parse restores nothing (it used to restore the newest).
    let restore_at = |at: &str| {
        fleet([
            "backup",
            "restore",
            "/etc/old.conf",
            "--at",
            at,
            "--root",
            root,
        ])
    };
    let r = restore_at("garbage");
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("\"garbage\" is not an RFC 3339 time"),
        "{r:?}"
    );
    assert_eq!(sb.read("/etc/old.conf"), "precious\n");
    let r = restore_at("1999-01-01T00:00:00+01:00");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("no backup of /etc/old.conf at or before"),
        "{r:?}"
    );
    // A prefix names the end of its period: this year holds both backups.
    let r = restore_at(&first_time[..4]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_ne!(sb.read("/etc/old.conf"), "precious\n", "{r:?}");
}

#[test]
fn replaced_content_is_backed_up() {
    let sb = Sandbox::new();
    sb.write("/etc/hosts", "old hosts\n");
    let cat = sb.catalog(
        "c",
        &[("file", "/etc/hosts", json!({"content": "new hosts\n"}))],
        &[],
    );
    assert_eq!(sb.apply(&cat, &[]).code, 2);
    let blob = sb
        .p("/var/lib/fleet/backup")
        .join(support::sha256_hex(b"old hosts\n"));
    assert_eq!(std::fs::read_to_string(blob).unwrap(), "old hosts\n");
}

#[test]
fn absent_directory_needs_force() {
    let sb = Sandbox::new();
    sb.write("/srv/data/file", "x");
    let cat = sb.catalog(
        "c",
        &[("file", "/srv/data", json!({"ensure": "absent"}))],
        &[],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stdout.contains("force"), "{r:?}");
    assert!(sb.p("/srv/data/file").exists());
    let cat = sb.catalog(
        "c",
        &[(
            "file",
            "/srv/data",
            json!({"ensure": "absent", "force": true}),
        )],
        &[],
    );
    assert_eq!(sb.apply(&cat, &[]).code, 2);
    assert!(!sb.p("/srv/data").exists());
}

#[test]
fn owner_and_group_by_name() {
    let sb = Sandbox::new();
    sb.write(
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234::/home/app:/bin/sh\n",
    );
    sb.write("/etc/group", "root:x:0:\napp:x:1234:\n");
    full_cycle(
        &sb,
        &[(
            "file",
            "/etc/app.conf",
            json!({"content": "x=1\n", "owner": "app", "group": "app", "mode": "0640"}),
        )],
        |sb| {
            let md = std::fs::metadata(sb.p("/etc/app.conf")).unwrap();
            assert_eq!((md.uid(), md.gid()), (1234, 1234));
        },
        |sb| std::os::unix::fs::chown(sb.p("/etc/app.conf"), Some(0), Some(0)).unwrap(),
        &["owner", "group"],
    );
}

#[test]
fn plan_text_and_show_diff() {
    let sb = Sandbox::new();
    sb.write("/etc/x", "one\ntwo\n");
    std::fs::set_permissions(sb.p("/etc/x"), std::fs::Permissions::from_mode(0o600)).unwrap();
    sb.write("/etc/gone", "bye");
    let cat = sb.catalog(
        "c",
        &[
            ("file", "/etc/motd", json!({"content": "hi\n"})),
            (
                "file",
                "/etc/x",
                json!({"content": "one\nthree\n", "mode": "0644"}),
            ),
            ("file", "/etc/gone", json!({"ensure": "absent"})),
        ],
        &[],
    );
    let r = sb.apply(&cat, &["--noop", "--show-diff"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("+ File[/etc/motd]\n"), "{r:?}");
    assert!(r.stdout.contains("~ File[/etc/x]\n"), "{r:?}");
    assert!(r.stdout.contains("    mode: 0600 -> 0644\n"), "{r:?}");
    assert!(
        r.stdout.contains("-two\n") && r.stdout.contains("+three\n"),
        "{r:?}"
    );
    assert!(r.stdout.contains("- File[/etc/gone]\n"), "{r:?}");
    assert!(
        r.stdout.contains("1 to create, 1 to change, 1 to remove"),
        "{r:?}"
    );
    let r = sb.apply(&cat, &[]);
    assert!(r.stdout.contains("+ File[/etc/motd] created"), "{r:?}");
    assert!(
        r.stdout.contains("1 created, 1 changed, 1 removed"),
        "{r:?}"
    );
}

#[test]
fn a_planted_symlink_does_not_lead_out_of_the_root() {
    let sb = Sandbox::new();
    std::fs::remove_dir(sb.p("/etc")).unwrap();
    std::os::unix::fs::symlink("/etc", sb.p("/etc")).unwrap();
    std::fs::create_dir_all(sb.p("/opt")).unwrap();
    std::fs::create_dir_all(sb.p("/tmp")).unwrap();
    std::os::unix::fs::symlink("../../../../../../tmp", sb.p("/opt/up")).unwrap();
    let marker = format!("fleet-escape-test-{}", std::process::id());
    let cat = sb.catalog(
        "c",
        &[
            (
                "file",
                &format!("/etc/{marker}"),
                json!({"content": "escaped!\n"}),
            ),
            (
                "file",
                &format!("/opt/up/{marker}"),
                json!({"content": "escaped!\n"}),
            ),
        ],
        &[],
    );
    let r = sb.apply(&cat, &[]);
    assert!(
        !std::path::Path::new("/etc").join(&marker).exists(),
        "wrote the host's /etc: {r:?}"
    );
    assert!(
        !std::path::Path::new("/tmp").join(&marker).exists(),
        "wrote the host's /tmp: {r:?}"
    );
    // The /etc one fails (a link loop inside the root); the other lands inside the root.
    assert_eq!(r.code, 6, "{r:?}");
    assert!(sb.p("/tmp").join(&marker).exists(), "{r:?}");
}

#[test]
fn a_link_planted_during_the_run_does_not_lead_out_of_the_root() {
    // An exec turns /a, which the run has already written into (so its resolution is
    // cached), into a link that the kernel would follow out of the root. The file that
    // runs after it must resolve /a afresh, inside the root.
    let sb = Sandbox::new();
    let outside = sb.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(sb.p("/outside")).unwrap();
    let cat = sb.catalog(
        "c",
        &[
            ("file", "/a", json!({"ensure": "directory"})),
            ("file", "/a/x", json!({"content": "x\n"})),
            (
                "exec",
                "plant",
                json!({"command": "rm -rf \"$FLEET_ROOT/a\" && ln -s ../outside \"$FLEET_ROOT/a\""}),
            ),
            ("file", "/a/y", json!({"content": "y\n"})),
        ],
        &[
            ("File[/a/x]", "Exec[plant]", false),
            ("Exec[plant]", "File[/a/y]", false),
        ],
    );
    let r = sb.apply(&cat, &["--run-host-commands"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!outside.join("y").exists(), "wrote outside the root: {r:?}");
    assert_eq!(sb.read("/outside/y"), "y\n");
}

#[test]
fn missing_parent_directory_fails() {
    let sb = Sandbox::new();
    let cat = sb.catalog("c", &[("file", "/nope/x", json!({"content": "x"}))], &[]);
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stdout.contains("parent directory /nope does not exist"),
        "{r:?}"
    );
}

/// Everything under `dir` (relative paths), for "nothing landed outside" checks.
fn entries(dir: &std::path::Path) -> Vec<String> {
    support::snapshot(dir).into_keys().collect()
}

#[test]
fn the_root_itself_is_never_removed_or_replaced() {
    for (title, params) in [
        ("/", json!({"ensure": "absent", "force": true})),
        ("/..", json!({"ensure": "absent", "force": true})),
        ("/etc/../..", json!({"content": "x"})),
        (
            "root",
            json!({"path": "//.", "ensure": "link", "target": "/tmp"}),
        ),
    ] {
        let sb = Sandbox::new();
        sb.write("/etc/keep", "keep\n");
        // A first run makes the state directory; the refused one must leave it too.
        let ok = sb.catalog(
            "ok",
            &[("file", "/etc/other", json!({"content": "o"}))],
            &[],
        );
        assert_eq!(sb.apply(&ok, &[]).code, 2);
        let cat = sb.catalog("c", &[("file", title, params)], &[]);
        let r = sb.apply(&cat, &[]);
        assert_eq!(r.code, 4, "{title}: {r:?}");
        assert!(r.stdout.contains("root directory"), "{title}: {r:?}");
        assert_eq!(sb.read("/etc/keep"), "keep\n", "{title}");
        assert!(sb.p("/var/lib/fleet/lock").exists(), "{title}");
    }
}

/// A sandbox whose `/etc/secret` (0600, owned by 1234:2345) a catalog replaces, so the run
/// backs it up and saves a report; `plant` plants links in the state directory first.
fn secret_run(
    plant: impl Fn(&Sandbox, &std::path::Path),
) -> (Sandbox, std::path::PathBuf, support::Run) {
    let sb = Sandbox::new();
    let outside = sb.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("victim"), "victim\n").unwrap();
    sb.write("/etc/secret", "hunter2\n");
    std::fs::set_permissions(sb.p("/etc/secret"), PermissionsExt::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(sb.p("/etc/secret"), Some(1234), Some(2345)).unwrap();
    plant(&sb, &outside);
    let cat = sb.catalog(
        "c",
        &[("file", "/etc/secret", json!({"content": "new\n"}))],
        &[],
    );
    let r = sb.apply(&cat, &[]);
    (sb, outside, r)
}

#[test]
fn the_state_directory_is_not_opened_through_planted_links() {
    use std::os::unix::fs::symlink;
    let mkdirs = |sb: &Sandbox, p: &str| std::fs::create_dir_all(sb.p(p)).unwrap();
    type Plant = Box<dyn Fn(&Sandbox, &std::path::Path)>;
    let cases: Vec<(&str, Plant)> = vec![
        (
            "var -> outside",
            Box::new(|sb, out| symlink(out, sb.p("/var")).unwrap()),
        ),
        (
            "var/lib/fleet -> outside",
            Box::new(move |sb, out| {
                mkdirs(sb, "/var/lib");
                symlink(out, sb.p("/var/lib/fleet")).unwrap();
            }),
        ),
        (
            "var/lib/fleet -> ../../../../outside",
            Box::new(move |sb, _| {
                mkdirs(sb, "/var/lib");
                symlink("../../../../outside", sb.p("/var/lib/fleet")).unwrap();
            }),
        ),
        (
            "backup -> outside",
            Box::new(move |sb, out| {
                mkdirs(sb, "/var/lib/fleet");
                symlink(out, sb.p("/var/lib/fleet/backup")).unwrap();
            }),
        ),
        (
            "reports -> outside",
            Box::new(move |sb, out| {
                mkdirs(sb, "/var/lib/fleet");
                symlink(out, sb.p("/var/lib/fleet/reports")).unwrap();
            }),
        ),
        (
            "backup/index.jsonl -> outside/victim",
            Box::new(move |sb, out| {
                mkdirs(sb, "/var/lib/fleet/backup");
                symlink(
                    out.join("victim"),
                    sb.p("/var/lib/fleet/backup/index.jsonl"),
                )
                .unwrap();
            }),
        ),
    ];
    for (name, plant) in cases {
        let (sb, outside, r) = secret_run(plant);
        assert_eq!(entries(&outside), ["victim"], "{name}: {r:?}");
        assert_eq!(
            std::fs::read_to_string(outside.join("victim")).unwrap(),
            "victim\n",
            "{name}"
        );
        // Where the store could not be used, the secret was not replaced unbacked.
        let secret = sb.read("/etc/secret");
        if secret == "new\n" {
            let blob = sb
                .p("/var/lib/fleet/backup")
                .join(support::sha256_hex(b"hunter2\n"));
            assert!(blob.is_file(), "{name}: replaced without a backup: {r:?}");
        } else {
            assert_eq!(secret, "hunter2\n", "{name}");
            assert_ne!(r.code, 0, "{name}: {r:?}");
        }
    }
}

#[test]
fn backups_keep_mode_and_owner_and_restore_puts_them_back() {
    let (sb, _, r) = secret_run(|_, _| {});
    assert_eq!(r.code, 2, "{r:?}");
    let store = sb.p("/var/lib/fleet/backup");
    let blob = store.join(support::sha256_hex(b"hunter2\n"));
    assert_eq!(mode(&sb, "/var/lib/fleet/backup"), 0o700);
    let md = std::fs::metadata(&blob).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o600);
    let index = std::fs::read_to_string(store.join("index.jsonl")).unwrap();
    let line: Value = serde_json::from_str(index.lines().next().unwrap()).unwrap();
    assert_eq!(
        (&line["mode"], &line["uid"], &line["gid"]),
        (&json!("0600"), &json!(1234), &json!(2345)),
        "{index}"
    );
    // The replacement kept them too; now loosen them and restore.
    assert_eq!(sb.read("/etc/secret"), "new\n");
    std::fs::set_permissions(sb.p("/etc/secret"), PermissionsExt::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(sb.p("/etc/secret"), Some(0), Some(0)).unwrap();
    let root = sb.root.to_str().unwrap();
    let r = fleet(["backup", "restore", "/etc/secret", "--root", root]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.read("/etc/secret"), "hunter2\n");
    let md = std::fs::symlink_metadata(sb.p("/etc/secret")).unwrap();
    assert_eq!(
        (md.mode() & 0o7777, md.uid(), md.gid()),
        (0o600, 1234, 2345)
    );
    // Restore into a missing directory and through a planted link stays inside.
    let outside = sb.tmp.path().join("outside");
    std::fs::remove_file(sb.p("/etc/secret")).unwrap();
    std::fs::rename(sb.p("/etc"), sb.p("/etc.real")).unwrap();
    std::os::unix::fs::symlink(&outside, sb.p("/etc")).unwrap();
    let r = fleet(["backup", "restore", "/etc/secret", "--root", root]);
    assert_ne!(r.code, 0, "{r:?}");
    assert_eq!(entries(&outside), ["victim"], "{r:?}");
}

/// Swaps `ROOT/etc` (a directory) with `ROOT/etc.alt` (a link out of the root) in a tight
/// loop until `stop`, with `renameat2(RENAME_EXCHANGE)`.
fn swapper(root: std::path::PathBuf, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    let (a, b) = (root.join("etc"), root.join("etc.alt"));
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = renameat_with(CWD, &a, CWD, &b, RenameFlags::EXCHANGE);
    }
}

#[test]
fn a_directory_swapped_for_a_link_during_the_run_does_not_lead_out() {
    // Issue 11 item 4: a process inside the root flips /etc between a directory and a link
    // out of the root while fleet writes hundreds of files under it.
    for trial in 0..4 {
        let sb = Sandbox::new();
        let outside = sb.tmp.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let target = if trial % 2 == 0 {
            outside.clone()
        } else {
            std::path::PathBuf::from("../outside")
        };
        std::os::unix::fs::symlink(&target, sb.p("/etc.alt")).unwrap();
        let mut resources = Vec::new();
        for d in 0..10 {
            resources.push((
                "file".to_string(),
                format!("/etc/d{d}"),
                json!({"ensure": "directory"}),
            ));
            for f in 0..30 {
                resources.push((
                    "file".to_string(),
                    format!("/etc/d{d}/f{f}"),
                    json!({"content": format!("{d}/{f}\n")}),
                ));
            }
        }
        let res: Vec<(&str, &str, Value)> = resources
            .iter()
            .map(|(k, t, p)| (k.as_str(), t.as_str(), p.clone()))
            .collect();
        let cat = sb.catalog("c", &res, &[]);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swap = {
            let (root, stop) = (sb.root.clone(), stop.clone());
            std::thread::spawn(move || swapper(root, stop))
        };
        // Two runs: one creating, one over what the first made.
        let runs = [sb.apply(&cat, &[]), sb.apply(&cat, &[])];
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        swap.join().unwrap();
        assert!(
            entries(&outside).is_empty(),
            "trial {trial}: landed outside the root: {:?}\n{:?}",
            entries(&outside),
            runs
        );
    }
}

/// `site.fleet` (node `n`, the resources `body`) beside a source tree `src/` holding
/// `files` (`path`, content; a content starting with `->` makes a link to the rest).
fn tree_site(sb: &Sandbox, body: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = sb.tmp.path().join("site");
    let src = dir.join("src");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).unwrap();
    for (p, text) in files {
        let at = src.join(p);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        match text.strip_prefix("->") {
            Some(target) => std::os::unix::fs::symlink(target, &at).unwrap(),
            None => std::fs::write(&at, text).unwrap(),
        }
    }
    let site = dir.join("site.fleet");
    std::fs::write(&site, format!("node \"n\" {{\n{body}\n}}\n")).unwrap();
    site
}

fn apply_site(sb: &Sandbox, site: &std::path::Path, extra: &[&str]) -> support::Run {
    let mut args = vec![
        "apply",
        "--root",
        sb.root.to_str().unwrap(),
        "--detailed-exitcodes",
        "--node",
        "n",
    ];
    args.extend_from_slice(extra);
    args.push(site.to_str().unwrap());
    fleet(&args)
}

const CONF_D: &str =
    "file \"/etc/app.d\" { ensure = directory, source = \"src\", recurse = true, mode = \"0640\" }";

#[test]
fn recurse_makes_the_tree_and_replaces_changed_files() {
    let sb = Sandbox::new();
    let files = [
        ("a.conf", "a\n"),
        ("sub/b.conf", "b\n"),
        ("sub/deeper/c.conf", "c\n"),
        ("current", "->a.conf"),
    ];
    let site = tree_site(&sb, CONF_D, &files);
    let before = sb.snapshot();
    let r = apply_site(&sb, &site, &["--noop"]);
    assert_eq!(r.code, 2, "{r:?}");
    for line in [
        "    /etc/app.d/a.conf: file created",
        "    /etc/app.d/sub: directory created",
        "    /etc/app.d/sub/b.conf: file created",
        "    /etc/app.d/sub/deeper/c.conf: file created",
        "    /etc/app.d/current: link created",
    ] {
        assert!(r.stdout.contains(&format!("{line}\n")), "{line}: {r:?}");
    }
    assert_eq!(before, sb.snapshot(), "noop changed nothing");

    let r = apply_site(&sb, &site, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(sb.read("/etc/app.d/a.conf"), "a\n");
    assert_eq!(sb.read("/etc/app.d/sub/deeper/c.conf"), "c\n");
    assert_eq!(
        std::fs::read_link(sb.p("/etc/app.d/current")).unwrap(),
        std::path::Path::new("a.conf")
    );
    // `mode` for files; directories get x where r is set.
    assert_eq!(mode(&sb, "/etc/app.d/a.conf"), 0o640);
    assert_eq!(mode(&sb, "/etc/app.d/sub/b.conf"), 0o640);
    assert_eq!(mode(&sb, "/etc/app.d"), 0o750);
    assert_eq!(mode(&sb, "/etc/app.d/sub/deeper"), 0o750);

    let r = apply_site(&sb, &site, &[]);
    assert_eq!(r.code, 0, "a second run changes nothing: {r:?}");

    // A changed source file is replaced (the old one backed up); the rest stays.
    let mut files = files.to_vec();
    files[1] = ("sub/b.conf", "b2\n");
    let site = tree_site(&sb, CONF_D, &files);
    let r = apply_site(&sb, &site, &["--noop"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout
            .contains("    /etc/app.d/sub/b.conf: content changed\n"),
        "{r:?}"
    );
    assert!(!r.stdout.contains("/a.conf:"), "{r:?}");
    let r = apply_site(&sb, &site, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(sb.read("/etc/app.d/sub/b.conf"), "b2\n");
    let blob = sb
        .p("/var/lib/fleet/backup")
        .join(support::sha256_hex(b"b\n"));
    assert_eq!(std::fs::read_to_string(blob).unwrap(), "b\n");
    assert_eq!(apply_site(&sb, &site, &[]).code, 0);
    // Without purge, files the source does not have stay.
    sb.write("/etc/app.d/local.conf", "mine\n");
    assert_eq!(apply_site(&sb, &site, &[]).code, 0);
    assert_eq!(sb.read("/etc/app.d/local.conf"), "mine\n");
}

#[test]
fn purge_removes_what_the_source_does_not_have_and_backs_it_up() {
    let sb = Sandbox::new();
    let files = [("a.conf", "a\n"), ("sub/b.conf", "b\n")];
    sb.write("/etc/app.d/a.conf", "a\n");
    sb.write("/etc/app.d/extra.conf", "extra\n");
    sb.write("/etc/app.d/sub/stale.conf", "stale\n");
    sb.write("/etc/app.d/old/x.conf", "x\n");
    std::os::unix::fs::symlink("a.conf", sb.p("/etc/app.d/dangling")).unwrap();
    let body = "file \"/etc/app.d\" { ensure = directory, source = \"src\", recurse = true, purge = true }";
    let site = tree_site(&sb, body, &files);
    // An extra directory needs force: the resource fails before anything changes.
    let tree = |sb: &Sandbox| -> Vec<(String, String)> {
        sb.snapshot()
            .into_iter()
            .filter(|(k, _)| k.starts_with("etc/app.d"))
            .collect()
    };
    let before = tree(&sb);
    let r = apply_site(&sb, &site, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stdout
            .contains("/etc/app.d/old is a directory the source does not have; set force = true"),
        "{r:?}"
    );
    assert_eq!(before, tree(&sb), "{r:?}");

    let body = "file \"/etc/app.d\" { ensure = directory, source = \"src\", recurse = true, purge = true, force = true }";
    let site = tree_site(&sb, body, &files);
    let r = apply_site(&sb, &site, &["--noop"]);
    assert_eq!(r.code, 2, "{r:?}");
    for line in [
        "    /etc/app.d/extra.conf: file removed",
        "    /etc/app.d/dangling: link removed",
        "    /etc/app.d/old/x.conf: file removed",
        "    /etc/app.d/old: directory removed",
        "    /etc/app.d/sub/stale.conf: file removed",
        "    /etc/app.d/sub/b.conf: file created",
    ] {
        assert!(r.stdout.contains(&format!("{line}\n")), "{line}: {r:?}");
    }
    assert!(!r.stdout.contains("/a.conf:"), "{r:?}");
    assert_eq!(before, tree(&sb), "noop changed nothing");
    let r = apply_site(&sb, &site, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    let mut left: Vec<String> = sb
        .snapshot()
        .into_keys()
        .filter(|k| k.starts_with("etc/app.d"))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "etc/app.d",
            "etc/app.d/a.conf",
            "etc/app.d/sub",
            "etc/app.d/sub/b.conf"
        ],
        "{r:?}"
    );
    for old in ["extra\n", "x\n", "stale\n"] {
        let blob = sb
            .p("/var/lib/fleet/backup")
            .join(support::sha256_hex(old.as_bytes()));
        assert_eq!(std::fs::read_to_string(&blob).unwrap(), old, "backed up");
    }
    assert_eq!(apply_site(&sb, &site, &[]).code, 0);
}

#[test]
fn a_link_planted_in_a_recursed_directory_is_not_followed() {
    let sb = Sandbox::new();
    let outside = sb.tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("keep")).unwrap();
    std::fs::write(outside.join("b.conf"), "host file\n").unwrap();
    std::fs::write(outside.join("keep/k"), "k\n").unwrap();
    std::fs::create_dir_all(sb.p("/etc/app.d")).unwrap();
    // Where the source has a directory, and where it has nothing (purged).
    std::os::unix::fs::symlink(&outside, sb.p("/etc/app.d/sub")).unwrap();
    std::os::unix::fs::symlink(&outside, sb.p("/etc/app.d/evil")).unwrap();
    std::os::unix::fs::symlink(outside.join("b.conf"), sb.p("/etc/app.d/a.conf")).unwrap();
    let body = "file \"/etc/app.d\" { ensure = directory, source = \"src\", recurse = true, purge = true, force = true }";
    let site = tree_site(&sb, body, &[("a.conf", "a\n"), ("sub/b.conf", "b\n")]);
    let host = support::snapshot(&outside);
    let r = apply_site(&sb, &site, &["--noop"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = apply_site(&sb, &site, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(host, support::snapshot(&outside), "wrote outside: {r:?}");
    assert!(std::fs::symlink_metadata(sb.p("/etc/app.d/sub"))
        .unwrap()
        .is_dir());
    assert_eq!(sb.read("/etc/app.d/sub/b.conf"), "b\n");
    assert_eq!(sb.read("/etc/app.d/a.conf"), "a\n");
    assert!(std::fs::symlink_metadata(sb.p("/etc/app.d/evil")).is_err());
    assert_eq!(apply_site(&sb, &site, &[]).code, 0);
}

#[test]
fn recurse_without_ensure_or_mode_keeps_the_source_modes() {
    let sb = Sandbox::new();
    let body = "file \"/etc/tool\" { source = \"src\", recurse = true }";
    let site = tree_site(&sb, body, &[("run.sh", "#!/bin/sh\n"), ("conf", "c\n")]);
    let script = sb.tmp.path().join("site/src/run.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = apply_site(&sb, &site, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(mode(&sb, "/etc/tool"), 0o755);
    assert_eq!(mode(&sb, "/etc/tool/run.sh"), 0o755);
    assert_eq!(mode(&sb, "/etc/tool/conf"), 0o644);
    // An existing file's mode is left alone without `mode`.
    std::fs::set_permissions(
        sb.p("/etc/tool/conf"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert_eq!(apply_site(&sb, &site, &[]).code, 0);
    assert_eq!(mode(&sb, "/etc/tool/conf"), 0o600);
    // A killed run's temp file deep in the tree is swept by the run after it.
    std::fs::create_dir_all(sb.tmp.path().join("site/src/sub")).unwrap();
    std::fs::write(sb.tmp.path().join("site/src/sub/x"), "x\n").unwrap();
    assert_eq!(apply_site(&sb, &site, &[]).code, 2);
    sb.write("/etc/tool/sub/.x.fleet-2147483647-0", "half");
    sb.write("/var/lib/fleet/unfinished", "");
    assert_eq!(apply_site(&sb, &site, &[]).code, 0);
    assert!(!sb.p("/etc/tool/sub/.x.fleet-2147483647-0").exists());
}

#[test]
fn a_recursed_tree_failing_midway_leaves_each_file_old_or_new() {
    let sb = Sandbox::new();
    sb.write("/etc/app.d/a.conf", "old\n");
    sb.write("/etc/app.d/x/inner", "i\n");
    let site = tree_site(&sb, CONF_D, &[("a.conf", "new\n"), ("x", "file\n")]);
    let r = apply_site(&sb, &site, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stdout
            .contains("/etc/app.d/x is a non-empty directory; set force = true"),
        "{r:?}"
    );
    assert!(
        ["old\n", "new\n"].contains(&sb.read("/etc/app.d/a.conf").as_str()),
        "{r:?}"
    );
    assert_eq!(sb.read("/etc/app.d/x/inner"), "i\n");
    let temps: Vec<String> = support::snapshot(&sb.p("/etc"))
        .into_keys()
        .filter(|k| k.contains(".fleet-"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
}

/// `validate` runs a real validator (`sh -n`, which parses a script without running it) on
/// the new content: a rejected content leaves the old file and fails the resource with the
/// validator's output; an accepted one replaces it; without `--run-host-commands` under a
/// root it is not run and nothing changes.
#[test]
fn validate_keeps_the_old_file_when_the_validator_rejects_the_new_content() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.p("/etc")).unwrap();
    std::fs::write(sb.p("/etc/hook.sh"), "echo old\n").unwrap();
    let with = |content: &str| {
        sb.catalog(
            "c",
            &[(
                "file",
                "/etc/hook.sh",
                json!({"content": content, "validate": "sh -n %"}),
            )],
            &[],
        )
    };
    let bad = with("if then fi (\n");
    let r = sb.apply(&bad, &["--run-host-commands"]);
    assert_ne!(r.code, 0, "{r:?}");
    let text = format!("{r:?}");
    assert!(text.contains("rejected the new content"), "{text}");
    assert!(
        text.contains("Syntax error"),
        "the validator's output: {text}"
    );
    assert_eq!(sb.read("/etc/hook.sh"), "echo old\n");
    let leftovers: Vec<_> = std::fs::read_dir(sb.p("/etc"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temp file left: {leftovers:?}");
    let good = with("echo new\n");
    let r = sb.apply(&good, &[]);
    assert_ne!(r.code, 2, "not run under --root without permission: {r:?}");
    assert_eq!(sb.read("/etc/hook.sh"), "echo old\n");
    let r = sb.apply(&good, &["--run-host-commands"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(sb.read("/etc/hook.sh"), "echo new\n");
}
