//! One module per subcommand. Each exposes a clap `Args` type and `run(args) -> anyhow::Result<ExitCode>`.

/// `println!` for command output: a closed pipe (`henn report P | head -3`) ends the command
/// quietly instead of panicking, as `println!` would.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cmd::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` with the same behaviour as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cmd::write_stdout(format_args!($($arg)*))
    };
}

/// Write to stdout; a reader that went away ends the process (its output is nobody's anymore).
/// Commands print only after their files are in place, so nothing is left half-written.
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

pub mod bench;
pub mod check;
pub mod compile;
pub mod demo;
pub mod evaluate;
pub mod features;
pub mod graph;
pub mod report;
pub mod roles;
pub mod run;
pub mod train;
