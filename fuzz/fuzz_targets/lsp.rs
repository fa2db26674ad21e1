//! `fleet lsp`'s message loop, in-process, fed raw bytes as a client's stdout.
//!
//! The harness plays a well-behaved client around the fuzzed bytes: it sends `initialize` and
//! `initialized`, then every message the bytes frame (`Content-Length` headers and JSON
//! bodies, read by the same framing `fleet lsp` uses on stdin), then `shutdown` and `exit`.
//! The loop runs on `Connection::memory()` with no re-check delay, so the background
//! checker checks the buffers too. It must not panic and must end.
//!
//! The bytes are read by `fleet lsp`'s own framing reader (`lsp::framing::Reader`, 1 MiB
//! cap here): a bad frame is skipped as the server skips it after answering its error, and
//! reading goes on to the next one.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lsp_server::{Connection, Message, Notification, Request, RequestId};

fuzz_target!(|data: &[u8]| {
    let (server, client) = Connection::memory();
    let serving = std::thread::spawn(move || {
        let _ = fleet::internals::lsp::serve_with(&server, Duration::ZERO);
    });
    let Connection { sender, receiver } = client;
    let request = |id: &str, method: &str, params: serde_json::Value| {
        Message::Request(Request {
            id: RequestId::from(id.to_string()),
            method: method.into(),
            params,
        })
    };
    let notification = |method: &str, params: serde_json::Value| {
        Message::Notification(Notification {
            method: method.into(),
            params,
        })
    };
    let _ = sender.send(request(
        "fuzz-initialize",
        "initialize",
        serde_json::json!({ "capabilities": {} }),
    ));
    let _ = sender.send(notification("initialized", serde_json::json!({})));
    let mut reader = fleet::internals::lsp::framing::Reader::new(data, 1 << 20);
    loop {
        match reader.next_frame() {
            Ok(fleet::internals::lsp::framing::Frame::Message(msg)) => {
                if sender.send(msg).is_err() {
                    break;
                }
            }
            Ok(fleet::internals::lsp::framing::Frame::Bad { .. }) => continue,
            Ok(fleet::internals::lsp::framing::Frame::Eof) | Err(_) => break,
        }
    }
    let _ = sender.send(request(
        "fuzz-shutdown",
        "shutdown",
        serde_json::Value::Null,
    ));
    let _ = sender.send(notification("exit", serde_json::Value::Null));
    drop(sender);
    serving.join().expect("the message loop ends");
    drop(receiver);
});
