//! Tests for `graph::link`, `order` and `to_dot`.

use super::*;
use crate::catalog::store::ContentStore;
use crate::catalog::testutil::{bare, Fixture};
use crate::catalog::{build, Catalog};
use crate::model::declared::Endpoint;
use crate::model::value::Value;

fn edges(c: &Catalog) -> Vec<(String, String, bool)> {
    let name = |i: usize| json::reference(&c.resources[i].kind, &c.resources[i].title);
    c.edges
        .iter()
        .map(|e| (name(e.from as usize), name(e.to as usize), e.refresh))
        .collect()
}

fn e(a: &str, b: &str) -> (String, String, bool) {
    (a.into(), b.into(), false)
}

fn built(f: &Fixture) -> Catalog {
    let (c, d) = build(f.eval.clone(), &f.sources, &ContentStore::new());
    assert_eq!(d, []);
    c
}

#[test]
fn implicit_edges_of_compile_05() {
    let mut f = Fixture::new(
        "# node: app01\ngroup \"deploy\" { gid = 2000 }\nuser \"deploy\" { uid = 2000, gid = \"deploy\", home = \"/home/deploy\", managehome = true }\nfile \"/srv\" { ensure = directory }\nfile \"/srv/app\" { ensure = directory, owner = \"deploy\", group = \"deploy\" }\nfile \"/srv/app/config.yml\" { content = \"env: prod\\n\", owner = \"deploy\" }\nexec \"/usr/bin/make -C /srv/app\" { user = \"deploy\", creates = \"/srv/app/build\" }\n",
    );
    f.res("group", "deploy");
    f.attr("gid", Value::Int(2000));
    f.res("user", "deploy");
    f.attr("uid", Value::Int(2000))
        .s("gid", "deploy")
        .s("home", "/home/deploy")
        .attr("managehome", Value::Bool(true));
    f.res("file", "/srv");
    f.s("ensure", "directory");
    f.res("file", "/srv/app");
    f.s("ensure", "directory")
        .s("owner", "deploy")
        .s("group", "deploy");
    f.res("file", "/srv/app/config.yml");
    f.s("content", "env: prod\n").s("owner", "deploy");
    f.res("exec", "/usr/bin/make -C /srv/app");
    f.s("user", "deploy").s("creates", "/srv/app/build");
    let mut c = built(&f);
    assert_eq!(link(&mut c), []);
    assert_eq!(
        edges(&c),
        [
            e("Group[deploy]", "User[deploy]"),
            e("Group[deploy]", "File[/srv/app]"),
            e("User[deploy]", "File[/srv/app]"),
            e("User[deploy]", "File[/srv/app/config.yml]"),
            e("User[deploy]", "Exec[/usr/bin/make -C /srv/app]"),
            e("File[/srv]", "File[/srv/app]"),
            e("File[/srv/app]", "File[/srv/app/config.yml]"),
        ]
    );
    assert!(c.edges.iter().all(|e| e.implicit));
    assert_eq!(order(&c), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn users_groups_releases_and_numeric_ids() {
    let mut f = Fixture::new(
        "user \"alice\" { uid = 2001, groups = [\"dba\", \"adm\"] }\nfile \"/srv/shop\" { ensure = directory, owner = \"1000\", group = 50 }\ngroup \"dba\" { gid = 3000 }\nrelease \"shop\" { path = \"/srv/shop/\", source = \"/\", owner = \"alice\", group = \"dba\" }\n",
    );
    f.res("user", "alice");
    f.attr("uid", Value::Int(2001)).attr(
        "groups",
        Value::array(vec![Value::str("dba"), Value::str("adm")]),
    );
    f.res("file", "/srv/shop");
    f.s("ensure", "directory")
        .s("owner", "1000")
        .attr("group", Value::Int(50));
    f.res("group", "dba");
    f.attr("gid", Value::Int(3000));
    f.res("release", "shop");
    f.s("path", "/srv/shop/").s("source", "/");
    f.s("owner", "alice").s("group", "dba");
    let opts = crate::catalog::BuildOptions {
        load_content: false,
        ..Default::default()
    };
    let (mut c, d) =
        crate::catalog::build_with(f.eval.clone(), &f.sources, &ContentStore::new(), &opts);
    assert_eq!(d, []);
    assert_eq!(link(&mut c), []);
    assert_eq!(
        edges(&c),
        [
            e("User[alice]", "Release[shop]"),
            e("File[/srv/shop]", "Release[shop]"),
            e("Group[dba]", "User[alice]"),
            e("Group[dba]", "Release[shop]"),
        ]
    );
}

#[test]
fn explicit_edges_win_over_implicit_ones() {
    let mut f = Fixture::new(
        "file \"/srv\" { ensure = directory, require = File[\"/srv/x\"] }\nfile \"/srv/x\" { content = \"x\" }\nfile \"/srv/x/y\" { content = \"y\", notify = File[\"/srv/x\"] }\n",
    );
    let srv = f.res("file", "/srv");
    f.s("ensure", "directory");
    f.require(srv, "File", "/srv/x");
    f.res("file", "/srv/x");
    f.s("content", "x");
    let y = f.res("file", "/srv/x/y");
    f.s("content", "y");
    f.notify(y, "File", "/srv/x");
    let mut c = built(&f);
    let d = link(&mut c);
    // /srv/x would require its parent /srv, which requires it; /srv/x/y would require its
    // parent /srv/x, which it notifies.
    let pos: Vec<_> = f.positions(&d);
    assert_eq!(
        pos,
        [
            ("implicit-edge-dropped", 2, 1),
            ("implicit-edge-dropped", 3, 1)
        ]
    );
    assert_eq!(
        d[0].message,
        "File[/srv/x] would implicitly require File[/srv], but that would close a dependency cycle; the implicit edge is dropped"
    );
    assert_eq!(d[0].severity, crate::diag::Severity::Warning);
    assert_eq!(
        edges(&c),
        [
            e("File[/srv/x]", "File[/srv]"),
            ("File[/srv/x/y]".into(), "File[/srv/x]".into(), true)
        ]
    );
}

#[test]
fn cycles_are_spelled_from_the_first_declared_member() {
    // check/12-dependency-cycle, plus a second cycle and an edge leaving the first.
    let mut f = Fixture::new(
        "# expect: error dependency-cycle 2:1\nfile \"/a\" { content = \"a\", require = File[\"/b\"] }\nfile \"/b\" { content = \"b\", require = File[\"/c\"] }\nfile \"/c\" { content = \"c\", require = File[\"/a\"] }\npackage \"p\" { before = Package[\"q\"] }\npackage \"q\" { before = Package[\"p\"] }\n",
    );
    let a = f.res("file", "/a");
    f.s("content", "a");
    f.require(a, "File", "/b");
    let b = f.res("file", "/b");
    f.s("content", "b");
    f.require(b, "File", "/c");
    let cc = f.res("file", "/c");
    f.s("content", "c");
    f.require(cc, "File", "/a");
    let p = f.res("package", "p");
    let r = f.reference("Package", "q");
    f.relate(Endpoint::Resource(p), Endpoint::Ref(r), false);
    let q = f.res("package", "q");
    let r = f.reference("Package", "p");
    f.relate(Endpoint::Resource(q), Endpoint::Ref(r), false);
    let mut c = built(&f);
    let d = link(&mut c);
    assert_eq!(
        f.positions(&d),
        [("dependency-cycle", 2, 1), ("dependency-cycle", 5, 1)]
    );
    assert_eq!(
        d[0].message,
        "dependency cycle: File[/a] -> File[/c] -> File[/b] -> File[/a]"
    );
    assert_eq!(d[0].primary_label, "File[/a] comes before File[/c]");
    let labels: Vec<(usize, &str)> = d[0]
        .labels
        .iter()
        .map(|l| {
            (
                f.sources.get(l.span.file).line_col(l.span.start as usize).0,
                l.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        labels,
        [
            (4, "File[/c] comes before File[/b]"),
            (3, "File[/b] comes before File[/a]")
        ]
    );
    assert_eq!(
        d[1].message,
        "dependency cycle: Package[p] -> Package[q] -> Package[p]"
    );
    // Cycle members still get an order, after everything else, by position.
    assert_eq!(order(&c), [0, 1, 2, 3, 4]);
}

#[test]
fn a_resource_requiring_itself_is_a_cycle_of_one() {
    let mut f = Fixture::new("file \"/a\" { content = \"a\", require = File[\"/a\"] }\n");
    let a = f.res("file", "/a");
    f.s("content", "a");
    f.require(a, "File", "/a");
    let mut c = built(&f);
    assert_eq!(c.edges.len(), 1);
    let d = link(&mut c);
    assert_eq!(f.positions(&d), [("dependency-cycle", 1, 1)]);
    assert_eq!(d[0].message, "dependency cycle: File[/a] -> File[/a]");
    assert_eq!(d[0].primary_label, "File[/a] requires itself");
    assert!(d[0].labels.is_empty());
    assert!(c.edges.is_empty());
}

#[test]
fn a_component_that_is_not_one_ring_is_walked_through_every_member() {
    let n = 4;
    let mut c = catalog_of(n);
    // 0 <-> 1, 0 <-> 2, 2 -> 3 -> 0 : one component.
    for (a, b) in [(0, 1), (1, 0), (0, 2), (2, 0), (2, 3), (3, 0)] {
        c.edges.push(Edge {
            from: a,
            to: b,
            refresh: false,
            implicit: false,
        });
    }
    let d = link(&mut c);
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].message,
        "dependency cycle: Exec[e0] -> Exec[e1] -> Exec[e0] -> Exec[e2] -> Exec[e3] -> Exec[e0]"
    );
    assert_eq!(d[0].labels.len(), 3);
}

fn catalog_of(n: usize) -> Catalog {
    let eval = bare(
        (0..n)
            .map(|i| {
                (
                    "exec",
                    format!("e{i}"),
                    vec![("refreshonly", Value::Bool(true))],
                )
            })
            .collect(),
    );
    let (c, d) = build(eval, &crate::source::SourceMap::new(), &ContentStore::new());
    assert_eq!(d, []);
    c
}

#[test]
fn order_is_topological_with_ties_by_position() {
    let mut c = catalog_of(5);
    for (a, b) in [(3, 0), (4, 1), (2, 1)] {
        c.edges.push(Edge {
            from: a,
            to: b,
            refresh: false,
            implicit: false,
        });
    }
    assert_eq!(link(&mut c), []);
    assert_eq!(order(&c), [2, 3, 0, 4, 1]);
}

#[test]
fn dot_output_is_valid_graphviz() {
    let mut f = Fixture::new(
        "file \"/a \\\"q\\\" \\\\ b\" { content = \"a\" }\nservice \"s\" { subscribe = File[\"/a \\\"q\\\" \\\\ b\"] }\nfile \"/a \\\"q\\\" \\\\ b/c\" { content = \"c\" }\n",
    );
    f.res("file", "/a \"q\" \\ b");
    f.s("content", "a");
    let s = f.res("service", "s");
    let r = f.reference("File", "/a \"q\" \\ b");
    f.relate(Endpoint::Ref(r), Endpoint::Resource(s), true);
    f.res("file", "/a \"q\" \\ b/c");
    f.s("content", "c");
    let mut c = built(&f);
    c.node = "web\"01".into();
    assert_eq!(link(&mut c), []);
    let dot = to_dot(&c);
    assert_eq!(
        dot,
        "digraph \"web\\\"01\" {\n  rankdir=LR;\n  node [shape=box];\n  n0 [label=\"File[/a \\\"q\\\" \\\\ b]\"];\n  n1 [label=\"Service[s]\"];\n  n2 [label=\"File[/a \\\"q\\\" \\\\ b/c]\"];\n  n0 -> n1 [style=dashed];\n  n0 -> n2 [color=gray50];\n}\n"
    );
    // When Graphviz is installed, it must accept the output.
    if let Ok(mut child) = std::process::Command::new("dot")
        .arg("-Tcanon")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dot.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "dot rejected:\n{dot}");
    }
}

#[test]
fn a_hundred_thousand_resources_link() {
    // A deep tree of directories and files owned by a few users, plus a long explicit chain:
    // linear work and no recursion (tests never assert on time; see benches for that).
    let n = 100_000;
    let mut specs = vec![("user", "u".to_string(), vec![])];
    for i in 0..n {
        let path = format!("/d{}/d{}/f{i}", i % 100, (i / 100) % 100);
        specs.push(("file", path, vec![("owner", Value::str("u"))]));
    }
    for a in 0..100 {
        specs.push(("file", format!("/d{a}"), vec![]));
    }
    let eval = bare(specs);
    let (mut c, d) = build(eval, &crate::source::SourceMap::new(), &ContentStore::new());
    assert_eq!(d, []);
    for i in 1..n as u32 {
        c.edges.push(Edge {
            from: i,
            to: i + 1,
            refresh: false,
            implicit: false,
        });
    }
    assert_eq!(link(&mut c), []);
    assert_eq!(c.edges.len(), (n - 1) + n + n);
    assert_eq!(order(&c).len(), c.resources.len());
}

/// The strongly connected components of small pseudo-random graphs equal those given by
/// mutual reachability (a transitive closure), and `cyclic` says whether one has a cycle.
#[test]
fn components_are_mutual_reachability() {
    let mut rng = crate::catalog::testutil::xorshift(0x9e37_79b9_7f4a_7c15);
    let mut next = move |m: usize| rng(m as u64) as usize;
    for round in 0..200 {
        let n = 1 + round % 12;
        let m = next(2 * n + 1);
        let pairs: Vec<(usize, usize)> = (0..m).map(|_| (next(n), next(n))).collect();
        let g = Csr::new(n, pairs.iter().map(|&(a, b)| (a as u32, b as u32)));
        let (comp, cyclic) = cycles::components(&g);
        let mut reach = vec![vec![false; n]; n];
        for &(a, b) in &pairs {
            reach[a][b] = true;
        }
        for k in 0..n {
            for i in 0..n {
                for j in 0..n {
                    if reach[i][k] && reach[k][j] {
                        reach[i][j] = true;
                    }
                }
            }
        }
        for i in 0..n {
            for j in 0..n {
                let together = i == j || (reach[i][j] && reach[j][i]);
                assert_eq!(
                    comp[i] == comp[j],
                    together,
                    "round {round}: {i} {j} {pairs:?}"
                );
            }
        }
        let has_cycle = (0..n).any(|i| reach[i][i]);
        assert_eq!(cyclic, has_cycle, "round {round}: {pairs:?}");
    }
}

/// Merging sorted implicit edges into sorted explicit ones in place gives what sorting both
/// together gives.
#[test]
fn merging_sorted_edge_runs_equals_sorting_them() {
    let mut rng = crate::catalog::testutil::xorshift(0x2545_f491_4f6c_dd1d);
    let mut next = move |m: u32| rng(u64::from(m)) as u32;
    for round in 0..300 {
        let n = 1 + round % 9;
        let mut pairs: Vec<(u32, u32)> = (0..next(3 * n + 1)).map(|_| (next(n), next(n))).collect();
        pairs.sort_unstable();
        pairs.dedup();
        let edge = |(from, to): (u32, u32), implicit: bool| Edge {
            from,
            to,
            refresh: false,
            implicit,
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for &p in &pairs {
            if next(2) == 0 {
                a.push(edge(p, false));
            } else {
                b.push(edge(p, true));
            }
        }
        let mut expected: Vec<Edge> = a.iter().chain(&b).copied().collect();
        expected.sort_by_key(|e| (e.from, e.to));
        super::merge_sorted(&mut a, &b);
        assert_eq!(a, expected);
    }
}
