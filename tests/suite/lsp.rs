//! Speaks LSP JSON-RPC to the real `fleet lsp` process over stdio: diagnostics as you type,
//! hover, definition, completion, shutdown. Every wait has a deadline and the child is killed
//! on drop, so a broken server fails the test instead of hanging it.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Value>,
    next_id: i64,
    /// Messages received while waiting for something else.
    backlog: Vec<Value>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[])
    }

    /// Starts `fleet lsp` with these environment variables (limits).
    fn start_with(dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut child = support::command()
            .arg("lsp")
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start fleet lsp");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = None;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; len.expect("Content-Length header")];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let v: Value = serde_json::from_slice(&body).expect("a JSON message");
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Server {
            child,
            stdin,
            rx,
            next_id: 0,
            backlog: Vec::new(),
        }
    }

    fn send(&mut self, msg: Value) {
        let body = serde_json::to_string(&msg).unwrap();
        let stdin = self.stdin.as_mut().expect("stdin open");
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        stdin.flush().unwrap();
    }

    /// Writes raw bytes to the server's stdin (malformed frames).
    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// The next error answer with a `null` id (to a frame that had no usable id).
    fn error_for_null_id(&mut self, what: &str) -> i64 {
        let m = self.wait_for(what, |m| m["id"].is_null() && m.get("error").is_some());
        m["error"]["code"].as_i64().unwrap()
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its result (panics on an error response).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let resp = self.wait_for(&format!("response to {method}"), |m| {
            m["id"] == json!(id) && m.get("method").is_none()
        });
        assert!(resp.get("error").is_none(), "{method} failed: {resp}");
        resp["result"].clone()
    }

    /// The first message (backlog first) that satisfies `pred`; panics after the deadline.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) if pred(&m) => return m,
                Ok(m) => self.backlog.push(m),
                Err(_) => panic!("timed out waiting for {what}; got {:#?}", self.backlog),
            }
        }
    }

    /// The next publishDiagnostics for `uri` with this document version (or any version for
    /// files that are not open).
    fn diagnostics(&mut self, uri: &str, version: Option<i64>) -> Vec<Value> {
        let m = self.wait_for(&format!("diagnostics for {uri} v{version:?}"), |m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && version.is_none_or(|v| m["params"]["version"] == json!(v))
        });
        m["params"]["diagnostics"].as_array().unwrap().clone()
    }
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn codes(diags: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = diags
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn find<'a>(diags: &'a [Value], code: &str) -> &'a Value {
    diags
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {diags:#?}"))
}

fn pos(text: &str, needle: &str, delta: usize) -> Value {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in text"))
        + delta;
    let line = text[..at].matches('\n').count();
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let character: usize = text[line_start..at].chars().map(char::len_utf16).sum();
    json!({"line": line, "character": character})
}

const BROKEN: &str = r#"# 中文 😀: a manifest with problems
import "./lib.fleet"

let $domain = "example.com"

class web($port: Int = 80) {
  package "nginx" { ensure = latest }
  service "nginx" { ensure = running, enable = true }
  file "/etc/nginx/site.conf" { content = "listen ${port}; ${domain}\n", require = Package["nginx"] }
}

include web
file "/etc/中文😀" { owner = "root", colour = "x" }
package "nginx" { ensure = absent }
"#;

const FIXED: &str = r#"# 中文 😀: a manifest with problems
import "./lib.fleet"

let $domain = "example.com"

class web($port: Int = 80) {
  package "nginx" { ensure = latest }
  service "nginx" { ensure = running, enable = true }
  file "/etc/nginx/site.conf" { content = "listen ${port}; ${domain}\n", require = Package["nginx"] }
}

include web
file "/etc/中文😀" { owner = "root", mode = "0644" }
"#;

#[test]
fn diagnostics_hover_definition_completion_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let site = dir_path.join("site.fleet");
    let lib = dir_path.join("lib.fleet");
    std::fs::write(&site, FIXED).unwrap();
    std::fs::write(
        &lib,
        "class extra {\n  widget \"w\" { size = 1 }\n}\ninclude extra\n",
    )
    .unwrap();
    let site_uri = uri(&site);
    let lib_uri = uri(&lib);

    let mut s = Server::start(&dir_path);
    let init = s.request(
        "initialize",
        json!({"processId": null, "rootUri": uri(&dir_path), "capabilities": {}}),
    );
    assert_eq!(init["capabilities"]["hoverProvider"], true);
    s.notify("initialized", json!({}));

    // didOpen with errors: codes, UTF-16 ranges, related information, imported file.
    s.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": site_uri, "languageId": "fleet", "version": 1, "text": BROKEN}}),
    );
    let diags = s.diagnostics(&site_uri, Some(1));
    assert_eq!(
        codes(&diags),
        ["duplicate-resource", "unknown-attribute"],
        "{diags:#?}"
    );
    let unknown = find(&diags, "unknown-attribute");
    // `colour` follows Chinese text and an emoji: 35 UTF-16 units (34 characters, 41 bytes).
    assert_eq!(
        unknown["range"]["start"],
        json!({"line": 12, "character": 35})
    );
    assert_eq!(
        unknown["range"]["end"],
        json!({"line": 12, "character": 41})
    );
    assert_eq!(unknown["severity"], 1);
    let dup = find(&diags, "duplicate-resource");
    assert_eq!(dup["range"]["start"], json!({"line": 13, "character": 0}));
    let related = dup["relatedInformation"]
        .as_array()
        .expect("a label for the first declaration");
    assert_eq!(related[0]["location"]["uri"], site_uri);
    assert_eq!(
        related[0]["location"]["range"]["start"],
        json!({"line": 6, "character": 2})
    );
    let lib_diags = s.diagnostics(&lib_uri, None);
    assert_eq!(codes(&lib_diags), ["unknown-resource-type"]);
    assert_eq!(
        lib_diags[0]["range"]["start"],
        json!({"line": 1, "character": 2})
    );

    // A syntax error does not hide the file's other problems.
    let with_syntax = BROKEN.replace(
        "let $domain = \"example.com\"",
        "let $domain = \"example.com\"\nlet $x = ",
    );
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": site_uri, "version": 2}, "contentChanges": [{"text": with_syntax}]}),
    );
    let diags = s.diagnostics(&site_uri, Some(2));
    let c = codes(&diags);
    assert!(c.contains(&"syntax".to_string()), "{diags:#?}");
    assert!(c.contains(&"unknown-attribute".to_string()), "{diags:#?}");

    // Two quick edits: the last version wins; its fix clears the list.
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": site_uri, "version": 3}, "contentChanges": [{"text": BROKEN}]}),
    );
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": site_uri, "version": 4}, "contentChanges": [{"text": FIXED}]}),
    );
    let diags = s.diagnostics(&site_uri, Some(4));
    assert!(diags.is_empty(), "{diags:#?}");

    let at = |needle: &str, delta: usize| json!({"textDocument": {"uri": site_uri}, "position": pos(FIXED, needle, delta)});
    // Hover: a resource type, an attribute, a variable, a class, a function-free value.
    let h = s.request("textDocument/hover", at("service \"nginx\"", 2));
    let text = h["contents"]["value"].as_str().unwrap().to_string();
    assert!(text.contains("service"), "{text}");
    let h = s.request("textDocument/hover", at("ensure = running", 1));
    let text = h["contents"]["value"].as_str().unwrap().to_string();
    assert!(
        text.contains("running") && text.contains("stopped"),
        "{text}"
    );
    let h = s.request("textDocument/hover", at("${domain}", 3));
    let text = h["contents"]["value"].as_str().unwrap().to_string();
    assert!(text.contains("let $domain = \"example.com\""), "{text}");
    let h = s.request("textDocument/hover", at("include web", 9));
    let text = h["contents"]["value"].as_str().unwrap().to_string();
    assert!(text.contains("class web($port: Int = 80)"), "{text}");

    // Definition: class, variable, reference, parameter, import.
    let d = s.request("textDocument/definition", at("include web", 9));
    assert_eq!(d["uri"], site_uri);
    assert_eq!(d["range"]["start"], pos(FIXED, "web($port", 0));
    let d = s.request("textDocument/definition", at("${domain}", 3));
    assert_eq!(d["range"]["start"], pos(FIXED, "$domain =", 0));
    let d = s.request("textDocument/definition", at("Package[\"nginx\"]", 1));
    assert_eq!(d["range"]["start"], pos(FIXED, "package \"nginx\"", 0));
    let d = s.request("textDocument/definition", at("${port}", 3));
    assert_eq!(d["range"]["start"], pos(FIXED, "$port:", 0));
    let d = s.request("textDocument/definition", at("./lib.fleet", 2));
    assert_eq!(d["uri"], lib_uri);

    // Completion: enum values, attribute names, resource types.
    let typing = FIXED.replace("ensure = running, enable", "ensure = , enable");
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": site_uri, "version": 5}, "contentChanges": [{"text": typing}]}),
    );
    let labels = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    };
    let c = s.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": site_uri}, "position": pos(&typing, "ensure = , enable", 9)}),
    );
    let l = labels(&c);
    assert!(
        l.contains(&"running".into()) && l.contains(&"stopped".into()),
        "{l:?}"
    );
    let c = s.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": site_uri}, "position": pos(&typing, "mode = \"0644\"", 0)}),
    );
    let l = labels(&c);
    assert!(
        l.contains(&"mode".into()) && l.contains(&"require".into()),
        "{l:?}"
    );
    assert!(!l.contains(&"owner".into()), "already written: {l:?}");
    let c = s.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": site_uri}, "position": pos(&typing, "include web", 0)}),
    );
    let l = labels(&c);
    assert!(
        l.contains(&"package".into()) && l.contains(&"service".into()),
        "{l:?}"
    );

    // Fixing the imported file in an (unsaved) editor buffer clears its problems: the
    // buffer that imports it is checked again, against the edited text.
    s.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": lib_uri, "languageId": "fleet", "version": 1,
               "text": "class extra {\n  package \"w\" { ensure = present }\n}\ninclude extra\n"}}),
    );
    s.wait_for("lib.fleet fixed", |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == lib_uri
            && m["params"]["version"] == 1
            && m["params"]["diagnostics"] == json!([])
    });

    // In the imported file, the importing manifest's variables are known: definition of
    // `$domain` jumps into site.fleet.
    let lib_text = "class extra {\n  file \"/etc/extra\" { content = $domain }\n}\n";
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": lib_uri, "version": 2}, "contentChanges": [{"text": lib_text}]}),
    );
    let d = s.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": lib_uri}, "position": pos(lib_text, "$domain", 1)}),
    );
    assert_eq!(d["uri"], site_uri, "{d}");
    assert_eq!(d["range"]["start"], pos(FIXED, "$domain =", 0));

    // Shutdown and exit: the process ends by itself.
    let r = s.request("shutdown", Value::Null);
    assert!(r.is_null());
    s.notify("exit", Value::Null);
    drop(s.stdin.take());
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "fleet lsp did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A frame of `body` bytes with a correct header.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    v.extend_from_slice(body);
    v
}

#[test]
fn malformed_messages_are_answered_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let mut s = Server::start(&dir_path);
    s.request(
        "initialize",
        json!({"processId": null, "rootUri": uri(&dir_path), "capabilities": {}}),
    );
    s.notify("initialized", json!({}));
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":99,"method":"textDocument/hover","params":{}{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let parse = -32700;
    let invalid = -32600;
    let cases: Vec<(&str, Vec<u8>, i64)> = vec![
        ("bad JSON", frame(b"{\"jsonrpc\": \"2.0\", "), parse),
        ("an array body", frame(b"[1, 2, 3]"), invalid),
        (
            "invalid UTF-8",
            frame(b"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\"}"),
            parse,
        ),
        ("over-deep JSON", frame(deep.as_bytes()), parse),
        (
            "a bad Content-Length",
            b"Content-Length: twelve\r\n\r\n{}".to_vec(),
            invalid,
        ),
        (
            "no Content-Length",
            b"Content-Type: application/json\r\n\r\n{}".to_vec(),
            invalid,
        ),
        (
            "a huge Content-Length",
            b"Content-Length: 99999999999\r\n\r\n{}".to_vec(),
            invalid,
        ),
    ];
    for (what, bytes, code) in cases {
        s.send_raw(&bytes);
        assert_eq!(s.error_for_null_id(what), code, "{what}");
        // Still serving: a real request gets its answer.
        let r = s.request(
            "textDocument/formatting",
            json!({"textDocument": {"uri": uri(&dir_path.join("none.fleet"))}, "options": {"tabSize": 2, "insertSpaces": true}}),
        );
        assert!(r.is_null() || r.is_array(), "after {what}: {r}");
    }
    // A request with an id but a malformed method is answered with that id.
    s.send_raw(&frame(br#"{"jsonrpc":"2.0","id":4242,"method":17}"#));
    let m = s.wait_for("the answer to id 4242", |m| m["id"] == 4242);
    assert_eq!(m["error"]["code"], -32600, "{m}");

    let r = s.request("shutdown", Value::Null);
    assert!(r.is_null());
    s.notify("exit", Value::Null);
    drop(s.stdin.take());
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "fleet lsp did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_buffer_that_never_ends_evaluating_is_a_resource_limit() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let site = dir_path.join("site.fleet");
    let text = "for $i in range(1, 1000000) {\n  for $j in range(1, 1000000) {\n    notice(\"x\")\n  }\n}\n";
    std::fs::write(&site, text).unwrap();
    let mut s = Server::start_with(&dir_path, &[("FLEET_MAX_EVAL_STEPS", "100000")]);
    s.request(
        "initialize",
        json!({"processId": null, "rootUri": uri(&dir_path), "capabilities": {}}),
    );
    s.notify("initialized", json!({}));
    let site_uri = uri(&site);
    s.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": site_uri, "languageId": "fleet", "version": 1, "text": text}}),
    );
    let diags = s.diagnostics(&site_uri, Some(1));
    assert_eq!(codes(&diags), ["resource-limit"], "{diags:#?}");
    // And the server still answers.
    let r = s.request("shutdown", Value::Null);
    assert!(r.is_null());
}

/// A workspace of `site.fleet` holding `text` and the `others` files (name, text), and a
/// server on it: initialised, `site.fleet` open and its first diagnostics in.
struct Opened {
    dir: std::path::PathBuf,
    _tmp: tempfile::TempDir,
    server: Server,
    init: Value,
    diagnostics: Vec<Value>,
}

impl Opened {
    fn new(text: &str, others: &[(&str, &str)]) -> Opened {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().canonicalize().unwrap();
        std::fs::write(dir.join("site.fleet"), text).unwrap();
        for (name, body) in others {
            std::fs::write(dir.join(name), body).unwrap();
        }
        let mut server = Server::start(&dir);
        let init = server.request(
            "initialize",
            json!({"processId": null, "rootUri": uri(&dir), "capabilities": {}}),
        );
        server.notify("initialized", json!({}));
        let site = uri(&dir.join("site.fleet"));
        server.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": site, "languageId": "fleet", "version": 1, "text": text}}),
        );
        let diagnostics = server.diagnostics(&site, Some(1));
        Opened {
            dir,
            _tmp: tmp,
            server,
            init,
            diagnostics,
        }
    }

    fn uri(&self, name: &str) -> String {
        uri(&self.dir.join(name))
    }
}

#[test]
fn document_and_workspace_symbols() {
    let text = "import \"./lib.fleet\"\nlet $domain = \"example.com\"\n\
                class web($port: Int = 80) {\n  package \"nginx\" { ensure = latest }\n}\n\
                node \"web01\", /^web\\d+$/ {\n  include web\n  file \"/etc/motd\" { content = \"hi\\n\" }\n}\n";
    let lib = "define vhost($port: Int) {\n  file \"/etc/${title}\" { content = \"x\" }\n}\n";
    let mut o = Opened::new(text, &[("lib.fleet", lib)]);
    let (site_uri, lib_uri) = (o.uri("site.fleet"), o.uri("lib.fleet"));
    assert_eq!(o.init["capabilities"]["documentSymbolProvider"], true);
    assert_eq!(o.init["capabilities"]["workspaceSymbolProvider"], true);
    let s = &mut o.server;

    let d = s.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": site_uri}}),
    );
    let names: Vec<&str> = d
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["$domain", "web", "node \"web01\", /^web\\d+$/"],
        "{d:#}"
    );
    let class = &d[1];
    assert_eq!(class["kind"], 5, "a class: {class}");
    assert_eq!(class["selectionRange"]["start"], pos(text, "web($port", 0));
    assert_eq!(class["children"][0]["name"], "package \"nginx\"");
    let node = &d[2];
    assert_eq!(node["children"][0]["name"], "file \"/etc/motd\"");

    // Across the fleet's files: the define in lib.fleet, by part of its name.
    let w = s.request("workspace/symbol", json!({"query": "VHO"}));
    let found = w.as_array().unwrap();
    assert_eq!(found.len(), 1, "{w:#}");
    assert_eq!(found[0]["name"], "vhost");
    assert_eq!(found[0]["location"]["uri"], lib_uri);
    assert_eq!(
        found[0]["location"]["range"]["start"],
        json!({"line": 0, "character": 7})
    );
    let all = s.request("workspace/symbol", json!({"query": ""}));
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"web") && names.contains(&"vhost"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"$domain"),
        "variables are not workspace symbols: {names:?}"
    );
}

#[test]
fn references_and_rename_follow_definitions() {
    let text = "import \"./lib.fleet\"\nlet $port = 8080\n\
                class web($port: Int = 80) {\n  file \"/etc/web\" { content = \"${port}\\n\" }\n}\n\
                node \"web01\" {\n  include web(port = 81)\n  file \"/etc/top\" { content = \"${port}\\n\" }\n  \
                vhost \"a\" { port = 1 }\n  file \"/etc/b\" { require = Vhost[\"a\"] }\n}\n";
    let lib = "define vhost($port: Int) {\n  file \"/etc/${title}\" { content = \"${port}\" }\n}\n";
    let mut o = Opened::new(text, &[("lib.fleet", lib)]);
    let site_uri = o.uri("site.fleet");
    let lib_uri = o.uri("lib.fleet");
    assert_eq!(o.init["capabilities"]["referencesProvider"], true);
    assert_eq!(o.init["capabilities"]["renameProvider"], true);
    let s = &mut o.server;
    let refs = |s: &mut Server, needle: &str, delta: usize, decl: bool| -> Vec<(String, Value)> {
        let mut p = json!({"context": {"includeDeclaration": decl}});
        p["textDocument"] = json!({"uri": site_uri});
        p["position"] = pos(text, needle, delta);
        let r = s.request("textDocument/references", p);
        r.as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["uri"].as_str().unwrap().to_string(),
                    l["range"]["start"].clone(),
                )
            })
            .collect()
    };
    // The class parameter: its declaration, its use in the body, `include web(port = …)`;
    // not the top-level $port, not vhost's.
    let got = refs(s, "$port: Int = 80", 1, true);
    assert_eq!(
        got,
        [
            (site_uri.clone(), pos(text, "port: Int = 80", 0)),
            (site_uri.clone(), pos(text, "port}\\n\" }\n}\nnode", 0)),
            (site_uri.clone(), pos(text, "port = 81", 0)),
        ],
        "{got:?}"
    );
    // The top-level variable, without its declaration: only the use in the node.
    let got = refs(s, "${port}\\n\" }\n  vhost", 3, false);
    assert_eq!(
        got,
        [(site_uri.clone(), pos(text, "port}\\n\" }\n  vhost", 0))],
        "{got:?}"
    );
    // The define: its definition in lib.fleet, the declaration and the Vhost["a"] reference.
    let got = refs(s, "vhost \"a\"", 1, true);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got.contains(&(lib_uri.clone(), json!({"line": 0, "character": 7}))),
        "{got:?}"
    );
    assert!(
        got.contains(&(site_uri.clone(), pos(text, "Vhost[", 0))),
        "{got:?}"
    );

    // Rename the define: lower-case where it was written so, capitalised in the reference.
    let mut p = json!({"newName": "site"});
    p["textDocument"] = json!({"uri": site_uri});
    p["position"] = pos(text, "vhost \"a\"", 1);
    let edit = s.request("textDocument/rename", p);
    let site_edits = edit["changes"][site_uri.as_str()].as_array().unwrap();
    let texts: Vec<&str> = site_edits
        .iter()
        .map(|e| e["newText"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 2, "{edit:#}");
    assert!(
        texts.contains(&"site") && texts.contains(&"Site"),
        "{texts:?}"
    );
    assert_eq!(edit["changes"][lib_uri.as_str()][0]["newText"], "site");
    // Not a name: a JSON-RPC error, and the server goes on.
    s.next_id += 1;
    let id = s.next_id;
    let mut p = json!({"newName": "Not A Name"});
    p["textDocument"] = json!({"uri": site_uri});
    p["position"] = pos(text, "vhost \"a\"", 1);
    s.send(json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/rename", "params": p}));
    let resp = s.wait_for("the rename's error", |m| m["id"] == json!(id));
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a name"),
        "{resp}"
    );
    let d = s.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": site_uri}}),
    );
    assert!(d.is_array());
}

#[test]
fn did_you_mean_diagnostics_have_quick_fixes() {
    let text = "packge \"nginx\" { ensure = latest }\nservice \"nginx\" { ensure = runing }\n";
    let mut o = Opened::new(text, &[]);
    let site_uri = o.uri("site.fleet");
    assert_eq!(o.init["capabilities"]["codeActionProvider"], true);
    let diags = o.diagnostics.clone();
    let s = &mut o.server;
    assert!(!diags.is_empty(), "{diags:#?}");
    let actions = s.request(
        "textDocument/codeAction",
        json!({
            "textDocument": {"uri": site_uri},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}},
            "context": {"diagnostics": diags},
        }),
    );
    let fixes: Vec<(String, String, Value)> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let e = &a["edit"]["changes"][site_uri.as_str()][0];
            (
                a["title"].as_str().unwrap().to_string(),
                e["newText"].as_str().unwrap().to_string(),
                e["range"]["start"].clone(),
            )
        })
        .collect();
    assert!(
        fixes.contains(&(
            "Replace with `package`".into(),
            "package".into(),
            json!({"line": 0, "character": 0})
        )),
        "{actions:#}"
    );
    assert!(
        fixes.contains(&(
            "Replace with `running`".into(),
            "running".into(),
            pos(text, "runing", 0)
        )),
        "{actions:#}"
    );
    assert_eq!(actions[0]["kind"], "quickfix");
}

#[test]
fn signature_help_for_functions_classes_and_defines() {
    let text = "class web($port: Int = 80, $name: String = \"w\") {}\n\
                define vhost($port: Int) {}\n\
                include web(port = 1, name = \"x\")\n\
                let $x = join([\"a\", \"b\"], \",\")\n\
                vhost \"a\" { port = 1 }\n";
    let mut o = Opened::new(text, &[]);
    let site_uri = o.uri("site.fleet");
    assert!(o.init["capabilities"]["signatureHelpProvider"].is_object());
    let s = &mut o.server;
    let mut help = |needle: &str, delta: usize| {
        s.request(
            "textDocument/signatureHelp",
            json!({"textDocument": {"uri": site_uri}, "position": pos(text, needle, delta)}),
        )
    };
    let h = help("name = \"x\"", 0);
    assert_eq!(
        h["signatures"][0]["label"],
        "class web($port: Int = 80, $name: String = \"w\")"
    );
    assert_eq!(h["activeParameter"], 1, "{h}");
    let h = help("\",\")", 1);
    let label = h["signatures"][0]["label"].as_str().unwrap();
    assert!(label.starts_with("join("), "{h}");
    assert_eq!(h["activeParameter"], 1, "{h}");
    let h = help("[\"a\"", 0);
    assert_eq!(h["activeParameter"], 0, "{h}");
    let h = help("port = 1 }", 0);
    assert_eq!(
        h["signatures"][0]["label"], "define vhost($port: Int)",
        "{h}"
    );
    assert!(help("class web", 0).is_null());
}

#[test]
fn a_missing_required_parameter_has_a_quick_fix() {
    let text = "class web($port: Int) {}\ndefine vhost($size: Int, $name: String) {}\n\
                include web\nvhost \"a\" { size = 1 }\n";
    let mut o = Opened::new(text, &[]);
    let site_uri = o.uri("site.fleet");
    let diags = o.diagnostics.clone();
    let s = &mut o.server;
    assert_eq!(
        codes(&diags),
        ["missing-attribute", "missing-attribute"],
        "{diags:#?}"
    );
    let actions = s.request(
        "textDocument/codeAction",
        json!({
            "textDocument": {"uri": site_uri},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 4, "character": 0}},
            "context": {"diagnostics": diags},
        }),
    );
    let mut fixed = text.to_string();
    let mut edits: Vec<(usize, String)> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let e = &a["edit"]["changes"][site_uri.as_str()][0];
            let (line, ch) = (
                e["range"]["start"]["line"].as_u64().unwrap() as usize,
                e["range"]["start"]["character"].as_u64().unwrap() as usize,
            );
            let off: usize = text
                .split_inclusive('\n')
                .take(line)
                .map(str::len)
                .sum::<usize>()
                + ch;
            (off, e["newText"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(edits.len(), 2, "{actions:#}");
    edits.sort();
    for (off, t) in edits.into_iter().rev() {
        fixed.insert_str(off, &t);
    }
    assert!(fixed.contains("include web(port = )\n"), "{fixed}");
    assert!(
        fixed.contains("vhost \"a\" { size = 1, name = }"),
        "{fixed}"
    );
}

#[test]
fn hover_on_a_stdlib_class_or_define_shows_its_documentation() {
    let text = "import \"sudo\"\nnode \"ops01\" {\n  include sudo\n  sudo::rule \"x\" { content = \"x ALL=(ALL) ALL\" }\n}\n";
    let mut o = Opened::new(text, &[]);
    let site_uri = o.uri("site.fleet");
    let s = &mut o.server;
    let mut hover = |needle: &str, delta: usize| {
        let h = s.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": site_uri}, "position": pos(text, needle, delta)}),
        );
        h["contents"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let class = hover("include sudo", 9);
    assert!(
        class.contains("class sudo($package: String = \"sudo\")"),
        "{class}"
    );
    assert!(class.contains("checked with `visudo -cf`"), "{class}");
    let define = hover("sudo::rule \"x\"", 1);
    assert!(define.contains("define sudo::rule("), "{define}");
    assert!(
        define.contains("One drop-in, /etc/sudoers.d/<title>"),
        "{define}"
    );
}
