//! `provision { … }`: what an install server needs to know about a node (LANGUAGE.md §7).

use crate::model::attrs::AttrMap;
use indexmap::IndexMap;

use crate::diag::{Code, Diagnostic};
use crate::model::value::Value;
use crate::source::Span;

/// The keys a `provision` block takes.
pub(crate) const KEYS: &[&str] = &[
    "mac",
    "ip",
    "gateway",
    "dns",
    "hostname",
    "profile",
    "partitions",
    "netboot",
    "vm",
];

/// Checks a provision block; returns its values, their spans and the problems.
pub(crate) fn validate(
    keyword: Span,
    attrs: AttrMap,
) -> (
    IndexMap<String, Value>,
    IndexMap<String, Span>,
    Vec<Diagnostic>,
) {
    let mut diags = Vec::new();
    let mut values = IndexMap::new();
    let mut spans = IndexMap::new();
    for (k, a) in attrs {
        if !KEYS.contains(&k.as_str()) {
            diags.push(
                Diagnostic::error(
                    Code::UnknownAttribute,
                    a.name_span(),
                    format!("`provision` has no key `{k}`"),
                )
                .with_suggestion(&k, KEYS.iter().copied()),
            );
            continue;
        }
        let ok = match k.as_str() {
            "mac" => matches!(&a.value, Value::Str(s) if is_mac(s)),
            "ip" | "gateway" => matches!(&a.value, Value::Str(s) if is_ip(s)),
            "hostname" | "profile" => matches!(a.value, Value::Str(_)),
            "dns" => {
                matches!(&a.value, Value::Array(x) if x.iter().all(|v| matches!(v, Value::Str(s) if is_ip(s))))
            }
            "partitions" => {
                matches!(&a.value, Value::Array(x) if x.iter().all(|v| matches!(v, Value::Str(s) if s.contains(':'))))
            }
            "netboot" => matches!(a.value, Value::Bool(_)),
            "vm" => matches!(&a.value, Value::Map(_)),
            _ => true,
        };
        if !ok {
            let want = match k.as_str() {
                "mac" => "a MAC address like \"52:54:00:00:00:01\"",
                "ip" | "gateway" => {
                    "an IP address, optionally with a prefix length (\"10.1.1.11/24\")"
                }
                "dns" => "an Array of IP addresses",
                "partitions" => "an Array of \"mount:size\" Strings",
                "netboot" => "a Bool",
                "vm" => "a Map like { host: \"kvm01\", ram_mb: 4096, cpus: 2, disk_gb: 40 }",
                _ => "a String",
            };
            diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    a.value_span(),
                    format!("`{k}` must be {want}"),
                )
                .with_primary(format!("this is {}", a.value)),
            );
            continue;
        }
        if k == "vm" {
            if let Value::Map(m) = &a.value {
                for (vk, vv) in m.iter() {
                    let good = match vk.as_str() {
                        "host" => matches!(vv, Value::Str(_)),
                        "ram_mb" | "cpus" | "disk_gb" => matches!(vv, Value::Int(i) if *i > 0),
                        _ => false,
                    };
                    if !good {
                        diags.push(Diagnostic::error(
                            Code::InvalidValue,
                            a.value_span(),
                            format!("`vm.{vk}` is not valid: vm takes host (String), ram_mb, cpus, disk_gb (positive Ints)"),
                        ));
                    }
                }
            }
        }
        spans.insert(k.to_string(), a.value_span());
        values.insert(k.to_string(), a.value);
    }
    if !values.contains_key("mac") && !diags.iter().any(|d| d.message.starts_with("`mac`")) {
        diags.push(
            Diagnostic::error(
                Code::MissingAttribute,
                keyword,
                "`provision` needs the node's `mac`",
            )
            .with_help(
                "add `mac = \"52:54:00:…\"`: the install server recognises the machine by it",
            ),
        );
    }
    (values, spans, diags)
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_ip(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|n| n <= max))
}

/// One node's provision values and where each was written.
pub(crate) type Provisioned = (IndexMap<String, Value>, IndexMap<String, Span>);

/// `duplicate-address`: two nodes with the same MAC (case-insensitive) or IP (prefix aside).
pub(crate) fn duplicate_addresses(nodes: &[Provisioned]) -> Vec<Diagnostic> {
    let mut seen: std::collections::HashMap<(String, String), Span> =
        std::collections::HashMap::new();
    let mut out = Vec::new();
    for (values, spans) in nodes {
        for key in ["mac", "ip"] {
            let Some(Value::Str(s)) = values.get(key) else {
                continue;
            };
            let norm = match key {
                "mac" => s.to_lowercase(),
                _ => s.split('/').next().unwrap_or("").to_string(),
            };
            let span = spans[key];
            match seen.get(&(key.to_string(), norm.clone())) {
                Some(first) => out.push(
                    Diagnostic::error(
                        Code::DuplicateAddress,
                        span,
                        format!(
                            "{} {s} is already given to another node",
                            if key == "mac" { "MAC" } else { "IP" }
                        ),
                    )
                    .with_label(*first, "first given here"),
                ),
                None => {
                    seen.insert((key.to_string(), norm), span);
                }
            }
        }
    }
    out
}
