//! `henn report PLAN`: what a plan will cost (`--json`: one JSON object).

use std::path::PathBuf;
use std::process::ExitCode;

use henn_plan::report::{CostModel, report};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A plan written by `henn compile`.
    pub plan: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Calibrate the time estimates with `henn bench ops` output (JSON lines) measured on the
    /// machine that will run the plan.
    #[arg(long)]
    pub cost: Option<PathBuf>,
}

/// The cost model: the default, or one calibrated from a `henn bench ops` file.
pub fn cost_model(path: Option<&std::path::Path>) -> anyhow::Result<CostModel> {
    use anyhow::Context as _;
    let Some(path) = path else {
        return Ok(CostModel::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (model, changed) =
        CostModel::calibrated(&text).with_context(|| format!("{}", path.display()))?;
    eprintln!(
        "cost model calibrated from {} ({})",
        path.display(),
        changed.join(", ")
    );
    Ok(model)
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let plan = henn_plan::io::load(&args.plan)?;
    let rep = report(&plan, &cost_model(args.cost.as_deref())?);
    if args.json {
        outln!("{}", serde_json::to_string(&rep)?);
    } else {
        out!("{}", rep.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
