//! `henn check FILE...`: parse and check `.henn` files.
//!
//! Exit 0 with one summary line per file when every file is valid (warnings are printed but do
//! not fail); exit 1 with diagnostics when any file has an error or cannot be read. Diagnostics go
//! to stderr as rustc-style text, or to stdout as JSON lines with `--message-format json`; `--json`
//! prints one JSON summary object per file on stdout.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use henn_sema::{Analysis, CheckError};
use henn_syntax::Format;

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
        let analysis = match henn_sema::analyze_file(path) {
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
        all_ok &= !analysis.has_errors();
        match args.message_format {
            MessageFormat::Json => stdout.write_all(analysis.render(Format::Json).as_bytes())?,
            MessageFormat::Human => {
                stderr.write_all(analysis.render(Format::Text { color }).as_bytes())?
            }
        }
        // Keep stdout pure JSON when tools asked for JSON diagnostics.
        if args.message_format == MessageFormat::Json && !args.json {
            report(&mut stderr, &analysis, false)?;
        } else {
            report(&mut stdout, &analysis, args.json)?;
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn report(out: &mut impl Write, a: &Analysis, json: bool) -> anyhow::Result<()> {
    let errors = a.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = a.diagnostics.len() - errors;
    if json {
        let v = serde_json::json!({
            "file": a.name,
            "ok": a.model.is_some(),
            "errors": errors,
            "warnings": warnings,
            "summary": a.model.as_ref().map(henn_sema::summary),
            "model": a.model,
        });
        writeln!(out, "{v}")?;
    } else if let Some(model) = &a.model {
        writeln!(out, "{}: ok — {}", a.name, henn_sema::summary(model))?;
    } else {
        let plural = if errors == 1 { "" } else { "s" };
        writeln!(out, "{}: {errors} error{plural}", a.name)?;
    }
    Ok(())
}
