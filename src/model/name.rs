//! An attribute, type or tag name, interned: four bytes. The names of the native types, their
//! attributes and the metaparameters are numbered at start-up; any other name gets the next
//! number the first time it is seen and is kept for the life of the process (names are the
//! program's vocabulary, not its data: classes, defines, their parameters, tags). Equal names
//! have equal numbers, so comparing two is comparing integers.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};

use super::fxhash::FxHashMap;
use super::schema;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
