//! `henn compile FILE -o PLAN`: check a model, compile it, write the plan atomically, print the
//! report (`--json`: one JSON object). A model that does not check or compile gets the same
//! located diagnostics as `henn check` (with `--json`, also as one JSON object on stdout).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use henn_plan::report::{CostModel, report};

use henn_syntax::{Format, Source};

use crate::inputs::{CompilerChoices, compile_checked};

#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// The .henn model.
    pub file: PathBuf,
    /// Where to write the plan (binary, versioned). Defaults to FILE with extension `.hplan`.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Also write a readable JSON dump of the plan here.
    #[arg(long)]
    pub dump_json: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub choices: CompilerChoices,
}

pub fn run(args: CompileArgs) -> anyhow::Result<ExitCode> {
    let mut analysis = match henn_sema::analyze_file(&args.file) {
        Ok(a) => a,
        Err(e) => {
            if args.json {
                let v = serde_json::json!({
                    "file": args.file.display().to_string(),
                    "ok": false,
                    "error": e.to_string(),
                    "diagnostics": [],
                });
                outln!("{v}");
            }
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut model = match &analysis.model {
        Some(m) if !analysis.has_errors() => m.clone(),
        _ => return Ok(failed(&analysis, args.json)),
    };
    let started = std::time::Instant::now();
    // The same located diagnostic as `henn check` when the model does not compile.
    let compiled = match compile_checked(&mut model, &args.choices.options()) {
        Ok((compiled, notes)) => {
            for n in notes {
                eprintln!("{n}");
            }
            compiled
        }
        Err(late) => {
            analysis.push_late(&late);
            return Ok(failed(&analysis, args.json));
        }
    };
    let compile_s = started.elapsed().as_secs_f64();
    let out = args
        .output
        .unwrap_or_else(|| args.file.with_extension("hplan"));
    crate::ui::warn_insecure(&compiled.plan);
    henn_data::check_outputs(&[&args.file], &[&out])?;
    henn_plan::io::save(&compiled.plan, &out)?;
    if let Some(path) = &args.dump_json {
        let text = serde_json::to_string_pretty(&compiled.plan)?;
        henn_plan::io::write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let rep = report(&compiled.plan, &CostModel::default());
    if args.json {
        let mut v = serde_json::to_value(&rep)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("plan".into(), out.display().to_string().into());
            obj.insert("compile_s".into(), compile_s.into());
            obj.insert("optimizer".into(), opt_json(compiled.opt.as_ref()));
        }
        outln!("{v}");
    } else {
        out!("{}", rep.to_text());
        if let Some(line) = opt_text(compiled.opt.as_ref()) {
            outln!("{line}");
        }
        outln!(
            "  wrote       {} (compiled in {:.2} s)",
            out.display(),
            compile_s
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints why the model does not compile, as `henn check` does (diagnostics on stderr; with
/// `--json`, also one JSON object on stdout with every diagnostic in the check schema).
fn failed(analysis: &henn_sema::Analysis, json: bool) -> ExitCode {
    eprint!("{}", analysis.render(Format::Text { color: false }));
    if json {
        let source = Source {
            name: &analysis.name,
            text: &analysis.text,
        };
        let error = analysis
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .map(|d| format!("error[{}]: {}", d.code, d.message));
        let v = serde_json::json!({
            "file": analysis.name,
            "ok": false,
            "error": error,
            "diagnostics": analysis
                .diagnostics
                .iter()
                .map(|d| henn_syntax::diagnostic::to_json(source, d))
                .collect::<Vec<_>>(),
        });
        outln!("{v}");
    }
    ExitCode::FAILURE
}

/// The optimizer's part of the JSON report: baseline vs optimized (`null` with `--no-opt`).
fn opt_json(opt: Option<&henn_compile::OptSummary>) -> serde_json::Value {
    match opt {
        None => serde_json::Value::Null,
        Some(henn_compile::OptSummary::Failed(e)) => serde_json::json!({ "error": e }),
        Some(henn_compile::OptSummary::Ran(r)) => serde_json::json!({
            "stop": r.stop.name(),
            "iterations": r.iterations,
            "enodes": r.enodes,
            "eclasses": r.eclasses,
            "fired": r.fired,
            "baseline_key_switches": r.key_switches_before,
            "optimized_key_switches": r.key_switches_after,
            "baseline_rotations": r.rotations_before,
            "optimized_rotations": r.rotations_after,
            "baseline_depth": r.depth_before,
            "optimized_depth": r.depth_after,
            "opt_s": r.elapsed.as_secs_f64(),
        }),
    }
}

/// One line for the text report.
fn opt_text(opt: Option<&henn_compile::OptSummary>) -> Option<String> {
    Some(match opt? {
        henn_compile::OptSummary::Failed(e) => format!("  optimizer   failed ({e}); baseline kept"),
        henn_compile::OptSummary::Ran(r) => format!(
            "  optimizer   key switches {} -> {} (baseline -> optimized), rotations {} -> {}, depth {} -> {}; {} after {} iterations, {} e-nodes, {:.2} s; fired {:?}",
            r.key_switches_before,
            r.key_switches_after,
            r.rotations_before,
            r.rotations_after,
            r.depth_before,
            r.depth_after,
            r.stop.name(),
            r.iterations,
            r.enodes,
            r.elapsed.as_secs_f64(),
            r.fired
        ),
    })
}
