//! Facts for evaluation: a node's facts file, or the stand-in facts (LANGUAGE.md §7).

use std::path::Path;

use indexmap::IndexMap;

use crate::model::value::Value;

/// The stand-in facts for a node without a facts file.
pub fn stand_in(node: &str) -> Value {
    let mut os = IndexMap::new();
    os.insert("family".to_string(), Value::str("debian"));
    os.insert("name".to_string(), Value::str("debian"));
    os.insert("release".to_string(), Value::str("12"));
    os.insert("major".to_string(), Value::str("12"));
    let mut m = IndexMap::new();
    m.insert("hostname".to_string(), Value::str(node));
    m.insert("fqdn".to_string(), Value::str(node));
    m.insert("os".to_string(), Value::map(os));
    m.insert("virtual".to_string(), Value::str("physical"));
    m.insert("kernel".to_string(), Value::str("Linux"));
    m.insert("arch".to_string(), Value::str("x86_64"));
    m.insert("processors".to_string(), Value::Int(1));
    m.insert("memory_mb".to_string(), Value::Int(1024));
    m.insert("ip".to_string(), Value::str("127.0.0.1"));
    m.insert("interfaces".to_string(), Value::map(IndexMap::new()));
    Value::map(m)
}

/// Facts from a JSON file (an object); `Ok(None)` when there is no such file, an error
/// naming the file when it cannot be read, is not JSON or not an object.
pub fn read_file(path: &Path) -> Result<Option<Value>, String> {
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
