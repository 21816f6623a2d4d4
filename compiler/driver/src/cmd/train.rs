//! `henn train` (under construction).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct TrainArgs {}

pub fn run(_args: TrainArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`henn train` is not implemented yet")
}
