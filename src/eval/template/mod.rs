//! `template()`: Jinja templates rendered by minijinja with the caller's variables.
//!
//! Values render as in interpolation (`none` empty, Bools `true`/`false`); nested templates
//! come through [`loader`], confined to the site's and the modules' directories.

mod loader;

use std::collections::HashMap;
use std::path::PathBuf;
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
    roots: Arc<loader::Roots>,
}

impl Cache {
    /// The environment, made on first use with `allowed` as the directories nested
    /// templates may come from.
    fn env(&mut self, allowed: &[PathBuf]) -> &mut minijinja::Environment<'static> {
        let roots = &self.roots;
        self.env.get_or_insert_with(|| {
            for dir in allowed {
                roots.allow(dir);
            }
            let mut env = minijinja::Environment::new();
            env.set_keep_trailing_newline(true);
            env.set_trim_blocks(true);
            env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
            env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
            env.set_formatter(format_value);
            // Errors carry the failing expression's byte range (for the diagnostic).
            env.set_debug(true);
            // Per render: nested loops run out of fuel instead of running for ever.
            env.set_fuel(Some(crate::limits::get().template_fuel));
            loader::install(&mut env, roots);
            env
        })
    }
}

/// Writes a value as interpolation renders it: `none` as nothing, Bools as `true`/`false`,
/// anything else as minijinja does.
fn format_value(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    use minijinja::value::ValueKind;
    match value.kind() {
        ValueKind::None => Ok(()),
        ValueKind::Bool => {
            let text = if value.is_true() { "true" } else { "false" };
            out.write_str(text).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

impl Evaluator<'_> {
    /// Renders the template `written` (as named at `span`) with the visible variables and
    /// `vars`.
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
        let allowed = self.template_roots();
        if !self.templates.loaded.contains_key(&key) {
            let bytes = self.read_source(written, span)?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let r = self
                .templates
                .env(&allowed)
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
        // What the template itself names may come from its own folder; `module:path`
        // searches from the calling file's folder.
        let roots = &self.templates.roots;
        if let Some(dir) = std::path::Path::new(&key).parent() {
            roots.allow(dir);
        }
        let caller_dir = self.program.sources.get(span.file).dir().to_path_buf();
        roots.set_search(
            std::iter::once(caller_dir)
                .chain(std::iter::once(self.program.main_dir.to_path_buf()))
                .chain(self.program.modulepath.iter().cloned())
                .collect(),
        );
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
        let env = self.templates.env(&allowed);
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
                let d = render_error(env, &e, (written, &key), &ctx, span);
                self.diags.push(d.with_primary("rendered here"));
                Err(Failed)
            }
        }
    }

    /// The directories nested templates may come from: the main manifest's, each
    /// `--modulepath` directory and each loaded module's folder.
    fn template_roots(&self) -> Vec<PathBuf> {
        std::iter::once(self.program.main_dir.to_path_buf())
            .chain(self.program.modulepath.iter().cloned())
            .chain(
                self.program
                    .files
                    .iter()
                    .filter_map(|f| f.module_root.clone()),
            )
            .collect()
    }
}

/// The diagnostic at `span` of a failed render of the template `written` (loaded as `key`):
/// what went wrong, in which template, where in it, and for an undefined name, which name,
/// with a did-you-mean against the context's names.
fn render_error(
    env: &minijinja::Environment<'static>,
    e: &minijinja::Error,
    (written, key): (&str, &str),
    ctx: &serde_json::Map<String, serde_json::Value>,
    span: Span,
) -> Diagnostic {
    // An error in an included (imported, extended) template comes wrapped in one per
    // template up the chain: report the innermost, and where the outer ones included it.
    let chain = chain(e);
    let e = chain.last().copied().unwrap_or(e);
    let shown = |name: Option<&str>| match name {
        Some(n) if n != key => n.to_string(),
        _ => written.to_string(),
    };
    let failing = e.name().unwrap_or(key);
    let place = position(e, &shown(e.name()));
    let mut d = Diagnostic::error(
        Code::InvalidValue,
        span,
        format!("template `{written}` failed: {}", what(e, place.is_none())),
    );
    if e.kind() == minijinja::ErrorKind::UndefinedError {
        if let Some(name) = undefined_name(env, e, failing, ctx) {
            d.message = format!("template `{written}` failed: undefined variable `{name}`");
            d = d.with_suggestion(&name, ctx.keys().map(String::as_str));
            if d.help.is_none() {
                d = d.with_help(format!(
                    "a template sees the variables in scope, the facts as `facts`, `node`, and the Map given to `template()`; `{name}` is none of them"
                ));
            }
        } else if let Some(expr) = failing_expr(e).filter(|x| x.len() <= 80) {
            d.message = format!("template `{written}` failed: `{expr}` is undefined");
        }
    }
    if let Some((at, line)) = place {
        d = d.with_note(format!("at {at}: {line}"));
    }
    for outer in chain.iter().rev().skip(1) {
        if let Some((at, line)) = position(outer, &shown(outer.name())) {
            d = d.with_note(format!("included at {at}: {line}"));
        }
    }
    d
}

/// The source text of the expression `e` is about, when minijinja knows it.
fn failing_expr(e: &minijinja::Error) -> Option<&str> {
    let expr = e.template_source()?.get(e.range()?)?.trim();
    (!expr.is_empty()).then_some(expr)
}

/// `e` and the minijinja errors it wraps, outermost first.
fn chain(e: &minijinja::Error) -> Vec<&minijinja::Error> {
    let mut out = vec![e];
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        if let Some(inner) = next.downcast_ref::<minijinja::Error>() {
            out.push(inner);
        }
        cur = next;
    }
    out
}

/// `NAME:LINE:COLUMN` of the failing expression and its source line, when minijinja knows.
fn position(e: &minijinja::Error, shown: &str) -> Option<(String, String)> {
    let src = e.template_source()?;
    let range = e.range()?;
    let start = range.start.min(src.len());
    let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
    let line_no = src[..start].matches('\n').count() + 1;
    let column = src[line_start..start].chars().count() + 1;
    let text = src[line_start..line_end].trim();
    Some((format!("`{shown}:{line_no}:{column}`"), format!("`{text}`")))
}

/// The top-level name an undefined-value error is about: the failing expression itself when
/// it is a bare name the context lacks, else the first (sorted) name the failing template
/// reads that nothing defines. None for `facts.nope` and the like.
fn undefined_name(
    env: &minijinja::Environment<'static>,
    e: &minijinja::Error,
    failing: &str,
    ctx: &serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    let known = |n: &str| ctx.contains_key(n) || env.globals().any(|(g, _)| g == n);
    if let Some(expr) = failing_expr(e) {
        let ident = !expr.is_empty()
            && !expr.starts_with(|c: char| c.is_ascii_digit())
            && expr.chars().all(|c| c.is_alphanumeric() || c == '_');
        if ident && !known(expr) {
            return Some(expr.to_string());
        }
    }
    let tmpl = env.get_template(failing).ok()?;
    let mut missing: Vec<String> = tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|n| !known(n))
        .collect();
    missing.sort();
    missing.into_iter().next()
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

/// What went wrong, with the template line.
fn describe(e: &minijinja::Error) -> String {
    what(e, true)
}

/// What went wrong, with the template line when `line`.
fn what(e: &minijinja::Error, line: bool) -> String {
    let mut s = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    if let Some(n) = e.line().filter(|_| line) {
        s.push_str(&format!(" (template line {n})"));
    }
    s
}
