//! One module per subcommand. Each exposes a clap `Args` type and `run(args) -> anyhow::Result<ExitCode>`.

pub mod bench;
pub mod check;
pub mod compile;
pub mod demo;
pub mod evaluate;
pub mod graph;
pub mod report;
pub mod roles;
pub mod run;
pub mod train;
