//! `henn bench ops`: per-operation CKKS latency of henn-ckks, one JSON object per line, in
//! exactly the format of the OpenFHE/SEAL anchor script (`shared/anchors/README.md`), so the
//! two can be joined on `op` and compared as ratios.
//!
//! Timing follows the anchors: `--warmup` untimed calls, then `--reps` timed calls; wall clock
//! around the call only (the result is dropped after the clock stops); median/min/max. CPU time
//! is the sum of every thread's scheduler run time (`/proc/self/task/*/schedstat`; no libc),
//! which the kernel advances at scheduler ticks: `cpu_util` is therefore CPU/wall over the whole
//! timed batch (≈ 1 on a quiet core with one thread; printed when the batch takes ≥ 100 ms), and `cpu_median_ms` is printed only for
//! ops whose calls take ≥ 100 ms. Everything runs inside a
//! local rayon pool of `--threads` threads (default 1: single-threaded like the anchors).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use henn_ckks::{
    Ciphertext, CkksError, Context, Decryptor, Encoder, Encryptor, EvaluationKeys, Evaluator,
    KeyGenerator, Params, ParamsBuilder, galois_element_for_step,
};
use serde_json::{Map, Value, json};

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Per-operation CKKS latency, one JSON object per line.
    Ops(OpsArgs),
}

/// Defaults equal the anchor script's.
#[derive(Debug, clap::Args)]
pub struct OpsArgs {
    /// log2 of the ring dimension N (N/2 slots are filled).
    #[arg(long, default_value_t = 14, value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(10..=17))]
    pub logn: u32,
    /// Number of Q primes at the measured level (fresh ciphertexts).
    #[arg(long, default_value_t = 6, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=64))]
    pub limbs: usize,
    /// Hybrid key-switching digits.
    #[arg(long, default_value_t = 3, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub dnum: usize,
    /// Timed repetitions per op.
    #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100000))]
    pub reps: usize,
    /// Comma list of ops (default: all): keygen, encode_encrypt, add, mul_plain, mul_relin,
    /// rescale, rotate, hoisted_rotate, decrypt_decode, precision_square.
    #[arg(long)]
    pub ops: Option<String>,
    /// Bits of the first prime.
    #[arg(long, default_value_t = 60, value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(20..=62))]
    pub first_bits: u32,
    /// Bits of the other primes; scale = 2^scale-bits.
    #[arg(long, default_value_t = 50, value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(20..=60))]
    pub scale_bits: u32,
    /// Untimed repetitions before timing.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=10000))]
    pub warmup: usize,
    /// Seed of the random input vectors (inputs only; keys and noise always use the OS CSPRNG).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads of the local rayon pool.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: usize,
    /// `bootstrap` op: levels the application gets between two bootstraps (its own
    /// bootstrappable parameter set; `--limbs`, `--dnum`, `--scale-bits` do not apply).
    #[arg(long, default_value_t = 9, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=40))]
    pub boot_levels: usize,
    /// `bootstrap` op: bits of the scale Δ (and of every prime the application uses).
    #[arg(long, default_value_t = 40, value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(20..=60))]
    pub boot_scale_bits: u32,
    /// `bootstrap` op: comma list of slot counts to refresh (powers of two in 4..=N/2; fewer than
    /// N/2 = the sparse-slot bootstrap of the first slots, the rest zero), measured one after
    /// the other in this run with their own keys. Default: N/2.
    #[arg(long, value_delimiter = ',')]
    pub boot_slots: Vec<usize>,
    /// Accepted for uniformity: the output is always JSON lines (the anchor format).
    #[arg(long)]
    pub json: bool,
}

const ALL_OPS: [&str; 10] = [
    "keygen",
    "encode_encrypt",
    "add",
    "mul_plain",
    "mul_relin",
    "rescale",
    "rotate",
    "hoisted_rotate",
    "decrypt_decode",
    "precision_square",
];

/// Ops run only when asked for (minutes and gigabytes at N = 2^16).
const EXTRA_OPS: [&str; 1] = ["bootstrap"];

const ROT_STEP: i64 = 1;

pub fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Ops(args) => run_ops(args),
    }
}

/// Process CPU time in nanoseconds: the sum over all threads of the scheduler's run time.
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let path = entry.ok()?.path().join("schedstat");
        let s = std::fs::read_to_string(path).ok()?;
        total += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Lightweight xorshift for the input vectors (not for keys or noise).
fn inputs(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

struct Bench {
    base: Map<String, Value>,
    warmup: usize,
    reps: usize,
    cpu_total: f64,
    wall_total: f64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

impl Bench {
    /// A timer whose JSON lines all carry `base` (the parameters of the run).
    fn new(base: Map<String, Value>, warmup: usize, reps: usize) -> Bench {
        Bench {
            base,
            warmup,
            reps,
            cpu_total: 0.0,
            wall_total: 0.0,
        }
    }

    fn emit(&self, op: &str, fields: Map<String, Value>) {
        let mut rec = self.base.clone();
        rec.insert("op".into(), json!(op));
        rec.extend(fields);
        outln!("{}", Value::Object(rec));
    }

    fn time<T>(&mut self, op: &str, f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<()> {
        let fields = self.measure(f)?;
        self.emit(op, fields);
        Ok(())
    }

    /// Warm-up and timed calls; the timing fields of one JSON line.
    fn measure<T>(
        &mut self,
        mut f: impl FnMut() -> anyhow::Result<T>,
    ) -> anyhow::Result<Map<String, Value>> {
        for _ in 0..self.warmup {
            drop(f()?);
        }
        let mut wall = Vec::with_capacity(self.reps);
        let mut cpu = Vec::with_capacity(self.reps);
        let batch_c0 = process_cpu_ns();
        let batch_t0 = Instant::now();
        for _ in 0..self.reps {
            let c0 = process_cpu_ns();
            let t0 = Instant::now();
            let out = f()?;
            let dt = t0.elapsed().as_secs_f64() * 1e3;
            let c1 = process_cpu_ns();
            drop(out);
            wall.push(dt);
            if let (Some(a), Some(b)) = (c0, c1) {
                cpu.push(b.saturating_sub(a) as f64 / 1e6);
            }
        }
        let batch_wall = batch_t0.elapsed().as_secs_f64() * 1e3;
        let batch_cpu = match (batch_c0, process_cpu_ns()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e6),
            _ => None,
        };
        let wall_sum: f64 = wall.iter().sum();
        self.wall_total += batch_wall;
        self.cpu_total += batch_cpu.unwrap_or(0.0);
        let min = wall.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = wall.iter().cloned().fold(0.0, f64::max);
        let mut fields = Map::new();
        fields.insert("median_ms".into(), json!(round4(median(&mut wall))));
        fields.insert("min_ms".into(), json!(round4(min)));
        fields.insert("max_ms".into(), json!(round4(max)));
        fields.insert("reps".into(), json!(self.reps));
        // The kernel's per-thread run time advances at scheduler ticks (4 ms here), so the
        // utilisation is taken over the whole batch, and per-call CPU medians only when calls
        // are long enough for the tick to be noise (≥ 100 ms).
        if let Some(c) = batch_cpu
            && batch_wall >= 100.0
        {
            fields.insert(
                "cpu_util".into(),
                json!((c / batch_wall * 100.0).round() / 100.0),
            );
        }
        let med = median(&mut wall.clone());
        if cpu.len() == self.reps && med >= 100.0 && wall_sum > 0.0 {
            fields.insert("cpu_median_ms".into(), json!(round4(median(&mut cpu))));
        }
        Ok(fields)
    }
}

fn run_ops(a: OpsArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        a.limbs >= 2,
        "--limbs must be at least 2 (rescale needs a level)"
    );
    anyhow::ensure!(a.reps >= 1, "--reps must be at least 1");
    anyhow::ensure!(a.threads >= 1, "--threads must be at least 1");
    let ops: Vec<String> = match &a.ops {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => ALL_OPS.iter().map(|s| s.to_string()).collect(),
    };
    if let Some(bad) = ops
        .iter()
        .find(|o| !ALL_OPS.contains(&o.as_str()) && !EXTRA_OPS.contains(&o.as_str()))
    {
        anyhow::bail!(
            "unknown op '{bad}' (known: {},{})",
            ALL_OPS.join(","),
            EXTRA_OPS.join(",")
        );
    }
    let with_boot = ops.iter().any(|o| o == "bootstrap");
    let ops: Vec<String> = ops.into_iter().filter(|o| o != "bootstrap").collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads)
        .build()
        .context("building the thread pool")?;
    if ops.is_empty() {
        if with_boot {
            pool.install(|| bench_bootstrap(&a))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let builder = ParamsBuilder::new(a.logn)
        .first_bits(a.first_bits)
        .scale_bits(a.scale_bits)
        .levels(a.limbs - 1)
        .dnum(a.dnum);
    // The bench exists to compare speed at the anchors' parameters: if they exceed the
    // 128-bit table, measure anyway and say so ("unchecked"), like the anchor script.
    let (params, security) = match builder.build() {
        Ok(p) => (p, "128"),
        Err(CkksError::InsecureParams {
            log2_qp,
            max_log2_qp,
            ..
        }) => {
            eprintln!(
                "henn bench: log2(QP) = {log2_qp:.1} > {max_log2_qp} (128-bit bound): measuring with unchecked parameters"
            );
            (Params::insecure_unchecked(&builder)?, "unchecked")
        }
        Err(e) => return Err(e).context("building parameters"),
    };
    pool.install(|| bench(&a, &ops, params, security))?;
    if with_boot {
        pool.install(|| bench_bootstrap(&a))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn bench(a: &OpsArgs, ops: &[String], params: Params, security: &str) -> anyhow::Result<()> {
    let log2_q = params.log2_q();
    let log2_qp = params.log2_qp();
    let special = params.p().len();
    let scale = params.default_scale();
    let ctx = Context::new(params)?;
    let mut base = Map::new();
    base.insert("lib".into(), json!("henn"));
    base.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    base.insert("logn".into(), json!(a.logn));
    base.insert("limbs".into(), json!(a.limbs));
    base.insert("dnum".into(), json!(a.dnum));
    base.insert("scale_bits".into(), json!(a.scale_bits));
    base.insert("threads".into(), json!(a.threads));
    base.insert("security".into(), json!(security));
    base.insert("log2_q".into(), json!((log2_q * 10.0).round() / 10.0));
    base.insert("log2_qp".into(), json!((log2_qp * 10.0).round() / 10.0));
    base.insert("special_primes".into(), json!(special));
    let mut b = Bench::new(base, a.warmup, a.reps);
    eprintln!(
        "henn {}: N=2^{} limbs={} log2Q={log2_q:.1} log2QP={log2_qp:.1} dnum={} special={special} security={security} threads={}",
        env!("CARGO_PKG_VERSION"),
        a.logn,
        a.limbs,
        a.dnum,
        a.threads
    );

    let mut kg = KeyGenerator::new(&ctx)?;
    let sk = kg.gen_secret_key();
    let pk = kg.gen_public_key(&sk);
    let mut keys = EvaluationKeys::default();
    keys.set_relin(kg.gen_relin_key(&sk, None)?);
    keys.insert_galois(kg.gen_galois_key(&sk, galois_element_for_step(&ctx, ROT_STEP), None)?);
    let enc = Encoder::new(&ctx);
    let mut encryptor = Encryptor::new(&ctx, pk)?;
    let slots = ctx.slots();
    let top = ctx.max_level();
    let x = inputs(a.seed, slots);
    let y = inputs(a.seed + 1, slots);
    let pt_y = enc.encode_real(&y, top, scale)?;
    let ct_x = encryptor.encrypt(&enc.encode_real(&x, top, scale)?);
    let ct_y = encryptor.encrypt(&pt_y);
    let ev = Evaluator::new(&ctx, &keys);

    for op in ops {
        match op.as_str() {
            "keygen" => {
                b.time("keygen", || {
                    let s = kg.gen_secret_key();
                    let p = kg.gen_public_key(&s);
                    Ok((s, p))
                })?;
                b.time("relin_keygen", || Ok(kg.gen_relin_key(&sk, None)?))?;
                let g = galois_element_for_step(&ctx, ROT_STEP);
                b.time("rot_keygen", || Ok(kg.gen_galois_key(&sk, g, None)?))?;
            }
            "encode_encrypt" => b.time(op, || {
                Ok(encryptor.encrypt(&enc.encode_real(&x, top, scale)?))
            })?,
            "add" => b.time(op, || Ok(ev.add(&ct_x, &ct_y)?))?,
            "mul_plain" => b.time(op, || Ok(ev.mul_plain(&ct_x, &pt_y)?))?,
            "mul_relin" => b.time(op, || Ok(ev.mul_relin(&ct_x, &ct_y)?))?,
            "rescale" => {
                let prod = ev.mul_relin(&ct_x, &ct_y)?;
                b.time(op, || Ok(ev.rescale(&prod)?))?;
            }
            "rotate" => b.time(op, || Ok(ev.rotate(&ct_x, ROT_STEP)?))?,
            "hoisted_rotate" => {
                b.time("hoisted_precompute", || Ok(ev.hoist(&ct_x)?))?;
                let h = ev.hoist(&ct_x)?;
                b.time("hoisted_rotate", || Ok(ev.rotate_hoisted(&h, ROT_STEP)?))?;
            }
            "decrypt_decode" => {
                let dec = Decryptor::new(&ctx, kg_secret_clone(&ctx, &sk)?);
                b.time(op, || Ok(enc.decode_real(&dec.decrypt(&ct_x))))?;
            }
            "precision_square" => {
                let dec = Decryptor::new(&ctx, kg_secret_clone(&ctx, &sk)?);
                let sq: Ciphertext = ev.rescale(&ev.mul_relin(&ct_x, &ct_x)?)?;
                let got = enc.decode_real(&dec.decrypt(&sq));
                let err = got
                    .iter()
                    .zip(&x)
                    .map(|(g, v)| (g - v * v).abs())
                    .fold(0.0, f64::max);
                let bits = if err > 0.0 { -err.log2() } else { 99.0 };
                let mut f = Map::new();
                f.insert("median_ms".into(), Value::Null);
                f.insert("min_ms".into(), Value::Null);
                f.insert("max_ms".into(), Value::Null);
                f.insert("reps".into(), json!(1));
                f.insert("bits".into(), json!((bits * 100.0).round() / 100.0));
                f.insert("max_abs_err".into(), json!(err));
                b.emit("precision_square", f);
            }
            _ => {}
        }
    }
    if b.wall_total > 50.0 {
        eprintln!(
            "henn bench: CPU/wall ratio over all timed calls: {:.2}",
            b.cpu_total / b.wall_total
        );
    }
    Ok(())
}

/// The decryptor owns its secret key; the bench keeps its own copy for key generation, so it
/// round-trips the key through the serializer (the supported way to copy a secret key).
fn kg_secret_clone(
    ctx: &std::sync::Arc<Context>,
    sk: &henn_ckks::SecretKey,
) -> anyhow::Result<henn_ckks::SecretKey> {
    let bytes = henn_ckks::serial::to_bytes(ctx, sk);
    Ok(henn_ckks::serial::from_bytes(ctx, &bytes)?)
}

/// Resets the process's peak resident memory (`VmHWM`) to the current RSS before each
/// measured configuration (best effort: Linux ≥ 4.0). Memory the allocator keeps after the
/// previous configuration still counts: for a clean peak per configuration, measure one per
/// process (benches/bootstrap_sparse.sh does).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of the process so far (`VmHWM`), bytes.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The `bootstrap` op: a StC-first real bootstrap on the bootstrappable parameter set for
/// `--boot-levels` usable levels of `--boot-scale-bits` (128-bit when it fits the table, else
/// measured "unchecked"), dense main key, h = 32 encapsulation, for each `--boot-slots` count
/// (default all N/2; fewer = the sparse-slot bootstrap, inputs zero beyond them). Prints per
/// count a `bootstrap_keygen` line (keys + encoding, once) and a `bootstrap` line (timed like
/// the other ops) with the precision over the refreshed slots of the last timed call (and
/// `zero_slots_max_bits`, the largest error in the other slots, for sparse counts).
fn bench_bootstrap(a: &OpsArgs) -> anyhow::Result<()> {
    use henn_ckks::SecurityLevel;
    use henn_ckks::bootstrap::bootstrappable_params;
    let (params, spec, security) = match bootstrappable_params(
        a.logn,
        a.boot_levels,
        a.boot_scale_bits,
        SecurityLevel::Classic128,
    ) {
        Ok((p, s)) => (p, s, "128"),
        Err(CkksError::InsecureParams {
            log2_qp,
            max_log2_qp,
            ..
        }) => {
            eprintln!(
                "henn bench: bootstrap chain log2(QP) = {log2_qp:.1} > {max_log2_qp} (128-bit bound): measuring with unchecked parameters"
            );
            let (p, s) = bootstrappable_params(
                a.logn,
                a.boot_levels,
                a.boot_scale_bits,
                SecurityLevel::InsecureUnchecked,
            )?;
            (p, s, "unchecked")
        }
        Err(e) => return Err(e).context("building bootstrappable parameters"),
    };
    let log2_q = params.log2_q();
    let log2_qp = params.log2_qp();
    let limbs = params.q().len();
    let dnum = params.dnum();
    let first_bits = (params.q()[0] as f64).log2().round();
    let ctx = Context::new(params)?;
    let top = ctx.max_level();
    let slot_counts = if a.boot_slots.is_empty() {
        vec![ctx.slots()]
    } else {
        a.boot_slots.clone()
    };
    // Check every count before spending minutes on keys.
    let specs = slot_counts
        .iter()
        .map(|&slots| {
            anyhow::ensure!(
                slots.is_power_of_two() && slots >= 4 && slots <= ctx.slots(),
                "--boot-slots {slots}: not a power of two in 4..={}",
                ctx.slots()
            );
            let log_slots = (slots < ctx.slots()).then_some(slots.trailing_zeros());
            let s = spec.clone().with_log_slots(log_slots);
            s.validate(&ctx)
                .with_context(|| format!("--boot-slots {slots}"))?;
            Ok(s)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let setup = BootSetup {
        log2_q,
        log2_qp,
        limbs,
        dnum,
        first_bits,
        security,
    };
    for spec in &specs {
        reset_peak_rss();
        bench_bootstrap_slots(a, &ctx, top, spec, &setup)?;
    }
    Ok(())
}

/// The chain's figures every bootstrap line repeats.
struct BootSetup {
    log2_q: f64,
    log2_qp: f64,
    limbs: usize,
    dnum: usize,
    first_bits: f64,
    security: &'static str,
}

/// One `bootstrap_keygen` + `bootstrap` pair for `spec` (its own keys, dropped after).
fn bench_bootstrap_slots(
    a: &OpsArgs,
    ctx: &std::sync::Arc<Context>,
    top: usize,
    spec: &henn_ckks::bootstrap::BootstrapSpec,
    setup: &BootSetup,
) -> anyhow::Result<()> {
    use henn_ckks::bootstrap::BootstrapCircuit;
    let BootSetup {
        log2_q,
        log2_qp,
        limbs,
        dnum,
        first_bits,
        security,
    } = *setup;
    let slots = spec.slots(ctx)?;
    let mut base = Map::new();
    base.insert("lib".into(), json!("henn"));
    base.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    base.insert("logn".into(), json!(a.logn));
    base.insert("limbs".into(), json!(limbs));
    base.insert("dnum".into(), json!(dnum));
    base.insert("scale_bits".into(), json!(a.boot_scale_bits));
    base.insert("first_bits".into(), json!(first_bits));
    base.insert("threads".into(), json!(a.threads));
    base.insert("security".into(), json!(security));
    base.insert("secret".into(), json!("dense"));
    base.insert("encapsulation_h".into(), json!(spec.hamming_weight));
    base.insert("boot_order".into(), json!("stc-first"));
    base.insert(
        "level_budget".into(),
        json!([spec.cts_levels, spec.stc_levels]),
    );
    base.insert("slots".into(), json!(slots));
    base.insert("log2_q".into(), json!((log2_q * 10.0).round() / 10.0));
    base.insert("log2_qp".into(), json!((log2_qp * 10.0).round() / 10.0));
    let mut b = Bench::new(base, a.warmup, a.reps);
    eprintln!(
        "henn {} bootstrap: N=2^{} slots={slots} limbs={limbs} log2Q={log2_q:.1} log2QP={log2_qp:.1} dnum={dnum} security={security} threads={}",
        env!("CARGO_PKG_VERSION"),
        a.logn,
        a.threads
    );

    let t0 = Instant::now();
    let mut kg = KeyGenerator::new(ctx)?;
    let sk = kg.gen_secret_key();
    let pk = kg.gen_public_key(&sk);
    let mut keys = EvaluationKeys::default();
    // EvalMod's products run at levels ≤ top − CtS: a key reaching there is enough.
    keys.set_relin(kg.gen_relin_key(&sk, Some(top - spec.cts_levels))?);
    spec.gen_galois_keys(&mut kg, &sk, &mut keys)?;
    let encap = spec.gen_encapsulation_keys(&mut kg, &sk)?;
    let keys_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let circuit = BootstrapCircuit::new(ctx, spec)?;
    let setup_ms = t1.elapsed().as_secs_f64() * 1e3;
    let key_bytes = keys.byte_size() + encap.to_sparse.byte_size() + encap.to_dense.byte_size();
    let levels_after = circuit.usable_levels();
    let mut f = Map::new();
    f.insert("median_ms".into(), json!(round4(keys_ms + setup_ms)));
    f.insert("min_ms".into(), json!(round4(keys_ms + setup_ms)));
    f.insert("max_ms".into(), json!(round4(keys_ms + setup_ms)));
    f.insert("reps".into(), json!(1));
    f.insert("keys_ms".into(), json!(round4(keys_ms)));
    f.insert("setup_ms".into(), json!(round4(setup_ms)));
    f.insert("key_bytes".into(), json!(key_bytes));
    f.insert("galois_keys".into(), json!(keys.galois_elements().count()));
    f.insert("plaintext_bytes".into(), json!(circuit.byte_size()));
    f.insert("levels_after".into(), json!(levels_after));
    if let Some(rss) = peak_rss_bytes() {
        f.insert("peak_rss_bytes".into(), json!(rss));
    }
    b.emit("bootstrap_keygen", f);

    let enc = Encoder::new(ctx);
    let mut encryptor = Encryptor::new(ctx, pk)?;
    let dec = Decryptor::new(ctx, kg_secret_clone(ctx, &sk)?);
    // The compiler's layout: values in the first `slots` slots, zeros elsewhere.
    let mut x = inputs(a.seed, slots);
    x.resize(ctx.slots(), 0.0);
    let ct = encryptor.encrypt(&enc.encode_real(
        &x,
        circuit.input_level(),
        ctx.params().default_scale(),
    )?);
    let mut last: Option<Ciphertext> = None;
    let mut fields = b.measure(|| {
        let out = circuit.bootstrap_with_keys(ctx, &keys, &ct, &encap)?;
        last = Some(out.clone());
        Ok(out)
    })?;
    let out = last.context("no bootstrap ran")?;
    let got = enc.decode_real(&dec.decrypt(&out));
    // Precision over the refreshed slots; the others must stay ≈ 0.
    let errs: Vec<f64> = got
        .iter()
        .zip(&x)
        .take(slots)
        .map(|(g, v)| (g - v).abs())
        .collect();
    let max = errs.iter().cloned().fold(0.0, f64::max);
    let mean = errs.iter().sum::<f64>() / errs.len() as f64;
    let rest_max = got.iter().skip(slots).map(|g| g.abs()).fold(0.0, f64::max);
    let bits = |e: f64| {
        if e > 0.0 {
            (-e.log2() * 100.0).round() / 100.0
        } else {
            99.0
        }
    };
    fields.insert("precision_mean_bits".into(), json!(bits(mean)));
    fields.insert("precision_max_bits".into(), json!(bits(max)));
    if slots < ctx.slots() {
        fields.insert("zero_slots_max_bits".into(), json!(bits(rest_max)));
    }
    fields.insert("key_bytes".into(), json!(key_bytes));
    fields.insert("levels_after".into(), json!(levels_after));
    fields.insert("input_levels".into(), json!(circuit.input_level()));
    fields.insert("output_levels".into(), json!(circuit.output_level()));
    fields.insert(
        "output_scale_exact".into(),
        json!(out.scale() == circuit.output_scale()),
    );
    if let Some(rss) = peak_rss_bytes() {
        fields.insert("peak_rss_bytes".into(), json!(rss));
    }
    b.emit("bootstrap", fields);
    Ok(())
}
