//! Catalog JSON (json.rs's format) written straight from a `&Catalog`, without a `CatalogDoc`.
//!
//! `fleet compile` uses this: the catalog is serialised twice, compact into a sha256 for
//! `version` and pretty into the writer, and neither the document nor its text is ever held
//! whole. The bytes are exactly what `to_doc(..).to_pretty()` gives (the tests compare them
//! on every example and conformance case); the field order and the `Value` mapping here
//! must follow `json::CatalogDoc` and `Value::to_json`.

use std::fmt;
use std::io::{self, Write};

use indexmap::IndexMap;
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

use super::json::{self, HashWriter};
use super::{Catalog, Resource};
use crate::eval::output::Attr;
use crate::eval::value::{ResRef, Value};
use crate::source::SourceMap;

/// Writes the catalog's wire document, sealed, as pretty JSON with a trailing newline: what
/// `fleet compile` prints. Buffered inside; returns the `version` it wrote.
pub fn write_pretty(catalog: &Catalog, sources: &SourceMap, w: impl Write) -> io::Result<String> {
    let version = version(catalog, sources);
    let mut w = io::BufWriter::with_capacity(1 << 16, w);
    let doc = Doc {
        catalog,
        sources,
        version: &version,
    };
    serde_json::to_writer_pretty(&mut w, &doc).map_err(io::Error::other)?;
    w.write_all(b"\n")?;
    w.flush()?;
    Ok(version)
}

/// `write_pretty` into a `String` (small catalogs and tests).
pub fn to_pretty(catalog: &Catalog, sources: &SourceMap) -> String {
    let mut out = Vec::new();
    write_pretty(catalog, sources, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// `sha256:<hex>` of the canonical (compact) JSON of the document with `version` empty, as
/// `CatalogDoc::seal` sets it; hashed as it is serialised.
pub fn version(catalog: &Catalog, sources: &SourceMap) -> String {
    let doc = Doc {
        catalog,
        sources,
        version: "",
    };
    // Buffered: serde_json writes punctuation a byte or two at a time.
    let mut w = io::BufWriter::with_capacity(1 << 16, HashWriter::new());
    serde_json::to_writer(&mut w, &doc).expect("hashing cannot fail");
    w.into_inner()
        .map_err(|_| ())
        .expect("hashing cannot fail")
        .version()
}

/// `json::CatalogDoc`'s fields, in its order.
struct Doc<'a> {
    catalog: &'a Catalog,
    sources: &'a SourceMap,
    version: &'a str,
}

impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.catalog;
        let fields = if c.provision.is_some() { 6 } else { 5 };
        let mut st = s.serialize_struct("CatalogDoc", fields)?;
        st.serialize_field("format", &json::FORMAT)?;
        st.serialize_field("node", &c.node)?;
        st.serialize_field("version", self.version)?;
        st.serialize_field(
            "resources",
            &Seq(|| {
                c.resources.iter().map(|r| ResourceView {
                    r,
                    sources: self.sources,
                })
            }),
        )?;
        st.serialize_field(
            "edges",
            &Seq(|| {
                c.edges.iter().map(|e| EdgeView {
                    from: &c.resources[e.from],
                    to: &c.resources[e.to],
                    refresh: e.refresh,
                })
            }),
        )?;
        match &c.provision {
            Some(p) => st.serialize_field("provision", &ValueMap(p))?,
            None => st.skip_field("provision")?,
        }
        st.end()
    }
}

/// A JSON array of whatever the closure's iterator yields (the closure makes it reusable).
struct Seq<F>(F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

/// `json::ResourceDoc`'s fields, in its order.
struct ResourceView<'a> {
    r: &'a Resource,
    sources: &'a SourceMap,
}

impl Serialize for ResourceView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.r;
        let mut st = s.serialize_struct("ResourceDoc", 5)?;
        st.serialize_field("type", &r.kind)?;
        st.serialize_field("title", &r.title)?;
        st.serialize_field("params", &Params(&r.params))?;
        st.serialize_field("tags", &r.tags)?;
        st.serialize_field("source", &SourceView::of(r, self.sources))?;
        st.end()
    }
}

/// `json::SourceDoc`: where the resource's type name is written (binary search over the
/// file's line starts), or an empty file and 0:0 for a span outside the source map.
struct SourceView<'a> {
    file: &'a str,
    line: usize,
    column: usize,
}

impl<'a> SourceView<'a> {
    fn of(r: &Resource, sources: &'a SourceMap) -> SourceView<'a> {
        let span = r.kind_span;
        if (span.file.0 as usize) < sources.len() {
            let f = sources.get(span.file);
            let (line, column) = f.line_col(span.start as usize);
            SourceView {
                file: &f.name,
                line,
                column,
            }
        } else {
            SourceView {
                file: "",
                line: 0,
                column: 0,
            }
        }
    }
}

impl Serialize for SourceView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("SourceDoc", 3)?;
        st.serialize_field("file", self.file)?;
        st.serialize_field("line", &self.line)?;
        st.serialize_field("column", &self.column)?;
        st.end()
    }
}

/// `json::EdgeDoc`: both ends written as `Type[title]` without building the strings.
struct EdgeView<'a> {
    from: &'a Resource,
    to: &'a Resource,
    refresh: bool,
}

impl Serialize for EdgeView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("EdgeDoc", 3)?;
        st.serialize_field("from", &Reference(self.from))?;
        st.serialize_field("to", &Reference(self.to))?;
        st.serialize_field("refresh", &self.refresh)?;
        st.end()
    }
}

/// A resource's `Type[title]`, as `json::reference` spells it (each `::` segment
/// capitalised).
struct Reference<'a>(&'a Resource);

impl fmt::Display for Reference<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.kind.split("::").enumerate() {
            if i > 0 {
                f.write_str("::")?;
            }
            let mut chars = seg.chars();
            if let Some(c) = chars.next() {
                for u in c.to_uppercase() {
                    fmt::Write::write_char(f, u)?;
                }
                f.write_str(chars.as_str())?;
            }
        }
        f.write_str("[")?;
        f.write_str(&self.0.title)?;
        f.write_str("]")
    }
}

impl Serialize for Reference<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A resource's `params`: each attribute's value.
struct Params<'a>(&'a IndexMap<String, Attr>);

impl Serialize for Params<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, a)| (k, Json(&a.value))))
    }
}

/// `provision`: a map of values.
struct ValueMap<'a>(&'a IndexMap<String, Value>);

impl Serialize for ValueMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, Json(v))))
    }
}

/// A value as `Value::to_json` renders it: refs as `Type[title]` strings (the type as
/// written; one ref a string, several an array), regexes as their source.
struct Json<'a>(&'a Value);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::None => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Str(v) => s.serialize_str(v),
            Value::Array(a) => s.collect_seq(a.iter().map(Json)),
            Value::Map(m) => s.collect_map(m.iter().map(|(k, v)| (k, Json(v)))),
            Value::Ref(refs) => match refs.as_slice() {
                [one] => s.collect_str(&WrittenRef(one)),
                many => s.collect_seq(many.iter().map(WrittenRef)),
            },
            Value::Regex(r) => s.serialize_str(r.as_str()),
        }
    }
}

/// A reference value as written: `{type_name}[{title}]`.
struct WrittenRef<'a>(&'a ResRef);

impl fmt::Display for WrittenRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.type_name)?;
        f.write_str("[")?;
        f.write_str(&self.0.title)?;
        f.write_str("]")
    }
}

impl Serialize for WrittenRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::*;
    use crate::catalog::store::ContentStore;
    use crate::catalog::{to_doc, Edge};
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
        let params: IndexMap<String, Attr> = [
            ("none", Value::None),
            ("yes", Value::Bool(true)),
            ("no", Value::Bool(false)),
            ("min", Value::Int(i64::MIN)),
            ("max", Value::Int(i64::MAX)),
            ("zero", Value::Int(0)),
            (
                "text",
                Value::str("tab\t quote\" back\\ nl\n ctl\u{1} é 🦀 \u{2028}"),
            ),
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
            kind: kind.to_string(),
            title: title.to_string(),
            params: IndexMap::new(),
            tags: vec![kind.to_string()],
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
