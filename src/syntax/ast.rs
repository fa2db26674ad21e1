//! The spanned syntax tree of a `.fleet` file. Knows nothing of pest or of resources.
//!
//! Every node carries the byte span it came from. Names keep the span of the name itself;
//! a variable's span starts at `$` (or, inside `${name}`, covers just `name`).
//!
//! A big manifest is mostly resource bodies, so the common nodes are kept small (the sizes
//! are checked at the end of this file): an `ExprKind` variant holds at most 24 bytes, and
//! the rare, larger ones (comprehensions, calls, references, selectors, `if`) keep their
//! payload behind a `Box`; lists that never grow after lowering are boxed slices.

use crate::source::Span;

/// One parsed file.
#[derive(Clone, Debug, Default)]
pub struct File {
    pub items: Vec<Stmt>,
    /// Comments with their spans (the text includes the leading `#`), for `fleet fmt`.
    pub comments: Vec<(Span, String)>,
}

/// A name with its span: identifiers, qualified names (`nginx::vhost`), type names (`File`),
/// variables (`port`, `nginx::workers`; the text has no `$`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    /// The whole statement.
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum StmtKind {
    /// `import "x"`; the string's span is the `import-not-found` position.
    Import {
        path: String,
        path_span: Span,
    },
    /// `let $name = value`
    Let {
        var: Ident,
        value: Expr,
    },
    /// `type Port = Int[1, 65535]`
    TypeAlias {
        name: Ident,
        ty: Box<TypeExpr>,
    },
    Class(ClassDef),
    Define(DefineDef),
    Node(NodeDef),
    /// `include a, b(x = 1)` or `contain …`
    Include {
        contain: bool,
        keyword_span: Span,
        classes: Vec<ClassRef>,
    },
    Resource(ResourceDecl),
    /// `File { owner = "root" }` — type name starts upper-case.
    Defaults {
        type_name: Ident,
        body: Vec<BodyItem>,
    },
    /// `A -> B ~> C` (at least two operands).
    Chain(Chain),
    If(IfStmt),
    Case(CaseStmt),
    For(Box<ForStmt>),
    /// A function call used as a statement: `fail("x")`.
    Call(Call),
    /// `provision { mac = "…", … }`; `keyword_span` covers `provision`.
    Provision {
        keyword_span: Span,
        body: Vec<BodyItem>,
    },
    /// `provision "debian12" { kernel = "…", … }` at the top level: an install profile
    /// (PROVISION.md).
    Profile(ProfileDef),
}

/// An install profile: `provision "NAME" { … }`.
#[derive(Clone, Debug)]
pub struct ProfileDef {
    /// The `provision` keyword (where `missing-attribute` points).
    pub keyword_span: Span,
    /// The profile's name, with the span of its string literal.
    pub name: Ident,
    pub body: Vec<BodyItem>,
}

#[derive(Clone, Debug)]
pub struct ClassRef {
    pub name: Ident,
    /// `None` for `include name`; `Some` for `include name(…)` (possibly empty).
    pub args: Option<Vec<NamedArg>>,
}

/// `name = value` in an include argument list.
#[derive(Clone, Debug)]
pub struct NamedArg {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug)]
pub struct Param {
    /// The variable without `$`; span starts at `$`.
    pub var: Ident,
    pub ty: Option<TypeExpr>,
    pub default: Option<Expr>,
}

#[derive(Clone, Debug)]
pub struct ClassDef {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Vec<Stmt>,
}

#[derive(Clone, Debug)]
pub struct DefineDef {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Vec<Stmt>,
}

#[derive(Clone, Debug)]
pub enum NodeName {
    /// `"web01"` (span of the string literal)
    Name(String, Span),
    /// `/^web\d+$/` (pattern text without slashes; span of the literal)
    Regex(String, Span),
    /// `default`
    Default(Span),
}

#[derive(Clone, Debug)]
pub struct NodeDef {
    pub names: Vec<NodeName>,
    pub body: Vec<Stmt>,
}

/// `kind TITLE { body }`
#[derive(Clone, Debug)]
pub struct ResourceDecl {
    /// The type name as written (lower-case, maybe qualified: `nginx::vhost`).
    pub kind: Ident,
    pub title: Expr,
    pub body: Vec<BodyItem>,
}

#[derive(Clone, Debug)]
pub enum BodyItem {
    /// `name = value`
    Attr { name: Ident, value: Expr },
    /// `* = value`; `star` is the span of `*`.
    Splat { star: Span, value: Expr },
}

#[derive(Clone, Debug)]
pub struct Chain {
    pub operands: Vec<ChainOperand>,
    /// One per gap between operands: `true` for `~>`, with the arrow's span.
    pub arrows: Vec<(bool, Span)>,
}

#[derive(Clone, Debug)]
pub enum ChainOperand {
    /// A reference, an array of references, or any expression yielding them.
    Expr(Expr),
    /// A resource declaration used inline in a chain.
    Resource(ResourceDecl),
}

#[derive(Clone, Debug)]
pub struct IfStmt {
    /// `if c {…} else if d {…}`: each condition with its body, in order.
    pub branches: Vec<(Expr, Vec<Stmt>)>,
    pub else_body: Option<Vec<Stmt>>,
}

#[derive(Clone, Debug)]
pub struct CaseStmt {
    pub subject: Expr,
    pub arms: Vec<CaseArm>,
}

#[derive(Clone, Debug)]
pub struct CaseArm {
    pub labels: Vec<Label>,
    pub body: Vec<Stmt>,
}

/// A `case` or selector label.
#[derive(Clone, Debug)]
pub enum Label {
    /// A literal (String, Int, Bool, none); matched by `==`.
    Value(Expr),
    /// A regex; matched by `=~` against Strings only.
    Regex(String, Span),
    Default(Span),
}

#[derive(Clone, Debug)]
pub struct ForStmt {
    /// `for $k, $v in …`: the first variable; `None` for `for $x in …`.
    pub key: Option<Ident>,
    pub var: Ident,
    pub iter: Expr,
    pub body: Vec<Stmt>,
}

#[derive(Clone, Debug)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Expr>,
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Coalesce,
    Or,
    And,
    Eq,
    Ne,
    Match,
    NotMatch,
    In,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Coalesce => "??",
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Match => "=~",
            BinOp::NotMatch => "!~",
            BinOp::In => "in",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

/// A piece of an interpolated string.
#[derive(Clone, Debug)]
pub enum StrPart {
    /// Literal text, escapes already decoded.
    Lit(String),
    /// `${expr}` or `$name` (a `Var` expression whose span is as LANGUAGE.md §10.8 says).
    Expr(Expr),
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    /// A string without interpolation (also bare words and single-quoted strings).
    Str(String),
    /// A string with at least one interpolation.
    Interp(Vec<StrPart>),
    Int(i64),
    Bool(bool),
    None,
    /// `/re/` where the grammar allows one (after `=~`, `!~`, as a call argument): the pattern
    /// text.
    Regex(String),
    Array(Vec<Expr>),
    /// Keys as written (bare or quoted), with their spans.
    Map(Vec<(Ident, Expr)>),
    /// `$name` / `$ns::name` (name without `$`).
    Var(String),
    /// `File["/a"]`, `Class["ntp"]`, `File["/a", "/b"]`: type name as written.
    Ref {
        type_name: Box<Ident>,
        titles: Box<[Expr]>,
    },
    Call(Box<Call>),
    /// `base.key`
    Field {
        base: Box<Expr>,
        key: Box<Ident>,
    },
    /// `base[index]`
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `subject ? { label => value, … }`
    Selector {
        subject: Box<Expr>,
        arms: Box<[(Label, Expr)]>,
    },
    /// `if c { a } else if d { b } else { e }` as an expression.
    If {
        branches: Box<[(Expr, Expr)]>,
        else_value: Box<Expr>,
    },
    ArrayComp(Box<ArrayComp>),
    MapComp(Box<MapComp>),
}

/// `[for $x in xs if cond: value]` or `[for $i, $x in xs: value]`
#[derive(Clone, Debug)]
pub struct ArrayComp {
    pub key: Option<Ident>,
    pub var: Ident,
    pub iter: Expr,
    pub cond: Option<Expr>,
    pub value: Expr,
}

/// `{for $k, $v in m if cond: key => value}`
#[derive(Clone, Debug)]
pub struct MapComp {
    pub key: Option<Ident>,
    pub var: Ident,
    pub iter: Expr,
    pub cond: Option<Expr>,
    pub out_key: Expr,
    pub out_value: Expr,
}

#[derive(Clone, Debug)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum TypeKind {
    /// `String`, `Array[String]`, `Int[1, 65535]`, `Enum["a", "b"]`, `Pattern[/re/]`,
    /// `Port` (an alias): the name with its arguments.
    Named { name: Ident, args: Vec<TypeArg> },
    /// `T | U`
    Union(Vec<TypeExpr>),
}

#[derive(Clone, Debug)]
pub enum TypeArg {
    Type(TypeExpr),
    /// A literal: Int or String (negative Ints allowed).
    Value(Expr),
    Regex(String, Span),
}

// The sizes a big manifest pays for per node (64-bit targets); a new variant or field that
// makes one of them larger should be boxed instead.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<ExprKind>() <= 32);
    assert!(size_of::<Expr>() <= 48);
    assert!(size_of::<BodyItem>() <= 88);
    assert!(size_of::<StmtKind>() <= 112);
    assert!(size_of::<Stmt>() <= 128);
};
