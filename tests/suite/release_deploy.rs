//! Releases deployed for real under a sandbox root: tarballs and git repositories built here.

use crate::support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fleet::internals::catalog::store::ContentStore;
use fleet::internals::release::{self, Env, Error, Limits, Spec};
use indexmap::IndexMap;
use serde_json::{json, Value};

const PATH: &str = "/srv/shop";

/// A sandbox: `dir/root` is the `--root`, `dir/outside` must never change.
struct Sandbox {
    dir: tempfile::TempDir,
    store: ContentStore,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("root")).unwrap();
        fs::create_dir_all(dir.path().join("outside")).unwrap();
        fs::write(dir.path().join("outside/keep.txt"), "untouched").unwrap();
        Sandbox {
            dir,
            store: ContentStore::new(),
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The deploy root on the host.
    fn deploy(&self) -> PathBuf {
        self.root().join("srv/shop")
    }

    fn env(&self) -> Env<'_> {
        Env::new(Some(self.root()), &self.store)
    }

    /// A spec for `bytes` with extra params (`version` included).
    fn spec(&self, bytes: Vec<u8>, extra: Value) -> Spec {
        let sha = self.store.add(bytes);
        let mut params: IndexMap<String, Value> =
            serde_json::from_value(json!({"path": PATH, "content_sha256": sha})).unwrap();
        for (k, v) in extra.as_object().unwrap() {
            params.insert(k.clone(), v.clone());
        }
        Spec::from_params("shop", &params).unwrap()
    }

    fn apply(&self, spec: &Spec) -> Result<release::Outcome, Error> {
        release::apply(spec, &self.env())
    }

    fn apply_within(
        &self,
        spec: &Spec,
        max_bytes: u64,
        max_files: u64,
    ) -> Result<release::Outcome, Error> {
        let limits = Limits {
            max_bytes,
            max_files,
        };
        release::apply(spec, &self.env().with_limits(limits))
    }

    fn current(&self) -> Option<String> {
        fs::read_link(self.deploy().join("current"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// Names in `releases/`, sorted, dotfiles included.
    fn releases(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.deploy().join("releases"))
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn assert_outside_untouched(&self) {
        let names: Vec<_> = fs::read_dir(self.dir.path().join("outside"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["keep.txt"]);
        assert_eq!(
            fs::read_to_string(self.dir.path().join("outside/keep.txt")).unwrap(),
            "untouched"
        );
        let names: Vec<_> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(names, ["outside", "root"]);
    }
}

/// A `.tar.gz` of files (`name/` makes a directory).
fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    for (name, content) in files {
        let mut h = tar::Header::new_gnu();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, name, std::io::empty()).unwrap();
        } else {
            h.set_mode(if name.ends_with(".sh") { 0o755 } else { 0o644 });
            h.set_size(content.len() as u64);
            b.append_data(&mut h, name, content.as_bytes()).unwrap();
        }
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn app(version: &str) -> Vec<u8> {
    tarball(&[
        ("./", ""),
        ("./config/", ""),
        ("./config/config.inc", "default config"),
        ("./public/index.php", version),
        ("./bin/run.sh", "#!/bin/sh\n"),
        ("./log/", ""),
    ])
}

/// A raw tar entry, names written byte for byte (no checks): `kind` b'0' file, b'2' symlink,
/// b'1' hard link.
fn raw_entry(b: &mut tar::Builder<Vec<u8>>, kind: u8, name: &str, link: &str, data: &str) {
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        old.linkflag[0] = kind;
    }
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data.as_bytes()).unwrap();
}

#[test]
fn first_deploy_unpacks_links_and_switches() {
    let sb = Sandbox::new();
    let spec = sb.spec(
        app("v1"),
        json!({"version": "v1", "shared": ["config/config.inc", "log"]}),
    );
    let plan = release::plan(&spec, &sb.env()).unwrap();
    assert!(plan.is_change());
    let lines = plan.lines();
    assert!(lines[0].starts_with("unpack sha256:") && lines[0].ends_with("into releases/v1"));
    assert_eq!(
        lines[1..],
        [
            "link config/config.inc -> shared/config/config.inc (new shared/config/config.inc: \
             seeded from the release's copy, or made empty without one)",
            "link log -> shared/log (new shared/log: seeded from the release's copy, or made \
             empty without one)",
            "point current at v1"
        ]
    );
    assert!(!sb.deploy().exists(), "plan changes nothing");

    let out = sb.apply(&spec).unwrap();
    assert!(out.changed());
    assert_eq!(sb.current().as_deref(), Some("releases/v1"));
    let rel = sb.deploy().join("releases/v1");
    assert_eq!(
        fs::read_to_string(rel.join("public/index.php")).unwrap(),
        "v1"
    );
    assert_eq!(
        fs::metadata(rel.join("bin/run.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert_eq!(
        fs::read_to_string(sb.deploy().join("current/public/index.php")).unwrap(),
        "v1"
    );
    assert_eq!(sb.releases(), [".v1.json", "v1"]);

    let infos = release::list(Path::new(PATH), Some(&sb.root())).unwrap();
    assert_eq!(infos.len(), 1);
    assert!(infos[0].current);
    assert_eq!(infos[0].content_sha256, spec.content_sha256);
    sb.assert_outside_untouched();
}

#[test]
fn redeploying_the_same_id_changes_nothing() {
    let sb = Sandbox::new();
    let log = sb.dir.path().join("root/hooks.log");
    let hook = format!("echo ran >> {}", log.display());
    let spec = sb.spec(app("v1"), json!({"version": "v1", "after_switch": hook}));
    sb.apply(&spec).unwrap();
    let meta_before = fs::read(sb.deploy().join("releases/.v1.json")).unwrap();
    let out = sb.apply(&spec).unwrap();
    assert!(!out.changed());
    assert_eq!(out.plan.lines(), ["no change"]);
    assert_eq!(
        release::plan(&spec, &sb.env()).unwrap().to_string(),
        "no change\n"
    );
    assert_eq!(fs::read_to_string(&log).unwrap(), "ran\n", "hooks ran once");
    assert_eq!(
        fs::read(sb.deploy().join("releases/.v1.json")).unwrap(),
        meta_before
    );
}

#[test]
fn a_new_version_switches_current() {
    let sb = Sandbox::new();
    sb.apply(&sb.spec(app("v1"), json!({"version": "v1"})))
        .unwrap();
    let spec2 = sb.spec(app("v2"), json!({"version": "v2"}));
    let plan = release::plan(&spec2, &sb.env()).unwrap();
    assert!(plan
        .lines()
        .contains(&"switch current from v1 to v2".to_string()));
    sb.apply(&spec2).unwrap();
    assert_eq!(sb.current().as_deref(), Some("releases/v2"));
    assert_eq!(
        fs::read_to_string(sb.deploy().join("current/public/index.php")).unwrap(),
        "v2"
    );
    assert_eq!(
        fs::read_to_string(sb.deploy().join("releases/v1/public/index.php")).unwrap(),
        "v1"
    );
    let ids: Vec<_> = release::list(Path::new(PATH), Some(&sb.root()))
        .unwrap()
        .into_iter()
        .map(|i| (i.id, i.current))
        .collect();
    assert_eq!(ids, [("v2".to_string(), true), ("v1".to_string(), false)]);
}

#[test]
fn the_id_defaults_to_the_content_hash() {
    let sb = Sandbox::new();
    let spec = sb.spec(app("v1"), json!({}));
    let sha = spec.content_sha256.clone().unwrap();
    sb.apply(&spec).unwrap();
    assert_eq!(sb.current(), Some(format!("releases/{}", &sha[..12])));
}

#[test]
fn keep_three_after_five_deploys_keeps_the_newest_by_deploy_order() {
    let sb = Sandbox::new();
    // Names sort opposite to deploy order: pruning must go by deploy order.
    for v in ["e", "d", "c", "b", "a"] {
        sb.apply(&sb.spec(app(v), json!({"version": v, "keep": 3})))
            .unwrap();
    }
    assert_eq!(sb.current().as_deref(), Some("releases/a"));
    assert_eq!(
        sb.releases(),
        [".a.json", ".b.json", ".c.json", "a", "b", "c"]
    );
    let ids: Vec<_> = release::list(Path::new(PATH), Some(&sb.root()))
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
}

#[test]
fn shared_paths_link_into_shared_and_survive_releases() {
    let sb = Sandbox::new();
    let shared = json!([
        "config/config.inc",
        "log",
        "uploads",
        "robots.txt",
        "tmp/cache/"
    ]);
    sb.apply(&sb.spec(app("v1"), json!({"version": "v1", "shared": shared})))
        .unwrap();
    let d = sb.deploy();
    let rel = d.join("releases/v1");
    assert_eq!(
        fs::read_link(rel.join("config/config.inc")).unwrap(),
        Path::new("../../../shared/config/config.inc")
    );
    assert_eq!(
        fs::read_link(rel.join("log")).unwrap(),
        Path::new("../../shared/log")
    );
    assert_eq!(
        fs::read_link(rel.join("tmp/cache")).unwrap(),
        Path::new("../../../shared/tmp/cache")
    );
    // Made the first time: `config.inc` and `log` seeded from the release's copies, a
    // directory for `uploads` (no `.`) and `tmp/cache/`, an empty file for `robots.txt`.
    assert_eq!(
        fs::read_to_string(d.join("shared/config/config.inc")).unwrap(),
        "default config"
    );
    assert_eq!(fs::read_to_string(d.join("shared/robots.txt")).unwrap(), "");
    assert!(d.join("shared/log").is_dir());
    assert!(d.join("shared/uploads").is_dir());
    assert!(d.join("shared/tmp/cache").is_dir());
    assert!(d.join("shared/robots.txt").is_file());

    fs::write(d.join("current/config/config.inc"), "db=prod").unwrap();
    fs::write(d.join("current/log/app.log"), "line 1\n").unwrap();
    sb.apply(&sb.spec(app("v2"), json!({"version": "v2", "shared": shared})))
        .unwrap();
    assert_eq!(sb.current().as_deref(), Some("releases/v2"));
    assert_eq!(
        fs::read_to_string(d.join("current/config/config.inc")).unwrap(),
        "db=prod"
    );
    assert_eq!(
        fs::read_to_string(d.join("current/log/app.log")).unwrap(),
        "line 1\n"
    );
    assert_eq!(
        fs::read_to_string(d.join("releases/v1/log/app.log")).unwrap(),
        "line 1\n"
    );
}

#[test]
fn a_shared_path_the_release_ships_seeds_shared_the_first_time_only() {
    let sb = Sandbox::new();
    let shipped = |version: &str| {
        tarball(&[
            ("./", ""),
            ("./config/", ""),
            ("./config/app.ini", &format!("db = {version}\n")),
            ("./bin/run.sh", "#!/bin/sh\n"),
            ("./assets/", ""),
            ("./assets/logo.txt", version),
            ("./assets/img/", ""),
            ("./assets/img/a.sh", "#!/bin/sh\n"),
        ])
    };
    let shared = json!(["config/app.ini", "assets", "bin/run.sh", "log"]);
    let out = sb
        .apply(&sb.spec(shipped("v1"), json!({"version": "v1", "shared": shared})))
        .unwrap();
    let d = sb.deploy();
    let lines = out.plan.lines();
    for want in [
        "link config/app.ini -> shared/config/app.ini (seeded shared/config/app.ini from the release)",
        "link assets -> shared/assets (seeded shared/assets from the release)",
        "link bin/run.sh -> shared/bin/run.sh (seeded shared/bin/run.sh from the release)",
        "link log -> shared/log (created shared/log/ empty: the release has none)",
    ] {
        assert!(lines.contains(&want.to_string()), "{want:?} in {lines:#?}");
    }
    assert_eq!(
        fs::read_to_string(d.join("shared/config/app.ini")).unwrap(),
        "db = v1\n"
    );
    assert_eq!(
        fs::read_to_string(d.join("current/config/app.ini")).unwrap(),
        "db = v1\n"
    );
    assert!(fs::symlink_metadata(d.join("releases/v1/config/app.ini"))
        .unwrap()
        .file_type()
        .is_symlink());
    let mode = |p: &str| fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("shared/bin/run.sh"), 0o755, "the file's mode is kept");
    assert_eq!(mode("shared/config/app.ini"), 0o644);
    assert_eq!(mode("shared/assets/img/a.sh"), 0o755);
    assert_eq!(
        fs::read_to_string(d.join("shared/assets/logo.txt")).unwrap(),
        "v1"
    );
    assert!(d.join("shared/log").is_dir());
    // No temporary names are left beside the seeded entries.
    let names: Vec<_> = fs::read_dir(d.join("shared"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");

    // The next release ships other content: what is in shared/ wins, and the step says so.
    fs::write(d.join("shared/config/app.ini"), "db = prod\n").unwrap();
    let spec = sb.spec(shipped("v2"), json!({"version": "v2", "shared": shared}));
    assert!(release::plan(&spec, &sb.env()).unwrap().lines().contains(
        &"link config/app.ini -> shared/config/app.ini (shared/config/app.ini exists and is kept)"
            .to_string()
    ));
    let out = sb
        .apply(&sb.spec(shipped("v2"), json!({"version": "v2", "shared": shared})))
        .unwrap();
    assert_eq!(sb.current().as_deref(), Some("releases/v2"));
    assert!(out.plan.lines().contains(
        &"link config/app.ini -> shared/config/app.ini (kept the existing shared/config/app.ini; \
          the release's copy was replaced by the link)"
            .to_string()
    ));
    assert!(out
        .plan
        .lines()
        .contains(&"link log -> shared/log (kept the existing shared/log)".to_string()));
    assert_eq!(
        fs::read_to_string(d.join("current/config/app.ini")).unwrap(),
        "db = prod\n"
    );
    assert_eq!(
        fs::read_to_string(d.join("current/assets/logo.txt")).unwrap(),
        "v1"
    );
    sb.assert_outside_untouched();
}

#[test]
fn seeding_shared_copies_links_as_links_and_never_follows_them() {
    let sb = Sandbox::new();
    // A link out of the release is refused at unpack, before anything is seeded.
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, b'5', "conf/", "", "");
    raw_entry(&mut b, b'0', "conf/a.ini", "", "a");
    raw_entry(&mut b, b'2', "conf/same.ini", "a.ini", "");
    raw_entry(
        &mut b,
        b'2',
        "conf/out.ini",
        "../../../../../outside/keep.txt",
        "",
    );
    let tar = b.into_inner().unwrap();
    sb.apply(&sb.spec(tar, json!({"version": "v1", "shared": ["conf"]})))
        .unwrap_err();
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, b'5', "conf/", "", "");
    raw_entry(&mut b, b'0', "conf/a.ini", "", "a");
    raw_entry(&mut b, b'2', "conf/same.ini", "a.ini", "");
    let tar = b.into_inner().unwrap();
    sb.apply(&sb.spec(tar, json!({"version": "v1", "shared": ["conf"]})))
        .unwrap();
    let d = sb.deploy();
    assert_eq!(
        fs::read_link(d.join("shared/conf/same.ini")).unwrap(),
        Path::new("a.ini")
    );
    assert_eq!(
        fs::read_to_string(d.join("current/conf/same.ini")).unwrap(),
        "a"
    );
    sb.assert_outside_untouched();
}

#[test]
fn hooks_run_in_order_in_the_new_release_with_the_environment() {
    let sb = Sandbox::new();
    let log = sb.dir.path().join("root/hooks.log");
    let line = |name: &str| {
        format!(
            "echo \"{name} $(pwd) $FLEET_RELEASE_ID $FLEET_RELEASE_PATH $FLEET_ROOT $(test -L log && echo linked)\" >> {}",
            log.display()
        )
    };
    let spec = sb.spec(
        app("v1"),
        json!({"version": "v1", "shared": ["log"], "before_switch": line("before"),
               "after_switch": line("after")}),
    );
    let out = sb.apply(&spec).unwrap();
    assert_eq!(
        out.hook_output.iter().map(|h| h.0).collect::<Vec<_>>(),
        ["before_switch", "after_switch"]
    );
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 2);
    let releases = sb.deploy().join("releases");
    let final_dir = releases.join("v1");
    let root = sb.root();
    // before_switch: in the temporary directory that becomes releases/v1, shared links made.
    assert_eq!(lines[0][0], "before");
    let cwd = Path::new(lines[0][1]);
    assert_eq!(cwd.parent().unwrap(), releases);
    assert!(cwd
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with(".tmp-v1-"));
    assert_eq!(
        lines[0][2..],
        [
            "v1",
            final_dir.to_str().unwrap(),
            root.to_str().unwrap(),
            "linked"
        ]
    );
    assert_eq!(lines[1][0], "after");
    assert_eq!(
        lines[1][1..],
        [
            final_dir.to_str().unwrap(),
            "v1",
            final_dir.to_str().unwrap(),
            root.to_str().unwrap(),
            "linked"
        ]
    );
}

/// After a failed deploy of v2: v1 is current and intact, nothing of v2 is left.
fn assert_v1_untouched(sb: &Sandbox) {
    assert_eq!(sb.current().as_deref(), Some("releases/v1"));
    assert_eq!(
        fs::read_to_string(sb.deploy().join("releases/v1/public/index.php")).unwrap(),
        "v1"
    );
    assert_eq!(sb.releases(), [".v1.json", "v1"]);
    let top: Vec<_> = fs::read_dir(sb.deploy())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("current."))
        .collect();
    assert!(top.is_empty(), "{top:?}");
    sb.assert_outside_untouched();
}

#[test]
fn a_corrupt_tarball_leaves_current_alone() {
    let sb = Sandbox::new();
    sb.apply(&sb.spec(app("v1"), json!({"version": "v1"})))
        .unwrap();
    let mut bytes = app("v2");
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0x5a;
    }
    let err = sb
        .apply(&sb.spec(bytes, json!({"version": "v2"})))
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert_v1_untouched(&sb);

    let truncated = app("v2")[..40].to_vec();
    let err = sb
        .apply(&sb.spec(truncated, json!({"version": "v2"})))
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert_v1_untouched(&sb);
}

/// `app(version)` plus `n` files of `size` bytes each.
fn big_app(version: &str, n: usize, size: usize) -> Vec<u8> {
    let data = "x".repeat(size);
    let names: Vec<String> = (0..n).map(|i| format!("./data/{i}.bin")).collect();
    let mut files = vec![
        ("./", ""),
        ("./config/", ""),
        ("./config/config.inc", "default config"),
        ("./public/index.php", version),
        ("./log/", ""),
    ];
    files.extend(names.iter().map(|n| (n.as_str(), data.as_str())));
    tarball(&files)
}

#[test]
fn archives_past_the_limits_are_refused_and_leave_current_alone() {
    let sb = Sandbox::new();
    sb.apply(&sb.spec(app("v1"), json!({"version": "v1"})))
        .unwrap();
    // 4 files of 64 KiB (plus 2 small ones): 256 KiB and a little of contents, 9 entries.
    let v2 = sb.spec(big_app("v2", 4, 64 << 10), json!({"version": "v2"}));
    let err = sb.apply_within(&v2, 256 << 10, 100).unwrap_err();
    assert!(matches!(err, Error::Limit(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("bigger than 256 KiB") && text.contains("FLEET_RELEASE_MAX_BYTES"),
        "{text}"
    );
    assert_v1_untouched(&sb);
    let err = sb.apply_within(&v2, 1 << 20, 8).unwrap_err();
    assert!(matches!(err, Error::Limit(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("more than 8 entries") && text.contains("FLEET_RELEASE_MAX_FILES"),
        "{text}"
    );
    assert_v1_untouched(&sb);

    // Headers are bounded too: a 2 MiB long name (a GNU long-name entry before its entry)
    // is refused, not read into memory, whatever the limits.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(1);
    b.append_data(&mut h, "n".repeat(2 << 20), "x".as_bytes())
        .unwrap();
    let v3 = sb.spec(b.into_inner().unwrap(), json!({"version": "v3"}));
    let err = sb.apply(&v3).unwrap_err();
    assert!(matches!(err, Error::Limit(_)), "{err}");
    assert!(
        err.to_string()
            .contains("headers (long names, pax records) take more than 1 MiB"),
        "{err}"
    );
    assert_v1_untouched(&sb);

    // Exactly at the limits it deploys.
    let contents = 4 * (64 << 10) + "default config".len() + "v2".len();
    sb.apply_within(&v2, contents as u64, 9).unwrap();
    assert_eq!(sb.current().as_deref(), Some("releases/v2"));
    assert_eq!(
        fs::read(sb.deploy().join("releases/v2/data/3.bin"))
            .unwrap()
            .len(),
        64 << 10
    );
}

/// A 200 MB release (a .tar.gz of 200 KB, made by the system's `tar` from a sparse file)
/// deploys with the default limits, and is refused one byte under its size.
#[test]
fn a_200_mb_release_deploys_with_the_default_limits() {
    let sb = Sandbox::new();
    let src = sb.dir.path().join("src");
    fs::create_dir(&src).unwrap();
    let size: u64 = 200 << 20;
    fs::File::create(src.join("data.bin"))
        .unwrap()
        .set_len(size)
        .unwrap();
    let tgz = sb.dir.path().join("app.tgz");
    let made = Command::new("tar")
        .arg("czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&src)
        .arg("data.bin")
        .status()
        .unwrap();
    assert!(made.success());
    fs::remove_dir_all(&src).unwrap();
    let bytes = fs::read(&tgz).unwrap();
    assert!(bytes.len() < 4 << 20, "{}", bytes.len());
    let spec = sb.spec(bytes, json!({"version": "v1"}));
    let err = sb.apply_within(&spec, size - 1, 10).unwrap_err();
    assert!(matches!(err, Error::Limit(_)), "{err}");
    assert_eq!(sb.current(), None);
    assert_eq!(sb.releases(), Vec::<String>::new());
    sb.apply(&spec).unwrap();
    assert_eq!(sb.current().as_deref(), Some("releases/v1"));
    let data = sb.deploy().join("releases/v1/data.bin");
    assert_eq!(fs::metadata(&data).unwrap().len(), size);
}

#[test]
fn limits_from_the_environment_variables() {
    let l = Limits::from_values(Some("512K"), Some("10")).unwrap();
    assert_eq!((l.max_bytes, l.max_files), (512 << 10, 10));
    let l = Limits::from_values(Some("3g"), None).unwrap();
    assert_eq!(
        (l.max_bytes, l.max_files),
        (3 << 30, Limits::default().max_files)
    );
    assert_eq!(
        Limits::from_values(Some("1000"), None).unwrap().max_bytes,
        1000
    );
    for bad in ["", "1.5G", "-1", "12Q", "99999999999T"] {
        let err = Limits::from_values(Some(bad), None).unwrap_err();
        assert!(
            err.to_string().contains("FLEET_RELEASE_MAX_BYTES"),
            "{bad}: {err}"
        );
    }
    let err = Limits::from_values(None, Some("many")).unwrap_err();
    assert!(err.to_string().contains("FLEET_RELEASE_MAX_FILES"), "{err}");
}

/// A store read from a directory streams the archive from its file and checks its sha256
/// while unpacking: bytes that are not what their name says deploy nothing.
#[test]
fn a_release_streams_from_a_content_directory_and_is_verified() {
    let sb = Sandbox::new();
    let content = sb.dir.path().join("content");
    fs::create_dir(&content).unwrap();
    let v1 = app("v1");
    let sha = sb.store.add(v1.clone());
    fs::write(content.join(&sha), &v1).unwrap();
    let store = ContentStore::from_dir(&content);
    let params = |sha: &str, v: &str| -> IndexMap<String, Value> {
        serde_json::from_value(json!({"path": PATH, "version": v, "content_sha256": sha})).unwrap()
    };
    let env = Env::new(Some(sb.root()), &store);
    release::apply(
        &Spec::from_params("shop", &params(&sha, "v1")).unwrap(),
        &env,
    )
    .unwrap();
    assert_eq!(sb.current().as_deref(), Some("releases/v1"));

    // v2's bytes under the name of other bytes.
    let v2 = app("v2");
    let wrong = "ab".repeat(32);
    fs::write(content.join(&wrong), &v2).unwrap();
    let err = release::apply(
        &Spec::from_params("shop", &params(&wrong, "v2")).unwrap(),
        &env,
    )
    .unwrap_err();
    assert!(matches!(err, Error::MissingContent(_)), "{err}");
    fs::remove_dir_all(&content).unwrap();
    assert_v1_untouched(&sb);
}

#[test]
fn missing_content_leaves_current_alone() {
    let sb = Sandbox::new();
    sb.apply(&sb.spec(app("v1"), json!({"version": "v1"})))
        .unwrap();
    let mut params: IndexMap<String, Value> = serde_json::from_value(
        json!({"path": PATH, "version": "v2", "content_sha256": "ab".repeat(32)}),
    )
    .unwrap();
    params.insert("keep".into(), json!(2));
    let spec = Spec::from_params("shop", &params).unwrap();
    let err = sb.apply(&spec).unwrap_err();
    assert!(matches!(err, Error::MissingContent(_)), "{err}");
    assert_v1_untouched(&sb);
}

#[test]
fn a_failing_before_switch_leaves_current_alone() {
    let sb = Sandbox::new();
    sb.apply(&sb.spec(app("v1"), json!({"version": "v1"})))
        .unwrap();
    let spec = sb.spec(
        app("v2"),
        json!({"version": "v2", "before_switch": "echo migrating; echo broken >&2; exit 3",
               "after_switch": "echo never > after.txt"}),
    );
    let err = sb.apply(&spec).unwrap_err();
    match &err {
        Error::Hook { hook, output, .. } => {
            assert_eq!(*hook, "before_switch");
            assert_eq!(output, "migrating\nbroken\n");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("exit status: 3"), "{err}");
    assert_v1_untouched(&sb);
}

#[test]
fn a_failing_after_switch_reports_that_current_moved() {
    let sb = Sandbox::new();
    let err = sb
        .apply(&sb.spec(
            app("v1"),
            json!({"version": "v1", "after_switch": "exit 1"}),
        ))
        .unwrap_err();
    assert!(matches!(err, Error::AfterSwitch(_)), "{err}");
    assert!(err
        .to_string()
        .starts_with("current was switched, but after_switch failed"));
    assert_eq!(sb.current().as_deref(), Some("releases/v1"));
}

/// Runs in a child process when `FLEET_RELEASE_CHILD` names a job (the "re-exec self" pattern
/// used by `killed_deploy_is_cleaned_up_by_the_next_run`); otherwise deploys through a child
/// process and checks it completes.
#[test]
fn deploy_in_a_child_process() {
    if let Ok(job) = std::env::var("FLEET_RELEASE_CHILD") {
        let job: Value = serde_json::from_str(&job).unwrap();
        let store = ContentStore::new();
        let sha = store.add(fs::read(job["tarball"].as_str().unwrap()).unwrap());
        let mut params: IndexMap<String, Value> =
            serde_json::from_value(job["params"].clone()).unwrap();
        params.insert("content_sha256".into(), json!(sha));
        let spec = Spec::from_params("shop", &params).unwrap();
        let env = Env::new(Some(PathBuf::from(job["root"].as_str().unwrap())), &store);
        std::process::exit(match release::apply(&spec, &env) {
            Ok(_) => 0,
            Err(_) => 1,
        });
    }
    let sb = Sandbox::new();
    let mut child = spawn_child(&sb, "v1", json!({}));
    assert!(child.wait().unwrap().success());
    assert_eq!(sb.current().as_deref(), Some("releases/v1"));
}

fn spawn_child(sb: &Sandbox, version: &str, extra: Value) -> std::process::Child {
    let tarball = sb.dir.path().join(format!("root/{version}.tar.gz"));
    fs::write(&tarball, app(version)).unwrap();
    let mut params = json!({"path": PATH, "version": version});
    for (k, v) in extra.as_object().unwrap() {
        params[k] = v.clone();
    }
    let job = json!({"root": sb.root(), "tarball": tarball, "params": params});
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            // The test's full name in the `suite` binary (module path, crate name aside).
            "release_deploy::deploy_in_a_child_process",
            "--test-threads=1",
            "--quiet",
        ])
        .env("FLEET_RELEASE_CHILD", job.to_string())
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap()
}

#[test]
fn killed_deploy_is_cleaned_up_by_the_next_run() {
    let sb = Sandbox::new();
    sb.apply(&sb.spec(app("v1"), json!({"version": "v1", "shared": ["log"]})))
        .unwrap();
    let marker = sb.dir.path().join("root/started");
    let hook = format!("touch {}; sleep 60", marker.display());
    let mut child = spawn_child(&sb, "v2", json!({"shared": ["log"], "before_switch": hook}));
    let start = Instant::now();
    while !marker.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the child never reached before_switch"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Kill the child and its hook (its own process group).
    let group = rustix::process::Pid::from_child(&child);
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    child.wait().unwrap();

    assert_eq!(sb.current().as_deref(), Some("releases/v1"));
    assert_eq!(
        fs::read_to_string(sb.deploy().join("releases/v1/public/index.php")).unwrap(),
        "v1"
    );
    let tmp = format!(".tmp-v2-{}", child.id());
    assert_eq!(
        sb.releases(),
        [tmp.as_str(), ".v1.json", "v1"],
        "killed mid-way"
    );

    let spec = sb.spec(app("v2"), json!({"version": "v2", "shared": ["log"]}));
    let plan = release::plan(&spec, &sb.env()).unwrap();
    assert_eq!(plan.lines()[0], format!("remove leftover releases/{tmp}"));
    sb.apply(&spec).unwrap();
    assert_eq!(sb.current().as_deref(), Some("releases/v2"));
    assert_eq!(sb.releases(), [".v1.json", ".v2.json", "v1", "v2"]);
}

/// A tarball whose first entries are fine and whose last one is `evil`.
fn malicious(evil: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, b'0', "public/index.php", "", "v2");
    evil(&mut b);
    b.into_inner().unwrap()
}

#[test]
fn malicious_tarballs_are_refused_and_nothing_outside_is_touched() {
    let sb = Sandbox::new();
    sb.apply(&sb.spec(app("v1"), json!({"version": "v1"})))
        .unwrap();
    let outside = sb.dir.path().join("outside");
    let abs = outside.join("abs.txt");
    let etc_probe = format!("/etc/fleet-release-test-{}", std::process::id());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dot-dot",
            malicious(|b| raw_entry(b, b'0', "../../../../../outside/evil", "", "x")),
        ),
        (
            "nested dot-dot",
            malicious(|b| raw_entry(b, b'0', "public/../../x", "", "x")),
        ),
        (
            "absolute",
            malicious(|b| raw_entry(b, b'0', abs.to_str().unwrap(), "", "x")),
        ),
        (
            "symlink to /etc",
            malicious(|b| {
                raw_entry(b, b'2', "public/etc", "/etc", "");
                raw_entry(b, b'0', &format!("public/etc/{}", &etc_probe[5..]), "", "x");
            }),
        ),
        (
            "relative symlink out",
            malicious(|b| {
                raw_entry(b, b'2', "up", "../../../../../outside", "");
                raw_entry(b, b'0', "up/evil", "", "x");
            }),
        ),
        (
            "symlink through a symlink",
            malicious(|b| {
                raw_entry(b, b'2', "a/b/s", "../..", "");
                raw_entry(b, b'2', "l", "a/b/s/../..", "");
            }),
        ),
        (
            "write through an inside symlink",
            malicious(|b| {
                raw_entry(b, b'2', "pub", "public", "");
                raw_entry(b, b'0', "pub/x", "", "x");
            }),
        ),
        (
            "hard link out",
            malicious(|b| {
                raw_entry(b, b'1', "keep", "../../../../../outside/keep.txt", "");
            }),
        ),
        (
            "hard link absolute",
            malicious(|b| {
                raw_entry(
                    b,
                    b'1',
                    "keep",
                    outside.join("keep.txt").to_str().unwrap(),
                    "",
                );
            }),
        ),
    ];
    for (name, bytes) in cases {
        let err = sb
            .apply(&sb.spec(bytes, json!({"version": "v2"})))
            .unwrap_err();
        assert!(matches!(err, Error::Unsafe(_)), "{name}: {err}");
        assert_v1_untouched(&sb);
        assert!(!Path::new(&etc_probe).exists(), "{name}");
        assert!(!sb.deploy().join("outside").exists(), "{name}");
    }
    // A symlink that stays inside, and a hard link to an unpacked file, are fine.
    let ok = malicious(|b| {
        raw_entry(b, b'2', "public/home.php", "index.php", "");
        raw_entry(b, b'2', "docs/index.php", "../public/index.php", "");
        raw_entry(b, b'1', "copy.php", "public/index.php", "");
    });
    sb.apply(&sb.spec(ok, json!({"version": "v2"}))).unwrap();
    let d = sb.deploy();
    assert_eq!(
        fs::read_to_string(d.join("current/docs/index.php")).unwrap(),
        "v2"
    );
    assert_eq!(
        fs::read_to_string(d.join("current/copy.php")).unwrap(),
        "v2"
    );
    sb.assert_outside_untouched();
}

#[test]
fn ensure_absent_removes_releases_and_current_and_keeps_shared() {
    let sb = Sandbox::new();
    sb.apply(&sb.spec(app("v1"), json!({"version": "v1", "shared": ["log"]})))
        .unwrap();
    sb.apply(&sb.spec(app("v2"), json!({"version": "v2", "shared": ["log"]})))
        .unwrap();
    let params: IndexMap<String, Value> =
        serde_json::from_value(json!({"path": PATH, "ensure": "absent"})).unwrap();
    let absent = Spec::from_params("shop", &params).unwrap();
    assert_eq!(
        release::plan(&absent, &sb.env()).unwrap().lines(),
        [
            "remove current",
            "remove releases/ (v2, v1), keeping shared/"
        ]
    );
    assert!(sb.apply(&absent).unwrap().changed());
    let d = sb.deploy();
    assert!(fs::symlink_metadata(d.join("current")).is_err());
    assert!(!d.join("releases").exists());
    assert!(d.join("shared/log").is_dir());
    assert!(!sb.apply(&absent).unwrap().changed());
}

#[test]
fn owner_and_group_are_set_by_name_under_the_root() {
    let sb = Sandbox::new();
    let etc = sb.root().join("etc");
    fs::create_dir_all(&etc).unwrap();
    // Root may give files away; anyone may give them to themselves.
    let (uid, gid) = if rustix::process::geteuid().is_root() {
        (4242, 4343)
    } else {
        (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        )
    };
    fs::write(
        etc.join("passwd"),
        format!("root:x:0:0::/root:/bin/sh\ndeploy:x:{uid}:{gid}::/:/bin/sh\n"),
    )
    .unwrap();
    fs::write(etc.join("group"), format!("root:x:0:\nwww:x:{gid}:\n")).unwrap();
    let spec = sb.spec(
        app("v1"),
        json!({"version": "v1", "owner": "deploy", "group": "www", "shared": ["log"]}),
    );
    sb.apply(&spec).unwrap();
    let d = sb.deploy();
    for p in [
        "releases/v1",
        "releases/v1/public/index.php",
        "releases/v1/config",
        "shared/log",
    ] {
        let m = fs::symlink_metadata(d.join(p)).unwrap();
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{p}");
    }
    let link = fs::symlink_metadata(d.join("releases/v1/log")).unwrap();
    assert_eq!((link.uid(), link.gid()), (uid, gid));

    let bad = sb.spec(app("v2"), json!({"version": "v2", "owner": "nobody-here"}));
    let err = sb.apply(&bad).unwrap_err();
    assert!(err.to_string().contains("no user \"nobody-here\""), "{err}");
    assert_eq!(sb.current().as_deref(), Some("releases/v1"));
}

#[test]
fn switching_back_to_a_kept_release_reuses_it() {
    let sb = Sandbox::new();
    let log = sb.dir.path().join("root/hooks.log");
    let hook = format!("echo \"$FLEET_RELEASE_ID $(pwd)\" >> {}", log.display());
    let v1 = sb.spec(app("v1"), json!({"version": "v1", "before_switch": hook}));
    sb.apply(&v1).unwrap();
    sb.apply(&sb.spec(app("v2"), json!({"version": "v2"})))
        .unwrap();
    let plan = release::plan(&v1, &sb.env()).unwrap();
    assert!(plan.unpack.is_none());
    assert!(plan
        .lines()
        .contains(&"switch current from v2 to v1".to_string()));
    sb.apply(&v1).unwrap();
    assert_eq!(sb.current().as_deref(), Some("releases/v1"));
    let second = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(
        second,
        format!("v1 {}", sb.deploy().join("releases/v1").display())
    );
    let ids: Vec<_> = release::list(Path::new(PATH), Some(&sb.root()))
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["v1", "v2"], "v1 is newest again");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Compiles `manifest` (written into the sandbox) for node `n1` with the real binary and
/// returns the catalog's only release's params; the content store goes to `out/content`.
fn compile_release(sb: &Sandbox, manifest: &str) -> IndexMap<String, Value> {
    let file = sb.dir.path().join("site.fleet");
    fs::write(&file, manifest).unwrap();
    let out = sb.dir.path().join("out");
    let _ = fs::remove_dir_all(&out);
    let run = support::run(
        support::command()
            .args(["compile", "--all", "--out"])
            .arg(&out)
            .arg(&file),
    );
    assert!(run.status.success(), "{}", run.stderr);
    for blob in fs::read_dir(out.join("content")).unwrap() {
        sb.store.add(fs::read(blob.unwrap().path()).unwrap());
    }
    let doc: Value = serde_json::from_slice(&fs::read(out.join("default.json")).unwrap()).unwrap();
    let release = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "release")
        .unwrap()
        .clone();
    serde_json::from_value(release["params"].clone()).unwrap()
}

/// Runs the real binary with extra environment variables; (success, stdout + stderr).
fn run_fleet(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> (bool, String) {
    let out = support::fleet_env(args, env);
    (
        out.status.success(),
        format!("{}{}", out.stdout, out.stderr),
    )
}

/// Sources bigger than the content store keeps in memory (a tarball, and a directory tarred
/// at compile time) deploy through `fleet apply FILE` and through `compile --all` +
/// `apply --catalog`, within the limits the environment variables set, and not past them.
#[test]
fn big_sources_deploy_within_the_limits_set_by_the_environment() {
    let sb = Sandbox::new();
    let big = "y".repeat(5 << 20);
    fs::write(sb.dir.path().join("big.tar"), {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(big.len() as u64);
        b.append_data(&mut h, "big.bin", big.as_bytes()).unwrap();
        h.set_size(6);
        b.append_data(&mut h, "README", "readme".as_bytes())
            .unwrap();
        b.into_inner().unwrap()
    })
    .unwrap();
    let tree = sb.dir.path().join("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::write(tree.join("sub/big.bin"), &big).unwrap();
    fs::write(tree.join("small.txt"), "small").unwrap();
    let site = sb.dir.path().join("site.fleet");
    fs::write(
        &site,
        "release \"big\" {\n  path = \"/srv/big\"\n  source = \"big.tar\"\n  version = \"v1\"\n}\n\
         release \"tree\" {\n  path = \"/srv/tree\"\n  source = \"tree\"\n  version = \"v1\"\n}\n",
    )
    .unwrap();
    let root = sb.root();
    let apply = |env: &[(&str, &str)]| {
        run_fleet(
            &[
                "apply".as_ref(),
                site.as_os_str(),
                "--root".as_ref(),
                root.as_os_str(),
            ],
            env,
        )
    };
    let nothing_deployed = |what: &str| {
        for app in ["big", "tree"] {
            let releases = root.join("srv").join(app).join("releases");
            let left: Vec<_> = fs::read_dir(&releases)
                .map(|d| d.map(|e| e.unwrap().file_name()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "{what}: {app}: {left:?}");
            assert!(
                !root.join("srv").join(app).join("current").exists(),
                "{what}"
            );
        }
    };

    let (ok, text) = apply(&[("FLEET_RELEASE_MAX_BYTES", "4M")]);
    assert!(!ok, "{text}");
    assert_eq!(text.matches("bigger than 4 MiB").count(), 2, "{text}");
    assert!(text.contains("raise FLEET_RELEASE_MAX_BYTES"), "{text}");
    nothing_deployed("over the byte limit");
    let (ok, text) = apply(&[("FLEET_RELEASE_MAX_FILES", "1")]);
    assert!(!ok, "{text}");
    assert_eq!(text.matches("more than 1 entries").count(), 2, "{text}");
    nothing_deployed("over the file limit");
    let (ok, text) = apply(&[("FLEET_RELEASE_MAX_BYTES", "lots")]);
    assert!(
        !ok && text.contains("FLEET_RELEASE_MAX_BYTES=\"lots\" is not a size"),
        "{text}"
    );
    nothing_deployed("a bad limit");

    let (ok, text) = apply(&[("FLEET_RELEASE_MAX_BYTES", "6M")]);
    assert!(ok, "{text}");
    assert_eq!(
        fs::read(root.join("srv/big/current/big.bin"))
            .unwrap()
            .len(),
        5 << 20
    );
    assert_eq!(
        fs::read(root.join("srv/tree/current/sub/big.bin"))
            .unwrap()
            .len(),
        5 << 20
    );

    // Compiled to a directory: both blobs are written whole and named by their sha256.
    let out = sb.dir.path().join("out");
    let (ok, text) = run_fleet(
        &[
            "compile".as_ref(),
            "--all".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            site.as_os_str(),
        ],
        &[],
    );
    assert!(ok, "{text}");
    let mut blobs = 0;
    for blob in fs::read_dir(out.join("content")).unwrap() {
        let blob = blob.unwrap();
        let name = blob.file_name().to_string_lossy().into_owned();
        let bytes = fs::read(blob.path()).unwrap();
        assert_eq!(fleet::internals::model::digest::sha256_hex(&bytes), name);
        assert!(bytes.len() > 5 << 20);
        blobs += 1;
    }
    assert_eq!(blobs, 2);
    let fresh = sb.dir.path().join("fresh");
    fs::create_dir(&fresh).unwrap();
    let (ok, text) = run_fleet(
        &[
            "apply".as_ref(),
            "--catalog".as_ref(),
            out.join("default.json").as_os_str(),
            "--root".as_ref(),
            fresh.as_os_str(),
        ],
        &[],
    );
    assert!(ok, "{text}");
    assert_eq!(
        fs::read(fresh.join("srv/tree/current/sub/big.bin")).unwrap(),
        big.as_bytes()
    );
}

#[test]
fn a_git_revision_is_exported_without_dot_git() {
    let sb = Sandbox::new();
    let repo = sb.dir.path().join("repo");
    fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "--quiet"]);
    fs::create_dir(repo.join("public")).unwrap();
    fs::write(repo.join("public/index.php"), "tagged").unwrap();
    fs::write(repo.join("deploy.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(repo.join("deploy.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "one"]);
    git(&repo, &["tag", "v1"]);
    let tagged = git(&repo, &["rev-parse", "HEAD"]);
    fs::write(repo.join("public/index.php"), "later").unwrap();
    git(&repo, &["commit", "--quiet", "-am", "two"]);

    let manifest = |revision: &str| {
        format!(
            "release \"shop\" {{ path = \"{PATH}\", repo = \"{}\", revision = \"{revision}\" }}\n",
            repo.display()
        )
    };
    let params = compile_release(&sb, &manifest("v1"));
    assert_eq!(params["commit"], tagged.as_str());
    let by_commit = compile_release(&sb, &manifest(&tagged));
    assert_eq!(
        params["content_sha256"], by_commit["content_sha256"],
        "deterministic"
    );
    let head = compile_release(&sb, &manifest("HEAD"));
    assert_ne!(head["commit"], params["commit"]);

    let spec = Spec::from_params("shop", &params).unwrap();
    assert_eq!(spec.id, tagged[..12]);
    sb.apply(&spec).unwrap();
    let rel = sb.deploy().join("releases").join(&tagged[..12]);
    assert_eq!(
        fs::read_to_string(rel.join("public/index.php")).unwrap(),
        "tagged"
    );
    assert_eq!(
        fs::metadata(rel.join("deploy.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert!(!rel.join(".git").exists());
    let info = &release::list(Path::new(PATH), Some(&sb.root())).unwrap()[0];
    assert_eq!(info.commit.as_deref(), Some(tagged.as_str()));
}

#[test]
fn a_directory_source_tars_deterministically() {
    let sb = Sandbox::new();
    let make = |name: &str, order: &[&str]| {
        let dir = sb.dir.path().join(name);
        for f in order {
            let p = dir.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, f).unwrap();
        }
        fs::set_permissions(dir.join("b/run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink("b/run.sh", dir.join("link")).unwrap();
        dir
    };
    let one = make("one", &["a.txt", "b/run.sh", "b/z/deep.txt"]);
    std::thread::sleep(Duration::from_millis(20));
    let two = make("two", &["b/z/deep.txt", "b/run.sh", "a.txt"]);
    let a = fleet::internals::catalog::content::tar_dir(&one).unwrap();
    let b = fleet::internals::catalog::content::tar_dir(&two).unwrap();
    assert_eq!(a, b);
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(a.as_slice());
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(
            (h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()),
            (0, 0, 0)
        );
        if e.path().unwrap().ends_with("run.sh") {
            // Modes are kept as git keeps them: executable or not.
            assert_eq!(h.mode().unwrap(), 0o755);
        }
        names.push(
            e.path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string(),
        );
    }
    assert_eq!(
        names,
        ["a.txt", "b", "b/run.sh", "b/z", "b/z/deep.txt", "link"]
    );
    // And it deploys.
    let spec = sb.spec(a, json!({"version": "dir1"}));
    sb.apply(&spec).unwrap();
    assert_eq!(
        fs::read_to_string(sb.deploy().join("current/link")).unwrap(),
        "b/run.sh"
    );
}

#[test]
fn an_empty_archive_is_refused() {
    let sb = Sandbox::new();
    sb.apply(&sb.spec(app("v1"), json!({"version": "v1"})))
        .unwrap();
    for bytes in [Vec::new(), vec![0; 1024]] {
        let err = sb
            .apply(&sb.spec(bytes, json!({"version": "v2"})))
            .unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
        assert_v1_untouched(&sb);
    }
}

#[test]
fn a_current_release_deleted_by_hand_is_deployed_again() {
    let sb = Sandbox::new();
    let spec = sb.spec(app("v1"), json!({"version": "v1"}));
    sb.apply(&spec).unwrap();
    fs::remove_dir_all(sb.deploy().join("releases/v1")).unwrap();
    assert!(sb.apply(&spec).unwrap().changed());
    assert_eq!(
        fs::read_to_string(sb.deploy().join("current/public/index.php")).unwrap(),
        "v1"
    );
    assert!(!sb.apply(&spec).unwrap().changed());
}

#[test]
fn a_current_that_is_a_directory_is_not_replaced() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.deploy().join("current/old-app")).unwrap();
    let err = sb
        .apply(&sb.spec(app("v1"), json!({"version": "v1"})))
        .unwrap_err();
    assert!(err.to_string().contains("switch"), "{err}");
    assert!(sb.deploy().join("current/old-app").is_dir());
    assert!(sb.releases().is_empty(), "{:?}", sb.releases());
}

#[test]
fn a_hook_that_leaves_a_daemon_behind_does_not_hang_the_deploy() {
    let sb = Sandbox::new();
    let pidfile = sb.dir.path().join("root/daemon.pid");
    let hook = format!("echo starting; sleep 30 & echo $! > {}", pidfile.display());
    let out = sb
        .apply(&sb.spec(app("v1"), json!({"version": "v1", "after_switch": hook})))
        .unwrap();
    let pid: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The deploy returned while the daemon, holding the hook's stdout, still runs.
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    let alive = rustix::process::test_kill_process(pid).is_ok();
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    assert!(alive, "the deploy waited for the hook's background process");
    assert_eq!(
        out.hook_output,
        [("after_switch", "starting\n".to_string())]
    );
}

/// Issue 11 item 2: links planted inside the root (`srv`, `srv/shop`, `releases`, `shared`,
/// `shared/<dir>`, absolute or relative, pointing out of the root) never lead a deploy, a
/// redeploy or a rollback out of it: nothing outside is created, changed or deleted.
#[test]
fn planted_links_never_lead_a_deploy_or_rollback_out_of_the_root() {
    use std::os::unix::fs::symlink;
    // (where, relative target from there, whether it is planted before the first deploy)
    let cases: &[(&str, &str, bool)] = &[
        ("srv", "../../outside", true),
        ("srv/shop", "../../../outside", true),
        ("srv/shop/releases", "../../../../outside", true),
        ("srv/shop/shared", "../../../../outside", true),
        ("srv/shop/shared/log", "../../../../../outside", true),
        ("srv/shop/shared/tmp", "../../../../../outside", true),
        // After two deploys: a rollback or the next deploy through a swapped directory.
        ("srv/shop/releases", "../../../../outside", false),
        ("srv/shop", "../../../outside", false),
    ];
    for &(at, relative, before) in cases {
        for absolute in [true, false] {
            let sb = Sandbox::new();
            let outside = sb.dir.path().join("outside");
            // What a planted `releases` link would let a rollback delete.
            fs::create_dir_all(outside.join("v2/public")).unwrap();
            fs::create_dir_all(outside.join("releases/v2")).unwrap();
            let snapshot = || snapshot_dir(&outside);
            let was = snapshot();
            let target = if absolute {
                outside.clone()
            } else {
                PathBuf::from(relative)
            };
            let link = sb.root().join(at);
            let plant = || {
                if fs::symlink_metadata(&link).is_ok() {
                    fs::rename(&link, link.with_extension("moved")).unwrap();
                }
                fs::create_dir_all(link.parent().unwrap()).unwrap();
                symlink(&target, &link).unwrap();
            };
            if before {
                plant();
            }
            let shared = json!(["log", "tmp/cache/", "config/config.inc"]);
            let mut results = Vec::new();
            for v in ["v1", "v2"] {
                let spec = sb.spec(app(v), json!({"version": v, "shared": shared}));
                results.push(sb.apply(&spec).map(|_| ()).map_err(|e| e.to_string()));
            }
            if !before {
                plant();
            }
            let rolled = release::rollback(Path::new(PATH), Some(&sb.root()), None);
            let spec = sb.spec(app("v3"), json!({"version": "v3", "shared": shared}));
            let again = sb.apply(&spec).map(|_| ()).map_err(|e| e.to_string());
            assert_eq!(
                snapshot(),
                was,
                "{at} -> {target:?}: outside changed ({results:?}, {rolled:?}, {again:?})"
            );
        }
    }
}

/// Every path under `dir` with its kind and content.
fn snapshot_dir(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let md = fs::symlink_metadata(&p).unwrap();
            let what = if md.is_dir() {
                todo.push(p.clone());
                "dir".to_string()
            } else if md.file_type().is_symlink() {
                format!("link {}", fs::read_link(&p).unwrap().display())
            } else {
                fs::read_to_string(&p).unwrap_or_default()
            };
            out.push((p.strip_prefix(dir).unwrap().display().to_string(), what));
        }
    }
    out.sort();
    out
}
