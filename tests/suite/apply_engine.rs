//! The engine: failures skip their dependents only, deterministic output under parallelism,
//! exit codes, the state lock, saved reports, unusable catalogs, and crash safety (SIGKILL
//! while writing: every file is its old or its new content).

use crate::support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{fleet, Sandbox};

/// Drops the `(N resources, 0.01s)` tail that differs between runs.
fn stable(text: &str) -> String {
    text.lines()
        .map(|l| l.split(" (").next().unwrap_or(l).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn temp_files(dir: &std::path::Path) -> Vec<String> {
    support::snapshot(dir)
        .into_keys()
        .filter(|k| k.contains(".fleet-"))
        .collect()
}

#[test]
fn a_failure_skips_its_dependents_and_nothing_else() {
    let sb = Sandbox::new();
    let big = vec![b'x'; 1 << 20];
    let sha = sb.blob(&big);
    let fail = "echo broken >&2; exit 1";
    let cat = sb.catalog(
        "c",
        &[
            ("file", "/etc/a", json!({"content": "a\n"})),
            ("exec", fail, json!({})),
            ("file", "/etc/c", json!({"content": "c\n"})),
            ("file", "/etc/d", json!({"content": "d\n"})),
            ("file", "/etc/e", json!({"content": "e\n"})),
            ("file", "/etc/big", json!({"content_sha256": sha})),
        ],
        &[
            ("File[/etc/a]", &format!("Exec[{fail}]"), false),
            (&format!("Exec[{fail}]"), "File[/etc/c]", false),
            ("File[/etc/c]", "File[/etc/d]", true),
        ],
    );
    let r = sb.apply(&cat, &["--run-host-commands", "--format", "json"]);
    assert_eq!(r.code, 6, "changes and failures: {r:?}");
    let report = r.report();
    assert_eq!(
        report["summary"],
        json!({"resources": 6, "changed": 3, "failed": 1, "skipped": 2, "unchanged": 0}),
        "{report}"
    );
    let skipped: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == "skipped")
        .map(|e| e["resource"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, ["File[/etc/c]", "File[/etc/d]"]);
    assert_eq!(sb.read("/etc/a"), "a\n");
    assert_eq!(sb.read("/etc/e"), "e\n");
    assert_eq!(std::fs::read(sb.p("/etc/big")).unwrap(), big);
    assert!(!sb.p("/etc/c").exists() && !sb.p("/etc/d").exists());
    assert!(
        temp_files(&sb.root).is_empty(),
        "no half-written file: {:?}",
        temp_files(&sb.root)
    );

    // Without --detailed-exitcodes a failure is 1; the next run retries only what is left.
    let r = fleet([
        "apply",
        "--catalog",
        cat.to_str().unwrap(),
        "--root",
        sb.root.to_str().unwrap(),
        "--run-host-commands",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains(&format!("! Exec[{fail}] failed: ")),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("· File[/etc/c] skipped: dependency Exec["),
        "{r:?}"
    );
    // A dependent of a skipped resource names it as skipped, not as failed.
    assert!(
        r.stdout
            .contains("· File[/etc/d] skipped: dependency File[/etc/c] was skipped\n"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("0 created, 0 changed, 0 removed, 1 failed, 2 skipped"),
        "{r:?}"
    );
}

#[test]
fn output_order_does_not_depend_on_parallelism() {
    let sb = Sandbox::new();
    let mut resources = vec![("file", "/srv".to_string(), json!({"ensure": "directory"}))];
    for i in 0..300 {
        resources.push((
            "file",
            format!("/srv/f{i:03}"),
            json!({"content": format!("{i}\n"), "mode": if i % 2 == 0 { "0600" } else { "0644" }}),
        ));
    }
    let mut edges = Vec::new();
    for i in (0..300).step_by(7) {
        edges.push((
            format!("File[/srv/f{:03}]", i + 3),
            format!("File[/srv/f{i:03}]"),
        ));
    }
    let res: Vec<(&str, &str, serde_json::Value)> = resources
        .iter()
        .map(|(k, t, p)| (*k, t.as_str(), p.clone()))
        .collect();
    let edg: Vec<(&str, &str, bool)> = edges
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str(), false))
        .collect();
    let cat = sb.catalog("c", &res, &edg);
    let one = sb.apply(&cat, &["--noop", "--jobs", "1"]);
    let many = sb.apply(&cat, &["--noop", "--jobs", "8"]);
    assert_eq!(one.code, 2);
    assert_eq!(stable(&one.stdout), stable(&many.stdout));
    // Topological order: f003 comes before f000 which it must precede.
    let pos = |s: &str| one.stdout.find(s).unwrap();
    assert!(pos("File[/srv]") < pos("File[/srv/f003]"));
    assert!(pos("File[/srv/f003]") < pos("File[/srv/f000]"));
    let r = sb.apply(&cat, &["--jobs", "8"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(sb.apply(&cat, &[]).code, 0);
}

#[test]
fn group_commit_renames_every_file_and_leaves_no_temp_file() {
    // Files are written to temp files, flushed as a batch, then renamed: after a run,
    // with one worker or many, every file has its content and no temp file is left.
    for jobs in ["1", "8"] {
        let sb = Sandbox::new();
        let mut resources = vec![("file", "/srv".to_string(), json!({"ensure": "directory"}))];
        for d in 0..10 {
            resources.push(("file", format!("/srv/d{d}"), json!({"ensure": "directory"})));
            for f in 0..30 {
                resources.push((
                    "file",
                    format!("/srv/d{d}/f{f:02}"),
                    json!({"content": format!("{d} {f}\n"), "mode": "0640"}),
                ));
            }
        }
        // A chain across batches: each file of d0 waits for the one before it.
        let edges: Vec<(String, String)> = (1..30)
            .map(|f| {
                (
                    format!("File[/srv/d0/f{:02}]", f - 1),
                    format!("File[/srv/d0/f{f:02}]"),
                )
            })
            .collect();
        let res: Vec<(&str, &str, serde_json::Value)> = resources
            .iter()
            .map(|(k, t, p)| (*k, t.as_str(), p.clone()))
            .collect();
        let edg: Vec<(&str, &str, bool)> = edges
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str(), false))
            .collect();
        let cat = sb.catalog("c", &res, &edg);
        let r = sb.apply(&cat, &["--jobs", jobs]);
        assert_eq!(r.code, 2, "{r:?}");
        for d in 0..10 {
            for f in 0..30 {
                assert_eq!(sb.read(&format!("/srv/d{d}/f{f:02}")), format!("{d} {f}\n"));
            }
        }
        assert!(
            temp_files(&sb.root).is_empty(),
            "{:?}",
            temp_files(&sb.root)
        );
        assert_eq!(sb.apply(&cat, &[]).code, 0);
    }
}

#[test]
fn dependents_of_a_file_see_it_committed() {
    // An exec that requires a file, and one subscribed to it, run after the file's rename.
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.p("/data")).unwrap();
    let copy = "cat \"$FLEET_ROOT/data/conf\" > \"$FLEET_ROOT/data/seen\"";
    let notify = "cat \"$FLEET_ROOT/data/conf\" >> \"$FLEET_ROOT/data/notified\"";
    let cat = |text: &str| {
        sb.catalog(
            "c",
            &[
                ("file", "/data/conf", json!({"content": text})),
                ("exec", copy, json!({})),
                ("exec", notify, json!({"refreshonly": true})),
            ],
            &[
                ("File[/data/conf]", &format!("Exec[{copy}]"), false),
                ("File[/data/conf]", &format!("Exec[{notify}]"), true),
            ],
        )
    };
    let r = sb.apply(&cat("one\n"), &["--run-host-commands"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(sb.read("/data/seen"), "one\n");
    assert_eq!(sb.read("/data/notified"), "one\n");
    let r = sb.apply(&cat("two\n"), &["--run-host-commands"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(sb.read("/data/seen"), "two\n");
    assert_eq!(sb.read("/data/notified"), "one\ntwo\n");
    assert!(
        temp_files(&sb.root).is_empty(),
        "{:?}",
        temp_files(&sb.root)
    );
}

#[test]
fn a_rename_failing_in_a_batch_leaves_that_file_old_and_commits_the_others() {
    // With one worker, the files are staged first; the exec then puts a non-empty
    // directory where /d/x goes, so its rename fails at the commit, after the flush.
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.p("/d")).unwrap();
    for i in 0..5 {
        sb.write(&format!("/d/f{i}"), "old\n");
    }
    let sabotage = "mkdir -p \"$FLEET_ROOT/d/x/sub\"";
    let after = "touch \"$FLEET_ROOT/after-x\"";
    let mut resources: Vec<(&str, String, serde_json::Value)> = (0..5)
        .map(|i| ("file", format!("/d/f{i}"), json!({"content": "new\n"})))
        .collect();
    resources.push(("file", "/d/x".into(), json!({"content": "x\n"})));
    resources.push(("exec", sabotage.into(), json!({})));
    resources.push(("exec", after.into(), json!({})));
    let res: Vec<(&str, &str, serde_json::Value)> = resources
        .iter()
        .map(|(k, t, p)| (*k, t.as_str(), p.clone()))
        .collect();
    let cat = sb.catalog(
        "c",
        &res,
        &[("File[/d/x]", &format!("Exec[{after}]"), false)],
    );
    let r = sb.apply(
        &cat,
        &["--run-host-commands", "--jobs", "1", "--format", "json"],
    );
    assert_eq!(r.code, 6, "{r:?}");
    let report = r.report();
    let status = |res: &str| {
        report["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["resource"] == res)
            .map(|e| e["status"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(status("File[/d/x]"), "failed", "{report}");
    assert_eq!(status(&format!("Exec[{after}]")), "skipped", "{report}");
    for i in 0..5 {
        assert_eq!(status(&format!("File[/d/f{i}]")), "changed", "{report}");
        assert_eq!(sb.read(&format!("/d/f{i}")), "new\n");
    }
    assert!(sb.p("/d/x/sub").is_dir());
    assert!(!sb.p("/after-x").exists());
    assert!(
        temp_files(&sb.root).is_empty(),
        "{:?}",
        temp_files(&sb.root)
    );
}

#[test]
fn exit_codes_and_saved_reports() {
    let sb = Sandbox::new();
    let cat = sb.catalog(
        "c",
        &[("file", "/etc/motd", json!({"content": "hi\n"}))],
        &[],
    );
    let plain = |extra: &[&str]| {
        let mut a = vec![
            "apply",
            "--catalog",
            cat.to_str().unwrap(),
            "--root",
            sb.root.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        fleet(&a)
    };
    assert_eq!(sb.apply(&cat, &["--noop"]).code, 2, "noop finding changes");
    assert_eq!(plain(&["--noop"]).code, 0);
    assert!(
        !sb.p("/var/lib/fleet").exists(),
        "noop leaves no state behind"
    );
    assert_eq!(plain(&[]).code, 0, "changes without --detailed-exitcodes");
    assert_eq!(sb.apply(&cat, &[]).code, 0, "nothing left to change");
    let reports: Vec<_> = std::fs::read_dir(sb.p("/var/lib/fleet/reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(reports.len(), 2);
    for p in reports {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        assert_eq!(doc["node"], "test");
        assert_eq!(doc["noop"], false);
        assert!(doc["started"].as_str().unwrap().ends_with('Z'));
    }
}

#[test]
fn unsupported_types_fail_and_bad_catalogs_are_refused() {
    let sb = Sandbox::new();
    let cat = sb.catalog(
        "c",
        &[
            ("widget", "shop", json!({"path": "/srv/shop"})),
            ("file", "/etc/after", json!({"content": "x"})),
        ],
        &[("Widget[shop]", "File[/etc/after]", false)],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stdout.contains("unsupported resource type \"widget\""),
        "{r:?}"
    );
    assert!(!sb.p("/etc/after").exists());

    let cat = sb.catalog(
        "c",
        &[("file", "/etc/x", json!({}))],
        &[("File[/etc/x]", "File[/nope]", false)],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stderr.contains("File[/nope] is not in the catalog"),
        "{r:?}"
    );

    let cat = sb.catalog(
        "c",
        &[("file", "/etc/x", json!({})), ("file", "/etc/y", json!({}))],
        &[
            ("File[/etc/x]", "File[/etc/y]", false),
            ("File[/etc/y]", "File[/etc/x]", false),
        ],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("dependency cycle"), "{r:?}");
    let r = fleet(["apply"]);
    assert_eq!(r.code, 2, "bad invocation: {r:?}");
}

/// `--catalog` refuses what a manifest could not compile to: two titles with one identity
/// (by namevar, file paths without trailing slashes) and params a type does not have.
#[test]
fn catalogs_with_one_identity_twice_or_unknown_params_are_refused() {
    let sb = Sandbox::new();
    let etc = || support::snapshot(&sb.p("/etc"));
    let before = etc();
    let cat = sb.catalog(
        "c",
        &[
            ("file", "a", json!({"path": "/etc/motd", "content": "a\n"})),
            ("file", "b", json!({"path": "/etc/motd", "content": "b\n"})),
            ("file", "/etc/issue", json!({"content": "x\n"})),
            ("file", "/etc/issue/", json!({"content": "y\n"})),
            ("user", "u1", json!({"name": "deploy"})),
            ("user", "deploy", json!({})),
            // One name in two types is two resources.
            ("group", "deploy", json!({})),
        ],
        &[],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    for both in [
        "File[a] and File[b] are one resource: both manage file `/etc/motd`",
        "File[/etc/issue] and File[/etc/issue/] are one resource: both manage file `/etc/issue`",
        "User[u1] and User[deploy] are one resource: both manage user `deploy`",
    ] {
        assert!(r.stderr.contains(both), "{both}: {r:?}");
    }
    assert!(!r.stderr.contains("Group[deploy]"), "{r:?}");
    assert_eq!(before, etc(), "nothing applied");

    let cat = sb.catalog(
        "c",
        &[
            ("file", "/etc/a", json!({"content": "a\n", "modes": "0600"})),
            (
                "file",
                "/etc/b",
                json!({"content": "b\n", "require": "File[/etc/a]"}),
            ),
            (
                "release",
                "app",
                json!({"path": "/srv/app", "content_sha256": "0".repeat(64),
                                       "commit": "abc", "colour": "red"}),
            ),
        ],
        &[],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    for param in [
        "File[/etc/a]: `file` has no attribute `modes` (did you mean `mode`?)",
        "File[/etc/b]: `file` has no attribute `require`",
        "Release[app]: `release` has no attribute `colour`",
    ] {
        assert!(r.stderr.contains(param), "{param}: {r:?}");
    }
    assert!(
        !r.stderr.contains("content_sha256") && !r.stderr.contains("`commit`"),
        "{r:?}"
    );
    assert_eq!(before, etc(), "nothing applied");
}

#[test]
fn a_second_apply_on_the_same_root_waits_or_fails() {
    let sb = Sandbox::new();
    let cat = sb.catalog(
        "c",
        &[("file", "/etc/motd", json!({"content": "hi\n"}))],
        &[],
    );
    std::fs::create_dir_all(sb.p("/var/lib/fleet")).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(sb.p("/var/lib/fleet/lock"))
        .unwrap();
    lock.lock().unwrap();
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("another fleet apply is running"), "{r:?}");
    assert!(!sb.p("/etc/motd").exists());

    let child = support::command()
        .args([
            "apply",
            "--wait",
            "--catalog",
            cat.to_str().unwrap(),
            "--root",
            sb.root.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!sb.p("/etc/motd").exists(), "still waiting");
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(sb.read("/etc/motd"), "hi\n");
}

/// A tiny deterministic PRNG (xorshift64*), seeded from the clock and printed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn killed_while_writing_every_file_is_old_or_new() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.p("/data")).unwrap();
    const N: usize = 200;
    let content = |gen: u8, i: usize| -> Vec<u8> {
        let mut v = vec![gen; 1 << 20];
        v[..8].copy_from_slice(&(i as u64).to_le_bytes());
        v
    };
    let mut catalogs = Vec::new();
    let mut shas: Vec<[String; 2]> = vec![Default::default(); N];
    for gen in 0..2u8 {
        let mut res = vec![("file", "/data".to_string(), json!({"ensure": "directory"}))];
        for (i, pair) in shas.iter_mut().enumerate() {
            let sha = sb.blob(&content(b'a' + gen, i));
            pair[gen as usize] = sha.clone();
            res.push((
                "file",
                format!("/data/f{i:03}"),
                json!({"content_sha256": sha}),
            ));
        }
        let r: Vec<(&str, &str, serde_json::Value)> = res
            .iter()
            .map(|(k, t, p)| (*k, t.as_str(), p.clone()))
            .collect();
        catalogs.push(sb.catalog(&format!("gen{gen}"), &r, &[]));
    }
    // Old content everywhere first, timed to choose kill delays across the whole write.
    let start = Instant::now();
    assert_eq!(sb.apply(&catalogs[0], &[]).code, 2);
    let full = start.elapsed().as_millis().max(20) as u64;

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("crash test seed {seed}, full run {full} ms");
    let mut rng = Rng(seed);
    let iterations = 20;
    // Kill somewhere in the write (bounded so a slow disk does not make the test crawl).
    let window = (full + full / 2).min(4000);
    let mut killed_mid_run = 0;
    for it in 0..iterations {
        let cat = &catalogs[(it + 1) % 2];
        let mut child = support::command()
            .args([
                "apply",
                "--catalog",
                cat.to_str().unwrap(),
                "--root",
                sb.root.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.next() % window));
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for (i, pair) in shas.iter().enumerate() {
            let got = support::sha256_hex(&std::fs::read(sb.p(&format!("/data/f{i:03}"))).unwrap());
            assert!(
                pair.contains(&got),
                "iteration {it} (seed {seed}): /data/f{i:03} is neither old nor new"
            );
        }
    }
    assert!(
        killed_mid_run > 0,
        "no run was actually interrupted (seed {seed})"
    );
    // A complete run afterwards converges and sweeps the temp files of killed runs.
    assert_eq!(sb.apply(&catalogs[0], &[]).code & 4, 0);
    for (i, pair) in shas.iter().enumerate() {
        assert_eq!(
            support::sha256_hex(&std::fs::read(sb.p(&format!("/data/f{i:03}"))).unwrap()),
            pair[0]
        );
    }
    assert!(
        temp_files(&sb.p("/data")).is_empty(),
        "{:?}",
        temp_files(&sb.p("/data"))
    );
    assert!(!sb.p("/var/lib/fleet/unfinished").exists());
}

#[test]
fn only_a_run_after_an_unfinished_one_sweeps_temp_files() {
    let sb = Sandbox::new();
    let cat = sb.catalog("c", &[("file", "/etc/a", json!({"content": "a\n"}))], &[]);
    assert_eq!(sb.apply(&cat, &[]).code, 2);
    assert!(!sb.p("/var/lib/fleet/unfinished").exists());
    // A temp file of a process that is gone (pid above the kernel's maximum).
    sb.write("/etc/.a.fleet-2147483647-0", "half");
    assert_eq!(sb.apply(&cat, &[]).code, 0);
    assert!(sb.p("/etc/.a.fleet-2147483647-0").exists());
    // What a killed run leaves: the marker; the next run sweeps and removes it.
    sb.write("/var/lib/fleet/unfinished", "");
    assert_eq!(sb.apply(&cat, &["--noop"]).code, 0);
    assert!(
        sb.p("/etc/.a.fleet-2147483647-0").exists(),
        "noop changes nothing"
    );
    assert_eq!(sb.apply(&cat, &[]).code, 0);
    assert!(!sb.p("/etc/.a.fleet-2147483647-0").exists());
    assert!(!sb.p("/var/lib/fleet/unfinished").exists());
}

#[test]
fn facts_are_json_with_every_key() {
    let r = fleet(["facts"]);
    assert_eq!(r.code, 0, "{r:?}");
    let facts: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for k in [
        "hostname",
        "fqdn",
        "os",
        "virtual",
        "kernel",
        "arch",
        "processors",
        "memory_mb",
        "ip",
        "interfaces",
    ] {
        assert!(facts.get(k).is_some(), "missing {k}: {facts}");
    }
    for k in ["family", "name", "release", "major"] {
        assert!(facts["os"][k].is_string(), "os.{k}: {facts}");
    }
    assert!(facts["memory_mb"].as_u64().unwrap() > 0);
}

#[test]
fn a_resource_with_noop_true_is_only_planned() {
    let sb = Sandbox::new();
    let cat = sb.catalog(
        "c",
        &[
            ("file", "/etc/a", json!({"content": "a\n", "noop": true})),
            ("file", "/etc/b", json!({"content": "b\n"})),
        ],
        &[],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!sb.p("/etc/a").exists(), "{r:?}");
    assert!(
        r.stdout.contains("+ File[/etc/a] (noop: not created)"),
        "{r:?}"
    );
    assert_eq!(sb.read("/etc/b"), "b\n");
}

/// The Report JSON of a run with its run-dependent fields (`started`, `seconds`) dropped,
/// and private contents' sums (keyed per state directory) masked.
fn comparable(run: &support::Run) -> serde_json::Value {
    let mut report = run.report();
    let o = report.as_object_mut().unwrap();
    o.remove("started");
    o.remove("seconds");
    for e in o["events"].as_array_mut().unwrap() {
        for k in ["from", "to"] {
            if e[k].as_str().is_some_and(|v| v.starts_with("hmac-sha256:")) {
                e[k] = json!("hmac-sha256:(keyed)");
            }
        }
    }
    report
}

/// `fleet apply FILE` applies the compiled catalog as it is (`apply::run_catalog`), without
/// its wire document; `fleet apply --catalog` reads that document. Both must plan, apply,
/// report and exit alike, on an empty root, on a drifted one and in the steady state.
#[test]
fn a_manifest_and_its_compiled_catalog_apply_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = tmp.path().join("site.fleet");
    std::fs::write(
        &manifest,
        r#"
define app($port: Int = 80) {
  file "/srv/${title}" { ensure = directory, mode = "0755" }
  file "/srv/${title}/conf" { ensure = directory }
  file "/srv/${title}/conf/app.conf" {
    content = "name=${title}\nport=${port}\n"
    mode    = "0640"
    notify  = Exec["reload ${title}"]
  }
  file "/srv/${title}/current" { ensure = link, target = "conf" }
  exec "reload ${title}" { command = "true ${title}", refreshonly = true }
}
node "n1" {
  file "/srv" { ensure = directory }
  file "/srv/motd" { content = "hello\n" }
  file "/srv/old" { ensure = absent }
  app "one" { port = 8001 }
  app "two" { }
  file "/srv/last" { content = "last\n", require = App["one"] }
}
"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let compiled = fleet([
        "compile",
        "--all",
        "--out",
        out.to_str().unwrap(),
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(compiled.code, 0, "{compiled:?}");
    let catalog = out.join("n1.json");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    // The saved reports (named by time) are kept out of the trees compared.
    let (state_a, state_b) = (tmp.path().join("state-a"), tmp.path().join("state-b"));
    for root in [&a, &b] {
        std::fs::create_dir_all(root.join("etc")).unwrap();
    }
    let both = |extra: &[&str]| {
        let common = [
            "--detailed-exitcodes",
            "--format",
            "json",
            "--verbose",
            "--run-host-commands",
        ];
        let root_a = ["--root", a.to_str().unwrap(), "--node", "n1", "--state-dir"];
        let from_file: Vec<&str> = ["apply"]
            .into_iter()
            .chain(root_a)
            .chain([state_a.to_str().unwrap()])
            .chain(common)
            .chain(extra.iter().copied())
            .chain([manifest.to_str().unwrap()])
            .collect();
        let from_catalog: Vec<&str> = ["apply", "--catalog", catalog.to_str().unwrap()]
            .into_iter()
            .chain(["--root", b.to_str().unwrap(), "--state-dir"])
            .chain([state_b.to_str().unwrap()])
            .chain(common)
            .chain(extra.iter().copied())
            .collect();
        let (x, y) = (fleet(&from_file), fleet(&from_catalog));
        assert_eq!(x.code, y.code, "exit codes\n{x:?}\n{y:?}");
        assert_eq!(comparable(&x), comparable(&y), "reports\n{x:?}\n{y:?}");
        assert_eq!(support::snapshot(&a), support::snapshot(&b), "trees");
        x
    };
    // An empty root: the plan, then the apply.
    assert_eq!(both(&["--noop"]).code, 2);
    assert_eq!(both(&[]).code, 2);
    // The steady state.
    let steady = both(&["--noop"]);
    assert_eq!(steady.code, 0, "{steady:?}");
    assert_eq!(both(&[]).code, 0);
    // Drift: a changed file (which notifies its exec), a wrong mode, an unwanted file, a
    // missing link.
    for root in [&a, &b] {
        std::fs::write(root.join("srv/one/conf/app.conf"), "edited\n").unwrap();
        let two = root.join("srv/two/conf/app.conf");
        std::fs::set_permissions(&two, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        std::fs::write(root.join("srv/old"), "old\n").unwrap();
        std::fs::remove_file(root.join("srv/two/current")).unwrap();
    }
    let drifted = both(&["--noop"]);
    assert_eq!(drifted.code, 2, "{drifted:?}");
    // An exec shows the title written (its identity is its command, `true one`).
    assert!(drifted.stdout.contains("Exec[reload one]"), "{drifted:?}");
    assert_eq!(both(&[]).code, 2);
    assert_eq!(both(&["--noop"]).code, 0);
    // After a run that did not end, a real run sweeps its temp files (`prepare`) either way.
    for (root, state) in [(&a, &state_a), (&b, &state_b)] {
        std::fs::write(state.join("unfinished"), "").unwrap();
        std::fs::write(root.join("srv/one/conf/.app.conf.fleet-999999999-1"), "x").unwrap();
    }
    assert_eq!(both(&[]).code, 0);
    assert!(!a.join("srv/one/conf/.app.conf.fleet-999999999-1").exists());
}

#[test]
fn a_facts_file_missing_or_not_json_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let manifest = dir.join("site.fleet");
    std::fs::write(
        &manifest,
        "node \"n1\" { file \"/host\" { content = \"${facts.hostname}\\n\" } }\n",
    )
    .unwrap();
    let (m, r) = (manifest.to_str().unwrap(), root.to_str().unwrap());
    let missing = dir.join("nope.json");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "hostname: n1\n").unwrap();
    let (missing, bad) = (missing.to_str().unwrap(), bad.to_str().unwrap());
    let apply = |facts: &str| {
        fleet([
            "apply", "--noop", "--root", r, "--node", "n1", "--facts", facts, m,
        ])
    };
    let run = apply(missing);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("--facts {missing} does not exist")),
        "{run:?}"
    );
    for run in [
        apply(bad),
        fleet(["compile", "--node", "n1", "--facts", bad, m]),
        fleet(["check", "--facts", bad, m]),
    ] {
        assert_eq!(run.code, 1, "{run:?}");
        assert!(
            run.stderr
                .contains(&format!("the facts file {bad} is not JSON")),
            "{run:?}"
        );
    }
    // facts/<node>.json beside the manifest, too.
    std::fs::create_dir_all(dir.join("facts")).unwrap();
    std::fs::write(dir.join("facts/n1.json"), "[\"n1\"]\n").unwrap();
    let run = fleet(["check", m]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("n1.json is not a JSON object of facts"),
        "{run:?}"
    );
    std::fs::write(dir.join("facts/n1.json"), "{\"hostname\": \"n1\"}\n").unwrap();
    assert_eq!(fleet(["check", m]).code, 0);
}

/// Every file under `dir` whose bytes contain `secret`, with its mode.
fn files_holding(dir: &std::path::Path, secret: &str, out: &mut Vec<(std::path::PathBuf, u32)>) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let md = std::fs::symlink_metadata(&path).unwrap();
        if md.is_dir() {
            files_holding(&path, secret, out);
        } else if md.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(secret.len()).any(|w| w == secret.as_bytes()) {
                out.push((path, md.permissions().mode() & 0o7777));
            }
        }
    }
}

/// A Sensitive value (LANGUAGE.md §6) that reaches files' contents by every path (`sensitive()`
/// of a lookup, interpolation, a template, `+`, `join`, `format`, a class parameter typed
/// `Sensitive[String]` given plainly or looked up in data) is never shown: not by `check`
/// (text or JSON, also when misused), `compile`'s diagnostics, `graph`, plans with
/// `--show-diff` (`content changed (sensitive)`), reports (the run's and the saved ones, which
/// carry no plain sha256 of it either); the files that hold it (catalogs and blobs of
/// `compile --all`, backups, reports) are not readable by others; the applied files hold it.
#[test]
fn a_sensitive_value_is_applied_and_never_shown() {
    let secret = "hunter2-XYZ";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    // The secret is only in data: the manifest's own text (which reports quote) never has it.
    std::fs::write(
        dir.join("data/common.toml"),
        format!("[secrets]\npw = \"{secret}\"\n\n[vault]\ntoken = \"{secret}-token\"\n"),
    )
    .unwrap();
    std::fs::write(dir.join("templates/db.j2"), "password={{ password }}\n").unwrap();
    let manifest = dir.join("site.fleet");
    std::fs::write(
        &manifest,
        r#"
let $pw = sensitive(lookup("secrets.pw", ""))
class vault($token: Sensitive[String]) {
  file "/etc/app/token" { content = $token, mode = "0600" }
}
class db($password: Sensitive[String]) {
  file "/etc/app/db.conf" { content = template("templates/db.j2") }
}
node "n1" {
  file "/etc/app" { ensure = directory }
  include vault
  include db(password = unwrap($pw))
  file "/etc/app/interp" { content = "pw=${pw}\n" }
  file "/etc/app/plus" { content = "pw=" + $pw + "\n" }
  file "/etc/app/join" { content = join(["pw", $pw], "=") }
  file "/etc/app/format" { content = format("pw={}\n", $pw) }
  file "/etc/app/plain" { content = "nothing secret\n" }
}
"#,
    )
    .unwrap();
    let m = manifest.to_str().unwrap();
    let hidden = |what: &str, run: &support::Run| {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{what} shows the secret:\n{run:?}"
        );
    };

    for format in ["text", "json"] {
        let r = fleet(["check", "--format", format, m]);
        assert_eq!(r.code, 0, "{r:?}");
        hidden("check", &r);
    }
    // Misused, it is reported without being shown.
    let bad = dir.join("bad.fleet");
    std::fs::write(
        &bad,
        "let $pw = sensitive(lookup(\"secrets.pw\", \"\"))\n\
         class db($password: Sensitive[Int]) { }\n\
         include db(password = unwrap($pw))\n\
         file \"/etc/a\" { content = upcase($pw) }\n\
         file \"/etc/b\" { content = \"${$pw < \"a\"}\" }\n\
         file \"/etc/c\" { content = $pw.key }\n\
         file \"/etc/d\" { content = \"x\", path = $pw }\n",
    )
    .unwrap();
    for format in ["text", "json"] {
        let r = fleet(["check", "--format", format, bad.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{r:?}");
        assert!(
            r.stdout.contains("sensitive") || r.stderr.contains("sensitive"),
            "{r:?}"
        );
        hidden("check of a misuse", &r);
    }

    // `compile --node` prints the catalog, which carries the value to the apply side, always
    // wrapped; its diagnostics (none here) and `graph` show nothing.
    let r = fleet(["compile", "--node", "n1", m]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains(secret), "{r:?}");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let mut wrapped = 0;
    for res in doc["resources"].as_array().unwrap() {
        let content = &res["params"]["content"];
        if let Some(inner) = content.get("sensitive") {
            assert!(inner.as_str().unwrap().contains(secret), "{res}");
            wrapped += 1;
        } else {
            assert!(!content.to_string().contains(secret), "unwrapped: {res}");
        }
    }
    assert_eq!(wrapped, 6, "{}", r.stdout);
    let r = fleet(["graph", "--node", "n1", m]);
    assert_eq!(r.code, 0, "{r:?}");
    hidden("graph", &r);

    let out = dir.join("out");
    let r = fleet(["compile", "--all", "--out", out.to_str().unwrap(), m]);
    assert_eq!(r.code, 0, "{r:?}");
    hidden("compile --all", &r);
    let mut holding = Vec::new();
    files_holding(&out, secret, &mut holding);
    assert!(!holding.is_empty());
    for (path, mode) in &holding {
        assert_eq!(mode & 0o077, 0, "{} is {mode:04o}", path.display());
    }

    // Plans (with diffs), runs and reports, from the manifest and from the compiled catalog.
    let root = dir.join("root");
    let state = dir.join("state");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let apply = |source: &[&str], extra: &[&str]| {
        let mut args = vec![
            "apply",
            "--root",
            root.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--node",
            "n1",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(source);
        fleet(&args)
    };
    let catalog = out.join("n1.json");
    let sources: [Vec<&str>; 2] = [vec![m], vec!["--catalog", catalog.to_str().unwrap()]];
    let plain_sums: Vec<String> = [
        format!("password={secret}\n"),
        format!("pw={secret}\n"),
        format!("pw={secret}"),
        format!("{secret}-token"),
    ]
    .iter()
    .map(|c| support::sha256_hex(c.as_bytes()))
    .collect();
    let no_sums = |what: &str, run: &support::Run| {
        for sum in &plain_sums {
            assert!(
                !run.stdout.contains(sum.as_str()),
                "{what}: a plain sum\n{run:?}"
            );
        }
    };
    for source in &sources {
        let r = apply(source, &["--noop", "--show-diff"]);
        assert_eq!(r.code, 0, "{r:?}");
        hidden("a plan", &r);
        assert!(r.stdout.contains("content set (sensitive)"), "{r:?}");
        let r = apply(source, &["--noop", "--format", "json", "--verbose"]);
        hidden("a noop report", &r);
        no_sums("a noop report", &r);
    }
    let r = apply(&sources[0], &["--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    hidden("a report", &r);
    no_sums("a report", &r);
    for (path, want) in [
        ("etc/app/token", format!("{secret}-token")),
        ("etc/app/db.conf", format!("password={secret}\n")),
        ("etc/app/interp", format!("pw={secret}\n")),
        ("etc/app/plus", format!("pw={secret}\n")),
        ("etc/app/join", format!("pw={secret}")),
        ("etc/app/format", format!("pw={secret}\n")),
    ] {
        assert_eq!(std::fs::read_to_string(root.join(path)).unwrap(), want);
    }
    // Drift (an old secret in a file, which goes to the backups): the plan says which
    // sensitive contents changed, shows no diff of them, then the run puts them back.
    std::fs::write(root.join("etc/app/interp"), format!("pw={secret}-old\n")).unwrap();
    std::fs::write(root.join("etc/app/plain"), "edited\n").unwrap();
    for source in &sources {
        let r = apply(source, &["--noop", "--show-diff"]);
        hidden("a plan of drift", &r);
        assert!(
            r.stdout
                .contains("~ File[/etc/app/interp]\n    content changed (sensitive)\n"),
            "{r:?}"
        );
        assert!(
            r.stdout.contains("+edited") || r.stdout.contains("-edited"),
            "{r:?}"
        );
    }
    let r = apply(&sources[1], &["--show-diff", "--format", "json"]);
    hidden("a report of drift", &r);
    no_sums("a report of drift", &r);
    assert!(r.stdout.contains("content changed (sensitive)"), "{r:?}");
    let mut holding = Vec::new();
    files_holding(&state, secret, &mut holding);
    files_holding(&state, "hmac-sha256", &mut holding);
    assert!(!holding.is_empty(), "the backup of the old secret");
    for (path, mode) in &holding {
        assert_eq!(mode & 0o077, 0, "{} is {mode:04o}", path.display());
    }
}

#[test]
fn no_node_says_which_names_were_tried_and_suggests_node() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let manifest = tmp.path().join("site.fleet");
    std::fs::write(&manifest, "node \"db-only\" { }\n").unwrap();
    let (m, r) = (manifest.to_str().unwrap(), root.to_str().unwrap());
    let facts: serde_json::Value = serde_json::from_str(&fleet(["facts"]).stdout).unwrap();
    let host = facts["hostname"].as_str().unwrap().to_string();
    for (run, name) in [
        (fleet(["apply", "--noop", "--root", r, m]), host.as_str()),
        (
            fleet(["apply", "--noop", "--root", r, "--node", "web01", m]),
            "web01",
        ),
    ] {
        assert_eq!(run.code, 1, "{run:?}");
        assert!(
            run.stderr.contains(&format!(
                "no node block matches `{name}` and there is no `node default`"
            )),
            "{run:?}"
        );
        assert!(
            run.stderr
                .contains(&format!("tried the names `{name}`, then `default`")),
            "{run:?}"
        );
        assert!(run.stderr.contains("--node NAME"), "{run:?}");
    }
}
