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
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let plan = henn_plan::io::load(&args.plan)?;
    let rep = report(&plan, &CostModel::default());
    if args.json {
        outln!("{}", serde_json::to_string(&rep)?);
    } else {
        out!("{}", rep.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
