//! The hasher of fleet's own maps and sets: foldhash's fast hash with a fixed seed, for maps
//! keyed by titles, names and indices, where SipHash's DoS resistance buys nothing and costs
//! a lot at 100k resources.
//!
//! The seed is fixed (not per process), so a map's iteration order is the same on every run;
//! nothing fleet writes may depend on that order, but a bug that did would at least show the
//! same output twice. The `Fx` names are historical (this was rustc's Fx hash); they are the
//! one place to change the hasher.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

/// The build-hasher of [`FxHashMap`] and [`FxHashSet`] (foldhash, fixed seed).
pub(crate) type FxBuildHasher = foldhash::fast::FixedState;
pub(crate) type FxHashMap<K, V> = HashMap<K, V, FxBuildHasher>;
pub(crate) type FxHashSet<T> = HashSet<T, FxBuildHasher>;

/// A hasher for hand-fed hashes (hash tables of indices): the one an [`FxHashMap`] uses.
#[derive(Clone)]
pub(crate) struct FxHasher(foldhash::fast::FoldHasher<'static>);

impl Default for FxHasher {
    #[inline]
    fn default() -> FxHasher {
        FxHasher(FxBuildHasher::default().build_hasher())
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0.write_u8(i);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0.write_u32(i);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0.write_u64(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.0.write_usize(i);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn hash(s: &str) -> u64 {
        let mut h = FxHasher::default();
        h.write(s.as_bytes());
        h.finish()
    }

    #[test]
    fn maps_work_and_hashes_differ() {
        let mut m: FxHashMap<String, usize> = FxHashMap::default();
        for i in 0..1000 {
            m.insert(format!("/srv/f{i}"), i);
        }
        assert_eq!(m["/srv/f777"], 777);
        assert_ne!(hash("/a"), hash("/b"));
        assert_ne!(hash("abcdefgh1"), hash("abcdefgh2"));
    }

    /// The seed is fixed: two maps filled alike iterate alike (with a per-map seed, as
    /// foldhash's `RandomState` gives, 1000 keys come out in another order), and a hand-fed
    /// hasher hashes as a map does.
    #[test]
    fn the_seed_is_fixed() {
        let fill = || -> FxHashSet<String> { (0..1000).map(|i| format!("/srv/f{i}")).collect() };
        let (a, b) = (fill(), fill());
        assert!(a.iter().eq(b.iter()));
        let mut h = FxHasher::default();
        "/srv/f1".hash(&mut h);
        assert_eq!(h.finish(), FxBuildHasher::default().hash_one("/srv/f1"));
    }
}
