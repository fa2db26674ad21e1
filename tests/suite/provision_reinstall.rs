//! `fleet provision reinstall` against a real sshd on loopback (the shared fixture of
//! run_ssh.rs), with a sandbox directory as the node's `/boot`: the boot files and the GRUB
//! entry land there and `grub-reboot` (Debian's grub2-common) marks the entry for the next
//! boot; the reboot itself is not run (`--no-reboot`).

use std::path::Path;

use crate::provision::{provision, site, snapshot, PROFILE, WEB02};
use crate::support::{fleet_in, Run};

/// A node reached at 127.0.0.1, where the fixture's sshd listens.
const WEB03: &str = r#"
node "web03" {
  provision { mac = "52:54:00:aa:00:03", ip = "127.0.0.1/8", profile = "debian12" }
}
"#;

/// A node whose address has nothing listening (the fixture listens on .1, .2 and .4).
const GONE: &str = r#"
node "gone01" {
  provision { mac = "52:54:00:aa:00:09", ip = "127.0.0.9/8", profile = "debian12" }
}
"#;

/// `fleet provision reinstall ARGS… site.fleet --out out …` in `dir`, `boot` as the /boot.
fn reinstall(dir: &Path, args: &[&str], boot: &Path) -> Run {
    let s = crate::run_ssh::sshd();
    let mut all: Vec<String> = ["provision", "reinstall"].map(String::from).to_vec();
    all.extend(args.iter().map(|a| a.to_string()));
    all.extend(
        [
            "site.fleet",
            "--out",
            "out",
            "--server-ip",
            "10.99.0.1",
            "--connect-timeout",
            "5",
            "--no-reboot",
        ]
        .map(String::from),
    );
    all.push("--ssh-config".into());
    all.push(s.config.display().to_string());
    all.push("--boot-dir".into());
    all.push(boot.display().to_string());
    fleet_in(dir, all)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Marks `node` installed, as `POST /done/<node>` does, and rewrites the tree.
fn installed(dir: &Path, node: &str) {
    std::fs::write(
        dir.join("out/installed.json"),
        format!("{{\"installed\": [\"{node}\"]}}\n"),
    )
    .unwrap();
    let r = provision(dir);
    assert_eq!(r.code, 0, "{}", r.describe());
}

#[test]
fn reinstall_copies_the_boot_files_and_makes_the_installer_the_next_boot() {
    let s = site(&[PROFILE, WEB02, WEB03]);
    let d = s.path();
    assert_eq!(provision(d).code, 0);
    installed(d, "web03");
    let pxe = d.join("out/tftp/pxelinux.cfg/01-52-54-00-aa-00-03");
    assert!(read(&pxe).contains("LOCALBOOT 0"), "{}", read(&pxe));
    let boot = d.join("node/boot");
    std::fs::create_dir_all(boot.join("grub")).unwrap();
    let mine = "menuentry 'mine' --id mine { true }\n";
    std::fs::write(boot.join("grub/custom.cfg"), mine).unwrap();

    let r = reinstall(d, &["web03"], &boot);
    assert_eq!(r.code, 0, "{}", r.describe());
    assert_eq!(read(&boot.join("fleet-install/linux")), "kernel\n");
    assert_eq!(read(&boot.join("fleet-install/initrd")), "initrd\n");
    let cfg = read(&boot.join("grub/custom.cfg"));
    assert!(cfg.starts_with(mine), "{cfg}");
    assert!(cfg.contains("--id fleet-reinstall {"), "{cfg}");
    assert!(
        cfg.contains(
            "linux $fleet/linux auto=true priority=critical url=http://10.99.0.1/answers/web03"
        ),
        "{cfg}"
    );
    assert!(cfg.contains("initrd $fleet/initrd"), "{cfg}");
    // grub-reboot's mark: the next boot (only) takes fleet's entry.
    let env = read(&boot.join("grub/grubenv"));
    assert!(env.contains("next_entry=fleet-reinstall\n"), "{env}");
    // The install server serves its installer again.
    assert!(!read(&d.join("out/installed.json")).contains("web03"));
    assert!(
        read(&pxe).contains("url=http://10.99.0.1/answers/web03"),
        "{}",
        read(&pxe)
    );
    assert!(d.join("out/http/answers/web03").is_file());
    assert!(
        r.stderr.contains("rewriting") || r.stderr.contains("web03"),
        "{}",
        r.stderr
    );

    // Again: one entry of fleet's, the operator's own left alone.
    let r = reinstall(d, &["web03"], &boot);
    assert_eq!(r.code, 0, "{}", r.describe());
    let cfg = read(&boot.join("grub/custom.cfg"));
    assert_eq!(cfg.matches("--id fleet-reinstall").count(), 1, "{cfg}");
    assert!(cfg.starts_with(mine), "{cfg}");
}

#[test]
fn netboot_only_turns_network_boot_on_and_touches_no_node() {
    let s = site(&[PROFILE, WEB03]);
    let d = s.path();
    assert_eq!(provision(d).code, 0);
    installed(d, "web03");
    let boot = d.join("node/boot");
    let r = reinstall(d, &["web03", "--netboot"], &boot);
    assert_eq!(r.code, 0, "{}", r.describe());
    assert!(!read(&d.join("out/installed.json")).contains("web03"));
    assert!(read(&d.join("out/tftp/pxelinux.cfg/01-52-54-00-aa-00-03")).contains("answers/web03"));
    assert!(!boot.exists(), "--netboot reached the node");
}

#[test]
fn refusals_change_nothing_and_say_why() {
    let s = site(&[PROFILE, WEB02, WEB03, GONE]);
    let d = s.path();
    assert_eq!(provision(d).code, 0);
    installed(d, "web03");
    let before = snapshot(&d.join("out"));
    let boot = d.join("node/boot");
    // netboot = false: no installer is served for it.
    let r = reinstall(d, &["web02"], &boot);
    assert_eq!(r.code, 2, "{}", r.describe());
    assert!(r.stderr.contains("netboot = false"), "{}", r.stderr);
    // Not a node with a record.
    let r = reinstall(d, &["nosuch01"], &boot);
    assert_eq!(r.code, 2, "{}", r.describe());
    assert!(r.stderr.contains("no provision record"), "{}", r.stderr);
    assert_eq!(
        snapshot(&d.join("out")),
        before,
        "a refusal changed the tree"
    );
    assert!(!boot.exists());
    // Unreachable: ssh's own reason, and the node's boot directory untouched.
    let r = reinstall(d, &["gone01"], &boot);
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(r.stderr.contains("gone01 (127.0.0.9)"), "{}", r.stderr);
    assert!(r.stderr.contains("ssh"), "{}", r.stderr);
    assert!(!boot.exists());
}
