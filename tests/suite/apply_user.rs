//! The `user` and `group` providers with real `useradd --prefix` & co. under a sandbox root.

use crate::support;

use serde_json::json;
use support::{require_tool, which, Sandbox};

fn tools() {
    for t in [
        "useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel", "chpasswd",
    ] {
        require_tool(t);
    }
}

fn line(sb: &Sandbox, file: &str, name: &str) -> Option<String> {
    sb.read(file)
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .map(String::from)
}

const HASH: &str = "$6$salt$4Ovn5SfJHR0mOZ4pOlVrcX2YUh1TKjmnQMzgYj1v1ZBkWzkbv0xo3VJQx2YJ2kqVvCkgYHrKSu8B8r8TYY9Xc/";

#[test]
fn users_and_groups_every_ensure() {
    tools();
    let sb = Sandbox::new();
    let resources = [
        ("group", "web", json!({"gid": 2000})),
        ("group", "ops", json!({"gid": 2100, "system": true})),
        (
            "user",
            "deploy",
            json!({"uid": 2001, "gid": "web", "groups": ["ops"], "home": "/home/deploy", "shell": "/bin/bash",
                   "comment": "Deploy user", "password": HASH, "managehome": true}),
        ),
    ];
    let edges = [
        ("Group[web]", "User[deploy]", false),
        ("Group[ops]", "User[deploy]", false),
    ];
    let cat = sb.catalog("c", &resources, &edges);
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        line(&sb, "/etc/passwd", "deploy").unwrap(),
        "deploy:x:2001:2000:Deploy user:/home/deploy:/bin/bash"
    );
    assert_eq!(line(&sb, "/etc/group", "web").unwrap(), "web:x:2000:");
    assert_eq!(line(&sb, "/etc/group", "ops").unwrap(), "ops:x:2100:deploy");
    assert!(line(&sb, "/etc/shadow", "deploy")
        .unwrap()
        .starts_with(&format!("deploy:{HASH}:")));
    assert!(
        sb.p("/home/deploy").is_dir(),
        "managehome makes the home directory"
    );
    let r = sb.apply(&cat, &["--format", "json"]);
    assert_eq!(r.code, 0, "idempotent: {r:?}");

    // Drift: shell, groups and password changed by hand; a member added to web.
    let passwd = sb
        .read("/etc/passwd")
        .replace("/home/deploy:/bin/bash", "/home/deploy:/bin/sh");
    sb.write("/etc/passwd", &passwd);
    let group = sb
        .read("/etc/group")
        .replace("ops:x:2100:deploy", "ops:x:2100:")
        .replace("web:x:2000:", "web:x:2000:root");
    sb.write("/etc/group", &group);
    let cat2 = sb.catalog(
        "c2",
        &[
            ("group", "web", json!({"gid": 2000, "members": []})),
            ("group", "ops", json!({"gid": 2100, "system": true})),
            resources[2].clone(),
        ],
        &edges,
    );
    let before = sb.snapshot();
    let r = sb.apply(&cat2, &["--noop", "--format", "json"]);
    assert_eq!(r.code, 2, "{r:?}");
    let report = r.report();
    let props: Vec<String> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["resource"].as_str().unwrap(),
                e["property"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        props,
        [
            "Group[web] members",
            "User[deploy] groups",
            "User[deploy] shell"
        ],
        "{report}"
    );
    assert_eq!(before, sb.snapshot(), "noop changed nothing");
    let r = sb.apply(&cat2, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        line(&sb, "/etc/passwd", "deploy").unwrap(),
        "deploy:x:2001:2000:Deploy user:/home/deploy:/bin/bash"
    );
    assert_eq!(line(&sb, "/etc/group", "ops").unwrap(), "ops:x:2100:deploy");
    assert_eq!(line(&sb, "/etc/group", "web").unwrap(), "web:x:2000:");
    assert_eq!(sb.apply(&cat2, &[]).code, 0);

    // Password drift is reported without the hash (a password is always sensitive).
    let shadow = sb.read("/etc/shadow").replace(HASH, "!");
    sb.write("/etc/shadow", &shadow);
    let r = sb.apply(&cat2, &["--noop"]);
    assert!(
        r.stdout.contains("    password changed (sensitive)\n") && !r.stdout.contains("$6$"),
        "{r:?}"
    );
    let r = sb.apply(&cat2, &["--noop", "--format", "json"]);
    let event = &r.report()["events"][0];
    assert_eq!(event["from"], "[sensitive]", "{r:?}");
    assert_eq!(event["message"], "password changed (sensitive)", "{r:?}");
    assert_eq!(sb.apply(&cat2, &[]).code, 2);
    assert_eq!(sb.apply(&cat2, &[]).code, 0);

    // Absent: the user (with its home) and then the groups go.
    let cat3 = sb.catalog(
        "c3",
        &[
            (
                "user",
                "deploy",
                json!({"ensure": "absent", "managehome": true}),
            ),
            ("group", "web", json!({"ensure": "absent"})),
            ("group", "ops", json!({"ensure": "absent"})),
        ],
        &[
            ("User[deploy]", "Group[web]", false),
            ("User[deploy]", "Group[ops]", false),
        ],
    );
    let before = sb.snapshot();
    let r = sb.apply(&cat3, &["--noop"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("0 to create, 0 to change, 3 to remove"),
        "{r:?}"
    );
    assert_eq!(before, sb.snapshot());
    let r = sb.apply(&cat3, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(line(&sb, "/etc/passwd", "deploy"), None);
    assert_eq!(line(&sb, "/etc/group", "web"), None);
    assert!(!sb.p("/home/deploy").exists());
    assert_eq!(sb.apply(&cat3, &[]).code, 0);
}

#[test]
fn files_owned_by_a_user_created_in_the_same_run() {
    tools();
    let sb = Sandbox::new();
    let cat = sb.catalog(
        "c",
        &[
            ("user", "svc", json!({"uid": 3001})),
            (
                "file",
                "/etc/svc.conf",
                json!({"content": "x\n", "owner": "svc"}),
            ),
        ],
        &[("User[svc]", "File[/etc/svc.conf]", false)],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(sb.p("/etc/svc.conf")).unwrap().uid(),
        3001
    );
    assert_eq!(sb.apply(&cat, &[]).code, 0);
}

#[test]
fn a_dry_run_knows_the_owners_the_catalog_creates() {
    tools();
    let sb = Sandbox::new();
    // As Debian ships it: useradd makes the user's own group.
    sb.write("/etc/login.defs", "USERGROUPS_ENAB yes\n");
    sb.write("/srv/existing", "same\n");
    let resources = [
        ("user", "alice", json!({"uid": 2500, "home": "/home/alice"})),
        ("group", "admins", json!({"gid": 2600})),
        (
            "file",
            "/srv/authorized_keys",
            json!({"content": "ssh-ed25519 AAAA alice\n", "owner": "alice", "group": "alice", "mode": "0600"}),
        ),
        (
            "file",
            "/srv/existing",
            json!({"content": "same\n", "owner": "alice", "group": "admins"}),
        ),
        (
            "file",
            "/srv/nobody",
            json!({"content": "x\n", "owner": "nobody-here"}),
        ),
    ];
    let edges = [
        ("User[alice]", "File[/srv/authorized_keys]", false),
        ("User[alice]", "File[/srv/existing]", false),
        ("Group[admins]", "File[/srv/existing]", false),
    ];
    let cat = sb.catalog("c", &resources, &edges);
    let before = sb.snapshot();
    let r = sb.apply(&cat, &["--noop", "--format", "json"]);
    assert_eq!(r.code, 6, "only the unknown owner fails: {r:?}");
    let report = r.report();
    let events = report["events"].as_array().unwrap();
    let failed: Vec<&str> = events
        .iter()
        .filter(|e| e["status"] == "failed")
        .map(|e| e["resource"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["File[/srv/nobody]"], "{report}");
    let change = |res: &str, property: &str| {
        events
            .iter()
            .find(|e| e["resource"] == res && e["property"] == property)
            .unwrap_or_else(|| panic!("no {property} change of {res}: {report}"))
    };
    assert_eq!(change("File[/srv/existing]", "owner")["to"], "alice");
    assert_eq!(change("File[/srv/existing]", "group")["to"], "admins");
    assert_eq!(before, sb.snapshot(), "noop changed nothing");
    // The real run agrees.
    let cat = sb.catalog("c", &resources[..4], &edges);
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(sb.p("/srv/authorized_keys")).unwrap();
    let gid: u32 = line(&sb, "/etc/group", "alice")
        .unwrap()
        .split(':')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!((md.uid(), md.gid()), (2500, gid));
    assert_eq!(
        std::fs::metadata(sb.p("/srv/existing")).unwrap().gid(),
        2600
    );
    assert_eq!(sb.apply(&cat, &["--noop"]).code, 0);
}

/// A `PATH` directory whose account tools log their argv to `log` and run the real ones.
fn spies(sb: &Sandbox) -> (String, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let bin = sb.tmp.path().join("spy");
    let log = sb.tmp.path().join("argv.log");
    std::fs::create_dir_all(&bin).unwrap();
    for t in ["useradd", "usermod", "userdel", "chpasswd"] {
        let real = which(t).unwrap();
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$0 $*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        );
        let p = bin.join(t);
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (path, log)
}

#[test]
fn password_hashes_go_on_stdin_never_on_a_command_line() {
    tools();
    let sb = Sandbox::new();
    let (path, log) = spies(&sb);
    let env = [("PATH", path.as_str())];
    let cat = sb.catalog(
        "c",
        &[("user", "alice", json!({"uid": 2501, "password": HASH}))],
        &[],
    );
    let r = sb.apply_env(&cat, &[], &env);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(line(&sb, "/etc/shadow", "alice")
        .unwrap()
        .starts_with(&format!("alice:{HASH}:")));
    let argv = std::fs::read_to_string(&log).unwrap();
    assert!(argv.contains("useradd --prefix"), "{argv}");
    assert!(argv.contains("chpasswd -e --root"), "{argv}");
    assert!(!argv.contains("$6$"), "a hash on a command line: {argv}");
    assert_eq!(sb.apply_env(&cat, &[], &env).code, 0, "idempotent");

    // A changed hash goes through chpasswd alone (nothing else changed: no usermod).
    std::fs::remove_file(&log).unwrap();
    let other = HASH.replace("salt", "pepper");
    let cat2 = sb.catalog(
        "c2",
        &[("user", "alice", json!({"uid": 2501, "password": other}))],
        &[],
    );
    let r = sb.apply_env(&cat2, &[], &env);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(line(&sb, "/etc/shadow", "alice")
        .unwrap()
        .starts_with(&format!("alice:{other}:")));
    let argv = std::fs::read_to_string(&log).unwrap();
    assert!(!argv.contains("usermod"), "{argv}");
    assert!(argv.contains("chpasswd -e --root"), "{argv}");
    assert!(!argv.contains("$6$"), "a hash on a command line: {argv}");

    // A hash that would split a shadow line is refused before anything runs.
    std::fs::remove_file(&log).unwrap();
    let cat3 = sb.catalog(
        "c3",
        &[(
            "user",
            "alice",
            json!({"uid": 2501, "password": "$6$a:b$c"}),
        )],
        &[],
    );
    let r = sb.apply_env(&cat3, &[], &env);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stdout.contains("cannot contain ':'") || r.stderr.contains("cannot contain ':'"),
        "{r:?}"
    );
    assert!(!log.exists(), "no tool ran");
    assert!(line(&sb, "/etc/shadow", "alice")
        .unwrap()
        .starts_with(&format!("alice:{other}:")));
}
