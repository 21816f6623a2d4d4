//! Times the pieces of one relinearization at the anchors' large parameters, single-threaded:
//! `cargo run --release -p henn-ckks --example keyswitch_profile -- [logn] [limbs] [dnum]`.

use std::time::Instant;

use henn_ckks::keyswitch::{decompose, inner_product, mod_down};
use henn_ckks::{Context, Encoder, Encryptor, KeyGenerator, Params, ParamsBuilder};

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let logn = args.first().copied().unwrap_or(16) as u32;
    let limbs = args.get(1).copied().unwrap_or(21);
    let dnum = args.get(2).copied().unwrap_or(3);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    pool.install(|| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let b = ParamsBuilder::new(logn)
            .scale_bits(50)
            .levels(limbs - 1)
            .dnum(dnum);
        let params = b.build().or_else(|_| Params::insecure_unchecked(&b))?;
        let ctx = Context::new(params)?;
        let mut kg = KeyGenerator::new(&ctx)?;
        let sk = kg.gen_secret_key();
        let pk = kg.gen_public_key(&sk);
        let rk = kg.gen_relin_key(&sk, None)?;
        let enc = Encoder::new(&ctx);
        let mut e = Encryptor::new(&ctx, pk)?;
        let x = vec![0.5; ctx.slots()];
        let ct = e.encrypt(&enc.encode_real(&x, ctx.max_level(), 2f64.powi(50))?);
        let d = &ct_poly(&ct);
        {
            use henn_ckks::ring::ntt::NttTable;
            for &p in [
                ctx.params().q()[0],
                ctx.params().q()[1],
                ctx.params().p()[0],
            ]
            .iter()
            {
                let t = NttTable::new(ctx.n(), p).ok_or("plan")?;
                let mut buf: Vec<u64> = (0..ctx.n() as u64).map(|i| i % p).collect();
                let t0 = Instant::now();
                for _ in 0..20 {
                    t.forward(&mut buf);
                    t.inverse(&mut buf);
                }
                let per = t0.elapsed().as_secs_f64() / 40.0 * 1e3;
                println!(
                    "NTT p = {p} ({} bits): {per:.3} ms per transform",
                    64 - p.leading_zeros()
                );
            }
        }
        // CPU time of this (the only worker) thread, from the scheduler: immune to the machine
        // being busy, resolution one tick, so each phase runs `reps` times back to back.
        let cpu_ms = || -> f64 {
            std::fs::read_to_string("/proc/thread-self/schedstat")
                .ok()
                .and_then(|s| {
                    s.split_whitespace()
                        .next()
                        .and_then(|v| v.parse::<f64>().ok())
                })
                .unwrap_or(0.0)
                / 1e6
        };
        let reps = 10;
        let dec = decompose(&ctx, d);
        let (a0, b0) = inner_product(&ctx, &dec, &rk, None);
        let c = cpu_ms();
        for _ in 0..reps {
            drop(decompose(&ctx, d));
        }
        let t_dec = (cpu_ms() - c) / reps as f64;
        let c = cpu_ms();
        for _ in 0..reps {
            drop(inner_product(&ctx, &dec, &rk, None));
        }
        let t_ip = (cpu_ms() - c) / reps as f64;
        let c = cpu_ms();
        for _ in 0..reps {
            drop((mod_down(&ctx, a0.clone()), mod_down(&ctx, b0.clone())));
        }
        let t_md = (cpu_ms() - c) / reps as f64;
        for (name, v) in [
            ("decompose (INTT+ModUp+NTT)", t_dec),
            ("inner product", t_ip),
            ("2x ModDown (+2 clones)", t_md),
        ] {
            println!("{name:<28} {v:8.2} ms CPU");
        }
        Ok(())
    })
}

fn ct_poly(ct: &henn_ckks::Ciphertext) -> henn_ckks::RnsPoly {
    ct.c1().clone()
}
