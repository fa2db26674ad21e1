//! What `fleet apply` shows as it runs: each resource's lines as soon as it (and every one
//! before it in the order) is done, a progress line only on a terminal, the table by type
//! and status at the end, colour only on a terminal without `NO_COLOR`, `--wait` saying whom
//! it waits for, and `--tags` / `--skip-tags`. Terminals are real ptys, from `script(1)`
//! (bsdutils, see scripts/install-test-deps.sh).

use crate::support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{fleet, fleet_env, Sandbox};

/// A scratch root with `/etc`, and a manifest `site.fleet` beside it.
struct Site {
    tmp: tempfile::TempDir,
    root: PathBuf,
    manifest: PathBuf,
}

fn site(manifest: &str) -> Site {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let path = tmp.path().join("site.fleet");
    std::fs::write(&path, manifest).unwrap();
    Site {
        tmp,
        root,
        manifest: path,
    }
}

impl Site {
    fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "apply",
            "--root",
            self.root.to_str().unwrap(),
            "--no-fsync",
            self.manifest.to_str().unwrap(),
        ];
        v.extend_from_slice(extra);
        v
    }

    /// The command line of `fleet apply … EXTRA` as one shell word list (for `script -c`).
    fn shell_line(&self, extra: &[&str]) -> String {
        std::iter::once(support::bin())
            .chain(self.args(extra))
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs `fleet apply … EXTRA` on a pty (stdout and stderr both the terminal): exit code
    /// and everything the terminal got.
    fn on_pty(&self, extra: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
        let out = Command::new("script")
            .args(["-qec", &self.shell_line(extra), "/dev/null"])
            .env_remove("NO_COLOR")
            .env("TERM", "xterm")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("script(1) from bsdutils (scripts/install-test-deps.sh)");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

/// A file, then an exec that sleeps 5 s and then writes a marker (it requires the file, so
/// it is later in the order).
fn slow_site(marker: &Path) -> Site {
    site(&format!(
        r#"node default {{
  file "/etc/motd" {{ content = "hi\n" }}
  exec "slow" {{
    command = "sleep 5 && touch {}"
    unless = "false"
    require = File["/etc/motd"]
  }}
}}
"#,
        marker.display()
    ))
}

#[test]
fn each_resource_is_printed_as_it_finishes() {
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("slept");
    let s = slow_site(&marker);
    let started = Instant::now();
    let mut child = support::command()
        .args(s.args(&["--run-host-commands"]))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let waited = started.elapsed();
    // The file's line came while the exec still slept.
    assert_eq!(first, "+ File[/etc/motd] created\n");
    assert!(
        !marker.exists(),
        "the first line came only after the exec finished"
    );
    // (No bound on `waited` itself: on a loaded machine starting and compiling can take
    // seconds; the marker is what proves the order.)
    let _ = waited;
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{first}{rest}\n{err}");
    assert!(marker.exists(), "the exec ran");
    assert!(rest.starts_with("~ Exec[slow] changed\n"), "{rest}");
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "the exec slept"
    );
    // No progress line in a pipe.
    assert!(!err.contains('\r') && !err.contains("[1/2]"), "{err:?}");
    let _ = &s.tmp;
}

#[test]
fn json_output_is_still_one_document() {
    let s = site("node default {\n  file \"/etc/motd\" { content = \"hi\\n\" }\n}\n");
    let r = fleet(s.args(&["--format", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let report = r.report();
    assert_eq!(report["summary"]["changed"], 1, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
}

#[test]
fn the_run_ends_with_a_table_by_type_and_status() {
    let sb = Sandbox::new();
    std::fs::write(sb.p("/etc/old"), "same\n").unwrap();
    let same = sb.blob(b"same\n");
    let cat = sb.catalog(
        "c",
        &[
            ("file", "/etc/a", json!({"content": "a\n"})),
            ("file", "/etc/old", json!({"content_sha256": same})),
            ("file", "/nowhere/b", json!({"content": "b\n"})),
            ("exec", "true", json!({"command": "true"})),
        ],
        &[("File[/nowhere/b]", "Exec[true]", false)],
    );
    let r = sb.apply(&cat, &[]);
    assert_eq!(r.code, 6, "{r:?}");
    let table: Vec<&str> = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("type"))
        .collect();
    assert_eq!(
        table[..4],
        [
            "type   changed  failed  skipped  unchanged",
            "Exec         0       0        1          0",
            "File         1       1        0          1",
            "total        1       1        1          1",
        ],
        "{r:?}"
    );
    assert!(
        table[4].starts_with("1 created, 0 changed, 0 removed, 1 failed, 1 skipped (4 resources"),
        "{r:?}"
    );
    // A blank line between the resources and the table.
    assert!(r.stdout.contains("\n\ntype "), "{r:?}");
}

#[test]
fn a_terminal_gets_a_progress_line_and_colour_and_no_color_turns_colour_off() {
    let s = site(
        r#"node default {
  file "/etc/new" { content = "n\n" }
  file "/etc/gone" { ensure = absent }
  file "/etc/changed" { content = "c\n", require = File["/etc/new"] }
  file "/nowhere/x" { content = "x\n" }
}
"#,
    );
    let reset = || {
        let _ = std::fs::remove_file(s.root.join("etc/new"));
        std::fs::write(s.root.join("etc/gone"), "g\n").unwrap();
        std::fs::write(s.root.join("etc/changed"), "old\n").unwrap();
    };
    reset();
    let (code, tty) = s.on_pty(&[], &[]);
    assert_eq!(code, Some(1), "{tty:?}");
    assert!(
        tty.contains("\x1b[32m+ File[/etc/new] created\x1b[0m"),
        "{tty:?}"
    );
    assert!(
        tty.contains("\x1b[31m- File[/etc/gone] removed\x1b[0m"),
        "{tty:?}"
    );
    assert!(
        tty.contains("\x1b[33m~ File[/etc/changed] changed\x1b[0m"),
        "{tty:?}"
    );
    assert!(
        tty.contains("\x1b[1;31m! File[/nowhere/x] failed:"),
        "{tty:?}"
    );
    // The progress line, drawn over itself, cleared before each result and at the end.
    assert!(
        tty.contains("\r\x1b[K[1/4] File[/etc/new]\r\x1b[K"),
        "{tty:?}"
    );
    assert!(tty.contains("\r\x1b[K\x1b[31m- File[/etc/gone]"), "{tty:?}");
    let last = tty.rfind("\r\x1b[K[").unwrap();
    assert!(tty[last + 3..].contains("\r\x1b[K\x1b[1;31m!"), "{tty:?}");
    // The count is results reported plus one: a resource started after three results shows
    // [4/4], one started earlier less; never more than the total.
    assert!(!tty.contains("[5/4]") && !tty.contains("[0/4]"), "{tty:?}");

    reset();
    let (code, plain) = s.on_pty(&[], &[("NO_COLOR", "1")]);
    assert_eq!(code, Some(1), "{plain:?}");
    assert!(
        !plain.contains("\x1b[3") && !plain.contains("\x1b[1;"),
        "{plain:?}"
    );
    assert!(plain.contains("+ File[/etc/new] created\r\n"), "{plain:?}");
    // NO_COLOR is about colour: the progress line stays.
    assert!(plain.contains("\r\x1b[K[1/4] File[/etc/new]"), "{plain:?}");

    // Piped: neither colour nor progress.
    reset();
    let r = fleet_env(s.args(&[]), &[("TERM", "xterm")]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        !r.stdout.contains('\x1b') && !r.stderr.contains('\x1b'),
        "{r:?}"
    );
    assert!(!r.stderr.contains('\r'), "{r:?}");
    assert!(r.stdout.starts_with("+ File[/etc/new] created\n"), "{r:?}");
}

#[test]
fn wait_says_whom_it_waits_for() {
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("slept");
    let s = slow_site(&marker);
    let mut holder = support::command()
        .args(s.args(&["--run-host-commands"]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The holder writes its pid in the lock once it has it.
    let lock = s.root.join("var/lib/fleet/lock");
    let pid = holder.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(4);
    while std::fs::read_to_string(&lock)
        .ok()
        .as_deref()
        .map(str::trim)
        != Some(&pid)
    {
        assert!(Instant::now() < deadline, "the lock never named {pid}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let busy = fleet(s.args(&[]));
    assert_eq!(busy.code, 1, "{busy:?}");
    assert!(
        busy.stderr.contains(&format!(
            "another fleet apply is running (pid {pid} holds {})",
            lock.display()
        )),
        "{busy:?}"
    );

    let mut waiter = support::command()
        .args(s.args(&["--wait", "--run-host-commands"]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(waiter.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(!marker.exists(), "the holder still runs");
    let want = format!(
        "fleet: waiting for the lock held by pid {pid} at {}…\n",
        lock.display()
    );
    assert_eq!(line, want);
    assert!(holder.wait().unwrap().success());
    assert!(waiter.wait().unwrap().success());
    // Done: the lock names nobody.
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), "");
}

const TAGGED: &str = r#"class web {
  file "/etc/web.conf" { content = "w\n", require = File["/etc/base"] }
}
node default {
  include web
  file "/etc/base" { content = "b\n", require = File["/etc/first"], tag = "base" }
  file "/etc/first" { content = "f\n", tag = ["early", "base"] }
  file "/nowhere/broken" { content = "x\n" }
}
"#;

#[test]
fn tags_take_only_the_resources_carrying_them_in_order() {
    let s = site(TAGGED);
    let r = fleet(s.args(&["--tags", "early,web"]));
    assert_eq!(r.code, 0, "{r:?}");
    // The order through the left-out File[/etc/base] is kept; nothing else is shown.
    let lines: Vec<&str> = r.stdout.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(
        lines,
        [
            "+ File[/etc/first] created",
            "+ File[/etc/web.conf] created"
        ],
        "{r:?}"
    );
    assert!(r.stdout.contains("(2 resources"), "{r:?}");
    assert!(
        !r.stdout.contains("broken") && !r.stdout.contains("base]"),
        "{r:?}"
    );
    assert!(!s.root.join("etc/base").exists());

    // The type name is a tag too; --skip-tags wins.
    let r = fleet(s.args(&["--tags", "file", "--skip-tags", "base,web"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.starts_with("! File[/nowhere/broken] failed"),
        "{r:?}"
    );
    assert!(r.stdout.contains("(1 resources"), "{r:?}");

    let r = fleet(s.args(&["--format", "json", "--skip-tags", "web,BASE"]));
    let report = r.report();
    assert_eq!(report["summary"]["resources"], 1, "{r:?}");
    assert_eq!(report["summary"]["failed"], 1, "{r:?}");
    assert!(!s.root.join("etc/base").exists());
}

#[test]
fn a_failure_before_a_left_out_resource_still_skips_what_comes_after_it() {
    let s = site(
        r#"node default {
  file "/nowhere/a" { content = "a\n", tag = "t" }
  file "/etc/b" { content = "b\n", require = File["/nowhere/a"] }
  file "/etc/c" { content = "c\n", require = File["/etc/b"], tag = "t" }
  file "/etc/d" { content = "d\n", require = File["/etc/b"], tag = "other" }
}
"#,
    );
    let r = fleet(s.args(&["--tags", "t"]));
    assert_eq!(r.code, 1, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{r:?}");
    assert!(lines[0].starts_with("! File[/nowhere/a] failed"), "{r:?}");
    assert_eq!(
        lines[1], "· File[/etc/c] skipped: dependency File[/nowhere/a] failed",
        "{r:?}"
    );
    assert!(!s.root.join("etc/b").exists() && !s.root.join("etc/c").exists());
}

#[test]
fn a_dependent_of_a_left_out_resource_runs() {
    let s = site(
        r#"node default {
  file "/nowhere/dir" { ensure = directory }
  file "/etc/after" { content = "a\n", require = File["/nowhere/dir"], tag = "t" }
}
"#,
    );
    let r = fleet(s.args(&["--tags", "t"]));
    // Its dependency is not run (so it did not fail): the dependent runs.
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("+ File[/etc/after] created"), "{r:?}");
}

#[test]
fn apply_help_tells_of_the_output_and_the_tags() {
    let r = fleet(["apply", "--help"]);
    assert_eq!(r.code, 0, "{r:?}");
    for want in [
        "--tags <TAG,…>",
        "--skip-tags <TAG,…>",
        "progress line",
        "table by type and status",
        "NO_COLOR",
        "waiting",
    ] {
        assert!(r.stdout.contains(want), "{want}: {r:?}");
    }
}
