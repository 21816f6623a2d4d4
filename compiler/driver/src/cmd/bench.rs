//! `henn bench ...` (under construction).

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Per-operation CKKS latency, one JSON object per line.
    Ops(OpsArgs),
}

#[derive(Debug, clap::Args)]
pub struct OpsArgs {}

pub fn run(_cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`henn bench ops` is not implemented yet")
}
