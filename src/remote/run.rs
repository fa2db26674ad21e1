//! `fleet run`'s work (REMOTE.md "Push and run"): one command on many nodes through the
//! system's OpenSSH client, up to `parallel` at once, each node's output lines handed to the
//! caller as they arrive, and one outcome per node.
//!
//! ssh runs with `BatchMode=yes` (never a password prompt: a refused login fails at once with
//! ssh's own message) and `ConnectTimeout` (an unreachable host fails, never hangs); a node
//! that takes longer than its time limit is killed and counted as timed out. ssh's exit
//! status 255 is its own failure (unreachable, host key mismatch, refused login); any other
//! is the command's.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::select::Target;

/// How the command is run.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// Nodes at once.
    pub parallel: usize,
    /// Stop starting nodes after this many failures.
    pub max_fail: Option<usize>,
    /// Run this many nodes first (in name order); stop if any of them fails.
    pub canary: Option<usize>,
    /// Each node's time limit.
    pub timeout: Duration,
    /// Seconds for ssh's connection (`ConnectTimeout`).
    pub connect_timeout: u64,
    /// `-F FILE`.
    pub ssh_config: Option<std::path::PathBuf>,
    /// `-o K=V` each.
    pub ssh_options: Vec<String>,
}

/// How one node's command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Exit 0.
    Ok,
    /// The command's exit status (not 0).
    Failed(i32),
    /// ssh could not run it there (its exit status 255): the last line ssh printed.
    Unreachable(String),
    /// Killed at the time limit.
    TimedOut,
    /// Not started: an earlier failure stopped the run (`--max-fail`, `--canary`).
    NotRun,
}

impl Status {
    pub(crate) fn is_ok(&self) -> bool {
        *self == Status::Ok
    }
}

/// One node's outcome: its status, seconds, and everything it printed (stdout and stderr
/// interleaved as they arrived, for `--fold`).
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub node: String,
    pub status: Status,
    pub seconds: f64,
    pub output: String,
}

/// One line a node printed.
pub(crate) struct Line<'a> {
    pub node: &'a str,
    pub text: &'a str,
    pub stderr: bool,
}

/// ssh's options every connection gets: `-F`, `BatchMode=yes`, `ConnectTimeout`, the user's
/// `-o`s.
pub(crate) fn base_args(opts: &Options) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(f) = &opts.ssh_config {
        args.push("-F".to_string());
        args.push(f.display().to_string());
    }
    for o in [
        "BatchMode=yes".to_string(),
        format!("ConnectTimeout={}", opts.connect_timeout),
    ] {
        args.push("-o".into());
        args.push(o);
    }
    for o in &opts.ssh_options {
        args.push("-o".into());
        args.push(o.clone());
    }
    args
}

/// The ssh command line for `target` and `command` (everything but the program name).
pub(crate) fn ssh_args(target: &Target, command: &[String], opts: &Options) -> Vec<String> {
    let mut args = base_args(opts);
    args.push("-T".into());
    args.push(target.address.clone());
    args.push("--".into());
    args.extend(command.iter().cloned());
    args
}

/// Runs `command` on every target; `line` gets each output line as it arrives (from several
/// threads, one line at a time). Outcomes come back in the targets' order.
pub(crate) fn run(
    targets: &[Target],
    command: &[String],
    opts: &Options,
    line: &(dyn Fn(Line<'_>) + Sync),
) -> Vec<Outcome> {
    let outcomes: Vec<Mutex<Option<Outcome>>> = targets.iter().map(|_| Mutex::new(None)).collect();
    let failures = AtomicUsize::new(0);
    let stopped = std::sync::atomic::AtomicBool::new(false);
    let canary = opts.canary.unwrap_or(0).min(targets.len());
    // The canaries, then the rest (one wave without canaries).
    let mut waves: Vec<std::ops::Range<usize>> = Vec::with_capacity(2);
    if canary > 0 {
        waves.push(0..canary);
    }
    waves.push(canary..targets.len());
    for (w, wave) in waves.into_iter().enumerate() {
        if w > 0 && failures.load(Ordering::SeqCst) > 0 {
            stopped.store(true, Ordering::SeqCst);
        }
        let next = AtomicUsize::new(wave.start);
        std::thread::scope(|scope| {
            for _ in 0..opts.parallel.max(1).min(wave.len().max(1)) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= wave.end {
                        return;
                    }
                    let t = &targets[i];
                    let limit_hit = opts
                        .max_fail
                        .is_some_and(|m| failures.load(Ordering::SeqCst) >= m);
                    let outcome = if stopped.load(Ordering::SeqCst) || limit_hit {
                        Outcome {
                            node: t.node.clone(),
                            status: Status::NotRun,
                            seconds: 0.0,
                            output: String::new(),
                        }
                    } else {
                        let o = run_one(t, command, opts, line);
                        if !o.status.is_ok() {
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                        o
                    };
                    *outcomes[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
                });
            }
        });
    }
    outcomes
        .into_iter()
        .zip(targets)
        .map(|(o, t)| {
            o.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or(Outcome {
                    node: t.node.clone(),
                    status: Status::NotRun,
                    seconds: 0.0,
                    output: String::new(),
                })
        })
        .collect()
}

/// One node: ssh, its two output streams read line by line, the time limit.
fn run_one(
    target: &Target,
    command: &[String],
    opts: &Options,
    line: &(dyn Fn(Line<'_>) + Sync),
) -> Outcome {
    let started = Instant::now();
    let done = |status, output| Outcome {
        node: target.node.clone(),
        status,
        seconds: started.elapsed().as_secs_f64(),
        output,
    };
    // `{node}` in the command stands for the node's name (as in push's --remote-root).
    let command: Vec<String> = command
        .iter()
        .map(|c| c.replace("{node}", &target.node))
        .collect();
    let spawned = Command::new("ssh")
        .args(ssh_args(target, &command, opts))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return done(
                Status::Unreachable(format!("cannot run ssh: {e}")),
                String::new(),
            )
        }
    };
    let output = Arc::new(Mutex::new(String::new()));
    let last_err = Arc::new(Mutex::new(String::new()));
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let status = std::thread::scope(|scope| {
        let pump = |pipe: Box<dyn std::io::Read + Send>, stderr: bool| {
            let output = output.clone();
            let last_err = last_err.clone();
            move || {
                for text in BufReader::new(pipe).lines().map_while(Result::ok) {
                    line(Line {
                        node: &target.node,
                        text: &text,
                        stderr,
                    });
                    let mut o = output.lock().unwrap_or_else(|e| e.into_inner());
                    o.push_str(&text);
                    o.push('\n');
                    if stderr {
                        *last_err.lock().unwrap_or_else(|e| e.into_inner()) = text;
                    }
                }
            }
        };
        if let Some(o) = out {
            scope.spawn(pump(Box::new(o), false));
        }
        if let Some(e) = err {
            scope.spawn(pump(Box::new(e), true));
        }
        loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if started.elapsed() >= opts.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break None,
            }
        }
    });
    let output = std::mem::take(&mut *output.lock().unwrap_or_else(|e| e.into_inner()));
    let status = match status.map(|s| s.code()) {
        None => Status::TimedOut,
        Some(Some(0)) => Status::Ok,
        Some(Some(255)) => {
            let why = last_err.lock().unwrap_or_else(|e| e.into_inner()).clone();
            Status::Unreachable(if why.is_empty() {
                "ssh failed".into()
            } else {
                why
            })
        }
        Some(Some(n)) => Status::Failed(n),
        Some(None) => Status::Failed(-1),
    };
    done(status, output)
}

/// `--fold`: the outcomes grouped by identical output, in order of first appearance: (nodes,
/// output).
pub(crate) fn fold(outcomes: &[Outcome]) -> Vec<(Vec<String>, String)> {
    let mut groups: Vec<(Vec<String>, String)> = Vec::new();
    for o in outcomes.iter().filter(|o| o.status != Status::NotRun) {
        match groups.iter_mut().find(|(_, out)| *out == o.output) {
            Some((nodes, _)) => nodes.push(o.node.clone()),
            None => groups.push((vec![o.node.clone()], o.output.clone())),
        }
    }
    groups
}
