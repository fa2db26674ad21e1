//! Data levels (`data/hierarchy.toml`, `data/<level>.toml`) and module data for `lookup()` and
//! automatic class parameter lookup (LANGUAGE.md §8).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use toml::de::{DeTable, DeValue};

use super::{Evaluator, Failed, R};
use crate::diag::{Code, Diagnostic};
use crate::model::value::Value;
use crate::source::{FileId, SourceMap, Span};

/// A TOML value with where it was written.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub span: Span,
    /// For tables: the children by key, in file order.
    pub table: Option<IndexMap<String, Node>>,
}

/// One parsed data file.
#[derive(Clone, Debug)]
pub struct DataFile {
    pub root: Node,
}

impl DataFile {
    /// The node at a key path; a hit only when the whole path exists.
    pub fn get(&self, path: &[&str]) -> Option<&Node> {
        let mut at = &self.root;
        for seg in path {
            at = at.table.as_ref()?.get(*seg)?;
        }
        Some(at)
    }
}

/// Every data file beside the main manifest and in the modules' roots.
#[derive(Default, Debug)]
pub struct Data {
    /// `levels` from `data/hierarchy.toml` (default `["nodes/{node}", "common"]`).
    pub levels: Vec<String>,
    /// Parsed `data/<level>.toml` files by level path (`nodes/web01`).
    pub files: HashMap<String, DataFile>,
    /// Each module's own data, by module root.
    pub modules: HashMap<PathBuf, ModuleData>,
    /// `data-error`s found while reading.
    pub diags: Vec<Diagnostic>,
}

/// A module's own data levels (LANGUAGE.md §8): `ROOT/data/hierarchy.toml`'s `levels` and
/// its `data/<level>.toml` files, or `data/common.toml` alone when it has no hierarchy.
#[derive(Default, Debug)]
pub struct ModuleData {
    pub levels: Vec<String>,
    pub files: HashMap<String, DataFile>,
}

impl Data {
    /// Reads `DIR/data/**.toml` (DIR being the main manifest's directory).
    pub fn load(main_dir: &Path, sources: &mut SourceMap) -> Data {
        let mut data = Data::default();
        let (levels, files) = read_levels(&main_dir.join("data"), sources, &mut data.diags);
        data.levels = levels.unwrap_or_else(|| vec!["nodes/{node}".into(), "common".into()]);
        data.files = files;
        data
    }

    /// Reads a module's data levels at its root (once per root).
    pub fn load_module(&mut self, root: &Path, sources: &mut SourceMap) {
        if self.modules.contains_key(root) {
            return;
        }
        let (levels, files) = read_levels(&root.join("data"), sources, &mut self.diags);
        let levels = levels.unwrap_or_else(|| vec!["common".into()]);
        self.modules
            .insert(root.to_path_buf(), ModuleData { levels, files });
    }
}

/// The `levels` of `DIR/hierarchy.toml` (None without one) and every other `DIR/**.toml`
/// by its level path (`nodes/web01`).
fn read_levels(
    dir: &Path,
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> (Option<Vec<String>>, HashMap<String, DataFile>) {
    let mut levels = None;
    let mut files = HashMap::new();
    if !dir.is_dir() {
        return (levels, files);
    }
    let mut found = Vec::new();
    walk(dir, &mut found, 0);
    found.sort();
    for path in found {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let Some(key) = rel.strip_suffix(".toml") else {
            continue;
        };
        let Some(file) = read(&path, sources, diags) else {
            continue;
        };
        if key == "hierarchy" {
            if let Some(node) = file.get(&["levels"]) {
                match &node.value {
                    Value::Array(a) if a.iter().all(|v| matches!(v, Value::Str(_))) => {
                        levels = Some(
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect(),
                        );
                    }
                    _ => diags.push(Diagnostic::error(
                        Code::DataError,
                        node.span,
                        "`levels` must be an Array of Strings",
                    )),
                }
            }
            continue;
        }
        files.insert(key.to_string(), file);
    }
    (levels, files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 16 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out, depth + 1);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

fn read(path: &Path, sources: &mut SourceMap, diags: &mut Vec<Diagnostic>) -> Option<DataFile> {
    let text = std::fs::read_to_string(path).ok()?;
    let name = path.to_string_lossy().trim_start_matches("./").to_string();
    let id = sources.add(name, path, text);
    let text = &sources.get(id).text;
    match DeTable::parse(text) {
        Ok(t) => {
            let span = t.span();
            Some(DataFile {
                root: table_node(t.get_ref(), span, id),
            })
        }
        Err(e) => {
            let range = e.span().unwrap_or(0..0);
            diags.push(Diagnostic::error(
                Code::DataError,
                Span::new(id, range.start, range.end),
                format!("this data file does not parse: {}", e.message().trim()),
            ));
            None
        }
    }
}

fn table_node(t: &DeTable<'_>, span: std::ops::Range<usize>, file: FileId) -> Node {
    let mut children = IndexMap::new();
    let mut values = IndexMap::new();
    for (k, v) in t.iter() {
        let child = value_node(v.get_ref(), v.span(), file);
        values.insert(k.get_ref().to_string(), child.value.clone());
        children.insert(k.get_ref().to_string(), child);
    }
    Node {
        value: Value::map(values),
        span: Span::new(file, span.start, span.end),
        table: Some(children),
    }
}

fn value_node(v: &DeValue<'_>, span: std::ops::Range<usize>, file: FileId) -> Node {
    let value = match v {
        DeValue::Table(t) => return table_node(t, span, file),
        DeValue::String(s) => Value::str(s.as_ref()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map(Value::Int)
            .unwrap_or_else(|_| Value::str(i.to_string())),
        DeValue::Float(f) => Value::str(f.to_string()),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::str(d.to_string()),
        DeValue::Array(a) => Value::array(
            a.iter()
                .map(|x| value_node(x.get_ref(), x.span(), file).value)
                .collect(),
        ),
    };
    Node {
        value,
        span: Span::new(file, span.start, span.end),
        table: None,
    }
}

/// Merges `less` (a less specific level) under `more`: `more` wins for non-Map values, Maps
/// merge recursively, keys ordered by first appearance from the most specific level down.
fn merge_under(more: &Value, less: &Value) -> Value {
    match (more, less) {
        (Value::Map(a), Value::Map(b)) => {
            let mut m = (**a).clone();
            for (k, v) in b.iter() {
                let merged = match m.get(k) {
                    Some(existing) => merge_under(existing, v),
                    None => v.clone(),
                };
                m.insert(k.clone(), merged);
            }
            Value::map(m)
        }
        _ => more.clone(),
    }
}

impl Evaluator<'_> {
    /// The data files of this node's levels, most specific first.
    fn level_files(&self) -> Vec<&DataFile> {
        let data = &self.program.data;
        self.files_of(&data.levels, &data.files)
    }

    /// The files of `levels` that exist for this node, most specific first.
    fn files_of<'d>(
        &self,
        levels: &[String],
        files: &'d HashMap<String, DataFile>,
    ) -> Vec<&'d DataFile> {
        levels
            .iter()
            .filter_map(|level| self.expand_level(level))
            .filter_map(|path| files.get(&path))
            .collect()
    }

    /// `nodes/{node}` -> `nodes/web01`; None when a named fact is missing.
    fn expand_level(&self, level: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = level;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}')? + start;
            let name = &rest[start + 1..end];
            let value = if name == "node" {
                Value::str(self.node.as_str())
            } else {
                let mut parts = name.split('.');
                let first = parts.next()?;
                let mut v = self.scopes.top.get(first)?.value.clone()?;
                for p in parts {
                    v = match &v {
                        Value::Map(m) => m.get(p)?.clone(),
                        _ => return None,
                    };
                }
                v
            };
            match value {
                Value::Str(s) => out.push_str(&s),
                Value::Int(i) => out.push_str(&i.to_string()),
                Value::Bool(b) => out.push_str(&b.to_string()),
                _ => return None,
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }

    /// `lookup(key, default[, "deep"])`: the first level holding the whole path, or with
    /// `deep`, Maps of every level merged.
    pub(super) fn lookup_data(&mut self, path: &[&str], deep: bool) -> R<Option<Value>> {
        let files = self.level_files();
        let hits: Vec<&Node> = files.iter().filter_map(|f| f.get(path)).collect();
        let Some(first) = hits.first() else {
            return Ok(None);
        };
        if !deep {
            return Ok(Some(first.value.clone()));
        }
        let mut acc = first.value.clone();
        for h in &hits[1..] {
            acc = merge_under(&acc, &h.value);
        }
        Ok(Some(acc))
    }

    /// Automatic parameter lookup: `<class>.<param>` in the site's levels, then in the
    /// levels of the class's module (its `data/hierarchy.toml`, else `data/common.toml`).
    /// Returns the value and its position.
    pub(super) fn data_param(&mut self, class: &str, param: &str) -> R<Option<(Value, Span)>> {
        let path = [class, param];
        for f in self.level_files() {
            if let Some(n) = f.get(&path) {
                return Ok(Some((n.value.clone(), n.span)));
            }
        }
        let index = self.index;
        let Some(def) = index.classes.get(class) else {
            return Ok(None);
        };
        let root = self
            .program
            .files
            .iter()
            .find(|f| f.id == def.file)
            .and_then(|f| f.module_root.as_ref());
        if let Some(root) = root {
            if let Some(m) = self.program.data.modules.get(root) {
                for f in self.files_of(&m.levels, &m.files) {
                    if let Some(n) = f.get(&path) {
                        return Ok(Some((n.value.clone(), n.span)));
                    }
                }
            }
        }
        let _ = Failed;
        Ok(None)
    }
}
