//! The attributes of one resource, kept small: a node of 100,000 resources holds half a
//! million of them, twice (evaluation, then catalog).
//!
//! - [`Name`] (`model::name`): an attribute, type or tag name, interned: four bytes.
//! - [`AttrMap`]: attributes in insertion order, in one vector of [`Attr`]s, each holding its
//!   own name. A resource has a handful of attributes; a linear search over them beats
//!   hashing, and the map is as big as its entries (an `IndexMap` added a hash table and grew
//!   its entries to the table's capacity).

use super::name::Name;
use super::value::Value;
use crate::source::{FileId, Span};

/// Attributes by name, in insertion order (an `insert` of a present name replaces its value
/// in place, as `IndexMap::insert` does).
#[derive(Clone, Debug, Default)]
pub struct AttrMap {
    entries: Vec<Attr>,
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
        self.entries.iter().position(|a| a.name.as_str() == name)
    }

    pub fn get(&self, name: &str) -> Option<&Attr> {
        self.entries.iter().find(|a| a.name.as_str() == name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Attr> {
        self.entries.iter_mut().find(|a| a.name.as_str() == name)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get_index_of(name).is_some()
    }

    /// Sets `name`; a present name keeps its position. Returns the old value.
    pub fn insert(&mut self, name: impl Into<Name>, mut attr: Attr) -> Option<Attr> {
        let name = name.into();
        attr.name = name;
        match self.entries.iter_mut().find(|a| a.name == name) {
            Some(old) => Some(std::mem::replace(old, attr)),
            None => {
                self.entries.push(attr);
                None
            }
        }
    }

    /// Sets `name` only when it is absent; true when it was added.
    pub fn insert_if_absent(&mut self, name: impl Into<Name>, attr: impl FnOnce() -> Attr) -> bool {
        let name = name.into();
        if self.entries.iter().any(|a| a.name == name) {
            return false;
        }
        let mut attr = attr();
        attr.name = name;
        self.entries.push(attr);
        true
    }

    /// Removes `name`, keeping the order of the rest.
    pub fn shift_remove(&mut self, name: &str) -> Option<Attr> {
        let i = self.get_index_of(name)?;
        Some(self.entries.remove(i))
    }

    pub fn shift_remove_index(&mut self, i: usize) -> Option<(Name, Attr)> {
        (i < self.entries.len()).then(|| {
            let a = self.entries.remove(i);
            (a.name, a)
        })
    }

    /// Inserts at position `i` (the name must be absent).
    pub fn shift_insert(&mut self, i: usize, name: impl Into<Name>, mut attr: Attr) {
        attr.name = name.into();
        self.entries.insert(i, attr);
    }

    /// A copy with room for `extra` more entries.
    pub fn clone_with_room(&self, extra: usize) -> AttrMap {
        let mut entries = Vec::with_capacity(self.entries.len() + extra);
        entries.extend_from_slice(&self.entries);
        AttrMap { entries }
    }

    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve_exact(additional);
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&Name, &Attr) -> bool) {
        self.entries.retain(|a| keep(&a.name, a));
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Name, &Attr)> + ExactSizeIterator {
        self.entries.iter().map(|a| (&a.name, a))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Name> + ExactSizeIterator {
        self.entries.iter().map(|a| &a.name)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Attr> + ExactSizeIterator {
        self.entries.iter()
    }
}

impl<'a> IntoIterator for &'a AttrMap {
    type Item = (&'a Name, &'a Attr);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, Attr>, fn(&'a Attr) -> (&'a Name, &'a Attr)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|a| (&a.name, a))
    }
}

impl IntoIterator for AttrMap {
    type Item = (Name, Attr);
    type IntoIter = std::iter::Map<std::vec::IntoIter<Attr>, fn(Attr) -> (Name, Attr)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter().map(|a| (a.name, a))
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

/// One attribute value with where it was written, and its name once in an [`AttrMap`]:
/// 48 bytes (a node of 100,000 resources holds half a million of these, twice).
#[derive(Clone, Debug)]
pub struct Attr {
    pub value: Value,
    /// Set by the [`AttrMap`] holding it; [`Name::EMPTY`] outside one.
    pub(crate) name: Name,
    /// The file of both spans (an attribute's name and value are written in one body).
    file: FileId,
    name_at: (u32, u32),
    value_at: (u32, u32),
}

impl Attr {
    /// `name_span`: the attribute's name (or the `*` of a splat that set it, or the name in a
    /// resource default); `value_span`: the value expression, in the same file.
    pub fn new(value: Value, name_span: Span, value_span: Span) -> Attr {
        debug_assert_eq!(name_span.file, value_span.file, "one body, one file");
        Attr {
            value,
            name: Name::EMPTY,
            file: value_span.file,
            name_at: (name_span.start, name_span.end),
            value_at: (value_span.start, value_span.end),
        }
    }

    pub fn name_span(&self) -> Span {
        Span {
            file: self.file,
            start: self.name_at.0,
            end: self.name_at.1,
        }
    }

    pub fn value_span(&self) -> Span {
        Span {
            file: self.file,
            start: self.value_at.0,
            end: self.value_at.1,
        }
    }
}

// The layout the comment on `Attr` promises (value, name, file, two spans' offsets).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Attr>() == 48);

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(v: i64) -> Attr {
        let span = Span::new(FileId(0), 0, 0);
        Attr::new(Value::Int(v), span, span)
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
