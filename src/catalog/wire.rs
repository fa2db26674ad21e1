//! Catalog JSON (json.rs's format) written straight from a `&Catalog`, without a `CatalogDoc`.
//!
//! `fleet compile` uses this; neither a document nor its text is ever held whole. The
//! `version` is the sha256 of the compact JSON with `version` empty and without the
//! resources' `source` (json.rs's `seal`: the pretty text carries them), and comes before the
//! resources in the pretty text, so the catalog is written twice: compact into the sha256 and
//! pretty into the output. Into a file both go in one pass (reading the catalog's strings from
//! memory once: that, not the writing, is most of the cost), the pretty text with a
//! placeholder `version` that is overwritten at the end; into a pipe, the hash pass comes
//! first.
//!
//! `json::CatalogDoc` stays the definition of the format (and what `from_json` reads); this
//! is a faster writer of the same bytes: exactly what `to_doc(..).to_pretty()` gives, which
//! the tests check on every example and conformance case. It walks the catalog in the field
//! order of the `*Doc` structs (and `Value::to_json`'s mapping) and leaves the JSON itself to
//! serde_json: one walk drives a `PrettyFormatter` (two spaces, as `to_string_pretty`) into
//! the text and a `CompactFormatter` into the hash, and serde_json escapes the strings and
//! formats the numbers, once for both outputs. Each resource's `Type[title]` is escaped once,
//! up front, for all the edges that name it, and copied in as bytes.

use std::io::{self, Seek, SeekFrom, Write};

use indexmap::IndexMap;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

use super::json::{self, HashWriter};
use super::Catalog;
use crate::model::attrs::AttrMap;
use crate::model::declared::Resource;
use crate::model::value::{ResRef, Value};
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
    out.pretty.write_all(b"\n")?;
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
    out.pretty.write_all(b"\n")?;
    let end = start + out.pretty.written;
    let JsonWriter {
        pretty, compact, ..
    } = out;
    let w = pretty.inner.into_inner().map_err(|e| e.into_error())?;
    let version = compact.into_inner().map_err(|e| e.into_error())?.version();
    assert_eq!(version.len(), UNSEALED.len(), "a version is one length");
    w.seek(SeekFrom::Start(start + at))?;
    w.write_all(version.as_bytes())?;
    w.seek(SeekFrom::Start(end))?;
    w.flush()?;
    Ok(version)
}

/// `write_pretty` into a `String` (small catalogs and tests).
pub(crate) fn to_pretty(catalog: &Catalog, sources: &SourceMap) -> String {
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
/// capitalised), as an escaped JSON string, one after the other. Built once for both passes:
/// the edges name resources in no particular order, and reading each end's type and title
/// from its resource cost a cache miss or two per edge end; here they are a copy from one
/// buffer. (A string is the same in compact and pretty JSON, so one buffer serves both.)
struct References {
    json: Vec<u8>,
    /// Where resource `i`'s string starts; one more entry for the end.
    starts: Vec<usize>,
}

impl References {
    fn of(catalog: &Catalog) -> References {
        let mut json = Vec::new();
        let mut starts = Vec::with_capacity(catalog.resources.len() + 1);
        let mut text = String::new();
        for r in &catalog.resources {
            starts.push(json.len());
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
            serde_json::to_writer(&mut json, &text).expect("writing to memory");
        }
        starts.push(json.len());
        References { json, starts }
    }

    /// Resource `i`'s reference, as a JSON string.
    fn get(&self, i: usize) -> &[u8] {
        &self.json[self.starts[i]..self.starts[i + 1]]
    }
}

/// The same structural call on both of a `JsonWriter`'s formatters, each with its writer.
macro_rules! tandem {
    ($w:expr, $method:ident $(, $arg:expr)*) => {{
        let w = &mut *$w;
        w.pretty_format.$method(&mut w.pretty $(, $arg)*)?;
        w.compact_format.$method(&mut w.compact $(, $arg)*)
    }};
}

/// JSON out twice at once: serde_json's `PrettyFormatter` (two spaces, as `to_string_pretty`)
/// into `pretty` and its `CompactFormatter` into `compact`; either writer can be a `Sink`.
/// The formatters place the brackets, commas, colons, newlines and indents. Scalars (strings,
/// numbers, `true`, `null`) are the same in both styles, so they are formatted once, by
/// serde_json, into a [`Tee`] of the two writers.
struct JsonWriter<P: Write, C: Write> {
    pretty: Counted<P>,
    compact: C,
    pretty_format: PrettyFormatter<'static>,
    compact_format: CompactFormatter,
    /// A reference value's `type[title]`, reused.
    scratch: String,
}

impl<P: Write, C: Write> JsonWriter<P, C> {
    fn new(pretty: P, compact: C) -> Self {
        JsonWriter {
            pretty: Counted {
                inner: pretty,
                written: 0,
            },
            compact,
            pretty_format: PrettyFormatter::new(),
            compact_format: CompactFormatter,
            scratch: String::new(),
        }
    }

    /// Both writers as one.
    fn both(&mut self) -> Tee<'_, Counted<P>, C> {
        Tee(&mut self.pretty, &mut self.compact)
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
        let mut version_at = 0;
        self.object(|w| {
            w.field(true, "format", |w| w.uint(u64::from(json::FORMAT)))?;
            w.field(false, "node", |w| w.string(&c.node))?;
            w.field(false, "version", |w| {
                // A version needs no escapes.
                tandem!(w, begin_string)?;
                version_at = w.pretty.written;
                w.pretty.write_all(version.as_bytes())?;
                tandem!(w, end_string)
            })?;
            w.field(false, "resources", |w| {
                w.array(|w| {
                    for (i, r) in c.resources.iter().enumerate() {
                        w.element(i == 0, |w| w.resource(r, sources))?;
                    }
                    Ok(())
                })
            })?;
            w.field(false, "edges", |w| {
                w.array(|w| {
                    for (i, e) in c.edges.iter().enumerate() {
                        // `json::EdgeDoc`.
                        w.element(i == 0, |w| {
                            w.object(|w| {
                                w.field(true, "from", |w| {
                                    w.both().write_all(refs.get(e.from as usize))
                                })?;
                                w.field(false, "to", |w| {
                                    w.both().write_all(refs.get(e.to as usize))
                                })?;
                                w.field(false, "refresh", |w| w.bool(e.refresh))
                            })
                        })?;
                    }
                    Ok(())
                })
            })?;
            if let Some(p) = &c.provision {
                w.field(false, "provision", |w| w.map(p))?;
            }
            Ok(())
        })?;
        Ok(version_at)
    }

    /// `json::ResourceDoc`'s fields, in its order; `source` is where the type name is
    /// written (a binary search over the file's line starts), or an empty file and 0:0 for a
    /// span outside the source map.
    fn resource(&mut self, r: &Resource, sources: &SourceMap) -> io::Result<()> {
        let span = r.kind_span;
        let (file, line, column) = if (span.file.0 as usize) < sources.len() {
            let f = sources.get(span.file);
            let (line, column) = f.line_col(span.start as usize);
            (f.name.as_str(), line, column)
        } else {
            ("", 0, 0)
        };
        self.object(|w| {
            w.field(true, "type", |w| w.string(&r.kind))?;
            w.field(false, "title", |w| w.string(&r.title))?;
            if let Some(label) = &r.label {
                w.field(false, "label", |w| w.string(label))?;
            }
            w.field(false, "params", |w| w.params(&r.params))?;
            w.field(false, "tags", |w| {
                w.array(|w| {
                    for (i, t) in r.tags.iter().enumerate() {
                        w.element(i == 0, |w| w.string(t))?;
                    }
                    Ok(())
                })
            })?;
            w.source(file, line, column)
        })
    }

    /// A resource's `source` field, into the pretty text only: the version does not hash
    /// where a resource was written (json.rs's `seal`).
    fn source(&mut self, file: &str, line: usize, column: usize) -> io::Result<()> {
        let (p, f) = (&mut self.pretty, &mut self.pretty_format);
        let key = |p: &mut Counted<P>, f: &mut PrettyFormatter, first: bool, key: &str| {
            f.begin_object_key(p, first)?;
            serde_json::to_writer(&mut *p, key).map_err(io::Error::from)?;
            f.end_object_key(p)?;
            f.begin_object_value(p)
        };
        key(p, f, false, "source")?;
        f.begin_object(p)?;
        key(p, f, true, "file")?;
        serde_json::to_writer(&mut *p, file).map_err(io::Error::from)?;
        f.end_object_value(p)?;
        key(p, f, false, "line")?;
        f.write_u64(p, line as u64)?;
        f.end_object_value(p)?;
        key(p, f, false, "column")?;
        f.write_u64(p, column as u64)?;
        f.end_object_value(p)?;
        f.end_object(p)?;
        f.end_object_value(p)
    }

    /// A resource's `params`: each attribute's value.
    fn params(&mut self, params: &AttrMap) -> io::Result<()> {
        self.object(|w| {
            for (i, (k, a)) in params.iter().enumerate() {
                w.field(i == 0, k, |w| w.value(&a.value))?;
            }
            Ok(())
        })
    }

    fn map(&mut self, map: &IndexMap<String, Value>) -> io::Result<()> {
        self.object(|w| {
            for (i, (k, v)) in map.iter().enumerate() {
                w.field(i == 0, k, |w| w.value(v))?;
            }
            Ok(())
        })
    }

    /// A value as `Value::to_json` renders it: refs as `Type[title]` strings (the type as
    /// written; one ref a string, several an array), regexes as their source.
    fn value(&mut self, v: &Value) -> io::Result<()> {
        match v {
            Value::None => {
                let mut both = Tee(&mut self.pretty, &mut self.compact);
                self.compact_format.write_null(&mut both)
            }
            Value::Bool(b) => self.bool(*b),
            Value::Int(i) => {
                let mut both = Tee(&mut self.pretty, &mut self.compact);
                self.compact_format.write_i64(&mut both, *i)
            }
            Value::Str(s) => self.string(s),
            Value::Array(a) => self.array(|w| {
                for (i, v) in a.iter().enumerate() {
                    w.element(i == 0, |w| w.value(v))?;
                }
                Ok(())
            }),
            Value::Map(m) => self.map(m),
            Value::Ref(refs) => match refs.as_slice() {
                [one] => self.written_ref(one),
                many => self.array(|w| {
                    for (i, r) in many.iter().enumerate() {
                        w.element(i == 0, |w| w.written_ref(r))?;
                    }
                    Ok(())
                }),
            },
            Value::Regex(r) => self.string(r.as_str()),
            Value::Sensitive(inner) => {
                self.object(|w| w.field(true, "sensitive", |w| w.value(inner)))
            }
        }
    }

    /// A reference value as written: `{type_name}[{title}]`.
    fn written_ref(&mut self, r: &ResRef) -> io::Result<()> {
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        text.push_str(&r.type_name);
        text.push('[');
        text.push_str(&r.title);
        text.push(']');
        let written = self.string(&text);
        self.scratch = text;
        written
    }

    /// An object, its fields written by `fields`.
    fn object(&mut self, fields: impl FnOnce(&mut Self) -> io::Result<()>) -> io::Result<()> {
        tandem!(self, begin_object)?;
        fields(self)?;
        tandem!(self, end_object)
    }

    /// An array, its elements written by `elements`.
    fn array(&mut self, elements: impl FnOnce(&mut Self) -> io::Result<()>) -> io::Result<()> {
        tandem!(self, begin_array)?;
        elements(self)?;
        tandem!(self, end_array)
    }

    /// An object's field: its key, then the value `value` writes.
    fn field(
        &mut self,
        first: bool,
        key: &str,
        value: impl FnOnce(&mut Self) -> io::Result<()>,
    ) -> io::Result<()> {
        tandem!(self, begin_object_key, first)?;
        self.string(key)?;
        tandem!(self, end_object_key)?;
        tandem!(self, begin_object_value)?;
        value(self)?;
        tandem!(self, end_object_value)
    }

    /// An array's element, written by `value`.
    fn element(
        &mut self,
        first: bool,
        value: impl FnOnce(&mut Self) -> io::Result<()>,
    ) -> io::Result<()> {
        tandem!(self, begin_array_value, first)?;
        value(self)?;
        tandem!(self, end_array_value)
    }

    fn bool(&mut self, b: bool) -> io::Result<()> {
        let mut both = Tee(&mut self.pretty, &mut self.compact);
        self.compact_format.write_bool(&mut both, b)
    }

    fn uint(&mut self, n: u64) -> io::Result<()> {
        let mut both = Tee(&mut self.pretty, &mut self.compact);
        self.compact_format.write_u64(&mut both, n)
    }

    /// A string, quoted and escaped by serde_json, once for both writers. (Through
    /// `to_writer`: serde_json keeps its `format_escaped_str` private; a string comes out the
    /// same from either formatter.)
    fn string(&mut self, s: &str) -> io::Result<()> {
        serde_json::to_writer(self.both(), s).map_err(io::Error::from)
    }
}

/// A writer that counts the bytes written through it.
struct Counted<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Two writers as one: every write goes whole to both.
struct Tee<'a, P, C>(&'a mut P, &'a mut C);

impl<P: Write, C: Write> Write for Tee<'_, P, C> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)?;
        self.1.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::*;
    use crate::catalog::store::ContentStore;
    use crate::catalog::{to_doc, Edge};
    use crate::model::attrs::Attr;
    use crate::model::name::Name;
    use crate::program::{Options, Program};
    use crate::source::{FileId, Span};

    /// The streaming writer against the document path: same bytes, same version.
    fn assert_same(catalog: &Catalog, sources: &SourceMap, what: &str) {
        let doc = to_doc(catalog, sources);
        let mut out = Vec::new();
        let version = write_pretty(catalog, sources, &mut out).unwrap();
        assert_eq!(version, doc.version, "{what}: version");
        let mut resealed = doc.clone();
        resealed.seal();
        assert_eq!(
            resealed.version, doc.version,
            "{what}: version as `seal` hashes"
        );
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
        Attr::new(value, at, at)
    }

    fn refs(list: &[(&str, &str)]) -> Value {
        Value::Ref(Arc::new(
            list.iter()
                .map(|(t, title)| ResRef {
                    type_name: crate::model::name::Name::new(t),
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
            label: None,
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
                Resource {
                    label: Some("create \"db\"".into()),
                    ..resource("exec", "false", 0, 2)
                },
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
