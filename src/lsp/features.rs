//! Hover, go to definition and completion over a loaded program (the buffer is file 0).

use lsp_types::{
    CompletionItem, CompletionItemKind, Documentation, Hover, HoverContents, MarkupContent,
    MarkupKind,
};

use super::docs;
use super::locate::{locate, BindKind, Binding, Target};
use crate::eval::index::Index;
use crate::fmt::scan::{self, Kind, Token};
use crate::program::Program;
use crate::source::{FileId, Span};
use crate::syntax::ast::*;

/// Keys of a `provision` block (LANGUAGE.md §7).
const PROVISION_KEYS: &[(&str, &str)] = &[
    (
        "mac",
        "The MAC address the install server recognises the machine by (required).",
    ),
    (
        "ip",
        "The address to configure, in CIDR form (`10.1.1.11/24`).",
    ),
    ("gateway", "The default gateway."),
    ("dns", "DNS servers (Array)."),
    ("hostname", "The host name (default: the node name)."),
    ("profile", "The install profile name."),
    (
        "partitions",
        "Partitions as `\"mount:size\"` Strings (Array).",
    ),
    (
        "netboot",
        "Whether to boot from the network (Bool, default `true`).",
    ),
    (
        "vm",
        "For a virtual machine: `{ host, ram_mb, cpus, disk_gb }`.",
    ),
];

/// Where something is: a span in one of the program's files.
pub(crate) type Place = Span;

fn markdown(value: String) -> Hover {
    Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value,
        }),
        range: None,
    }
}

fn slice(program: &Program, span: Span) -> &str {
    program.sources.slice(span)
}

fn at(program: &Program, span: Span) -> String {
    let f = program.sources.get(span.file);
    let (line, col) = f.line_col(span.start as usize);
    format!("{}:{line}:{col}", f.name)
}

fn ast(program: &Program, file: FileId) -> Option<&File> {
    program.files.iter().find(|f| f.id == file).map(|f| &f.ast)
}

fn signature(program: &Program, kw: &str, name: &str, params: &[Param]) -> String {
    let ps: Vec<String> = params.iter().map(|p| param_text(program, p)).collect();
    if ps.is_empty() {
        format!("{kw} {name}")
    } else {
        format!("{kw} {name}({})", ps.join(", "))
    }
}

fn param_text(program: &Program, p: &Param) -> String {
    let mut s = slice(program, p.var.span).to_string();
    if let Some(t) = &p.ty {
        s.push_str(": ");
        s.push_str(slice(program, t.span));
    }
    if let Some(d) = &p.default {
        s.push_str(" = ");
        let sensitive_type = p.ty.as_ref().is_some_and(|t| {
            let mut found = false;
            crate::eval::types::each_name(t, &mut |n| found |= n == "Sensitive");
            found
        });
        if sensitive_type {
            s.push_str(SENSITIVE);
        } else {
            s.push_str(&shown(program, d));
        }
    }
    s
}

/// How hover shows a Sensitive value (LANGUAGE.md §6).
const SENSITIVE: &str = "[sensitive]";

/// An expression's text for hover, or `[sensitive]` when it makes a Sensitive value (it
/// calls `sensitive()`): hover never shows what one wraps.
fn shown(program: &Program, e: &crate::syntax::ast::Expr) -> String {
    let text = slice(program, e.span);
    if text.contains("sensitive(") {
        SENSITIVE.to_string()
    } else {
        shorten(text)
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s.to_string()
    }
}

fn code(s: &str) -> String {
    format!("```fleet\n{s}\n```")
}

/// Hover text at a byte offset of the buffer (`file` in `program`).
pub fn hover(program: &Program, file: FileId, offset: usize) -> Option<Hover> {
    let target = locate(ast(program, file)?, offset)?;
    let index = program.index();
    let text = match target {
        Target::Type { lower, .. } => type_hover(program, &index, &lower)?,
        Target::Attr { kind, name } => attr_hover(program, &index, &kind, &name.name)?,
        Target::Value { kind, attr, expr } => {
            let values = docs::enum_values(&kind, &attr);
            if values.is_empty() {
                return None;
            }
            format!(
                "`{}`: `{kind}.{attr}` is one of {}",
                slice(program, expr.span),
                list(&values)
            )
        }
        Target::Class { name } => class_hover(program, &index, &name.name)?,
        Target::ClassArg { class, name } => {
            let c = index.classes.get(class.as_str())?;
            let p = c.def.params.iter().find(|p| p.var.name == name.name)?;
            format!(
                "{}\nparameter of class `{class}`",
                code(&param_text(program, p))
            )
        }
        Target::Var { name, binding, .. } => var_hover(program, &index, &name, binding)?,
        Target::Func { name } => docs::function_hover(&name.name)?,
        Target::Ref { type_name, titles } => {
            if type_name.name == "Class" {
                let title = titles.first().and_then(literal)?;
                class_hover(program, &index, &title)?
            } else {
                type_hover(program, &index, &type_name.name.to_lowercase())?
            }
        }
        Target::Import { index: i, path } => {
            let id = program.imports.get(&(file, i))?;
            format!("`import \"{path}\"`: {}", program.sources.get(*id).name)
        }
        Target::TypeName { name } => match index.aliases.get(name.name.as_str()) {
            Some(ty) => code(&format!("type {} = {}", name.name, slice(program, ty.span))),
            None => format!("`{}` (built-in type)", name.name),
        },
    };
    Some(markdown(text))
}

/// The hover text for a name typed on its own (`fleet doc NAME`): a native type or a define
/// (`file`), one of its attributes (`file.mode`), a class (`nginx`), a built-in function
/// (`template`) or variable (`$facts`). The same functions as hover over the name in a
/// buffer, so the terminal and the editor say the same thing.
pub(crate) fn describe(program: &Program, name: &str) -> Option<String> {
    let index = program.index();
    if let Some(var) = name.strip_prefix('$') {
        return var_hover(program, &index, var, None);
    }
    if let Some((kind, attr)) = name.split_once('.') {
        return attr_hover(program, &index, &kind.to_lowercase(), attr);
    }
    type_hover(program, &index, &name.to_lowercase())
        .or_else(|| class_hover(program, &index, name))
        .or_else(|| docs::function_hover(name))
}

/// What `fleet doc` without a name lists: native types, the program's defines and classes,
/// and the built-in functions, each as (kind, name).
pub(crate) fn names(program: &Program) -> Vec<(&'static str, String)> {
    let index = program.index();
    let mut out: Vec<(&'static str, String)> = docs::type_names()
        .into_iter()
        .map(|t| ("type", t.to_string()))
        .collect();
    let mut defines: Vec<String> = index.defines.keys().map(|k| k.to_string()).collect();
    defines.sort();
    out.extend(defines.into_iter().map(|d| ("define", d)));
    let mut classes: Vec<String> = index.classes.keys().map(|k| k.to_string()).collect();
    classes.sort();
    out.extend(classes.into_iter().map(|c| ("class", c)));
    out.extend(crate::eval::builtins::names().map(|f| ("function", f.to_string())));
    out
}

fn list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn type_hover(program: &Program, index: &Index, lower: &str) -> Option<String> {
    if let Some(t) = docs::type_hover(lower) {
        return Some(t);
    }
    let d = index.defines.get(lower)?;
    let sig = signature(program, "define", lower, &d.def.params);
    Some(format!(
        "{}\ndefined at {}{}",
        code(&sig),
        at(program, d.def.name.span),
        doc_comment(program, d.def.name.span)
    ))
}

fn class_hover(program: &Program, index: &Index, name: &str) -> Option<String> {
    let c = index.classes.get(name)?;
    let sig = signature(program, "class", name, &c.def.params);
    Some(format!(
        "{}\ndefined at {}{}",
        code(&sig),
        at(program, c.def.name.span),
        doc_comment(program, c.def.name.span)
    ))
}

/// The `#` comment lines right above the line of `span` (a class's or define's name: its
/// documentation, as the stdlib's modules write it), as a paragraph after a blank line;
/// empty without any.
fn doc_comment(program: &Program, span: Span) -> String {
    let text = &program.sources.get(span.file).text;
    let start = (span.start as usize).min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let mut lines: Vec<&str> = text[..line_start]
        .lines()
        .rev()
        .take_while(|l| l.trim_start().starts_with('#'))
        .map(|l| {
            let l = l.trim_start().trim_start_matches('#');
            l.strip_prefix(' ').unwrap_or(l)
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    lines.reverse();
    format!("\n\n{}", lines.join("\n"))
}

fn attr_hover(program: &Program, index: &Index, kind: &str, attr: &str) -> Option<String> {
    if kind == "provision" {
        let (_, doc) = PROVISION_KEYS.iter().find(|(k, _)| *k == attr)?;
        return Some(format!("**provision.{attr}**\n\n{doc}"));
    }
    if let Some(d) = index.defines.get(kind) {
        if let Some(p) = d.def.params.iter().find(|p| p.var.name == attr) {
            return Some(format!(
                "{}\nparameter of define `{kind}`",
                code(&param_text(program, p))
            ));
        }
    }
    docs::attr_hover(kind, attr)
}

fn var_hover(
    program: &Program,
    index: &Index,
    name: &str,
    binding: Option<Binding>,
) -> Option<String> {
    if let Some(b) = binding.or_else(|| global_binding(program, index, name)) {
        let what = match b.kind {
            BindKind::Let(value) => code(&format!("let ${} = {}", b.name, shown(program, value))),
            BindKind::Param { owner, param } => {
                let kw = if index.defines.contains_key(owner) {
                    "define"
                } else {
                    "class"
                };
                format!(
                    "{}\nparameter of {kw} `{owner}`",
                    code(&param_text(program, param))
                )
            }
            BindKind::Loop => format!("`${}`: loop variable", b.name),
        };
        return Some(format!("{what}\nbound at {}", at(program, b.span)));
    }
    docs::builtin_var_hover(name)
}

/// A variable not bound in an enclosing scope of the buffer: a top-level `let` of any
/// file, or `$class::name` (a class parameter or a `let` at the top of the class body).
fn global_binding<'p>(program: &'p Program, index: &Index<'p>, name: &str) -> Option<Binding<'p>> {
    if let Some((class, var)) = name.rsplit_once("::") {
        let c = index.classes.get(class)?;
        if let Some(p) = c.def.params.iter().find(|p| p.var.name == var) {
            return Some(Binding {
                name: name.to_string(),
                span: p.var.span,
                kind: BindKind::Param {
                    owner: &c.def.name.name,
                    param: p,
                },
            });
        }
        return lets(&c.def.body, var);
    }
    program.files.iter().find_map(|f| lets(&f.ast.items, name))
}

fn lets<'p>(stmts: &'p [Stmt], name: &str) -> Option<Binding<'p>> {
    stmts.iter().find_map(|s| match &s.kind {
        StmtKind::Let { var, value } if var.name == name => Some(Binding {
            name: var.name.clone(),
            span: var.span,
            kind: BindKind::Let(value),
        }),
        _ => None,
    })
}

/// The literal text of a String expression.
fn literal(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// Where the thing at a byte offset of the buffer (`file` in `program`) is defined.
pub(crate) fn definition(program: &Program, file: FileId, offset: usize) -> Option<Place> {
    definition_in(program, &program.index(), file, offset)
}

/// [`definition`] with the program's index built once by the caller (references ask for
/// many definitions).
pub(crate) fn definition_in(
    program: &Program,
    index: &Index<'_>,
    file: FileId,
    offset: usize,
) -> Option<Place> {
    let target = locate(ast(program, file)?, offset)?;
    match target {
        Target::Type { lower, .. } => index.defines.get(lower.as_str()).map(|d| d.def.name.span),
        Target::Attr { kind, name } => {
            let d = index.defines.get(kind.as_str())?;
            d.def
                .params
                .iter()
                .find(|p| p.var.name == name.name)
                .map(|p| p.var.span)
        }
        Target::Class { name } => index
            .classes
            .get(name.name.as_str())
            .map(|c| c.def.name.span),
        Target::ClassArg { class, name } => {
            let c = index.classes.get(class.as_str())?;
            c.def
                .params
                .iter()
                .find(|p| p.var.name == name.name)
                .map(|p| p.var.span)
        }
        Target::Var { name, binding, .. } => binding
            .or_else(|| global_binding(program, index, &name))
            .map(|b| b.span),
        Target::Ref { type_name, titles } => {
            let title = titles.first()?;
            if type_name.name == "Class" {
                let name = literal(title)?;
                return index.classes.get(name.as_str()).map(|c| c.def.name.span);
            }
            let kind = type_name.name.to_lowercase();
            find_declaration(program, &kind, title)
                .or_else(|| index.defines.get(kind.as_str()).map(|d| d.def.name.span))
        }
        Target::Import { index: i, .. } => {
            let id = program.imports.get(&(file, i))?;
            Some(Span::new(*id, 0, 0))
        }
        Target::TypeName { name } => program.files.iter().find_map(|f| {
            f.ast.items.iter().find_map(|s| match &s.kind {
                StmtKind::TypeAlias { name: n, .. } if n.name == name.name => Some(n.span),
                _ => None,
            })
        }),
        Target::Func { .. } | Target::Value { .. } => None,
    }
}

/// The declaration of the resource `kind` whose title (or namevar) is `title`.
fn find_declaration(program: &Program, kind: &str, title: &Expr) -> Option<Span> {
    let want = literal(title);
    let want_text = slice(program, title.span).to_string();
    let namevar = crate::model::schema::namevar(kind);
    let matches = |r: &ResourceDecl| -> bool {
        if r.kind.name != kind {
            return false;
        }
        let titles: Vec<&Expr> = match &r.title.kind {
            ExprKind::Array(items) => items.iter().collect(),
            _ => vec![&r.title],
        };
        let by_title = titles.iter().any(|t| match (&want, literal(t)) {
            (Some(w), Some(t)) => *w == t,
            _ => slice(program, t.span) == want_text,
        });
        let by_namevar = r.body.iter().any(|i| match i {
            BodyItem::Attr { name, value } => {
                Some(name.name.as_str()) == namevar && want.is_some() && literal(value) == want
            }
            BodyItem::Splat { .. } => false,
        });
        by_title || by_namevar
    };
    let mut found = None;
    for f in &program.files {
        each_resource(&f.ast.items, &mut |r| {
            if found.is_none() && matches(r) {
                found = Some(r.kind.span);
            }
        });
    }
    found
}

fn each_resource<'a>(stmts: &'a [Stmt], f: &mut dyn FnMut(&'a ResourceDecl)) {
    for s in stmts {
        match &s.kind {
            StmtKind::Resource(r) => f(r),
            StmtKind::Chain(c) => {
                for o in &c.operands {
                    if let ChainOperand::Resource(r) = o {
                        f(r);
                    }
                }
            }
            StmtKind::Class(c) => each_resource(&c.body, f),
            StmtKind::Define(d) => each_resource(&d.body, f),
            StmtKind::Node(n) => each_resource(&n.body, f),
            StmtKind::If(i) => {
                for (_, b) in &i.branches {
                    each_resource(b, f);
                }
                if let Some(b) = &i.else_body {
                    each_resource(b, f);
                }
            }
            StmtKind::Case(c) => {
                for a in &c.arms {
                    each_resource(&a.body, f);
                }
            }
            StmtKind::For(l) => each_resource(&l.body, f),
            _ => {}
        }
    }
}

/// What the text left of the cursor says is being typed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Context {
    /// A statement: resource types and defines.
    Statement,
    /// After `include` / `contain`: class names.
    ClassName,
    /// An attribute name in the body of a resource of this type (`provision` included).
    AttrName {
        kind: String,
        written: Vec<String>,
    },
    /// The value of `attr` in the body of a resource of type `kind`.
    AttrValue {
        kind: String,
        attr: String,
    },
    Nothing,
}

/// The completion context at `offset` of `text`, and where the word being typed starts.
pub(crate) fn context(text: &str, offset: usize) -> (Context, usize) {
    let offset = offset.min(text.len());
    let mut toks: Vec<Token> = scan::tokens(text, 0, offset)
        .into_iter()
        .filter(|t| t.start < offset)
        .collect();
    // Inside a comment or a string nothing is offered.
    if let Some(last) = toks.last() {
        if matches!(last.kind, Kind::Comment | Kind::Str | Kind::Regex) && last.end >= offset {
            return (Context::Nothing, offset);
        }
    }
    // The word being typed, also when the cursor is inside it (`fi|le` as `fi|`): the
    // scanner finishes the token the cursor is in.
    let word_start = match toks.last() {
        Some(t) if t.end >= offset && t.kind == Kind::Ident => {
            let s = t.start;
            toks.pop();
            s
        }
        _ => offset,
    };
    toks.retain(|t| t.kind != Kind::Comment);
    // Innermost unclosed bracket.
    let mut stack: Vec<usize> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if t.kind != Kind::Punct {
            continue;
        }
        match t.text(text) {
            "{" | "[" | "(" => stack.push(i),
            "}" | "]" | ")" => {
                stack.pop();
            }
            _ => {}
        }
    }
    let prev = toks.last().copied();
    // A token other than a word may hold the cursor too (`12|34`, `-|>`): nothing before it.
    let newline_before =
        prev.is_none_or(|p| text[p.end.min(word_start)..word_start].contains('\n'));
    let statement = || -> Context {
        match prev {
            Some(p) if p.kind == Kind::Ident && matches!(p.text(text), "include" | "contain") => {
                Context::ClassName
            }
            Some(p) if p.kind == Kind::Punct && matches!(p.text(text), "{" | "}") => {
                Context::Statement
            }
            None => Context::Statement,
            _ if newline_before => Context::Statement,
            _ => Context::Nothing,
        }
    };
    let Some(&open) = stack.last() else {
        return (statement(), word_start);
    };
    if toks[open].text(text) != "{" {
        return (Context::Nothing, word_start);
    }
    let Some(kind) = body_kind(text, &toks[..open]) else {
        return (statement(), word_start);
    };
    let p = prev.expect("the body's brace");
    let ptext = p.text(text);
    let ctx = if p.kind == Kind::Punct && ptext == "=" {
        let attr = toks.len().checked_sub(2).map(|i| toks[i]);
        match attr {
            Some(a) if a.kind == Kind::Ident => Context::AttrValue {
                kind,
                attr: a.text(text).to_string(),
            },
            _ => Context::Nothing,
        }
    } else if (p.kind == Kind::Punct && (ptext == "{" || ptext == ",")) || newline_before {
        // Attributes already written in this body, before and after the cursor.
        let mut written = assigned(text, &toks[open + 1..]);
        let word_end = text[offset..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |n| offset + n);
        written.extend(assigned(text, &scan::tokens(text, word_end, text.len())));
        Context::AttrName { kind, written }
    } else {
        Context::Nothing
    };
    (ctx, word_start)
}

/// The names followed by `=` at the first bracket level of `toks`, up to the `}` that
/// closes that level.
fn assigned(text: &str, toks: &[Token]) -> Vec<String> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match (t.kind, t.text(text)) {
            (Kind::Punct, "{" | "[" | "(") => depth += 1,
            (Kind::Punct, "}" | "]" | ")") => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => break,
            },
            (Kind::Ident, name)
                if depth == 0 && toks.get(i + 1).is_some_and(|n| n.text(text) == "=") =>
            {
                out.push(name.to_string());
            }
            _ => {}
        }
    }
    out
}

/// The resource type whose body a `{` opens, from the tokens before it.
fn body_kind(text: &str, before: &[Token]) -> Option<String> {
    let last = before.last()?;
    let t = last.text(text);
    if last.kind == Kind::Ident && t == "provision" {
        return Some("provision".into());
    }
    if last.kind == Kind::Ident && t.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Some(t.to_lowercase());
    }
    let type_at = match last.kind {
        Kind::Str | Kind::Var => before.len().checked_sub(2)?,
        Kind::Punct if t == "]" => {
            let mut depth = 0usize;
            let mut i = before.len();
            loop {
                i = i.checked_sub(1)?;
                match before[i].text(text) {
                    "]" => depth += 1,
                    "[" => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            i.checked_sub(1)?
        }
        _ => return None,
    };
    let ty = before[type_at];
    let name = ty.text(text);
    let keyword = matches!(
        name,
        "node" | "import" | "if" | "case" | "in" | "else" | "let" | "include" | "contain"
    );
    (ty.kind == Kind::Ident && !keyword && name.starts_with(|c: char| c.is_ascii_lowercase()))
        .then(|| name.to_string())
}

/// Completion items at a byte offset of the buffer `text`; `program` is its latest load
/// (for the defines, classes and define parameters it declares).
pub(crate) fn completion(
    program: Option<&Program>,
    text: &str,
    offset: usize,
) -> Vec<CompletionItem> {
    let index = program.map(Program::index);
    let (ctx, _) = context(text, offset);
    let item = |label: &str,
                kind: CompletionItemKind,
                detail: Option<String>,
                doc: Option<String>| CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail,
        documentation: doc.map(|value| {
            Documentation::MarkupContent(MarkupContent {
                kind: MarkupKind::Markdown,
                value,
            })
        }),
        ..Default::default()
    };
    let mut out = Vec::new();
    match ctx {
        Context::Statement => {
            for t in docs::type_names() {
                out.push(item(
                    t,
                    CompletionItemKind::CLASS,
                    Some("resource type".into()),
                    docs::type_hover(t),
                ));
            }
            // A call of a built-in is a statement too (`notice(...)`, `fail(...)`).
            for b in crate::eval::builtins::BUILTINS {
                out.push(item(
                    b.name,
                    CompletionItemKind::FUNCTION,
                    Some(b.signature.to_string()),
                    Some(b.doc.to_string()),
                ));
            }
            if let (Some(index), Some(program)) = (&index, program) {
                let mut names: Vec<&&str> = index.defines.keys().collect();
                names.sort();
                for n in names {
                    let d = &index.defines[*n];
                    let sig = signature(program, "define", n, &d.def.params);
                    out.push(item(n, CompletionItemKind::CLASS, Some(sig), None));
                }
            }
        }
        Context::ClassName => {
            if let (Some(index), Some(program)) = (&index, program) {
                let mut names: Vec<&&str> = index.classes.keys().collect();
                names.sort();
                for n in names {
                    let c = &index.classes[*n];
                    let sig = signature(program, "class", n, &c.def.params);
                    out.push(item(n, CompletionItemKind::MODULE, Some(sig), None));
                }
            }
        }
        Context::AttrName { kind, written } => {
            let define = index.as_ref().and_then(|i| i.defines.get(kind.as_str()));
            let names: Vec<(String, Option<String>)> = if kind == "provision" {
                PROVISION_KEYS
                    .iter()
                    .map(|(k, d)| (k.to_string(), Some(d.to_string())))
                    .collect()
            } else if let (Some(d), Some(program)) = (define, program) {
                let mut v: Vec<(String, Option<String>)> = d
                    .def
                    .params
                    .iter()
                    .map(|p| (p.var.name.clone(), Some(param_text(program, p))))
                    .collect();
                v.extend(
                    docs::attr_names("")
                        .into_iter()
                        .map(|m| (m.to_string(), docs::attr_detail("", m))),
                );
                v
            } else {
                docs::attr_names(&kind)
                    .into_iter()
                    .map(|a| (a.to_string(), docs::attr_detail(&kind, a)))
                    .collect()
            };
            for (n, detail) in names {
                if !written.contains(&n) {
                    let doc = docs::attr_hover(&kind, &n);
                    out.push(item(&n, CompletionItemKind::PROPERTY, detail, doc));
                }
            }
        }
        Context::AttrValue { kind, attr } => {
            for v in docs::enum_values(&kind, &attr) {
                out.push(item(
                    v,
                    CompletionItemKind::ENUM_MEMBER,
                    Some(format!("{kind}.{attr}")),
                    None,
                ));
            }
        }
        Context::Nothing => {}
    }
    out
}

/// Signature help at `offset` of the buffer `text`: inside a call's parentheses the
/// built-in's signature (or, after `include`/`contain`, the class's), inside the body of a
/// define's declaration the define's. The active parameter is the call's argument under
/// the cursor (by commas); in a define's body there is none.
pub(crate) fn signature_help(
    program: Option<&Program>,
    text: &str,
    offset: usize,
) -> Option<lsp_types::SignatureHelp> {
    let (open, at, commas) = innermost_opener(text, offset)?;
    let before = text.get(..at)?.trim_end();
    let index = program.map(|p| p.index());
    let (label, active) = match open {
        b'(' => {
            let name_start = before
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(0, |i| i + 1);
            let name = &before[name_start..];
            let keyword = before[..name_start].trim_end();
            let keyword = keyword
                .rsplit(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or("");
            if matches!(keyword, "include" | "contain") {
                let (p, ix) = (program?, index.as_ref()?);
                let c = ix.classes.get(name)?;
                (signature(p, "class", name, &c.def.params), Some(commas))
            } else {
                let b = crate::eval::builtins::get(name)?;
                (b.signature.to_string(), Some(commas))
            }
        }
        _ => {
            // `kind TITLE {`: the define `kind`.
            let (p, ix) = (program?, index.as_ref()?);
            let head = before.trim_end();
            let title_start = if let Some(open) = head.strip_suffix('"') {
                open.rfind('"')?
            } else if head.ends_with(']') {
                head.rfind('[')?
            } else {
                head.rfind(|c: char| c.is_whitespace())? + 1
            };
            let kind = head[..title_start].trim_end();
            let kind_start = kind
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(0, |i| i + 1);
            let kind = &kind[kind_start..];
            let d = ix.defines.get(kind)?;
            (signature(p, "define", kind, &d.def.params), None)
        }
    };
    let params = signature_params(&label);
    let active = active.map(|a| a.min(params.len().saturating_sub(1)) as u32);
    Some(lsp_types::SignatureHelp {
        signatures: vec![lsp_types::SignatureInformation {
            label,
            documentation: None,
            parameters: Some(params),
            active_parameter: active,
        }],
        active_signature: Some(0),
        active_parameter: active,
    })
}

/// The parameters of a signature `name(a, b = [1, 2]) -> T`: its top-level comma-separated
/// parts between the first `(` and its `)`.
fn signature_params(label: &str) -> Vec<lsp_types::ParameterInformation> {
    let Some(open) = label.find('(') else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, open + 1);
    for (i, c) in label.char_indices().skip_while(|(i, _)| *i <= open) {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth > 0 => depth -= 1,
            ',' | ')' if depth == 0 => {
                let part = label[start..i].trim();
                if !part.is_empty() {
                    out.push(lsp_types::ParameterInformation {
                        label: lsp_types::ParameterLabel::Simple(part.to_string()),
                        documentation: None,
                    });
                }
                start = i + 1;
                if c == ')' {
                    break;
                }
            }
            _ => {}
        }
    }
    out
}

/// The innermost `(` or `{` open at `offset` (strings and comments skipped): the byte,
/// its position, and the commas written inside it so far.
fn innermost_opener(text: &str, offset: usize) -> Option<(u8, usize, usize)> {
    let bytes = text.as_bytes();
    let end = offset.min(bytes.len());
    let mut stack: Vec<(u8, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'#' => {
                while i < end && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < end && bytes[i] != q {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b @ (b'(' | b'{' | b'[') => stack.push((b, i, 0)),
            b')' | b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.2 += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    stack.into_iter().rev().find(|(b, _, _)| *b != b'[')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(text_with_cursor: &str) -> Context {
        let offset = text_with_cursor.find('|').unwrap();
        let text = text_with_cursor.replace('|', "");
        context(&text, offset).0
    }

    const SITE: &str = r#"type Port = Int[1, 65535]
define vhost($port: Port = 80, $docroot: String) {
  file "/etc/nginx/${title}.conf" {
    content = join(["listen ${port}", $docroot], "\n")
  }
}
node "web01" {
  let $names = [for $n in ["a", "b"]: upcase($n)]
  vhost "shop" { docroot = "/srv/shop", port = 8080 }
  exec "/bin/true" { refreshonly = true, subscribe = Vhost["shop"] }
  notice(join($names, ","))
}
"#;

    fn program() -> Program {
        Program::load_with(
            vec![("/nonexistent/site.fleet".into(), SITE.into())],
            Default::default(),
        )
    }

    /// The hover text at the `nth` occurrence of `needle` plus `delta` bytes.
    fn hover_at(p: &Program, needle: &str, nth: usize, delta: usize) -> String {
        let at = SITE.match_indices(needle).nth(nth).unwrap().0 + delta;
        match hover(p, FileId(0), at).map(|h| h.contents) {
            Some(HoverContents::Markup(m)) => m.value,
            other => panic!("no hover at {needle}: {other:?}"),
        }
    }

    fn definition_text(p: &Program, needle: &str, nth: usize, delta: usize) -> String {
        let at = SITE.match_indices(needle).nth(nth).unwrap().0 + delta;
        let span =
            definition(p, FileId(0), at).unwrap_or_else(|| panic!("no definition at {needle}"));
        let line_start = SITE[..span.start as usize].rfind('\n').map_or(0, |i| i + 1);
        SITE[line_start..]
            .lines()
            .next()
            .unwrap()
            .trim()
            .to_string()
    }

    #[test]
    fn hover_over_the_parsed_program() {
        let p = program();
        assert!(hover_at(&p, "join(", 0, 1).contains("join(a: Array, sep: String) -> String"));
        let h = hover_at(&p, "vhost \"shop\"", 0, 1);
        assert!(
            h.contains("define vhost($port: Port = 80, $docroot: String)"),
            "{h}"
        );
        let h = hover_at(&p, "docroot =", 0, 1);
        assert!(
            h.contains("$docroot: String") && h.contains("parameter of define `vhost`"),
            "{h}"
        );
        assert!(hover_at(&p, "${title}", 0, 3).contains("title of the instance"));
        assert!(hover_at(&p, "Port = 80", 0, 1).contains("type Port = Int[1, 65535]"));
        let h = hover_at(&p, "refreshonly", 0, 1);
        assert!(h.contains("refreshonly") && h.contains("Bool"), "{h}");
        let h = hover_at(&p, "upcase($n)", 0, 8);
        assert!(h.contains("loop variable"), "{h}");
        let h = hover_at(&p, "$names, \",\"", 0, 1);
        assert!(h.contains("let $names = [for $n in"), "{h}");
    }

    #[test]
    fn describe_is_what_hover_shows() {
        let p = program();
        for (name, needle, delta) in [
            ("vhost", "vhost \"shop\"", 1),
            ("join", "join(", 1),
            ("exec.refreshonly", "refreshonly", 1),
        ] {
            assert_eq!(
                describe(&p, name).as_deref(),
                Some(hover_at(&p, needle, 0, delta).as_str()),
                "{name}"
            );
        }
        assert_eq!(describe(&p, "$title"), docs::builtin_var_hover("title"));
        assert_eq!(describe(&p, "nosuch"), None);
    }

    #[test]
    fn hover_never_shows_a_sensitive_value() {
        const SECRET: &str = r#"let $pw = sensitive("hunter2-XYZ")
class db($password: Sensitive[String] = "hunter2-XYZ") {
  file "/etc/db" { content = "${password} ${pw}" }
}
include db
"#;
        let p = Program::load_with(
            vec![("/nonexistent/site.fleet".into(), SECRET.into())],
            Default::default(),
        );
        let at = |needle: &str, delta: usize| {
            let at = SECRET.find(needle).unwrap() + delta;
            match hover(&p, FileId(0), at).map(|h| h.contents) {
                Some(HoverContents::Markup(m)) => m.value,
                other => panic!("no hover at {needle}: {other:?}"),
            }
        };
        for h in [at("${pw}", 3), at("${password}", 3), at("$password:", 1)] {
            assert!(h.contains("[sensitive]") && !h.contains("hunter2"), "{h}");
        }
        assert!(at("${pw}", 3).contains("let $pw = [sensitive]"));
    }

    #[test]
    fn definitions_in_the_parsed_program() {
        let p = program();
        assert!(definition_text(&p, "vhost \"shop\"", 0, 1).starts_with("define vhost("));
        assert!(definition_text(&p, "Vhost[", 0, 1).starts_with("vhost \"shop\""));
        assert!(definition_text(&p, "docroot =", 0, 1).starts_with("define vhost("));
        assert!(definition_text(&p, "Port = 80", 0, 1).starts_with("type Port"));
        assert!(definition_text(&p, "$names,", 0, 1).starts_with("let $names"));
        assert!(definition(&p, FileId(0), SITE.find("join(").unwrap() + 1).is_none());
    }

    #[test]
    fn completion_offers_define_parameters_and_enum_values() {
        let p = program();
        let labels = |text: &str| -> Vec<String> {
            let at = text.find('|').unwrap();
            let text = text.replace('|', "");
            completion(Some(&p), &text, at)
                .into_iter()
                .map(|i| i.label)
                .collect()
        };
        let l = labels("vhost \"x\" { docroot = \"/\", | }");
        assert!(
            l.contains(&"port".to_string()) && l.contains(&"require".to_string()),
            "{l:?}"
        );
        assert!(!l.contains(&"docroot".to_string()), "{l:?}");
        let l = labels("file \"/a\" { ensure = | }");
        assert_eq!(l, ["file", "present", "directory", "link", "absent"]);
        let l = labels("|");
        assert!(
            l.contains(&"release".to_string()) && l.contains(&"vhost".to_string()),
            "{l:?}"
        );
    }

    #[test]
    fn completion_offers_builtins_with_their_signature_from_the_table() {
        let items = completion(None, "class a {\n  no", 14);
        let notice = items.iter().find(|i| i.label == "notice").expect("notice");
        assert_eq!(notice.kind, Some(CompletionItemKind::FUNCTION));
        assert_eq!(
            notice.detail.as_deref(),
            crate::eval::builtins::get("notice").map(|b| b.signature)
        );
        // Not where a value of an enum attribute goes.
        let items = completion(None, "file \"/a\" { ensure = ", 22);
        assert!(!items.iter().any(|i| i.label == "notice"));
    }

    #[test]
    fn completion_context_from_half_typed_text() {
        assert_eq!(ctx("fi|"), Context::Statement);
        assert_eq!(ctx("class a {\n  pa|"), Context::Statement);
        assert_eq!(ctx("include |"), Context::ClassName);
        assert_eq!(
            ctx("file \"/etc/a\" {\n  owner = \"root\"\n  mo|\n  group = { a: [1] }\n}\nx = 1"),
            Context::AttrName {
                kind: "file".into(),
                written: vec!["owner".into(), "group".into()]
            }
        );
        assert_eq!(
            ctx("service \"x\" { enable = true, ensure = |"),
            Context::AttrValue {
                kind: "service".into(),
                attr: "ensure".into()
            }
        );
        assert_eq!(
            ctx("file [\"/a\", \"/b\"] { en|"),
            Context::AttrName {
                kind: "file".into(),
                written: vec![]
            }
        );
        assert_eq!(
            ctx("File { |"),
            Context::AttrName {
                kind: "file".into(),
                written: vec![]
            }
        );
        assert_eq!(
            ctx("node \"a\" { provision { m|"),
            Context::AttrName {
                kind: "provision".into(),
                written: vec![]
            }
        );
        assert_eq!(ctx("file \"/a\" { content = \"x ${|"), Context::Nothing);
        assert_eq!(ctx("# file |"), Context::Nothing);
    }

    #[test]
    fn completion_with_the_cursor_inside_a_token() {
        // Found by the `lsp` fuzz target: a completion request in the middle of `file`
        // sliced the text backwards and panicked.
        assert_eq!(ctx("fi|le"), Context::Statement);
        assert_eq!(
            ctx("class helper {\n  fi|le \"/etc/helper\" {"),
            Context::Statement
        );
        assert_eq!(
            ctx("file \"/a\" {\n  mo|de = \"0644\"\n}"),
            Context::AttrName {
                kind: "file".into(),
                written: vec![]
            }
        );
        for text in [
            "let $x = 12|34",
            "Package[\"a\"] -|> File[\"/b\"]",
            "$fa|cts",
        ] {
            let _ = ctx(text);
        }
        let text = "class helper {\n  file \"/etc/helper\" {";
        for offset in 0..=text.len() {
            let _ = completion(None, text, offset);
        }
    }
}
