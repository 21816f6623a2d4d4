#!/usr/bin/env bash
# CKKS bootstrapping at N = 2^16: henn vs OpenFHE 1.6.1, in the same job.
#
#   bash benches/bootstrap_vs_openfhe.sh                       # 2 reps, 1 warm-up, 9 levels
#   REPS=3 BOOT_LEVELS=10 bash benches/bootstrap_vs_openfhe.sh
#
# 1. `henn bench ops --ops bootstrap --logn 16` (StC-first real bootstrap of all 2^15 slots,
#    128-bit dense main key, h = 32 encapsulation, BOOT_LEVELS usable levels of 40 bits);
# 2. `ANCHORS_LIBS=openfhe run.sh --logn 16 --ops bootstrap --reps REPS` (OpenFHE's
#    StC-first bootstrap with its defaults, dense secret; see shared/anchors/README.md);
# then prints both lines side by side and the henn/OpenFHE ratios of the wall-clock and CPU
# medians (cpu_util tells whether the machine was quiet). The two runs are sequential, never
# concurrent: each needs ~8–10 GiB. Lines are kept under $OUT_DIR (default
# target/bootstrap-vs-openfhe). Environment: ANCHORS_DIR, OUT_DIR, HENN_BIN (use this binary
# instead of building), REPS, WARMUP, BOOT_LEVELS, THREADS, CARGO_TARGET_DIR.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ANCHORS_DIR="${ANCHORS_DIR:-$REPO/../shared/anchors}"
OUT_DIR="${OUT_DIR:-$REPO/target/bootstrap-vs-openfhe}"
REPS="${REPS:-2}"
WARMUP="${WARMUP:-1}"
BOOT_LEVELS="${BOOT_LEVELS:-9}"
THREADS="${THREADS:-1}"
mkdir -p "$OUT_DIR"
[ -f "$ANCHORS_DIR/run.sh" ] || { echo "bootstrap_vs_openfhe: no run.sh in $ANCHORS_DIR (set ANCHORS_DIR)" >&2; exit 2; }

henn_out="$OUT_DIR/henn.jsonl"
anchors_out="$OUT_DIR/openfhe.jsonl"
args=(bench ops --ops bootstrap --logn 16 --reps "$REPS" --warmup "$WARMUP" --boot-levels "$BOOT_LEVELS" --threads "$THREADS")

echo "bootstrap_vs_openfhe: henn ${args[*]}" >&2
if [ -n "${HENN_BIN:-}" ]; then
    "$HENN_BIN" "${args[@]}" > "$henn_out"
else
    (cd "$REPO" && cargo run --quiet --release --bin henn -- "${args[@]}") > "$henn_out"
fi
echo "bootstrap_vs_openfhe: OpenFHE (anchors) --logn 16 --ops bootstrap --reps $REPS" >&2
threads_arg=()
[ "$THREADS" != 1 ] && threads_arg=(--threads "$THREADS")
ANCHORS_LIBS=openfhe bash "$ANCHORS_DIR/run.sh" --logn 16 --ops bootstrap --reps "$REPS" "${threads_arg[@]}" > "$anchors_out" \
    || echo "bootstrap_vs_openfhe: WARNING: anchor run failed; henn only" >&2

python3 - "$henn_out" "$anchors_out" <<'PY'
import json, sys

def load(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    rec = json.loads(line)
                    out[(rec.get("lib"), rec.get("op"))] = rec
    except FileNotFoundError:
        pass
    return out

recs = load(sys.argv[1])
recs.update(load(sys.argv[2]))
fields = ["median_ms", "cpu_median_ms", "cpu_util", "precision_mean_bits", "precision_max_bits",
          "levels_after", "log2_qp", "secret", "security", "peak_rss_bytes", "peak_rss_mb", "key_bytes"]
for op in ["bootstrap_keygen", "bootstrap"]:
    for lib in ["henn", "openfhe"]:
        r = recs.get((lib, op))
        if r is None:
            print(f"{op:17s} {lib:8s} (missing)")
            continue
        shown = "  ".join(f"{k}={r[k]}" for k in fields if k in r and r[k] is not None)
        print(f"{op:17s} {lib:8s} {shown}")
    h, o = recs.get(("henn", op)), recs.get(("openfhe", op))
    if h and o and h.get("median_ms") and o.get("median_ms"):
        line = f"{op:17s} ratio    henn/openfhe wall = {h['median_ms'] / o['median_ms']:.3f}"
        if h.get("cpu_median_ms") and o.get("cpu_median_ms"):
            line += f"  cpu = {h['cpu_median_ms'] / o['cpu_median_ms']:.3f}"
        print(line)
PY
