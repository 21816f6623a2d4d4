//! `henn`: the user's entry point. Each subcommand lives in its own module under `cmd/`;
//! this file only parses arguments and maps results to exit codes. `anyhow` is used here and
//! nowhere in the library crates.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[macro_use]
mod ui;
mod cmd;
mod inputs;
mod plot;

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
    /// Train in the clear: `--backend plain` runs the plaintext reference on a model.
    Train(cmd::train::TrainArgs),
    /// Server: train a plan on the owner's ciphertexts with evaluation keys only.
    Serve(cmd::serve::ServeArgs),
    /// Evaluate trained weights on a test set.
    Evaluate(cmd::evaluate::EvaluateArgs),
    /// The whole job in one process: compile, keygen, encrypt, train on ciphertexts, decrypt,
    /// and compare with the plaintext twin.
    Run(cmd::run::RunArgs),
    /// Encrypted inference end to end: encrypted queries classified on encrypted (trained under
    /// encryption) or plaintext (`--weights`) weights, compared with plaintext inference.
    Predict(cmd::predict::PredictArgs),
    /// Owner: generate the keys a plan names (secret key, evaluation keys, public key).
    Keygen(cmd::keygen::KeygenArgs),
    /// Owner: scale, pack and encrypt the training data and initial state for a plan.
    Encrypt(cmd::encrypt::EncryptArgs),
    /// Owner: decrypt the server's trained state into a weights file.
    Decrypt(cmd::decrypt::DecryptArgs),
    /// Compile a model into an execution plan and print its report.
    Compile(cmd::compile::CompileArgs),
    /// Print the report of a compiled plan.
    Report(cmd::report::ReportArgs),
    /// Write a plan's instruction graph as Graphviz DOT.
    Graph(cmd::graph::GraphArgs),
    /// Owner, in the clear: frozen MobileNetV2 (ImageNet) features of grey images, as CSV/NPY.
    Features(cmd::features::FeaturesArgs),
}

/// `henn train PLAN --eval-keys K --data D -o OUT`, the server role's old spelling: a deprecation
/// note, then `henn serve`.
fn serve_alias(
    plan: PathBuf,
    eval_keys: PathBuf,
    data: Option<PathBuf>,
    output: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    eprintln!("note: `henn train --eval-keys` is deprecated; use `henn serve`");
    let (Some(data), Some(output)) = (data, output) else {
        anyhow::bail!(
            "the server role needs --data (a ciphertext bundle) and -o (the trained state)"
        );
    };
    cmd::serve::run(cmd::serve::ServeArgs {
        plan,
        eval_keys,
        data,
        output,
        resume: None,
        iterations: None,
        json,
    })
}

/// On SIGINT, SIGTERM or SIGHUP: remove the temporary files of outputs being written (their
/// targets keep their old contents), say so, and exit with the shell's 128 + signal convention
/// (130 for Ctrl-C). Without this, a killed `keygen` or `serve` would leave `.NAME.tmp…` files,
/// the secret key's among them.
fn install_interrupt_cleanup() {
    let installed = ctrlc::set_handler(|| {
        let removed = henn_data::remove_pending_temporaries();
        eprintln!(
            "\ninterrupted: removed {removed} unfinished output file(s); nothing was overwritten"
        );
        std::process::exit(130);
    });
    if let Err(err) = installed {
        eprintln!(
            "warning: no interrupt handler ({err}); an interrupted run may leave temporary files"
        );
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    install_interrupt_cleanup();
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Train(args) => match args.eval_keys {
            Some(eval_keys) => serve_alias(
                args.input.file,
                eval_keys,
                args.input.data,
                args.output,
                args.json,
            ),
            None => cmd::train::run(args),
        },
        Command::Serve(args) => cmd::serve::run(args),
        Command::Evaluate(args) => cmd::evaluate::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Predict(args) => cmd::predict::run(args),
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Encrypt(args) => cmd::encrypt::run(args),
        Command::Decrypt(args) => cmd::decrypt::run(args),
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// The help text of `--ARG` of `henn COMMAND`.
    fn help(command: &str, arg: &str) -> String {
        let cli = super::Cli::command();
        let sub = cli.find_subcommand(command).unwrap();
        let a = sub.get_arguments().find(|a| a.get_id() == arg).unwrap();
        a.get_help().unwrap().to_string()
    }

    #[test]
    fn the_arguments_are_well_formed() {
        super::Cli::command().debug_assert();
    }

    /// `train`, `run` and `predict` share the model-and-data arguments; each help stays right.
    #[test]
    fn shared_data_arguments_keep_each_commands_help() {
        for command in ["train", "run", "predict"] {
            assert!(help(command, "file").starts_with("The .henn model"));
        }
        for command in ["train", "run"] {
            assert!(help(command, "data").starts_with("Training data (CSV"));
            assert!(help(command, "test").starts_with("Test data"));
        }
        assert!(help("predict", "data").contains("encrypted-weights mode"));
        assert!(help("predict", "test").starts_with("The queries"));
    }
}
