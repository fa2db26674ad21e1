//! `provision.json`: what `fleet provision` wrote, per node, for other tools (and for
//! `provision serve`, `reinstall` and `vm`). Sorted by node name; deterministic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The document's format number.
pub(crate) const FORMAT: u32 = 1;

/// The whole document.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Document {
    pub format: u32,
    pub nodes: BTreeMap<String, NodeRecord>,
}

/// One node's entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct NodeRecord {
    pub mac: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    pub hostname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `install` (its boot entries start the installer) or `local` (boot from disk).
    pub boot: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm: Option<VmRecord>,
    /// The files written for this node, relative to the output directory.
    pub files: Vec<String>,
}

/// A node's VM.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct VmRecord {
    pub host: String,
    pub ram_mb: i64,
    pub cpus: i64,
    pub disk_gb: i64,
}

/// The document's bytes (pretty JSON, a final newline).
pub(crate) fn document(nodes: BTreeMap<String, NodeRecord>) -> Vec<u8> {
    let doc = Document {
        format: FORMAT,
        nodes,
    };
    let mut out = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Reads `DIR/provision.json`.
pub(crate) fn read(dir: &std::path::Path) -> Result<Document, String> {
    let path = dir.join("provision.json");
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}
