//! Where a checked model's constructs are in its source, for problems found *after* checking.
//!
//! The [`Model`](crate::Model) carries no spans (later stages never look at the syntax tree), so
//! a problem the compiler finds (a schedule no chain holds, an unknown sample count, keys over
//! the cap) names the [`Construct`] responsible in a [`Located`], and the [`SourceMap`] that
//! sema recorded beside the model turns it into a [`Diagnostic`] with a span. `henn check` and
//! `henn compile` render it through the one renderer, so both print the same located message.

use std::collections::HashMap;

use henn_syntax::ast::{Block, Body, Decl, Expr, ExprKind, File, Item};
use henn_syntax::{Code, Diagnostic, Span};

/// A part of a `.henn` file a late problem can be blamed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Construct {
    /// The `model NAME` header.
    Model,
    /// The `data { … }` section.
    Data,
    /// `samples = …` in `data`.
    Samples,
    /// `train = "…"` in `data` (the bundled training data).
    TrainData,
    /// The `network { … }` section.
    Network,
    /// The i-th dense layer (0-based).
    Layer(usize),
    /// The `train { … }` section.
    Train,
    /// `epochs = …` or `iterations = …` in `train`.
    Length,
    /// `batch = …` in `train`.
    Batch,
    /// The `encryption { … }` section.
    Encryption,
    /// `security = …` in `encryption`.
    Security,
    /// `ring = …` in `encryption` (or `ring` inside `insecure(…)`).
    Ring,
    /// `scale_bits = …` in `encryption`.
    ScaleBits,
    /// `bootstrapping = …` in `encryption`.
    Bootstrapping,
    /// `key_memory = …` in `encryption`.
    KeyMemory,
}

impl Construct {
    /// The construct to point at when this one is not written in the file (a default applies).
    fn parent(self) -> Option<Construct> {
        use Construct::*;
        match self {
            Model => None,
            Data | Network | Train | Encryption => Some(Model),
            Samples | TrainData => Some(Data),
            Layer(_) => Some(Network),
            Length | Batch => Some(Train),
            Security | Ring | ScaleBits | Bootstrapping | KeyMemory => Some(Encryption),
        }
    }
}

/// A problem found after checking, blamed on a construct: the compiler fills it in, the
/// [`SourceMap`] gives it a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub code: Code,
    pub message: String,
    /// The construct responsible and what to say under it.
    pub at: (Construct, String),
    /// Related constructs (shown only when written in the file).
    pub related: Vec<(Construct, String)>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Located {
    pub fn new(
        code: Code,
        message: impl Into<String>,
        at: Construct,
        label: impl Into<String>,
    ) -> Self {
        Located {
            code,
            message: message.into(),
            at: (at, label.into()),
            related: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn related(mut self, c: Construct, label: impl Into<String>) -> Self {
        self.related.push((c, label.into()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// The spans of a model's constructs, recorded from the syntax tree beside the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    spans: HashMap<Construct, Span>,
}

impl SourceMap {
    /// Records the spans of the first `model` in `file` (what sema checks).
    pub(crate) fn of_file(file: &File) -> SourceMap {
        let mut map = SourceMap::default();
        let Some(model) = file.items.iter().find_map(|i| match i {
            Item::Decl(d) if d.kind.name == "model" => Some(d),
            _ => None,
        }) else {
            return map;
        };
        map.spans.insert(Construct::Model, header(model));
        let Body::Block(body) = &model.body else {
            return map;
        };
        for d in decls(body) {
            let Body::Block(b) = &d.body else { continue };
            let (section, keys): (Construct, &[(&str, Construct)]) = match d.kind.name.as_str() {
                "data" => (
                    Construct::Data,
                    &[
                        ("samples", Construct::Samples),
                        ("train", Construct::TrainData),
                    ],
                ),
                "train" => (
                    Construct::Train,
                    &[
                        ("epochs", Construct::Length),
                        ("iterations", Construct::Length),
                        ("batch", Construct::Batch),
                    ],
                ),
                "encryption" => (
                    Construct::Encryption,
                    &[
                        ("security", Construct::Security),
                        ("ring", Construct::Ring),
                        ("scale_bits", Construct::ScaleBits),
                        ("bootstrapping", Construct::Bootstrapping),
                        ("key_memory", Construct::KeyMemory),
                    ],
                ),
                "network" => {
                    map.spans.entry(Construct::Network).or_insert(header(d));
                    let layers = decls(b).filter(|l| l.kind.name == "dense");
                    for (i, l) in layers.enumerate() {
                        map.spans.entry(Construct::Layer(i)).or_insert(l.span);
                    }
                    continue;
                }
                _ => continue,
            };
            map.spans.entry(section).or_insert(header(d));
            for s in decls(b) {
                if let Some((_, c)) = keys.iter().find(|(k, _)| *k == s.kind.name) {
                    map.spans.entry(*c).or_insert(s.span);
                }
                // `security = insecure(ring = 2^12)` states the ring too.
                if let Body::Value(Expr {
                    kind: ExprKind::Call { args, .. },
                    ..
                }) = &s.body
                    && s.kind.name == "security"
                    && let Some(ring) = args
                        .args
                        .iter()
                        .find(|a| a.name.as_ref().is_some_and(|n| n.name == "ring"))
                {
                    map.spans.entry(Construct::Ring).or_insert(ring.span);
                }
            }
        }
        map
    }

    /// The span of `c` when the file writes it.
    pub fn get(&self, c: Construct) -> Option<Span> {
        self.spans.get(&c).copied()
    }

    /// The span of `c`, or of the nearest enclosing construct the file writes (a default
    /// applies), or the file's start. The flag says whether `c` itself was found.
    pub fn find(&self, c: Construct) -> (Span, bool) {
        if let Some(s) = self.get(c) {
            return (s, true);
        }
        let mut at = c.parent();
        while let Some(p) = at {
            if let Some(s) = self.get(p) {
                return (s, false);
            }
            at = p.parent();
        }
        (Span::default(), false)
    }

    /// `late` as an error diagnostic, pointing at its construct (or where its default applies).
    pub fn diagnostic(&self, late: &Located) -> Diagnostic {
        let (c, label) = &late.at;
        let (span, exact) = self.find(*c);
        let label = if exact {
            label.clone()
        } else {
            format!("{label} (not written here: the default applies)")
        };
        let mut d = Diagnostic::error(late.code, &late.message).at(span, label);
        for (c, label) in &late.related {
            if let Some(s) = self.get(*c).filter(|s| *s != span) {
                d = d.with_secondary(s, label);
            }
        }
        if let Some(h) = &late.help {
            d = d.with_help(h);
        }
        for n in &late.notes {
            d = d.with_note(n);
        }
        d
    }
}

fn header(d: &Decl) -> Span {
    d.name
        .as_ref()
        .map_or(d.kind.span, |n| d.kind.span.to(n.span))
}

fn decls(b: &Block) -> impl Iterator<Item = &Decl> {
    b.items.iter().filter_map(|i| match i {
        Item::Decl(d) => Some(d),
        Item::Error(_) => None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SRC: &str = "model toy {
  data { features = 30  classes = 1  scaling = minmax }
  activation s = poly([0.5, 0.197, 0, -0.004], interval = [-5, 5], derivative = polynomial)
  network {
    dense hidden(4, activation = s)
    dense out(1, activation = s)
  }
  optimizer = sgd(lr = 1)
  train { batch = 8  epochs = 3  seed = 5 }
  encryption { security = insecure(ring = 2^12)  scale_bits = 40 }
}";

    fn text(span: Span) -> &'static str {
        &SRC[span.start..span.end]
    }

    #[test]
    fn constructs_written_in_the_file_have_their_spans() {
        let a = crate::analyze_source("m.henn", SRC);
        assert!(a.model.is_some());
        let m = &a.spans;
        assert_eq!(text(m.get(Construct::Model).unwrap()), "model toy");
        assert_eq!(text(m.get(Construct::Length).unwrap()), "epochs = 3");
        assert_eq!(text(m.get(Construct::Ring).unwrap()), "ring = 2^12");
        assert_eq!(
            text(m.get(Construct::Layer(1)).unwrap()),
            "dense out(1, activation = s)"
        );
        assert_eq!(text(m.get(Construct::Train).unwrap()), "train");
        assert_eq!(m.get(Construct::Samples), None);
        assert_eq!(m.get(Construct::Layer(2)), None);
    }

    #[test]
    fn a_default_points_at_its_section_and_says_so() {
        let mut a = crate::analyze_source("m.henn", SRC);
        let (span, exact) = a.spans.find(Construct::Samples);
        assert_eq!((text(span), exact), ("data", false));
        let (span, exact) = a.spans.find(Construct::KeyMemory);
        assert_eq!((text(span), exact), ("encryption", false));
        let late = Located::new(
            Code::SampleCountUnknown,
            "no count",
            Construct::Length,
            "here",
        )
        .related(Construct::Data, "no samples")
        .related(Construct::KeyMemory, "not written: dropped")
        .help("state it");
        a.push_late(&late);
        let d = a.diagnostics.iter().find(|d| d.is_error()).unwrap();
        assert_eq!(text(d.primary.span), "epochs = 3");
        assert_eq!(d.secondary.len(), 1);
        assert_eq!(text(d.secondary[0].span), "data");
        assert_eq!(d.help.as_deref(), Some("state it"));
        // In position order with the warnings (the insecure ring's comes after it).
        let starts: Vec<usize> = a.diagnostics.iter().map(|d| d.primary.span.start).collect();
        assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
        assert!(
            a.render(henn_syntax::Format::Text { color: false })
                .contains("m.henn:9:22")
        );
    }
}
