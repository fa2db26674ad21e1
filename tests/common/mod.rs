//! Helpers shared by the integration test binaries: run the built `fleet`, with a timeout.
#![allow(dead_code)] // each test binary uses its own part of this

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A test failure whose text prints as is (datatest-stable shows errors with `Debug`).
pub(crate) struct Failure(pub String);

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// Fails a datatest-stable test with `message`.
pub(crate) fn fail<T>(message: impl Into<String>) -> datatest_stable::Result<T> {
    Err(Box::new(Failure(message.into())))
}

/// The crate root.
pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An absolute path for a path datatest-stable hands over (relative to the crate root).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    root().join(path)
}

/// The `fleet` binary Cargo built for these tests.
pub(crate) fn fleet() -> &'static str {
    env!("CARGO_BIN_EXE_fleet")
}

/// What a finished `fleet` run left behind.
pub(crate) struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The exit code; None when a signal (a stack overflow, an abort) ended the process.
    pub(crate) fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// A one-paragraph account for failure messages.
    pub(crate) fn describe(&self) -> String {
        let clip = |s: &str| s.chars().take(2000).collect::<String>();
        format!(
            "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            clip(&self.stdout),
            clip(&self.stderr)
        )
    }
}

/// Runs `fleet ARGS` in `dir` with plain output (no colour), killing it after `timeout`.
/// `Err` says it hung.
pub(crate) fn run_fleet(dir: &Path, args: &[&str], timeout: Duration) -> Result<Run, String> {
    let mut child = Command::new(fleet())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("FLEET_BLESS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", fleet()))?;
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "`fleet {}` in {} did not finish within {timeout:?}",
                args.join(" "),
                dir.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    Ok(Run {
        status,
        stdout,
        stderr,
    })
}
