//! Shared helpers for the apply tests: sandbox roots, hand-written catalogs, running the
//! `fleet` binary, and byte-for-byte snapshots of a tree.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

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

pub(crate) struct Run {
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

pub(crate) fn fleet(args: &[&str]) -> Run {
    fleet_env(args, &[])
}

/// [`fleet`] with extra environment variables.
pub(crate) fn fleet_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_fleet"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
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
