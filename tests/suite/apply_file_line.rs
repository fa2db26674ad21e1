//! The `file_line` provider for real under a sandbox root: replace, insert, remove; a second
//! run changes nothing; noop shows the diff and changes nothing; the old content is backed
//! up; a symlink out of the root is not followed.

use crate::support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use serde_json::json;
use support::Sandbox;

const PAM: &str = "auth required pam_env.so\nsession optional pam_motd.so noupdate\nsession required pam_limits.so\n";

#[test]
fn replaces_inserts_removes_then_changes_nothing() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.p("/etc/pam.d")).unwrap();
    std::fs::write(sb.p("/etc/pam.d/sshd"), PAM).unwrap();
    std::fs::set_permissions(sb.p("/etc/pam.d/sshd"), PermissionsExt::from_mode(0o640)).unwrap();
    let cat = sb.catalog(
        "c",
        &[
            ("file_line", "motd", json!({"path": "/etc/pam.d/sshd", "line": "session optional pam_motd.so motd=/run/motd.dynamic", "match": "^session\\s+optional\\s+pam_motd\\.so"})),
            ("file_line", "env", json!({"path": "/etc/pam.d/sshd", "line": "auth required pam_faildelay.so", "after": "^auth"})),
            ("file_line", "limits", json!({"path": "/etc/pam.d/sshd", "line": "x", "match": "pam_limits", "ensure": "absent"})),
        ],
        &[],
    );
    let before = sb.snapshot();
    let r = sb.apply(&cat, &["--noop", "--show-diff"]);
    assert_eq!(r.code, 2, "noop sees the edits: {r:?}");
    assert!(
        r.stdout
            .contains("+session optional pam_motd.so motd=/run/motd.dynamic"),
        "{r:?}"
    );
    assert_eq!(before, sb.snapshot(), "noop changed nothing");
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        sb.read("/etc/pam.d/sshd"),
        "auth required pam_env.so\nauth required pam_faildelay.so\nsession optional pam_motd.so motd=/run/motd.dynamic\n"
    );
    assert_eq!(
        std::fs::metadata(sb.p("/etc/pam.d/sshd")).unwrap().mode() & 0o7777,
        0o640
    );
    let blob = sb
        .p("/var/lib/fleet/backup")
        .join(support::sha256_hex(PAM.as_bytes()));
    assert_eq!(
        std::fs::read_to_string(blob).unwrap(),
        PAM,
        "the original is backed up"
    );
    let r = sb.apply(&cat, &["--format", "json"]);
    assert_eq!(r.code, 0, "second run changes nothing: {r:?}");
    assert_eq!(r.report()["summary"]["changed"], 0);
}

#[test]
fn a_missing_file_fails_and_a_link_out_of_the_root_is_not_followed() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.p("/etc")).unwrap();
    let outside = sb.tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("hosts"), "victim\n").unwrap();
    std::os::unix::fs::symlink(&outside, sb.p("/etc/linked")).unwrap();
    let cat = sb.catalog(
        "c",
        &[
            (
                "file_line",
                "missing",
                json!({"path": "/etc/nope", "line": "x"}),
            ),
            (
                "file_line",
                "escape",
                json!({"path": "/etc/linked/hosts", "line": "evil"}),
            ),
        ],
        &[],
    );
    let r = sb.apply(&cat, &[]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        format!("{r:?}").contains("/etc/nope does not exist"),
        "{r:?}"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("hosts")).unwrap(),
        "victim\n"
    );
}
