//! The catalog wire format (CLI.md "Catalog JSON"), version 1. This is what `fleet compile`
//! prints, what `fleet apply --catalog` reads, and what remote agents fetch.
//!
//! The format has one definition (these structs) and two writers: `to_doc(..).to_pretty()`
//! and the faster `wire.rs`, which writes the same bytes straight from a `Catalog` (a
//! borrowed `Serialize` view that could replace both is not tried yet: issue #13). Until
//! then, adding, renaming or reordering a field is one change in five places, made
//! together:
//!
//! 1. the struct here (field order is the JSON's key order; `seal` if it enters `version`);
//! 2. `catalog::to_doc` (catalog/mod.rs), which fills it from a `Catalog`;
//! 3. `wire.rs`, which writes it in the same order (its tests
//!    `every_value_shape_matches_the_document` and `real_catalogs_match_the_document_byte_for_byte`,
//!    over every example and conformance case, catch a miss);
//! 4. `apply::engine::Input::{from_doc, from_catalog}`, which read it back for apply (the
//!    `catalog` fuzz target round-trips a read document);
//! 5. CLI.md "Catalog JSON" and, for a field a node acts on, the format version `FORMAT`.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::digest::hex;

pub(crate) const FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogDoc {
    pub format: u32,
    pub node: String,
    /// `sha256:<hex>` of the canonical JSON of this document with `version` empty and
    /// without the resources' `source` (what the node will do, not where it was written).
    pub version: String,
    pub resources: Vec<ResourceDoc>,
    pub edges: Vec<EdgeDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision: Option<IndexMap<String, serde_json::Value>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceDoc {
    /// Lower-case type name: `file`, `package`, `user`, `group`, `service`, `exec`, `release`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The resource's identity (its namevar's value).
    pub title: String,
    /// The title as written when an `exec`'s differs from its identity: what plans,
    /// reports and graphs show (`Exec[create-db]`); edges still name the identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Every attribute the manifest set (after resource defaults); metaparameters excluded;
    /// Int modes as 4-digit octal strings; `source` replaced by `content_sha256`.
    pub params: IndexMap<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub source: SourceDoc,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceDoc {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeDoc {
    /// `Type[title]`, e.g. `Package[nginx]`.
    pub from: String,
    pub to: String,
    pub refresh: bool,
}

/// What a `{"sensitive": value}` wrapper holds (LANGUAGE.md §6: an attribute that holds a
/// Sensitive value is written so in the catalog), or `None` for any other value.
pub(crate) fn sensitive_inner(v: &serde_json::Value) -> Option<&serde_json::Value> {
    match v {
        serde_json::Value::Object(m) if m.len() == 1 => m.get("sensitive"),
        _ => None,
    }
}

impl ResourceDoc {
    /// Whether the parameter `name` holds a Sensitive value.
    pub fn is_sensitive(&self, name: &str) -> bool {
        self.params
            .get(name)
            .is_some_and(|v| sensitive_inner(v).is_some())
    }

    /// Whether any parameter holds a Sensitive value.
    pub fn holds_sensitive(&self) -> bool {
        self.params.values().any(|v| sensitive_inner(v).is_some())
    }

    /// `Type[title]` with the type capitalised per `::` segment: `File[/etc/motd]`.
    pub fn reference(&self) -> String {
        reference(&self.kind, &self.title)
    }

    /// `Type[title]` as people read it: with the written title ([`ResourceDoc::label`]).
    pub fn display_reference(&self) -> String {
        reference(&self.kind, self.label.as_deref().unwrap_or(&self.title))
    }
}

/// `Type[title]` for a lower-case type name.
pub(crate) fn reference(kind: &str, title: &str) -> String {
    let mut out = String::with_capacity(kind.len() + title.len() + 2);
    // Native types are one lower-case ASCII word: no `::` to search for.
    if let Some(&first) = kind.as_bytes().first().filter(|_| !kind.contains(':')) {
        if first.is_ascii() {
            out.push(first.to_ascii_uppercase() as char);
            out.push_str(&kind[1..]);
            out.push('[');
            out.push_str(title);
            out.push(']');
            return out;
        }
    }
    for (i, seg) in kind.split("::").enumerate() {
        if i > 0 {
            out.push_str("::");
        }
        let mut chars = seg.chars();
        if let Some(c) = chars.next() {
            out.extend(c.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out.push('[');
    out.push_str(title);
    out.push(']');
    out
}

impl CatalogDoc {
    /// Sets `version` from the canonical JSON of the document with `version` empty and the
    /// resources' `source` left out: moving a comment or a blank line changes the sources,
    /// not what the node does, so it leaves the version alone.
    pub fn seal(&mut self) {
        self.version.clear();
        // Hashed as it is serialised: a large catalog's canonical JSON is never held whole.
        let mut hasher = HashWriter::new();
        serde_json::to_writer(&mut hasher, &Hashed(self)).expect("catalog serialises");
        self.version = hasher.version();
    }

    /// Writes the document as `to_pretty` renders it, without building the whole text.
    pub fn write_pretty(&self, w: impl std::io::Write) -> std::io::Result<()> {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(w);
        serde_json::to_writer_pretty(&mut w, self).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
        w.flush()
    }

    /// The document as pretty JSON with a trailing newline (what `fleet compile` prints).
    pub fn to_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("catalog serialises");
        s.push('\n');
        s
    }

    pub fn from_json(text: &str) -> Result<CatalogDoc, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// What `fleet apply --catalog` reads: the JSON parsed and its `format` checked. The
    /// error says why the text is not a usable catalog (the caller adds the file's name).
    /// Also the entry point of the `catalog` fuzz target (`fuzz/`).
    pub fn read(text: &str) -> Result<CatalogDoc, String> {
        let doc = CatalogDoc::from_json(text).map_err(|e| format!("not a catalog: {e}"))?;
        if doc.format != FORMAT {
            return Err(format!("catalog format {} is not supported", doc.format));
        }
        Ok(doc)
    }
}

/// What `version` hashes: the document's fields in order, each resource without `source`.
/// (wire.rs writes the same bytes straight from a `Catalog`.)
struct Hashed<'a>(&'a CatalogDoc);

/// A resource as hashed: `ResourceDoc`'s fields but `source`.
struct HashedResource<'a>(&'a ResourceDoc);

impl Serialize for Hashed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeSeq, SerializeStruct};
        struct Resources<'a>(&'a [ResourceDoc]);
        impl Serialize for Resources<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for r in self.0 {
                    seq.serialize_element(&HashedResource(r))?;
                }
                seq.end()
            }
        }
        let d = self.0;
        let mut st = s.serialize_struct("CatalogDoc", 6)?;
        st.serialize_field("format", &d.format)?;
        st.serialize_field("node", &d.node)?;
        st.serialize_field("version", &d.version)?;
        st.serialize_field("resources", &Resources(&d.resources))?;
        st.serialize_field("edges", &d.edges)?;
        if let Some(p) = &d.provision {
            st.serialize_field("provision", p)?;
        }
        st.end()
    }
}

impl Serialize for HashedResource<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let r = self.0;
        let mut st = s.serialize_struct("ResourceDoc", 5)?;
        st.serialize_field("type", &r.kind)?;
        st.serialize_field("title", &r.title)?;
        if let Some(label) = &r.label {
            st.serialize_field("label", label)?;
        }
        st.serialize_field("params", &r.params)?;
        st.serialize_field("tags", &r.tags)?;
        st.end()
    }
}

/// An `io::Write` that feeds a sha256: canonical JSON is hashed as it is serialised.
pub(crate) struct HashWriter(Sha256);

impl HashWriter {
    pub(crate) fn new() -> HashWriter {
        HashWriter(Sha256::new())
    }

    /// `sha256:<hex>` of everything written: a catalog's `version`.
    pub(crate) fn version(self) -> String {
        format!("sha256:{}", hex(&self.0.finalize()))
    }
}

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::digest::sha256_hex;

    #[test]
    fn references_capitalise_each_segment() {
        assert_eq!(reference("file", "/etc/motd"), "File[/etc/motd]");
        assert_eq!(reference("nginx::vhost", "shop"), "Nginx::Vhost[shop]");
    }

    #[test]
    fn sealing_is_deterministic() {
        let mut a = CatalogDoc {
            format: FORMAT,
            node: "n".into(),
            version: String::new(),
            resources: vec![],
            edges: vec![],
            provision: None,
        };
        a.seal();
        let mut b = a.clone();
        b.seal();
        assert_eq!(a, b);
        assert!(a.version.starts_with("sha256:"));
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn read_checks_the_json_and_the_format() {
        let doc = r#"{"format":1,"node":"n","version":"","resources":[],"edges":[]}"#;
        assert_eq!(CatalogDoc::read(doc).unwrap().node, "n");
        let e = CatalogDoc::read("[1]").unwrap_err();
        assert!(e.starts_with("not a catalog: "), "{e}");
        let e = CatalogDoc::read(&doc.replace("\"format\":1", "\"format\":2")).unwrap_err();
        assert_eq!(e, "catalog format 2 is not supported");
    }
}
