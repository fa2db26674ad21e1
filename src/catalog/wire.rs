//! Catalog JSON (json.rs's format) written straight from a `&Catalog`, without a `CatalogDoc`.
//!
//! `fleet compile` uses this; neither a document nor its text is ever held whole. The
//! `version` is the sha256 of the compact JSON with `version` empty, and comes before the
//! resources in the pretty text, so the catalog is written twice: compact into the sha256 and
//! pretty into the output. Into a file both go in one pass (reading the catalog's strings from
//! memory once: that, not the writing, is most of the cost), the pretty text with a
//! placeholder `version` that is overwritten at the end; into a pipe, the hash pass comes
//! first.
//!
//! `json::CatalogDoc` stays the definition of the format (and what `from_json` reads); this
//! is a faster writer of the same bytes: exactly what `to_doc(..).to_pretty()` gives, which
//! the tests check on every example and conformance case. It writes JSON the way serde_json
//! does (field order of the `*Doc` structs, `Value::to_json`'s mapping, serde_json's escapes,
//! compact or two-space pretty), without serde's per-token dispatch: a string that needs no
//! escape goes out in one write, and each resource's `Type[title]` is escaped once for all
//! the edges that name it.

use std::io::{self, Seek, SeekFrom, Write};

use indexmap::IndexMap;

use super::json::{self, HashWriter};
use super::{Catalog, Resource};
use crate::eval::attrs::AttrMap;
use crate::eval::value::{ResRef, Value};
use crate::source::SourceMap;

/// Both passes buffer this much.
const BUFFER: usize = 1 << 16;

/// Writes the catalog's wire document, sealed, as pretty JSON with a trailing newline: what
/// `fleet compile` prints. Two passes over the catalog (hash, then text), for a writer that
/// cannot seek back (stdout); buffered inside. Returns the `version` it wrote.
pub fn write_pretty(catalog: &Catalog, sources: &SourceMap, w: impl Write) -> io::Result<String> {
    let refs = References::of(catalog);
    let version = sealed(catalog, sources, &refs);
    let mut out = JsonWriter::new(io::BufWriter::with_capacity(BUFFER, w), io::sink());
    out.doc(catalog, sources, &refs, &version)?;
    out.pretty(b"\n")?;
    out.pretty.flush()?;
    Ok(version)
}

/// [`write_pretty`] in one pass over the catalog, for a writer that can seek (a file): the
/// text goes out with a placeholder `version` while the compact form is hashed, then the
/// placeholder is overwritten. Leaves `w` positioned after the text.
pub fn write_pretty_seekable(
    catalog: &Catalog,
    sources: &SourceMap,
    mut w: impl Write + Seek,
) -> io::Result<String> {
    const UNSEALED: &str =
        "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let start = w.stream_position()?;
    let refs = References::of(catalog);
    let hasher = io::BufWriter::with_capacity(BUFFER, HashWriter::new());
    let mut out = JsonWriter::new(io::BufWriter::with_capacity(BUFFER, &mut w), hasher);
    let at = out.doc(catalog, sources, &refs, UNSEALED)?;
    out.pretty(b"\n")?;
    let end = start + out.written;
    let JsonWriter {
        pretty, compact, ..
    } = out;
    let w = pretty.into_inner().map_err(|e| e.into_error())?;
    let version = compact.into_inner().map_err(|e| e.into_error())?.version();
    assert_eq!(version.len(), UNSEALED.len(), "a version is one length");
    w.seek(SeekFrom::Start(start + at))?;
    w.write_all(version.as_bytes())?;
    w.seek(SeekFrom::Start(end))?;
    w.flush()?;
    Ok(version)
}

/// `write_pretty` into a `String` (small catalogs and tests).
pub fn to_pretty(catalog: &Catalog, sources: &SourceMap) -> String {
    let mut out = Vec::new();
    write_pretty(catalog, sources, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("the writer writes UTF-8")
}

/// `sha256:<hex>` of the canonical (compact) JSON of the document with `version` empty, as
/// `CatalogDoc::seal` sets it; hashed as it is written.
pub fn version(catalog: &Catalog, sources: &SourceMap) -> String {
    sealed(catalog, sources, &References::of(catalog))
}

fn sealed(catalog: &Catalog, sources: &SourceMap, refs: &References) -> String {
    let hasher = io::BufWriter::with_capacity(BUFFER, HashWriter::new());
    let mut out = JsonWriter::new(io::sink(), hasher);
    out.doc(catalog, sources, refs, "")
        .expect("hashing cannot fail");
    out.compact
        .into_inner()
        .map_err(|_| ())
        .expect("hashing cannot fail")
        .version()
}

/// Every resource's `Type[title]` as `json::reference` spells it (each `::` segment
/// capitalised), quoted and escaped, one after the other. Built once for both passes: the
/// edges name resources in no particular order, and reading each end's type and title from
/// its resource cost a cache miss or two per edge end; here they are a copy from one buffer.
struct References {
    json: Vec<u8>,
    /// Where resource `i`'s string starts; one more entry for the end.
    starts: Vec<usize>,
}

impl References {
    fn of(catalog: &Catalog) -> References {
        // A string is the same compact or pretty.
        let mut out = JsonWriter::new(io::sink(), Vec::new());
        let mut starts = Vec::with_capacity(catalog.resources.len() + 1);
        let mut text = String::new();
        for r in &catalog.resources {
            starts.push(out.compact.len());
            text.clear();
            // `split("::")` by hand: a substring search costs more than the rest of this.
            let mut rest = r.kind.as_str();
            loop {
                let end = rest
                    .as_bytes()
                    .windows(2)
                    .position(|w| w == b"::")
                    .unwrap_or(rest.len());
                let mut chars = rest[..end].chars();
                if let Some(c) = chars.next() {
                    text.extend(c.to_uppercase());
                    text.push_str(chars.as_str());
                }
                if end == rest.len() {
                    break;
                }
                text.push_str("::");
                rest = &rest[end + 2..];
            }
            text.push('[');
            text.push_str(&r.title);
            text.push(']');
            out.string(&text).expect("writing to memory");
        }
        starts.push(out.compact.len());
        References {
            json: out.compact,
            starts,
        }
    }

    /// Resource `i`'s reference, as a JSON string.
    fn get(&self, i: usize) -> &[u8] {
        &self.json[self.starts[i]..self.starts[i + 1]]
    }
}

/// Two spaces per level, for pretty indents up to 32 levels in one write.
const SPACES: &[u8; 64] = b"                                                                ";

/// JSON out twice at once, as serde_json's `PrettyFormatter` (two-space indent) writes it
/// into `pretty` and as its `CompactFormatter` does into `compact`; either can be a `Sink`.
struct JsonWriter<P: Write, C: Write> {
    pretty: P,
    compact: C,
    /// Bytes written to `pretty`.
    written: u64,
    /// Nesting depth: the indent of the next pretty line.
    depth: usize,
}

impl<P: Write, C: Write> JsonWriter<P, C> {
    fn new(pretty: P, compact: C) -> Self {
        JsonWriter {
            pretty,
            compact,
            written: 0,
            depth: 0,
        }
    }

    /// Bytes for the pretty text only.
    fn pretty(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written += bytes.len() as u64;
        self.pretty.write_all(bytes)
    }

    /// Bytes for both.
    fn both(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pretty(bytes)?;
        self.compact.write_all(bytes)
    }

    /// `json::CatalogDoc`'s fields, in its order, with `version` in the pretty text only
    /// (the compact form is only ever hashed, with `version` empty). Returns where in the
    /// pretty text `version` starts.
    fn doc(
        &mut self,
        c: &Catalog,
        sources: &SourceMap,
        refs: &References,
        version: &str,
    ) -> io::Result<u64> {
        self.open(b'{')?;
        self.key(true, "format")?;
        self.uint(u64::from(json::FORMAT))?;
        self.key(false, "node")?;
        self.string(&c.node)?;
        self.key(false, "version")?;
        self.both(b"\"")?;
        let version_at = self.written;
        self.pretty(version.as_bytes())?;
        self.both(b"\"")?;
        self.key(false, "resources")?;
        self.open(b'[')?;
        for (i, r) in c.resources.iter().enumerate() {
            self.item(i == 0)?;
            self.resource(r, sources)?;
        }
        self.close(b']', !c.resources.is_empty())?;
        self.key(false, "edges")?;
        self.open(b'[')?;
        for (i, e) in c.edges.iter().enumerate() {
            // `json::EdgeDoc`.
            self.item(i == 0)?;
            self.open(b'{')?;
            self.key(true, "from")?;
            self.both(refs.get(e.from))?;
            self.key(false, "to")?;
            self.both(refs.get(e.to))?;
            self.key(false, "refresh")?;
            self.bool(e.refresh)?;
            self.close(b'}', true)?;
        }
        self.close(b']', !c.edges.is_empty())?;
        if let Some(p) = &c.provision {
            self.key(false, "provision")?;
            self.map(p)?;
        }
        self.close(b'}', true)?;
        Ok(version_at)
    }

    /// `json::ResourceDoc`'s fields, in its order; `source` is where the type name is
    /// written (a binary search over the file's line starts), or an empty file and 0:0 for a
    /// span outside the source map.
    fn resource(&mut self, r: &Resource, sources: &SourceMap) -> io::Result<()> {
        self.open(b'{')?;
        self.key(true, "type")?;
        self.string(&r.kind)?;
        self.key(false, "title")?;
        self.string(&r.title)?;
        self.key(false, "params")?;
        self.params(&r.params)?;
        self.key(false, "tags")?;
        self.open(b'[')?;
        for (i, t) in r.tags.iter().enumerate() {
            self.item(i == 0)?;
            self.string(t)?;
        }
        self.close(b']', !r.tags.is_empty())?;
        let span = r.kind_span;
        let (file, line, column) = if (span.file.0 as usize) < sources.len() {
            let f = sources.get(span.file);
            let (line, column) = f.line_col(span.start as usize);
            (f.name.as_str(), line, column)
        } else {
            ("", 0, 0)
        };
        self.key(false, "source")?;
        self.open(b'{')?;
        self.key(true, "file")?;
        self.string(file)?;
        self.key(false, "line")?;
        self.uint(line as u64)?;
        self.key(false, "column")?;
        self.uint(column as u64)?;
        self.close(b'}', true)?;
        self.close(b'}', true)
    }

    /// A resource's `params`: each attribute's value.
    fn params(&mut self, params: &AttrMap) -> io::Result<()> {
        self.open(b'{')?;
        for (i, (k, a)) in params.iter().enumerate() {
            self.key(i == 0, k)?;
            self.value(&a.value)?;
        }
        self.close(b'}', !params.is_empty())
    }

    fn map(&mut self, map: &IndexMap<String, Value>) -> io::Result<()> {
        self.open(b'{')?;
        for (i, (k, v)) in map.iter().enumerate() {
            self.key(i == 0, k)?;
            self.value(v)?;
        }
        self.close(b'}', !map.is_empty())
    }

    /// A value as `Value::to_json` renders it: refs as `Type[title]` strings (the type as
    /// written; one ref a string, several an array), regexes as their source.
    fn value(&mut self, v: &Value) -> io::Result<()> {
        match v {
            Value::None => self.both(b"null"),
            Value::Bool(b) => self.bool(*b),
            Value::Int(i) => {
                if *i < 0 {
                    self.both(b"-")?;
                }
                self.uint(i.unsigned_abs())
            }
            Value::Str(s) => self.string(s),
            Value::Array(a) => {
                self.open(b'[')?;
                for (i, v) in a.iter().enumerate() {
                    self.item(i == 0)?;
                    self.value(v)?;
                }
                self.close(b']', !a.is_empty())
            }
            Value::Map(m) => self.map(m),
            Value::Ref(refs) => match refs.as_slice() {
                [one] => self.written_ref(one),
                many => {
                    self.open(b'[')?;
                    for (i, r) in many.iter().enumerate() {
                        self.item(i == 0)?;
                        self.written_ref(r)?;
                    }
                    self.close(b']', !many.is_empty())
                }
            },
            Value::Regex(r) => self.string(r.as_str()),
        }
    }

    /// A reference value as written: `{type_name}[{title}]` (escaping goes character by
    /// character, so the pieces can be escaped one at a time).
    fn written_ref(&mut self, r: &ResRef) -> io::Result<()> {
        self.both(b"\"")?;
        self.string_contents(&r.type_name)?;
        self.both(b"[")?;
        self.string_contents(&r.title)?;
        self.both(b"]\"")
    }

    /// `{` or `[`, one level deeper.
    fn open(&mut self, bracket: u8) -> io::Result<()> {
        self.depth += 1;
        self.both(&[bracket])
    }

    /// `}` or `]`, one level up; pretty puts it on its own line after any element.
    fn close(&mut self, bracket: u8, any: bool) -> io::Result<()> {
        self.depth -= 1;
        if any {
            self.newline()?;
        }
        self.both(&[bracket])
    }

    /// Before an array element or an object key: a comma unless first, then a new line in
    /// the pretty text.
    fn item(&mut self, first: bool) -> io::Result<()> {
        if !first {
            self.both(b",")?;
        }
        self.newline()
    }

    /// A new line and the indent, in the pretty text.
    fn newline(&mut self) -> io::Result<()> {
        self.pretty(b"\n")?;
        let mut spaces = 2 * self.depth;
        while spaces > 0 {
            let n = spaces.min(SPACES.len());
            self.pretty(&SPACES[..n])?;
            spaces -= n;
        }
        Ok(())
    }

    /// An object key and its colon.
    fn key(&mut self, first: bool, key: &str) -> io::Result<()> {
        self.item(first)?;
        self.string(key)?;
        self.pretty(b": ")?;
        self.compact.write_all(b":")
    }

    fn bool(&mut self, b: bool) -> io::Result<()> {
        self.both(if b { b"true" } else { b"false" })
    }

    fn uint(&mut self, mut n: u64) -> io::Result<()> {
        let mut buf = [0u8; 20];
        let mut at = buf.len();
        loop {
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.both(&buf[at..])
    }

    fn string(&mut self, s: &str) -> io::Result<()> {
        self.both(b"\"")?;
        self.string_contents(s)?;
        self.both(b"\"")
    }

    /// A string's characters with serde_json's escapes: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`,
    /// `\t`, and `\u00xx` (lower-case hex) for the other control characters; nothing else.
    fn string_contents(&mut self, s: &str) -> io::Result<()> {
        let bytes = s.as_bytes();
        // Most strings need no escape: one check over all bytes (no early exit, so it
        // vectorises), then one write.
        if !bytes.iter().fold(false, |any, &b| any | needs_escape(b)) {
            return self.both(bytes);
        }
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if !needs_escape(b) {
                continue;
            }
            self.both(&bytes[start..i])?;
            start = i + 1;
            let short = match b {
                b'"' => b'"',
                b'\\' => b'\\',
                0x08 => b'b',
                0x0c => b'f',
                b'\n' => b'n',
                b'\r' => b'r',
                b'\t' => b't',
                _ => 0,
            };
            if short != 0 {
                self.both(&[b'\\', short])?;
            } else {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let hex = [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]];
                self.both(&[b'\\', b'u', b'0', b'0', hex[0], hex[1]])?;
            }
        }
        self.both(&bytes[start..])
    }
}

/// A byte JSON strings must escape: `"`, `\\` and the control characters below 0x20.
fn needs_escape(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::*;
    use crate::catalog::store::ContentStore;
    use crate::catalog::{to_doc, Edge};
    use crate::eval::attrs::Name;
    use crate::eval::output::Attr;
    use crate::program::{Options, Program};
    use crate::source::{FileId, Span};

    /// The streaming writer against the document path: same bytes, same version.
    fn assert_same(catalog: &Catalog, sources: &SourceMap, what: &str) {
        let doc = to_doc(catalog, sources);
        let mut out = Vec::new();
        let version = write_pretty(catalog, sources, &mut out).unwrap();
        assert_eq!(version, doc.version, "{what}: version");
        let streamed = String::from_utf8(out).unwrap();
        let expected = doc.to_pretty();
        if streamed != expected {
            let at = streamed
                .bytes()
                .zip(expected.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(streamed.len().min(expected.len()));
            let from = at.saturating_sub(200);
            panic!(
                "{what}: differs at byte {at}\nstreamed: …{}\nexpected: …{}",
                &streamed[from..(at + 200).min(streamed.len())],
                &expected[from..(at + 200).min(expected.len())],
            );
        }
        assert_eq!(to_pretty(catalog, sources), expected, "{what}: to_pretty");
        // One pass, the version written over its placeholder; here after other bytes.
        let mut file = io::Cursor::new(b"before".to_vec());
        file.seek(SeekFrom::End(0)).unwrap();
        let version = write_pretty_seekable(catalog, sources, &mut file).unwrap();
        assert_eq!(version, doc.version, "{what}: version, one pass");
        assert_eq!(file.position() as usize, file.get_ref().len());
        let (before, text) = file.get_ref().split_at(6);
        assert_eq!(before, b"before");
        assert!(text == expected.as_bytes(), "{what}: one pass");
    }

    fn attr(value: Value) -> Attr {
        let at = Span::new(FileId(0), 0, 0);
        Attr {
            value,
            name_span: at,
            value_span: at,
        }
    }

    fn refs(list: &[(&str, &str)]) -> Value {
        Value::Ref(Arc::new(
            list.iter()
                .map(|(t, title)| ResRef {
                    type_name: t.to_string(),
                    title: title.to_string(),
                    span: Span::new(FileId(0), 0, 0),
                })
                .collect(),
        ))
    }

    #[test]
    fn every_value_shape_matches_the_document() {
        let text = "file { \"/a\": }\n  é🦀 nginx::vhost { \"x\": }\n";
        let mut sources = SourceMap::new();
        sources.add("site.fleet", "site.fleet", text.to_string());
        let mut map = IndexMap::new();
        map.insert("k\"ey".to_string(), Value::Int(-7));
        map.insert("nested".to_string(), Value::map(IndexMap::new()));
        // Deeper than the indent buffer.
        let mut deep = Value::map(IndexMap::new());
        for i in 0..40 {
            deep = if i % 2 == 0 {
                Value::array(vec![Value::Int(i), deep])
            } else {
                let mut m = IndexMap::new();
                m.insert(format!("level{i}"), deep);
                Value::map(m)
            };
        }
        let params: AttrMap = [
            ("none", Value::None),
            ("yes", Value::Bool(true)),
            ("no", Value::Bool(false)),
            ("min", Value::Int(i64::MIN)),
            ("max", Value::Int(i64::MAX)),
            ("zero", Value::Int(0)),
            (
                "text",
                Value::str("tab\t quote\" back\\ nl\n ctl\u{1} é 🦀 \u{2028} / \u{7f}"),
            ),
            (
                "controls",
                Value::str((0u8..0x20).map(char::from).collect::<String>()),
            ),
            ("deep", deep),
            ("empty_array", Value::array(vec![])),
            (
                "array",
                Value::array(vec![Value::Int(1), Value::array(vec![Value::None])]),
            ),
            ("empty_map", Value::map(IndexMap::new())),
            ("map", Value::Map(Arc::new(map))),
            ("no_refs", refs(&[])),
            ("one_ref", refs(&[("Package", "ng\"inx")])),
            ("refs", refs(&[("File", "/a"), ("Nginx::Vhost", "x]")])),
            (
                "regex",
                Value::Regex(Arc::new(regex::Regex::new(r"^a\.b\d+$").unwrap())),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), attr(v)))
        .collect();
        let resource = |kind: &str, title: &str, file: u32, start: usize| Resource {
            kind: Name::new(kind),
            title: title.to_string(),
            params: AttrMap::new(),
            tags: vec![Name::new(kind)],
            kind_span: Span::new(FileId(file), start, start + 1),
            title_span: Span::new(FileId(file), start, start + 1),
        };
        let mut first = resource("file", "/a", 0, 0);
        first.params = params;
        let mut provision = IndexMap::new();
        provision.insert("mac".to_string(), Value::str("52:54:00:00:00:01"));
        provision.insert("list".to_string(), Value::array(vec![Value::Bool(true)]));
        let mut catalog = Catalog {
            node: "web\"01".into(),
            resources: vec![
                first,
                resource("nginx::vhost", "x\u{7f}\"", 0, text.find("nginx").unwrap()),
                resource("ßervice", "elsewhere", 9, 0),
                Resource {
                    tags: vec![],
                    ..resource("", "", 0, text.len())
                },
                resource("a:::b::::ǆ::", "t", 0, 1),
            ],
            edges: vec![
                Edge {
                    from: 0,
                    to: 1,
                    refresh: false,
                    implicit: true,
                },
                Edge {
                    from: 1,
                    to: 2,
                    refresh: true,
                    implicit: false,
                },
                Edge {
                    from: 2,
                    to: 3,
                    refresh: false,
                    implicit: false,
                },
                Edge {
                    from: 4,
                    to: 2,
                    refresh: false,
                    implicit: false,
                },
            ],
            provision: Some(provision),
        };
        assert_same(&catalog, &sources, "every value shape");
        assert!(to_pretty(&catalog, &sources).contains("\"from\": \"Nginx::Vhost[x\u{7f}\\\"]\""));
        catalog.provision = None;
        assert_same(&catalog, &sources, "without provision");
        assert_same(&Catalog::default(), &sources, "empty");
    }

    fn fleet_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|e| e == "fleet") {
                out.push(p);
            }
        }
    }

    #[test]
    fn real_catalogs_match_the_document_byte_for_byte() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut mains = Vec::new();
        for example in std::fs::read_dir(root.join("examples")).unwrap() {
            let site = example.unwrap().path().join("site.fleet");
            if site.is_file() {
                mains.push(site);
            }
        }
        fleet_files(&root.join("tests/cases/compile"), &mut mains);
        fleet_files(&root.join("../shared/conformance/compile"), &mut mains);
        mains.sort();
        let mut compared = 0;
        let mut with_edges = 0;
        for main in &mains {
            let program = Program::load(std::slice::from_ref(main), Options::default());
            for node in program.all_nodes() {
                let (catalog, _) = program.compile(&node, &ContentStore::new());
                if let Some(c) = catalog {
                    assert_same(&c, &program.sources, &format!("{} {node}", main.display()));
                    compared += 1;
                    with_edges += usize::from(!c.edges.is_empty());
                }
            }
        }
        // The examples alone give more than this; fewer means the inputs went missing.
        assert!(
            compared >= 15 && with_edges >= 8,
            "only {compared} catalogs ({with_edges} with edges) from {mains:?}"
        );
    }
}
