//! Where the time of a rescale, a rotation and a hoisted rotation goes: the NTT alone versus the
//! whole operation, single-threaded, at the anchor parameters (N = 2^16, 21 limbs, dnum 3).
//!
//! ```sh
//! cargo bench -p henn-ckks --bench ntt_parts              # N = 2^16, 21 limbs
//! cargo bench -p henn-ckks --bench ntt_parts -- 14 6      # N = 2^14, 6 limbs
//! ```
//!
//! Not a timed test: it prints the thread's CPU time per call (ms, robust on a shared
//! machine) and the share of the NTTs in each operation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use henn_ckks::ring::ntt::NttTable;
use henn_ckks::{
    Complex64, Context, Encoder, Encryptor, EvaluationKeys, Evaluator, KeyGenerator, Params,
    ParamsBuilder, galois_element_for_step,
};

/// On-CPU time of the calling thread (Linux `schedstat`), so that timings on a shared
/// machine count only this thread's own work; wall time where it is unavailable.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Time per call in ms: the thread's CPU time over a batch of at least `reps` calls and at
/// least 0.3 s (the kernel's accounting has tick granularity), divided by the calls; the
/// wall-clock median where CPU time is unavailable.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let c0 = thread_cpu_ns();
    let mut wall = Vec::new();
    loop {
        let s = Instant::now();
        f();
        wall.push(s.elapsed().as_secs_f64() * 1e3);
        let spent = match (c0, thread_cpu_ns()) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e6,
            _ => wall.iter().sum(),
        };
        if wall.len() >= reps && spent >= 300.0 {
            if let (Some(_), Some(_)) = (c0, thread_cpu_ns()) {
                return spent / wall.len() as f64;
            }
            break;
        }
    }
    wall.sort_by(|a, b| a.total_cmp(b));
    wall[wall.len() / 2]
}

fn main() {
    // `hot` mode: repeat only the hoisted rotation or the rescale, for a profiler.
    let hot = std::env::args().find(|a| a == "hoisted" || a == "rescale");
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let log_n = args.first().copied().unwrap_or(16) as u32;
    let limbs = args.get(1).copied().unwrap_or(21);
    let reps = args.get(2).copied().unwrap_or(9);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| run(log_n, limbs, reps, hot.as_deref()));
}

fn run(log_n: u32, limbs: usize, reps: usize, hot: Option<&str>) {
    let builder = ParamsBuilder::new(log_n)
        .first_bits(60)
        .scale_bits(50)
        .levels(limbs - 1)
        .dnum(3);
    let params = Params::insecure_unchecked(&builder).unwrap();
    let n = params.n();
    let q = params.q().to_vec();
    let p = params.p().to_vec();
    let ctx = Context::new(params).unwrap();

    let scale_prime = q[limbs - 1];
    let t50 = NttTable::new(n, scale_prime).unwrap();
    let t60 = NttTable::new(n, q[0]).unwrap();
    let mut buf: Vec<u64> = (0..n as u64).map(|i| (i * 7919) % scale_prime).collect();
    let fwd50 = median_ms(reps * 5, || t50.forward(&mut buf));
    let inv50 = median_ms(reps * 5, || t50.inverse_unnormalized(&mut buf));
    let fwd60 = median_ms(reps * 5, || t60.forward(&mut buf));
    println!(
        "N=2^{log_n} limbs={limbs} special={}: fwd NTT (50-bit) {fwd50:.3} ms, inv {inv50:.3} ms, fwd (60-bit) {fwd60:.3} ms",
        p.len()
    );

    let alloc = median_ms(reps * 3, || {
        let mut v = henn_ckks::RnsPoly::zero(n, limbs - 2, 0, true);
        let d = v.limbs_mut().next().unwrap();
        d[0] = 1;
        drop(v)
    });
    let alloc_touch = median_ms(reps * 3, || {
        let mut v = henn_ckks::RnsPoly::zero(n, limbs - 2, 0, true);
        for l in v.limbs_mut() {
            for x in l.iter_mut() {
                *x = 1;
            }
        }
        drop(v)
    });
    println!("alloc one poly {alloc:.3} ms, alloc+write {alloc_touch:.3} ms");
    {
        use henn_ckks::ring::rescale::{CenteredLift, lift_centered, sub_mul_shoup};
        let m = *t60.modulus();
        let lift = CenteredLift::new(scale_prime, &m);
        let src: Vec<u64> = (0..n as u64)
            .map(|i| (i * 0x9e37_79b9_7f4a_7c15) % scale_prime)
            .collect();
        let x: Vec<u64> = (0..n as u64).map(|i| (i * 0x7f4a_7c15) % q[0]).collect();
        let mut t = vec![0u64; n];
        let lt = median_ms(reps * 5, || lift_centered(&src, &mut t, &lift));
        let w = m.shoup(12345);
        let st = median_ms(reps * 5, || sub_mul_shoup(&x, &mut t, &m, w));
        println!(
            "per limb: lift {lt:.4} ms, sub_mul_shoup {st:.4} ms; x{} limbs = {:.2} ms",
            2 * (limbs - 1),
            2.0 * (limbs - 1) as f64 * (lt + st)
        );
    }
    let mut kg = KeyGenerator::new(&ctx).unwrap();
    let sk = kg.gen_secret_key();
    let pk = kg.gen_public_key(&sk);
    let mut keys = EvaluationKeys::default();
    keys.set_relin(kg.gen_relin_key(&sk, None).unwrap());
    let g = galois_element_for_step(&ctx, 1);
    keys.insert_galois(kg.gen_galois_key(&sk, g, None).unwrap());
    let enc = Encoder::new(&ctx);
    let mut encryptor = Encryptor::new(&ctx, pk).unwrap();
    let z: Vec<Complex64> = (0..ctx.slots())
        .map(|i| Complex64::new((i as f64).sin(), 0.0))
        .collect();
    let scale = 2f64.powi(50);
    let ct = encryptor.encrypt(&enc.encode(&z, limbs - 1, scale).unwrap());
    let ev = Evaluator::new(&ctx, &keys);

    match hot {
        Some("hoisted") => {
            let h = ev.hoist(&ct).unwrap();
            let t = median_ms(reps, || drop(ev.rotate_hoisted(&h, 1).unwrap()));
            println!("hoisted_rotate {t:.2} ms");
            return;
        }
        Some(_) => {
            let t = median_ms(reps, || drop(ev.rescale(&ct).unwrap()));
            println!("rescale {t:.2} ms");
            return;
        }
        None => {}
    }
    let l = limbs - 1;
    let k = p.len();
    let rescale = median_ms(reps, || drop(ev.rescale(&ct).unwrap()));
    let ntt_rescale = 2.0 * (inv50 + l as f64 * fwd50);
    println!(
        "rescale {rescale:.2} ms; its {} NTTs ≈ {ntt_rescale:.2} ms ({:.0}%)",
        2 * (l + 1),
        100.0 * ntt_rescale / rescale
    );
    let rotate = median_ms(reps, || drop(ev.rotate(&ct, 1).unwrap()));
    let h = ev.hoist(&ct).unwrap();
    let hoist = median_ms(reps, || drop(ev.hoist(&ct).unwrap()));
    let hrot = median_ms(reps, || drop(ev.rotate_hoisted(&h, 1).unwrap()));
    // hoisted rotation: ModDown of two polys = 2·(k inverse + (l+1) forward)
    let ntt_hrot = 2.0 * (k as f64 * inv50 + (l + 1) as f64 * fwd50);
    println!(
        "rotate {rotate:.2} ms = hoist {hoist:.2} + hoisted_rotate {hrot:.2} (ratio {:.2}); hoisted NTTs ≈ {ntt_hrot:.2} ms ({:.0}%)",
        hrot / rotate,
        100.0 * ntt_hrot / hrot
    );
    let prod = ev.mul_relin(&ct, &ct).unwrap();
    let mul = median_ms(reps, || drop(ev.mul_relin(&ct, &ct).unwrap()));
    let rs2 = median_ms(reps, || drop(ev.rescale(&prod).unwrap()));
    let prod2 = prod.clone();
    let rs3 = median_ms(reps, || drop(ev.rescale(&prod2).unwrap()));
    let rs4 = median_ms(reps, || drop(ev.rescale(&ct).unwrap()));
    let rs5 = median_ms(reps, || drop(ev.rescale(&prod).unwrap()));
    println!("product again {rs5:.2} ms");
    println!(
        "mul_relin {mul:.2} ms; rescale of its product {rs2:.2} ms, of a copy {rs3:.2} ms, of the fresh ct again {rs4:.2} ms"
    );
}
