//! `henn check FILE...`: parse and check `.henn` files, and compile each valid one (a file that
//! checks compiles: sample count, schedule, ring and levels are checked as `compile` does, and a
//! failure is a located diagnostic, E0131–E0135, like any other).
//!
//! Exit 0 with one summary line per file when every file is valid (warnings are printed but do
//! not fail); exit 1 with diagnostics when any file has an error or cannot be read. Diagnostics go
//! to stderr as rustc-style text, or to stdout as JSON lines with `--message-format json`; `--json`
//! prints one JSON summary object per file on stdout.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use henn_plan::report::CostModel;
use henn_sema::{Analysis, CheckError};
use henn_syntax::Format;

use henn_compile::CompileOptions;

use crate::inputs::compile_checked;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    /// rustc-style text on stderr.
    Human,
    /// One JSON object per diagnostic per line on stdout.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The .henn files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
    /// Print a JSON summary object per file on stdout instead of the text summary line.
    #[arg(long)]
    pub json: bool,
    /// Colour in human-readable diagnostics.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let mut all_ok = true;
    for path in &args.files {
        let mut analysis = match henn_sema::analyze_file(path) {
            Ok(a) => a,
            Err(CheckError::Io { path, source }) => {
                all_ok = false;
                let file = path.display().to_string();
                if args.message_format == MessageFormat::Json {
                    // Same shape as a diagnostic, without a position or code.
                    let v = serde_json::json!({
                        "file": file, "line": null, "column": null, "end_line": null,
                        "end_column": null, "severity": "error", "code": null,
                        "message": format!("cannot read {file}: {source}"),
                        "labels": [], "help": null, "notes": [],
                    });
                    writeln!(stdout, "{v}")?;
                } else {
                    writeln!(stderr, "error: cannot read {file}: {source}")?;
                }
                if args.json {
                    let v = serde_json::json!({ "file": file, "ok": false, "io_error": source.to_string() });
                    writeln!(stdout, "{v}")?;
                }
                continue;
            }
            Err(other) => return Err(other.into()),
        };
        // Everything `compile` would check (sample count, schedule, ring, levels): a file that
        // checks compiles, and what does not compile is located in the file like any other error.
        let plan = match analysis.model.clone() {
            Some(mut model) if !analysis.has_errors() => {
                match compile_checked(&mut model, &CompileOptions::default()) {
                    Ok((compiled, _notes)) => Some(PlanSummary::of(&compiled.plan)),
                    Err(late) => {
                        analysis.push_late(&late);
                        None
                    }
                }
            }
            _ => None,
        };
        all_ok &= !analysis.has_errors();
        match args.message_format {
            MessageFormat::Json => stdout.write_all(analysis.render(Format::Json).as_bytes())?,
            MessageFormat::Human => {
                stderr.write_all(analysis.render(Format::Text { color }).as_bytes())?
            }
        }
        // Keep stdout pure JSON when tools asked for JSON diagnostics.
        if args.message_format == MessageFormat::Json && !args.json {
            report(&mut stderr, &analysis, plan.as_ref(), false)?;
        } else {
            report(&mut stdout, &analysis, plan.as_ref(), args.json)?;
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What compiling a checked model says: the plan's shape and estimate, or why it does not compile.
#[derive(Debug)]
struct PlanSummary {
    log_n: u32,
    steps: u64,
    bootstraps_per_step: u32,
    est_time_s: f64,
}

impl PlanSummary {
    fn of(plan: &henn_plan::Plan) -> PlanSummary {
        let rep = henn_plan::report::report(plan, &CostModel::default());
        PlanSummary {
            log_n: plan.params.log_n,
            steps: plan.schedule.steps(),
            bootstraps_per_step: plan.bootstrap.as_ref().map_or(0, |b| b.per_step),
            est_time_s: rep.est_time_s,
        }
    }
}

fn report(
    out: &mut impl Write,
    a: &Analysis,
    plan: Option<&PlanSummary>,
    json: bool,
) -> anyhow::Result<()> {
    let errors = a.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = a.diagnostics.len() - errors;
    let ok = errors == 0 && a.model.is_some() && plan.is_some();
    let plural = if errors == 1 { "" } else { "s" };
    if json {
        let v = serde_json::json!({
            "file": a.name,
            "ok": ok,
            "errors": errors,
            "warnings": warnings,
            "summary": a.model.as_ref().map(henn_sema::summary),
            "plan": plan.map(|p| serde_json::json!({
                "log_n": p.log_n,
                "steps": p.steps,
                "bootstraps_per_step": p.bootstraps_per_step,
                "est_time_s": p.est_time_s,
            })),
            "model": a.model,
        });
        writeln!(out, "{v}")?;
    } else if let (true, Some(model), Some(p)) = (ok, &a.model, plan) {
        writeln!(
            out,
            "{}: ok — {}; compiles to N = 2^{}, {} steps{}, estimated {}",
            a.name,
            henn_sema::summary(model),
            p.log_n,
            p.steps,
            if p.bootstraps_per_step > 0 {
                format!(", {} bootstraps per step", p.bootstraps_per_step)
            } else {
                String::new()
            },
            crate::ui::duration(p.est_time_s)
        )?;
    } else if a.model.is_some() {
        writeln!(out, "{}: {errors} error{plural} (does not compile)", a.name)?;
    } else {
        writeln!(out, "{}: {errors} error{plural}", a.name)?;
    }
    Ok(())
}
