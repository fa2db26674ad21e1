//! Tests for `catalog::build` and `to_doc`, over hand-built evaluations of the conformance
//! cases' manifests.

use super::testutil::Fixture;
use super::*;
use crate::model::declared::{ContainerKind, Endpoint};

fn run(f: &Fixture) -> (Catalog, Vec<Diagnostic>) {
    build(f.eval.clone(), &f.sources, &ContentStore::new())
}

fn refs(c: &Catalog) -> Vec<String> {
    c.resources
        .iter()
        .map(|r| json::reference(&r.kind, &r.title))
        .collect()
}

fn edges(c: &Catalog) -> Vec<(String, String, bool)> {
    let name = |i: usize| json::reference(&c.resources[i].kind, &c.resources[i].title);
    c.edges
        .iter()
        .map(|e| (name(e.from as usize), name(e.to as usize), e.refresh))
        .collect()
}

fn e(a: &str, b: &str, refresh: bool) -> (String, String, bool) {
    (a.into(), b.into(), refresh)
}

#[test]
fn unknown_resource_type_at_kind_with_suggestion() {
    let mut f = Fixture::new(
        "# expect: error unknown-resource-type 2:1\npackge \"nginx\" { ensure = present }\n",
    );
    f.res("packge", "nginx");
    f.s("ensure", "present");
    let (c, d) = run(&f);
    assert_eq!(f.positions(&d), [("unknown-resource-type", 2, 1)]);
    assert_eq!(d[0].help.as_deref(), Some("did you mean `package`?"));
    assert!(c.resources.is_empty());
}

#[test]
fn unknown_attribute_at_name_with_suggestion() {
    let mut f = Fixture::new("# expect\nfile \"/etc/motd\" {\n  contents = \"hi\\n\"\n}\n");
    f.res("file", "/etc/motd");
    f.s("contents", "hi\n");
    let (c, d) = run(&f);
    assert_eq!(f.positions(&d), [("unknown-attribute", 3, 3)]);
    assert_eq!(d[0].help.as_deref(), Some("did you mean `content`?"));
    assert!(c.resources[0].params.is_empty());
}

#[test]
fn invalid_enum_at_value_with_suggestion() {
    let mut f = Fixture::new("# expect\nservice \"nginx\" { ensure = runing }\n");
    f.res("service", "nginx");
    f.s("ensure", "runing");
    let (_, d) = run(&f);
    assert_eq!(f.positions(&d), [("invalid-value", 2, 28)]);
    assert_eq!(d[0].help.as_deref(), Some("did you mean `running`?"));
}

#[test]
fn invalid_modes_and_int_modes_rendered_octal() {
    let mut f = Fixture::new(
        "# expect\nfile \"/etc/motd\" {\n  content = \"hi\\n\"\n  mode    = \"0999\"\n}\nfile \"/b\" { mode = 0o644 }\nfile \"/c\" { mode = 4096 }\nfile \"/d\" { mode = \"644\" }\n",
    );
    f.res("file", "/etc/motd");
    f.s("content", "hi\n").s("mode", "0999");
    f.res("file", "/b");
    f.attr("mode", Value::Int(0o644));
    f.res("file", "/c");
    f.attr("mode", Value::Int(4096));
    f.res("file", "/d");
    f.s("mode", "644");
    let (c, d) = run(&f);
    assert_eq!(
        f.positions(&d),
        [("invalid-value", 4, 13), ("invalid-value", 7, 20)]
    );
    assert_eq!(c.resources[1].params["mode"].value, Value::str("0644"));
    assert_eq!(c.resources[3].params["mode"].value, Value::str("0644"));
}

#[test]
fn relative_file_title_at_title_and_relative_path_attr_at_value() {
    let mut f = Fixture::new(
        "# expect\nfile \"etc/motd\" { content = \"hi\\n\" }\nfile \"x\" { path = \"etc/x\" }\n",
    );
    f.res("file", "etc/motd");
    f.s("content", "hi\n");
    f.res("file", "x");
    f.s("path", "etc/x");
    let (_, d) = run(&f);
    assert_eq!(
        f.positions(&d),
        [("invalid-value", 2, 6), ("invalid-value", 3, 19)]
    );
}

#[test]
fn wrong_value_types() {
    let mut f = Fixture::new(
        "service \"a\" { enable = \"yes\", ensure = 3 }\npackage \"p\" { ensure = \"1.2-3\" }\nuser \"u\" { groups = \"g\", uid = \"x\" }\n",
    );
    f.res("service", "a");
    f.s("enable", "yes").attr("ensure", Value::Int(3));
    f.res("package", "p");
    f.s("ensure", "1.2-3");
    f.res("user", "u");
    f.s("groups", "g").s("uid", "x");
    let (c, d) = run(&f);
    assert_eq!(
        f.positions(&d),
        [
            ("invalid-value", 1, 24),
            ("invalid-value", 1, 40),
            ("invalid-value", 3, 32),
            // `g` is no group the catalog manages, nor a system group.
            ("unknown-group", 3, 21)
        ]
    );
    assert!(d[0].message.contains("expects Bool"), "{}", d[0].message);
    assert_eq!(c.resources[1].params["ensure"].value, Value::str("1.2-3"));
}

#[test]
fn content_and_source_together_at_the_second() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("motd"), "x").unwrap();
    let mut f = Fixture::in_dir(
        dir.path(),
        "file \"/a\" { content = \"a\", source = \"motd\" }\nrelease \"r\" { path = \"/srv/r\", repo = \"/nope\", source = \"motd\" }\n",
    );
    f.res("file", "/a");
    f.s("content", "a").s("source", "motd");
    f.res("release", "r");
    f.s("path", "/srv/r").s("repo", "/nope").s("source", "motd");
    let opts = BuildOptions {
        load_content: false,
        ..Default::default()
    };
    let (c, d) = build_with(f.eval.clone(), &f.sources, &ContentStore::new(), &opts);
    assert_eq!(
        f.positions(&d),
        [
            ("invalid-value", 1, 37),
            ("invalid-value", 2, 57),
            // Check, as compile, finds that the `repo` kept does not exist.
            ("source-not-found", 2, 39)
        ]
    );
    assert!(!c.resources[0].params.contains_key("source"));
}

#[test]
fn missing_attribute_at_kind() {
    let mut f =
        Fixture::new("# expect\nrelease \"shop\" { path = \"/srv/shop\" }\nrelease \"x\" { }\n");
    f.res("release", "shop");
    f.s("path", "/srv/shop");
    f.res("release", "x");
    let (_, d) = run(&f);
    assert_eq!(
        f.positions(&d),
        [("missing-attribute", 2, 1), ("missing-attribute", 3, 1)]
    );
    assert!(d[1]
        .message
        .contains("`path` and one of `source` and `repo`"));
}

#[test]
fn release_keep_shared_and_dotdot_paths() {
    let mut f = Fixture::new(
        "release \"r\" { path = \"/srv/../r\", source = \"/\", keep = 0, shared = [\"log\", \"../etc\"] }\nfile \"/x\" { content = \"x\", noop = true }\n",
    );
    f.res("release", "r");
    f.s("path", "/srv/../r")
        .s("source", "/")
        .attr("keep", Value::Int(0));
    f.attr(
        "shared",
        Value::array(vec![Value::str("log"), Value::str("../etc")]),
    );
    f.res("file", "/x");
    f.s("content", "x").attr("noop", Value::Bool(true));
    let opts = BuildOptions {
        load_content: false,
        ..Default::default()
    };
    let (c, d) = build_with(f.eval.clone(), &f.sources, &ContentStore::new(), &opts);
    assert_eq!(
        f.positions(&d),
        [
            ("invalid-value", 1, 22),
            ("invalid-value", 1, 56),
            ("invalid-value", 1, 68)
        ]
    );
    assert!(!c.resources[1].params.contains_key("noop"));
}

#[test]
fn a_link_needs_a_target() {
    let mut f = Fixture::new(
        "file \"/l\" { ensure = link }\nfile \"/m\" { ensure = link, target = \"/l\" }\n",
    );
    f.res("file", "/l");
    f.s("ensure", "link");
    f.res("file", "/m");
    f.s("ensure", "link").s("target", "/l");
    let (_, d) = run(&f);
    assert_eq!(f.positions(&d), [("missing-attribute", 1, 1)]);
}

#[test]
fn source_not_found_at_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fixture::in_dir(
        dir.path(),
        "# expect\nfile \"/etc/nginx/nginx.conf\" { source = \"files/nginx.conf\" }\nfile \"/m\" { source = \"nomod:x\" }\n",
    );
    f.res("file", "/etc/nginx/nginx.conf");
    f.s("source", "files/nginx.conf");
    f.res("file", "/m");
    f.s("source", "nomod:x");
    let (_, d) = run(&f);
    assert_eq!(
        f.positions(&d),
        [("source-not-found", 2, 41), ("source-not-found", 3, 22)]
    );
}

#[test]
fn lints_at_their_spans() {
    let mut f = Fixture::new(
        "# expect\n# expect\n# expect\n# expect\nlet $unused = 1\nexec \"/usr/bin/apt-get update\" { }\nfile \"/tmp/x\" { content = \"x\", mode = \"0777\" }\nuser \"deploy\" { password = \"hunter2\" }\n",
    );
    f.res("exec", "/usr/bin/apt-get update");
    f.res("file", "/tmp/x");
    f.s("content", "x").s("mode", "0777");
    f.res("user", "deploy");
    f.s("password", "hunter2");
    let (_, d) = run(&f);
    assert_eq!(
        f.positions(&d),
        [
            ("exec-without-guard", 6, 1),
            ("world-writable", 7, 39),
            ("plaintext-password", 8, 28)
        ]
    );
    assert!(d.iter().all(|d| !d.is_error()));
}

#[test]
fn guarded_execs_private_files_and_hashes_are_clean() {
    let mut f = Fixture::new(
        "exec \"/usr/bin/make install\" { cwd = \"/opt/app\", creates = \"/opt/app/bin/app\" }\nexec \"/usr/sbin/nginx -s reload\" { refreshonly = true }\nfile \"/etc/secret\" { content = \"s\\n\", mode = 0o600 }\nuser \"deploy\" { password = '$6$x' }\n",
    );
    f.res("exec", "/usr/bin/make install");
    f.s("cwd", "/opt/app").s("creates", "/opt/app/bin/app");
    f.res("exec", "/usr/sbin/nginx -s reload");
    f.attr("refreshonly", Value::Bool(true));
    f.res("file", "/etc/secret");
    f.s("content", "s\n").attr("mode", Value::Int(0o600));
    f.res("user", "deploy");
    f.s("password", "$6$x");
    let (_, d) = run(&f);
    assert_eq!(d, []);
}

#[test]
fn conflicting_duplicate_at_second_kind_with_label_on_first() {
    let mut f = Fixture::new(
        "# expect\nfile \"/etc/motd\" { content = \"a\" }\nfile \"/etc/motd\" { content = \"b\" }\n",
    );
    f.res("file", "/etc/motd");
    f.s("content", "a");
    f.res("file", "/etc/motd");
    f.s("content", "b");
    let (c, d) = run(&f);
    assert_eq!(f.positions(&d), [("duplicate-resource", 3, 1)]);
    assert_eq!(d[0].message, "File[\"/etc/motd\"] is already declared");
    assert_eq!(d[0].labels.len(), 1);
    assert_eq!(d[0].labels[0].message, "first declared here");
    assert_eq!(
        d[0].notes,
        ["`content` is \"b\" here but \"a\" in the first"]
    );
    let first = d[0].labels[0].span;
    assert_eq!(
        f.sources.get(first.file).line_col(first.start as usize),
        (2, 1)
    );
    assert_eq!(c.resources.len(), 1);
}

#[test]
fn identical_duplicates_merge_keeping_the_first_and_both_relations() {
    // compile/09, plus tags and a relation from each copy.
    let mut f = Fixture::new(
        "group \"ops\" { gid = 600 }\ngroup \"ops\" { gid = 600, noop = true }\nfile \"/etc/a\" { content = \"a\", require = Group[\"ops\"] }\nfile \"/etc/b\" { content = \"b\" }\n",
    );
    let g1 = f.res("group", "ops");
    f.attr("gid", Value::Int(600)).tag("first");
    let g2 = f.res("group", "ops");
    f.attr("gid", Value::Int(600))
        .attr("noop", Value::Bool(true))
        .tag("second")
        .tag("first");
    let a = f.res("file", "/etc/a");
    f.s("content", "a");
    f.require(a, "Group", "ops");
    let b = f.res("file", "/etc/b");
    f.s("content", "b");
    f.relate(Endpoint::Resource(g2), Endpoint::Resource(b), true);
    f.relate(Endpoint::Resource(g1), Endpoint::Resource(b), false);
    let (c, d) = run(&f);
    assert_eq!(d, []);
    assert_eq!(refs(&c), ["Group[ops]", "File[/etc/a]", "File[/etc/b]"]);
    assert_eq!(c.resources[0].tags, ["group", "first", "second"]);
    assert_eq!(c.resources[0].kind_span, f.eval.resources[g1].kind_span);
    assert!(!c.resources[0].params.contains_key("noop"));
    assert_eq!(
        edges(&c),
        [
            e("Group[ops]", "File[/etc/a]", false),
            e("Group[ops]", "File[/etc/b]", true)
        ]
    );
}

#[test]
fn identity_is_the_namevar_and_references_match_either() {
    let mut f = Fixture::new(
        "file \"motd\" { path = \"/etc/motd\" }\nfile \"/etc/motd/\" { path = \"/etc/motd\" }\nservice \"s\" { require = File[\"/etc/motd\"], before = File[\"motd\"], notify = Package[\"x\"] }\npackage \"apache\" { name = \"httpd\" }\npackage \"x\" { alias = \"y\" }\nexec \"e\" { refreshonly = true, require = Package[\"apache\"], before = Package[\"httpd\"], subscribe = Package[\"y\"] }\n",
    );
    f.res("file", "motd");
    f.s("path", "/etc/motd");
    f.res("file", "/etc/motd/");
    f.s("path", "/etc/motd");
    let s = f.res("service", "s");
    f.require(s, "File", "/etc/motd");
    let r = f.reference("File", "motd");
    f.relate(Endpoint::Resource(s), Endpoint::Ref(r), false);
    let r = f.reference("Package", "x");
    f.relate(Endpoint::Resource(s), Endpoint::Ref(r), true);
    f.res("package", "apache");
    f.s("name", "httpd");
    f.res("package", "x");
    f.s("alias", "y");
    let x = f.res("exec", "e");
    f.attr("refreshonly", Value::Bool(true));
    f.require(x, "Package", "apache");
    let r = f.reference("Package", "httpd");
    f.relate(Endpoint::Resource(x), Endpoint::Ref(r), false);
    f.require(x, "Package", "y");
    let (c, d) = run(&f);
    assert_eq!(d, []);
    assert_eq!(
        refs(&c),
        [
            "File[/etc/motd]",
            "Service[s]",
            "Package[httpd]",
            "Package[x]",
            "Exec[e]"
        ]
    );
    assert!(!c.resources[3].params.contains_key("alias"));
    assert_eq!(
        edges(&c),
        [
            e("File[/etc/motd]", "Service[s]", false),
            e("Service[s]", "File[/etc/motd]", false),
            e("Service[s]", "Package[x]", true),
            e("Package[httpd]", "Exec[e]", false),
            e("Package[x]", "Exec[e]", false),
            e("Exec[e]", "Package[httpd]", false),
        ]
    );
}

#[test]
fn unresolved_reference_at_the_reference_once() {
    let mut f = Fixture::new(
        "# expect\nservice \"nginx\" {\n  ensure  = running\n  require = Package[\"nginx\"]\n}\npackage \"nginxx\" { }\nbogus \"q\" { }\nfile \"/q\" { require = Bogus[\"q\"] }\n",
    );
    let s = f.res("service", "nginx");
    f.s("ensure", "running");
    let r = f.reference("Package", "nginx");
    // The same reference twice (as in a define body evaluated twice) is one problem.
    f.relate(Endpoint::Ref(r.clone()), Endpoint::Resource(s), false);
    f.relate(Endpoint::Ref(r), Endpoint::Resource(s), false);
    f.res("package", "nginxx");
    f.res("bogus", "q");
    let q = f.res("file", "/q");
    f.require(q, "Bogus", "q");
    let (c, d) = run(&f);
    assert_eq!(
        f.positions(&d),
        [
            ("unknown-resource-type", 7, 1),
            ("unresolved-reference", 4, 13)
        ]
    );
    assert_eq!(
        d[1].help.as_deref(),
        Some("did you mean Package[\"nginxx\"]?")
    );
    assert!(c.edges.is_empty());
}

#[test]
fn unresolved_reference_notes_an_absent_type_and_suggests_a_type_name() {
    let mut f = Fixture::new("file \"/a\" { require = Pakage[\"x\"], before = Service[\"y\"] }\n");
    let a = f.res("file", "/a");
    f.require(a, "Pakage", "x");
    let r = f.reference("Service", "y");
    f.relate(Endpoint::Resource(a), Endpoint::Ref(r), false);
    let (_, d) = run(&f);
    assert_eq!(
        f.positions(&d),
        [
            ("unresolved-reference", 1, 23),
            ("unresolved-reference", 1, 45)
        ]
    );
    assert_eq!(
        d[0].notes,
        ["nothing of type `Pakage` is declared for node `n1`"]
    );
    assert_eq!(d[0].help.as_deref(), Some("did you mean `package`?"));
    assert_eq!(
        d[1].notes,
        ["nothing of type `Service` is declared for node `n1`"]
    );
    assert_eq!(d[1].help, None);
}

#[test]
fn classes_and_defines_expand_onto_their_resources() {
    // compile/02-classes-defines, node web01.
    let mut f = Fixture::new(
        "class app {\n  package \"app\" { ensure = present }\n  file \"/etc/app.conf\" { content = \"x\\n\" }\n}\ndefine site($port: Int) {\n  file \"/etc/sites/${title}\" { content = \"port ${port}\\n\" }\n  file \"/etc/sites/${title}.enabled\" { ensure = link, target = \"/etc/sites/${title}\" }\n}\nnode \"web01\" {\n  include app\n  site \"shop\" { port = 8080, require = Class[\"app\"] }\n  service \"app\" { ensure = running, subscribe = Site[\"shop\"] }\n}\n",
    );
    let p = f.res("package", "app");
    f.s("ensure", "present").tag("app");
    let a = f.res("file", "/etc/app.conf");
    f.s("content", "x\n").tag("app");
    f.find("file");
    f.find("file");
    f.find("node");
    f.container(ContainerKind::Class, "app", vec![p, a], vec![]);
    let class_ref = f.reference("Class", "app");
    let s1 = f.eval.resources.len();
    f.eval.resources.push(crate::model::declared::Declared {
        kind: "file".into(),
        kind_span: f.eval.resources[a].kind_span,
        title: "/etc/sites/shop".into(),
        title_span: f.eval.resources[a].title_span,
        label: None,
        params: [("content".to_string(), {
            let c = &f.eval.resources[a].params["content"];
            crate::model::attrs::Attr::new(Value::str("port 8080\n"), c.name_span(), c.value_span())
        })]
        .into_iter()
        .collect(),
        tags: vec!["site".into()],
    });
    let mut s2decl = f.eval.resources[s1].clone();
    s2decl.title = "/etc/sites/shop.enabled".into();
    f.eval.resources.push(s2decl);
    let site = f.container(
        ContainerKind::Define("site".into()),
        "shop",
        vec![s1, s1 + 1],
        vec![],
    );
    f.relate(Endpoint::Ref(class_ref), Endpoint::Container(site), false);
    let svc = f.res("service", "app");
    f.s("ensure", "running");
    let site_ref = f.reference("Site", "shop");
    f.relate(Endpoint::Ref(site_ref), Endpoint::Resource(svc), true);
    let (c, d) = run(&f);
    assert_eq!(d, []);
    assert_eq!(c.resources[2].tags, ["file", "site"]);
    assert_eq!(c.resources[0].tags, ["package", "app"]);
    assert_eq!(
        edges(&c),
        [
            e("Package[app]", "File[/etc/sites/shop]", false),
            e("Package[app]", "File[/etc/sites/shop.enabled]", false),
            e("File[/etc/app.conf]", "File[/etc/sites/shop]", false),
            e(
                "File[/etc/app.conf]",
                "File[/etc/sites/shop.enabled]",
                false
            ),
            e("File[/etc/sites/shop]", "Service[app]", true),
            e("File[/etc/sites/shop.enabled]", "Service[app]", true),
        ]
    );
}

#[test]
fn nested_containers_expand_transitively_and_self_edges_through_them_drop() {
    let mut f = Fixture::new("file \"/a\" { }\nfile \"/b\" { }\nfile \"/c\" { }\n");
    let a = f.res("file", "/a");
    let b = f.res("file", "/b");
    let cc = f.res("file", "/c");
    let inner = f.container(ContainerKind::Define("x".into()), "i", vec![b], vec![]);
    let outer = f.container(ContainerKind::Class, "outer", vec![a], vec![inner]);
    // A container cycle (contain loops) must not hang; `inner` then holds `/a` too.
    f.eval.containers[inner].children.push(outer);
    f.relate(Endpoint::Container(outer), Endpoint::Resource(cc), false);
    f.relate(Endpoint::Resource(a), Endpoint::Container(outer), false);
    // Through a container, a resource related to itself is no edge.
    let solo = f.container(ContainerKind::Define("y".into()), "s", vec![cc], vec![]);
    f.relate(Endpoint::Resource(cc), Endpoint::Container(solo), true);
    f.relate(Endpoint::Container(inner), Endpoint::Resource(cc), true);
    let (c, d) = run(&f);
    assert_eq!(d, []);
    assert_eq!(
        edges(&c),
        [
            e("File[/a]", "File[/b]", false),
            e("File[/a]", "File[/c]", true),
            e("File[/b]", "File[/c]", true),
        ]
    );
}

#[test]
fn sources_go_to_the_store_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("files/tree/sub")).unwrap();
    std::fs::write(dir.path().join("files/motd"), "hello\n").unwrap();
    std::fs::write(dir.path().join("files/tree/b"), "b").unwrap();
    std::fs::write(dir.path().join("files/tree/sub/a"), "a").unwrap();
    let text = "file \"/etc/motd\" { source = \"files/motd\" }\nfile \"/opt/tree\" { ensure = directory, source = \"files/tree\" }\nrelease \"t\" { path = \"/srv/t\", source = \"files/tree\" }\n";
    let mut f = Fixture::in_dir(dir.path(), text);
    f.res("file", "/etc/motd");
    f.s("source", "files/motd");
    f.res("file", "/opt/tree");
    f.s("ensure", "directory").s("source", "files/tree");
    f.res("release", "t");
    f.s("path", "/srv/t").s("source", "files/tree");
    let store = ContentStore::new();
    let (c, d) = build(f.eval.clone(), &f.sources, &store);
    assert_eq!(d, []);
    let motd = crate::model::digest::sha256_hex(b"hello\n");
    let params = &c.resources[0].params;
    assert_eq!(params.keys().collect::<Vec<_>>(), ["content_sha256"]);
    assert_eq!(params["content_sha256"].value, Value::str(motd.as_str()));
    let tree = c.resources[1].params["content_sha256"].value.clone();
    assert_eq!(
        c.resources[1].params.keys().collect::<Vec<_>>(),
        ["ensure", "content_sha256"]
    );
    let tree_sha = tree.as_str().unwrap().to_string();
    assert_eq!(
        c.resources[2].params["version"].value,
        Value::str(&tree_sha[..12])
    );
    // The tar lists entries sorted, with zeroed times and owners.
    let bytes = store.get(&tree_sha).unwrap();
    let mut ar = tar::Archive::new(bytes.as_slice());
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            assert_eq!(e.header().mtime().unwrap(), 0);
            assert_eq!(e.header().uid().unwrap(), 0);
            e.path().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    assert_eq!(names, ["b", "sub/", "sub/a"]);
    // Touching the files changes nothing; a second build gives the same sha.
    std::fs::write(dir.path().join("files/tree/b"), "b").unwrap();
    let (c2, _) = build(f.eval.clone(), &f.sources, &ContentStore::new());
    assert_eq!(c2.resources[1].params["content_sha256"].value, tree);
    let mut store_shas = store.shas();
    store_shas.sort();
    let mut want = vec![motd, tree_sha];
    want.sort();
    assert_eq!(store_shas, want);
}

#[test]
fn module_sources_use_the_resolver() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ntp/files")).unwrap();
    std::fs::write(dir.path().join("ntp/files/ntp.conf"), "server x\n").unwrap();
    let mut f = Fixture::new("file \"/etc/ntp.conf\" { source = \"ntp:files/ntp.conf\" }\n");
    f.res("file", "/etc/ntp.conf");
    f.s("source", "ntp:files/ntp.conf");
    let root = dir.path().to_path_buf();
    let resolver = move |_: crate::source::FileId, m: &str| (m == "ntp").then(|| root.join("ntp"));
    let opts = BuildOptions {
        module_dir: Some(&resolver),
        ..Default::default()
    };
    let (c, d) = build_with(f.eval.clone(), &f.sources, &ContentStore::new(), &opts);
    assert_eq!(d, []);
    assert_eq!(
        c.resources[0].params["content_sha256"].value,
        Value::str(crate::model::digest::sha256_hex(b"server x\n"))
    );
}

#[test]
fn module_sources_without_a_resolver_look_beside_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ntp/files")).unwrap();
    std::fs::write(dir.path().join("ntp/files/ntp.conf"), "server y\n").unwrap();
    let mut f = Fixture::in_dir(
        dir.path(),
        "file \"/etc/ntp.conf\" { source = \"ntp:files/ntp.conf\" }\nfile \"/x\" { source = \"site:x\" }\n",
    );
    f.res("file", "/etc/ntp.conf");
    f.s("source", "ntp:files/ntp.conf");
    f.res("file", "/x");
    f.s("source", "site:x");
    let (c, d) = run(&f);
    assert_eq!(f.positions(&d), [("source-not-found", 2, 22)]);
    assert!(d[0].message.contains("module `site`"), "{}", d[0].message);
    assert_eq!(
        c.resources[0].params["content_sha256"].value,
        Value::str(crate::model::digest::sha256_hex(b"server y\n"))
    );
}

#[test]
fn release_repo_resolves_a_commit_and_archives_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !git(&["init", "-q"]) {
        eprintln!("git not available; repo export not exercised");
        return;
    }
    std::fs::write(repo.join("index.php"), "<?php\n").unwrap();
    assert!(git(&["add", "."]));
    assert!(git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-qm",
        "one"
    ]));
    assert!(git(&["tag", "v1"]));
    let mut f = Fixture::in_dir(
        dir.path(),
        "release \"app\" { path = \"/srv/app\", repo = \"app\", revision = \"v1\" }\nrelease \"bad\" { path = \"/srv/bad\", repo = \"app\", revision = \"nope\" }\n",
    );
    f.res("release", "app");
    f.s("path", "/srv/app").s("repo", "app").s("revision", "v1");
    f.res("release", "bad");
    f.s("path", "/srv/bad")
        .s("repo", "app")
        .s("revision", "nope");
    let store = ContentStore::new();
    let (c, d) = build(f.eval.clone(), &f.sources, &store);
    assert_eq!(f.positions(&d), [("invalid-value", 2, 61)]);
    let p = &c.resources[0].params;
    let commit = p["commit"].value.as_str().unwrap().to_string();
    assert_eq!(commit.len(), 40);
    assert_eq!(p["version"].value, Value::str(&commit[..12]));
    let sha = p["content_sha256"].value.as_str().unwrap();
    let tar = store.get(sha).unwrap();
    let mut ar = tar::Archive::new(tar.as_slice());
    assert!(ar
        .entries()
        .unwrap()
        .any(|e| e.unwrap().path().unwrap().ends_with("index.php")));
}

#[test]
fn to_doc_renders_params_sources_edges_and_seals() {
    // compile/01-basic.
    let mut f = Fixture::new(
        "# node: web01\npackage \"nginx\" { ensure = latest }\nfile \"/etc/nginx\" { ensure = directory }\nfile \"/etc/nginx/nginx.conf\" {\n  content = \"worker_processes 4;\\n\"\n  mode    = 0o644\n  require = Package[\"nginx\"]\n  notify  = Service[\"nginx\"]\n}\nservice \"nginx\" { ensure = running }\n",
    );
    f.eval.node = "web01".into();
    f.res("package", "nginx");
    f.s("ensure", "latest");
    f.res("file", "/etc/nginx");
    f.s("ensure", "directory");
    let conf = f.res("file", "/etc/nginx/nginx.conf");
    f.s("content", "worker_processes 4;\n")
        .attr("mode", Value::Int(0o644));
    f.require(conf, "Package", "nginx");
    f.notify(conf, "Service", "nginx");
    f.res("service", "nginx");
    f.s("ensure", "running");
    let mut prov = IndexMap::new();
    prov.insert("mac".to_string(), Value::str("52:54:00:00:00:01"));
    f.eval.provision = Some(prov);
    let (mut c, d) = run(&f);
    assert_eq!(d, []);
    let link = crate::graph::link(&mut c);
    assert_eq!(link, []);
    let doc = to_doc(&c, &f.sources);
    assert_eq!(doc.node, "web01");
    let r = &doc.resources[2];
    assert_eq!(r.reference(), "File[/etc/nginx/nginx.conf]");
    assert_eq!(r.params["mode"], "0644");
    assert_eq!(r.params.len(), 2);
    assert_eq!(r.tags, ["file"]);
    assert_eq!(
        (r.source.file.as_str(), r.source.line, r.source.column),
        ("site.fleet", 4, 1)
    );
    let es: Vec<(&str, &str, bool)> = doc
        .edges
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str(), e.refresh))
        .collect();
    assert_eq!(
        es,
        [
            ("Package[nginx]", "File[/etc/nginx/nginx.conf]", false),
            ("File[/etc/nginx]", "File[/etc/nginx/nginx.conf]", false),
            ("File[/etc/nginx/nginx.conf]", "Service[nginx]", true),
        ]
    );
    assert_eq!(doc.provision.as_ref().unwrap()["mac"], "52:54:00:00:00:01");
    assert!(doc.version.starts_with("sha256:"));
    assert_eq!(doc, to_doc(&c, &f.sources));
}

#[test]
fn none_attributes_count_as_unset() {
    let mut f = Fixture::new("file \"/a\" { content = none, mode = none }\n");
    f.res("file", "/a");
    f.attr("content", Value::None).attr("mode", Value::None);
    let (c, d) = run(&f);
    assert_eq!(d, []);
    assert!(c.resources[0].params.is_empty());
}
