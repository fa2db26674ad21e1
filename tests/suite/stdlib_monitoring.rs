//! The stdlib's monitoring modules against their real daemons.
//!
//! - `nagios`: the configuration compiled for the monitoring node of a fleet passes the real
//!   `nagios4 -v`, through the very `validate` commands the module gives its files, on files
//!   in a temp dir only (never this machine's /etc/nagios4), and names every other node as a
//!   host; a node removed from the manifest is gone at the next compile. Applied into a
//!   sandbox root, a service whose command does not exist fails its file through `validate`
//!   and leaves the old objects in place.
//! - `ganglia`: gmond.conf passes `gmond -b` (and a broken one does not); a real gmond
//!   started in the foreground on it, on loopback ports, stays up and answers on its TCP
//!   channel with XML naming its cluster and host (its metrics went round through its own
//!   UDP channel); a real gmetad started on the gmetad.conf compiled for the fleet polls that
//!   gmond and serves the grid, writing its round-robin databases into a temp dir.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support;

/// `fleet compile --node NODE site.fleet` in `dir`: the catalog.
fn compile(dir: &Path, site: &str, node: &str) -> Value {
    std::fs::write(dir.join("site.fleet"), site).unwrap();
    let r = support::fleet_in(dir, ["compile", "--node", node, "site.fleet"]);
    assert_eq!(r.code, 0, "{}", r.describe());
    serde_json::from_str(&r.stdout).unwrap()
}

/// `fleet compile --node NODE site.fleet` in `dir`, which must fail: its stderr.
fn compile_fails(dir: &Path, site: &str, node: &str) -> String {
    std::fs::write(dir.join("site.fleet"), site).unwrap();
    let r = support::fleet_in(dir, ["compile", "--node", node, "site.fleet"]);
    assert_eq!(r.code, 1, "{}", r.describe());
    r.stderr
}

/// The params of the resource titled `title` in a catalog.
pub(crate) fn params<'a>(doc: &'a Value, title: &str) -> &'a Value {
    &doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["title"] == title)
        .unwrap_or_else(|| panic!("no {title}: {doc}"))["params"]
}

pub(crate) fn content(doc: &Value, title: &str) -> String {
    params(doc, title)["content"].as_str().unwrap().to_string()
}

/// Runs a `validate` command as the file provider does: `%` replaced by the shell-quoted
/// path, through `/bin/sh -c`. Whether it passed, and its output.
pub(crate) fn run_validate(validate: &str, file: &Path) -> (bool, String) {
    let quoted = format!("'{}'", file.display());
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(validate.replace('%', &quoted))
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A directory the `nagios` user can walk into: Nagios reads the objects after dropping to
/// it (a test temp dir is 0700 root).
pub(crate) fn open_to_nagios(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

const NAGIOS_SITE: &str = r#"import "nagios"
node "web01" {
  include nagios::client(address = "10.0.0.11", groups = ["web"])
  nagios::service "HTTP" { check_command = "check_http" }
}
node "web02" { include nagios::client(address = "10.0.0.12", groups = ["web"]) }
node "db01" {
  include nagios::client(groups = ["db"])
  nagios::service "PostgreSQL" { check_command = "check_tcp!5432" }
}
node "mon01" {
  include nagios::server(admin_email = "ops@example.net", state_dir = "@VAR@/lib", log_dir = "@VAR@/log", commands = {
    "check_pgsql_replication": '/usr/local/lib/nagios/check_pgsql_replication -H $HOSTADDRESS$',
  })
}
"#;

/// [`NAGIOS_SITE`] with the server's state and log directories in `var` (made here, so that
/// `nagios4 -v`, which makes a file in the check results spool and opens the log, touches
/// nothing of this machine's).
fn nagios_site(var: &Path) -> String {
    nagios_var(var);
    NAGIOS_SITE.replace("@VAR@", &var.display().to_string())
}

/// `var/lib` (with the check results spool) and `var/log` for a server whose `state_dir`
/// and `log_dir` point there, open to the `nagios` user as the package makes them.
pub(crate) fn nagios_var(var: &Path) {
    for d in ["lib/spool/checkresults", "log"] {
        std::fs::create_dir_all(var.join(d)).unwrap();
    }
    for d in ["", "lib", "lib/spool", "log"] {
        open_to_nagios(&var.join(d));
    }
    // The nagios user writes the spool (the package makes it its own).
    let spool = var.join("lib/spool/checkresults");
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o777)).unwrap();
}

/// The `host_name` of every `define host` block of an objects file.
pub(crate) fn defined_hosts(objects: &str) -> BTreeSet<String> {
    let mut hosts = BTreeSet::new();
    let mut in_host = false;
    for line in objects.lines().map(str::trim) {
        if line.starts_with("define host ") || line == "define host{" {
            in_host = true;
        } else if line == "}" {
            in_host = false;
        } else if in_host {
            if let Some(name) = line.strip_prefix("host_name") {
                hosts.insert(name.trim().to_string());
            }
        }
    }
    hosts
}

/// nagios4 -v's `Checked N hosts.` count.
pub(crate) fn checked_hosts(output: &str) -> usize {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Checked ")?.strip_suffix(" hosts."))
        .unwrap_or_else(|| panic!("no host count: {output}"))
        .parse()
        .unwrap()
}

/// The monitoring node's files, written into `tree` at their paths (etc/nagios4/...), each
/// checked by its own `validate` as the file provider runs it: objects.cfg first (on its own
/// wrapper main file), then nagios.cfg (on the objects beside it). The objects and the main
/// check's output.
pub(crate) fn nagios_tree_passes(doc: &Value, tree: &Path) -> (String, String) {
    let objects_path = tree.join("etc/nagios4/fleet/objects.cfg");
    let main_path = tree.join("etc/nagios4/nagios.cfg");
    std::fs::create_dir_all(objects_path.parent().unwrap()).unwrap();
    for d in ["", "etc", "etc/nagios4", "etc/nagios4/fleet"] {
        open_to_nagios(&tree.join(d));
    }
    let objects = content(doc, "/etc/nagios4/fleet/objects.cfg");
    let validate = params(doc, "/etc/nagios4/fleet/objects.cfg")["validate"]
        .as_str()
        .unwrap()
        .to_string();
    // The temporary file the provider validates is 0600: so is this one.
    std::fs::write(&objects_path, &objects).unwrap();
    std::fs::set_permissions(&objects_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (ok, out) = run_validate(&validate, &objects_path);
    assert!(ok, "{out}\n{objects}");
    assert!(out.contains("Total Errors:   0"), "{out}");
    std::fs::set_permissions(&objects_path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let main = content(doc, "/etc/nagios4/nagios.cfg");
    let validate = params(doc, "/etc/nagios4/nagios.cfg")["validate"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(&main_path, &main).unwrap();
    std::fs::set_permissions(&main_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (ok, out) = run_validate(&validate, &main_path);
    assert!(ok, "{out}\n{main}");
    assert!(out.contains("Total Errors:   0"), "{out}");
    (objects, out)
}

#[test]
fn the_monitoring_node_gets_a_nagios_config_that_nagios4_v_accepts_naming_every_other_node() {
    support::require_tool("nagios4");
    let dir = tempfile::tempdir().unwrap();
    // db01's address comes from its facts file (the client's default).
    std::fs::create_dir_all(dir.path().join("facts")).unwrap();
    std::fs::write(
        dir.path().join("facts/db01.json"),
        r#"{"hostname": "db01", "fqdn": "db01.example.net", "ip": "10.0.0.31"}"#,
    )
    .unwrap();
    let var = tempfile::tempdir().unwrap();
    let site = nagios_site(var.path());
    let doc = compile(dir.path(), &site, "mon01");
    let tree = tempfile::tempdir().unwrap();
    let (objects, out) = nagios_tree_passes(&doc, tree.path());
    let want: BTreeSet<String> = ["db01", "web01", "web02"].map(String::from).into();
    assert_eq!(defined_hosts(&objects), want, "{objects}");
    assert_eq!(checked_hosts(&out), 3, "{out}");
    assert!(out.contains("Checked 2 host groups."), "{out}");
    // Two services per client (PING, SSH) and the two extra checks.
    assert!(out.contains("Checked 8 services."), "{out}");
    assert!(objects.contains("address   10.0.0.31\n"), "{objects}");
    assert!(
        objects.contains("members        web01,web02\n"),
        "{objects}"
    );
    assert!(
        objects.contains("check_command       check_tcp!5432\n"),
        "{objects}"
    );
    assert!(objects.contains("email                         ops@example.net\n"));

    // web02 leaves the manifest: gone from the monitoring node at the next compile, and the
    // config is still whole.
    let without: String = site
        .lines()
        .filter(|l| !l.contains("\"web02\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let doc = compile(dir.path(), &without, "mon01");
    let tree = tempfile::tempdir().unwrap();
    let (objects, out) = nagios_tree_passes(&doc, tree.path());
    let want: BTreeSet<String> = ["db01", "web01"].map(String::from).into();
    assert_eq!(defined_hosts(&objects), want, "{objects}");
    assert_eq!(checked_hosts(&out), 2, "{out}");
    assert!(objects.contains("members        web01\n"), "{objects}");

    // A check on a node that is no client would name a host Nagios does not know: the
    // server refuses it when compiled.
    let orphan = format!("{without}node \"lb01\" {{ nagios::service \"HAProxy\" {{ check_command = \"check_tcp!80\" }} }}\n");
    let err = compile_fails(dir.path(), &orphan, "mon01");
    assert!(
        err.contains("services of nodes that do not include nagios::client: lb01 (HAProxy)"),
        "{err}"
    );
}

/// The catalog's file resources only (the package and service providers have no business in
/// a sandbox root), with the edges among them.
fn files_only(doc: &Value) -> Value {
    let mut doc = doc.clone();
    let keep: BTreeSet<String> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "file")
        .map(|r| format!("File[{}]", r["title"].as_str().unwrap()))
        .collect();
    doc["resources"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["type"] == "file");
    doc["edges"].as_array_mut().unwrap().retain(|e| {
        keep.contains(e["from"].as_str().unwrap()) && keep.contains(e["to"].as_str().unwrap())
    });
    doc
}

#[test]
fn a_service_with_an_unknown_command_fails_through_validate_and_keeps_the_old_objects() {
    support::require_tool("nagios4");
    let dir = tempfile::tempdir().unwrap();
    let sb = support::Sandbox::new();
    open_to_nagios(sb.tmp.path());
    open_to_nagios(&sb.root);
    open_to_nagios(&sb.root.join("etc"));
    sb.write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    sb.write("/etc/group", "root:x:0:\n");
    std::fs::create_dir_all(sb.p("/etc/nagios4")).unwrap();
    open_to_nagios(&sb.p("/etc/nagios4"));
    let apply = |site: &str| {
        let doc = files_only(&compile(dir.path(), site, "mon01"));
        let catalog = sb.cat.join("mon01.json");
        std::fs::write(&catalog, serde_json::to_string(&doc).unwrap()).unwrap();
        sb.apply(&catalog, &["--run-host-commands", "--no-fsync"])
    };
    let var = tempfile::tempdir().unwrap();
    let site = nagios_site(var.path());
    let r = apply(&site);
    assert_eq!(r.code, 2, "{r:?}");
    let good = sb.read("/etc/nagios4/fleet/objects.cfg");
    assert!(good.contains("host_name web02\n"), "{good}");
    assert!(sb
        .read("/etc/nagios4/nagios.cfg")
        .contains("cfg_file=fleet/objects.cfg\n"));
    let r = apply(&site);
    assert_eq!(r.code, 0, "a second run changes nothing: {r:?}");

    let bad = site.replace(
        "nagios::service \"HTTP\" { check_command = \"check_http\" }",
        "nagios::service \"HTTP\" { check_command = \"check_htpt\" }",
    );
    let r = apply(&bad);
    assert_eq!(r.code & 4, 4, "the objects file fails: {r:?}");
    let text = r.describe();
    assert!(text.contains("rejected the new content"), "{text}");
    assert!(
        text.contains("Service check command 'check_htpt' specified in service 'HTTP' for host 'web01' not defined anywhere"),
        "nagios4's own words: {text}"
    );
    assert_eq!(sb.read("/etc/nagios4/fleet/objects.cfg"), good);
    let leftovers: Vec<_> = std::fs::read_dir(sb.p("/etc/nagios4/fleet"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary file is left: {leftovers:?}"
    );
}

/// A child process killed (and reaped) when the test ends, however it ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port and a UDP port that are free on 127.0.0.1 now.
fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects to `port` on loopback until what it sends back contains every one of `want`
/// (a Ganglia daemon writes its XML and closes), or `within` has passed: the last answer.
fn xml_until(port: u16, want: &[&str], within: Duration, daemon: &mut Daemon) -> String {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < within {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            panic!("the daemon exited ({status}) while the test waited for {want:?}");
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = String::new();
            if s.read_to_string(&mut buf).is_ok() {
                if want.iter().all(|w| buf.contains(w)) {
                    return buf;
                }
                last = buf;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no XML with {want:?} on port {port} within {within:?}; last: {last}");
}

#[test]
fn gmond_runs_on_its_config_and_gmetad_polls_it() {
    support::require_tool("gmond");
    support::require_tool("gmetad");
    let dir = tempfile::tempdir().unwrap();
    let run = tempfile::tempdir().unwrap();
    let (udp, tcp) = (free_udp_port(), free_tcp_port());
    let (grid_xml, grid_interactive) = (free_tcp_port(), free_tcp_port());
    let rrds = run.path().join("rrds");
    std::fs::create_dir(&rrds).unwrap();
    let site = format!(
        r#"import "ganglia"
node "ops01" {{
  include ganglia::gmond(cluster = "web", collector = true, address = "127.0.0.1",
    bind = "127.0.0.1", port = {udp}, xml_port = {tcp}, setuid = false)
}}
node "web02" {{ include ganglia::gmond(cluster = "web", address = "10.0.0.12") }}
node "db01" {{ include ganglia::gmond(cluster = "db", collector = true, address = "10.0.0.31") }}
node "mon01" {{
  include ganglia::gmond(cluster = "infra", collector = true, address = "10.0.0.41")
  include ganglia::gmetad(rrd_rootdir = "{rrds}", xml_port = {grid_xml},
    interactive_port = {grid_interactive}, setuid = false, clusters = ["web"])
}}
"#,
        rrds = rrds.display()
    );
    let doc = compile(dir.path(), &site, "ops01");
    let gmond_conf = content(&doc, "/etc/ganglia/gmond.conf");
    let validate = params(&doc, "/etc/ganglia/gmond.conf")["validate"]
        .as_str()
        .unwrap();
    assert_eq!(validate, "/usr/sbin/gmond -b -c %");
    assert!(gmond_conf.contains("name = \"web\""), "{gmond_conf}");
    assert!(
        gmond_conf.contains(&format!(
            "udp_send_channel {{\n  host = 127.0.0.1\n  port = {udp}\n"
        )),
        "ops01 sends to itself, its cluster's collector: {gmond_conf}"
    );
    assert!(
        !gmond_conf.contains("10.0.0.31"),
        "not to db's: {gmond_conf}"
    );
    let conf = run.path().join("gmond.conf");
    std::fs::write(&conf, &gmond_conf).unwrap();
    let (ok, out) = run_validate(validate, &conf);
    assert!(ok, "{out}\n{gmond_conf}");
    // What the validate refuses: an unknown option, a syntax error.
    let broken = run.path().join("broken.conf");
    for bad in [
        "globals {\n  no_such_option = 1\n}\n",
        "cluster {\n  name = \n}\n",
    ] {
        std::fs::write(&broken, format!("{gmond_conf}{bad}")).unwrap();
        let (ok, out) = run_validate(validate, &broken);
        assert!(!ok, "gmond -b accepted {bad:?}: {out}");
        assert!(out.contains("Parse error"), "{out}");
    }
    // web02 is no collector: it sends to ops01 and listens on nothing.
    let web02 = content(
        &compile(dir.path(), &site, "web02"),
        "/etc/ganglia/gmond.conf",
    );
    assert!(web02.contains("deaf = yes"), "{web02}");
    assert!(!web02.contains("udp_recv_channel"), "{web02}");
    assert!(web02.contains("host = 127.0.0.1"), "{web02}");

    // A cluster without a collector is its nodes' error (their metrics would go nowhere).
    let lonely = format!("{site}node \"x01\" {{ include ganglia::gmond(cluster = \"lonely\") }}\n");
    let err = compile_fails(dir.path(), &lonely, "x01");
    assert!(err.contains("cluster `lonely` has no collector"), "{err}");

    let mut gmond = Daemon(
        Command::new("/usr/sbin/gmond")
            .arg("-c")
            .arg(&conf)
            .arg("-f")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let xml = xml_until(
        tcp,
        &[
            "<CLUSTER NAME=\"web\"",
            "<HOST NAME=\"ops01\" IP=\"127.0.0.1\"",
            "<METRIC NAME=\"load_one\"",
        ],
        Duration::from_secs(30),
        &mut gmond,
    );
    assert!(xml.contains("<GANGLIA_XML"), "{xml}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(gmond.0.try_wait().unwrap().is_none(), "gmond stays up");

    // gmetad, from the monitoring node's catalog: one data_source, web's collector.
    let doc = compile(dir.path(), &site, "mon01");
    let gmetad_conf = content(&doc, "/etc/ganglia/gmetad.conf");
    assert!(
        gmetad_conf.contains(&format!("data_source \"web\" 15 127.0.0.1:{tcp}\n")),
        "{gmetad_conf}"
    );
    assert!(!gmetad_conf.contains("data_source \"db\""), "{gmetad_conf}");
    let gconf = run.path().join("gmetad.conf");
    std::fs::write(&gconf, &gmetad_conf).unwrap();
    let mut gmetad = Daemon(
        Command::new("/usr/sbin/gmetad")
            .arg("-c")
            .arg(&gconf)
            .args(["-d", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let grid = xml_until(
        grid_xml,
        &[
            "<GRID NAME=\"fleet\"",
            "<CLUSTER NAME=\"web\"",
            "<HOST NAME=\"ops01\"",
        ],
        Duration::from_secs(40),
        &mut gmetad,
    );
    assert!(grid.contains("<METRIC NAME=\"load_one\""), "{grid}");
    let start = Instant::now();
    while !rrds.join("web/ops01/load_one.rrd").is_file() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "gmetad wrote no round-robin database under {}",
            rrds.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(gmond.0.try_wait().unwrap().is_none(), "gmond stays up");
    assert!(gmetad.0.try_wait().unwrap().is_none(), "gmetad stays up");
}

/// While the fleet's exports are found, `collect` answers `[]` everywhere: gmond must not
/// fail then (no collector seen yet), or what the node exports after it — here its Nagios
/// host — would be lost (`unstable-export`, and a host missing from the server).
#[test]
fn gmond_before_the_nagios_client_loses_no_export() {
    let dir = tempfile::tempdir().unwrap();
    let site = r#"import "ganglia"
import "nagios"
node "web01" {
  include ganglia::gmond(cluster = "web", collector = true)
  include nagios::client
}
node "web02" {
  include ganglia::gmond(cluster = "web")
  include nagios::client
}
node "mon01" {
  include ganglia::gmond(cluster = "infra", collector = true)
  include ganglia::gmetad
  include nagios::client
  include nagios::server
}
"#;
    let doc = compile(dir.path(), site, "mon01");
    let r = support::fleet_in(dir.path(), ["check", "--deny", "warnings", "site.fleet"]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let objects = content(&doc, "/etc/nagios4/fleet/objects.cfg");
    let want: BTreeSet<String> = ["mon01", "web01", "web02"].map(String::from).into();
    assert_eq!(defined_hosts(&objects), want, "{objects}");
}
