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

/// One JSON progress event on stdout (`--json`): `{"event": .., ...}`, one object per line, the
/// command's final summary being the last line.
pub(crate) fn event(kind: &str, mut fields: serde_json::Value) {
    if let Some(map) = fields.as_object_mut() {
        map.insert("event".into(), kind.into());
    }
    outln!("{fields}");
}

/// The stages of a job (compile, keygen, encrypt, train, ...): their times in order, and with
/// `--json` a `stage` event when each starts and ends.
#[derive(Debug)]
pub(crate) struct Stages {
    json: bool,
    pub(crate) seconds: Vec<(&'static str, f64)>,
    current: Option<(&'static str, std::time::Instant)>,
}

impl Stages {
    pub(crate) fn new(json: bool) -> Self {
        Self {
            json,
            seconds: Vec::new(),
            current: None,
        }
    }

    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// Starts a stage (ending the one before, if any).
    pub(crate) fn start(&mut self, stage: &'static str) {
        self.end();
        if self.json {
            event(
                "stage",
                serde_json::json!({"stage": stage, "status": "start"}),
            );
        }
        self.current = Some((stage, std::time::Instant::now()));
    }

    /// Ends the current stage and records its time.
    pub(crate) fn end(&mut self) {
        if let Some((stage, t)) = self.current.take() {
            let s = t.elapsed().as_secs_f64();
            if self.json {
                event(
                    "stage",
                    serde_json::json!({"stage": stage, "status": "end", "seconds": s}),
                );
            }
            self.seconds.push((stage, s));
        }
    }
}

/// Progress through the steps of a training stage: a bar with `step k/n`, the stage, elapsed time
/// and the time left (from the plan's estimate until a step has run, then from the measured steps),
/// and with `--json` a `step` event after every step.
#[derive(Debug)]
pub(crate) struct StepProgress {
    pb: ProgressBar,
    json: bool,
    stage: &'static str,
    first: u64,
    until: u64,
    /// Progress units (instructions) per step.
    per_step: u64,
    /// The plan's estimate of one step, seconds.
    estimate: f64,
    started: std::time::Instant,
}

impl StepProgress {
    /// Steps `first..until` (0-based) of `per_step` instructions each, estimated at `estimate`
    /// seconds a step.
    pub(crate) fn new(
        stage: &'static str,
        first: u64,
        until: u64,
        per_step: u64,
        estimate: f64,
        json: bool,
    ) -> Self {
        let per_step = per_step.max(1);
        let pb = if std::io::stderr().is_terminal() {
            let pb = ProgressBar::new(until.saturating_sub(first) * per_step);
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix:>8} [{bar:30}] {percent:>3}% {msg} {elapsed_precise} elapsed",
            ) {
                pb.set_style(style.progress_chars("=> "));
            }
            pb.set_prefix(stage);
            pb
        } else {
            ProgressBar::hidden()
        };
        let s = Self {
            pb,
            json,
            stage,
            first,
            until,
            per_step,
            estimate,
            started: std::time::Instant::now(),
        };
        s.set(first, 0);
        s
    }

    /// Seconds left after `done` steps of this run and `frac` of the next.
    fn eta(&self, done: u64, frac: f64) -> f64 {
        let total = self.until.saturating_sub(self.first) as f64;
        let progressed = done as f64 + frac;
        let per_step = if done == 0 {
            self.estimate
        } else {
            self.started.elapsed().as_secs_f64() / progressed
        };
        (total - progressed).max(0.0) * per_step
    }

    /// Instruction `instr` of step `step` (0-based) has run.
    pub(crate) fn set(&self, step: u64, instr: usize) {
        let done = step.saturating_sub(self.first);
        self.pb.set_position(done * self.per_step + instr as u64);
        let frac = instr as f64 / self.per_step as f64;
        self.pb.set_message(format!(
            "step {}/{}, ~{} left{}",
            step + 1,
            self.until,
            duration(self.eta(done, frac)),
            if done == 0 { " (plan's estimate)" } else { "" }
        ));
    }

    /// Step `step` (0-based) is complete.
    pub(crate) fn step_done(&self, step: u64) {
        let done = step + 1 - self.first.min(step + 1);
        if self.json {
            event(
                "step",
                serde_json::json!({
                    "stage": self.stage,
                    "step": step + 1,
                    "steps": self.until,
                    "elapsed_s": self.started.elapsed().as_secs_f64(),
                    "eta_s": self.eta(done, 0.0),
                }),
            );
        }
        if step + 1 < self.until {
            self.set(step + 1, 0);
        }
    }

    pub(crate) fn finish(&self) {
        self.pb.finish_and_clear();
    }
}

/// Per-layer figures (keyed by layer index) with their layers' names, in layer order.
pub(crate) fn per_layer<'a>(
    model: &'a henn_sema::Model,
    values: &'a std::collections::BTreeMap<usize, f64>,
) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    values
        .iter()
        .filter_map(|(l, v)| model.layers.get(*l).map(|layer| (layer.name.as_str(), *v)))
}

/// [`per_layer`] as a JSON object `{"layer": value}`.
pub(crate) fn per_layer_json(
    model: &henn_sema::Model,
    values: &std::collections::BTreeMap<usize, f64>,
) -> serde_json::Map<String, serde_json::Value> {
    per_layer(model, values)
        .map(|(name, v)| (name.to_owned(), v.into()))
        .collect()
}
