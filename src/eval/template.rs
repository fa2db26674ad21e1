//! `template()`: Jinja templates rendered by minijinja with the caller's variables.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;

use super::value::Value;
use super::{Evaluator, Failed, R};
use crate::diag::Diagnostic;
use crate::source::Span;

/// Compiled templates of one evaluation, by resolved path.
#[derive(Default)]
pub struct Cache {
    env: Option<minijinja::Environment<'static>>,
    loaded: HashMap<String, Result<(), String>>,
}

impl Cache {
    fn env(&mut self) -> &mut minijinja::Environment<'static> {
        self.env.get_or_insert_with(|| {
            let mut env = minijinja::Environment::new();
            env.set_keep_trailing_newline(true);
            env.set_trim_blocks(true);
            env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
            env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
            env
        })
    }
}

impl Evaluator<'_> {
    pub(super) fn template(
        &mut self,
        written: &str,
        span: Span,
        vars: Option<Arc<IndexMap<String, Value>>>,
    ) -> R<Value> {
        let key = self
            .program
            .resolve_path(span.file, written)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| written.to_string());
        if !self.templates.loaded.contains_key(&key) {
            let bytes = self.read_source(written, span)?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let r = self
                .templates
                .env()
                .add_template_owned(key.clone(), text)
                .map_err(|e| describe(&e));
            self.templates.loaded.insert(key.clone(), r);
        }
        if let Some(Err(e)) = self.templates.loaded.get(&key) {
            let e = e.clone();
            return Err(self.error(
                "invalid-value",
                span,
                format!("template `{written}` does not parse: {e}"),
            ));
        }
        // The context: visible variables (which count as used), facts, node, then `vars`.
        // A template sees what Sensitive values wrap; the names holding one are noted.
        let mut ctx = serde_json::Map::new();
        let mut secret_names: Vec<String> = Vec::new();
        for (name, b) in self.scopes.visible() {
            if let Some(v) = &b.value {
                if v.holds_sensitive() {
                    secret_names.push(name.to_string());
                }
                ctx.insert(name.to_string(), v.to_plain_json());
            }
        }
        if let Some(vars) = vars {
            for (k, v) in vars.iter() {
                if v.holds_sensitive() {
                    secret_names.push(k.clone());
                }
                ctx.insert(k.clone(), v.to_plain_json());
            }
        }
        let env = self.templates.env();
        let tmpl = match env.get_template(&key) {
            Ok(t) => t,
            Err(e) => {
                return Err(self.error(
                    "invalid-value",
                    span,
                    format!("template `{written}`: {}", describe(&e)),
                ))
            }
        };
        // Sensitive when the template reads a name holding a Sensitive value (any of them
        // when it includes, imports or extends other templates, whose names are not seen).
        let secret = !secret_names.is_empty() && {
            let source = tmpl.source();
            let nested = ["include", "import", "extends"]
                .iter()
                .any(|k| source.contains(k));
            nested || {
                let used = tmpl.undeclared_variables(true);
                secret_names.iter().any(|n| used.contains(n))
            }
        };
        match tmpl.render(minijinja::Value::from_serialize(&ctx)) {
            Ok(s) => Ok(super::builtins::wrap_if(secret, Value::str(s))),
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        "invalid-value",
                        span,
                        format!("template `{written}` failed: {}", describe(&e)),
                    )
                    .with_primary("rendered here"),
                );
                Err(Failed)
            }
        }
    }
}

fn describe(e: &minijinja::Error) -> String {
    let mut s = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    if let Some(line) = e.line() {
        s.push_str(&format!(" (template line {line})"));
    }
    s
}
