//! Test helper: builds a `NodeEval` by hand over a real source text, finding each span by
//! searching the text from a cursor, so tests can assert exact line:column positions.

use crate::model::attrs::AttrMap;
use std::path::Path;

use crate::diag::Diagnostic;
use crate::model::attrs::Attr;
use crate::model::declared::{Container, ContainerKind, Declared, Endpoint, NodeEval, Relation};
use crate::model::value::{ResRef, Value};
use crate::source::{FileId, SourceMap, Span};

pub(crate) struct Fixture {
    pub sources: SourceMap,
    pub eval: NodeEval,
    file: FileId,
    cursor: usize,
}

impl Fixture {
    /// A manifest `site.fleet` (in the current directory) with this text.
    pub(crate) fn new(text: &str) -> Fixture {
        Fixture::in_dir(Path::new("."), text)
    }

    /// A manifest `DIR/site.fleet` with this text (relative `source`s resolve in `dir`).
    pub(crate) fn in_dir(dir: &Path, text: &str) -> Fixture {
        let mut sources = SourceMap::new();
        let file = sources.add("site.fleet", dir.join("site.fleet"), text.to_string());
        Fixture {
            sources,
            eval: NodeEval {
                node: "n1".into(),
                ..Default::default()
            },
            file,
            cursor: 0,
        }
    }

    fn text(&self) -> &str {
        &self.sources.get(self.file).text
    }

    /// The span of the next occurrence of `needle` at or after the cursor; moves past it.
    pub(crate) fn find(&mut self, needle: &str) -> Span {
        let at = self.text()[self.cursor..]
            .find(needle)
            .unwrap_or_else(|| panic!("`{needle}` not found after byte {}", self.cursor))
            + self.cursor;
        self.cursor = at + needle.len();
        Span::new(self.file, at, at + needle.len())
    }

    /// Declares `kind "title"`: the kind at the next `kind`, the title at the next `"title"`
    /// (or bare `title`). Returns its index in `eval.resources`.
    pub(crate) fn res(&mut self, kind: &str, title: &str) -> usize {
        let kind_span = self.find(kind);
        let quoted = format!("{title:?}");
        let title_span = if self.text()[self.cursor..].trim_start().starts_with(&quoted) {
            self.find(&quoted)
        } else {
            self.find(title)
        };
        self.eval.resources.push(Declared {
            kind: kind.into(),
            kind_span,
            title: title.into(),
            title_span,
            label: None,
            params: AttrMap::new(),
            tags: Vec::new(),
        });
        self.eval.resources.len() - 1
    }

    /// Sets an attribute on the last declared resource: the name at the next `name`, the value
    /// from after the next `=` to the next `,`, `}` or newline outside brackets and quotes.
    pub(crate) fn attr(&mut self, name: &str, value: Value) -> &mut Fixture {
        let name_span = self.find(name);
        let eq = self.find("=");
        let text = self.text();
        let bytes = text.as_bytes();
        let mut start = eq.end as usize;
        while bytes[start] == b' ' {
            start += 1;
        }
        let (mut end, mut depth, mut quote) = (start, 0i32, None::<u8>);
        while end < bytes.len() {
            let b = bytes[end];
            match quote {
                Some(_) if b == b'\\' => end += 1,
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None => match b {
                    b'"' | b'\'' => quote = Some(b),
                    b'[' | b'{' | b'(' => depth += 1,
                    b']' | b')' => depth -= 1,
                    b'}' if depth == 0 => break,
                    b'}' => depth -= 1,
                    b',' | b'\n' if depth == 0 => break,
                    _ => {}
                },
            }
            end += 1;
        }
        let value_end = text[..end].trim_end().len();
        let value_span = Span::new(self.file, start, value_end);
        self.cursor = value_end;
        let r = self.eval.resources.last_mut().expect("a resource first");
        r.params
            .insert(name, Attr::new(value, name_span, value_span));
        self
    }

    pub(crate) fn s(&mut self, name: &str, value: &str) -> &mut Fixture {
        self.attr(name, Value::str(value))
    }

    pub(crate) fn tag(&mut self, tag: &str) -> &mut Fixture {
        self.eval
            .resources
            .last_mut()
            .unwrap()
            .tags
            .push(tag.into());
        self
    }

    /// A reference at the next `Type[`.
    pub(crate) fn reference(&mut self, type_name: &str, title: &str) -> ResRef {
        let start = self.find(&format!("{type_name}["));
        let end = self.find("]");
        ResRef {
            type_name: crate::model::name::Name::new(type_name),
            title: title.into(),
            span: start.to(end),
        }
    }

    /// `require = Type["title"]` on resource `res`: the reference is found after the cursor.
    pub(crate) fn require(&mut self, res: usize, type_name: &str, title: &str) -> &mut Fixture {
        let r = self.reference(type_name, title);
        self.relate(Endpoint::Ref(r), Endpoint::Resource(res), false)
    }

    /// `notify = Type["title"]` on resource `res`.
    pub(crate) fn notify(&mut self, res: usize, type_name: &str, title: &str) -> &mut Fixture {
        let r = self.reference(type_name, title);
        self.relate(Endpoint::Resource(res), Endpoint::Ref(r), true)
    }

    pub(crate) fn relate(&mut self, from: Endpoint, to: Endpoint, refresh: bool) -> &mut Fixture {
        self.eval.relations.push(Relation { from, to, refresh });
        self
    }

    /// A class or define instance holding these resources and child containers (the catalog
    /// never reports at a container's span, so it is left empty).
    pub(crate) fn container(
        &mut self,
        kind: ContainerKind,
        title: &str,
        resources: Vec<usize>,
        children: Vec<usize>,
    ) -> usize {
        self.eval.containers.push(Container {
            kind,
            title: title.into(),
            resources,
            children,
        });
        self.eval.containers.len() - 1
    }

    /// (code, line, column) of each diagnostic's primary span.
    pub(crate) fn positions(&self, diags: &[Diagnostic]) -> Vec<(&'static str, usize, usize)> {
        diags
            .iter()
            .map(|d| {
                let span = d.span.expect("a span");
                let (l, c) = self.sources.get(span.file).line_col(span.start as usize);
                (d.code.as_str(), l, c)
            })
            .collect()
    }
}

/// `(kind, title, attributes)` of a resource for [`bare`].
pub(crate) type Spec<'a> = (&'a str, String, Vec<(&'a str, Value)>);

/// A bare `NodeEval` of `n` resources `(kind, title, attrs)` with dummy spans, for big graphs.
pub(crate) fn bare(resources: Vec<Spec>) -> NodeEval {
    let span = Span::default();
    NodeEval {
        node: "big".into(),
        resources: resources
            .into_iter()
            .map(|(kind, title, attrs)| Declared {
                kind: kind.into(),
                kind_span: span,
                title,
                title_span: span,
                label: None,
                params: attrs
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), Attr::new(v, span, span)))
                    .collect(),
                tags: vec![],
            })
            .collect(),
        ..Default::default()
    }
}

/// A small deterministic pseudo-random source for randomized tests (xorshift): `next(m)` is
/// in `0..m`.
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    }
}
