//! English names for grammar rules, and the "expected …" message of a syntax error.

use super::grammar::Rule;

/// What a rule stands for in an "expected …" list; `None` for rules never worth naming.
fn name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of input",
        Rule::Expr
        | Rule::TypeValue
        | Rule::Postfixed
        | Rule::Paren
        | Rule::Array
        | Rule::ArrayComp
        | Rule::Map
        | Rule::MapComp
        | Rule::Int
        | Rule::True
        | Rule::False
        | Rule::NoneLit
        | Rule::Ref
        | Rule::Call
        | Rule::NameExpr
        | Rule::IfExpr
        | Rule::PrefixOp
        | Rule::Var => "an expression",
        Rule::TripleStr | Rule::DqStr | Rule::SqStr => "a string",
        Rule::InfixOp | Rule::MatchOp => "an operator",
        Rule::Field => "`.`",
        Rule::Index => "`[`",
        Rule::Selector => "`?`",
        Rule::Import
        | Rule::Let
        | Rule::TypeAlias
        | Rule::ClassDef
        | Rule::DefineDef
        | Rule::NodeDef
        | Rule::Include
        | Rule::IfStmt
        | Rule::CaseStmt
        | Rule::ForStmt
        | Rule::Provision
        | Rule::Defaults
        | Rule::Chain => "a statement",
        Rule::ResourceDecl | Rule::ResourceKind => "a resource declaration",
        Rule::Block | Rule::Body => "`{`",
        Rule::Attr | Rule::AttrName | Rule::Splat | Rule::Star => "an attribute",
        Rule::Arrow => "`->`, `~>`",
        Rule::Name | Rule::QualName | Rule::ClassRef => "a name",
        Rule::TypeName => "a type name",
        Rule::TypeExpr | Rule::TypeTerm => "a type",
        Rule::TypeArgs => "`[`",
        Rule::Regex | Rule::RegexBody => "a regex",
        Rule::Params => "`(`",
        Rule::Param => "a parameter",
        Rule::NamedArgs | Rule::CallArgs => "`(`",
        Rule::NamedArg => "an argument",
        Rule::RefArgs => "`[`",
        Rule::MapEntry => "a map entry",
        Rule::AttrKey => "a key",
        Rule::Label => "a label",
        Rule::SelectorArm => "a selector arm",
        Rule::CaseArm => "a case arm",
        Rule::Keyword
        | Rule::KwImport
        | Rule::KwLet
        | Rule::KwType
        | Rule::KwClass
        | Rule::KwDefine
        | Rule::KwNode
        | Rule::KwInclude
        | Rule::KwContain
        | Rule::KwCase
        | Rule::KwProvision => "a statement",
        Rule::KwElse => "`else`",
        Rule::KwIn => "`in`",
        Rule::KwIf => "`if`",
        Rule::KwFor => "`for`",
        Rule::KwDefault => "`default`",
        _ => return None,
    })
}

/// "expected a, b or c, found `x`" from the rules pest tried at the error position; `rest` is
/// the input from there on.
/// `tokens` are the literal tokens pest tried there.
pub(crate) fn message(positives: &[Rule], tokens: &[String], rest: &str) -> String {
    format!("{}, found {}", expected(positives, tokens), found(rest))
}

/// Whether a literal token is worth naming in an "expected …" list.
pub(crate) fn is_named_token(token: &str) -> bool {
    token_name(token).is_some()
}

/// What a literal token stands for in an "expected …" list.
fn token_name(token: &str) -> Option<&'static str> {
    Some(match token {
        "=" => "`=`",
        ":" => "`:`",
        "," => "`,`",
        ")" => "`)`",
        "]" => "`]`",
        "}" => "`}`",
        "{" => "`{`",
        "(" => "`(`",
        "[" => "`[`",
        "=>" => "`=>`",
        "|" => "`|`",
        "\"" => "`\"`",
        "'" => "`'`",
        "\"\"\"" => "`\"\"\"`",
        "->" | "~>" => "`->`, `~>`",
        // Operators are named by the `InfixOp` rule; a lone `-` or `/` here starts a
        // negation or a regex.
        _ => return None,
    })
}

/// A short description of the text at the error position.
fn found(rest: &str) -> String {
    let rest = rest.trim_end();
    let Some(c) = rest.chars().next() else {
        return "end of input".to_string();
    };
    if c.is_alphanumeric() || c == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .take(30)
            .collect();
        return format!("`{word}`");
    }
    const OPS: [&str; 14] = [
        "->", "~>", "=>", "==", "!=", "=~", "!~", "<=", ">=", "??", "${", "\"\"\"", "::", "&&",
    ];
    for op in OPS {
        if rest.starts_with(op) {
            return format!("`{op}`");
        }
    }
    match c {
        '\n' => "end of line".to_string(),
        '`' => "a backtick".to_string(),
        c if c.is_control() => format!("{}", c.escape_unicode()),
        c => format!("`{c}`"),
    }
}

fn expected(positives: &[Rule], tokens: &[String]) -> String {
    let mut names: Vec<&'static str> = Vec::new();
    for n in positives.iter().filter_map(|r| name(*r)) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let expression = names.contains(&"an expression") || names.contains(&"a string");
    let statement = names.contains(&"a statement");
    for n in tokens.iter().filter_map(|t| token_name(t)) {
        // Tokens that merely start an expression or statement are named by it.
        let starts_value = matches!(
            n,
            "`{`" | "`(`" | "`[`" | "`\"`" | "`'`" | "`\"\"\"`" | "`-`"
        );
        if (expression || statement) && starts_value {
            continue;
        }
        if !names.contains(&n) {
            names.push(n);
        }
    }
    // An operator or a postfix is always possible after an operand; name them once.
    if names.contains(&"an operator") {
        names.retain(|n| !matches!(*n, "`.`" | "`[`" | "`?`"));
    }
    // Where an expression may start, `if` is one; where a statement may start, a chain arrow
    // or `else` after the previous one is rarely what was meant.
    if names.contains(&"an expression") {
        names.retain(|n| *n != "`if`");
    }
    if names.contains(&"a statement") {
        names.retain(|n| {
            !matches!(
                *n,
                "`if`"
                    | "`for`"
                    | "`else`"
                    | "`->`, `~>`"
                    | "a type name"
                    | "a resource declaration"
            )
        });
    }
    names.sort_by_key(|n| order(n));
    match names.as_slice() {
        [] => "syntax error".to_string(),
        [one] => format!("expected {one}"),
        [init @ .., last] => format!("expected {} or {last}", init.join(", ")),
    }
}

/// Punctuation first, then the broader categories.
fn order(name: &str) -> u8 {
    if name.starts_with('`') {
        0
    } else if name == "end of input" {
        3
    } else if name == "a statement" {
        2
    } else {
        1
    }
}
