//! Runs commands — `/bin/sh -c` scripts, or a program with its arguments and no shell
//! ([`Cmd::argv`]) —: environment, working directory, user, timeout (the whole process
//! group is killed), captured output. Under `--root DIR` commands run on the
//! host with `FLEET_ROOT=DIR` and their working directory mapped under DIR
//! (`--run-host-commands`), or inside DIR with chroot(2) (`--chroot`), or not at all.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::sys::root::Root;

/// One command to run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cmd {
    /// The `/bin/sh -c` script (unused when `argv` is set).
    pub script: String,
    /// When not empty: the program (`argv[0]`, looked up in `PATH`) and its arguments, run
    /// without a shell, so no argument is ever parsed as shell syntax.
    pub argv: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// `PATH` directories (joined with `:`), when set.
    pub path: Option<Vec<String>>,
    pub uid_gid: Option<(u32, u32)>,
    pub timeout: Option<Duration>,
    /// Run inside this directory with chroot(2); `cwd` is then a path inside it.
    pub chroot: Option<PathBuf>,
}

impl Cmd {
    /// `program arg…` without a shell.
    pub(crate) fn argv<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Cmd {
        Cmd {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Cmd::default()
        }
    }

    /// The command as a person would type it, for messages: the script, or the arguments
    /// joined by spaces, each quoted when the shell would split or expand it.
    pub(crate) fn display(&self) -> String {
        if self.argv.is_empty() {
            return self.script.clone();
        }
        self.argv
            .iter()
            .map(|a| {
                let plain = !a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
                if plain {
                    a.clone()
                } else {
                    format!("'{}'", a.replace('\'', "'\\''"))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How it ended.
#[derive(Clone, Debug)]
pub(crate) struct Finished {
    /// Exit code; `None` when killed by a signal or the timeout.
    pub code: Option<i32>,
    pub timed_out: bool,
    /// stdout and stderr, interleaved as they were read (trimmed to the last 4 KiB).
    pub output: String,
}

impl Finished {
    pub(crate) fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// A one-line account for messages: `exit 3: <last output line>`.
    pub(crate) fn describe(&self) -> String {
        let why = match (self.timed_out, self.code) {
            (true, _) => "timed out (killed)".to_string(),
            (false, Some(c)) => format!("exit {c}"),
            (false, None) => "killed by a signal".to_string(),
        };
        let last = self.output.trim_end().lines().last().unwrap_or("").trim();
        if last.is_empty() {
            why
        } else {
            format!("{why}: {last}")
        }
    }
}

/// A `Cmd` for a script under the root's conventions: on the host with `FLEET_ROOT` set
/// and the working directory at the root, or (`chroot`) inside the root at `/`.
pub(crate) fn under_root(root: &Root, chroot: bool, script: &str) -> Cmd {
    let mut c = Cmd {
        script: script.to_string(),
        ..Cmd::default()
    };
    if let Some(dir) = root.dir() {
        if chroot {
            c.chroot = Some(dir.to_path_buf());
            c.cwd = Some(PathBuf::from("/"));
        } else {
            c.env.push(("FLEET_ROOT".into(), dir.display().to_string()));
            c.cwd = Some(dir.to_path_buf());
        }
    }
    c
}

/// Maps a command's working directory: under the root on the host, as is inside a chroot.
pub(crate) fn map_cwd(root: &Root, chroot: bool, cwd: &str) -> Result<PathBuf, String> {
    if chroot && root.dir().is_some() {
        Ok(PathBuf::from(cwd))
    } else {
        root.resolve(cwd).map_err(|e| format!("cwd: {e}"))
    }
}

/// Makes `c` run inside `dir` with chroot(2), in `cwd` (a path inside it), as `ids` (uid,
/// gid) when given.
pub(crate) fn enter(
    c: &mut Command,
    dir: &std::path::Path,
    cwd: &std::path::Path,
    ids: Option<(u32, u32)>,
) -> Result<(), String> {
    // chroot, then chdir and drop privileges inside it (std would set the uid before
    // running pre_exec, and an unprivileged process cannot chroot).
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let cstr = |p: &std::path::Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|e| format!("bad path {}: {e}", p.display()))
    };
    let dir = cstr(dir)?;
    let cwd = cstr(cwd)?;
    // SAFETY: only async-signal-safe calls (chroot, chdir, setgroups, setgid, setuid)
    // between fork and exec, on memory prepared before the fork.
    unsafe {
        c.pre_exec(move || {
            let check = |rc: libc::c_int| {
                if rc == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            check(libc::chroot(dir.as_ptr()))?;
            check(libc::chdir(cwd.as_ptr()))?;
            if let Some((uid, gid)) = ids {
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setgid(gid))?;
                check(libc::setuid(uid))?;
            }
            Ok(())
        });
    }
    Ok(())
}

/// SIGKILL to the process group `pgid`. Call it only while the group's leader is a child
/// not yet reaped: then the id is still the group's.
fn kill_group(pgid: rustix::process::Pid) {
    // ESRCH (nothing left in the group) is the outcome wanted.
    let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
}

/// An unlinked temp file for a command's output: background children of the command may
/// keep it open (a pipe would block us until they exit).
fn output_file() -> Result<std::fs::File, String> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(".fleet-out-{}-{n}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let _ = std::fs::remove_file(&path);
    Ok(f)
}

/// Runs `/bin/sh -c script` (or `argv` without a shell) in its own process group, waiting
/// at most `timeout` (then the whole group is killed).
pub(crate) fn run(cmd: &Cmd) -> Result<Finished, String> {
    let (program, mut c) = match cmd.argv.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args);
            (program.as_str(), c)
        }
        None => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(&cmd.script);
            ("/bin/sh", c)
        }
    };
    let mut out = output_file()?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    c.stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(err);
    if let Some(dir) = &cmd.chroot {
        let cwd = cmd.cwd.as_deref().unwrap_or(std::path::Path::new("/"));
        enter(&mut c, dir, cwd, cmd.uid_gid)?;
    } else {
        if let Some(cwd) = &cmd.cwd {
            c.current_dir(cwd);
        }
        if let Some((uid, gid)) = cmd.uid_gid {
            c.uid(uid).gid(gid);
        }
    }
    for (k, v) in &cmd.env {
        c.env(k, v);
    }
    if let Some(p) = &cmd.path {
        c.env("PATH", p.join(":"));
    }
    c.process_group(0);
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    drop(c);
    let pid = rustix::process::Pid::from_child(&child);
    let start = Instant::now();
    let mut timed_out = false;
    loop {
        // Wait for the shell to end without reaping it: while it is unreaped its pid, which
        // is the group's id, cannot be reused, so signalling the group cannot hit another.
        use rustix::process::{waitid, WaitId, WaitIdOptions};
        let ended = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        match waitid(WaitId::Pid(pid), ended) {
            Ok(Some(_)) => break,
            Ok(None) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(format!("waiting for command: {}", std::io::Error::from(e))),
        }
        if let Some(t) = cmd.timeout {
            if start.elapsed() >= t && !timed_out {
                timed_out = true;
                kill_group(pid);
            }
        }
        let waited = start.elapsed();
        std::thread::sleep(if waited < Duration::from_millis(50) {
            Duration::from_micros(500)
        } else {
            Duration::from_millis(10)
        });
    }
    if timed_out {
        // Make sure nothing of the group survives (the shell is still unreaped).
        kill_group(pid);
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for command: {e}"))?;
    use std::io::{Seek, SeekFrom};
    let len = out.seek(SeekFrom::End(0)).unwrap_or(0);
    let from = len.saturating_sub(4096);
    let _ = out.seek(SeekFrom::Start(from));
    let mut bytes = Vec::new();
    let _ = out.read_to_end(&mut bytes);
    Ok(Finished {
        code: if timed_out { None } else { status.code() },
        timed_out,
        output: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::process::{waitid, Pid, WaitId, WaitIdOptions};

    /// Whether `pid` runs (a zombie, waiting for a parent to reap it, does not).
    fn running(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| Some(s.rsplit_once(") ")?.1.starts_with(|c| c != 'Z')))
            .unwrap_or(false)
    }

    /// A command past its timeout: its whole group is killed (a background child too), and
    /// the shell is reaped once, after the last signal to the group.
    #[test]
    fn a_timeout_kills_the_group_and_reaps_the_shell() {
        let tmp = tempfile::tempdir().unwrap();
        let pids = tmp.path().join("pids");
        let cmd = Cmd {
            script: format!("sleep 60 & echo $$ $! > '{}'; wait", pids.display()),
            timeout: Some(Duration::from_millis(300)),
            ..Cmd::default()
        };
        let start = Instant::now();
        let done = run(&cmd).unwrap();
        assert!(done.timed_out && done.code.is_none(), "{done:?}");
        assert!(start.elapsed() < Duration::from_secs(30));
        let text = std::fs::read_to_string(&pids).unwrap();
        let ids: Vec<i32> = text
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        let [shell, background] = ids[..] else {
            panic!("two pids: {text:?}")
        };
        let ended = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        let shell = Pid::from_raw(shell).unwrap();
        assert_eq!(
            waitid(WaitId::Pid(shell), ended).map(|_| ()),
            Err(rustix::io::Errno::CHILD),
            "the shell was reaped"
        );
        for _ in 0..100 {
            if !running(background) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the background child {background} of a timed-out command still runs");
    }

    /// `argv` runs the program itself: an argument with shell syntax in it arrives as it
    /// was written.
    #[test]
    fn argv_runs_without_a_shell() {
        let odd = "it's $HOME; `x` | y";
        let done = run(&Cmd::argv(["printf", "%s", odd])).unwrap();
        assert!(done.success(), "{done:?}");
        assert_eq!(done.output, odd);
        assert_eq!(
            Cmd::argv(["virsh", "-c", "qemu:///system", odd]).display(),
            "virsh -c qemu:///system 'it'\\''s $HOME; `x` | y'"
        );
        let missing = run(&Cmd::argv(["/nonexistent/fleet-no-such-tool"])).unwrap_err();
        assert!(
            missing.contains("cannot run /nonexistent/fleet-no-such-tool"),
            "{missing}"
        );
    }

    /// Without a timeout the exit code and the output come back, and nothing is signalled.
    #[test]
    fn a_command_reports_its_code_and_output() {
        let cmd = Cmd {
            script: "echo out; echo err >&2; exit 3".into(),
            timeout: Some(Duration::from_secs(60)),
            ..Cmd::default()
        };
        let done = run(&cmd).unwrap();
        assert_eq!(done.code, Some(3));
        assert!(!done.timed_out);
        assert_eq!(done.output, "out\nerr\n");
    }
}
