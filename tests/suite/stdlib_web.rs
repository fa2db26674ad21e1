//! The web stdlib modules against their real daemons.
//!
//! - `nginx`: every site it renders (static, PHP through FastCGI, proxied to an upstream
//!   whose members are the fleet's `nodes()`, proxied to a URL) passes the real `nginx -t`
//!   through the `validate` command in the catalog, which wraps it in a minimal main config
//!   (run as `nobody` when the suite runs as root: the check needs no privilege); a broken
//!   site is refused with nginx's own words. The main nginx.conf passes `nginx -t -c %`
//!   from a temporary path beside it, with the sites and upstreams it includes, and a
//!   broken site there makes it fail (so the check covers them). Applied into a `--root`
//!   sandbox, a site nginx rejects fails its resource and leaves the old file.
//! - `php_fpm`: rendered pools pass the real `php-fpm8.2 -t` (wrapped in a [global]
//!   section); bad pm numbers and an unknown user are refused.
//! - `mysql`: against a private MariaDB server (started and stopped by the test), an
//!   applied `mysql::db` makes the database, the user (who logs in with the password) and
//!   the grant; a second run changes nothing; a new password is set; the password is in
//!   no output, no command, no file under the root, and only in the 0600 catalog as a
//!   `{"sensitive": …}` value.
//! - Together, as on a node: the real nginx (main config, sites, upstream as rendered)
//!   serves PHP from the real PHP-FPM through the rendered pool's socket, static files,
//!   and a front site proxies to the upstream whose member is a fleet node.
//! - What cannot work is refused when the catalog is compiled (an empty upstream, …).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::stdlib::apply;

use crate::support;

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A directory others may enter and read (tempdirs are 0700), for checks run as nobody.
fn open_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// `fleet compile --node ops01` of `site` (written into `dir`): the catalog.
fn compile(dir: &Path, site: &str) -> Value {
    std::fs::write(dir.join("site.fleet"), site).unwrap();
    let r = support::fleet_in(dir, ["compile", "--node", "ops01", "site.fleet"]);
    assert_eq!(r.code, 0, "{}", r.describe());
    serde_json::from_str(&r.stdout).unwrap()
}

fn resource<'a>(cat: &'a Value, title: &str) -> &'a Value {
    cat["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["title"] == title || x["label"] == title)
        .unwrap_or_else(|| panic!("no {title}: {cat}"))
}

/// A file resource's content and validate command.
fn file(cat: &Value, path: &str) -> (String, String) {
    let p = &resource(cat, path)["params"];
    (
        p["content"].as_str().unwrap().to_string(),
        p["validate"].as_str().unwrap().to_string(),
    )
}

/// Runs a catalog's `validate` command as the file provider does: `%` is the shell-quoted
/// path `at`, which holds `content`; `FLEET_ROOT` set to `root` when given (as under
/// `--run-host-commands`); as nobody when the suite runs as root. Whether it passed, and
/// what it said.
fn check(command: &str, at: &Path, content: &str, root: Option<&Path>) -> (bool, String) {
    std::fs::write(at, content).unwrap();
    std::fs::set_permissions(at, std::fs::Permissions::from_mode(0o644)).unwrap();
    let script = command.replace('%', &format!("'{}'", at.display()));
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(&script).env_remove("FLEET_ROOT");
    if let Some(r) = root {
        cmd.env("FLEET_ROOT", r);
    }
    if is_root() {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The fleet: two web nodes with addresses, and ops01 (the load balancer) whose site
/// `body` is given; the main config's logs, pid and temp paths under `logs`.
fn nginx_site(logs: &Path, body: &str) -> String {
    let l = logs.display();
    format!(
        "import \"nginx\"\n\
         node \"web01\" {{ provision {{ mac = \"52:54:00:00:00:01\", ip = \"10.1.1.11/24\" }} }}\n\
         node \"web02\" {{ provision {{ mac = \"52:54:00:00:00:02\", ip = \"10.1.1.12/24\" }} }}\n\
         node \"ops01\" {{\n  include nginx(error_log = \"{l}/error.log\", access_log = \"{l}/access.log\", \
         pid = \"{l}/nginx.pid\", extra_http = [\"client_body_temp_path {l}/body;\", \
         \"proxy_temp_path {l}/proxy;\", \"fastcgi_temp_path {l}/fastcgi;\", \"uwsgi_temp_path {l}/uwsgi;\", \
         \"scgi_temp_path {l}/scgi;\"])\n{body}\n}}\n"
    )
}

const SITES: &str = r#"
  nginx::upstream "shop" { nodes = nodes(/^web\d+$/), port = 8080, method = "least_conn", keepalive = 16, server_options = "max_fails=3 fail_timeout=30s" }
  nginx::site "static" { listen = ["127.0.0.1:18181"], server_name = ["static.example.com", "www.static.example.com"], root = "/srv/static", locations = { "/assets/": ["expires 30d", "access_log off"] } }
  nginx::site "php" { listen = ["127.0.0.1:18182"], root = "/srv/php/current/public", index = ["index.php", "index.html"], fastcgi = "unix:/run/php/php8.2-fpm-php.sock", client_max_body_size = "20m" }
  nginx::site "shop" { listen = ["127.0.0.1:18183"], upstream = "shop", extra = ["add_header X-Frame-Options DENY;"] }
  nginx::site "api" { listen = ["127.0.0.1:18184"], proxy = "http://127.0.0.1:9000", enabled = false }
  nginx::site "broken" { listen = ["127.0.0.1:18185"], root = "/srv/broken", extra = ["no_such_directive on;"] }
  nginx::site "lost" { listen = ["127.0.0.1:18186"], proxy = "http://nosuchupstream" }
"#;

/// A root holding what Debian's nginx package ships that sites include.
fn nginx_root(root: &Path) {
    let etc = root.join("etc/nginx");
    for d in [
        "conf.d",
        "sites-available",
        "sites-enabled",
        "modules-enabled",
    ] {
        std::fs::create_dir_all(etc.join(d)).unwrap();
    }
    for f in ["mime.types", "fastcgi_params"] {
        std::fs::copy(Path::new("/etc/nginx").join(f), etc.join(f)).unwrap();
    }
}

#[test]
fn every_nginx_site_and_upstream_passes_nginx_t_and_a_broken_one_is_refused() {
    support::require_tool("nginx");
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    std::fs::set_permissions(logs.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let cat = compile(dir.path(), &nginx_site(logs.path(), SITES));
    let root = open_dir();
    nginx_root(root.path());
    let etc = root.path().join("etc/nginx");

    // The upstream's members are the fleet's web nodes, by their provision addresses.
    let (upstream, upstream_check) = file(&cat, "/etc/nginx/conf.d/upstream-shop.conf");
    for line in [
        "upstream shop {\n",
        "    least_conn;\n",
        "    server 10.1.1.11:8080 max_fails=3 fail_timeout=30s;\n",
        "    server 10.1.1.12:8080 max_fails=3 fail_timeout=30s;\n",
        "    keepalive 16;\n",
    ] {
        assert!(upstream.contains(line), "{line}: {upstream}");
    }
    let tmp = |name: &str| etc.join(format!(".{name}.fleet-test"));
    let (ok, why) = check(
        &upstream_check,
        &tmp("upstream-shop.conf"),
        &upstream,
        Some(root.path()),
    );
    assert!(ok, "{why}\n{upstream}");
    std::fs::write(etc.join("conf.d/upstream-shop.conf"), &upstream).unwrap();

    let expect = [
        (
            "static",
            &[
                "server_name static.example.com www.static.example.com;",
                "root /srv/static;",
                "try_files $uri $uri/ =404;",
                "location /assets/ {\n        expires 30d;\n        access_log off;\n    }",
            ][..],
        ),
        (
            "php",
            &[
                "index index.php index.html;",
                "try_files $uri $uri/ /index.php?$query_string;",
                "location ~ \\.php$ {",
                "fastcgi_pass unix:/run/php/php8.2-fpm-php.sock;",
                "client_max_body_size 20m;",
            ][..],
        ),
        (
            "shop",
            &[
                "proxy_pass http://shop;",
                "proxy_set_header Host $host;",
                "add_header X-Frame-Options DENY;",
            ][..],
        ),
        ("api", &["proxy_pass http://127.0.0.1:9000;"][..]),
    ];
    for (name, lines) in expect {
        let path = format!("/etc/nginx/sites-available/{name}");
        let (content, validate) = file(&cat, &path);
        for line in lines {
            assert!(content.contains(line), "{name}: {line}: {content}");
        }
        let (ok, why) = check(&validate, &tmp(name), &content, Some(root.path()));
        assert!(ok, "{name}: {why}\n{content}");
        std::fs::write(etc.join("sites-available").join(name), &content).unwrap();
    }
    // `enabled = false` removes the link, the others are links to sites-available.
    assert_eq!(
        resource(&cat, "/etc/nginx/sites-enabled/api")["params"]["ensure"],
        "absent"
    );
    let link = &resource(&cat, "/etc/nginx/sites-enabled/shop")["params"];
    assert_eq!(link["ensure"], "link");
    assert_eq!(link["target"], "/etc/nginx/sites-available/shop");

    // nginx's own words for what it refuses.
    let (content, validate) = file(&cat, "/etc/nginx/sites-available/broken");
    let (ok, why) = check(&validate, &tmp("broken"), &content, Some(root.path()));
    assert!(
        !ok && why.contains("unknown directive \"no_such_directive\""),
        "{why}"
    );
    let (content, validate) = file(&cat, "/etc/nginx/sites-available/lost");
    let (ok, why) = check(&validate, &tmp("lost"), &content, Some(root.path()));
    assert!(
        !ok && why.contains("host not found in upstream \"nosuchupstream\""),
        "{why}"
    );
    // The upstream a site proxies to comes from the root's conf.d: without it, refused.
    let (content, validate) = file(&cat, "/etc/nginx/sites-available/shop");
    let bare = open_dir();
    let (ok, why) = check(
        &validate,
        &bare.path().join("shop"),
        &content,
        Some(bare.path()),
    );
    assert!(
        !ok && why.contains("host not found in upstream \"shop\""),
        "{why}"
    );

    // The main config, checked from a temporary path beside it, reads the sites enabled.
    for name in ["static", "php", "shop"] {
        std::os::unix::fs::symlink(
            format!("../sites-available/{name}"),
            etc.join("sites-enabled").join(name),
        )
        .unwrap();
    }
    let (main, main_check) = file(&cat, "/etc/nginx/nginx.conf");
    assert_eq!(main_check, "/usr/sbin/nginx -t -q -c %");
    for line in [
        "user www-data;\n",
        "worker_processes auto;\n",
        "    worker_connections 768;\n",
        "    server_tokens off;\n",
        "    include sites-enabled/*;\n",
    ] {
        assert!(main.contains(line), "{line}: {main}");
    }
    let (ok, why) = check(&main_check, &tmp("nginx.conf"), &main, None);
    assert!(ok, "{why}\n{main}");
    std::fs::write(
        etc.join("sites-enabled/zz-broken"),
        "server { listen 127.0.0.1:18187; oops; }\n",
    )
    .unwrap();
    let (ok, why) = check(&main_check, &tmp("nginx.conf"), &main, None);
    assert!(!ok && why.contains("zz-broken"), "{why}");
}

/// An image root in which Debian's nginx is installed (its dpkg status, unit and the
/// files sites include), with the fleet's files of a root.
fn nginx_sandbox(r: &Path) {
    nginx_root(r);
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::create_dir_all(r.join("var/lib/dpkg")).unwrap();
    std::fs::write(
        r.join("var/lib/dpkg/status"),
        "Package: nginx\nStatus: install ok installed\nPriority: optional\nSection: httpd\n\
         Architecture: amd64\nVersion: 1.22.1-9\nDescription: small, powerful, scalable web/proxy server\n\n",
    )
    .unwrap();
    std::fs::create_dir_all(r.join("lib/systemd/system")).unwrap();
    std::fs::copy(
        "/lib/systemd/system/nginx.service",
        r.join("lib/systemd/system/nginx.service"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "/etc/nginx/sites-available/default",
        r.join("etc/nginx/sites-enabled/default"),
    )
    .unwrap();
}

#[test]
fn a_site_nginx_rejects_fails_its_resource_and_keeps_the_old_file() {
    support::require_tool("nginx");
    support::require_tool("systemctl");
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    nginx_sandbox(r);
    let site = |extra: &str| {
        nginx_site(
            logs.path(),
            &format!(
                "  nginx::site \"shop\" {{ listen = [\"127.0.0.1:18191\"], root = \"/srv/shop\", extra = [{extra}] }}"
            ),
        )
    };
    std::fs::write(dir.path().join("site.fleet"), site("")).unwrap();
    let run = apply(dir.path(), r);
    assert_eq!(run.code, 0, "{}", run.describe());
    let available = r.join("etc/nginx/sites-available/shop");
    let good = std::fs::read_to_string(&available).unwrap();
    assert!(good.contains("    listen 127.0.0.1:18191;\n"), "{good}");
    assert_eq!(
        std::fs::read_link(r.join("etc/nginx/sites-enabled/shop")).unwrap(),
        PathBuf::from("/etc/nginx/sites-available/shop")
    );
    assert!(std::fs::symlink_metadata(r.join("etc/nginx/sites-enabled/default")).is_err());
    let main = std::fs::read_to_string(r.join("etc/nginx/nginx.conf")).unwrap();
    assert!(main.contains("include sites-enabled/*;"), "{main}");
    // Enabled at boot in the image (`systemctl --root`); nothing was reloaded there.
    assert!(r
        .join("etc/systemd/system/multi-user.target.wants/nginx.service")
        .exists());

    std::fs::write(
        dir.path().join("site.fleet"),
        site("\"no_such_directive on;\""),
    )
    .unwrap();
    let run = apply(dir.path(), r);
    assert_ne!(run.code, 0, "{}", run.describe());
    let text = run.describe();
    assert!(text.contains("rejected the new content"), "{text}");
    assert!(
        text.contains("unknown directive \"no_such_directive\""),
        "nginx's own words: {text}"
    );
    assert_eq!(std::fs::read_to_string(&available).unwrap(), good);
}

#[test]
fn php_fpm_pools_pass_php_fpm_t_and_bad_ones_are_refused() {
    support::require_tool("php-fpm8.2");
    let dir = tempfile::tempdir().unwrap();
    let at = open_dir();
    let cat = compile(
        dir.path(),
        r#"import "php_fpm"
node "ops01" {
  include php_fpm
  php_fpm::pool "shop" {
    max_children = 20, start_servers = 4, min_spare_servers = 2, max_spare_servers = 6,
    php_admin_value = { memory_limit: "256M", "error_log": "/var/log/php/shop.log" },
    php_value = { "session.save_path": "/var/lib/php/sessions" },
    env = { "APP_ENV": "production" },
  }
  php_fpm::pool "fixed" { pm = "static", max_children = 8, listen = "127.0.0.1:9001" }
  php_fpm::pool "lazy" { pm = "ondemand", process_idle_timeout = "30s", max_requests = 0 }
  php_fpm::pool "crowded" { start_servers = 9, max_children = 5 }
  php_fpm::pool "stranger" { user = "nosuchuser" }
}
"#,
    );
    let pool = |name: &str| file(&cat, &format!("/etc/php/8.2/fpm/pool.d/{name}.conf"));
    let (shop, validate) = pool("shop");
    for line in [
        "[shop]\n",
        "listen = /run/php/php8.2-fpm-shop.sock\n",
        "listen.owner = www-data\n",
        "pm = dynamic\n",
        "pm.max_children = 20\n",
        "pm.start_servers = 4\n",
        "php_admin_value[memory_limit] = 256M\n",
        "php_value[session.save_path] = /var/lib/php/sessions\n",
        "env[APP_ENV] = production\n",
    ] {
        assert!(shop.contains(line), "{line}: {shop}");
    }
    let tmp = |name: &str| at.path().join(format!(".{name}.conf.fleet-test"));
    for name in ["shop", "fixed", "lazy"] {
        let (content, v) = pool(name);
        assert_eq!(v, validate);
        let (ok, why) = check(&v, &tmp(name), &content, None);
        assert!(ok, "{name}: {why}\n{content}");
    }
    assert!(pool("fixed").0.contains("listen = 127.0.0.1:9001\n"));
    assert!(!pool("fixed").0.contains("pm.start_servers"));
    assert!(pool("lazy").0.contains("pm.process_idle_timeout = 30s\n"));
    let (content, _) = pool("crowded");
    let (ok, why) = check(&validate, &tmp("crowded"), &content, None);
    assert!(!ok && why.contains("start_servers"), "{why}");
    let (content, _) = pool("stranger");
    let (ok, why) = check(&validate, &tmp("stranger"), &content, None);
    assert!(!ok && why.contains("nosuchuser"), "{why}");
}

/// A private MariaDB server on a socket in a temp dir, killed when dropped.
struct Mariadb {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mariadb {
    fn start() -> Mariadb {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let socket = dir.path().join("sock");
        let as_root: &[&str] = if is_root() { &["--user=root"] } else { &[] };
        let out = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(as_root)
            .args(["--auth-root-authentication-method=socket", "--skip-test-db"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mariadb-install-db: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let child = Command::new(support::which("mariadbd").expect("mariadbd"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("error.log").display()
            ))
            .arg("--skip-networking")
            .args(as_root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let db = Mariadb {
            child,
            socket,
            _dir: dir,
        };
        let start = Instant::now();
        while db.sql("SELECT 1").is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "mariadbd did not answer: {}",
                std::fs::read_to_string(db._dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        db
    }

    /// `sql` run as the server's root (unix_socket authentication): its rows.
    fn sql(&self, sql: &str) -> Result<String, String> {
        self.client(&[], sql, &[])
    }

    fn client(&self, args: &[&str], sql: &str, env: &[(&str, &str)]) -> Result<String, String> {
        let out = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-N", "-B"])
            .args(args)
            .arg("-e")
            .arg(sql)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file under `dir` (not following links) that holds `needle`, with its mode.
fn holding(dir: &Path, needle: &str) -> Vec<(PathBuf, u32)> {
    let mut found = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            found.extend(holding(&p, needle));
        } else if m.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            if String::from_utf8_lossy(&bytes).contains(needle) {
                found.push((p, m.permissions().mode() & 0o7777));
            }
        }
    }
    found
}

#[test]
fn mysql_db_makes_the_database_user_and_grant_once_and_never_shows_the_password() {
    support::require_tool("mariadbd");
    support::require_tool("mariadb");
    support::require_tool("mariadb-install-db");
    let db = Mariadb::start();
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // A quote and a backslash: the module escapes them for SQL.
    let password = "Tr0ub4dor's\\horse";
    let site = |pw: &str| {
        format!(
            "import \"mysql\"\nnode \"ops01\" {{\n  mysql::db \"shop\" {{ user = \"shopapp\", password = sensitive(\"{}\"), \
             privileges = [\"select\", \"insert\", \"update\", \"delete\"], socket = \"{}\" }}\n  \
             mysql::db \"reports\" {{ password = \"{}\", socket = \"{}\" }}\n}}\n",
            pw.replace('\\', "\\\\"),
            db.socket.display(),
            "plain-but-typed-sensitive",
            db.socket.display()
        )
    };
    std::fs::write(dir.path().join("site.fleet"), site(password)).unwrap();
    let first = apply(dir.path(), r);
    assert_eq!(first.code, 0, "{}", first.describe());
    assert_eq!(db.sql("SHOW DATABASES LIKE 'shop'").unwrap().trim(), "shop");
    let grants = db.sql("SHOW GRANTS FOR 'shopapp'@'localhost'").unwrap();
    assert!(
        grants
            .contains("GRANT SELECT, INSERT, UPDATE, DELETE ON `shop`.* TO `shopapp`@`localhost`"),
        "{grants}"
    );
    let login = |user: &str, pw: &str| {
        db.client(
            &["-u", user],
            "SELECT CURRENT_USER(), DATABASE()",
            &[("MYSQL_PWD", pw)],
        )
    };
    // The user logs in with the password (the one the manifest gave, quote and all).
    let who = login("shopapp", password).unwrap();
    assert!(who.starts_with("shopapp@localhost"), "{who}");
    assert!(login("shopapp", "wrong").is_err());
    assert!(login("reports", "plain-but-typed-sensitive").is_ok());
    let reports = db.sql("SHOW GRANTS FOR 'reports'@'localhost'").unwrap();
    assert!(
        reports.contains("GRANT ALL PRIVILEGES ON `reports`.*"),
        "{reports}"
    );

    // A second run: the guards' queries find everything in place.
    let second = apply(dir.path(), r);
    assert_eq!(second.code, 0, "{}", second.describe());
    assert!(
        second.stdout.contains("0 created, 0 changed, 0 removed"),
        "{}",
        second.describe()
    );

    // A new password is set (the guard compares the server's hash of it).
    std::fs::write(dir.path().join("site.fleet"), site("n3w-pass")).unwrap();
    let third = apply(dir.path(), r);
    assert_eq!(third.code, 0, "{}", third.describe());
    assert!(third.stdout.contains("1 changed"), "{}", third.describe());
    assert!(login("shopapp", "n3w-pass").is_ok());
    assert!(login("shopapp", password).is_err());

    // The password: in no output, no command and no file under the root.
    let escaped = "Tr0ub4dor''s\\\\horse";
    for run in [&first, &second, &third] {
        for secret in [password, escaped, "n3w-pass", "plain-but-typed-sensitive"] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{secret}: {}",
                run.describe()
            );
        }
    }
    for secret in ["n3w-pass", "plain-but-typed-sensitive", "Tr0ub4dor"] {
        assert_eq!(holding(r, secret), vec![], "{secret} under the root");
    }
    // The catalog carries it (the agent needs it) only as a Sensitive value, in the
    // exec's environment, written 0600 by `compile --all`.
    let out = tempfile::tempdir().unwrap();
    let c = support::fleet_in(
        dir.path(),
        [
            "compile",
            "--all",
            "--out",
            out.path().to_str().unwrap(),
            "site.fleet",
        ],
    );
    assert_eq!(c.code, 0, "{}", c.describe());
    let found = holding(out.path(), "n3w-pass");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, 0o600, "{found:?}");
    let cat: Value = serde_json::from_str(&std::fs::read_to_string(&found[0].0).unwrap()).unwrap();
    for res in cat["resources"].as_array().unwrap() {
        for (k, v) in res["params"].as_object().unwrap() {
            let text = v.to_string();
            if text.contains("n3w-pass") || text.contains("plain-but-typed-sensitive") {
                assert_eq!(k, "environment", "{res}");
                assert!(v["sensitive"].is_object(), "{res}");
            }
        }
    }
}

#[test]
fn the_modules_refuse_what_cannot_work_when_the_catalog_is_compiled() {
    let dir = tempfile::tempdir().unwrap();
    for (body, said) in [
        (
            "import \"nginx\"\nnode \"ops01\" { include nginx\n nginx::upstream \"shop\" { nodes = nodes(/^web/) } }\n",
            "nginx::upstream shop: no member",
        ),
        (
            "import \"nginx\"\nnode \"ops01\" { include nginx\n nginx::site \"shop\" { upstream = \"shop\", proxy = \"http://x\" } }\n",
            "`upstream` and `proxy` both",
        ),
        (
            "import \"nginx\"\nnode \"ops01\" { include nginx\n nginx::site \"../etc/passwd\" { } }\n",
            "a site's title names its file",
        ),
        (
            "import \"mysql\"\nnode \"ops01\" { mysql::user \"app\" { password = sensitive(\"x\") } }\n",
            "the title is `name@host`",
        ),
        (
            "import \"mysql\"\nnode \"ops01\" { mysql::user \"app@localhost\" { } }\n",
            "a `password` is needed",
        ),
        (
            "import \"mysql\"\nnode \"ops01\" { mysql::db \"shop-db\" { password = \"x\" } }\n",
            "a database name of letters",
        ),
    ] {
        std::fs::write(dir.path().join("site.fleet"), body).unwrap();
        let r = support::fleet_in(dir.path(), ["compile", "--node", "ops01", "site.fleet"]);
        assert_eq!(r.code, 1, "{body}: {}", r.describe());
        assert!(r.stderr.contains(said), "{said}: {}", r.stderr);
    }
}

/// A daemon in its own process group, stopped (SIGTERM to the group, then SIGKILL) when
/// dropped, so its workers go with it.
struct Daemon {
    child: Child,
    what: &'static str,
}

impl Daemon {
    fn spawn(what: &'static str, cmd: &mut Command) -> Daemon {
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        Daemon { child, what }
    }

    fn signal_group(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.signal_group("-TERM");
        let start = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(10) {
                eprintln!("{} did not stop on SIGTERM: killed", self.what);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal_group("-KILL");
        let _ = self.child.wait();
    }
}

/// `GET path` on 127.0.0.1:port (HTTP/1.0): the whole response, once the server answers.
fn get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let start = Instant::now();
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
            let mut out = String::new();
            if s.read_to_string(&mut out).is_ok() && !out.is_empty() {
                return out;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nothing answers on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn nginx_serves_php_from_a_pool_and_proxies_to_an_upstream_of_fleet_nodes() {
    support::require_tool("nginx");
    support::require_tool("php-fpm8.2");
    let t = open_dir();
    let base = t.path();
    let (php_port, front_port) = (support::free_port(), support::free_port());
    let conf = base.join("nginx");
    let logs = base.join("logs");
    let www = base.join("www");
    for d in [&conf, &logs, &www, &base.join("pool.d")] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(
        www.join("index.php"),
        "<?php echo 'fleet ', 6 * 7, ' via ', $_SERVER['HTTP_X_FORWARDED_PROTO'] ?? 'direct', \"\\n\";\n",
    )
    .unwrap();
    std::fs::write(www.join("hello.txt"), "static hello\n").unwrap();
    let socket = base.join("php.sock");
    let (b, s) = (base.display(), socket.display());
    let body = format!(
        "  include php_fpm\n  php_fpm::pool \"app\" {{ listen = \"{s}\" }}\n  \
         nginx::site \"app\" {{ listen = [\"127.0.0.1:{php_port}\"], root = \"{b}/www\", fastcgi = \"unix:{s}\" }}\n  \
         nginx::upstream \"app\" {{ nodes = nodes(/^app\\d+$/), port = {php_port} }}\n  \
         nginx::site \"front\" {{ listen = [\"127.0.0.1:{front_port}\"], upstream = \"app\" }}"
    );
    let site = format!(
        "import \"php_fpm\"\nnode \"app01\" {{ provision {{ mac = \"52:54:00:00:00:01\", ip = \"127.0.0.1/8\" }} }}\n{}",
        nginx_site(&logs, &body)
    );
    let dir = tempfile::tempdir().unwrap();
    let cat = compile(dir.path(), &site);

    // PHP-FPM with the pool as rendered, in a [global] of the test's.
    let (pool, _) = file(&cat, "/etc/php/8.2/fpm/pool.d/app.conf");
    std::fs::write(base.join("pool.d/app.conf"), pool).unwrap();
    std::fs::write(
        base.join("php-fpm.conf"),
        format!(
            "[global]\npid = {b}/fpm.pid\nerror_log = {b}/logs/fpm.log\ninclude = {b}/pool.d/*.conf\n"
        ),
    )
    .unwrap();
    let _fpm = Daemon::spawn(
        "php-fpm",
        Command::new("/usr/sbin/php-fpm8.2")
            .arg("-F")
            .arg("-y")
            .arg(base.join("php-fpm.conf")),
    );
    // nginx with the main config, upstream and sites as rendered, laid out as on a node.
    for d in [
        "conf.d",
        "sites-available",
        "sites-enabled",
        "modules-enabled",
    ] {
        std::fs::create_dir_all(conf.join(d)).unwrap();
    }
    for f in ["mime.types", "fastcgi_params"] {
        std::fs::copy(Path::new("/etc/nginx").join(f), conf.join(f)).unwrap();
    }
    for (path, at) in [
        ("/etc/nginx/nginx.conf", "nginx.conf"),
        (
            "/etc/nginx/conf.d/upstream-app.conf",
            "conf.d/upstream-app.conf",
        ),
        ("/etc/nginx/sites-available/app", "sites-enabled/app"),
        ("/etc/nginx/sites-available/front", "sites-enabled/front"),
    ] {
        std::fs::write(conf.join(at), file(&cat, path).0).unwrap();
    }
    assert!(
        file(&cat, "/etc/nginx/conf.d/upstream-app.conf")
            .0
            .contains(&format!("server 127.0.0.1:{php_port};")),
        "the upstream's member is the fleet node app01"
    );
    let start = Instant::now();
    while !socket.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "php-fpm made no socket: {}",
            std::fs::read_to_string(logs.join("fpm.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _nginx = Daemon::spawn(
        "nginx",
        Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(format!("{}/", conf.display()))
            .arg("-c")
            .arg(conf.join("nginx.conf"))
            .args(["-g", "daemon off;"]),
    );
    let direct = get(php_port, "/index.php");
    assert!(
        direct.contains("fleet 42 via direct"),
        "{direct}\n{}",
        std::fs::read_to_string(logs.join("error.log")).unwrap_or_default()
    );
    assert!(get(php_port, "/").contains("fleet 42 via direct"));
    assert!(get(php_port, "/hello.txt").contains("static hello"));
    assert!(get(php_port, "/missing.php").starts_with("HTTP/1.1 404"));
    let proxied = get(front_port, "/index.php");
    assert!(proxied.contains("fleet 42 via http"), "{proxied}");
}

#[test]
fn mysql_server_settings_pass_mariadbd_and_bad_ones_are_refused() {
    support::require_tool("mariadbd");
    let dir = tempfile::tempdir().unwrap();
    let at = open_dir();
    // Its own (empty) data directory: the check reads the plugins table there.
    let data = at.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let cnf = |args: &str| {
        let cat = compile(
            dir.path(),
            &format!(
                "import \"mysql\"\nnode \"ops01\" {{ include mysql::server(datadir = \"{}\"{args}) }}\n",
                data.display()
            ),
        );
        file(&cat, "/etc/mysql/mariadb.conf.d/60-fleet.cnf")
    };
    let tmp = at.path().join(".60-fleet.cnf.fleet-test");
    let (content, validate) = cnf(
        ", bind_address = \"0.0.0.0\", port = 3307, max_connections = 300, \
         innodb_buffer_pool_size = \"256M\", extra = [\"skip-name-resolve\", \"wait_timeout = 600\"]",
    );
    assert_eq!(
        validate,
        "/usr/sbin/mariadbd --defaults-file=% --help --verbose >/dev/null"
    );
    for line in [
        "[mysqld]\n",
        "bind-address = 0.0.0.0\n",
        "port = 3307\n",
        "max_connections = 300\n",
        "innodb_buffer_pool_size = 256M\n",
        "character-set-server = utf8mb4\n",
        "skip-name-resolve\n",
    ] {
        assert!(content.contains(line), "{line}: {content}");
    }
    let (ok, why) = check(&validate, &tmp, &content, None);
    assert!(ok, "{why}\n{content}");
    let (content, _) = cnf(", extra = [\"no_such_option = 1\"]");
    let (ok, why) = check(&validate, &tmp, &content, None);
    assert!(
        !ok && why.contains("unknown variable 'no_such_option=1'"),
        "{why}"
    );
    let (content, _) = cnf(", extra = [\"wait_timeout = forever\"]");
    let (ok, why) = check(&validate, &tmp, &content, None);
    assert!(!ok && why.contains("wait_timeout"), "{why}");
}
