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
/// naming the file when it cannot be read, is not JSON or not an object. Facter's paths
/// (`networking`, `os.architecture`, `os.distro.codename`) the file leaves out are filled in
/// from fleet's own facts in it, as for the stand-in facts; the codename, which fleet's
/// facts do not say, is then empty.
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
    let mut json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("the facts file {} is not JSON: {e}", path.display()))?;
    if !json.is_object() {
        return Err(format!(
            "the facts file {} is not a JSON object of facts",
            path.display()
        ));
    }
    if let Some(map) = json.as_object_mut() {
        crate::model::facts::add_facter_paths(map, "");
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
    fn a_facts_file_gets_facters_paths_it_leaves_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db01.json");
        std::fs::write(
            &path,
            r#"{"hostname": "db01", "fqdn": "db01.example.net", "ip": "10.0.0.7",
                "arch": "aarch64", "os": {"family": "redhat", "name": "rocky"},
                "networking": {"ip": "10.9.9.9"}}"#,
        )
        .unwrap();
        let v = read_file(&path).unwrap().unwrap().to_json();
        assert_eq!(v["os"]["architecture"], "aarch64");
        assert_eq!(v["os"]["distro"]["codename"], "");
        // What the file says stays as it is.
        assert_eq!(v["networking"], serde_json::json!({"ip": "10.9.9.9"}));
        assert_eq!(v["os"]["name"], "rocky");
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
