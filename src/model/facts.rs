//! Facts at Facter's paths (LANGUAGE.md §7), derived from fleet's own facts: shared by the
//! stand-in facts (`eval::facts`) and the facts gathered on a machine (`apply::facts`).

/// Adds the values of fleet's own facts at Facter's paths, for modules ported from Puppet
/// (LANGUAGE.md §7): `networking` (`hostname`, `domain`, `fqdn`, `ip`, `mac`, `interfaces`),
/// `os.architecture` and `os.distro.codename`. `domain` is the fqdn after the host name
/// (empty when the fqdn is the bare host name), `mac` the primary interface's (the one
/// holding `ip`; empty when none does). Facts already present are left alone.
pub(crate) fn add_facter_paths(
    facts: &mut serde_json::Map<String, serde_json::Value>,
    codename: &str,
) {
    use serde_json::{json, Value as J};
    let text = |k: &str| facts.get(k).and_then(J::as_str).unwrap_or("").to_string();
    let (hostname, fqdn, ip, arch) = (text("hostname"), text("fqdn"), text("ip"), text("arch"));
    let domain = fqdn
        .strip_prefix(&format!("{hostname}."))
        .unwrap_or("")
        .to_string();
    let interfaces = facts
        .get("interfaces")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mac = interfaces
        .as_object()
        .and_then(|ifs| {
            ifs.values()
                .find(|i| !ip.is_empty() && i["ip"].as_str() == Some(ip.as_str()))
        })
        .and_then(|i| i["mac"].as_str())
        .unwrap_or("")
        .to_string();
    facts.entry("networking").or_insert_with(|| {
        json!({
            "hostname": hostname,
            "domain": domain,
            "fqdn": fqdn,
            "ip": ip,
            "mac": mac,
            "interfaces": interfaces,
        })
    });
    if let Some(os) = facts.get_mut("os").and_then(J::as_object_mut) {
        os.entry("architecture").or_insert_with(|| json!(arch));
        os.entry("distro")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|d| d.entry("codename").or_insert_with(|| json!(codename)));
    }
}
