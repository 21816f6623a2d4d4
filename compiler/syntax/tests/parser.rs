//! Parser, lexer, renderer and printer behaviour, plus bounded property tests: arbitrary bytes
//! and arbitrary token sequences never panic, and every error-free parse round-trips through the
//! printer.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use henn_syntax::ast::{Body, ExprKind, Item, StripSpans};
use henn_syntax::diagnostic::line_col;
use henn_syntax::lexer::{Token, Unit, lex};
use henn_syntax::parse::{MAX_NESTING, MAX_SOURCE_BYTES};
use henn_syntax::{Code, Format, Source, parse, print::print, render};
use proptest::prelude::*;

fn codes(src: &str) -> Vec<Code> {
    parse(src).1.iter().map(|d| d.code).collect()
}

#[test]
fn lexes_every_token_kind() {
    let mut diags = Vec::new();
    let toks: Vec<Token<'_>> = lex(
        "m { a = -8.5e3 # comment\n b(\"x\\\"y\") [1, 2^16] 4 GiB }",
        &mut diags,
    )
    .into_iter()
    .map(|(_, t, _)| t)
    .collect();
    assert!(diags.is_empty());
    assert_eq!(
        toks,
        vec![
            Token::Ident("m"),
            Token::LBrace,
            Token::Ident("a"),
            Token::Eq,
            Token::Number("-8.5e3"),
            Token::Ident("b"),
            Token::LParen,
            Token::Str("x\\\"y"),
            Token::RParen,
            Token::LBracket,
            Token::Number("1"),
            Token::Comma,
            Token::Number("2"),
            Token::Caret,
            Token::Number("16"),
            Token::RBracket,
            Token::Number("4"),
            Token::Unit(Unit::GiB),
            Token::RBrace,
        ]
    );
}

#[test]
fn units_are_whole_words_only() {
    let mut diags = Vec::new();
    let toks = lex("GiB GiBs B Bias", &mut diags);
    let kinds: Vec<Token<'_>> = toks.into_iter().map(|(_, t, _)| t).collect();
    assert_eq!(
        kinds,
        vec![
            Token::Unit(Unit::GiB),
            Token::Ident("GiBs"),
            Token::Unit(Unit::B),
            Token::Ident("Bias")
        ]
    );
}

#[test]
fn spans_cover_the_node_text() {
    let src = "model m {\n  optimizer = nag(lr = 0.1)\n}\n";
    let (file, diags) = parse(src);
    assert!(diags.is_empty());
    let Item::Decl(model) = &file.items[0] else {
        panic!()
    };
    assert_eq!(&src[model.span.range()], src.trim_end());
    let Body::Block(block) = &model.body else {
        panic!()
    };
    let Item::Decl(opt) = &block.items[0] else {
        panic!()
    };
    assert_eq!(&src[opt.span.range()], "optimizer = nag(lr = 0.1)");
    let Body::Value(e) = &opt.body else { panic!() };
    let ExprKind::Call { callee, args } = &e.kind else {
        panic!()
    };
    assert_eq!(&src[callee.span.range()], "nag");
    assert_eq!(&src[args.span.range()], "(lr = 0.1)");
    assert_eq!(&src[args.args[0].span.range()], "lr = 0.1");
}

#[test]
fn reports_every_syntax_error_in_one_run() {
    // Three independent mistakes in three places.
    let src = "model m {\n  a 1\n  b = f(1 2)\n  c = [1, 2 3]\n  d = @\n}\n";
    let (_, diags) = parse(src);
    let lines: Vec<usize> = diags
        .iter()
        .map(|d| line_col(src, d.primary.span.start).line)
        .collect();
    assert_eq!(lines, vec![2, 3, 4, 5], "{diags:#?}");
    assert_eq!(
        codes(src),
        vec![
            Code::UnexpectedToken,
            Code::UnexpectedToken,
            Code::UnexpectedToken,
            Code::InvalidCharacter
        ]
    );
}

#[test]
fn cascades_do_not_hide_the_first_error() {
    // The `)` missing on line 3 must be reported there, whatever follows.
    let src = "model m {\n  network {\n    dense h(8, activation = s\n    dense out(2)\n  }\n}\n";
    let (_, diags) = parse(src);
    let first = diags.first().expect("an error");
    assert_eq!(line_col(src, first.primary.span.start).line, 4);
    assert_eq!(
        first.help.as_deref(),
        Some("is a `)` missing at the end of the previous line?")
    );
}

#[test]
fn unexpected_eof_points_at_the_unclosed_brace() {
    let src = "model m {\n  a = 1\n";
    let (_, diags) = parse(src);
    assert_eq!(diags.len(), 1);
    let d = &diags[0];
    assert_eq!(d.code, Code::UnexpectedEof);
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(&src[d.secondary[0].span.range()], "{");
    assert_eq!(d.help.as_deref(), Some("add the missing `}`"));
}

#[test]
fn unterminated_string_and_bad_characters_are_reported_once() {
    assert_eq!(codes("a = \"abc\nb = 1"), vec![Code::UnterminatedString]);
    assert_eq!(codes("a = 1 @@@ b = 2"), vec![Code::InvalidCharacter]);
}

#[test]
fn limits_are_enforced_before_parsing() {
    let deep = format!(
        "a = {}{}",
        "[".repeat(MAX_NESTING + 1),
        "]".repeat(MAX_NESTING + 1)
    );
    assert_eq!(codes(&deep), vec![Code::NestingTooDeep]);
    let ok = format!("a = {}{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
    assert!(codes(&ok).is_empty());
    let huge = "#".repeat(MAX_SOURCE_BYTES + 1);
    assert_eq!(codes(&huge), vec![Code::FileTooLarge]);
    // Very deep nesting far beyond the limit is refused without recursion.
    let very_deep = "(".repeat(MAX_SOURCE_BYTES / 2);
    assert_eq!(codes(&very_deep), vec![Code::NestingTooDeep]);
}

#[test]
fn line_and_column_count_characters() {
    let src = "ab\nσx = 1\n";
    assert_eq!(line_col(src, 0).line, 1);
    let x = src.find('x').unwrap();
    assert_eq!((line_col(src, x).line, line_col(src, x).column), (2, 2));
    // Offsets past the end or inside a character are clamped, not a panic.
    assert_eq!(line_col(src, 1000).line, 3);
    assert_eq!(line_col(src, 4).column, 1);
}

#[test]
fn text_rendering_has_location_caret_and_help() {
    let src = "a 1\n";
    let (_, diags) = parse(src);
    let text = render(
        Source {
            name: "f.henn",
            text: src,
        },
        &diags,
        Format::Text { color: false },
    );
    assert!(
        text.starts_with("error[E0002]: unexpected number `1`"),
        "{text}"
    );
    assert!(text.contains("┌─ f.henn:1:3"), "{text}");
    assert!(text.contains("^ expected"), "{text}");
    assert!(
        text.contains("= help: settings are written `name = value`"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'));
    let colored = render(
        Source {
            name: "f.henn",
            text: src,
        },
        &diags,
        Format::Text { color: true },
    );
    assert!(colored.contains('\u{1b}'), "colour output has ANSI escapes");
}

#[test]
fn json_rendering_is_one_object_per_line() {
    let src = "a 1\nb = $\n";
    let (_, diags) = parse(src);
    let json = render(
        Source {
            name: "f.henn",
            text: src,
        },
        &diags,
        Format::Json,
    );
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["file"], "f.henn");
    assert_eq!(lines[0]["code"], "E0002");
    assert_eq!(
        (lines[0]["line"].as_u64(), lines[0]["column"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(lines[0]["end_column"].as_u64(), Some(4));
    assert_eq!(lines[1]["code"], "E0001");
    assert_eq!(lines[1]["line"].as_u64(), Some(2));
    assert_eq!(lines[0]["labels"][0]["primary"], true);
}

#[test]
fn codes_are_unique_and_well_formed() {
    let mut seen = std::collections::BTreeSet::new();
    for c in Code::ALL {
        let s = c.as_str();
        assert!(seen.insert(s), "{s} twice");
        assert!(
            s.len() == 5 && (s.starts_with('E') || s.starts_with('W')),
            "{s}"
        );
        assert!(!c.description().is_empty());
    }
}

#[test]
fn printer_output_is_canonical() {
    let src = "model m{data{features=4 classes=2}optimizer=nag(lr=1e-3,momentum=0.9) x=[1,2,]k=4 GiB r=2^16 p=\"a\\\\b\"}";
    let (file, diags) = parse(src);
    assert!(diags.is_empty());
    assert_eq!(
        print(&file),
        "model m {\n  data {\n    features = 4\n    classes = 2\n  }\n  optimizer = nag(lr = 1e-3, momentum = 0.9)\n  x = [1, 2]\n  k = 4 GiB\n  r = 2^16\n  p = \"a\\\\b\"\n}\n"
    );
}

/// Token spellings for the random-sequence property (every terminal, plus invalid input).
const VOCAB: &[&str] = &[
    "{", "}", "(", ")", "[", "]", "=", ",", "^", "model", "data", "dense", "x", "lr", "0", "-8",
    "0.5", "1e-3", "\"p\"", "GiB", "B", "@", "\"open", "#c\n", "\n",
];

fn check_round_trip(src: &str) {
    let (mut file, diags) = parse(src);
    if diags.is_empty() {
        let printed = print(&file);
        let (mut again, diags2) = parse(&printed);
        assert!(
            diags2.is_empty(),
            "printed text failed to parse: {printed:?}"
        );
        assert_eq!(print(&again), printed);
        file.strip_spans();
        again.strip_spans();
        assert_eq!(file, again);
    } else {
        for d in &diags {
            assert!(d.primary.span.end <= src.len());
            assert!(
                src.is_char_boundary(d.primary.span.start)
                    && src.is_char_boundary(d.primary.span.end)
            );
        }
        // Rendering any diagnostic of any input works.
        let _ = render(
            Source {
                name: "p",
                text: src,
            },
            &diags,
            Format::Text { color: false },
        );
        let _ = render(
            Source {
                name: "p",
                text: src,
            },
            &diags,
            Format::Json,
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let src = String::from_utf8_lossy(&bytes);
        check_round_trip(&src);
    }

    #[test]
    fn random_token_sequences_never_panic(idx in proptest::collection::vec(0..VOCAB.len(), 0..64)) {
        let src: Vec<&str> = idx.iter().map(|&i| VOCAB[i]).collect();
        check_round_trip(&src.join(" "));
    }

    #[test]
    fn random_well_formed_items_round_trip(
        names in proptest::collection::vec("[a-z_][a-z0-9_]{0,6}", 1..8),
        nums in proptest::collection::vec(-1000i64..1000, 1..8),
    ) {
        let mut src = String::from("model m {\n");
        for (i, (n, v)) in names.iter().zip(nums.iter().cycle()).enumerate() {
            match i % 4 {
                0 => src.push_str(&format!("{n} = {v}\n")),
                1 => src.push_str(&format!("{n} x({v}, k = [{v}, {n}])\n")),
                2 => src.push_str(&format!("{n} {{ {n} = {v} GiB }}\n")),
                _ => src.push_str(&format!("{n} = 2^{}\n", v.unsigned_abs() % 20)),
            }
        }
        src.push('}');
        let (_, diags) = parse(&src);
        prop_assert!(diags.is_empty(), "{src}\n{diags:?}");
        check_round_trip(&src);
    }
}
