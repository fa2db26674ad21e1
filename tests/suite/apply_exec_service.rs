//! `exec` (guards, refreshonly, cwd, environment, path, user, timeout, returns) and the
//! `service` command provider with a real background process, refresh included.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::Sandbox;

/// Commands run under `--root` only when the run says where.
const HOST: &str = "--run-host-commands";

#[test]
fn exec_creates_guard_is_idempotent_and_noop_only_reports() {
    let sb = Sandbox::new();
    let cat = sb.catalog(
        "c",
        &[(
            "exec",
            "echo made > \"$FLEET_ROOT/made\"",
            json!({"creates": "/made"}),
        )],
        &[],
    );
    let r = sb.apply(&cat, &[HOST]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(sb.read("/made"), "made\n");
    assert_eq!(sb.apply(&cat, &[HOST]).code, 0);
    std::fs::remove_file(sb.p("/made")).unwrap();
    let before = sb.snapshot();
    let r = sb.apply(&cat, &[HOST, "--noop"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("~ Exec["), "{r:?}");
    assert_eq!(before, sb.snapshot());
}

#[test]
fn exec_onlyif_unless_cwd_environment_path_returns() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.p("/work")).unwrap();
    let cat = sb.catalog(
        "c",
        &[
            ("exec", "pwd > here; echo \"$GREETING\" > env; echo \"$PATH\" > path; exit 3", json!({"cwd": "/work", "environment": {"GREETING": "hello"}, "path": ["/usr/bin", "/bin"], "returns": [0, 3], "unless": "test -f \"$FLEET_ROOT/work/here\""})),
            ("exec", "touch \"$FLEET_ROOT/never\"", json!({"onlyif": "false"})),
            ("exec", "exit 3", json!({"unless": "true"})),
        ],
        &[],
    );
    let r = sb.apply(&cat, &[HOST]);
    assert_eq!(r.code, 2, "{r:?}");
    let work = std::fs::canonicalize(sb.p("/work")).unwrap();
    assert_eq!(sb.read("/work/here").trim(), work.display().to_string());
    assert_eq!(sb.read("/work/env"), "hello\n");
    assert_eq!(sb.read("/work/path"), "/usr/bin:/bin\n");
    assert!(!sb.p("/never").exists());
    assert_eq!(sb.apply(&cat, &[HOST]).code, 0, "guards hold");
}

#[test]
fn exec_failure_and_unexpected_return() {
    let sb = Sandbox::new();
    let cat = sb.catalog("c", &[("exec", "echo boom >&2; exit 7", json!({}))], &[]);
    let r = sb.apply(&cat, &[HOST, "--format", "json"]);
    assert_eq!(r.code, 4, "{r:?}");
    let msg = r.report()["events"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("exit 7") && msg.contains("boom"), "{msg}");
}

#[test]
fn exec_timeout_kills_the_whole_command() {
    let sb = Sandbox::new();
    let cat = sb.catalog(
        "c",
        &[(
            "exec",
            "sleep 60 & echo $! > \"$FLEET_ROOT/child\"; sleep 60",
            json!({"timeout": 1}),
        )],
        &[],
    );
    let start = Instant::now();
    let r = sb.apply(&cat, &[HOST]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stdout.contains("timed out"), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(30));
    let child: i32 = sb.read("/child").trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !alive(child),
        "the background child of a timed-out exec was killed"
    );
}

#[test]
fn exec_as_another_user() {
    let sb = Sandbox::new();
    let has_nobody = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("nobody:"));
    assert!(has_nobody, "the host needs a nobody user");
    std::fs::create_dir_all(sb.p("/tmp")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.p("/tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(&sb.root, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(sb.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cat = sb.catalog(
        "c",
        &[(
            "exec",
            "id -un > \"$FLEET_ROOT/tmp/who\"",
            json!({"user": "nobody", "creates": "/tmp/who"}),
        )],
        &[],
    );
    let r = sb.apply(&cat, &[HOST]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(sb.read("/tmp/who"), "nobody\n");
}

#[test]
fn refreshonly_exec_runs_on_refresh_only() {
    let sb = Sandbox::new();
    let cat = sb.catalog(
        "c",
        &[
            ("file", "/etc/app.conf", json!({"content": "v1\n"})),
            (
                "exec",
                "echo x >> \"$FLEET_ROOT/reloads\"",
                json!({"refreshonly": true}),
            ),
        ],
        &[(
            "File[/etc/app.conf]",
            "Exec[echo x >> \"$FLEET_ROOT/reloads\"]",
            true,
        )],
    );
    let r = sb.apply(&cat, &[HOST]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout
            .contains("↻ Exec[echo x >> \"$FLEET_ROOT/reloads\"] (ran)"),
        "{r:?}"
    );
    assert_eq!(sb.read("/reloads"), "x\n");
    assert_eq!(sb.apply(&cat, &[HOST]).code, 0);
    assert_eq!(sb.read("/reloads"), "x\n");
    sb.write("/etc/app.conf", "drift\n");
    let before = sb.snapshot();
    let r = sb.apply(&cat, &[HOST, "--noop"]);
    assert!(r.stdout.contains("(would run)"), "{r:?}");
    assert!(
        r.stdout
            .contains("0 to create, 1 to change, 0 to remove, 1 to refresh"),
        "{r:?}"
    );
    assert_eq!(before, sb.snapshot());
    assert_eq!(sb.apply(&cat, &[HOST]).code, 2);
    assert_eq!(sb.read("/reloads"), "x\nx\n");
}

/// Kills the test service's process when the test ends, whatever happens.
struct Reaper(std::path::PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            if let Some(pid) = pid
                .trim()
                .parse()
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

fn svc(ensure: &str) -> serde_json::Value {
    json!({
        "ensure": ensure,
        "provider": "command",
        "start": "sleep 1000 >/dev/null 2>&1 & echo $! > \"$FLEET_ROOT/svc.pid\"",
        "stop": "kill $(cat \"$FLEET_ROOT/svc.pid\") && rm -f \"$FLEET_ROOT/svc.pid\"",
        // Alive and not a zombie (PID 1 of a container may not reap orphans).
        "status": "p=$(cat \"$FLEET_ROOT/svc.pid\" 2>/dev/null) && s=$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null) && [ -n \"$s\" ] && [ \"$s\" != Z ]",
    })
}

fn pid(sb: &Sandbox) -> i32 {
    sb.read("/svc.pid").trim().parse().unwrap()
}

/// Alive and not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

#[test]
fn service_command_provider_running_stopped_and_restart_on_refresh() {
    let sb = Sandbox::new();
    let _reaper = Reaper(sb.p("/svc.pid"));
    let resources = [
        ("file", "/etc/svc.conf", json!({"content": "a\n"})),
        ("service", "demo", svc("running")),
    ];
    let cat = sb.catalog(
        "c",
        &resources,
        &[("File[/etc/svc.conf]", "Service[demo]", true)],
    );
    let r = sb.apply(&cat, &[HOST]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        !r.stdout.contains("↻"),
        "just started, not restarted: {r:?}"
    );
    let first = pid(&sb);
    assert!(alive(first));
    assert_eq!(sb.apply(&cat, &[HOST]).code, 0);

    // Drift: the process died.
    let service = rustix::process::Pid::from_raw(first).unwrap();
    let _ = rustix::process::kill_process(service, rustix::process::Signal::KILL);
    std::thread::sleep(Duration::from_millis(100));
    let before = sb.snapshot();
    let r = sb.apply(&cat, &[HOST, "--noop", "--format", "json"]);
    assert_eq!(r.code, 2, "{r:?}");
    let ev = &r.report()["events"][0];
    assert_eq!(
        (
            ev["property"].as_str(),
            ev["from"].as_str(),
            ev["to"].as_str()
        ),
        (Some("ensure"), Some("stopped"), Some("running"))
    );
    assert_eq!(before, sb.snapshot());
    assert_eq!(sb.apply(&cat, &[HOST]).code, 2);
    let second = pid(&sb);
    assert!(alive(second) && second != first);

    // A config change refreshes the running service: restarted.
    sb.write("/etc/svc.conf", "b\n");
    let r = sb.apply(&cat, &[HOST, "--noop"]);
    assert!(
        r.stdout.contains("↻ Service[demo] (would restart)"),
        "{r:?}"
    );
    assert_eq!(pid(&sb), second);
    let r = sb.apply(&cat, &[HOST]);
    assert!(r.stdout.contains("↻ Service[demo] (restarted)"), "{r:?}");
    let third = pid(&sb);
    assert!(third != second && alive(third) && !alive(second), "{r:?}");

    // Stopped.
    let cat = sb.catalog("c", &[("service", "demo", svc("stopped"))], &[]);
    assert_eq!(sb.apply(&cat, &[HOST]).code, 2);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!alive(third));
    assert!(!sb.p("/svc.pid").exists());
    assert_eq!(sb.apply(&cat, &[HOST]).code, 0);

    // Drift: started by hand; noop reports running -> stopped and leaves it running.
    let start = svc("stopped")["start"].as_str().unwrap().to_string();
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&start)
        .env("FLEET_ROOT", &sb.root)
        .output()
        .unwrap();
    assert!(out.status.success());
    let fourth = pid(&sb);
    let before = sb.snapshot();
    let r = sb.apply(&cat, &[HOST, "--noop"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("    ensure: running -> stopped"), "{r:?}");
    assert_eq!(before, sb.snapshot());
    assert!(alive(fourth));
    assert_eq!(sb.apply(&cat, &[HOST]).code, 2);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!alive(fourth));
}

#[test]
fn systemd_enable_under_a_root() {
    support::require_tool("systemctl");
    let sb = Sandbox::new();
    sb.write("/etc/systemd/system/demo.service", "[Unit]\nDescription=demo\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n");
    let wants = sb.p("/etc/systemd/system/multi-user.target.wants/demo.service");
    let cat = sb.catalog(
        "c",
        &[(
            "service",
            "demo",
            json!({"provider": "systemd", "enable": true}),
        )],
        &[],
    );
    let before = sb.snapshot();
    let r = sb.apply(&cat, &["--noop"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("    enable: false -> true"), "{r:?}");
    assert_eq!(before, sb.snapshot());
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(std::fs::symlink_metadata(&wants).is_ok(), "enabled: {r:?}");
    assert_eq!(sb.apply(&cat, &[]).code, 0);
    let cat = sb.catalog(
        "c",
        &[(
            "service",
            "demo",
            json!({"provider": "systemd", "enable": false}),
        )],
        &[],
    );
    assert_eq!(sb.apply(&cat, &[]).code, 2);
    assert!(std::fs::symlink_metadata(&wants).is_err());
    assert_eq!(sb.apply(&cat, &[]).code, 0);
    // An image root runs nothing: a systemd service's running state is not managed there.
    let cat = sb.catalog(
        "c",
        &[(
            "service",
            "demo",
            json!({"provider": "systemd", "ensure": "running"}),
        )],
        &[],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    // No failure line (the table's `failed` column is there either way).
    assert!(!r.stdout.lines().any(|l| l.starts_with("! ")), "{r:?}");
}

#[test]
fn a_systemd_refresh_under_a_root_is_shown_as_not_run() {
    let sb = Sandbox::new();
    let cat = sb.catalog(
        "c",
        &[
            ("file", "/etc/demo.conf", json!({"content": "v2\n"})),
            ("service", "demo", json!({"provider": "systemd"})),
        ],
        &[("File[/etc/demo.conf]", "Service[demo]", true)],
    );
    let r = sb.apply(&cat, &["--noop"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout
            .contains("· Service[demo] not run under --root: service \"demo\" restart"),
        "{r:?}"
    );
    let r = sb.apply(&cat, &["--format", "json"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(sb.read("/etc/demo.conf"), "v2\n");
    let report = r.report();
    let event = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"] == "Service[demo]")
        .unwrap()
        .clone();
    assert_eq!(event["status"], "skipped", "{report}");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .starts_with("not run under --root: service \"demo\" restart"),
        "{report}"
    );
}

#[test]
fn exec_inside_the_root_with_chroot() {
    let sb = Sandbox::new();
    support::copy_programs(&sb.root, &["/bin/sh"]);
    std::fs::create_dir_all(sb.p("/work")).unwrap();
    let cat = sb.catalog(
        "c",
        &[(
            "exec",
            "pwd > here; echo \"${FLEET_ROOT:-unset}\" > /env",
            json!({"cwd": "/work", "creates": "/env"}),
        )],
        &[],
    );
    let r = sb.apply(&cat, &["--chroot"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        sb.read("/work/here"),
        "/work\n",
        "the command saw the root as /"
    );
    assert_eq!(sb.read("/env"), "unset\n");
    assert_eq!(sb.apply(&cat, &["--chroot"]).code, 0);
}

#[test]
fn no_command_runs_under_a_root_unless_the_run_says_where() {
    let sb = Sandbox::new();
    // Every command would leave a mark outside the root, on the host.
    let host = sb.tmp.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    let mark = |name: &str| format!("touch {}/{name}", host.display());
    sb.write("/made", "");
    let (run, guarded, refresh) = (mark("exec"), mark("never"), mark("refresh"));
    let cat = sb.catalog(
        "c",
        &[
            ("exec", &run, json!({})),
            ("exec", &guarded, json!({"unless": format!("{}; false", mark("unless"))})),
            ("exec", "exit 1", json!({"creates": "/made"})),
            ("exec", &refresh, json!({"refreshonly": true})),
            ("file", "/etc/after", json!({"content": "after\n"})),
            (
                "service",
                "demo",
                json!({"provider": "command", "ensure": "running", "status": mark("status"), "start": mark("start"), "stop": "true"}),
            ),
        ],
        &[
            (&format!("Exec[{run}]"), "File[/etc/after]", false),
            ("File[/etc/after]", &format!("Exec[{refresh}]"), true),
        ],
    );
    let marks = || std::fs::read_dir(&host).unwrap().count();
    let skipped = |r: &support::Run| -> Vec<String> {
        r.report()["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["status"] == "skipped")
            .map(|e| {
                let msg = e["message"].as_str().unwrap();
                assert!(msg.starts_with("not run under --root"), "{msg}");
                e["resource"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let want = vec![
        format!("Exec[{run}]"),
        format!("Exec[{guarded}]"),
        "Service[demo]".to_string(),
        format!("Exec[{refresh}]"),
    ];
    let before = sb.snapshot();
    let r = sb.apply(&cat, &["--noop", "--format", "json"]);
    assert_eq!(r.code, 2, "the file would change: {r:?}");
    let mut got = skipped(&r);
    got.sort();
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(got, sorted, "{r:?}");
    assert_eq!(r.report()["summary"]["skipped"], 4, "{r:?}");
    assert_eq!(before, sb.snapshot());
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "not run is no failure and no change: {r:?}");
    assert!(
        r.stdout
            .contains(&format!("· Exec[{run}] not run under --root")),
        "{r:?}"
    );
    assert!(r.stdout.contains("4 not run under --root"), "{r:?}");
    assert_eq!(sb.read("/etc/after"), "after\n", "its dependents go on");
    assert_eq!(marks(), 0, "a command ran on the host");
    let r = sb.apply(&cat, &["--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(marks(), 0, "a command ran on the host");
    // Asked for, they run on the host.
    let r = sb.apply(&cat, &[HOST]);
    assert_eq!(r.code, 2, "{r:?}");
    for ran in ["exec", "unless", "status"] {
        assert!(host.join(ran).exists(), "{ran}: {r:?}");
    }
    assert!(host.join("never").exists(), "the unless guard failed");
}

#[test]
fn the_sysctl_module_changes_nothing_on_the_host_under_a_root() {
    let sb = Sandbox::new();
    let manifest = sb.tmp.path().join("site.fleet");
    std::fs::write(
        &manifest,
        "import \"sysctl\"\nnode default {\n  file \"/etc/sysctl.d\" { ensure = directory }\n  sysctl \"vm.swappiness\" { value = 10 }\n}\n",
    )
    .unwrap();
    let apply = |extra: &[&str]| {
        let mut args = vec![
            "apply",
            "--root",
            sb.root.to_str().unwrap(),
            "--node",
            "x",
            "--detailed-exitcodes",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        args.push(manifest.to_str().unwrap());
        support::fleet(&args)
    };
    let exec = |r: &support::Run| {
        r.report()["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["resource"].as_str().unwrap().starts_with("Exec["))
            .cloned()
            .unwrap_or_else(|| panic!("no exec event: {r:?}"))
    };
    // The plan first: an exec that would run there fails the test before anything runs.
    let r = apply(&["--noop"]);
    assert_eq!(r.code, 2, "{r:?}");
    let e = exec(&r);
    assert_eq!(e["status"], "skipped", "{r:?}");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("not run under --root"));
    let r = apply(&[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(exec(&r)["status"], "skipped", "{r:?}");
    assert_eq!(
        sb.read("/etc/sysctl.d/60-vm.swappiness.conf"),
        "vm.swappiness = 10\n"
    );
    assert_eq!(apply(&[]).code, 0, "the file is the state");
}

#[test]
fn release_hooks_run_where_the_run_says() {
    let sb = Sandbox::new();
    let app = sb.tmp.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("index.txt"), "hi\n").unwrap();
    let manifest = sb.tmp.path().join("site.fleet");
    let write = |version: &str| {
        std::fs::write(
            &manifest,
            format!(
                "node default {{\n  file \"/srv\" {{ ensure = directory }}\n  release \"demo\" {{\n    path = \"/srv/demo\"\n    source = \"app\"\n    version = \"{version}\"\n    before_switch = \"echo \\\"\\${{FLEET_ROOT:-none}}\\\" > before\"\n    after_switch = \"pwd > after; echo \\\"\\$FLEET_RELEASE_PATH\\\" >> after\"\n  }}\n}}\n"
            ),
        )
        .unwrap()
    };
    let apply = |extra: &[&str]| {
        let mut args = vec![
            "apply",
            "--root",
            sb.root.to_str().unwrap(),
            "--node",
            "x",
            "--detailed-exitcodes",
        ];
        args.extend_from_slice(extra);
        args.push(manifest.to_str().unwrap());
        support::fleet(&args)
    };
    write("v1");
    let r = apply(&["--noop", "--format", "json"]);
    assert_eq!(r.code, 2, "{r:?}");
    let steps: Vec<String> = r.report()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["property"] == "step")
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        steps.contains(
            &"run before_switch: echo \"${FLEET_ROOT:-none}\" > before (not run under --root)"
                .to_string()
        ),
        "{steps:?}"
    );
    let r = apply(&[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(sb.p("/srv/demo/current/index.txt").exists(), "{r:?}");
    assert!(!sb.p("/srv/demo/current/before").exists(), "{r:?}");
    assert!(!sb.p("/srv/demo/current/after").exists(), "{r:?}");
    // On the host, with FLEET_ROOT.
    write("v2");
    let r = apply(&[HOST]);
    assert_eq!(r.code, 2, "{r:?}");
    // Each step as the report says it (not `step: (none) -> (none)`).
    assert!(r.stdout.contains("    current: v1 -> v2\n"), "{r:?}");
    assert!(
        r.stdout
            .contains("    step: switch current from v1 to v2\n"),
        "{r:?}"
    );
    assert!(!r.stdout.contains("(none) -> (none)"), "{r:?}");
    let real = std::fs::canonicalize(&sb.root).unwrap();
    let before = sb.read("/srv/demo/current/before");
    assert!(
        before == format!("{}\n", sb.root.display()) || before == format!("{}\n", real.display()),
        "{before}"
    );
    // Inside the root: paths are the root's own, no FLEET_ROOT.
    support::copy_programs(&sb.root, &["/bin/sh"]);
    write("v3");
    let r = apply(&["--chroot"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(sb.read("/srv/demo/current/before"), "none\n");
    assert_eq!(
        sb.read("/srv/demo/current/after"),
        "/srv/demo/releases/v3\n/srv/demo/releases/v3\n"
    );
}

#[test]
fn an_exec_shows_the_title_written_and_is_identified_by_its_command() {
    let sb = Sandbox::new();
    let manifest = sb.tmp.path().join("site.fleet");
    std::fs::write(
        &manifest,
        "node default {\n  exec \"create-db\" { command = \"false\" }\n  file \"/etc/after\" { content = \"x\\n\", require = Exec[\"false\"] }\n}\n",
    )
    .unwrap();
    let m = manifest.to_str().unwrap();
    let r = support::fleet([
        "apply",
        "--root",
        sb.root.to_str().unwrap(),
        HOST,
        "--node",
        "x",
        m,
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("! Exec[create-db] failed: \"false\" failed"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("· File[/etc/after] skipped: dependency Exec[create-db] failed"),
        "{r:?}"
    );
    // The catalog: identity (and edges) by the command, the written title beside it.
    let out = sb.tmp.path().join("out");
    let c = support::fleet(["compile", "--all", "--out", out.to_str().unwrap(), m]);
    assert_eq!(c.code, 0, "{c:?}");
    let catalog = out.join("default.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&catalog).unwrap()).unwrap();
    let exec = &doc["resources"][0];
    assert_eq!(
        (&exec["title"], &exec["label"]),
        (&json!("false"), &json!("create-db"))
    );
    assert_eq!(doc["edges"][0]["from"], "Exec[false]");
    assert!(doc["resources"][1].get("label").is_none(), "{doc}");
    let r = sb.apply(&catalog, &[HOST, "--format", "json"]);
    assert_eq!(
        r.report()["events"][0]["resource"],
        "Exec[create-db]",
        "{r:?}"
    );
    let g = support::fleet(["graph", "--node", "x", m]);
    assert!(g.stdout.contains("[label=\"Exec[create-db]\"]"), "{g:?}");
}
