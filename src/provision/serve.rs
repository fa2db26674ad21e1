//! `fleet provision serve --out DIR --listen ADDR`: plain HTTP for installers (hyper, the
//! catalog server's stack). `GET /<path>` serves `DIR/http/<path>` (answer files, boot
//! files); `POST /done/<node>` records a provisioned node in `DIR/installed.json`, so its
//! next `fleet provision` gives it a local-boot entry. Every request is logged through the
//! caller's function (only `cli/` prints).

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};

/// Largest file served (boot images included).
const MAX_FILE: u64 = 2 << 30;

/// What the server needs.
struct Shared {
    out: PathBuf,
    /// Serialises read-modify-write of `installed.json`.
    installed: Mutex<()>,
    log: Box<dyn Fn(String) + Send + Sync>,
}

/// Serves until the process ends. `ready` gets the bound address (so `--listen
/// 127.0.0.1:0` can be used); `log` gets one access-log line per request.
pub(crate) fn serve(
    out: &Path,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
    log: impl Fn(String) + Send + Sync + 'static,
) -> Result<(), String> {
    if !out.join("http").is_dir() {
        return Err(format!(
            "{}: no http/ directory (run `fleet provision --out {}` first)",
            out.display(),
            out.display()
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let shared = Arc::new(Shared {
        out: out.to_path_buf(),
        installed: Mutex::new(()),
        log: Box::new(log),
    });
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        ready(addr);
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(&shared, peer, req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

/// One request, logged.
fn handle<B>(shared: &Shared, peer: SocketAddr, req: Request<B>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let (status, body) = route(shared, req.method(), &path);
    (shared.log)(format!(
        "{peer} {} {path} {} {}",
        req.method(),
        status.as_u16(),
        body.len()
    ));
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp
}

/// The status and body for a method and path.
fn route(shared: &Shared, method: &Method, path: &str) -> (StatusCode, Vec<u8>) {
    if let Some(node) = path.strip_prefix("/done/") {
        if method != Method::POST {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                b"POST /done/<node>\n".to_vec(),
            );
        }
        return done(shared, node);
    }
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, b"GET only\n".to_vec());
    }
    let Some(file) = file_path(&shared.out.join("http"), path) else {
        return (StatusCode::NOT_FOUND, b"not found\n".to_vec());
    };
    match std::fs::metadata(&file) {
        Ok(m) if m.is_file() && m.len() <= MAX_FILE => match std::fs::read(&file) {
            Ok(b) => (StatusCode::OK, b),
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, b"cannot read\n".to_vec()),
        },
        _ => (StatusCode::NOT_FOUND, b"not found\n".to_vec()),
    }
}

/// `DIR/http/<path>` for a request path with only normal components (no `..`).
fn file_path(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(rel))
}

/// `POST /done/<node>`: a node of `provision.json` is added to `installed.json`.
fn done(shared: &Shared, node: &str) -> (StatusCode, Vec<u8>) {
    let known = super::wire::read(&shared.out).is_ok_and(|d| d.nodes.contains_key(node));
    if !known {
        return (StatusCode::NOT_FOUND, b"no such node\n".to_vec());
    }
    let _guard = shared.installed.lock().unwrap_or_else(|p| p.into_inner());
    let result = super::state::read_installed(&shared.out).and_then(|mut set| {
        set.insert(node.to_string());
        super::state::write_installed(&shared.out, &set)
    });
    match result {
        Ok(()) => (StatusCode::OK, format!("{node} installed\n").into_bytes()),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            b"cannot record\n".to_vec(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::file_path;
    use std::path::Path;

    #[test]
    fn paths_stay_inside_http() {
        let root = Path::new("/srv/out/http");
        assert_eq!(
            file_path(root, "/answers/web01").as_deref(),
            Some(Path::new("/srv/out/http/answers/web01"))
        );
        assert_eq!(file_path(root, "/../provision.json"), None);
        assert_eq!(file_path(root, "/answers/../../x"), None);
        assert_eq!(file_path(root, "/"), None);
    }
}
