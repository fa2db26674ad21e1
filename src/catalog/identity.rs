//! Identity: which catalog resource a declaration is (its namevar's value or its title, file
//! paths without trailing slashes), the tables that find a resource by identity, title or
//! alias, and how messages write a reference. `build` fills the tables; `relate` resolves
//! references with them; `validate` checks a catalog document's identities by the same rule.

use crate::model::fxhash::{FxHashMap as HashMap, FxHashSet};

use super::{json, Catalog};
use crate::model::declared::Declared;
use crate::model::schema::TypeSchema;

/// Which catalog resource each declaration became, plus what reference resolution needs.
pub(crate) struct Declarations {
    /// Per `NodeEval::resources` index: the catalog resource, or None when it was dropped
    /// (unknown type, conflicting duplicate).
    pub of_decl: Vec<Option<usize>>,
    /// (type, identity) -> resource.
    pub by_identity: IdentityIndex,
    /// (type, title as written) -> first resource declared with that title, when the title
    /// is not its identity.
    pub by_title: HashMap<(&'static str, String), usize>,
    /// (type, alias) -> resource.
    pub by_alias: HashMap<(&'static str, String), usize>,
    /// (type, title) of declarations with an unknown type: references to them stay quiet.
    pub unknown: FxHashSet<(String, String)>,
}

/// The identity of a declaration: its namevar attribute's String value, else its title; file
/// paths lose trailing slashes.
pub(crate) fn identity<'a>(decl: &'a Declared, ty: &TypeSchema) -> &'a str {
    let namevar = decl.params.get(ty.namevar).and_then(|a| a.value.as_str());
    identity_of(ty, namevar, &decl.title)
}

/// The identity rule itself, for a declaration or a catalog document's resource: the
/// namevar's String value (when set), else the title; file paths lose trailing slashes.
pub(crate) fn identity_of<'a>(
    ty: &TypeSchema,
    namevar: Option<&'a str>,
    title: &'a str,
) -> &'a str {
    let raw = namevar.unwrap_or(title);
    if ty.name == "file" {
        normalize_path(raw)
    } else {
        raw
    }
}

/// The hash of a (type, identity) pair, for [`IdentityIndex`] and the first pass of
/// `build::declare`.
pub(crate) fn identity_hash(kind: &str, id: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = crate::model::fxhash::FxHasher::default();
    h.write(kind.as_bytes());
    h.write_u8(0xff);
    h.write(id.as_bytes());
    h.finish()
}

/// (type, identity) -> catalog resource: a table of resource numbers, hashed and compared by
/// the resources' own type and title, so no identity is stored twice (at 100,000 resources a
/// map keyed by owned strings was a tenth of the catalog).
pub(crate) struct IdentityIndex(hashbrown::HashTable<u32>);

impl IdentityIndex {
    /// No resources yet (filled once every declaration is in the catalog).
    pub(crate) fn empty() -> IdentityIndex {
        IdentityIndex(hashbrown::HashTable::new())
    }

    pub(crate) fn new(catalog: &Catalog) -> IdentityIndex {
        let hash = |i: u32| {
            let r = &catalog.resources[i as usize];
            identity_hash(&r.kind, &r.title)
        };
        let mut table = hashbrown::HashTable::with_capacity(catalog.resources.len());
        for i in 0..catalog.resources.len() as u32 {
            // Identities are unique in the catalog: duplicates were merged or dropped.
            table.insert_unique(hash(i), i, |&j| hash(j));
        }
        IdentityIndex(table)
    }

    /// The resource of type `kind` (lower case) with identity `id`.
    pub(crate) fn get(&self, catalog: &Catalog, kind: &str, id: &str) -> Option<usize> {
        self.0
            .find(identity_hash(kind, id), |&j| {
                let r = &catalog.resources[j as usize];
                r.kind == kind && r.title == id
            })
            .map(|&j| j as usize)
    }
}

/// A file identity: `/etc/nginx/` -> `/etc/nginx`; `/` stays.
pub(crate) fn normalize_path(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() && p.starts_with('/') {
        "/"
    } else {
        t
    }
}

/// `File["/etc/motd"]`, as messages write references.
pub(crate) fn reference_text(kind: &str, title: &str) -> String {
    let r = json::reference(kind, title);
    let ty = &r[..r.len() - title.len() - 2];
    format!("{ty}[{title:?}]")
}
