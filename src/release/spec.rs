//! A `release` resource's parameters as the apply engine receives them (catalog `params`).

use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

/// `ensure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ensure {
    Present,
    Absent,
}

/// A user or group: a name (looked up in `etc/passwd` / `etc/group`) or a numeric id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Id {
    Name(String),
    Num(u32),
}

/// What one release resource asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The resource title (`release "shop"`).
    pub name: String,
    /// The deploy root, absolute, as the catalog names it (not yet under `--root`).
    pub path: PathBuf,
    /// The release id: `version`, or the first 12 hex digits of `commit`, else of the content.
    pub id: String,
    pub keep: usize,
    /// Relative paths inside the release, linked into `shared/`; a trailing `/` is kept.
    pub shared: Vec<String>,
    pub owner: Option<Id>,
    pub group: Option<Id>,
    pub before_switch: Option<String>,
    pub after_switch: Option<String>,
    pub ensure: Ensure,
    /// sha256 of the release bytes (a tarball, or a tar made at compile time). `None` only
    /// with `ensure = absent`.
    pub content_sha256: Option<String>,
    /// The git commit the content was exported from, when the source was a repository.
    pub commit: Option<String>,
}

pub(super) const DEFAULT_KEEP: usize = 5;

impl Spec {
    /// Reads catalog params. `source`, `repo` and `revision` are compile-time inputs and are
    /// ignored here; `name` may repeat the title.
    pub fn from_params(title: &str, params: &IndexMap<String, Value>) -> Result<Spec, String> {
        let err = |m: String| format!("Release[{title}]: {m}");
        let mut spec = Spec {
            name: title.to_string(),
            path: PathBuf::new(),
            id: String::new(),
            keep: DEFAULT_KEEP,
            shared: Vec::new(),
            owner: None,
            group: None,
            before_switch: None,
            after_switch: None,
            ensure: Ensure::Present,
            content_sha256: None,
            commit: None,
        };
        let mut version = None;
        let mut path = None;
        for (key, value) in params {
            match key.as_str() {
                "path" => path = Some(string(key, value).map_err(err)?),
                "version" => version = Some(scalar(key, value).map_err(err)?),
                "keep" => {
                    spec.keep =
                        value.as_u64().filter(|&k| k >= 1).ok_or_else(|| {
                            err(format!("`keep` must be an Int >= 1, got {value}"))
                        })? as usize
                }
                "shared" => {
                    let items = value
                        .as_array()
                        .ok_or_else(|| err(format!("`shared` must be an Array, got {value}")))?;
                    for item in items {
                        let s = string("shared", item).map_err(err)?;
                        check_relative(&s).map_err(|m| err(format!("shared path {s:?} {m}")))?;
                        spec.shared.push(s);
                    }
                }
                "owner" => spec.owner = Some(id(key, value).map_err(err)?),
                "group" => spec.group = Some(id(key, value).map_err(err)?),
                "before_switch" => spec.before_switch = Some(string(key, value).map_err(err)?),
                "after_switch" => spec.after_switch = Some(string(key, value).map_err(err)?),
                "ensure" => {
                    spec.ensure = match value.as_str() {
                        Some("present") => Ensure::Present,
                        Some("absent") => Ensure::Absent,
                        _ => {
                            return Err(err(format!(
                                "`ensure` must be \"present\" or \"absent\", got {value}"
                            )))
                        }
                    }
                }
                "content_sha256" => {
                    let s = string(key, value).map_err(err)?;
                    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(err(format!("`content_sha256` is not a sha256: {s:?}")));
                    }
                    spec.content_sha256 = Some(s.to_ascii_lowercase());
                }
                "commit" => {
                    let s = string(key, value).map_err(err)?;
                    if s.len() < 12 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(err(format!("`commit` is not a commit id: {s:?}")));
                    }
                    spec.commit = Some(s.to_ascii_lowercase());
                }
                "name" | "source" | "repo" | "revision" => {}
                other => return Err(err(format!("unknown attribute `{other}`"))),
            }
        }
        let path = path.ok_or_else(|| err("`path` is required".into()))?;
        let p = Path::new(&path);
        if !p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
            return Err(err(format!(
                "`path` must be absolute, without `..`: {path:?}"
            )));
        }
        spec.path = p.to_path_buf();
        if spec.ensure == Ensure::Present && spec.content_sha256.is_none() {
            return Err(err(
                if params.contains_key("source") || params.contains_key("repo") {
                    "`source`/`repo` was not resolved to `content_sha256` at compile time".into()
                } else {
                    "`content_sha256` is required (the compiled `source` or `repo`)".into()
                },
            ));
        }
        let derived = spec
            .commit
            .as_deref()
            .or(spec.content_sha256.as_deref())
            .map(|h| h[..12].to_string());
        spec.id = match (version, derived) {
            (Some(v), _) => v,
            (None, Some(h)) => h,
            // Only reachable with `ensure = absent`, where the id is not used.
            (None, None) => String::new(),
        };
        if spec.ensure == Ensure::Present {
            check_id(&spec.id).map_err(err)?;
        }
        Ok(spec)
    }
}

/// A release id must be one plain path component that cannot clash with fleet's own names.
pub(super) fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "release id {id:?} must be letters, digits, `.`, `_`, `-`, `+`, not starting with `.`"
        ))
    }
}

/// A relative path with only normal components (a trailing `/` allowed).
pub(crate) fn check_relative(s: &str) -> Result<(), String> {
    let p = Path::new(s);
    if s.is_empty() || p.is_absolute() {
        return Err("must be a relative path".into());
    }
    if !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err("must not contain `.` or `..`".into());
    }
    if p.components().next().is_none() {
        return Err("is empty".into());
    }
    Ok(())
}

fn string(key: &str, value: &Value) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("`{key}` must be a String, got {value}"))
}

fn scalar(key: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("`{key}` must be a String or Int, got {value}")),
    }
}

fn id(key: &str, value: &Value) -> Result<Id, String> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Id::Num)
            .ok_or_else(|| format!("`{key}` is not a valid id: {n}")),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse()
            .map(Id::Num)
            .map_err(|_| format!("`{key}` is not a valid id: {s}")),
        Value::String(s) if !s.is_empty() => Ok(Id::Name(s.clone())),
        _ => Err(format!("`{key}` must be a name or an id, got {value}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> IndexMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    const SHA: &str = "83525014ab0a8a9968d604bba1722cdd7f49c0fc54af9de2a48910c88c6c9265";

    #[test]
    fn reads_the_conformance_release() {
        let s = Spec::from_params(
            "shop",
            &params(
                json!({"path": "/srv/shop", "version": "20110619001122", "keep": 3,
                "shared": ["config/config.inc", "log"], "content_sha256": SHA}),
            ),
        )
        .unwrap();
        assert_eq!(s.id, "20110619001122");
        assert_eq!(s.keep, 3);
        assert_eq!(s.shared, ["config/config.inc", "log"]);
        assert_eq!(s.ensure, Ensure::Present);
    }

    #[test]
    fn id_defaults_to_commit_then_content() {
        let s = Spec::from_params("a", &params(json!({"path": "/a", "content_sha256": SHA})));
        assert_eq!(s.unwrap().id, "83525014ab0a");
        let s = Spec::from_params(
            "a",
            &params(json!({"path": "/a", "content_sha256": SHA,
                "commit": "0123456789abcdef0123456789abcdef01234567"})),
        );
        assert_eq!(s.unwrap().id, "0123456789ab");
    }

    #[test]
    fn refuses_bad_params() {
        for bad in [
            json!({"content_sha256": SHA}),
            json!({"path": "srv", "content_sha256": SHA}),
            json!({"path": "/srv/../etc", "content_sha256": SHA}),
            json!({"path": "/srv"}),
            json!({"path": "/srv", "content_sha256": SHA, "version": "../x"}),
            json!({"path": "/srv", "content_sha256": SHA, "shared": ["../x"]}),
            json!({"path": "/srv", "content_sha256": SHA, "shared": ["/etc/passwd"]}),
            json!({"path": "/srv", "content_sha256": SHA, "keep": 0}),
            json!({"path": "/srv", "content_sha256": SHA, "colour": "red"}),
        ] {
            assert!(
                Spec::from_params("x", &params(bad.clone())).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn absent_needs_no_content() {
        let s = Spec::from_params("x", &params(json!({"path": "/srv", "ensure": "absent"})));
        assert_eq!(s.unwrap().ensure, Ensure::Absent);
    }
}
