//! Compiling to a plan: parameter selection, the plan file's round trip, and every corruption case
//! rejected with its own error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use henn_compile::{CompileError, compile};
use henn_plan::io::{PlanIoError, from_bytes, to_bytes};
use henn_plan::report::{CostModel, report};

const TOY: &str = r#"
model toy {
  data { features = 6  classes = 3  samples = 8 }
  activation s = poly([0.5, 0.197, 0, -0.004], interval = [-5, 5], derivative = polynomial)
  network {
    dense hidden(4, activation = s)
    dense out(3, activation = s)
  }
  optimizer = sgd(lr = 0.5)
  train { batch = 8  iterations = 1  seed = 3 }
  encryption { security = insecure(ring = 2^12)  scale_bits = 40 }
}
"#;

fn toy_plan() -> henn_plan::Plan {
    let model = henn_sema::check_source("toy.henn", TOY).unwrap();
    compile(&model).unwrap().plan
}

#[test]
fn toy_model_compiles_to_a_valid_plan() {
    let plan = toy_plan();
    assert_eq!(plan.params.log_n, 12);
    assert_eq!(plan.params.security, "insecure");
    assert!(henn_plan::validate::validate_plan(&plan).is_empty());
    // The chain holds the step's depth exactly.
    assert_eq!(plan.params.levels(), plan.schedule.depth_per_step);
    let rep = report(&plan, &CostModel::default());
    let json = serde_json::to_value(&rep).unwrap();
    for key in [
        "depth",
        "levels",
        "bootstraps",
        "rotation_keys",
        "key_bytes",
        "key_switches",
        "op_counts",
        "est_time_s",
        "est_peak_bytes",
        "upload_bytes",
    ] {
        assert!(json.get(key).is_some(), "report lacks `{key}`");
    }
    assert_eq!(rep.rotation_keys, plan.keys.rotations.len());
    // Levels per stage add up to the step's depth; every layer's forward pass is accounted for.
    let stages: Vec<&str> = rep.stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(stages, ["forward", "backward", "update"]);
    assert_eq!(rep.stages.iter().map(|s| s.levels).sum::<u32>(), rep.depth);
    assert_eq!(rep.layers.len(), 2);
    // A forward layer: VR product (3) + the cubic (2).
    assert!(
        rep.layers.iter().all(|l| l.forward_levels == 5),
        "{:?}",
        rep.layers
    );
    assert!(rep.key_switches > 0 && rep.depth > 0);
}

#[test]
fn plan_round_trips_through_bytes() {
    let plan = toy_plan();
    let bytes = to_bytes(&plan).unwrap();
    assert_eq!(from_bytes("p", &bytes).unwrap(), plan);
}

#[test]
fn corrupt_plans_are_rejected_with_a_reason() {
    let bytes = to_bytes(&toy_plan()).unwrap();
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    assert!(matches!(
        from_bytes("p", &flipped),
        Err(PlanIoError::Corrupt { .. })
    ));
    assert!(matches!(
        from_bytes("p", &bytes[..bytes.len() - 10]),
        Err(PlanIoError::Truncated { .. })
    ));
    assert!(matches!(
        from_bytes("p", &bytes[..30]),
        Err(PlanIoError::Truncated { .. })
    ));
    let mut newer = toy_plan();
    newer.format_version = 99;
    assert!(matches!(
        from_bytes("p", &to_bytes(&newer).unwrap()),
        Err(PlanIoError::UnsupportedVersion { found: 99, .. })
    ));
    // A plan of the format before the owner contract (version 2, which carried the source model)
    // is refused before its body is read, with what to do about it.
    let mut old = toy_plan();
    old.format_version = 2;
    let err = from_bytes("old.hplan", &to_bytes(&old).unwrap()).unwrap_err();
    assert!(
        matches!(err, PlanIoError::UnsupportedVersion { found: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("recompile"), "{err}");
    let mut envelope = bytes.clone();
    envelope[4] = 9; // the envelope's own format version
    assert!(matches!(
        from_bytes("p", &envelope),
        Err(PlanIoError::UnsupportedVersion { found: 9, .. })
    ));
    let mut other_type = bytes.clone();
    other_type[6] = 3; // the envelope's type tag: a ciphertext, not a plan
    assert!(matches!(
        from_bytes("p", &other_type),
        Err(PlanIoError::NotAPlan { .. })
    ));
    assert!(matches!(
        from_bytes("p", b"not a plan at all"),
        Err(PlanIoError::NotAPlan { .. })
    ));
    assert!(matches!(
        from_bytes("p", &[]),
        Err(PlanIoError::NotAPlan { .. })
    ));
}

#[test]
fn invalid_plans_are_rejected_on_load() {
    let mut plan = toy_plan();
    // A rotation whose key is not in the manifest.
    plan.keys.rotations.clear();
    let bytes = to_bytes(&plan).unwrap();
    match from_bytes("p", &bytes) {
        Err(PlanIoError::Invalid { errors, .. }) => {
            assert!(
                errors.iter().any(|e| matches!(
                    e,
                    henn_plan::validate::PlanError::Instr {
                        op: "rotate",
                        problem: henn_plan::validate::InstrError::MissingRotationKey { .. },
                        ..
                    }
                )),
                "{errors:?}"
            );
            assert!(
                errors
                    .iter()
                    .any(|e| e.to_string().contains("has no key in the manifest")),
                "{errors:?}"
            )
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let mut plan = toy_plan();
    plan.params.q.truncate(2);
    let bytes = to_bytes(&plan).unwrap();
    assert!(matches!(
        from_bytes("p", &bytes),
        Err(PlanIoError::Invalid { .. })
    ));
}

#[test]
fn too_deep_without_bootstrapping_names_the_numbers() {
    let src = TOY.replace("iterations = 1", "iterations = 400").replace(
        "security = insecure(ring = 2^12)",
        "security = 128  bootstrapping = off",
    );
    let model = henn_sema::check_source("deep.henn", &src).unwrap();
    let err = compile(&model).unwrap_err();
    assert!(matches!(err, CompileError::TooDeep { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("400 steps") && msg.contains("enable bootstrapping"),
        "{msg}"
    );
}

#[test]
fn a_long_schedule_compiles_to_a_secure_bootstrapping_plan() {
    // 400 steps hold in no 128-bit chain; with `bootstrapping = auto` the compiler bootstraps.
    let src = TOY
        .replace("iterations = 1", "iterations = 400")
        .replace("security = insecure(ring = 2^12)", "security = 128");
    let model = henn_sema::check_source("long.henn", &src).unwrap();
    let plan = compile(&model).unwrap().plan;
    let boot = plan.bootstrap.as_ref().expect("a bootstrapping plan");
    assert!(henn_plan::validate::validate_plan(&plan).is_empty());
    assert_eq!(plan.params.security, "128");
    assert!(plan.params.log2_qp <= 1747.0 || plan.params.log_n > 16);
    // Level-invariant loop body: the program stays within the levels between bootstraps.
    assert!(plan.schedule.depth_per_step <= boot.usable_levels);
    assert!(boot.usable_levels >= 3 && boot.input_level <= plan.params.levels());
    assert!(plan.keys.bootstrap);
    assert!(!boot.rotations.is_empty());
    let rep = report(&plan, &CostModel::default());
    assert_eq!(rep.bootstraps_per_step, u64::from(boot.per_step));
    assert_eq!(rep.bootstraps, 400 * rep.bootstraps_per_step);
    assert!(rep.bootstrap_time_share > 0.0 && rep.bootstrap_time_share < 1.0);
    let json = serde_json::to_value(&rep).unwrap();
    assert!(json.get("bootstrap_time_share").is_some());
    // The plan file round-trips with its bootstrap section.
    let back = from_bytes("p", &to_bytes(&plan).unwrap()).unwrap();
    assert_eq!(back.bootstrap, plan.bootstrap);
}
