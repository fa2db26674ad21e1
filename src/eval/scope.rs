//! Variable scopes: the top-level scope shared by all code, and the stack of inner scopes.

use std::collections::HashMap;

use crate::model::value::Value;
use crate::source::Span;

/// One bound name. `value` is `None` when its expression failed (reading it is silent).
#[derive(Clone, Debug)]
pub(super) struct Binding {
    pub value: Option<Value>,
    /// The `$name` of the `let` (None for parameters, loop variables and built-ins).
    pub span: Option<Span>,
}

pub(super) type Frame = crate::model::fxhash::FxHashMap<String, Binding>;

/// The top-level frame plus a stack of inner frames. Class and define bodies start a fresh
/// stack (they see the top level and their own frame, not the declaring place).
#[derive(Default)]
pub(super) struct Scopes {
    pub top: Frame,
    pub frames: Vec<Frame>,
}

impl Scopes {
    pub(super) fn lookup(&self, name: &str) -> Option<&Binding> {
        self.frames
            .iter()
            .rev()
            .find_map(|f| f.get(name))
            .or_else(|| self.top.get(name))
    }

    /// The innermost frame (the top level when no inner frame is open).
    pub(super) fn current(&mut self) -> &mut Frame {
        match self.frames.last_mut() {
            Some(f) => f,
            None => &mut self.top,
        }
    }

    /// Every visible name with its value, inner frames winning (for templates).
    pub(super) fn visible(&self) -> Vec<(&str, &Binding)> {
        let mut seen: HashMap<&str, &Binding> = HashMap::new();
        for (k, b) in &self.top {
            seen.insert(k, b);
        }
        for f in &self.frames {
            for (k, b) in f {
                seen.insert(k, b);
            }
        }
        let mut out: Vec<(&str, &Binding)> = seen.into_iter().collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// Names visible here, for "did you mean".
    pub(super) fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.top.keys().map(String::as_str).collect();
        for f in &self.frames {
            v.extend(f.keys().map(String::as_str));
        }
        v
    }
}
