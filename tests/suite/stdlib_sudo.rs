//! The stdlib's `sudo` module applied into a sandbox root: a rule is written 0440 after the
//! real `visudo -cf` accepted it; a rule visudo rejects fails its resource and leaves the
//! old file (a typo must not lock the operators out); `ensure = "absent"` removes one.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::support;

fn site(dir: &Path, rule: &str) {
    std::fs::write(
        dir.join("site.fleet"),
        format!(
            "import \"sudo\"\nnode \"ops01\" {{\n  file \"/etc/sudoers.d\" {{ ensure = directory }}\n  \
             sudo::rule \"deploy\" {{ content = \"{rule}\" }}\n  \
             sudo::rule \"old\" {{ ensure = \"absent\" }}\n}}\n"
        ),
    )
    .unwrap();
}

fn apply(dir: &Path, root: &Path) -> support::Run {
    let mut cmd = support::command();
    cmd.current_dir(dir)
        .args([
            "apply",
            "--node",
            "ops01",
            "--run-host-commands",
            "--no-fsync",
            "--root",
        ])
        .arg(root)
        .arg("site.fleet");
    support::run_within(&mut cmd, Duration::from_secs(120)).unwrap()
}

#[test]
fn rules_are_checked_by_visudo_before_they_replace_the_old_file() {
    assert!(
        Path::new("/usr/sbin/visudo").is_file(),
        "visudo is missing: scripts/install-test-deps.sh installs sudo"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("etc/sudoers.d")).unwrap();
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(r.join("etc/sudoers.d/old"), "old ALL=(ALL) ALL\n").unwrap();
    let good = "deploy ALL=(root) NOPASSWD: /usr/bin/systemctl restart shop";
    site(dir.path(), good);
    let run = apply(dir.path(), r);
    assert_eq!(run.code, 0, "{}", run.describe());
    let deploy = r.join("etc/sudoers.d/deploy");
    assert_eq!(
        std::fs::read_to_string(&deploy).unwrap(),
        format!("{good}\n")
    );
    assert_eq!(
        std::fs::metadata(&deploy).unwrap().permissions().mode() & 0o7777,
        0o440
    );
    assert!(!r.join("etc/sudoers.d/old").exists());

    // A typo: visudo says why, the resource fails, the old rule stays.
    site(dir.path(), "deploy ALL=(root NOPASSWD /usr/bin/systemctl");
    let run = apply(dir.path(), r);
    assert_ne!(run.code, 0, "{}", run.describe());
    let text = run.describe();
    assert!(text.contains("rejected the new content"), "{text}");
    assert!(text.contains("syntax error"), "visudo's own words: {text}");
    assert_eq!(
        std::fs::read_to_string(&deploy).unwrap(),
        format!("{good}\n")
    );
}
