//! The fleet as data (LANGUAGE.md §6, docs/fleet-data.md) through the real binary:
//! `nodes(pattern)` with a facts-file node, `collect`'s order, `compile --node` evaluating
//! the other nodes only when the node collects, `compile --all` and `check` with collectors,
//! `unstable-export`, a failing node, and a removed node leaving every collector.

use crate::support;

use std::path::Path;

use support::{fleet_in, Run};

/// The `content` of `File[title]` in a catalog `compile --node` printed.
fn content(run: &Run, title: &str) -> String {
    assert!(run.status.success(), "{}", run.describe());
    content_in(&run.stdout, title)
}

fn content_in(catalog: &str, title: &str) -> String {
    let doc: serde_json::Value = serde_json::from_str(catalog).expect("catalog JSON");
    let resources = doc["resources"].as_array().expect("resources");
    let file = resources
        .iter()
        .find(|r| r["type"] == "file" && r["title"] == title)
        .unwrap_or_else(|| panic!("no File[{title}] in {catalog}"));
    file["params"]["content"]
        .as_str()
        .expect("a String content")
        .to_string()
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn nodes_lists_named_nodes_and_facts_file_nodes_a_regex_matches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "site.fleet",
        r#"
node "web01" { provision { mac = "52:54:00:00:00:01", ip = "10.0.0.11/24" } }
node /^web/ { }
node "lb" {
  let $all = join([for $n in nodes(): $n.name], ",")
  let $web = join([for $n in nodes(/^web/): "${n.name}=${get($n, "provision", {ip: "-"}) == none}"], ",")
  let $one = join([for $n in nodes("WEB01"): $n.provision.ip], ",")
  file "/all" { content = $all }
  file "/web" { content = $web }
  file "/one" { content = $one }
}
"#,
    );
    // web07 has a facts file and a regex block matches it; db09 has one that nothing matches.
    write(d, "facts/web07.json", r#"{"hostname": "web07"}"#);
    write(d, "facts/db09.json", r#"{"hostname": "db09"}"#);
    let out = fleet_in(d, ["compile", "--node", "lb", "site.fleet"]);
    assert_eq!(content(&out, "/all"), "lb,web01,web07");
    assert_eq!(content(&out, "/web"), "web01=false,web07=true");
    assert_eq!(content(&out, "/one"), "10.0.0.11/24");
}

const RING: &str = r#"
class member($order: Array[Int]) {
  for $i in $order { export("seen", "${node}:${i}") }
}
node "c" { include member(order = [3, 1]) }
node "a" { include member(order = [2, 9]) }
node "b" { }
node "mon" {
  include member(order = [5])
  file "/seen" { content = join([for $s in collect("seen"): "${s.node}=${s.value}"], " ") }
  file "/none" { content = "${length(collect("nobody"))}" }
}
"#;

#[test]
fn collect_is_sorted_by_node_then_export_order_and_includes_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "site.fleet", RING);
    let out = fleet_in(d, ["compile", "--node", "mon", "site.fleet"]);
    assert_eq!(content(&out, "/seen"), "a=a:2 a=a:9 c=c:3 c=c:1 mon=mon:5");
    assert_eq!(content(&out, "/none"), "0");
    // `compile --all` shares one discovery pass and gives the same catalog.
    let out = fleet_in(d, ["compile", "--all", "--out", "out", "site.fleet"]);
    assert!(out.status.success(), "{}", out.describe());
    let mon = std::fs::read_to_string(d.join("out/mon.json")).unwrap();
    assert_eq!(
        content_in(&mon, "/seen"),
        "a=a:2 a=a:9 c=c:3 c=c:1 mon=mon:5"
    );
    assert!(d.join("out/b.json").is_file());
    let check = fleet_in(d, ["check", "site.fleet"]);
    assert!(check.status.success(), "{}", check.describe());
}

/// `db01` fails whenever it is evaluated: only a node that collects makes it matter.
const BROKEN_DB: &str = r#"
class collector {
  file "/hosts" { content = join([for $h in collect("host"): $h.value], ",") }
}
node "db01" {
  export("host", "db01")
  fail("db01 cannot be evaluated")
}
node "web01" { export("host", "web01") }
node "mon01" { include collector }
"#;

#[test]
fn compile_node_evaluates_other_nodes_only_when_it_collects() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "site.fleet", BROKEN_DB);
    // web01 does not collect (the class that does is not its): db01 is never evaluated.
    let out = fleet_in(d, ["compile", "--node", "web01", "site.fleet"]);
    assert!(out.status.success(), "{}", out.describe());
    assert!(!out.stderr.contains("db01"), "{}", out.stderr);
    // mon01 collects: db01 is evaluated, fails, and mon01 fails with it (docs/fleet-data.md).
    let out = fleet_in(d, ["compile", "--node", "mon01", "site.fleet"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.stderr.contains("db01 cannot be evaluated"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("`mon01` collects"), "{}", out.stderr);
    // Once db01 is fixed, it is in mon01's list.
    write(
        d,
        "site.fleet",
        &BROKEN_DB.replace("  fail(\"db01 cannot be evaluated\")\n", ""),
    );
    let out = fleet_in(d, ["compile", "--node", "mon01", "site.fleet"]);
    assert_eq!(content(&out, "/hosts"), "db01,web01");
}

#[test]
fn a_removed_node_leaves_every_collector_at_the_next_compile() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let site = r#"
node "web01" { export("backend", "web01") }
node "web02" { export("backend", "web02") }
node /^web/ { export("backend", "${node} (facts)") }
node "lb" { file "/backends" { content = join([for $b in collect("backend"): $b.value], ",") } }
"#;
    write(d, "site.fleet", site);
    write(d, "facts/web03.json", r#"{"hostname": "web03"}"#);
    let out = fleet_in(d, ["compile", "--node", "lb", "site.fleet"]);
    assert_eq!(content(&out, "/backends"), "web01,web02,web03 (facts)");
    // The node block goes, and so does the facts file of the regex-matched node.
    write(
        d,
        "site.fleet",
        &site.replace("node \"web02\" { export(\"backend\", \"web02\") }\n", ""),
    );
    std::fs::remove_file(d.join("facts/web03.json")).unwrap();
    let out = fleet_in(d, ["compile", "--node", "lb", "site.fleet"]);
    assert_eq!(content(&out, "/backends"), "web01");
    let out = fleet_in(d, ["compile", "--all", "--out", "out", "site.fleet"]);
    assert!(out.status.success(), "{}", out.describe());
    let lb = std::fs::read_to_string(d.join("out/lb.json")).unwrap();
    assert_eq!(content_in(&lb, "/backends"), "web01");
}

#[test]
fn unstable_export_is_reported_by_check_and_compile() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "site.fleet",
        r#"
class ring {
  let $peers = collect("peer")
  export("peer", length($peers))
}
node "a" { include ring }
node "b" { include ring }
node "c" { export("peer", 0) }
"#,
    );
    let check = fleet_in(d, ["check", "--format", "json", "site.fleet"]);
    assert_eq!(check.code, 1, "{}", check.describe());
    let unstable: Vec<&str> = check
        .stdout
        .lines()
        .filter(|l| l.contains("\"unstable-export\""))
        .collect();
    // Reported once, at `export` (line 4, column 3), however many nodes show it.
    assert_eq!(unstable.len(), 1, "{}", check.stdout);
    assert!(unstable[0].contains("\"line\":4"), "{}", unstable[0]);
    let out = fleet_in(d, ["compile", "--node", "a", "site.fleet"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stderr.contains("unstable-export"), "{}", out.stderr);
    // c exports a constant and does not collect: it compiles.
    let out = fleet_in(d, ["compile", "--node", "c", "site.fleet"]);
    assert!(out.status.success(), "{}", out.describe());
}

#[test]
fn export_and_nodes_refuse_wrong_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "site.fleet",
        r#"
node "a" {
  let $x = export("t", 1)
  let $y = nodes(1)
  let $z = collect(/t/)
  export(1, 2)
  file "/x" { content = "${x}${y}${z}" }
}
"#,
    );
    let check = fleet_in(d, ["check", "--format", "json", "site.fleet"]);
    assert_eq!(check.code, 1, "{}", check.describe());
    let wrong = check
        .stdout
        .lines()
        .filter(|l| l.contains("\"wrong-arguments\""))
        .count();
    assert_eq!(wrong, 4, "{}", check.stdout);
}

#[test]
fn check_evaluates_facts_file_nodes_as_themselves_when_the_program_collects() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let site = r#"
node /^web/ {
  export("w", $node)
  if $facts.hostname == "web09" { fail("web09 is broken") }
}
node "lb" { file "/w" { content = join([for $x in collect("w"): $x.value], ",") } }
"#;
    write(d, "site.fleet", site);
    write(d, "facts/web09.json", r#"{"hostname": "web09"}"#);
    let check = fleet_in(d, ["check", "site.fleet"]);
    assert_eq!(check.code, 1, "{}", check.describe());
    assert!(
        check.stderr.contains("web09 is broken") && check.stderr.contains("node `web09`"),
        "{}",
        check.stderr
    );
    // Without `collect`, check evaluates the regex block once, as `default` (§7).
    write(d, "site.fleet", &site.replace("collect(\"w\")", "[]"));
    let check = fleet_in(d, ["check", "site.fleet"]);
    assert!(check.status.success(), "{}", check.describe());
}

/// A provision record read through `nodes()` and an install profile both see the program's
/// top-level `let`s (a site's gateway, its netboot directory), as the node's own evaluation
/// does; a top-level `let` built from `nodes()` is `[]`-based there, so no record depends on
/// another.
#[test]
fn records_and_profiles_see_top_level_lets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "boot/linux", "kernel");
    write(d, "boot/initrd.gz", "initrd");
    write(
        d,
        "site.fleet",
        r#"
let $boot = "boot"
let $gateway = "10.0.0.1"
let $names = [for $n in nodes(): $n.name]
provision "debian12" {
  kernel = "${boot}/linux"
  initrd = "${boot}/initrd.gz"
  kind   = preseed
  answer = "gateway ${gateway}, ${length($names)} nodes seen\n"
}
node "web01" {
  provision { mac = "52:54:00:00:00:01", ip = "10.0.0.11/24", gateway = $gateway, profile = "debian12", hostname = "w${length($names)}" }
}
node "lb" {
  file "/gw" { content = join([for $n in nodes() if $n.provision != none: "${n.name} ${n.provision.gateway} ${n.provision.hostname}"], ",") }
}
"#,
    );
    let out = fleet_in(d, ["compile", "--node", "lb", "site.fleet"]);
    assert_eq!(content(&out, "/gw"), "web01 10.0.0.1 w0");
    let out = fleet_in(
        d,
        [
            "provision",
            "--server-ip",
            "10.0.0.2",
            "--out",
            "tree",
            "site.fleet",
        ],
    );
    assert!(out.status.success(), "{}", out.describe());
    let answer = std::fs::read_to_string(d.join("tree/http/answers/web01")).unwrap();
    assert_eq!(answer, "gateway 10.0.0.1, 0 nodes seen\n");
}
