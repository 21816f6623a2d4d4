//! One module per subcommand. Each exposes a clap `Args` type and `run(args) -> anyhow::Result<ExitCode>`.

pub mod bench;
pub mod check;
pub mod demo;
pub mod evaluate;
pub mod train;
