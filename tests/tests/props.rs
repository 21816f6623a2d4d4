//! Property tests through the whole front end (parse + check): random token sequences built from
//! the language's real vocabulary, and random single-token edits of valid files, never panic and
//! only produce diagnostics whose spans lie inside the text.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use henn_syntax::Format;
use proptest::prelude::*;

const VOCAB: &[&str] = &[
    "model",
    "m",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "=",
    ",",
    "^",
    "data",
    "features",
    "classes",
    "samples",
    "network",
    "dense",
    "activation",
    "poly",
    "sigmoid_fit",
    "degree",
    "interval",
    "loss",
    "bce",
    "optimizer",
    "sgd",
    "nag",
    "lr",
    "train",
    "iterations",
    "epochs",
    "batch",
    "encryption",
    "security",
    "insecure",
    "ring",
    "auto",
    "key_memory",
    "GiB",
    "0",
    "1",
    "2",
    "-8",
    "8",
    "0.5",
    "1e999",
    "99999999999999999999999",
    "\"a.csv\"",
    "\"\\q\"",
    "@",
    "\n",
];

const SEED: &str = include_str!("../../examples/seed.henn");

fn check(src: &str) {
    let a = henn_sema::analyze_source("p.henn", src);
    for d in &a.diagnostics {
        assert!(d.primary.span.end <= src.len() && d.primary.span.start <= d.primary.span.end);
        for l in &d.secondary {
            assert!(l.span.end <= src.len());
        }
    }
    assert_eq!(a.model.is_some(), !a.has_errors());
    let _ = a.render(Format::Text { color: false });
    let _ = a.render(Format::Json);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_vocabulary_sequences(idx in proptest::collection::vec(0..VOCAB.len(), 0..80)) {
        let words: Vec<&str> = idx.iter().map(|&i| VOCAB[i]).collect();
        check(&words.join(" "));
    }

    #[test]
    fn random_edits_of_the_seed_example(
        at in 0usize..SEED.len(),
        len in 0usize..12,
        word in 0..VOCAB.len(),
    ) {
        let mut at = at;
        while !SEED.is_char_boundary(at) { at -= 1; }
        let mut end = (at + len).min(SEED.len());
        while !SEED.is_char_boundary(end) { end -= 1; }
        let edited = format!("{}{}{}", &SEED[..at], VOCAB[word], &SEED[end..]);
        check(&edited);
    }
}
