//! Runs the pest parser (`grammar`) and lowers its pairs into `ast`.

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser;

use super::ast::*;
use super::expected;
use super::grammar::{FleetParser, Rule};
use super::strings::{self, Quote};
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// The most nested expressions and blocks lowering builds (a backstop behind `depth`).
const MAX_LOWER_DEPTH: usize = 400;

/// What one pest run over `text[offset..]` gave.
pub(crate) struct Chunk {
    /// The statements that parsed (all of them, or those before the syntax error).
    pub items: Vec<Stmt>,
    pub comments: Vec<(Span, String)>,
    /// Diagnostics found while lowering (escapes, overflow, misplaced constructs).
    pub diags: Vec<Diagnostic>,
    /// The syntax error that stopped pest, if any.
    pub error: Option<SyntaxError>,
}

/// Where pest stopped, as an absolute byte offset, with an English message.
pub(crate) struct SyntaxError {
    pub pos: usize,
    pub message: String,
}

/// Parses `text[offset..]` as statements (inside a top-level block when `in_block`: a
/// `node`, `class` or `define` body, where `import` is not allowed and one level of nesting is
/// already used) with pest, and lowers them. On a syntax error, the statements that end
/// before the error are lowered and returned alongside the error.
pub(super) fn pest_statements(file: FileId, text: &str, offset: usize, in_block: bool) -> Chunk {
    let input = &text[offset..];
    let top = !in_block;
    let mut low = Lower {
        file,
        offset,
        src: text,
        diags: Vec::new(),
        syntax_count: 0,
        depth: usize::from(in_block),
        comment_spans: Vec::new(),
    };
    let mut comments = Vec::new();
    // Tracking the literal tokens tried (for "expected `=`") costs about as much as the parse
    // itself, so it is only switched on to re-parse after an error.
    pest::set_error_detail(false);
    match FleetParser::parse(Rule::File, input) {
        Ok(mut pairs) => {
            for pair in pairs.clone().flatten() {
                if pair.as_rule() == Rule::COMMENT {
                    comments.push((low.raw_span(&pair), pair.as_str().to_string()));
                }
            }
            low.comment_spans = comments.iter().map(|c| c.0.range()).collect();
            let items = match pairs.next() {
                Some(pair) => low.stmts(pair, top, None),
                None => Vec::new(),
            };
            Chunk {
                items,
                comments,
                diags: low.diags,
                error: None,
            }
        }
        Err(err) => {
            let err = detailed_error(input).unwrap_or(err);
            let (rel, message) = error_message(&err, input);
            let pos = offset + rel;
            let mut items = Vec::new();
            if let Ok(mut pairs) = FleetParser::parse(Rule::Prefix, input) {
                if let Some(prefix) = pairs.next() {
                    for pair in prefix.clone().into_inner().flatten() {
                        if pair.as_rule() == Rule::COMMENT && offset + pair.as_span().end() <= pos {
                            comments.push((low.raw_span(&pair), pair.as_str().to_string()));
                        }
                    }
                    low.comment_spans = comments.iter().map(|c| c.0.range()).collect();
                    items = low.stmts(prefix, top, Some(pos));
                }
            }
            Chunk {
                items,
                comments,
                diags: low.diags,
                error: Some(SyntaxError { pos, message }),
            }
        }
    }
}

/// Re-parses `input` (known to fail) with pest's error detail on. The switch is process-wide,
/// so another thread may turn it off in between: try again a few times.
fn detailed_error(input: &str) -> Option<pest::error::Error<Rule>> {
    for _ in 0..10 {
        pest::set_error_detail(true);
        let result = FleetParser::parse(Rule::File, input);
        pest::set_error_detail(false);
        match result {
            Err(e) if e.parse_attempts().is_some() => return Some(e),
            Err(_) => continue,
            Ok(_) => return None,
        }
    }
    None
}

/// The error position (relative to `input`) and its English message. The position is the
/// furthest point pest reached: rules tried there, or literal tokens tried even further (such
/// as the closing quote of a string), whichever is further.
fn error_message(err: &pest::error::Error<Rule>, input: &str) -> (usize, String) {
    let mut rel = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let positives = match &err.variant {
        ErrorVariant::CustomError { .. } => {
            return (rel.min(input.len()), "nesting too deep".to_string());
        }
        ErrorVariant::ParsingError { positives, .. } => positives.as_slice(),
    };
    let mut tokens: Vec<String> = Vec::new();
    let mut rules = positives;
    if let Some(a) = err.parse_attempts() {
        let named: Vec<String> = a
            .expected_tokens()
            .into_iter()
            .map(|t| t.to_string())
            .filter(|t| expected::is_named_token(t))
            .collect();
        if a.max_position == rel {
            tokens = named;
        } else if a.max_position > rel && !named.is_empty() {
            rel = a.max_position;
            tokens = named;
            rules = &[];
        }
    }
    let rel = rel.min(input.len());
    let rest = input.get(rel..).unwrap_or("");
    (rel, expected::message(rules, &tokens, rest))
}

/// The non-comment children of a pair.
fn kids<'i>(pair: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    pair.into_inner().filter(|p| p.as_rule() != Rule::COMMENT)
}

/// The non-comment children of a pair, each lowered by `f` (left out where it gives `None`),
/// in a vector without spare room: the AST is kept for the whole run, and a vector collected
/// from a filter or grown by pushes has room for at least four (one title in `Class["x"]`).
fn lower_kids<'i, T>(pair: Pair<'i, Rule>, f: impl FnMut(Pair<'i, Rule>) -> Option<T>) -> Vec<T> {
    let inner = pair.into_inner();
    // pest counted the children (comments too: at least as many as are kept).
    let mut out = Vec::with_capacity(inner.len());
    out.extend(inner.filter(|p| p.as_rule() != Rule::COMMENT).filter_map(f));
    out.shrink_to_fit();
    out
}

/// Binding power of an infix operator (higher binds tighter) and whether it is right-assoc.
fn infix(text: &str) -> (BinOp, u8) {
    match text {
        "??" => (BinOp::Coalesce, 1),
        "or" => (BinOp::Or, 2),
        "and" => (BinOp::And, 3),
        "==" => (BinOp::Eq, 5),
        "!=" => (BinOp::Ne, 5),
        "=~" => (BinOp::Match, 5),
        "!~" => (BinOp::NotMatch, 5),
        "in" => (BinOp::In, 5),
        "<" => (BinOp::Lt, 6),
        "<=" => (BinOp::Le, 6),
        ">" => (BinOp::Gt, 6),
        ">=" => (BinOp::Ge, 6),
        "+" => (BinOp::Add, 7),
        "-" => (BinOp::Sub, 7),
        "*" => (BinOp::Mul, 8),
        "/" => (BinOp::Div, 8),
        _ => (BinOp::Rem, 8),
    }
}

const NOT_POWER: u8 = 4;
const NEG_POWER: u8 = 9;

/// Pushes the infix operator `text` onto the operator stack, first reducing what binds
/// tighter (or as tight, unless it is the right-associative `??`).
pub(super) fn push_infix(operands: &mut Vec<Expr>, ops: &mut Vec<(Op, u8)>, text: &str) {
    let (op, power) = infix(text);
    let right = op == BinOp::Coalesce;
    while let Some((_, top)) = ops.last() {
        if *top > power || (*top == power && !right) {
            reduce(operands, ops);
        } else {
            break;
        }
    }
    ops.push((Op::Bin(op), power));
}

/// A prefix operator as an entry of the operator stack, with its binding power.
pub(super) fn prefix(op: UnOp, span: Span) -> (Op, u8) {
    let power = if op == UnOp::Not {
        NOT_POWER
    } else {
        NEG_POWER
    };
    (Op::Pre(op, span), power)
}

pub(super) enum Op {
    Bin(BinOp),
    Pre(UnOp, Span),
}

struct Lower<'a> {
    file: FileId,
    offset: usize,
    /// The whole file's text (spans are absolute).
    src: &'a str,
    diags: Vec<Diagnostic>,
    /// How many of `diags` are `syntax` errors.
    syntax_count: usize,
    depth: usize,
    /// Absolute byte ranges of the comments, in order (to trim them off spans).
    comment_spans: Vec<std::ops::Range<usize>>,
}

impl Lower<'_> {
    fn raw_span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, self.offset + s.start(), self.offset + s.end())
    }

    /// The span of a pair without the whitespace and comments pest may have skipped at its end
    /// (a rule ending in a repetition swallows the skip before the failed attempt).
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        let start = self.offset + s.start();
        let mut end = self.offset + s.end();
        let bytes = self.src.as_bytes();
        loop {
            while end > start && bytes[end - 1].is_ascii_whitespace() {
                end -= 1;
            }
            // An end inside or just after a comment (whose trailing blanks were trimmed
            // above) moves to the comment's start.
            let i = self.comment_spans.partition_point(|c| c.start < end);
            match i.checked_sub(1).map(|i| &self.comment_spans[i]) {
                Some(c) if c.start >= start && c.end >= end => end = c.start,
                _ => break,
            }
        }
        Span::new(self.file, start, end)
    }

    fn abs(&self, rel: usize) -> usize {
        self.offset + rel
    }

    fn syntax(&mut self, span: Span, message: impl Into<String>) {
        self.syntax_count += 1;
        self.diags
            .push(Diagnostic::error(Code::Syntax, span, message));
    }

    fn ident(&self, pair: &Pair<Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(pair),
        }
    }

    /// `$name` -> `name`, span from `$`.
    fn var(&self, pair: &Pair<Rule>) -> Ident {
        Ident {
            name: pair.as_str()[1..].to_string(),
            span: self.span(pair),
        }
    }

    /// Enters one level of nesting; false (with a diagnostic) when too deep.
    fn enter(&mut self, span: Span, levels: usize) -> bool {
        self.depth += levels;
        if self.depth > MAX_LOWER_DEPTH {
            self.depth -= levels;
            self.syntax(
                span,
                format!("nesting too deep: more than {MAX_LOWER_DEPTH} nested expressions"),
            );
            return false;
        }
        true
    }

    fn leave(&mut self, levels: usize) {
        self.depth -= levels;
    }

    fn placeholder(span: Span) -> Expr {
        Expr {
            kind: ExprKind::None,
            span,
        }
    }

    // ---------------------------------------------------------------------------------------
    // Statements
    // ---------------------------------------------------------------------------------------

    /// The statements among the children of `pair` (a File, Prefix or Block). At the top level a
    /// statement whose lowering found a syntax problem is left out; with `before`, only the
    /// statements ending at or before that absolute offset are kept.
    fn stmts(&mut self, pair: Pair<Rule>, top: bool, before: Option<usize>) -> Vec<Stmt> {
        let inner = pair.into_inner();
        let mut out = Vec::with_capacity(inner.len());
        for p in inner.filter(|p| p.as_rule() != Rule::COMMENT) {
            match p.as_rule() {
                Rule::EOI | Rule::Block => continue,
                _ => {}
            }
            if let Some(limit) = before {
                if self.abs(p.as_span().end()) > limit {
                    break;
                }
            }
            let errors_before = self.syntax_errors();
            if let Some(stmt) = self.stmt(p, top) {
                if !top || self.syntax_errors() == errors_before {
                    out.push(stmt);
                }
            }
        }
        out.shrink_to_fit();
        out
    }

    fn syntax_errors(&self) -> usize {
        self.syntax_count
    }

    fn block(&mut self, pair: Pair<Rule>) -> Vec<Stmt> {
        let span = self.span(&pair);
        if !self.enter(span, 1) {
            return Vec::new();
        }
        let body = self.stmts(pair, false, None);
        self.leave(1);
        body
    }

    fn stmt(&mut self, pair: Pair<Rule>, top: bool) -> Option<Stmt> {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::Import => {
                if !top {
                    self.syntax(span, "`import` is only allowed at the top level of a file");
                }
                let s = kids(pair).find(|p| p.as_rule() != Rule::KwImport)?;
                let path_span = self.span(&s);
                let path = self.plain_string(s, "an import path")?;
                StmtKind::Import { path, path_span }
            }
            Rule::Let => {
                let mut it = kids(pair).skip(1);
                let var = self.var(&it.next()?);
                let value = self.full_expr(it.next()?);
                StmtKind::Let { var, value }
            }
            Rule::TypeAlias => {
                let mut it = kids(pair).skip(1);
                let name = self.ident(&it.next()?);
                let ty = Box::new(self.type_expr(it.next()?));
                StmtKind::TypeAlias { name, ty }
            }
            Rule::ClassDef | Rule::DefineDef => {
                let is_class = pair.as_rule() == Rule::ClassDef;
                let mut name = None;
                let mut params = Vec::new();
                let mut body = Vec::new();
                for p in kids(pair) {
                    match p.as_rule() {
                        Rule::QualName => name = Some(self.ident(&p)),
                        Rule::Params => params = self.params(p),
                        Rule::Block => body = self.block(p),
                        _ => {}
                    }
                }
                let name = name?;
                if is_class {
                    StmtKind::Class(ClassDef { name, params, body })
                } else {
                    StmtKind::Define(DefineDef { name, params, body })
                }
            }
            Rule::NodeDef => {
                let mut names = Vec::new();
                let mut body = Vec::new();
                for p in kids(pair) {
                    let s = self.span(&p);
                    match p.as_rule() {
                        Rule::KwNode => {}
                        Rule::KwDefault => names.push(NodeName::Default(s)),
                        Rule::Regex => names.push(NodeName::Regex(regex_text(&p), s)),
                        Rule::Block => body = self.block(p),
                        _ => {
                            if let Some(n) = self.plain_string(p, "a node name") {
                                names.push(NodeName::Name(n, s));
                            }
                        }
                    }
                }
                StmtKind::Node(NodeDef { names, body })
            }
            Rule::Include => {
                let mut contain = false;
                let mut keyword_span = span;
                let mut classes = Vec::new();
                for p in kids(pair) {
                    match p.as_rule() {
                        Rule::KwInclude | Rule::KwContain => {
                            contain = p.as_rule() == Rule::KwContain;
                            keyword_span = self.span(&p);
                        }
                        Rule::ClassRef => {
                            let mut it = kids(p);
                            let name = self.ident(&it.next()?);
                            let args = it.next().map(|a| self.named_args(a));
                            classes.push(ClassRef { name, args });
                        }
                        _ => {}
                    }
                }
                StmtKind::Include {
                    contain,
                    keyword_span,
                    classes,
                }
            }
            Rule::IfStmt => {
                let mut branches = Vec::new();
                let mut else_body = None;
                let mut cond = None;
                for p in kids(pair) {
                    match p.as_rule() {
                        Rule::Expr => cond = Some(self.expr(p)),
                        Rule::Block => {
                            let body = self.block(p);
                            match cond.take() {
                                Some(c) => branches.push((c, body)),
                                None => else_body = Some(body),
                            }
                        }
                        _ => {}
                    }
                }
                StmtKind::If(IfStmt {
                    branches,
                    else_body,
                })
            }
            Rule::CaseStmt => {
                let mut subject = None;
                let mut arms = Vec::new();
                for p in kids(pair) {
                    match p.as_rule() {
                        Rule::Expr => subject = Some(self.expr(p)),
                        Rule::CaseArm => {
                            let mut labels = Vec::new();
                            let mut body = Vec::new();
                            for q in kids(p) {
                                match q.as_rule() {
                                    Rule::Label => labels.push(self.label(q)),
                                    Rule::Block => body = self.block(q),
                                    _ => {}
                                }
                            }
                            arms.push(CaseArm { labels, body });
                        }
                        _ => {}
                    }
                }
                StmtKind::Case(CaseStmt {
                    subject: subject?,
                    arms,
                })
            }
            Rule::ForStmt => {
                let mut vars = Vec::new();
                let mut iter = None;
                let mut body = Vec::new();
                for p in kids(pair) {
                    match p.as_rule() {
                        Rule::Var => vars.push(self.var(&p)),
                        Rule::Expr => iter = Some(self.expr(p)),
                        Rule::Block => body = self.block(p),
                        _ => {}
                    }
                }
                let var = vars.pop()?;
                StmtKind::For(Box::new(ForStmt {
                    key: vars.pop(),
                    var,
                    iter: iter?,
                    body,
                }))
            }
            Rule::Provision => {
                let mut it = kids(pair);
                let keyword_span = self.span(&it.next()?);
                let next = it.next()?;
                if next.as_rule() == Rule::Body {
                    let body = self.body(next);
                    StmtKind::Provision { keyword_span, body }
                } else {
                    let name_span = self.span(&next);
                    let name = self.plain_string(next, "a profile name")?;
                    let body = self.body(it.next()?);
                    StmtKind::Profile(ProfileDef {
                        keyword_span,
                        name: Ident {
                            name,
                            span: name_span,
                        },
                        body,
                    })
                }
            }
            Rule::Defaults => {
                let mut it = kids(pair);
                let type_name = self.ident(&it.next()?);
                let body = self.body(it.next()?);
                StmtKind::Defaults { type_name, body }
            }
            Rule::Chain => return self.chain(pair),
            _ => return None,
        };
        Some(Stmt { kind, span })
    }

    fn chain(&mut self, pair: Pair<Rule>) -> Option<Stmt> {
        let span = self.span(&pair);
        let mut operands = Vec::new();
        let mut arrows = Vec::new();
        for p in kids(pair) {
            match p.as_rule() {
                Rule::Arrow => arrows.push((p.as_str() == "~>", self.span(&p))),
                Rule::ResourceDecl => operands.push(ChainOperand::Resource(self.resource(p)?)),
                Rule::Expr => operands.push(ChainOperand::Expr(self.expr(p))),
                _ => operands.push(ChainOperand::Expr(self.primary(p))),
            }
        }
        if operands.len() > 1 {
            return Some(Stmt {
                kind: StmtKind::Chain(Chain { operands, arrows }),
                span,
            });
        }
        let kind = match operands.pop()? {
            ChainOperand::Resource(r) => StmtKind::Resource(r),
            ChainOperand::Expr(Expr {
                kind: ExprKind::Call(call),
                ..
            }) => StmtKind::Call(*call),
            ChainOperand::Expr(e) => {
                let end = Span::new(self.file, e.span.end as usize, e.span.end as usize);
                self.syntax(
                    end,
                    "expected `->`, `~>` or a resource body: an expression alone is not a \
                     statement",
                );
                return None;
            }
        };
        Some(Stmt { kind, span })
    }

    fn resource(&mut self, pair: Pair<Rule>) -> Option<ResourceDecl> {
        let mut it = kids(pair);
        let kind = self.ident(&it.next()?);
        let title = self.expr(it.next()?);
        let body = self.body(it.next()?);
        Some(ResourceDecl { kind, title, body })
    }

    fn body(&mut self, pair: Pair<Rule>) -> Vec<BodyItem> {
        lower_kids(pair, |p| {
            let rule = p.as_rule();
            let mut it = kids(p);
            let (Some(first), Some(value)) = (it.next(), it.next()) else {
                return None;
            };
            let value = self.full_expr(value);
            match rule {
                Rule::Attr => Some(BodyItem::Attr {
                    name: self.ident(&first),
                    value,
                }),
                Rule::Splat => Some(BodyItem::Splat {
                    star: self.span(&first),
                    value,
                }),
                _ => None,
            }
        })
    }

    fn params(&mut self, pair: Pair<Rule>) -> Vec<Param> {
        let mut out = Vec::new();
        for p in kids(pair) {
            let mut var = None;
            let mut ty = None;
            let mut default = None;
            for q in kids(p) {
                match q.as_rule() {
                    Rule::Var => var = Some(self.var(&q)),
                    Rule::TypeExpr => ty = Some(self.type_expr(q)),
                    _ => default = Some(self.full_expr(q)),
                }
            }
            if let Some(var) = var {
                out.push(Param { var, ty, default });
            }
        }
        out
    }

    fn named_args(&mut self, pair: Pair<Rule>) -> Vec<NamedArg> {
        let mut out = Vec::new();
        for p in kids(pair) {
            let mut it = kids(p);
            if let (Some(name), Some(value)) = (it.next(), it.next()) {
                let name = self.ident(&name);
                let value = self.full_expr(value);
                out.push(NamedArg { name, value });
            }
        }
        out
    }

    fn label(&mut self, pair: Pair<Rule>) -> Label {
        let span = self.span(&pair);
        match kids(pair).next() {
            Some(p) if p.as_rule() == Rule::KwDefault => Label::Default(span),
            Some(p) if p.as_rule() == Rule::Regex => Label::Regex(regex_text(&p), span),
            Some(p) => Label::Value(self.expr(p)),
            None => Label::Default(span),
        }
    }

    /// A string literal without interpolation (import paths, node names, map keys).
    fn plain_string(&mut self, pair: Pair<Rule>, what: &str) -> Option<String> {
        let e = self.string(pair);
        match e.kind {
            ExprKind::Str(s) => Some(s),
            _ => {
                self.syntax(e.span, format!("{what} cannot contain interpolation"));
                None
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------

    fn type_expr(&mut self, pair: Pair<Rule>) -> TypeExpr {
        let span = self.span(&pair);
        if !self.enter(span, 1) {
            return TypeExpr {
                kind: TypeKind::Union(Vec::new()),
                span,
            };
        }
        let mut terms: Vec<TypeExpr> = Vec::new();
        for term in kids(pair) {
            let tspan = self.span(&term);
            let mut it = kids(term);
            let Some(name) = it.next() else { continue };
            let name = self.ident(&name);
            let mut args = Vec::new();
            if let Some(targs) = it.next() {
                for a in kids(targs) {
                    let aspan = self.span(&a);
                    match a.as_rule() {
                        Rule::Regex => args.push(TypeArg::Regex(regex_text(&a), aspan)),
                        Rule::TypeExpr => args.push(TypeArg::Type(self.type_expr(a))),
                        _ => {
                            let e = self.operand(a);
                            match e.kind {
                                ExprKind::Int(_) | ExprKind::Str(_) => args.push(TypeArg::Value(e)),
                                _ => self.syntax(
                                    aspan,
                                    "expected a type, an integer, a string or a regex as a type \
                                     argument",
                                ),
                            }
                        }
                    }
                }
            }
            terms.push(TypeExpr {
                kind: TypeKind::Named { name, args },
                span: tspan,
            });
        }
        self.leave(1);
        if terms.len() == 1 {
            terms.pop().unwrap_or(TypeExpr {
                kind: TypeKind::Union(Vec::new()),
                span,
            })
        } else {
            TypeExpr {
                kind: TypeKind::Union(terms),
                span,
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Expressions
    // ---------------------------------------------------------------------------------------

    /// `FullExpr`: an `IfExpr` or an `Expr`.
    fn full_expr(&mut self, pair: Pair<Rule>) -> Expr {
        if pair.as_rule() == Rule::IfExpr {
            self.if_expr(pair)
        } else {
            self.expr(pair)
        }
    }

    /// The children of `pair` (array items, reference titles, call arguments) as expressions.
    fn exprs(&mut self, pair: Pair<Rule>) -> Vec<Expr> {
        lower_kids(pair, |p| {
            if p.as_rule() == Rule::Regex {
                // A call argument (`nodes(/^web/)`).
                return Some(Expr {
                    span: self.span(&p),
                    kind: ExprKind::Regex(regex_text(&p)),
                });
            }
            Some(self.full_expr(p))
        })
    }

    fn if_expr(&mut self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        if !self.enter(span, 1) {
            return Self::placeholder(span);
        }
        let mut branches = Vec::new();
        let mut else_value = None;
        let mut cond: Option<Expr> = None;
        let mut after_else = false;
        let mut expect_cond = false;
        for p in kids(pair) {
            match p.as_rule() {
                Rule::KwIf => {
                    expect_cond = true;
                    after_else = false;
                }
                Rule::KwElse => after_else = true,
                _ => {
                    let e = self.full_expr(p);
                    if expect_cond {
                        cond = Some(e);
                        expect_cond = false;
                    } else if after_else {
                        else_value = Some(e);
                    } else if let Some(c) = cond.take() {
                        branches.push((c, e));
                    }
                }
            }
        }
        self.leave(1);
        let else_value = Box::new(else_value.unwrap_or_else(|| Self::placeholder(span)));
        Expr {
            kind: ExprKind::If {
                branches: branches.into_boxed_slice(),
                else_value,
            },
            span,
        }
    }

    /// `Expr`: operands and infix operators, folded by precedence without recursion.
    fn expr(&mut self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        let mut it = kids(pair);
        let Some(first) = it.next() else {
            return Self::placeholder(span);
        };
        let parts: Vec<Pair<Rule>> = match it.next() {
            None => return self.postfixed(first),
            Some(second) => [first, second].into_iter().chain(it).collect(),
        };
        // The folded tree is as deep as there are operators.
        let levels = parts.len();
        if !self.enter(span, levels) {
            return Self::placeholder(span);
        }
        let mut operands: Vec<Expr> = Vec::with_capacity(parts.len() / 2 + 1);
        let mut ops: Vec<(Op, u8)> = Vec::new();
        let mut pending_regex = false;
        let mut run: Vec<Pair<Rule>> = Vec::new();
        for p in parts {
            match p.as_rule() {
                Rule::PrefixOp => run.push(p),
                Rule::InfixOp | Rule::MatchOp => {
                    push_infix(&mut operands, &mut ops, p.as_str());
                    pending_regex = p.as_rule() == Rule::MatchOp;
                }
                Rule::Regex if pending_regex => {
                    let s = self.span(&p);
                    operands.push(Expr {
                        kind: ExprKind::Regex(regex_text(&p)),
                        span: s,
                    });
                }
                _ => {
                    run.push(p);
                    let (prefix, primary) = self.split_operand(std::mem::take(&mut run));
                    ops.extend(prefix.into_iter().map(|(op, s)| self::prefix(op, s)));
                    operands.push(primary);
                }
            }
        }
        while !ops.is_empty() {
            reduce(&mut operands, &mut ops);
        }
        self.leave(levels);
        let mut e = operands.pop().unwrap_or_else(|| Self::placeholder(span));
        e.span = span;
        e
    }

    /// A `TypeValue` (prefix operators and a postfixed primary) as an expression.
    fn operand(&mut self, pair: Pair<Rule>) -> Expr {
        let (prefix, mut e) = self.split_operand(kids(pair).collect());
        for (op, s) in prefix.into_iter().rev() {
            e = Expr {
                span: s.to(e.span),
                kind: ExprKind::Unary {
                    op,
                    expr: Box::new(e),
                },
            };
        }
        e
    }

    /// The prefix operators of an operand (outermost first) and its postfixed primary. A `-`
    /// right before an integer literal is folded into it (so that `-9223372036854775808` fits).
    /// `parts` are the `PrefixOp`s and the `Postfixed` of one operand.
    fn split_operand(&mut self, parts: Vec<Pair<Rule>>) -> (Vec<(UnOp, Span)>, Expr) {
        let mut prefix = Vec::new();
        let mut primary = None;
        for p in parts {
            if p.as_rule() == Rule::PrefixOp {
                let op = if p.as_str() == "-" {
                    UnOp::Neg
                } else {
                    UnOp::Not
                };
                prefix.push((op, self.span(&p)));
            } else {
                primary = Some(p);
            }
        }
        let Some(primary) = primary else {
            return (prefix, Self::placeholder(Span::new(self.file, 0, 0)));
        };
        let levels = prefix.len();
        let span = self.span(&primary);
        if !self.enter(span, levels) {
            return (Vec::new(), Self::placeholder(span));
        }
        // `-<int>` with nothing after the literal.
        if let Some(&(UnOp::Neg, neg_span)) = prefix.last() {
            let mut inner = primary.clone().into_inner();
            if let (Some(lit), None) = (inner.next(), inner.next()) {
                if lit.as_rule() == Rule::Int {
                    prefix.pop();
                    let span = neg_span.to(self.span(&lit));
                    let e = self.int(&lit, true, span);
                    self.leave(levels);
                    return (prefix, e);
                }
            }
        }
        let e = self.postfixed(primary);
        self.leave(levels);
        (prefix, e)
    }

    fn postfixed(&mut self, pair: Pair<Rule>) -> Expr {
        let mut it = kids(pair);
        let Some(first) = it.next() else {
            return Self::placeholder(Span::new(self.file, 0, 0));
        };
        let rest: Vec<Pair<Rule>> = match it.next() {
            None => return self.primary_in(first),
            Some(second) => std::iter::once(second).chain(it).collect(),
        };
        let levels = rest.len() + 1;
        if !self.enter(self.span(&first), levels) {
            return Self::placeholder(self.span(&first));
        }
        let mut e = self.primary(first);
        for p in rest {
            let pspan = self.span(&p);
            let span = e.span.to(pspan);
            let kind = match p.as_rule() {
                Rule::Field => match kids(p).next() {
                    Some(k) => ExprKind::Field {
                        base: Box::new(e),
                        key: Box::new(self.ident(&k)),
                    },
                    None => continue,
                },
                Rule::Index => match kids(p).next() {
                    Some(i) => ExprKind::Index {
                        base: Box::new(e),
                        index: Box::new(self.full_expr(i)),
                    },
                    None => continue,
                },
                Rule::Selector => {
                    let arms = lower_kids(p, |arm| {
                        let mut a = kids(arm);
                        let (Some(l), Some(v)) = (a.next(), a.next()) else {
                            return None;
                        };
                        let label = self.label(l);
                        Some((label, self.full_expr(v)))
                    });
                    ExprKind::Selector {
                        subject: Box::new(e),
                        arms: arms.into_boxed_slice(),
                    }
                }
                _ => continue,
            };
            e = Expr { kind, span };
        }
        self.leave(levels);
        e
    }
}

impl Lower<'_> {
    /// A primary without postfix operators, one level deeper.
    fn primary_in(&mut self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        if !self.enter(span, 1) {
            return Self::placeholder(span);
        }
        let e = self.primary(pair);
        self.leave(1);
        e
    }

    fn primary(&mut self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::Paren => {
                return match kids(pair).next() {
                    Some(inner) => self.full_expr(inner),
                    None => Self::placeholder(span),
                };
            }
            Rule::Array => ExprKind::Array(self.exprs(pair)),
            Rule::Map => ExprKind::Map(lower_kids(pair, |entry| {
                let mut it = kids(entry);
                let (Some(k), Some(v)) = (it.next(), it.next()) else {
                    return None;
                };
                let key = if k.as_rule() == Rule::AttrName {
                    self.ident(&k)
                } else {
                    let span = self.span(&k);
                    let name = self.plain_string(k, "a map key")?;
                    Ident { name, span }
                };
                Some((key, self.full_expr(v)))
            })),
            Rule::ArrayComp | Rule::MapComp => return self.comprehension(pair),
            Rule::TripleStr | Rule::DqStr | Rule::SqStr => return self.string(pair),
            Rule::Int => return self.int(&pair, false, span),
            Rule::Var => ExprKind::Var(pair.as_str()[1..].to_string()),
            Rule::True => ExprKind::Bool(true),
            Rule::False => ExprKind::Bool(false),
            Rule::NoneLit => ExprKind::None,
            Rule::Ref => {
                let mut it = kids(pair);
                let Some(name) = it.next() else {
                    return Self::placeholder(span);
                };
                let type_name = Box::new(self.ident(&name));
                let titles = match it.next() {
                    Some(args) => self.exprs(args),
                    None => Vec::new(),
                };
                ExprKind::Ref {
                    type_name,
                    titles: titles.into_boxed_slice(),
                }
            }
            Rule::Call => {
                let mut it = kids(pair);
                let Some(name) = it.next() else {
                    return Self::placeholder(span);
                };
                let name = self.ident(&name);
                let args = match it.next() {
                    Some(args) => self.exprs(args),
                    None => Vec::new(),
                };
                ExprKind::Call(Box::new(Call { name, args }))
            }
            Rule::NameExpr => {
                let mut it = kids(pair);
                let (Some(name), args) = (it.next(), it.next()) else {
                    return Self::placeholder(span);
                };
                match args {
                    None => ExprKind::Str(name.as_str().to_string()),
                    Some(args) => ExprKind::Call(Box::new(Call {
                        name: self.ident(&name),
                        args: self.exprs(args),
                    })),
                }
            }
            Rule::IfExpr => return self.if_expr(pair),
            Rule::Expr => return self.expr(pair),
            _ => ExprKind::None,
        };
        Expr { kind, span }
    }

    fn comprehension(&mut self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        let is_map = pair.as_rule() == Rule::MapComp;
        let mut vars = Vec::new();
        let mut exprs = Vec::new();
        let mut cond_at = None;
        for p in kids(pair) {
            match p.as_rule() {
                Rule::KwFor | Rule::KwIn => {}
                Rule::KwIf => cond_at = Some(exprs.len()),
                Rule::Var => vars.push(self.var(&p)),
                _ => exprs.push(self.full_expr(p)),
            }
        }
        let (Some(var), Some(value)) = (vars.pop(), exprs.pop()) else {
            return Self::placeholder(span);
        };
        let key = vars.pop();
        let out_key = if is_map { exprs.pop() } else { None };
        let cond = match cond_at {
            Some(_) => exprs.pop(),
            None => None,
        };
        let Some(iter) = exprs.pop() else {
            return Self::placeholder(span);
        };
        let kind = match out_key {
            Some(out_key) => ExprKind::MapComp(Box::new(MapComp {
                key,
                var,
                iter,
                cond,
                out_key,
                out_value: value,
            })),
            None => ExprKind::ArrayComp(Box::new(ArrayComp {
                key,
                var,
                iter,
                cond,
                value,
            })),
        };
        Expr { kind, span }
    }

    /// An integer literal; `negative` when a `-` was folded into it (`span` then covers it).
    fn int(&mut self, pair: &Pair<Rule>, negative: bool, span: Span) -> Expr {
        let text = pair.as_str();
        let (digits, radix) = if let Some(h) = text.strip_prefix("0x") {
            (h, 16)
        } else if let Some(o) = text.strip_prefix("0o") {
            (o, 8)
        } else {
            (text, 10)
        };
        let magnitude = i128::from_str_radix(digits, radix).ok();
        let value = magnitude
            .map(|m| if negative { -m } else { m })
            .and_then(|v| i64::try_from(v).ok());
        match value {
            Some(v) => Expr {
                kind: ExprKind::Int(v),
                span,
            },
            None => {
                self.diags.push(Diagnostic::error(
                    Code::InvalidValue,
                    span,
                    "integer literal out of range: integers are 64-bit signed",
                ));
                Self::placeholder(span)
            }
        }
    }

    /// A `TripleStr`, `DqStr` or `SqStr`.
    fn string(&mut self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        if rule == Rule::SqStr {
            let raw = pair.as_str();
            let body = &raw[1..raw.len().saturating_sub(1).max(1)];
            let mut errors = Vec::new();
            let s = strings::decode(
                body,
                span.start as usize + 1,
                &[],
                Quote::Single,
                &mut errors,
            );
            return Expr {
                kind: ExprKind::Str(s),
                span,
            };
        }
        let quote_len = if rule == Rule::TripleStr { 3 } else { 1 };
        let drops = if rule == Rule::TripleStr {
            let raw = pair.as_str();
            let content = raw.get(3..raw.len().saturating_sub(3).max(3)).unwrap_or("");
            strings::dedent_drops(content, span.start as usize + quote_len)
        } else {
            Vec::new()
        };
        let mut parts: Vec<StrPart> = Vec::new();
        let mut errors = Vec::new();
        for p in kids(pair) {
            match p.as_rule() {
                Rule::TripleLit | Rule::DqLit => {
                    let start = self.abs(p.as_span().start());
                    let s = strings::decode(p.as_str(), start, &drops, Quote::Double, &mut errors);
                    match parts.last_mut() {
                        Some(StrPart::Lit(prev)) => prev.push_str(&s),
                        _ => parts.push(StrPart::Lit(s)),
                    }
                }
                Rule::ShortVar => {
                    let e = Expr {
                        kind: ExprKind::Var(p.as_str()[1..].to_string()),
                        span: self.span(&p),
                    };
                    parts.push(StrPart::Expr(e));
                }
                Rule::Interp => {
                    let Some(inner) = kids(p).next() else {
                        continue;
                    };
                    if inner.as_rule() == Rule::InterpKeyword {
                        let e = Expr {
                            kind: ExprKind::Var(inner.as_str().to_string()),
                            span: self.span(&inner),
                        };
                        parts.push(StrPart::Expr(e));
                        continue;
                    }
                    let start = self.abs(inner.as_span().start());
                    let mut e = self.full_expr(inner);
                    bare_name_to_var(&mut e, start, self.src);
                    parts.push(StrPart::Expr(e));
                }
                _ => {}
            }
        }
        for err in errors {
            self.syntax(Span::new(self.file, err.start, err.end), err.message);
        }
        parts.retain(|p| !matches!(p, StrPart::Lit(s) if s.is_empty()));
        let kind = match parts.as_slice() {
            [] => ExprKind::Str(String::new()),
            [StrPart::Lit(_)] => match parts.pop() {
                Some(StrPart::Lit(s)) => ExprKind::Str(s),
                _ => ExprKind::Str(String::new()),
            },
            _ => {
                parts.shrink_to_fit();
                ExprKind::Interp(parts)
            }
        };
        Expr { kind, span }
    }
}

/// Inside `${…}`, a bare name right after `${` reads a variable: turns the leftmost operand
/// into a `Var` when it is a bare word starting at `start` (LANGUAGE.md §1, §10.8).
pub(super) fn bare_name_to_var(e: &mut Expr, start: usize, src: &str) {
    let mut cur = e;
    while matches!(
        cur.kind,
        ExprKind::Binary { .. }
            | ExprKind::Field { .. }
            | ExprKind::Index { .. }
            | ExprKind::Selector { .. }
    ) {
        cur = match &mut cur.kind {
            ExprKind::Binary { lhs, .. } => lhs,
            ExprKind::Field { base, .. } | ExprKind::Index { base, .. } => base,
            ExprKind::Selector { subject, .. } => subject,
            _ => return,
        };
    }
    if cur.span.start as usize != start {
        return;
    }
    let bare = src
        .as_bytes()
        .get(start)
        .is_some_and(|b| b.is_ascii_lowercase() || *b == b'_');
    if let (true, ExprKind::Str(s)) = (bare, &mut cur.kind) {
        cur.kind = ExprKind::Var(std::mem::take(s));
    }
}

/// Pops one operator and its operands into a node.
pub(super) fn reduce(operands: &mut Vec<Expr>, ops: &mut Vec<(Op, u8)>) {
    let Some((op, _)) = ops.pop() else { return };
    match op {
        Op::Pre(op, s) => {
            let Some(e) = operands.pop() else { return };
            operands.push(Expr {
                span: s.to(e.span),
                kind: ExprKind::Unary {
                    op,
                    expr: Box::new(e),
                },
            });
        }
        Op::Bin(op) => {
            let (Some(rhs), Some(lhs)) = (operands.pop(), operands.pop()) else {
                return;
            };
            operands.push(Expr {
                span: lhs.span.to(rhs.span),
                kind: ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
            });
        }
    }
}

/// The pattern of a `Regex` pair: the text between the slashes, `\/` unescaped.
fn regex_text(pair: &Pair<Rule>) -> String {
    let raw = pair.as_str();
    let body = raw.get(1..raw.len().saturating_sub(1).max(1)).unwrap_or("");
    body.replace("\\/", "/")
}
