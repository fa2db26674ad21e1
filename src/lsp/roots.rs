//! Which manifest to check a buffer as part of: a file that is imported by a site manifest
//! (`site.fleet` doing `import "./common.fleet"`) is checked the way `fleet check site.fleet`
//! sees it, not on its own (where the site's variables are undefined and its classes
//! unused).

use std::path::{Path, PathBuf};

use super::convert::normalize;
use crate::source::FileId;
use crate::syntax::ast::StmtKind;

/// At most this many `.fleet` files are read per directory when looking for an importer.
const MAX_FILES_PER_DIR: usize = 64;

/// A `.fleet` file in the buffer's directory or up to two directories above that imports it
/// directly, nearest directory first (file names in sorted order within one directory).
pub(crate) fn importer_on_disk(path: &Path) -> Option<PathBuf> {
    let target = normalize(path);
    let dir = target.parent()?;
    for d in dir.ancestors().take(3) {
        let Ok(entries) = std::fs::read_dir(d) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "fleet") && p.is_file())
            .filter(|p| normalize(p) != target)
            .collect();
        files.sort();
        files.truncate(MAX_FILES_PER_DIR);
        for f in files {
            if imports(&f, &target) {
                return Some(f);
            }
        }
    }
    None
}

/// True when the manifest `file` has an `import` that resolves to `target`.
fn imports(file: &Path, target: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    // A cheap filter before parsing: the import must name the target's file or folder.
    let stem = target.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let folder = target
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|s| s.to_str())
        .unwrap_or("");
    if !text.contains("import") || !(text.contains(stem) || text.contains(folder)) {
        return false;
    }
    let dir = file.parent().unwrap_or(Path::new(""));
    let (ast, _) = crate::syntax::parse(FileId(0), &text);
    ast.items.iter().any(|s| match &s.kind {
        StmtKind::Import { path, .. } => candidates(&dir.join(path))
            .iter()
            .any(|c| normalize(c) == target),
        _ => false,
    })
}

/// The files `import "x"` may name from a directory: `x` itself when it ends in `.fleet`,
/// else `x.fleet` and `x/init.fleet` (LANGUAGE.md §10.1).
fn candidates(base: &Path) -> Vec<PathBuf> {
    let s = base.to_string_lossy();
    if s.ends_with(".fleet") {
        vec![base.to_path_buf()]
    } else {
        vec![PathBuf::from(format!("{s}.fleet")), base.join("init.fleet")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_manifest_that_imports_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("roles")).unwrap();
        std::fs::create_dir_all(root.join("nginx")).unwrap();
        std::fs::write(root.join("a-other.fleet"), "import \"./elsewhere\"\n").unwrap();
        std::fs::write(
            root.join("site.fleet"),
            "import \"./roles/web.fleet\"\nimport \"nginx\"\n",
        )
        .unwrap();
        std::fs::write(root.join("roles/web.fleet"), "class web {}\n").unwrap();
        std::fs::write(root.join("nginx/init.fleet"), "class nginx {}\n").unwrap();
        std::fs::write(root.join("lonely.fleet"), "class lonely {}\n").unwrap();
        let site = root.join("site.fleet");
        assert_eq!(
            importer_on_disk(&root.join("roles/web.fleet")),
            Some(site.clone())
        );
        assert_eq!(importer_on_disk(&root.join("nginx/init.fleet")), Some(site));
        assert_eq!(importer_on_disk(&root.join("lonely.fleet")), None);
    }
}
