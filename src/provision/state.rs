//! `DIR/installed.json`: the nodes whose installer reported `POST /done/<node>`. Their next
//! `fleet provision` gives them boot entries that boot from the local disk (Cobbler's
//! netboot flag); `provision reinstall --netboot` takes a node out again.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file's name inside the output directory.
pub(crate) const FILE: &str = "installed.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Installed {
    installed: BTreeSet<String>,
}

/// The installed nodes; none when the file does not exist.
pub(crate) fn read_installed(dir: &Path) -> Result<BTreeSet<String>, String> {
    let path = dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<Installed>(&bytes)
            .map(|i| i.installed)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes the set (through a temporary file and a rename: readers see the old or the new).
pub(crate) fn write_installed(dir: &Path, nodes: &BTreeSet<String>) -> Result<(), String> {
    let path = dir.join(FILE);
    let doc = Installed {
        installed: nodes.clone(),
    };
    let mut bytes = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    let tmp = dir.join(format!(".{FILE}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, &bytes)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("{}: {e}", path.display()))
}
