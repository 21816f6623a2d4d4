#!/usr/bin/env bash
# The transfer-learning benchmark (issue 17): frozen MobileNetV2 features of Fashion-MNIST, then
# a two-hidden-layer head trained under CKKS at 128-bit beside its plaintext twin.
#
#   bash scripts/setup-data.sh fashion && bash scripts/setup-data.sh nsfwjs   # once
#   bash scripts/bench-transfer.sh [OUT_DIR]                                  # default target/transfer
#
# Writes OUT_DIR/fashion96-{train,test}.csv (first 1024 training / 2000 test images, 96 features
# of `block_10_project_BN`), OUT_DIR/plain.jsonl (the plaintext trainer), OUT_DIR/run.json (the
# encrypted run: accuracy before/after, twin, weight difference, time per stage) and the
# decrypted weights OUT_DIR/weights.json (+ weights.twin.json), and OUT_DIR/plots/ (accuracy and
# loss per step, encrypted vs plaintext, and time per stage as SVG; the numbers in curves.json).
# About an hour on 2 quiet cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/transfer}"
mkdir -p "$OUT"
cargo build --release --bin henn
HENN=target/release/henn
MODEL=examples/fashion-transfer.henn
TAP=block_10_project_BN
$HENN features fashion-mnist-train --limit 1024 --tap $TAP -o "$OUT/fashion96-train.csv" --json
$HENN features fashion-mnist-test --limit 2000 --tap $TAP -o "$OUT/fashion96-test.csv" --json
DATA=(--data "$OUT/fashion96-train.csv" --test "$OUT/fashion96-test.csv")
$HENN train $MODEL --backend plain "${DATA[@]}" --json > "$OUT/plain.jsonl"
tail -1 "$OUT/plain.jsonl"
/usr/bin/time -v $HENN run $MODEL "${DATA[@]}" --yes --json -o "$OUT/weights.json" --plot "$OUT/plots" > "$OUT/run.json" 2> "$OUT/run.err"
cat "$OUT/run.json"
