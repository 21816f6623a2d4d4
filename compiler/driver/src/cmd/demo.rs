//! `henn demo`: the CKKS backend end to end at 128-bit parameters. Generates keys, encrypts
//! random vectors, runs a short chain of every operation (add, sub, mul_plain, integer and real
//! constants, mul_relin, rescale, rotate, hoisted rotations, conjugate, level drop, a squaring
//! chain down to the last level), decrypts after each step and prints its time and bits of
//! precision (−log2 of the max and mean absolute error over all slots) against an f64
//! reference computed on the same inputs.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use henn_ckks::{
    Ciphertext, Complex64, Context, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator,
    ParamsBuilder,
};
use serde_json::json;

/// Prints a line to stdout, ignoring write errors (a closed pipe, e.g. `| head`, is not an
/// error for a report).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// log2 of the ring dimension (13..=17).
    #[arg(long, default_value_t = 15, value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(13..=17))]
    pub logn: u32,
    /// Requested multiplicative levels; lowered to the most the 128-bit bound allows.
    #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=60))]
    pub levels: usize,
    /// Bits of the scale Δ (and of the scale primes).
    #[arg(long, default_value_t = 40, value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(20..=60))]
    pub scale_bits: u32,
    /// One JSON object per line instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: rayon's choice, all cores).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: Option<usize>,
}

struct Row {
    op: String,
    level: usize,
    ms: f64,
    max_bits: f64,
    mean_bits: f64,
}

fn bits(got: &[Complex64], want: &[Complex64]) -> (f64, f64) {
    let errs: Vec<f64> = got.iter().zip(want).map(|(a, b)| (a - b).norm()).collect();
    let max = errs.iter().cloned().fold(0.0, f64::max);
    let mean = errs.iter().sum::<f64>() / errs.len().max(1) as f64;
    let b = |e: f64| if e > 0.0 { -e.log2() } else { 99.0 };
    (b(max), b(mean))
}

fn random(seed: &mut u64, n: usize) -> Vec<Complex64> {
    (0..n)
        .map(|_| {
            let mut u = || {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                ((*seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            };
            Complex64::new(u(), 0.0)
        })
        .collect()
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!((13..=17).contains(&args.logn), "--logn must be in 13..=17");
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(t) = args.threads {
        pool = pool.num_threads(t.max(1));
    }
    let pool = pool.build().context("building the thread pool")?;
    pool.install(|| demo(&args))
}

fn demo(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    // Largest level count ≤ the request that passes the 128-bit check; at each count the smallest
    // `dnum` from 3 up whose special primes fit (small rings need more digits, fewer special primes).
    let mut found = None;
    'levels: for levels in (2..=args.levels.max(2)).rev() {
        for dnum in 3..=levels + 1 {
            let b = ParamsBuilder::new(args.logn)
                .scale_bits(args.scale_bits)
                .levels(levels)
                .dnum(dnum);
            match b.build() {
                Ok(p) => {
                    found = Some(p);
                    break 'levels;
                }
                Err(henn_ckks::CkksError::InsecureParams { .. }) => continue,
                Err(e) => return Err(e).context("no 128-bit parameter set for these sizes"),
            }
        }
    }
    let params = found.with_context(|| {
        format!(
            "no 128-bit parameter set at N = 2^{} with {}-bit scale primes holds 2 levels",
            args.logn, args.scale_bits
        )
    })?;
    let dnum = params.dnum();
    let t = Instant::now();
    let log2_q = params.log2_q();
    let log2_qp = params.log2_qp();
    let ctx = Context::new(params)?;
    let setup_ms = t.elapsed().as_secs_f64() * 1e3;
    let slots = ctx.slots();
    let top = ctx.max_level();
    let scale = ctx.params().default_scale();
    let rotations = [1i64, 2, 3, 4];

    let t = Instant::now();
    let mut kg = KeyGenerator::new(&ctx)?;
    let sk = kg.gen_secret_key();
    let pk = kg.gen_public_key(&sk);
    let keys = kg.gen_evaluation_keys(&sk, &rotations, true, None)?;
    let keygen_ms = t.elapsed().as_secs_f64() * 1e3;
    let dec = Decryptor::new(&ctx, sk);
    let enc = Encoder::new(&ctx);
    let mut encryptor = Encryptor::new(&ctx, pk)?;
    let ev = Evaluator::new(&ctx, &keys);

    if !args.json {
        outln!(
            "henn demo: CKKS at N = 2^{} ({slots} slots), {} levels, Δ = 2^{}, log2 Q = {log2_q:.0}, log2 QP = {log2_qp:.0} ≤ {} (128-bit), dnum {dnum}",
            args.logn,
            top,
            args.scale_bits,
            henn_ckks::max_log2_qp(args.logn, henn_ckks::SecurityLevel::Classic128).unwrap_or(0)
        );
        outln!(
            "setup {setup_ms:.0} ms; keys (secret, public, relin, {} rotations + conjugation): {keygen_ms:.0} ms, {:.0} MB of evaluation keys",
            rotations.len(),
            keys.byte_size() as f64 / 1e6
        );
        outln!();
        outln!(
            "{:<34} {:>5} {:>10} {:>9} {:>9}",
            "operation",
            "level",
            "time (ms)",
            "max bits",
            "mean bits"
        );
    }

    let mut seed = 0x5eed_u64;
    let x = random(&mut seed, slots);
    let y = random(&mut seed, slots);
    let w = random(&mut seed, slots);
    let mut rows = Vec::new();
    let mut record = |op: &str, ct: &Ciphertext, ms: f64, want: &[Complex64]| {
        let got = enc.decode(&dec.decrypt(ct));
        let (max_bits, mean_bits) = bits(&got, want);
        let row = Row {
            op: op.to_string(),
            level: ct.level(),
            ms,
            max_bits,
            mean_bits,
        };
        if args.json {
            outln!(
                "{}",
                json!({"op": row.op, "level": row.level, "ms": (row.ms * 1000.0).round() / 1000.0,
                       "bits_max": (row.max_bits * 100.0).round() / 100.0,
                       "bits_mean": (row.mean_bits * 100.0).round() / 100.0,
                       "logn": args.logn, "scale_bits": args.scale_bits, "security": "128"})
            );
        } else {
            outln!(
                "{:<34} {:>5} {:>10.2} {:>9.1} {:>9.1}",
                row.op,
                row.level,
                row.ms,
                row.max_bits,
                row.mean_bits
            );
        }
        rows.push(row);
    };
    macro_rules! timed {
        ($e:expr) => {{
            let t = Instant::now();
            let r = $e;
            (r, t.elapsed().as_secs_f64() * 1e3)
        }};
    }
    let zip = |a: &[Complex64], b: &[Complex64], f: fn(Complex64, Complex64) -> Complex64| {
        a.iter().zip(b).map(|(&p, &q)| f(p, q)).collect::<Vec<_>>()
    };

    let (cx, ms) = timed!(encryptor.encrypt(&enc.encode(&x, top, scale)?));
    record("encode + encrypt x", &cx, ms, &x);
    let cy = encryptor.encrypt(&enc.encode(&y, top, scale)?);
    let (s, ms) = timed!(ev.add(&cx, &cy)?);
    record("add x + y", &s, ms, &zip(&x, &y, |a, b| a + b));
    let (d, ms) = timed!(ev.sub(&cx, &cy)?);
    record("sub x - y", &d, ms, &zip(&x, &y, |a, b| a - b));
    let pw = enc.encode(&w, top, scale)?;
    let (p, ms) = timed!(ev.rescale(&ev.mul_plain(&cx, &pw)?)?);
    record(
        "mul_plain x * w + rescale",
        &p,
        ms,
        &zip(&x, &w, |a, b| a * b),
    );
    let (k, ms) = timed!(ev.mul_int(&cx, 3));
    record(
        "mul by integer 3 (no level)",
        &k,
        ms,
        &x.iter().map(|a| a * 3.0).collect::<Vec<_>>(),
    );
    let (c, ms) = timed!(ev.rescale(&ev.mul_const(&cx, 0.3)?)?);
    record(
        "mul by real 0.3 + rescale",
        &c,
        ms,
        &x.iter().map(|a| a * 0.3).collect::<Vec<_>>(),
    );
    let (m, ms) = timed!(ev.mul_relin(&cx, &cy)?);
    let xy = zip(&x, &y, |a, b| a * b);
    record("mul_relin x * y", &m, ms, &xy);
    let (r, ms) = timed!(ev.rescale(&m)?);
    record("rescale", &r, ms, &xy);
    let rot = |v: &[Complex64], k: i64| -> Vec<Complex64> {
        (0..slots)
            .map(|j| v[(j as i64 + k).rem_euclid(slots as i64) as usize])
            .collect()
    };
    let (r1, ms) = timed!(ev.rotate(&r, 1)?);
    record("rotate by 1", &r1, ms, &rot(&xy, 1));
    let (h, ms_pre) = timed!(ev.hoist(&r)?);
    let mut total = ms_pre;
    for &k in &rotations {
        let (rk, ms) = timed!(ev.rotate_hoisted(&h, k)?);
        total += ms;
        record(&format!("hoisted rotate by {k}"), &rk, ms, &rot(&xy, k));
    }
    if !args.json {
        outln!(
            "{:<34} {:>5} {:>10.2}   (precompute {ms_pre:.2} ms + {} rotations)",
            "  hoisted total",
            r.level(),
            total,
            rotations.len()
        );
    }
    // Σ_k w_k ⊙ rot_k(xy) with double hoisting (one ModDown for the whole sum).
    let weights: Vec<Vec<Complex64>> = rotations.iter().map(|_| random(&mut seed, slots)).collect();
    let pts = weights
        .iter()
        .map(|w| enc.encode_extended(w, r.level(), scale))
        .collect::<Result<Vec<_>, _>>()?;
    let terms: Vec<(i64, &henn_ckks::Plaintext)> =
        rotations.iter().copied().zip(pts.iter()).collect();
    let (rs, ms) = timed!(ev.rescale(&ev.rotate_sum(&h, &terms)?)?);
    let mut want = vec![Complex64::new(0.0, 0.0); slots];
    for (&k, w) in rotations.iter().zip(&weights) {
        for (j, (o, rv)) in want.iter_mut().zip(rot(&xy, k)).enumerate() {
            *o += w[j] * rv;
        }
    }
    record(
        &format!("rotate_sum, {} terms + rescale", rotations.len()),
        &rs,
        ms,
        &want,
    );
    let z: Vec<Complex64> = x
        .iter()
        .zip(&y)
        .map(|(a, b)| Complex64::new(a.re, b.re))
        .collect();
    let cz = encryptor.encrypt(&enc.encode(&z, top, scale)?);
    let (cc, ms) = timed!(ev.conjugate(&cz)?);
    record(
        "conjugate (complex slots)",
        &cc,
        ms,
        &z.iter().map(|a| a.conj()).collect::<Vec<_>>(),
    );
    let (dl, ms) = timed!(ev.drop_to_level(&cx, 1)?);
    record("level drop to 1", &dl, ms, &x);
    // Squaring chain down to level 0 (the constant subtraction costs no level).
    let mut acc = r;
    let mut want = xy;
    let mut step = 0;
    while acc.level() > 0 {
        let (sq, ms) = timed!(ev.rescale(&ev.square_relin(&acc)?)?);
        for v in &mut want {
            *v = *v * *v;
        }
        step += 1;
        // v ← v² − 0.5 keeps values in [−0.5, 0.5] (a contraction), so the chain's error
        // reflects the arithmetic, not growing values.
        let sq2 = ev.add_const(&sq, -0.5)?;
        for v in &mut want {
            *v -= 0.5;
        }
        record(
            &format!("square + rescale − 0.5 (#{step})"),
            &sq2,
            ms,
            &want,
        );
        acc = sq2;
    }
    let worst = rows
        .iter()
        .map(|r| r.max_bits)
        .fold(f64::INFINITY, f64::min);
    if !args.json {
        outln!();
        outln!("worst max-error precision over the chain: {worst:.1} bits");
    }
    Ok(ExitCode::SUCCESS)
}
