//! One module per subcommand. Each exposes a clap `Args` type and
//! `run(args) -> anyhow::Result<ExitCode>`; no command module imports another (shared helpers are
//! in `crate::ui` and `crate::inputs`).

pub mod bench;
pub mod check;
pub mod compile;
pub mod decrypt;
pub mod demo;
pub mod encrypt;
pub mod evaluate;
pub mod features;
pub mod graph;
pub mod keygen;
pub mod predict;
pub mod report;
pub mod run;
pub mod serve;
pub mod train;
