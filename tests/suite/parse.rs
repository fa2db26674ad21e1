//! Parser tests: conformance files, spans, strings, numbers, precedence, recovery, robustness.

use fleet::internals::diag::Diagnostic;
use fleet::internals::source::{FileId, SourceFile};
use fleet::internals::syntax::ast::*;
use fleet::internals::syntax::parse;

const CONFORMANCE: &str = "/work/shared/conformance";

fn parse_str(text: &str) -> (File, Vec<Diagnostic>) {
    parse(FileId(0), text)
}

/// 1-based line:column of every diagnostic, with its code.
fn positions(text: &str, diags: &[Diagnostic]) -> Vec<(String, usize, usize)> {
    let f = SourceFile::new("t".into(), "t".into(), text.to_string());
    diags
        .iter()
        .map(|d| {
            let (l, c) = f.line_col(d.span.map_or(0, |s| s.start as usize));
            (d.code.to_string(), l, c)
        })
        .collect()
}

fn line_col(text: &str, offset: u32) -> (usize, usize) {
    SourceFile::new("t".into(), "t".into(), text.to_string()).line_col(offset as usize)
}

fn conformance_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in ["check", "compile"] {
        let Ok(entries) = std::fs::read_dir(format!("{CONFORMANCE}/{dir}")) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "fleet") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn conformance_files_parse_with_exactly_the_expected_syntax_errors() {
    let files = conformance_files();
    assert!(files.len() >= 40, "conformance cases not found");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: Vec<(String, usize, usize)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: error syntax "))
            .map(|pos| {
                let (l, c) = pos.trim().split_once(':').unwrap();
                ("syntax".to_string(), l.parse().unwrap(), c.parse().unwrap())
            })
            .collect();
        let (file, diags) = parse_str(&text);
        assert_eq!(
            positions(&text, &diags),
            expected,
            "{}: {:?}",
            path.display(),
            diags.iter().map(|d| &d.message).collect::<Vec<_>>()
        );
        if expected.is_empty() {
            assert!(!file.items.is_empty(), "{}", path.display());
        }
        // Every comment line is collected, with its text.
        let comment_lines = text
            .lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count();
        assert!(file.comments.len() >= comment_lines, "{}", path.display());
        for (span, t) in &file.comments {
            assert_eq!(&text[span.range()], t);
        }
    }
}

#[test]
fn syntax_error_messages_are_english() {
    let cases = [
        (
            "file \"/etc/motd\" {\n  mode = }",
            "expected an expression, found `}`",
        ),
        (
            "let $x = 1\nif $x = 1 { notice(\"one\") }",
            "expected `{` or an operator, found `=`",
        ),
        (
            "file \"/a\" { }\n}",
            "expected a statement or end of input, found `}`",
        ),
        ("file \"/a\" { mode }", "expected `=`"),
        ("let $x = [1, 2", "found end of input"),
    ];
    for (text, want) in cases {
        let (_, diags) = parse_str(text);
        assert_eq!(diags.len(), 1, "{text}: {diags:?}");
        assert!(
            diags[0].message.contains(want),
            "{text}: {:?} lacks {want:?}",
            diags[0].message
        );
        assert!(!diags[0].message.contains("Rule"), "{}", diags[0].message);
    }
}

/// The only statement's `let` value.
fn let_value(text: &str) -> Expr {
    let (file, diags) = parse_str(text);
    assert!(diags.is_empty(), "{text}: {diags:?}");
    match file.items.into_iter().next().map(|s| s.kind) {
        Some(StmtKind::Let { value, .. }) => value,
        other => panic!("{text}: not a let: {other:?}"),
    }
}

/// A compact rendering of an expression tree.
fn sexp(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Int(i) => i.to_string(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::None => "none".into(),
        ExprKind::Regex(r) => format!("/{r}/"),
        ExprKind::Var(v) => format!("${v}"),
        ExprKind::Array(xs) => format!("[{}]", xs.iter().map(sexp).collect::<Vec<_>>().join(" ")),
        ExprKind::Map(kv) => format!(
            "{{{}}}",
            kv.iter()
                .map(|(k, v)| format!("{}:{}", k.name, sexp(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        ExprKind::Interp(parts) => format!(
            "(interp {})",
            parts
                .iter()
                .map(|p| match p {
                    StrPart::Lit(s) => format!("{s:?}"),
                    StrPart::Expr(e) => sexp(e),
                })
                .collect::<Vec<_>>()
                .join(" ")
        ),
        ExprKind::Ref { type_name, titles } => format!(
            "{}[{}]",
            type_name.name,
            titles.iter().map(sexp).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::Call(c) => format!(
            "({} {})",
            c.name.name,
            c.args.iter().map(sexp).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::Field { base, key } => format!("{}.{}", sexp(base), key.name),
        ExprKind::Index { base, index } => format!("{}[{}]", sexp(base), sexp(index)),
        ExprKind::Unary { op, expr } => format!("({op:?} {})", sexp(expr)),
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", op.as_str(), sexp(lhs), sexp(rhs))
        }
        ExprKind::Selector { subject, arms } => format!(
            "(? {} {})",
            sexp(subject),
            arms.iter()
                .map(|(l, v)| format!("{}=>{}", label(l), sexp(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        ExprKind::If {
            branches,
            else_value,
        } => format!(
            "(if {} else {})",
            branches
                .iter()
                .map(|(c, v)| format!("{} {}", sexp(c), sexp(v)))
                .collect::<Vec<_>>()
                .join(" elif "),
            sexp(else_value)
        ),
        ExprKind::ArrayComp(c) => format!(
            "[for {:?} {} in {} if {:?}: {}]",
            c.key.as_ref().map(|k| &k.name),
            c.var.name,
            sexp(&c.iter),
            c.cond.as_ref().map(sexp),
            sexp(&c.value)
        ),
        ExprKind::MapComp(c) => format!(
            "{{for {:?} {} in {} if {:?}: {} => {}}}",
            c.key.as_ref().map(|k| &k.name),
            c.var.name,
            sexp(&c.iter),
            c.cond.as_ref().map(sexp),
            sexp(&c.out_key),
            sexp(&c.out_value)
        ),
    }
}

fn label(l: &Label) -> String {
    match l {
        Label::Value(e) => sexp(e),
        Label::Regex(r, _) => format!("/{r}/"),
        Label::Default(_) => "default".into(),
    }
}

#[test]
fn precedence_and_associativity() {
    let cases = [
        ("1 + 2 * 3", "(+ 1 (* 2 3))"),
        ("1 - 2 - 3", "(- (- 1 2) 3)"),
        ("$a ?? $b ?? $c", "(?? $a (?? $b $c))"),
        ("$a or $b and $c", "(or $a (and $b $c))"),
        ("not $a == $b", "(Not (== $a $b))"),
        ("not $a and $b", "(and (Not $a) $b)"),
        ("$a < $b == $c", "(== (< $a $b) $c)"),
        ("-$a * $b", "(* (Neg $a) $b)"),
        ("-2 * 3", "(* -2 3)"),
        ("$a + $b < $c", "(< (+ $a $b) $c)"),
        ("$a ?? $b or $c", "(?? $a (or $b $c))"),
        ("$x in [1, 2]", "(in $x [1 2])"),
        ("$x =~ /^a\\/b$/", "(=~ $x /^a/b$/)"),
        ("$x !~ /a/ and $y", "(and (!~ $x /a/) $y)"),
        ("$m.a.b[0]", "$m.a.b[0]"),
        (
            "$x ? { \"a\" => 1, /b/ => 2, default => 3 }",
            "(? $x \"a\"=>1 /b/=>2 default=>3)",
        ),
        (
            "$a.b ? { true => on, default => off }",
            "(? $a.b true=>\"on\" default=>\"off\")",
        ),
        ("(1 + 2) * 3", "(* (+ 1 2) 3)"),
        ("10 / 2 % 3", "(% (/ 10 2) 3)"),
        ("none ?? \"x\"", "(?? none \"x\")"),
        (
            "if $a { 1 } else if $b { 2 } else { 3 }",
            "(if $a 1 elif $b 2 else 3)",
        ),
        ("if $c { { a: 1 } } else { {} }", "(if $c {a:1} else {})"),
        (
            "[for $x in $xs if $x != \"\": upcase($x)]",
            "[for None x in $xs if Some(\"(!= $x \\\"\\\")\"): (upcase $x)]",
        ),
        (
            "{for $k, $v in $m: $k => $v * 2}",
            "{for Some(\"k\") v in $m if None: $k => (* $v 2)}",
        ),
        ("File[\"/a\", \"/b\"]", "File[\"/a\" \"/b\"]"),
        ("Nginx::Vhost[\"x\"]", "Nginx::Vhost[\"x\"]"),
        (
            "{ key: 1, \"other key\": 2, class: 3, }",
            "{key:1 other key:2 class:3}",
        ),
        ("running", "\"running\""),
        ("nginx::vhost", "\"nginx::vhost\""),
        ("[1, 2, 3,]", "[1 2 3]"),
        ("0o644 + 0x1F + 42", "(+ (+ 420 31) 42)"),
        ("- - 1", "(Neg -1)"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("join($a, \",\")", "(join $a \",\")"),
    ];
    for (src, want) in cases {
        let e = let_value(&format!("let $v = {src}"));
        assert_eq!(sexp(&e), want, "{src}");
        // The expression's span is the whole expression.
        assert_eq!(e.span.range(), 9..9 + src.len(), "{src}");
    }
}

#[test]
fn integer_overflow_is_invalid_value_at_the_literal() {
    let text =
        "let $x = 9223372036854775808\nlet $y = 0x8000000000000000\nlet $z = -9223372036854775809";
    let (file, diags) = parse_str(text);
    assert_eq!(file.items.len(), 3);
    let got = positions(text, &diags);
    assert_eq!(
        got,
        vec![
            ("invalid-value".into(), 1, 10),
            ("invalid-value".into(), 2, 10),
            ("invalid-value".into(), 3, 10)
        ]
    );
}

#[test]
fn strings_escapes_and_interpolation() {
    assert_eq!(
        sexp(&let_value(r#"let $v = "a\\b\"c\n\t\r\$d\u{1F600}""#)),
        format!("{:?}", "a\\b\"c\n\t\r$d😀")
    );
    assert_eq!(
        sexp(&let_value(r"let $v = 'a\'b\\c\d'")),
        format!("{:?}", "a'b\\c\\d")
    );
    assert_eq!(
        sexp(&let_value(
            r#"let $v = "${title}.conf $x::y ${facts.os.family} $ 5$ ${true}""#
        )),
        r#"(interp $title ".conf " $x::y " " $facts.os.family " $ 5$ " true)"#
    );
    assert_eq!(
        sexp(&let_value(
            r#"let $v = "${join($names, ",")}/${length(lookup("d", {}))}""#
        )),
        r#"(interp (join $names ",") "/" (length (lookup "d" {})))"#
    );
    assert_eq!(
        sexp(&let_value(r#"let $v = "${node}-${port + 1}-${"x"}""#)),
        r#"(interp $node "-" (+ $port 1) "-" "x")"#
    );
    // An unknown escape is a syntax error at the backslash.
    let text = "let $v = \"ab\\qc\"";
    let (_, diags) = parse_str(text);
    assert_eq!(positions(text, &diags), vec![("syntax".into(), 1, 13)]);
}

#[test]
fn interpolation_spans() {
    let text = "let $v = \"${title}.conf $name ${a.b}\"";
    let e = let_value(text);
    let ExprKind::Interp(parts) = e.kind else {
        panic!("not interpolated")
    };
    let spans: Vec<&str> = parts
        .iter()
        .filter_map(|p| match p {
            StrPart::Expr(e) => Some(&text[e.span.range()]),
            StrPart::Lit(_) => None,
        })
        .collect();
    assert_eq!(spans, vec!["title", "$name", "a.b"]);
    if let StrPart::Expr(Expr {
        kind: ExprKind::Field { base, key },
        ..
    }) = &parts[4]
    {
        assert_eq!(&text[base.span.range()], "a");
        assert_eq!(&text[key.span.range()], "b");
    } else {
        panic!("{:?}", parts[4]);
    }
}

#[test]
fn undefined_key_position_of_conformance_29() {
    let text =
        std::fs::read_to_string(format!("{CONFORMANCE}/check/29-undefined-key.fleet")).unwrap();
    let (file, diags) = parse_str(&text);
    assert!(diags.is_empty());
    let StmtKind::Resource(r) = &file.items[1].kind else {
        panic!()
    };
    assert_eq!(line_col(&text, r.kind.span.start), (3, 1));
    assert_eq!(&text[r.kind.span.range()], "file");
    let BodyItem::Attr { value, .. } = &r.body[0] else {
        panic!()
    };
    let ExprKind::Interp(parts) = &value.kind else {
        panic!()
    };
    let keys: Vec<(usize, usize)> = parts
        .iter()
        .filter_map(|p| match p {
            StrPart::Expr(Expr {
                kind: ExprKind::Field { key, .. },
                ..
            }) => Some(line_col(&text, key.span.start)),
            _ => None,
        })
        .collect();
    assert_eq!(keys, vec![(3, 40), (3, 54)]);
}

#[test]
fn triple_quoted_strings_dedent_before_interpolation() {
    let text = "let $v = \"\"\"\n      Welcome to ${facts.hostname}.${domain}\n        indented \\$x\n\n      Managed.\n      \"\"\"";
    let e = let_value(text);
    let ExprKind::Interp(parts) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(
        sexp(&e),
        r#"(interp "Welcome to " $facts.hostname "." $domain "\n  indented $x\n\nManaged.\n")"#
    );
    let spans: Vec<&str> = parts
        .iter()
        .filter_map(|p| match p {
            StrPart::Expr(e) => Some(&text[e.span.range()]),
            StrPart::Lit(_) => None,
        })
        .collect();
    assert_eq!(spans, vec!["facts.hostname", "domain"]);
    // Without interpolation it is a plain Str.
    assert_eq!(
        sexp(&let_value("let $v = \"\"\"\n  a\n    b\n  \"\"\"")),
        format!("{:?}", "a\n  b\n")
    );
}

/// Runs `f` on a thread with a `stack`-byte stack.
fn on_stack<T: Send + 'static>(stack: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn deep_inputs(n: usize) -> Vec<String> {
    vec![
        format!("let $x = {}", "[".repeat(n)),
        format!("let $x = {}1{}", "[".repeat(n), "]".repeat(n)),
        format!("let $x = {}1{}", "(".repeat(n), ")".repeat(n)),
        format!("let $x = {}", "{a: ".repeat(n)),
        format!("{}{}", "if $x {\n".repeat(n), "}".repeat(n)),
        format!("let $x = {}", "\"${".repeat(n)),
        format!("let $x = {}1", "-".repeat(n)),
        format!("let $x = {}true", "not ".repeat(n)),
        format!("let $x = 1{}", " + 1".repeat(n)),
        format!("let $x = $a{}", ".b".repeat(n)),
        format!("let $x = $a{}", "[0]".repeat(n)),
        format!("type T = {}", "Array[".repeat(n)),
        format!("let $x = {}", "if $c { ".repeat(n)),
    ]
}

#[test]
fn deep_nesting_is_a_clean_syntax_error_on_small_and_large_stacks() {
    for stack in [2 << 20, 8 << 20] {
        let results = on_stack(stack, || {
            // Brackets are refused before pest runs; flat chains of operators are parsed and
            // then refused by lowering, so a shorter input shows the same (and runs faster in
            // debug builds).
            let flat = deep_inputs(5_000);
            deep_inputs(100_000)
                .into_iter()
                .enumerate()
                .map(|(i, text)| {
                    if (6..=10).contains(&i) {
                        flat[i].clone()
                    } else {
                        text
                    }
                })
                .map(|text| {
                    let (_, diags) = parse_str(&text);
                    diags.iter().map(|d| d.code.as_str()).collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        });
        for codes in results {
            assert!(
                !codes.is_empty() && codes.iter().all(|c| *c == "syntax"),
                "{codes:?}"
            );
        }
    }
}

#[test]
fn moderate_nesting_parses_on_a_small_stack() {
    on_stack(2 << 20, || {
        for text in deep_inputs(40).into_iter().skip(1).take(2) {
            let (_, diags) = parse_str(&text);
            assert!(diags.is_empty(), "{diags:?}");
        }
        let text = format!("{}{}", "if $x {\n".repeat(40), "}".repeat(40));
        assert!(parse_str(&text).1.is_empty());
        let text = format!("let $x = \"{}1{}\"", "${\"".repeat(30), "\"}".repeat(30));
        assert!(parse_str(&text).1.is_empty(), "{:?}", parse_str(&text).1);
    });
}

/// A large generated file parses completely. Its size is 2,000 resources, or
/// `FLEET_BENCH=N`; the time is printed (`--nocapture`), never asserted. For timing, run
/// `FLEET_BENCH=100000 cargo test --release --test suite parse::large_file -- --nocapture`.
#[test]
fn large_file_parses_completely() {
    let n: usize = std::env::var("FLEET_BENCH")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let mut text = String::new();
    for i in 0..n {
        // About 100 bytes per resource, as in a large generated manifest.
        text.push_str(&format!(
            "file \"/etc/app/conf.d/{i:06}.conf\" {{\n  content = \"port ${{port}}\\n\"\n  mode = \"0644\" # managed\n}}\n"
        ));
    }
    let start = std::time::Instant::now();
    let (file, diags) = parse_str(&text);
    eprintln!(
        "{} bytes, {} statements, {} diagnostics in {:?}",
        text.len(),
        file.items.len(),
        diags.len(),
        start.elapsed()
    );
    assert!(diags.is_empty());
    assert_eq!(file.items.len(), n);
    assert_eq!(file.comments.len(), n);
    let last = file.items.last().unwrap();
    assert_eq!(last.span.end as usize, text.len() - 1);
}

#[test]
fn mutated_conformance_files_never_panic() {
    const SPECIALS: &[u8] = b"\"'{}[]()$#\\/\n=:,-*?.`";
    let mut runs = 0;
    for path in conformance_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        // Every 7th truncation.
        for cut in (0..text.len()).step_by(7) {
            if text.is_char_boundary(cut) {
                let (file, diags) = parse_str(&text[..cut]);
                for d in &diags {
                    let s = d.span.unwrap();
                    assert!(
                        s.start <= s.end && s.end as usize <= cut,
                        "{}",
                        path.display()
                    );
                }
                drop(file);
                runs += 1;
            }
        }
        // A byte replaced by punctuation, every 11th position.
        for (i, at) in (3..text.len()).step_by(11).enumerate() {
            if !text.is_char_boundary(at) || !text.is_char_boundary(at + 1) {
                continue;
            }
            let mut bytes = text.clone().into_bytes();
            bytes[at] = SPECIALS[i % SPECIALS.len()];
            let mutated = String::from_utf8(bytes).unwrap();
            let _ = parse_str(&mutated);
            runs += 1;
        }
    }
    assert!(runs > 1000);
}

#[test]
fn recovery_reports_several_errors_and_keeps_good_statements() {
    let text = "\
file \"/a\" { mode = }
package \"ok1\" { ensure = present }
let $x = = 1
service \"ok2\" { ensure = running }
class broken {
  file \"/b\" { content = [ }
}
node default { include ok }
}
";
    let (file, diags) = parse_str(text);
    let got = positions(text, &diags);
    assert_eq!(
        got,
        vec![
            ("syntax".into(), 1, 20),
            ("syntax".into(), 3, 10),
            ("syntax".into(), 6, 27),
            ("syntax".into(), 9, 1),
        ],
        "{diags:?}"
    );
    let kinds: Vec<String> = file
        .items
        .iter()
        .map(|s| match &s.kind {
            StmtKind::Resource(r) => format!("{} {}", r.kind.name, sexp(&r.title)),
            StmtKind::Node(_) => "node".into(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, vec!["package \"ok1\"", "service \"ok2\"", "node"]);
}

#[test]
fn error_at_end_of_input_sits_after_the_last_character() {
    for text in [
        "file \"/a\" {",
        "let $x = ",
        "let $x = \"abc",
        "class a {\n  file \"/a\" {\n",
    ] {
        let (_, diags) = parse_str(text);
        assert_eq!(diags.len(), 1, "{text}");
        let s = diags[0].span.unwrap();
        assert_eq!(s.range(), text.len()..text.len(), "{text:?}: {diags:?}");
    }
}

fn stmt_sexp(s: &Stmt) -> String {
    let body = |b: &[Stmt]| b.iter().map(stmt_sexp).collect::<Vec<_>>().join(" ");
    let items = |b: &[BodyItem]| {
        b.iter()
            .map(|i| match i {
                BodyItem::Attr { name, value } => format!("{}={}", name.name, sexp(value)),
                BodyItem::Splat { value, .. } => format!("*={}", sexp(value)),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ty = |t: &TypeExpr| -> String { ty_sexp(t) };
    let params = |ps: &[Param]| {
        ps.iter()
            .map(|p| {
                format!(
                    "${}:{}={}",
                    p.var.name,
                    p.ty.as_ref().map(ty).unwrap_or_default(),
                    p.default.as_ref().map(sexp).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    match &s.kind {
        StmtKind::Import { path, .. } => format!("(import {path})"),
        StmtKind::Let { var, value } => format!("(let ${} {})", var.name, sexp(value)),
        StmtKind::TypeAlias { name, ty: t } => format!("(type {} {})", name.name, ty(t)),
        StmtKind::Class(c) => format!(
            "(class {} ({}) {})",
            c.name.name,
            params(&c.params),
            body(&c.body)
        ),
        StmtKind::Define(c) => format!(
            "(define {} ({}) {})",
            c.name.name,
            params(&c.params),
            body(&c.body)
        ),
        StmtKind::Node(n) => format!(
            "(node {} {})",
            n.names
                .iter()
                .map(|n| match n {
                    NodeName::Name(s, _) => s.clone(),
                    NodeName::Regex(r, _) => format!("/{r}/"),
                    NodeName::Default(_) => "default".into(),
                })
                .collect::<Vec<_>>()
                .join(","),
            body(&n.body)
        ),
        StmtKind::Include {
            contain, classes, ..
        } => format!(
            "({} {})",
            if *contain { "contain" } else { "include" },
            classes
                .iter()
                .map(|c| match &c.args {
                    None => c.name.name.clone(),
                    Some(args) => format!(
                        "{}({})",
                        c.name.name,
                        args.iter()
                            .map(|a| format!("{}={}", a.name.name, sexp(&a.value)))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                })
                .collect::<Vec<_>>()
                .join(",")
        ),
        StmtKind::Resource(r) => format!(
            "({} {} {{{}}})",
            r.kind.name,
            sexp(&r.title),
            items(&r.body)
        ),
        StmtKind::Defaults { type_name, body: b } => {
            format!("({} {{{}}})", type_name.name, items(b))
        }
        StmtKind::Chain(c) => {
            let mut out = String::from("(chain");
            for (i, op) in c.operands.iter().enumerate() {
                if i > 0 {
                    out.push_str(if c.arrows[i - 1].0 { " ~>" } else { " ->" });
                }
                out.push(' ');
                out.push_str(&match op {
                    ChainOperand::Expr(e) => sexp(e),
                    ChainOperand::Resource(r) => format!("({} {})", r.kind.name, sexp(&r.title)),
                });
            }
            out + ")"
        }
        StmtKind::If(i) => format!(
            "(if {}{})",
            i.branches
                .iter()
                .map(|(c, b)| format!("{} [{}]", sexp(c), body(b)))
                .collect::<Vec<_>>()
                .join(" elif "),
            i.else_body
                .as_ref()
                .map(|b| format!(" else [{}]", body(b)))
                .unwrap_or_default()
        ),
        StmtKind::Case(c) => format!(
            "(case {} {})",
            sexp(&c.subject),
            c.arms
                .iter()
                .map(|a| format!(
                    "{}:[{}]",
                    a.labels.iter().map(label).collect::<Vec<_>>().join(","),
                    body(&a.body)
                ))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        StmtKind::For(f) => format!(
            "(for {}${} in {} [{}])",
            f.key
                .as_ref()
                .map(|k| format!("${},", k.name))
                .unwrap_or_default(),
            f.var.name,
            sexp(&f.iter),
            body(&f.body)
        ),
        StmtKind::Call(c) => format!(
            "({} {})",
            c.name.name,
            c.args.iter().map(sexp).collect::<Vec<_>>().join(" ")
        ),
        StmtKind::Provision { body: b, .. } => format!("(provision {{{}}})", items(b)),
        StmtKind::Profile(p) => format!("(profile {} {{{}}})", p.name.name, items(&p.body)),
    }
}

fn ty_sexp(t: &TypeExpr) -> String {
    match &t.kind {
        TypeKind::Named { name, args } if args.is_empty() => name.name.clone(),
        TypeKind::Named { name, args } => format!(
            "{}[{}]",
            name.name,
            args.iter()
                .map(|a| match a {
                    TypeArg::Type(t) => ty_sexp(t),
                    TypeArg::Value(e) => sexp(e),
                    TypeArg::Regex(r, _) => format!("/{r}/"),
                })
                .collect::<Vec<_>>()
                .join(",")
        ),
        TypeKind::Union(ts) => ts.iter().map(ty_sexp).collect::<Vec<_>>().join("|"),
    }
}

#[test]
fn every_statement_form() {
    let text = r#"
import "nginx"
import './roles/web.fleet'
let $domain = "okbuy.com"
type Port = Int[1, 65535]
type Mode = Enum["a", "b",] | Pattern[/^\d+$/] | Optional[Array[String]] | Int[-1, 5]
class ntp($servers: Array[String] = ["0.pool.ntp.org"], $x = 1, $y: Int,) {
  package "ntp" { ensure = latest }
}
define vhost($port: Int = 80, $docroot: Path) {
  file "/etc/${title}.conf" { content = "x" }
}
node "web01", "web02", {
  provision { mac = "52:54:00:00:00:01", ip = "10.1.1.11/24" }
  include ntp, base
  contain nginx(workers = 8, type = "x",), other()
  Package["nginx"] -> File["/etc/nginx.conf"] ~> Service["nginx"]
}
node /^db\d+$/ { include mysql }
node default { }
file ["/a", "/b"] { content = "x", }
user $u { ensure = present  shell = "/bin/sh"
  * = $attrs
  class = "c"  default = 1 }
File { owner = "root", group = "root" }
[File["/a"], File["/b"]] -> $svc
package "php" { } -> service "php" { ensure = running }
if $a == 1 { notice("a") } else if $b { warning("b") } else { fail("c") }
case $facts.os.family { "debian", "ubuntu",: { include apt } /^red/: { } default: { } }
for $x in $xs { notice($x) }
for $k, $v in $m { notice($k) }
fail("boom")
provision "debian12" { kernel = "/k", kind = preseed }
nginx::vhost "shop" { port = 8080 }
"#;
    let (file, diags) = parse_str(text);
    assert!(diags.is_empty(), "{diags:?}");
    let got: Vec<String> = file.items.iter().map(stmt_sexp).collect();
    let want = [
        "(import nginx)",
        "(import ./roles/web.fleet)",
        "(let $domain \"okbuy.com\")",
        "(type Port Int[1,65535])",
        "(type Mode Enum[\"a\",\"b\"]|Pattern[/^\\d+$/]|Optional[Array[String]]|Int[-1,5])",
        "(class ntp ($servers:Array[String]=[\"0.pool.ntp.org\"],$x:=1,$y:Int=) (package \"ntp\" {ensure=\"latest\"}))",
        "(define vhost ($port:Int=80,$docroot:Path=) (file (interp \"/etc/\" $title \".conf\") {content=\"x\"}))",
        "(node web01,web02 (provision {mac=\"52:54:00:00:00:01\" ip=\"10.1.1.11/24\"}) (include ntp,base) (contain nginx(workers=8,type=\"x\"),other()) (chain Package[\"nginx\"] -> File[\"/etc/nginx.conf\"] ~> Service[\"nginx\"]))",
        "(node /^db\\d+$/ (include mysql))",
        "(node default )",
        "(file [\"/a\" \"/b\"] {content=\"x\"})",
        "(user $u {ensure=\"present\" shell=\"/bin/sh\" *=$attrs class=\"c\" default=1})",
        "(File {owner=\"root\" group=\"root\"})",
        "(chain [File[\"/a\"] File[\"/b\"]] -> $svc)",
        "(chain (package \"php\") -> (service \"php\"))",
        "(if (== $a 1) [(notice \"a\")] elif $b [(warning \"b\")] else [(fail \"c\")])",
        "(case $facts.os.family \"debian\",\"ubuntu\":[(include apt)] /^red/:[] default:[])",
        "(for $x in $xs [(notice $x)])",
        "(for $k,$v in $m [(notice $k)])",
        "(fail \"boom\")",
        "(profile debian12 {kernel=\"/k\" kind=\"preseed\"})",
        "(nginx::vhost \"shop\" {port=8080})",
    ];
    assert_eq!(got, want);
    // Spans: the statement, the resource kind, the include keyword, variables from `$`.
    let last = file.items.last().unwrap();
    assert_eq!(
        &text[last.span.range()],
        "nginx::vhost \"shop\" { port = 8080 }"
    );
    let StmtKind::Resource(r) = &last.kind else {
        panic!()
    };
    assert_eq!(&text[r.kind.span.range()], "nginx::vhost");
    let StmtKind::Let { var, .. } = &file.items[2].kind else {
        panic!()
    };
    assert_eq!(&text[var.span.range()], "$domain");
    let StmtKind::Class(c) = &file.items[5].kind else {
        panic!()
    };
    assert_eq!(&text[c.params[0].var.span.range()], "$servers");
    assert_eq!(&text[c.name.span.range()], "ntp");
}

#[test]
fn misplaced_constructs_are_syntax_errors() {
    for (text, pos) in [
        ("class a { import \"x\" }", (1, 11)),
        ("node \"${x}\" { }", (1, 6)),
        ("let $m = { \"${k}\": 1 }", (1, 12)),
        ("let $x = /re/", (1, 10)),
        ("file \"/a\" { content = \"x\" } -> ", (1, 32)),
        ("File[\"/a\"]", (1, 11)),
        ("let $x = if $a { 1 }", (1, 21)),
        ("let $x = 1 + if $a { 1 } else { 2 }", (1, 14)),
        ("let $and = 1\nfile \"/a\" { and = 1 }", (2, 13)),
    ] {
        let (_, diags) = parse_str(text);
        let got = positions(text, &diags);
        assert_eq!(
            got,
            vec![("syntax".to_string(), pos.0, pos.1)],
            "{text}: {diags:?}"
        );
    }
}

#[test]
fn many_lowering_diagnostics_stay_linear() {
    // 20,000 statements with an out-of-range literal each: one invalid-value apiece, every
    // statement kept.
    let text = "let $x = 99999999999999999999\n".repeat(20_000);
    let (file, diags) = parse_str(&text);
    assert_eq!(file.items.len(), 20_000);
    assert_eq!(diags.len(), 20_000);
    assert!(diags.iter().all(|d| d.code.as_str() == "invalid-value"));
}

#[test]
fn syntax_errors_are_capped_per_file() {
    let text = "}\nfile \"/a\" { x = }\n".repeat(200);
    let (_, diags) = parse_str(&text);
    assert!(diags.len() <= 50 && diags.len() >= 40, "{}", diags.len());
}
