//! Issue 19: a command stopped by SIGTERM/SIGINT leaves no temporary file and no half-written
//! output. `keygen` is stopped at several moments (before, while and after it writes its three
//! files); whatever the moment, the directory holds only complete outputs, and an interrupted run
//! says so and exits 130.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

/// `keygen` of the shared toy model on a 2^13 ring takes long enough to be caught writing.
fn model() -> String {
    common::tiny(common::train_csv().to_str().unwrap()).replace("ring = 2^12", "ring = 2^13")
}

fn henn(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_henn"));
    c.current_dir(dir);
    c
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.contains(".tmp"))
        .collect()
}

#[test]
fn a_signal_leaves_no_temporary_and_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let model = model();
    assert!(model.contains("ring = 2^13"));
    std::fs::write(dir.path().join("tiny.henn"), model).unwrap();
    common::ok(&common::henn(
        dir.path(),
        &["compile", "tiny.henn", "-o", "tiny.hplan"],
    ));

    let mut interrupted = 0;
    for (k, delay_ms) in [5u64, 30, 80, 150, 300, 600, 1200].into_iter().enumerate() {
        let (sk, ek, pk) = (format!("sk{k}"), format!("ek{k}"), format!("pk{k}"));
        let child = henn(dir.path())
            .args([
                "keygen",
                "tiny.hplan",
                "--secret-key",
                &sk,
                "--eval-keys",
                &ek,
            ])
            .args(["--public-key", &pk])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            temporaries(dir.path()).is_empty(),
            "after {delay_ms} ms: {:?}",
            temporaries(dir.path())
        );
        match out.status.code() {
            Some(0) => {
                // Finished before the signal: every output complete (a reader accepts them).
                for f in [&sk, &ek, &pk] {
                    assert!(
                        dir.path().join(f).exists(),
                        "{f} missing after a complete keygen"
                    );
                }
                common::ok(&common::henn(dir.path(), &["report", "tiny.hplan"]));
            }
            Some(130) => {
                assert!(killed.success());
                assert!(err.contains("interrupted"), "{err}");
                interrupted += 1;
            }
            None if out.status.signal() == Some(15) => {
                // Signalled before the handler was installed (at start-up): nothing written yet.
                for f in [&sk, &ek, &pk] {
                    assert!(
                        !dir.path().join(f).exists(),
                        "{f} written before the handler?"
                    );
                }
            }
            other => panic!("keygen stopped after {delay_ms} ms exited {other:?}: {err}"),
        }
        // Whatever exists is whole: the owner's decrypt path loads the secret key.
        if dir.path().join(&sk).exists() {
            let bytes = std::fs::read(dir.path().join(&sk)).unwrap();
            assert!(
                bytes.len() > 1000 && &bytes[..4] == b"HENN",
                "partial secret key {sk}"
            );
        }
    }
    assert!(
        interrupted > 0,
        "no keygen was still running when signalled"
    );
}
