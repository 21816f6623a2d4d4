//! `henn`: the user's entry point. Each subcommand lives in its own module under `cmd/`;
//! this file only parses arguments and maps results to exit codes. `anyhow` is used here and
//! nowhere in the library crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// henn: train neural networks on CKKS-encrypted data.
#[derive(Debug, Parser)]
#[command(name = "henn", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Encrypt random vectors, run a chain of every CKKS operation at 128-bit parameters, decrypt,
    /// and print the precision and time of each operation.
    Demo(cmd::demo::DemoArgs),
    /// Benchmarks (JSON lines in the anchor format).
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Check .henn files: exit 0 with a summary when valid, 1 with diagnostics when not.
    Check(cmd::check::CheckArgs),
    /// Train: `--backend plain` runs the plaintext reference on a model; `--eval-keys` runs a plan
    /// on ciphertexts (the server role).
    Train(cmd::train::TrainArgs),
    /// Evaluate trained weights on a test set.
    Evaluate(cmd::evaluate::EvaluateArgs),
    /// The whole job in one process: compile, keygen, encrypt, train on ciphertexts, decrypt,
    /// and compare with the plaintext twin.
    Run(cmd::run::RunArgs),
    /// Owner: generate the keys a plan names (secret key, evaluation keys, public key).
    Keygen(cmd::roles::KeygenArgs),
    /// Owner: scale, pack and encrypt the training data and initial state for a plan.
    Encrypt(cmd::roles::EncryptArgs),
    /// Owner: decrypt the server's trained state into a weights file.
    Decrypt(cmd::roles::DecryptArgs),
    /// Compile a model into an execution plan and print its report.
    Compile(cmd::compile::CompileArgs),
    /// Print the report of a compiled plan.
    Report(cmd::report::ReportArgs),
    /// Write a plan's instruction graph as Graphviz DOT.
    Graph(cmd::graph::GraphArgs),
    /// Owner, in the clear: frozen MobileNetV2 (ImageNet) features of grey images, as CSV/NPY.
    Features(cmd::features::FeaturesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Train(args) => cmd::train::run(args),
        Command::Evaluate(args) => cmd::evaluate::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Keygen(args) => cmd::roles::keygen(args),
        Command::Encrypt(args) => cmd::roles::encrypt(args),
        Command::Decrypt(args) => cmd::roles::decrypt(args),
        Command::Compile(args) => cmd::compile::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Graph(args) => cmd::graph::run(args),
        Command::Features(args) => cmd::features::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
