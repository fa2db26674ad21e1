//! A hand-written parser for well-formed input: the fast path in front of pest.
//!
//! It reads the grammar of `grammar/fleet.pest` directly into the AST, with the spans
//! lowering gives, in one pass over the bytes and without pest's token queue. It only ever
//! answers for input it is sure of: at anything it does not expect (a syntax error, a
//! construct where pest would backtrack into another reading, anything lowering reports) it
//! gives up with `None`, and the caller runs pest and lowering, which find the same AST or
//! the diagnostics. So it needs to be right only where it succeeds; `tests` compare the two
//! on every manifest of the repository and on mutations of them.

use super::ast::*;
use super::lower::{self, bare_name_to_var, reduce, Chunk, Op};
use super::strings::{self, Quote};
use crate::source::{FileId, Span};

/// Gives up on nesting deeper than this (lowering reports more than 400 levels; this counts
/// at least as many as lowering does, so it gives up first).
const MAX_LEVELS: usize = 390;

/// Not this reading: the caller falls back to pest.
type R<T> = Option<T>;

/// Parses `text[offset..]` as statements (inside a top-level block when `in_block`): the
/// chunk pest and lowering would give, or None when that is not certain.
pub(crate) fn parse(file: FileId, text: &str, offset: usize, in_block: bool) -> Option<Chunk> {
    let mut p = Parser {
        file,
        src: text.as_bytes(),
        text,
        pos: offset,
        last: offset,
        comments: Vec::new(),
        levels: usize::from(in_block),
        deepest: usize::from(in_block),
    };
    let mut items = Vec::new();
    p.skip();
    while p.pos < p.src.len() {
        items.push(p.stmt(!in_block)?);
        p.skip();
    }
    items.shrink_to_fit();
    Some(Chunk {
        items,
        comments: p.comments,
        diags: Vec::new(),
        error: None,
    })
}

struct Parser<'a> {
    file: FileId,
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    /// The end of the last token taken (where a span that ends here stops).
    last: usize,
    comments: Vec<(Span, String)>,
    /// The nesting lowering counts at the position (`enter`).
    levels: usize,
    /// The deepest `levels` reached since the innermost open [`Parser::begin`].
    deepest: usize,
}

fn ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn name_start(b: u8) -> bool {
    b.is_ascii_lowercase() || b == b'_'
}

fn name_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

/// The words of `KeywordBody`.
fn is_keyword(w: &[u8]) -> bool {
    matches!(
        w,
        b"import"
            | b"include"
            | b"in"
            | b"if"
            | b"class"
            | b"contain"
            | b"case"
            | b"define"
            | b"default"
            | b"node"
            | b"none"
            | b"not"
            | b"type"
            | b"true"
            | b"for"
            | b"false"
            | b"let"
            | b"else"
            | b"and"
            | b"or"
    )
}

impl<'a> Parser<'a> {
    fn at(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    fn peek(&self) -> u8 {
        self.at(self.pos)
    }

    fn span(&self, start: usize) -> Span {
        Span::new(self.file, start, self.last)
    }

    fn sp(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    /// Whitespace and comments (each comment recorded once).
    fn skip(&mut self) {
        loop {
            match self.peek() {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'#' => {
                    let start = self.pos;
                    let end = self.src[start..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(self.src.len(), |n| start + n);
                    if self
                        .comments
                        .last()
                        .is_none_or(|c| (c.0.start as usize) < start)
                    {
                        self.comments
                            .push((self.sp(start, end), self.text[start..end].to_string()));
                    }
                    self.pos = end;
                }
                _ => return,
            }
        }
    }

    /// The position after whitespace and comments from `self.pos`, without moving.
    fn after_skip(&self, mut i: usize) -> usize {
        loop {
            match self.at(i) {
                b' ' | b'\t' | b'\r' | b'\n' => i += 1,
                b'#' => {
                    i = self.src[i..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(self.src.len(), |n| i + n)
                }
                _ => return i,
            }
        }
    }

    /// Takes the literal `s` at the position (after skipping), or gives up.
    fn expect(&mut self, s: &[u8]) -> R<()> {
        self.skip();
        if self.src[self.pos..].starts_with(s) {
            self.pos += s.len();
            self.last = self.pos;
            Some(())
        } else {
            None
        }
    }

    /// Whether the literal `s` is next (after skipping); takes it if so.
    fn eat(&mut self, s: &[u8]) -> bool {
        let i = self.after_skip(self.pos);
        if self.src[i..].starts_with(s) {
            self.skip();
            self.pos += s.len();
            self.last = self.pos;
            true
        } else {
            false
        }
    }

    /// The word (`IdentChar`s) at `i`.
    fn word_at(&self, i: usize) -> &'a [u8] {
        let n = self.src[i..].iter().take_while(|&&b| ident_char(b)).count();
        &self.src[i..i + n]
    }

    /// Whether keyword `kw` (followed by no `IdentChar`) is next after skipping.
    fn keyword_next(&self, kw: &[u8]) -> bool {
        let i = self.after_skip(self.pos);
        self.word_at(i) == kw
    }

    fn enter(&mut self, n: usize) -> R<()> {
        self.levels += n;
        self.deepest = self.deepest.max(self.levels);
        (self.levels <= MAX_LEVELS).then_some(())
    }

    /// Starts a construct whose levels are known only at its end (lowering enters them
    /// before lowering what is inside): the saved deepest level, for [`Parser::finish`].
    fn begin(&mut self) -> usize {
        std::mem::replace(&mut self.deepest, self.levels)
    }

    /// Ends what [`Parser::begin`] started: everything inside was `extra` levels deeper.
    fn finish(&mut self, saved: usize, extra: usize) -> R<()> {
        let sub = self.deepest + extra;
        if sub > MAX_LEVELS {
            return None;
        }
        self.deepest = saved.max(sub);
        Some(())
    }

    fn leave(&mut self, n: usize) {
        self.levels -= n;
    }

    // ---------------------------------------------------------------------------------------
    // Tokens
    // ---------------------------------------------------------------------------------------

    /// `NameBody` at `i`: its end.
    fn name_body_at(&self, i: usize) -> R<usize> {
        if !name_start(self.at(i)) {
            return None;
        }
        let mut j = i + 1;
        while name_char(self.at(j)) {
            j += 1;
        }
        (!ident_char(self.at(j))).then_some(j)
    }

    /// `QualName` at `i`: its end.
    fn qual_name_at(&self, i: usize) -> R<usize> {
        let mut j = self.name_body_at(i)?;
        while self.at(j) == b':' && self.at(j + 1) == b':' {
            match self.name_body_at(j + 2) {
                Some(k) => j = k,
                None => return None,
            }
        }
        Some(j)
    }

    /// Takes a token from the position (already skipped) to `end`, as an identifier.
    fn take_ident(&mut self, end: usize) -> Ident {
        let start = self.pos;
        self.pos = end;
        self.last = end;
        Ident {
            name: self.text[start..end].to_string(),
            span: self.sp(start, end),
        }
    }

    fn qual_name(&mut self) -> R<Ident> {
        self.skip();
        let end = self.qual_name_at(self.pos)?;
        Some(self.take_ident(end))
    }

    /// `AttrName`: a name other than `and`, `or`, `not`, `in`.
    fn attr_name(&mut self) -> R<Ident> {
        self.skip();
        let end = self.name_body_at(self.pos)?;
        if matches!(&self.src[self.pos..end], b"and" | b"or" | b"not" | b"in") {
            return None;
        }
        Some(self.take_ident(end))
    }

    /// `TypeName` at `i`: its end.
    fn type_name_at(&self, i: usize) -> R<usize> {
        if !self.at(i).is_ascii_uppercase() {
            return None;
        }
        let mut j = i + 1;
        loop {
            while ident_char(self.at(j)) {
                j += 1;
            }
            if self.at(j) == b':' && self.at(j + 1) == b':' && self.at(j + 2).is_ascii_uppercase() {
                j += 3;
            } else {
                return Some(j);
            }
        }
    }

    fn type_name(&mut self) -> R<Ident> {
        self.skip();
        let end = self.type_name_at(self.pos)?;
        Some(self.take_ident(end))
    }

    /// `Var`: `$name`, `$ns::name`; the name without `$`, the span from `$`.
    fn var(&mut self) -> R<Ident> {
        self.skip();
        if self.peek() != b'$' {
            return None;
        }
        let end = self.qual_name_at(self.pos + 1)?;
        let start = self.pos;
        self.pos = end;
        self.last = end;
        Some(Ident {
            name: self.text[start + 1..end].to_string(),
            span: self.sp(start, end),
        })
    }

    /// A keyword token (`KwIf` …): its span.
    fn keyword(&mut self, kw: &[u8]) -> R<Span> {
        self.skip();
        if self.word_at(self.pos) != kw {
            return None;
        }
        let start = self.pos;
        self.pos += kw.len();
        self.last = self.pos;
        Some(self.sp(start, self.pos))
    }

    /// `Regex` at the position (skipped): the pattern and the span.
    fn regex(&mut self) -> R<(String, Span)> {
        self.skip();
        if self.peek() != b'/' {
            return None;
        }
        let start = self.pos;
        let mut j = start + 1;
        loop {
            match self.at(j) {
                b'/' => break,
                b'\n' => return None,
                b'\\' => {
                    if matches!(self.at(j + 1), b'\n') || j + 1 >= self.src.len() {
                        return None;
                    }
                    j += 1 + utf8_len(self.at(j + 1));
                }
                _ if j >= self.src.len() => return None,
                b => j += utf8_len(b),
            }
        }
        let body = &self.text[start + 1..j];
        self.pos = j + 1;
        self.last = self.pos;
        Some((body.replace("\\/", "/"), self.sp(start, self.pos)))
    }

    /// `Int` at the position (skipped), with a `-` folded in when `negative`.
    fn int_value(&mut self, negative: bool) -> R<i64> {
        let start = self.pos;
        let (radix, digits_from) = if self.src[start..].starts_with(b"0x") {
            (16, start + 2)
        } else if self.src[start..].starts_with(b"0o") {
            (8, start + 2)
        } else {
            (10, start)
        };
        let mut j = digits_from;
        while (self.at(j) as char).is_digit(radix) {
            j += 1;
        }
        if j == digits_from || ident_char(self.at(j)) {
            return None;
        }
        let magnitude = i128::from_str_radix(&self.text[digits_from..j], radix).ok()?;
        let v = i64::try_from(if negative { -magnitude } else { magnitude }).ok()?;
        self.pos = j;
        self.last = j;
        Some(v)
    }

    // ---------------------------------------------------------------------------------------
    // Statements
    // ---------------------------------------------------------------------------------------

    fn stmt(&mut self, top: bool) -> R<Stmt> {
        self.skip();
        let start = self.pos;
        let c = self.peek();
        let word = self.word_at(start);
        let kind = if is_keyword(word) {
            match word {
                b"import" => {
                    if !top {
                        return None;
                    }
                    self.keyword(b"import")?;
                    self.skip();
                    let s = self.string()?;
                    let ExprKind::Str(path) = s.kind else {
                        return None;
                    };
                    StmtKind::Import {
                        path,
                        path_span: s.span,
                    }
                }
                b"let" => {
                    self.keyword(b"let")?;
                    let var = self.var()?;
                    self.expect(b"=")?;
                    let value = self.full_expr()?;
                    StmtKind::Let { var, value }
                }
                b"type" => {
                    self.keyword(b"type")?;
                    let name = self.type_name()?;
                    self.expect(b"=")?;
                    let ty = Box::new(self.type_expr()?);
                    StmtKind::TypeAlias { name, ty }
                }
                b"class" | b"define" => {
                    self.keyword(word)?;
                    let name = self.qual_name()?;
                    let params = if self.eat(b"(") {
                        self.params()?
                    } else {
                        Vec::new()
                    };
                    let body = self.block()?;
                    if word == b"class" {
                        StmtKind::Class(ClassDef { name, params, body })
                    } else {
                        StmtKind::Define(DefineDef { name, params, body })
                    }
                }
                b"node" => {
                    self.keyword(b"node")?;
                    let mut names = Vec::new();
                    loop {
                        names.push(self.node_name()?);
                        if !self.eat(b",") {
                            break;
                        }
                        if self.src.get(self.after_skip(self.pos)) == Some(&b'{') {
                            break;
                        }
                    }
                    let body = self.block()?;
                    StmtKind::Node(NodeDef { names, body })
                }
                b"include" | b"contain" => {
                    let keyword_span = self.keyword(word)?;
                    let mut classes = vec![self.class_ref()?];
                    while self.eat(b",") {
                        let i = self.after_skip(self.pos);
                        if self.name_body_at(i).is_none() || is_keyword(self.word_at(i)) {
                            break;
                        }
                        classes.push(self.class_ref()?);
                    }
                    StmtKind::Include {
                        contain: word == b"contain",
                        keyword_span,
                        classes,
                    }
                }
                b"if" => self.if_stmt()?,
                b"case" => self.case_stmt()?,
                b"for" => {
                    self.keyword(b"for")?;
                    let first = self.var()?;
                    let (key, var) = if self.eat(b",") {
                        (Some(first), self.var()?)
                    } else {
                        (None, first)
                    };
                    self.keyword(b"in")?;
                    let iter = self.expr()?;
                    let body = self.block()?;
                    StmtKind::For(Box::new(ForStmt {
                        key,
                        var,
                        iter,
                        body,
                    }))
                }
                _ => return None,
            }
        } else if word == b"provision" {
            let keyword_span = self.keyword(b"provision")?;
            let i = self.after_skip(self.pos);
            if matches!(self.at(i), b'"' | b'\'') {
                self.skip();
                let s = self.string()?;
                let ExprKind::Str(name) = s.kind else {
                    return None;
                };
                let body = self.body()?;
                StmtKind::Profile(ProfileDef {
                    keyword_span,
                    name: Ident { name, span: s.span },
                    body,
                })
            } else {
                let body = self.body()?;
                StmtKind::Provision { keyword_span, body }
            }
        } else if c.is_ascii_uppercase() && {
            let end = self.type_name_at(start)?;
            self.at(self.after_skip(end)) == b'{'
        } {
            let type_name = self.type_name()?;
            let body = self.body()?;
            StmtKind::Defaults { type_name, body }
        } else {
            return self.chain(start);
        };
        Some(Stmt {
            kind,
            span: self.span(start),
        })
    }

    /// A `Chain` statement (a resource, a chain or a call).
    fn chain(&mut self, start: usize) -> R<Stmt> {
        let mut operands = Vec::new();
        if name_start(self.peek()) {
            let end = self.qual_name_at(self.pos)?;
            if is_keyword(self.word_at(self.pos)) {
                return None;
            }
            if self.at(end) == b'(' {
                // A call, alone or starting a chain.
                let e = self.expr()?;
                if !self.arrow_next() {
                    let lower = self.peek_start_lower(start);
                    return match e.kind {
                        ExprKind::Call(call)
                            if lower && e.span.start as usize == start && call_alone(&call, &e) =>
                        {
                            Some(Stmt {
                                kind: StmtKind::Call(*call),
                                span: self.span(start),
                            })
                        }
                        _ => None,
                    };
                }
                operands.push(ChainOperand::Expr(e));
            } else {
                operands.push(ChainOperand::Resource(self.resource()?));
            }
        } else {
            operands.push(ChainOperand::Expr(self.expr()?));
            if !self.arrow_next() {
                return None;
            }
        }
        let mut arrows = Vec::new();
        while self.arrow_next() {
            self.skip();
            let a = self.pos;
            let soft = self.peek() == b'~';
            self.pos += 2;
            self.last = self.pos;
            arrows.push((soft, self.sp(a, self.pos)));
            self.skip();
            let operand = if name_start(self.peek()) {
                let end = self.qual_name_at(self.pos)?;
                if is_keyword(self.word_at(self.pos)) || self.at(end) == b'(' {
                    ChainOperand::Expr(self.expr()?)
                } else {
                    ChainOperand::Resource(self.resource()?)
                }
            } else {
                ChainOperand::Expr(self.expr()?)
            };
            operands.push(operand);
        }
        let span = self.span(start);
        let kind = if operands.len() > 1 {
            StmtKind::Chain(Chain { operands, arrows })
        } else {
            match operands.pop()? {
                ChainOperand::Resource(r) => StmtKind::Resource(r),
                ChainOperand::Expr(_) => return None,
            }
        };
        Some(Stmt { kind, span })
    }

    fn peek_start_lower(&self, start: usize) -> bool {
        self.at(start).is_ascii_lowercase()
    }

    fn arrow_next(&self) -> bool {
        let i = self.after_skip(self.pos);
        matches!(&self.src[i..], [b'-' | b'~', b'>', ..])
    }

    /// `kind TITLE { body }`
    fn resource(&mut self) -> R<ResourceDecl> {
        let kind = self.qual_name()?;
        if self.peek() == b'(' {
            return None;
        }
        let title = self.expr()?;
        let body = self.body()?;
        Some(ResourceDecl { kind, title, body })
    }

    fn block(&mut self) -> R<Vec<Stmt>> {
        self.expect(b"{")?;
        self.enter(1)?;
        let mut out = Vec::new();
        loop {
            self.skip();
            if self.peek() == b'}' {
                break;
            }
            if self.pos >= self.src.len() {
                return None;
            }
            out.push(self.stmt(false)?);
        }
        self.expect(b"}")?;
        self.leave(1);
        out.shrink_to_fit();
        Some(out)
    }

    fn body(&mut self) -> R<Vec<BodyItem>> {
        self.expect(b"{")?;
        let mut out = Vec::new();
        loop {
            self.skip();
            match self.peek() {
                b'}' => break,
                b'*' => {
                    let star = self.sp(self.pos, self.pos + 1);
                    self.pos += 1;
                    self.last = self.pos;
                    self.expect(b"=")?;
                    let value = self.full_expr()?;
                    out.push(BodyItem::Splat { star, value });
                }
                _ => {
                    let name = self.attr_name()?;
                    self.expect(b"=")?;
                    let value = self.full_expr()?;
                    out.push(BodyItem::Attr { name, value });
                }
            }
            self.eat(b",");
        }
        self.expect(b"}")?;
        out.shrink_to_fit();
        Some(out)
    }

    /// After `(`: the parameters and `)`.
    fn params(&mut self) -> R<Vec<Param>> {
        let mut out = Vec::new();
        loop {
            self.skip();
            if self.peek() == b')' {
                break;
            }
            let var = self.var()?;
            let ty = if self.eat(b":") {
                Some(self.type_expr()?)
            } else {
                None
            };
            let default = if self.at(self.after_skip(self.pos)) == b'='
                && self.at(self.after_skip(self.pos) + 1) != b'='
            {
                self.expect(b"=")?;
                Some(self.full_expr()?)
            } else {
                None
            };
            out.push(Param { var, ty, default });
            if !self.eat(b",") {
                break;
            }
        }
        self.expect(b")")?;
        Some(out)
    }

    fn node_name(&mut self) -> R<NodeName> {
        self.skip();
        match self.peek() {
            b'/' => {
                let (re, span) = self.regex()?;
                Some(NodeName::Regex(re, span))
            }
            b'"' | b'\'' => {
                let s = self.string()?;
                match s.kind {
                    ExprKind::Str(n) => Some(NodeName::Name(n, s.span)),
                    _ => None,
                }
            }
            _ => Some(NodeName::Default(self.keyword(b"default")?)),
        }
    }

    fn class_ref(&mut self) -> R<ClassRef> {
        self.skip();
        let end = self.qual_name_at(self.pos)?;
        if is_keyword(self.word_at(self.pos)) {
            return None;
        }
        let name = self.take_ident(end);
        let args = if self.eat(b"(") {
            let mut out = Vec::new();
            loop {
                self.skip();
                if self.peek() == b')' {
                    break;
                }
                let name = self.attr_name()?;
                self.expect(b"=")?;
                let value = self.full_expr()?;
                out.push(NamedArg { name, value });
                if !self.eat(b",") {
                    break;
                }
            }
            self.expect(b")")?;
            Some(out)
        } else {
            None
        };
        Some(ClassRef { name, args })
    }

    fn if_stmt(&mut self) -> R<StmtKind> {
        self.keyword(b"if")?;
        let mut branches = vec![(self.expr()?, self.block()?)];
        let mut else_body = None;
        while self.keyword_next(b"else") {
            self.keyword(b"else")?;
            if self.keyword_next(b"if") {
                self.keyword(b"if")?;
                branches.push((self.expr()?, self.block()?));
            } else {
                else_body = Some(self.block()?);
                break;
            }
        }
        Some(StmtKind::If(IfStmt {
            branches,
            else_body,
        }))
    }

    fn case_stmt(&mut self) -> R<StmtKind> {
        self.keyword(b"case")?;
        let subject = self.expr()?;
        self.expect(b"{")?;
        let mut arms = Vec::new();
        loop {
            self.skip();
            if self.peek() == b'}' {
                break;
            }
            let mut labels = vec![self.label()?];
            while self.eat(b",") {
                if self.at(self.after_skip(self.pos)) == b':' {
                    break;
                }
                labels.push(self.label()?);
            }
            self.expect(b":")?;
            let body = self.block()?;
            arms.push(CaseArm { labels, body });
        }
        self.expect(b"}")?;
        Some(StmtKind::Case(CaseStmt { subject, arms }))
    }

    fn label(&mut self) -> R<Label> {
        self.skip();
        let start = self.pos;
        if self.peek() == b'/' {
            let (re, _) = self.regex()?;
            return Some(Label::Regex(re, self.span(start)));
        }
        if self.word_at(start) == b"default" {
            self.keyword(b"default")?;
            return Some(Label::Default(self.span(start)));
        }
        Some(Label::Value(self.expr()?))
    }

    // ---------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------

    fn type_expr(&mut self) -> R<TypeExpr> {
        self.skip();
        let start = self.pos;
        self.enter(1)?;
        let mut terms = vec![self.type_term()?];
        while self.eat(b"|") {
            terms.push(self.type_term()?);
        }
        self.leave(1);
        Some(if terms.len() == 1 {
            terms.pop()?
        } else {
            TypeExpr {
                kind: TypeKind::Union(terms),
                span: self.span(start),
            }
        })
    }

    fn type_term(&mut self) -> R<TypeExpr> {
        let name = self.type_name()?;
        let start = name.span.start as usize;
        let mut args = Vec::new();
        if self.eat(b"[") {
            loop {
                self.skip();
                let c = self.peek();
                if c == b'/' {
                    let (re, span) = self.regex()?;
                    args.push(TypeArg::Regex(re, span));
                } else if c.is_ascii_uppercase() {
                    args.push(TypeArg::Type(self.type_expr()?));
                } else {
                    args.push(TypeArg::Value(self.type_value()?));
                }
                if !self.eat(b",") {
                    break;
                }
                if self.at(self.after_skip(self.pos)) == b']' {
                    break;
                }
            }
            self.expect(b"]")?;
        }
        Some(TypeExpr {
            kind: TypeKind::Named { name, args },
            span: self.span(start),
        })
    }

    /// A `TypeValue` that lowers to an Int or a String.
    fn type_value(&mut self) -> R<Expr> {
        // Lowering counts the operand and its primary.
        self.enter(2)?;
        let e = self.type_value_inner();
        self.leave(2);
        e
    }

    fn type_value_inner(&mut self) -> R<Expr> {
        let start = self.pos;
        match self.peek() {
            b'-' if self.at(start + 1).is_ascii_digit() => {
                self.pos += 1;
                let v = self.int_value(true)?;
                self.no_postfix()?;
                Some(Expr {
                    kind: ExprKind::Int(v),
                    span: self.span(start),
                })
            }
            b'0'..=b'9' | b'"' | b'\'' => {
                let e = self.primary()?;
                self.no_postfix()?;
                matches!(e.kind, ExprKind::Int(_) | ExprKind::Str(_)).then_some(e)
            }
            c if name_start(c) => {
                let end = self.qual_name_at(start)?;
                if is_keyword(self.word_at(start)) || self.at(end) == b'(' {
                    return None;
                }
                let id = self.take_ident(end);
                self.no_postfix()?;
                Some(Expr {
                    kind: ExprKind::Str(id.name),
                    span: id.span,
                })
            }
            _ => None,
        }
    }

    /// Gives up when a postfix operator follows (lowering would report the type argument).
    fn no_postfix(&self) -> R<()> {
        if matches!(self.peek(), b'.' | b'[') || self.selector_next() {
            return None;
        }
        Some(())
    }

    // ---------------------------------------------------------------------------------------
    // Expressions
    // ---------------------------------------------------------------------------------------

    /// `FullExpr`: an `if` expression or an `Expr`.
    fn full_expr(&mut self) -> R<Expr> {
        self.skip();
        if self.word_at(self.pos) == b"if" {
            return self.if_expr();
        }
        self.expr()
    }

    fn if_expr(&mut self) -> R<Expr> {
        let start = self.pos;
        self.enter(1)?;
        self.keyword(b"if")?;
        let mut branches = Vec::new();
        loop {
            let cond = self.expr()?;
            self.expect(b"{")?;
            let value = self.full_expr()?;
            self.expect(b"}")?;
            branches.push((cond, value));
            self.keyword(b"else")?;
            if self.keyword_next(b"if") {
                self.keyword(b"if")?;
            } else {
                break;
            }
        }
        self.expect(b"{")?;
        let else_value = Box::new(self.full_expr()?);
        self.expect(b"}")?;
        self.leave(1);
        Some(Expr {
            kind: ExprKind::If {
                branches: branches.into_boxed_slice(),
                else_value,
            },
            span: self.span(start),
        })
    }

    /// The infix operator at `i`: its text length and whether it is a match operator.
    fn infix_at(&self, i: usize) -> Option<(usize, bool)> {
        let s = &self.src[i..];
        let two = |a: u8, b: u8| s.len() >= 2 && s[0] == a && s[1] == b;
        if two(b'=', b'~') || two(b'!', b'~') {
            return Some((2, true));
        }
        if two(b'?', b'?')
            || two(b'=', b'=')
            || two(b'!', b'=')
            || two(b'<', b'=')
            || two(b'>', b'=')
        {
            return Some((2, false));
        }
        match s.first()? {
            b'<' | b'>' | b'+' | b'*' | b'/' | b'%' => Some((1, false)),
            b'-' if s.get(1) != Some(&b'>') => Some((1, false)),
            _ => {
                let w = self.word_at(i);
                matches!(w, b"and" | b"or" | b"in").then_some((w.len(), false))
            }
        }
    }

    /// Whether an operand can start at `i` (a prefix operator or a primary's first byte).
    fn operand_starts(&self, i: usize) -> bool {
        match self.at(i) {
            b'"' | b'\'' | b'$' | b'[' | b'{' | b'(' => true,
            b'-' => self.at(i + 1) != b'>',
            c if c.is_ascii_digit() || c.is_ascii_uppercase() => true,
            c if name_start(c) => {
                let w = self.word_at(i);
                !is_keyword(w) || matches!(w, b"true" | b"false" | b"none" | b"not")
            }
            _ => false,
        }
    }

    /// The infix operator after the position, when an operand (or a regex) follows it (else
    /// pest's repetition would not take it): its offset, length and whether it is `=~`/`!~`.
    fn next_infix(&self) -> Option<(usize, usize, bool)> {
        let i = self.after_skip(self.pos);
        let (len, is_match) = self.infix_at(i)?;
        let j = self.after_skip(i + len);
        ((is_match && self.at(j) == b'/') || self.operand_starts(j)).then_some((i, len, is_match))
    }

    /// `Expr`: operands and infix operators, folded by precedence as lowering does.
    fn expr(&mut self) -> R<Expr> {
        self.skip();
        let start = self.pos;
        let saved = self.begin();
        let (prefix, first) = self.operand()?;
        let mut op = self.next_infix();
        if prefix.is_empty() && op.is_none() {
            // One operand (the common case): lowering takes it as it is.
            self.finish(saved, 0)?;
            return Some(first);
        }
        let mut parts = prefix.len() + 1;
        let mut operands = Vec::new();
        let mut ops: Vec<(Op, u8)> = Vec::new();
        let push_operand = |operands: &mut Vec<Expr>,
                            ops: &mut Vec<(Op, u8)>,
                            prefix: Vec<(UnOp, Span)>,
                            e: Expr| {
            ops.extend(prefix.into_iter().map(|(op, s)| lower::prefix(op, s)));
            operands.push(e);
        };
        push_operand(&mut operands, &mut ops, prefix, first);
        while let Some((i, len, is_match)) = op {
            self.skip();
            lower::push_infix(&mut operands, &mut ops, &self.text[i..i + len]);
            self.pos = i + len;
            self.last = self.pos;
            parts += 1;
            self.skip();
            if is_match && self.peek() == b'/' {
                let (re, span) = self.regex()?;
                operands.push(Expr {
                    kind: ExprKind::Regex(re),
                    span,
                });
                parts += 1;
            } else {
                let (prefix, e) = self.operand()?;
                parts += prefix.len() + 1;
                push_operand(&mut operands, &mut ops, prefix, e);
            }
            if parts > MAX_LEVELS {
                return None;
            }
            op = self.next_infix();
        }
        self.finish(saved, parts)?;
        while !ops.is_empty() {
            reduce(&mut operands, &mut ops);
        }
        let mut e = operands.pop()?;
        e.span = self.span(start);
        Some(e)
    }

    /// An operand: its prefix operators (outermost first) and its postfixed primary, a `-`
    /// right before an integer literal folded into it.
    fn operand(&mut self) -> R<(Vec<(UnOp, Span)>, Expr)> {
        let mut prefix = Vec::new();
        loop {
            self.skip();
            let s = self.pos;
            if self.peek() == b'-' && self.at(s + 1) != b'>' {
                self.pos += 1;
                self.last = self.pos;
                prefix.push((UnOp::Neg, self.sp(s, s + 1)));
            } else if self.word_at(s) == b"not" {
                self.pos += 3;
                self.last = self.pos;
                prefix.push((UnOp::Not, self.sp(s, s + 3)));
            } else {
                break;
            }
        }
        let saved = self.begin();
        if let Some(&(UnOp::Neg, neg)) = prefix.last() {
            if self.peek().is_ascii_digit() {
                let at = self.pos;
                let v = self.int_value(true)?;
                if matches!(self.peek(), b'.' | b'[') || self.selector_next() {
                    // An integer with postfix operators: lowering does not fold it.
                    return None;
                }
                prefix.pop();
                self.finish(saved, prefix.len() + 1)?;
                let span = neg.to(self.span(at));
                let e = Expr {
                    kind: ExprKind::Int(v),
                    span,
                };
                return Some((prefix, e));
            }
        }
        let e = self.postfixed()?;
        self.finish(saved, prefix.len())?;
        Some((prefix, e))
    }

    /// Whether a selector (`? {`) follows, after whitespace.
    fn selector_next(&self) -> bool {
        let i = self.after_skip(self.pos);
        self.at(i) == b'?' && self.at(self.after_skip(i + 1)) == b'{'
    }

    /// A primary and its postfix operators (`.key`, `[index]` touching it; `? { … }`).
    fn postfixed(&mut self) -> R<Expr> {
        let saved = self.begin();
        let mut e = self.primary()?;
        let mut n = 1;
        loop {
            let base_start = e.span.start as usize;
            let kind = match self.peek() {
                b'.' => {
                    self.pos += 1;
                    self.skip();
                    let end = self.name_body_at(self.pos)?;
                    let key = self.take_ident(end);
                    ExprKind::Field {
                        base: Box::new(e),
                        key: Box::new(key),
                    }
                }
                b'[' => {
                    self.pos += 1;
                    let index = self.full_expr()?;
                    self.expect(b"]")?;
                    ExprKind::Index {
                        base: Box::new(e),
                        index: Box::new(index),
                    }
                }
                _ if self.selector_next() => {
                    self.expect(b"?")?;
                    self.expect(b"{")?;
                    let arms = self.selector_arms()?;
                    ExprKind::Selector {
                        subject: Box::new(e),
                        arms,
                    }
                }
                _ => break,
            };
            n += 1;
            e = Expr {
                kind,
                span: self.span(base_start),
            };
        }
        // Lowering enters one level for a lone primary, one per postfix operator and one
        // more otherwise.
        self.finish(saved, if n == 1 { 1 } else { n })?;
        Some(e)
    }

    /// After `? {`: the arms and `}`.
    fn selector_arms(&mut self) -> R<Box<[(Label, Expr)]>> {
        let mut arms = Vec::new();
        loop {
            self.skip();
            if self.peek() == b'}' {
                break;
            }
            let label = self.label()?;
            self.expect(b"=>")?;
            let value = self.full_expr()?;
            arms.push((label, value));
            if !self.eat(b",") {
                break;
            }
        }
        self.expect(b"}")?;
        Some(arms.into_boxed_slice())
    }

    /// The comma-separated `FullExpr`s (or regexes, for call arguments) up to `close`, after
    /// the opening bracket; at least one when `nonempty`.
    fn list(&mut self, close: u8, regex_ok: bool, nonempty: bool) -> R<Vec<Expr>> {
        let mut out = Vec::new();
        loop {
            self.skip();
            if self.peek() == close && !(nonempty && out.is_empty()) {
                break;
            }
            if regex_ok && self.peek() == b'/' {
                let (re, span) = self.regex()?;
                out.push(Expr {
                    kind: ExprKind::Regex(re),
                    span,
                });
            } else {
                out.push(self.full_expr()?);
            }
            if !self.eat(b",") {
                break;
            }
        }
        self.expect(&[close])?;
        out.shrink_to_fit();
        Some(out)
    }

    fn primary(&mut self) -> R<Expr> {
        let start = self.pos;
        let c = self.peek();
        let kind = match c {
            b'"' | b'\'' => return self.string(),
            b'$' => {
                let v = self.var()?;
                return Some(Expr {
                    kind: ExprKind::Var(v.name),
                    span: v.span,
                });
            }
            b'0'..=b'9' => ExprKind::Int(self.int_value(false)?),
            b'A'..=b'Z' => {
                let type_name = Box::new(self.type_name()?);
                if self.peek() != b'[' {
                    return None;
                }
                self.pos += 1;
                let titles = self.list(b']', false, true)?;
                ExprKind::Ref {
                    type_name,
                    titles: titles.into_boxed_slice(),
                }
            }
            b'[' => {
                self.pos += 1;
                if self.keyword_next(b"for") {
                    return self.comprehension(start, false);
                }
                ExprKind::Array(self.list(b']', false, false)?)
            }
            b'{' => {
                self.pos += 1;
                if self.keyword_next(b"for") {
                    return self.comprehension(start, true);
                }
                ExprKind::Map(self.map_entries()?)
            }
            b'(' => {
                self.pos += 1;
                let inner = self.full_expr()?;
                self.expect(b")")?;
                return Some(inner);
            }
            c if name_start(c) => {
                let w = self.word_at(start);
                match w {
                    b"true" | b"false" | b"none" => {
                        self.pos = start + w.len();
                        self.last = self.pos;
                        match w {
                            b"true" => ExprKind::Bool(true),
                            b"false" => ExprKind::Bool(false),
                            _ => ExprKind::None,
                        }
                    }
                    _ if is_keyword(w) => return None,
                    _ => {
                        let end = self.qual_name_at(start)?;
                        let name = self.take_ident(end);
                        if self.peek() == b'(' {
                            self.pos += 1;
                            let args = self.list(b')', true, false)?;
                            ExprKind::Call(Box::new(Call { name, args }))
                        } else {
                            ExprKind::Str(name.name)
                        }
                    }
                }
            }
            _ => return None,
        };
        Some(Expr {
            kind,
            span: self.span(start),
        })
    }

    /// After `{`: the map's entries and `}`.
    fn map_entries(&mut self) -> R<Vec<(Ident, Expr)>> {
        let mut out = Vec::new();
        loop {
            self.skip();
            if self.peek() == b'}' {
                break;
            }
            let key = match self.peek() {
                b'"' if !self.src[self.pos..].starts_with(b"\"\"\"") => self.string_key()?,
                b'\'' => self.string_key()?,
                _ => self.attr_name()?,
            };
            self.expect(b":")?;
            let value = self.full_expr()?;
            out.push((key, value));
            if !self.eat(b",") {
                break;
            }
        }
        self.expect(b"}")?;
        out.shrink_to_fit();
        Some(out)
    }

    fn string_key(&mut self) -> R<Ident> {
        let s = self.string()?;
        match s.kind {
            ExprKind::Str(name) => Some(Ident { name, span: s.span }),
            _ => None,
        }
    }

    /// After `[` or `{` (with `for` next): a comprehension up to its closing bracket.
    fn comprehension(&mut self, start: usize, is_map: bool) -> R<Expr> {
        self.keyword(b"for")?;
        let first = self.var()?;
        let (key, var) = if self.eat(b",") {
            (Some(first), self.var()?)
        } else {
            (None, first)
        };
        self.keyword(b"in")?;
        let iter = self.expr()?;
        let cond = if self.keyword_next(b"if") {
            self.keyword(b"if")?;
            Some(self.expr()?)
        } else {
            None
        };
        self.expect(b":")?;
        let kind = if is_map {
            let out_key = self.expr()?;
            self.expect(b"=>")?;
            let out_value = self.full_expr()?;
            self.expect(b"}")?;
            ExprKind::MapComp(Box::new(MapComp {
                key,
                var,
                iter,
                cond,
                out_key,
                out_value,
            }))
        } else {
            let value = self.full_expr()?;
            self.expect(b"]")?;
            ExprKind::ArrayComp(Box::new(ArrayComp {
                key,
                var,
                iter,
                cond,
                value,
            }))
        };
        Some(Expr {
            kind,
            span: self.span(start),
        })
    }

    // ---------------------------------------------------------------------------------------
    // Strings
    // ---------------------------------------------------------------------------------------

    /// A string literal at the position (skipped).
    fn string(&mut self) -> R<Expr> {
        let start = self.pos;
        if self.peek() == b'\'' {
            let mut j = start + 1;
            loop {
                match self.at(j) {
                    b'\'' => break,
                    b'\\' if j + 1 < self.src.len() => j += 1 + utf8_len(self.at(j + 1)),
                    _ if j >= self.src.len() => return None,
                    b => j += utf8_len(b),
                }
            }
            let mut errors = Vec::new();
            let s = strings::decode(
                &self.text[start + 1..j],
                start + 1,
                &[],
                Quote::Single,
                &mut errors,
            );
            self.pos = j + 1;
            self.last = self.pos;
            return Some(Expr {
                kind: ExprKind::Str(s),
                span: self.span(start),
            });
        }
        if self.peek() != b'"' {
            return None;
        }
        let triple = self.src[start..].starts_with(b"\"\"\"");
        let quote_len = if triple { 3 } else { 1 };
        let mut j = start + quote_len;
        // The pieces: literal text (start, end), `$name` (start, end), `${…}` (expression).
        let mut parts: Vec<StrPart> = Vec::new();
        let mut lit_ranges: Vec<(usize, usize, usize)> = Vec::new(); // (part index, start, end)
        let mut lit_start = j;
        loop {
            let b = self.at(j);
            if j >= self.src.len() {
                return None;
            }
            match b {
                b'"' => {
                    if !triple || self.src[j + 1..].starts_with(b"\"\"") {
                        break;
                    }
                    j += 1;
                }
                b'\\' => j += 1 + utf8_len(self.at(j + 1)).min(self.src.len() - j - 1).max(1),
                b'$' => {
                    let n = self.at(j + 1);
                    if n == b'{' || n.is_ascii_alphabetic() || n == b'_' {
                        if lit_start < j {
                            lit_ranges.push((parts.len(), lit_start, j));
                            parts.push(StrPart::Lit(String::new()));
                        }
                        if n == b'{' {
                            self.pos = j + 2;
                            let e = self.interp()?;
                            parts.push(StrPart::Expr(e));
                            j = self.pos;
                        } else {
                            let mut k = j + 2;
                            loop {
                                while ident_char(self.at(k)) {
                                    k += 1;
                                }
                                if self.at(k) == b':'
                                    && self.at(k + 1) == b':'
                                    && (self.at(k + 2).is_ascii_alphabetic()
                                        || self.at(k + 2) == b'_')
                                {
                                    k += 3;
                                } else {
                                    break;
                                }
                            }
                            parts.push(StrPart::Expr(Expr {
                                kind: ExprKind::Var(self.text[j + 1..k].to_string()),
                                span: self.sp(j, k),
                            }));
                            j = k;
                        }
                        lit_start = j;
                        continue;
                    }
                    j += 1;
                }
                _ => j += utf8_len(b),
            }
        }
        if lit_start < j {
            lit_ranges.push((parts.len(), lit_start, j));
            parts.push(StrPart::Lit(String::new()));
        }
        let end = j + quote_len;
        let drops = if triple {
            let content = &self.text[start + 3..j];
            strings::dedent_drops(content, start + 3)
        } else {
            Vec::new()
        };
        let mut errors = Vec::new();
        for (k, a, b) in lit_ranges {
            let s = strings::decode(&self.text[a..b], a, &drops, Quote::Double, &mut errors);
            parts[k] = StrPart::Lit(s);
        }
        if !errors.is_empty() {
            return None;
        }
        self.pos = end;
        self.last = end;
        parts.retain(|p| !matches!(p, StrPart::Lit(s) if s.is_empty()));
        let kind = match parts.as_slice() {
            [] => ExprKind::Str(String::new()),
            [StrPart::Lit(_)] => match parts.pop() {
                Some(StrPart::Lit(s)) => ExprKind::Str(s),
                _ => return None,
            },
            _ => {
                parts.shrink_to_fit();
                ExprKind::Interp(parts)
            }
        };
        Some(Expr {
            kind,
            span: self.sp(start, end),
        })
    }

    /// After `${`: the interpolated expression and `}`.
    fn interp(&mut self) -> R<Expr> {
        self.skip();
        let start = self.pos;
        let w = self.word_at(start);
        if is_keyword(w) && !matches!(w, b"true" | b"false" | b"none") {
            let end = start + w.len();
            if self.at(self.after_skip(end)) == b'}' {
                let id = self.take_ident(end);
                self.expect(b"}")?;
                return Some(Expr {
                    kind: ExprKind::Var(id.name),
                    span: id.span,
                });
            }
        }
        let mut e = self.full_expr()?;
        bare_name_to_var(&mut e, start, self.text);
        self.expect(b"}")?;
        Some(e)
    }
}

/// Whether a call expression is just `name(args)` (no operators or postfix around it).
fn call_alone(call: &Call, e: &Expr) -> bool {
    call.name.span.start == e.span.start
}

/// The length of the UTF-8 sequence that starts with `b` (1 for a continuation byte, so a
/// scan always moves).
fn utf8_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::super::lower;
    use super::*;

    /// The fast parse of `text`, when it answers, equals pest's and lowering's, and pest
    /// found nothing to report. Returns whether the fast parser answered.
    fn agrees(text: &str, what: &str) -> bool {
        let file = FileId(0);
        let Some(fast) = parse(file, text, 0, false) else {
            return false;
        };
        let slow = lower::pest_statements(file, text, 0, false);
        assert!(
            slow.error.is_none() && slow.diags.is_empty(),
            "{what}: the fast parser accepted what pest rejects: {:?} {:?}",
            slow.error.as_ref().map(|e| (&e.message, e.pos)),
            slow.diags.first()
        );
        assert_eq!(
            format!("{:?}", fast.items),
            format!("{:?}", slow.items),
            "{what}: the statements differ"
        );
        assert_eq!(fast.comments, slow.comments, "{what}: the comments differ");
        true
    }

    /// Every `.fleet` file of the repository and of the shared conformance cases.
    fn corpus() -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        let mut dirs = vec![
            root.join("stdlib"),
            root.join("examples"),
            root.join("tests"),
            root.join("../shared"),
        ];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "fleet") {
                    if let Ok(text) = std::fs::read_to_string(&path) {
                        out.push((path.display().to_string(), text));
                    }
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_fast_parser_agrees_with_pest_on_every_manifest() {
        let files = corpus();
        assert!(files.len() > 50, "found {} manifests", files.len());
        let answered = files.iter().filter(|(p, t)| agrees(t, p)).count();
        // It must answer for nearly all well-formed manifests, or it is no fast path.
        assert!(
            answered * 10 >= files.len() * 8,
            "answered {answered} of {}",
            files.len()
        );
    }

    /// Each manifest cut short, and with one byte deleted, doubled or replaced by a token
    /// character at many places: wherever the fast parser answers, it agrees with pest.
    #[test]
    fn the_fast_parser_agrees_with_pest_on_mutated_manifests() {
        let inserts: &[&str] = &[
            "{", "}", "(", ")", "[", "]", "\"", "'", "$", ",", ":", "=", "-", ">", "?", "#", "/",
            "\\", ".", " ", "\n", "*", "|", "~", "!", "<", "_", "0", "x", "A", "if ", "not ",
            "in ", "else ", "${", "\"\"\"", "-5", "true", "default", "::", "=>", "->",
        ];
        let mut cases = 0;
        for (path, text) in corpus() {
            if text.len() > 20_000 {
                continue;
            }
            let bounds: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .collect();
            let step = (bounds.len() / 40).max(1);
            for (k, &i) in bounds.iter().enumerate().step_by(step) {
                let next = bounds.get(k + 1).copied().unwrap_or(i);
                let ins = inserts[(k / step + path.len()) % inserts.len()];
                let variants = [
                    text[..i].to_string(),
                    format!("{}{}", &text[..i], &text[next..]),
                    format!("{}{}{}", &text[..i], ins, &text[i..]),
                    format!("{}{}{}", &text[..i], ins, &text[next..]),
                ];
                for v in variants {
                    let near: String = v[..i]
                        .chars()
                        .rev()
                        .take(20)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .chain(v[i..].chars().take(20))
                        .collect();
                    agrees(&v, &format!("{path} mutated at {i}: {near:?}"));
                    cases += 1;
                }
            }
        }
        assert!(cases > 1000);
    }

    #[test]
    fn spans_and_shapes_of_tricky_expressions_agree() {
        let cases = [
            "let $a = -5\nlet $b = - 5\nlet $c = -$x\nlet $d = not $a == $b\n",
            "let $a = ($x).y\nlet $b = ($x) + 1\nlet $c = $m[\"k\"][0].z\n",
            "let $a = $x ? { /^a/ => 1, \"b\" => 3, default => 2, }\n",
            "let $a = $x ?? $y ?? $z\nlet $b = 1 + 2 * 3 - 4 / 5 % 6\n",
            "let $a = $s =~ /a\\/b/ and $t !~ /c/ or $u in [1, 2,]\n",
            "let $a = \"x ${y} $z::w ${ $q + 1 } ${if $c { 1 } else { 2 }} ${default} $\"\n",
            "let $a = \"\"\"\n    a \"quoted\" $x\n      b\n    \"\"\"\nlet $b = 'it\\'s \\d'\n",
            "let $a = [for $k, $v in $m if $v > 1: \"${k}\"]\nlet $b = {for $x in $l: $x => 1}\n",
            "let $a = {a: 1, \"b c\": 2, 'd': 3, default: 4,}\nlet $b = if $x { 1 } else if $y { 2 } else { 3 }\n",
            "type Port = Int[1, 65535]\ntype E = Enum[a, \"b\", 'c'] | Pattern[/x/] | Int[-1]\n",
            "class a::b($x: Optional[String] = none, $y = 1,) {\n  include c, d(e = 1),\n  contain f\n}\n",
            "define d() { if $x { } else if $y { } else { } }\nnode \"a\", /b/, default, { }\n",
            "case $x { \"a\", /b/: { } default: { } }\nfor $x in $y { }\nfor $k, $v in $m { }\n",
            "file \"/a\" { mode = \"0644\" owner = root, * = $h } -> package \"p\" { } ~> Service[\"s\"]\n",
            "File { owner = root }\nFile[\"/a\"] -> File[\"/b\"]\n[File[\"a\"], File[\"b\"]] -> $x\nfail(\"no\")\n",
            "provision { mac = \"aa\" }\nprovision \"debian12\" { kernel = \"k\" }\nnotice(nodes(/^web/), 1,)\n",
            "# top\nlet $a = 1 # end\n\n# more\nfile \"x\" { # in\n  a = 1 # after\n}\n# last",
            "let $a = $b\n  ? { default => 1 }\nlet $c = 0x1F + 0o17 - -9223372036854775808\n",
        ];
        for (i, text) in cases.iter().enumerate() {
            assert!(
                agrees(text, &format!("case {i}")),
                "case {i}: the fast parser gave up"
            );
        }
    }

    #[test]
    fn what_lowering_reports_is_left_to_pest() {
        for text in [
            "let $a = 99999999999999999999\n",
            "let $a = \"\\q\"\n",
            "node \"${x}\" { }\n",
            "class c { import \"x\" }\n",
            "type T = Int[$x]\n",
            "let $a = 1 +\n",
            "let $a = fooBar\n",
            "_f(1)\n",
        ] {
            assert!(parse(FileId(0), text, 0, false).is_none(), "{text}");
        }
    }
}
