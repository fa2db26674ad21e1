//! The printer behind `fleet fmt`: statements laid out from the AST, expressions from their
//! source text, comments interleaved by position.

use std::mem::discriminant;

use super::scan;
use super::WIDTH;
use crate::source::Span;
use crate::syntax::ast::*;

pub(super) struct Printer<'a> {
    src: &'a str,
    /// Every comment, sorted by position.
    comments: Vec<(Span, String)>,
    used: Vec<bool>,
}

fn ind(level: usize) -> String {
    "  ".repeat(level)
}

/// A printed line with the source range it came from (for blank-line decisions).
struct Line {
    text: String,
    start: usize,
    end: usize,
    /// A statement (not a comment), with its kind and whether it printed on several lines.
    stmt: Option<(std::mem::Discriminant<StmtKind>, bool)>,
}

impl<'a> Printer<'a> {
    pub(super) fn new(src: &'a str, comments: &[(Span, String)]) -> Printer<'a> {
        let mut comments = comments.to_vec();
        comments.sort_by_key(|(s, _)| s.start);
        let used = vec![false; comments.len()];
        Printer {
            src,
            comments,
            used,
        }
    }

    /// The index of the first comment starting at or after `pos`.
    fn first_at(&self, pos: usize) -> usize {
        self.comments
            .partition_point(|(s, _)| (s.start as usize) < pos)
    }

    /// The whole file, ending in exactly one newline (an empty file stays empty).
    pub(super) fn file(mut self, file: &File) -> String {
        let lines = self.block_lines(&file.items, 0, (0, self.src.len()), true);
        let mut out = lines.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }

    fn slice(&self, span: Span) -> &'a str {
        self.src.get(span.range()).unwrap_or("")
    }

    /// Source text printed as is: the comments inside it are part of it.
    fn verbatim(&mut self, start: usize, end: usize) -> String {
        let mut i = self.first_at(start);
        while i < self.comments.len() && (self.comments[i].0.start as usize) < end {
            self.used[i] = true;
            i += 1;
        }
        self.src.get(start..end).unwrap_or("").to_string()
    }

    fn has_newline(&self, start: usize, end: usize) -> bool {
        self.src.get(start..end).is_some_and(|s| s.contains('\n'))
    }

    /// True when the source has an empty line between two offsets.
    fn blank_between(&self, start: usize, end: usize) -> bool {
        let Some(text) = self.src.get(start..end) else {
            return false;
        };
        let mut newlines = 0;
        for c in text.chars() {
            match c {
                '\n' => {
                    newlines += 1;
                    if newlines >= 2 {
                        return true;
                    }
                }
                c if c.is_whitespace() => {}
                _ => newlines = 0,
            }
        }
        false
    }

    /// Unused comments starting in `from..limit`, in order, marked used.
    /// Writes the comments between `from` and `limit` each on its own line at `level`,
    /// keeping a blank line before one where the source had it; `prev_end` is where the last
    /// written item or comment ended.
    fn own_line_comments(
        &mut self,
        out: &mut String,
        from: usize,
        limit: usize,
        level: usize,
        prev_end: &mut Option<usize>,
    ) {
        for (cs, ce, c) in self.take_comments(from, limit) {
            if prev_end.is_some_and(|p| self.blank_between(p, cs)) {
                out.push('\n');
            }
            out.push_str(&format!("\n{}{c}", ind(level)));
            *prev_end = Some(ce);
        }
    }

    fn take_comments(&mut self, from: usize, limit: usize) -> Vec<(usize, usize, String)> {
        let mut out = Vec::new();
        let mut i = self.first_at(from);
        while i < self.comments.len() && (self.comments[i].0.start as usize) < limit {
            if !self.used[i] {
                self.used[i] = true;
                let (span, text) = &self.comments[i];
                out.push((
                    span.start as usize,
                    span.end as usize,
                    text.trim_end().to_string(),
                ));
            }
            i += 1;
        }
        out
    }

    /// True when an unused comment lies in `start..end`.
    fn comment_within(&self, start: usize, end: usize) -> bool {
        let mut i = self.first_at(start);
        while i < self.comments.len() && (self.comments[i].0.start as usize) < end {
            if !self.used[i] {
                return true;
            }
            i += 1;
        }
        false
    }

    /// The comment that ends the source line of `end`, when only spaces and commas come
    /// between: returned as ` # text` and marked used.
    fn trailing(&mut self, end: usize) -> String {
        let mut i = self.first_at(end);
        while i < self.comments.len() && self.used[i] {
            i += 1;
        }
        let Some((span, text)) = self.comments.get(i) else {
            return String::new();
        };
        let gap = self.src.get(end..span.start as usize).unwrap_or("\n");
        if gap
            .chars()
            .all(|c| c == ' ' || c == '\t' || c == ',' || c == '\r')
        {
            let text = format!(" {}", text.trim_end());
            self.used[i] = true;
            return text;
        }
        String::new()
    }

    /// The statements of a block, one entry per output line group, each indented.
    fn block_lines(
        &mut self,
        stmts: &[Stmt],
        level: usize,
        (from, end): (usize, usize),
        top: bool,
    ) -> Vec<String> {
        let mut lines: Vec<Line> = Vec::new();
        for stmt in stmts {
            let group_start = lines.len();
            for (start, cend, text) in self.take_comments(from, stmt.span.start as usize) {
                lines.push(Line {
                    text: format!("{}{text}", ind(level)),
                    start,
                    end: cend,
                    stmt: None,
                });
            }
            let text = self.stmt(stmt, level);
            let trailing = self.trailing(stmt.span.end as usize);
            let multi = text.contains('\n');
            lines.push(Line {
                text: format!("{}{text}{trailing}", ind(level)),
                start: stmt.span.start as usize,
                end: stmt.span.end as usize,
                stmt: Some((discriminant(&stmt.kind), multi)),
            });
            // A top-level item is separated from the one before it by one blank line,
            // placed before its leading comments.
            if top && group_start > 0 {
                let prev = lines[..group_start].iter().rev().find_map(|l| l.stmt);
                if let Some((kind, prev_multi)) = prev {
                    if prev_multi || multi || kind != discriminant(&stmt.kind) {
                        lines[group_start].text.insert(0, '\u{0}');
                    }
                }
            }
        }
        for (start, cend, text) in self.take_comments(from, end) {
            lines.push(Line {
                text: format!("{}{text}", ind(level)),
                start,
                end: cend,
                stmt: None,
            });
        }
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let forced = line.text.starts_with('\u{0}');
            let text = line.text.trim_start_matches('\u{0}');
            if i > 0 && (forced || self.blank_between(lines[i - 1].end, line.start)) {
                out.push(String::new());
            }
            out.push(text.to_string());
        }
        out
    }

    /// `{ … }` around a block of statements; `open`/`close` are the braces' source offsets.
    fn braced(&mut self, stmts: &[Stmt], level: usize, open: usize, close: usize) -> String {
        let head = self.trailing(open + 1);
        let lines = self.block_lines(stmts, level + 1, (open, close), false);
        if lines.is_empty() && head.is_empty() {
            return "{}".into();
        }
        let mut out = format!("{{{head}");
        for l in lines {
            out.push('\n');
            out.push_str(&l);
        }
        out.push('\n');
        out.push_str(&ind(level));
        out.push('}');
        out
    }

    /// The block that follows offset `from` (its braces located in the source).
    fn braced_after(&mut self, stmts: &[Stmt], level: usize, from: usize) -> (String, usize) {
        match scan::next_block(self.src, from) {
            Some((open, close)) => (self.braced(stmts, level, open, close), close + 1),
            None => {
                let end = stmts.last().map_or(from, |s| s.span.end as usize);
                (self.braced(stmts, level, from, end), end)
            }
        }
    }

    fn stmt(&mut self, stmt: &Stmt, level: usize) -> String {
        let span = stmt.span;
        match &stmt.kind {
            StmtKind::Import { path_span, .. } => format!("import {}", self.slice(*path_span)),
            StmtKind::Let { var, value } => {
                format!("let {} = {}", self.slice(var.span), self.expr(value, level))
            }
            StmtKind::TypeAlias { name, ty } => {
                let ty = self.type_expr(ty, level);
                format!("type {} = {ty}", self.slice(name.span))
            }
            StmtKind::Class(c) => self.definition("class", &c.name, &c.params, &c.body, level),
            StmtKind::Define(d) => self.definition("define", &d.name, &d.params, &d.body, level),
            StmtKind::Node(n) => {
                let names: Vec<String> = n
                    .names
                    .iter()
                    .map(|n| match n {
                        NodeName::Name(_, s) | NodeName::Regex(_, s) => self.slice(*s).to_string(),
                        NodeName::Default(_) => "default".to_string(),
                    })
                    .collect();
                let last = n.names.last().map_or(span.start as usize, |n| match n {
                    NodeName::Name(_, s) | NodeName::Regex(_, s) | NodeName::Default(s) => {
                        s.end as usize
                    }
                });
                let (body, _) = self.braced_after(&n.body, level, last);
                format!("node {} {body}", names.join(", "))
            }
            StmtKind::Include {
                contain, classes, ..
            } => {
                let refs: Vec<String> = classes.iter().map(|c| self.class_ref(c, level)).collect();
                let kw = if *contain { "contain" } else { "include" };
                format!("{kw} {}", refs.join(", "))
            }
            StmtKind::Resource(r) => self.resource(r, level).0,
            StmtKind::Defaults { type_name, body } => {
                let head = self.slice(type_name.span).to_string();
                let (b, _) = self.body_after(body, level, type_name.span.end as usize, head.len());
                format!("{head} {b}")
            }
            StmtKind::Chain(c) => self.chain(c, level),
            StmtKind::If(i) => {
                let mut out = String::new();
                let mut after = span.start as usize;
                for (n, (cond, body)) in i.branches.iter().enumerate() {
                    if n > 0 {
                        out.push_str(" else ");
                    }
                    let cond_text = self.expr(cond, level);
                    let (b, end) = self.braced_after(body, level, cond.span.end as usize);
                    out.push_str(&format!("if {cond_text} {b}"));
                    after = end;
                }
                if let Some(body) = &i.else_body {
                    let (b, _) = self.braced_after(body, level, after);
                    out.push_str(&format!(" else {b}"));
                }
                out
            }
            StmtKind::Case(c) => self.case(c, level),
            StmtKind::For(f) => {
                let mut vars = String::new();
                if let Some(k) = &f.key {
                    vars.push_str(self.slice(k.span));
                    vars.push_str(", ");
                }
                vars.push_str(self.slice(f.var.span));
                let iter = self.expr(&f.iter, level);
                let (b, _) = self.braced_after(&f.body, level, f.iter.span.end as usize);
                format!("for {vars} in {iter} {b}")
            }
            StmtKind::Call(_) => self.verbatim(span.start as usize, span.end as usize),
            StmtKind::Provision { keyword_span, body } => {
                let (b, _) =
                    self.body_after(body, level, keyword_span.end as usize, "provision".len());
                format!("provision {b}")
            }
            StmtKind::Profile(p) => {
                let head = format!("provision {}", self.slice(p.name.span));
                let (b, _) = self.body_after(&p.body, level, p.name.span.end as usize, head.len());
                format!("{head} {b}")
            }
        }
    }

    fn definition(
        &mut self,
        kw: &str,
        name: &Ident,
        params: &[Param],
        body: &[Stmt],
        level: usize,
    ) -> String {
        let name_end = name.span.end as usize;
        let block = scan::next_block(self.src, params.last().map_or(name_end, param_end));
        let open = block.map_or(name_end, |b| b.0);
        let mut head = format!("{kw} {}", self.slice(name.span));
        if !params.is_empty() {
            let texts: Vec<String> = params.iter().map(|p| self.param(p, level + 1)).collect();
            let one = format!("({})", texts.join(", "));
            let multi = self.has_newline(name_end, open)
                || one.contains('\n')
                || level * 2 + head.len() + one.len() + 2 > WIDTH;
            if multi {
                head.push('(');
                let paren = scan::Lexer::new(self.src, name_end, open)
                    .find(|t| t.text(self.src) == "(")
                    .map_or(name_end, |t| t.end);
                head.push_str(&self.trailing(paren));
                for (p, t) in params.iter().zip(&texts) {
                    for (_, _, c) in self.take_comments(name_end, p.var.span.start as usize) {
                        head.push_str(&format!("\n{}{c}", ind(level + 1)));
                    }
                    let tail = self.trailing(param_end(p));
                    head.push_str(&format!("\n{}{t},{tail}", ind(level + 1)));
                }
                head.push_str(&format!("\n{})", ind(level)));
            } else {
                head.push_str(&one);
            }
        }
        let b = match block {
            Some((open, close)) => self.braced(body, level, open, close),
            None => self.braced(body, level, name_end, name_end),
        };
        format!("{head} {b}")
    }

    fn param(&mut self, p: &Param, level: usize) -> String {
        let mut out = self.slice(p.var.span).to_string();
        if let Some(ty) = &p.ty {
            out.push_str(": ");
            out.push_str(&self.type_expr(ty, level));
        }
        if let Some(d) = &p.default {
            out.push_str(" = ");
            out.push_str(&self.expr(d, level));
        }
        out
    }

    /// `name` or `name(p = v, …)`: the arguments on one line as written, or, when they were
    /// written on lines of their own, one per line with a trailing comma (as array and map
    /// literals are).
    fn class_ref(&mut self, c: &ClassRef, level: usize) -> String {
        let mut out = self.slice(c.name.span).to_string();
        let Some(args) = &c.args else {
            return out;
        };
        let name_end = c.name.span.end as usize;
        let open = self.src[name_end..].find('(').map(|i| name_end + i);
        let last_end = args.last().map(|a| a.value.span.end as usize);
        let close = last_end.and_then(|from| self.close_paren(from));
        if let (Some(open), Some(close)) = (open, close) {
            // A line break between the arguments themselves (not only inside a value: the
            // hugging `users(a = 1, b = {` … `})` stays as written).
            let mut gaps = vec![open];
            for a in args {
                gaps.push(a.name.span.start as usize);
                gaps.push(a.value.span.end as usize);
            }
            gaps.push(close);
            let spread = gaps.chunks(2).any(|g| self.has_newline(g[0], g[1]));
            if spread {
                let spans: Vec<(usize, usize)> = args
                    .iter()
                    .map(|a| (a.name.span.start as usize, a.value.span.end as usize))
                    .collect();
                let texts: Vec<String> = args
                    .iter()
                    .map(|a| {
                        let value = self.expr(&a.value, level + 1);
                        format!("{} = {value}", self.slice(a.name.span))
                    })
                    .collect();
                out.push_str(&self.list("(", ")", &spans, texts, true, level, (open, close + 1)));
                return out;
            }
        }
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                format!(
                    "{} = {}",
                    self.slice(a.name.span),
                    self.expr(&a.value, level)
                )
            })
            .collect();
        out.push_str(&format!("({})", args.join(", ")));
        out
    }

    /// The offset of the `)` closing an argument list whose last value ends at `from`
    /// (past a trailing comma, whitespace and comments).
    fn close_paren(&self, from: usize) -> Option<usize> {
        let rest = self.src.get(from..)?;
        let mut in_comment = false;
        for (i, ch) in rest.char_indices() {
            match ch {
                '\n' => in_comment = false,
                _ if in_comment => {}
                '#' => in_comment = true,
                ')' => return Some(from + i),
                _ => {}
            }
        }
        None
    }

    /// A resource declaration and the source offset just after its closing brace.
    fn resource(&mut self, r: &ResourceDecl, level: usize) -> (String, usize) {
        let kind = self.slice(r.kind.span).to_string();
        let title = self.expr(&r.title, level);
        let head_len = kind.len() + 1 + title.lines().last().unwrap_or("").len();
        let (body, end) = self.body_after(&r.body, level, r.title.span.end as usize, head_len);
        (format!("{kind} {title} {body}"), end)
    }

    /// An attribute body `{ a = 1, b = 2 }` found after `from`; `head` is the width of what
    /// precedes it on its line.
    fn body_after(
        &mut self,
        items: &[BodyItem],
        level: usize,
        from: usize,
        head: usize,
    ) -> (String, usize) {
        let (open, close) = scan::next_block(self.src, from).unwrap_or((from, from));
        let names: Vec<String> = items
            .iter()
            .map(|i| match i {
                BodyItem::Attr { name, .. } => self.slice(name.span).to_string(),
                BodyItem::Splat { .. } => "*".to_string(),
            })
            .collect();
        let one_line_source =
            !self.has_newline(open, close) && !self.comment_within(open, close + 1);
        let values: Vec<String> = items
            .iter()
            .map(|i| match i {
                BodyItem::Attr { value, .. } | BodyItem::Splat { value, .. } => {
                    self.expr(value, level + 1)
                }
            })
            .collect();
        if items.is_empty() && !self.comment_within(open, close) {
            return ("{}".into(), close + 1);
        }
        if one_line_source && !items.is_empty() {
            let inner: Vec<String> = names
                .iter()
                .zip(&values)
                .map(|(n, v)| format!("{n} = {v}"))
                .collect();
            let text = format!("{{ {} }}", inner.join(", "));
            if !text.contains('\n') && level * 2 + head + 1 + text.len() <= WIDTH {
                return (text, close + 1);
            }
        }
        let width = names.iter().map(String::len).max().unwrap_or(0);
        let mut out = format!("{{{}", self.trailing(open + 1));
        let mut prev_end: Option<usize> = None;
        for ((item, name), value) in items.iter().zip(&names).zip(&values) {
            let (start, end) = match item {
                BodyItem::Attr { name, value } => {
                    (name.span.start as usize, value.span.end as usize)
                }
                BodyItem::Splat { star, value } => (star.start as usize, value.span.end as usize),
            };
            self.own_line_comments(&mut out, open, start, level + 1, &mut prev_end);
            if prev_end.is_some_and(|p| self.blank_between(p, start)) {
                out.push('\n');
            }
            let tail = self.trailing(end);
            out.push_str(&format!(
                "\n{}{name:width$} = {value}{tail}",
                ind(level + 1)
            ));
            prev_end = Some(end);
        }
        self.own_line_comments(&mut out, open, close, level + 1, &mut prev_end);
        out.push_str(&format!("\n{}}}", ind(level)));
        (out, close + 1)
    }

    fn chain(&mut self, c: &Chain, level: usize) -> String {
        let mut parts: Vec<(String, usize, usize)> = Vec::new();
        for op in &c.operands {
            match op {
                ChainOperand::Expr(e) => {
                    let t = self.expr(e, level);
                    parts.push((t, e.span.start as usize, e.span.end as usize));
                }
                ChainOperand::Resource(r) => {
                    let (t, end) = self.resource(r, level);
                    parts.push((t, r.kind.span.start as usize, end));
                }
            }
        }
        let multi = parts.windows(2).any(|w| self.has_newline(w[0].2, w[1].1));
        let mut out = parts.first().map(|p| p.0.clone()).unwrap_or_default();
        for (part, (refresh, _)) in parts.iter().skip(1).zip(&c.arrows) {
            let arrow = if *refresh { "~>" } else { "->" };
            if multi {
                out.push_str(&format!("\n{}{arrow} {}", ind(level + 1), part.0));
            } else {
                out.push_str(&format!(" {arrow} {}", part.0));
            }
        }
        out
    }

    fn case(&mut self, c: &CaseStmt, level: usize) -> String {
        let subject = self.expr(&c.subject, level);
        let Some((open, close)) = scan::next_block(self.src, c.subject.span.end as usize) else {
            let end = c.subject.span.end as usize;
            return format!("case {subject} {}", self.verbatim(end, end));
        };
        let mut out = format!("case {subject} {{{}", self.trailing(open + 1));
        let mut prev_end: Option<usize> = None;
        for arm in &c.arms {
            let spans: Vec<Span> = arm
                .labels
                .iter()
                .map(|l| match l {
                    Label::Value(e) => e.span,
                    Label::Regex(_, s) | Label::Default(s) => *s,
                })
                .collect();
            let start = spans.first().map_or(open + 1, |s| s.start as usize);
            let labels_end = spans.last().map_or(open + 1, |s| s.end as usize);
            self.own_line_comments(&mut out, open, start, level + 1, &mut prev_end);
            if prev_end.is_some_and(|p| self.blank_between(p, start)) {
                out.push('\n');
            }
            let labels: Vec<String> = arm
                .labels
                .iter()
                .map(|l| match l {
                    Label::Value(e) => self.expr(e, level + 1),
                    Label::Regex(_, s) => self.slice(*s).to_string(),
                    Label::Default(_) => "default".to_string(),
                })
                .collect();
            let (body, end) = self.braced_after(&arm.body, level + 1, labels_end);
            let tail = self.trailing(end);
            out.push_str(&format!(
                "\n{}{}: {body}{tail}",
                ind(level + 1),
                labels.join(", ")
            ));
            prev_end = Some(end);
        }
        self.own_line_comments(&mut out, open, close, level + 1, &mut prev_end);
        out.push_str(&format!("\n{}}}", ind(level)));
        out
    }

    /// A type expression: `Name[arg, arg]`, unions joined by ` | `; written as is when it
    /// spans lines (a comment inside it stays in place).
    fn type_expr(&mut self, t: &TypeExpr, level: usize) -> String {
        let (start, end) = (t.span.start as usize, t.span.end as usize);
        if self.has_newline(start, end) {
            return self.verbatim(start, end);
        }
        match &t.kind {
            TypeKind::Named { name, args } => {
                let mut out = self.slice(name.span).to_string();
                if !args.is_empty() {
                    let args: Vec<String> = args
                        .iter()
                        .map(|a| match a {
                            TypeArg::Type(t) => self.type_expr(t, level),
                            TypeArg::Value(e) => self.expr(e, level),
                            TypeArg::Regex(_, s) => self.slice(*s).to_string(),
                        })
                        .collect();
                    out.push_str(&format!("[{}]", args.join(", ")));
                }
                out
            }
            TypeKind::Union(ts) => {
                let parts: Vec<String> = ts.iter().map(|t| self.type_expr(t, level)).collect();
                parts.join(" | ")
            }
        }
    }

    /// An expression: arrays and maps laid out, everything else as written.
    fn expr(&mut self, e: &Expr, level: usize) -> String {
        let (start, end) = (e.span.start as usize, e.span.end as usize);
        let multi = self.has_newline(start, end);
        match &e.kind {
            ExprKind::Array(items) => {
                let spans: Vec<(usize, usize)> = items
                    .iter()
                    .map(|i| (i.span.start as usize, i.span.end as usize))
                    .collect();
                let texts: Vec<String> = items.iter().map(|i| self.expr(i, level + 1)).collect();
                self.list("[", "]", &spans, texts, multi, level, (start, end))
            }
            ExprKind::Map(entries) => {
                let spans: Vec<(usize, usize)> = entries
                    .iter()
                    .map(|(k, v)| (k.span.start as usize, v.span.end as usize))
                    .collect();
                let texts: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", self.slice(k.span), self.expr(v, level + 1)))
                    .collect();
                self.list("{", "}", &spans, texts, multi, level, (start, end))
            }
            _ => self.verbatim(start, end),
        }
    }

    /// An array or map literal: on one line as written, or one element per line.
    #[allow(clippy::too_many_arguments)]
    fn list(
        &mut self,
        open: &str,
        close: &str,
        spans: &[(usize, usize)],
        texts: Vec<String>,
        multi: bool,
        level: usize,
        (list_start, end): (usize, usize),
    ) -> String {
        if texts.is_empty() && !self.comment_within(list_start, end) {
            return format!("{open}{close}");
        }
        if !multi {
            let pad = if open == "{" { " " } else { "" };
            return format!("{open}{pad}{}{pad}{close}", texts.join(", "));
        }
        let mut out = open.to_string();
        out.push_str(&self.trailing(list_start + 1));
        let mut prev_end: Option<usize> = None;
        for (&(start, item_end), text) in spans.iter().zip(&texts) {
            self.own_line_comments(&mut out, list_start, start, level + 1, &mut prev_end);
            if prev_end.is_some_and(|p| self.blank_between(p, start)) {
                out.push('\n');
            }
            let tail = self.trailing(item_end);
            out.push_str(&format!("\n{}{text},{tail}", ind(level + 1)));
            prev_end = Some(item_end);
        }
        self.own_line_comments(&mut out, list_start, end, level + 1, &mut prev_end);
        out.push_str(&format!("\n{}{close}", ind(level)));
        out
    }
}

fn param_end(p: &Param) -> usize {
    p.default
        .as_ref()
        .map(|d| d.span.end)
        .or(p.ty.as_ref().map(|t| t.span.end))
        .unwrap_or(p.var.span.end) as usize
}

#[cfg(test)]
mod tests {
    //! The printer on hand-built syntax trees (the parser's own tests cover text -> AST).
    use super::*;
    use crate::source::FileId;

    /// The span of the first `needle` at or after `from`.
    fn sp(src: &str, needle: &str, from: usize) -> Span {
        let at = from
            + src[from..]
                .find(needle)
                .unwrap_or_else(|| panic!("{needle}"));
        Span::new(FileId(0), at, at + needle.len())
    }

    fn ident(src: &str, needle: &str, from: usize) -> Ident {
        Ident {
            name: needle.trim_start_matches('$').to_string(),
            span: sp(src, needle, from),
        }
    }

    fn expr(src: &str, needle: &str, from: usize, kind: ExprKind) -> Expr {
        Expr {
            kind,
            span: sp(src, needle, from),
        }
    }

    fn attr(src: &str, name: &str, value: &str, from: usize) -> BodyItem {
        let name = ident(src, name, from);
        let v = expr(
            src,
            value,
            name.span.end as usize,
            ExprKind::Str(value.trim_matches('"').into()),
        );
        BodyItem::Attr { name, value: v }
    }

    fn comments(src: &str, texts: &[&str]) -> Vec<(Span, String)> {
        texts
            .iter()
            .map(|t| (sp(src, t, 0), t.to_string()))
            .collect()
    }

    fn stmt(src: &str, start: &str, end_incl: &str, kind: StmtKind) -> Stmt {
        let s = sp(src, start, 0).start as usize;
        let e = sp(src, end_incl, s).end as usize;
        Stmt {
            kind,
            span: Span::new(FileId(0), s, e),
        }
    }

    #[test]
    fn resource_bodies_are_aligned_with_trailing_comments() {
        let src = "file   \"/etc/motd\"{mode=\"0644\"   # rw\n owner = root\n}\n";
        let r = ResourceDecl {
            kind: ident(src, "file", 0),
            title: expr(src, "\"/etc/motd\"", 0, ExprKind::Str("/etc/motd".into())),
            body: vec![
                attr(src, "mode", "\"0644\"", 0),
                attr(src, "owner", "root", 0),
            ],
        };
        let file = File {
            items: vec![stmt(src, "file", "}", StmtKind::Resource(r))],
            comments: comments(src, &["# rw"]),
        };
        let out = Printer::new(src, &file.comments).file(&file);
        assert_eq!(
            out,
            "file \"/etc/motd\" {\n  mode  = \"0644\" # rw\n  owner = root\n}\n"
        );
    }

    #[test]
    fn blocks_keep_comments_and_single_blank_lines() {
        let src = "# top\nclass a {\n\n  # c1\n  package \"x\" {ensure=present}\n\n\n  service \"x\" { ensure = running }\n  # end\n}\nlet $v = [1,2]\n";
        let pkg_at = src.find("package").unwrap();
        let svc_at = src.find("service").unwrap();
        let package = ResourceDecl {
            kind: ident(src, "package", 0),
            title: expr(src, "\"x\"", pkg_at, ExprKind::Str("x".into())),
            body: vec![attr(src, "ensure", "present", pkg_at)],
        };
        let service = ResourceDecl {
            kind: ident(src, "service", 0),
            title: expr(src, "\"x\"", svc_at, ExprKind::Str("x".into())),
            body: vec![attr(src, "ensure", "running", svc_at)],
        };
        let body = vec![
            stmt(src, "package", "}", StmtKind::Resource(package)),
            stmt(src, "service", "}", StmtKind::Resource(service)),
        ];
        let class = ClassDef {
            name: ident(src, "a", src.find("class").unwrap() + 5),
            params: Vec::new(),
            body,
        };
        let let_at = src.find("let").unwrap();
        let array = Expr {
            kind: ExprKind::Array(vec![
                expr(src, "1", let_at, ExprKind::Int(1)),
                expr(src, "2", let_at, ExprKind::Int(2)),
            ]),
            span: sp(src, "[1,2]", 0),
        };
        let class_end = src.find("}\nlet").unwrap();
        let items = vec![
            Stmt {
                kind: StmtKind::Class(class),
                span: Span::new(FileId(0), src.find("class").unwrap(), class_end + 1),
            },
            stmt(
                src,
                "let",
                "]",
                StmtKind::Let {
                    var: ident(src, "$v", 0),
                    value: array,
                },
            ),
        ];
        let file = File {
            items,
            comments: comments(src, &["# top", "# c1", "# end"]),
        };
        let out = Printer::new(src, &file.comments).file(&file);
        assert_eq!(
            out,
            "# top\nclass a {\n  # c1\n  package \"x\" { ensure = present }\n\n  service \"x\" { ensure = running }\n  # end\n}\n\nlet $v = [1, 2]\n"
        );
    }
}
