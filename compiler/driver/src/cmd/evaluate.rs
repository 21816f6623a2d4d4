//! `henn evaluate` (under construction).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {}

pub fn run(_args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`henn evaluate` is not implemented yet")
}
