//! The install server (PROVISION.md): `fleet provision` turns the fleet's `provision`
//! records and install profiles into the files real boot and install tools read — dnsmasq
//! (DHCP static hosts + TFTP), pxelinux and GRUB network configs, installer answer files,
//! libvirt domains — staged beside the output directory and swapped in only when complete.
//!
//! - [`collect`]: evaluates the provisioned nodes and their profiles into [`Node`]s, with
//!   every problem as a diagnostic;
//! - [`domain`]: a node's libvirt domain XML and where its disk and interface go;
//! - [`render`]: the output tree as bytes in memory (pure, deterministic);
//! - [`stage`]: writes that tree beside the output directory and swaps it in;
//! - [`state`]: `installed.json` (nodes that finished installing boot from disk);
//! - [`wire`]: `provision.json`, the record of what was written;
//! - [`serve`]: `fleet provision serve`, the HTTP server for installers;
//! - [`vm`]: `fleet provision vm`, a node's VM created on its libvirt host with `virsh`.

pub(crate) mod collect;
pub(crate) mod domain;
pub(crate) mod render;
pub(crate) mod serve;
pub(crate) mod stage;
pub(crate) mod state;
pub(crate) mod vm;
pub(crate) mod wire;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::model::value::Value;

use crate::diag::Diagnostic;
use crate::program::Program;

pub(crate) use collect::{is_url, Vm};

/// What `fleet provision` was asked for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    /// `--out DIR`: the output tree.
    pub out: PathBuf,
    /// `--server-ip IP`: the install server's address (the TFTP `next-server`, and the
    /// default HTTP URL's host).
    pub server_ip: Option<IpAddr>,
    /// `--http URL`: where `provision serve` is reached (default `http://<server-ip>/`).
    pub http: Option<String>,
    /// `--node PATTERN…`: only these nodes (globs with `*` and `?`); empty: every node.
    pub nodes: Vec<String>,
    /// `--proxy-dhcp`: answer only PXE requests; the network's DHCP server hands out the
    /// addresses.
    pub proxy_dhcp: bool,
    /// Where the Debian boot-loader files are looked for (`/` normally; a test root).
    pub boot_files_root: PathBuf,
    /// `--catalog-server URL…`: installed machines enrol with the catalog servers
    /// (`$server.enrol` in the answer files; [`Enrol`]).
    pub enrol: Option<Enrol>,
    /// `--vm-pool`, `--vm-network`: where the libvirt domains' disks and interfaces go.
    pub vm: domain::Layout,
}

/// Why `fleet provision` wrote nothing.
#[derive(Debug)]
pub(crate) enum Error {
    /// The manifests or the profiles have problems (diagnostics with spans).
    Diagnostics(Vec<Diagnostic>),
    /// The invocation cannot work (say, an answer file but no server address).
    Usage(String),
    /// Reading or writing the tree failed.
    Io(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Diagnostics(d) => write!(f, "{} problem(s) in the manifests", d.len()),
            Error::Usage(m) | Error::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// What one run wrote.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The nodes in the tree, by name.
    pub nodes: Vec<String>,
    /// How many files the tree holds.
    pub files: usize,
    /// Warnings found on the way (the run still succeeded).
    pub warnings: Vec<Diagnostic>,
}

/// `fleet provision --out DIR …`: collects, renders, stages and swaps in the tree.
pub(crate) fn run(program: &Program, opts: &Options) -> Result<Outcome, Error> {
    generate(program, opts, None).map(|(outcome, _)| outcome)
}

/// How a node that is to be reinstalled starts its installer, for `provision reinstall`.
#[derive(Clone, Debug)]
pub(crate) struct Reinstall {
    pub node: String,
    /// Where ssh reaches it: its record's `ip`, else its `hostname`.
    pub address: String,
    pub profile: String,
    /// The profile's kernel and initrd: an absolute path on this machine, or an http(s) URL.
    pub kernel: String,
    pub initrd: String,
    /// The kernel command line (the profile's `kernel_args` and the answer file's URL).
    pub args: String,
}

/// `fleet provision reinstall NODE --netboot` and the first step of a reinstall: takes
/// `node` out of `installed.json` and rewrites the tree as [`run`] does (so its boot entries
/// start the installer again and its answer file is served); returns how it starts its
/// installer. Nothing changes when the node has no record or profile, has
/// `netboot = false`, or the tree cannot be written.
pub(crate) fn netboot(
    program: &Program,
    opts: &Options,
    node: &str,
) -> Result<(Outcome, Reinstall), Error> {
    let (outcome, reinstall) = generate(program, opts, Some(node))?;
    let reinstall = reinstall.ok_or_else(|| Error::Usage(format!("node {node}: no install")))?;
    Ok((outcome, reinstall))
}

/// [`run`], and with `netboot` that node's way back to its installer.
fn generate(
    program: &Program,
    opts: &Options,
    netboot: Option<&str>,
) -> Result<(Outcome, Option<Reinstall>), Error> {
    let out = absolute(&opts.out)?;
    let mut installed = state::read_installed(&out).map_err(Error::Io)?;
    let mut server = Server::new(opts.server_ip, opts.http.as_deref()).map_err(Error::Usage)?;
    if let Some(e) = &opts.enrol {
        if server.http.is_none() {
            return Err(Error::Usage(
                "--catalog-server needs --http URL or --server-ip IP: the installed machines fetch fleet from provision serve".into(),
            ));
        }
        // The URL goes into a root shell script on every new machine: nothing a shell
        // would read as more than a word.
        let http = server.http.as_deref().unwrap_or_default();
        if http.contains(['"', '\'', '\\', '$', '`', ' ', ';', '&', '|']) {
            return Err(Error::Usage(format!(
                "--http {http}: with --catalog-server, the URL may not hold quotes, `$`, `;`, `&`, `|`, `\\` or spaces"
            )));
        }
        server.enrol = Some(e.clone());
    }
    let (nodes, diags) = collect::collect(program, opts, &server);
    if crate::diag::has_errors(&diags) {
        return Err(Error::Diagnostics(diags));
    }
    let reinstall = match netboot {
        None => None,
        Some(name) => {
            installed.remove(name);
            Some(reinstall_of(&nodes, name, &server)?)
        }
    };
    let tree = render::tree(&nodes, &out, &server, opts, &installed).map_err(Error::Usage)?;
    let files = tree.len();
    stage::commit(&out, tree).map_err(Error::Io)?;
    if netboot.is_some() {
        state::write_installed(&out, &installed).map_err(Error::Io)?;
    }
    let outcome = Outcome {
        nodes: nodes.iter().map(|n| n.name.clone()).collect(),
        files,
        warnings: diags,
    };
    Ok((outcome, reinstall))
}

/// The installer start of node `name` among `nodes`; a usage error when it cannot have one.
fn reinstall_of(nodes: &[collect::Node], name: &str, server: &Server) -> Result<Reinstall, Error> {
    let Some(n) = nodes.iter().find(|n| n.name == name) else {
        return Err(Error::Usage(format!(
            "node {name} has no provision record (or is not among the --node patterns)"
        )));
    };
    let Some((pname, p)) = &n.profile else {
        return Err(Error::Usage(format!(
            "node {name} has no install profile: nothing to reinstall it with"
        )));
    };
    if !n.netboot {
        return Err(Error::Usage(format!(
            "node {name} has netboot = false: fleet provision serves no installer for it \
             (set netboot = true in its provision record to reinstall it)"
        )));
    }
    let i = render::install(n, pname, p, server).map_err(Error::Usage)?;
    let address = match n.ip {
        Some((ip, _)) => ip.to_string(),
        None => n.hostname.clone(),
    };
    Ok(Reinstall {
        node: n.name.clone(),
        address,
        profile: pname.clone(),
        kernel: i.kernel_source,
        initrd: i.initrd_source,
        args: i.args,
    })
}

/// How an installed machine joins the catalog servers: the answer file's last step fetches
/// this fleet binary and the CA certificate from `provision serve` (`http/fleet/`), asks
/// for its certificate (`fleet agent --bootstrap`, with the node's one-time token when
/// there is one), and enables the agent's systemd unit for its first boot.
#[derive(Clone, Debug, Default)]
pub(crate) struct Enrol {
    /// `--catalog-server URL` each.
    pub servers: Vec<String>,
    /// `--ca-cert FILE`: the fleet CA's certificate, served as `fleet/ca.crt`.
    pub ca_cert: PathBuf,
    /// `--tokens FILE`: node name to its enrolment token (`fleet ca token NODE`).
    pub tokens: std::collections::BTreeMap<String, String>,
    /// The fleet binary the machines install, served as `fleet/fleet` (this one).
    pub binary: PathBuf,
}

impl Enrol {
    /// Reads a `--tokens` file: `NODE TOKEN` per line (`#` comments and blank lines
    /// skipped).
    pub(crate) fn read_tokens(
        path: &std::path::Path,
    ) -> Result<std::collections::BTreeMap<String, String>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut out = std::collections::BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(node), Some(token), None)
                    if token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
                {
                    out.insert(node.to_string(), token.to_string());
                }
                _ => {
                    return Err(format!(
                    "{}:{}: expected `NODE TOKEN` (the token as `fleet ca token NODE` prints it)",
                    path.display(),
                    i + 1
                ))
                }
            }
        }
        Ok(out)
    }

    /// The shell script (POSIX sh on one line, without single quotes, so that an answer file
    /// can wrap it in `in-target sh -c '…'`) that enrols `node`, from the base URL `http`. `$FLEET_TARGET`, when
    /// set, is the installed system's root as seen from where the script runs.
    pub(crate) fn script(&self, node: &str, http: &str) -> String {
        let get = |url: &str, to: &str| {
            format!("wget -q -O \"{to}\" \"{url}\" || curl -fsS -o \"{to}\" \"{url}\"")
        };
        let servers: String = self
            .servers
            .iter()
            .map(|s| format!(" --server \"{s}\""))
            .collect();
        let token = self
            .tokens
            .get(node)
            .map(|t| format!(" --token \"{t}\""))
            .unwrap_or_default();
        let unit = format!(
            "[Unit]\\nDescription=fleet agent\\nWants=network-online.target\\nAfter=network-online.target\\n\\n\
             [Service]\\nExecStart=/usr/local/bin/fleet agent --node {node}{servers} --ca-cert /etc/fleet/ssl/ca.crt \
             --cert /var/lib/fleet/agent/ssl/{node}.crt --key /var/lib/fleet/agent/ssl/{node}.key --interval 30m --splay 5m\\n\
             KillMode=mixed\\nRestart=on-failure\\n\\n[Install]\\nWantedBy=multi-user.target\\n",
            servers = servers.replace('"', "")
        );
        [
            "set -e".to_string(),
            "R=\"${FLEET_TARGET:-}\"".to_string(),
            "mkdir -p \"$R/usr/local/bin\" \"$R/etc/fleet/ssl\" \"$R/etc/systemd/system/multi-user.target.wants\"".to_string(),
            get(&format!("{http}/fleet/fleet"), "$R/usr/local/bin/fleet"),
            "chmod 755 \"$R/usr/local/bin/fleet\"".to_string(),
            get(&format!("{http}/fleet/ca.crt"), "$R/etc/fleet/ssl/ca.crt"),
            format!(
                "\"$R/usr/local/bin/fleet\" agent --bootstrap --node {node}{servers}{token} \
                 --ca-cert \"$R/etc/fleet/ssl/ca.crt\" ${{R:+--root \"$R\"}} --noop --once \
                 || [ $? -eq 2 ]"
            ),
            format!("printf \"{unit}\" > \"$R/etc/systemd/system/fleet-agent.service\""),
            "ln -sf ../fleet-agent.service \"$R/etc/systemd/system/multi-user.target.wants/fleet-agent.service\"".to_string(),
        ]
        .join("; ")
    }
}

/// The install server's addresses, as the boot entries and templates see them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Server {
    pub ip: Option<IpAddr>,
    /// The HTTP base URL without a trailing `/`.
    pub http: Option<String>,
    /// Enrolment with the catalog servers, when asked for.
    pub enrol: Option<Enrol>,
}

impl Server {
    /// From `--server-ip` and `--http` (default `http://<server-ip>`).
    pub(crate) fn new(ip: Option<IpAddr>, http: Option<&str>) -> Result<Server, String> {
        let http = match (http, ip) {
            (Some(u), _) => {
                if !is_url(u) {
                    return Err(format!("--http {u}: not an http(s) URL"));
                }
                Some(u.trim_end_matches('/').to_string())
            }
            (None, Some(IpAddr::V6(a))) => Some(format!("http://[{a}]")),
            (None, Some(a)) => Some(format!("http://{a}")),
            (None, None) => None,
        };
        Ok(Server {
            ip,
            http,
            enrol: None,
        })
    }

    /// The URL of a node's answer file.
    pub(crate) fn answer_url(&self, node: &str) -> Option<String> {
        Some(format!("{}/answers/{node}", self.http.as_ref()?))
    }

    /// `$server` for a node's profile: `ip`, `http`, `answer` (its answer file's URL),
    /// `done` (the URL its installer POSTs to when finished). Unknown parts are empty.
    pub(crate) fn value(&self, node: &str) -> Value {
        let http = self.http.clone().unwrap_or_default();
        let mut m = IndexMap::new();
        m.insert(
            "ip".into(),
            Value::str(self.ip.map(|i| i.to_string()).unwrap_or_default()),
        );
        m.insert("http".into(), Value::str(http.as_str()));
        m.insert(
            "answer".into(),
            Value::str(self.answer_url(node).unwrap_or_default()),
        );
        let done = if http.is_empty() {
            String::new()
        } else {
            format!("{http}/done/{node}")
        };
        m.insert("done".into(), Value::str(done));
        let enrol = match (&self.enrol, self.http.as_deref()) {
            (Some(e), Some(http)) => e.script(node, http),
            _ => String::new(),
        };
        m.insert("enrol".into(), Value::str(enrol));
        Value::Map(Arc::new(m))
    }
}

/// `dir` as an absolute path (dnsmasq.conf names its directories absolutely).
fn absolute(dir: &std::path::Path) -> Result<PathBuf, Error> {
    std::path::absolute(dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))
}

/// True when `name` matches the glob `pattern` (`*` any run, `?` one character).
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("web*", "web01"));
        assert!(glob_match("*", ""));
        assert!(glob_match("w?b0*1", "web0001"));
        assert!(!glob_match("web?", "web01"));
        assert!(!glob_match("db*", "web01"));
        assert!(glob_match("web01", "web01"));
    }
}
