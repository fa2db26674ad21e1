//! Runtime values of the fleet language.

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;

use super::name::Name;
use crate::source::Span;

/// A reference to a resource, class or define instance: `File["/etc/motd"]`.
#[derive(Clone, Debug)]
pub struct ResRef {
    /// The type name as written, e.g. `File`, `Class`, `Nginx::Vhost` (interned: a
    /// relationship holds two references, and a big node a hundred thousand relationships).
    pub type_name: Name,
    pub title: String,
    /// The reference expression, starting at its type name.
    pub span: Span,
}

impl ResRef {
    /// The type in lower case as resources are declared: `File` -> `file`, `Nginx::Vhost` ->
    /// `nginx::vhost`, `Class` -> `class`.
    pub fn kind(&self) -> String {
        self.type_name.to_lowercase()
    }
}

impl PartialEq for ResRef {
    fn eq(&self, other: &Self) -> bool {
        self.type_name.eq_ignore_ascii_case(&other.type_name) && self.title == other.title
    }
}

#[derive(Clone, Debug)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Str(Arc<str>),
    Array(Arc<Vec<Value>>),
    Map(Arc<IndexMap<String, Value>>),
    /// One or several references.
    Ref(Arc<Vec<ResRef>>),
    Regex(Arc<regex::Regex>),
    /// A value that is never shown (LANGUAGE.md §6): `[sensitive]` in every message, plan,
    /// report, graph and hover; `{"sensitive": value}` in the catalog. Never wraps another
    /// Sensitive ([`Value::sensitive`]). Copying it (assignment, Arrays, Maps, parameters)
    /// keeps the wrapper, so it survives any path that does not unwrap it explicitly.
    Sensitive(Arc<Value>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::None, Value::None) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
            }
            (Value::Ref(a), Value::Ref(b)) => a == b,
            (Value::Regex(a), Value::Regex(b)) => a.as_str() == b.as_str(),
            (Value::Sensitive(a), Value::Sensitive(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    pub fn str(s: impl Into<Arc<str>>) -> Value {
        Value::Str(s.into())
    }

    pub fn array(items: Vec<Value>) -> Value {
        Value::Array(Arc::new(items))
    }

    pub fn map(m: IndexMap<String, Value>) -> Value {
        Value::Map(Arc::new(m))
    }

    /// `v` wrapped as Sensitive (once: a Sensitive value is returned as it is).
    pub fn sensitive(v: Value) -> Value {
        match v {
            Value::Sensitive(_) => v,
            other => Value::Sensitive(Arc::new(other)),
        }
    }

    /// What a Sensitive value wraps, and whether it was one.
    pub fn unwrapped(&self) -> (&Value, bool) {
        match self {
            Value::Sensitive(inner) => (inner, true),
            other => (other, false),
        }
    }

    /// Whether this value is, or holds anywhere inside it, a Sensitive value.
    pub fn holds_sensitive(&self) -> bool {
        match self {
            Value::Sensitive(_) => true,
            Value::Array(a) => a.iter().any(Value::holds_sensitive),
            Value::Map(m) => m.values().any(Value::holds_sensitive),
            _ => false,
        }
    }

    /// The value with every Sensitive wrapper inside it taken off.
    pub fn plain(&self) -> Value {
        match self {
            Value::Sensitive(inner) => inner.plain(),
            Value::Array(a) if a.iter().any(Value::holds_sensitive) => {
                Value::array(a.iter().map(Value::plain).collect())
            }
            Value::Map(m) if m.values().any(Value::holds_sensitive) => {
                Value::map(m.iter().map(|(k, v)| (k.clone(), v.plain())).collect())
            }
            other => other.clone(),
        }
    }

    /// JSON with every Sensitive value replaced by what it wraps (what a template sees).
    pub fn to_plain_json(&self) -> serde_json::Value {
        match self {
            Value::Sensitive(inner) => inner.to_plain_json(),
            Value::Array(a) => a.iter().map(Value::to_plain_json).collect(),
            Value::Map(m) => serde_json::Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.to_plain_json()))
                    .collect(),
            ),
            other => other.to_json(),
        }
    }

    /// The type's name as the language spells it, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "Bool",
            Value::Int(_) => "Int",
            Value::Str(_) => "String",
            Value::Array(_) => "Array",
            Value::Map(_) => "Map",
            Value::Ref(_) => "Ref",
            Value::Regex(_) => "Regex",
            Value::Sensitive(_) => "Sensitive",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }

    /// JSON for catalogs: Strings, Ints, Bools, null, arrays, objects; refs as `Type[title]`
    /// strings and regexes as their source.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::None => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            // `String::from`, not `to_string`: an `Arc<str>` would go through `Display`.
            Value::Str(s) => serde_json::Value::String(String::from(&**s)),
            Value::Array(a) => a.iter().map(Value::to_json).collect(),
            Value::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            Value::Ref(r) => {
                let refs: Vec<serde_json::Value> = r
                    .iter()
                    .map(|r| format!("{}[{}]", r.type_name, r.title).into())
                    .collect();
                if refs.len() == 1 {
                    refs.into_iter().next().unwrap()
                } else {
                    refs.into()
                }
            }
            Value::Regex(r) => r.as_str().to_string().into(),
            Value::Sensitive(inner) => {
                let mut m = serde_json::Map::with_capacity(1);
                m.insert("sensitive".to_string(), inner.to_json());
                serde_json::Value::Object(m)
            }
        }
    }

    /// Value from JSON (facts files, data) — objects keep their order.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::None,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::str(n.to_string()),
            },
            serde_json::Value::String(s) => Value::str(s.as_str()),
            serde_json::Value::Array(a) => Value::array(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

/// Renders a value for messages: strings quoted, as the language writes them.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => write!(f, "none"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Array(a) => {
                write!(f, "[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
            Value::Map(m) => {
                write!(f, "{{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k:?}: {v}")?;
                }
                write!(f, "}}")
            }
            Value::Ref(r) => {
                for (i, r) in r.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{}[{:?}]", r.type_name, r.title)?;
                }
                Ok(())
            }
            Value::Regex(r) => write!(f, "/{}/", r.as_str()),
            Value::Sensitive(_) => write!(f, "[sensitive]"),
        }
    }
}
