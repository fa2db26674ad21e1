//! `fleet push`'s work (REMOTE.md "Push and run"): each chosen node's catalog, applied on the
//! node through the system's OpenSSH client.
//!
//! For each node, over one ssh connection (a ControlMaster opened first; every later step
//! rides on it):
//! 1. *probe*: the node's architecture, whether it has this exact fleet binary, and which of
//!    the catalog's content blobs it lacks (the node's push directory, `--remote-dir`,
//!    default `.cache/fleet` in the login's home, keeps `bin/fleet-<version>-<sha>`,
//!    `content/<sha256>` and `<node>.json`, all private to the login: umask 077);
//! 2. *copy*: one tar stream with the catalog, the missing blobs and, when the node lacks it,
//!    the binary, unpacked into a temporary directory there and moved into place only once
//!    complete (a cut connection leaves no half blob under a hash's name);
//! 3. *apply*: `fleet apply --catalog <node>.json --format json` there (`--noop`, `--root`,
//!    `--run-host-commands`, `--chroot` passed on), its report brought back.
//!
//! A coordinated release (`release`: [`push`] with [`Options::release`]) runs steps 1–2 and
//! then *stages* the release on every node of a batch (`fleet release stage`: unpacked,
//! shared links made, `before_switch` passed, `current` untouched); only when every node of
//! the batch staged it does step 3 run on them (which switches `current` without running
//! `before_switch` again). When one fails, the others *unstage* (the staged directories are
//! removed) and nothing switches; later batches do not start.
//!
//! Each node has its own time limit (`--timeout`) over all its steps; ssh runs with
//! `BatchMode=yes` and `ConnectTimeout`, so a refused login or a wrong host key is that
//! node's failure with ssh's own message, and an unreachable node fails within the connect
//! timeout.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::run::Options as SshOptions;
use super::select::{Compiled, Selection, Target};
use crate::apply::report::ReportDoc;
use crate::catalog::store::ContentStore;

/// What writes a command's stdin (a script, a tar stream).
type Feed<'a> = dyn Fn(&mut dyn Write) -> io::Result<()> + Sync + 'a;

/// The most a node may print on a step's stdout that is kept (a report).
const MAX_OUTPUT: u64 = 64 << 20;

/// How a push runs.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// ssh, parallelism and each node's time limit (`max_fail` and `canary` unused).
    pub ssh: SshOptions,
    pub noop: bool,
    /// `--root` for the apply on the node; `{node}` stands for the node's name.
    pub remote_root: Option<String>,
    /// The node's push directory (relative: to the login's home); `{node}` as above.
    pub remote_dir: String,
    /// Flags passed to the node's `fleet apply` as they are (`--run-host-commands`,
    /// `--chroot`).
    pub apply_flags: Vec<String>,
    /// The binary copied to nodes that lack it.
    pub binary: Binary,
    /// Who deploys (a release's `revisions.log` on the node).
    pub user: String,
    /// A coordinated release of the releases with this title.
    pub release: Option<String>,
    /// Coordinated release in batches of this many nodes (rolling); all at once when None.
    pub batch: Option<usize>,
}

/// This fleet binary, and the name it has in a node's push directory.
#[derive(Clone, Debug)]
pub(crate) struct Binary {
    pub path: PathBuf,
    /// `fleet-<version>-<first 16 hex of its sha256>`: a node keeps one per build.
    pub name: String,
}

impl Binary {
    /// The running executable.
    pub(crate) fn this() -> io::Result<Binary> {
        let path = std::env::current_exe()?;
        let mut hasher = crate::catalog::store::HashingWriter::new(io::sink());
        io::copy(&mut File::open(&path)?, &mut hasher)?;
        let sha = hasher.hex();
        Ok(Binary {
            path,
            name: format!(
                "fleet-{}-{}",
                env!("CARGO_PKG_VERSION"),
                sha.get(..16).unwrap_or(&sha)
            ),
        })
    }
}

/// How one node's push ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Applied; nothing failed.
    Ok,
    /// Reached, and something failed there (the apply, a resource, the staging): why.
    Failed(String),
    /// ssh could not get there: ssh's last line.
    Unreachable(String),
    /// Its time limit ran out.
    TimedOut,
    /// A coordinated release staged here and did not switch: another node failed.
    NotSwitched,
    /// Not started (an earlier batch failed).
    NotRun,
}

impl Status {
    pub(crate) fn is_ok(&self) -> bool {
        *self == Status::Ok
    }

    /// The table's word.
    pub(crate) fn word(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed(_) => "failed",
            Status::Unreachable(_) => "unreachable",
            Status::TimedOut => "timed out",
            Status::NotSwitched => "not switched",
            Status::NotRun => "not run",
        }
    }

    /// Why it is not ok, when there is more to say than the word.
    pub(crate) fn why(&self) -> Option<&str> {
        match self {
            Status::Failed(w) | Status::Unreachable(w) => Some(w),
            _ => None,
        }
    }
}

/// One node's push.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub node: String,
    pub status: Status,
    /// The node's report, as it printed it (JSON), when the apply ran.
    pub report_json: Option<String>,
    pub report: Option<ReportDoc>,
    pub seconds: f64,
    /// What was copied: content blobs, their bytes, and whether the binary went too.
    pub blobs: usize,
    pub bytes: u64,
    pub binary: bool,
}

/// Pushes every selected node, up to `parallel` at once; outcomes in the selection's order.
pub(crate) fn push(sel: &Selection, opts: &Options) -> Vec<Outcome> {
    let control = match ControlDir::new() {
        Ok(c) => c,
        Err(e) => {
            let why = format!("cannot make the ssh control directory: {e}");
            return sel
                .targets
                .iter()
                .map(|t| failed_before(&t.node, Status::Failed(why.clone())))
                .collect();
        }
    };
    let nodes: Vec<Node<'_>> = sel
        .targets
        .iter()
        .zip(&sel.catalogs)
        .enumerate()
        .map(|(i, (target, compiled))| Node::new(i, target, compiled, &control, opts))
        .collect();
    let outcomes = match &opts.release {
        None => each(&nodes, opts, |n| {
            let mut o = n.outcome();
            if let Err(status) = n.connect_and_copy(&sel.store, opts, &mut o) {
                o.status = status;
            } else {
                n.apply(opts, &mut o);
            }
            n.close();
            n.finish(o)
        }),
        Some(release) => coordinated(&nodes, &sel.store, opts, release),
    };
    drop(control);
    outcomes
}

/// `f` on every node, `parallel` at once, in order.
fn each<'a, T: Send>(
    nodes: &'a [Node<'a>],
    opts: &Options,
    f: impl Fn(&Node<'a>) -> T + Sync,
) -> Vec<T> {
    crate::par::map(opts.ssh.parallel.max(1), 1 << 20, nodes, |n| Some(f(n)))
        .expect("start the push threads")
}

/// A coordinated release, batch by batch: copy and stage on every node of the batch; apply
/// (switch) on all when all staged, else unstage where it staged.
fn coordinated(
    nodes: &[Node<'_>],
    store: &ContentStore,
    opts: &Options,
    release: &str,
) -> Vec<Outcome> {
    let batch = opts.batch.unwrap_or(nodes.len()).max(1);
    let mut outcomes = Vec::with_capacity(nodes.len());
    let mut stop = false;
    for chunk in nodes.chunks(batch) {
        if stop {
            outcomes.extend(chunk.iter().map(|n| {
                let mut o = n.outcome();
                o.status = Status::NotRun;
                o
            }));
            continue;
        }
        let staged: Vec<(Outcome, bool)> = each(chunk, opts, |n| {
            let mut o = n.outcome();
            if let Err(status) = n.connect_and_copy(store, opts, &mut o) {
                o.status = status;
                return (o, false);
            }
            match n.stage(opts, release) {
                Ok(()) => (o, true),
                Err(status) => {
                    o.status = status;
                    (o, false)
                }
            }
        });
        let all = staged.iter().all(|(_, s)| *s);
        let done: Vec<Outcome> = each(chunk, opts, |n| {
            let (mut o, was_staged) = staged[n.i - chunk[0].i].clone();
            if all {
                n.apply(opts, &mut o);
            } else if was_staged {
                o.status = match n.unstage(opts, release) {
                    Ok(()) => Status::NotSwitched,
                    Err(Status::Failed(why)) => {
                        Status::Failed(format!("staged, and could not unstage: {why}"))
                    }
                    Err(other) => other,
                };
            }
            n.close();
            n.finish(o)
        });
        stop = done.iter().any(|o| !o.status.is_ok());
        outcomes.extend(done);
    }
    outcomes
}

fn failed_before(node: &str, status: Status) -> Outcome {
    Outcome {
        node: node.to_string(),
        status,
        report_json: None,
        report: None,
        seconds: 0.0,
        blobs: 0,
        bytes: 0,
        binary: false,
    }
}

/// The local directory of the ssh control sockets (0700), removed at the end.
struct ControlDir(PathBuf);

impl ControlDir {
    fn new() -> io::Result<ControlDir> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // Short: a socket's path must fit in 108 bytes.
        let dir = std::env::temp_dir().join(format!("fleet-push-{}-{nanos:x}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(ControlDir(dir))
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One node being pushed.
struct Node<'a> {
    i: usize,
    target: &'a Target,
    compiled: &'a Compiled,
    started: Instant,
    deadline: Instant,
    /// ssh's arguments up to the destination (options, control path).
    ssh: Vec<String>,
    /// ssh's stderr goes here (a file: the backgrounded master keeps it open).
    err: PathBuf,
    /// The push directory and apply root on the node, `{node}` filled in.
    dir: String,
    root: Option<String>,
    opened: std::sync::atomic::AtomicBool,
}

/// What a step on the node gave: its exit status (`None`: killed at the deadline), stdout,
/// and ssh's and the command's stderr.
struct Exec {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Exec {
    /// The last line of stderr (what ssh or the command said last).
    fn last_err(&self) -> String {
        self.stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default()
            .to_string()
    }
}

impl<'a> Node<'a> {
    fn new(
        i: usize,
        target: &'a Target,
        compiled: &'a Compiled,
        control: &ControlDir,
        opts: &Options,
    ) -> Node<'a> {
        let mut ssh = super::run::base_args(&opts.ssh);
        ssh.push("-o".into());
        ssh.push(format!(
            "ControlPath={}",
            control.0.join(format!("n{i}")).display()
        ));
        let fill = |s: &str| s.replace("{node}", &target.node);
        let started = Instant::now();
        Node {
            i,
            target,
            compiled,
            started,
            deadline: started + opts.ssh.timeout,
            ssh,
            err: control.0.join(format!("n{i}.err")),
            dir: fill(&opts.remote_dir),
            root: opts.remote_root.as_deref().map(fill),
            opened: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn outcome(&self) -> Outcome {
        failed_before(&self.target.node, Status::Ok)
    }

    fn finish(&self, mut o: Outcome) -> Outcome {
        o.seconds = self.started.elapsed().as_secs_f64();
        o
    }

    /// Runs ssh with `extra` after the common arguments, `input` written to its stdin.
    fn ssh(&self, extra: &[&str], input: Option<&Feed<'_>>) -> Result<Exec, Status> {
        if Instant::now() >= self.deadline {
            return Err(Status::TimedOut);
        }
        let err = File::create(&self.err).map_err(|e| Status::Failed(format!("{e}")))?;
        let mut child = Command::new("ssh")
            .args(&self.ssh)
            .args(extra)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .map_err(|e| Status::Unreachable(format!("cannot run ssh: {e}")))?;
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        let (code, out) = std::thread::scope(|scope| {
            if let (Some(mut stdin), Some(input)) = (stdin, input) {
                scope.spawn(move || {
                    // A node that stops reading (it failed, or was killed) ends the copy.
                    let _ = input(&mut stdin);
                });
            }
            let reader = scope.spawn(move || {
                let mut buf = Vec::new();
                if let Some(out) = stdout {
                    let _ = out.take(MAX_OUTPUT).read_to_end(&mut buf);
                }
                buf
            });
            let code = loop {
                match child.try_wait() {
                    Ok(Some(s)) => break Some(s.code().unwrap_or(-1)),
                    Ok(None) if Instant::now() >= self.deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break None;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    Err(_) => break None,
                }
            };
            (code, reader.join().unwrap_or_default())
        });
        let stderr = std::fs::read(&self.err)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        Ok(Exec {
            code,
            stdout: out,
            stderr,
        })
    }

    /// Runs a shell command line on the node (over the master connection).
    fn remote(&self, command: &str, input: Option<&Feed<'_>>) -> Result<Exec, Status> {
        let e = self.ssh(&["-T", &self.target.address, "--", command], input)?;
        match e.code {
            None => Err(Status::TimedOut),
            Some(255) => Err(Status::Unreachable(e.last_err())),
            Some(_) => Ok(e),
        }
    }

    /// Opens the master connection, probes, copies what the node lacks.
    fn connect_and_copy(
        &self,
        store: &ContentStore,
        opts: &Options,
        o: &mut Outcome,
    ) -> Result<(), Status> {
        if !self
            .target
            .node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(Status::Failed(format!(
                "{:?} cannot be pushed to: a node name for push is letters, digits, '.', '_' and '-'",
                self.target.node
            )));
        }
        let master = self.ssh(
            &[
                "-o",
                "ControlMaster=yes",
                "-o",
                "ControlPersist=60",
                "-f",
                "-N",
                &self.target.address,
            ],
            None,
        )?;
        match master.code {
            None => return Err(Status::TimedOut),
            Some(0) => self.opened.store(true, std::sync::atomic::Ordering::SeqCst),
            Some(_) => return Err(Status::Unreachable(master.last_err())),
        }
        let hashes = super::agent::content_hashes(&self.compiled.doc);
        let list = hashes.join("\n") + "\n";
        let probe = self.remote(
            &script(
                PROBE,
                &[
                    &self.dir,
                    &opts.binary.name,
                    self.root.as_deref().unwrap_or(""),
                ],
            ),
            Some(&|w: &mut dyn Write| w.write_all(list.as_bytes())),
        )?;
        if probe.code != Some(0) {
            return Err(Status::Failed(format!(
                "cannot prepare {} on the node: {}",
                self.dir,
                probe.last_err()
            )));
        }
        let text = String::from_utf8_lossy(&probe.stdout);
        let mut lines = text.lines();
        let arch = lines.next().unwrap_or_default().trim().to_string();
        let has_binary = lines.next() == Some("binary");
        let missing: Vec<String> = lines
            .map(str::trim)
            .filter(|h| hashes.iter().any(|x| x == h))
            .map(str::to_string)
            .collect();
        if !has_binary && arch != std::env::consts::ARCH {
            return Err(Status::Failed(format!(
                "the node is {arch}, this fleet is built for {}: install fleet {} there",
                std::env::consts::ARCH,
                env!("CARGO_PKG_VERSION")
            )));
        }
        for sha in &missing {
            if store.len(sha).is_none() {
                return Err(Status::Failed(format!("content {sha} is not in the store")));
            }
        }
        o.blobs = missing.len();
        o.bytes = missing.iter().filter_map(|s| store.len(s)).sum();
        o.binary = !has_binary;
        let write = |w: &mut dyn Write| -> io::Result<()> {
            let mut tar = tar::Builder::new(w);
            let json = self.compiled.json.as_bytes();
            append(
                &mut tar,
                "catalog.json",
                0o600,
                json.len() as u64,
                &mut &json[..],
            )?;
            for sha in &missing {
                let len = store.len(sha).unwrap_or(0);
                let mut r = store.open(sha).ok_or_else(|| io::Error::other("gone"))??;
                append(&mut tar, &format!("content/{sha}"), 0o600, len, &mut r)?;
            }
            if !has_binary {
                let mut f = File::open(&opts.binary.path)?;
                let len = f.metadata()?.len();
                let name = format!("bin/{}", opts.binary.name);
                append(&mut tar, &name, 0o700, len, &mut f)?;
            }
            tar.into_inner()?.flush()
        };
        let copy = self.remote(
            &script(
                UPLOAD,
                &[&self.dir, &self.catalog_name(), &self.target.node],
            ),
            Some(&write),
        )?;
        if copy.code != Some(0) {
            return Err(Status::Failed(format!(
                "cannot copy the catalog to the node: {}",
                copy.last_err()
            )));
        }
        Ok(())
    }

    /// `fleet <args>` on the node with its copied binary; `FLEET_DEPLOY_USER` set.
    fn fleet(&self, opts: &Options, args: &[&str]) -> Result<Exec, Status> {
        let mut line = format!(
            "FLEET_DEPLOY_USER={} {}",
            quote(&opts.user),
            quote(&format!("{}/bin/{}", self.dir, opts.binary.name))
        );
        for a in args {
            line.push(' ');
            line.push_str(&quote(a));
        }
        if let Some(root) = &self.root {
            line.push_str(" --root ");
            line.push_str(&quote(root));
        }
        self.remote(&line, None)
    }

    /// Named by the node and the sha256 of the catalog's text: pushes of other catalogs to
    /// the same node at the same time (another operator, another root) cannot swap it.
    fn catalog_name(&self) -> String {
        let sha = crate::model::digest::sha256_hex(self.compiled.json.as_bytes());
        format!("{}-{}.json", self.target.node, &sha[..16])
    }

    fn catalog_path(&self) -> String {
        format!("{}/{}", self.dir, self.catalog_name())
    }

    /// The apply on the node and its report.
    fn apply(&self, opts: &Options, o: &mut Outcome) {
        let catalog = self.catalog_path();
        let mut args = vec!["apply", "--catalog", &catalog, "--format", "json"];
        if opts.noop {
            args.push("--noop");
        }
        args.extend(opts.apply_flags.iter().map(String::as_str));
        let e = match self.fleet(opts, &args) {
            Ok(e) => e,
            Err(status) => {
                o.status = status;
                return;
            }
        };
        let text = String::from_utf8_lossy(&e.stdout).trim().to_string();
        let report: Option<ReportDoc> = serde_json::from_str(&text).ok();
        o.status = match (&report, e.code) {
            (Some(r), Some(0)) if r.summary.failed == 0 => Status::Ok,
            (Some(r), _) if r.summary.failed > 0 => {
                let first = r
                    .events
                    .iter()
                    .find(|e| e.status == "failed")
                    .map(|e| format!(", first {}: {}", e.resource, e.message))
                    .unwrap_or_default();
                Status::Failed(format!(
                    "{} of {} resources failed{first}",
                    r.summary.failed, r.summary.resources
                ))
            }
            (_, Some(code)) => {
                let said = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                    .unwrap_or_else(|| e.last_err());
                Status::Failed(format!("fleet apply exited {code}: {said}"))
            }
            (_, None) => Status::TimedOut,
        };
        if report.is_some() {
            o.report_json = Some(text);
        }
        o.report = report;
    }

    /// `fleet release stage` of the releases titled `release`.
    fn stage(&self, opts: &Options, release: &str) -> Result<(), Status> {
        self.release_step(opts, "stage", release)
    }

    fn unstage(&self, opts: &Options, release: &str) -> Result<(), Status> {
        self.release_step(opts, "unstage", release)
    }

    fn release_step(&self, opts: &Options, step: &str, release: &str) -> Result<(), Status> {
        let catalog = self.catalog_path();
        let mut args = vec!["release", step, "--catalog", &catalog, release];
        args.extend(opts.apply_flags.iter().map(String::as_str));
        let e = self.fleet(opts, &args)?;
        match e.code {
            Some(0) => Ok(()),
            _ => Err(Status::Failed(format!("{step}: {}", e.last_err()))),
        }
    }

    /// Closes the master connection.
    fn close(&self) {
        if self.opened.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let _ = self.ssh(&["-O", "exit", &self.target.address], None);
        }
    }
}

/// Appends one regular file to the tar stream.
fn append(
    tar: &mut tar::Builder<&mut dyn Write>,
    name: &str,
    mode: u32,
    len: u64,
    data: &mut dyn Read,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(len);
    h.set_mode(mode);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mtime(0);
    tar.append_data(&mut h, name, data.take(len))
}

/// Makes the push directory and the root to apply under (`$3`, when given), prints the
/// architecture, whether the binary (`$2`) is there, and which of the hashes on stdin are
/// not in `content/`.
const PROBE: &str = r#"umask 077
d=$1
mkdir -p "$d/content" "$d/bin" || exit 3
if [ -n "$3" ]; then (umask 022; mkdir -p "$3") || exit 3; fi
uname -m
if [ -x "$d/bin/$2" ]; then echo binary; else echo nobinary; fi
while read -r h; do
  [ -z "$h" ] || [ -f "$d/content/$h" ] || echo "$h"
done
"#;

/// Unpacks the tar stream on stdin into a temporary directory, then moves blobs, binary and
/// catalog (as `$2`) into the push directory `$1`; the node's (`$3`) catalogs of earlier
/// pushes go once they are a day old.
const UPLOAD: &str = r#"set -e
umask 077
d=$1
t=$(mktemp -d "$d/.incoming.XXXXXX")
trap 'rm -rf "$t"' EXIT
tar -xmf - -C "$t"
for sub in content bin; do
  if [ -d "$t/$sub" ]; then
    for f in "$t/$sub"/*; do
      if [ -f "$f" ]; then mv -f "$f" "$d/$sub/"; fi
    done
  fi
done
mv -f "$t/catalog.json" "$d/$2"
find "$d" -maxdepth 1 -name "$3-*.json" -mtime +1 -exec rm -f {} + || true
"#;

/// `sh -c SCRIPT fleet-push ARGS…` as one quoted command line.
pub(crate) fn script(body: &str, args: &[&str]) -> String {
    let mut line = format!("sh -c {} fleet-push", quote(body));
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    line
}

/// `s` quoted for a POSIX shell.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_remote_shell() {
        let line = script("printf '%s|' \"$@\"", &["a b", "it's", "$HOME", ""]);
        let out = Command::new("sh").arg("-c").arg(&line).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a b|it's|$HOME||");
    }

    #[test]
    fn statuses_have_words_and_reasons() {
        assert_eq!(Status::NotSwitched.word(), "not switched");
        assert_eq!(Status::Unreachable("x".into()).why(), Some("x"));
        assert!(Status::Ok.is_ok() && !Status::NotRun.is_ok());
    }
}
