//! Facts for evaluation: a node's facts file, or the stand-in facts (LANGUAGE.md §7).

use std::path::Path;

use crate::model::value::Value;

/// The stand-in facts for a node without a facts file, with Facter's paths.
pub(crate) fn stand_in(node: &str) -> Value {
    let mut m = serde_json::json!({
        "hostname": node,
        "fqdn": node,
        "os": {"family": "debian", "name": "debian", "release": "12", "major": "12"},
        "virtual": "physical",
        "kernel": "Linux",
        "arch": "x86_64",
        "processors": 1,
        "memory_mb": 1024,
        "ip": "127.0.0.1",
        "interfaces": {},
    });
    if let Some(map) = m.as_object_mut() {
        crate::model::facts::add_facter_paths(map, "bookworm");
    }
    Value::from_json(&m)
}

/// Facts from a JSON file (an object); `Ok(None)` when there is no such file, an error
/// naming the file when it cannot be read, is not JSON or not an object.
pub(crate) fn read_file(path: &Path) -> Result<Option<Value>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "cannot read the facts file {}: {e}",
                path.display()
            ))
        }
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("the facts file {} is not JSON: {e}", path.display()))?;
    if !json.is_object() {
        return Err(format!(
            "the facts file {} is not a JSON object of facts",
            path.display()
        ));
    }
    Ok(Some(Value::from_json(&json)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_in_facts_have_facters_paths() {
        let v = stand_in("web01.example.net").to_json();
        assert_eq!(v["networking"]["fqdn"], "web01.example.net");
        assert_eq!(v["networking"]["hostname"], "web01.example.net");
        assert_eq!(v["networking"]["domain"], "");
        assert_eq!(v["networking"]["mac"], "");
        assert_eq!(v["networking"]["ip"], "127.0.0.1");
        assert_eq!(v["os"]["architecture"], "x86_64");
        assert_eq!(v["os"]["distro"]["codename"], "bookworm");
    }

    #[test]
    fn facter_paths_take_domain_and_mac_from_the_facts_and_keep_what_is_there() {
        let mut m = serde_json::json!({
            "hostname": "web01", "fqdn": "web01.example.net", "ip": "10.0.0.5", "arch": "aarch64",
            "os": {"family": "debian", "distro": {"codename": "trixie"}},
            "interfaces": {"eth0": {"mac": "52:54:00:aa:bb:cc", "ip": "10.0.0.5"},
                           "eth1": {"mac": "52:54:00:00:00:01", "ip": "10.1.0.5"}},
        });
        crate::model::facts::add_facter_paths(m.as_object_mut().unwrap(), "bookworm");
        assert_eq!(m["networking"]["domain"], "example.net");
        assert_eq!(m["networking"]["mac"], "52:54:00:aa:bb:cc");
        assert_eq!(m["os"]["architecture"], "aarch64");
        assert_eq!(m["os"]["distro"]["codename"], "trixie");
    }
}
