//! The `user` and `group` providers with real `useradd --prefix` & co. under a sandbox root.

mod support;

use serde_json::json;
use support::{require_tool, Sandbox};

fn tools() {
    for t in [
        "useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel",
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
