//! The implicit edges of LANGUAGE.md §5/§10.11, as (required, dependent) pairs in catalog order.

use crate::model::fxhash::FxHashMap as HashMap;

use crate::catalog::Catalog;
use crate::model::value::Value;

/// Every implicit edge the catalog calls for, `(required, dependent)`, in the order of the
/// dependent resource and, per resource, in the order §5 lists them. Linear in the catalog's
/// size (hash lookups; a file's parent is found by walking up its path).
pub(crate) fn candidates(catalog: &Catalog) -> Vec<(u32, u32)> {
    let n = catalog.resources.len();
    let mut files: HashMap<&str, usize> = HashMap::with_capacity_and_hasher(n, Default::default());
    let mut users: HashMap<&str, usize> = HashMap::default();
    let mut groups: HashMap<&str, usize> = HashMap::default();
    for (i, r) in catalog.resources.iter().enumerate() {
        let map = match r.kind.as_str() {
            "file" => &mut files,
            "user" => &mut users,
            "group" => &mut groups,
            _ => continue,
        };
        map.entry(r.title.as_str()).or_insert(i);
    }
    // A user or group by name; numeric ids make no edge.
    let named = |v: &Value, map: &HashMap<&str, usize>| -> Option<usize> {
        let v = v.as_str()?;
        if v.is_empty() || v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        map.get(v).copied()
    };
    let mut out = Vec::with_capacity(n * 2);
    for (i, r) in catalog.resources.iter().enumerate() {
        let group_start = out.len();
        let mut push = |j: Option<usize>| {
            if let Some(j) = j {
                let pair = (j as u32, i as u32);
                if j != i && !out[group_start..].contains(&pair) {
                    out.push(pair);
                }
            }
        };
        // One pass over the params (no hashing of attribute names): §5's order per type.
        let (mut owner, mut group, mut path, mut gid, mut user, mut member_of) =
            (None, None, None, None, None, None);
        for (k, a) in &r.params {
            let v = Some(&a.value);
            match k.as_str() {
                "owner" => owner = v,
                "group" => group = v,
                "path" => path = v,
                "gid" => gid = v,
                "user" => user = v,
                "groups" => member_of = v,
                _ => {}
            }
        }
        match r.kind.as_str() {
            "file" => {
                push(nearest_ancestor(&r.title, &files));
                push(owner.and_then(|v| named(v, &users)));
                push(group.and_then(|v| named(v, &groups)));
            }
            "user" => {
                push(gid.and_then(|v| named(v, &groups)));
                match member_of {
                    Some(Value::Array(gs)) => {
                        for g in gs.iter() {
                            push(named(g, &groups));
                        }
                    }
                    Some(g) => push(named(g, &groups)),
                    None => {}
                }
            }
            "exec" => push(user.and_then(|v| named(v, &users))),
            "file_line" => {
                let p = path.and_then(Value::as_str);
                push(p.and_then(|p| files.get(crate::catalog::normalize_path(p)).copied()));
            }
            "release" => {
                let p = path.and_then(Value::as_str);
                push(p.and_then(|p| files.get(crate::catalog::normalize_path(p)).copied()));
                push(owner.and_then(|v| named(v, &users)));
                push(group.and_then(|v| named(v, &groups)));
            }
            _ => {}
        }
    }
    out
}

/// The managed file nearest above `path` by path components.
fn nearest_ancestor(path: &str, files: &HashMap<&str, usize>) -> Option<usize> {
    if !path.starts_with('/') {
        return None;
    }
    let mut p = path;
    while p != "/" {
        p = match p.rfind('/') {
            Some(0) => "/",
            Some(k) => &p[..k],
            None => return None,
        };
        if let Some(&j) = files.get(p) {
            return Some(j);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_walk_components() {
        let files: HashMap<&str, usize> = [("/", 0), ("/srv", 1)].into_iter().collect();
        assert_eq!(nearest_ancestor("/srv/app/x", &files), Some(1));
        assert_eq!(nearest_ancestor("/srv", &files), Some(0));
        assert_eq!(nearest_ancestor("/srvx", &files), Some(0));
        assert_eq!(nearest_ancestor("/", &files), None);
        assert_eq!(nearest_ancestor("rel/x", &files), None);
    }
}
