//! TEMPORARY stub until the catalog branch lands.

pub fn namevar(kind: &str) -> Option<&'static str> {
    match kind {
        "file" => Some("path"),
        "exec" => Some("command"),
        "package" | "user" | "group" | "service" | "release" => Some("name"),
        _ => None,
    }
}
