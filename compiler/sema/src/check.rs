//! The semantic pass: interprets the generic syntax tree as a training job and builds the
//! [`Model`], reporting every problem with its span.
//!
//! The pass never stops at the first error. Each section is checked independently; a value that
//! fails its check is dropped (`None`) and later checks that depend on it are skipped, so one
//! mistake yields one diagnostic rather than a cascade.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use henn_syntax::ast::{Args, Block, Body, Decl, Expr, ExprKind, File, Ident, Item};
use henn_syntax::{Code, Diagnostic, Span};

use crate::fit;
use crate::model::*;
use crate::value::{self, CallArgs, Sink, one_of, unknown};

/// Feature and class counts above this are refused (far beyond what CKKS training can hold).
pub const MAX_WIDTH: u64 = 1 << 20;

fn header_span(d: &Decl) -> Span {
    d.name
        .as_ref()
        .map_or(d.kind.span, |n| d.kind.span.to(n.span))
}

/// A declaration's form, for "wrong form" messages.
fn form_of(d: &Decl) -> &'static str {
    match d.body {
        Body::Value(_) => "a setting",
        Body::Args(_) => "a constructor",
        Body::Block(_) => "a section",
    }
}

/// `name = value` settings of one block, checked for unknown names and duplicates.
struct Settings<'a> {
    values: Vec<(&'a Ident, &'a Expr)>,
}

impl<'a> Settings<'a> {
    fn get(&self, key: &str) -> Option<&'a Expr> {
        self.values
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, e)| *e)
    }

    fn key_span(&self, key: &str) -> Option<Span> {
        self.values
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, _)| k.span)
    }
}

/// Splits `items` into settings (`key = value` with a known key) and other declarations, which
/// `other` gets to claim; anything unclaimed is reported.
fn collect<'a>(
    sink: &mut Sink,
    items: &'a [Item],
    section: &str,
    keys: &[&str],
    other_kinds: &[&str],
    mut other: impl FnMut(&mut Sink, &'a Decl) -> bool,
) -> Settings<'a> {
    let mut values: Vec<(&'a Ident, &'a Expr)> = Vec::new();
    let mut seen: Vec<(&'a str, Span)> = Vec::new();
    let all: Vec<&str> = keys.iter().chain(other_kinds).copied().collect();
    for item in items {
        let Item::Decl(d) = item else { continue };
        let is_setting = d.name.is_none() && matches!(d.body, Body::Value(_));
        if is_setting && keys.contains(&d.kind.name.as_str()) {
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == d.kind.name) {
                sink.push(
                    Diagnostic::error(Code::Duplicate, format!("`{}` is set twice", d.kind.name))
                        .at(d.span, "second setting")
                        .with_secondary(*first, "first set here")
                        .with_help("remove one of them"),
                );
                continue;
            }
            seen.push((d.kind.name.as_str(), d.span));
            if let Body::Value(e) = &d.body {
                values.push((&d.kind, e));
            }
            continue;
        }
        if other(sink, d) {
            continue;
        }
        if keys.contains(&d.kind.name.as_str())
            && let (Body::Value(_), Some(n)) = (&d.body, &d.name)
        {
            sink.push(
                Diagnostic::error(
                    Code::WrongForm,
                    format!("setting `{}` takes no name", d.kind.name),
                )
                .at(n.span, "remove this name"),
            );
        } else if keys.contains(&d.kind.name.as_str()) {
            sink.push(
                Diagnostic::error(Code::WrongForm, format!("`{}` is a setting", d.kind.name))
                    .at(d.span, format!("written as {}", form_of(d)))
                    .with_help(format!("write `{} = VALUE`", d.kind.name)),
            );
        } else if other_kinds.contains(&d.kind.name.as_str()) {
            // `other` already rejected it with its own message.
        } else {
            let suggestion = value::suggest(&d.kind.name, &all);
            if let Some(s) = suggestion {
                sink.suggested.push(s.to_owned());
            }
            let mut diag = unknown(
                Code::UnknownItem,
                &format!("item in `{section}`"),
                &d.kind,
                &all,
            );
            let model_level = MODEL_KEYS.iter().chain(MODEL_SECTIONS);
            if suggestion.is_none()
                && section != "model"
                && model_level.clone().any(|k| *k == d.kind.name)
            {
                diag.help = Some(format!(
                    "`{}` belongs directly inside `model NAME {{ … }}`, not in `{section}`",
                    d.kind.name
                ));
            }
            sink.push(diag);
        }
    }
    Settings { values }
}

/// Remembers the first occurrence of a block-like declaration, reporting repeats.
fn once<'a>(sink: &mut Sink, slot: &mut Option<&'a Decl>, d: &'a Decl) {
    match slot {
        Some(first) => sink.push(
            Diagnostic::error(Code::Duplicate, format!("`{}` appears twice", d.kind.name))
                .at(d.kind.span, "second occurrence")
                .with_secondary(first.kind.span, "first occurrence")
                .with_help("merge the two into one"),
        ),
        None => *slot = Some(d),
    }
}

/// The block of a section declaration with the span of its header (`data`, `model m`, …).
fn expect_block<'a>(sink: &mut Sink, d: &'a Decl) -> Option<(&'a Block, Span)> {
    if let Some(n) = &d.name {
        sink.push(
            Diagnostic::error(
                Code::WrongForm,
                format!("section `{}` takes no name", d.kind.name),
            )
            .at(n.span, "remove this name"),
        );
    }
    match &d.body {
        Body::Block(b) => Some((b, header_span(d))),
        _ => {
            sink.push(
                Diagnostic::error(Code::WrongForm, format!("`{}` is a section", d.kind.name))
                    .at(d.span, format!("written as {}", form_of(d)))
                    .with_help(format!("write `{} {{ … }}`", d.kind.name)),
            );
            None
        }
    }
}

/// Reports a missing setting at the section's header; `block` is searched for recovery damage.
fn missing(
    sink: &mut Sink,
    (block, header): (Span, Span),
    section: &str,
    key: &str,
    example: &str,
) {
    if sink.damaged(block) || sink.suggested.iter().any(|s| s == key) {
        return;
    }
    sink.push(
        Diagnostic::error(Code::MissingSetting, format!("`{section}` needs `{key}`"))
            .at(header, format!("this `{section}` has no `{key}`"))
            .with_help(format!("add `{example}`")),
    );
}

/// Checks a parsed file. `base_dir` resolves relative data paths.
pub(crate) fn check(
    sink: &mut Sink,
    file: &File,
    source_name: &str,
    base_dir: &Path,
) -> Option<Model> {
    file.items
        .iter()
        .for_each(|i| recovered_item(&mut sink.recovered, i));
    let decls: Vec<&Decl> = file
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Decl(d) => Some(d),
            Item::Error(_) => None,
        })
        .collect();
    let Some(decl) = decls.iter().copied().find(|d| d.kind.name == "model") else {
        if !sink.any_damage() {
            let mut d = Diagnostic::error(Code::MissingModel, "no model in this file")
                .at(
                    decls.first().map_or(Span::default(), |d| d.kind.span),
                    "expected `model NAME { … }`",
                )
                .with_help("wrap the settings in `model my_model { … }`");
            if let Some(near) = decls
                .iter()
                .find(|d| value::suggest(&d.kind.name, &["model"]).is_some())
            {
                d = d.with_secondary(near.kind.span, "did you mean `model`?");
            }
            sink.push(d);
        }
        return None;
    };
    for d in decls.iter().filter(|d| !std::ptr::eq(**d, decl)) {
        if d.kind.name == "model" {
            sink.push(
                Diagnostic::error(Code::ExtraModel, "a file holds exactly one model")
                    .at(
                        d.name
                            .as_ref()
                            .map_or(d.kind.span, |n| d.kind.span.to(n.span)),
                        "second model",
                    )
                    .with_secondary(decl.kind.span, "first model"),
            );
        } else {
            sink.push(
                Diagnostic::error(
                    Code::ExtraModel,
                    format!("`{}` cannot appear outside the model", d.kind.name),
                )
                .at(d.kind.span, "top-level items must be `model NAME { … }`")
                .with_secondary(decl.kind.span, "the model")
                .with_help("move it inside the model's braces"),
            );
        }
    }
    let name = match &decl.name {
        Some(n) => Some(n.name.clone()),
        None => {
            sink.push(
                Diagnostic::error(Code::WrongForm, "the model needs a name")
                    .at(decl.kind.span, "write `model NAME { … }`"),
            );
            None
        }
    };
    let Body::Block(body) = &decl.body else {
        sink.push(
            Diagnostic::error(Code::WrongForm, "`model` is a section")
                .at(decl.span, format!("written as {}", form_of(decl)))
                .with_help("write `model NAME { … }`"),
        );
        return None;
    };
    ModelChecker {
        sink,
        source_name,
        base_dir,
        fits: HashMap::new(),
    }
    .model(name, body, header_span(decl))
}

fn recovered_item(out: &mut Vec<Span>, item: &Item) {
    match item {
        Item::Error(s) => out.push(*s),
        Item::Decl(d) => match &d.body {
            Body::Value(e) => recovered_expr(out, e),
            Body::Args(a) => a.args.iter().for_each(|a| recovered_expr(out, &a.value)),
            Body::Block(b) => b.items.iter().for_each(|i| recovered_item(out, i)),
        },
    }
}

fn recovered_expr(out: &mut Vec<Span>, e: &Expr) {
    match &e.kind {
        ExprKind::Error => out.push(e.span),
        ExprKind::Call { args, .. } => args.args.iter().for_each(|a| recovered_expr(out, &a.value)),
        ExprKind::List(items) => items.iter().for_each(|i| recovered_expr(out, i)),
        _ => {}
    }
}

struct ModelChecker<'s> {
    sink: &'s mut Sink,
    source_name: &'s str,
    base_dir: &'s Path,
    /// Least-squares fits by (degree, lo bits, hi bits).
    fits: HashMap<(u32, u64, u64), Result<Vec<f64>, fit::FitError>>,
}

/// Explains why a familiar activation is not available under encryption.
fn with_activation_note(d: Diagnostic, name: &str) -> Diagnostic {
    let note = match name.to_ascii_lowercase().as_str() {
        "sigmoid" | "logistic" => {
            "CKKS evaluates only polynomials: declare an approximation, e.g. \
             `activation s = sigmoid_fit(degree = 5, interval = [-8, 8])`"
        }
        "relu" | "tanh" | "softmax" | "gelu" => {
            "CKKS evaluates only polynomials and henn trains sigmoid networks: use a polynomial \
             sigmoid from `sigmoid_fit(…)` or `poly(…)`"
        }
        _ => return d,
    };
    d.with_note(note)
}

/// Explains why a familiar optimizer is not available under encryption.
fn with_optimizer_note(d: Diagnostic, name: &str) -> Diagnostic {
    match name.to_ascii_lowercase().as_str() {
        "adam" | "adamw" | "rmsprop" | "adagrad" => d.with_note(
            "adaptive optimizers divide by a running root mean square, which has no cheap \
             encrypted form; henn offers `sgd` and `nag`",
        ),
        "momentum" | "nesterov" => d.with_help("write `nag(lr = …, momentum = …)`"),
        _ => d,
    }
}

/// A declared activation, with the span of its name for duplicate and use reports.
struct NamedActivation {
    name: String,
    span: Span,
    value: Option<Activation>,
    /// Set when a layer refers to it (for the unused-activation warning).
    used: std::cell::Cell<bool>,
}

const MODEL_KEYS: &[&str] = &["loss", "optimizer"];
const MODEL_SECTIONS: &[&str] = &["data", "network", "train", "encryption", "activation"];

impl ModelChecker<'_> {
    fn model(&mut self, name: Option<String>, body: &Block, header: Span) -> Option<Model> {
        let (mut data, mut network, mut train, mut enc) = (None, None, None, None);
        let mut activation_decls: Vec<&Decl> = Vec::new();
        let settings = collect(
            self.sink,
            &body.items,
            "model",
            MODEL_KEYS,
            MODEL_SECTIONS,
            |sink, d| {
                match d.kind.name.as_str() {
                    "data" => once(sink, &mut data, d),
                    "network" => once(sink, &mut network, d),
                    "train" => once(sink, &mut train, d),
                    "encryption" => once(sink, &mut enc, d),
                    "activation" => activation_decls.push(d),
                    _ => return false,
                }
                true
            },
        );
        let block_span = (body.span, header);

        let activations = self.activations(&activation_decls);

        let data_spec = match data {
            Some(d) => expect_block(self.sink, d).and_then(|(b, h)| self.data(b, h)),
            None => {
                missing(
                    self.sink,
                    block_span,
                    "model",
                    "data",
                    "data { features = …  classes = … }",
                );
                None
            }
        };
        let layers = match network {
            Some(d) => expect_block(self.sink, d).and_then(|(b, h)| {
                self.network(
                    b,
                    h,
                    data_spec.as_ref().map(|(d, s)| (d.features, s.features)),
                    &activations,
                )
            }),
            None => {
                missing(
                    self.sink,
                    block_span,
                    "model",
                    "network",
                    "network { dense out(…) }",
                );
                None
            }
        };
        // Only meaningful when the network was read completely.
        if layers.is_some() {
            for a in activations.iter().filter(|a| !a.used.get()) {
                self.sink.push(
                    Diagnostic::warning(
                        Code::UnusedActivation,
                        format!("activation `{}` is never used", a.name),
                    )
                    .at(a.span, "declared here")
                    .with_help("use it in a layer with `activation = NAME`, or remove it"),
                );
            }
        }
        if let (Some((data, spans)), Some((layers, width_spans))) = (&data_spec, &layers) {
            self.check_classes(data, spans, layers, width_spans);
        }

        let loss = match settings.get("loss") {
            Some(e) => value::keyword(self.sink, e, "loss", &["bce", "mse"]).map(|k| match k {
                "mse" => Loss::Mse,
                _ => Loss::Bce,
            }),
            None => Some(Loss::Bce),
        };
        if let (Some(Loss::Bce), Some((layers, width_spans))) = (loss, &layers)
            && let (Some(last), Some(&wspan)) = (layers.last(), width_spans.last())
            && last.activation == Activation::Identity
        {
            let mut d = Diagnostic::error(
                Code::BceNeedsSigmoid,
                format!(
                    "`bce` needs a sigmoid output, but layer `{}` is linear",
                    last.name
                ),
            )
            .at(wspan, "this output layer uses `identity`")
            .with_help("give the output layer a sigmoid approximation, or use `loss = mse`");
            d = match settings.key_span("loss") {
                Some(span) => d.with_secondary(span, "binary cross-entropy chosen here"),
                None => d.with_note("`bce` is the default loss"),
            };
            self.sink.push(d);
        }
        let optimizer = match settings.get("optimizer") {
            Some(e) => self.optimizer(e),
            None => {
                missing(
                    self.sink,
                    block_span,
                    "model",
                    "optimizer",
                    "optimizer = sgd(lr = 0.1)",
                );
                None
            }
        };
        // Outer None: the data section is broken, so whether it states `samples` is unknown.
        let samples = data_spec
            .as_ref()
            .map(|(d, s)| d.samples.map(|n| (n, s.samples)));
        let schedule = match train {
            Some(d) => expect_block(self.sink, d).and_then(|(b, h)| self.train(b, h, samples)),
            None => {
                missing(
                    self.sink,
                    block_span,
                    "model",
                    "train",
                    "train { iterations = … }",
                );
                None
            }
        };
        let encryption = match enc {
            Some(d) => expect_block(self.sink, d).and_then(|(b, _)| self.encryption(b)),
            None => Some(EncryptionSpec {
                security: Security::Bits128,
                ring: RingDegree::Auto,
                scale_bits: DEFAULT_SCALE_BITS,
                bootstrapping: Bootstrapping::Auto,
                key_memory_cap: None,
                layout: LayoutHint::Auto,
            }),
        };

        if self.sink.has_errors() {
            return None;
        }
        let (data, _) = data_spec?;
        let (layers, _) = layers?;
        let (schedule, init) = schedule?;
        Some(Model {
            name: name?,
            source_name: self.source_name.to_owned(),
            data,
            layers,
            loss: loss?,
            optimizer: optimizer?,
            schedule,
            init,
            encryption: encryption?,
        })
    }

    // ----- activations -------------------------------------------------------------------

    fn activations<'d>(&mut self, decls: &[&'d Decl]) -> Vec<NamedActivation> {
        let mut out: Vec<NamedActivation> = Vec::new();
        let mut seen: HashMap<&'d str, Span> = HashMap::new();
        for d in decls {
            let Some(name) = &d.name else {
                self.sink.push(
                    Diagnostic::error(Code::WrongForm, "an activation needs a name")
                        .at(d.kind.span, "write `activation NAME = …`"),
                );
                continue;
            };
            let Body::Value(e) = &d.body else {
                self.sink.push(
                    Diagnostic::error(Code::WrongForm, "an activation is defined with `=`")
                        .at(d.span, format!("written as {}", form_of(d)))
                        .with_help(format!("write `activation {} = sigmoid_fit(…)`", name.name)),
                );
                continue;
            };
            if BUILTIN_ACTIVATIONS.contains(&name.name.as_str()) {
                self.sink.push(
                    Diagnostic::error(
                        Code::Duplicate,
                        format!("`{}` is a built-in activation", name.name),
                    )
                    .at(name.span, "choose another name"),
                );
                continue;
            }
            if let Some(&first) = seen.get(name.name.as_str()) {
                self.sink.push(
                    Diagnostic::error(
                        Code::Duplicate,
                        format!("activation `{}` is defined twice", name.name),
                    )
                    .at(name.span, "second definition")
                    .with_secondary(first, "first definition"),
                );
                continue;
            }
            let value = self.activation_expr(e);
            seen.insert(&name.name, name.span);
            out.push(NamedActivation {
                name: name.name.clone(),
                span: name.span,
                value,
                used: std::cell::Cell::new(false),
            });
        }
        out
    }

    fn activation_expr(&mut self, e: &Expr) -> Option<Activation> {
        match &e.kind {
            ExprKind::Name(id) if id.name == "identity" => Some(Activation::Identity),
            ExprKind::Call { callee, args } if callee.name == "poly" => self.poly(args),
            ExprKind::Call { callee, args } if callee.name == "sigmoid_fit" => {
                self.sigmoid_fit(args)
            }
            ExprKind::Call { callee, .. } | ExprKind::Name(callee) => {
                let d = unknown(
                    Code::UnknownValue,
                    "activation constructor",
                    callee,
                    ACTIVATION_FORMS,
                );
                self.sink.push(with_activation_note(d, &callee.name));
                None
            }
            ExprKind::Error => None,
            _ => {
                self.sink.push(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        "an activation is `poly(…)`, `sigmoid_fit(…)` or `identity`",
                    )
                    .at(e.span, format!("found {}", value::describe(e))),
                );
                None
            }
        }
    }

    fn derivative(&mut self, args: &CallArgs<'_>) -> Option<Derivative> {
        match args.get("derivative") {
            None => Some(Derivative::Polynomial),
            Some(e) => {
                value::keyword(self.sink, e, "derivative", &["polynomial", "output"]).map(|k| {
                    if k == "output" {
                        Derivative::FromOutput
                    } else {
                        Derivative::Polynomial
                    }
                })
            }
        }
    }

    fn poly(&mut self, args: &Args) -> Option<Activation> {
        let a = CallArgs::new(
            self.sink,
            "poly",
            args,
            &["coeffs", "interval", "derivative"],
        );
        let coeffs = a
            .require(self.sink, "poly", "coeffs")
            .and_then(|e| self.coeffs(e));
        let interval = a
            .require(self.sink, "poly", "interval")
            .and_then(|e| value::interval(self.sink, e, "interval"));
        let derivative = self.derivative(&a);
        let act = PolyActivation {
            coeffs: coeffs?,
            interval: interval?,
            origin: PolyOrigin::Explicit,
            derivative: derivative?,
        };
        self.warn_derivative(&act, args.span);
        Some(Activation::Polynomial(act))
    }

    fn coeffs(&mut self, e: &Expr) -> Option<Vec<f64>> {
        let ExprKind::List(items) = &e.kind else {
            self.sink.push(
                Diagnostic::error(
                    Code::TypeMismatch,
                    "`coeffs` expects a list of numbers, lowest degree first",
                )
                .at(e.span, format!("found {}", value::describe(e))),
            );
            return None;
        };
        let max = fit::MAX_DEGREE as usize + 1;
        if items.is_empty() || items.len() > max {
            self.sink.push(
                Diagnostic::error(
                    Code::BadCoefficients,
                    format!("a polynomial needs 1 to {max} coefficients"),
                )
                .at(e.span, format!("{} coefficients", items.len())),
            );
            return None;
        }
        let values: Vec<Option<f64>> = items
            .iter()
            .map(|i| value::real(self.sink, i, "coeffs"))
            .collect();
        let mut coeffs: Vec<f64> = values.into_iter().collect::<Option<Vec<f64>>>()?;
        if coeffs.len() > 1 && coeffs.iter().skip(1).all(|c| *c == 0.0) {
            self.sink.push(
                Diagnostic::error(Code::BadCoefficients, "the polynomial is a constant")
                    .at(e.span, "every coefficient past the first is zero")
                    .with_note("a constant activation passes no gradient"),
            );
            return None;
        }
        // Trailing zeros do not change the function; drop them so the degree is the true one.
        while coeffs.len() > 1 && coeffs.last() == Some(&0.0) {
            coeffs.pop();
        }
        Some(coeffs)
    }

    fn sigmoid_fit(&mut self, args: &Args) -> Option<Activation> {
        let a = CallArgs::new(
            self.sink,
            "sigmoid_fit",
            args,
            &["degree", "interval", "derivative"],
        );
        let degree = a
            .require(self.sink, "sigmoid_fit", "degree")
            .and_then(|e| match &e.kind {
                ExprKind::Number(n) => {
                    let v = value::int_literal(&mut Sink::default(), n, "degree", 0, u64::MAX);
                    match v {
                        Some(d) if (1..=u64::from(fit::MAX_DEGREE)).contains(&d) => {
                            u32::try_from(d).ok()
                        }
                        _ => {
                            // Re-run for the precise diagnostic (fraction, overflow) or report range.
                            if value::int_literal(self.sink, n, "degree", 0, u64::MAX).is_some() {
                                self.sink.push(
                                    Diagnostic::error(
                                        Code::BadDegree,
                                        format!("degree must be in 1..={}", fit::MAX_DEGREE),
                                    )
                                    .at(n.span, "out of range"),
                                );
                            }
                            None
                        }
                    }
                }
                _ => value::int(self.sink, e, "degree", 1, u64::from(fit::MAX_DEGREE))
                    .and_then(|d| u32::try_from(d).ok()),
            });
        let interval = a
            .require(self.sink, "sigmoid_fit", "interval")
            .and_then(|e| value::interval(self.sink, e, "interval"));
        let derivative = self.derivative(&a);
        let (degree, interval, derivative) = (degree?, interval?, derivative?);
        if degree % 2 == 0 && interval.lo == -interval.hi {
            // σ − ½ is odd: on a symmetric interval the even coefficients vanish, so the fit of
            // degree 2k is the fit of degree 2k − 1 and costs the depth of 2k for nothing.
            self.sink.push(
                Diagnostic::warning(
                    Code::EvenDegreeFit,
                    format!(
                        "a degree-{degree} fit on a symmetric interval is the degree-{} fit",
                        degree - 1
                    ),
                )
                .at(args.span, "its highest coefficient is 0")
                .with_help(format!(
                    "σ(x) − ½ is odd, so its even coefficients vanish: write degree = {} (same \
                     polynomial) or {} (a closer fit)",
                    degree - 1,
                    degree + 1
                )),
            );
        }
        // Identical fits are computed once (a file may declare many).
        let key = (degree, interval.lo.to_bits(), interval.hi.to_bits());
        let fitted = self
            .fits
            .entry(key)
            .or_insert_with(|| fit::sigmoid_least_squares(degree, interval.lo, interval.hi))
            .clone();
        match fitted {
            Ok(coeffs) => {
                let act = PolyActivation {
                    coeffs,
                    interval,
                    origin: PolyOrigin::LeastSquares { degree },
                    derivative,
                };
                self.warn_derivative(&act, args.span);
                Some(Activation::Polynomial(act))
            }
            Err(err) => {
                self.sink.push(
                    Diagnostic::error(Code::FitFailed, "the least-squares fit cannot be used")
                        .at(args.span, match err {
                            fit::FitError::IllConditioned { error } => format!(
                                "converting the fit to monomials loses {error:.0e} (limit {:.0e})",
                                fit::MAX_CONVERSION_ERROR
                            ),
                            other => other.to_string(),
                        })
                        .with_help("lower the degree or narrow the interval"),
                );
                None
            }
        }
    }

    /// W0001: σ̃′ turning negative inside the trusted interval reverses gradients there.
    fn warn_derivative(&mut self, act: &PolyActivation, span: Span) {
        if act.derivative != Derivative::Polynomial || act.coeffs.len() < 2 {
            return;
        }
        let Interval { lo, hi } = act.interval;
        let steps = 2000;
        // Runs of grid points where σ̃′ < 0, as [first, last] x values.
        let mut runs: Vec<(f64, f64)> = Vec::new();
        let mut open: Option<f64> = None;
        let mut last_x = lo;
        for i in 0..=steps {
            let x = lo + (hi - lo) * f64::from(i) / f64::from(steps);
            match (act.eval_derivative(x) < 0.0, open) {
                (true, None) => open = Some(x),
                (false, Some(start)) => {
                    runs.push((start, last_x));
                    open = None;
                }
                _ => {}
            }
            last_x = x;
        }
        if let Some(start) = open {
            runs.push((start, hi));
        }
        if runs.is_empty() {
            return;
        }
        let where_: Vec<String> = runs
            .iter()
            .map(|(a, b)| format!("[{a:.2}, {b:.2}]"))
            .collect();
        self.sink.push(
            Diagnostic::warning(Code::DerivativeNegative, "σ̃′ is negative inside the trusted interval")
                .at(span, format!("the derivative polynomial is negative on {}", where_.join(" and ")))
                .with_note(
                    "back-propagation through a negative σ̃′ pushes weights the wrong way; \
                     keep pre-activations out of that range, narrow the interval or change the degree",
                ),
        );
    }

    // ----- data --------------------------------------------------------------------------

    fn data(&mut self, b: &Block, header: Span) -> Option<(DataSpec, DataSpans)> {
        const KEYS: &[&str] = &[
            "features", "classes", "samples", "range", "scaling", "train", "test",
        ];
        let s = collect(self.sink, &b.items, "data", KEYS, &[], |_, _| false);
        let features = match s.get("features") {
            Some(e) => value::int(self.sink, e, "features", 1, MAX_WIDTH),
            None => {
                missing(
                    self.sink,
                    (b.span, header),
                    "data",
                    "features",
                    "features = 64",
                );
                None
            }
        };
        let classes = match s.get("classes") {
            Some(e) => value::int(self.sink, e, "classes", 1, MAX_WIDTH),
            None => {
                missing(
                    self.sink,
                    (b.span, header),
                    "data",
                    "classes",
                    "classes = 10",
                );
                None
            }
        };
        let samples = match s.get("samples") {
            Some(e) => value::int(self.sink, e, "samples", 1, u64::from(u32::MAX)).map(Some),
            None => Some(None),
        };
        let range = match s.get("range") {
            Some(e) => value::interval(self.sink, e, "range").map(Some),
            None => Some(None),
        };
        let scaling = match s.get("scaling") {
            Some(e) => value::keyword(self.sink, e, "scaling", &["none", "minmax", "standardize"])
                .map(|k| match k {
                    "minmax" => Scaling::MinMax,
                    "standardize" => Scaling::Standardize,
                    _ => Scaling::None,
                }),
            None => Some(Scaling::None),
        };
        let train = s
            .get("train")
            .map(|e| self.path(e, "train"))
            .unwrap_or(Some(None));
        let test = s
            .get("test")
            .map(|e| self.path(e, "test"))
            .unwrap_or(Some(None));
        let spans = DataSpans {
            features: s.get("features").map_or(b.span, |e| e.span),
            classes: s.get("classes").map_or(b.span, |e| e.span),
            samples: s.get("samples").map_or(b.span, |e| e.span),
        };
        let spec = DataSpec {
            features: usize::try_from(features?).ok()?,
            classes: usize::try_from(classes?).ok()?,
            samples: match samples? {
                Some(n) => Some(usize::try_from(n).ok()?),
                None => None,
            },
            feature_range: range?,
            scaling: scaling?,
            train: train?,
            test: test?,
        };
        Some((spec, spans))
    }

    fn path(&mut self, e: &Expr, what: &str) -> Option<Option<PathBuf>> {
        let s = value::string(self.sink, e, what)?;
        if s.is_empty() || s.contains('\0') {
            self.sink.push(
                Diagnostic::error(Code::BadPath, format!("`{what}` is not a usable path")).at(
                    e.span,
                    if s.is_empty() {
                        "empty path"
                    } else {
                        "contains a NUL byte"
                    },
                ),
            );
            return None;
        }
        let p = Path::new(&s);
        Some(Some(if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }))
    }

    // ----- network -----------------------------------------------------------------------

    fn network(
        &mut self,
        b: &Block,
        header: Span,
        input: Option<(usize, Span)>,
        activations: &[NamedActivation],
    ) -> Option<(Vec<DenseLayer>, Vec<Span>)> {
        let mut dense: Vec<&Decl> = Vec::new();
        let s = collect(
            self.sink,
            &b.items,
            "network",
            &["bias"],
            &["dense"],
            |sink, d| {
                if d.kind.name != "dense" {
                    return false;
                }
                if matches!(d.body, Body::Args(_)) {
                    dense.push(d);
                } else {
                    sink.push(
                        Diagnostic::error(
                            Code::WrongForm,
                            "a dense layer is written with its arguments in parentheses",
                        )
                        .at(d.span, format!("written as {}", form_of(d)))
                        .with_help("write `dense NAME(WIDTH, activation = …)`"),
                    );
                }
                true
            },
        );
        let default_bias = match s.get("bias") {
            Some(e) => value::boolean(self.sink, e, "bias"),
            None => Some(true),
        };
        if dense.is_empty() && !self.sink.damaged(b.span) {
            self.sink.push(
                Diagnostic::error(Code::EmptyNetwork, "the network has no layers")
                    .at(header, "no `dense` layer in this network")
                    .with_help("add at least the output layer, e.g. `dense out(10)`"),
            );
            return None;
        }
        if dense.is_empty() {
            return None;
        }
        let mut layers = Vec::new();
        let mut width_spans = Vec::new();
        // Name → span of its first use; a map keeps huge networks linear.
        let mut names: HashMap<String, Span> = HashMap::new();
        let index: HashMap<&str, &NamedActivation> =
            activations.iter().map(|a| (a.name.as_str(), a)).collect();
        let mut ok = true;
        // The previous layer's output width, the span that stated it, and a phrase for messages.
        let mut prev: Option<(usize, Span, String)> =
            input.map(|(w, s)| (w, s, format!("the data has {w} features")));
        for (i, d) in dense.iter().enumerate() {
            let Body::Args(args) = &d.body else { continue };
            let a = CallArgs::new(
                self.sink,
                "dense",
                args,
                &["width", "activation", "bias", "inputs"],
            );
            let name = match &d.name {
                Some(n) => n.name.clone(),
                None => format!("dense{}", i + 1),
            };
            let name_span = d.name.as_ref().map_or(d.kind.span, |n| n.span);
            if let Some(first) = names.get(&name) {
                self.sink.push(
                    Diagnostic::error(Code::Duplicate, format!("layer `{name}` is defined twice"))
                        .at(name_span, "second layer with this name")
                        .with_secondary(*first, "first layer with this name"),
                );
                ok = false;
            }
            names.entry(name.clone()).or_insert(name_span);
            let width_expr = a.require(self.sink, "dense", "width");
            let width = width_expr
                .and_then(|e| value::int(self.sink, e, "width", 1, MAX_WIDTH))
                .and_then(|w| usize::try_from(w).ok());
            let width_span = width_expr.map_or(args.span, |e| e.span);
            if let Some(e) = a.get("inputs")
                && let Some(stated) = value::int(self.sink, e, "inputs", 1, MAX_WIDTH)
                    .and_then(|w| usize::try_from(w).ok())
                && let Some((pw, pspan, who)) = &prev
                && stated != *pw
            {
                self.sink.push(
                    Diagnostic::error(
                        Code::WidthMismatch,
                        format!("layer `{name}` expects {stated} inputs, but {who}"),
                    )
                    .at(e.span, format!("{stated} inputs stated here"))
                    .with_secondary(
                        *pspan,
                        if i == 0 {
                            format!("{pw} features declared here")
                        } else {
                            format!("{pw} outputs come from here")
                        },
                    )
                    .with_help(format!(
                        "write `inputs = {pw}` or change the previous width"
                    )),
                );
                ok = false;
            }
            let activation =
                self.layer_activation(a.get("activation"), activations, &index, name_span, &name);
            let bias = match a.get("bias") {
                Some(e) => value::boolean(self.sink, e, "bias"),
                None => default_bias,
            };
            match (width, activation, bias, &prev) {
                (Some(w), Some(act), Some(bias), Some((pw, _, _))) => layers.push(DenseLayer {
                    name: name.clone(),
                    inputs: *pw,
                    outputs: w,
                    bias,
                    activation: act,
                }),
                _ => ok = false,
            }
            width_spans.push(width_span);
            prev = width.map(|w| (w, width_span, format!("layer `{name}` has {w} outputs")));
        }
        if ok {
            Some((layers, width_spans))
        } else {
            None
        }
    }

    fn layer_activation(
        &mut self,
        e: Option<&Expr>,
        declared: &[NamedActivation],
        index: &HashMap<&str, &NamedActivation>,
        layer_span: Span,
        layer: &str,
    ) -> Option<Activation> {
        let Some(e) = e else {
            // Documented default: the only declared activation, if there is exactly one.
            return match declared {
                [only] => {
                    only.used.set(true);
                    only.value.clone()
                }
                _ => {
                    let mut d = Diagnostic::error(
                        Code::MissingSetting,
                        format!("layer `{layer}` needs an activation"),
                    )
                    .at(layer_span, "no `activation = …` argument");
                    d = if declared.is_empty() {
                        d.with_help("declare one with `activation NAME = sigmoid_fit(…)`, or write `activation = identity`")
                    } else {
                        let names: Vec<&str> = declared.iter().map(|a| a.name.as_str()).collect();
                        d.with_help(format!("pick one of {}", one_of(&names)))
                    };
                    self.sink.push(d);
                    None
                }
            };
        };
        match &e.kind {
            ExprKind::Name(id) if id.name == "identity" => Some(Activation::Identity),
            ExprKind::Name(id) => match index.get(id.name.as_str()) {
                Some(a) => {
                    a.used.set(true);
                    a.value.clone() // None: its definition was already reported
                }
                None => {
                    let mut names: Vec<&str> = declared.iter().map(|a| a.name.as_str()).collect();
                    names.extend(BUILTIN_ACTIVATIONS);
                    let d = unknown(Code::UnknownActivation, "activation", id, &names);
                    self.sink.push(with_activation_note(d, &id.name));
                    None
                }
            },
            _ => self.activation_expr(e),
        }
    }

    fn check_classes(
        &mut self,
        data: &DataSpec,
        spans: &DataSpans,
        layers: &[DenseLayer],
        widths: &[Span],
    ) {
        let (Some(last), Some(&wspan)) = (layers.last(), widths.last()) else {
            return;
        };
        if last.outputs != data.classes {
            let expected = data.classes;
            let note = if expected == 1 {
                "classes = 1 means one sigmoid output for a binary label".to_owned()
            } else {
                format!("{expected} classes need one sigmoid output per class")
            };
            self.sink.push(
                Diagnostic::error(
                    Code::ClassMismatch,
                    format!(
                        "the output layer has {} units but the data has {expected} classes",
                        last.outputs
                    ),
                )
                .at(wspan, format!("{} outputs", last.outputs))
                .with_secondary(spans.classes, format!("{expected} classes declared here"))
                .with_note(note),
            );
        }
    }

    // ----- optimizer and training --------------------------------------------------------

    fn optimizer(&mut self, e: &Expr) -> Option<Optimizer> {
        let (callee, args) = match &e.kind {
            ExprKind::Call { callee, args } => (callee, args),
            ExprKind::Name(id) if ["sgd", "nag"].contains(&id.name.as_str()) => {
                self.sink.push(
                    Diagnostic::error(
                        Code::MissingSetting,
                        format!("`{}` needs a learning rate", id.name),
                    )
                    .at(id.span, "no `lr` given")
                    .with_help(format!("write `{}(lr = 0.1)`", id.name)),
                );
                return None;
            }
            ExprKind::Name(id) => {
                let d = unknown(Code::UnknownValue, "optimizer", id, &["sgd", "nag"]);
                self.sink.push(with_optimizer_note(d, &id.name));
                return None;
            }
            ExprKind::Error => return None,
            _ => {
                self.sink.push(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        "`optimizer` expects `sgd(lr = …)` or `nag(lr = …)`",
                    )
                    .at(e.span, format!("found {}", value::describe(e))),
                );
                return None;
            }
        };
        match callee.name.as_str() {
            "sgd" => {
                let a = CallArgs::new(self.sink, "sgd", args, &["lr"]);
                let lr = a
                    .require(self.sink, "sgd", "lr")
                    .and_then(|e| value::positive(self.sink, e, "lr"))?;
                Some(Optimizer::Sgd { lr })
            }
            "nag" => {
                let a = CallArgs::new(self.sink, "nag", args, &["lr", "momentum"]);
                let lr = a
                    .require(self.sink, "nag", "lr")
                    .and_then(|e| value::positive(self.sink, e, "lr"));
                let momentum = match a.get("momentum") {
                    None => Some(Momentum::Nesterov),
                    Some(m) => match &m.kind {
                        ExprKind::Name(_) => {
                            value::keyword(self.sink, m, "momentum", &["nesterov"])
                                .map(|_| Momentum::Nesterov)
                        }
                        _ => value::real(self.sink, m, "momentum").and_then(|v| {
                            if (0.0..1.0).contains(&v) {
                                Some(Momentum::Constant(v))
                            } else {
                                self.sink.push(
                                    Diagnostic::error(
                                        Code::MomentumOutOfRange,
                                        "a constant momentum must lie in [0, 1)",
                                    )
                                    .at(m.span, format!("{v} is outside [0, 1)"))
                                    .with_help(
                                        "or write `momentum = nesterov` for Nesterov's schedule",
                                    ),
                                );
                                None
                            }
                        }),
                    },
                };
                Some(Optimizer::Nag {
                    lr: lr?,
                    momentum: momentum?,
                })
            }
            _ => {
                let d = unknown(Code::UnknownValue, "optimizer", callee, &["sgd", "nag"]);
                self.sink.push(with_optimizer_note(d, &callee.name));
                None
            }
        }
    }

    fn train(
        &mut self,
        b: &Block,
        header: Span,
        samples_known: Option<Option<(usize, Span)>>,
    ) -> Option<(Schedule, Init)> {
        let samples = samples_known.flatten();
        const KEYS: &[&str] = &["batch", "iterations", "epochs", "init", "seed"];
        let s = collect(self.sink, &b.items, "train", KEYS, &[], |_, _| false);
        let batch = match s.get("batch") {
            Some(e) => value::int(self.sink, e, "batch", 1, u64::from(u32::MAX))
                .and_then(|v| usize::try_from(v).ok())
                .and_then(|batch| {
                    if let Some((n, nspan)) = samples
                        && batch > n
                    {
                        self.sink.push(
                            Diagnostic::error(
                                Code::BatchTooLarge,
                                format!("batch of {batch} is larger than the {n} samples"),
                            )
                            .at(e.span, "batch size")
                            .with_secondary(nspan, "sample count")
                            .with_help(format!("use `batch = {n}` for full-batch training")),
                        );
                        return None;
                    }
                    Some(batch)
                }),
            None => match samples {
                // Documented default: full batch.
                Some((n, _)) => Some(n),
                None if self.sink.any_damage()
                    || samples_known.is_none()
                    || self
                        .sink
                        .suggested
                        .iter()
                        .any(|s| s == "samples" || s == "batch") =>
                {
                    None
                }
                None => {
                    self.sink.push(
                        Diagnostic::error(Code::MissingSetting, "`train` needs `batch`")
                            .at(
                                header,
                                "no batch size, and `data` states no `samples` to default to",
                            )
                            .with_help("add `batch = 64` here or `samples = …` in `data`"),
                    );
                    None
                }
            },
        };
        let length = match (s.get("iterations"), s.get("epochs")) {
            (Some(_), Some(_)) => {
                let (a, b2) = (s.key_span("iterations"), s.key_span("epochs"));
                self.sink.push(
                    Diagnostic::error(
                        Code::ConflictingSettings,
                        "give either `iterations` or `epochs`, not both",
                    )
                    .at(b2.unwrap_or(b.span), "epochs here")
                    .with_secondary(a.unwrap_or(b.span), "iterations here"),
                );
                None
            }
            (Some(e), None) => value::int(self.sink, e, "iterations", 1, u64::from(u32::MAX))
                .map(TrainLength::Iterations),
            (None, Some(e)) => {
                value::int(self.sink, e, "epochs", 1, u64::from(u32::MAX)).map(TrainLength::Epochs)
            }
            (None, None) => {
                missing(
                    self.sink,
                    (b.span, header),
                    "train",
                    "iterations",
                    "iterations = 2",
                );
                None
            }
        };
        let init = match s.get("init") {
            None => Some(Init::Glorot),
            Some(e) => self.init(e),
        };
        let seed = match s.get("seed") {
            None => Some(0),
            Some(e) => value::int(self.sink, e, "seed", 0, u64::MAX),
        };
        Some((
            Schedule {
                batch_size: batch?,
                length: length?,
                seed: seed?,
            },
            init?,
        ))
    }

    fn init(&mut self, e: &Expr) -> Option<Init> {
        const FORMS: &[&str] = &["glorot", "uniform", "constant"];
        match &e.kind {
            ExprKind::Name(id) if id.name == "glorot" => Some(Init::Glorot),
            ExprKind::Call { callee, args } if callee.name == "uniform" => {
                let a = CallArgs::new(self.sink, "uniform", args, &["lo", "hi"]);
                let lo = a
                    .require(self.sink, "uniform", "lo")
                    .and_then(|e| value::real(self.sink, e, "lo"));
                let hi = a
                    .require(self.sink, "uniform", "hi")
                    .and_then(|e| value::real(self.sink, e, "hi"));
                let (lo, hi) = (lo?, hi?);
                if lo >= hi {
                    self.sink.push(
                        Diagnostic::error(Code::EmptyInterval, "`uniform(lo, hi)` needs lo < hi")
                            .at(args.span, format!("{lo} is not below {hi}")),
                    );
                    return None;
                }
                Some(Init::Uniform { lo, hi })
            }
            ExprKind::Call { callee, args } if callee.name == "constant" => {
                let a = CallArgs::new(self.sink, "constant", args, &["value"]);
                let v = a
                    .require(self.sink, "constant", "value")
                    .and_then(|e| value::real(self.sink, e, "value"))?;
                Some(Init::Constant(v))
            }
            ExprKind::Name(id) | ExprKind::Call { callee: id, .. } => {
                let d = unknown(Code::UnknownValue, "initialisation", id, FORMS);
                self.sink
                    .push(if ["uniform", "constant"].contains(&id.name.as_str()) {
                        d.with_help(format!(
                            "`{}` takes arguments, e.g. `uniform(-0.1, 0.1)`",
                            id.name
                        ))
                    } else {
                        d
                    });
                None
            }
            ExprKind::Error => None,
            _ => {
                self.sink.push(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        "`init` expects `glorot`, `uniform(lo, hi)` or `constant(v)`",
                    )
                    .at(e.span, format!("found {}", value::describe(e))),
                );
                None
            }
        }
    }

    // ----- encryption --------------------------------------------------------------------

    fn encryption(&mut self, b: &Block) -> Option<EncryptionSpec> {
        const KEYS: &[&str] = &[
            "security",
            "ring",
            "scale_bits",
            "bootstrapping",
            "key_memory",
            "layout",
        ];
        let s = collect(self.sink, &b.items, "encryption", KEYS, &[], |_, _| false);
        let (security, insecure_ring) = match s.get("security") {
            None => (Some(Security::Bits128), None),
            Some(e) => self.security(e),
        };
        let ring = match (s.get("ring"), insecure_ring) {
            (Some(e), Some((_, rspan))) => {
                self.sink.push(
                    Diagnostic::error(Code::ConflictingSettings, "the ring degree is given twice")
                        .at(e.span, "here")
                        .with_secondary(rspan, "and inside `insecure(…)`"),
                );
                None
            }
            (None, Some((r, _))) => r,
            (Some(e), None) => self.ring(e),
            (None, None) => Some(RingDegree::Auto),
        };
        let scale_bits = match s.get("scale_bits") {
            None => Some(DEFAULT_SCALE_BITS),
            Some(e) => match &e.kind {
                ExprKind::Number(n) => {
                    let v = value::int_literal(&mut Sink::default(), n, "scale_bits", 0, u64::MAX);
                    match v {
                        Some(v) if (20..=60).contains(&v) => u32::try_from(v).ok(),
                        Some(v) => {
                            self.sink.push(
                                Diagnostic::error(Code::ScaleBitsOutOfRange, "`scale_bits` must be in 20..=60")
                                    .at(e.span, format!("2^{v} is not a usable CKKS scale"))
                                    .with_note("below 20 bits precision is lost; above 60 the scale exceeds a 62-bit prime"),
                            );
                            None
                        }
                        None => value::int_literal(self.sink, n, "scale_bits", 20, 60)
                            .and_then(|v| u32::try_from(v).ok()),
                    }
                }
                _ => value::int(self.sink, e, "scale_bits", 20, 60)
                    .and_then(|v| u32::try_from(v).ok()),
            },
        };
        let bootstrapping =
            match s.get("bootstrapping") {
                None => Some(Bootstrapping::Auto),
                Some(e) => value::keyword(self.sink, e, "bootstrapping", &["auto", "off", "on"])
                    .map(|k| match k {
                        "off" => Bootstrapping::Off,
                        "on" => Bootstrapping::On,
                        _ => Bootstrapping::Auto,
                    }),
            };
        let key_memory_cap = match s.get("key_memory") {
            None => Some(None),
            Some(e) => self.memory(e).map(Some),
        };
        let layout = match s.get("layout") {
            None => Some(LayoutHint::Auto),
            Some(e) => {
                value::keyword(self.sink, e, "layout", &["auto", "vr", "dvr"]).map(|k| match k {
                    "vr" => LayoutHint::Vr,
                    "dvr" => LayoutHint::Dvr,
                    _ => LayoutHint::Auto,
                })
            }
        };
        Some(EncryptionSpec {
            security: security?,
            ring: ring?,
            scale_bits: scale_bits?,
            bootstrapping: bootstrapping?,
            key_memory_cap: key_memory_cap?,
            layout: layout?,
        })
    }

    /// Returns the level and, for `insecure(ring = …)`, the ring with the argument's span.
    #[allow(clippy::type_complexity, reason = "a local pair, named at its one use")]
    fn security(&mut self, e: &Expr) -> (Option<Security>, Option<(Option<RingDegree>, Span)>) {
        let insecure_help = "for tests and demos only, write `security = insecure` to accept parameters below 128 bits";
        match &e.kind {
            ExprKind::Number(n) => {
                let Some(v) = value::int_literal(self.sink, n, "security", 0, 100_000) else {
                    return (None, None);
                };
                let level = match v {
                    128 => Some(Security::Bits128),
                    192 => Some(Security::Bits192),
                    256 => Some(Security::Bits256),
                    v if v < 128 => {
                        self.sink.push(
                            Diagnostic::error(
                                Code::InsecureWithoutMarker,
                                format!("{v}-bit security is below the 128-bit minimum"),
                            )
                            .at(e.span, "below 128 bits")
                            .with_help(insecure_help),
                        );
                        None
                    }
                    v => {
                        self.sink.push(
                            Diagnostic::error(
                                Code::UnsupportedSecurity,
                                format!("{v}-bit security is not a supported level"),
                            )
                            .at(e.span, "not 128, 192 or 256")
                            .with_help("use 128, 192 or 256 (the HE standard's levels)"),
                        );
                        None
                    }
                };
                (level, None)
            }
            ExprKind::Name(id) if id.name == "insecure" => {
                self.warn_insecure(e.span);
                (Some(Security::Insecure), None)
            }
            ExprKind::Call { callee, args } if callee.name == "insecure" => {
                self.warn_insecure(e.span);
                let a = CallArgs::new(self.sink, "insecure", args, &["ring"]);
                let ring = a.get("ring").map(|r| (self.ring(r), r.span));
                (Some(Security::Insecure), ring)
            }
            ExprKind::Name(id) | ExprKind::Call { callee: id, .. } => {
                self.sink.push(
                    unknown(Code::UnknownValue, "security level", id, &["insecure"])
                        .with_note("security is 128, 192, 256 or `insecure`"),
                );
                (None, None)
            }
            ExprKind::Error => (None, None),
            _ => {
                self.sink.push(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        "`security` expects 128, 192, 256 or `insecure`",
                    )
                    .at(e.span, format!("found {}", value::describe(e))),
                );
                (None, None)
            }
        }
    }

    fn warn_insecure(&mut self, span: Span) {
        self.sink.push(
            Diagnostic::warning(
                Code::InsecureParameters,
                "this model asks for insecure encryption parameters",
            )
            .at(span, "below 128-bit security")
            .with_note("keys made for this model protect nothing; use it for tests and demos only"),
        );
    }

    fn ring(&mut self, e: &Expr) -> Option<RingDegree> {
        let log_n = match &e.kind {
            ExprKind::Name(id) if id.name == "auto" => return Some(RingDegree::Auto),
            ExprKind::Power { base, exponent } => {
                let b = value::int_literal(self.sink, base, "ring", 2, 2);
                let x = value::int_literal(self.sink, exponent, "ring exponent", 0, 64);
                let (_, x) = (b?, x?);
                u32::try_from(x).ok()?
            }
            ExprKind::Number(n) => {
                let v = value::int_literal(self.sink, n, "ring", 1, u64::MAX)?;
                if !v.is_power_of_two() {
                    self.sink.push(
                        Diagnostic::error(
                            Code::RingNotPowerOfTwo,
                            "the ring degree must be a power of two",
                        )
                        .at(e.span, format!("{v} is not a power of two"))
                        .with_help(format!(
                            "the nearest powers of two are 2^{} and 2^{}",
                            63 - v.leading_zeros(),
                            64 - v.leading_zeros()
                        )),
                    );
                    return None;
                }
                v.trailing_zeros()
            }
            _ => {
                self.sink.push(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        "`ring` expects `auto` or a power of two such as `2^16`",
                    )
                    .at(e.span, format!("found {}", value::describe(e))),
                );
                return None;
            }
        };
        if !(MIN_LOG_N..=MAX_LOG_N).contains(&log_n) {
            self.sink.push(
                Diagnostic::error(
                    Code::RingNotPowerOfTwo,
                    format!("ring degree 2^{log_n} is out of range"),
                )
                .at(
                    e.span,
                    format!("supported ring degrees are 2^{MIN_LOG_N} to 2^{MAX_LOG_N}"),
                ),
            );
            return None;
        }
        Some(RingDegree::Fixed { log_n })
    }

    fn memory(&mut self, e: &Expr) -> Option<u64> {
        match &e.kind {
            ExprKind::Quantity { value: n, unit, .. } => {
                let v = value::number(self.sink, n)?;
                if v <= 0.0 {
                    self.sink.push(
                        Diagnostic::error(Code::NotPositive, "`key_memory` must be positive")
                            .at(e.span, "not > 0"),
                    );
                    return None;
                }
                let bytes = v * unit.bytes() as f64;
                if bytes >= u64::MAX as f64 || bytes < 1.0 {
                    self.sink.push(
                        Diagnostic::error(Code::IntegerOutOfRange, "`key_memory` is out of range")
                            .at(e.span, "between 1 B and 16 EiB"),
                    );
                    return None;
                }
                Some(bytes.round() as u64)
            }
            ExprKind::Number(n) => {
                self.sink.push(
                    Diagnostic::error(Code::MisplacedUnit, "`key_memory` needs a unit")
                        .at(n.span, "a bare number")
                        .with_help(format!(
                            "write e.g. `{} GiB` (units: B, KiB, MiB, GiB, TiB)",
                            n.text
                        )),
                );
                None
            }
            _ => {
                self.sink.push(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        "`key_memory` expects a size such as `4 GiB`",
                    )
                    .at(e.span, format!("found {}", value::describe(e))),
                );
                None
            }
        }
    }
}

/// Where the data section stated things, for secondary labels.
struct DataSpans {
    features: Span,
    classes: Span,
    samples: Span,
}

const BUILTIN_ACTIVATIONS: &[&str] = &["identity"];
const ACTIVATION_FORMS: &[&str] = &["poly", "sigmoid_fit", "identity"];

/// Default log2 of the CKKS scale (the predecessor's Δ = 2^40).
pub const DEFAULT_SCALE_BITS: u32 = 40;
/// Smallest and largest ring degrees accepted (log2 N).
pub const MIN_LOG_N: u32 = 10;
pub const MAX_LOG_N: u32 = 17;
