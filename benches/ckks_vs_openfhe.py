#!/usr/bin/env python3
"""Join henn's and the anchors' JSON lines on `op` and print medians and ratios.

Columns: wall-clock medians (ms) of henn, OpenFHE and SEAL; their ratios (henn / other, lower
is better for henn); each run's cpu_util (CPU/wall: well below 1 means that process was
descheduled, so its wall times are inflated); and ratios of CPU-time medians, which stay
meaningful on a busy machine.

Usage: ckks_vs_openfhe.py HENN.jsonl ANCHORS.jsonl
"""
import json
import sys


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            rows[(r["lib"], r["op"])] = r
    return rows


def fmt(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


def main():
    rows = load(sys.argv[1])
    rows.update(load(sys.argv[2]))
    ops = []
    for (lib, op) in rows:
        if op not in ops:
            ops.append(op)
    h = next((r for (lib, _), r in rows.items() if lib == "henn"), {})
    o = next((r for (lib, _), r in rows.items() if lib == "openfhe"), {})
    print(f"N=2^{h.get('logn')} limbs={h.get('limbs')} log2Q={h.get('log2_q')} dnum={h.get('dnum')} "
          f"scale_bits={h.get('scale_bits')} | henn security={h.get('security')} "
          f"special_primes={h.get('special_primes')} | openfhe security={o.get('security')}")
    head = (f"{'op':<20} {'henn ms':>9} {'openfhe':>9} {'seal':>9} {'h/ofhe':>7} {'h/seal':>7}"
            f" {'cpu h/o/s':>15} {'h/ofhe cpu':>10} {'h/seal cpu':>10}")
    print(head)
    print("-" * len(head))
    for op in ops:
        hr, orow, sr = rows.get(("henn", op)), rows.get(("openfhe", op)), rows.get(("seal", op))
        if op == "precision_square":
            bits = lambda r: "-" if r is None else f"{r.get('bits')}"
            print(f"precision_square     bits: henn {bits(hr)}, openfhe {bits(orow)} "
                  f"(includes its decoding noise), seal {bits(sr)}")
            continue
        hm = hr and hr.get("median_ms")
        om = orow and orow.get("median_ms")
        sm = sr and sr.get("median_ms")
        r_o = hm / om if hm and om else None
        r_s = hm / sm if hm and sm else None
        # CPU-time ratios: robust when the machine is busy. henn's per-call CPU median is only
        # printed for long calls; otherwise its wall median is used when its cpu_util >= 0.9.
        def cpu_ms(r, own_wall_ok=False):
            if not r:
                return None
            if r.get("cpu_median_ms") is not None:
                return r["cpu_median_ms"]
            if own_wall_ok and (r.get("cpu_util") or 0) >= 0.9:
                return r.get("median_ms")
            return None
        hc = cpu_ms(hr, own_wall_ok=True)
        if hc is None and hr and (hr.get("median_ms") or 0) < 20:
            hc = hr.get("median_ms")  # short calls: batch utilisation not measurable
        oc, sc = cpu_ms(orow), cpu_ms(sr)
        rc_o = hc / oc if hc and oc else None
        rc_s = hc / sc if hc and sc else None
        cpu = "/".join(fmt(r.get("cpu_util") if r else None) for r in (hr, orow, sr))
        print(f"{op:<20} {fmt(hm):>9} {fmt(om):>9} {fmt(sm):>9} {fmt(r_o):>7} {fmt(r_s):>7}"
              f" {cpu:>15} {fmt(rc_o):>10} {fmt(rc_s):>10}")
    hh = rows.get(("henn", "hoisted_rotate"))
    hr = rows.get(("henn", "rotate"))
    if hh and hr and hr.get("median_ms"):
        print(f"henn hoisted_rotate / rotate = {hh['median_ms'] / hr['median_ms']:.2f}")


if __name__ == "__main__":
    main()
