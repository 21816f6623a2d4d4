//! Fuzzes the whole front end: any bytes must give a tree and diagnostics (never a panic), a tree
//! without diagnostics must survive print → parse unchanged, and checking must not panic either.
#![no_main]

use henn_syntax::ast::StripSpans;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let (mut tree, diags) = henn_syntax::parse(&src);
    if diags.is_empty() {
        let printed = henn_syntax::print::print(&tree);
        let (mut again, diags2) = henn_syntax::parse(&printed);
        assert!(
            diags2.is_empty(),
            "printed text does not parse: {printed:?}"
        );
        tree.strip_spans();
        again.strip_spans();
        assert_eq!(tree, again);
    }
    let analysis = henn_sema::analyze_source("fuzz.henn", &src);
    let _ = analysis.render(henn_syntax::Format::Text { color: false });
    let _ = analysis.render(henn_syntax::Format::Json);
});
