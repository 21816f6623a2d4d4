#!/usr/bin/env bash
# Side-by-side CKKS latency: henn vs the OpenFHE and SEAL anchors, in the same job.
#
#   bash benches/ckks_vs_openfhe.sh [ARGS]
#   bash benches/ckks_vs_openfhe.sh --logn 16 --limbs 21 --dnum 3 --reps 5
#
# ARGS (--logn, --limbs, --dnum, --reps, --ops, --first-bits, --scale-bits, --warmup, --seed)
# go unchanged to `henn bench ops` and to the anchor script. Runs henn first, then the anchors
# (`../shared/anchors/run.sh` relative to the repository; override with ANCHORS_DIR), keeps
# every JSON line under $OUT_DIR (default target/ckks-vs-openfhe), and prints per op: the henn,
# OpenFHE and SEAL medians and the ratios henn/OpenFHE and henn/SEAL (lower is better for henn).
# Environment: ANCHORS_DIR, OUT_DIR, HENN_BIN (skip the cargo build and use this binary),
# CARGO_TARGET_DIR (as usual).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ANCHORS_DIR="${ANCHORS_DIR:-$REPO/../shared/anchors}"
OUT_DIR="${OUT_DIR:-$REPO/target/ckks-vs-openfhe}"
mkdir -p "$OUT_DIR"
[ -f "$ANCHORS_DIR/run.sh" ] || { echo "ckks_vs_openfhe: no run.sh in $ANCHORS_DIR (set ANCHORS_DIR)" >&2; exit 2; }

henn_out="$OUT_DIR/henn.jsonl"
anchors_out="$OUT_DIR/anchors.jsonl"

echo "ckks_vs_openfhe: henn bench ops $*" >&2
if [ -n "${HENN_BIN:-}" ]; then
    "$HENN_BIN" bench ops "$@" > "$henn_out"
else
    (cd "$REPO" && cargo run --quiet --release --bin henn -- bench ops "$@") > "$henn_out"
fi
echo "ckks_vs_openfhe: anchors $*" >&2
bash "$ANCHORS_DIR/run.sh" "$@" > "$anchors_out" || echo "ckks_vs_openfhe: WARNING: anchor run failed; partial table" >&2

python3 "$REPO/benches/ckks_vs_openfhe.py" "$henn_out" "$anchors_out"
