//! NodeEval -> Catalog: validation, identity by namevar, merging identical duplicates, content
//! for `source`/`repo`, then relationships resolved and expanded onto native resources.

use crate::model::attrs::AttrMap;
use crate::model::fxhash::{FxHashMap as HashMap, FxHashSet};

use indexmap::IndexMap;

use super::content::{self, GitError, Located};
use super::identity::{identity, identity_hash, reference_text, Declarations, IdentityIndex};
use super::store::ContentStore;
use super::{validate, BuildOptions, Catalog};
use crate::diag::{Code, Diagnostic};
use crate::model::attrs::Attr;
use crate::model::declared::{Declared, NodeEval, Resource};
use crate::model::schema::{self, TypeSchema};
use crate::model::value::Value;
use crate::source::SourceMap;

/// See [`super::build_with`].
pub(crate) fn build(
    mut eval: NodeEval,
    sources: &SourceMap,
    store: &ContentStore,
    opts: &BuildOptions,
) -> (Catalog, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut catalog = Catalog {
        node: eval.node.clone(),
        resources: Vec::new(),
        edges: Vec::new(),
        provision: eval.provision.take(),
    };
    let resolved = declare(&mut eval, &mut catalog, sources, &mut diags);
    for res in &mut catalog.resources {
        attach_content(res, sources, store, opts, &mut diags);
    }
    unknown_groups(&catalog, &eval.fact_groups, sources, &mut diags);
    let relations = std::mem::take(&mut eval.relations);
    catalog.edges = super::relate::relations(&eval, relations, &catalog, &resolved, &mut diags);
    (catalog, diags)
}

/// Groups every Debian system has (base-passwd's static groups, and those its base packages
/// and systemd add); a user's `groups` may name these without managing them.
const SYSTEM_GROUPS: &[&str] = &[
    "root",
    "daemon",
    "bin",
    "sys",
    "adm",
    "tty",
    "disk",
    "lp",
    "mail",
    "news",
    "uucp",
    "man",
    "proxy",
    "kmem",
    "dialout",
    "fax",
    "voice",
    "cdrom",
    "floppy",
    "tape",
    "sudo",
    "audio",
    "dip",
    "www-data",
    "backup",
    "operator",
    "list",
    "irc",
    "src",
    "shadow",
    "utmp",
    "video",
    "sasl",
    "plugdev",
    "staff",
    "games",
    "users",
    "nogroup",
    "input",
    "kvm",
    "render",
    "netdev",
    "crontab",
    "messagebus",
    "ssh",
    "_ssh",
    "systemd-journal",
    "systemd-network",
    "systemd-resolve",
    "systemd-timesync",
    "wheel",
];

/// The lint `unknown-group`: a user's `groups` entry that the catalog does not manage (a
/// `group` not `absent`, or the private group `useradd` makes for a managed user without
/// `gid`), that the node's facts do not list (`$facts.groups`) and that is not a well-known
/// system group ([`SYSTEM_GROUPS`]) — `useradd -G` fails
/// on it at apply. A warning: a package may create the group (`docker.io` makes `docker`).
/// Numeric entries (gids) are left alone.
fn unknown_groups(
    catalog: &Catalog,
    fact_groups: &[String],
    sources: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) {
    let absent =
        |r: &Resource| r.params.get("ensure").and_then(|a| a.value.as_str()) == Some("absent");
    let mut known: FxHashSet<&str> = SYSTEM_GROUPS.iter().copied().collect();
    known.extend(fact_groups.iter().map(String::as_str));
    for r in catalog.resources.iter().filter(|r| !absent(r)) {
        match r.kind.as_str() {
            "group" => {
                known.insert(&r.title);
            }
            "user" if !r.params.contains_key("gid") => {
                known.insert(&r.title);
            }
            _ => {}
        }
    }
    for r in catalog.resources.iter().filter(|r| r.kind == "user") {
        let Some(attr) = r.params.get("groups") else {
            continue;
        };
        let names: Vec<&str> = match &attr.value {
            Value::Str(s) => vec![&**s],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        for name in names {
            if known.contains(name) || name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let mut candidates: Vec<&str> = known.iter().copied().collect();
            candidates.sort_unstable();
            // At the name's string when the value is written as a literal, else the value.
            let whole = attr.value_span();
            let span = ((whole.file.0 as usize) < sources.len())
                .then(|| sources.slice(whole))
                .and_then(|text| {
                    let at = text
                        .find(&format!("\"{name}\""))
                        .or_else(|| text.find(&format!("'{name}'")))?;
                    let start = whole.start as usize + at;
                    Some(crate::source::Span::new(
                        whole.file,
                        start,
                        start + name.len() + 2,
                    ))
                })
                .unwrap_or(whole);
            let d = Diagnostic::warning(
                Code::UnknownGroup,
                span,
                format!(
                    "user `{}` joins group `{name}`: not managed here, not a well-known system group, not in `$facts.groups`",
                    r.title
                ),
            )
            .with_primary(format!("`{name}` is not known"));
            let d = match crate::diag::suggest::closest(name, candidates) {
                Some(c) => d.with_help(format!("did you mean `{c}`?")),
                None => d.with_help(format!(
                    "declare it (`group \"{name}\" {{}}`), or ignore this if a package creates it"
                )),
            };
            diags.push(d);
        }
    }
}

/// Validates every declaration and adds it to the catalog, merging identical duplicates.
///
/// The catalog is built in the evaluation's vector of declarations: each declaration is
/// freed as its resource takes its place (a first declaration that later ones repeat is kept
/// aside, as written, to compare them with), so that the evaluation and the catalog are not
/// both whole in memory at once; afterwards `eval.resources` is empty.
fn declare(
    eval: &mut NodeEval,
    catalog: &mut Catalog,
    sources: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Declarations {
    let n = eval.resources.len();
    let mut d = Declarations {
        of_decl: vec![None; n],
        by_identity: IdentityIndex::empty(),
        by_title: HashMap::default(),
        by_alias: HashMap::default(),
        unknown: Default::default(),
    };
    // First pass: the first declaration of every declaration's identity (a table of
    // declaration numbers, hashed by type and identity).
    let mut first_of: Vec<u32> = Vec::with_capacity(n);
    // Whether a later declaration has the same identity (its attributes must stay).
    let mut repeated = vec![false; n];
    {
        let decls = &eval.resources;
        let key = |j: u32| {
            let dj = &decls[j as usize];
            let ty = schema::get(&dj.kind).expect("only known types are in the table");
            identity_hash(ty.name, identity(dj, ty))
        };
        let mut firsts: hashbrown::HashTable<u32> = hashbrown::HashTable::with_capacity(n);
        for (i, decl) in decls.iter().enumerate() {
            let first = match schema::get(&decl.kind) {
                Some(ty) => {
                    let id = identity(decl, ty);
                    let same = |&j: &u32| {
                        let dj = &decls[j as usize];
                        dj.kind == decl.kind && identity(dj, ty) == id
                    };
                    let h = identity_hash(ty.name, id);
                    match firsts.find(h, same) {
                        Some(&j) => j as usize,
                        None => {
                            firsts.insert_unique(h, i as u32, |&j| key(j));
                            i
                        }
                    }
                }
                None => i,
            };
            if first != i {
                repeated[first] = true;
            }
            first_of.push(first as u32);
        }
    }
    // Second pass, in place: each declaration is taken out of the evaluation's vector and its
    // resource written at or before its position, so the catalog is built in the same memory.
    let mut decls = std::mem::take(&mut eval.resources);
    // First declarations that later ones repeat, as written, to compare those with.
    let mut as_written: HashMap<usize, Declared> = HashMap::default();
    let mut len = 0;
    for i in 0..n {
        let mut decl = std::mem::take(&mut decls[i]);
        let Some(ty) = schema::get(&decl.kind) else {
            diags.push(
                Diagnostic::error(
                    Code::UnknownResourceType,
                    decl.kind_span,
                    format!("unknown resource type `{}`", decl.kind),
                )
                .with_primary("not a resource type")
                .with_suggestion(&decl.kind, schema::type_names()),
            );
            d.unknown.insert((decl.kind.to_string(), decl.title));
            continue;
        };
        let first_i = first_of[i] as usize;
        if first_i != i {
            let r = d.of_decl[first_i].expect("a first declaration is always in the catalog");
            let first = &as_written[&first_i];
            match first_difference(first, &decl) {
                None => {
                    d.of_decl[i] = Some(r);
                    let tags = &mut decls[r].tags;
                    for t in &decl.tags {
                        if !tags.contains(t) {
                            tags.push(*t);
                        }
                    }
                    add_aliases(&mut d, ty, &decl, r);
                }
                Some(diff) => {
                    // Its own problems still count; it joins nothing.
                    validate::check(&decl, ty, sources, diags);
                    let id = &decls[r].title;
                    diags.push(
                        Diagnostic::error(
                            Code::DuplicateResource,
                            decl.kind_span,
                            format!("{} is already declared", reference_text(ty.name, id)),
                        )
                        .with_primary("declared again with different attributes")
                        .with_label(first.kind_span, "first declared here")
                        .with_note(diff)
                        .with_help(
                            "declarations of one resource merge only when all their attributes are equal",
                        ),
                    );
                }
            }
            continue;
        }
        if repeated[i] {
            as_written.insert(i, decl.clone());
        }
        let params = validate::check(&decl, ty, sources, diags);
        let r = len;
        d.of_decl[i] = Some(r);
        add_aliases(&mut d, ty, &decl, r);
        // An exec's identity is its command line: the title written stays for display.
        let label = (ty.name == "exec" && identity(&decl, ty) != decl.title)
            .then(|| decl.title.as_str().into());
        let title = if identity(&decl, ty) == decl.title {
            std::mem::take(&mut decl.title)
        } else {
            let id = identity(&decl, ty).to_string();
            d.by_title.entry((ty.name, decl.title)).or_insert(r);
            id
        };
        let mut tags = Vec::with_capacity(decl.tags.len() + 1);
        // The kind as written is the schema's name (`schema::get` matched it exactly).
        tags.push(decl.kind);
        for t in &decl.tags {
            if !tags.contains(t) {
                tags.push(*t);
            }
        }
        decls[r] = Resource {
            kind: decl.kind,
            title,
            label,
            params,
            tags,
            kind_span: decl.kind_span,
            title_span: decl.title_span,
        };
        len += 1;
    }
    decls.truncate(len);
    catalog.resources = decls;
    d.by_identity = IdentityIndex::new(catalog);
    d
}

fn add_aliases(d: &mut Declarations, ty: &TypeSchema, decl: &Declared, r: usize) {
    let Some(alias) = decl.params.get("alias") else {
        return;
    };
    let names: Vec<&str> = match &alias.value {
        Value::Str(s) => vec![s],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    for n in names {
        d.by_alias.entry((ty.name, n.to_string())).or_insert(r);
    }
}

/// Why two declarations of one resource do not merge (attributes compared without
/// metaparameters and `none`s), or None when they are equal. The namevar is left out: both
/// declarations already have the same identity, whether it came from the title or was set
/// (`file "motd" { path = "/etc/motd" }` is `file "/etc/motd" {}`).
fn first_difference(a: &Declared, b: &Declared) -> Option<String> {
    let namevar = schema::namevar(&a.kind);
    fn relevant<'a>(d: &'a Declared, namevar: Option<&str>) -> IndexMap<&'a str, Value> {
        d.params
            .iter()
            .filter(|(k, v)| {
                !v.value.is_none() && !schema::is_metaparam(k) && Some(k.as_str()) != namevar
            })
            .map(|(k, v)| (k.as_str(), v.value.clone()))
            .collect()
    }
    let (ra, rb) = (relevant(a, namevar), relevant(b, namevar));
    for (k, va) in &ra {
        match rb.get(k) {
            Some(vb) if vb == va => {}
            Some(vb) => return Some(format!("`{k}` is {vb} here but {va} in the first")),
            None => return Some(format!("`{k}` is set only in the first")),
        }
    }
    rb.keys()
        .find(|k| !ra.contains_key(*k))
        .map(|k| format!("`{k}` is set only here"))
}

/// Replaces a `file`/`release` `source` by `content_sha256` (reading it into the store), and
/// resolves a release's `repo` to `commit` + `content_sha256`; fills a release's `version`.
fn attach_content(
    res: &mut Resource,
    sources: &SourceMap,
    store: &ContentStore,
    opts: &BuildOptions,
    diags: &mut Vec<Diagnostic>,
) {
    if res.kind != "file" && res.kind != "release" {
        return;
    }
    let mut version_seed = None;
    if let Some(src) = res.params.get("source").cloned() {
        let text = src.value.as_str().unwrap_or_default().to_string();
        match content::locate(&text, src.value_span(), sources, opts) {
            Located::Missing(why) => {
                diags.push(
                    Diagnostic::error(
                        Code::SourceNotFound,
                        src.value_span(),
                        format!("source `{text}` not found: {why}"),
                    )
                    .with_primary("not found")
                    .with_help(
                        "relative paths start at the directory of this .fleet file; `module:path` names a path inside a module",
                    ),
                );
                return;
            }
            Located::Found(path) if opts.load_content => match content::add_source(&path, store) {
                Ok(sha) => {
                    version_seed = Some(sha.clone());
                    replace_attr(&mut res.params, "source", "content_sha256", Value::str(sha));
                }
                Err(e) => {
                    let code = match e {
                        crate::limits::ReadError::TooBig(_) => Code::ResourceLimit,
                        _ => Code::SourceNotFound,
                    };
                    diags.push(
                        Diagnostic::error(
                            code,
                            src.value_span(),
                            format!("cannot read source `{}`: {e}", path.display()),
                        )
                        .with_primary("unreadable"),
                    );
                    return;
                }
            },
            // `check` reads no content, but a FIFO or a device is refused already.
            Located::Found(path) => {
                if let Err(e) = content::kind_ok(&path) {
                    diags.push(
                        Diagnostic::error(
                            Code::SourceNotFound,
                            src.value_span(),
                            format!("cannot read source `{}`: {e}", path.display()),
                        )
                        .with_primary("not a file or directory"),
                    );
                    return;
                }
            }
        }
    }
    if res.kind != "release" {
        return;
    }
    if let Some(repo) = res.params.get("repo").cloned() {
        let url = repo.value.as_str().unwrap_or_default().to_string();
        let local = match content::locate(&url, repo.value_span(), sources, opts) {
            Located::Found(p) => Some(p),
            Located::Missing(_) => None,
        };
        let revision = res.params.get("revision").cloned();
        let rev = revision
            .as_ref()
            .and_then(|r| r.value.as_str())
            .unwrap_or("HEAD")
            .to_string();
        let git_problem = |e: GitError| match e {
            GitError::Repo(why) => Diagnostic::error(
                Code::SourceNotFound,
                repo.value_span(),
                format!("repository `{url}` cannot be read: {why}"),
            )
            .with_primary("not a readable git repository"),
            GitError::Revision(why) => Diagnostic::error(
                Code::InvalidValue,
                revision
                    .as_ref()
                    .map_or(repo.value_span(), |r| r.value_span()),
                format!("revision `{rev}` not found: {why}"),
            )
            .with_primary("no such branch, tag or commit"),
        };
        if !opts.load_content {
            // `check` exports nothing, but resolves the revision where it can offline.
            if let Err(e) = content::verify_revision(&url, local.as_deref(), &rev) {
                diags.push(git_problem(e));
            }
            return;
        }
        match content::git_export(&url, local.as_deref(), &rev) {
            Ok((commit, tar)) => {
                // Shared with the export cache, not copied.
                let sha = store.add_shared(tar);
                version_seed = Some(commit.clone());
                let at =
                    |a: &Attr, v: String| Attr::new(Value::str(v), a.name_span(), a.value_span());
                res.params.insert("commit", at(&repo, commit));
                res.params.insert("content_sha256", at(&repo, sha));
            }
            Err(e) => diags.push(git_problem(e)),
        }
    }
    if let Some(seed) = version_seed {
        if !res.params.contains_key("version") {
            let anchor = res
                .params
                .get("content_sha256")
                .cloned()
                .expect("content set with the seed");
            res.params.insert(
                "version",
                Attr::new(
                    Value::str(&seed[..12.min(seed.len())]),
                    anchor.name_span(),
                    anchor.value_span(),
                ),
            );
        }
    }
}

/// Renames `old` to `new` in place (same position, same spans) with a new value.
fn replace_attr(params: &mut AttrMap, old: &str, new: &str, value: Value) {
    if let Some(i) = params.get_index_of(old) {
        let (_, mut attr) = params.shift_remove_index(i).expect("index exists");
        attr.value = value;
        params.shift_insert(i, new.to_string(), attr);
    }
}
