//! `fleet lsp`: a Language Server on stdio (lsp-server + lsp-types).
//!
//! The message loop owns the open buffers and answers requests (hover, definition,
//! completion, formatting) from a per-version cache of loaded programs; checking runs on a
//! worker thread (`worker.rs`), debounced, and results for versions that were edited
//! meanwhile are dropped. Positions are LSP's: 0-based lines and UTF-16 columns.

// `lsp_types::Uri` keeps a lazily filled cache inside, which clippy counts as interior
// mutability; its `Hash` and `Eq` only look at the URI string, so it is a sound map key.
#![allow(clippy::mutable_key_type)]

pub(crate) mod actions;
pub(crate) mod convert;
pub(crate) mod docs;
pub(crate) mod features;
pub(crate) mod framing;
pub(crate) mod locate;
pub(crate) mod references;
pub(crate) mod roots;
pub(crate) mod symbols;
pub(crate) mod worker;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument,
    Notification as _,
};
use lsp_types::request::{
    CodeActionRequest, Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest,
    References, Rename, Request as _, SignatureHelpRequest, WorkspaceSymbolRequest,
};
use lsp_types::{
    CompletionOptions, CompletionParams, CompletionResponse, DocumentFormattingParams,
    DocumentSymbolParams, DocumentSymbolResponse, GotoDefinitionParams, GotoDefinitionResponse,
    HoverParams, HoverProviderCapability, InitializeParams, Location, OneOf, Position, Range,
    ReferenceParams, RenameParams, SaveOptions, ServerCapabilities, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, TextEdit, Uri, WorkspaceEdit,
    WorkspaceSymbolParams,
};

use crate::program::{Options, Program};
use crate::source::FileId;
use convert::{path_to_uri, uri_to_path};
use worker::{Doc, Docs, Job};

/// Re-checks wait this long after the last edit.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(150);

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Serves LSP on stdin/stdout until the client says `exit`. Returns the process status.
pub(crate) fn run_stdio() -> i32 {
    let (connection, io_threads) = framing::stdio(crate::limits::get().lsp_message_bytes);
    let result = serve(&connection);
    drop(connection);
    let joined = io_threads.join();
    match (result, joined) {
        (Ok(()), Ok(())) => 0,
        (Err(e), _) => {
            eprintln!("error: {e}");
            1
        }
        (_, Err(e)) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// The capabilities `fleet lsp` announces.
pub(crate) fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::FULL),
                save: Some(SaveOptions::default().into()),
                ..Default::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec!["=".into(), " ".into()]),
            ..Default::default()
        }),
        document_formatting_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(lsp_types::CodeActionProviderCapability::Simple(true)),
        signature_help_provider: Some(lsp_types::SignatureHelpOptions {
            trigger_characters: Some(vec!["(".into(), ",".into(), "{".into()]),
            ..Default::default()
        }),
        rename_provider: Some(OneOf::Left(true)),
        ..Default::default()
    }
}

/// Runs the protocol on a connection: initialize, the message loop, shutdown.
pub(crate) fn serve(connection: &Connection) -> Result<(), Error> {
    serve_with(connection, DEBOUNCE)
}

/// [`serve`] with the re-check delay given: the `lsp` fuzz target (`fuzz/`) runs the loop
/// in-process on `Connection::memory()` with no delay, so the background checker runs too.
pub fn serve_with(connection: &Connection, debounce: Duration) -> Result<(), Error> {
    let (id, params) = connection.initialize_start()?;
    // Parameters that do not fit `InitializeParams` are no reason to end the session.
    let init: InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let options = options_from(init.initialization_options.as_ref());
    let result = serde_json::json!({
        "capabilities": capabilities(),
        "serverInfo": { "name": "fleet", "version": env!("CARGO_PKG_VERSION") },
    });
    connection.initialize_finish(id, result)?;

    let docs: Docs = Arc::new(Mutex::new(HashMap::new()));
    let (jobs, job_rx) = mpsc::channel();
    let worker = {
        let docs = docs.clone();
        let out = connection.sender.clone();
        let options = options.clone();
        std::thread::Builder::new()
            .name("fleet-lsp-check".into())
            .spawn(move || worker::run(job_rx, docs, out, options, debounce))?
    };
    let mut server = Server {
        docs,
        jobs,
        options,
        cache: HashMap::new(),
        untitled: 0,
    };
    for msg in &connection.receiver {
        match msg {
            Message::Request(req) => {
                if connection.handle_shutdown(&req)? {
                    break;
                }
                let resp = server.request(req);
                connection.sender.send(Message::Response(resp))?;
            }
            Message::Notification(n) => {
                if n.method == "exit" {
                    break;
                }
                server.notification(n);
            }
            Message::Response(_) => {}
        }
    }
    drop(server);
    let _ = worker.join();
    Ok(())
}

/// `initializationOptions`: `{"modulepath": ["dir", …], "facts": "path"}`, both optional.
fn options_from(value: Option<&serde_json::Value>) -> Options {
    let mut options = Options::default();
    let Some(v) = value else {
        return options;
    };
    if let Some(dirs) = v.get("modulepath").and_then(|m| m.as_array()) {
        options.modulepath = dirs
            .iter()
            .filter_map(|d| d.as_str())
            .map(PathBuf::from)
            .collect();
    }
    if let Some(f) = v.get("facts").and_then(|f| f.as_str()) {
        options.facts = Some(PathBuf::from(f));
    }
    options
}

/// A loaded program and the buffer's file in it.
type Analysis = (Arc<Program>, FileId);

struct Server {
    docs: Docs,
    jobs: mpsc::Sender<Job>,
    options: Options,
    /// The loaded program of each buffer at one version, for requests.
    cache: HashMap<Uri, (i32, Analysis)>,
    untitled: u32,
}

impl Server {
    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params)
                else {
                    return;
                };
                let doc = p.text_document;
                let path = match uri_to_path(&doc.uri) {
                    Some(p) => p,
                    None => {
                        self.untitled += 1;
                        let dir = std::env::current_dir().unwrap_or_default();
                        dir.join(format!("untitled-{}.fleet", self.untitled))
                    }
                };
                self.set(doc.uri.clone(), doc.version, doc.text, Some(path));
                let _ = self.jobs.send(Job::Check(doc.uri));
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params)
                else {
                    return;
                };
                let uri = p.text_document.uri;
                // Full sync: the last change holds the whole text.
                if let Some(change) = p.content_changes.into_iter().last() {
                    self.set(uri.clone(), p.text_document.version, change.text, None);
                    let _ = self.jobs.send(Job::Check(uri));
                }
            }
            DidSaveTextDocument::METHOD => {
                if let Ok(p) =
                    serde_json::from_value::<lsp_types::DidSaveTextDocumentParams>(n.params)
                {
                    let _ = self.jobs.send(Job::Check(p.text_document.uri));
                }
            }
            DidCloseTextDocument::METHOD => {
                if let Ok(p) =
                    serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params)
                {
                    let uri = p.text_document.uri;
                    if let Ok(mut docs) = self.docs.lock() {
                        docs.remove(&uri);
                    }
                    self.cache.clear();
                    let _ = self.jobs.send(Job::Close(uri));
                }
            }
            _ => {}
        }
    }

    fn set(&mut self, uri: Uri, version: i32, text: String, path: Option<PathBuf>) {
        // A buffer's program may load other buffers: any edit makes every cached load stale.
        self.cache.clear();
        let Ok(mut docs) = self.docs.lock() else {
            return;
        };
        let path = match path.or_else(|| docs.get(&uri).map(|d| d.path.clone())) {
            Some(p) => p,
            None => return,
        };
        docs.insert(
            uri,
            Doc {
                version,
                text: text.into(),
                path,
            },
        );
    }

    /// The program of the buffer at `uri`, its file in it, and the byte offset of `position`.
    fn at(&mut self, uri: &Uri, position: Position) -> Option<(Arc<Program>, FileId, usize)> {
        let (_, Some((program, file))) = self.analysis(uri)? else {
            return None;
        };
        let offset = offset(&program, file, position);
        Some((program, file, offset))
    }

    /// The buffer, the program it is part of (loaded now unless cached for this version; see
    /// `worker::check`) and the buffer's file in it.
    fn analysis(&mut self, uri: &Uri) -> Option<(Doc, Option<Analysis>)> {
        let (doc, others) = {
            let docs = self.docs.lock().ok()?;
            let doc = docs.get(uri)?.clone();
            let others: HashMap<PathBuf, Arc<str>> = docs
                .iter()
                .filter(|(u, _)| *u != uri)
                .map(|(_, d)| (convert::normalize(&d.path), d.text.clone()))
                .collect();
            (doc, others)
        };
        if let Some((v, a)) = self.cache.get(uri) {
            if *v == doc.version {
                return Some((doc, Some(a.clone())));
            }
        }
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            worker::check(&doc.path, &doc.text, &others, &self.options)
        }))
        .ok();
        let analysis = loaded.and_then(|program| {
            let want = convert::normalize(&doc.path);
            let (file, _) = program
                .sources
                .files()
                .find(|(_, f)| convert::normalize(&f.path) == want)?;
            Some((Arc::new(program), file))
        });
        if let Some(a) = &analysis {
            self.cache.insert(uri.clone(), (doc.version, a.clone()));
        }
        Some((doc, analysis))
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let known = [
            HoverRequest::METHOD,
            GotoDefinition::METHOD,
            Completion::METHOD,
            Formatting::METHOD,
            DocumentSymbolRequest::METHOD,
            WorkspaceSymbolRequest::METHOD,
            References::METHOD,
            Rename::METHOD,
            CodeActionRequest::METHOD,
            SignatureHelpRequest::METHOD,
        ];
        if !known.contains(&req.method.as_str()) {
            let msg = format!("unsupported request {}", req.method);
            return Response::new_err(id, ErrorCode::MethodNotFound as i32, msg);
        }
        let result = catch_unwind(AssertUnwindSafe(|| self.dispatch(req)));
        match result {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err(e)) => Response::new_err(id, ErrorCode::InvalidParams as i32, e.to_string()),
            Err(_) => {
                Response::new_err(id, ErrorCode::InternalError as i32, "internal error".into())
            }
        }
    }

    fn dispatch(&mut self, req: Request) -> Result<serde_json::Value, Error> {
        let null = serde_json::Value::Null;
        match req.method.as_str() {
            HoverRequest::METHOD => {
                let p: HoverParams = serde_json::from_value(req.params)?;
                let pos = p.text_document_position_params;
                let Some((program, file, offset)) = self.at(&pos.text_document.uri, pos.position)
                else {
                    return Ok(null);
                };
                Ok(serde_json::to_value(features::hover(
                    &program, file, offset,
                ))?)
            }
            GotoDefinition::METHOD => {
                let p: GotoDefinitionParams = serde_json::from_value(req.params)?;
                let pos = p.text_document_position_params;
                let uri = pos.text_document.uri;
                let Some((program, here, offset)) = self.at(&uri, pos.position) else {
                    return Ok(null);
                };
                let Some(span) = features::definition(&program, here, offset) else {
                    return Ok(null);
                };
                let file = program.sources.get(span.file);
                let target = if span.file == here {
                    Some(uri)
                } else if file.path.starts_with("<stdlib>") {
                    None
                } else {
                    self.uri_for(&file.path).or_else(|| path_to_uri(&file.path))
                };
                let Some(target) = target else {
                    return Ok(null);
                };
                let range = convert::range(&program.sources, span);
                let resp = GotoDefinitionResponse::Scalar(Location::new(target, range));
                Ok(serde_json::to_value(resp)?)
            }
            Completion::METHOD => {
                let p: CompletionParams = serde_json::from_value(req.params)?;
                let pos = p.text_document_position;
                let Some((doc, program)) = self.analysis(&pos.text_document.uri) else {
                    return Ok(null);
                };
                let offset = buffer_offset(&doc.text, pos.position);
                let items = catch_unwind(AssertUnwindSafe(|| {
                    features::completion(program.as_ref().map(|(p, _)| &**p), &doc.text, offset)
                }))
                .unwrap_or_else(|_| features::completion(None, &doc.text, offset));
                Ok(serde_json::to_value(CompletionResponse::Array(items))?)
            }
            Formatting::METHOD => {
                let p: DocumentFormattingParams = serde_json::from_value(req.params)?;
                let Some((doc, _)) = self.analysis(&p.text_document.uri) else {
                    return Ok(null);
                };
                let Ok(formatted) = crate::fmt::format_text(FileId(0), &doc.text) else {
                    return Ok(null);
                };
                if formatted == *doc.text {
                    return Ok(serde_json::json!([]));
                }
                let file = crate::source::SourceFile::new(
                    String::new(),
                    PathBuf::new(),
                    doc.text.to_string(),
                );
                let (line, character) = file.lsp_position(doc.text.len());
                let edit = TextEdit::new(
                    Range::new(Position::new(0, 0), Position::new(line, character)),
                    formatted,
                );
                Ok(serde_json::to_value(vec![edit])?)
            }
            SignatureHelpRequest::METHOD => {
                let p: lsp_types::SignatureHelpParams = serde_json::from_value(req.params)?;
                let pos = p.text_document_position_params;
                let Some((doc, program)) = self.analysis(&pos.text_document.uri) else {
                    return Ok(null);
                };
                let offset = buffer_offset(&doc.text, pos.position);
                let program = program.as_ref().map(|(p, _)| &**p);
                Ok(serde_json::to_value(features::signature_help(
                    program, &doc.text, offset,
                ))?)
            }
            CodeActionRequest::METHOD => {
                let p: lsp_types::CodeActionParams = serde_json::from_value(req.params)?;
                let Some((doc, _)) = self.analysis(&p.text_document.uri) else {
                    return Ok(serde_json::json!([]));
                };
                let fixes =
                    actions::quick_fixes(&p.text_document.uri, &doc.text, &p.context.diagnostics);
                Ok(serde_json::to_value(fixes)?)
            }
            References::METHOD => {
                let p: ReferenceParams = serde_json::from_value(req.params)?;
                let pos = p.text_document_position;
                let uri = pos.text_document.uri;
                let Some((program, here, offset)) = self.at(&uri, pos.position) else {
                    return Ok(null);
                };
                let def = features::definition(&program, here, offset);
                let locations: Vec<Location> = references::references(&program, here, offset)
                    .into_iter()
                    // Without the declaration: not the name inside the definition's span
                    // (a variable's covers its `$`).
                    .filter(|s| {
                        p.context.include_declaration
                            || !def.is_some_and(|d| {
                                d.file == s.file && d.start <= s.start && s.end <= d.end
                            })
                    })
                    .filter_map(|s| {
                        let target = self.uri_of(&program, here, &uri, s.file)?;
                        Some(Location::new(target, convert::range(&program.sources, s)))
                    })
                    .collect();
                Ok(serde_json::to_value(locations)?)
            }
            Rename::METHOD => {
                let p: RenameParams = serde_json::from_value(req.params)?;
                let pos = p.text_document_position;
                let uri = pos.text_document.uri;
                let Some((program, here, offset)) = self.at(&uri, pos.position) else {
                    return Ok(null);
                };
                let edits = references::rename(&program, here, offset, &p.new_name)?;
                let mut changes: std::collections::HashMap<Uri, Vec<TextEdit>> =
                    std::collections::HashMap::new();
                for (span, text) in edits {
                    let Some(target) = self.uri_of(&program, here, &uri, span.file) else {
                        continue;
                    };
                    changes
                        .entry(target)
                        .or_default()
                        .push(TextEdit::new(convert::range(&program.sources, span), text));
                }
                Ok(serde_json::to_value(WorkspaceEdit::new(changes))?)
            }
            DocumentSymbolRequest::METHOD => {
                let p: DocumentSymbolParams = serde_json::from_value(req.params)?;
                let Some((_, Some((program, file)))) = self.analysis(&p.text_document.uri) else {
                    return Ok(null);
                };
                let symbols = symbols::document(&program, file);
                Ok(serde_json::to_value(DocumentSymbolResponse::Nested(
                    symbols,
                ))?)
            }
            WorkspaceSymbolRequest::METHOD => {
                let p: WorkspaceSymbolParams = serde_json::from_value(req.params)?;
                // The fleet the open buffers belong to: the first one's program (its
                // imports and modules included).
                let first = self
                    .docs
                    .lock()
                    .ok()
                    .and_then(|d| d.keys().min_by_key(|u| u.as_str().to_string()).cloned());
                let Some(uri) = first else {
                    return Ok(serde_json::json!([]));
                };
                let Some((_, Some((program, _)))) = self.analysis(&uri) else {
                    return Ok(serde_json::json!([]));
                };
                let uri_of = |id: FileId| {
                    let path = &program.sources.get(id).path;
                    if path.starts_with("<stdlib>") {
                        return None;
                    }
                    self.uri_for(path).or_else(|| path_to_uri(path))
                };
                let found = symbols::workspace(&program, &p.query, &uri_of);
                Ok(serde_json::to_value(found)?)
            }
            _ => Err(format!("unsupported request {}", req.method).into()),
        }
    }

    /// The URI of `file` of `program` (`here`, at `uri`, is the buffer asked about);
    /// `None` for the embedded stdlib.
    fn uri_of(&self, program: &Program, here: FileId, uri: &Uri, file: FileId) -> Option<Uri> {
        if file == here {
            return Some(uri.clone());
        }
        let path = &program.sources.get(file).path;
        if path.starts_with("<stdlib>") {
            return None;
        }
        self.uri_for(path).or_else(|| path_to_uri(path))
    }

    /// The URI of an open buffer with this path.
    fn uri_for(&self, path: &std::path::Path) -> Option<Uri> {
        let want = convert::normalize(path);
        let docs = self.docs.lock().ok()?;
        docs.iter()
            .find(|(_, d)| convert::normalize(&d.path) == want)
            .map(|(u, _)| u.clone())
    }
}

/// The byte offset of `pos` in the buffer text `text` (which may be newer than any loaded
/// program).
fn buffer_offset(text: &str, pos: Position) -> usize {
    crate::source::SourceFile::new(String::new(), PathBuf::new(), text.to_string())
        .offset_of_lsp(pos.line, pos.character)
}

fn offset(program: &Program, file: FileId, pos: Position) -> usize {
    program
        .sources
        .get(file)
        .offset_of_lsp(pos.line, pos.character)
}
