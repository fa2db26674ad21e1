//! The provisioned nodes: every node block with one string name and a `provision` record
//! (and, with `--node`, a name that matches), evaluated, with its install profile evaluated
//! for it. Every problem is a diagnostic with a span, as `fleet check` gives them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::{Options, Server};
use crate::diag::{Code, Diagnostic};
use crate::eval::index::Index;
use crate::eval::profile::{self, Evaluated};
use crate::eval::provision::Provisioned;
use crate::model::value::Value;
use crate::program::Program;
use crate::source::Span;
use crate::syntax::ast::{NodeDef, NodeName, StmtKind};

/// One node as the install server sees it.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub name: String,
    /// Lower case, colons (`52:54:00:00:00:01`).
    pub mac: String,
    /// The address and its prefix length (`/24` when the record gives none).
    pub ip: Option<(IpAddr, u8)>,
    pub gateway: Option<IpAddr>,
    pub dns: Vec<IpAddr>,
    pub hostname: String,
    /// The install profile's name and its values for this node.
    pub profile: Option<(String, Evaluated)>,
    /// `netboot = false`: boot from the local disk.
    pub netboot: bool,
    pub vm: Option<Vm>,
}

/// A node's `vm = { … }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Vm {
    pub host: String,
    pub ram_mb: i64,
    pub cpus: i64,
    pub disk_gb: i64,
}

/// The node blocks that can carry a `provision` record: one string name, the record
/// directly in the body.
fn provisioned_blocks<'p>(index: &Index<'p>, patterns: &[String]) -> Vec<(String, &'p NodeDef)> {
    let mut out = Vec::new();
    for block in &index.nodes {
        let [NodeName::Name(name, _)] = &block.def.names[..] else {
            continue;
        };
        if !block
            .def
            .body
            .iter()
            .any(|s| matches!(s.kind, StmtKind::Provision { .. }))
        {
            continue;
        }
        if !patterns.is_empty() && !patterns.iter().any(|p| super::glob_match(p, name)) {
            continue;
        }
        out.push((name.clone(), block.def));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Evaluates the chosen nodes and their profiles; the nodes (sorted by name) and every
/// diagnostic (errors make the run write nothing).
pub(crate) fn collect(
    program: &Program,
    opts: &Options,
    server: &Server,
) -> (Vec<Node>, Vec<Diagnostic>) {
    let mut diags: Vec<Diagnostic> = program.load_diags.clone();
    if program.has_syntax_errors() {
        return (Vec::new(), crate::program::finish(diags, &program.sources));
    }
    let index = program.index();
    diags.extend(index.diags.iter().cloned());
    let blocks = provisioned_blocks(&index, &opts.nodes);
    let ctx = program.evaluation_context(&index);
    let evaluated = parallel(&blocks, |(name, def)| {
        let (facts, bad) = program.facts_for(name);
        let (mut eval, mut d) = crate::eval::evaluate(
            program.loaded(),
            &index,
            name,
            Some(def),
            facts.clone(),
            ctx,
        );
        d.retain(Diagnostic::is_error);
        d.extend(bad);
        let record = match (eval.provision.take(), eval.provision_spans.take()) {
            (Some(v), Some(s)) => Some((v, s)),
            _ => None,
        };
        (name.clone(), facts, record, d)
    });
    let mut records: Vec<(String, Value, Provisioned)> = Vec::new();
    for (name, facts, record, d) in evaluated {
        diags.extend(d);
        if let Some(r) = record {
            records.push((name, facts, r));
        }
    }
    let provisioned: Vec<Provisioned> = records.iter().map(|(_, _, r)| r.clone()).collect();
    diags.extend(crate::eval::provision::duplicate_addresses(&provisioned));
    diags.extend(profile::unknown_profiles(&index, &provisioned));
    let main_dir = program.main_dir.clone();
    let nodes = parallel(&records, |(name, facts, (values, spans))| {
        node(
            program, &index, &main_dir, server, name, facts, values, spans,
        )
    });
    let mut out = Vec::new();
    for (n, d) in nodes {
        diags.extend(d);
        out.extend(n);
    }
    (out, crate::program::finish(diags, &program.sources))
}

/// One node from its record: its profile evaluated, its boot files checked.
#[allow(clippy::too_many_arguments)]
fn node(
    program: &Program,
    index: &Index<'_>,
    main_dir: &Path,
    server: &Server,
    name: &str,
    facts: &Value,
    values: &IndexMap<String, Value>,
    spans: &IndexMap<String, Span>,
) -> (Option<Node>, Vec<Diagnostic>) {
    let text = |k: &str| values.get(k).and_then(Value::as_str).map(str::to_string);
    let ips = |k: &str| -> Vec<IpAddr> {
        match values.get(k) {
            Some(Value::Array(a)) => a.iter().filter_map(|v| parse_ip(v.as_str()?)).collect(),
            _ => Vec::new(),
        }
    };
    let hostname = text("hostname").unwrap_or_else(|| name.to_string());
    let mut record = values.clone();
    record
        .entry("hostname".into())
        .or_insert_with(|| Value::str(hostname.as_str()));
    let mut diags = Vec::new();
    let mut profile_out = None;
    if let Some(pname) = text("profile") {
        let Some(def) = index.profiles.get(pname.as_str()) else {
            // Reported as unresolved-reference.
            return (None, diags);
        };
        let bindings = vec![
            ("provision".to_string(), Value::map(record.clone())),
            ("server".to_string(), server.value(name)),
        ];
        let (ev, d) = profile::evaluate(
            program.loaded(),
            index,
            def.def,
            name,
            facts.clone(),
            bindings,
        );
        diags.extend(d.into_iter().filter(Diagnostic::is_error));
        let Some(mut ev) = ev else {
            return (None, diags);
        };
        for key in ["kernel", "initrd"] {
            if let (Some(Value::Str(p)), Some(span)) = (ev.values.get(key), ev.spans.get(key)) {
                if let Some(d) = check_boot_file(main_dir, key, p, *span) {
                    diags.push(d);
                } else if !is_url(p) {
                    // The tree copies the file from where it is here.
                    let resolved = resolve(main_dir, p).to_string_lossy().into_owned();
                    ev.values.insert(key.to_string(), Value::str(resolved));
                }
            }
        }
        profile_out = Some((pname, ev));
    }
    let ip = text("ip").and_then(|s| {
        let (a, p) = s
            .split_once('/')
            .map_or((s.as_str(), None), |(a, p)| (a, Some(p)));
        let addr = parse_ip(a)?;
        let prefix = p
            .and_then(|p| p.parse().ok())
            .unwrap_or(if addr.is_ipv4() { 24 } else { 64 });
        Some((addr, prefix))
    });
    let vm = match values.get("vm") {
        Some(Value::Map(m)) => {
            let int = |k: &str| match m.get(k) {
                Some(Value::Int(i)) => Some(*i),
                _ => None,
            };
            match (
                m.get("host").and_then(Value::as_str),
                int("ram_mb"),
                int("cpus"),
                int("disk_gb"),
            ) {
                (Some(host), Some(ram_mb), Some(cpus), Some(disk_gb)) => Some(Vm {
                    host: host.to_string(),
                    ram_mb,
                    cpus,
                    disk_gb,
                }),
                _ => {
                    if let Some(span) = spans.get("vm") {
                        diags.push(Diagnostic::error(
                            Code::MissingAttribute,
                            *span,
                            "a VM needs all of host, ram_mb, cpus and disk_gb",
                        ));
                    }
                    None
                }
            }
        }
        _ => None,
    };
    let node = Node {
        name: name.to_string(),
        mac: text("mac").unwrap_or_default().to_ascii_lowercase(),
        ip,
        gateway: text("gateway").and_then(|g| parse_ip(g.split('/').next()?)),
        dns: ips("dns"),
        hostname,
        profile: profile_out,
        netboot: !matches!(values.get("netboot"), Some(Value::Bool(false))),
        vm,
    };
    (Some(node), diags)
}

/// `source-not-found` for a kernel or initrd path on this machine that is not a file (an
/// http(s) URL is the installer's business).
fn check_boot_file(main_dir: &Path, key: &str, written: &str, span: Span) -> Option<Diagnostic> {
    if is_url(written) {
        return None;
    }
    let path = resolve(main_dir, written);
    if path.is_file() {
        return None;
    }
    Some(
        Diagnostic::error(
            Code::SourceNotFound,
            span,
            format!("the profile's {key} `{}` is not a file here", path.display()),
        )
        .with_primary("no such file")
        .with_help("fleet provision copies the kernel and initrd into the TFTP tree: install them on this machine (or give an http(s) URL)"),
    )
}

/// True for an `http://` or `https://` URL.
pub(crate) fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// A boot-file path as written: absolute, or relative to the main manifest's directory.
pub(crate) fn resolve(main_dir: &Path, written: &str) -> PathBuf {
    let p = Path::new(written);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        main_dir.join(p)
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

/// `f` over `items` on every core, results in order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = crate::par::cores().min(items.len());
    if workers >= 2 {
        if let Some(out) = crate::par::map(workers, 256 << 20, items, |x| Some(f(x))) {
            return out;
        }
    }
    items.iter().map(f).collect()
}
