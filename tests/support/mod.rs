//! Helpers shared by every integration test binary: the one way to run the built `fleet`
//! ([`fleet`], [`fleet_in`], [`fleet_env`], and [`command`] + [`run`] for the rest), sandbox
//! roots with hand-written catalogs, byte-for-byte snapshots of a tree, and the failure type of
//! the datatest-stable harnesses.
#![allow(dead_code)] // each test binary uses its own part of this

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The crate root (every run starts there unless told otherwise).
pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An absolute path for a path datatest-stable hands over (relative to the crate root).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    root().join(path)
}

/// The `fleet` binary Cargo built for these tests (for command lines handed to another
/// program: `script -c`, the conformance `verify` script).
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fleet")
}

/// `fleet` as a [`Command`] with the settings every run shares: the crate root as working
/// directory, plain output (`NO_COLOR=1`), no `FLEET_BLESS` from the caller, stdin closed.
/// Add arguments, a `current_dir`, `env`s, then [`run`] it, or `spawn` it when the test talks
/// to the process while it runs (LSP, `--wait`, kill tests).
pub(crate) fn command() -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("FLEET_BLESS")
        .stdin(Stdio::null());
    cmd
}

/// How long [`run`] lets a `fleet` run take before it kills it and fails the test.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(600);

/// `fleet ARGS` in the crate root.
pub(crate) fn fleet<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Run {
    let mut cmd = command();
    cmd.args(args);
    run(&mut cmd)
}

/// `fleet ARGS` in `dir`.
pub(crate) fn fleet_in<S: AsRef<OsStr>>(dir: &Path, args: impl IntoIterator<Item = S>) -> Run {
    let mut cmd = command();
    cmd.args(args).current_dir(dir);
    run(&mut cmd)
}

/// `fleet ARGS` in the crate root with extra environment variables.
pub(crate) fn fleet_env<S: AsRef<OsStr>>(
    args: impl IntoIterator<Item = S>,
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = command();
    cmd.args(args).envs(env.iter().copied());
    run(&mut cmd)
}

/// Runs `cmd` (from [`command`]) to the end; panics if it cannot start or hangs past
/// [`TIMEOUT`].
pub(crate) fn run(cmd: &mut Command) -> Run {
    run_within(cmd, TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `cmd` (from [`command`]), killing it after `timeout`; `Err` says it did not start or
/// hung (the datatest harnesses report that as a failure instead of panicking).
pub(crate) fn run_within(cmd: &mut Command, timeout: Duration) -> Result<Run, String> {
    let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
    let dir = cmd.get_current_dir().unwrap_or(root());
    let line = format!("`fleet {}` in {}", args.join(" "), dir.display());
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin()))?;
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
            return Err(format!("{line} did not finish within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    Ok(Run {
        status,
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    })
}

/// What a finished `fleet` run left behind.
pub(crate) struct Run {
    pub status: ExitStatus,
    /// The exit code; -1 when a signal (a stack overflow, an abort) ended the process.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The Report JSON (for runs with `--format json`).
    pub(crate) fn report(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }

    /// A one-paragraph account for failure messages (output clipped).
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

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

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

pub(crate) fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A temp dir with `root/` (the sandbox) and `cat/` (catalog + `content/`).
pub(crate) struct Sandbox {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub cat: PathBuf,
}

impl Sandbox {
    pub(crate) fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let cat = tmp.path().join("cat");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(cat.join("content")).unwrap();
        Sandbox { tmp, root, cat }
    }

    /// Stores a blob in the content store, returning its sha256.
    pub(crate) fn blob(&self, bytes: &[u8]) -> String {
        let sha = sha256_hex(bytes);
        std::fs::write(self.cat.join("content").join(&sha), bytes).unwrap();
        sha
    }

    /// Writes a catalog of `resources` (`[type, title, params]`) and `edges`
    /// (`[from, to, refresh]`) as `cat/<name>.json`.
    pub(crate) fn catalog(
        &self,
        name: &str,
        resources: &[(&str, &str, Value)],
        edges: &[(&str, &str, bool)],
    ) -> PathBuf {
        let res: Vec<Value> = resources
            .iter()
            .map(|(k, t, p)| json!({"type": k, "title": t, "params": p, "tags": [k], "source": {"file": "test.fleet", "line": 1, "column": 1}}))
            .collect();
        let edges: Vec<Value> = edges
            .iter()
            .map(|(f, t, r)| json!({"from": f, "to": t, "refresh": r}))
            .collect();
        let doc =
            json!({"format": 1, "node": "test", "version": "", "resources": res, "edges": edges});
        let path = self.cat.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        path
    }

    /// Runs `fleet apply --catalog CAT --root ROOT --detailed-exitcodes EXTRA…`.
    pub(crate) fn apply(&self, catalog: &Path, extra: &[&str]) -> Run {
        let mut args = vec![
            "apply",
            "--catalog",
            catalog.to_str().unwrap(),
            "--root",
            self.root.to_str().unwrap(),
            "--detailed-exitcodes",
        ];
        args.extend_from_slice(extra);
        fleet(&args)
    }

    /// [`Sandbox::apply`] with extra environment variables.
    pub(crate) fn apply_env(&self, catalog: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let mut args = vec![
            "apply",
            "--catalog",
            catalog.to_str().unwrap(),
            "--root",
            self.root.to_str().unwrap(),
            "--detailed-exitcodes",
        ];
        args.extend_from_slice(extra);
        fleet_env(&args, env)
    }

    /// The real path of a catalog path.
    pub(crate) fn p(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    pub(crate) fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.p(path)).unwrap()
    }

    pub(crate) fn write(&self, path: &str, text: &str) {
        let p = self.p(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<String, String> {
        snapshot(&self.root)
    }
}

/// Every entry under `dir`: kind, mode, owner, and content hash or link target.
pub(crate) fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let md = std::fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(base).unwrap().display().to_string();
        let meta = format!("{:o} {}:{}", md.mode(), md.uid(), md.gid());
        if md.file_type().is_symlink() {
            out.insert(
                rel,
                format!(
                    "link {meta} -> {}",
                    std::fs::read_link(&p).unwrap().display()
                ),
            );
        } else if md.is_dir() {
            out.insert(rel, format!("dir {meta}"));
            walk(base, &p, out);
        } else {
            out.insert(
                rel,
                format!("file {meta} {}", sha256_hex(&std::fs::read(&p).unwrap())),
            );
        }
    }
}

/// Fails loudly when a tool the test needs is missing (CI installs them with
/// `scripts/install-test-deps.sh`).
pub(crate) fn require_tool(name: &str) {
    assert!(
        which(name).is_some(),
        "{name} is not installed: run scripts/install-test-deps.sh"
    );
}

/// Where a tool is: on `PATH`, or in `/usr/sbin` or `/sbin`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Copies `programs` from this host into `root`, each with the libraries `ldd` says it loads,
/// at the path given and at the one its symlinks lead to (a root to chroot into, holding just
/// them: `/bin/sh` gives `bin/sh` and `usr/bin/dash`).
pub(crate) fn copy_programs(root: &Path, programs: &[&str]) {
    for program in programs {
        let mut files = vec![PathBuf::from(program)];
        let ldd = Command::new("ldd")
            .arg(program)
            .output()
            .expect("ldd is needed to build a chroot");
        for word in String::from_utf8_lossy(&ldd.stdout).split_whitespace() {
            if word.starts_with('/') {
                files.push(word.into());
            }
        }
        for f in files {
            let real = std::fs::canonicalize(&f).unwrap();
            for p in [&f, &real] {
                let dest = root.join(p.strip_prefix("/").unwrap());
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::copy(&real, &dest).unwrap();
            }
        }
    }
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
