#!/usr/bin/env python3
"""Joins bench_engine's JSON (medians of repetitions) with torch_engine.py's JSON and prints the
comparison table and the issue's bars.

Usage: compare_engine.py lucid.json torch.json [wall|cpu]
  wall (default): wall-clock time per call, what the issue's bars are defined on.
  cpu: CPU time per call (lucid: the benchmark thread; PyTorch: the process). Only meaningful with
       one thread, where it is the work done independent of other load on the machine."""
import json
import re
import sys


CLOCK = sys.argv[3] if len(sys.argv) > 3 else "wall"


def lucid_medians(path):
    out = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") not in (None, "median"):
            continue
        name = re.sub(r"(/real_time)?(_median)?$", "", b["run_name"] if "run_name" in b else b["name"])
        unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        sec = (b["cpu_time"] if CLOCK == "cpu" else b["real_time"]) * unit
        # FLOP/s from the chosen clock (the counter itself is per wall second).
        flops = b.get("FLOP/s", 0.0) * b["real_time"] * unit / sec
        out[name] = {"seconds": sec, "flops": flops}
    return out


def main():
    lucid = lucid_medians(sys.argv[1])
    torch = {b["name"]: dict(b, seconds=b["cpu_seconds"] if CLOCK == "cpu" else b["seconds"])
             for b in json.load(open(sys.argv[2]))["benchmarks"]}
    print(f"clock: {CLOCK} time per call")
    peak = lucid["BM_SgemmPeak/1024"]["flops"]
    print(f"OpenBLAS sgemm peak (1024^3, all threads): {peak / 1e9:.1f} GFLOP/s")
    print(f"{'benchmark':28} {'lucid':>11} {'pytorch':>11} {'speedup':>8} {'GFLOP/s':>8} {'% peak':>7}")
    for name, r in lucid.items():
        if name.startswith("BM_SmallLinearBlas") or name == "BM_SgemmPeak/1024":
            continue
        t = torch.get(name)
        speed = f"{t['seconds'] / r['seconds']:7.2f}x" if t else "      -"
        tt = f"{t['seconds'] * 1e6:9.1f}us" if t else "          -"
        print(f"{name:28} {r['seconds'] * 1e6:9.1f}us {tt} {speed} {r['flops'] / 1e9:8.1f} "
              f"{100 * r['flops'] / peak:6.1f}%")
    print()
    for m in (8, 16, 32, 64):
        a, b = lucid.get(f"BM_SmallLinear/{m}"), lucid.get(f"BM_SmallLinearBlas/{m}")
        if a and b:
            print(f"small linear M={m:2}: lucid {a['seconds'] * 1e6:7.1f}us vs plain cblas_sgemm "
                  f"{b['seconds'] * 1e6:7.1f}us -> {b['seconds'] / a['seconds']:.2f}x")
    print()
    ok = True

    def bar(label, value, need):
        nonlocal ok
        good = value >= need
        ok &= good
        print(f"[{'PASS' if good else 'FAIL'}] {label}: {value:.2f} (need >= {need})")

    mlp, tmlp = lucid.get("BM_MlpTrainStep/1024"), torch.get("BM_MlpTrainStep/1024")
    if mlp and tmlp:
        bar("MLP train step B=1024, speed vs PyTorch", tmlp["seconds"] / mlp["seconds"], 1.3)
        bar("MLP train step B=1024, fraction of sgemm peak", mlp["flops"] / peak, 0.6)
    s, sb = lucid.get("BM_SmallLinear/8"), lucid.get("BM_SmallLinearBlas/8")
    if s and sb:
        bar("small linear M=8, speed vs plain cblas_sgemm", sb["seconds"] / s["seconds"], 2.5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
