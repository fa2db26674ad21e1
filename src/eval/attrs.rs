//! The attributes of one resource, kept small: a node of 100,000 resources holds half a
//! million of them, twice (evaluation, then catalog).
//!
//! - [`Name`]: an attribute, type or tag name, interned: four bytes. The names of the native
//!   types, their attributes and the metaparameters are numbered at start-up; any other name
//!   gets the next number the first time it is seen and is kept for the life of the process
//!   (names are the program's vocabulary, not its data: classes, defines, their parameters,
//!   tags). Equal names have equal numbers, so comparing two is comparing integers.
//! - [`AttrMap`]: attributes in insertion order, in one vector of [`Attr`]s, each holding its
//!   own name. A resource has a handful of attributes; a linear search over them beats
//!   hashing, and the map is as big as its entries (an `IndexMap` added a hash table and grew
//!   its entries to the table's capacity).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};

use super::output::Attr;
use crate::catalog::fxhash::FxHashMap;
use crate::catalog::schema;

/// An attribute, type or tag name (interned); compares as its number, hashes, orders and
/// derefs as its `str`.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Name(u32);

/// The names numbered at start-up: `""` (0), then every name the schemas know.
struct Known {
    names: Vec<&'static str>,
    ids: FxHashMap<&'static str, u32>,
}

#[inline]
fn known() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut k = Known {
            names: Vec::new(),
            ids: FxHashMap::default(),
        };
        let mut add = |s: &'static str| {
            if !k.ids.contains_key(s) {
                k.ids.insert(s, k.names.len() as u32);
                k.names.push(s);
            }
        };
        add("");
        for ty in schema::TYPES {
            add(ty.name);
            ty.attrs.iter().for_each(|a| add(a.name));
        }
        schema::METAPARAMS.iter().for_each(|a| add(a.name));
        ["tag", "content_sha256", "commit", "version"]
            .into_iter()
            .for_each(&mut add);
        k
    })
}

/// Names first seen at run time, by number (minus the known ones): chunks that are never
/// moved or freed, so a name is read without a lock. Writers hold [`DYNAMIC`].
const CHUNK: usize = 1024;
const CHUNKS: usize = 4096;
type Slot = AtomicPtr<Box<str>>;
static TABLE: [AtomicPtr<[Slot; CHUNK]>; CHUNKS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS];
static DYNAMIC: LazyLock<Mutex<FxHashMap<&'static str, u32>>> =
    LazyLock::new(|| Mutex::new(FxHashMap::default()));

impl Name {
    /// The empty name (what an [`Attr`] outside a map is named).
    pub const EMPTY: Name = Name(0);

    /// The interned name.
    pub fn new(s: &str) -> Name {
        let k = known();
        if let Some(&id) = k.ids.get(s) {
            return Name(id);
        }
        let mut map = DYNAMIC.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = map.get(s) {
            return Name(id);
        }
        let i = map.len();
        assert!(i < CHUNK * CHUNKS, "more than 4 million distinct names");
        let chunk = &TABLE[i / CHUNK];
        let mut slots = chunk.load(Ordering::Acquire);
        if slots.is_null() {
            let fresh: Box<[Slot; CHUNK]> =
                Box::new([const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNK]);
            slots = Box::into_raw(fresh);
            chunk.store(slots, Ordering::Release);
        }
        let text: *mut Box<str> = Box::into_raw(Box::new(Box::from(s)));
        // SAFETY: leaked above, never freed or written again.
        let interned: &'static str = unsafe { &*text };
        // SAFETY: `slots` points to a leaked chunk, never freed.
        let slots: &'static [Slot; CHUNK] = unsafe { &*slots };
        slots[i % CHUNK].store(text, Ordering::Release);
        let id = (k.names.len() + i) as u32;
        map.insert(interned, id);
        Name(id)
    }

    #[inline]
    pub fn as_str(&self) -> &'static str {
        let k = known();
        let id = self.0 as usize;
        match k.names.get(id) {
            Some(s) => s,
            None => Name::dynamic(id - k.names.len()),
        }
    }

    /// The text of the `i`th name first seen at run time.
    #[cold]
    fn dynamic(i: usize) -> &'static str {
        let slots = TABLE[i / CHUNK].load(Ordering::Acquire);
        assert!(!slots.is_null(), "a name number that was never given out");
        // SAFETY: chunks and their names are leaked, never freed; a number is only handed out
        // after its slot is stored.
        let slots: &'static [Slot; CHUNK] = unsafe { &*slots };
        let text = slots[i % CHUNK].load(Ordering::Acquire);
        assert!(!text.is_null(), "a name number that was never given out");
        // SAFETY: not null (checked); the text was leaked when its slot was stored and is
        // never freed or written again.
        unsafe { &*text }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::value::Value;
    use crate::source::{FileId, Span};

    fn attr(v: i64) -> Attr {
        let span = Span::new(FileId(0), 0, 0);
        Attr::new(Value::Int(v), span, span)
    }

    #[test]
    fn names_are_interned_once_from_any_thread() {
        let known = known().names.len() as u32;
        assert!(Name::new("ensure").0 < known);
        assert!(Name::new("file").0 < known);
        assert_eq!(Name::EMPTY.as_str(), "");
        let ensur = Name::new("ensur");
        assert!(ensur.0 >= known);
        assert_eq!(ensur, Name::new("ensur"));
        assert_eq!(ensur.as_str(), "ensur");
        assert_eq!(Name::new("mode").to_string(), "mode");
        // Many new names from several threads at once: every one gets one number, reads back
        // as itself, and the same text from another thread gets the same number.
        let names: Vec<Vec<Name>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..3000)
                            .map(|i| Name::new(&format!("interned_{i}")))
                            .collect()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        for i in 0..3000 {
            assert!(names.iter().all(|n| n[i] == names[0][i]));
            assert_eq!(names[0][i].as_str(), format!("interned_{i}"));
        }
        assert_ne!(names[0][1], names[0][2]);
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
