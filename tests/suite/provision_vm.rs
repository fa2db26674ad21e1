//! `fleet provision vm NODE` against a real libvirt (Debian's `libvirt-daemon-system`): the
//! test binary starts its own `virtlogd` and `libvirtd -t 300` (once, [`libvirt`]), lets
//! fleet create the disk volume and define and start a small `qemu` domain (software
//! emulation), checks it with `virsh dominfo`, `domiflist` and `qemu-img info`, then that a
//! second run changes nothing, that a changed record is refused without `--replace` and
//! replaces the domain with it, and that virsh's errors name the command. Domains, volumes
//! and the storage pool have names no real machine uses (`fleet-test-<pid>-…`), and are
//! removed even when a test fails.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::{fleet_in, run};

const URI: &str = "qemu:///system";
const LIBVIRT_SOCK: &str = "/run/libvirt/libvirt-sock";
const VIRTLOGD_SOCK: &str = "/run/libvirt/virtlogd-sock";

/// The libvirt the tests talk to, and the storage pool they put disks into.
struct Libvirt {
    /// The logs of the daemons this binary started.
    logs: tempfile::TempDir,
    /// A transient `dir` pool over a temporary directory (gone with libvirtd).
    pool: String,
    pool_dir: tempfile::TempDir,
}

static LIBVIRT: OnceLock<Libvirt> = OnceLock::new();

/// When the test binary exits (statics are never dropped): the transient pool is destroyed
/// while libvirtd still runs (else libvirtd would bring it back from /run/libvirt/storage
/// on its next start), and the temporary directories are removed.
extern "C" fn at_exit() {
    if let Some(l) = LIBVIRT.get() {
        let _ = Command::new("virsh")
            .args(["-q", "-c", URI, "pool-destroy", &l.pool])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(l.pool_dir.path());
        let _ = std::fs::remove_dir_all(l.logs.path());
    }
}

/// Whether something answers on a Unix socket.
fn listening(path: &str) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

/// Starts `program args` on a thread that lives as long as the test binary: the daemon gets
/// SIGTERM when the binary ends (passed or failed, PR_SET_PDEATHSIG), so nothing is left
/// running; its output goes to `log`.
fn daemon(program: &str, args: &[&str], log: &Path) -> std::sync::mpsc::Receiver<String> {
    let program = program.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let log = std::fs::File::create(log).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut cmd = Command::new(&program);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(mut child) => {
                let status = child.wait();
                let _ = tx.send(format!("{program} ended: {status:?}"));
            }
            Err(e) => {
                let _ = tx.send(format!("cannot start {program}: {e}"));
            }
        }
        // The death signal is tied to this thread: it stays until the process ends.
        loop {
            std::thread::park();
        }
    });
    rx
}

fn virsh(args: &[&str]) -> crate::support::Run {
    run(Command::new("virsh").args(["-q", "-c", URI]).args(args))
}

/// The libvirt of this test binary: its own virtlogd and libvirtd when none runs here (a
/// libvirtd that already runs is used, and left running, and the test says so on stderr).
/// Fails, with the daemon's log, when libvirtd cannot run.
fn libvirt() -> &'static Libvirt {
    LIBVIRT.get_or_init(|| {
        let logs = tempfile::tempdir().unwrap();
        for tool in ["/usr/sbin/libvirtd", "/usr/sbin/virtlogd"] {
            assert!(
                Path::new(tool).is_file(),
                "{tool} is missing: scripts/install-test-deps.sh installs libvirt-daemon-system"
            );
        }
        let mut ended = Vec::new();
        if listening(VIRTLOGD_SOCK) {
            eprintln!("provision_vm: using the virtlogd that already runs here (left running)");
        } else {
            ended.push(daemon(
                "/usr/sbin/virtlogd",
                &[],
                &logs.path().join("virtlogd.log"),
            ));
        }
        if listening(LIBVIRT_SOCK) {
            eprintln!(
                "provision_vm: a libvirtd already runs here ({LIBVIRT_SOCK}); the tests use it \
                 and leave it running"
            );
        } else {
            ended.push(daemon(
                "/usr/sbin/libvirtd",
                &["-t", "300"],
                &logs.path().join("libvirtd.log"),
            ));
        }
        let log = |name: &str| {
            std::fs::read_to_string(logs.path().join(name)).unwrap_or_else(|e| format!("({e})"))
        };
        let started = Instant::now();
        loop {
            if listening(LIBVIRT_SOCK) && virsh(&["version"]).code == 0 {
                break;
            }
            let gone: Vec<String> = ended.iter().filter_map(|r| r.try_recv().ok()).collect();
            assert!(
                gone.is_empty() && started.elapsed() < Duration::from_secs(60),
                "libvirtd does not run here ({gone:?}); libvirtd.log:\n{}\nvirtlogd.log:\n{}",
                log("libvirtd.log"),
                log("virtlogd.log")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: registers a plain function; it runs once, at exit.
        unsafe {
            libc::atexit(at_exit);
        }
        let pool = format!("fleet-test-{}-pool", std::process::id());
        let pool_dir = tempfile::tempdir().unwrap();
        // QEMU runs as libvirt-qemu: it must reach the disk.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(pool_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let made = virsh(&[
            "pool-create-as",
            &pool,
            "dir",
            "--target",
            &pool_dir.path().display().to_string(),
        ]);
        assert_eq!(made.code, 0, "pool-create-as: {}", made.describe());
        Libvirt {
            logs,
            pool,
            pool_dir,
        }
    })
}

/// Removes a test's domain and its volume when dropped (also when the test failed); the
/// test itself removes them first and checks that it worked.
struct Cleanup {
    domain: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let l = libvirt();
        let quiet = |args: &[&str]| {
            let _ = Command::new("virsh")
                .args(["-q", "-c", URI])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        quiet(&["destroy", &self.domain]);
        quiet(&["undefine", &self.domain]);
        quiet(&[
            "vol-delete",
            "--pool",
            &l.pool,
            &format!("{}.qcow2", self.domain),
        ]);
    }
}

/// A site whose node `name` is a VM of `ram_mb` MiB, 1 vCPU, 1 GiB of disk, on a host that
/// does not exist (the tests pass `--connect`).
fn write_site(dir: &Path, name: &str, mac: &str, ram_mb: u32) {
    std::fs::write(
        dir.join("site.fleet"),
        format!(
            "node \"{name}\" {{\n  provision {{\n    mac = \"{mac}\"\n    \
             vm = {{ host: \"kvm-nowhere.invalid\", ram_mb: {ram_mb}, cpus: 1, disk_gb: 1 }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
}

/// `fleet provision vm NODE site.fleet --connect qemu:///system` with the test pool and
/// user-mode networking, plus `extra`.
fn provision_vm(dir: &Path, node: &str, network: &str, extra: &[&str]) -> crate::support::Run {
    let l = libvirt();
    let mut args = vec![
        "provision",
        "vm",
        node,
        "site.fleet",
        "--connect",
        URI,
        "--vm-pool",
        &l.pool,
        "--vm-network",
        network,
    ];
    args.extend_from_slice(extra);
    fleet_in(dir, args)
}

/// `virsh dominfo` as (key, value) lines.
fn dominfo(domain: &str) -> std::collections::BTreeMap<String, String> {
    let r = virsh(&["dominfo", domain]);
    assert_eq!(r.code, 0, "dominfo: {}", r.describe());
    r.stdout
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The disk's path in the pool.
fn volume_path(volume: &str) -> PathBuf {
    let r = virsh(&["vol-path", "--pool", &libvirt().pool, volume]);
    assert_eq!(r.code, 0, "vol-path: {}", r.describe());
    PathBuf::from(r.stdout.trim())
}

#[test]
fn vm_is_created_left_alone_refused_and_replaced() {
    let started = Instant::now();
    let l = libvirt();
    let node = format!("fleet-test-{}-vm01", std::process::id());
    let mac = "52:54:00:5e:00:01";
    let _cleanup = Cleanup {
        domain: node.clone(),
    };
    let site = tempfile::tempdir().unwrap();
    write_site(site.path(), &node, mac, 128);

    // First run: the volume, the domain (from the tree's libvirt/<node>.xml), started.
    let r = provision_vm(site.path(), &node, "user", &["--out", "out"]);
    assert_eq!(r.code, 0, "{}", r.describe());
    assert!(r.stdout.contains("created and started"), "{}", r.stdout);
    let xml = site.path().join(format!("out/libvirt/{node}.xml"));
    let v = run(Command::new("virt-xml-validate").arg(&xml).arg("domain"));
    assert_eq!(v.code, 0, "virt-xml-validate: {}", v.describe());
    let info = dominfo(&node);
    assert_eq!(info["State"], "running", "{info:?}");
    assert_eq!(info["Max memory"], "131072 KiB", "{info:?}");
    assert_eq!(info["CPU(s)"], "1", "{info:?}");
    let iflist = virsh(&["domiflist", &node]);
    assert_eq!(iflist.code, 0, "{}", iflist.describe());
    let iface: Vec<&str> = iflist.stdout.split_whitespace().collect();
    assert!(iface.contains(&mac), "{}", iflist.stdout);
    assert!(iface.contains(&"user"), "{}", iflist.stdout);
    let disk = volume_path(&format!("{node}.qcow2"));
    assert!(disk.starts_with(l.pool_dir.path()), "{}", disk.display());
    // -U: QEMU holds the image's lock while the domain runs.
    let img = run(Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(&disk));
    assert_eq!(img.code, 0, "qemu-img info: {}", img.describe());
    let img: serde_json::Value = serde_json::from_str(&img.stdout).unwrap();
    assert_eq!(img["format"], "qcow2", "{img}");
    assert_eq!(img["virtual-size"], 1u64 << 30, "{img}");

    // Second run, same record: nothing changes (the same running domain), and the tree's
    // XML is the same bytes.
    let first_xml = std::fs::read(&xml).unwrap();
    let again = provision_vm(site.path(), &node, "user", &["--out", "out"]);
    assert_eq!(again.code, 0, "{}", again.describe());
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
    assert_eq!(std::fs::read(&xml).unwrap(), first_xml);
    let info2 = dominfo(&node);
    assert_eq!(
        (&info2["Id"], &info2["UUID"], &info2["State"]),
        (&info["Id"], &info["UUID"], &info["State"])
    );
    // The same record with another network is another definition: refused too.
    let other_net = provision_vm(site.path(), &node, "bridge:fleet-test-nobr", &[]);
    assert_eq!(other_net.code, 1, "{}", other_net.describe());

    // More RAM in the record, no --replace: refused, the old domain untouched.
    write_site(site.path(), &node, mac, 256);
    let refused = provision_vm(site.path(), &node, "user", &[]);
    assert_eq!(refused.code, 1, "{}", refused.describe());
    assert!(
        refused.stderr.contains("already exists")
            && refused
                .stderr
                .contains("it has 128 MiB, 1 vCPU; the record: 256 MiB, 1 vCPU")
            && refused.stderr.contains("--replace"),
        "{}",
        refused.stderr
    );
    let info3 = dominfo(&node);
    assert_eq!(
        (
            &info3["Id"],
            &info3["UUID"],
            &info3["Max memory"],
            &info3["State"]
        ),
        (
            &info["Id"],
            &info["UUID"],
            &info["Max memory"],
            &info["State"]
        )
    );

    // --replace: a new domain with the new RAM, on a fresh disk. The old image is kept
    // alive by a second link, so a fresh file cannot have its inode.
    let old_link = l.pool_dir.path().join(format!("{node}.old"));
    std::fs::hard_link(&disk, &old_link).unwrap();
    let replaced = provision_vm(site.path(), &node, "user", &["--replace"]);
    assert_eq!(replaced.code, 0, "{}", replaced.describe());
    assert!(replaced.stdout.contains("replaced"), "{}", replaced.stdout);
    let info4 = dominfo(&node);
    assert_eq!(info4["State"], "running", "{info4:?}");
    assert_eq!(info4["Max memory"], "262144 KiB", "{info4:?}");
    assert_ne!(info4["UUID"], info["UUID"], "a new domain");
    let new_disk = volume_path(&format!("{node}.qcow2"));
    assert_ne!(
        std::fs::metadata(&new_disk).unwrap().ino(),
        std::fs::metadata(&old_link).unwrap().ino(),
        "the disk was not made anew"
    );
    std::fs::remove_file(&old_link).unwrap();

    // Gone again: destroy, undefine, the disk removed.
    for args in [
        vec!["destroy", node.as_str()],
        vec!["undefine", node.as_str()],
    ] {
        let r = virsh(&args);
        assert_eq!(r.code, 0, "virsh {args:?}: {}", r.describe());
    }
    let vol = format!("{node}.qcow2");
    let r = virsh(&["vol-delete", "--pool", &l.pool, &vol]);
    assert_eq!(r.code, 0, "vol-delete: {}", r.describe());
    assert!(!new_disk.exists());
    let list = virsh(&["list", "--all", "--name"]);
    assert!(!list.stdout.contains(&node), "{}", list.stdout);
    eprintln!(
        "provision_vm: create, keep, refuse, replace, remove took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A failing virsh is reported with its command line; a missing pool or node is named, and
/// nothing is changed.
#[test]
fn errors_name_the_command_that_failed() {
    let l = libvirt();
    let node = format!("fleet-test-{}-vm02", std::process::id());
    let _cleanup = Cleanup {
        domain: node.clone(),
    };
    let site = tempfile::tempdir().unwrap();
    write_site(site.path(), &node, "52:54:00:5e:00:02", 128);

    // A libvirt network that does not exist: `virsh start` fails, and says why; the domain
    // stays defined (shut off) with its disk.
    let r = provision_vm(site.path(), &node, "network:fleet-test-no-such-net", &[]);
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(
        r.stderr
            .contains(&format!("`virsh -q -c {URI} start {node}` failed")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("fleet-test-no-such-net"), "{}", r.stderr);
    assert_eq!(dominfo(&node)["State"], "shut off");

    // A pool that does not exist: refused before anything is removed.
    let nopool = fleet_in(
        site.path(),
        [
            "provision",
            "vm",
            &node,
            "site.fleet",
            "--connect",
            URI,
            "--vm-pool",
            "fleet-test-no-such-pool",
            "--replace",
        ],
    );
    assert_eq!(nopool.code, 2, "{}", nopool.describe());
    assert!(
        nopool
            .stderr
            .contains("no storage pool `fleet-test-no-such-pool`"),
        "{}",
        nopool.stderr
    );
    assert_eq!(dominfo(&node)["State"], "shut off");
    assert!(volume_path(&format!("{node}.qcow2")).starts_with(l.pool_dir.path()));

    // The domain gone but its disk left: refused (someone's disk) until --replace.
    let r = virsh(&["undefine", &node]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let leftover = provision_vm(site.path(), &node, "user", &[]);
    assert_eq!(leftover.code, 1, "{}", leftover.describe());
    assert!(
        leftover.stderr.contains(&format!(
            "the volume {}/{node}.qcow2 exists on {URI}, and no domain `{node}` uses it",
            l.pool
        )),
        "{}",
        leftover.stderr
    );
    assert_ne!(virsh(&["domuuid", &node]).code, 0, "no domain was defined");
    let fresh = provision_vm(site.path(), &node, "user", &["--replace"]);
    assert_eq!(fresh.code, 0, "{}", fresh.describe());
    assert!(
        fresh.stdout.contains("created and started"),
        "{}",
        fresh.stdout
    );
    assert_eq!(dominfo(&node)["State"], "running");

    // A node the manifests do not have.
    let nobody = provision_vm(site.path(), "fleet-test-nobody", "user", &[]);
    assert_eq!(nobody.code, 2, "{}", nobody.describe());
    assert!(
        nobody.stderr.contains("no node `fleet-test-nobody`"),
        "{}",
        nobody.stderr
    );
}

/// The same over `qemu+ssh://` (what a `vm.host` that is not this machine gives): the
/// volume, the definition and the start all go through libvirt's ssh transport, to the
/// loopback sshd of the ssh tests and on to this libvirtd.
#[test]
fn a_vm_is_created_over_ssh() {
    let l = libvirt();
    let sshd = crate::run_ssh::sshd();
    // libvirt runs `ssh`; this one reads the test's ssh_config (port, key, known hosts).
    let wrapper = sshd.dir.path().join("ssh-for-libvirt");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec ssh -F '{}' \"$@\"\n",
            sshd.config.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let uri = format!("qemu+ssh://127.0.0.1/system?command={}", wrapper.display());
    let node = format!("fleet-test-{}-vm04", std::process::id());
    let _cleanup = Cleanup {
        domain: node.clone(),
    };
    let site = tempfile::tempdir().unwrap();
    write_site(site.path(), &node, "52:54:00:5e:00:04", 128);
    let args = |extra: &[&str]| {
        let mut a = vec![
            "provision",
            "vm",
            node.as_str(),
            "site.fleet",
            "--connect",
            uri.as_str(),
            "--vm-pool",
            l.pool.as_str(),
            "--vm-network",
            "user",
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let r = fleet_in(site.path(), args(&[]));
    assert_eq!(r.code, 0, "{}", r.describe());
    assert!(
        r.stdout.contains(&format!("created and started on {uri}")),
        "{}",
        r.stdout
    );
    let info = dominfo(&node);
    assert_eq!(info["State"], "running", "{info:?}");
    assert_eq!(info["Max memory"], "131072 KiB", "{info:?}");
    let again = fleet_in(site.path(), args(&[]));
    assert!(again.stdout.contains("unchanged"), "{}", again.describe());
    assert_eq!(dominfo(&node)["UUID"], info["UUID"]);
}
