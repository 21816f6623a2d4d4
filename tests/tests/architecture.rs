//! The architecture's dependency rules, checked on the workspace as it is (`cargo metadata`) and on
//! the sources of the crates they constrain. ARCHITECTURE.md states them.
//!
//! * no runtime crate depends (directly or through another workspace crate) on a compiler crate;
//! * the server side (`henn-runtime`) depends on nothing owner-only (`henn-owner`) and names no
//!   type that holds or makes a secret key;
//! * the compile stage has no CLI code;
//! * no command module of the CLI imports another.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every workspace package: name → (manifest directory, names of its normal and build
/// dependencies).
fn packages() -> BTreeMap<String, (PathBuf, Vec<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut map = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_owned();
        let dir = PathBuf::from(p["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap()
            .to_path_buf();
        let deps = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect();
        map.insert(name, (dir, deps));
    }
    map
}

/// The workspace crates `name` reaches through normal and build dependencies.
fn reach(pkgs: &BTreeMap<String, (PathBuf, Vec<String>)>, name: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![name.to_owned()];
    while let Some(n) = todo.pop() {
        for d in pkgs.get(&n).map(|p| p.1.clone()).unwrap_or_default() {
            if pkgs.contains_key(&d) && seen.insert(d.clone()) {
                todo.push(d);
            }
        }
    }
    seen
}

fn under(pkgs: &BTreeMap<String, (PathBuf, Vec<String>)>, name: &str, dir: &str) -> bool {
    let base = root().join(dir).canonicalize().unwrap();
    pkgs[name].0.canonicalize().unwrap().starts_with(base)
}

#[test]
fn runtime_crates_depend_on_no_compiler_crate() {
    let pkgs = packages();
    let runtime: Vec<&String> = pkgs.keys().filter(|n| under(&pkgs, n, "runtime")).collect();
    assert!(runtime.len() >= 6, "runtime crates: {runtime:?}");
    for name in runtime {
        let bad: Vec<String> = reach(&pkgs, name)
            .into_iter()
            .filter(|d| under(&pkgs, d, "compiler"))
            .collect();
        assert!(bad.is_empty(), "{name} depends on compiler crates {bad:?}");
    }
}

#[test]
fn the_server_side_has_no_owner_code_and_no_secret_key() {
    let pkgs = packages();
    let deps = reach(&pkgs, "henn-runtime");
    assert!(
        !deps.contains("henn-owner"),
        "henn-runtime reaches henn-owner: {deps:?}"
    );
    let src = root().join("runtime/exec/src");
    let mut files = vec![src];
    let mut checked = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        // Identifiers only (the file module names the secret-key file's *tag*, to refuse it).
        let idents: BTreeSet<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .flat_map(|l| l.split(|c: char| !(c.is_alphanumeric() || c == '_')))
            .collect();
        for word in ["SecretKey", "KeyGenerator", "Decryptor", "gen_secret_key"] {
            assert!(!idents.contains(word), "{} names `{word}`", p.display());
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} files checked");
}

#[test]
fn the_compile_stage_has_no_cli_code() {
    let pkgs = packages();
    let deps = &pkgs["henn-compile"].1;
    for cli in ["clap", "anyhow", "indicatif", "henn-runtime", "henn-owner"] {
        assert!(
            !deps.contains(&cli.to_owned()),
            "henn-compile depends on {cli}"
        );
    }
}

#[test]
fn no_command_module_imports_another() {
    let dir = root().join("compiler/driver/src/cmd");
    let commands: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|s| s != "mod")
        .collect();
    assert!(commands.len() >= 10, "{commands:?}");
    for cmd in &commands {
        let text = std::fs::read_to_string(dir.join(format!("{cmd}.rs"))).unwrap();
        // Only the non-test part of the module counts.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for other in commands.iter().filter(|o| *o != cmd) {
            for path in [format!("super::{other}"), format!("cmd::{other}")] {
                assert!(!code.contains(&path), "command `{cmd}` imports `{path}`");
            }
        }
    }
}
