//! The owner contract: what the compiler writes into the plan lets the owner (who has the plan
//! alone, never the model) start, scale and batch exactly as the plaintext twin does, bit for bit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;

use henn_compile::compile;
use henn_contract::{InitKind, LabelEncoding, TestRule};
use henn_owner::Prepared;
use henn_tir::train::Trainer;

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Every bundled example with training data: the owner's start, scaling and batches from the
/// plan equal the twin's from the model (exact `==` on every f64), for several steps.
#[test]
fn the_owner_reproduces_the_twin_from_the_plan_alone() {
    for name in ["digits-encrypted", "digits-bootstrapped", "binary"] {
        let mut model = henn_sema::check_file(&examples().join(format!("{name}.henn"))).unwrap();
        // A short schedule of the same model (the contract's rules do not depend on its length).
        model.schedule.length = henn_sema::TrainLength::Iterations(3);
        let train_path = model.data.train.clone().unwrap();
        let expect = henn_data::csv::Expect {
            features: Some(model.data.features),
            classes: Some(model.data.classes),
        };
        let train = henn_data::load_spec(&train_path, expect).unwrap();
        if model.data.samples.is_none() {
            model.data.samples = Some(train.len());
        }
        let plan = compile(&model).unwrap().plan;
        henn_owner::job::check_contract(&plan).unwrap();
        // The owner reads its data through the contract alone.
        let owner_train = henn_data::load_spec(&train_path, plan.owner.expect()).unwrap();
        let prepared = Prepared::new(&plan.owner, &owner_train).unwrap();

        let mut twin = Trainer::new(&model, &train).unwrap();
        assert_eq!(prepared.scaler, *twin.scaler(), "{name}: scaling");
        for (slot, t) in twin.state() {
            let s = henn_plan::plan::StateSlot {
                layer: slot.layer.0,
                kind: slot.kind,
            };
            assert_eq!(prepared.initial[&s], t.data, "{name}: initial {slot}");
        }
        assert_eq!(prepared.initial.len(), twin.state().len(), "{name}");
        // The twin's batches: full batches of its epochs, in its order.
        let mut order = Vec::new();
        while order.len() < 3 {
            let epoch = twin.shuffle_epoch();
            for c in epoch.chunks_exact(plan.data.batch_size) {
                order.push(c.to_vec());
            }
        }
        order.truncate(3);
        assert_eq!(prepared.batches, order, "{name}: batch order");
        for (step, chunk) in order.iter().enumerate() {
            let (x, y) = twin.batch(chunk);
            let (ox, oy) = prepared.batch(&plan.owner, step);
            assert_eq!(ox, x, "{name}: features of step {step}");
            assert_eq!(oy, y.data, "{name}: labels of step {step}");
        }
    }
}

/// The contract states the model's rules, typed.
#[test]
fn the_contract_names_what_the_owner_must_do() {
    let model = henn_sema::check_file(&examples().join("digits-bootstrapped.henn")).unwrap();
    let plan = compile(&model).unwrap().plan;
    let c = &plan.owner;
    assert_eq!(c.model, model.name);
    assert_eq!(c.features, 64);
    assert_eq!(c.labels, LabelEncoding::OneHot { classes: 10 });
    assert_eq!(c.init.kind, InitKind::Uniform { lo: -1.0, hi: 1.0 });
    assert_eq!(c.init.seed, model.schedule.seed);
    assert!(c.init.momentum_state, "NAG keeps the previous step");
    assert_eq!(c.batches.batch_size, 256);
    assert_eq!(c.batches.steps, plan.schedule.steps());
    assert_eq!(c.test, TestRule::OwnerEvaluatesInClear);
    assert_eq!(c.layers.len(), 2);
    assert_eq!((c.layers[0].inputs, c.layers[0].outputs), (64, 16));
    // A contract that disagrees with the data contract is refused.
    let mut bad = plan.clone();
    bad.owner.features = 63;
    assert!(henn_owner::job::check_contract(&bad).is_err());
}
