//! What every command prints through: stdout that survives a closed pipe, progress bars on a
//! terminal, the process's peak memory.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// `println!` for command output: a closed pipe (`henn report P | head -3`) ends the command
/// quietly instead of panicking, as `println!` would.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::ui::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` with the same behaviour as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::ui::write_stdout(format_args!($($arg)*))
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

/// A progress bar on stderr when it is a terminal (hidden otherwise, so logs stay clean).
pub(crate) fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>12} [{bar:30}] {pos}/{len} {elapsed_precise} elapsed, ~{eta} left",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(what.to_owned());
    pb
}

/// Peak resident memory of this process (VmHWM), in bytes, where the OS reports it.
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A duration for people: seconds, minutes or hours.
pub(crate) fn duration(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// Every command that reads or writes a plan says so on stderr when the plan's parameters are
/// the explicitly insecure toy setting.
pub(crate) fn warn_insecure(plan: &henn_plan::Plan) {
    if plan.params.security == "insecure" {
        eprintln!(
            "warning: plan `{}` uses INSECURE parameters (security = insecure, N = 2^{}): for tests and demos only, never for real data",
            plan.model_name, plan.params.log_n
        );
    }
}
