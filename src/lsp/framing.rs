//! The stdio transport of `fleet lsp`, in place of lsp-server's (whose reader thread ends on
//! the first malformed frame): `Content-Length` framing with a size cap, and one bad message
//! costs one error answer, never the session.
//!
//! - A body that is not JSON (invalid UTF-8, truncated, nested deeper than serde_json's
//!   limit) is answered `-32700` (parse error), a JSON value that is no JSON-RPC message (an
//!   array, a number, a request whose `method` is not a string) `-32600` (invalid request),
//!   with the request's `id` when it has one, else `null`.
//! - A header block without a usable `Content-Length`, or announcing more than
//!   `FLEET_MAX_LSP_MESSAGE_BYTES` (64 MiB), or a header line longer than 8 KiB is answered
//!   `-32600`; the body's bytes are then skipped up to the next `Content-Length:` (nothing
//!   is allocated for them), where reading resumes.

use std::io::{self, BufRead, Read, Write};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use lsp_server::{Connection, Message};

/// JSON-RPC: the body is not JSON.
pub(crate) const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: the JSON is not a request, notification or response.
pub(crate) const INVALID_REQUEST: i64 = -32600;

/// Header lines longer than this are malformed.
const MAX_HEADER_LINE: usize = 8 << 10;
const CONTENT_LENGTH: &[u8] = b"content-length:";

/// What one read from the client gave.
#[derive(Debug)]
pub enum Frame {
    Message(Message),
    /// A malformed frame or message: answer `{"id": id, "error": {code, message}}`.
    Bad {
        id: serde_json::Value,
        code: i64,
        message: String,
    },
    /// The client closed its end.
    Eof,
}

/// Reads LSP frames from `r`, at most `cap` body bytes each.
pub struct Reader<R> {
    r: R,
    cap: u64,
    /// After a framing error: skip bytes up to the next `Content-Length:`.
    resync: bool,
}

impl<R: BufRead> Reader<R> {
    pub fn new(r: R, cap: u64) -> Reader<R> {
        Reader {
            r,
            cap,
            resync: false,
        }
    }

    /// The next frame; `Err` only for I/O errors of the stream itself.
    pub fn next_frame(&mut self) -> io::Result<Frame> {
        loop {
            let mut length: Option<Result<u64, String>> = None;
            if self.resync {
                if !self.skip_to_content_length()? {
                    return Ok(Frame::Eof);
                }
                self.resync = false;
                length = Some(self.header_value_as_length()?);
            }
            // The rest of the header block, up to its empty line.
            let mut lines = 0;
            loop {
                let Some(line) = self.header_line()? else {
                    return Ok(Frame::Eof);
                };
                let Ok(line) = line else {
                    self.resync = true;
                    return Ok(bad(
                        INVALID_REQUEST,
                        format!("a header line is longer than {MAX_HEADER_LINE} bytes"),
                    ));
                };
                if line.is_empty() {
                    break;
                }
                lines += 1;
                // Anywhere in the line: after a body longer than its `Content-Length`, the
                // next header follows the rest of that body on one line.
                let lower = line.to_ascii_lowercase();
                if let Some(at) = lower.find("content-length:") {
                    length = Some(parse_length(&lower[at + CONTENT_LENGTH.len()..]));
                }
            }
            let n = match length {
                // A stray empty line between messages.
                None if lines == 0 => continue,
                None => {
                    self.resync = true;
                    return Ok(bad(INVALID_REQUEST, "no Content-Length header".into()));
                }
                Some(Err(why)) => {
                    self.resync = true;
                    return Ok(bad(INVALID_REQUEST, why));
                }
                Some(Ok(n)) if n > self.cap => {
                    self.resync = true;
                    return Ok(bad(
                        INVALID_REQUEST,
                        format!(
                            "a message of {n} bytes is larger than the limit of {} bytes \
                             (FLEET_MAX_LSP_MESSAGE_BYTES)",
                            self.cap
                        ),
                    ));
                }
                Some(Ok(n)) => n,
            };
            let mut body = Vec::with_capacity(n as usize);
            let got = (&mut self.r).take(n).read_to_end(&mut body)?;
            if (got as u64) < n {
                return Ok(Frame::Eof);
            }
            return Ok(decode(&body));
        }
    }

    /// One header line without its line end (`\r\n`, or a lone `\n`): `None` at the end of
    /// the stream, `Some(Err(()))` when it is too long (then skipped up to its end).
    fn header_line(&mut self) -> io::Result<Option<Result<String, ()>>> {
        let mut line = Vec::new();
        let n = (&mut self.r)
            .take(MAX_HEADER_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') {
            if line.len() > MAX_HEADER_LINE {
                return Ok(Some(Err(())));
            }
            return Ok(None);
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(Ok(String::from_utf8_lossy(&line).into_owned())))
    }

    /// Discards bytes up to and including the next `Content-Length:` (any case); false at
    /// the end of the stream.
    fn skip_to_content_length(&mut self) -> io::Result<bool> {
        let mut matched = 0;
        loop {
            let buf = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(false);
            }
            let mut used = 0;
            let mut found = false;
            for &b in buf {
                used += 1;
                let b = b.to_ascii_lowercase();
                if b == CONTENT_LENGTH[matched] {
                    matched += 1;
                } else {
                    // No proper prefix of the pattern is also its suffix (`c` occurs once).
                    matched = usize::from(b == CONTENT_LENGTH[0]);
                }
                if matched == CONTENT_LENGTH.len() {
                    found = true;
                    break;
                }
            }
            self.r.consume(used);
            if found {
                return Ok(true);
            }
        }
    }

    /// After [`Reader::skip_to_content_length`]: the rest of that header line as a length.
    fn header_value_as_length(&mut self) -> io::Result<Result<u64, String>> {
        Ok(match self.header_line()? {
            Some(Ok(v)) => parse_length(&v),
            _ => Err("a malformed Content-Length header".into()),
        })
    }
}

fn parse_length(v: &str) -> Result<u64, String> {
    let v = v.trim();
    v.parse::<u64>()
        .map_err(|_| format!("Content-Length `{v}` is not a byte count"))
}

fn bad(code: i64, message: String) -> Frame {
    Frame::Bad {
        id: serde_json::Value::Null,
        code,
        message,
    }
}

/// A body as a message, or the error to answer.
fn decode(body: &[u8]) -> Frame {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad(PARSE_ERROR, format!("the message is not JSON: {e}")),
    };
    let id = match &value {
        serde_json::Value::Object(m) => match m.get("id") {
            Some(id @ (serde_json::Value::Number(_) | serde_json::Value::String(_))) => id.clone(),
            _ => serde_json::Value::Null,
        },
        other => {
            let what = match other {
                serde_json::Value::Array(_) => "an array (batches are not part of LSP)",
                _ => "not a JSON object",
            };
            return bad(INVALID_REQUEST, format!("the message is {what}"));
        }
    };
    match serde_json::from_value::<Message>(value) {
        Ok(m) => Frame::Message(m),
        Err(e) => Frame::Bad {
            id,
            code: INVALID_REQUEST,
            message: format!("not a JSON-RPC request, notification or response: {e}"),
        },
    }
}

/// Writes one frame.
fn write_frame(w: &mut impl Write, body: &[u8]) -> io::Result<()> {
    write!(w, "Content-Length: {}\r\n\r\n", body.len())?;
    w.write_all(body)?;
    w.flush()
}

/// The threads behind [`stdio`].
pub(crate) struct IoThreads {
    writer: JoinHandle<io::Result<()>>,
}

impl IoThreads {
    /// Waits until every message sent has been written (all senders dropped).
    pub(crate) fn join(self) -> io::Result<()> {
        self.writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the LSP writer panicked")))
    }
}

/// A connection on stdin/stdout: a reader thread (ends at the client's `exit` or the end of
/// stdin) and a writer thread (ends when every sender is dropped).
pub(crate) fn stdio(cap: u64) -> (Connection, IoThreads) {
    let out = Arc::new(Mutex::new(io::stdout()));
    let (writer_tx, writer_rx): (Sender<Message>, Receiver<Message>) =
        crossbeam_channel::unbounded();
    let writer = {
        let out = out.clone();
        std::thread::Builder::new()
            .name("fleet-lsp-writer".into())
            .spawn(move || {
                for msg in writer_rx {
                    let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
                    msg.write(&mut *out)?;
                }
                Ok(())
            })
            .expect("spawning the LSP writer")
    };
    let (reader_tx, reader_rx) = crossbeam_channel::bounded::<Message>(0);
    std::thread::Builder::new()
        .name("fleet-lsp-reader".into())
        .spawn(move || {
            let mut reader = Reader::new(io::stdin().lock(), cap);
            loop {
                match reader.next_frame() {
                    Ok(Frame::Message(msg)) => {
                        let exit = matches!(&msg, Message::Notification(n) if n.method == "exit");
                        if reader_tx.send(msg).is_err() || exit {
                            return;
                        }
                    }
                    Ok(Frame::Bad { id, code, message }) => {
                        let body = serde_json::json!({
                            "jsonrpc": "2.0",
                            "id": id,
                            "error": {"code": code, "message": message},
                        });
                        let body = serde_json::to_vec(&body).unwrap_or_default();
                        let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
                        if write_frame(&mut *out, &body).is_err() {
                            return;
                        }
                    }
                    Ok(Frame::Eof) | Err(_) => return,
                }
            }
        })
        .expect("spawning the LSP reader");
    let connection = Connection {
        sender: writer_tx,
        receiver: reader_rx,
    };
    (connection, IoThreads { writer })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], cap: u64) -> Vec<String> {
        let mut r = Reader::new(input, cap);
        let mut out = Vec::new();
        loop {
            match r.next_frame().unwrap() {
                Frame::Eof => return out,
                Frame::Message(m) => out.push(format!("{m:?}")),
                Frame::Bad { id, code, .. } => out.push(format!("bad {code} {id}")),
            }
        }
    }

    #[test]
    fn bad_frames_cost_one_error_each_and_reading_resumes() {
        let ok = br#"{"jsonrpc":"2.0","method":"x","params":null}"#;
        let frame = |body: &[u8]| {
            let mut v = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
            v.extend_from_slice(body);
            v
        };
        let mut input = Vec::new();
        input.extend(frame(b"{not json"));
        input.extend(frame(b"[1, 2]"));
        input.extend(frame(b"\"\xff\""));
        input.extend(frame(br#"{"id": 7, "method": 5}"#));
        input.extend(b"Content-Length: 99999999999\r\n\r\n{}");
        input.extend(frame(ok));
        input.extend(b"Content-Length: x\r\n\r\n{}");
        input.extend(frame(ok));
        input.extend(b"Content-Type: y\r\n\r\n{}");
        input.extend(frame(ok));
        // A body longer than announced (`{}` is no message): the rest runs into the next
        // header line, which is still found.
        input.extend(b"Content-Length: 2\r\n\r\n{}}}");
        input.extend(frame(ok));
        let got = frames(&input, 1 << 20);
        let n = |c: &str| got.iter().filter(|g| g.starts_with(c)).count();
        assert_eq!(n("bad -32700 null"), 2, "{got:#?}");
        assert_eq!(n("bad -32600 7"), 1, "{got:#?}");
        assert_eq!(n("bad -32600 null"), 5, "{got:#?}");
        assert_eq!(n("Notification"), 4, "{got:#?}");
    }
}
