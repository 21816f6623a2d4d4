//! The harness the driver's integration tests share (`mod common;` in each): the `henn` binary
//! run in a directory, exit-status checks, the bundled data, the toy model, JSON output, and the
//! owner's and server's roles as commands.

#![allow(dead_code)] // each test binary uses its own part
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A toy model on the bundled breast-cancer split (30 features, one class): 30 → 4 → 1 with the
/// paper's cubic, two SGD steps of 8 on an insecure 2^12 ring. `TRAIN` stands for the training
/// data's path ([`tiny`] fills it in).
pub const TINY: &str = r#"
model tiny {
  data { features = 30  classes = 1  scaling = minmax  train = "TRAIN" }
  activation s = poly([0.5, 0.197, 0, -0.004], interval = [-5, 5], derivative = polynomial)
  network {
    dense hidden(4, activation = s)
    dense out(1, activation = s)
  }
  optimizer = sgd(lr = 1)
  train { batch = 8  iterations = 2  seed = 5 }
  encryption { security = insecure(ring = 2^12)  scale_bits = 40 }
}
"#;

/// [`TINY`] training on `train`.
pub fn tiny(train: &str) -> String {
    TINY.replace("TRAIN", train)
}

/// The repository's root (`henn check examples/...` runs there).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A bundled data file, `examples/data/NAME`.
pub fn data(name: &str) -> PathBuf {
    root().join("examples/data").join(name)
}

/// The bundled breast-cancer training split ([`TINY`]'s data).
pub fn train_csv() -> PathBuf {
    data("breast-cancer-train.csv")
}

/// Runs `henn ARGS...` in `dir` and waits for it.
pub fn henn(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_henn"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// The command succeeded (else its stdout and stderr are shown).
pub fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The command exited with 1 and its stderr names `needle`.
pub fn fails_with(out: &Output, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "stderr lacks `{needle}`: {err}");
}

/// Every stdout line as JSON (`--json`: progress events, then the result).
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The last line of a command's stdout as JSON (`--json` prints progress events first).
pub fn last_json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).unwrap()
}

/// The JSON file `dir/f`.
pub fn read_json(dir: &Path, f: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
}

/// `henn keygen PLAN --secret-key SK --eval-keys KEYS EXTRA...`, which must succeed.
pub fn keygen(dir: &Path, plan: &str, sk: &str, keys: &str, extra: &[&str]) -> Output {
    let mut args = vec!["keygen", plan, "--secret-key", sk, "--eval-keys", keys];
    args.extend(extra);
    let out = henn(dir, &args);
    ok(&out);
    out
}

/// `henn encrypt PLAN --data TRAIN KEY... -o OUT` of [`train_csv`], which must succeed; `key` is
/// how (`--secret-key SK`, or `--public-key PK --owner-file F`).
pub fn encrypt(dir: &Path, plan: &str, key: &[&str], out: &str) {
    let csv = train_csv();
    let mut args = vec!["encrypt", plan, "--data", csv.to_str().unwrap()];
    args.extend(key);
    args.extend(["-o", out]);
    ok(&henn(dir, &args));
}

/// `henn serve PLAN --eval-keys KEYS --data DATA -o OUT EXTRA...`.
pub fn serve(dir: &Path, plan: &str, keys: &str, data: &str, out: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "serve",
        plan,
        "--eval-keys",
        keys,
        "--data",
        data,
        "-o",
        out,
    ];
    args.extend(extra);
    henn(dir, &args)
}

/// `henn decrypt STATE --plan PLAN --secret-key SK -o OUT EXTRA...`.
pub fn decrypt(dir: &Path, state: &str, plan: &str, sk: &str, out: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "decrypt",
        state,
        "--plan",
        plan,
        "--secret-key",
        sk,
        "-o",
        out,
    ];
    args.extend(extra);
    henn(dir, &args)
}
