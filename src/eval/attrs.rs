//! The attributes of one resource, kept small: a node of 100,000 resources holds half a
//! million of them, twice (evaluation, then catalog).
//!
//! - [`Name`]: an attribute, type or tag name. The names of the native types, their
//!   attributes and the metaparameters are `&'static str` (no allocation); any other name is
//!   shared (`Arc<str>`), so cloning one never copies it.
//! - [`AttrMap`]: attributes in insertion order, in one vector. A resource has a handful of
//!   attributes; a linear search over them beats hashing, and the map is as big as its
//!   entries (an `IndexMap` added a hash table and grew its entries to the table's capacity).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use super::output::Attr;
use crate::catalog::fxhash::FxHashSet;
use crate::catalog::schema;

/// An attribute, type or tag name; compares, hashes and derefs as its `str`.
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

/// Every name the schemas know: native types, their attributes, metaparameters, `tag`.
fn known() -> &'static FxHashSet<&'static str> {
    static KNOWN: OnceLock<FxHashSet<&'static str>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut set: FxHashSet<&'static str> = FxHashSet::default();
        for ty in schema::TYPES {
            set.insert(ty.name);
            set.extend(ty.attrs.iter().map(|a| a.name));
        }
        set.extend(schema::METAPARAMS.iter().map(|a| a.name));
        set.extend(["tag", "content_sha256", "commit", "version"]);
        set
    })
}

impl Name {
    /// A name; a known one costs no allocation.
    pub fn new(s: &str) -> Name {
        match known().get(s) {
            Some(k) => Name(Repr::Static(k)),
            None => Name(Repr::Shared(Arc::from(s))),
        }
    }

    /// A name known at compile time (schema names).
    pub const fn of_static(s: &'static str) -> Name {
        Name(Repr::Static(s))
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name::new(s)
    }
}

impl From<&String> for Name {
    fn from(s: &String) -> Name {
        Name::new(s)
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name::new(&s)
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Attributes by name, in insertion order (an `insert` of a present name replaces its value
/// in place, as `IndexMap::insert` does).
#[derive(Clone, Debug, Default)]
pub struct AttrMap {
    entries: Vec<(Name, Attr)>,
}

impl AttrMap {
    pub fn new() -> AttrMap {
        AttrMap::default()
    }

    pub fn with_capacity(n: usize) -> AttrMap {
        AttrMap {
            entries: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get_index_of(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k.as_str() == name)
    }

    pub fn get(&self, name: &str) -> Option<&Attr> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, a)| a)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Attr> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, a)| a)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get_index_of(name).is_some()
    }

    /// Sets `name`; a present name keeps its position. Returns the old value.
    pub fn insert(&mut self, name: impl Into<Name>, attr: Attr) -> Option<Attr> {
        let name = name.into();
        match self.get_mut(&name) {
            Some(old) => Some(std::mem::replace(old, attr)),
            None => {
                self.entries.push((name, attr));
                None
            }
        }
    }

    /// Sets `name` only when it is absent; true when it was added.
    pub fn insert_if_absent(&mut self, name: impl Into<Name>, attr: impl FnOnce() -> Attr) -> bool {
        let name = name.into();
        if self.contains_key(&name) {
            return false;
        }
        self.entries.push((name, attr()));
        true
    }

    /// Removes `name`, keeping the order of the rest.
    pub fn shift_remove(&mut self, name: &str) -> Option<Attr> {
        let i = self.get_index_of(name)?;
        Some(self.entries.remove(i).1)
    }

    pub fn shift_remove_index(&mut self, i: usize) -> Option<(Name, Attr)> {
        (i < self.entries.len()).then(|| self.entries.remove(i))
    }

    /// Inserts at position `i` (the name must be absent).
    pub fn shift_insert(&mut self, i: usize, name: impl Into<Name>, attr: Attr) {
        self.entries.insert(i, (name.into(), attr));
    }

    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve_exact(additional);
    }

    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&Name, &Attr) -> bool) {
        self.entries.retain(|(k, a)| keep(k, a));
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Name, &Attr)> + ExactSizeIterator {
        self.entries.iter().map(|(k, a)| (k, a))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Name> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Attr> + ExactSizeIterator {
        self.entries.iter().map(|(_, a)| a)
    }
}

impl<'a> IntoIterator for &'a AttrMap {
    type Item = (&'a Name, &'a Attr);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Name, Attr)>,
        fn(&'a (Name, Attr)) -> (&'a Name, &'a Attr),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, a)| (k, a))
    }
}

impl IntoIterator for AttrMap {
    type Item = (Name, Attr);
    type IntoIter = std::vec::IntoIter<(Name, Attr)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

/// `map["mode"]`: the attribute, which must be present (as `IndexMap`'s index panics).
impl std::ops::Index<&str> for AttrMap {
    type Output = Attr;
    fn index(&self, name: &str) -> &Attr {
        match self.get(name) {
            Some(a) => a,
            None => panic!("no attribute `{name}`"),
        }
    }
}

impl<K: Into<Name>> FromIterator<(K, Attr)> for AttrMap {
    fn from_iter<I: IntoIterator<Item = (K, Attr)>>(iter: I) -> AttrMap {
        let mut map = AttrMap::new();
        for (k, a) in iter {
            map.insert(k, a);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::value::Value;
    use crate::source::{FileId, Span};

    fn attr(v: i64) -> Attr {
        let span = Span::new(FileId(0), 0, 0);
        Attr {
            value: Value::Int(v),
            name_span: span,
            value_span: span,
        }
    }

    #[test]
    fn known_names_are_static_and_others_shared() {
        assert!(matches!(Name::new("ensure").0, Repr::Static(_)));
        assert!(matches!(Name::new("file").0, Repr::Static(_)));
        assert!(matches!(Name::new("ensur").0, Repr::Shared(_)));
        assert_eq!(Name::new("ensur"), Name::new("ensur"));
        assert_eq!(Name::new("mode").to_string(), "mode");
    }

    #[test]
    fn insert_replaces_in_place_and_remove_keeps_order() {
        let mut m = AttrMap::new();
        m.insert("a", attr(1));
        m.insert("b", attr(2));
        m.insert("c", attr(3));
        assert!(m.insert("a", attr(4)).is_some());
        assert!(!m.insert_if_absent("b", || attr(9)));
        let keys: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(m.get("a").map(|a| a.value.clone()), Some(Value::Int(4)));
        assert_eq!(m.get("b").map(|a| a.value.clone()), Some(Value::Int(2)));
        m.shift_remove("b");
        m.shift_insert(0, "z", attr(5));
        let keys: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "c"]);
        assert_eq!(m.len(), 3);
    }
}
