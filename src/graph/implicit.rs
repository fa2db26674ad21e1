//! The implicit edges of LANGUAGE.md §5/§10.11, as (required, dependent) pairs in catalog order.

use std::collections::HashMap;

use crate::catalog::Catalog;
use crate::eval::value::Value;

/// Every implicit edge the catalog calls for, `(required, dependent)`, in the order of the
/// dependent resource and, per resource, in the order §5 lists them. Linear in the catalog's
/// size (hash lookups; a file's parent is found by walking up its path).
pub(crate) fn candidates(catalog: &Catalog) -> Vec<(usize, usize)> {
    let mut files: HashMap<&str, usize> = HashMap::new();
    let mut users: HashMap<&str, usize> = HashMap::new();
    let mut groups: HashMap<&str, usize> = HashMap::new();
    for (i, r) in catalog.resources.iter().enumerate() {
        let map = match r.kind.as_str() {
            "file" => &mut files,
            "user" => &mut users,
            "group" => &mut groups,
            _ => continue,
        };
        map.entry(r.title.as_str()).or_insert(i);
    }
    let name = |i: usize, attr: &str, map: &HashMap<&str, usize>| -> Option<usize> {
        let v = catalog.resources[i].params.get(attr)?.value.as_str()?;
        if v.is_empty() || v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        map.get(v).copied()
    };
    let mut out = Vec::new();
    for (i, r) in catalog.resources.iter().enumerate() {
        let mut push = |j: Option<usize>| {
            if let Some(j) = j {
                if j != i {
                    out.push((j, i));
                }
            }
        };
        match r.kind.as_str() {
            "file" => {
                push(nearest_ancestor(&r.title, &files));
                push(name(i, "owner", &users));
                push(name(i, "group", &groups));
            }
            "user" => {
                push(name(i, "gid", &groups));
                match r.params.get("groups").map(|a| &a.value) {
                    Some(Value::Array(gs)) => {
                        for g in gs.iter().filter_map(Value::as_str) {
                            push(groups.get(g).copied());
                        }
                    }
                    Some(Value::Str(g)) => push(groups.get(&**g).copied()),
                    _ => {}
                }
            }
            "exec" => push(name(i, "user", &users)),
            "release" => {
                let path = r.params.get("path").and_then(|a| a.value.as_str());
                push(path.and_then(|p| files.get(crate::catalog::normalize_path(p)).copied()));
                push(name(i, "owner", &users));
                push(name(i, "group", &groups));
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
