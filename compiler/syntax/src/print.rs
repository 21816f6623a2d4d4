//! The pretty-printer: the canonical text of a syntax tree.
//!
//! `parse(print(f))` gives back `f` up to spans (comments are not part of the tree and are not
//! printed). Layout: one declaration per line, blocks indented by two spaces, arguments and list
//! elements separated by `, `. Error nodes (from recovery) print as nothing; the round trip is
//! only promised for trees without them.

use crate::ast::{Args, Body, Decl, Expr, ExprKind, File, Item};

/// Prints `file` in canonical form.
pub fn print(file: &File) -> String {
    let mut out = String::new();
    for item in &file.items {
        print_item(&mut out, item, 0);
    }
    out
}

fn print_item(out: &mut String, item: &Item, indent: usize) {
    if let Item::Decl(d) = item {
        print_decl(out, d, indent);
    }
}

fn print_decl(out: &mut String, d: &Decl, indent: usize) {
    push_indent(out, indent);
    out.push_str(&d.kind.name);
    if let Some(n) = &d.name {
        out.push(' ');
        out.push_str(&n.name);
    }
    match &d.body {
        Body::Value(e) => {
            out.push_str(" = ");
            print_expr(out, e);
            out.push('\n');
        }
        Body::Args(a) => {
            print_args(out, a);
            out.push('\n');
        }
        Body::Block(b) => {
            if b.items.iter().all(|i| matches!(i, Item::Error(_))) {
                out.push_str(" {}\n");
                return;
            }
            out.push_str(" {\n");
            for item in &b.items {
                print_item(out, item, indent + 1);
            }
            push_indent(out, indent);
            out.push_str("}\n");
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

fn print_args(out: &mut String, a: &Args) {
    out.push('(');
    let mut first = true;
    for arg in a.args.iter().filter(|a| a.value.kind != ExprKind::Error) {
        if !first {
            out.push_str(", ");
        }
        first = false;
        if let Some(n) = &arg.name {
            out.push_str(&n.name);
            out.push_str(" = ");
        }
        print_expr(out, &arg.value);
    }
    out.push(')');
}

fn print_expr(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Number(n) => out.push_str(&n.text),
        ExprKind::Quantity { value, unit, .. } => {
            out.push_str(&value.text);
            out.push(' ');
            out.push_str(unit.as_str());
        }
        ExprKind::Power { base, exponent } => {
            out.push_str(&base.text);
            out.push('^');
            out.push_str(&exponent.text);
        }
        ExprKind::Name(i) => out.push_str(&i.name),
        ExprKind::Call { callee, args } => {
            out.push_str(&callee.name);
            print_args(out, args);
        }
        ExprKind::List(items) => {
            out.push('[');
            let mut first = true;
            for item in items.iter().filter(|e| e.kind != ExprKind::Error) {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                print_expr(out, item);
            }
            out.push(']');
        }
        ExprKind::Str(raw) => {
            out.push('"');
            out.push_str(raw);
            out.push('"');
        }
        ExprKind::Error => {}
    }
}
