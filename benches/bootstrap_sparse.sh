#!/usr/bin/env bash
# Sparse-slot vs full-slot CKKS bootstrapping, in the same run.
#
#   bash benches/bootstrap_sparse.sh                          # N = 2^16: 2^10, 2^12, 2^15 slots
#   LOGN=15 SLOTS=1024,4096,16384 bash benches/bootstrap_sparse.sh
#
# 1. One `henn bench ops --ops bootstrap --logn LOGN --boot-slots SLOTS` process measures every
#    slot count one after the other (each with its own keys, dropped before the next), so the
#    timings share the machine's state; the last count should be the full N/2.
# 2. With RSS=1 (default), one more process per slot count (1 rep, no warm-up) gives each its
#    own peak RSS: freed memory is not always returned to the OS, so the first process's
#    `peak_rss_bytes` only holds for the first count.
# Then prints, per slot count: median wall / CPU, precision mean / max over the refreshed
# slots, the largest error in the zero slots, key and plaintext bytes, peak RSS, and the
# ratios to the full-slot line. N = 2^16 needs ~9 GiB: the script refuses to start with less
# than MIN_GIB (default 11 at LOGN ≥ 16, else 0) GiB available (FORCE=1 overrides).
# Environment: LOGN, SLOTS, REPS (2), WARMUP (1), BOOT_LEVELS (9), RSS, MIN_GIB, FORCE,
# OUT_DIR (target/bootstrap-sparse), HENN_BIN (use this binary instead of building),
# CARGO_TARGET_DIR.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOGN="${LOGN:-16}"
FULL=$((1 << (LOGN - 1)))
SLOTS="${SLOTS:-1024,4096,$FULL}"
REPS="${REPS:-2}"
WARMUP="${WARMUP:-1}"
BOOT_LEVELS="${BOOT_LEVELS:-9}"
RSS="${RSS:-1}"
OUT_DIR="${OUT_DIR:-$REPO/target/bootstrap-sparse}"
if [ "$LOGN" -ge 16 ]; then MIN_GIB="${MIN_GIB:-11}"; else MIN_GIB="${MIN_GIB:-0}"; fi
mkdir -p "$OUT_DIR"

avail_gib=$(awk '/MemAvailable/ { printf "%d", $2 / 1048576 }' /proc/meminfo)
if [ "$avail_gib" -lt "$MIN_GIB" ] && [ -z "${FORCE:-}" ]; then
    echo "bootstrap_sparse: only ${avail_gib} GiB available, need ${MIN_GIB} (FORCE=1 to run anyway)" >&2
    exit 3
fi

if [ -n "${HENN_BIN:-}" ]; then
    henn=("$HENN_BIN")
else
    (cd "$REPO" && cargo build --quiet --release --bin henn)
    henn=("${CARGO_TARGET_DIR:-$REPO/target}/release/henn")
fi
common=(bench ops --ops bootstrap --logn "$LOGN" --boot-levels "$BOOT_LEVELS")

echo "bootstrap_sparse: ${henn[*]} ${common[*]} --boot-slots $SLOTS --reps $REPS --warmup $WARMUP" >&2
"${henn[@]}" "${common[@]}" --boot-slots "$SLOTS" --reps "$REPS" --warmup "$WARMUP" > "$OUT_DIR/same-run.jsonl"
if [ "$RSS" = 1 ]; then
    : > "$OUT_DIR/rss.jsonl"
    for s in ${SLOTS//,/ }; do
        echo "bootstrap_sparse: peak RSS of --boot-slots $s alone" >&2
        "${henn[@]}" "${common[@]}" --boot-slots "$s" --reps 1 --warmup 0 >> "$OUT_DIR/rss.jsonl"
    done
fi

python3 - "$OUT_DIR/same-run.jsonl" "$OUT_DIR/rss.jsonl" <<'PY'
import json, os, sys

def load(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("{"):
                r = json.loads(line)
                out[(r["op"], r["slots"])] = r
    return out

run, rss = load(sys.argv[1]), load(sys.argv[2])
slots = sorted({s for (_, s) in run})
full = max(slots)
gib = lambda b: f"{b / 2**30:.2f}" if b else "-"
print("slots   wall_ms  cpu_ms   mean  max   zeros  keys_GiB pt_GiB galois  rss_GiB  wall/full cpu/full keys/full rss/full")
ref = run.get(("bootstrap", full), {})
ref_kg = run.get(("bootstrap_keygen", full), {})
ref_rss = rss.get(("bootstrap", full), {}).get("peak_rss_bytes")
for s in slots:
    b, kg = run.get(("bootstrap", s), {}), run.get(("bootstrap_keygen", s), {})
    peak = rss.get(("bootstrap", s), {}).get("peak_rss_bytes")
    ratio = lambda x, y: f"{x / y:.3f}" if x and y else "-"
    print(f"{s:<7} {b.get('median_ms', 0):8.0f} {b.get('cpu_median_ms') or 0:8.0f} "
          f"{b.get('precision_mean_bits', 0):5.2f} {b.get('precision_max_bits', 0):5.2f} "
          f"{b.get('zero_slots_max_bits', '-')!s:>6} {gib(kg.get('key_bytes')):>8} "
          f"{gib(kg.get('plaintext_bytes')):>6} {kg.get('galois_keys', '-')!s:>6} {gib(peak):>8}  "
          f"{ratio(b.get('median_ms'), ref.get('median_ms')):>9} "
          f"{ratio(b.get('cpu_median_ms'), ref.get('cpu_median_ms')):>8} "
          f"{ratio(kg.get('key_bytes'), ref_kg.get('key_bytes')):>9} {ratio(peak, ref_rss):>8}")
PY
