//! Packed state refreshes (issue 16): the bootstraps per step drop against the greedy baseline
//! (`CompileOptions { pack_refreshes: false }`), on a 4 → 8 → 3 NAG toy and on
//! `examples/digits-bootstrapped.henn`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use henn_compile::{CompileOptions, compile_with};
use henn_plan::report::{CostModel, report};

const NAG_TOY: &str = r#"
model toy {
  data { features = 4  classes = 3  samples = 8 }
  activation s = poly([0.5, 0.197, 0, -0.004], interval = [-5, 5], derivative = polynomial)
  network {
    dense hidden(8, activation = s)
    dense out(3, activation = s)
  }
  optimizer = nag(lr = 0.5, momentum = nesterov)
  train { batch = 8  iterations = 10  seed = 3 }
  encryption { security = insecure(ring = 2^10)  scale_bits = 40  bootstrapping = on }
}
"#;

/// (bootstraps per step, estimated seconds) packed and unpacked (printed with compile times).
fn both(src: &str, name: &str) -> ((u32, f64), (u32, f64)) {
    let model = henn_sema::check_source(name, src).unwrap();
    let cost = CostModel::default();
    let run = |pack: bool| {
        let start = std::time::Instant::now();
        let plan = compile_with(
            &model,
            &CompileOptions {
                pack_refreshes: pack,
                ..CompileOptions::default()
            },
        )
        .unwrap()
        .plan;
        let seconds = start.elapsed().as_secs_f64();
        let rep = report(&plan, &cost);
        eprintln!(
            "{name} pack={pack}: {} bootstraps per step, est {:.1} s per step ({:.0} % \
             bootstrapping), {} key switches per step, {} slots, compiled in {seconds:.2} s",
            rep.bootstraps_per_step,
            rep.est_step_time_s,
            100.0 * rep.bootstrap_time_share,
            rep.key_switches,
            rep.bootstrap_slots,
        );
        let per_step = plan.bootstrap.as_ref().map_or(0, |b| b.per_step);
        (per_step, rep.est_time_s)
    };
    let (packed, baseline) = (run(true), run(false));
    eprintln!("{name}: packed {packed:?}, unpacked {baseline:?}");
    (packed, baseline)
}

#[test]
fn packing_cuts_the_bootstraps_of_a_nag_toy() {
    let (packed, baseline) = both(NAG_TOY, "toy.henn");
    assert!(packed.0 < baseline.0, "{packed:?} vs {baseline:?}");
    assert!(packed.1 <= baseline.1, "{packed:?} vs {baseline:?}");
}

#[test]
fn packing_cuts_the_bootstraps_of_digits_bootstrapped() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/digits-bootstrapped.henn"
    );
    let src = std::fs::read_to_string(path).unwrap();
    let (packed, baseline) = both(&src, "digits-bootstrapped.henn");
    assert!(packed.0 < baseline.0, "{packed:?} vs {baseline:?}");
    assert!(packed.1 < baseline.1, "{packed:?} vs {baseline:?}");
}

/// The seed model (`bootstrapping = auto`): packing never makes the chosen plan slower.
#[test]
fn packing_never_slows_the_seed_plan() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed.henn");
    let src = std::fs::read_to_string(path).unwrap();
    let (packed, baseline) = both(&src, "seed.henn");
    assert!(packed.1 <= baseline.1, "{packed:?} vs {baseline:?}");
}
