//! The user's journey after a run (issue 18): decrypting with only the plan, the secret key and
//! the state (the owner record carries the scaling); resuming the server's state; JSON progress
//! events; one figure for key and upload sizes. Toy insecure rings, separate processes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;
use std::process::Output;

use common::{fails_with, henn, json_lines, ok, read_json, train_csv};

/// The toy model without its hidden layer, in three steps with Nesterov momentum (a coefficient
/// per step), so a resumed run that got the step number, the momentum state or the batch order
/// wrong would end elsewhere.
fn model() -> String {
    common::tiny(train_csv().to_str().unwrap())
        .replace("    dense hidden(4, activation = s)\n", "")
        .replace("sgd(lr = 1)", "nag(lr = 1, momentum = nesterov)")
        .replace("iterations = 2", "iterations = 3")
}

/// compile + keygen (`sk.hkey`, `keys.hkeys`, `pk.hpub`) + encrypt with the secret key
/// (`data.hct`, owner record `sk.owner`).
fn setup(dir: &Path) {
    std::fs::write(dir.join("tiny.henn"), model()).unwrap();
    ok(&henn(dir, &["compile", "tiny.henn", "-o", "tiny.hplan"]));
    keygen(dir, "sk.hkey", "keys.hkeys", "pk.hpub");
    common::encrypt(dir, "tiny.hplan", &["--secret-key", "sk.hkey"], "data.hct");
}

/// A key generation for `tiny.hplan` (`--json`: its output names the sizes).
fn keygen(dir: &Path, sk: &str, keys: &str, pk: &str) -> Output {
    common::keygen(dir, "tiny.hplan", sk, keys, &["--public-key", pk, "--json"])
}

/// The server on `tiny.hplan` with `keys.hkeys` and `data.hct`.
fn serve(dir: &Path, extra: &[&str], out: &str) -> Output {
    common::serve(dir, "tiny.hplan", "keys.hkeys", "data.hct", out, extra)
}

/// The owner decrypting `state` with `sk.hkey`.
fn decrypt(dir: &Path, state: &str, extra: &[&str], out: &str) -> Output {
    common::decrypt(dir, state, "tiny.hplan", "sk.hkey", out, extra)
}

#[test]
fn decrypt_needs_only_the_plan_the_secret_key_and_the_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let record = dir.join("sk.owner");
    assert!(
        record.exists(),
        "encrypt leaves the owner record beside the secret key"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&record).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the owner record is the owner's only");
    }
    ok(&serve(dir, &[], "state.hct"));
    ok(&decrypt(dir, "state.hct", &[], "w.json"));
    // The same weights and scaling as refitting on the data (the old way, kept as a fallback).
    let csv = train_csv();
    ok(&decrypt(
        dir,
        "state.hct",
        &["--data", csv.to_str().unwrap()],
        "w-data.json",
    ));
    assert_eq!(read_json(dir, "w.json"), read_json(dir, "w-data.json"));
    let w = read_json(dir, "w.json");
    assert_eq!(w["steps"], 3, "{w}");
    // The weights evaluate with the recorded scaling.
    ok(&henn(
        dir,
        &[
            "evaluate",
            "tiny.henn",
            "--weights",
            "w.json",
            "--test",
            csv.to_str().unwrap(),
        ],
    ));

    // With only the public key, encrypt asks where the record goes.
    fails_with(
        &henn(
            dir,
            &[
                "encrypt",
                "tiny.hplan",
                "--data",
                csv.to_str().unwrap(),
                "--public-key",
                "pk.hpub",
                "-o",
                "d2.hct",
            ],
        ),
        "--owner-file",
    );
    assert!(!dir.join("d2.hct").exists());
    // No record: a clear error naming it and the way out; nothing written.
    std::fs::rename(&record, dir.join("moved.owner")).unwrap();
    fails_with(&decrypt(dir, "state.hct", &[], "w2.json"), "sk.owner");
    assert!(!dir.join("w2.json").exists());
    ok(&decrypt(
        dir,
        "state.hct",
        &["--owner-file", "moved.owner"],
        "w2.json",
    ));
    // A record of another key generation is refused by name.
    keygen(dir, "sk2.hkey", "keys2.hkeys", "pk2.hpub");
    common::encrypt(
        dir,
        "tiny.hplan",
        &["--public-key", "pk2.hpub", "--owner-file", "other.owner"],
        "d2.hct",
    );
    let out = decrypt(
        dir,
        "state.hct",
        &["--owner-file", "other.owner"],
        "w3.json",
    );
    fails_with(&out, "different key generations");
    // A record that is not one (here: the plan) is refused by its header.
    fails_with(
        &decrypt(dir, "state.hct", &["--owner-file", "tiny.hplan"], "w3.json"),
        "owner record",
    );
    assert!(!dir.join("w3.json").exists());
}

#[test]
fn serve_resumes_where_a_run_stopped_and_ends_where_one_run_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    ok(&serve(dir, &[], "full.hct"));
    // One step, then the remaining two from the saved state.
    let out = serve(dir, &["--iterations", "1"], "s1.hct");
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--resume"));
    ok(&decrypt(dir, "s1.hct", &[], "w1.json"));
    assert_eq!(read_json(dir, "w1.json")["steps"], 1);
    ok(&serve(
        dir,
        &["--resume", "s1.hct", "--iterations", "2"],
        "s2.hct",
    ));
    ok(&serve(dir, &["--resume", "s2.hct"], "s3.hct"));
    ok(&decrypt(dir, "full.hct", &[], "full.json"));
    ok(&decrypt(dir, "s3.hct", &[], "resumed.json"));
    let (full, resumed) = (read_json(dir, "full.json"), read_json(dir, "resumed.json"));
    // The server's arithmetic is exact and deterministic: the same ciphertexts, so the same
    // decrypted weights to the last bit.
    assert_eq!(full, resumed);
    assert_ne!(full["layers"], read_json(dir, "w1.json")["layers"]);

    // Nothing left to train.
    fails_with(
        &serve(dir, &["--resume", "full.hct"], "x.hct"),
        "nothing is left to train",
    );
    // A stop before the state's step.
    fails_with(
        &serve(dir, &["--resume", "s2.hct", "--iterations", "1"], "x.hct"),
        "has completed 2",
    );
    fails_with(&serve(dir, &["--iterations", "4"], "x.hct"), "has 3 steps");
    // The data bundle is not a state, and a state is not data.
    fails_with(
        &serve(dir, &["--resume", "data.hct"], "x.hct"),
        "not a trained state",
    );
    fails_with(
        &common::serve(dir, "tiny.hplan", "keys.hkeys", "s1.hct", "x.hct", &[]),
        "--resume",
    );
    // A state of another key generation.
    keygen(dir, "sk2.hkey", "keys2.hkeys", "pk2.hpub");
    common::encrypt(dir, "tiny.hplan", &["--secret-key", "sk2.hkey"], "d2.hct");
    let out = common::serve(
        dir,
        "tiny.hplan",
        "keys2.hkeys",
        "d2.hct",
        "x.hct",
        &["--resume", "s1.hct"],
    );
    fails_with(&out, "different key generations");
    assert!(!dir.join("x.hct").exists());
}

#[test]
fn json_progress_events_and_one_size_for_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    // `run --json`: stage events in order, one step event per step, the summary last.
    let out = henn(dir, &["run", "tiny.henn", "--json"]);
    ok(&out);
    let lines = json_lines(&out);
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "final", "{last}");
    let started: Vec<_> = lines
        .iter()
        .filter(|l| l["event"] == "stage" && l["status"] == "start")
        .map(|l| l["stage"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        started,
        [
            "compile",
            "keygen",
            "encrypt",
            "train",
            "decrypt",
            "plaintext"
        ]
    );
    let ended = lines
        .iter()
        .filter(|l| l["event"] == "stage" && l["status"] == "end")
        .count();
    assert_eq!(ended, started.len());
    let steps: Vec<_> = lines.iter().filter(|l| l["event"] == "step").collect();
    assert_eq!(steps.len(), 3);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["step"], i + 1);
        assert_eq!(s["steps"], 3);
        assert!(s["elapsed_s"].as_f64().unwrap() >= 0.0);
        assert!(s["eta_s"].as_f64().unwrap() >= 0.0);
    }
    assert_eq!(steps[2]["eta_s"], 0.0);

    // `serve --json`: the same kind of events.
    let out = serve(dir, &["--json"], "state.hct");
    ok(&out);
    let lines = json_lines(&out);
    assert_eq!(lines.iter().filter(|l| l["event"] == "step").count(), 3);
    assert_eq!(lines.last().unwrap()["event"], "final");
    assert_eq!(lines.last().unwrap()["steps"], 3);

    // Key and upload sizes: `report`, `run` (both backends) and the files keygen and encrypt
    // wrote tell one story.
    let report = henn(dir, &["report", "tiny.hplan", "--json"]);
    ok(&report);
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let key_bytes = report["key_bytes"].as_u64().unwrap();
    assert_eq!(last["key_bytes"].as_u64().unwrap(), key_bytes);
    assert_eq!(last["upload_bytes"], report["upload_bytes"]);
    let sim = henn(dir, &["run", "tiny.henn", "--json", "--backend", "sim"]);
    ok(&sim);
    let sim = json_lines(&sim).pop().unwrap();
    assert_eq!(sim["key_bytes"].as_u64().unwrap(), key_bytes);
    let keygen = keygen(dir, "sk3.hkey", "keys3.hkeys", "pk3.hpub");
    let file = json_lines(&keygen)[0]["eval_key_bytes"].as_u64().unwrap();
    let close = |a: u64, b: u64| (a as f64 - b as f64).abs() <= 0.01 * b as f64;
    assert!(close(file, key_bytes), "file {file} vs report {key_bytes}");
    assert!(close(
        std::fs::metadata(dir.join("keys.hkeys")).unwrap().len(),
        key_bytes
    ));
    let data = std::fs::metadata(dir.join("data.hct")).unwrap().len();
    let upload = report["upload_bytes"].as_u64().unwrap() - key_bytes;
    assert!(close(data, upload), "bundle {data} vs report {upload}");
}

#[test]
fn run_plots_accuracy_loss_and_stage_times() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("tiny.henn"), model()).unwrap();
    let out = henn(dir, &["run", "tiny.henn", "--plot", "plots", "--json"]);
    ok(&out);
    for f in ["accuracy.svg", "loss.svg", "stages.svg"] {
        let svg = std::fs::read_to_string(dir.join("plots").join(f)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{f}"
        );
    }
    let acc = std::fs::read_to_string(dir.join("plots/accuracy.svg")).unwrap();
    assert!(acc.contains("encrypted") && acc.contains("plaintext twin"));
    let stages = std::fs::read_to_string(dir.join("plots/stages.svg")).unwrap();
    for s in ["keygen", "encrypt", "train", "decrypt"] {
        assert!(stages.contains(s), "{s}");
    }
    let curves = read_json(dir, "plots/curves.json");
    assert_eq!(curves["measured_on"], "training");
    let (enc, twin) = (
        curves["encrypted"].as_array().unwrap(),
        curves["plaintext_twin"].as_array().unwrap(),
    );
    assert_eq!(enc.len(), 4, "before training and after each of 3 steps");
    assert_eq!(twin.len(), 4);
    for (e, t) in enc.iter().zip(twin) {
        assert_eq!(e["step"], t["step"]);
        let d = (e["loss"].as_f64().unwrap() - t["loss"].as_f64().unwrap()).abs();
        assert!(d < 1e-4, "encrypted loss off the twin's by {d}");
    }
    // The losses move: the charts show training, not a flat line.
    assert_ne!(enc[0]["loss"], enc[3]["loss"]);
    // A --plot path that cannot be a directory: a clear error, no panic.
    std::fs::write(dir.join("file"), "x").unwrap();
    let out = henn(
        dir,
        &["run", "tiny.henn", "--plot", "file", "--backend", "sim"],
    );
    fails_with(&out, "file");
}

#[test]
fn train_plots_accuracy_and_loss_after_every_step() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("tiny.henn"), model()).unwrap();
    // `henn train tiny.henn --backend plain EXTRA...`
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "tiny.henn", "--backend", "plain"];
        args.extend(extra);
        henn(dir, &args)
    };
    let out = train(&["--plot", "plots", "--json"]);
    ok(&out);
    // One point before training and one after each of the 3 steps, a marker on each.
    for f in ["accuracy.svg", "loss.svg"] {
        let svg = std::fs::read_to_string(dir.join("plots").join(f)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{f}"
        );
        assert!(svg.contains("plaintext"), "{f} has no legend");
        assert_eq!(svg.matches("<circle").count(), 4, "{f}");
    }
    // No encrypted curve and no stages in the clear.
    assert!(!dir.join("plots/stages.svg").exists());
    let curves = read_json(dir, "plots/curves.json");
    assert_eq!(curves["measured_on"], "training");
    assert!(curves.get("encrypted").is_none(), "{curves}");
    let points = curves["plaintext"].as_array().unwrap();
    let steps: Vec<f64> = points.iter().map(|p| p["step"].as_f64().unwrap()).collect();
    assert_eq!(steps, [0.0, 1.0, 2.0, 3.0]);
    for p in points {
        let acc = p["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{p}");
        assert!(p["loss"].as_f64().unwrap().is_finite(), "{p}");
    }
    assert_ne!(points[0]["loss"], points[3]["loss"], "the loss moves");
    // With a test set the curves are measured on it; a --plot path that cannot be a directory
    // is refused before training.
    let out = train(&["--test", train_csv().to_str().unwrap(), "--plot", "plots2"]);
    ok(&out);
    assert_eq!(read_json(dir, "plots2/curves.json")["measured_on"], "test");
    std::fs::write(dir.join("file"), "x").unwrap();
    let out = train(&["--plot", "file"]);
    fails_with(&out, "file");
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "nothing trained"
    );
}
