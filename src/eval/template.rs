//! `template()`: Jinja templates rendered by minijinja with the caller's variables.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;

use super::{Evaluator, Failed, R};
use crate::diag::{Code, Diagnostic};
use crate::model::value::Value;
use crate::source::Span;

/// Compiled templates of one evaluation, by resolved path.
#[derive(Default)]
pub(super) struct Cache {
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
            // Per render: nested loops run out of fuel instead of running for ever.
            env.set_fuel(Some(crate::limits::get().template_fuel));
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
                Code::InvalidValue,
                span,
                format!("template `{written}` does not parse: {e}"),
            ));
        }
        // The context: visible variables (which count as used), facts, node, then `vars`.
        // A template sees what Sensitive values wrap; the names holding one are noted.
        let mut ctx = serde_json::Map::new();
        let mut secret_names: Vec<String> = Vec::new();
        let visible: Vec<(String, Value)> = self
            .scopes
            .visible()
            .into_iter()
            .filter_map(|(name, b)| Some((name.to_string(), b.value.clone()?)))
            .collect();
        for (name, v) in visible {
            self.check_expanded(&v, span)?;
            if v.holds_sensitive() {
                secret_names.push(name.clone());
            }
            ctx.insert(name, v.to_plain_json());
        }
        if let Some(vars) = vars {
            for (k, v) in vars.iter() {
                self.check_expanded(v, span)?;
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
                    Code::InvalidValue,
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
        let cap = crate::limits::get().value_bytes;
        let mut out = Capped {
            bytes: Vec::new(),
            cap,
            over: false,
        };
        let rendered = tmpl
            .render_captured_to(minijinja::Value::from_serialize(&ctx), &mut out)
            .map(drop);
        match rendered {
            Ok(_) => {
                let text = String::from_utf8_lossy(&out.bytes).into_owned();
                self.build(text.len(), span)?;
                Ok(super::builtins::wrap_if(secret, Value::str(text)))
            }
            Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => {
                let fuel = crate::limits::get().template_fuel;
                Err(self.over_limit(
                    span,
                    format!("rendering template `{written}` takes more than {fuel} steps"),
                    "FLEET_MAX_TEMPLATE_FUEL",
                ))
            }
            Err(_) if out.over => Err(self.over_limit(
                span,
                format!("template `{written}` renders more than {cap} bytes"),
                "FLEET_MAX_VALUE_BYTES",
            )),
            Err(e) => {
                let mut d = Diagnostic::error(
                    Code::InvalidValue,
                    span,
                    format!("template `{written}` failed: {}", describe(&e)),
                )
                .with_primary("rendered here");
                if e.kind() == minijinja::ErrorKind::UndefinedError {
                    // Strict mode says only "undefined value": name the variable when it is a
                    // top-level name the context does not have (not `facts.nope`).
                    let mut missing: Vec<String> = tmpl
                        .undeclared_variables(false)
                        .into_iter()
                        .filter(|n| !ctx.contains_key(n) && env.globals().all(|(g, _)| g != n))
                        .collect();
                    missing.sort();
                    if let Some(name) = missing.first() {
                        let line = e.line().map(|l| format!(" (template line {l})"));
                        d.message = format!(
                            "template `{written}` failed: undefined variable `{name}`{}",
                            line.unwrap_or_default()
                        );
                        d = d.with_suggestion(name, ctx.keys().map(String::as_str));
                        if d.help.is_none() {
                            d = d.with_help(format!(
                                "a template sees the variables in scope, the facts as `facts`, `node`, and the Map given to `template()`; `{name}` is none of them"
                            ));
                        }
                    }
                }
                self.diags.push(d);
                Err(Failed)
            }
        }
    }
}

/// A template's output, refusing to grow past `cap` bytes.
struct Capped {
    bytes: Vec<u8>,
    cap: u64,
    over: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.bytes.len() + buf.len()) as u64 > self.cap {
            self.over = true;
            return Err(std::io::Error::other("template output too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
