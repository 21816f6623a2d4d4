//! Packed state refreshes (issue 16): the bootstraps per step drop against the greedy baseline
//! (`CompileOptions { pack_refreshes: false }`), on a 4 → 8 → 3 NAG toy and on
//! `examples/digits-bootstrapped.henn`. Cost-driven placement: never slower than the greedy one
//! (`CompileOptions { cost_placement: false }`), and the plan names every bootstrap.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use henn_compile::{CompileOptions, compile_with};
use henn_plan::Plan;
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

fn plan(cost_placement: bool) -> Plan {
    let model = henn_sema::check_source("toy.henn", NAG_TOY).unwrap();
    let options = CompileOptions {
        cost_placement,
        ..CompileOptions::default()
    };
    compile_with(&model, &options).unwrap().plan
}

#[test]
fn the_cost_driven_plan_is_no_slower_than_the_greedy_one() {
    let cost = CostModel::default();
    let (chosen, greedy) = (plan(true), plan(false));
    let (tc, tg) = (report(&chosen, &cost), report(&greedy, &cost));
    eprintln!(
        "4 → 8 → 3: cost-driven {} bootstraps, {:.2} s; greedy {} bootstraps, {:.2} s",
        tc.bootstraps_per_step, tc.est_time_s, tg.bootstraps_per_step, tg.est_time_s
    );
    assert!(tc.est_time_s <= tg.est_time_s * (1.0 + 1e-12));
    // On this toy ring: 3 against greedy's 4 (issue 16's target of 2 is at 128-bit, N = 2^16,
    // where the scan keeps 12 levels between bootstraps: measured with `henn compile`).
    assert!(tc.bootstraps_per_step < tg.bootstraps_per_step);
    let p = tc.placement.as_ref().expect("a bootstrapping plan");
    assert_eq!(p.bootstraps as u64, tc.bootstraps_per_step);
    let (gb, gt) = p.greedy.expect("the greedy baseline exists");
    assert!(p.est_step_s <= gt && (p.method != "greedy" || gb == p.bootstraps));
    assert_eq!(
        report(&greedy, &cost).placement.map(|p| p.method),
        Some("greedy".to_owned())
    );
}

#[test]
fn the_plan_names_every_bootstrap_and_its_share() {
    let cost = CostModel::default();
    let p = plan(true);
    let boot = p.bootstrap.as_ref().unwrap();
    assert_eq!(boot.sites.len(), boot.per_step as usize);
    let rep = report(&p, &cost);
    assert_eq!(rep.bootstrap_sites.len(), boot.sites.len());
    for s in &rep.bootstrap_sites {
        assert!(!s.refreshes.is_empty() && s.slots > 0, "{s:?}");
        assert!(s.slots <= rep.slots);
        assert!(s.input_depth <= boot.usable_levels);
    }
    let shares: f64 = rep.bootstrap_sites.iter().map(|s| s.share).sum();
    assert!((shares - rep.bootstrap_time_share).abs() < 1e-9);
    // Every state output is refreshed by a named bootstrap (packed or alone).
    for o in &p.data.outputs {
        assert!(
            boot.sites.iter().any(|s| s.refreshes.contains(&o.name)),
            "{} is refreshed by no named bootstrap: {:?}",
            o.name,
            boot.sites
        );
    }
    let text = rep.to_text();
    assert!(text.contains("placement   "), "{text}");
    assert!(text.contains("    #1 "), "{text}");
    // The sites survive the file format.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("toy.hplan");
    henn_plan::io::save(&p, &path).unwrap();
    assert_eq!(
        henn_plan::io::load(&path).unwrap().bootstrap.unwrap().sites,
        boot.sites
    );
}

/// A plan whose bootstrap section names fewer bootstraps than its program runs is refused.
#[test]
fn a_plan_with_unnamed_bootstraps_is_invalid() {
    let mut p = plan(true);
    if let Some(b) = p.bootstrap.as_mut() {
        b.sites.pop();
    }
    let errors = henn_plan::validate::validate_plan(&p);
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, henn_plan::validate::PlanError::BootstrapSites { .. })),
        "{errors:?}"
    );
}
