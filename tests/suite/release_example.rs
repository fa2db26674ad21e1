//! `examples/webapp`: a release deployed next to its nginx site in one graph, applied for real
//! into a sandbox root, then again with nothing to change.

use crate::support;

use std::path::Path;

use support::{fleet, Run};

const EXAMPLE: &str = "examples/webapp/site.fleet";

#[test]
fn the_release_is_ordered_after_the_site_it_needs() {
    let Run {
        code,
        stdout: out,
        stderr: err,
        ..
    } = fleet(["compile", "--node", "web01", EXAMPLE]);
    assert_eq!(code, 0, "{err}");
    let cat: serde_json::Value = serde_json::from_str(&out).unwrap();
    let edges: Vec<(String, String)> = cat["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_string(),
                e["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(edges.contains(&(
        "File[/etc/nginx/sites-enabled/shop.conf]".into(),
        "Release[shop]".into()
    )));
    let release = cat["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "release")
        .unwrap();
    assert!(
        release["params"]["content_sha256"].is_string(),
        "the app travels by content"
    );
    assert!(release["params"].get("source").is_none());
}

#[test]
fn applies_into_a_root_and_then_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();

    let Run {
        code,
        stdout: plan,
        stderr: err,
        ..
    } = fleet(["apply", "--noop", "--root", r, "--node", "web01", EXAMPLE]);
    assert_eq!(code, 0, "{err}");
    let site = plan
        .find("+ File[/etc/nginx/sites-enabled/shop.conf]")
        .expect(&plan);
    let release = plan.find("+ Release[shop]").expect(&plan);
    assert!(site < release, "{plan}");
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        0,
        "noop wrote nothing"
    );

    // The hooks (before_switch checks the release) run on the host when the run says so.
    let Run {
        code,
        stdout: out,
        stderr: err,
        ..
    } = fleet([
        "apply",
        "--root",
        r,
        "--run-host-commands",
        "--node",
        "web01",
        EXAMPLE,
    ]);
    assert_eq!(code, 0, "{err}");
    // The first deploy says, without --verbose, what became of each shared path.
    assert!(
        out.contains("(seeded shared/config/settings.ini from the release)"),
        "{out}"
    );
    assert!(
        out.contains("(created shared/log/ empty: the release has none)"),
        "{out}"
    );
    let settings_text =
        std::fs::read_to_string(root.path().join("srv/shop/shared/config/settings.ini")).unwrap();
    assert_eq!(
        settings_text,
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/webapp/app/config/settings.ini")
        )
        .unwrap(),
        "shared/ is seeded with the release's copy"
    );
    let shop = root.path().join("srv/shop");
    let current = std::fs::read_link(shop.join("current")).unwrap();
    assert!(current.starts_with("releases"), "{current:?}");
    let index = shop.join("current/public/index.php");
    assert!(std::fs::read_to_string(&index).unwrap().contains("shop"));
    let settings = std::fs::read_link(shop.join("current/config/settings.ini")).unwrap();
    assert!(
        Path::new(&settings).ends_with("shared/config/settings.ini"),
        "{settings:?}"
    );
    assert!(shop.join("shared/log").is_dir());
    let conf =
        std::fs::read_to_string(root.path().join("etc/nginx/sites-enabled/shop.conf")).unwrap();
    assert!(conf.contains("root /srv/shop/current/public;"), "{conf}");

    let Run {
        code,
        stdout: out,
        stderr: err,
        ..
    } = fleet([
        "apply",
        "--root",
        r,
        "--run-host-commands",
        "--node",
        "web01",
        "--detailed-exitcodes",
        EXAMPLE,
    ]);
    assert_eq!(code, 0, "second run changes nothing: {out}{err}");
    let Run {
        code, stdout: list, ..
    } = fleet(["release", "list", "--root", r, "/srv/shop"]);
    assert_eq!(code, 0);
    assert_eq!(
        list.lines().filter(|l| l.starts_with('*')).count(),
        1,
        "{list}"
    );
}
