//! The stdlib's modules against their daemons' own validators.
//!
//! - `sudo`, applied into a sandbox root: a rule is written 0440 after the real
//!   `visudo -cf` accepted it; a rule visudo rejects fails its resource and leaves the old
//!   file (a typo must not lock the operators out); `ensure = "absent"` removes one.
//! - `ssh::server`: the sshd_config it renders passes the real `sshd -t`, with every
//!   parameter set; a bad extra line is what `sshd -t` refuses (so the `validate` it
//!   carries would keep the old file); its validate passes chrooted in a root where sshd
//!   never ran (no /run/sshd).
//! - `logrotate::rule`: its files pass the real `logrotate -d`; `cron::job` checks its
//!   schedule.
//! - `users`: accounts, groups and keys applied with the real useradd & co.
//! - `ntp`: chrony.conf passes the real `chronyd -p`.
//! - `ssh::known_hosts`: the fleet's host keys, collected, trusted by the real `ssh`.

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

/// `fleet apply --node ops01 --run-host-commands` of `dir/site.fleet` into `root` (so that
/// `validate` runs), within 3 minutes.
pub(crate) fn apply(dir: &Path, root: &Path) -> support::Run {
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
    support::run_within(&mut cmd, Duration::from_secs(180)).unwrap()
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

/// `fleet compile --node ops01` of `site` (in `dir`): the content of `path`, and its
/// `validate` command.
fn rendered(dir: &Path, site: &str, path: &str) -> (String, String) {
    std::fs::write(dir.join("site.fleet"), site).unwrap();
    let r = support::fleet_in(dir, ["compile", "--node", "ops01", "site.fleet"]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let res = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["title"] == path)
        .unwrap_or_else(|| panic!("no {path}: {doc}"));
    (
        res["params"]["content"].as_str().unwrap().to_string(),
        res["params"]["validate"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// Runs the validator `command` (its last argument the file) on `content` written into
/// `dir`: whether it accepted it, and what it said on stderr.
fn validator(dir: &Path, command: &[&str], content: &str) -> (bool, String) {
    let f = dir.join("checked");
    std::fs::write(&f, content).unwrap();
    let out = std::process::Command::new(command[0])
        .args(&command[1..])
        .arg(&f)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_rendered_sshd_config_passes_sshd_t() {
    let dir = tempfile::tempdir().unwrap();
    let site =
        |args: &str| format!("import \"ssh\"\nnode \"ops01\" {{ include ssh::server({args}) }}\n");
    let sshd_t = |content: &str| validator(dir.path(), &["/usr/sbin/sshd", "-t", "-f"], content);
    let (content, validate) = rendered(dir.path(), &site(""), "/etc/ssh/sshd_config");
    assert_eq!(
        validate,
        "mkdir -p -m 0755 /run/sshd && /usr/sbin/sshd -t -f %"
    );
    assert!(content.contains("PasswordAuthentication no\n"), "{content}");
    let (ok, why) = sshd_t(&content);
    assert!(ok, "{why}\n{content}");
    let every = site(
        "port = 2222, listen = [\"127.0.0.1\", \"::1\"], permit_root_login = \"no\", \
         password_authentication = true, x11_forwarding = true, allow_groups = [\"ops\", \"deploy\"], \
         extra = [\"MaxAuthTries 3\"]",
    );
    let (content, _) = rendered(dir.path(), &every, "/etc/ssh/sshd_config");
    for line in [
        "Port 2222\n",
        "ListenAddress ::1\n",
        "PermitRootLogin no\n",
        "PasswordAuthentication yes\n",
        "X11Forwarding yes\n",
        "AllowGroups ops deploy\n",
        "MaxAuthTries 3\n",
    ] {
        assert!(content.contains(line), "{line}: {content}");
    }
    let (ok, why) = sshd_t(&content);
    assert!(ok, "{why}\n{content}");
    let (content, _) = rendered(
        dir.path(),
        &site("extra = [\"NoSuchOption yes\"]"),
        "/etc/ssh/sshd_config",
    );
    let (ok, why) = sshd_t(&content);
    assert!(!ok && why.contains("NoSuchOption"), "{why}");
}

/// Found by the recovery drill (bench/recover.sh): in a root whose sshd never ran there is
/// no /run/sshd (ssh.service's RuntimeDirectory), and `sshd -t` refuses every config
/// without it. The validate makes it first, so the real sshd, chrooted, accepts the file.
#[test]
fn sshd_config_is_checked_in_a_root_where_sshd_never_ran() {
    for tool in ["ldd", "ssh-keygen", "/usr/sbin/sshd"] {
        support::require_tool(tool);
    }
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    support::copy_programs(r, &["/bin/sh", "/usr/bin/mkdir", "/usr/sbin/sshd"]);
    std::fs::create_dir_all(r.join("etc/ssh")).unwrap();
    std::fs::create_dir_all(r.join("run")).unwrap();
    std::fs::create_dir_all(r.join("dev")).unwrap();
    let null = std::process::Command::new("mknod")
        .args(["-m", "0666"])
        .arg(r.join("dev/null"))
        .args(["c", "1", "3"])
        .output()
        .unwrap();
    assert!(null.status.success(), "sshd needs a /dev/null: {null:?}");
    std::fs::write(
        r.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    let key = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(r.join("etc/ssh/ssh_host_ed25519_key"))
        .output()
        .unwrap();
    assert!(key.status.success(), "{key:?}");
    std::fs::write(
        dir.path().join("site.fleet"),
        "import \"ssh\"\nnode \"ops01\" { include ssh::server(allow_groups = [\"ops\"]) }\n",
    )
    .unwrap();
    // Only the file: the package and the service are not this test's.
    let mut cmd = support::command();
    cmd.current_dir(dir.path())
        .args([
            "apply",
            "--node",
            "ops01",
            "--chroot",
            "--no-fsync",
            "--tags",
            "file",
        ])
        .arg("--root")
        .arg(r)
        .arg("site.fleet");
    let run = support::run_within(&mut cmd, Duration::from_secs(120)).unwrap();
    assert_eq!(run.code, 0, "{}", run.describe());
    let written = std::fs::read_to_string(r.join("etc/ssh/sshd_config")).unwrap();
    assert!(written.contains("AllowGroups ops\n"), "{written}");
    assert!(r.join("run/sshd").is_dir());
}

#[test]
fn logrotate_rules_pass_logrotate_d_and_cron_jobs_check_their_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let rule = |args: &str| {
        format!(
            "import \"logrotate\"\nnode \"ops01\" {{ logrotate::rule \"shop\" {{ paths = [\"/var/log/shop/*.log\"]{args} }} }}\n"
        )
    };
    let check = |content: &str| validator(dir.path(), &["/usr/sbin/logrotate", "-d"], content);
    for args in [
        "",
        ", rotate = 14, frequency = \"weekly\", compress = false",
        ", create = \"0640 www-data adm\", postrotate = \"systemctl reload shop\"",
    ] {
        let (content, validate) = rendered(dir.path(), &rule(args), "/etc/logrotate.d/shop");
        assert_eq!(validate, "/usr/sbin/logrotate -d %");
        let (ok, why) = check(&content);
        assert!(ok, "{args}: {why}\n{content}");
    }
    // Found by the recovery drill: debootstrap's minbase has no logrotate, so the rules
    // install it (once, however many there are) before their files are checked with it.
    std::fs::write(
        dir.path().join("site.fleet"),
        "import \"logrotate\"\nnode \"ops01\" {\n  logrotate::rule \"a\" { paths = [\"/a\"] }\n  \
         logrotate::rule \"b\" { paths = [\"/b\"] }\n}\n",
    )
    .unwrap();
    let r = support::fleet_in(dir.path(), ["compile", "--node", "ops01", "site.fleet"]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let packages: Vec<_> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["type"] == "package")
        .map(|x| x["title"].as_str().unwrap())
        .collect();
    assert_eq!(packages, ["logrotate"], "{doc}");
    for f in ["a", "b"] {
        let edge = serde_json::json!({"from": "Package[logrotate]", "to": format!("File[/etc/logrotate.d/{f}]"), "refresh": false});
        assert!(doc["edges"].as_array().unwrap().contains(&edge), "{doc}");
    }
    // A typo'd owner is what `logrotate -d` refuses (it only warns about unknown words).
    let (content, _) = rendered(
        dir.path(),
        &rule(", create = \"0640 nosuchuser adm\""),
        "/etc/logrotate.d/shop",
    );
    let (ok, why) = check(&content);
    assert!(!ok && why.contains("nosuchuser"), "{why}");
    // Those unknown words are the module's to refuse.
    std::fs::write(
        dir.path().join("site.fleet"),
        rule(", frequency = \"sometimes\""),
    )
    .unwrap();
    let r = support::fleet_in(dir.path(), ["compile", "--node", "ops01", "site.fleet"]);
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(r.stderr.contains("frequency `sometimes`"), "{}", r.stderr);

    let job = |schedule: &str| {
        format!(
            "import \"cron\"\nnode \"ops01\" {{ cron::job \"backup\" {{ schedule = \"{schedule}\", user = \"backup\", command = \"/usr/local/bin/backup\" }} }}\n"
        )
    };
    let (content, _) = rendered(dir.path(), &job("30 2 * * *"), "/etc/cron.d/backup");
    assert!(
        content.ends_with("\n30 2 * * * backup /usr/local/bin/backup\n"),
        "{content}"
    );
    let (content, _) = rendered(dir.path(), &job("@daily"), "/etc/cron.d/backup");
    assert!(content.contains("@daily backup"), "{content}");
    std::fs::write(dir.path().join("site.fleet"), job("every night")).unwrap();
    let r = support::fleet_in(dir.path(), ["compile", "--node", "ops01", "site.fleet"]);
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(r.stderr.contains("is not five time fields"), "{}", r.stderr);
}

/// `users`, compiled and applied into a sandbox root with the real useradd & co.: the
/// account, its groups and its keys (0600 in a 0700 directory, owned by the user); a second
/// run changes nothing; `ensure = "absent"` removes a user and leaves its home.
#[test]
fn users_accounts_with_their_keys() {
    for t in ["useradd", "usermod", "userdel", "groupadd"] {
        support::require_tool(t);
    }
    let sb = support::Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let site = |bob: &str| {
        format!(
            "import \"users\"\nnode \"ops01\" {{\n  include users(groups = [\"ops\"], accounts = {{\n    \
             \"alice\": {{ \"uid\": 2001, \"groups\": [\"ops\"], \"keys\": [\"ssh-ed25519 AAAAC3 alice@laptop\"] }},\n    \
             \"bob\": {{ \"uid\": 2002{bob} }},\n  }})\n}}\n"
        )
    };
    let apply = |text: &str| {
        std::fs::write(dir.path().join("site.fleet"), text).unwrap();
        let c = support::fleet_in(dir.path(), ["compile", "--node", "ops01", "site.fleet"]);
        assert_eq!(c.code, 0, "{}", c.describe());
        let catalog = sb.cat.join("ops01.json");
        std::fs::write(&catalog, &c.stdout).unwrap();
        sb.apply(&catalog, &[])
    };
    let r = apply(&site(""));
    assert_eq!(r.code, 2, "{r:?}");
    let passwd = sb.read("/etc/passwd");
    assert!(passwd.contains("alice:x:2001:"), "{passwd}");
    assert!(passwd.contains("bob:x:2002:"), "{passwd}");
    assert!(sb
        .read("/etc/group")
        .lines()
        .any(|l| l.starts_with("ops:") && l.ends_with(":alice")));
    assert_eq!(
        sb.read("/home/alice/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAC3 alice@laptop\n"
    );
    let mode = |p: &str| std::fs::metadata(sb.p(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("/home/alice/.ssh"), 0o700);
    assert_eq!(mode("/home/alice/.ssh/authorized_keys"), 0o600);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(sb.p("/home/alice/.ssh/authorized_keys"))
            .unwrap()
            .uid(),
        2001
    );
    let r = apply(&site(""));
    assert_eq!(r.code, 0, "a second run changes nothing: {r:?}");
    let r = apply(&site(", \"ensure\": \"absent\""));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!sb.read("/etc/passwd").contains("bob:"));
    assert!(sb.p("/home/bob").is_dir(), "the home directory stays");
}

/// The compiled `/etc/ssh/ssh_known_hosts` of node `ops01` in `site`, written to a file.
fn known_hosts(dir: &Path, site: &str) -> std::path::PathBuf {
    let (content, _) = rendered(dir, site, "/etc/ssh/ssh_known_hosts");
    let path = dir.join("ssh_known_hosts");
    std::fs::write(&path, content).unwrap();
    path
}

/// `ssh` to the loopback sshd with `known` as the only known hosts file and strict checking:
/// whether it logged in, and what it said.
fn ssh_with(known: &Path) -> (bool, String) {
    let s = crate::run_ssh::sshd();
    let out = std::process::Command::new("ssh")
        .arg("-F")
        .arg(&s.config)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
        ])
        .args(["127.0.0.1", "true"])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Host keys known fleet-wide: each `ssh::server` exports the keys of its node's `ssh` fact
/// (here the facts files an agent would have posted, holding the real key of the loopback
/// sshd), `ssh::client` collects them into ssh_known_hosts, and the real `ssh` with strict
/// host key checking logs in with nothing else known. A node taken out of the manifest
/// leaves the list at the next compile, and then `ssh` refuses the host.
#[test]
fn host_keys_are_known_fleet_wide_through_export_and_collect() {
    let s = crate::run_ssh::sshd();
    let config = std::fs::read_to_string(s.dir.path().join("sshd_config")).unwrap();
    let port: u16 = config
        .lines()
        .find_map(|l| l.strip_prefix("Port "))
        .unwrap()
        .parse()
        .unwrap();
    let public = std::fs::read_to_string(s.dir.path().join("host_key.pub")).unwrap();
    let (kind, blob) = {
        let mut w = public.split_whitespace();
        (w.next().unwrap().to_string(), w.next().unwrap().to_string())
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("facts")).unwrap();
    let facts = |node: &str, ip: &str, key: &str| {
        let f = serde_json::json!({
            "hostname": node, "fqdn": format!("{node}.example.net"), "ip": ip,
            "ssh": {"ed25519": {"type": kind, "key": key}},
        });
        std::fs::write(dir.path().join(format!("facts/{node}.json")), f.to_string()).unwrap();
    };
    facts("lo", "127.0.0.1", &blob);
    facts(
        "db01",
        "10.0.0.31",
        "AAAAC3NzaC1lZDI1NTE5AAAAIDb01db01db01db01db01db01db01db01db01db01db0",
    );
    let site = |servers: &str| {
        format!(
            "import \"ssh\"\n{servers}node \"db01\" {{ include ssh::server }}\n\
             node \"ops01\" {{ include ssh::client(strict_host_key_checking = \"yes\") }}\n"
        )
    };
    let with_lo = site(&format!(
        "node \"lo\" {{ include ssh::server(port = {port}) }}\n"
    ));
    let known = known_hosts(dir.path(), &with_lo);
    let r = support::fleet_in(dir.path(), ["check", "--deny", "warnings", "site.fleet"]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let text = std::fs::read_to_string(&known).unwrap();
    assert!(
        text.contains(&format!(
            "[lo]:{port},[lo.example.net]:{port},[127.0.0.1]:{port} {kind} {blob}\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("db01,db01.example.net,10.0.0.31 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDb01"),
        "{text}"
    );
    // The real ssh-keygen finds the host in it, and the real ssh trusts it.
    let found = std::process::Command::new("ssh-keygen")
        .args(["-F", &format!("[127.0.0.1]:{port}"), "-f"])
        .arg(&known)
        .output()
        .unwrap();
    assert!(found.status.success() && !found.stdout.is_empty());
    let (ok, why) = ssh_with(&known);
    assert!(ok, "ssh refused the collected key: {why}\n{text}");

    // `lo` is decommissioned: gone from the list at the next compile, and ssh refuses it.
    let known = known_hosts(dir.path(), &site(""));
    let text = std::fs::read_to_string(&known).unwrap();
    assert!(
        !text.contains("127.0.0.1") && text.contains("db01,"),
        "{text}"
    );
    let (ok, why) = ssh_with(&known);
    assert!(!ok && why.contains("Host key verification failed"), "{why}");

    // The client config passes the real `ssh -G`, and an unknown option is what it refuses.
    let (content, validate) = rendered(dir.path(), &site(""), "/etc/ssh/ssh_config");
    assert_eq!(validate, "/usr/bin/ssh -G -F % localhost");
    assert!(
        content.contains("    StrictHostKeyChecking yes\n"),
        "{content}"
    );
    let ssh_g = |content: &str| {
        let f = dir.path().join("ssh_config.checked");
        std::fs::write(&f, content).unwrap();
        std::process::Command::new("/usr/bin/ssh")
            .arg("-G")
            .arg("-F")
            .arg(&f)
            .arg("localhost")
            .output()
            .unwrap()
    };
    assert!(ssh_g(&content).status.success());
    let bad = ssh_g(&format!("{content}    NoSuchOption yes\n"));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Bad configuration option: nosuchoption"));
}

#[test]
fn the_rendered_chrony_conf_passes_chronyd_p() {
    let dir = tempfile::tempdir().unwrap();
    let site = |args: &str| format!("import \"ntp\"\nnode \"ops01\" {{ include ntp({args}) }}\n");
    let chronyd =
        |content: &str| validator(dir.path(), &["/usr/sbin/chronyd", "-p", "-f"], content);
    let (content, validate) = rendered(dir.path(), &site(""), "/etc/chrony/chrony.conf");
    assert_eq!(validate, "/usr/sbin/chronyd -p -f %");
    assert!(
        content.contains("\npool 2.debian.pool.ntp.org iburst\n"),
        "{content}"
    );
    let (ok, why) = chronyd(&content);
    assert!(ok, "{why}\n{content}");
    let (content, _) = rendered(
        dir.path(),
        &site("servers = [\"ntp1.example.net\"], allow = [\"10.0.0.0/8\"], makestep = 10"),
        "/etc/chrony/chrony.conf",
    );
    assert!(!content.contains("pool "), "{content}");
    for line in [
        "server ntp1.example.net iburst\n",
        "allow 10.0.0.0/8\n",
        "makestep 10 3\n",
    ] {
        assert!(content.contains(line), "{line}: {content}");
    }
    let (ok, why) = chronyd(&content);
    assert!(ok, "{why}\n{content}");
    let (content, _) = rendered(
        dir.path(),
        &site("allow = [\"not a network\"]"),
        "/etc/chrony/chrony.conf",
    );
    let (ok, why) = chronyd(&content);
    assert!(!ok && why.contains("allow"), "{why}");
}
